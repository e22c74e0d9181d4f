"""REST API v1: the audit trail of changes moderators made (REST, chat, CLI), newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.admin.auth import require_token
from app.admin.cursors import IdCursor, decode_id_cursor, encode_id_cursor
from app.repositories import audit as audit_repo

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["audit"], dependencies=[Depends(require_token)])


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str = Field(
        description="admin-token[:by] (REST), a userid (chat, web console), cli[:by]"
    )
    channel: str = Field(description="rest | chat | cli | console")
    action: str = Field(description="e.g. group.update, member.pardon, log.overturn")
    target: str = Field(description="e.g. group:<chat_id>, member:<chat_id>/<user_id>, log:42")
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


@router.get("/audit", response_model=AuditPage, summary="The audit trail, newest first")
async def list_audit(
    request: Request,
    action: Annotated[
        str | None, Query(max_length=64, description="exact, or a prefix ending in '.'")
    ] = None,
    target: Annotated[str | None, Query(max_length=300)] = None,
    channel: Annotated[str | None, Query(pattern="^(rest|chat|cli|console)$")] = None,
    cursor: IdCursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    before = decode_id_cursor(cursor)
    async with request.app.state.runtime.sessions() as session:
        rows = await audit_repo.page(
            session,
            limit=limit + 1,
            before_id=before,
            action=action,
            target=target,
            channel=channel,
        )
    shown = list(rows[:limit])
    return AuditPage(
        items=[AuditOut.model_validate(row) for row in shown],
        next_cursor=encode_id_cursor(shown[-1].id) if len(rows) > limit else None,
    )
