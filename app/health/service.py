"""Every group's health, or one group's with its daily series: the rollups read
(`app.repositories.health`), added up over the window and graded (`app.health.metrics`).
One implementation behind the REST API and `wecom-mod health`.

The list is computed for every group at once with five set-based statements (no query per
group: `compute_list`); one group's figures are added up in Python from its rows, the same
definitions (`metrics.window_totals`), which the tests check the list's statements against.
With thousands of groups the computation takes seconds, so replicas keep a snapshot of the
default window, refreshed every HEALTH_REFRESH_MINUTES by one of them (`app.health.snapshot`):
`health_list` answers from it while it is fresh (computed for today within two refresh
periods), and computes the list itself for another window or when there is none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from app.health.metrics import (
    ACTIVATION_DAYS,
    MODERATION_DAYS,
    STAY_DAYS,
    Coverage,
    DecidingFigure,
    Figures,
    Grade,
    GroupDay,
    Health,
    MemberDay,
    WindowTotals,
    assess,
    window_figures,
    window_totals,
)
from app.health.rollup import RollupConfig
from app.models import HealthSnapshot
from app.repositories import health as health_repo
from app.settings import Settings

__all__ = [
    "DIRECT_PREFIX",
    "GRADE_ORDER",
    "GroupHealth",
    "HealthConfig",
    "HealthDetail",
    "HealthList",
    "HealthPage",
    "compute_list",
    "coverage_of",
    "from_snapshot",
    "group_health",
    "health_list",
    "health_page",
    "snapshot_row",
]

DIRECT_PREFIX = "direct:"  # a 1:1 chat of the archive (`app.judging.events.archive_chat_id`)


@dataclass(frozen=True)
class HealthConfig:
    """What the figures are computed with (HEALTH_* settings, ARCHIVE_ENABLED, the staff)."""

    rollups: RollupConfig
    window_days: int = 30
    silent_days: int = 14
    archive_enabled: bool = False
    staff: frozenset[str] = frozenset()  # moderators and staff: not counted as members
    refresh_minutes: int = 10  # how often one replica recomputes the list's snapshot

    def today(self, now: datetime) -> int:
        return self.rollups.day(now)

    @classmethod
    def from_settings(cls, settings: Settings) -> HealthConfig:
        return cls(
            rollups=RollupConfig(
                timezone=settings.health_timezone, retention_days=settings.health_retention_days
            ),
            window_days=settings.health_window_days,
            silent_days=settings.health_silent_days,
            archive_enabled=settings.archive_enabled,
            staff=frozenset((*settings.admin_userids, *settings.staff_userids)),
            refresh_minutes=settings.health_refresh_minutes,
        )


@dataclass(frozen=True)
class GroupHealth:
    chat_id: str
    name: str
    health: Health


@dataclass(frozen=True)
class HealthDetail:
    group: GroupHealth
    days: list[GroupDay]  # every day of the window, oldest first (zeros where none was kept)
    speakers: dict[int, int]  # day → distinct member speakers


def coverage_of(row: health_repo.GroupRow, *, archive_enabled: bool) -> Coverage:
    """Full when the archive saw the group; partial when only the smart bot did; a group with no
    message seen is fully observed when the archive is on (it would have seen them)."""
    if row.last_archive_day is not None:
        return Coverage.FULL
    if row.last_aibot_day is not None:
        return Coverage.PARTIAL
    return Coverage.FULL if archive_enabled else Coverage.NONE


def _shallow(value: Any) -> dict[str, Any]:
    """A flat dataclass's fields (`dataclasses.asdict` deep-copies: 10,000 groups' worth
    cost a noticeable share of the list's time)."""
    return {name: getattr(value, name) for name in value.__dataclass_fields__}


def _totals(stored: health_repo.WindowTotalsRow) -> WindowTotals:
    return WindowTotals(**_shallow(stored))


def _first_day(config: HealthConfig, first_seen_at: datetime) -> int:
    return config.rollups.day(first_seen_at)


@dataclass(frozen=True)
class HealthList:
    items: list[GroupHealth]  # by chat id
    computed_at: datetime  # when the figures were computed (a snapshot's time, or now)


async def _fresh_snapshot(
    session: AsyncSession, config: HealthConfig, *, now: datetime, days: int
) -> datetime | None:
    """When the snapshot the list may answer from was computed; None: compute the list."""
    if days != config.window_days:
        return None
    return await health_repo.snapshot_time(
        session,
        days,
        end_day=config.today(now),
        since=now - timedelta(minutes=2 * config.refresh_minutes),
    )


async def health_list(
    session: AsyncSession,
    config: HealthConfig,
    *,
    now: datetime,
    days: int | None = None,
) -> HealthList:
    """Every group's health over the `days` (HEALTH_WINDOW_DAYS) days ending today, by chat
    id: the snapshot while it is fresh, else computed now (`compute_list`)."""
    days = days or config.window_days
    computed_at = await _fresh_snapshot(session, config, now=now, days=days)
    if computed_at is not None:
        rows = await health_repo.all_snapshots(session, days)
        return HealthList([from_snapshot(row) for row in rows], computed_at)
    return HealthList(await compute_list(session, config, now=now, days=days), now)


