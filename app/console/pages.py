"""The console's pages: 概览 overview, 待复核 review queue, 记录 moderation log (list filtered by
group, member, decision, rule and dates; detail; CSV), 群 groups (list; a group's rules,
welcome and mode, and for admins its moderators, policy overrides and webhook key), 成员 a
member in a group (strikes, their standing strikes in the other groups, history; warn,
remove, pardon), 健康 community health (`app.console.health`), 词库 the lexicon (test box, add,
delete, export, file import), 出站 the outbox (retry a dead action) and 审计 the audit trail.
The outbox and the audit trail are company-wide: only admins and read-only accounts have them
(a group moderator gets 404).

Each page reads through the repositories the REST API reads through, scoped to the groups the
person may see (`app.console.access`). Each change goes through the function the REST API or
the chat commands change through (`app.lexicon.corrections.review` and `allow_from_log`,
`app.groups.actions.update_settings`, `warn` with `queue_warning`, `kick` and `pardon`,
`app.groups.checks` for what the REST PATCH checks, `app.outbox.service.retry_dead`,
`app.lexicon.service.import_entries`, `app.lexicon.changes`), audited under the person's userid
with channel `console`. A refused change answers 422 with the reason on the page and changes
nothing. Lists are keyset-paginated, newest first, like the REST API's.

Who may change what follows the REST API and the chat commands: a group's moderators warn,
remove and pardon its members and change its rules, welcome and mode (`/warn`, `/kick`,
`/pardon`, `/rules set`, `/mode`); its moderators, policy overrides and webhook key are the
admins' (only the REST API's admin token changes them); so is the company-wide lexicon. A
warning is refused where the group has no channel to post it in (the chat's 1:1 `/warn`
records it anyway and says it was not posted; a console has no message to reply to, and a
strike the member never hears of is not a warning), a removal where WeCom allows none.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import uuid4

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from app import audit
from app.admin.cursors import decode_log_cursor, encode_log_cursor
from app.admin.log_csv import csv_lines
from app.chat.registry import Role, role_of
from app.console.access import Access, ConsoleRole, require_access
from app.console.session import Forbidden, NotFound, check_csrf, render, secure_headers
from app.groups import actions as group_actions
from app.groups import checks as group_checks
from app.groups import views as group_views
from app.groups.capabilities import GroupCapabilities
from app.groups.policy_file import effective_policy
from app.groups.welcome import render_welcome, rules_of
from app.lexicon import changes as lexicon_changes
from app.lexicon import corrections
from app.lexicon import service as lexicon
from app.lexicon.files import decode_list
from app.models import REVIEW_QUEUE_VERDICTS, Group, GroupKind, ModerationLog
from app.outbox import service as outbox_service
from app.repositories import audit as audit_repo
from app.repositories import groups as groups_repo
from app.repositories import moderation_log as log_repo
from app.repositories import notifications, reports
from app.repositories import outbox as outbox_repo
from app.repositories import strikes as strikes_repo
from app.screening.record import record_elsewhere
from app.settings import SettingsError
from app.texts import Texts
from app.texts.findings import describe_stored, stored_how
from moderation.policy import GroupMode

__all__ = ["MAX_TEST_TEXT", "QUEUE_VERDICTS", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

QUEUE_VERDICTS = REVIEW_QUEUE_VERDICTS  # decisions a moderator should look at (indexed)
PAGE_SIZE = 20
HISTORY = 5  # a member's earlier decisions shown beside a queued one
VERDICTS = ("remove", "warn", "alert", "exempt", "log")
MAX_TEST_TEXT = 10_000  # characters of a text to test against the lexicon
QUEUE_COUNT_CAP = 1000  # the review queue's size is counted up to this ("1000+")
OUTBOX_EXACT = ("pending", "sending", "dead")  # outbox statuses the overview counts exactly
OUTBOX_FINISHED = ("sent", "merged", "skipped")  # … and up to OUTBOX_COUNT_CAP ("10000+")
OUTBOX_COUNT_CAP = 10_000
GROUPS_PAGE = 50  # groups per page of the groups list

Person = Annotated[Access, Depends(require_access)]


# -- what a row looks like on a page -----------------------------------------------------


@dataclass
class Piece:
    text: str
    rule: str = ""  # non-empty: evidence of this rule, highlighted


@dataclass
class RowView:
    row: ModerationLog
    pieces: list[Piece]
    findings: list[dict[str, Any]]
    group: str
    history: list[ModerationLog] = field(default_factory=list)


def _rule(finding: dict[str, Any]) -> str:
    return reports.finding_rule(finding)


def highlighted(text: str, findings: list[dict[str, Any]]) -> list[Piece]:
    """`text` cut into plain pieces and the evidence of each finding (overlaps merged)."""
    spans: list[tuple[int, int, str]] = []
    for finding in findings:
        try:
            start, end = int(finding.get("start", -1)), int(finding.get("end", -1))
        except (TypeError, ValueError):
            continue
        if 0 <= start < end <= len(text):
            spans.append((start, end, _rule(finding)))
    spans.sort()
    pieces: list[Piece] = []
    at = 0
    for start, end, rule in spans:
        if end <= at:
            continue
        start = max(start, at)
        if start > at:
            pieces.append(Piece(text[at:start]))
        pieces.append(Piece(text[start:end], rule))
        at = end
    if at < len(text):
        pieces.append(Piece(text[at:]))
    return pieces


def described(finding: dict[str, Any], texts: Texts) -> dict[str, Any]:
    """A stored finding with `how` (how a lexicon hit matched: its route names in the
    configured language) and `detail` (what fired, as the warnings and alerts say it, the
    word unmasked; the engine's English `explanation` stays for a tooltip)."""
    shown = {**finding, "detail": describe_stored(texts, finding, mask=False)[1]}
    how = stored_how(texts, finding)
    if how is not None:
        shown["how"] = how
    return shown


def _view(row: ModerationLog, names: Mapping[str, str], texts: Texts) -> RowView:
    """`row` as a page shows it; `names` maps chat ids to group names (`_names`)."""
    findings = [
        described(finding, texts) for finding in row.findings or () if isinstance(finding, dict)
    ]
    return RowView(
        row=row,
        pieces=highlighted(row.text, findings),
        findings=findings,
        group=names.get(row.chat_id) or row.chat_id or "—",
    )


async def _names(db: Any, rows: Iterable[ModerationLog]) -> dict[str, str]:
    """The names of the groups of `rows` (only those: a page asks for what it shows)."""
    return await groups_repo.names(db, {row.chat_id for row in rows if row.chat_id})


async def _views(db: Any, rows: Sequence[ModerationLog], texts: Texts) -> list[RowView]:
    names = await _names(db, rows)
    return [_view(row, names, texts) for row in rows]


def _actor(person: Access) -> group_actions.Actor:
    """The person as the audit trail records a change they make here."""
    return group_actions.Actor(audit.chat_actor(person.user), audit.Channel.CONSOLE)


def _before(value: str | None) -> tuple[datetime, int] | None:
    if not value:
        return None
    try:
        return decode_log_cursor(value)
    except ValueError:
        raise NotFound("cursor") from None


# -- overview ----------------------------------------------------------------------------


@dataclass
class Window:
    label: str
    messages: int | None = 0  # None: not known that far back (message metadata is kept a day)
    flagged: int = 0
    warnings: int = 0
    removals: int = 0
    alerts: int = 0
    rules: Counter[str] = field(default_factory=Counter)


async def _windows(db: Any, person: Access, now: datetime) -> list[Window]:
    """The last 24 hours and the last 7 days, each figure of both from one read of the week
    (the log's and the standing strikes' time indexes hold every column it counts)."""
    day, week = now - timedelta(hours=24), now - timedelta(days=7)
    windows = [Window("overview.day"), Window("overview.week")]
    messages = await reports.messages_since(db, person.chat_ids, since=day)
    windows[0].messages = sum(messages.values())
    # The message metadata is kept a day: a week's messages are not known exactly.
    windows[1].messages = None
    verdicts = await reports.verdict_counts_since(db, [day, week], chat_ids=person.chat_ids)
    rules = await strikes_repo.counts_by_rule(db, [day, week], chat_ids=person.chat_ids)
    for window, counts, by_rule in zip(windows, verdicts, rules, strict=True):
        for (verdict, mode), count in counts.items():
            window.flagged += count
            if mode != "enforce":
                continue
            if verdict == "warn":
                window.warnings += count
            elif verdict == "remove":
                window.removals += count
            elif verdict == "alert":
                window.alerts += count
        window.rules.update(by_rule)
    return windows


def _channels(request: Request) -> list[tuple[str, bool, str]]:
    """(channel, on, the settings that turn it on), as configured (not the sandbox's)."""
    settings = request.app.state.runtime.configured
    return [
        (
            "app_callback",
            settings.app_callback_enabled,
            "WECOM_CORP_ID, WECOM_CALLBACK_TOKEN, WECOM_CALLBACK_AES_KEY",
        ),
        ("aibot", settings.aibot_enabled, "WECOM_AIBOT_TOKEN, WECOM_AIBOT_AES_KEY"),
        (
            "app_messages",
            settings.app_messages_enabled,
            "WECOM_CORP_ID, WECOM_AGENT_ID, WECOM_APP_SECRET",
        ),
        ("archive", settings.archive_enabled, "ARCHIVE_ENABLED, ARCHIVE_SECRET, ARCHIVE_KEYS_DIR"),
        ("rest_api", settings.rest_api_enabled, "ADMIN_API_TOKEN"),
    ]


async def _overview(request: Request, person: Access) -> dict[str, Any]:
    runtime = request.app.state.runtime
    now = runtime.now()
    async with runtime.sessions() as db:
        windows = await _windows(db, person, now)
        queue = await _queue_size(db, person)
        outbox: dict[str, str] | None = None
        if person.chat_ids is None:  # the outbox is not per group: admins and read-only only
            outbox = await _outbox_figures(db)
    return {
        "windows": windows,
        "queue": queue,
        "outbox": outbox,
        "channels": _channels(request),
        "lexicon_version": runtime.lexicon.version,
        "now": now,
    }


async def _outbox_figures(db: Any) -> dict[str, str]:
    """Outbox actions per status as shown: waiting and dead ones exact; the finished ones
    (sent, merged, skipped: every action ever decided) exact up to OUTBOX_COUNT_CAP, then
    "10000+", since an exact count of them reads the whole table."""
    counts = await outbox_repo.status_counts(
        db, OUTBOX_EXACT, OUTBOX_FINISHED, cap=OUTBOX_COUNT_CAP + 1
    )
    shown = {}
    for status in (*OUTBOX_EXACT, *OUTBOX_FINISHED):
        count = counts.get(status, 0)
        capped = status in OUTBOX_FINISHED and count > OUTBOX_COUNT_CAP
        shown[status] = f"{OUTBOX_COUNT_CAP}+" if capped else str(count)
    return shown


def _show(request: Request, person: Access, template: str, **context: Any) -> Response:
    """A console page for `person`: every template gets their session (its CSRF token) and
    their role."""
    return render(request, template, session=person.session, role=person.role, **context)


def _next_log_cursor(rows: Sequence[ModerationLog]) -> str | None:
    """The cursor of the page after a page of log rows read with one row to spare."""
    if len(rows) <= PAGE_SIZE:
        return None
    return encode_log_cursor(rows[PAGE_SIZE - 1].created_at, rows[PAGE_SIZE - 1].id)


@router.get("/")
async def overview(request: Request, person: Person) -> Response:
    return _show(
        request,
        person,
        "overview.html",
        page="overview",
        **await _overview(request, person),
    )


@router.get("/overview")
async def overview_fragment(request: Request, person: Person) -> Response:
    return _show(
        request,
        person,
        "_overview_figures.html",
        **await _overview(request, person),
    )


# -- review queue ------------------------------------------------------------------------


async def _queue_size(db: Any, person: Access) -> str:
    """The review queue's size as shown: exact up to QUEUE_COUNT_CAP, then "1000+"."""
    filters = log_repo.LogFilter(chat_ids=person.chat_ids, verdicts=QUEUE_VERDICTS, unreviewed=True)
    counted = await log_repo.count(db, filters, cap=QUEUE_COUNT_CAP + 1)
    return f"{QUEUE_COUNT_CAP}+" if counted > QUEUE_COUNT_CAP else str(counted)


@router.get("/review")
async def review_queue(
    request: Request,
    person: Person,
    before: Annotated[str | None, Query(max_length=200)] = None,
    sandbox: bool = False,
) -> Response:
    """The rows awaiting review; `sandbox`: the sandbox's instead (`app.console.sandbox`)."""
    runtime = request.app.state.runtime
    filters = log_repo.LogFilter(
        chat_ids=person.chat_ids, verdicts=QUEUE_VERDICTS, unreviewed=True, sandbox=sandbox
    )
    async with runtime.sessions() as db:
        rows = await log_repo.page(db, filters, limit=PAGE_SIZE + 1, before=_before(before))
        views = await _views(db, rows[:PAGE_SIZE], runtime.context.texts)
        earlier = await log_repo.earlier_of_each(db, rows[:PAGE_SIZE], limit=HISTORY)
        for view in views:
            view.history = earlier.get(view.row.id, [])
        total = await _queue_size(db, person)
    more = _next_log_cursor(rows)
    return _show(
        request,
        person,
        "review.html",
        page="review",
        sandbox=sandbox,
        views=views,
        total=total,
        more=more,
        can_change=person.can_change,
    )


@dataclass
class Reviewed:
    log_id: int
    outcome: corrections.ReviewOutcome | None
    problem: str = ""


async def _review_one(request: Request, person: Access, log_id: int, verdict: str) -> Reviewed:
    runtime = request.app.state.runtime
    now = runtime.now()
    async with runtime.sessions() as db, db.begin():
        row = await log_repo.get(db, log_id)
        if row is None or not person.sees(row.chat_id):
            return Reviewed(log_id, None, "error.not_found")
        try:
            outcome = await corrections.review(
                db,
                log_id,
                verdict="overturn" if verdict == "overturn" else "confirm",
                by=person.user,
                actor=audit.chat_actor(person.user),
                channel=audit.Channel.CONSOLE,
                note="",
                now=now,
                default_policy=runtime.context.policy,
            )
        except corrections.AlreadyReviewed:
            return Reviewed(log_id, None, "review.already")
    return Reviewed(log_id, outcome)


@router.post("/review")
async def review_submit(
    request: Request,
    person: Person,
    log_id: Annotated[list[int] | None, Form()] = None,
    verdict: Annotated[str, Form(pattern="^(confirm|overturn)$")] = "confirm",
    pick: Annotated[str | None, Form(max_length=40)] = None,
) -> Response:
    """Confirm or overturn the ticked rows (`log_id`, `verdict`), or the one row of a row's
    own button (`pick` = `overturn:<id>` or `confirm:<id>`)."""
    session = person.session
    await check_csrf(request, session)
    person.require_change()
    chosen: list[int] = list(log_id or ())
    if pick:
        verdict, _, picked = pick.partition(":")
        if verdict not in ("confirm", "overturn") or not picked.isdigit():
            raise NotFound(pick)
        chosen = [int(picked)]
    results = [await _review_one(request, person, one, verdict) for one in chosen[:PAGE_SIZE]]
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        reviewed = await log_repo.by_ids(
            db, [result.log_id for result in results if result.outcome is not None]
        )
        names = await _names(db, reviewed.values())
    views = {log_id: _view(row, names, runtime.context.texts) for log_id, row in reviewed.items()}
    return render(
        request,
        "reviewed.html",
        session=session,
        role=person.role,
        page="review",
        results=results,
        views=views,
        verdict=verdict,
    )


@router.post("/logs/{log_id:int}/allow")
async def allow_phrase(
    request: Request,
    person: Person,
    log_id: int,
    suggestion: Annotated[int, Form(ge=0, le=1000)],
    scope: Annotated[str, Form(pattern="^(group|global)$")] = "group",
) -> Response:
    await check_csrf(request, person.session)
    person.require_change()
    runtime = request.app.state.runtime
    now = runtime.now()
    async with runtime.sessions() as db, db.begin():
        row = await log_repo.get(db, log_id)
        if row is None or not person.sees(row.chat_id):
            raise NotFound(str(log_id))
        if scope == "global" and person.role is not ConsoleRole.ADMIN:
            scope = "group"  # every group is an admin's to change
        try:
            result = await corrections.allow_from_log(
                db,
                row,
                suggestion=suggestion,
                phrase=None,
                scope="global" if scope == "global" else "group",
                added_by=person.user,
                source="console",
                now=now,
                actor=audit.chat_actor(person.user),
                channel=audit.Channel.CONSOLE,
            )
            problem = ""
        except (corrections.CorrectionError, lexicon.InvalidEntry) as exc:
            result, problem = None, str(exc)
    if result is not None and result.changes[0].outcome is lexicon.Outcome.ADDED:
        runtime.lexicon_changed()
    return _show(
        request,
        person,
        "allowed.html",
        page="review",
        log_id=log_id,
        result=result,
        problem=problem,
    )


# -- moderation log ----------------------------------------------------------------------


def _day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise NotFound(name) from None


@dataclass(frozen=True)
class LogQuery:
    """The log page's filters, as the form sends them (dates are whole UTC days)."""

    chat_id: str = ""
    user_id: str = ""
    verdict: str = ""
    since: str = ""
    until: str = ""
    rule: str = ""  # a finding's rule: word.gambling, flood.rate … (`reports.finding_rule`)

    def filters(self, person: Access) -> log_repo.LogFilter:
        if self.chat_id:
            person.require_sees(self.chat_id)
        until_day = _day(self.until, "until")
        return log_repo.LogFilter(
            chat_id=self.chat_id or None,
            chat_ids=person.chat_ids,
            user_id=self.user_id.strip() or None,
            verdicts=(self.verdict,) if self.verdict in VERDICTS else None,
            since=_day(self.since, "since"),
            until=until_day + timedelta(days=1) if until_day is not None else None,
            rule=self.rule.strip() or None,
        )


def rule_choices(texts: Texts) -> list[tuple[str, str]]:
    """(rule, its name) of the rules the texts name: every word category as `word.<category>`
    and every signal's rule, for the log's rule filter (a word list's own label not named in
    the texts can still be typed)."""
    choices = []
    for key, name in texts.templates.items():
        if key.startswith("category."):
            choices.append((f"word.{key.removeprefix('category.')}", name))
        elif key.startswith("rule."):
            choices.append((key.removeprefix("rule."), name))
    return choices


def _log_query(
    chat_id: Annotated[str, Query(max_length=128)] = "",
    user_id: Annotated[str, Query(max_length=128)] = "",
    verdict: Annotated[str, Query(max_length=16)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
    rule: Annotated[str, Query(max_length=64)] = "",
) -> LogQuery:
    return LogQuery(chat_id, user_id, verdict, since, until, rule)


Filters = Annotated[LogQuery, Depends(_log_query)]


@router.get("/logs/export.csv")
async def logs_csv(request: Request, person: Person, query: Filters) -> StreamingResponse:
    """The rows the filters select, oldest first, as the REST API's CSV export."""
    response = StreamingResponse(
        csv_lines(request.app.state.runtime, query.filters(person)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="moderation-log.csv"'},
    )
    return response


@router.get("/logs")
async def logs(
    request: Request,
    person: Person,
    query: Filters,
    before: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    filters = query.filters(person)
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        rows = await log_repo.page(db, filters, limit=PAGE_SIZE + 1, before=_before(before))
        views = await _views(db, rows[:PAGE_SIZE], runtime.context.texts)
        choices = await _group_choices(db, person)
    more = _next_log_cursor(rows)
    return _show(
        request,
        person,
        "logs.html",
        page="logs",
        views=views,
        more=more,
        query=vars(query),
        verdicts=VERDICTS,
        rules=rule_choices(runtime.context.texts),
        groups=choices,
    )


@router.get("/logs/{log_id:int}")
async def log_detail(request: Request, person: Person, log_id: int) -> Response:
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        row = await log_repo.get(db, log_id)
        if row is None or not person.sees(row.chat_id):
            raise NotFound(str(log_id))
        actions = (await log_repo.actions_for(db, [log_id])).get(log_id, [])
        (view,) = await _views(db, [row], runtime.context.texts)
    proposals = corrections.suggestions(row) if row.review == "overturned" else []
    return _show(
        request,
        person,
        "log.html",
        page="logs",
        view=view,
        actions=actions,
        proposals=proposals,
        can_change=person.can_change,
        global_scope=person.role is ConsoleRole.ADMIN and "global" in corrections.scopes_of(row),
        group_scope="group" in corrections.scopes_of(row),
    )


# -- lexicon test box --------------------------------------------------------------------


@router.get("/lexicon")
async def lexicon_page(
    request: Request,
    person: Person,
    q: Annotated[str, Query(max_length=200)] = "",
    words_after: Annotated[str | None, Query(max_length=64)] = None,
    allow_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The test box, and the words and allow list (newest first, searched by `q` in the word
    as written or folded), through the lexicon service the REST API lists with."""
    async with request.app.state.runtime.sessions() as db:
        try:
            words = await lexicon.list_words(db, q=q or None, limit=PAGE_SIZE, cursor=words_after)
            allowed = await lexicon.list_allow(db, q=q or None, limit=PAGE_SIZE, cursor=allow_after)
        except lexicon.InvalidEntry:
            raise NotFound("cursor") from None
    return await _lexicon_page(
        request, person, text="", chat_id="", check=None, q=q, words=words, allowed=allowed
    )


@router.post("/lexicon/test")
async def lexicon_test(
    request: Request,
    person: Person,
    text: Annotated[str, Form(max_length=MAX_TEST_TEXT)] = "",
    chat_id: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """What the lexicon in service finds in `text` as if sent in `chat_id` (the REST API's
    and `/words test`'s check). A POST, so the text stays out of URLs and access logs."""
    await check_csrf(request, person.session)
    if chat_id:
        person.require_sees(chat_id)
    served = request.app.state.runtime.lexicon.served  # one matcher and its version
    check = lexicon.check_text(served.matcher, text, chat_id) if text.strip() else None
    return await _lexicon_page(
        request, person, text=text, chat_id=chat_id, check=check, version=served.version
    )


async def _lexicon_page(
    request: Request,
    person: Access,
    *,
    text: str,
    chat_id: str,
    check: lexicon.TextCheck | None,
    version: int | None = None,
    q: str = "",
    words: lexicon.Page | None = None,
    allowed: lexicon.Page | None = None,
    problem: str = "",
    imported: Imported | None = None,
    status_code: int = 200,
) -> Response:
    texts = request.app.state.runtime.context.texts
    checked = check.as_dict() if check is not None else None
    if checked is not None:
        checked["findings"] = [described(finding, texts) for finding in checked["findings"]]
    findings = checked["findings"] if checked is not None else []
    async with request.app.state.runtime.sessions() as db:
        choices = await _group_choices(db, person)
    return _show(
        request,
        person,
        "lexicon.html",
        page="lexicon",
        text=text,
        chat_id=chat_id,
        check=checked,
        pieces=highlighted(text, findings),
        q=q,
        words=words,
        allowed=allowed,
        problem=problem,
        lexicon_admin=person.role is ConsoleRole.ADMIN,
        imported=imported,
        status_code=status_code,
        version=version,
        groups=choices,
    )


# -- groups ------------------------------------------------------------------------------


def _can(item: group_views.GroupOut) -> list[str]:
    """The text keys of what the bot can do in a group, from its capabilities."""
    can = item.capabilities
    keys = ["can.warn"] if can.webhook or can.app_created else []
    keys += ["can.remove"] if can.app_created else []
    keys += ["can.reply"] if can.smart_bot else []
    keys += ["can.customer"] if can.customer else []
    return keys


@dataclass(frozen=True, slots=True)
class GroupChoice:
    """A group as a list of choices names it."""

    chat_id: str
    name: str


async def _group_choices(db: Any, person: Access) -> list[GroupChoice]:
    """The groups `person` may see, by name (their chat id when they have none): two columns
    of their groups, not the rows."""
    names = await groups_repo.names(db, person.chat_ids)
    choices = [GroupChoice(chat_id, name) for chat_id, name in names.items()]
    return sorted(choices, key=lambda group: (group.name or group.chat_id, group.chat_id))


@router.get("/groups")
async def groups_page(
    request: Request,
    person: Person,
    start: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """The groups one may see, by name, GROUPS_PAGE at a time (the figures of each page's
    groups are a few queries over those groups only)."""
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        choices = await _group_choices(db, person)
        shown = [choice.chat_id for choice in choices[start : start + GROUPS_PAGE]]
        found = {group.chat_id: group for group in await groups_repo.many(db, shown)}
        groups = [found[chat_id] for chat_id in shown if chat_id in found]
        items = await group_views.groups_out(runtime, db, groups)
    more = start + GROUPS_PAGE if len(choices) > start + GROUPS_PAGE else None
    return _show(
        request,
        person,
        "groups.html",
        page="groups",
        items=[(item, _can(item)) for item in items],
        more=more,
    )


async def _group_page(
    request: Request,
    person: Access,
    chat_id: str,
    *,
    problem: str = "",
    detail: str = "",
    saved: bool = False,
    policy_text: str | None = None,
) -> Response:
    """The group's page; `problem` (a text key) and its `detail` (the check's own words, as
    the REST API gives them) answer a refused change with 422; `policy_text` keeps the
    overrides as the person typed them."""
    person.require_sees(chat_id)
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        group = await groups_repo.get(db, chat_id)
        if group is None:
            raise NotFound(chat_id)
        (item,) = await group_views.groups_out(runtime, db, [group])
    texts = runtime.context.texts
    default = runtime.context.policy.as_dict()
    effective = effective_policy(group, runtime.context.policy).as_dict()
    overrides = dict(group.policy or {})
    if policy_text is None:
        policy_text = json.dumps(overrides, ensure_ascii=False, indent=2, sort_keys=True)
    return _show(
        request,
        person,
        "group.html",
        preview=welcome_preview(texts, group.welcome_template, rules_of(group, texts)),
        page="groups",
        item=item,
        modes=[mode.value for mode in GroupMode],
        can_change=person.can_change,
        group_admin=person.role is ConsoleRole.ADMIN,
        policy_rows=[(name, default[name], effective[name], name in overrides) for name in default],
        policy_text=policy_text,
        problem=problem,
        detail=detail,
        saved=saved,
        max_rules=group_actions.MAX_RULES_CHARS,
        status_code=422 if problem else 200,
    )


WELCOME_PREVIEW_MEMBERS = "@新成员"  # who the preview welcomes


def welcome_preview(texts: Any, template: str, rules: str) -> str:
    """The welcome as members will see it, for a member called WELCOME_PREVIEW_MEMBERS."""
    return render_welcome(texts, template, members=WELCOME_PREVIEW_MEMBERS, rules=rules)


@router.post("/groups/{chat_id}/preview")
async def welcome_preview_fragment(
    request: Request,
    person: Person,
    chat_id: str,
    rules_text: Annotated[str, Form(max_length=100_000)] = "",
    welcome_template: Annotated[str, Form(max_length=100_000)] = "",
) -> Response:
    """The preview for the form's current rules and template (htmx, as one types); a POST
    because the form's text may be long, with the CSRF token like any POST."""
    await check_csrf(request, person.session)
    person.require_sees(chat_id)
    texts = request.app.state.runtime.context.texts
    template = welcome_template.replace("\r\n", "\n")
    problem = group_views.welcome_template_problem(template)
    rules = rules_text.replace("\r\n", "\n").strip() or texts["rules.none"]
    return _show(
        request,
        person,
        "_welcome_preview.html",
        preview="" if problem else welcome_preview(texts, template, rules),
        preview_problem=problem or "",
    )


@router.get("/groups/{chat_id}")
async def group_page(request: Request, person: Person, chat_id: str) -> Response:
    return await _group_page(request, person, chat_id)


@router.post("/groups/{chat_id}")
async def group_save(
    request: Request,
    person: Person,
    chat_id: str,
    rules_text: Annotated[str, Form(max_length=100_000)] = "",
    mode: Annotated[str, Form(max_length=16)] = "",
    welcome_template: Annotated[str, Form(max_length=100_000)] = "",
) -> Response:
    """A group's rules, welcome template and mode, checked as the REST API checks them,
    changed through the same function and audited under the person's userid."""
    await check_csrf(request, person.session)
    person.require_sees(chat_id)
    person.require_change()
    runtime = request.app.state.runtime
    if len(rules_text) > group_actions.MAX_RULES_CHARS:
        return await _group_page(request, person, chat_id, problem="group.rules_too_long")
    if mode not in {item.value for item in GroupMode}:
        return await _group_page(request, person, chat_id, problem="group.mode_bad")
    welcome_template = welcome_template.replace("\r\n", "\n")
    if group_views.welcome_template_problem(welcome_template):
        return await _group_page(request, person, chat_id, problem="group.welcome_bad")
    now = runtime.now()
    async with runtime.sessions() as db, db.begin():
        group = await groups_repo.get(db, chat_id)
        if group is None:
            raise NotFound(chat_id)
        policy = dict(group.policy or {})
        if effective_policy(group, runtime.context.policy).mode.value != mode:
            policy["mode"] = mode
            detail = group_checks.policy_problem(policy, runtime.context.policy)
            if detail:  # as the REST API checks
                return await _group_page(
                    request, person, chat_id, problem="group.policy_bad", detail=detail
                )
        await group_actions.update_settings(
            db,
            group,
            {
                "rules_text": rules_text.replace("\r\n", "\n"),
                "welcome_template": welcome_template,
                "policy": policy,
            },
            actor=_actor(person),
            now=now,
        )
    return await _group_page(request, person, chat_id, saved=True)


def _group_admin(person: Access) -> None:
    """A group's moderators, policy overrides and webhook key are the admins' (the REST API's
    PATCH, which only the admin token may call; no chat command changes them): a group's own
    moderators change its rules, welcome and mode, not who moderates it or how it is judged."""
    if person.role is not ConsoleRole.ADMIN:
        raise Forbidden("group settings")


async def _group_settings(
    request: Request, person: Access, chat_id: str, values: dict[str, Any]
) -> Response:
    """Store checked `values` through the REST API's function, audited under the person."""
    runtime = request.app.state.runtime
    async with runtime.sessions() as db, db.begin():
        group = await groups_repo.get(db, chat_id)
        if group is None:
            raise NotFound(chat_id)
        await group_actions.update_settings(
            db, group, values, actor=_actor(person), now=runtime.now()
        )
    return await _group_page(request, person, chat_id, saved=True)


_USERID_SEPARATORS = re.compile(r"[\s,，、;；]+")


@router.post("/groups/{chat_id}/moderators")
async def group_moderators(
    request: Request,
    person: Person,
    chat_id: str,
    moderators: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """The group's own moderators, userids separated by line breaks, spaces or commas (none:
    only the owner and the admins), checked as the REST API checks them."""
    await check_csrf(request, person.session)
    person.require_sees(chat_id)
    _group_admin(person)
    given = [value for value in _USERID_SEPARATORS.split(moderators) if value]
    try:
        checked = group_checks.moderators(given)
    except ValueError as exc:
        return await _group_page(
            request, person, chat_id, problem="group.moderators_bad", detail=str(exc)
        )
    return await _group_settings(request, person, chat_id, {"moderators": checked})


@router.post("/groups/{chat_id}/policy")
async def group_policy(
    request: Request,
    person: Person,
    chat_id: str,
    policy: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """The group's policy overrides as a JSON object (the REST API's `policy`; `{}` or nothing:
    none), checked as the REST API checks them; on a refusal the text stays as typed."""
    await check_csrf(request, person.session)
    person.require_sees(chat_id)
    _group_admin(person)
    text = policy.strip() or "{}"
    try:
        overrides = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past Python's limit
        return await _group_page(
            request,
            person,
            chat_id,
            problem="group.policy_bad",
            detail=f"policy: not JSON ({exc})",
            policy_text=policy,
        )
    detail = group_checks.policy_problem(overrides, request.app.state.runtime.context.policy)
    if detail:
        return await _group_page(
            request, person, chat_id, problem="group.policy_bad", detail=detail, policy_text=policy
        )
    return await _group_settings(request, person, chat_id, {"policy": overrides})


@router.post("/groups/{chat_id}/webhook")
async def group_webhook(
    request: Request,
    person: Person,
    chat_id: str,
    webhook_key: Annotated[str, Form(max_length=2000)] = "",
    clear: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Set the group's webhook robot key (the key or its webhook URL), sealed as the REST API
    seals it, or clear it (`clear`). The key is never shown again, only whether one is set."""
    await check_csrf(request, person.session)
    person.require_sees(chat_id)
    _group_admin(person)
    if clear:
        return await _group_settings(request, person, chat_id, {"webhook_key": None})
    try:
        key = group_checks.webhook_key(webhook_key)
    except ValueError as exc:
        return await _group_page(
            request, person, chat_id, problem="group.webhook_bad", detail=str(exc)
        )
    box = request.app.state.runtime.secret_box
    if box is None:
        return await _group_page(request, person, chat_id, problem="group.webhook_no_secret")
    return await _group_settings(request, person, chat_id, {"webhook_key": box.encrypt(key)})


# -- outbox and audit (company-wide) -----------------------------------------------------


def _company_wide(person: Access) -> None:
    if person.chat_ids is not None:
        raise NotFound("company-wide")


def _id_before(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise NotFound("before")
    return int(value)


@router.get("/outbox")
async def outbox_page(
    request: Request,
    person: Person,
    status: Annotated[str, Query(max_length=16)] = "",
    before: Annotated[str | None, Query(max_length=20)] = None,
    done: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    _company_wide(person)
    runtime = request.app.state.runtime
    shown = status if status in outbox_service.STATUSES else ""
    async with runtime.sessions() as db:
        rows = await outbox_repo.page(
            db, limit=PAGE_SIZE + 1, before_id=_id_before(before), status=shown or None
        )
    more = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return _show(
        request,
        person,
        "outbox.html",
        page="outbox",
        rows=rows[:PAGE_SIZE],
        more=more,
        status=shown,
        statuses=outbox_service.STATUSES,
        can_change=person.can_change,
        done=done,
    )


@router.post("/outbox/{action_id:int}/retry")
async def outbox_retry(request: Request, person: Person, action_id: int) -> Response:
    """Send a dead action again, through the REST API's retry (audited under the person)."""
    await check_csrf(request, person.session)
    _company_wide(person)
    person.require_change()
    runtime = request.app.state.runtime
    async with runtime.sessions() as db, db.begin():
        try:
            row = await outbox_service.retry_dead(
                db,
                action_id,
                actor=audit.chat_actor(person.user),
                channel=audit.Channel.CONSOLE,
                now=runtime.now(),
            )
        except outbox_service.NotDead:
            row = None
    if row is None:
        raise NotFound(str(action_id))
    runtime.workers.notify_outbox()
    return secure_headers(RedirectResponse(f"/console/outbox?done={action_id}", status_code=303))


@router.get("/audit")
async def audit_page(
    request: Request,
    person: Person,
    action: Annotated[str, Query(max_length=64)] = "",
    before: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    _company_wide(person)
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        rows = await audit_repo.page(
            db, limit=PAGE_SIZE + 1, before_id=_id_before(before), action=action.strip() or None
        )
    more = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return _show(
        request,
        person,
        "audit.html",
        page="audit",
        rows=rows[:PAGE_SIZE],
        more=more,
        action=action,
    )


# -- a member in a group -----------------------------------------------------------------


def _warn_cannot(group: Group) -> str:
    """The text key of why a moderator's warning cannot be posted in the group, or ""."""
    if GroupCapabilities.of(group).post().channel is not None:
        return ""
    return f"member.warn_cannot.{GroupKind(group.kind).value}"


def _remove_cannot(group: Group) -> str:
    """The text key of why WeCom lets nobody but a person remove a member there, or ""."""
    if GroupCapabilities.of(group).removal().channel is not None:
        return ""
    return f"member.remove_cannot.{GroupKind(group.kind).value}"


def _protected(request: Request, group: Group, user_id: str) -> bool:
    """The group's owner, its moderators and the admins are not warned or removed (the chat
    commands refuse them too)."""
    admins = tuple(request.app.state.runtime.settings.admin_userids)
    return role_of(user_id, group, admins) >= Role.MODERATOR


async def _member_page(
    request: Request,
    person: Access,
    chat_id: str,
    user_id: str,
    *,
    pardoned: int | None = None,
    done: str = "",
    done_count: int | None = None,
    problem: str = "",
) -> Response:
    person.require_sees(chat_id)
    runtime = request.app.state.runtime
    now = runtime.now()
    async with runtime.sessions() as db:
        group = await groups_repo.get(db, chat_id)
        member = await groups_repo.get_member(db, chat_id, user_id)
        strikes = await strikes_repo.every(db, chat_id, user_id)
        history = await log_repo.page(
            db, log_repo.LogFilter(chat_id=chat_id, user_id=user_id), limit=PAGE_SIZE
        )
        if group is None or (member is None and not strikes and not history):
            raise NotFound(f"{chat_id}/{user_id}")
        policy = effective_policy(group, runtime.context.policy)
        standing = await strikes_repo.standing_count(
            db,
            chat_id,
            user_id,
            since=now - timedelta(days=policy.strike_window_days),
            shadow=False,
        )
        views = await _views(db, history, runtime.context.texts)
        # The member's record across groups, as the moderators' alert names it (issue 24).
        elsewhere = await record_elsewhere(db, chat_id, user_id, policy=policy, now=now)
    return _show(
        request,
        person,
        "member.html",
        elsewhere=[(item, person.sees(item.chat_id)) for item in elsewhere],
        page="groups",
        group=group,
        member=member,
        user_id=user_id,
        strikes=strikes,
        standing=standing,
        window_days=policy.strike_window_days,
        history=views,
        can_change=person.can_change,
        pardoned=pardoned,
        warn_cannot=_warn_cannot(group),
        remove_cannot=_remove_cannot(group),
        protected=_protected(request, group, user_id),
        max_reason=group_actions.MAX_REASON_CHARS,
        done=done,
        done_count=done_count,
        problem=problem,
        status_code=422 if problem else 200,
    )


@router.get("/groups/{chat_id}/members/{user_id}")
async def member_page(request: Request, person: Person, chat_id: str, user_id: str) -> Response:
    return await _member_page(request, person, chat_id, user_id)


@router.post("/groups/{chat_id}/members/{user_id}/pardon")
async def member_pardon(request: Request, person: Person, chat_id: str, user_id: str) -> Response:
    """Clear the member's strikes in the group, through the REST API's pardon."""
    await check_csrf(request, person.session)
    person.require_sees(chat_id)
    person.require_change()
    runtime = request.app.state.runtime
    async with runtime.sessions() as db, db.begin():
        count = await group_actions.pardon(
            db, chat_id, user_id, actor=_actor(person), pardoned_by=person.user, now=runtime.now()
        )
    return await _member_page(request, person, chat_id, user_id, pardoned=count)


async def _member_to_act_on(
    request: Request,
    person: Access,
    chat_id: str,
    user_id: str,
    reason: str,
    cannot: Callable[[Group], str],
) -> str:
    """Why a warning or removal of the member is refused before anything changes (a text
    key), or "": the person may change the group, the member is known there, not protected,
    the reason is not too long and the group allows the action (`cannot`). 404 for a group
    or member they cannot see."""
    person.require_sees(chat_id)
    person.require_change()
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        group = await groups_repo.get(db, chat_id)
        member = await groups_repo.get_member(db, chat_id, user_id)
        known = member is not None or bool(
            await log_repo.page(db, log_repo.LogFilter(chat_id=chat_id, user_id=user_id), limit=1)
        )
    if group is None or not known:
        raise NotFound(f"{chat_id}/{user_id}")
    if _protected(request, group, user_id):
        return "member.protected"
    if len(reason.strip()) > group_actions.MAX_REASON_CHARS:
        return "member.reason_too_long"
    return cannot(group)


@router.post("/groups/{chat_id}/members/{user_id}/warn")
async def member_warn(
    request: Request,
    person: Person,
    chat_id: str,
    user_id: str,
    reason: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Warn the member as `/warn` does (`app.groups.actions.warn`: a log row, a strike, the
    audit entry under the person), the warning posted through the group's channel. Refused,
    changing nothing, where the group has no channel to post it in."""
    await check_csrf(request, person.session)
    problem = await _member_to_act_on(request, person, chat_id, user_id, reason, _warn_cannot)
    if problem:
        return await _member_page(request, person, chat_id, user_id, problem=problem)
    runtime = request.app.state.runtime
    texts = runtime.context.texts
    reason = reason.strip() or texts["command.warn_default_reason"]
    now = runtime.now()
    async with runtime.sessions() as db, db.begin():
        group = await groups_repo.get(db, chat_id)
        if group is None:
            raise NotFound(chat_id)
        warned = await group_actions.warn(
            db,
            group,
            user_id,
            reason,
            by=person.user,
            actor=_actor(person),
            policy=effective_policy(group, runtime.context.policy),
            now=now,
        )
        member = await groups_repo.get_member(db, chat_id, user_id)
        warning = texts.render(
            "command.warning",
            member=member.name if member is not None and member.name else user_id,
            reason=reason,
            count=warned.strikes,
        )
        group_actions.queue_warning(db, group, warned.entry, warning, now=now)
        # this replica may answer HTTP only: the worker replicas' dispatchers wake on commit
        await notifications.notify(db, notifications.OUTBOX_CHANNEL)
    runtime.workers.notify_outbox()
    return await _member_page(
        request, person, chat_id, user_id, done="member.warned", done_count=warned.strikes
    )


@router.post("/groups/{chat_id}/members/{user_id}/remove")
async def member_remove(
    request: Request,
    person: Person,
    chat_id: str,
    user_id: str,
    reason: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Remove the member as `/kick` does (`app.groups.actions.kick`: queued in the outbox and
    audited under the person) where WeCom allows it: in a group this app created. Elsewhere
    nothing changes and the page says what a person must do instead."""
    await check_csrf(request, person.session)
    problem = await _member_to_act_on(request, person, chat_id, user_id, reason, _remove_cannot)
    if problem:
        return await _member_page(request, person, chat_id, user_id, problem=problem)
    runtime = request.app.state.runtime
    async with runtime.sessions() as db, db.begin():
        group = await groups_repo.get(db, chat_id)
        if group is None:
            raise NotFound(chat_id)
        route = await group_actions.kick(
            db,
            group,
            user_id,
            reason.strip(),
            actor=_actor(person),
            idempotency_key=f"console:{uuid4().hex}:kick",
            now=runtime.now(),
        )
        if route.channel is not None:  # queued: the worker replicas' dispatchers wake on commit
            await notifications.notify(db, notifications.OUTBOX_CHANNEL)
    if route.channel is None:  # the group changed since the check: nothing was queued
        return await _member_page(request, person, chat_id, user_id, problem=_remove_cannot(group))
    runtime.workers.notify_outbox()
    return await _member_page(request, person, chat_id, user_id, done="member.removed")


# -- changing the lexicon (admins) -------------------------------------------------------


def _lexicon_admin(person: Access) -> None:
    """The word lists are company-wide: admins change them (the chat's `/words` from the
    1:1 chat is theirs alone too); everyone else may look and test."""
    if person.role is not ConsoleRole.ADMIN:
        raise Forbidden("lexicon")


async def _lexicon_add(request: Request, person: Access, kind: str, entry: Any) -> Response:
    runtime = request.app.state.runtime
    now = runtime.now()
    add = lexicon.add_words if kind == "words" else lexicon.add_allow
    async with runtime.sessions() as db, db.begin():
        result = await add(db, [entry], added_by=person.user, source="console", now=now)
        await lexicon_changes.audit_added(
            db,
            f"lexicon.{kind}.add",
            result,
            actor=audit.chat_actor(person.user),
            channel=audit.Channel.CONSOLE,
            now=now,
        )
    if result.counts.changed:
        runtime.lexicon_changed()
    shown = entry.word if kind == "words" else entry.phrase
    return secure_headers(
        RedirectResponse(f"/console/lexicon?{urlencode({'q': shown})}", status_code=303)
    )


@router.post("/lexicon/words")
async def lexicon_add_word(
    request: Request,
    person: Person,
    word: Annotated[str, Form(max_length=256)],
    category: Annotated[str, Form(max_length=32)] = "",
    severity: Annotated[str, Form(max_length=16)] = "",
    scope: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    await check_csrf(request, person.session)
    _lexicon_admin(person)
    try:
        entry = lexicon.word_entry(word, category or None, severity or None, None, scope)
    except lexicon.InvalidEntry as exc:
        return await _lexicon_page(
            request, person, text="", chat_id="", check=None, problem=str(exc)
        )
    return await _lexicon_add(request, person, "words", entry)


@router.post("/lexicon/allow")
async def lexicon_add_allow(
    request: Request,
    person: Person,
    phrase: Annotated[str, Form(max_length=256)],
    scope: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    await check_csrf(request, person.session)
    _lexicon_admin(person)
    try:
        entry = lexicon.allow_entry(phrase, scope)
    except lexicon.InvalidEntry as exc:
        return await _lexicon_page(
            request, person, text="", chat_id="", check=None, problem=str(exc)
        )
    return await _lexicon_add(request, person, "allow", entry)


@router.post("/lexicon/{kind}/{entry_id:int}/delete")
async def lexicon_delete(request: Request, person: Person, kind: str, entry_id: int) -> Response:
    await check_csrf(request, person.session)
    _lexicon_admin(person)
    if kind not in ("words", "allow"):
        raise NotFound(kind)
    runtime = request.app.state.runtime
    try:
        async with runtime.sessions() as db, db.begin():
            await lexicon_changes.delete_entry(
                db,
                kind,
                entry_id,
                actor=audit.chat_actor(person.user),
                channel=audit.Channel.CONSOLE,
                now=runtime.now(),
            )
    except lexicon.EntryNotFound:
        raise NotFound(str(entry_id)) from None
    runtime.lexicon_changed()
    return secure_headers(RedirectResponse("/console/lexicon", status_code=303))


MAX_IMPORT_BYTES = 5_000_000  # of a word file uploaded to import
REFUSED_SHOWN = 50  # refused lines of a file listed on the page (all are counted)


@dataclass(frozen=True)
class Imported:
    """What a file import did, for the page: its name and counts, or why nothing was."""

    name: str
    result: lexicon.ImportResult | None = None
    refused: list[str] = field(default_factory=list)  # "<file>:<line>: why", REFUSED_SHOWN
    refused_count: int = 0
    problem: str = ""  # a text key: the whole file was refused
    detail: str = ""


async def _import_file(request: Request, person: Access, kind: str, upload: UploadFile) -> Imported:
    """Read, check and import an uploaded word or allow-list file (docs/lexicon.md), through
    the lexicon service's import and checks as `wecom-mod words import` does: a file with any
    refused line, unreadable, too big or empty imports nothing."""
    name = Path(upload.filename or "").name[:128] or f"{kind}.txt"
    content = await upload.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        return Imported(name, problem="lexicon.import_too_big")
    try:
        text, _encoding = decode_list(content, Path(name), setting="file")
    except SettingsError as exc:
        return Imported(name, problem="lexicon.import_unreadable", detail=str(exc))
    list_kind = lexicon.ListKind(kind)
    checked = lexicon.check_list(list_kind, text, source=name)
    if checked.refused:
        return Imported(
            name,
            refused=checked.refused[:REFUSED_SHOWN],
            refused_count=len(checked.refused),
            problem="lexicon.import_refused",
        )
    if not checked.entries:
        return Imported(name, problem="lexicon.import_empty")
    runtime = request.app.state.runtime
    now = runtime.now()
    async with runtime.sessions() as db, db.begin():
        result = await lexicon_changes.import_audited(
            db,
            list_kind,
            checked.entries,
            name=name,
            content=content,
            actor=audit.chat_actor(person.user),
            channel=audit.Channel.CONSOLE,
            now=now,
        )
    if result.counts.changed:
        runtime.lexicon_changed()
    return Imported(name, result=result)


@router.post("/lexicon/import")
async def lexicon_import(
    request: Request,
    person: Person,
    kind: Annotated[str, Form(pattern="^(words|allow)$")] = "words",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import an uploaded word file or allow-list file (admins); the page says how many were
    added, updated and unchanged, or which lines were refused (then nothing is imported)."""
    await check_csrf(request, person.session)
    _lexicon_admin(person)
    if file is None:
        imported = Imported("", problem="lexicon.import_none")
    else:
        imported = await _import_file(request, person, kind, file)
    async with request.app.state.runtime.sessions() as db:
        words = await lexicon.list_words(db, q=None, limit=PAGE_SIZE, cursor=None)
        allowed = await lexicon.list_allow(db, q=None, limit=PAGE_SIZE, cursor=None)
    return await _lexicon_page(
        request,
        person,
        text="",
        chat_id="",
        check=None,
        words=words,
        allowed=allowed,
        imported=imported,
        status_code=422 if imported.problem else 200,
    )


@router.get("/lexicon/{kind}.txt")
async def lexicon_export(request: Request, person: Person, kind: str) -> Response:
    """The words or the allow list as a file, in the format the files at start take."""
    if kind not in ("words", "allow"):
        raise NotFound(kind)
    export = lexicon.export_words if kind == "words" else lexicon.export_allow
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        text = await export(db, now=runtime.now())
    return PlainTextResponse(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}.txt"'},
    )
