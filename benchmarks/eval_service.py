"""Replays the labelled conversations of `benchmarks/data/timelines.json` through the real
service, in-process, and reports what it decided for each message against what it should have.

Why: the matcher and the detectors have their own tests, but what a member of a group sees
(a warning naming them, moderators alerted, nothing) depends on everything around them:
newcomer status, exempt members, the group's kind and channels, strikes earlier in the same
conversation, flood windows over real seconds. This runner builds what a deployment sees and
reads what the service did, so that a labelled corpus measures the whole pipeline.

How each part of a timeline reaches the service:

- **One fresh service per timeline**, on a fresh database (a copy of a migrated SQLite file,
  or a truncated temporary PostgreSQL database), created like the tests create it
  (`tests.conftest.make_settings` / `start_service`, `tests.support.FakeWeCom`), with the
  evaluation lexicon `benchmarks/data/lexicon.txt`, the default policy, and the timeline's
  `moderator` members as WECOM_ADMIN_USERIDS (with `EVAL_ADMIN`, an admin in no group, so
  that a group without moderators still has someone to alert). Its clock is `START + t`: a
  timeline's seconds are the service's seconds (flood windows, newcomer days, strikes).
- **The group** exists before the first message, made through `app.repositories.groups`:
  `internal` → kind "internal" with the smart bot in it (what the service holds for an
  internal group once the archive's group lookup has named it; "unknown" behaves the same),
  `customer` → "customer", `app_created` → "app_created"; the `owner` member is the group's
  owner in every kind.
- **Members**: `regular`, `moderator` and `owner` members get a member row first seen
  `ESTABLISHED_DAYS` before the timeline with `ESTABLISHED_MESSAGES` earlier messages (well
  above the policy's newcomer threshold); `newcomer` members have no row until their first
  message. Moderators are exempt through the settings, the owner through the group's row.
- **Delivery**: a `mention: true` message in an `internal` group is a signed, encrypted
  smart-bot callback (`/wecom/aibot`) with the text as given (it starts with the @-mention).
  Every other message is a chat-archive record (doc 91774: msgid, action, from, tolist,
  roomid, msgtime = START + t in ms, msgtype and its payload) stored in the inbox exactly as
  the archive poller stores it (`app.ingest.archive.store_message`, after `archive_skip_reason`).
  In reality the archive sees the mentioned messages too; they are delivered through the
  callback only, and the report counts them (the dedupe of the two channels is its own issue).
- After all messages with the same `t` are delivered, `Service.settle()` runs the inbox and
  the outbox until idle. At the end the clock moves on until no action is pending.

What happened to a message is read from the moderation log through the REST API
(`GET /api/v1/moderation-logs?chat_id=…`, admin token), by message id: `verdict` warn or
remove → `act`, and an alert at the ladder's removal step too (a moderator is asked to remove
the member where WeCom lets no app do it); other alerts → `review`; exempt, log or no log row
→ `ok`. The log row's outbox actions say whether the warning was posted or could not be (a
group without a channel), and the alert's status. The fake WeCom's requests cross-check the
public warnings: every warning
posted (`aibot/response`, `appchat/send`, `webhook/send`) must name a sender whose log row has
a sent warning, and the other way round; a discrepancy is reported with the timeline.

    .venv/bin/python benchmarks/eval_service.py [--verbose] [--timelines FILE]
        [--database sqlite|postgresql|postgresql://server]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/eval_service.py` puts benchmarks/ first
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from app import migrate  # noqa: E402
from app.db import database_urls  # noqa: E402
from app.ingest.archive import dedupe_key, store_message  # noqa: E402
from app.judging.events import archive_skip_reason  # noqa: E402
from app.models import Base, InboxEvent, OutboxAction  # noqa: E402
from app.repositories import groups as groups_repo  # noqa: E402
from benchmarks._backends import DEFAULT_SERVER, temporary_database  # noqa: E402
from bot.archive import parse_archive_message  # noqa: E402
from moderation import GroupPolicy  # noqa: E402
from tests import support  # noqa: E402
from tests.conftest import Service, make_settings, start_service  # noqa: E402

__all__ = [
    "DEFAULT_TIMELINES",
    "LEXICON",
    "MessageOutcome",
    "Timeline",
    "TimelineMessage",
    "TimelineReport",
    "TimelineResult",
    "load_timelines",
    "main",
    "play_timelines",
    "run_timelines",
]

DATA = ROOT / "benchmarks" / "data"
DEFAULT_TIMELINES = DATA / "timelines.json"
LEXICON = DATA / "lexicon.txt"

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # t = 0 of every timeline
ESTABLISHED_DAYS = 90  # an established member was first seen this long before t = 0
ESTABLISHED_MESSAGES = 50  # ... with this many earlier messages
DRAIN_STEP_SECONDS = 30.0  # after the last message: the clock moves by this while actions wait
DRAIN_ROUNDS = 40  # ... at most this many times (20 minutes)
# An admin who is in none of the groups: a deployment always has one, so that a timeline
# without `moderator` members still has someone to alert (the moderators are added to it).
EVAL_ADMIN = "eval-admin"

KINDS = ("internal", "customer", "app_created")
ROLES = ("newcomer", "regular", "moderator", "owner")
OUTCOMES = ("ok", "review", "act")
MESSAGE_TYPES = ("text", "link", "weapp", "card", "image", "redpacket")
GROUP_KIND = {"internal": "internal", "customer": "customer", "app_created": "app_created"}


# The moderation log's verdict → what a member of the group experiences.
def _outcome(verdict: str, row: dict[str, Any] | None) -> str:
    """ok / review / act for a message's log row: an offence that reached the ladder's removal
    step where WeCom allows no removal is an alert asking a moderator to remove the member:
    the bot acted (the step says so), though only a human can carry it out."""
    if verdict == "alert" and row is not None and row.get("step") == "removal":
        return "act"
    return OUTCOME_OF_VERDICT.get(verdict, "ok")


OUTCOME_OF_VERDICT = {
    "remove": "act",
    "warn": "act",
    "alert": "review",
    "exempt": "ok",
    "log": "ok",
    "none": "ok",
    "failed": "ok",  # the inbox event could not be handled: nothing happened (reported apart)
    "pending": "ok",  # ... or was still waiting after settling
}
WARNING_KINDS = frozenset({"aibot_reply", "appchat_send", "webhook_send"})  # outbox kinds
WARNING_PATHS = frozenset(
    {"/cgi-bin/aibot/response", "/cgi-bin/appchat/send", "/cgi-bin/webhook/send"}
)
_MENTIONED = re.compile(r"@(\S+)")  # the warning texts start "⚠️ @$sender …"


# --- the corpus --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineMessage:
    """One labelled message: when (seconds from the timeline's start), who, what, expected."""

    t: float
    sender: str
    type: str
    text: str
    mention: bool
    expect: str


@dataclass(frozen=True)
class Timeline:
    """One labelled conversation in one group."""

    name: str
    kind: str
    note: str
    members: dict[str, str]  # user id → newcomer | regular | moderator | owner
    messages: tuple[TimelineMessage, ...]

    def with_role(self, role: str) -> list[str]:
        return [user for user, their_role in self.members.items() if their_role == role]


def load_timelines(path: Path) -> list[Timeline]:
    """The timelines of a JSON file, checked: a malformed one raises ValueError naming it (a
    silently skipped message would make the figures lie)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of timelines")
    timelines = []
    names: set[str] = set()
    for number, item in enumerate(raw):
        where = f"{path}: timeline {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: not an object")
        name = item.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise ValueError(f"{where}: name missing or not unique")
        names.add(name)
        where = f"{path}: timeline {name!r}"
        kind = item.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        members = item.get("members")
        if not isinstance(members, dict) or not all(
            isinstance(user, str) and user and role in ROLES for user, role in members.items()
        ):
            raise ValueError(f"{where}: members must map user ids to {', '.join(ROLES)}")
        if sum(role == "owner" for role in members.values()) > 1:
            raise ValueError(f"{where}: a group has one owner")
        messages = []
        last_t = 0.0
        for index, entry in enumerate(item.get("messages") or []):
            at = f"{where} message {index}"
            if not isinstance(entry, dict):
                raise ValueError(f"{at}: not an object")
            t = entry.get("t")
            if isinstance(t, bool) or not isinstance(t, int | float) or t < last_t:
                raise ValueError(f"{at}: t must be a number of seconds, in time order")
            last_t = float(t)
            sender = entry.get("from")
            if not isinstance(sender, str) or sender not in members:
                raise ValueError(f"{at}: from {sender!r} is not a member")
            msg_type = entry.get("type")
            if msg_type not in MESSAGE_TYPES:
                raise ValueError(f"{at}: type {msg_type!r} is not one of {MESSAGE_TYPES}")
            content = entry.get("text")
            if not isinstance(content, str):
                raise ValueError(f"{at}: text must be a string")
            expect = entry.get("expect")
            if expect not in OUTCOMES:
                raise ValueError(f"{at}: expect {expect!r} is not one of {', '.join(OUTCOMES)}")
            messages.append(
                TimelineMessage(
                    t=float(t),
                    sender=sender,
                    type=msg_type,
                    text=content,
                    mention=bool(entry.get("mention", False)),
                    expect=expect,
                )
            )
        timelines.append(
            Timeline(
                name=name,
                kind=kind,
                note=str(item.get("note", "")),
                members=dict(members),
                messages=tuple(messages),
            )
        )
    return timelines


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageOutcome:
    """What the service did with one message, next to what the label expects."""

    timeline: str
    index: int
    t: float
    sender: str
    role: str
    msg_type: str
    text: str
    channel: str  # aibot (smart-bot callback) | archive (chat-archive record)
    expected: str
    actual: str  # ok | review | act, from the verdict
    # the moderation log's verdict; "none": no log row (nothing found); "failed"/"pending":
    # the service did not judge it (its inbox event failed, or was still waiting)
    verdict: str
    reason: str
    explanations: tuple[str, ...]  # each finding's and signal's explanation
    mode: str = ""
    step: str | None = None  # the ladder step; None: no offence
    strikes: int = 0
    warning: str = ""  # the warning action: "" none decided, sent, pending, "skipped: why" …
    alert: str = ""  # the alert action, likewise (merged: sent inside a digest)
    removal: str = ""  # the removal action, likewise
    log_id: int | None = None

    @property
    def matches(self) -> bool:
        return self.actual == self.expected

    @property
    def label(self) -> str:
        return f"{self.timeline}#{self.index}"


@dataclass(frozen=True)
class TimelineResult:
    """One timeline's messages, and what the cross-check found wrong (if anything)."""

    name: str
    kind: str
    note: str
    chat_id: str
    messages: tuple[MessageOutcome, ...]
    issues: tuple[str, ...] = ()  # failed events, warnings posted that the log does not show

    @property
    def mismatches(self) -> list[MessageOutcome]:
        return [message for message in self.messages if not message.matches]

    @property
    def passed(self) -> bool:
        return not self.mismatches and not self.issues


@dataclass
class TimelineReport:
    """The evaluation: every message's outcome, the aggregates, and how to print them."""

    source: str
    database: str
    seconds: float
    timelines: list[TimelineResult] = field(default_factory=list)
    verbose: bool = False  # `render()` shows each mismatch's details

    @property
    def messages(self) -> list[MessageOutcome]:
        return [message for timeline in self.timelines for message in timeline.messages]

    @property
    def mismatches(self) -> list[MessageOutcome]:
        return [message for message in self.messages if not message.matches]

    @property
    def matrix(self) -> Counter[tuple[str, str]]:
        """(expected, actual) → messages."""
        return Counter((message.expected, message.actual) for message in self.messages)

    def _row(self, expected: str) -> dict[str, int]:
        matrix = self.matrix
        return {actual: matrix[expected, actual] for actual in OUTCOMES}

    @property
    def attacks(self) -> dict[str, int]:
        """Messages expected `act`: acted on (warned/removed), only reviewed (alert), missed."""
        row = self._row("act")
        return {"act": row["act"], "review": row["review"], "missed": row["ok"]}

    @property
    def reviews(self) -> dict[str, int]:
        """Messages expected `review`: alerted, warned (too much), missed."""
        row = self._row("review")
        return {"alerted": row["review"], "warned": row["act"], "missed": row["ok"]}

    @property
    def innocent(self) -> dict[str, int]:
        """Messages expected `ok`: publicly warned (the worst error), alerted, left alone."""
        row = self._row("ok")
        return {"warned": row["act"], "alerted": row["review"], "ok": row["ok"]}

    def posted(self, expected: str) -> int:
        """Messages expected `expected` whose public warning was actually posted (a warning
        decided where the group has no channel for one is `act` but seen by nobody)."""
        return sum(m.expected == expected and m.warning == "sent" for m in self.messages)

    @property
    def passed(self) -> list[TimelineResult]:
        return [timeline for timeline in self.timelines if timeline.passed]

    @property
    def callback_only(self) -> int:
        """@-mentions of the smart bot delivered through its callback only."""
        return sum(message.channel == "aibot" for message in self.messages)

    @property
    def not_judged(self) -> list[MessageOutcome]:
        """Messages the service did not judge (their inbox event failed or still waited)."""
        return [m for m in self.messages if m.verdict in ("failed", "pending")]

    @property
    def warnings_not_posted(self) -> list[MessageOutcome]:
        """Decided warnings the service could not post (the group has no channel for one)."""
        return [m for m in self.messages if m.warning.startswith("skipped")]

    def render(self, *, verbose: bool | None = None) -> list[str]:
        verbose = self.verbose if verbose is None else verbose
        messages = self.messages
        attacks, reviews, innocent = self.attacks, self.reviews, self.innocent
        lines = [
            f"wecom-mod evaluation: {len(self.timelines)} timelines, {len(messages)} messages "
            f"from {self.source}, on {self.database}, in {self.seconds:.1f} s",
            f"  attacks (expect act): {sum(attacks.values())}: {attacks['act']} acted on "
            f"({self.posted('act')} warning(s) posted), {attacks['review']} only alerted, "
            f"{attacks['missed']} missed",
            f"  review expected: {sum(reviews.values())}: {reviews['alerted']} alerted, "
            f"{reviews['warned']} warned publicly ({self.posted('review')} posted), "
            f"{reviews['missed']} missed",
            f"  innocent (expect ok): {sum(innocent.values())}: {innocent['warned']} warned "
            f"publicly, the worst error ({self.posted('ok')} posted), {innocent['alerted']} "
            f"alerted moderators, {innocent['ok']} left alone",
            "  expected → actual:   " + "  ".join(f"{actual:>6}" for actual in OUTCOMES),
        ]
        for expected in OUTCOMES:
            row = self._row(expected)
            lines.append(
                f"    {expected:<18}" + "  ".join(f"{row[actual]:>6}" for actual in OUTCOMES)
            )
        lines.append(f"  timelines: {len(self.passed)} of {len(self.timelines)} pass")
        not_posted = self.warnings_not_posted
        lines.append(
            f"  delivery: {self.callback_only} @-mention(s) of the smart bot through its "
            "callback only (the chat archive sees them too; not delivered twice here)"
        )
        not_judged = self.not_judged
        if not_judged:
            lines.append(
                f"  NOT JUDGED: {len(not_judged)} message(s) whose inbox event "
                f"{'/'.join(sorted({m.verdict for m in not_judged}))} (counted as ok above): "
                + ", ".join(m.label for m in not_judged)
            )
        if not_posted:
            why = Counter(message.warning for message in not_posted)
            lines.append(
                f"  warnings decided but not posted: {len(not_posted)} ("
                + "; ".join(f"{count}× {reason}" for reason, count in why.most_common())
                + ")"
            )
        lines.append("per timeline:")
        for timeline in self.timelines:
            status = "PASS" if timeline.passed else "FAIL"
            detail = f"{len(timeline.messages)} messages"
            if timeline.mismatches:
                detail += f", {len(timeline.mismatches)} differ"
            if timeline.issues:
                detail += f", {len(timeline.issues)} issue(s)"
            lines.append(f"  {status} {timeline.name} ({timeline.kind}; {detail})")
            lines.extend(f"       issue: {issue}" for issue in timeline.issues)
        mismatches = self.mismatches
        lines.append(f"mismatches: {len(mismatches)}")
        for message in mismatches:
            lines.append(
                f"  {message.label} t={message.t:g} {message.sender} ({message.role}, "
                f"{message.msg_type}{', via the smart bot' if message.channel == 'aibot' else ''})"
                f": expected {message.expected}, got {message.actual} (verdict {message.verdict}"
                + (f", step {message.step}" if message.step else "")
                + ")"
            )
            if verbose:
                lines.append(f"      text: {message.text!r}")
                if message.reason:
                    lines.append(f"      reason: {message.reason}")
                lines.extend(f"      finding: {explained}" for explained in message.explanations)
                done = [
                    f"{what} {status}"
                    for what, status in (
                        ("warning", message.warning),
                        ("alert", message.alert),
                        ("removal", message.removal),
                    )
                    if status
                ]
                if done:
                    lines.append(f"      actions: {'; '.join(done)}")
                if message.log_id is not None:
                    lines.append(
                        f"      log #{message.log_id}, mode {message.mode}, step "
                        f"{message.step or '-'}, strikes {message.strikes}"
                    )
        return lines

    def __str__(self) -> str:
        return "\n".join(self.render())


# --- what WeCom sends ---------------------------------------------------------------------------


def _archive_payload(message: TimelineMessage, msgid: str) -> dict[str, Any]:
    """The record's payload object for the message's type (doc 91774, `bot.archive`), built
    from its `text`: a link's lines are title / description / URL, a mini program's
    "name | title", a card's text its `corpname` (the only field the service reads), a red
    packet's text its wish, an image only a file id."""
    content = message.text
    if message.type == "text":
        return {"content": content}
    if message.type == "link":
        lines = [line.strip() for line in content.split("\n") if line.strip()]
        url = lines.pop() if lines and lines[-1].startswith(("http://", "https://")) else ""
        title = lines.pop(0) if lines else ""
        return {
            "title": title,
            "description": "\n".join(lines),
            "link_url": url,
            "image_url": "",
        }
    if message.type == "weapp":
        name, _, title = content.partition(" | ")
        if not title:
            name, title = "", content
        return {"title": title, "description": "", "username": "gh_0000@app", "displayname": name}
    if message.type == "card":
        return {"corpname": content, "userid": f"wmcard{msgid[-6:]}"}
    if message.type == "redpacket":
        return {"type": 1, "wish": content, "totalcnt": 10, "totalamount": 1000}
    # image: no text; the placeholder text in the corpus is what a reader sees, not the service
    return {"md5sum": "0" * 32, "filesize": 40_000, "sdkfileid": f"sdkfile-{msgid}"}


def _archive_record(
    message: TimelineMessage, *, msgid: str, chat_id: str, tolist: Sequence[str]
) -> dict[str, Any]:
    """A decrypted chat-archive record of a group message."""
    return {
        "msgid": msgid,
        "action": "send",
        "from": message.sender,
        "tolist": list(tolist),
        "roomid": chat_id,
        "msgtime": int((START + timedelta(seconds=message.t)).timestamp() * 1000),
        "msgtype": message.type,
        message.type: _archive_payload(message, msgid),
    }


# --- playing a timeline ----------------------------------------------------------------------


class _EvalWeCom(support.FakeWeCom):
    """The tests' fake WeCom API, answering a welcome-template add with a template id as WeCom
    does (the fake's bare `{"errcode": 0}` would be a malformed answer, retried and logged)."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/externalcontact/group_welcome_template/add":
            self.requests.append(request)
            return httpx.Response(
                200, json={"errcode": 0, "errmsg": "ok", "template_id": "msgEVALTEMPLATE"}
            )
        return super().handler(request)


@dataclass(frozen=True)
class _Posted:
    """A warning (or removal) WeCom was asked to post: which API, whom it names, and for a
    smart-bot reply the message it answers."""

    path: str
    named: str
    msgid: str = ""


def _posted(request: httpx.Request) -> _Posted | None:
    """What a request to the fake WeCom posted in a group; None for other calls."""
    path = request.url.path
    if path not in WARNING_PATHS:
        return None
    body = json.loads(request.content or b"{}")
    msgtype = body.get("msgtype", "")
    content = body.get(msgtype, {}) if isinstance(body.get(msgtype), dict) else {}
    if path == "/cgi-bin/webhook/send" and content.get("mentioned_list"):
        named = str(content["mentioned_list"][0])
    else:
        found = _MENTIONED.search(str(content.get("content", "")))
        named = found.group(1) if found else ""
    return _Posted(path, named, request.url.params.get("response_code", ""))


def _status(actions: list[dict[str, Any]], kinds: frozenset[str]) -> str:
    """One action of a log row, as the report shows it: "" when none was decided."""
    for action in actions:
        if action["kind"] in kinds:
            status = str(action["status"])
            if status == "skipped":
                return f"skipped: {action.get('last_error') or 'no reason given'}"
            if status == "merged":
                return "merged (sent in a digest)"
            if status == "dead":
                return f"dead: {action.get('last_error') or ''}"
            return status
    return ""


async def _log_rows(service: Service, chat_id: str) -> list[dict[str, Any]]:
    """Every moderation log row of the group, through the REST API."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"chat_id": chat_id, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        response = await service.api("/api/v1/moderation-logs", **params)
        if response.status_code != 200:
            raise RuntimeError(
                f"GET /api/v1/moderation-logs: {response.status_code} {response.text}"
            )
        page = response.json()
        rows.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return rows


async def _pending_actions(service: Service) -> int:
    async with service.runtime.sessions() as session:
        statement = select(func.count()).where(OutboxAction.status.in_(("pending", "sending")))
        return int((await session.execute(statement)).scalar_one())


async def _unfinished_events(service: Service) -> dict[str, tuple[str, str]]:
    """Inbox events not handled (`failed`, or still pending after settling): dedupe key →
    (status, last error)."""
    async with service.runtime.sessions() as session:
        rows = (
            await session.execute(
                select(InboxEvent.dedupe_key, InboxEvent.status, InboxEvent.last_error)
                .where(InboxEvent.status != "done")
                .order_by(InboxEvent.id)
            )
        ).all()
    return {key: (status, error or "") for key, status, error in rows}


async def _prepare_group(service: Service, timeline: Timeline, chat_id: str) -> None:
    """The group row with its kind and owner, and the established members' rows."""
    policy: GroupPolicy = service.runtime.context.policy
    if policy.newcomer_messages >= ESTABLISHED_MESSAGES or policy.newcomer_days >= ESTABLISHED_DAYS:
        raise RuntimeError("the policy's newcomer thresholds exceed what `regular` members have")
    owners = timeline.with_role("owner")
    established = {
        (chat_id, user): START - timedelta(days=ESTABLISHED_DAYS)
        for user, role in timeline.members.items()
        if role != "newcomer"
    }
    async with service.runtime.sessions() as session, session.begin():
        group = await groups_repo.ensure(
            session,
            chat_id,
            now=START - timedelta(days=ESTABLISHED_DAYS),
            kind=GROUP_KIND[timeline.kind],
            smart_bot=timeline.kind == "internal",
        )
        group.name = timeline.name[:256]
        group.owner = owners[0] if owners else ""
        members = await groups_repo.ensure_members(session, established)
        for member in members.values():
            member.messages = ESTABLISHED_MESSAGES
            member.last_message_at = START - timedelta(days=1)


async def _deliver(
    service: Service, timeline: Timeline, chat_id: str, index: int, message: TimelineMessage
) -> tuple[str, str]:
    """Deliver one message as WeCom would; returns (msgid, channel)."""
    msgid = f"eval-{chat_id}-{index:03d}"
    if message.mention and timeline.kind == "internal":
        # the corpus text carries the mention it was written with
        plaintext = support.aibot_group_text(
            message.text, msgid=msgid, sender=message.sender, chat_id=chat_id, mention=""
        )
        response = await service.post_aibot(plaintext)
        if response.status_code != 200:
            raise RuntimeError(
                f"{timeline.name}#{index}: /wecom/aibot answered {response.status_code} "
                f"{response.text}"
            )
        return msgid, "aibot"
    others = sorted(user for user in timeline.members if user != message.sender)
    record = _archive_record(message, msgid=msgid, chat_id=chat_id, tolist=others)
    parsed = parse_archive_message(record)
    skip = archive_skip_reason(parsed, include_direct=False)
    if skip:
        raise RuntimeError(f"{timeline.name}#{index}: the archive poller would skip it ({skip})")
    async with service.runtime.sessions() as session, session.begin():
        stored = await store_message(session, parsed, record, now=service.runtime.now())
    if stored is None:
        raise RuntimeError(f"{timeline.name}#{index}: msgid {msgid} was in the inbox already")
    return msgid, "archive"


async def _play(
    service: Service, clock: support.Clock, timeline: Timeline, chat_id: str
) -> TimelineResult:
    """Deliver the timeline's messages in time order, settling after each instant, then read
    what the service decided and what it posted."""
    await _prepare_group(service, timeline, chat_id)
    delivered: list[tuple[str, str]] = []
    messages = timeline.messages
    index = 0
    while index < len(messages):
        t = messages[index].t
        clock.now = START + timedelta(seconds=t)
        while index < len(messages) and messages[index].t == t:
            delivered.append(await _deliver(service, timeline, chat_id, index, messages[index]))
            index += 1
        await service.settle()
    for _ in range(DRAIN_ROUNDS):  # alerts may wait for a moderator's budget or a digest
        if not await _pending_actions(service):
            break
        clock.advance(DRAIN_STEP_SECONDS)
        await service.settle()

    unfinished = await _unfinished_events(service)
    issues = [f"inbox event {key} {status}: {error}" for key, (status, error) in unfinished.items()]
    rows: dict[str, dict[str, Any]] = {}
    for item in await _log_rows(service, chat_id):
        if item["message_id"] in rows:
            issues.append(f"message {item['message_id']} has more than one log row")
        rows.setdefault(item["message_id"], item)
    outcomes = []
    for index, (message, (msgid, channel)) in enumerate(zip(messages, delivered, strict=True)):
        row = rows.pop(msgid) if msgid in rows else None
        verdict = row["decision"] if row else "none"
        actions = row["actions"] if row else []
        key = dedupe_key(msgid) if channel == "archive" else f"aibot:msg:{msgid}"
        status, error = unfinished.get(key, ("", ""))
        if status and row is None:
            verdict = status
        outcomes.append(
            MessageOutcome(
                timeline=timeline.name,
                index=index,
                t=message.t,
                sender=message.sender,
                role=timeline.members[message.sender],
                msg_type=message.type,
                text=message.text,
                channel=channel,
                expected=message.expect,
                actual=_outcome(verdict, row),
                verdict=verdict,
                reason=row["reason"] if row else error,
                explanations=tuple(
                    str(item.get("explanation") or item.get("summary") or "")
                    for item in (row["findings"] + row["signals"] if row else [])
                ),
                mode=row["mode"] if row else "",
                step=row["step"] if row else None,
                strikes=row["strikes"] if row else 0,
                warning=_status(actions, WARNING_KINDS),
                alert=_status(actions, frozenset({"app_message"})),
                removal=_status(actions, frozenset({"appchat_remove"})),
                log_id=row["id"] if row else None,
            )
        )
        if verdict not in OUTCOME_OF_VERDICT:
            issues.append(f"message #{index}: unknown verdict {verdict!r}")
    issues.extend(f"log row for a message not in the timeline: {key}" for key in rows)
    issues.extend(_cross_check(service.wecom.requests, outcomes, delivered))
    return TimelineResult(
        name=timeline.name,
        kind=timeline.kind,
        note=timeline.note,
        chat_id=chat_id,
        messages=tuple(outcomes),
        issues=tuple(issues),
    )


def _cross_check(
    requests: Sequence[httpx.Request],
    outcomes: Sequence[MessageOutcome],
    delivered: Sequence[tuple[str, str]],
) -> list[str]:
    """Public warnings WeCom was asked to post against the log rows' sent warnings: the same
    senders as often, and a smart-bot reply only for a message whose warning was sent."""
    posted = [found for request in requests if (found := _posted(request)) is not None]
    sent = [outcome for outcome in outcomes if outcome.warning == "sent"]
    issues = []
    named = Counter(post.named for post in posted)
    expected = Counter(outcome.sender for outcome in sent)
    for sender in sorted(set(named) | set(expected)):
        if named[sender] != expected[sender]:
            issues.append(
                f"warnings posted naming {sender or '(nobody)'}: {named[sender]}; sent "
                f"warnings in the moderation log: {expected[sender]}"
            )
    warned_ids = {
        msgid
        for outcome, (msgid, _) in zip(outcomes, delivered, strict=True)
        if outcome.warning == "sent"
    }
    for post in posted:
        if post.path == "/cgi-bin/aibot/response" and post.msgid not in warned_ids:
            issues.append(f"a smart-bot reply to {post.msgid} that no sent warning explains")
    return issues


# --- databases ---------------------------------------------------------------------------------


@contextmanager
def _databases(database: str, workdir: Path) -> Iterator[Callable[[], str]]:
    """A maker of fresh, migrated databases, one per call: copies of a migrated SQLite file,
    or one temporary PostgreSQL database truncated before each use ("postgresql": the server
    of WECOM_MOD_TEST_POSTGRES_URL or the local default; or a `postgresql://` server URL)."""
    if database == "sqlite":
        template = workdir / "template.db"
        migrate.upgrade(database_urls(f"sqlite:///{template}"))
        count = 0

        def fresh_sqlite() -> str:
            nonlocal count
            count += 1
            target = workdir / f"timeline-{count:03d}.db"
            source, copy = sqlite3.connect(template), sqlite3.connect(target)
            try:
                source.backup(copy)
            finally:
                source.close()
                copy.close()
            return f"sqlite:///{target}"

        yield fresh_sqlite
        return
    if database != "postgresql" and not database.startswith("postgresql://"):
        raise ValueError(f"database {database!r}: use sqlite, postgresql or a postgresql:// URL")
    server = DEFAULT_SERVER if database == "postgresql" else database
    with temporary_database(server) as url:
        if url is None:
            raise RuntimeError(f"no PostgreSQL server answers at {server}")
        migrate.upgrade(database_urls(url))
        engine = create_engine(database_urls(url).sync_url)

        def fresh_postgresql() -> str:
            with engine.begin() as connection:
                tables = ", ".join(Base.metadata.tables)
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                connection.execute(
                    text("INSERT INTO lexicon_state (id, version, updated_at) VALUES (1, 0, now())")
                )
            return url

        try:
            yield fresh_postgresql
        finally:
            engine.dispose()


@asynccontextmanager
async def _service_for(
    timeline: Timeline, database_url: str, workdir: Path, clock: support.Clock, lexicon: Path
) -> AsyncIterator[Service]:
    """A running service for one timeline: the evaluation lexicon, the default policy, the
    timeline's moderators as admins, nothing else from the environment that changes a
    decision."""
    settings = make_settings(
        database_url,
        workdir,
        lexicon_path=lexicon,
        lexicon_allow_path=None,
        policy_path=None,
        messages_path=None,
        wecom_admin_userids=",".join([EVAL_ADMIN, *timeline.with_role("moderator")]),
        wecom_staff_userids="",
        archive_enabled=False,
    )
    running = start_service(settings, _EvalWeCom(), clock=clock)
    service = await anext(running)
    try:
        yield service
    finally:
        # Resumed, not closed: `aclose()` would throw GeneratorExit into the app's lifespan,
        # whose engine.dispose() is not in its `finally` (its SQLite connections would leak).
        with contextlib.suppress(StopAsyncIteration):
            await anext(running)


async def play_timelines(
    timelines: Sequence[Timeline],
    fresh_database: Callable[[], str],
    workdir: Path,
    *,
    lexicon: Path = LEXICON,
) -> list[TimelineResult]:
    """Play each timeline on its own fresh service and database (for callers already in an
    event loop; `run_timelines` is the synchronous entry point)."""
    results = []
    for number, timeline in enumerate(timelines):
        clock = support.Clock()
        clock.now = START
        chat_id = f"wrEval{number:03d}"
        async with _service_for(timeline, fresh_database(), workdir, clock, lexicon) as service:
            results.append(await _play(service, clock, timeline, chat_id))
    return results


def run_timelines(path: Path, *, database: str = "sqlite", verbose: bool = False) -> TimelineReport:
    """Play every timeline of `path` through a fresh service and report the outcomes.

    `database`: "sqlite" (a temporary file per timeline), "postgresql" or a `postgresql://`
    server URL (a temporary database, dropped afterwards). `verbose`: the report's `render()`
    details every mismatch. Nothing is printed here.
    """
    timelines = load_timelines(path)
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="wecom-mod-eval-") as name,
        _databases(database, Path(name)) as fresh,
    ):
        results = asyncio.run(play_timelines(timelines, fresh, Path(name)))
    return TimelineReport(
        source=str(path),
        database=database.split("@")[-1] if "://" in database else database,
        seconds=time.perf_counter() - started,
        timelines=results,
        verbose=verbose,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report of the corpus (exit status 0 whatever it says: it is a measurement)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="details of every mismatch")
    parser.add_argument("--timelines", type=Path, default=DEFAULT_TIMELINES)
    parser.add_argument(
        "--database", default="sqlite", help="sqlite, postgresql or a postgresql:// server URL"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("app").setLevel(logging.ERROR)  # INFO lines per flagged message otherwise
    report = run_timelines(args.timelines, database=args.database, verbose=args.verbose)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
