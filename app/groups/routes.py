"""REST API v1: the group registry. Groups with what the service can do in each, their
activity and moderation counts; a group's own settings (rules text, welcome template, policy
overrides, moderators, webhook key, name, kind); its members, a member's strikes and pardons.

The webhook robot key is write-only: it is sealed with `app.secret_box` (SECRET_KEY) before it
is stored, and answers only say whether one is set. A PATCH is checked whole before anything
is written: one bad field → 422 and nothing changes. Every change goes into the audit trail
(`app.audit`) in the same transaction: the changes are made by `app.groups.actions`, as the
chat commands make theirs. What each group allows is `app.groups.capabilities`.

Activity counts what the service keeps (see `app.repositories.reports`): messages in the last
day (exact), members who posted in the last 7 days, and every message seen from the group's
members since the service first saw them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app import audit
from app.admin.auth import ApiCaller, require_token
from app.admin.cursors import IdCursor, decode_id_cursor, encode_id_cursor
from app.groups import actions, checks
from app.groups.actions import MAX_RULES_CHARS
from app.groups.policy_file import effective_policy
from app.groups.views import (
    MAX_WELCOME_BYTES,
    WELCOME_PLACEHOLDERS,
    GroupOut,
    groups_out,
    welcome_template_problem,
)
from app.models import GroupKind, GroupMember
from app.repositories import groups as groups_repo
from app.repositories import strikes as strikes_repo
from app.runtime import runtime_of

if TYPE_CHECKING:
    pass

__all__ = [
    "GROUP_KINDS",
    "MAX_MODERATORS",
    "MAX_RULES_CHARS",
    "MAX_WELCOME_BYTES",
    "WELCOME_PLACEHOLDERS",
    "GroupOut",
    "groups_out",
    "router",
    "welcome_template_problem",
]

MAX_MODERATORS = checks.MAX_MODERATORS
GROUP_KINDS = tuple(kind.value for kind in GroupKind if kind is not GroupKind.UNKNOWN)

router = APIRouter(prefix="/api/v1/groups", tags=["groups"], dependencies=[Depends(require_token)])

ChatId = Annotated[str, Path(min_length=1, max_length=128, description="the group's chat id")]
UserId = Annotated[str, Path(min_length=1, max_length=128, description="the member's userid")]
Caller = Annotated[ApiCaller, Depends(require_token)]


# -- models ------------------------------------------------------------------------------


class GroupPage(BaseModel):
    items: list[GroupOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


def _not_null(schema: dict[str, Any]) -> None:
    """In the JSON schema, only `webhook_key` and `by` may be null: an absent field stays, a
    null one other than these is refused (422), so the document must not offer it."""
    for name, field in schema.get("properties", {}).items():
        if name in ("webhook_key", "by"):
            continue
        options = [option for option in field.get("anyOf", ()) if option.get("type") != "null"]
        if len(options) == 1 and "anyOf" in field:
            del field["anyOf"]
            field.update(options[0])
        field.pop("default", None)
    # At least one field to change (`by` alone changes nothing).
    schema["anyOf"] = [{"required": [name]} for name in schema["properties"] if name != "by"]


class GroupPatch(BaseModel):
    """The fields to change; absent ones stay. Only `webhook_key` may be null (clears it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_null)

    name: str | None = Field(None, max_length=256)
    kind: Literal["customer", "internal", "app_created"] | None = None
    rules_text: str | None = Field(None, max_length=MAX_RULES_CHARS)
    welcome_template: str | None = Field(
        None,
        max_length=MAX_WELCOME_BYTES,
        description=f"≤ {MAX_WELCOME_BYTES} UTF-8 bytes; placeholders {{members}} and {{rules}}",
    )
    policy: dict[str, Any] | None = Field(
        None, description='overrides of the default policy, e.g. {"mode": "shadow"}; {}: none'
    )
    moderators: list[str] | None = Field(None, max_length=MAX_MODERATORS)
    webhook_key: str | None = Field(
        None,
        max_length=2000,
        description="write-only: the robot's key or its webhook URL; null clears it",
    )
    by: str | None = Field(None, min_length=1, max_length=128, description="who (for the audit)")


