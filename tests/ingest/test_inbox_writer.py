"""The inbox writer's group commit, from its own side (`InboxWriter.store` called directly) and
from WeCom's (signed, encrypted callbacks through the app), on SQLite and PostgreSQL.

What is pinned: concurrent callers share transactions and each gets its own id; a key repeated
within one batch is stored once (first caller the id, the others None); a database that cannot
be reached fails every caller of the batch (503, nothing stored) and the retries are stored once
it is back; one row the database refuses fails only its own caller; a caller that goes away does
not lose the others' rows; `close()` leaves nothing queued.

An outage is made the way a database goes away: on PostgreSQL a TCP proxy (tests/processes.py)
between the engine and the server hangs up on every connection; on SQLite the database's
directory is moved away, so that no new connection can open the file.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import DB_UNAVAILABLE, create_engine_for, database_urls
from app.ingest.inbox_writer import InboxWriter, InboxWriterClosed
from app.main import create_app
from app.models import InboxEvent
from app.repositories import inbox as inbox_repo
from tests import support
from tests.conftest import Service, make_settings, start_service
from tests.processes import HOST, TcpProxy

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(key: str, **changes: Any) -> dict[str, Any]:
    """What the callback endpoint gives `store` for a smart-bot group text."""
    values: dict[str, Any] = {
        "dedupe_key": key,
        "source": "aibot",
        "kind": "aibot_text",
        "chat_id": "wrOgAAAAchat1",
        "sender": "zhangsan",
        "plaintext": f'{{"msgid": "{key}", "text": {{"content": "明天上午十点开周会"}}}}',
        "now": NOW,
    }
    values.update(changes)
    return inbox_repo.pending_row(**values)


async def stored_keys(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(InboxEvent.dedupe_key, InboxEvent.id))
        return {key: stored_id for key, stored_id in rows.all()}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for(database_urls(database_url))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def writer(engine: AsyncEngine) -> AsyncIterator[InboxWriter]:
    writer = InboxWriter(engine)
    try:
        yield writer
    finally:
        await writer.close()


# -- group commit ----------------------------------------------------------------------------


async def test_concurrent_stores_are_committed_together_and_each_gets_its_id(
    writer: InboxWriter, engine: AsyncEngine
) -> None:
    keys = [f"aibot:msg:m-{index:03d}" for index in range(100)]
    ids = await asyncio.gather(*(writer.store(row(key)) for key in keys))
    stored = await stored_keys(engine)
    assert stored == dict(zip(keys, ids, strict=True))  # each caller got its own row's id
    assert len(set(ids)) == 100 and all(isinstance(stored_id, int) for stored_id in ids)
    assert writer.records == 100
    assert 1 <= writer.batches < 100, writer.batches


async def test_writers_storing_the_same_keys_in_opposite_orders_never_deadlock(
    engine: AsyncEngine,
) -> None:
    """WeCom retries a wave to any replica: two replicas' writers often hold the same keys in
    different orders. Each inserts in key order, so one waits for the other's commit instead
    of both waiting for each other (PostgreSQL would end that with a deadlock error, and every
    caller of both batches would be answered 503)."""
    first, second = InboxWriter(engine), InboxWriter(engine)
    try:
        for wave in range(8):
            keys = [f"aibot:msg:w{wave}-{index:03d}" for index in range(60)]
            answers = await asyncio.gather(
                *(first.store(row(key)) for key in keys),
                *(second.store(row(key)) for key in reversed(keys)),
                return_exceptions=True,
            )
            errors = [answer for answer in answers if isinstance(answer, BaseException)]
            assert not errors, errors[0]
            stored = await stored_keys(engine)
            given = sorted(answer for answer in answers if answer is not None)
            assert given == sorted(stored[key] for key in keys)  # each id to exactly one caller
    finally:
        await first.close()
        await second.close()


async def test_a_batch_is_capped_and_the_rest_go_into_the_next_write(engine: AsyncEngine) -> None:
    writer = InboxWriter(engine, max_batch=7)
    ids = await asyncio.gather(*(writer.store(row(f"k-{index}")) for index in range(20)))
    await writer.close()
    assert len(set(ids)) == 20 and writer.batches == 3  # 7 + 7 + 6
    assert len(await stored_keys(engine)) == 20


async def test_a_key_twice_in_one_batch_is_one_row_and_a_known_key_is_a_duplicate(
    writer: InboxWriter, engine: AsyncEngine
) -> None:
    first, repeat, other = await asyncio.gather(
        writer.store(row("aibot:msg:twice")),
        writer.store(row("aibot:msg:twice")),
        writer.store(row("aibot:msg:other")),
    )
    assert writer.batches == 1
    assert isinstance(first, int) and repeat is None and isinstance(other, int)
    assert await stored_keys(engine) == {"aibot:msg:twice": first, "aibot:msg:other": other}

    again = await asyncio.gather(
        writer.store(row("aibot:msg:twice")), writer.store(row("aibot:msg:new"))
    )
    assert again[0] is None and isinstance(again[1], int)
    assert len(await stored_keys(engine)) == 3


async def test_chat_id_and_sender_are_cut_like_store_once(
    writer: InboxWriter, engine: AsyncEngine
) -> None:
    stored_id = await writer.store(row("long", chat_id="c" * 300, sender="s" * 300))
    async with engine.connect() as connection:
        event = (
            await connection.execute(select(InboxEvent).where(InboxEvent.id == stored_id))
        ).one()
    assert event.chat_id == "c" * 128 and event.sender == "s" * 128
    assert event.status == "pending" and event.attempts == 0 and event.received_at == NOW


# -- failures --------------------------------------------------------------------------------


@dataclass
class Outage:
    """A database that can be taken away and given back; `url` goes through the way it is
    taken away."""

    url: str
    cut: Callable[[], None]
    restore: Callable[[], None]


@pytest.fixture
def outage(database_url: str, tmp_path: Path) -> Iterator[Outage]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        home, away = tmp_path / "db", tmp_path / "db-away"
        home.mkdir()
        shutil.move(url.database or "", home / "wecom-mod.db")
        yield Outage(
            f"sqlite:///{home / 'wecom-mod.db'}",
            cut=lambda: home.rename(away),
            restore=lambda: away.rename(home),
        )
        return
    with TcpProxy(url.host or HOST, url.port or 5432) as proxy:
        via_proxy = url.set(host=HOST, port=proxy.port).render_as_string(hide_password=False)
        yield Outage(via_proxy, cut=proxy.cut, restore=proxy.restore)


async def test_an_unreachable_database_fails_every_caller_then_the_retries_are_stored(
    outage: Outage,
) -> None:
    engine = create_engine_for(database_urls(outage.url))
    writer = InboxWriter(engine)
    try:
        assert isinstance(await writer.store(row("before")), int)
        outage.cut()
        await engine.dispose()  # SQLite: the pooled connections still hold the moved file
        keys = [f"during-{index}" for index in range(5)]
        results = await asyncio.gather(
            *(writer.store(row(key)) for key in keys), return_exceptions=True
        )
        assert all(isinstance(result, DB_UNAVAILABLE) for result in results), results

        outage.restore()
        assert set(await stored_keys(engine)) == {"before"}  # nothing of the outage stored
        ids = await asyncio.gather(*(writer.store(row(key)) for key in keys))
        assert all(isinstance(stored_id, int) for stored_id in ids)
        assert set(await stored_keys(engine)) == {"before", *keys}
    finally:
        await writer.close()
        await engine.dispose()


def poisons(database_url: str) -> list[dict[str, Any]]:
    """Values that fail one row: a naive datetime (refused by `UtcDateTime` before the
    database sees it, on both backends) and, on PostgreSQL, a NUL character in text."""
    found: list[dict[str, Any]] = [{"now": NOW.replace(tzinfo=None)}]
    if make_url(database_url).get_backend_name() == "postgresql":
        found.append({"plaintext": "nul \x00 in text"})
    return found


async def test_one_refused_row_fails_only_its_caller(
    database_url: str, engine: AsyncEngine
) -> None:
    for round_, poison in enumerate(poisons(database_url)):
        writer = InboxWriter(engine)
        keys = [f"r{round_}-{index}" for index in range(10)]
        calls = [
            writer.store(row(key, **(poison if index == 4 else {})))
            for index, key in (enumerate(keys))
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
        await writer.close()
        assert writer.batches == 1, poison  # one batch, then one row per transaction
        assert isinstance(results[4], StatementError), results[4]
        if "plaintext" in poison:
            assert isinstance(results[4], DataError)
        others = results[:4] + results[5:]
        assert all(isinstance(result, int) for result in others), (poison, others)
        stored = await stored_keys(engine)
        assert {key for key in stored if key.startswith(f"r{round_}-")} == (set(keys) - {keys[4]})


async def test_a_refused_row_given_twice_fails_both_callers(
    writer: InboxWriter, engine: AsyncEngine
) -> None:
    naive = NOW.replace(tzinfo=None)
    results = await asyncio.gather(
        writer.store(row("bad", now=naive)),
        writer.store(row("bad", now=naive)),
        writer.store(row("good")),
        return_exceptions=True,
    )
    assert isinstance(results[0], StatementError) and isinstance(results[1], StatementError)
    assert isinstance(results[2], int)
    assert set(await stored_keys(engine)) == {"good"}  # "bad" was not answered as a duplicate


# -- callers that leave, and closing ---------------------------------------------------------


def watch_writes(writer: InboxWriter, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set when the writer starts its first INSERT."""
    started = asyncio.Event()
    insert = writer._insert

    async def watched(values: list[dict[str, Any]]) -> dict[str, int]:
        started.set()
        return await insert(values)

    monkeypatch.setattr(writer, "_insert", watched)
    return started


