"""The health rollups as the service writes them, on SQLite and PostgreSQL: messages counted in
the judging transaction (members and staff, promotion, offences by detector, the archive apart
from the smart bot), joins and departures (QuitScene 0 and 1), nothing counted twice (a record
stored again, the same message through both channels), pruning after the retention; and the
health list's set-based statements against the pure definitions on synthetic histories."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.health import metrics
from app.health.rollup import RollupConfig, RollupTally
from app.ingest.archive import store_message
from app.models import HealthDay, HealthGroup, HealthMemberDay
from app.repositories import health as health_repo
from bot.archive import parse_archive_message
from moderation import Decision
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgAAAAchat1"
PHONE = "想赚钱的联系我 13800138000"  # promotion (promo.phone) from an established member
SHANGHAI = RollupConfig()


@pytest.fixture
def clock() -> support.Clock:
    return support.Clock()


@pytest.fixture
async def service(
    database_url: str, tmp_path: Path, clock: support.Clock
) -> AsyncIterator[Service]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    settings = make_settings(database_url, tmp_path, policy_path=str(policy))
    async for running in start_service(settings, support.FakeWeCom(), clock=clock):
        yield running


def record(msgid: str, content: str, at: datetime, sender: str = "zhangsan") -> dict[str, Any]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": ["lisi"],
        "roomid": CHAT,
        "msgtime": int(at.timestamp() * 1000),
        "msgtype": "text",
        "text": {"content": content},
    }


async def via_archive(service: Service, raw: dict[str, Any]) -> bool:
    async with service.runtime.sessions() as session, session.begin():
        stored = await store_message(
            session, parse_archive_message(raw), raw, now=service.runtime.now()
        )
    return stored is not None


async def rows(service: Service, model: type) -> list[Any]:
    async with service.runtime.sessions() as session:
        return list((await session.execute(select(model))).scalars())


async def test_messages_are_counted_by_members_and_staff_with_promotion_and_offences(
    service: Service, clock: support.Clock
) -> None:
    now = clock.now
    for n, (sender, text) in enumerate(
        [
            ("zhangsan", "大家早上好"),
            ("zhangsan", "今天开会吗"),
            ("lisi", "今晚一起去赌博吧"),  # an offence: a lexicon word
            ("wangwu", PHONE),  # an offence: promotion
            ("mod-alice", PHONE),  # staff promoting: exempt, still promotional
            ("mod-alice", "收到"),
        ]
    ):
        assert await via_archive(
            service, record(f"a-{n}", text, now + timedelta(seconds=n), sender)
        )
    await service.settle()

    (day,) = await rows(service, HealthDay)
    assert (day.chat_id, day.day) == (CHAT, SHANGHAI.day(now))
    assert (day.member_messages, day.staff_messages, day.archive_messages) == (4, 2, 6)
    assert (day.offences_word, day.offences_promo, day.offences_flood) == (1, 1, 0)
    assert (day.promo_members, day.promo_staff, day.noisy) == (1, 1, 2)
    members = {
        (m.user_id, m.staff): (m.messages, m.offences) for m in await rows(service, HealthMemberDay)
    }
    assert members == {
        ("zhangsan", False): (2, 0),
        ("lisi", False): (1, 1),
        ("wangwu", False): (1, 1),
        ("mod-alice", True): (2, 0),
    }
    (group,) = await rows(service, HealthGroup)
    today = SHANGHAI.day(now)
    assert (group.last_member_day, group.last_archive_day, group.last_aibot_day) == (
        today,
        today,
        None,
    )


async def test_a_record_stored_again_or_seen_through_both_channels_counts_once(
    service: Service, clock: support.Clock
) -> None:
    # the archive's records come in as its poller stores them, without its credentials
    service.runtime.processor.archive_enabled = True
    raw = record("a-1", "今晚一起去赌博吧", clock.now)
    assert await via_archive(service, raw)
    await service.settle()
    assert not await via_archive(service, raw)  # the same msgid: not stored again
    response = await service.post_aibot(support.aibot_group_text("今晚一起去赌博吧", msgid="m-1"))
    assert response.status_code == 200
    await service.settle()
    (day,) = await rows(service, HealthDay)
    assert (day.member_messages, day.offences_word, day.archive_messages) == (1, 1, 1)
    (member,) = await rows(service, HealthMemberDay)
    assert (member.messages, member.offences) == (1, 1)


async def test_the_smart_bot_alone_marks_the_group_partially_observed(service: Service) -> None:
    response = await service.post_aibot(support.aibot_group_text("大家好", msgid="m-1"))
    assert response.status_code == 200
    await service.settle()
    (group,) = await rows(service, HealthGroup)
    assert group.last_aibot_day is not None and group.last_archive_day is None
    (day,) = await rows(service, HealthDay)
    assert (day.member_messages, day.archive_messages) == (1, 0)


def chat_change(
    members: list[str], *, detail: str, quit_scene: int, at: datetime, version: str
) -> str:
    return (
        support.external_chat_change(
            members, chat_id=CHAT, detail=detail, version=version, last_version=""
        )
        .replace("<QuitScene>0</QuitScene>", f"<QuitScene>{quit_scene}</QuitScene>")
        .replace(
            "<CreateTime>1700000100</CreateTime>", f"<CreateTime>{int(at.timestamp())}</CreateTime>"
        )
    )


async def test_joins_departures_and_removals_are_counted_apart(
    service: Service, clock: support.Clock
) -> None:
    at = clock.now
    for n, (members, detail, scene) in enumerate(
        [
            (["wm-a", "wm-b", "wm-c"], "add_member", 0),
            (["wm-a"], "del_member", 0),  # left
            (["wm-b"], "del_member", 1),  # removed
            (["wm-a"], "add_member", 0),  # back again
        ]
    ):
        plaintext = chat_change(members, detail=detail, quit_scene=scene, at=at, version=f"v{n}")
        assert (await service.post_app(plaintext)).status_code == 200
        await service.settle()
    (day,) = await rows(service, HealthDay)
    assert (day.joins, day.departures, day.removals, day.member_messages) == (4, 1, 1, 0)
    members = {
        m.user_id: (m.joins, m.departures, m.removals) for m in await rows(service, HealthMemberDay)
    }
    assert members == {"wm-a": (2, 1, 0), "wm-b": (1, 0, 1), "wm-c": (1, 0, 0)}


async def test_rollups_older_than_the_retention_are_pruned(
    service: Service, clock: support.Clock
) -> None:
    today = SHANGHAI.day(clock.now)
    async with service.runtime.sessions() as session, session.begin():
        tally = RollupTally(SHANGHAI)
        for age in (0, 399, 400, 700):
            tally.message(
                chat_id=CHAT,
                sender="zhangsan",
                at=clock.now - timedelta(days=age),
                source="archive",
                decision=Decision(findings=(), actions=(), reason="no findings"),
            )
        await tally.write(session)
    await service.runtime.processor.prune_activity()
    assert sorted(today - d.day for d in await rows(service, HealthDay)) == [0, 399]
    assert sorted(today - d.day for d in await rows(service, HealthMemberDay)) == [0, 399]


def synthetic_history(
    seed: int, end: int
) -> tuple[dict[str, list[metrics.GroupDay]], dict[str, list[metrics.MemberDay]]]:
    """Random groups' member days over 90 days (messages, staff, joins, departures, removals,
    offences), and the group days they add up to."""
    rng = random.Random(seed)
    member_days: dict[str, list[metrics.MemberDay]] = {}
    for group in range(6):
        chat = f"wr-synthetic-{group}"
        people = [f"u{n}" for n in range(rng.randint(1, 12))]
        rows = member_days.setdefault(chat, [])
        for day in range(end - 89, end + 1):
            for user in people:
                if rng.random() < 0.25:
                    rows.append(
                        metrics.MemberDay(
                            day=day,
                            user_id=user,
                            staff=user == "u0" and group % 2 == 0,
                            messages=rng.choice([0, 1, 1, 2, 5, 9]),
                            joins=int(rng.random() < 0.15),
                            departures=int(rng.random() < 0.1),
                            removals=int(rng.random() < 0.05),
                            offences=int(rng.random() < 0.1),
                        )
                    )
    group_days: dict[str, list[metrics.GroupDay]] = {}
    for chat, rows in member_days.items():
        by_day: dict[int, dict[str, int]] = {}
        for row in rows:
            sums = by_day.setdefault(row.day, dict.fromkeys(metrics.DAY_SUMS, 0) | {"joins": 0})
            sums["staff_messages" if row.staff else "member_messages"] += row.messages
            sums["joins"] += row.joins
            sums["departures"] += row.departures
            sums["removals"] += row.removals
            sums["offences_word"] += row.offences
            sums["noisy"] += row.offences
            sums["promo_members"] += int(not row.staff and row.messages == 9)
        group_days[chat] = [
            metrics.GroupDay(day=day, **sums) for day, sums in sorted(by_day.items())
        ]
    return group_days, member_days


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_list_statements_add_up_as_the_definitions(service: Service, seed: int) -> None:
    end = 20_400
    group_days, member_days = synthetic_history(seed, end)
    async with service.runtime.sessions() as session, session.begin():
        await health_repo.add_days(
            session,
            {
                (chat, row.day): {name: getattr(row, name, 0) for name in health_repo.DAY_COUNTS}
                for chat, rows in group_days.items()
                for row in rows
            },
        )
        await health_repo.add_member_days(
            session,
            {
                (chat, row.day, row.user_id): (
                    row.staff,
                    {name: getattr(row, name) for name in health_repo.MEMBER_COUNTS},
                )
                for chat, rows in member_days.items()
                for row in rows
            },
        )
    for days in (7, 30):
        async with service.runtime.sessions() as session:
            found = await health_repo.window_totals(
                session,
                start=end - days + 1,
                end=end,
                activation_days=metrics.ACTIVATION_DAYS,
                stay_days=metrics.STAY_DAYS,
                moderation_days=metrics.MODERATION_DAYS,
            )
        for chat in group_days:
            expected = metrics.window_totals(
                end=end, days=days, group_days=group_days[chat], member_days=member_days[chat]
            )
            got = found.get(chat)
            assert got is not None
            assert metrics.WindowTotals(**asdict(got)) == expected, (chat, days)


async def test_a_join_after_staff_messages_leaves_the_day_staff(
    service: Service, clock: support.Clock
) -> None:
    no_findings = Decision(findings=(), actions=(), reason="no findings")
    async with service.runtime.sessions() as session, session.begin():
        tally = RollupTally(SHANGHAI)
        tally.message(
            chat_id=CHAT,
            sender="mod-alice",
            at=clock.now,
            source="archive",
            decision=no_findings,
            staff=True,
        )
        await tally.write(session)
    async with service.runtime.sessions() as session, session.begin():
        tally = RollupTally(SHANGHAI)
        tally.joined(CHAT, ["mod-alice"], clock.now)
        await tally.write(session)
    (member,) = await rows(service, HealthMemberDay)
    assert (member.staff, member.messages, member.joins) == (True, 1, 1)
