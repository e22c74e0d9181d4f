"""The hook every join path calls: a screening is due for each newcomer, unless the group
screens nobody (`join_screening` off, or the group's mode off)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Group
from app.repositories import screenings as screenings_repo
from moderation import GroupMode, GroupPolicy, JoinScreening

__all__ = ["request_screening"]


def request_screening(
    session: AsyncSession,
    group: Group,
    user_ids: Sequence[str],
    *,
    policy: GroupPolicy,
    at: datetime,
    source: str,
) -> int:
    """Make a screening due now for each newcomer of `group` (`source`: join, sync); returns
    how many. The screener (`app.screening.screener`) takes them on its next pass."""
    if not user_ids or policy.mode is GroupMode.OFF:
        return 0
    if policy.join_screening is JoinScreening.OFF:
        return 0
    return len(screenings_repo.request(session, group.chat_id, user_ids, source=source, at=at))
