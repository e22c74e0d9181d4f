"""Answering first: judging and the outbox wait while this replica answers callbacks
(`Foreground`)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import pytest
from sqlalchemy import select

from app import workers
from app.models import InboxEvent
from app.workers import Foreground
from tests import support
from tests.conftest import Service


async def turns(count: int = 20) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_give_way_returns_at_once_when_no_callback_is_answered() -> None:
    await asyncio.wait_for(Foreground().give_way(most=30), timeout=1)


async def test_give_way_waits_for_the_last_answer_or_for_its_limit() -> None:
    foreground = Foreground()
    with foreground.answering():
        waiting = asyncio.create_task(foreground.give_way(most=30))
        with foreground.answering():
            await turns()
        await turns()
        assert not waiting.done()  # one answer still in flight
    await asyncio.wait_for(waiting, timeout=1)
    with foreground.answering():
        await asyncio.wait_for(foreground.give_way(most=0.01), timeout=5)  # the limit


async def statuses(service: Service) -> list[str]:
    async with service.runtime.sessions() as session:
        return list((await session.execute(select(InboxEvent.status))).scalars())


async def held_callback(
    service: Service, monkeypatch: pytest.MonkeyPatch, msgid: str
) -> tuple[asyncio.Task[Any], asyncio.Event]:
    """A callback being answered: returns once its inbox row is being stored, which waits for
    the event returned to be set."""
    writer = service.runtime.inbox_writer
    store = writer.store
    storing = asyncio.Event()
    release = asyncio.Event()

    async def slow_store(row: dict[str, Any]) -> int | None:
        storing.set()
        await release.wait()
        return await store(row)

    monkeypatch.setattr(writer, "store", slow_store)
    answer = asyncio.create_task(
        service.post_aibot(support.aibot_group_text("第二条", msgid=msgid))
    )
    await asyncio.wait_for(storing.wait(), timeout=10)
    return answer, release


class WatchedIdle(asyncio.Event):
    """`Foreground`'s "no callback in flight" event, with `waited` set once a worker waits on
    it: the worker reached the gate and stopped there, the point where it would otherwise
    have gone on to judge or send."""

    def __init__(self) -> None:
        super().__init__()
        self.set()  # nothing in flight yet, like Foreground's own
        self.waited = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.waited.set()
        return await super().wait()


def watch_the_gate(service: Service, monkeypatch: pytest.MonkeyPatch) -> WatchedIdle:
    idle = WatchedIdle()
    monkeypatch.setattr(service.runtime.foreground, "_idle", idle)
    return idle


async def test_judging_starts_once_the_callback_being_answered_is_answered(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "GIVE_WAY_SECONDS", 30.0)
    gate = watch_the_gate(service, monkeypatch)
    answer = await service.post_aibot(support.aibot_group_text("第一条", msgid="fg-1"))
    assert answer.status_code == 200
    second, release = await held_callback(service, monkeypatch, "fg-2")
    judging = asyncio.create_task(service.runtime.processor.process_pending())
    await asyncio.wait_for(gate.waited.wait(), timeout=10)  # judging waits at the gate
    assert not judging.done() and await statuses(service) == ["pending"]
    release.set()
    assert (await second).status_code == 200
    assert await asyncio.wait_for(judging, timeout=10) >= 1
    await service.settle()
    assert await statuses(service) == ["done", "done"]


async def test_the_outbox_sends_once_the_callback_being_answered_is_answered(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "GIVE_WAY_SECONDS", 30.0)
    gate = watch_the_gate(service, monkeypatch)
    flagged = support.aibot_group_text("今晚一起去赌博吧", msgid="fg-warn", chat_id="wrFg")
    assert (await service.post_aibot(flagged)).status_code == 200
    assert await service.runtime.processor.process_pending() == 1  # a warning is queued
    assert not gate.waited.is_set()  # nothing in flight: judging went straight through
    second, release = await held_callback(service, monkeypatch, "fg-next")
    sending = asyncio.create_task(service.runtime.dispatcher.dispatch_due())
    await asyncio.wait_for(gate.waited.wait(), timeout=10)  # the send waits at the gate
    assert not sending.done() and not service.wecom.calls("/cgi-bin/aibot/response")
    release.set()
    assert (await second).status_code == 200
    assert await asyncio.wait_for(sending, timeout=10) >= 1
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 1
