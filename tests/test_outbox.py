"""The outbox: permanent failures, retries to the last attempt, leases, skipped actions."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.dispatcher import BACKOFF_CAP, OutboxDispatcher, backoff_delay
from app.models import OutboxAction
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
    from app.processing import InboxProcessor

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
