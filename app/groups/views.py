"""A group as the REST API and the web console show it: kind, what the bot can do there,
activity and moderation counts (`groups_out`), and the check of a welcome template."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from app.groups.capabilities import GroupCapabilities
from app.groups.policy_file import effective_policy
from app.models import Group
from app.repositories import reports
from moderation.policy import GroupPolicy

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = [
    "ACTIVITY_DAYS",
    "MAX_WELCOME_BYTES",
    "MODERATION_DAYS",
    "WELCOME_PLACEHOLDERS",
    "ActivityOut",
    "CapabilitiesOut",
    "GroupOut",
    "ModerationOut",
    "groups_out",
    "welcome_template_problem",
]


MAX_WELCOME_BYTES = 3000  # UTF-8 bytes of a welcome template


WELCOME_PLACEHOLDERS = ("{members}", "{rules}")


ACTIVITY_DAYS = 7


MODERATION_DAYS = 30


class CapabilitiesOut(BaseModel):
    webhook: bool = Field(description="a webhook robot key is set (the key is never shown)")
    app_created: bool = Field(description="created by this app: appchat/send and removal work")
    smart_bot: bool = Field(description="the smart bot has been seen in the group")
    customer: bool = Field(description="a customer (external) group: WeCom allows no posting")


class ActivityOut(BaseModel):
    messages_24h: int = Field(description="messages in the last 24 hours (exact)")
    active_members_7d: int = Field(description="members who posted in the last 7 days")
    messages_seen: int = Field(description="every message seen from the members, all time")
    last_message_at: datetime | None


class ModerationOut(BaseModel):
    flagged: int = Field(description="flagged messages in the last 30 days (every mode)")
    warned: int = Field(description="of which warned in the group (enforce mode)")
    removed: int = Field(description="of which the member was removed (enforce mode)")


class GroupOut(BaseModel):
    chat_id: str
    name: str
    owner: str
    kind: str = Field(description="customer | internal | app_created | unknown")
    capabilities: CapabilitiesOut
    rules_text: str
    welcome_template: str
    policy: dict[str, Any] = Field(description="the group's overrides of the default policy")
    mode: str = Field(description="enforce | shadow | off: the policy in force")
    moderators: list[str] = Field(description="the group's own moderators (userids)")
    first_seen_at: datetime
    last_seen_at: datetime = Field(description="when a message or event last came (to the minute)")
    updated_at: datetime
    activity: ActivityOut
    moderation_30d: ModerationOut


def welcome_template_problem(template: str) -> str | None:
    """Why a welcome template is refused, or None. Braces may only form the placeholders
    {members} and {rules}, so the template renders the same whichever way it is filled in."""
    size = len(template.encode("utf-8"))
    if size > MAX_WELCOME_BYTES:
        return f"welcome_template: {size} bytes; at most {MAX_WELCOME_BYTES} (UTF-8)"
    rest = template
    for placeholder in WELCOME_PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    stray = re.search(r"\{[^{}]{0,20}\}?|\}", rest)
    if stray:
        return (
            f"welcome_template: unknown placeholder or stray brace {stray.group(0)!r}; "
            f"only {' and '.join(WELCOME_PLACEHOLDERS)} may appear in braces"
        )
    return None


def _group_out(
    group: Group,
    *,
    default: GroupPolicy,
    activity: reports.MemberActivity | None,
    recent: int,
    moderation: reports.ModerationCounts | None,
) -> GroupOut:
    activity = activity or reports.MemberActivity(0, 0, None)
    moderation = moderation or reports.ModerationCounts(0, 0, 0)
    capabilities = GroupCapabilities.of(group)
    return GroupOut(
        chat_id=group.chat_id,
        name=group.name,
        owner=group.owner,
        kind=capabilities.kind.value,
        capabilities=CapabilitiesOut(
            webhook=capabilities.webhook,
            app_created=capabilities.app_created,
            smart_bot=capabilities.smart_bot,
            customer=capabilities.customer,
        ),
        rules_text=group.rules_text,
        welcome_template=group.welcome_template,
        policy=dict(group.policy or {}),
        mode=effective_policy(group, default).mode.value,
        moderators=[str(user_id) for user_id in group.moderators or ()],
        first_seen_at=group.first_seen_at,
        last_seen_at=group.last_seen_at,
        updated_at=group.updated_at,
        activity=ActivityOut(
            messages_24h=recent,
            active_members_7d=activity.active_members,
            messages_seen=activity.messages_seen,
            last_message_at=activity.last_message_at,
        ),
        moderation_30d=ModerationOut(
            flagged=moderation.flagged, warned=moderation.warned, removed=moderation.removed
        ),
    )


async def groups_out(runtime: Runtime, session: Any, groups: Sequence[Group]) -> list[GroupOut]:
    now = runtime.now()
    ids = [group.chat_id for group in groups]
    activity = await reports.member_activity(
        session, ids, since=now - timedelta(days=ACTIVITY_DAYS)
    )
    recent = await reports.messages_since(session, ids, since=now - timedelta(days=1))
    moderation = await reports.moderation_counts(
        session, ids, since=now - timedelta(days=MODERATION_DAYS)
    )
    default = runtime.context.policy
    return [
        _group_out(
            group,
            default=default,
            activity=activity.get(group.chat_id),
            recent=recent.get(group.chat_id, 0),
            moderation=moderation.get(group.chat_id),
        )
        for group in groups
    ]
