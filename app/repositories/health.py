"""Queries on the community-health rollups (`health_days`, `health_member_days`,
`health_groups`): the upserts a batch's counts make, pruning, one group's rows, every group's
window totals with a few set-based statements (the health list), and the list's snapshots
(`health_snapshots`) with the lease that refreshes them (`health_refresh`).

Days are integers (days since 1970-01-01 in HEALTH_TIMEZONE), so that day arithmetic reads the
same on PostgreSQL and SQLite.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, case, delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Group,
    GroupMember,
    HealthDay,
    HealthGroup,
    HealthMemberDay,
    HealthRefresh,
    HealthSnapshot,
)
from app.repositories import built_once, dialect_insert, insert_of, rowcount

__all__ = [
    "DAY_COUNTS",
    "MEMBER_COUNTS",
    "SNAPSHOT_SORTS",
    "GroupRow",
    "WindowTotalsRow",
    "add_days",
    "add_member_days",
    "all_snapshots",
    "claim_refresh",
    "day_rows",
    "finish_refresh",
    "groups",
    "member_day_rows",
    "members_now",
    "note_groups",
    "prune",
    "replace_snapshots",
    "snapshot_grades",
    "snapshot_page",
    "snapshot_time",
    "window_totals",
]

DAY_COUNTS = (
    "member_messages",
    "staff_messages",
    "archive_messages",
    "joins",
    "departures",
    "removals",
    "offences_word",
    "offences_flood",
    "offences_promo",
    "noisy",
    "promo_staff",
    "promo_members",
)
MEMBER_COUNTS = ("messages", "joins", "departures", "removals", "offences")


def _add_days(dialect: str) -> Any:
    """`add_days`'s upsert."""
    table = cast(Table, HealthDay.__table__)
    statement = insert_of(dialect)(table)
    return statement.on_conflict_do_update(
        index_elements=["chat_id", "day"],
        set_={name: table.c[name] + statement.excluded[name] for name in DAY_COUNTS},
    )


def _add_member_days(dialect: str) -> Any:
    """`add_member_days`'s upsert."""
    table = cast(Table, HealthMemberDay.__table__)
    statement = insert_of(dialect)(table)
    updates: dict[str, Any] = {
        name: table.c[name] + statement.excluded[name] for name in MEMBER_COUNTS
    }
    # whether the member is staff is known from their messages; a join or departure alone
    # leaves what the day's messages said
    updates["staff"] = case(
        (statement.excluded.messages > 0, statement.excluded.staff), else_=table.c.staff
    )
    return statement.on_conflict_do_update(
        index_elements=["chat_id", "day", "user_id"], set_=updates
    )


_GROUP_DAYS = ("last_member_day", "last_archive_day", "last_aibot_day")


def _note_groups(dialect: str) -> Any:
    """`note_groups`'s upsert."""
    table = cast(Table, HealthGroup.__table__)
    statement = insert_of(dialect)(table)

    def later(name: str) -> Any:
        stored, new = table.c[name], statement.excluded[name]
        if dialect == "postgresql":
            return func.greatest(stored, new)  # NULLs are ignored
        return func.max(func.coalesce(stored, new), func.coalesce(new, stored))

    return statement.on_conflict_do_update(
        index_elements=["chat_id"], set_={name: later(name) for name in _GROUP_DAYS}
    )


async def add_days(
    session: AsyncSession, days: Mapping[tuple[str, int], Mapping[str, int]]
) -> None:
    """Add counts to groups' days: (chat id, day) → DAY_COUNTS. One upsert, in key order (the
    same lock order in every replica's transaction)."""
    if not days:
        return
    statement = built_once(session, "add_days", _add_days)
    await session.execute(
        statement,
        [{"chat_id": chat, "day": day, **days[chat, day]} for chat, day in sorted(days)],
    )


async def add_member_days(
    session: AsyncSession,
    members: Mapping[tuple[str, int, str], tuple[bool, Mapping[str, int]]],
) -> None:
    """Add counts to members' days: (chat id, day, user id) → (staff, MEMBER_COUNTS)."""
    if not members:
        return
    statement = built_once(session, "add_member_days", _add_member_days)
    await session.execute(
        statement,
        [
            {"chat_id": chat, "day": day, "user_id": user, "staff": staff, **counts}
            for (chat, day, user), (staff, counts) in sorted(members.items())
        ],
    )


async def note_groups(
    session: AsyncSession, groups: Mapping[str, tuple[int | None, int | None, int | None]]
) -> None:
    """Move groups' last member, archive and smart-bot days forward: chat id → days (None:
    nothing new)."""
    if not groups:
        return
    statement = built_once(session, "note_groups", _note_groups)
    names = _GROUP_DAYS
    await session.execute(
        statement,
        [
            dict(zip(("chat_id", *names), (chat, *groups[chat]), strict=True))
            for chat in sorted(groups)
        ],
    )


