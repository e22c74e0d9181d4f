"""What a moderator can do to a group and its members, each as one function that makes the
change and its audit entry in the caller's transaction: set the group's settings (its rules,
its mode, anything the REST PATCH takes), warn a member, pardon a member, remove a member.
The REST routes (`app.groups.routes`) and the chat commands (`app.chat.commands`) both call
these; how the answer looks (an HTTP body, a chat reply) stays theirs.

Where a warning or a removal can go is `app.groups.capabilities`; a warning decided by the judging
pipeline is queued with `queue_warning` too, so every warning in a group takes the same
channel. Functions add and flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.groups.capabilities import Channel, GroupCapabilities, Route, WarningPost, warning_post
from app.models import Group, ModerationLog
from app.repositories import moderation_log as log_repo
from app.repositories import outbox as outbox_repo
from app.repositories import strikes as strikes_repo
from moderation import Action, GroupMode, GroupPolicy, Severity, Signal, Step

__all__ = [
    "Actor",
    "Warned",
    "kick",
    "pardon",
    "queue_warning",
    "set_mode",
    "set_rules",
    "update_settings",
    "warn",
    "warning_action",
]


MAX_RULES_CHARS = 2000
MAX_REASON_CHARS = 200  # of a warning's, a removal's or a report's reason


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, as the audit trail records it (`audit.rest_actor`, `audit.chat_actor`), and
    through which channel."""

    name: str
    channel: audit.Channel


async def _record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    await audit.record(
        session,
        actor=actor.name,
        channel=actor.channel,
        action=action,
        target=target,
        details=details,
        at=now,
    )


def _member(chat_id: str, user_id: str) -> str:
    return f"member:{chat_id}/{user_id}"


# -- the group's settings ------------------------------------------------------------------


async def update_settings(
    session: AsyncSession,
    group: Group,
    values: Mapping[str, Any],
    *,
    actor: Actor,
    now: datetime,
) -> dict[str, dict[str, Any]]:
    """Set the group's fields in `values` (checked by the caller) and record what changed in
    one `group.update` entry; returns the changes ({} when every field held its value).

    `webhook_key` is the sealed key or None (clears it); the entry says "set", "unset" or
    "cleared", never the key, and a key given again counts as a change (it is sealed anew)."""
    changes: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        if name == "webhook_key":
            if value is None and group.webhook_key is None:
                continue
            changes[name] = {
                "from": "set" if group.webhook_key else "unset",
                "to": "set" if value is not None else "cleared",
            }
            group.webhook_key = value
            continue
        old = getattr(group, name)
        if old == value:
            continue
        changes[name] = {"from": old, "to": value}
        setattr(group, name, value)
    if changes:
        group.updated_at = now
        await _record(
            session, actor, "group.update", f"group:{group.chat_id}", {"changes": changes}, now
        )
    return changes


async def set_rules(
    session: AsyncSession, group: Group, text: str, *, actor: Actor, now: datetime
) -> None:
    """Set the group's rules text (checked by the caller), with its audit entry."""
    await update_settings(session, group, {"rules_text": text}, actor=actor, now=now)


async def set_mode(
    session: AsyncSession,
    group: Group,
    mode: GroupMode,
    *,
    default: GroupPolicy,
    actor: Actor,
    now: datetime,
) -> None:
    """Set the group's mode in its policy overrides, with its audit entry. Raises ValueError
    or TypeError when the group's overrides with that mode are not a valid policy over
    `default` (nothing is changed)."""
    new = {**dict(group.policy or {}), "mode": mode.value}
    GroupPolicy.from_mapping(new, default)
    await update_settings(session, group, {"policy": new}, actor=actor, now=now)


# -- members -------------------------------------------------------------------------------


async def pardon(
    session: AsyncSession,
    chat_id: str,
    user_id: str,
    *,
    actor: Actor,
    pardoned_by: str,
    now: datetime,
    note: str = "",
) -> int:
    """Clear the member's strikes in the group (`pardoned_by` kept on each); returns how
    many. A pardon that cleared any is recorded (`member.pardon`, with the `note` if any)."""
    count = await strikes_repo.pardon(session, chat_id, user_id, now=now, by=pardoned_by)
    if count:
        details: dict[str, Any] = {"pardoned": count}
        if note:
            details["note"] = note
        await _record(session, actor, "member.pardon", _member(chat_id, user_id), details, now)
    return count


