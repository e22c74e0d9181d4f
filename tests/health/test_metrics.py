"""The health figures and grade of synthetic group histories (`app.health.metrics`): each
figure's edge cases as tables, and the grade with the figures that decided it."""

from __future__ import annotations

import pytest

from app.health.metrics import (
    Coverage,
    Grade,
    GroupDay,
    MemberDay,
    assess,
    bus_factor,
    top_share,
    window_figures,
    window_totals,
)

END = 20_000  # a day number; the window is END - 29 … END


def figures(
    group_days: list[GroupDay] = (),  # type: ignore[assignment]
    member_days: list[MemberDay] = (),  # type: ignore[assignment]
    *,
    members: int = 0,
    first_seen_day: int = END - 100,
    last_member_day: int | None = None,
    coverage: Coverage = Coverage.FULL,
    days: int = 30,
):  # type: ignore[no-untyped-def]
    totals = window_totals(
        end=END, days=days, group_days=list(group_days), member_days=list(member_days)
    )
    return window_figures(
        totals,
        end=END,
        days=days,
        members=members,
        first_seen_day=first_seen_day,
        last_member_day=last_member_day,
        coverage=coverage,
    )


def chatter(day: int, counts: dict[str, int], *, staff: bool = False) -> list[MemberDay]:
    return [MemberDay(day=day, user_id=user, messages=n, staff=staff) for user, n in counts.items()]


@pytest.mark.parametrize(
    ("counts", "share", "bus"),
    [
        ([], None, 0),
        ([0, 0], None, 0),
        ([10], 1.0, 1),
        ([5, 5], 1.0, 1),  # two halves: either one is half
        ([4, 3, 3], 0.7, 2),
        ([1] * 10, 0.2, 5),
        ([50, 30, 10, 10], 0.8, 1),
        ([49, 30, 11, 10], 0.79, 2),
    ],
)
def test_top_two_share_and_bus_factor(counts: list[int], share: float | None, bus: int) -> None:
    assert top_share(counts) == (pytest.approx(share) if share is not None else None)
    assert bus_factor(counts) == bus


def test_empty_group_known_long_enough_is_dead_by_the_days_known() -> None:
    found = figures(first_seen_day=END - 40)
    assert found.member_messages == 0 and found.speakers == 0
    assert found.days_since_member_message is None
    assert found.quiet_days == 30 and found.speaker_ratio is None and found.top2_share is None
    health = assess(found, silent_days=14)
    assert health.grade is Grade.DEAD
    assert [(f.name, f.value) for f in health.decided_by] == [("days_known", 41)]


def test_a_new_empty_group_is_not_dead_yet() -> None:
    found = figures(first_seen_day=END - 3)
    assert found.quiet_days == 4  # only the days since first seen
    assert assess(found, silent_days=14).grade is Grade.HEALTHY


def test_staff_only_group_is_dead_though_staff_post_every_day() -> None:
    group_days = [GroupDay(day=END - n, staff_messages=5, promo_staff=5) for n in range(30)]
    member_days = [m for n in range(30) for m in chatter(END - n, {"mod": 5}, staff=True)]
    found = figures(group_days, member_days, members=30, last_member_day=END - 60)
    assert found.staff_messages == 150 and found.member_messages == 0
    assert found.speakers == 0 and found.speaker_ratio == 0.0
    assert found.shop_staff == 1.0 and found.shop_members is None
    health = assess(found, silent_days=14)
    assert health.grade is Grade.DEAD
    assert [(f.name, f.value) for f in health.decided_by] == [("days_since_member_message", 60)]


def test_member_who_left_and_rejoined_counts_once_as_newcomer_and_did_not_stay() -> None:
    member_days = [
        MemberDay(day=END - 50, user_id="wm-a", joins=1),  # the stay cohort: END-59 … END-30
        MemberDay(day=END - 45, user_id="wm-a", departures=1),
        MemberDay(day=END - 10, user_id="wm-a", joins=1),  # back, in the window
        MemberDay(day=END - 5, user_id="wm-a", departures=1),
        MemberDay(day=END - 4, user_id="wm-a", joins=1),  # and back again
        MemberDay(day=END - 2, user_id="wm-a", messages=1),  # spoke within 7 days of a join
        MemberDay(day=END - 40, user_id="wm-b", joins=1),  # stayed
    ]
    group_days = [
        GroupDay(day=END - 10, joins=1),
        GroupDay(day=END - 5, departures=1),
        GroupDay(day=END - 4, joins=1),
        GroupDay(day=END - 2, member_messages=1),
    ]
    found = figures(group_days, member_days, members=10, last_member_day=END - 2)
    assert (found.newcomers, found.activated, found.activation) == (1, 1, 1.0)
    assert (found.stay_cohort, found.stayed, found.stay) == (2, 1, 0.5)
    assert found.departures == 1 and found.departures_after_moderation == 0
    assert found.churn == pytest.approx(1 / 11)


@pytest.mark.parametrize(
    ("spoke_on", "activated"),
    [
        (None, 0),  # never spoke
        (0, 1),  # the day of the join
        (6, 1),  # the seventh day
        (7, 0),  # too late
        (-1, 0),  # before joining (an earlier membership) does not count
    ],
)
def test_newcomer_activation_within_seven_days(spoke_on: int | None, activated: int) -> None:
    joined = END - 20
    member_days = [MemberDay(day=joined, user_id="wm-new", joins=1)]
    if spoke_on is not None:
        member_days.append(MemberDay(day=joined + spoke_on, user_id="wm-new", messages=2))
    found = figures([], member_days, members=5)
    assert (found.newcomers, found.activated) == (1, activated)


