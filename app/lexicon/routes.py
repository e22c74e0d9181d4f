"""REST API v1 (bearer token; changes need ADMIN_API_TOKEN): the lexicon — words, allow-list
phrases, a text test.

Every change is one transaction through `app.lexicon.service`, with its audit entry
(`app.audit`; adds that change nothing are not recorded); after it commits, this replica
reloads its matcher at once and the others within LEXICON_RELOAD_SECONDS. Answers carry the
lexicon version the change produced (`lexicon_version`), and the test endpoint the version it
was judged with, so a client can tell when a change is in service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app import audit
from app.admin.auth import api_caller, require_token
from app.admin.cursors import IdCursor
from app.lexicon import service
from app.lexicon.changes import audit_added, delete_entry
from app.lexicon.schemas import MAX_FIELD, AllowOut
from app.lexicon.service import MAX_TEST_TEXT
from app.runtime import runtime_of
from moderation import AllowEntry, LexiconEntry, Severity
from moderation.lexicon import MAX_CATEGORY_LENGTH, MAX_SCOPE_LENGTH

if TYPE_CHECKING:
    pass

__all__ = [
    "MAX_BULK_ENTRIES",
    "MAX_BULK_TEXT",
    "MAX_TEST_TEXT",
    "audit_added",
    "delete_entry",
    "router",
]

MAX_BULK_ENTRIES = 5_000  # entries per bulk request
MAX_BULK_TEXT = 1_000_000  # characters of word-file text per bulk request

router = APIRouter(
    prefix="/api/v1/lexicon", tags=["lexicon"], dependencies=[Depends(require_token)]
)

WordId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CATEGORIES = (
    "politics | porn | gambling | fraud | abuse | ads | custom, a Chinese name of one (色情, "
    "反动, 广告 …), or a list's own label kept as written (涉毒; at most 32 characters)"
)
SEVERITIES = "block (default) | review | log, or 1 (log) | 2 (review) | 3 (block)"
CATEGORY_PATTERN = (
    r"^[\s\u3000]*(?:(?!\d+[\s\u3000]*$)[\w\u3001-\u303f\uff01-\uff5e._/()·-]"
    r"[\w\u3000-\u303f\uff01-\uff5e ._/()·-]*)?$"
)
_SEVERITY_NAMES = (*(severity.value for severity in Severity), "1", "2", "3")


def _any_case(values: Sequence[str]) -> str:
    """The pattern of a filter the service reads case-insensitively, blanks around it ignored,
    "" for none (`lexicon_service._choice`)."""
    words = "|".join("".join(f"[{c.upper()}{c.lower()}]" for c in value) for value in values)
    return rf"^\s*({words})?\s*$"


# -- models ------------------------------------------------------------------------------


class WordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    word: str = Field(max_length=MAX_FIELD, examples=["赌博"])
    category: str | None = Field(
        None, max_length=MAX_FIELD, description=f"{CATEGORIES}; default custom"
    )
    severity: Annotated[str, Field(max_length=MAX_FIELD)] | StrictInt | None = Field(
        None, description=SEVERITIES
    )
    mode: str | None = Field(
        None, max_length=MAX_FIELD, description="fuzzy (default) | folded | exact"
    )
    scope: str = Field(
        "",
        max_length=MAX_FIELD,  # the service says what is wrong with a longer one
        json_schema_extra={"maxLength": MAX_SCOPE_LENGTH, "pattern": r"^[^\s]*$"},
        description='a chat id (no spaces); "" = every group',
    )


class AllowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phrase: str = Field(max_length=MAX_FIELD, examples=["路口交通"])
    scope: str = Field(
        "",
        max_length=MAX_FIELD,  # the service says what is wrong with a longer one
        json_schema_extra={"maxLength": MAX_SCOPE_LENGTH, "pattern": r"^[^\s]*$"},
        description='a chat id (no spaces); "" = every group',
    )


class WordsBulkIn(BaseModel):
    """Exactly one of `words` and `text`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["words"]}, {"required": ["text"]}]},
    )

    words: list[WordIn] | None = Field(None, max_length=MAX_BULK_ENTRIES)
    text: str | None = Field(
        None,
        max_length=MAX_BULK_TEXT,
        description="word-file text: word<TAB>category<TAB>severity<TAB>mode<TAB>scope per line "
        f"(severity: {SEVERITIES})",
    )


