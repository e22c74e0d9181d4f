"""Several replicas on one database behave as one service: WeCom delivering the same callback
to different replicas (its retries go wherever the load balancer sends them) produces one
moderation decision and one of each action, while both replicas' workers run at once.

(The lexicon reload across replicas is in tests/lexicon/test_lexicon_admin.py, the archive
lease in tests/ingest/test_archive_service.py, welcomes and syncs in tests/groups/test_welcome.py,
outbox claims and leases in tests/outbox/test_outbox.py.)
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app.models import GroupMember, InboxEvent, ModerationLog, OutboxAction
from tests import support
from tests.conftest import Service, make_settings, start_service

Replicas = tuple[Service, Service]


@pytest.fixture
async def replicas(database_url: str, tmp_path: Path) -> AsyncIterator[Replicas]:
    """Two service instances on one database and one (fake) WeCom, workers run by hand."""
    settings = make_settings(database_url, tmp_path)
    wecom = support.FakeWeCom()
    async for first in start_service(settings, wecom):
        async for second in start_service(settings, wecom):
            yield first, second


async def settle_both(replicas: Replicas) -> None:
    """Both replicas' workers at the same time, until neither has anything left."""
    await asyncio.gather(*(replica.settle() for replica in replicas))
    await asyncio.gather(*(replica.settle() for replica in replicas))


async def count(service: Service, model: type) -> int:
    async with service.runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def signed_aibot(plaintext: str) -> tuple[str, bytes]:
    """One delivery as WeCom makes it: the same URL and body every time it is retried."""
    signer = support.aibot_signer()
    encrypted = signer.cipher.encrypt(plaintext)
    return f"/wecom/aibot?{signer.query(encrypted)}", support.aibot_envelope(encrypted)


def replies_by_code(service: Service) -> Counter[str]:
    return Counter(
        parse_qs(urlsplit(str(request.url)).query)["response_code"][0]
        for request in service.wecom.calls("/cgi-bin/aibot/response")
    )


async def test_one_callback_delivered_to_both_replicas_is_one_decision_and_one_warning(
    replicas: Replicas,
) -> None:
    url, body = signed_aibot(support.aibot_group_text("赌博", msgid="dup-1", sender="lisi"))
    answers = await asyncio.gather(
        *(replica.http.post(url, content=body) for replica in replicas for _ in range(3))
    )
    assert [answer.status_code for answer in answers] == [200] * 6
    await settle_both(replicas)
    first = replicas[0]
    assert await count(first, InboxEvent) == 1
    assert await count(first, ModerationLog) == 1
    assert replies_by_code(first) == {"dup-1": 1}
    assert len(first.wecom.calls("/cgi-bin/message/send")) == 1  # the moderators' alert


async def test_a_spam_wave_retried_across_replicas_is_handled_once(replicas: Replicas) -> None:
    rng = random.Random(20261121)
    deliveries = []
    for index in range(30):
        text = "赌博" if index % 3 else f"今天第{index}次打卡"
        url, body = signed_aibot(
            support.aibot_group_text(text, msgid=f"wave-{index}", sender=f"member-{index}")
        )
        # WeCom retries each callback: once or twice more, to either replica.
        deliveries += [(url, body)] * rng.randint(2, 3)
    rng.shuffle(deliveries)
    answers = await asyncio.gather(
        *(rng.choice(replicas).http.post(url, content=body) for url, body in deliveries)
    )
    assert {answer.status_code for answer in answers} == {200}
    await settle_both(replicas)
    first = replicas[0]
    flagged = {f"wave-{index}" for index in range(30) if index % 3}
    assert await count(first, InboxEvent) == 30
    assert await count(first, ModerationLog) == len(flagged)
    assert replies_by_code(first) == dict.fromkeys(flagged, 1)  # one warning each
    async with first.runtime.sessions() as session:
        alerts = (
            await session.execute(
                select(OutboxAction.moderation_log_id, OutboxAction.status).where(
                    OutboxAction.kind == "app_message"
                )
            )
        ).all()
        log_ids = set((await session.execute(select(ModerationLog.id))).scalars())
    assert len(alerts) == len(flagged)  # one alert per decision: sent alone or in a digest
    assert {status for _log_id, status in alerts} <= {"sent", "merged"}
    assert {log_id for log_id, _status in alerts} == log_ids


async def test_an_app_callback_delivered_to_both_replicas_is_answered_once(
    replicas: Replicas,
) -> None:
    signer = support.app_signer()
    encrypted = signer.cipher.encrypt(support.app_text("/help", msg_id="7000000000000001"))
    url = f"/wecom/callback?{signer.query(encrypted)}"
    body = support.app_envelope(encrypted)
    answers = await asyncio.gather(*(r.http.post(url, content=body) for r in replicas * 2))
    assert {answer.status_code for answer in answers} == {200}
    await settle_both(replicas)
    assert await count(replicas[0], InboxEvent) == 1
    assert len(replicas[0].wecom.calls("/cgi-bin/message/send")) == 1  # the /help reply


async def test_replicas_judging_the_same_members_in_opposite_orders_do_not_deadlock(
    replicas: Replicas, caplog: pytest.LogCaptureFixture
) -> None:
    """Each replica claims its own batch of 50; the two batches name the same two groups and 50
    members in opposite orders. Both transactions create and update those rows: taken in
    message order the locks would cross (PostgreSQL: a deadlock, the batch redone one event at
    a time); they are taken in key order."""
    members = [f"member-{index:02d}" for index in range(50)]
    order = members + members[::-1]
    for index, sender in enumerate(order):
        chat = f"wrOrder{int(sender[-2:]) % 2}"
        answer = await replicas[0].post_aibot(
            support.aibot_group_text(
                f"第{index}条消息", msgid=f"order-{index}", sender=sender, chat_id=chat
            )
        )
        assert answer.status_code == 200
    caplog.set_level("WARNING", logger="app.judging.processing")
    first, second = replicas
    await asyncio.gather(
        first.runtime.processor.process_pending(limit=50),
        second.runtime.processor.process_pending(limit=50),
    )
    await settle_both(replicas)
    assert not [record.getMessage() for record in caplog.records if record.levelname != "INFO"]
    async with first.runtime.sessions() as session:
        pending = await session.execute(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.status != "done")
        )
        counted = await session.execute(select(func.sum(GroupMember.messages)))
    assert pending.scalar_one() == 0
    assert counted.scalar_one() == 100  # each message counted once
