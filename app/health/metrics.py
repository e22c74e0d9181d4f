"""A group's health over a window of days, from its rollups: pure functions, no I/O, no clock
(the window's last day is given).

`window_totals` adds up a group's daily rollups (`GroupDay`, `MemberDay`) over the window; the
health list reads the same totals for every group at once with a few set-based queries
(`app.repositories.health.window_totals`, checked against this function by the tests).
`window_figures` turns totals into the figures (`Figures`).
`assess` grades the figures (`Health`): healthy, watch, at risk or dead, with the one or two
figures that decided it. The definitions are in docs/health.md.

Coverage: a group seen through the chat archive is fully observed. A group seen only through
the smart bot (its @-mentions) is partially observed: the figures that need every message are
None and it gets no grade. A group with no message at all is fully observed when the archive is
on (a dead group says nothing), otherwise unobserved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "ACTIVATION_DAYS",
    "DAY_SUMS",
    "MODERATION_DAYS",
    "STAY_DAYS",
    "Coverage",
    "DecidingFigure",
    "Figures",
    "Grade",
    "GroupDay",
    "Health",
    "MemberDay",
    "WindowTotals",
    "assess",
    "bus_factor",
    "top_share",
    "window_figures",
    "window_totals",
]

ACTIVATION_DAYS = 7  # a newcomer is activated by a message within this many days of joining
STAY_DAYS = 30  # a newcomer stayed when they had not left this many days after joining
MODERATION_DAYS = 7  # a departure within this many days of an offence is after moderation

# Grading thresholds: (figure, watch at, at risk at, least volume for the figure to count).
# A share figure counts from `volume` messages, members or newcomers (see `_rules`).
MIN_MESSAGES = 20  # member messages in the window before concentration and shares count
MIN_MEMBERS = 10  # members before the speaker ratio and churn count
MIN_NEWCOMERS = 5  # newcomers (or the stay cohort) before activation and stay count


class Coverage(StrEnum):
    FULL = "full"  # every message is seen (the chat archive)
    PARTIAL = "partial"  # only the smart bot's @-mentions are seen
    NONE = "none"  # no message seen and the archive is off


class Grade(StrEnum):
    HEALTHY = "healthy"
    WATCH = "watch"
    AT_RISK = "at_risk"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class GroupDay:
    """A group's rollup of one day (`app.models.HealthDay`), day as days since 1970-01-01."""

    day: int
    member_messages: int = 0
    staff_messages: int = 0
    joins: int = 0
    departures: int = 0
    removals: int = 0
    offences_word: int = 0
    offences_flood: int = 0
    offences_promo: int = 0
    noisy: int = 0
    promo_staff: int = 0
    promo_members: int = 0


@dataclass(frozen=True, slots=True)
class MemberDay:
    """One member's rollup of one day in the group (`app.models.HealthMemberDay`)."""

    day: int
    user_id: str
    messages: int = 0
    staff: bool = False
    joins: int = 0
    departures: int = 0
    removals: int = 0
    offences: int = 0


