"""The weekly community-health digest: an app message in Chinese to the admins
(WECOM_ADMIN_USERIDS) naming the groups to close or merge, those depending on one or two
members, those turning into shops and those whose newcomers do not speak, each with its
figures (`digest_text`); sent once a week at HEALTH_DIGEST_WEEKDAY and HEALTH_DIGEST_HOUR
(HEALTH_TIMEZONE) when HEALTH_DIGEST_ENABLED (`DigestSender`).

Once a week however many replicas run: the digest is an outbox action whose idempotency key
names the ISO week (`health-digest:2026-W49`), stored with ON CONFLICT DO NOTHING, so the
first replica past the due time stores it and the others find it there; the outbox dispatcher
sends it like an alert. A service that was down at the due time sends it when it comes back,
in the same week. Without app messages or admins it is stored as skipped, saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.groups.alerts import alert_problem
from app.health.metrics import Grade
from app.health.service import GroupHealth, HealthConfig, health_list
from app.repositories import outbox as outbox_repo
from bot.client import APP_MESSAGE_MAX_BYTES, truncate_utf8

__all__ = ["DigestConfig", "DigestSender", "digest_key", "digest_text"]

log = logging.getLogger(__name__)

SHOWN = 5  # groups named per section; the rest are counted


@dataclass(frozen=True)
class DigestConfig:
    """HEALTH_DIGEST_* and who gets it."""

    enabled: bool = False
    weekday: int = 1  # 1 Monday … 7 Sunday
    hour: int = 9  # 0-23, in HEALTH_TIMEZONE
    link: str = ""  # where the console is; "" none
    recipients: tuple[str, ...] = ()
    app_messages_enabled: bool = False


def digest_key(now_local: datetime) -> str:
    year, week, _day = now_local.isocalendar()
    return f"health-digest:{year}-W{week:02d}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _name(item: GroupHealth) -> str:
    return f"{item.name or '未命名群'}（{item.chat_id}）"


def digest_text(items: Sequence[GroupHealth], *, days: int, link: str = "") -> str:
    """The digest's markdown, at most an app message's 2,048 bytes."""
    graded = [item for item in items if item.health.grade is not None]
    counts = {grade: sum(1 for i in graded if i.health.grade is grade) for grade in Grade}
    lines = [
        f"**社群健康周报**（最近 {days} 天，共 {len(items)} 个群）",
        f"健康 {counts[Grade.HEALTHY]}，关注 {counts[Grade.WATCH]}，"
        f"危险 {counts[Grade.AT_RISK]}，死群 {counts[Grade.DEAD]}，"
        f"无法评级 {len(items) - len(graded)}",
    ]

    def section(
        title: str, chosen: list[GroupHealth], figure: Callable[[GroupHealth], str]
    ) -> None:
        if not chosen:
            return
        lines.append(f"\n**{title}**（{len(chosen)} 个）")
        lines.extend(f"- {_name(item)}：{figure(item)}" for item in chosen[:SHOWN])
        if len(chosen) > SHOWN:
            lines.append(f"- 另有 {len(chosen) - SHOWN} 个")

    dead = sorted(
        (i for i in graded if i.health.grade is Grade.DEAD),
        key=lambda i: -(i.health.figures.days_since_member_message or i.health.figures.days_known),
    )
    section(
        "建议关闭或合并",
        dead,
        lambda i: (
            f"{i.health.figures.days_since_member_message} 天无成员发言"
            if i.health.figures.days_since_member_message is not None
            else f"{i.health.figures.days_known} 天来无成员发言"
        ),
    )
    flagged = [i for i in graded if i.health.grade in (Grade.AT_RISK, Grade.WATCH)]

    def deciding(name: str) -> list[GroupHealth]:
        return [i for i in flagged if any(f.name == name for f in i.health.decided_by)]

    section(
        "依赖一两个成员",
        deciding("top2_share"),
        lambda i: (
            f"前两名发了 {_share(i.health.figures.top2_share)} 的消息，"
            f"{i.health.figures.bus_factor} 人发了一半"
        ),
    )
    section(
        "正在变成卖场",
        deciding("shop"),
        lambda i: (
            f"推广占 {_share(i.health.figures.shop)}（员工 "
            f"{_share(i.health.figures.shop_staff)}，成员 {_share(i.health.figures.shop_members)}）"
        ),
    )
    section(
        "新人不开口",
        deciding("activation"),
        lambda i: (
            f"{i.health.figures.newcomers} 位新人，7 天内发言 {_share(i.health.figures.activation)}"
        ),
    )
    if link:
        lines.append(f"\n[查看详情]({link})")
    return truncate_utf8("\n".join(lines), APP_MESSAGE_MAX_BYTES)


class DigestSender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        health: HealthConfig,
        digest: DigestConfig,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._health = health
        self._digest = digest
        self._clock = clock

    def due(self, now: datetime) -> str | None:
        """This week's key once this week's digest is due at `now`; None before."""
        local = now.astimezone(self._health.rollups.zone)
        monday = (local - timedelta(days=local.isoweekday() - 1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        at = monday + timedelta(days=self._digest.weekday - 1, hours=self._digest.hour)
        return digest_key(local) if local >= at else None

    async def send_if_due(self) -> bool:
        """Store this week's digest in the outbox if it is due and not stored yet (by any
        replica); returns whether this call stored it."""
        if not self._digest.enabled:
            return False
        now = self._clock()
        key = self.due(now)
        if key is None:
            return False
        async with self._sessions() as session:
            if await outbox_repo.exists(session, key):
                return False
            found = await health_list(session, self._health, now=now)
        text = digest_text(found.items, days=self._health.window_days, link=self._digest.link)
        recipients = list(self._digest.recipients)
        note = alert_problem(self._digest.app_messages_enabled, recipients)
        async with self._sessions() as session, session.begin():
            stored = await outbox_repo.enqueue_once(
                session,
                idempotency_key=key,
                kind="app_message",
                payload={
                    "to_users": recipients,
                    "msgtype": "markdown",
                    "content": {"content": text},
                },
                now=now,
                status="pending" if note is None else "skipped",
                note=note,
            )
        if stored:
            log.info(
                "health digest %s stored for %d admin(s)%s",
                key,
                len(recipients),
                f" as skipped: {note}" if note else "",
            )
        return stored
