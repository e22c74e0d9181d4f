"""Queries of the chat archive: its cursor and lease per corp, the records that could not be
read, the recall mark on moderation log rows, and the outcome (log rows, failures) of the
inbox events an import stored.

The lease is taken with one conditional UPDATE (`holder = me OR expires_at <= now`): on
PostgreSQL the row lock makes a second replica's UPDATE wait and then re-check the condition
against the committed row, on SQLite the database's single writer does the same, so exactly one
replica holds it. `renew_lease` inside the transaction that stores a batch fences that batch:
a replica whose lease was taken over cannot commit one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    ArchiveCursor,
    ArchiveLease,
    ArchiveRecordFailure,
    InboxEvent,
    ModerationLog,
    UtcDateTime,
)
from app.repositories import dialect_insert, rowcount

__all__ = [
    "advance_cursor",
    "cursor",
    "failed_events",
    "failures",
    "lease",
    "logs_of_events",
    "mark_recalled",
    "record_failure",
    "release_lease",
    "renew_lease",
    "take_lease",
]

_CHUNK = 500  # ids per IN (...) list


async def cursor(session: AsyncSession, corp_id: str) -> int:
    """The last seq stored for the corp; 0 before the first batch."""
    seq = (
        await session.execute(select(ArchiveCursor.seq).where(ArchiveCursor.corp_id == corp_id))
    ).scalar_one_or_none()
    return int(seq or 0)


async def advance_cursor(session: AsyncSession, corp_id: str, seq: int, *, now: datetime) -> None:
    """Move the cursor to `seq`; it never moves back."""
    await session.execute(
        dialect_insert(session)(ArchiveCursor)
        .values(corp_id=corp_id, seq=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["corp_id"])
    )
    await session.execute(
        update(ArchiveCursor)
        .where(ArchiveCursor.corp_id == corp_id, ArchiveCursor.seq < seq)
        .values(seq=seq, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def take_lease(
    session: AsyncSession, corp_id: str, holder: str, *, now: datetime, seconds: float
) -> bool:
    """Take or renew the corp's lease for `seconds`: it is ours when free, expired or already
    ours. Returns whether we hold it."""
    expires_at = now + timedelta(seconds=seconds)
    inserted = await session.execute(
        dialect_insert(session)(ArchiveLease)
        .values(corp_id=corp_id, holder=holder, acquired_at=now, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["corp_id"])
        .returning(ArchiveLease.corp_id)
    )
    if inserted.scalar_one_or_none() is not None:
        return True
    # acquired_at changes only when the lease changes hands.
    acquired_at = case(
        (ArchiveLease.holder == holder, ArchiveLease.acquired_at),
        else_=literal(now, UtcDateTime()),
    )
    result = await session.execute(
        update(ArchiveLease)
        .where(
            ArchiveLease.corp_id == corp_id,
            or_(ArchiveLease.holder == holder, ArchiveLease.expires_at <= now),
        )
        .values(holder=holder, acquired_at=acquired_at, expires_at=expires_at)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def renew_lease(
    session: AsyncSession, corp_id: str, holder: str, *, now: datetime, seconds: float
) -> bool:
    """Extend our lease; False when another replica holds it now. Locks the lease row until
    the transaction ends (the fence of a batch)."""
    result = await session.execute(
        update(ArchiveLease)
        .where(ArchiveLease.corp_id == corp_id, ArchiveLease.holder == holder)
        .values(expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def release_lease(session: AsyncSession, corp_id: str, holder: str, *, now: datetime) -> bool:
    """Let the lease lapse now, if it is ours, so another replica takes over at once."""
    result = await session.execute(
        update(ArchiveLease)
        .where(ArchiveLease.corp_id == corp_id, ArchiveLease.holder == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def lease(session: AsyncSession, corp_id: str) -> ArchiveLease | None:
    return await session.get(ArchiveLease, corp_id)


async def record_failure(
    session: AsyncSession,
    *,
    corp_id: str,
    seq: int,
    msgid: str,
    publickey_ver: int,
    error: str,
    reason: str,
    now: datetime,
) -> None:
    """Keep one unreadable record (once per seq: a repeated batch adds nothing)."""
    await session.execute(
        dialect_insert(session)(ArchiveRecordFailure)
        .values(
            corp_id=corp_id,
            seq=seq,
            msgid=msgid[:200],
            publickey_ver=publickey_ver,
            error=error[:64],
            reason=reason,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["corp_id", "seq"])
    )


async def failures(session: AsyncSession, corp_id: str) -> Sequence[ArchiveRecordFailure]:
    statement = (
        select(ArchiveRecordFailure)
        .where(ArchiveRecordFailure.corp_id == corp_id)
        .order_by(ArchiveRecordFailure.seq)
    )
    return (await session.execute(statement)).scalars().all()


async def mark_recalled(session: AsyncSession, message_id: str, *, at: datetime) -> int:
    """Mark the archive message's log row (if it was flagged) as recalled; returns the count."""
    result = await session.execute(
        update(ModerationLog)
        .where(
            ModerationLog.message_id == message_id,
            ModerationLog.source == "archive",
            ModerationLog.recalled_at.is_(None),
        )
        .values(recalled_at=at)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


async def logs_of_events(session: AsyncSession, event_ids: Sequence[int]) -> list[ModerationLog]:
    """The moderation log rows of these inbox events, oldest first."""
    rows: list[ModerationLog] = []
    for start in range(0, len(event_ids), _CHUNK):
        chunk = event_ids[start : start + _CHUNK]
        statement = (
            select(ModerationLog)
            .where(ModerationLog.inbox_event_id.in_(chunk))
            .order_by(ModerationLog.id)
        )
        rows += (await session.execute(statement)).scalars().all()
    return rows


async def failed_events(session: AsyncSession, event_ids: Sequence[int]) -> int:
    """How many of these inbox events the pipeline gave up on (status failed)."""
    failed = 0
    for start in range(0, len(event_ids), _CHUNK):
        chunk = event_ids[start : start + _CHUNK]
        statement = select(func.count()).where(
            InboxEvent.id.in_(chunk), InboxEvent.status == "failed"
        )
        failed += int((await session.execute(statement)).scalar_one())
    return failed
