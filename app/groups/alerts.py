"""Who gets a moderator alert about a group, how the alert names the group, and why an alert
cannot be sent: shared by the inbox processor (violations) and the chat commands (reports)."""

from __future__ import annotations

from collections.abc import Sequence

from app.models import Group

__all__ = ["alert_problem", "alert_recipients", "group_label"]


def group_label(group: Group) -> str:
    """How alerts name a group: its name and chat id, or the chat id alone."""
    return f"{group.name}（{group.chat_id}）" if group.name else group.chat_id


def alert_recipients(admins: Sequence[str], group: Group) -> list[str]:
    """Who is alerted about a group: the admins (WECOM_ADMIN_USERIDS), the group's own
    moderators and its owner."""
    return sorted({*admins, *(group.moderators or ()), group.owner} - {""})


def alert_problem(app_messages_enabled: bool, recipients: Sequence[str]) -> str | None:
    """Why an alert cannot be sent (the outbox row is stored as skipped), or None."""
    if not app_messages_enabled:
        return "app messages are off (WECOM_APP_SECRET/WECOM_AGENT_ID not set)"
    if not recipients:
        return "no moderators configured (WECOM_ADMIN_USERIDS is empty)"
    return None