async def prune(session: AsyncSession, *, before_day: int) -> int:
    """Delete the rollups of days before `before_day`; returns the rows deleted."""
    deleted = rowcount(await session.execute(delete(HealthDay).where(HealthDay.day < before_day)))
    deleted += rowcount(
        await session.execute(delete(HealthMemberDay).where(HealthMemberDay.day < before_day))
    )
    return deleted


async def day_rows(
    session: AsyncSession, chat_id: str, *, since: int, until: int
) -> list[HealthDay]:
    """A group's days in [since, until], oldest first."""
    statement = (
        select(HealthDay)
        .where(HealthDay.chat_id == chat_id, HealthDay.day.between(since, until))
        .order_by(HealthDay.day)
    )
    return list((await session.execute(statement)).scalars())


async def member_day_rows(
    session: AsyncSession, chat_id: str, *, since: int, until: int
) -> list[HealthMemberDay]:
    statement = (
        select(HealthMemberDay)
        .where(HealthMemberDay.chat_id == chat_id, HealthMemberDay.day.between(since, until))
        .order_by(HealthMemberDay.day, HealthMemberDay.user_id)
    )
    return list((await session.execute(statement)).scalars())


@dataclass(frozen=True, slots=True)
class GroupRow:
    chat_id: str
    name: str
    first_seen_at: datetime
    last_member_day: int | None
    last_archive_day: int | None
    last_aibot_day: int | None


async def groups(session: AsyncSession, chat_id: str | None = None) -> list[GroupRow]:
    """Every group (or the one `chat_id`) with its health_groups row, by chat id; never a
    sandbox group."""
    statement = (
        select(
            Group.chat_id,
            Group.name,
            Group.first_seen_at,
            HealthGroup.last_member_day,
            HealthGroup.last_archive_day,
            HealthGroup.last_aibot_day,
        )
        .outerjoin(HealthGroup, HealthGroup.chat_id == Group.chat_id)
        .where(Group.sandbox.is_(False))
        .order_by(Group.chat_id)
    )
    if chat_id is not None:
        statement = statement.where(Group.chat_id == chat_id)
    return [GroupRow(*row) for row in (await session.execute(statement)).all()]


async def members_now(
    session: AsyncSession, *, staff: Collection[str], chat_id: str | None = None
) -> dict[str, int]:
    """Members who have not left, by chat id, the ids in `staff` not counted."""
    statement = select(GroupMember.chat_id, func.count()).where(GroupMember.left_at.is_(None))
    if staff:
        statement = statement.where(GroupMember.user_id.not_in(sorted(staff)))
    if chat_id is not None:
        statement = statement.where(GroupMember.chat_id == chat_id)
    statement = statement.group_by(GroupMember.chat_id)
    return {chat: int(count) for chat, count in (await session.execute(statement)).all()}


@dataclass(frozen=True, slots=True)
class WindowTotalsRow:
    """`app.health.metrics.WindowTotals` of one group, as the queries add it up."""

    sums: dict[str, int]
    spoke_days: int = 0
    speakers: int = 0
    speaker_messages: int = 0
    top2: int = 0
    bus_factor: int = 0
    newcomers: int = 0
    activated: int = 0
    stay_cohort: int = 0
    stayed: int = 0
    departures_after_moderation: int = 0


_WINDOW_SUMS = (
    "member_messages",
    "staff_messages",
    "departures",
    "removals",
    "offences_word",
    "offences_flood",
    "offences_promo",
    "noisy",
    "promo_staff",
    "promo_members",
)

