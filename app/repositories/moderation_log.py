"""Queries on `moderation_logs` (and the outbox actions that belong to each row): pages, exports,
reviews. A row's findings' rules are kept in `moderation_log_rules`, written by `add` with the
row, so that the log filtered by rule reads that table's index."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, and_, func, literal, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.models import ModerationLog, ModerationLogRule, OutboxAction
from app.repositories import sandbox as sandbox_repo
from app.repositories.bulk import BulkInsert
from app.repositories.reports import finding_rule

__all__ = [
    "LogFilter",
    "actions_for",
    "add",
    "add_many",
    "by_ids",
    "count",
    "earlier_of_each",
    "get",
    "id_for_event",
    "mark_reviewed",
    "oldest_first",
    "page",
    "rules_of",
]


S = TypeVar("S", bound=Select[Any])


@dataclass(frozen=True, slots=True)
class LogFilter:
    chat_id: str | None = None
    user_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    chat_ids: tuple[str, ...] | None = None  # only these groups; None: every group
    verdicts: tuple[str, ...] | None = None  # only these verdicts; None: every verdict
    unreviewed: bool = False  # only rows no moderator has reviewed
    rule: str | None = None  # only rows with a finding of this rule (`reports.finding_rule`)
    sandbox: bool = False  # the sandbox's rows only; False: never a sandbox group's


def rules_of(findings: Any) -> list[str]:
    """The rules a row's stored findings name, each once, in the findings' order
    (`reports.finding_rule`); what `moderation_log_rules` holds for the row."""
    rules: list[str] = []
    for finding in findings if isinstance(findings, list) else ():
        if isinstance(finding, dict):
            rule = finding_rule(finding)
            if rule not in rules:
                rules.append(rule)
    return rules


Key = tuple[InstrumentedAttribute[datetime], InstrumentedAttribute[int]]


def _keyed(statement: S, filters: LogFilter) -> tuple[S, Key]:
    """The statement joined to the rule's rows when the filter names a rule, and the
    (created_at, id) columns the keyset pages order by: the rule rows' own (the same values,
    copied), so that a rare rule is read from its index newest first instead of every row's
    findings; else the log's."""
    if filters.rule is None:
        return statement, (ModerationLog.created_at, ModerationLog.id)
    statement = statement.join(
        ModerationLogRule,
        and_(
            ModerationLogRule.moderation_log_id == ModerationLog.id,
            ModerationLogRule.rule == filters.rule,
        ),
    )
    return statement, (ModerationLogRule.created_at, ModerationLogRule.moderation_log_id)


def _filtered(statement: S, filters: LogFilter) -> tuple[S, Key]:
    statement, (created, row_id) = _keyed(statement, filters)
    if filters.sandbox:
        statement = statement.where(~sandbox_repo.real_chat(ModerationLog.chat_id))
    else:
        statement = statement.where(sandbox_repo.real_chat(ModerationLog.chat_id))
    if filters.chat_ids is not None:
        statement = statement.where(ModerationLog.chat_id.in_(filters.chat_ids))
    if filters.verdicts is not None:
        statement = statement.where(ModerationLog.verdict.in_(filters.verdicts))
    if filters.unreviewed:
        statement = statement.where(ModerationLog.review.is_(None))
    if filters.chat_id is not None:
        statement = statement.where(ModerationLog.chat_id == filters.chat_id)
    if filters.user_id is not None:
        statement = statement.where(ModerationLog.user_id == filters.user_id)
    if filters.since is not None:
        statement = statement.where(created >= filters.since)
    if filters.until is not None:
        statement = statement.where(created < filters.until)
    return statement, (created, row_id)


