"""The outbox: permanent failures, retries to the last attempt, leases, skipped actions."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.models import OutboxAction
from app.outbox.dispatcher import (
    BACKOFF_CAP,
    CHANNEL_LIMITS,
    SENDS_IN_FLIGHT,
    ChannelLimit,
    OutboxDispatcher,
    backoff_delay,
)
from app.repositories import outbox as outbox_repo
from tests import support
from tests.conftest import Service, make_settings, start_service


async def actions(service: Service) -> list[OutboxAction]:
    async with service.runtime.sessions() as session:
        return list(
            (await session.execute(select(OutboxAction).order_by(OutboxAction.id))).scalars()
        )


async def test_configuration_error_is_dead_at_once_with_the_reason(service: Service) -> None:
    service.wecom.scripted["/cgi-bin/message/send"] = [
        (200, {"errcode": 60020, "errmsg": "not allow to access from your ip"})
    ]
    await service.post_aibot(support.aibot_group_text("赌博", msgid="m-cfg"))
    await service.settle()
    alert = next(a for a in await actions(service) if a.kind == "app_message")
    assert alert.status == "dead" and alert.attempts == 1
    assert "trusted IP" in (alert.last_error or "")
    item = (await service.api("/api/v1/moderation-logs")).json()["items"][0]
    assert item["action_status"] == "failed"


async def test_retryable_failure_is_retried_until_the_last_attempt(service: Service) -> None:
    max_attempts = service.runtime.settings.outbox_max_attempts
    service.wecom.scripted["/cgi-bin/aibot/response"] = [(500, {})] * (max_attempts + 5)
    await service.post_aibot(support.aibot_group_text("赌博", msgid="m-dead"))
    for _ in range(max_attempts + 2):
        await service.settle()
        async with service.runtime.sessions() as session:
            for row in (await session.execute(select(OutboxAction))).scalars():
                row.next_attempt_at = service.runtime.now()
            await session.commit()
    warn = next(a for a in await actions(service) if a.kind == "aibot_reply")
    assert warn.status == "dead"
    assert warn.attempts == max_attempts
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == max_attempts


async def test_action_of_a_dead_worker_is_retaken_after_its_lease(service: Service) -> None:
    now = service.runtime.now()
    async with service.runtime.sessions() as session, session.begin():
        action = outbox_repo.enqueue(
            session,
            idempotency_key="test:lease",
            kind="aibot_reply",
            payload={
                "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=L",
                "body": {"msgtype": "markdown", "markdown": {"content": "x"}},
            },
            now=now,
        )
        action.status = "sending"
        action.attempts = 1
        action.lease_until = now + timedelta(seconds=60)
    await service.settle()
    assert service.wecom.requests == []  # still leased to the (dead) worker
    async with service.runtime.sessions() as session, session.begin():
        row = (await session.execute(select(OutboxAction))).scalar_one()
        row.lease_until = now - timedelta(seconds=1)
    await service.settle()
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 1
    (row,) = await actions(service)
    assert row.status == "sent" and row.attempts == 2


async def test_two_dispatchers_racing_send_each_action_once(service: Service) -> None:
    async with service.runtime.sessions() as session, session.begin():
        for index in range(30):
            outbox_repo.enqueue(
                session,
                idempotency_key=f"test:race:{index}",
                kind="app_message",
                payload={"to_users": ["alice"], "msgtype": "text", "content": {"content": "x"}},
                now=service.runtime.now(),
            )
    dispatchers = [
        OutboxDispatcher(
            service.runtime.sessions,
            service.runtime.client,
            clock=service.runtime.clock,
            max_attempts=3,
            texts=service.runtime.context.texts,
        )
        for _ in range(2)
    ]
    sent = await asyncio.gather(*(d.dispatch_due() for d in dispatchers))
    assert sum(sent) == 30
    assert len(service.wecom.calls("/cgi-bin/message/send")) == 30
    assert {a.status for a in await actions(service)} == {"sent"}


@pytest.fixture
async def service_without_alerts(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    settings = make_settings(database_url, tmp_path, wecom_admin_userids="")
    async for running in start_service(settings, support.FakeWeCom()):
        yield running


async def test_alert_with_no_moderators_is_recorded_as_skipped(
    service_without_alerts: Service,
) -> None:
    service = service_without_alerts
    await service.post_aibot(support.aibot_group_text("赌博", msgid="m-nomod"))
    await service.settle()
    assert service.wecom.calls("/cgi-bin/message/send") == []
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 1
    item = (await service.api("/api/v1/moderation-logs")).json()["items"][0]
    alert = next(a for a in item["actions"] if a["kind"] == "app_message")
    assert alert["status"] == "skipped"
    assert "WECOM_ADMIN_USERIDS" in alert["last_error"]


@pytest.mark.parametrize("attempts", [1, 2, 5, 10, 40])
def test_backoff_grows_and_is_capped_with_jitter(attempts: int) -> None:
    rng = random.Random(7)
    delays = [backoff_delay(attempts, rng) for _ in range(50)]
    ceiling = min(BACKOFF_CAP, 2.0 * 2 ** (attempts - 1))
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 1  # jittered


async def test_two_inbox_processors_racing_handle_each_event_once(service: Service) -> None:
    from app.judging.processing import InboxProcessor

    for index in range(40):
        text = "赌博" if index % 2 else "/help"
        # Twenty members, each with a first offence (one member would climb the ladder).
        await service.post_aibot(
            support.aibot_group_text(text, msgid=f"race-{index}", sender=f"member-{index}")
        )
    processors = [
        InboxProcessor(
            service.runtime.sessions, service.runtime.context, clock=service.runtime.clock
        )
        for _ in range(2)
    ]
    await asyncio.gather(*(p.process_pending() for p in processors))
    await service.settle()
    items = (await service.api("/api/v1/moderation-logs", limit=200)).json()["items"]
    assert len(items) == 20
    # 20 warnings + 20 /help replies; one alert per flagged message, alone or in a digest.
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 40
    sent = [b["markdown"]["content"] for b in service.wecom.bodies("/cgi-bin/message/send")]
    assert len(sent) <= 20
    for item in items:
        mentions = sum(len(re.findall(rf"#{item['id']}(?!\d)", body)) for body in sent)
        assert mentions == 1, item["id"]


@dataclass
class StallingWeCom(support.FakeWeCom):
    """The fake WeCom API, which first awaits `stall` (when set) on each request."""

    stall: Callable[[httpx.Request], Awaitable[None]] | None = None

    async def stalling_handler(self, request: httpx.Request) -> httpx.Response:
        if self.stall is not None:
            await self.stall(request)
        return self.handler(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.stalling_handler)


@pytest.fixture
async def clocked(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Service, support.Clock]]:
    clock = support.Clock()
    settings = make_settings(database_url, tmp_path)
    async for running in start_service(settings, StallingWeCom(), clock=clock):
        yield running, clock


async def enqueue_posts(service: Service, kind: str, chat_ids: list[str]) -> None:
    async with service.runtime.sessions() as session, session.begin():
        for index, chat_id in enumerate(chat_ids):
            payload: dict[str, object] = {"chat_id": chat_id}
            if kind == "appchat_send":
                payload |= {"msgtype": "text", "content": {"content": f"post {index}"}}
            else:
                payload |= {"user_ids": [f"member-{index}"]}
            outbox_repo.enqueue(
                session,
                idempotency_key=f"test:{kind}:{index}",
                kind=kind,
                payload=payload,
                now=service.runtime.now(),
            )


def posts_to(service: Service, path: str, chat_id: str) -> int:
    return sum(1 for body in service.wecom.bodies(path) if body["chatid"] == chat_id)


async def test_appchat_posts_keep_wecoms_200_a_minute_per_group(
    clocked: tuple[Service, support.Clock],
) -> None:
    service, clock = clocked
    await enqueue_posts(service, "appchat_send", ["busy"] * 210 + ["quiet"] * 5)
    await service.settle()
    assert posts_to(service, "/cgi-bin/appchat/send", "busy") == 200
    assert posts_to(service, "/cgi-bin/appchat/send", "quiet") == 5  # another group's budget
    waiting = [a for a in await actions(service) if a.status == "pending"]
    assert len(waiting) == 10
    assert all(a.attempts == 0 for a in waiting)  # a wait is not an attempt
    assert all(a.next_attempt_at >= clock() + timedelta(seconds=59) for a in waiting)
    clock.advance(61)
    await service.settle()
    assert posts_to(service, "/cgi-bin/appchat/send", "busy") == 210
    assert {a.status for a in await actions(service)} == {"sent"}


async def test_a_corp_wide_limit_counts_every_group(
    clocked: tuple[Service, support.Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, clock = clocked
    monkeypatch.setitem(
        CHANNEL_LIMITS, "appchat_remove", ChannelLimit(None, ((3, timedelta(hours=1)),))
    )
    await enqueue_posts(service, "appchat_remove", ["a", "b", "c", "d", "e"])
    await service.settle()
    assert len(service.wecom.calls("/cgi-bin/appchat/update")) == 3
    clock.advance(1800)
    await service.settle()
    assert len(service.wecom.calls("/cgi-bin/appchat/update")) == 3  # the hour is not over
    clock.advance(1801)
    await service.settle()
    assert len(service.wecom.calls("/cgi-bin/appchat/update")) == 5


async def test_a_replica_whose_lease_ran_out_does_not_send_what_another_took(
    clocked: tuple[Service, support.Clock],
) -> None:
    """Replica A claims two actions; its first call to WeCom hangs past the lease, meanwhile
    replica B takes both. A's second action is then not A's any more: A does not send it.
    (The hung first call is the one send that can repeat: WeCom has no idempotency key.)"""
    service, clock = clocked
    await enqueue_posts(service, "appchat_send", ["g1", "g2"])

    def replica() -> OutboxDispatcher:
        return OutboxDispatcher(
            service.runtime.sessions,
            service.runtime.client,
            clock=clock,
            max_attempts=3,
            lease=timedelta(seconds=120),
        )

    replica_b = replica()
    hung = False

    async def hang_once(request: httpx.Request) -> None:
        nonlocal hung
        if request.url.path == "/cgi-bin/appchat/send" and not hung:
            hung = True
            clock.advance(121)  # A's call outlives its lease; B runs in the meantime
            await replica_b.dispatch_due()

    assert isinstance(service.wecom, StallingWeCom)
    service.wecom.stall = hang_once
    await replica().dispatch_due()
    assert posts_to(service, "/cgi-bin/appchat/send", "g2") == 1  # B's; A held back
    assert posts_to(service, "/cgi-bin/appchat/send", "g1") == 2  # the hung call, and B's
    assert {a.status for a in await actions(service)} == {"sent"}


async def test_warnings_are_taken_before_alerts_that_wait_for_the_moderators(
    clocked: tuple[Service, support.Clock],
) -> None:
    """A spam wave leaves alerts waiting for the moderators' budget; they must not hold the
    warnings of the next messages behind them."""
    service, clock = clocked
    for index in range(12):
        await service.post_aibot(
            support.aibot_group_text("赌博", msgid=f"hol-{index}", sender=f"member-{index}")
        )
    await service.runtime.processor.process_pending()
    async with service.runtime.sessions() as session, session.begin():
        for row in (await session.execute(select(OutboxAction))).scalars():
            # The alerts have waited longest (held for the budget since an earlier wave).
            row.next_attempt_at = clock() - timedelta(minutes=5 if row.kind == "app_message" else 0)
    async with service.runtime.sessions() as session, session.begin():
        claimed = await outbox_repo.claim_due(
            session, now=clock(), limit=12, lease=timedelta(seconds=60)
        )
    assert [action.kind for action in claimed] == ["aibot_reply"] * 12


async def test_a_waves_warnings_are_sent_several_at_a_time_on_postgresql_only(
    clocked: tuple[Service, support.Clock], database_url: str
) -> None:
    """Each smart-bot warning goes to its own message's response_url: on PostgreSQL up to
    SENDS_IN_FLIGHT are in flight at once (one at a time, a wave's warnings would queue behind
    each other's round trips); on SQLite a send holds the write gate, so one at a time. Either
    way each is sent and recorded once, and the alerts go after them, one at a time."""
    service, _clock = clocked
    wecom = service.wecom
    assert isinstance(wecom, StallingWeCom)
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def stall(request: httpx.Request) -> None:
        path = request.url.path
        in_flight[path] = in_flight.get(path, 0) + 1
        peak[path] = max(peak.get(path, 0), in_flight[path])
        await asyncio.sleep(0.02)
        in_flight[path] -= 1

    wecom.stall = stall
    for index in range(20):
        await service.post_aibot(
            support.aibot_group_text("赌博", msgid=f"wave-{index}", sender=f"member-{index}")
        )
    await service.runtime.processor.process_pending()
    while await service.runtime.dispatcher.dispatch_due():
        pass
    replies = wecom.calls("/cgi-bin/aibot/response")
    assert len(replies) == 20
    assert len({str(request.url) for request in replies}) == 20  # each message's own, once
    expected = SENDS_IN_FLIGHT if database_url.startswith("postgresql") else 1
    assert peak["/cgi-bin/aibot/response"] == expected
    assert peak["/cgi-bin/message/send"] == 1
    assert {a.status for a in await actions(service)} <= {"sent", "merged"}