@dataclass(frozen=True, slots=True)
class Figures:
    """A group's figures over a window of `days` days ending on day `end` (inclusive). None:
    not defined (nothing to divide by) or not observable (partial coverage)."""

    end: int
    days: int
    coverage: Coverage
    members: int  # known members now, staff not counted
    days_known: int  # days since the service first saw the group, the first and `end` counted
    member_messages: int | None
    staff_messages: int | None
    days_since_member_message: int | None  # None: no member message was ever seen
    quiet_days: int | None  # days of the window (since first seen) without a member message
    speakers: int | None  # distinct members (not staff) who spoke in the window
    speaker_ratio: float | None  # speakers ÷ members (at most 1)
    top2_share: float | None  # share of member messages by the two members who sent most
    bus_factor: int | None  # fewest members who sent half of the member messages
    newcomers: int  # members who joined in the window
    activated: int | None  # of them, those who spoke within ACTIVATION_DAYS of joining
    stay_cohort: int  # members who joined in the window shifted back STAY_DAYS
    stayed: int  # of them, those who had not left STAY_DAYS after joining
    departures: int  # left by themselves (QuitScene 0) in the window
    departures_after_moderation: int  # of them, within MODERATION_DAYS of an offence
    removals: int  # removed (QuitScene 1) in the window
    offences_word: int | None
    offences_flood: int | None
    offences_promo: int | None
    noisy: int | None  # messages that were an offence or a flood
    promo_staff: int | None
    promo_members: int | None

    @property
    def activation(self) -> float | None:
        return _ratio(self.activated, self.newcomers)

    @property
    def stay(self) -> float | None:
        return _ratio(self.stayed, self.stay_cohort)

    @property
    def churn(self) -> float | None:
        """Voluntary departures not after moderation ÷ (members + departures)."""
        return _ratio(
            self.departures - self.departures_after_moderation, self.members + self.departures
        )

    @property
    def shop_staff(self) -> float | None:
        return _ratio(self.promo_staff, self.staff_messages)

    @property
    def shop_members(self) -> float | None:
        return _ratio(self.promo_members, self.member_messages)

    @property
    def shop(self) -> float | None:
        """Promotional messages ÷ all messages (staff and members)."""
        if self.promo_staff is None or self.promo_members is None:
            return None
        return _ratio(
            self.promo_staff + self.promo_members,
            (self.member_messages or 0) + (self.staff_messages or 0),
        )

    @property
    def noise(self) -> float | None:
        if self.noisy is None:
            return None
        return _ratio(self.noisy, (self.member_messages or 0) + (self.staff_messages or 0))


@dataclass(frozen=True, slots=True)
class DecidingFigure:
    """A figure that set the grade: its name (a `Figures` field or property), its value and
    the threshold it crossed (None for a healthy group's figures)."""

    name: str
    value: float
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Health:
    figures: Figures
    grade: Grade | None  # None: not graded (coverage is not full)
    decided_by: tuple[DecidingFigure, ...] = field(default=())


