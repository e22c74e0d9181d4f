"""What operators do to the outbox, shared by the REST API and the web console: retry a dead
action, audited."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.errors import WecomModError
from app.models import OutboxAction
from app.repositories import outbox as outbox_repo

if TYPE_CHECKING:
    pass

__all__ = ["STATUSES", "NotDead", "retry_dead"]

STATUSES = ("pending", "sending", "sent", "dead", "skipped", "merged")  # of an outbox action


class NotDead(WecomModError):
    """The outbox action is not dead, so there is nothing to retry."""


async def retry_dead(
    session: AsyncSession, action_id: int, *, actor: str, channel: audit.Channel, now: datetime
) -> OutboxAction | None:
    """A dead action back to pending now with its attempts reset, audited (`outbox.retry`);
    None when there is no such action; NotDead when it is not dead. Flushes, never commits:
    the REST API and the web console retry through it."""
    row = await outbox_repo.get(session, action_id)
    if row is None:
        return None
    status, attempts, last_error = row.status, row.attempts, row.last_error
    if not await outbox_repo.retry_dead(session, action_id, now=now):
        raise NotDead(f"outbox action {action_id} is {status}, not dead")
    await audit.record(
        session,
        actor=actor,
        channel=channel,
        action="outbox.retry",
        target=f"outbox:{action_id}",
        details={"kind": row.kind, "attempts": attempts, "last_error": last_error},
        at=now,
    )
    await session.refresh(row)
    return row
