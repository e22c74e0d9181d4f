"""WeCom errcodes as the outbox meets them, from the user's side: a smart-bot mention in, the
(fake) WeCom answering scripted errcodes, the moderator alert (`message/send`) out, and the dead
letters seen and sent again over REST (`/api/v1/outbox`), on a clock the test moves."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.models import OutboxAction
from app.outbox.dispatcher import RATE_LIMITED_WAIT
from app.repositories import outbox as outbox_repo
from tests import support
from tests.conftest import Service, make_settings, start_service

READONLY_TOKEN = "readonly-token-0123456789"
SEND = "/cgi-bin/message/send"
GETTOKEN = "/cgi-bin/gettoken"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def service(database_url: str, tmp_path: Path, clock: Clock) -> AsyncIterator[Service]:
    settings = make_settings(database_url, tmp_path, readonly_api_token=READONLY_TOKEN)
    async for running in start_service(settings, support.FakeWeCom(), clock=clock):
        yield running


def auth(token: str = support.ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def alerts(service: Service) -> list[OutboxAction]:
    async with service.runtime.sessions() as session:
        rows = await session.execute(
            select(OutboxAction).where(OutboxAction.kind == "app_message").order_by(OutboxAction.id)
        )
        return list(rows.scalars())


async def mention(service: Service, msgid: str, sender: str = "zhangsan") -> None:
    text = support.aibot_group_text("赌博", msgid=msgid, sender=sender)
    assert (await service.post_aibot(text)).status_code == 200
    await service.settle()


async def retry(service: Service, action_id: int, token: str = support.ADMIN_TOKEN) -> Any:
    return await service.http.post(
        f"/api/v1/outbox/{action_id}/retry", json={"by": "mod-alice"}, headers=auth(token)
    )


async def test_expired_token_mid_flight_is_refreshed_once_and_the_alert_sent_once(
    service: Service,
) -> None:
    await mention(service, "m-1", sender="zhangsan")
    assert [a.status for a in await alerts(service)] == ["sent"]
    service.wecom.token = "TOKEN-2"  # WeCom expired TOKEN-1 while the service still holds it
    service.wecom.scripted[SEND] = [(200, {"errcode": 42001, "errmsg": "access_token expired"})]
    await mention(service, "m-2", sender="lisi")
    second = (await alerts(service))[1]
    assert (second.status, second.attempts, second.last_error) == ("sent", 1, None)
    tokens = [request.url.params["access_token"] for request in service.wecom.calls(SEND)]
    assert tokens == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]  # refused once, refreshed, sent once
    assert len(service.wecom.calls(GETTOKEN)) == 2


async def test_rate_limited_alert_backs_off_then_is_sent(service: Service, clock: Clock) -> None:
    service.wecom.scripted[SEND] = [(200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    await mention(service, "m-rate")
    (alert,) = await alerts(service)
    assert (alert.status, alert.attempts) == ("pending", 1)
    assert "45009" in (alert.last_error or "")
    assert alert.next_attempt_at >= clock() + timedelta(seconds=RATE_LIMITED_WAIT)
    clock.advance(RATE_LIMITED_WAIT / 2)
    await service.settle()
    assert len(service.wecom.calls(SEND)) == 1  # still waiting
    clock.advance(RATE_LIMITED_WAIT)
    await service.settle()
    (alert,) = await alerts(service)
    assert (alert.status, alert.attempts) == ("sent", 2)
    assert len(service.wecom.calls(SEND)) == 2


async def test_unknown_errcode_is_retried(service: Service) -> None:
    service.wecom.scripted[SEND] = [(200, {"errcode": 99999, "errmsg": "something new"})]
    await mention(service, "m-unknown")
    (alert,) = await alerts(service)
    assert (alert.status, alert.attempts) == ("pending", 1)
    assert "99999" in (alert.last_error or "")


async def test_untrusted_ip_is_dead_at_once_listed_and_sent_after_a_retry(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    refusal = (200, {"errcode": 60020, "errmsg": "not allow to access from your ip"})
    service.wecom.scripted[SEND] = [refusal, refusal]
    with caplog.at_level(logging.WARNING, logger="app.outbox.dispatcher"):
        await mention(service, "m-ip-1", sender="zhangsan")
        await mention(service, "m-ip-2", sender="lisi")
    first, second = await alerts(service)
    for dead in (first, second):
        assert (dead.status, dead.attempts) == ("dead", 1)
        assert "60020" in (dead.last_error or "") and "trusted IP" in (dead.last_error or "")
        assert f"POST /api/v1/outbox/{dead.id}/retry" in (dead.last_error or "")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "60020" in r.message]
    assert len(errors) == 1  # the same wrong setting is an ERROR once, not once per action

    listed = await service.http.get("/api/v1/outbox", params={"status": "dead"}, headers=auth())
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [item["id"] for item in items] == [second.id, first.id]  # newest first
    assert items[0]["kind"] == "app_message"
    assert items[0]["target"]["to_users"] == list(support.MODERATORS)
    assert "trusted IP" in items[0]["last_error"]

    # The read-only token may look but not retry.
    assert (await retry(service, first.id, READONLY_TOKEN)).status_code == 403
    assert (await alerts(service))[0].status == "dead"

    # The operator fixes the trusted IPs (the fake answers ok again), then retries one.
    answer = await retry(service, first.id)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["attempts"]) == ("pending", 0)
    await service.settle()
    first, second = await alerts(service)
    assert (first.status, first.attempts, first.last_error) == ("sent", 1, None)
    assert second.status == "dead"
    assert len(service.wecom.calls(SEND)) == 3  # two refused, the retried one sent once
    assert (await retry(service, first.id)).status_code == 409  # sent, not dead

    audit = await service.http.get(
        "/api/v1/audit", params={"action": "outbox.retry"}, headers=auth()
    )
    (entry,) = audit.json()["items"]
    assert entry["actor"] == "admin-token:mod-alice" and entry["channel"] == "rest"
    assert entry["target"] == f"outbox:{first.id}"
    assert "60020" in entry["details"]["last_error"]


async def test_retry_of_an_unknown_action_is_404(service: Service) -> None:
    assert (await retry(service, 987654)).status_code == 404


async def test_the_listing_never_shows_a_response_url(service: Service) -> None:
    await mention(service, "m-url")
    listed = await service.http.get("/api/v1/outbox", headers=auth(READONLY_TOKEN))
    assert listed.status_code == 200
    kinds = {item["kind"]: item for item in listed.json()["items"]}
    assert kinds["aibot_reply"]["target"] == {}
    assert "response_url" not in listed.text and "qyapi.weixin.qq.com" not in listed.text
    assert "赌博" not in listed.text  # no message content either


async def test_listing_pages_with_a_cursor(service: Service, clock: Clock) -> None:
    async with service.runtime.sessions() as session, session.begin():
        for index in range(5):
            outbox_repo.enqueue(
                session,
                idempotency_key=f"page:{index}",
                kind="webhook_send",
                payload={"chat_id": "wrChat", "msgtype": "text", "content": "x"},
                now=clock(),
                status="skipped",
            )
    seen: list[int] = []
    params: dict[str, Any] = {"kind": "webhook_send", "limit": 2}
    while True:
        page = (await service.http.get("/api/v1/outbox", params=params, headers=auth())).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [5, 4, 3, 2, 1]
    bad = await service.http.get("/api/v1/outbox", params={"status": "nope"}, headers=auth())
    assert bad.status_code == 422


async def test_summary_counts_by_status_and_kind_and_ages_the_oldest_pending(
    service: Service, clock: Clock
) -> None:
    queued = [
        ("app_message", "pending", clock() - timedelta(seconds=120)),
        ("app_message", "pending", clock()),
        ("webhook_send", "dead", clock() - timedelta(hours=5)),
        ("app_message", "sent", clock() - timedelta(hours=9)),
    ]
    async with service.runtime.sessions() as session, session.begin():
        for index, (kind, status, at) in enumerate(queued):
            action = outbox_repo.enqueue(
                session,
                idempotency_key=f"sum:{index}",
                kind=kind,
                payload={"chat_id": "wrChat", "to_users": ["mod-alice"]},
                now=at,
                status=status,
            )
            action.next_attempt_at = clock() + timedelta(hours=1)
    summary = (await service.http.get("/api/v1/outbox/summary", headers=auth())).json()
    assert summary["by_status"] == {"pending": 2, "dead": 1, "sent": 1}
    assert summary["by_kind"] == {"app_message": 3, "webhook_send": 1}
    assert {"status": "pending", "kind": "app_message", "count": 2} in summary["counts"]
    assert summary["oldest_pending_age_seconds"] == pytest.approx(120)
    assert json.dumps(summary)  # plain JSON, nothing else
