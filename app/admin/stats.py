"""REST API v1: moderation statistics over the last N days, overall or for one group.

What `messages` counts is limited by what the service keeps (`app.repositories.reports`):
`last_24h` is exact (per-message metadata is kept a day), `active_members` counts members whose
last message falls inside the window, and `seen_total` is every message seen from the members
in scope since the service first saw them. Findings are counted from the log rows' JSON over
at most `reports.MAX_FINDINGS_ROWS` rows, newest first (`findings_truncated` says when the
window held more).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from app.admin.auth import require_token
from app.repositories import reports
from app.repositories.reports import MAX_DAYS
from app.runtime import runtime_of

if TYPE_CHECKING:
    pass

__all__ = ["MAX_DAYS", "router"]


router = APIRouter(prefix="/api/v1", tags=["stats"], dependencies=[Depends(require_token)])


class MessagesOut(BaseModel):
    last_24h: int = Field(description="messages in the last 24 hours (exact)")
    active_members: int = Field(
        description="members whose last message is in the window (a member of two groups: 2)"
    )
    seen_total: int = Field(description="every message seen from the members, all time")


class OffenderOut(BaseModel):
    user_id: str
    chat_id: str
    count: int = Field(description="offences in the window (overturned ones excluded)")


class StatsOut(BaseModel):
    days: int
    since: datetime
    until: datetime
    chat_id: str | None
    messages: MessagesOut
    flagged: int = Field(description="flagged messages (log rows) in the window, every mode")
    flagged_by_mode: dict[str, int] = Field(description="enforce | shadow → log rows")
    decisions: dict[str, int] = Field(description="verdict → log rows (remove, warn, alert, …)")
    findings: dict[str, int] = Field(description="detector (lexicon, flood, promo) → findings")
    rules: dict[str, int] = Field(description="rule (word.gambling, promo.phone, …) → findings")
    findings_truncated: bool = Field(
        description="the window held more log rows than were read for findings"
    )
    actions: dict[str, dict[str, int]] = Field(
        description="kind → status → actions decided for the window's flagged messages"
    )
    reviews: dict[str, int] = Field(description="confirmed | overturned → reviewed rows")
    top_offenders: list[OffenderOut] = Field(description="at most 10, most offences first")


@router.get("/stats", response_model=StatsOut, summary="Moderation statistics")
async def stats(
    request: Request,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="the window, in days")] = 7,
    chat_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> Any:
    runtime = runtime_of(request)
    now = runtime.now()
    since = now - timedelta(days=days)
    chats = [chat_id] if chat_id is not None else None
    async with runtime.sessions() as session:
        activity = await reports.member_activity(session, chats, since=since)
        recent = await reports.messages_since(session, chats, since=now - timedelta(days=1))
        verdicts = await reports.verdict_counts(session, since=since, chat_id=chat_id)
        findings = await reports.finding_counts(session, since=since, chat_id=chat_id)
        actions = await reports.action_counts(session, since=since, chat_id=chat_id)
        reviews = await reports.review_counts(session, since=since, chat_id=chat_id)
        offenders = await reports.top_offenders(session, since=since, chat_id=chat_id)
    decisions: dict[str, int] = {}
    by_mode: dict[str, int] = {}
    for (verdict, mode), count in verdicts.items():
        decisions[verdict] = decisions.get(verdict, 0) + count
        by_mode[mode] = by_mode.get(mode, 0) + count
    by_kind: dict[str, dict[str, int]] = {}
    for (kind, status), count in sorted(actions.items()):
        by_kind.setdefault(kind, {})[status] = count
    return StatsOut(
        days=days,
        since=since,
        until=now,
        chat_id=chat_id,
        messages=MessagesOut(
            last_24h=sum(recent.values()),
            active_members=sum(item.active_members for item in activity.values()),
            seen_total=sum(item.messages_seen for item in activity.values()),
        ),
        flagged=sum(decisions.values()),
        flagged_by_mode=by_mode,
        decisions=dict(sorted(decisions.items())),
        findings=dict(sorted(findings.by_detector.items())),
        rules=dict(sorted(findings.by_rule.items())),
        findings_truncated=findings.truncated,
        actions=by_kind,
        reviews=reviews,
        top_offenders=[
            OffenderOut(user_id=item.user_id, chat_id=item.chat_id, count=item.count)
            for item in offenders
        ],
    )