def _ratio(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


def top_share(counts: Iterable[int], top: int = 2) -> float | None:
    """Share of the total sent by the `top` largest counts; None when the total is 0."""
    ordered = sorted((count for count in counts if count > 0), reverse=True)
    total = sum(ordered)
    return sum(ordered[:top]) / total if total else None


def bus_factor(counts: Iterable[int]) -> int:
    """The fewest members whose messages make at least half of the total (0: no message)."""
    ordered = sorted((count for count in counts if count > 0), reverse=True)
    total = sum(ordered)
    running = 0
    for taken, count in enumerate(ordered, start=1):
        running += count
        if 2 * running >= total:
            return taken
    return 0


DAY_SUMS = (
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


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """What a window's figures are made of, as `window_totals` adds it up from the rollups
    (and `app.repositories.health.window_totals` with queries, for every group at once)."""

    sums: dict[str, int]  # DAY_SUMS over the window's days
    spoke_days: int = 0  # days of the window with a member message
    speakers: int = 0  # distinct members (not staff) with a message in the window
    speaker_messages: int = 0  # their messages (the member days' own sum)
    top2: int = 0  # messages of the two of them who sent most
    bus_factor: int = 0
    newcomers: int = 0
    activated: int = 0
    stay_cohort: int = 0
    stayed: int = 0
    departures_after_moderation: int = 0


def window_totals(
    *, end: int, days: int, group_days: Sequence[GroupDay], member_days: Sequence[MemberDay]
) -> WindowTotals:
    """The totals of the `days` days ending on `end`. `member_days` must reach back
    `days + STAY_DAYS` days before `end` (the stay cohort); rows outside are ignored."""
    start = end - days + 1
    in_window = [row for row in group_days if start <= row.day <= end]
    per_member: dict[str, int] = {}
    for row in member_days:
        if start <= row.day <= end and not row.staff and row.messages > 0:
            per_member[row.user_id] = per_member.get(row.user_id, 0) + row.messages
    ordered = sorted(per_member.values(), reverse=True)
    newcomers, activated = _activation(member_days, start, end)
    cohort, stayed = _stay(member_days, start - STAY_DAYS, end - STAY_DAYS)
    return WindowTotals(
        sums={name: sum(getattr(row, name) for row in in_window) for name in DAY_SUMS},
        spoke_days=len({row.day for row in in_window if row.member_messages > 0}),
        speakers=len(ordered),
        speaker_messages=sum(ordered),
        top2=sum(ordered[:2]),
        bus_factor=bus_factor(ordered),
        newcomers=newcomers,
        activated=activated,
        stay_cohort=cohort,
        stayed=stayed,
        departures_after_moderation=_after_moderation(member_days, start, end),
    )


def window_figures(
    totals: WindowTotals,
    *,
    end: int,
    days: int,
    members: int,
    first_seen_day: int,
    last_member_day: int | None,
    coverage: Coverage,
) -> Figures:
    """The figures of the window ending on `end` from its totals. `members`: the members
    known now, staff not counted; `last_member_day`: the day of the group's last member
    message (None: none yet); `coverage`: how the group is observed."""
    days_known = max(0, end - first_seen_day + 1)
    full = coverage is not Coverage.PARTIAL
    sums = totals.sums

    def total(name: str) -> int | None:
        return sums[name] if full else None

    return Figures(
        end=end,
        days=days,
        coverage=coverage,
        members=members,
        days_known=days_known,
        member_messages=total("member_messages"),
        staff_messages=total("staff_messages"),
        days_since_member_message=(
            None if last_member_day is None or not full else max(0, end - last_member_day)
        ),
        quiet_days=max(0, min(days, days_known) - totals.spoke_days) if full else None,
        speakers=totals.speakers if full else None,
        speaker_ratio=min(1.0, totals.speakers / members) if full and members else None,
        top2_share=_ratio(totals.top2, totals.speaker_messages) if full else None,
        bus_factor=totals.bus_factor if full else None,
        newcomers=totals.newcomers,
        activated=totals.activated if full else None,
        stay_cohort=totals.stay_cohort,
        stayed=totals.stayed,
        departures=sums["departures"],
        departures_after_moderation=totals.departures_after_moderation,
        removals=sums["removals"],
        offences_word=total("offences_word"),
        offences_flood=total("offences_flood"),
        offences_promo=total("offences_promo"),
        noisy=total("noisy"),
        promo_staff=total("promo_staff"),
        promo_members=total("promo_members"),
    )


def _activation(member_days: Sequence[MemberDay], start: int, end: int) -> tuple[int, int]:
    """Members who joined in [start, end], and of them those who spoke (not as staff) on the
    day of a join in the window or within the ACTIVATION_DAYS - 1 days after it."""
    joined: dict[str, list[int]] = {}
    for row in member_days:
        if row.joins and start <= row.day <= end:
            joined.setdefault(row.user_id, []).append(row.day)
    spoke: dict[str, list[int]] = {}
    for row in member_days:
        if row.messages and not row.staff and row.user_id in joined:
            spoke.setdefault(row.user_id, []).append(row.day)
    activated = sum(
        1
        for user, days in joined.items()
        if any(j <= s < j + ACTIVATION_DAYS for j in days for s in spoke.get(user, ()))
    )
    return len(joined), activated


def _stay(member_days: Sequence[MemberDay], start: int, end: int) -> tuple[int, int]:
    """Members whose first join in [start, end] was followed by no departure or removal
    within STAY_DAYS (the join's day and the STAY_DAYS - 1 after it)."""
    first_join: dict[str, int] = {}
    for row in member_days:
        if row.joins and start <= row.day <= end:
            first_join[row.user_id] = min(row.day, first_join.get(row.user_id, row.day))
    left = {
        row.user_id
        for row in member_days
        if (row.departures or row.removals)
        and row.user_id in first_join
        and first_join[row.user_id] <= row.day < first_join[row.user_id] + STAY_DAYS
    }
    return len(first_join), len(first_join) - len(left)


def _after_moderation(member_days: Sequence[MemberDay], start: int, end: int) -> int:
    """Departures (QuitScene 0) in [start, end] by a member with an offence on the day or in
    the MODERATION_DAYS before it."""
    offences: dict[str, list[int]] = {}
    for row in member_days:
        if row.offences:
            offences.setdefault(row.user_id, []).append(row.day)
    return sum(
        row.departures
        for row in member_days
        if row.departures
        and start <= row.day <= end
        and any(row.day - MODERATION_DAYS <= o <= row.day for o in offences.get(row.user_id, ()))
    )


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str  # the figure (a Figures field or property)
    watch: float
    at_risk: float
    higher_is_worse: bool
    volume: str  # the figure that must reach `least` for the rule to apply
    least: int


_RULES = (
    _Rule("top2_share", 0.6, 0.8, True, "member_messages", MIN_MESSAGES),
    _Rule("speaker_ratio", 0.1, 0.03, False, "members", MIN_MEMBERS),
    _Rule("activation", 0.3, 0.1, False, "newcomers", MIN_NEWCOMERS),
    _Rule("stay", 0.7, 0.5, False, "stay_cohort", MIN_NEWCOMERS),
    _Rule("churn", 0.1, 0.2, True, "members", MIN_MEMBERS),
    _Rule("shop", 0.15, 0.3, True, "member_messages", MIN_MESSAGES),
    _Rule("noise", 0.1, 0.2, True, "member_messages", MIN_MESSAGES),
)


def assess(figures: Figures, *, silent_days: int) -> Health:
    """The grade of `figures` (see docs/health.md):

    - no grade unless the coverage is full;
    - dead: no member message for `silent_days` days or more (or none since first seen, when
      the group has been known that long);
    - at risk / watch: a figure past its threshold (`_RULES`), its volume high enough;
    - healthy otherwise.

    `decided_by` holds the one or two figures furthest past their thresholds (for a healthy
    group: its member messages and speaker ratio)."""
    if figures.coverage is not Coverage.FULL:
        return Health(figures, None)
    since = figures.days_since_member_message
    if since is None and figures.days_known >= silent_days:
        return Health(
            figures, Grade.DEAD, (DecidingFigure("days_known", figures.days_known, silent_days),)
        )
    if since is not None and since >= silent_days:
        return Health(
            figures, Grade.DEAD, (DecidingFigure("days_since_member_message", since, silent_days),)
        )
    hits: dict[Grade, list[tuple[float, DecidingFigure]]] = {Grade.AT_RISK: [], Grade.WATCH: []}
    for rule in _RULES:
        value = getattr(figures, rule.name)
        volume = getattr(figures, rule.volume)
        if value is None or volume is None or volume < rule.least:
            continue
        for grade, threshold in ((Grade.AT_RISK, rule.at_risk), (Grade.WATCH, rule.watch)):
            past = value >= threshold if rule.higher_is_worse else value <= threshold
            if past:
                # how far past, comparable across figures: the ratio to the threshold
                if rule.higher_is_worse:
                    how_far = value / threshold
                else:
                    how_far = threshold / value if value else float("inf")
                hits[grade].append((how_far, DecidingFigure(rule.name, value, threshold)))
                break
    for grade in (Grade.AT_RISK, Grade.WATCH):
        if hits[grade]:
            worst = sorted(hits[grade], key=lambda hit: -hit[0])[:2]
            return Health(figures, grade, tuple(figure for _far, figure in worst))
    healthy = [DecidingFigure("member_messages", figures.member_messages or 0)]
    if figures.speaker_ratio is not None:
        healthy.append(DecidingFigure("speaker_ratio", figures.speaker_ratio))
    return Health(figures, Grade.HEALTHY, tuple(healthy))