def test_a_newcomer_speaking_as_staff_is_not_activated() -> None:
    member_days = [
        MemberDay(day=END - 3, user_id="mod", joins=1),
        MemberDay(day=END - 2, user_id="mod", messages=3, staff=True),
    ]
    assert figures([], member_days).activated == 0


@pytest.mark.parametrize(
    ("offence_before", "after_moderation"),
    [(None, 0), (0, 1), (7, 1), (8, 0), (-1, 0)],
)
def test_departures_after_moderation_are_kept_apart(
    offence_before: int | None, after_moderation: int
) -> None:
    left = END - 3
    member_days = [MemberDay(day=left, user_id="wm-x", departures=1)]
    if offence_before is not None:
        member_days.append(
            MemberDay(day=left - offence_before, user_id="wm-x", messages=1, offences=1)
        )
    found = figures([GroupDay(day=left, departures=1)], member_days, members=9)
    assert found.departures == 1
    assert found.departures_after_moderation == after_moderation
    assert found.churn == pytest.approx(0.1 if not after_moderation else 0.0)


def test_removals_are_not_churn() -> None:
    found = figures(
        [GroupDay(day=END, removals=3)],
        [MemberDay(day=END, user_id=f"u{n}", removals=1) for n in range(3)],
        members=10,
    )
    assert found.removals == 3 and found.departures == 0 and found.churn == 0.0


def test_partial_coverage_has_no_message_figures_and_no_grade() -> None:
    group_days = [GroupDay(day=END, member_messages=3, joins=2)]
    member_days = [
        *chatter(END, {"zhangsan": 3}),
        MemberDay(day=END, user_id="wm-1", joins=1),
        MemberDay(day=END, user_id="wm-2", joins=1),
    ]
    found = figures(
        group_days, member_days, members=50, last_member_day=END, coverage=Coverage.PARTIAL
    )
    assert found.member_messages is None and found.speakers is None
    assert found.speaker_ratio is None and found.top2_share is None and found.bus_factor is None
    assert found.quiet_days is None and found.days_since_member_message is None
    assert found.activated is None and found.activation is None
    assert found.shop is None and found.noise is None
    assert found.newcomers == 2  # joins are events: seen whatever the messages
    health = assess(found, silent_days=14)
    assert health.grade is None and health.decided_by == ()


def test_unobserved_group_gets_no_grade() -> None:
    assert assess(figures(coverage=Coverage.NONE), silent_days=14).grade is None


def active_group(
    counts: dict[str, int], **day_fields: int
) -> tuple[list[GroupDay], list[MemberDay]]:
    """A group whose members said `counts` on every one of the last 30 days."""
    per_day = sum(counts.values())
    group_days = [GroupDay(day=END - n, member_messages=per_day, **day_fields) for n in range(30)]
    member_days = [m for n in range(30) for m in chatter(END - n, counts)]
    return group_days, member_days


@pytest.mark.parametrize(
    ("counts", "members", "day_fields", "grade", "decided"),
    [
        (
            {f"u{n}": 1 for n in range(20)},
            25,
            {},
            Grade.HEALTHY,
            ["member_messages", "speaker_ratio"],
        ),
        ({"star": 8, "u1": 1, "u2": 1}, 10, {}, Grade.AT_RISK, ["top2_share"]),
        ({"a": 4, "b": 3, "c": 1, "d": 1, "e": 1}, 10, {}, Grade.WATCH, ["top2_share"]),
        ({f"u{n}": 1 for n in range(10)}, 400, {}, Grade.AT_RISK, ["speaker_ratio"]),
        ({f"u{n}": 2 for n in range(10)}, 12, {"promo_members": 7}, Grade.AT_RISK, ["shop"]),
        ({f"u{n}": 2 for n in range(10)}, 12, {"noisy": 3}, Grade.WATCH, ["noise"]),
        (
            {"star": 8, "u1": 1, "u2": 1},
            10,
            {"promo_members": 5},
            Grade.AT_RISK,
            ["top2_share", "shop"],
        ),
    ],
)
def test_grades_and_what_decided_them(
    counts: dict[str, int],
    members: int,
    day_fields: dict[str, int],
    grade: Grade,
    decided: list[str],
) -> None:
    group_days, member_days = active_group(counts, **day_fields)
    found = figures(group_days, member_days, members=members, last_member_day=END)
    health = assess(found, silent_days=14)
    assert health.grade is grade
    assert sorted(f.name for f in health.decided_by) == sorted(decided)


def test_low_volume_does_not_grade_on_shares() -> None:
    """Three messages all from one member: too few for concentration to count."""
    group_days = [GroupDay(day=END, member_messages=3)]
    found = figures(group_days, chatter(END, {"solo": 3}), members=3, last_member_day=END)
    assert found.top2_share == 1.0 and found.bus_factor == 1
    assert assess(found, silent_days=14).grade is Grade.HEALTHY


def test_silent_for_the_silent_days_is_dead_even_with_joins() -> None:
    group_days = [GroupDay(day=END - 1, joins=4)]
    member_days = [MemberDay(day=END - 1, user_id=f"wm{n}", joins=1) for n in range(4)]
    found = figures(group_days, member_days, members=40, last_member_day=END - 14)
    health = assess(found, silent_days=14)
    assert health.grade is Grade.DEAD
    assert health.decided_by[0].value == 14
    assert assess(found, silent_days=15).grade is not Grade.DEAD


def test_the_grade_filter_names_every_grade_and_ungraded() -> None:
    """The REST, console and CLI grade filter (a literal type for their validation) names
    exactly the grades the metrics give, and the groups without one."""
    from app.health.metrics import Grade
    from app.health.service import GRADE_FILTERS, UNGRADED

    assert sorted(GRADE_FILTERS) == sorted([*(grade.value for grade in Grade), UNGRADED])