@dataclass(frozen=True)
class HealthPage:
    items: list[GroupHealth]
    grades: dict[str, int]  # every group's count by grade (GRADE_FILTERS), before the filter
    computed_at: datetime
    next_cursor: str | None  # the chat id to page on from; None: no more


async def health_page(
    session: AsyncSession,
    config: HealthConfig,
    *,
    now: datetime,
    days: int | None = None,
    grade: str | None = None,
    sort: str = "grade",
    descending: bool = False,
    limit: int = 100,
    after: str | None = None,
) -> HealthPage:
    """A page of the list (`select_groups` order) after the group `after` (a chat id not in
    the list stands where a group without the sort figure would): from the fresh snapshot with
    one query (keyset on the sort figure and chat id), else from the list computed now."""
    days = days or config.window_days
    computed_at = await _fresh_snapshot(session, config, now=now, days=days)
    if computed_at is not None:
        rows, more = await health_repo.snapshot_page(
            session,
            days,
            grade=grade,
            sort="grade_rank" if sort == "grade" else sort,
            descending=descending,
            limit=limit,
            after=after,
        )
        stored = await health_repo.snapshot_grades(session, days)
        return HealthPage(
            items=[from_snapshot(row) for row in rows],
            grades={name: stored.get(name, 0) for name in GRADE_FILTERS},
            computed_at=computed_at,
            next_cursor=rows[-1].chat_id if more and rows else None,
        )
    every = await compute_list(session, config, now=now, days=days)
    grades = dict.fromkeys(GRADE_FILTERS, 0)
    for item in every:
        grades[_grade_name(item.health.grade)] += 1
    chosen = select_groups(every, grade=grade, sort=sort, descending=descending)
    shown, next_cursor = page_after(
        chosen, limit=limit, after=after, missing=lambda item: _sort_value(item, sort) is None
    )
    return HealthPage(shown, grades, now, next_cursor)


def _grade_name(grade: Grade | None) -> str:
    return grade.value if grade is not None else UNGRADED


def snapshot_row(item: GroupHealth) -> dict[str, Any]:
    """`item` as a `HealthSnapshot` row (without its window and times)."""
    health = item.health
    figures = _shallow(health.figures)
    figures["coverage"] = health.figures.coverage.value
    return {
        "chat_id": item.chat_id,
        "name": item.name[:256],
        "grade": _grade_name(health.grade),
        "grade_rank": GRADE_ORDER[health.grade],
        **{name: getattr(health.figures, name) for name in _SNAPSHOT_FIGURES},
        "health": {
            "figures": figures,
            "decided_by": [_shallow(figure) for figure in health.decided_by],
        },
    }


def from_snapshot(row: HealthSnapshot) -> GroupHealth:
    stored = row.health
    figures = Figures(**{**stored["figures"], "coverage": Coverage(stored["figures"]["coverage"])})
    return GroupHealth(
        row.chat_id,
        row.name,
        Health(
            figures,
            None if row.grade == UNGRADED else Grade(row.grade),
            tuple(DecidingFigure(**figure) for figure in stored["decided_by"]),
        ),
    )


async def compute_list(
    session: AsyncSession,
    config: HealthConfig,
    *,
    now: datetime,
    days: int | None = None,
) -> list[GroupHealth]:
    """Every group's health over the `days` (HEALTH_WINDOW_DAYS) days ending today, by chat
    id (1:1 archive chats left out), computed from the rollups now."""
    days = days or config.window_days
    end = config.today(now)
    totals = await health_repo.window_totals(
        session,
        start=end - days + 1,
        end=end,
        activation_days=ACTIVATION_DAYS,
        stay_days=STAY_DAYS,
        moderation_days=MODERATION_DAYS,
    )
    members = await health_repo.members_now(session, staff=config.staff)
    empty = WindowTotals(sums=dict.fromkeys(health_repo.DAY_COUNTS, 0))
    found = []
    for row in await health_repo.groups(session):
        if row.chat_id.startswith(DIRECT_PREFIX):
            continue
        stored = totals.get(row.chat_id)
        figures = window_figures(
            _totals(stored) if stored is not None else empty,
            end=end,
            days=days,
            members=members.get(row.chat_id, 0),
            first_seen_day=_first_day(config, row.first_seen_at),
            last_member_day=row.last_member_day,
            coverage=coverage_of(row, archive_enabled=config.archive_enabled),
        )
        found.append(
            GroupHealth(row.chat_id, row.name, assess(figures, silent_days=config.silent_days))
        )
    return found


