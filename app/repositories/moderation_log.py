"""Queries on `moderation_logs` (and the outbox actions that belong to each row): pages, exports,
reviews."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, TextClause, and_, func, literal, or_, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ModerationLog, OutboxAction

__all__ = [
    "LogFilter",
    "actions_for",
    "add",
    "by_ids",
    "count",
    "earlier_of_each",
    "get",
    "id_for_event",
    "mark_reviewed",
    "oldest_first",
    "page",
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


# A row has a finding of rule :log_rule, the rule as `reports.finding_rule` names it
# (`word.<category>` for a lexicon hit, else the signal's `rule`, else its `detector`). The
# findings are a JSON array, read with each dialect's own JSON functions; no index serves it,
# so a rare rule is found by reading the rows of the other filters newest first.
_RULE_SQL = {
    "postgresql": """EXISTS (SELECT 1 FROM json_array_elements(
        CASE WHEN json_typeof(moderation_logs.findings) = 'array'
        THEN moderation_logs.findings ELSE '[]'::json END) AS finding
      WHERE json_typeof(finding) = 'object' AND
        CASE WHEN coalesce(nullif(finding ->> 'detector', ''), 'lexicon') = 'lexicon'
        THEN 'word.' || coalesce(finding ->> 'category', 'custom')
        ELSE coalesce(nullif(finding ->> 'rule', ''), finding ->> 'detector') END = :log_rule)""",
    "sqlite": """EXISTS (SELECT 1 FROM json_each(moderation_logs.findings) AS finding
      WHERE finding.type = 'object' AND
        CASE WHEN coalesce(nullif(json_extract(finding.value, '$.detector'), ''), 'lexicon')
          = 'lexicon'
        THEN 'word.' || coalesce(json_extract(finding.value, '$.category'), 'custom')
        ELSE coalesce(nullif(json_extract(finding.value, '$.rule'), ''),
          json_extract(finding.value, '$.detector')) END = :log_rule)""",
}


def _has_rule(session: AsyncSession, rule: str) -> TextClause:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return text(_RULE_SQL.get(dialect, _RULE_SQL["sqlite"])).bindparams(log_rule=rule)


def _filtered(statement: S, filters: LogFilter, session: AsyncSession) -> S:
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
        statement = statement.where(ModerationLog.created_at >= filters.since)
    if filters.until is not None:
        statement = statement.where(ModerationLog.created_at < filters.until)
    if filters.rule is not None:
        statement = statement.where(_has_rule(session, filters.rule))
    return statement


async def page(
    session: AsyncSession,
    filters: LogFilter,
    *,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> Sequence[ModerationLog]:
    """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
    statement = _filtered(select(ModerationLog), filters, session)
    if before is not None:
        created_at, row_id = before
        statement = statement.where(
            or_(
                ModerationLog.created_at < created_at,
                and_(ModerationLog.created_at == created_at, ModerationLog.id < row_id),
            )
        )
    statement = statement.order_by(ModerationLog.created_at.desc(), ModerationLog.id.desc())
    return (await session.execute(statement.limit(limit))).scalars().all()


async def count(session: AsyncSession, filters: LogFilter, *, cap: int) -> int:
    """How many rows match, counting at most `cap` (the web console's review-queue size: a
    count of a million rows would take longer than the page may)."""
    matching = _filtered(select(ModerationLog.id), filters, session)
    matching = matching.order_by(ModerationLog.created_at.desc(), ModerationLog.id.desc())
    statement = select(func.count()).select_from(matching.limit(cap).subquery())
    return int((await session.execute(statement)).scalar_one())


async def add(session: AsyncSession, entry: ModerationLog) -> ModerationLog:
    """Add a row and flush it (its id is then known)."""
    session.add(entry)
    await session.flush()
    return entry


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
    statement = _filtered(select(ModerationLog), filters, session)
    if after is not None:
        created_at, row_id = after
        statement = statement.where(
            or_(
                ModerationLog.created_at > created_at,
                and_(ModerationLog.created_at == created_at, ModerationLog.id > row_id),
            )
        )
    statement = statement.order_by(ModerationLog.created_at, ModerationLog.id).limit(limit)
    return (await session.execute(statement)).scalars().all()
