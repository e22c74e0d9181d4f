"""Read-only aggregates over several tables for the groups list and the stats endpoint:
member activity, message counts, moderation counts, actions, offenders.

Message counting is limited by what the service keeps: `group_members` holds each member's
running message count and the time of their last message, and `message_meta` holds one row per
message for a day (then pruned). So "messages in the last day" is exact, "members active in
the window" is exact, and longer windows have no exact message count.

Findings live in a JSON column; they are counted in Python (portable across SQLite and
PostgreSQL) over at most `MAX_FINDINGS_ROWS` log rows, newest first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import GroupMember, MessageMeta, ModerationLog, OutboxAction
from app.repositories import sandbox as sandbox_repo

__all__ = [
    "MAX_FINDINGS_ROWS",
    "FindingCounts",
    "MemberActivity",
    "ModerationCounts",
    "Offender",
    "action_counts",
    "finding_counts",
    "finding_rule",
    "member_activity",
    "messages_since",
    "moderation_counts",
    "review_counts",
    "top_offenders",
    "verdict_counts",
    "verdict_counts_since",
]

S = TypeVar("S", bound=Select[*tuple[Any, ...]])

MAX_FINDINGS_ROWS = 20_000  # log rows whose findings JSON one stats request reads, at most


MAX_DAYS = 365


@dataclass(frozen=True, slots=True)
class MemberActivity:
    active_members: int  # members whose last message is inside the window
    messages_seen: int  # every message seen from the group's members, since first seen
    last_message_at: datetime | None


@dataclass(frozen=True, slots=True)
class ModerationCounts:
    flagged: int  # log rows (every mode)
    warned: int  # verdict warn, enforce mode
    removed: int  # verdict remove, enforce mode


@dataclass(frozen=True, slots=True)
class FindingCounts:
    by_detector: dict[str, int]  # lexicon | flood | promo → findings
    by_rule: dict[str, int]  # word.<category> | flood.rate | promo.phone … → findings
    rows: int  # log rows read
    truncated: bool  # more rows were in the window than MAX_FINDINGS_ROWS


@dataclass(frozen=True, slots=True)
class Offender:
    user_id: str
    chat_id: str
    count: int


def _in_chats(statement: S, column: Any, chat_ids: Sequence[str] | None) -> S:
    """Only `chat_ids` (None: every group), never a sandbox group."""
    statement = statement.where(sandbox_repo.real_chat(column))
    return statement if chat_ids is None else statement.where(column.in_(list(chat_ids)))


async def member_activity(
    session: AsyncSession, chat_ids: Sequence[str] | None, *, since: datetime
) -> dict[str, MemberActivity]:
    """Per group (all groups when `chat_ids` is None)."""
    statement = select(
        GroupMember.chat_id,
        func.sum(case((GroupMember.last_message_at >= since, 1), else_=0)),
        func.sum(GroupMember.messages),
        func.max(GroupMember.last_message_at),
    ).group_by(GroupMember.chat_id)
    statement = _in_chats(statement, GroupMember.chat_id, chat_ids)
    rows = (await session.execute(statement)).all()
    return {
        chat_id: MemberActivity(
            active_members=int(active or 0),
            messages_seen=int(seen or 0),
            last_message_at=_utc(last),
        )
        for chat_id, active, seen, last in rows
    }


def _utc(value: Any) -> datetime | None:
    """A MAX() over a UTC column comes back without the column type on some backends."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def messages_since(
    session: AsyncSession, chat_ids: Sequence[str] | None, *, since: datetime
) -> dict[str, int]:
    """Messages per group sent at or after `since`, from the message metadata (kept a day)."""
    statement = (
        select(MessageMeta.chat_id, func.count())
        .where(MessageMeta.sent_at >= since)
        .group_by(MessageMeta.chat_id)
    )
    statement = _in_chats(statement, MessageMeta.chat_id, chat_ids)
    return {chat_id: int(count) for chat_id, count in (await session.execute(statement)).all()}


async def moderation_counts(
    session: AsyncSession, chat_ids: Sequence[str], *, since: datetime
) -> dict[str, ModerationCounts]:
    if not chat_ids:
        return {}
    enforce = ModerationLog.mode == "enforce"
    statement = (
        select(
            ModerationLog.chat_id,
            func.count(),
            func.sum(case(((ModerationLog.verdict == "warn") & enforce, 1), else_=0)),
            func.sum(case(((ModerationLog.verdict == "remove") & enforce, 1), else_=0)),
        )
        .where(ModerationLog.chat_id.in_(list(chat_ids)), ModerationLog.created_at >= since)
        .group_by(ModerationLog.chat_id)
    )
    return {
        chat_id: ModerationCounts(int(flagged), int(warned or 0), int(removed or 0))
        for chat_id, flagged, warned, removed in (await session.execute(statement)).all()
    }


def _logs_in(statement: S, *, since: datetime, chat_id: str | None) -> S:
    statement = statement.where(
        ModerationLog.created_at >= since, sandbox_repo.real_chat(ModerationLog.chat_id)
    )
    if chat_id is not None:
        statement = statement.where(ModerationLog.chat_id == chat_id)
    return statement


