"""Queries on `inbox_events`: store a delivery once, claim pending events, record outcomes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import InboxEvent

__all__ = ["claim_next_pending", "store_once"]


async def store_once(
    session: AsyncSession,
    *,
    dedupe_key: str,
    source: str,
    kind: str,
    chat_id: str,
    sender: str,
    plaintext: str,
    now: datetime,
) -> int | None:
    """Insert the event unless its key is known. Returns the new id, or None for a duplicate."""
    values = {
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
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(InboxEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(InboxEvent.id)
    )
    result = await session.execute(statement)
    return result.scalar_one_or_none()


async def claim_next_pending(session: AsyncSession, *, after_id: int) -> InboxEvent | None:
    """The oldest pending event with id > after_id, locked for this transaction."""
    statement = (
        select(InboxEvent)
        .where(InboxEvent.status == "pending", InboxEvent.id > after_id)
        .order_by(InboxEvent.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def get(session: AsyncSession, event_id: int) -> InboxEvent | None:
    return await session.get(InboxEvent, event_id)
