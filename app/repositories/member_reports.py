"""Queries on `member_reports`: add a member's report, read the wave not yet alerted, mark it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MemberReport

__all__ = ["add", "mark_alerted", "unalerted"]


def add(
    session: AsyncSession,
    *,
    chat_id: str,
    reporter: str,
    target: str,
    reason: str,
    created_at: datetime,
) -> MemberReport:
    report = MemberReport(
        chat_id=chat_id[:128],
        reporter=reporter[:128],
        target=target[:128],
        reason=reason,
        created_at=created_at,
    )
    session.add(report)
    return report


async def unalerted(
    session: AsyncSession, chat_id: str, target: str, *, since: datetime
) -> Sequence[MemberReport]:
    """Reports of `target` in the group since `since` that no alert has covered, oldest first."""
    statement = (
        select(MemberReport)
        .where(
            MemberReport.chat_id == chat_id,
            MemberReport.target == target,
            MemberReport.created_at >= since,
            MemberReport.alerted_at.is_(None),
        )
        .order_by(MemberReport.created_at, MemberReport.id)
    )
    return (await session.execute(statement)).scalars().all()


async def mark_alerted(session: AsyncSession, report_ids: Sequence[int], *, at: datetime) -> None:
    if not report_ids:
        return
    await session.execute(
        update(MemberReport)
        .where(MemberReport.id.in_(list(report_ids)))
        .values(alerted_at=at)
        .execution_options(synchronize_session=False)
    )