async def group_health(
    session: AsyncSession,
    config: HealthConfig,
    chat_id: str,
    *,
    now: datetime,
    days: int | None = None,
) -> HealthDetail | None:
    """One group's health and its daily series over the window; None for an unknown group."""
    days = days or config.window_days
    end = config.today(now)
    start = end - days + 1
    rows = await health_repo.groups(session, chat_id)
    if not rows:
        return None
    (row,) = rows
    day_rows = await health_repo.day_rows(session, chat_id, since=start, until=end)
    member_rows = await health_repo.member_day_rows(
        session, chat_id, since=start - STAY_DAYS - MODERATION_DAYS, until=end
    )
    group_days = [
        GroupDay(day=r.day, **{name: getattr(r, name) for name in _GROUP_DAY_FIELDS})
        for r in day_rows
    ]
    member_days = [
        MemberDay(
            day=r.day,
            user_id=r.user_id,
            messages=r.messages,
            staff=r.staff,
            joins=r.joins,
            departures=r.departures,
            removals=r.removals,
            offences=r.offences,
        )
        for r in member_rows
    ]
    members = await health_repo.members_now(session, staff=config.staff, chat_id=chat_id)
    figures = window_figures(
        window_totals(end=end, days=days, group_days=group_days, member_days=member_days),
        end=end,
        days=days,
        members=members.get(chat_id, 0),
        first_seen_day=_first_day(config, row.first_seen_at),
        last_member_day=row.last_member_day,
        coverage=coverage_of(row, archive_enabled=config.archive_enabled),
    )
    by_day = {day.day: day for day in group_days}
    speakers: dict[int, int] = {}
    for member in member_days:
        if start <= member.day <= end and member.messages and not member.staff:
            speakers[member.day] = speakers.get(member.day, 0) + 1
    return HealthDetail(
        group=GroupHealth(row.chat_id, row.name, assess(figures, silent_days=config.silent_days)),
        days=[by_day.get(day, GroupDay(day=day)) for day in range(start, end + 1)],
        speakers={day: speakers.get(day, 0) for day in range(start, end + 1)},
    )


_GROUP_DAY_FIELDS = (
    "member_messages",
    "staff_messages",
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

GRADE_ORDER = {Grade.DEAD: 0, Grade.AT_RISK: 1, Grade.WATCH: 2, Grade.HEALTHY: 3, None: 4}
# the figures a snapshot row keeps in columns, to be sorted by (`HealthSnapshot`)
_SNAPSHOT_FIGURES = tuple(
    name for name in health_repo.SNAPSHOT_SORTS if name not in ("grade_rank", "chat_id", "name")
)


# -- the list as REST and the command line show it: filter, order, pages ---------------------

UNGRADED = "ungraded"  # the grade filter's name for groups without a grade (coverage)
# The names the REST API, the console and `wecom-mod health` take (as types, for their
# parameters' validation, and as tuples); the grades are `Grade`'s values and UNGRADED.
GradeFilter = Literal["healthy", "watch", "at_risk", "dead", "ungraded"]
Sort = Literal[
    "grade",
    "chat_id",
    "name",
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
    "members",
]
GRADE_FILTERS: tuple[str, ...] = get_args(GradeFilter)
SORTS: tuple[str, ...] = get_args(Sort)


def _sort_value(item: GroupHealth, sort: str) -> float | str | None:
    if sort == "grade":
        return GRADE_ORDER[item.health.grade]
    if sort == "chat_id":
        return item.chat_id
    if sort == "name":
        return item.name
    value = getattr(item.health.figures, sort)
    return None if value is None else float(value)


def select_groups(
    items: list[GroupHealth],
    *,
    grade: str | None = None,
    sort: str = "grade",
    descending: bool = False,
) -> list[GroupHealth]:
    """`items` of the `grade` filter (a Grade value or UNGRADED; None: all), ordered by
    `sort` (one of SORTS; "grade": dead first) then chat id; groups without the figure last."""
    if grade is not None:
        wanted = None if grade == UNGRADED else Grade(grade)
        items = [item for item in items if item.health.grade is wanted]
    present = [item for item in items if _sort_value(item, sort) is not None]
    missing = [item for item in items if _sort_value(item, sort) is None]
    present.sort(key=lambda item: item.chat_id)
    present.sort(key=lambda item: _sort_value(item, sort), reverse=descending)  # type: ignore[arg-type, return-value]
    missing.sort(key=lambda item: item.chat_id)
    return present + missing


def page_after(
    items: list[GroupHealth],
    *,
    limit: int,
    after: str | None = None,
    missing: Callable[[GroupHealth], bool] = lambda _item: False,
) -> tuple[list[GroupHealth], str | None]:
    """The `limit` items after the one with chat id `after` (None: from the first), and the
    chat id to pass for the next page (None: no more). An `after` that is not in `items`
    stands where an item without the sort figure would (`missing`: they come last, in chat id
    order)."""
    start = 0
    if after:
        for index, item in enumerate(items):
            if item.chat_id == after:
                start = index + 1
                break
        else:
            start = next(
                (
                    index
                    for index, item in enumerate(items)
                    if missing(item) and item.chat_id > after
                ),
                len(items),
            )
    shown = items[start : start + limit]
    more = start + limit < len(items)
    return shown, shown[-1].chat_id if more and shown else None