async def test_a_caller_that_goes_away_does_not_lose_the_others_rows(
    writer: InboxWriter, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = watch_writes(writer, monkeypatch)
    tasks = [asyncio.create_task(writer.store(row(f"c-{index}"))) for index in range(10)]
    await started.wait()  # the batch is being written
    tasks[3].cancel()
    late = [asyncio.create_task(writer.store(row(f"late-{index}"))) for index in range(3)]
    await asyncio.sleep(0)
    late[1].cancel()  # queued for the next write, not yet in one
    results = await asyncio.gather(*tasks, *late, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert isinstance(results[11], asyncio.CancelledError)
    kept = [result for index, result in enumerate(results) if index not in (3, 11)]
    assert all(isinstance(result, int) for result in kept), kept
    # The rows of the callers who left were handed over too: stored, found as duplicates when
    # WeCom retries them.
    stored = await stored_keys(engine)
    assert set(stored) == {f"c-{index}" for index in range(10)} | {
        f"late-{index}" for index in range(3)
    }
    assert await writer.store(row("c-3")) is None


async def test_close_waits_for_every_queued_row_then_refuses_more(
    writer: InboxWriter, engine: AsyncEngine
) -> None:
    tasks = [asyncio.create_task(writer.store(row(f"s-{index}"))) for index in range(30)]
    await asyncio.sleep(0)  # all queued, the first write started
    await writer.close()
    assert all(task.done() for task in tasks)
    assert len(await stored_keys(engine)) == 30
    with pytest.raises(InboxWriterClosed):
        await writer.store(row("after"))


# -- through the endpoint --------------------------------------------------------------------


def signed_aibot(plaintext: str) -> tuple[str, bytes]:
    signer = support.aibot_signer()
    encrypted = signer.cipher.encrypt(plaintext)
    return f"/wecom/aibot?{signer.query(encrypted)}", support.aibot_envelope(encrypted)


async def post_all(service: Service, deliveries: list[tuple[str, bytes]]) -> list[int]:
    responses = await asyncio.gather(
        *(service.http.post(path, content=body) for path, body in deliveries)
    )
    return [response.status_code for response in responses]


async def inbox_count(service: Service) -> int:
    async with service.runtime.sessions() as session:
        count = await session.execute(select(func.count()).select_from(InboxEvent))
        return int(count.scalar_one())


async def test_concurrent_callbacks_are_answered_200_and_stored_in_shared_transactions(
    service: Service,
) -> None:
    deliveries = [
        signed_aibot(support.aibot_group_text("明天开会", msgid=f"cc-{index:03d}"))
        for index in range(100)
    ]
    deliveries.append(deliveries[0])  # a retry arriving at the same moment
    assert await post_all(service, deliveries) == [200] * 101
    writer = service.runtime.inbox_writer
    assert await inbox_count(service) == 100
    assert writer.records == 101 and writer.batches < 100, writer.batches
    answers = service.runtime.callback_answers
    assert answers[("aibot", "accepted")] == 100 and answers[("aibot", "duplicate")] == 1


async def test_callbacks_during_an_outage_get_503_and_their_retries_are_stored(
    outage: Outage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(outage.url, tmp_path)
    async for service in start_service(settings, support.FakeWeCom()):
        deliveries = [
            signed_aibot(support.aibot_group_text("明天开会", msgid=f"down-{index}"))
            for index in range(5)
        ]
        outage.cut()
        await service.runtime.engine.dispose()
        with caplog.at_level(logging.ERROR, logger="app.ingest.callbacks"):
            assert await post_all(service, deliveries) == [503] * 5
        assert sum("answering 503 so WeCom retries" in r.getMessage() for r in caplog.records) == 5

        outage.restore()
        assert await inbox_count(service) == 0
        assert await post_all(service, deliveries) == [200] * 5  # WeCom's retries
        assert await post_all(service, deliveries[:2]) == [200] * 2  # and once more: duplicates
        assert await inbox_count(service) == 5
        answers = service.runtime.callback_answers
        assert answers[("aibot", "unavailable")] == 5 and answers[("aibot", "duplicate")] == 2


async def test_a_callback_the_database_refuses_fails_alone(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = service.runtime
    calls = 0

    def clock() -> datetime:  # the fourth request is stamped with a naive time: refused
        nonlocal calls
        calls += 1
        return NOW.replace(tzinfo=None) if calls == 4 else NOW

    runtime.clock = clock
    deliveries = [
        signed_aibot(support.aibot_group_text("明天开会", msgid=f"p-{index}"))
        for index in range(10)
    ]
    with caplog.at_level(logging.ERROR, logger="app.ingest.callbacks"):
        statuses = await post_all(service, deliveries)
    assert sorted(statuses) == [200] * 9 + [503]
    assert await inbox_count(service) == 9
    refused = [r.getMessage() for r in caplog.records if "answering 503" in r.getMessage()]
    assert len(refused) == 1

    assert await post_all(service, [deliveries[statuses.index(503)]]) == [200]  # the retry
    assert await inbox_count(service) == 10


async def test_shutdown_commits_every_row_handed_over(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(make_settings(database_url, tmp_path), start_workers=False)
    runtime = app.state.runtime
    deliveries = [
        signed_aibot(support.aibot_group_text("明天开会", msgid=f"sd-{index}"))
        for index in range(20)
    ]
    async with app.router.lifespan_context(app):
        started = watch_writes(runtime.inbox_writer, monkeypatch)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            posts = [
                asyncio.create_task(http.post(path, content=body)) for path, body in deliveries
            ]
            await started.wait()
            for post in posts:  # the clients hang up while their rows are being written
                post.cancel()
            await asyncio.gather(*posts, return_exceptions=True)
    # The lifespan closed the writer before disposing of the engine.
    engine = create_engine_for(database_urls(database_url))
    try:
        stored = await stored_keys(engine)
    finally:
        await engine.dispose()
    assert runtime.inbox_writer.records > 0
    assert len(stored) == runtime.inbox_writer.records
