"""Queries on `message_copies`: the copies of group messages `app.judging.cross_channel` pairs (the
same message through the smart bot and the chat archive)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MessageCopy
from app.repositories import rowcount

__all__ = ["StoredCopy", "add_many", "in_window", "lock_pairs", "prune", "set_twins"]

# (chat_id, sender, text_hash, sent_at, source, inbox_event_id, twin_event_id)
StoredCopy = tuple[str, str, str, datetime, str, int, int | None]


_INSERT = insert(cast(Table, MessageCopy.__table__))


async def add_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert copies (one executemany); nothing when `rows` is empty."""
    if rows:
        await session.execute(_INSERT, list(rows))


async def set_twins(session: AsyncSession, twins: Sequence[tuple[int, int | None]]) -> None:
    """(first copy's inbox event id, its twin's) pairs: record each twin (one executemany)."""
    if not twins:
        return
    table = cast(Table, MessageCopy.__table__)
    await session.execute(
        update(table)
        .where(table.c.inbox_event_id == bindparam("first"))
        .values(twin_event_id=bindparam("twin")),
        [{"first": first, "twin": twin} for first, twin in twins],
    )


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Delete copies sent before `before`; returns how many."""
    result = await session.execute(
        delete(MessageCopy)
        .where(MessageCopy.sent_at < before)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


async def lock_pairs(session: AsyncSession, keys: Collection[int]) -> None:
    """On PostgreSQL, take the transaction's advisory locks `keys` in one statement, in key
    order (two transactions wanting the same keys wait instead of deadlocking); nothing on
    another database."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"
        ),
        {"keys": sorted(set(keys))},
    )


# Built once, the same for every batch (the pairs an expanding parameter).
_IN_WINDOW = select(
    MessageCopy.chat_id,
    MessageCopy.sender,
    MessageCopy.text_hash,
    MessageCopy.sent_at,
    MessageCopy.source,
    MessageCopy.inbox_event_id,
    MessageCopy.twin_event_id,
).where(
    tuple_(MessageCopy.chat_id, MessageCopy.sender).in_(bindparam("pairs", expanding=True)),
    MessageCopy.sent_at >= bindparam("since"),
    MessageCopy.sent_at <= bindparam("until"),
)


async def in_window(
    session: AsyncSession,
    pairs: Collection[tuple[str, str]],
    *,
    since: datetime,
    until: datetime,
) -> list[StoredCopy]:
    """The copies of these (chat, sender) pairs sent in [since, until]: (chat_id, sender,
    text_hash, sent_at, source, inbox_event_id, twin_event_id) each (`StoredCopy`)."""
    stored = await session.execute(
        _IN_WINDOW, {"pairs": sorted(pairs), "since": since, "until": until}
    )
    return [
        (chat_id, sender, text_hash, sent_at, source, event_id, twin_id)
        for chat_id, sender, text_hash, sent_at, source, event_id, twin_id in stored.all()
    ]
