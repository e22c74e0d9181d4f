"""Queries on `inbox_events`: store a delivery once, claim pending events, record outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import InboxEvent
from app.repositories import dialect_insert

__all__ = ["claim_one", "claim_pending", "get", "pending_row", "store_once"]


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


async def _lock_on_sqlite(session: AsyncSession) -> None:
    """SQLite has no row locks: take the database's write lock before reading what to claim,
    so that a second processor (another replica, an archive import) reads the events only
    after this transaction has marked them done. (The driver starts a transaction at the first
    write; an UPDATE that matches nothing is one.)"""
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        await session.execute(text("UPDATE inbox_events SET id = id WHERE 0"))


async def claim_pending(
    session: AsyncSession, *, after_id: int, limit: int
) -> Sequence[InboxEvent]:
    """Up to `limit` of the oldest pending events with id > after_id, locked for this
    transaction (another replica's transaction skips them on PostgreSQL, waits on SQLite)."""
    await _lock_on_sqlite(session)
    statement = (
        select(InboxEvent)
        .where(InboxEvent.status == "pending", InboxEvent.id > after_id)
        .order_by(InboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(statement)).scalars().all()


async def claim_one(session: AsyncSession, event_id: int) -> InboxEvent | None:
    """The event if it is still pending and not locked by another transaction."""
    await _lock_on_sqlite(session)
    statement = (
        select(InboxEvent)
        .where(InboxEvent.id == event_id, InboxEvent.status == "pending")
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def get(session: AsyncSession, event_id: int) -> InboxEvent | None:
    return await session.get(InboxEvent, event_id)
