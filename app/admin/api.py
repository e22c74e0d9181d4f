"""REST API v1: the moderation log (list with filters and keyset pages, one row), and the
query parameters the log and the reviews share (`Since`, `Until`, `aware`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.admin.auth import require_token
from app.admin.cursors import LogCursor, decode_log_cursor, encode_log_cursor
from app.models import ModerationLog, OutboxAction
from app.repositories import moderation_log as log_repo

__all__ = [
    "aware",
    "router",
]


router = APIRouter(prefix="/api/v1", tags=["moderation log"], dependencies=[Depends(require_token)])


class FindingOut(BaseModel):
    word: str
    category: str
    severity: str
    start: int = Field(description="character offset in text")
    end: int = Field(description="exclusive character offset in text")
    matched: str
    detector: str
    evidence: str = Field("", description="the folded text that matched")
    route: str = Field("exact", description="exact | folded | repeat | gap | variant | pinyin")
    routes: list[str] = Field(default_factory=list, description="every route that applied")
    pattern: str = Field("", description="the pattern matched: folded word, pinyin or variant")
    confidence: str = Field("high", description="high | low (low acts as review at most)")
    effective_severity: str | None = None
    scope: str = ""
    warning: str = Field(
        "", description="the cue (严禁, …是诈骗) that made the hit part of a warning against it"
    )
    explanation: str = ""


class SignalOut(BaseModel):
    detector: str = Field(description="flood | promo")
    rule: str = Field(description="e.g. flood.rate, flood.wave, promo.phone")
    severity: str
    effective_severity: str | None = None
    score: float = Field(description="1.0 = exactly at the rule's threshold")
    summary: str
    evidence: str = ""
    start: int = Field(-1, description="span of evidence in text; -1 when not a span")
    end: int = -1
    facts: dict[str, Any] = Field(default_factory=dict, description="counts, windows, limits")
    explanation: str = ""


class ActionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(
        description="aibot_reply or appchat_send (warning in the chat), app_message (alert), "
        "appchat_remove (removal from an app-created group)"
    )
    status: str = Field(
        description="pending | sending | sent | merged (sent inside a digest) | dead | skipped"
    )
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class ReviewOut(BaseModel):
    status: str = Field(description="confirmed | overturned")
    by: str
    at: datetime
    note: str = ""


class LogOut(BaseModel):
    id: int
    time: datetime
    source: str
    chat_id: str
    user_id: str
    message_id: str
    text: str
    findings: list[FindingOut] = Field(description="lexicon words found")
    signals: list[SignalOut] = Field(description="behaviour rules that fired (flood, promo)")
    decision: str = Field(description="remove | warn | alert | exempt | log")
    reason: str
    mode: str = Field(description="enforce, or shadow (decided and logged, nothing sent)")
    step: str | None = Field(description="warning | final_warning | removal; null: no offence")
    strikes: int = Field(description="the member's standing strikes after this message")
    action_status: str = Field(
        description="none (no actions), pending, sent, failed (some dead) or skipped"
    )
    actions: list[ActionOut]
    review: ReviewOut | None = Field(
        description="a moderator's review (POST …/review); null: not reviewed"
    )


class LogPage(BaseModel):
    items: list[LogOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


def _action_status(actions: list[OutboxAction]) -> str:
    statuses = {action.status for action in actions}
    if not statuses:
        return "none"
    if "dead" in statuses:
        return "failed"
    if statuses & {"pending", "sending"}:
        return "pending"
    if statuses & {"sent", "merged"}:
        return "sent"
    return "skipped"


def _log_out(row: ModerationLog, actions: list[OutboxAction]) -> LogOut:
    return LogOut(
        id=row.id,
        time=row.created_at,
        source=row.source,
        chat_id=row.chat_id,
        user_id=row.user_id,
        message_id=row.message_id,
        text=row.text,
        findings=[
            FindingOut(**finding)
            for finding in row.findings
            if finding.get("detector", "lexicon") == "lexicon"
        ],
        signals=[
            SignalOut(**finding)
            for finding in row.findings
            if finding.get("detector", "lexicon") != "lexicon"
        ],
        decision=row.verdict,
        reason=row.reason,
        mode=row.mode,
        step=row.step,
        strikes=row.strikes,
        action_status=_action_status(actions),
        actions=[ActionOut.model_validate(action) for action in actions],
        review=_review_out(row),
    )


def _review_out(row: ModerationLog) -> ReviewOut | None:
    if row.review is None or row.reviewed_at is None:
        return None
    return ReviewOut(
        status=row.review, by=row.reviewed_by or "", at=row.reviewed_at, note=row.review_note or ""
    )


def _encode_cursor(row: ModerationLog) -> str:
    return encode_log_cursor(row.created_at, row.id)


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    return decode_log_cursor(cursor)


# An ISO 8601 date and time (the OpenAPI `date-time` format, RFC 3339, also has the zone that
# `aware` asks for). A bare number such as `0.5` would otherwise be read as a Unix time.
_ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?"
)


def _iso_time(value: object) -> object:
    if isinstance(value, str) and _ISO_TIME.fullmatch(value.strip()) is None:
        raise ValueError("must be an ISO 8601 date and time with a zone, e.g. 2026-11-21T08:00:00Z")
    return value


Since = Annotated[
    datetime | None,
    BeforeValidator(_iso_time),
    Query(description="inclusive, ISO 8601 (RFC 3339) with a zone"),
]
Until = Annotated[
    datetime | None,
    BeforeValidator(_iso_time),
    Query(description="exclusive, ISO 8601 (RFC 3339) with a zone"),
]


def aware(value: datetime | None, name: str) -> datetime | None:
    """A query parameter's time in UTC; 400 when it has no time zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise HTTPException(400, f"{name} needs a timezone, e.g. 2026-11-21T08:00:00Z")
    return value.astimezone(UTC)


@router.get("/moderation-logs", response_model=LogPage, summary="List flagged messages")
async def list_logs(
    request: Request,
    chat_id: Annotated[str | None, Query(max_length=128)] = None,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Since = None,
    until: Until = None,
    cursor: LogCursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    filters = log_repo.LogFilter(
        chat_id=chat_id,
        user_id=user_id,
        since=aware(since, "since"),
        until=aware(until, "until"),
    )
    before = _decode_cursor(cursor) if cursor else None
    async with request.app.state.runtime.sessions() as session:
        rows = await log_repo.page(session, filters, limit=limit + 1, before=before)
        shown = list(rows[:limit])
        actions = await log_repo.actions_for(session, [row.id for row in shown])
    return LogPage(
        items=[_log_out(row, actions.get(row.id, [])) for row in shown],
        next_cursor=_encode_cursor(shown[-1]) if len(rows) > limit else None,
    )


@router.get("/moderation-logs/{log_id:int}", response_model=LogOut, summary="One flagged message")
async def get_log(request: Request, log_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Any:
    async with request.app.state.runtime.sessions() as session:
        row = await log_repo.get(session, log_id)
        if row is None:
            raise HTTPException(404, f"moderation log {log_id} not found")
        actions = await log_repo.actions_for(session, [row.id])
    return _log_out(row, actions.get(row.id, []))
