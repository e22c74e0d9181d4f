"""REST API v1: a moderator's review of a moderation log row, learning from it, and the log
as CSV.

A review is `confirm` or `overturn`, once per row (a second one is 409; a conditional UPDATE
decides between two racing reviewers). Overturning pardons the strike that row gave, so the
member's standing drops at once, and proposes for each lexicon hit the allow-list phrase that
would have prevented it (`app.lexicon.corrections`: the segmented words around the hit), to
be allowed in the row's group or in every group. Nothing is added until the moderator says so
with one call, `POST /api/v1/moderation-logs/{id}/allow` (a proposal by index, or a phrase of their
own, and the scope); the entry records the row it came from (`source_log_id`). Adding the
same phrase again is answered 200 `unchanged`. Reviews and additions are audited.

The CSV export streams the rows oldest first in batches (one short session per batch) and
neutralises spreadsheet formulas: a cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return gets a leading `'`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app import audit
from app.admin.api import ReviewOut, Since, Until, aware
from app.admin.auth import ApiCaller, require_token
from app.admin.log_csv import csv_lines
from app.lexicon import corrections
from app.lexicon import service as lexicon
from app.lexicon.schemas import MAX_FIELD, AllowOut
from app.models import LexiconAllow, ModerationLog
from app.repositories import moderation_log as log_repo
from app.runtime import runtime_of

if TYPE_CHECKING:
    pass

__all__ = ["router"]


router = APIRouter(prefix="/api/v1", tags=["moderation log"], dependencies=[Depends(require_token)])

Caller = Annotated[ApiCaller, Depends(require_token)]
LogId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["confirm", "overturn"]
    by: str = Field("api", min_length=1, max_length=128, description="who reviews")
    note: str = Field("", max_length=2000)


class AllowSuggestion(BaseModel):
    index: int = Field(
        description="which proposal: give it as `suggestion` to "
        "POST /api/v1/moderation-logs/{id}/allow"
    )
    word: str = Field(description="the lexicon word that hit")
    matched: str = Field(description="the text it matched")
    phrase: str = Field(
        description="the allow-list phrase that would have prevented the hit: the segmented "
        "words around it (not added until asked)"
    )
    start: int = Field(description="where the phrase starts in the log's text (characters)")
    end: int = Field(description="where it ends (exclusive)")
    scope: str = Field(
        description='the group\'s chat id: where scope "group" allows the phrase ("" for a '
        "1:1 chat)"
    )
    scopes: list[corrections.Scope] = Field(
        description='a choice of scope, not separate proposals: "group" (this chat only; '
        'proposed) or "global" (every group); only "global" for a 1:1 chat'
    )


class ReviewResult(BaseModel):
    log_id: int
    review: ReviewOut
    pardoned_strikes: int = Field(description="strikes this review pardoned (overturn: 0 or 1)")
    standing: int | None = Field(
        description="the member's standing strikes in the group after the review"
    )
    suggested_allow: list[AllowSuggestion] = Field(
        description="overturn: the allow-list phrases that would have let the message pass, "
        "each to be allowed in the group or globally; add one with "
        "POST /api/v1/moderation-logs/{id}/allow"
    )
    note: str = Field("", description="why there is no suggestion, when there is none")


class AllowFromLogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suggestion: int | None = Field(
        None, ge=0, description="the `index` of one of the review's `suggested_allow`"
    )
    phrase: str | None = Field(
        None,
        max_length=MAX_FIELD,
        description="or a phrase of your own: it must occur in the log's text and hold one of "
        "its lexicon hits with at least one character around it",
    )
    scope: corrections.Scope = Field(
        "group", description='"group": the log\'s group only (default); "global": every group'
    )
    by: str = Field("api", min_length=1, max_length=128, description="who adds it")


class AllowFromLogOut(BaseModel):
    status: str = Field(description="added | unchanged (it was on the allow list already)")
    item: AllowOut = Field(description="the allow-list entry, with the log it came from")
    lexicon_version: int
    note: str = Field("", description="for unchanged: where the entry came from")


# -- suggestions -------------------------------------------------------------------------


def _suggestions(
    row: ModerationLog, proposals: list[corrections.Suggestion]
) -> list[AllowSuggestion]:
    scopes = list(corrections.scopes_of(row))
    return [
        AllowSuggestion(
            index=item.index,
            word=item.hit.word,
            matched=item.hit.matched,
            phrase=item.phrase,
            start=item.start,
            end=item.end,
            scope=row.chat_id,
            scopes=scopes,
        )
        for item in proposals
    ]


# -- review ------------------------------------------------------------------------------


@router.post(
    "/moderation-logs/{log_id:int}/review",
    response_model=ReviewResult,
    summary="Confirm or overturn a decision (overturn pardons its strike)",
)
async def review_log(request: Request, caller: Caller, log_id: LogId, body: ReviewIn) -> Any:
    runtime = runtime_of(request)
    now = runtime.now()
    async with runtime.sessions() as session, session.begin():
        try:
            outcome = await corrections.review(
                session,
                log_id,
                verdict=body.verdict,
                by=body.by,
                actor=audit.rest_actor(
                    caller.kind, body.by if "by" in body.model_fields_set else None
                ),
                channel=audit.Channel.REST,
                note=body.note,
                now=now,
                default_policy=runtime.context.policy,
            )
        except corrections.LogNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except corrections.AlreadyReviewed as exc:
            raise HTTPException(409, str(exc)) from None
        suggestions = _suggestions(outcome.row, outcome.suggestions)
    note = ""
    if body.verdict == "overturn" and not suggestions:
        note = (
            "no allow-list phrase to suggest: no lexicon hit, or each hit stands "
            "alone (allowing it would allow the word itself)"
        )
    status = "confirmed" if body.verdict == "confirm" else "overturned"
    return ReviewResult(
        log_id=log_id,
        review=ReviewOut(status=status, by=body.by, at=now, note=body.note),
        pardoned_strikes=outcome.pardoned,
        standing=outcome.standing,
        suggested_allow=suggestions,
        note=note,
    )


# -- learning from it --------------------------------------------------------------------


@router.post(
    "/moderation-logs/{log_id}/allow",
    response_model=AllowFromLogOut,
    status_code=201,
    summary="Allow the phrase an overturned decision proposes, in its group or globally "
    "(201; 200 when it is there already)",
)
async def allow_from_log(
    request: Request, response: Response, caller: Caller, log_id: LogId, body: AllowFromLogIn
) -> Any:
    runtime = runtime_of(request)
    now = runtime.now()
    async with runtime.sessions() as session, session.begin():
        row = await log_repo.get(session, log_id)
        if row is None:
            raise HTTPException(404, f"moderation log {log_id} not found")
        try:
            result = await corrections.allow_from_log(
                session,
                row,
                suggestion=body.suggestion,
                phrase=body.phrase,
                scope=body.scope,
                added_by=body.by,
                source="api",
                now=now,
                actor=audit.rest_actor(
                    caller.kind, body.by if "by" in body.model_fields_set else None
                ),
                channel=audit.Channel.REST,
            )
        except corrections.NotOverturned as exc:
            raise HTTPException(409, str(exc)) from None
        except (corrections.BadChoice, lexicon.InvalidEntry) as exc:
            raise HTTPException(422, str(exc)) from None
        change = result.changes[0]
        entry = change.row
        if not isinstance(entry, LexiconAllow):  # pragma: no cover - add_allow gives phrases
            raise TypeError(f"expected an allow-list row, got {type(entry).__name__}")
    if change.outcome is lexicon.Outcome.ADDED:
        runtime.lexicon_changed()
        note = ""
    else:
        response.status_code = 200
        note = corrections.describe_existing(entry)
    return AllowFromLogOut(
        status=change.outcome.value,
        item=AllowOut.model_validate(entry),
        lexicon_version=result.version,
        note=note,
    )


# -- CSV export --------------------------------------------------------------------------


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
        csv_lines(runtime_of(request), filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="moderation-log.csv"'},
    )
