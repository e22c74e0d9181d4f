"""The weekly health digest: its Chinese text (sections, figures, the app message's byte limit)
and its sending: not before the configured weekday and hour, once a week with two replicas,
again the next week, never when off; carried out by the outbox as an app message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.health.digest import DigestConfig, DigestSender, digest_key, digest_text
from app.health.metrics import Coverage, DecidingFigure, Figures, Grade, Health
from app.health.rollup import RollupConfig
from app.health.service import GroupHealth, HealthConfig
from app.ingest.archive import store_message
from app.models import OutboxAction
from bot.archive import parse_archive_message
from tests import support
from tests.conftest import Service, make_settings, start_service


def item(
    chat: str, grade: Grade | None, *decided: tuple[str, float], **figures: Any
) -> GroupHealth:
    values: dict[str, Any] = {
        name: None
        for name in Figures.__dataclass_fields__
        if name not in ("end", "days", "coverage", "members", "days_known")
    }
    values.update(newcomers=0, stay_cohort=0, stayed=0, departures=0)
    values.update(departures_after_moderation=0, removals=0)
    values.update(figures)
    return GroupHealth(
        chat,
        f"群{chat}",
        Health(
            Figures(
                end=20_000, days=30, coverage=Coverage.FULL, members=10, days_known=90, **values
            ),
            grade,
            tuple(DecidingFigure(name, value, 0.5) for name, value in decided),
        ),
    )


def test_the_digest_names_each_kind_of_trouble_with_its_figures() -> None:
    items = [
        item("d1", Grade.DEAD, ("days_since_member_message", 40), days_since_member_message=40),
        item("s1", Grade.AT_RISK, ("top2_share", 0.9), top2_share=0.9, bus_factor=1),
        item(
            "p1",
            Grade.WATCH,
            ("shop", 0.2),
            promo_staff=5,
            promo_members=15,
            staff_messages=10,
            member_messages=90,
        ),
        item("n1", Grade.WATCH, ("activation", 0.2), newcomers=10, activated=2),
        item("h1", Grade.HEALTHY),
        item("u1", None),
    ]
    text = digest_text(items, days=30, link="https://mod.example.com/console/")
    assert "社群健康周报" in text and "共 6 个群" in text
    assert "健康 1，关注 2，危险 1，死群 1，无法评级 1" in text
    assert "建议关闭或合并" in text and "群d1（d1）：40 天无成员发言" in text
    assert "依赖一两个成员" in text and "前两名发了 90% 的消息，1 人发了一半" in text
    assert "正在变成卖场" in text and "推广占 20%（员工 50%，成员 17%）" in text
    assert "新人不开口" in text and "10 位新人，7 天内发言 20%" in text
    assert text.endswith("[查看详情](https://mod.example.com/console/)")


def test_a_long_digest_fits_one_app_message() -> None:
    items = [
        item(
            f"wr{n:04d}",
            Grade.DEAD,
            ("days_since_member_message", 30),
            days_since_member_message=30,
        )
        for n in range(500)
    ]
    text = digest_text(items, days=30)
    assert len(text.encode()) <= 2048
    assert "另有 495 个" in text


@pytest.mark.parametrize(
    ("local", "due"),
    [
        (datetime(2026, 12, 7, 8, 59), False),  # Monday before 09:00
        (datetime(2026, 12, 7, 9, 0), True),
        (datetime(2026, 12, 13, 23, 0), True),  # later that week
        (datetime(2026, 12, 6, 23, 0), True),  # Sunday: the week before, long due
    ],
)
def test_due_from_the_weekday_and_hour_in_the_time_zone(local: datetime, due: bool) -> None:
    health = HealthConfig(rollups=RollupConfig())
    sender = DigestSender(None, health, DigestConfig(enabled=True), clock=datetime.now)  # type: ignore[arg-type]
    at = local.replace(tzinfo=health.rollups.zone)
    assert (sender.due(at.astimezone(UTC)) is not None) is due
    if due:
        assert sender.due(at.astimezone(UTC)) == digest_key(at)


@pytest.fixture
def clock() -> support.Clock:
    clock = support.Clock()
    clock.now = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)  # Monday 09:30 in Shanghai
    return clock


@pytest.fixture
async def service(
    database_url: str, tmp_path: Path, clock: support.Clock
) -> AsyncIterator[Service]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    settings = make_settings(database_url, tmp_path, policy_path=str(policy))
    async for running in start_service(settings, support.FakeWeCom(), clock=clock):
        yield running


async def test_sent_once_a_week_with_two_replicas(service: Service, clock: support.Clock) -> None:
    raw = {
        "msgid": "a-1",
        "action": "send",
        "from": "wm-1",
        "tolist": ["x"],
        "roomid": "wr-quiet",
        "msgtime": int((clock.now - timedelta(days=20)).timestamp() * 1000),
        "msgtype": "text",
        "text": {"content": "好的"},
    }
    async with service.runtime.sessions() as session, session.begin():
        await store_message(session, parse_archive_message(raw), raw, now=clock.now)
    await service.settle()
    health = HealthConfig.from_settings(service.runtime.settings)

    def replica(enabled: bool = True) -> DigestSender:
        config = DigestConfig(
            enabled=enabled,
            weekday=1,
            hour=9,
            recipients=support.MODERATORS,
            app_messages_enabled=True,
        )
        return DigestSender(service.runtime.sessions, health, config, clock=clock)

    assert await replica(enabled=False).send_if_due() is False
    stored = await asyncio.gather(replica().send_if_due(), replica().send_if_due())
    assert sorted(stored) == [False, True]
    assert await replica().send_if_due() is False
    await service.settle()
    sent = service.wecom.bodies("/cgi-bin/message/send")
    assert len(sent) == 1
    assert sent[0]["touser"] == "mod-alice|mod-bob"
    assert "死群 1" in sent[0]["markdown"]["content"]
    assert "wr-quiet" in sent[0]["markdown"]["content"]

    clock.advance(7 * 86400)
    assert await replica().send_if_due() is True
    async with service.runtime.sessions() as session:
        keys = sorted((await session.execute(select(OutboxAction.idempotency_key))).scalars().all())
    assert keys == ["health-digest:2026-W50", "health-digest:2026-W51"]
