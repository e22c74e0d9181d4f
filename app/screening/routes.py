"""REST: screen a member again by hand (`POST /api/v1/groups/{chat_id}/members/{user_id}/screen`),
at once, whatever the group's `join_screening`; the result is recorded and carried out like a
join's (a log row when something is found, the alert, a removal where the policy says remove
and WeCom allows it) and answered. Audited (`member.screen`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from app import audit
from app.admin.auth import ApiCaller, require_token
from app.repositories import groups as groups_repo
from app.runtime import runtime_of

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/groups", tags=["join screening"], dependencies=[Depends(require_token)]
)

ChatId = Annotated[str, Path(min_length=1, max_length=128, description="the group's chat id")]
UserId = Annotated[str, Path(min_length=1, max_length=128, description="the member's userid")]
Caller = Annotated[ApiCaller, Depends(require_token)]


class ScreenIn(BaseModel):
    by: str = Field("api", min_length=1, max_length=128, description="who asks (for the log)")


class ScreenOut(BaseModel):
    chat_id: str
    user_id: str
    screening_id: int
    outcome: str = Field(
        description="clean (nothing found), flagged (see log_id), skipped (see note: the group "
        "is off, the member is a moderator, the owner, staff or a member of the company), "
        "retry (WeCom failed; the screening is due again later)"
    )
    note: str = Field(description="the decision's reason, or why it was not made")
    log_id: int | None = Field(description="the moderation log row (source join), if flagged")
    verdict: str | None = Field(description="remove | alert | log, if screened")
    findings: list[dict[str, Any]] = Field(description="what was found, with its evidence")


@router.post(
    "/{chat_id}/members/{user_id}/screen",
    response_model=ScreenOut,
    summary="Screen a member again (name, company, group-hopping) and act on it",
)
async def screen_member(
    request: Request,
    caller: Caller,
    chat_id: ChatId,
    user_id: UserId,
    body: Annotated[ScreenIn | None, Body()] = None,
) -> Any:
    runtime = runtime_of(request)
    by = body.by if body is not None else "api"
    async with runtime.sessions() as session, session.begin():
        group = await groups_repo.get(session, chat_id)
        if group is None:
            raise HTTPException(404, f"group {chat_id} is not known")
        await audit.record(
            session,
            actor=audit.rest_actor(caller.kind, body.by if body is not None else None),
            channel=audit.Channel.REST,
            action="member.screen",
            target=f"member:{chat_id}/{user_id}",
            details={},
            at=runtime.now(),
        )
    outcome = await runtime.screener.screen_by_hand(group, user_id, source="api", requested_by=by)
    decision = outcome.decision
    return ScreenOut(
        chat_id=chat_id,
        user_id=user_id,
        screening_id=outcome.screening_id,
        outcome=outcome.outcome,
        note=outcome.note,
        log_id=outcome.log_id,
        verdict=decision.verdict if decision is not None else None,
        findings=[v.as_dict() for v in decision.violations] if decision is not None else [],
    )
