"""`InboxWriter`: group commit for the callback endpoints' inbox inserts.

A callback is answered 200 only once its inbox row is committed. Giving every request its own
session, transaction and commit makes the commit the endpoint's bottleneck, so the endpoints
hand their rows to one writer per replica instead: while a write is in flight, the rows that
arrive queue up, and the next write stores all of them (up to `max_batch`) with one multi-row
`INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key` and one commit, on a
Core connection. Each caller waits for the commit of its own row and gets what
`inbox_repo.store_once` would have given it: the new id, or None for a key already stored.

On PostgreSQL the rows go as one binary array per column to one constant `INSERT … SELECT *
FROM unnest(…)`, which psycopg converts once and the server prepares: a multi-VALUES INSERT
has a different text for every batch size, and converting it took a tenth of an HTTP-only
replica's CPU; text arrays took as much again, quoting every text (a batch of 50 took 2.2 ms
with text arrays and 0.8 ms with binary ones, round trip included). On SQLite they go to one
executemany with RETURNING, which SQLAlchemy sends as multi-VALUES INSERTs ("insertmanyvalues")
from one cached compiled statement. Two writes in flight per replica on PostgreSQL (one builds
up while the other waits for its commit) answered about 1.35 times the callbacks/s of one in
`benchmarks/callbacks.py`; SQLite has one writer, so it gets one.

Failures keep the per-request contract:

- the rows of a batch are inserted in key order: writers of several replicas holding the same
  keys (WeCom's retries of a wave, spread over replicas) wait for each other's commit instead
  of deadlocking;
- a key repeated within one batch (a retry delivered at the same moment) is inserted once;
  the first caller gets the id, the others None — or all of them the error when it failed;
- a database that cannot be reached (`DB_UNAVAILABLE`) fails every caller of the batch (each
  answers 503, WeCom retries);
- any other error (e.g. a value the database refuses) is retried one row per transaction, so
  that one poisonous row fails only its own caller and the others are stored;
- a caller that goes away (its request cancelled) does not stop the write: the writes run in
  the writer's own tasks, and the answer for a caller who left is dropped;
- `close()` waits for every queued and in-flight write; after it, `store` raises
  `InboxWriterClosed`.

Error tree: `InboxWriterClosed` (RuntimeError) — the writer was closed, or its task cancelled
during a write (the row may or may not be stored: a retry is answered as a duplicate); the
database's own errors (SQLAlchemyError, OSError) reach the caller unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import DB_UNAVAILABLE
from app.errors import WecomModError
from app.repositories import inbox as inbox_repo

__all__ = ["InboxWriter", "InboxWriterClosed"]

log = logging.getLogger(__name__)

MAX_BATCH = 200  # rows in one INSERT; more wait for the next write
MAX_IN_FLIGHT = 2  # concurrent writes per replica on PostgreSQL (SQLite: 1, it has one writer)


class InboxWriterClosed(WecomModError, RuntimeError):
    """`store` was called after `close()`: nothing more is written."""


@dataclass(eq=False)
class _Waiter:
    """One caller's row and the future its caller waits on."""

    values: dict[str, Any]
    future: asyncio.Future[int | None]


@dataclass(eq=False)
class _Row:
    """One distinct key of a batch: its values and every caller that gave it."""

    values: dict[str, Any]
    waiters: list[_Waiter] = field(default_factory=list)


def _settle(waiter: _Waiter, result: int | BaseException | None) -> None:
    """Give the caller its answer, unless it has gone away."""
    if waiter.future.done():  # cancelled: the request was abandoned
        return
    if isinstance(result, BaseException):
        waiter.future.set_exception(result)
    else:
        waiter.future.set_result(result)