class AllowBulkIn(BaseModel):
    """Exactly one of `phrases` and `text`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["phrases"]}, {"required": ["text"]}]},
    )

    phrases: list[AllowIn] | None = Field(None, max_length=MAX_BULK_ENTRIES)
    text: str | None = Field(
        None, max_length=MAX_BULK_TEXT, description="allow-list text: phrase<TAB>scope per line"
    )


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_TEST_TEXT, examples=["今晚一起去du博吧"])
    chat_id: str = Field("", max_length=128, description="judge as if sent in this chat")


class WordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    word: str
    folded: str = Field(description="the word as the matcher sees it; unique with scope")
    category: str
    severity: str
    mode: str
    scope: str
    added_by: str
    added_at: datetime
    source: str = Field(description="file:<path> | api | cli | command")


class WordChangeOut(BaseModel):
    status: str = Field(description="added | updated | unchanged")
    item: WordOut
    lexicon_version: int


class AllowChangeOut(BaseModel):
    status: str = Field(description="added | unchanged")
    item: AllowOut
    lexicon_version: int


class CountsOut(BaseModel):
    total: int = Field(description="distinct entries in the request")
    added: int
    updated: int
    unchanged: int
    lexicon_version: int


class WordPage(BaseModel):
    items: list[WordOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


class AllowPage(BaseModel):
    items: list[AllowOut]
    next_cursor: str | None


class TextCheckOut(BaseModel):
    findings: list[dict[str, Any]] = Field(description="each finding with its explanation")
    dropped: list[dict[str, Any]] = Field(
        description="hits not counted and why (a word read across a word boundary, a romanised "
        "name, an allowed phrase …)"
    )
    verdict: str = Field(description="warn | alert | log | none")
    actions: list[str]
    reason: str
    lexicon_version: int = Field(description="the version of the lexicon that judged the text")


# -- helpers -----------------------------------------------------------------------------


def _invalid(exc: service.LexiconError, status: int = 422) -> HTTPException:
    return HTTPException(status, str(exc))


def _counts(result: service.WordsResult) -> CountsOut:
    counts = result.counts
    return CountsOut(
        total=counts.total,
        added=counts.added,
        updated=counts.updated,
        unchanged=counts.unchanged,
        lexicon_version=result.version,
    )


def _word_entries(body: WordsBulkIn) -> Sequence[LexiconEntry]:
    if (body.words is None) == (body.text is None):
        raise HTTPException(422, 'give either "words" (a list) or "text" (word-file text)')
    try:
        if body.text is not None:
            parsed = service.parse_list(service.ListKind.WORDS, body.text, source="text")
            entries = [entry for entry in parsed if isinstance(entry, LexiconEntry)]
        else:
            entries = [
                service.word_entry(
                    item.word,
                    item.category,
                    item.severity,
                    item.mode,
                    item.scope,
                    where=f"words[{i}]",
                )
                for i, item in enumerate(body.words or [])
            ]
    except service.InvalidEntry as exc:
        raise _invalid(exc) from None
    if len(entries) > MAX_BULK_ENTRIES:
        raise HTTPException(
            422, f"text has {len(entries)} words; at most {MAX_BULK_ENTRIES} per request"
        )
    return entries


def _allow_entries(body: AllowBulkIn) -> Sequence[AllowEntry]:
    if (body.phrases is None) == (body.text is None):
        raise HTTPException(422, 'give either "phrases" (a list) or "text" (allow-list text)')
    try:
        if body.text is not None:
            parsed = service.parse_list(service.ListKind.ALLOW, body.text, source="text")
            entries = [entry for entry in parsed if isinstance(entry, AllowEntry)]
        else:
            entries = [
                service.allow_entry(item.phrase, item.scope, where=f"phrases[{i}]")
                for i, item in enumerate(body.phrases or [])
            ]
    except service.InvalidEntry as exc:
        raise _invalid(exc) from None
    if len(entries) > MAX_BULK_ENTRIES:
        raise HTTPException(
            422, f"text has {len(entries)} phrases; at most {MAX_BULK_ENTRIES} per request"
        )
    return entries


async def _add_words(request: Request, entries: Sequence[LexiconEntry]) -> service.WordsResult:
    runtime = runtime_of(request)
    async with runtime.sessions() as session, session.begin():
        result = await service.add_words(
            session, entries, added_by="api", source="api", now=runtime.now()
        )
        await audit_added(
            session,
            "lexicon.words.add",
            result,
            actor=audit.rest_actor(api_caller(request).kind),
            channel=audit.Channel.REST,
            now=runtime.now(),
        )
    if result.counts.changed:
        runtime.lexicon_changed()
    return result


async def _add_allow(request: Request, entries: Sequence[AllowEntry]) -> service.WordsResult:
    runtime = runtime_of(request)
    async with runtime.sessions() as session, session.begin():
        result = await service.add_allow(
            session, entries, added_by="api", source="api", now=runtime.now()
        )
        await audit_added(
            session,
            "lexicon.allow.add",
            result,
            actor=audit.rest_actor(api_caller(request).kind),
            channel=audit.Channel.REST,
            now=runtime.now(),
        )
    if result.counts.changed:
        runtime.lexicon_changed()
    return result


# -- words -------------------------------------------------------------------------------


@router.get("/words", response_model=WordPage, summary="List or search words")
async def list_words(
    request: Request,
    q: Annotated[
        str | None, Query(max_length=200, description="substring of word or folded")
    ] = None,
    # Any label a list uses is a category (issue 17): no pattern for it, only a length.
    category: Annotated[
        str | None,
        Query(
            max_length=MAX_CATEGORY_LENGTH,
            description=CATEGORIES,
            # what `moderation.lexicon.category_of` takes, a little stricter: letters, digits
            # and common punctuation, not a bare number; blank is no filter
            json_schema_extra={"pattern": CATEGORY_PATTERN},
        ),
    ] = None,
    severity: Annotated[
        str | None,
        Query(description=SEVERITIES, json_schema_extra={"pattern": _any_case(_SEVERITY_NAMES)}),
    ] = None,
    scope: Annotated[str | None, Query(max_length=128, description='"" = every group')] = None,
    cursor: IdCursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    async with runtime_of(request).sessions() as session:
        try:
            page = await service.list_words(
                session,
                q=q,
                category=category,
                severity=severity,
                scope=scope,
                limit=limit,
                cursor=cursor,
            )
        except service.InvalidEntry as exc:
            raise _invalid(exc, 400) from None
    return WordPage(
        items=[WordOut.model_validate(row) for row in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/words",
    response_model=WordChangeOut,
    status_code=201,
    summary="Add a word (201), or update the one with the same folded form and scope (200)",
)
async def add_word(request: Request, response: Response, body: WordIn) -> Any:
    try:
        entry = service.word_entry(body.word, body.category, body.severity, body.mode, body.scope)
    except service.InvalidEntry as exc:
        raise _invalid(exc) from None
    result = await _add_words(request, [entry])
    change = result.changes[0]
    if change.outcome is not service.Outcome.ADDED:
        response.status_code = 200
    return WordChangeOut(
        status=change.outcome.value,
        item=WordOut.model_validate(change.row),
        lexicon_version=result.version,
    )


@router.post("/words/bulk", response_model=CountsOut, summary="Add or update many words")
async def add_words_bulk(request: Request, body: WordsBulkIn) -> Any:
    return _counts(await _add_words(request, _word_entries(body)))


@router.delete("/words/{word_id:int}", status_code=204, summary="Delete a word")
async def delete_word(request: Request, word_id: WordId) -> Response:
    return await _delete(request, "words", word_id)


@router.get(
    "/words/export",
    response_class=PlainTextResponse,
    summary="Every word as a word file (UTF-8 text)",
)
async def export_words(request: Request) -> PlainTextResponse:
    return await _export(request, service.export_words)


# -- allow list --------------------------------------------------------------------------


@router.get("/allow", response_model=AllowPage, summary="List or search allow-list phrases")
async def list_allow(
    request: Request,
    q: Annotated[str | None, Query(max_length=200)] = None,
    scope: Annotated[str | None, Query(max_length=128)] = None,
    cursor: IdCursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    async with runtime_of(request).sessions() as session:
        try:
            page = await service.list_allow(session, q=q, scope=scope, limit=limit, cursor=cursor)
        except service.InvalidEntry as exc:
            raise _invalid(exc, 400) from None
    return AllowPage(
        items=[AllowOut.model_validate(row) for row in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/allow",
    response_model=AllowChangeOut,
    status_code=201,
    summary="Add an allow-list phrase (201; 200 when it exists)",
)
async def add_allow(request: Request, response: Response, body: AllowIn) -> Any:
    try:
        entry = service.allow_entry(body.phrase, body.scope)
    except service.InvalidEntry as exc:
        raise _invalid(exc) from None
    result = await _add_allow(request, [entry])
    change = result.changes[0]
    if change.outcome is not service.Outcome.ADDED:
        response.status_code = 200
    return AllowChangeOut(
        status=change.outcome.value,
        item=AllowOut.model_validate(change.row),
        lexicon_version=result.version,
    )


@router.post("/allow/bulk", response_model=CountsOut, summary="Add many allow-list phrases")
async def add_allow_bulk(request: Request, body: AllowBulkIn) -> Any:
    return _counts(await _add_allow(request, _allow_entries(body)))


@router.delete("/allow/{allow_id:int}", status_code=204, summary="Delete an allow-list phrase")
async def delete_allow(request: Request, allow_id: WordId) -> Response:
    return await _delete(request, "allow", allow_id)


@router.get(
    "/allow/export",
    response_class=PlainTextResponse,
    summary="Every allow-list phrase as an allow-list file (UTF-8 text)",
)
async def export_allow(request: Request) -> PlainTextResponse:
    return await _export(request, service.export_allow)


async def _delete(request: Request, kind: str, entry_id: int) -> Response:
    """Delete one word (`kind` "words") or phrase ("allow"), 404 when there is none, and
    reload this replica at once."""
    runtime = runtime_of(request)
    try:
        async with runtime.sessions() as session, session.begin():
            await delete_entry(
                session,
                kind,
                entry_id,
                actor=audit.rest_actor(api_caller(request).kind),
                channel=audit.Channel.REST,
                now=runtime.now(),
            )
    except service.EntryNotFound as exc:
        raise _invalid(exc, 404) from None
    runtime.lexicon_changed()
    return Response(status_code=204)


async def _export(request: Request, export: Callable[..., Awaitable[str]]) -> PlainTextResponse:
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        text = await export(session, now=runtime.now())
    return PlainTextResponse(text, media_type="text/plain; charset=utf-8")


# -- testing a text ----------------------------------------------------------------------


@router.post(
    "/test",
    response_model=TextCheckOut,
    summary="What the lexicon in service finds in a text, and what would be done",
)
async def test_text(request: Request, body: TextIn) -> Any:
    served = runtime_of(request).lexicon.served  # one matcher and its version, together
    check = service.check_text(served.matcher, body.text, body.chat_id.strip())
    return TextCheckOut(**check.as_dict(), lexicon_version=served.version)
