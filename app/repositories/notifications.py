"""PostgreSQL `LISTEN/NOTIFY`: work stored by one process wakes the workers of every process.

The transaction that stores inbox events (`app.repositories.inbox.BatchInsert`, the chat
archive's batch) or puts an outbox action due now on a person's word (`outbox.retry_dead`, the
console's warnings and removals) notifies a channel; PostgreSQL delivers the notification when,
and only if, that transaction commits. (Judging's actions need none: the replica that judged
wakes its own dispatcher.) Each process keeps one connection
listening on the channels (`Listener`) and wakes its worker, instead of waiting for the worker's
poll (`app.workers`), which stays as the fallback: a notification missed (the listening
connection was down) costs at most one poll interval. SQLite has no notifications: a process
wakes its own workers when it stores something, and others find it at their next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import PG_CONNECT_ARGS

__all__ = ["INBOX_CHANNEL", "OUTBOX_CHANNEL", "Listener", "notify"]

log = logging.getLogger(__name__)

INBOX_CHANNEL = "wecom_mod_inbox"  # an inbox event was stored
OUTBOX_CHANNEL = "wecom_mod_outbox"  # an outbox action is due now

# the longest wait between two attempts to listen again after the connection was lost
MOST_RECONNECT_SECONDS = 30.0

_NOTIFY = text("SELECT pg_notify(:channel, '')")


async def notify(session: AsyncSession, channel: str) -> None:
    """Notify `channel` when the caller's transaction commits (PostgreSQL; nothing on SQLite).
    Notifications of one channel within one transaction are delivered once."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(_NOTIFY, {"channel": channel})


class Listener:
    """One connection per process listening on `callbacks`' channels; a notification calls its
    channel's callback. Lost connections are logged and opened again (after 1 s, then doubling
    up to `MOST_RECONNECT_SECONDS`); every callback is called once each time listening starts,
    so that what was stored while not listening is looked at at once."""

    def __init__(self, url: URL, callbacks: Mapping[str, Callable[[], None]]) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._callbacks = dict(callbacks)
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Condition()
        self.connects = 0  # times listening started
        self.backend_pid: int | None = None  # the listening connection's server process
        self._failures = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_listening(self, connects: int = 1) -> None:
        """Return once listening has started `connects` times (for tests)."""
        async with self._listening:
            await self._listening.wait_for(lambda: self.connects >= connects)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                self._failures += 1
                delay = min(2.0 ** (self._failures - 1), MOST_RECONNECT_SECONDS)
                log.warning(
                    "LISTEN connection lost or refused (%d time(s) in a row), workers fall back "
                    "on their poll; listening again in %.0f s: %s",
                    self._failures,
                    delay,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
            else:  # the server ended the stream without an error: listen again
                delay = 1.0
            self.backend_pid = None
            await asyncio.sleep(delay)

    async def _listen(self) -> None:
        connect_args: dict[str, Any] = {**PG_CONNECT_ARGS, "autocommit": True}
        connection = await psycopg.AsyncConnection.connect(self._conninfo, **connect_args)
        async with connection:
            for channel in self._callbacks:
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.backend_pid = connection.info.backend_pid
            self._failures = 0
            if self.connects:
                log.info("LISTEN connection open again: workers are woken by notifications")
            async with self._listening:
                self.connects += 1
                self._listening.notify_all()
            for callback in self._callbacks.values():
                callback()
            async for notification in connection.notifies():
                woken = self._callbacks.get(notification.channel)
                if woken is not None:
                    woken()