class InboxWriter:
    """Stores callback deliveries in `inbox_events`, many per transaction (see the module)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._engine = engine
        dialect = engine.dialect.name
        self._insert_batch = inbox_repo.BatchInsert(engine.dialect)
        self._max_batch = max_batch
        self._max_in_flight = 1 if dialect == "sqlite" else max_in_flight
        self._queue: list[_Waiter] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._closed = False
        self.batches = 0  # transactions that stored a batch (retries one row at a time apart)
        self.records = 0  # caller rows handed to those transactions

    async def store(self, row: Mapping[str, Any]) -> int | None:
        """Insert the event (`inbox_repo.pending_row`) unless its key is known, committed
        before this returns. Returns the new id, or None for a duplicate. Raises what the
        database raised for this row (SQLAlchemyError, OSError), or InboxWriterClosed."""
        if self._closed:
            raise InboxWriterClosed("the inbox writer is closed")
        waiter = _Waiter(dict(row), asyncio.get_running_loop().create_future())
        self._queue.append(waiter)
        self._start_flushers()
        return await waiter.future

    async def close(self) -> None:
        """Refuse new rows and wait until every queued and in-flight write has finished."""
        self._closed = True
        while self._queue or self._flushers:
            self._start_flushers()
            await asyncio.gather(*list(self._flushers), return_exceptions=True)

    def _start_flushers(self) -> None:
        """One more task writing the queue, unless `max_in_flight` of them are running."""
        flushers = self._flushers
        # A task cancelled before its first step never ran its `finally`.
        flushers.difference_update([task for task in flushers if task.done()])
        if self._queue and len(flushers) < self._max_in_flight:
            flushers.add(asyncio.create_task(self._flush_queue(), name="inbox-writer"))

    async def _flush_queue(self) -> None:
        """Write batches until the queue is empty (the rows that came during a write go into
        the next one). The task leaves `_flushers` in the same step as it sees the queue
        empty, so a row queued after that step starts a new task."""
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                try:
                    await self._write(batch)
                except Exception as exc:  # a bug: no caller may wait forever
                    log.exception("inbox writer: unexpected error writing a batch")
                    for waiter in batch:
                        _settle(waiter, exc)
                except BaseException:  # cancelled: the rows may or may not be committed
                    for waiter in batch:
                        _settle(waiter, InboxWriterClosed("the inbox writer was stopped"))
                    raise
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._flushers.discard(task)

    async def _write(self, batch: Sequence[_Waiter]) -> None:
        rows: dict[str, _Row] = {}
        for waiter in batch:
            key = waiter.values["dedupe_key"]
            row = rows.get(key)
            if row is None:
                row = rows[key] = _Row(waiter.values)
            row.waiters.append(waiter)
        self.batches += 1
        self.records += len(batch)
        try:
            # In key order: replicas that get the same retried keys at once then lock them in
            # the same order, so one waits for the other's commit instead of a deadlock.
            ids = await self._insert([rows[key].values for key in sorted(rows)])
        except DB_UNAVAILABLE as exc:
            for waiter in batch:
                _settle(waiter, exc)
            return
        except Exception as exc:
            if len(rows) == 1:
                for waiter in batch:
                    _settle(waiter, exc)
                return
            log.info(
                "inbox writer: a batch of %d row(s) failed (%s); storing them one by one",
                len(rows),
                type(exc).__name__,
            )
            await self._write_one_by_one(list(rows.values()))
            return
        for key, row in rows.items():
            self._answer(row, ids.get(key))

    async def _write_one_by_one(self, rows: Sequence[_Row]) -> None:
        for index, row in enumerate(rows):
            try:
                ids = await self._insert([row.values])
            except DB_UNAVAILABLE as exc:  # gone now: the rest would fail the same way
                for rest in rows[index:]:
                    for waiter in rest.waiters:
                        _settle(waiter, exc)
                return
            except Exception as exc:
                for waiter in row.waiters:
                    _settle(waiter, exc)
                continue
            self._answer(row, ids.get(row.values["dedupe_key"]))

    @staticmethod
    def _answer(row: _Row, stored_id: int | None) -> None:
        first, *repeats = row.waiters
        _settle(first, stored_id)
        for waiter in repeats:
            _settle(waiter, None)

    async def _insert(self, values: list[dict[str, Any]]) -> dict[str, int]:
        """Insert the rows in one transaction; the ids of those stored, by key."""
        async with self._engine.begin() as connection:
            return await self._insert_batch(connection, values)