_DAYS = text(
    # the names are this module's constants, not input
    "SELECT chat_id, "  # noqa: S608
    + ", ".join(f"SUM({name})" for name in _WINDOW_SUMS)
    + ", SUM(CASE WHEN member_messages > 0 THEN 1 ELSE 0 END)"
    " FROM health_days WHERE day BETWEEN :start AND :end GROUP BY chat_id"
)
# Members' messages in the window, ranked: speakers, the top two's messages, the bus factor.
_CONCENTRATION = text(
    """
    WITH per AS (
        SELECT chat_id, user_id, SUM(messages) AS n FROM health_member_days
        WHERE day BETWEEN :start AND :end AND messages > 0 AND NOT staff
        GROUP BY chat_id, user_id
    ), ranked AS (
        SELECT chat_id, n,
            ROW_NUMBER() OVER (PARTITION BY chat_id ORDER BY n DESC, user_id) AS rn,
            SUM(n) OVER (PARTITION BY chat_id ORDER BY n DESC, user_id
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,
            SUM(n) OVER (PARTITION BY chat_id) AS total
        FROM per
    )
    SELECT chat_id, COUNT(*), SUM(n), SUM(CASE WHEN rn <= 2 THEN n ELSE 0 END),
        MIN(CASE WHEN 2 * running >= total THEN rn END)
    FROM ranked GROUP BY chat_id
    """
)
# Members who joined in the window, and those who spoke within :activation days of a join.
_ACTIVATION = text(
    """
    SELECT j.chat_id, COUNT(DISTINCT j.user_id), COUNT(DISTINCT CASE WHEN EXISTS (
        SELECT 1 FROM health_member_days s
        WHERE s.chat_id = j.chat_id AND s.user_id = j.user_id AND s.messages > 0
            AND NOT s.staff AND s.day >= j.day AND s.day < j.day + :activation
    ) THEN j.user_id END)
    FROM health_member_days j
    WHERE j.joins > 0 AND j.day BETWEEN :start AND :end
    GROUP BY j.chat_id
    """
)
# Members whose first join in the window shifted back :stay days was not followed by a
# departure or removal within :stay days.
_STAY = text(
    """
    WITH cohort AS (
        SELECT chat_id, user_id, MIN(day) AS joined FROM health_member_days
        WHERE joins > 0 AND day BETWEEN :start - :stay AND :end - :stay
        GROUP BY chat_id, user_id
    )
    SELECT c.chat_id, COUNT(*), SUM(CASE WHEN EXISTS (
        SELECT 1 FROM health_member_days l
        WHERE l.chat_id = c.chat_id AND l.user_id = c.user_id
            AND (l.departures > 0 OR l.removals > 0)
            AND l.day >= c.joined AND l.day < c.joined + :stay
    ) THEN 0 ELSE 1 END)
    FROM cohort c GROUP BY c.chat_id
    """
)
# Voluntary departures in the window by a member with an offence in the :moderation days before.
_AFTER_MODERATION = text(
    """
    SELECT d.chat_id, SUM(d.departures) FROM health_member_days d
    WHERE d.departures > 0 AND d.day BETWEEN :start AND :end AND EXISTS (
        SELECT 1 FROM health_member_days o
        WHERE o.chat_id = d.chat_id AND o.user_id = d.user_id AND o.offences > 0
            AND o.day BETWEEN d.day - :moderation AND d.day
    )
    GROUP BY d.chat_id
    """
)


async def window_totals(
    session: AsyncSession,
    *,
    start: int,
    end: int,
    activation_days: int,
    stay_days: int,
    moderation_days: int,
) -> dict[str, WindowTotalsRow]:
    """Every group's totals over the days [start, end], five statements whatever the number
    of groups; a group with no rollup in range is absent."""
    params: dict[str, Any] = {
        "start": start,
        "end": end,
        "activation": activation_days,
        "stay": stay_days,
        "moderation": moderation_days,
    }
    found: dict[str, dict[str, Any]] = {}

    def of(chat: str) -> dict[str, Any]:
        return found.setdefault(chat, {"sums": dict.fromkeys(_WINDOW_SUMS, 0)})

    async def rows(statement: Any) -> list[Any]:
        return list((await session.execute(statement, params)).all())

    for chat, *sums, spoke in await rows(_DAYS):
        entry = of(chat)
        entry["sums"] = {
            name: int(value or 0) for name, value in zip(_WINDOW_SUMS, sums, strict=True)
        }
        entry["spoke_days"] = int(spoke or 0)
    for chat, speakers, messages, top2, bus in await rows(_CONCENTRATION):
        of(chat).update(
            speakers=int(speakers),
            speaker_messages=int(messages or 0),
            top2=int(top2 or 0),
            bus_factor=int(bus or 0),
        )
    for chat, newcomers, activated in await rows(_ACTIVATION):
        of(chat).update(newcomers=int(newcomers), activated=int(activated))
    for chat, cohort, stayed in await rows(_STAY):
        of(chat).update(stay_cohort=int(cohort), stayed=int(stayed or 0))
    for chat, departures in await rows(_AFTER_MODERATION):
        of(chat)["departures_after_moderation"] = int(departures or 0)
    return {chat: WindowTotalsRow(**entry) for chat, entry in found.items()}


# -- snapshots of the list (app.health.snapshot) ------------------------------------------------


