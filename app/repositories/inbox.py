"""Queries on `inbox_events`: store a delivery once (alone, or a batch: `BatchInsert`, the
statement of `app.ingest.inbox_writer`), claim pending events, record outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, case, null, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models import InboxEvent, UtcDateTime
from app.repositories import dialect_insert

__all__ = [
    "BatchInsert",
    "ClaimedEvent",
    "claim_one",
    "claim_pending",
    "get",
    "mark_done",
    "pending_row",
    "store_once",
]

_UTC = UtcDateTime()


def pending_row(
    *,
    dedupe_key: str,
    source: str,
    kind: str,
    chat_id: str,
    sender: str,
    plaintext: str,
    now: datetime,
) -> dict[str, Any]:
    """The column values of a delivery stored now, pending (ids cut to their columns): what
    `store_once` and `InboxWriter.store` take."""
    return {
        "dedupe_key": dedupe_key,
        "source": source,
        "kind": kind,
        "chat_id": chat_id[:128],
        "sender": sender[:128],
        "plaintext": plaintext,
        "status": "pending",
        "attempts": 0,
        "received_at": now,
    }


async def store_once(session: AsyncSession, row: Mapping[str, Any]) -> int | None:
    """Insert the event (`pending_row`) unless its key is known. Returns the new id, or None
    for a duplicate."""
    statement = (
        dialect_insert(session)(InboxEvent)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(InboxEvent.id)
    )
    result = await session.execute(statement)
    return result.scalar_one_or_none()


class BatchInsert:
    """`store_once` for a batch of deliveries (`pending_row`s with distinct keys) in one
    statement: `INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key`, built
    once for the engine's dialect. Awaited with a Core connection in the caller's transaction;
    returns the ids of the rows stored, by key.

    On PostgreSQL the rows go as one binary array per column to one constant
    `INSERT … SELECT * FROM unnest(…)`, which psycopg converts once and the server can prepare
    (`app.ingest.inbox_writer` says why); on SQLite to one executemany with RETURNING."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._unnest = dialect.name == "postgresql"
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        table = cast(Table, InboxEvent.__table__)
        self._statement = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(table.c.id, table.c.dedupe_key)
        )

    async def __call__(
        self, connection: AsyncConnection, values: list[dict[str, Any]]
    ) -> dict[str, int]:
        if self._unnest:
            columns = {name: [row[name] for row in values] for name in _UNNEST_COLUMNS}
            try:  # what the column type does in an INSERT: a naive datetime is refused
                columns["received_at"] = [
                    _UTC.process_bind_param(at, self._dialect) for at in columns["received_at"]
                ]
            except ValueError as exc:
                raise StatementError(str(exc), _UNNEST_INSERT, None, exc) from exc
            rows: Sequence[Any] = (await connection.exec_driver_sql(_UNNEST_INSERT, columns)).all()
        else:
            rows = (await connection.execute(self._statement, values)).all()
        return {key: stored_id for stored_id, key in rows}


# PostgreSQL: one statement whatever the batch size, one array per column (those of
# `pending_row`), sent in binary (%b: no quoting of every text): psycopg converts it once and
# the server can prepare it.
_UNNEST_COLUMNS = {
    "dedupe_key": "text[]",
    "source": "text[]",
    "kind": "text[]",
    "chat_id": "text[]",
    "sender": "text[]",
    "plaintext": "text[]",
    "status": "text[]",
    "attempts": "integer[]",
    "received_at": "timestamptz[]",
}
# The same statement notifies wecom_mod_inbox (`notifications.INBOX_CHANNEL`) when it stored a
# row, with no extra round trip on the answer path: the workers of every replica wake when the
# transaction commits (`app.repositories.notifications`); duplicates alone wake nobody.
_UNNEST_INSERT = (
    "WITH stored AS (INSERT INTO inbox_events (dedupe_key, source, kind, chat_id, sender, "
    "plaintext, status, attempts, received_at) SELECT * FROM unnest(%(dedupe_key)b::text[], "
    "%(source)b::text[], %(kind)b::text[], %(chat_id)b::text[], %(sender)b::text[], "
    "%(plaintext)b::text[], %(status)b::text[], %(attempts)b::integer[], "
    "%(received_at)b::timestamptz[]) ON CONFLICT (dedupe_key) DO NOTHING "
    "RETURNING id, dedupe_key) "
    "SELECT stored.id, stored.dedupe_key FROM stored, "
    "(SELECT pg_notify('wecom_mod_inbox', '') WHERE EXISTS (SELECT FROM stored)) AS woken"
)


