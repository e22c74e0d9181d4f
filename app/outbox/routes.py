"""REST API v1: the outbox as operators see it: actions by status (dead letters first of all),
counts and the age of the oldest action not yet carried out, and a dead action sent again.

A payload is never shown whole: a smart-bot reply holds its `response_url` (which lets anyone
post into the group) and message content can quote what a member wrote. Each action shows
only the routing fields of its kind (`SAFE_FIELDS`): who or which group it goes to.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from app import audit
from app.admin.auth import ApiCaller, require_token
from app.admin.cursors import IdCursor, decode_id_cursor, encode_id_cursor
from app.models import OutboxAction
from app.outbox.service import STATUSES, NotDead, retry_dead
from app.repositories import outbox as outbox_repo
from app.runtime import runtime_of

if TYPE_CHECKING:
    pass

__all__ = ["KINDS", "SAFE_FIELDS", "STATUSES", "NotDead", "retry_dead", "router"]

KINDS = ("aibot_reply", "app_message", "appchat_send", "appchat_remove", "webhook_send")
# The payload fields each kind may show: where the action goes, never content or a URL.
SAFE_FIELDS: dict[str, tuple[str, ...]] = {
    "app_message": ("to_users", "msgtype"),
    "appchat_send": ("chat_id", "msgtype"),
    "appchat_remove": ("chat_id", "user_ids"),
    "webhook_send": ("chat_id", "msgtype"),
    "aibot_reply": (),
}

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"], dependencies=[Depends(require_token)])

Caller = Annotated[ApiCaller, Depends(require_token)]
Status = Literal["pending", "sending", "sent", "dead", "skipped", "merged"]
Kind = Literal["aibot_reply", "app_message", "appchat_send", "appchat_remove", "webhook_send"]


class OutboxOut(BaseModel):
    id: int
    kind: str = Field(description="aibot_reply | app_message | appchat_send | appchat_remove | …")
    status: str = Field(description="pending | sending | sent | dead | skipped | merged")
    attempts: int = Field(description="calls made so far (0: not tried yet)")
    last_error: str | None = Field(description="why the last attempt failed, or why it is dead")
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    moderation_log_id: int | None
    target: dict[str, Any] = Field(description="where it goes (routing fields of its kind only)")


class OutboxPage(BaseModel):
    items: list[OutboxOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


class CountOut(BaseModel):
    status: str
    kind: str
    count: int


class SummaryOut(BaseModel):
    by_status: dict[str, int]
    by_kind: dict[str, int]
    counts: list[CountOut] = Field(description="every (status, kind) pair that has actions")
    oldest_pending_at: datetime | None = Field(description="queued time of the oldest not sent")
    oldest_pending_age_seconds: float | None = Field(description="0 or more; null: none pending")


class RetryIn(BaseModel):
    by: str | None = Field(None, min_length=1, max_length=128, description="who (for the audit)")


def _out(row: OutboxAction) -> OutboxOut:
    payload = row.payload if isinstance(row.payload, dict) else {}
    target = {name: payload[name] for name in SAFE_FIELDS.get(row.kind, ()) if name in payload}
    return OutboxOut(
        id=row.id,
        kind=row.kind,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        moderation_log_id=row.moderation_log_id,
        target=target,
    )


@router.get("", response_model=OutboxPage, summary="Outbox actions, newest first")
async def list_outbox(
    request: Request,
    status: Annotated[Status | None, Query(description="e.g. dead: the dead letters")] = None,
    kind: Annotated[Kind | None, Query()] = None,
    cursor: IdCursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    before = decode_id_cursor(cursor)
    async with runtime_of(request).sessions() as session:
        rows = await outbox_repo.page(
            session, limit=limit + 1, before_id=before, status=status, kind=kind
        )
    shown = list(rows[:limit])
    return OutboxPage(
        items=[_out(row) for row in shown],
        next_cursor=encode_id_cursor(shown[-1].id) if len(rows) > limit else None,
    )


@router.get("/summary", response_model=SummaryOut, summary="Counts by status and kind")
async def summary(request: Request) -> Any:
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        counts = await outbox_repo.counts(session)
        oldest = await outbox_repo.oldest_pending(session)
    by_status: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for status, kind, count in counts:
        by_status[status] = by_status.get(status, 0) + count
        by_kind[kind] = by_kind.get(kind, 0) + count
    age = None if oldest is None else max((runtime.now() - oldest).total_seconds(), 0.0)
    return SummaryOut(
        by_status=by_status,
        by_kind=by_kind,
        counts=[CountOut(status=s, kind=k, count=c) for s, k, c in counts],
        oldest_pending_at=oldest,
        oldest_pending_age_seconds=age,
    )


@router.post(
    "/{action_id:int}/retry",
    response_model=OutboxOut,
    summary="Send a dead action again: back to pending now, attempts reset (admin token)",
)
async def retry(
    request: Request,
    caller: Caller,
    action_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: Annotated[RetryIn | None, Body()] = None,
) -> Any:
    runtime = runtime_of(request)
    now = runtime.now()
    async with runtime.sessions() as session, session.begin():
        try:
            row = await retry_dead(
                session,
                action_id,
                actor=audit.rest_actor(caller.kind, body.by if body is not None else None),
                channel=audit.Channel.REST,
                now=now,
            )
        except NotDead as exc:
            raise HTTPException(409, str(exc)) from None
        if row is None:
            raise HTTPException(404, f"no outbox action {action_id}")
        return _out(row)