async def claim_refresh(
    session: AsyncSession, holder: str, *, now: datetime, due_before: datetime, until: datetime
) -> bool:
    """Take the refresh of the snapshots: when no replica is computing them (free or expired)
    and the last complete refresh is older than `due_before`. Returns whether we hold it."""
    await session.execute(
        dialect_insert(session)(HealthRefresh)
        .values(id=1, holder="", expires_at=now, refreshed_at=None)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    result = await session.execute(
        update(HealthRefresh)
        .where(
            HealthRefresh.id == 1,
            HealthRefresh.expires_at <= now,
            or_(HealthRefresh.refreshed_at.is_(None), HealthRefresh.refreshed_at <= due_before),
        )
        .values(holder=holder, expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def finish_refresh(session: AsyncSession, holder: str, *, now: datetime) -> None:
    """Our refresh is complete (or abandoned when `refreshed` is not moved): free the lease."""
    await session.execute(
        update(HealthRefresh)
        .where(HealthRefresh.id == 1, HealthRefresh.holder == holder)
        .values(holder="", expires_at=now, refreshed_at=now)
        .execution_options(synchronize_session=False)
    )


async def replace_snapshots(
    session: AsyncSession, window_days: int, rows: Sequence[Mapping[str, Any]]
) -> None:
    """The snapshots of the `window_days` window become `rows` (HealthSnapshot columns)."""
    await session.execute(delete(HealthSnapshot).where(HealthSnapshot.window_days == window_days))
    if rows:
        await session.execute(
            insert(HealthSnapshot), [{"window_days": window_days, **row} for row in rows]
        )


SNAPSHOT_SORTS = (
    "grade_rank",
    "chat_id",
    "name",
    "members",
    "member_messages",
    "staff_messages",
    "days_since_member_message",
    "quiet_days",
    "speakers",
    "speaker_ratio",
    "top2_share",
    "bus_factor",
    "activation",
    "stay",
    "churn",
    "shop",
    "noise",
)


async def snapshot_time(
    session: AsyncSession, window_days: int, *, end_day: int, since: datetime
) -> datetime | None:
    """When the snapshot of the `window_days` window was computed, if it ends on `end_day`
    and was computed at `since` or later; None otherwise (a refresh replaces it whole)."""
    found = await session.execute(
        select(func.max(HealthSnapshot.computed_at)).where(
            HealthSnapshot.window_days == window_days,
            HealthSnapshot.end_day == end_day,
            HealthSnapshot.computed_at >= since,
        )
    )
    return found.scalar_one_or_none()


async def snapshot_grades(session: AsyncSession, window_days: int) -> dict[str, int]:
    """The snapshot's groups by grade."""
    statement = (
        select(HealthSnapshot.grade, func.count())
        .where(HealthSnapshot.window_days == window_days)
        .group_by(HealthSnapshot.grade)
    )
    return {grade: int(count) for grade, count in (await session.execute(statement)).all()}


async def snapshot_page(
    session: AsyncSession,
    window_days: int,
    *,
    grade: str | None,
    sort: str,
    descending: bool,
    limit: int,
    after: str | None = None,
) -> tuple[list[HealthSnapshot], bool]:
    """Up to `limit` snapshot rows of `grade` (None: all) in `sort` order (one of
    SNAPSHOT_SORTS; groups without the figure last, then chat id order), after the group
    `after` (keyset: its value and chat id; a chat id not in the snapshot as a group without
    the figure); and whether more follow."""
    column = getattr(HealthSnapshot, sort)
    statement = select(HealthSnapshot).where(HealthSnapshot.window_days == window_days)
    if grade is not None:
        statement = statement.where(HealthSnapshot.grade == grade)
    if after is not None:
        found = await session.execute(
            select(column).where(
                HealthSnapshot.window_days == window_days, HealthSnapshot.chat_id == after
            )
        )
        row = found.first()
        # a chat id not in the snapshot stands where a group without the figure would
        value = row[0] if row is not None else None
        if value is None:
            statement = statement.where(column.is_(None), HealthSnapshot.chat_id > after)
        else:
            beyond = column < value if descending else column > value
            statement = statement.where(
                or_(
                    column.is_(None),
                    beyond,
                    and_(column == value, HealthSnapshot.chat_id > after),
                )
            )
    order = column.desc() if descending else column.asc()
    statement = statement.order_by(
        case((column.is_(None), 1), else_=0), order, HealthSnapshot.chat_id
    ).limit(limit + 1)
    rows = list((await session.execute(statement)).scalars())
    return rows[:limit], len(rows) > limit


async def all_snapshots(session: AsyncSession, window_days: int) -> list[HealthSnapshot]:
    """Every group's snapshot row of the window, by chat id."""
    statement = (
        select(HealthSnapshot)
        .where(HealthSnapshot.window_days == window_days)
        .order_by(HealthSnapshot.chat_id)
    )
    return list((await session.execute(statement)).scalars())