class MemberOut(BaseModel):
    user_id: str
    first_seen_at: datetime
    joined_at: datetime | None
    left_at: datetime | None
    messages: int = Field(description="messages seen from the member")
    last_message_at: datetime | None
    strikes: int = Field(description="standing strikes: what the ladder counts next time")
    shadow_strikes: int = Field(description="standing strikes counted in shadow mode")


class MemberPage(BaseModel):
    chat_id: str
    strike_window_days: int = Field(description="strikes older than this have decayed")
    items: list[MemberOut]
    next_cursor: str | None


class StrikeOut(BaseModel):
    id: int
    time: datetime
    rule: str = Field(description="the strictest rule of the offence, e.g. flood.rate")
    log_id: int | None = Field(description="the moderation log row of the offence")
    shadow: bool = Field(description="counted only while the group is in shadow mode")
    pardoned_at: datetime | None
    pardoned_by: str | None


class StrikesOut(BaseModel):
    chat_id: str
    user_id: str
    standing: int = Field(
        description="unpardoned enforce-mode strikes inside the group's strike window: what "
        "the ladder counts for the next offence"
    )
    strikes: list[StrikeOut] = Field(description="every strike, oldest first")


class PardonIn(BaseModel):
    by: str = Field("api", min_length=1, max_length=128, description="who pardons (for the log)")


class PardonOut(BaseModel):
    chat_id: str
    user_id: str
    pardoned: int = Field(description="strikes cleared by this call")


# -- helpers -----------------------------------------------------------------------------


def _not_found(chat_id: str) -> HTTPException:
    return HTTPException(
        404, f"group {chat_id} not found (groups appear once the service sees them)"
    )


# -- groups ------------------------------------------------------------------------------


