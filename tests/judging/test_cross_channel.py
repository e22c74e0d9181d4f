"""One message, two channels: a message that @-mentions the smart bot arrives through the smart
bot and through the chat archive, with different ids. It is judged once (one log row, one
strike, at most one warning and one alert), whichever copy comes first; the later copy only
adds what the first lacked (a `response_url` to warn through). On SQLite and PostgreSQL, and on
PostgreSQL with two processors judging the two copies at the same moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.ingest.archive import store_message
from app.judging.cross_channel import WINDOW, copy_fingerprint
from app.judging.processing import InboxProcessor
from app.models import InboxEvent, MessageCopy, ModerationLog, OutboxAction, Strike
from bot.archive import parse_archive_message
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgAAAAchat1"
FLAGGED = "今晚一起去赌博吧"


@pytest.fixture
def clock() -> support.Clock:
    return support.Clock()


@pytest.fixture
async def both(database_url: str, tmp_path: Path, clock: support.Clock) -> AsyncIterator[Service]:
    """The service with both channels feeding the inbox (the archive's records stored as its
    poller stores them)."""
    async for service in start_service(
        make_settings(database_url, tmp_path), support.FakeWeCom(), clock=clock
    ):
        # the archive's records come in as its poller stores them, without its credentials
        service.runtime.processor.archive_enabled = True
        yield service


def archive_record(msgid: str, content: str, at: datetime, **fields: Any) -> dict[str, Any]:
    record = {
        "msgid": msgid,
        "action": "send",
        "from": "zhangsan",
        "tolist": ["lisi"],
        "roomid": CHAT,
        "msgtime": int(at.timestamp() * 1000),
        "msgtype": "text",
        "text": {"content": content},
    }
    record.update(fields)
    return record


async def via_archive(service: Service, record: dict[str, Any]) -> None:
    async with service.runtime.sessions() as session, session.begin():
        stored = await store_message(
            session, parse_archive_message(record), record, now=service.runtime.now()
        )
    assert stored is not None


async def via_aibot(service: Service, msgid: str, content: str = FLAGGED) -> None:
    response = await service.post_aibot(support.aibot_group_text(content, msgid=msgid))
    assert response.status_code == 200, response.text


async def counts(service: Service) -> dict[str, int]:
    async with service.runtime.sessions() as session:

        async def count(model: type, *where: Any) -> int:
            statement = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(statement)).scalar_one())

        return {
            "logs": await count(ModerationLog),
            "strikes": await count(Strike),
            "done": await count(InboxEvent, InboxEvent.status == "done"),
            "pending": await count(InboxEvent, InboxEvent.status != "done"),
        }


def sent(service: Service) -> dict[str, int]:
    return {
        "warnings": len(service.wecom.calls("/cgi-bin/aibot/response")),
        "alerts": len(service.wecom.calls("/cgi-bin/message/send")),
    }


def test_the_fingerprint_leaves_mentions_out_and_folds_the_rest() -> None:
    assert copy_fingerprint("@审核助手 今晚一起去赌博吧") == copy_fingerprint("今晚一起去賭博吧！")
    assert copy_fingerprint("@审核助手\u2005今晚 一起去赌博吧") == copy_fingerprint(FLAGGED)
    assert copy_fingerprint("@审核助手") == ""
    assert copy_fingerprint("今晚一起去赌博吧") != copy_fingerprint("明晚一起去赌博吧")


async def test_one_message_through_the_smart_bot_then_the_archive_is_one_strike_one_warning(
    both: Service, clock: support.Clock
) -> None:
    """With both channels on, a message that mentions the bot was judged twice: two strikes,
    possibly two warnings. The archive's copy (seconds later, another msgid) adds nothing."""
    await via_aibot(both, "bot-1")
    await both.settle()
    clock.advance(8)  # the archive lags; its msgtime is when the member sent it
    await via_archive(
        both, archive_record("arch-1", f"@审核助手 {FLAGGED}", clock.now - timedelta(seconds=7))
    )
    await both.settle()
    assert await counts(both) == {"logs": 1, "strikes": 1, "done": 2, "pending": 0}
    assert sent(both) == {"warnings": 1, "alerts": 1}


async def test_one_message_through_the_archive_first_warns_through_the_smart_bots_copy(
    both: Service, clock: support.Clock
) -> None:
    """The archive's copy came first (no response_url: the warning is recorded as not
    sendable); the smart bot's copy brings the response_url, and the warning goes out through
    it. Still one log row and one strike."""
    await via_archive(both, archive_record("arch-2", FLAGGED, clock.now))
    await both.settle()
    assert sent(both) == {"warnings": 0, "alerts": 1}
    clock.advance(2)
    await via_aibot(both, "bot-2")
    await both.settle()
    assert await counts(both) == {"logs": 1, "strikes": 1, "done": 2, "pending": 0}
    assert sent(both) == {"warnings": 1, "alerts": 1}
    (warning,) = both.wecom.bodies("/cgi-bin/aibot/response")
    assert "赌" in warning["markdown"]["content"]
    async with both.runtime.sessions() as session:
        statuses = (await session.execute(select(OutboxAction.kind, OutboxAction.status))).all()
    assert sorted(statuses) == [("aibot_reply", "sent"), ("app_message", "sent")]