async def verdict_counts(
    session: AsyncSession,
    *,
    since: datetime,
    chat_id: str | None,
    chat_ids: Sequence[str] | None = None,
) -> dict[tuple[str, str], int]:
    """(verdict, mode) → log rows in the window (in `chat_id`, and in `chat_ids` if given)."""
    statement = _logs_in(
        select(ModerationLog.verdict, ModerationLog.mode, func.count()).group_by(
            ModerationLog.verdict, ModerationLog.mode
        ),
        since=since,
        chat_id=chat_id,
    )
    statement = _in_chats(statement, ModerationLog.chat_id, chat_ids)
    return {
        (verdict, mode): int(count)
        for verdict, mode, count in (await session.execute(statement)).all()
    }


async def verdict_counts_since(
    session: AsyncSession, starts: Sequence[datetime], *, chat_ids: Sequence[str] | None
) -> list[dict[tuple[str, str], int]]:
    """`verdict_counts` for several windows that end now (one per start in `starts`), in
    `chat_ids` (None: every group), with one read of the widest window: the web console's
    overview. It reads the log's time indexes alone (they carry the verdict and the mode)."""
    if not starts:
        return []
    columns = [func.sum(case((ModerationLog.created_at >= start, 1), else_=0)) for start in starts]
    statement = (
        select(ModerationLog.verdict, ModerationLog.mode, *columns)
        .where(ModerationLog.created_at >= min(starts))
        .group_by(ModerationLog.verdict, ModerationLog.mode)
    )
    statement = _in_chats(statement, ModerationLog.chat_id, chat_ids)
    found: list[dict[tuple[str, str], int]] = [{} for _ in starts]
    for verdict, mode, *counts in (await session.execute(statement)).all():
        for window, count in zip(found, counts, strict=True):
            if count:
                window[verdict, mode] = int(count)
    return found


async def review_counts(
    session: AsyncSession, *, since: datetime, chat_id: str | None
) -> dict[str, int]:
    """confirmed | overturned → reviewed log rows flagged in the window."""
    statement = _logs_in(
        select(ModerationLog.review, func.count())
        .where(ModerationLog.review.is_not(None))
        .group_by(ModerationLog.review),
        since=since,
        chat_id=chat_id,
    )
    return {str(review): int(count) for review, count in (await session.execute(statement)).all()}


async def finding_counts(
    session: AsyncSession, *, since: datetime, chat_id: str | None
) -> FindingCounts:
    statement = _logs_in(
        select(ModerationLog.findings)
        .order_by(ModerationLog.created_at.desc(), ModerationLog.id.desc())
        .limit(MAX_FINDINGS_ROWS + 1),
        since=since,
        chat_id=chat_id,
    )
    rows = (await session.execute(statement)).scalars().all()
    truncated = len(rows) > MAX_FINDINGS_ROWS
    by_detector: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    for findings in rows[:MAX_FINDINGS_ROWS]:
        for finding in findings or ():
            if not isinstance(finding, dict):
                continue
            detector = str(finding.get("detector") or "lexicon")
            by_detector[detector] += 1
            by_rule[finding_rule(finding)] += 1
    return FindingCounts(
        by_detector=dict(by_detector),
        by_rule=dict(by_rule),
        rows=min(len(rows), MAX_FINDINGS_ROWS),
        truncated=truncated,
    )


def finding_rule(finding: dict[str, Any]) -> str:
    """The rule a stored finding stands for: `word.<category>` for a lexicon hit (as strikes
    name it), else the signal's own rule (`flood.rate`, `promo.phone`)."""
    if str(finding.get("detector") or "lexicon") == "lexicon":
        return f"word.{finding.get('category', 'custom')}"
    return str(finding.get("rule") or finding.get("detector"))


async def action_counts(
    session: AsyncSession, *, since: datetime, chat_id: str | None
) -> dict[tuple[str, str], int]:
    """(kind, status) → outbox actions decided for the log rows of the window."""
    statement = _logs_in(
        select(OutboxAction.kind, OutboxAction.status, func.count())
        .join(ModerationLog, OutboxAction.moderation_log_id == ModerationLog.id)
        .group_by(OutboxAction.kind, OutboxAction.status),
        since=since,
        chat_id=chat_id,
    )
    return {
        (kind, status): int(count)
        for kind, status, count in (await session.execute(statement)).all()
    }


async def top_offenders(
    session: AsyncSession, *, since: datetime, chat_id: str | None, limit: int = 10
) -> list[Offender]:
    """Members with the most offences (log rows with a ladder step) in the window; rows a
    moderator overturned do not count."""
    count = func.count().label("offences")
    statement = _logs_in(
        select(ModerationLog.user_id, ModerationLog.chat_id, count)
        .where(
            ModerationLog.step.is_not(None),
            (ModerationLog.review.is_(None)) | (ModerationLog.review != "overturned"),
        )
        .group_by(ModerationLog.user_id, ModerationLog.chat_id)
        .order_by(count.desc(), ModerationLog.user_id, ModerationLog.chat_id)
        .limit(limit),
        since=since,
        chat_id=chat_id,
    )
    return [
        Offender(user_id=user_id, chat_id=chat, count=int(n))
        for user_id, chat, n in (await session.execute(statement)).all()
    ]