async def page(
    session: AsyncSession,
    filters: LogFilter,
    *,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> Sequence[ModerationLog]:
    """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
    statement, (created, row_id) = _filtered(select(ModerationLog), filters)
    if before is not None:
        last_created, last_id = before
        statement = statement.where(
            or_(created < last_created, and_(created == last_created, row_id < last_id))
        )
    statement = statement.order_by(created.desc(), row_id.desc())
    return (await session.execute(statement.limit(limit))).scalars().all()


async def count(session: AsyncSession, filters: LogFilter, *, cap: int) -> int:
    """How many rows match, counting at most `cap` (the web console's review-queue size: a
    count of a million rows would take longer than the page may)."""
    matching, (created, row_id) = _filtered(select(ModerationLog.id), filters)
    matching = matching.order_by(created.desc(), row_id.desc())
    statement = select(func.count()).select_from(matching.limit(cap).subquery())
    return int((await session.execute(statement)).scalar_one())


async def add(session: AsyncSession, entry: ModerationLog) -> ModerationLog:
    """Add a row and flush it (its id is then known), with the rules of its findings
    (`moderation_log_rules`, flushed with the session's next write): the one way a log row is
    written, so that the log filtered by rule finds it."""
    session.add(entry)
    await session.flush()
    session.add_all(
        ModerationLogRule(moderation_log_id=entry.id, rule=rule, created_at=entry.created_at)
        for rule in rules_of(entry.findings)
    )
    return entry


_LOGS = cast(Table, ModerationLog.__table__)
# Built once: the statements `add_many` runs for every batch of the inbox processor.
# The ids come back keyed by inbox event (not in the rows' order: asking for that order makes
# SQLite run one INSERT per row).
_INSERT_LOGS = BulkInsert(_LOGS, returning=("inbox_event_id", "id"))
_INSERT_RULES = BulkInsert(cast(Table, ModerationLogRule.__table__))


async def add_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[int]:
    """`add` for several rows of inbox events given as column → value dicts (every dict with
    the same keys, each with its own `inbox_event_id`), with one statement for the rows and one
    for their rules; returns the rows' ids in order. Core rows, not ORM objects: the inbox
    processor writes a batch's flagged messages so."""
    if not rows:
        return []
    written = {event_id: log_id for event_id, log_id in await _INSERT_LOGS(session, rows)}
    ids = [written[row["inbox_event_id"]] for row in rows]
    rules = [
        {"moderation_log_id": log_id, "rule": rule, "created_at": row["created_at"]}
        for log_id, row in zip(ids, rows, strict=True)
        for rule in rules_of(row["findings"])
    ]
    if rules:
        await _INSERT_RULES(session, rules)
    return ids


async def get(session: AsyncSession, log_id: int) -> ModerationLog | None:
    return await session.get(ModerationLog, log_id)


async def id_for_event(session: AsyncSession, inbox_event_id: int) -> int | None:
    """The id of the row the inbox event `inbox_event_id` was logged in; None: not logged."""
    return (
        await session.execute(
            select(ModerationLog.id).where(ModerationLog.inbox_event_id == inbox_event_id)
        )
    ).scalar_one_or_none()


async def by_ids(session: AsyncSession, log_ids: Sequence[int]) -> dict[int, ModerationLog]:
    """The rows with these ids, by id (absent ids are left out)."""
    rows = await session.execute(select(ModerationLog).where(ModerationLog.id.in_(log_ids)))
    return {row.id: row for row in rows.scalars().all()}


async def earlier_of_each(
    session: AsyncSession, rows: Sequence[ModerationLog], *, limit: int
) -> dict[int, list[ModerationLog]]:
    """Row id → up to `limit` earlier rows of the same member in the same group, newest first,
    for each of `rows` in a group: `page` with that member's filter before each row, all in
    one statement (and one for the rows themselves) instead of one per row."""
    parts = []
    for row in rows:
        if not (row.chat_id and row.user_id):
            continue
        earlier = (
            select(literal(row.id).label("for_id"), ModerationLog.id.label("log_id"))
            .where(
                ModerationLog.chat_id == row.chat_id,
                ModerationLog.user_id == row.user_id,
                or_(
                    ModerationLog.created_at < row.created_at,
                    and_(ModerationLog.created_at == row.created_at, ModerationLog.id < row.id),
                ),
            )
            .order_by(ModerationLog.created_at.desc(), ModerationLog.id.desc())
            .limit(limit)
            .subquery()
        )
        parts.append(select(earlier.c.for_id, earlier.c.log_id))
    if not parts:
        return {}
    pairs = (await session.execute(union_all(*parts))).all()
    found = await by_ids(session, sorted({log_id for _for_id, log_id in pairs}))
    grouped: dict[int, list[ModerationLog]] = defaultdict(list)
    for for_id, log_id in pairs:
        if log_id in found:
            grouped[for_id].append(found[log_id])
    for history in grouped.values():
        history.sort(key=lambda entry: (entry.created_at, entry.id), reverse=True)
    return dict(grouped)


async def actions_for(
    session: AsyncSession, log_ids: Sequence[int]
) -> dict[int, list[OutboxAction]]:
    if not log_ids:
        return {}
    statement = (
        select(OutboxAction)
        .where(OutboxAction.moderation_log_id.in_(log_ids))
        .order_by(OutboxAction.id)
    )
    grouped: dict[int, list[OutboxAction]] = defaultdict(list)
    for action in (await session.execute(statement)).scalars():
        if action.moderation_log_id is not None:
            grouped[action.moderation_log_id].append(action)
    return grouped


async def mark_reviewed(
    session: AsyncSession, log_id: int, *, review: str, by: str, at: datetime, note: str
) -> bool:
    """Record a moderator's review unless the row has one already (a conditional UPDATE, so
    two reviewers racing cannot both win); returns whether this review was recorded."""
    result = await session.execute(
        update(ModerationLog)
        .where(ModerationLog.id == log_id, ModerationLog.review.is_(None))
        .values(review=review, reviewed_by=by[:128], reviewed_at=at, review_note=note)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def oldest_first(
    session: AsyncSession,
    filters: LogFilter,
    *,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> Sequence[ModerationLog]:
    """Oldest first (for exports); `after` is the (created_at, id) of the previous batch's last
    row."""
    statement, (created, row_id) = _filtered(select(ModerationLog), filters)
    if after is not None:
        last_created, last_id = after
        statement = statement.where(
            or_(created > last_created, and_(created == last_created, row_id > last_id))
        )
    statement = statement.order_by(created, row_id).limit(limit)
    return (await session.execute(statement)).scalars().all()
