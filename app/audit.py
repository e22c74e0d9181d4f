"""The audit trail: who changed what, when, and through which channel (REST, chat or CLI).

Every change a moderator makes (a group's settings, a pardon, a review, the lexicon) is
recorded with `record(...)` in the same transaction as the change itself, so a change and its
audit entry are committed together or not at all. `record` only adds and flushes; the caller
owns the transaction.

Actors are short strings: `admin-token` or `admin-token:mod-alice` for REST (the token used,
and the `by` the client gave), the WeCom userid for a chat command (`rest_actor`,
`chat_actor`, `cli_actor` build them). Details are JSON and never hold a secret: write "set" or
"cleared" for a webhook key, not the key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEntry
from app.repositories import audit as audit_repo

__all__ = ["Channel", "chat_actor", "cli_actor", "record", "rest_actor"]


class Channel(StrEnum):
    REST = "rest"
    CHAT = "chat"
    CLI = "cli"
    CONSOLE = "console"  # the web console (app.console): the actor is a WeCom userid


def rest_actor(token_kind: str, by: str | None = None) -> str:
    """`admin-token`, or `admin-token:mod-alice` when the client named who acts."""
    by = (by or "").strip()
    return f"{token_kind}-token:{by}" if by else f"{token_kind}-token"


def chat_actor(user_id: str) -> str:
    return user_id


def cli_actor(by: str | None = None) -> str:
    by = (by or "").strip()
    return f"cli:{by}" if by else "cli"


async def record(
    session: AsyncSession,
    *,
    actor: str,
    channel: Channel | str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one audit entry to the caller's transaction and flush it (its id is then known).

    `action` is dotted, subject first (`group.update`, `member.pardon`, `log.review`,
    `lexicon.words.add`); `target` names what changed (`group:<chat_id>`,
    `member:<chat_id>/<user_id>`, `log:<id>`, `lexicon`). `at` defaults to the wall clock;
    callers that run on an injected clock pass theirs."""
    channel = Channel(channel)
    entry = audit_repo.add(
        session,
        at=at if at is not None else datetime.now(UTC),
        actor=actor,
        channel=channel.value,
        action=action,
        target=target,
        details=dict(details or {}),
    )
    await session.flush()
    return entry