async def _lock_on_sqlite(session: AsyncSession) -> None:
    """SQLite has no row locks: take the database's write lock before reading what to claim,
    so that a second processor (another replica, an archive import) reads the events only
    after this transaction has marked them done. (The driver starts a transaction at the first
    write; an UPDATE that matches nothing is one.)"""
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        await session.execute(text("UPDATE inbox_events SET id = id WHERE 0"))


class ClaimedEvent(NamedTuple):
    """A pending event as its handler reads it (a plain row: the batch's events are read
    without ORM objects, which cost more to make than the judging of a message)."""

    id: int
    source: str
    kind: str
    plaintext: str | None
    received_at: datetime


_CLAIMED = (
    InboxEvent.id,
    InboxEvent.source,
    InboxEvent.kind,
    InboxEvent.plaintext,
    InboxEvent.received_at,
)
_CLAIM_PENDING = (  # `claim_pending`'s, built once
    select(*_CLAIMED)
    .where(InboxEvent.status == "pending", InboxEvent.id > bindparam("after_id"))
    .order_by(InboxEvent.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM_ONE = (
    select(*_CLAIMED)
    .where(InboxEvent.id == bindparam("event_id"), InboxEvent.status == "pending")
    .with_for_update(skip_locked=True)
)


async def claim_pending(session: AsyncSession, *, after_id: int, limit: int) -> list[ClaimedEvent]:
    """Up to `limit` of the oldest pending events with id > after_id, locked for this
    transaction (another replica's transaction skips them on PostgreSQL, waits on SQLite)."""
    await _lock_on_sqlite(session)
    parameters = {"after_id": after_id, "limit": limit}
    result = await session.execute(_CLAIM_PENDING, parameters)
    return [ClaimedEvent._make(row) for row in result]


async def claim_one(session: AsyncSession, event_id: int) -> ClaimedEvent | None:
    """The event if it is still pending and not locked by another transaction."""
    await _lock_on_sqlite(session)
    row = (await session.execute(_CLAIM_ONE, {"event_id": event_id})).first()
    return None if row is None else ClaimedEvent._make(row)


async def get(session: AsyncSession, event_id: int) -> InboxEvent | None:
    return await session.get(InboxEvent, event_id)


_EVENTS = cast(Table, InboxEvent.__table__)
# Built once: `mark_done`'s, one statement for the whole batch.
_MARK_DONE = (
    update(_EVENTS)
    .where(_EVENTS.c.id.in_(bindparam("events", expanding=True)))
    .values(
        status="done",
        processed_at=bindparam("at"),
        attempts=_EVENTS.c.attempts + 1,
        plaintext=case(
            (_EVENTS.c.id.in_(bindparam("forget", expanding=True)), null()),
            else_=_EVENTS.c.plaintext,
        ),
    )
    .execution_options(synchronize_session=False)
)


async def mark_done(
    session: AsyncSession, events: Sequence[tuple[int, bool]], *, at: datetime
) -> None:
    """Mark claimed events handled at `at` (one more attempt): (event id, whether its
    plaintext is dropped now) each, with one statement. The events' ORM objects, if loaded,
    are not updated (the transaction's end expires them)."""
    if events:
        parameters = {
            "events": [event_id for event_id, _forget in events],
            "forget": [event_id for event_id, forget in events if forget],
            "at": at,
        }
        await session.execute(_MARK_DONE, parameters)