async def test_both_copies_in_one_batch_are_judged_once(
    both: Service, clock: support.Clock
) -> None:
    await via_archive(both, archive_record("arch-3", FLAGGED, clock.now))
    await via_aibot(both, "bot-3")
    await both.settle()
    assert await counts(both) == {"logs": 1, "strikes": 1, "done": 2, "pending": 0}
    assert sent(both) == {"warnings": 1, "alerts": 1}


async def test_the_same_text_sent_twice_is_two_messages_and_copies_further_apart_differ(
    both: Service, clock: support.Clock
) -> None:
    """Each copy pairs with one copy of the other channel: a member who really writes the same
    text twice gets both judged (two strikes), and copies more than WINDOW apart are different
    messages."""
    first_at = clock.now
    await via_aibot(both, "bot-4a")
    clock.advance(5)
    await via_aibot(both, "bot-4b")
    await via_archive(both, archive_record("arch-4a", FLAGGED, first_at))
    await via_archive(both, archive_record("arch-4b", FLAGGED, first_at + timedelta(seconds=5)))
    await both.settle()
    assert await counts(both) == {"logs": 2, "strikes": 2, "done": 4, "pending": 0}
    clock.advance(WINDOW.total_seconds() * 3)
    await via_archive(both, archive_record("arch-4c", FLAGGED, first_at - WINDOW * 2))
    await both.settle()
    assert (await counts(both))["logs"] == 3


async def test_another_sender_or_chat_or_text_is_another_message(
    both: Service, clock: support.Clock
) -> None:
    await via_aibot(both, "bot-5")
    for msgid, fields in (
        ("arch-5a", {"from": "lisi"}),
        ("arch-5b", {"roomid": "wrOgAAAAchat2"}),
        ("arch-5c", {"text": {"content": "今晚一起去赌博吗"}}),
    ):
        await via_archive(both, archive_record(msgid, FLAGGED, clock.now, **fields))
    await both.settle()
    assert (await counts(both))["logs"] == 4


@pytest.fixture
async def on_postgres(
    database_url: str, tmp_path: Path, clock: support.Clock
) -> AsyncIterator[Service]:
    if not database_url.startswith("postgresql"):
        pytest.skip("two replicas at once need PostgreSQL (SQLite has one writer)")
    async for service in start_service(
        make_settings(database_url, tmp_path), support.FakeWeCom(), clock=clock
    ):
        # the archive's records come in as its poller stores them, without its credentials
        service.runtime.processor.archive_enabled = True
        yield service


async def test_two_replicas_judging_the_two_copies_at_once_act_once(
    on_postgres: Service, clock: support.Clock
) -> None:
    """Replica A judges the smart bot's copy and has not committed yet; replica B, judging the
    archive's copy meanwhile, waits for A's transaction (an advisory lock on the chat and
    sender, seen in pg_locks) and then finds A's copy."""
    service = on_postgres
    await via_aibot(service, "bot-6")
    await via_archive(service, archive_record("arch-6", FLAGGED, clock.now))
    async with service.runtime.sessions() as session:
        ids = {
            source: event_id
            for source, event_id in (
                await session.execute(select(InboxEvent.source, InboxEvent.id))
            ).all()
        }
    runtime = service.runtime
    a = InboxProcessor(runtime.sessions, runtime.context, clock=clock)
    b = InboxProcessor(runtime.sessions, runtime.context, clock=clock)
    holding = asyncio.Event()
    release = asyncio.Event()
    write = a._write_messages

    async def write_then_hold(session: Any) -> None:
        await write(session)
        holding.set()
        await release.wait()

    a._write_messages = write_then_hold  # type: ignore[method-assign]
    task_a = asyncio.create_task(a._process_single(ids["aibot"]))
    await holding.wait()
    task_b = asyncio.create_task(b._process_single(ids["archive"]))
    waiting = 0
    for _ in range(500):  # until B waits on A's advisory lock
        async with runtime.sessions() as session:
            waiting = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                )
            ).scalar_one()
        if waiting:
            break
        await asyncio.sleep(0.01)
    assert waiting == 1 and not task_b.done()
    release.set()
    assert await task_a and not await task_b
    assert await counts(service) == {"logs": 1, "strikes": 1, "done": 2, "pending": 0}
    async with runtime.sessions() as session:
        copies = (
            await session.execute(select(MessageCopy.source, MessageCopy.twin_event_id))
        ).all()
    assert [tuple(row) for row in copies] == [("aibot", ids["archive"])]
    await service.settle()
    assert sent(service) == {"warnings": 1, "alerts": 1}
