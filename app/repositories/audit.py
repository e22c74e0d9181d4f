"""Queries on `audit_entries`: add one, read them newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEntry

__all__ = ["add", "page"]


def add(
    session: AsyncSession,
    *,
    at: datetime,
    actor: str,
    channel: str,
    action: str,
    target: str,
    details: dict[str, Any],
) -> AuditEntry:
    entry = AuditEntry(
        at=at,
        actor=actor[:200],
        channel=channel[:8],
        action=action[:64],
        target=target[:300],
        details=details,
    )
    session.add(entry)
    return entry


async def page(
    session: AsyncSession,
    *,
    limit: int,
    before_id: int | None = None,
    action: str | None = None,
    target: str | None = None,
    channel: str | None = None,
) -> Sequence[AuditEntry]:
    """Newest first (by id: ids grow with time); `before_id` is the last id of the previous
    page. `action` matches exactly or as a prefix ending in a dot (`group.` → every group
    action)."""
    statement = select(AuditEntry)
    if before_id is not None:
        statement = statement.where(AuditEntry.id < before_id)
    if action:
        if action.endswith("."):
            statement = statement.where(AuditEntry.action.startswith(action, autoescape=True))
        else:
            statement = statement.where(AuditEntry.action == action)
    if target is not None:
        statement = statement.where(AuditEntry.target == target)
    if channel is not None:
        statement = statement.where(AuditEntry.channel == channel)
    statement = statement.order_by(AuditEntry.id.desc()).limit(limit)
    return (await session.execute(statement)).scalars().all()