@router.get("", response_model=GroupPage, summary="Groups, with activity and moderation counts")
async def list_groups(
    request: Request,
    _caller: Caller,
    cursor: IdCursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    runtime = runtime_of(request)
    after = decode_id_cursor(cursor)
    async with runtime.sessions() as session:
        rows = await groups_repo.page(session, limit=limit + 1, after_id=after)
        shown = list(rows[:limit])
        items = await groups_out(runtime, session, shown)
    return GroupPage(
        items=items,
        next_cursor=encode_id_cursor(shown[-1].id) if len(rows) > limit else None,
    )


@router.get("/{chat_id}", response_model=GroupOut, summary="One group")
async def get_group(request: Request, _caller: Caller, chat_id: ChatId) -> Any:
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        group = await groups_repo.get(session, chat_id)
        if group is None:
            raise _not_found(chat_id)
        (item,) = await groups_out(runtime, session, [group])
    return item


@router.patch("/{chat_id}", response_model=GroupOut, summary="Change a group's settings")
async def update_group(request: Request, caller: Caller, chat_id: ChatId, body: GroupPatch) -> Any:
    runtime = runtime_of(request)
    given = body.model_fields_set - {"by"}
    for name in sorted(given - {"webhook_key"}):
        if getattr(body, name) is None:
            raise HTTPException(422, f"{name}: may not be null")
    if not given:
        raise HTTPException(422, "nothing to change: give at least one field")
    values: dict[str, Any] = {name: getattr(body, name) for name in given}
    if "welcome_template" in values:
        problem = welcome_template_problem(values["welcome_template"])
        if problem:
            raise HTTPException(422, problem)
    if "policy" in values:
        problem = checks.policy_problem(values["policy"], runtime.context.policy)
        if problem:
            raise HTTPException(422, problem)
    try:
        if "moderators" in values:
            values["moderators"] = checks.moderators(values["moderators"])
        given_key = values.get("webhook_key")
        key = checks.webhook_key(given_key) if given_key is not None else ""
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if "kind" in values:
        values["kind"] = GroupKind(values["kind"])
    if values.get("webhook_key") is not None:
        if runtime.secret_box is None:
            raise HTTPException(
                409,
                "webhook_key: cannot be stored: webhook keys are kept encrypted and SECRET_KEY "
                "is not set (make one with `python -m app.secret_box`, set it, restart)",
            )
        values["webhook_key"] = runtime.secret_box.encrypt(key)

    now = runtime.now()
    async with runtime.sessions() as session, session.begin():
        group = await groups_repo.get(session, chat_id)
        if group is None:
            raise _not_found(chat_id)
        actor = actions.Actor(audit.rest_actor(caller.kind, body.by), audit.Channel.REST)
        await actions.update_settings(session, group, values, actor=actor, now=now)
        await session.flush()
        (item,) = await groups_out(runtime, session, [group])
    return item


# -- members -----------------------------------------------------------------------------


@router.get(
    "/{chat_id}/members", response_model=MemberPage, summary="A group's members and strikes"
)
async def list_members(
    request: Request,
    _caller: Caller,
    chat_id: ChatId,
    cursor: IdCursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    runtime = runtime_of(request)
    after = decode_id_cursor(cursor)
    async with runtime.sessions() as session:
        group = await groups_repo.get(session, chat_id)
        if group is None:
            raise _not_found(chat_id)
        policy = effective_policy(group, runtime.context.policy)
        rows = await groups_repo.members_page(session, chat_id, limit=limit + 1, after_id=after)
        shown: list[GroupMember] = list(rows[:limit])
        users = [member.user_id for member in shown]
        since = runtime.now() - timedelta(days=policy.strike_window_days)
        enforce = await strikes_repo.standing_counts(
            session, chat_id, users, since=since, shadow=False
        )
        shadow = await strikes_repo.standing_counts(
            session, chat_id, users, since=since, shadow=True
        )
    return MemberPage(
        chat_id=chat_id,
        strike_window_days=policy.strike_window_days,
        items=[
            MemberOut(
                user_id=member.user_id,
                first_seen_at=member.first_seen_at,
                joined_at=member.joined_at,
                left_at=member.left_at,
                messages=member.messages,
                last_message_at=member.last_message_at,
                strikes=enforce.get(member.user_id, 0),
                shadow_strikes=shadow.get(member.user_id, 0),
            )
            for member in shown
        ],
        next_cursor=encode_id_cursor(shown[-1].id) if len(rows) > limit else None,
    )


@router.get(
    "/{chat_id}/members/{user_id}/strikes",
    response_model=StrikesOut,
    summary="A member's strikes in a group",
)
async def member_strikes(
    request: Request, _caller: Caller, chat_id: ChatId, user_id: UserId
) -> Any:
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        group = await groups_repo.get(session, chat_id)
        rows = await strikes_repo.every(session, chat_id, user_id)
    policy = effective_policy(group, runtime.context.policy)
    since = runtime.now() - timedelta(days=policy.strike_window_days)
    return StrikesOut(
        chat_id=chat_id,
        user_id=user_id,
        standing=sum(
            1 for row in rows if _stands(row.pardoned_at, row.shadow, row.created_at, since)
        ),
        strikes=[
            StrikeOut(
                id=row.id,
                time=row.created_at,
                rule=row.rule,
                log_id=row.moderation_log_id,
                shadow=row.shadow,
                pardoned_at=row.pardoned_at,
                pardoned_by=row.pardoned_by,
            )
            for row in rows
        ],
    )


def _stands(pardoned_at: datetime | None, shadow: bool, at: datetime, since: datetime) -> bool:
    return pardoned_at is None and not shadow and at >= since


@router.post(
    "/{chat_id}/members/{user_id}/pardon",
    response_model=PardonOut,
    summary="Clear a member's strikes in a group (the ladder starts again)",
)
async def pardon(
    request: Request,
    caller: Caller,
    chat_id: ChatId,
    user_id: UserId,
    body: Annotated[PardonIn | None, Body()] = None,
) -> Any:
    runtime = runtime_of(request)
    by = body.by if body is not None else "api"
    now = runtime.now()
    actor = actions.Actor(
        audit.rest_actor(caller.kind, body.by if body is not None else None), audit.Channel.REST
    )
    async with runtime.sessions() as session, session.begin():
        count = await actions.pardon(
            session, chat_id, user_id, actor=actor, pardoned_by=by, now=now
        )
    return PardonOut(chat_id=chat_id, user_id=user_id, pardoned=count)
