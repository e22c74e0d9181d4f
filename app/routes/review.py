"""REST API v1: a moderator's review of a moderation log row, and the log as CSV.

A review is `confirm` or `overturn`, once per row (a second one is 409; a conditional UPDATE
decides between two racing reviewers). Overturning pardons the strike that row gave, so the
member's standing drops at once, and suggests an allow-list phrase for each lexicon hit: the
smallest stretch of the original text around the hit that contains it and at least one
neighbouring character or ASCII word, scoped to the group. The suggestion is not added; a
moderator adds it with `POST /api/v1/lexicon/allow` if it is right. Both are audited.

The CSV export streams the rows oldest first in batches (one short session per batch) and
neutralises spreadsheet formulas: a cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return gets a leading `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app import audit
from app import lexicon_service as lexicon
from app.models import ModerationLog
from app.policy_file import effective_policy
from app.repositories import groups as groups_repo
from app.repositories import moderation_log as log_repo
from app.repositories import strikes as strikes_repo
from app.repositories.reports import finding_rule
from app.routes.api import ApiCaller, ReviewOut, Since, Until, aware, require_token

if TYPE_CHECKING:
    from app.main import Runtime

__all__ = ["CSV_COLUMNS", "EXPORT_BATCH", "csv_cell", "router", "suggest_allow_phrase"]

EXPORT_BATCH = 500  # rows read per query while streaming an export
CSV_COLUMNS = (
    "id",
    "time",
    "chat_id",
    "user_id",
    "verdict",
    "step",
    "strikes",
    "mode",
    "rules",
    "reason",
    "text",
)
MAX_ASCII_NEIGHBOUR = 24  # characters of a neighbouring ASCII word taken into a suggestion
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

router = APIRouter(prefix="/api/v1", tags=["moderation log"], dependencies=[Depends(require_token)])

Caller = Annotated[ApiCaller, Depends(require_token)]
LogId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["confirm", "overturn"]
    by: str = Field("api", min_length=1, max_length=128, description="who reviews")
    note: str = Field("", max_length=2000)


class AllowSuggestion(BaseModel):
    word: str = Field(description="the lexicon word that hit")
    matched: str = Field(description="the text it matched")
    phrase: str = Field(description="suggested allow-list phrase (not added)")
    scope: str = Field(description="the group's chat id: allowed there only")


class ReviewResult(BaseModel):
    log_id: int
    review: ReviewOut
    pardoned_strikes: int = Field(description="strikes this review pardoned (overturn: 0 or 1)")
    standing: int | None = Field(
        description="the member's standing strikes in the group after the review"
    )
    suggested_allow: list[AllowSuggestion] = Field(
        description="overturn: allow-list phrases that would have let the message pass; add "
        "one with POST /api/v1/lexicon/allow"
    )
    note: str = Field("", description="why there is no suggestion, when there is none")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# -- suggestions -------------------------------------------------------------------------


def _is_ascii_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _neighbour_left(text: str, start: int) -> int:
    """Where a suggestion starts: one letter/digit character before `start`, or the whole
    ASCII word there; `start` itself when the neighbour is a space, punctuation or nothing."""
    if start == 0 or not text[start - 1].isalnum():
        return start
    if not _is_ascii_word_char(text[start - 1]):
        return start - 1
    left = start - 1
    while left > 0 and _is_ascii_word_char(text[left - 1]) and start - left < MAX_ASCII_NEIGHBOUR:
        left -= 1
    if left > 0 and _is_ascii_word_char(text[left - 1]):
        return start  # too long a word to put in a phrase
    return left


def _neighbour_right(text: str, end: int) -> int:
    if end >= len(text) or not text[end].isalnum():
        return end
    if not _is_ascii_word_char(text[end]):
        return end + 1
    right = end + 1
    while (
        right < len(text) and _is_ascii_word_char(text[right]) and right - end < MAX_ASCII_NEIGHBOUR
    ):
        right += 1
    if right < len(text) and _is_ascii_word_char(text[right]):
        return end
    return right


def suggest_allow_phrase(text: str, start: int, end: int) -> str | None:
    """The smallest stretch of `text` around the hit [start, end) that holds it and a
    neighbour on at least one side (so allowing it does not allow the word itself); None when
    the hit stands alone between spaces or punctuation."""
    if not 0 <= start < end <= len(text):
        return None
    left = _neighbour_left(text, start)
    right = _neighbour_right(text, end)
    if left == start and right == end:
        return None
    return text[left:right]


def _suggestions(row: ModerationLog) -> list[AllowSuggestion]:
    found: list[AllowSuggestion] = []
    for finding in row.findings or ():
        if not isinstance(finding, dict) or finding.get("detector", "lexicon") != "lexicon":
            continue
        try:
            start, end = int(finding.get("start", -1)), int(finding.get("end", -1))
        except (TypeError, ValueError):
            continue
        phrase = suggest_allow_phrase(row.text, start, end)
        if phrase is None:
            continue
        try:
            lexicon.allow_entry(phrase, row.chat_id)
        except lexicon.InvalidEntry:
            continue
        if any(item.phrase == phrase for item in found):
            continue
        found.append(
            AllowSuggestion(
                word=str(finding.get("word", "")),
                matched=str(finding.get("matched", "")),
                phrase=phrase,
                scope=row.chat_id,
            )
        )
    return found


# -- review ------------------------------------------------------------------------------


@router.post(
    "/moderation-logs/{log_id:int}/review",
    response_model=ReviewResult,
    summary="Confirm or overturn a decision (overturn pardons its strike)",
)
async def review_log(request: Request, caller: Caller, log_id: LogId, body: ReviewIn) -> Any:
    runtime = runtime_of(request)
    status = "confirmed" if body.verdict == "confirm" else "overturned"
    now = runtime.now()
    async with runtime.sessions() as session, session.begin():
        row = await log_repo.get(session, log_id)
        if row is None:
            raise HTTPException(404, f"moderation log {log_id} not found")
        recorded = await log_repo.mark_reviewed(
            session, log_id, review=status, by=body.by, at=now, note=body.note
        )
        await session.refresh(row)
        if not recorded:
            when = row.reviewed_at.isoformat() if row.reviewed_at else "?"
            raise HTTPException(
                409,
                f"moderation log {log_id} was already reviewed: {row.review} by "
                f"{row.reviewed_by} at {when}",
            )
        pardoned = 0
        standing: int | None = None
        suggestions: list[AllowSuggestion] = []
        note = ""
        if status == "overturned":
            pardoned = await strikes_repo.pardon_for_log(session, log_id, now=now, by=body.by)
            suggestions = _suggestions(row)
            if not suggestions:
                note = (
                    "no allow-list phrase to suggest: no lexicon hit, or each hit stands "
                    "alone (allowing it would allow the word itself)"
                )
        if row.chat_id and row.user_id:
            group = await groups_repo.get(session, row.chat_id)
            policy = effective_policy(group, runtime.context.policy)
            standing = await strikes_repo.standing_count(
                session,
                row.chat_id,
                row.user_id,
                since=now - timedelta(days=policy.strike_window_days),
                shadow=row.mode == "shadow",
            )
        await audit.record(
            session,
            actor=audit.rest_actor(caller.kind, body.by if "by" in body.model_fields_set else None),
            channel=audit.Channel.REST,
            action=f"log.{body.verdict}",
            target=f"log:{log_id}",
            details={
                "chat_id": row.chat_id,
                "user_id": row.user_id,
                "note": body.note,
                "pardoned_strikes": pardoned,
                "suggested_allow": [item.phrase for item in suggestions],
            },
            at=now,
        )
    return ReviewResult(
        log_id=log_id,
        review=ReviewOut(status=status, by=body.by, at=now, note=body.note),
        pardoned_strikes=pardoned,
        standing=standing,
        suggested_allow=suggestions,
        note=note,
    )


# -- CSV export --------------------------------------------------------------------------


def csv_cell(value: object) -> str:
    """A cell as text, with a leading `'` when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _csv_row(row: ModerationLog) -> list[str]:
    rules: list[str] = []
    for finding in row.findings or ():
        if isinstance(finding, dict):
            rule = finding_rule(finding)
            if rule not in rules:
                rules.append(rule)
    return [
        str(row.id),
        row.created_at.astimezone(UTC).isoformat(),
        csv_cell(row.chat_id),
        csv_cell(row.user_id),
        csv_cell(row.verdict),
        csv_cell(row.step),
        str(row.strikes),
        csv_cell(row.mode),
        csv_cell(" ".join(rules)),
        csv_cell(row.reason),
        csv_cell(row.text),
    ]


async def _csv_lines(runtime: Runtime, filters: log_repo.LogFilter) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    after: tuple[datetime, int] | None = None
    while True:
        async with runtime.sessions() as session:
            rows = await log_repo.oldest_first(session, filters, limit=EXPORT_BATCH, after=after)
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            writer.writerow(_csv_row(row))
        yield buffer.getvalue()
        if len(rows) < EXPORT_BATCH:
            return
        after = (rows[-1].created_at, rows[-1].id)


@router.get(
    "/moderation-logs/export.csv",
    response_class=StreamingResponse,
    summary="The moderation log as CSV, oldest first",
)
async def export_csv(
    request: Request,
    since: Since = None,
    until: Until = None,
    chat_id: Annotated[str | None, Query(max_length=128)] = None,
) -> StreamingResponse:
    filters = log_repo.LogFilter(
        chat_id=chat_id, since=aware(since, "since"), until=aware(until, "until")
    )
    return StreamingResponse(
        _csv_lines(runtime_of(request), filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="moderation-log.csv"'},
    )
