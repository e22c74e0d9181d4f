"""The two background loops of a replica: inbox processing and outbox dispatch.

Each loop runs when woken (a callback was stored, an action was enqueued) and at least every
`poll_seconds`, so work left by a crash or by another replica is picked up too. A failing pass
(database down, say) is logged and retried; the loops stop cleanly on shutdown after the pass
in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import OperationalError

__all__ = ["Workers"]

log = logging.getLogger(__name__)


class Workers:
    def __init__(
        self,
        process_inbox: Callable[[], Awaitable[int]],
        dispatch_outbox: Callable[[], Awaitable[int]],
        *,
        poll_seconds: float = 1.0,
    ) -> None:
        self._process_inbox = process_inbox
        self._dispatch_outbox = dispatch_outbox
        self._poll_seconds = poll_seconds
        self._inbox_wakeup = asyncio.Event()
        self._outbox_wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def notify_inbox(self) -> None:
        self._inbox_wakeup.set()

    def notify_outbox(self) -> None:
        self._outbox_wakeup.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop("inbox", self._process_inbox, self._inbox_wakeup)),
            asyncio.create_task(self._loop("outbox", self._dispatch_outbox, self._outbox_wakeup)),
        ]

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let the pass in progress finish (up to `grace_seconds`), then cancel."""
        self._stopping.set()
        self._inbox_wakeup.set()
        self._outbox_wakeup.set()
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def run_until_idle(self) -> None:
        """Process the inbox and the outbox until neither has anything due (for tests/tools)."""
        while (await self._process_inbox()) + (await self._dispatch_outbox()):
            pass

    async def _loop(
        self, name: str, work: Callable[[], Awaitable[int]], wakeup: asyncio.Event
    ) -> None:
        failures = 0
        while not self._stopping.is_set():
            wakeup.clear()
            try:
                await work()
                failures = 0
            except (OperationalError, OSError) as exc:
                failures += 1
                log.error(
                    "%s worker: database unavailable (%d pass(es) in a row), retrying: %s",
                    name,
                    failures,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
            except Exception:
                failures += 1
                log.exception("%s worker pass failed (%d in a row); retrying", name, failures)
            delay = self._poll_seconds * min(2 ** max(failures - 1, 0), 30)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=delay)