@dataclass(frozen=True, slots=True)
class Warned:
    entry: ModerationLog  # the warning's moderation log row
    strikes: int  # the member's standing strikes, this one included


async def warn(
    session: AsyncSession,
    group: Group,
    user_id: str,
    reason: str,
    *,
    by: str,
    actor: Actor,
    policy: GroupPolicy,
    now: datetime,
    inbox_event_id: int | None = None,
    message_id: str = "",
) -> Warned:
    """A moderator's warning, an offence like a flagged message: a moderation log row
    (source command, verdict warn, a `moderator`/`manual` finding), a strike and the audit
    entry (`member.warn`). Carried out whatever the group's mode: a moderator decided it.
    Posting the warning is the caller's (`queue_warning`, or a reply in the group)."""
    since = now - timedelta(days=policy.strike_window_days)
    standing = await strikes_repo.standing_count(
        session, group.chat_id, user_id, since=since, shadow=False
    )
    count = standing + 1
    finding = Signal(
        detector="moderator",
        rule="manual",
        severity=Severity.REVIEW,
        score=1.0,
        summary=reason,
        facts={"by": by},
    )
    entry = await log_repo.add(
        session,
        ModerationLog(
            inbox_event_id=inbox_event_id,
            created_at=now,
            source="command",
            chat_id=group.chat_id,
            user_id=user_id,
            message_id=message_id,
            text="",
            findings=[finding.as_dict()],
            verdict="warn",
            reason=f"/warn by {by}: {reason}",
            mode="enforce",
            step=Step.WARNING.value,
            strikes=count,
            actions=[Action.WARN_SENDER.value],
        ),
    )
    strikes_repo.add(
        session,
        chat_id=group.chat_id,
        user_id=user_id,
        created_at=now,
        moderation_log_id=entry.id,
        rule="manual",
        shadow=False,
    )
    await _record(
        session,
        actor,
        "member.warn",
        _member(group.chat_id, user_id),
        {"reason": reason, "log_id": entry.id, "strikes": count},
        now,
    )
    return Warned(entry, count)


def warning_action(
    group: Group,
    log_id: int,
    user_id: str,
    text: str,
    *,
    now: datetime,
    response_url: str = "",
    channel: WarningPost = warning_post,
) -> tuple[dict[str, Any], bool]:
    """The outbox row (`outbox_repo.row`) of the warning `text` of log row `log_id` where the
    group allows it (`app.groups.capabilities`), mentioning the member, and whether it will be
    sent. When there is no channel the row is skipped, with the reason."""
    kind, payload, note = channel(group, response_url, text, user_id)
    action = outbox_repo.row(
        idempotency_key=f"log:{log_id}:warn",
        kind=kind,
        payload=payload,
        now=now,
        moderation_log_id=log_id,
        status="pending" if note is None else "skipped",
        note=note,
    )
    return action, note is None


def queue_warning(
    session: AsyncSession,
    group: Group,
    entry: ModerationLog,
    text: str,
    *,
    now: datetime,
    response_url: str = "",
    channel: WarningPost = warning_post,
) -> bool:
    """Queue the warning `text` of log row `entry` (`warning_action`); returns whether it will
    be sent."""
    action, sent = warning_action(
        group, entry.id, entry.user_id, text, now=now, response_url=response_url, channel=channel
    )
    outbox_repo.add(session, action)
    return sent


async def kick(
    session: AsyncSession,
    group: Group,
    user_id: str,
    reason: str,
    *,
    actor: Actor,
    idempotency_key: str,
    now: datetime,
) -> Route:
    """Remove the member from the group where WeCom allows it: the removal is queued and
    recorded (`member.kick`). Elsewhere nothing changes and the route says why."""
    route = GroupCapabilities.of(group).removal()
    if route.channel is not Channel.APPCHAT_REMOVE:
        return route
    outbox_repo.enqueue(
        session,
        idempotency_key=idempotency_key,
        kind=route.channel.value,
        payload={"chat_id": group.chat_id, "user_ids": [user_id]},
        now=now,
    )
    await _record(
        session, actor, "member.kick", _member(group.chat_id, user_id), {"reason": reason}, now
    )
    return route
