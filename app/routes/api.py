"""REST API v1: the bearer tokens (`require_token`, used by every /api/v1 router) and the
moderation log.

Two tokens: ADMIN_API_TOKEN reads and writes; READONLY_API_TOKEN only reads (GET and HEAD).
Both are compared in constant time, and both comparisons always run.

Failed bearer auth is slowed down per client address (`FailedAuthThrottle`): after
`free_failures` failures within `window_seconds`, each further failure waits (asyncio.sleep,
doubling, capped) before its 401. The state is in memory, per replica; a successful request
never waits and clears its address's failures.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.models import ModerationLog, OutboxAction
from app.repositories import moderation_log as log_repo
from app.routes.cursors import LogCursor, decode_log_cursor, encode_log_cursor

__all__ = [
    "READ_METHODS",
    "ApiCaller",
    "FailedAuthThrottle",
    "api_caller",
    "aware",
    "require_token",
    "router",
]


READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """Who called the REST API: with which token."""

    kind: str  # admin (read and write) | readonly (GET only)

    @property
    def can_write(self) -> bool:
        return self.kind == "admin"


def _matches(presented: bytes, settings: Any, name: str) -> bool:
    """Constant-time comparison with the token in setting `name` (False when it is unset)."""
    if getattr(settings, name) is None:
        # Compare anyway, so an unset token takes as long as a wrong one.
        hmac.compare_digest(presented, b"\0" * 32)
        return False
    return hmac.compare_digest(presented, settings.secret(name).encode("utf-8"))


class FailedAuthThrottle:
    """Failed bearer-auth attempts per client address, and how long the next failure waits.

    Bounded: at most `max_addresses` addresses (the oldest is forgotten first) and at most
    `free_failures + 32` timestamps per address.
    """

    def __init__(
        self,
        *,
        free_failures: int = 5,
        window_seconds: float = 60.0,
        base_delay_seconds: float = 0.5,
        max_delay_seconds: float = 5.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.window_seconds = window_seconds
        self.base_delay_seconds = base_delay_seconds
        self.max_delay_seconds = max_delay_seconds
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def failed(self, address: str) -> float:
        """Record a failure from `address`; the seconds it should wait (0: none)."""
        now = self._clock()
        recent = self._failures.pop(address, None)
        if recent is None:
            recent = deque(maxlen=self.free_failures + 32)
            if len(self._failures) >= self.max_addresses:
                del self._failures[next(iter(self._failures))]
        while recent and now - recent[0] > self.window_seconds:
            recent.popleft()
        recent.append(now)
        self._failures[address] = recent  # re-inserted: most recent last
        excess = len(recent) - self.free_failures
        if excess <= 0:
            return 0.0
        return float(min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (excess - 1)))

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


async def require_token(request: Request) -> ApiCaller:
    """The bearer token: ADMIN_API_TOKEN may read and write, READONLY_API_TOKEN may only read
    (GET); 401 for a missing or wrong one, 403 for a write with the read-only token. The caller
    is also kept on `request.state.api_caller` for the audit trail."""
    settings = request.app.state.runtime.settings
    if not settings.rest_api_enabled:
        raise HTTPException(503, "the REST API is off: set ADMIN_API_TOKEN")
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    raw = presented.strip().encode("utf-8")
    admin = _matches(raw, settings, "admin_api_token")
    readonly = _matches(raw, settings, "readonly_api_token")
    address = request.client.host if request.client else "?"
    throttle: FailedAuthThrottle = request.app.state.auth_throttle
    if scheme.lower() != "bearer" or not (admin or readonly):
        # A token presented and wrong is a guess: guesses are slowed down. No token at all
        # guesses nothing (a probe, a health checker at the wrong path): answered at once.
        delay = throttle.failed(address) if header.strip() else 0.0
        if delay:
            await asyncio.sleep(delay)
        raise HTTPException(
            401,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="wecom-mod"'},
        )
    throttle.succeeded(address)
    caller = ApiCaller("admin" if admin else "readonly")
    if not caller.can_write and request.method not in READ_METHODS:
        raise HTTPException(
            403,
            f"the read-only token (READONLY_API_TOKEN) may only read (GET); {request.method} "
            "needs ADMIN_API_TOKEN",
        )
    request.state.api_caller = caller
    return caller


def api_caller(request: Request) -> ApiCaller:
    """The caller `require_token` let in (the routers depend on it)."""
    caller: ApiCaller = request.state.api_caller
    return caller


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
