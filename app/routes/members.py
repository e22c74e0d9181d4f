"""REST API v1 (bearer ADMIN_API_TOKEN): a member's strikes in a group, and pardons."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, Field

from app.repositories import strikes as strikes_repo
from app.routes.api import require_token

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["members"], dependencies=[Depends(require_token)])

ChatId = Annotated[str, Path(min_length=1, max_length=128, description="the group's chat id")]
UserId = Annotated[str, Path(min_length=1, max_length=128, description="the member's userid")]


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
    standing: int = Field(description="unpardoned strikes (enforce mode), any age")
    strikes: list[StrikeOut] = Field(description="every strike, oldest first")


class PardonIn(BaseModel):
    by: str = Field("api", min_length=1, max_length=128, description="who pardons (for the log)")


class PardonOut(BaseModel):
    chat_id: str
    user_id: str
    pardoned: int = Field(description="strikes cleared by this call")


@router.get(
    "/groups/{chat_id}/members/{user_id}/strikes",
    response_model=StrikesOut,
    summary="A member's strikes in a group",
)
async def member_strikes(request: Request, chat_id: ChatId, user_id: UserId) -> Any:
    async with request.app.state.runtime.sessions() as session:
        rows = await strikes_repo.every(session, chat_id, user_id)
    return StrikesOut(
        chat_id=chat_id,
        user_id=user_id,
        standing=sum(1 for row in rows if row.pardoned_at is None and not row.shadow),
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


@router.post(
    "/groups/{chat_id}/members/{user_id}/pardon",
    response_model=PardonOut,
    summary="Clear a member's strikes in a group (the ladder starts again)",
)
async def pardon(
    request: Request,
    chat_id: ChatId,
    user_id: UserId,
    body: Annotated[PardonIn | None, Body()] = None,
) -> Any:
    runtime = request.app.state.runtime
    by = body.by if body is not None else "api"
    async with runtime.sessions() as session, session.begin():
        count = await strikes_repo.pardon(session, chat_id, user_id, now=runtime.clock(), by=by)
    return PardonOut(chat_id=chat_id, user_id=user_id, pardoned=count)
