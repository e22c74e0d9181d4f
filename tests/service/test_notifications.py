"""PostgreSQL LISTEN/NOTIFY (`app.repositories.notifications`): a callback stored by one replica
wakes the inbox worker of another at once, not at its next poll; the listening connection is
opened again after it was lost. The workers here poll every 60 s, so a message judged before
the poll came is judged because of the notification."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app import migrate
from app.db import create_engine_for, database_urls, session_factory
from app.main import create_app
from app.models import ModerationLog
from app.repositories import inbox as inbox_repo
from app.repositories import outbox as outbox_repo
from app.repositories.notifications import INBOX_CHANNEL, OUTBOX_CHANNEL, Listener
from app.runtime import Runtime
from tests import support
from tests.conftest import Service, make_settings, start_service

pytestmark = pytest.mark.postgres

POLL_SECONDS = 60.0  # far longer than the test waits: only a notification wakes the worker
WAIT_STEPS = 1200  # 0.025 s each: a hang guard, well under POLL_SECONDS


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    migrate.upgrade(database_urls(postgres_url))
    return postgres_url


class Passes:
    """Counts the inbox passes of a runtime's workers that started while its listener had
    connected at least `connects` times, and finished."""

    def __init__(self, runtime: Runtime) -> None:
        self.listener = runtime.listener
        assert isinstance(self.listener, Listener)
        self.finished: list[int] = []
        self.changed = asyncio.Event()
        process = runtime.processor.process_pending

        async def counted() -> int:
            assert self.listener is not None
            connects = self.listener.connects
            try:
                return await process()
            finally:
                self.finished.append(connects)
                self.changed.set()

        runtime.processor.process_pending = counted  # type: ignore[method-assign]

    async def idle_after(self, connects: int) -> None:
        """Return once a pass that started after the `connects`-th connection has finished:
        the worker then waits for a wake-up (or its 60 s poll)."""
        while not any(seen >= connects for seen in self.finished):
            self.changed.clear()
            await self.changed.wait()


@asynccontextmanager
async def worker_replica(url: str, tmp_path: Path) -> AsyncIterator[tuple[Runtime, Passes]]:
    """A replica with its workers running, polling every 60 s."""
    app = create_app(
        make_settings(url, tmp_path),
        transport=support.FakeWeCom().transport,
        start_workers=True,
        poll_seconds=POLL_SECONDS,
    )
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        yield runtime, Passes(runtime)


async def judged(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(
            (await session.execute(select(func.count()).select_from(ModerationLog))).scalar_one()
        )


async def eventually(check: Callable[[], Any]) -> None:
    for _ in range(WAIT_STEPS):
        if await check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("not judged: the notification did not wake the worker")


async def post_spam(replica: Service, msgid: str) -> None:
    body = support.aibot_group_text("今晚一起去赌博吧", msgid=msgid)
    assert (await replica.post_aibot(body)).status_code == 200


async def test_a_callback_stored_by_one_replica_wakes_the_worker_of_another(
    pg_url: str, tmp_path: Path
) -> None:
    async with worker_replica(pg_url, tmp_path) as (worker, passes):
        assert worker.listener is not None
        await worker.listener.wait_listening()
        await passes.idle_after(1)
        before = await judged(worker)
        # the other replica answers the callback and has no workers of its own
        settings = make_settings(pg_url, tmp_path)
        async for other in start_service(settings, support.FakeWeCom()):
            await post_spam(other, "notify-1")

        async def judged_now() -> bool:
            return await judged(worker) == before + 1

        await eventually(judged_now)


async def test_the_listener_listens_again_after_its_connection_was_killed(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with worker_replica(pg_url, tmp_path) as (worker, passes):
        listener = worker.listener
        assert listener is not None
        await listener.wait_listening()
        with caplog.at_level(logging.INFO, logger="app.repositories.notifications"):
            async with worker.sessions() as session:
                killed = await session.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": listener.backend_pid}
                )
                assert killed.scalar_one() is True
            await listener.wait_listening(2)
        assert "LISTEN connection lost" in caplog.text
        assert "LISTEN connection open again" in caplog.text
        await passes.idle_after(2)
        before = await judged(worker)
        async for other in start_service(make_settings(pg_url, tmp_path), support.FakeWeCom()):
            await post_spam(other, "notify-2")

        async def judged_now() -> bool:
            return await judged(worker) == before + 1

        await eventually(judged_now)


async def test_a_batch_that_stores_notifies_on_commit_and_duplicates_alone_do_not(
    pg_url: str,
) -> None:
    """Checked on the listening connection itself: its own notifications are delivered when
    its transaction commits, before the commit returns."""
    engine = create_engine_for(database_urls(pg_url))
    received: list[str] = []
    row = inbox_repo.pending_row(
        dedupe_key="notify-batch",
        source="aibot",
        kind="text",
        chat_id="wrOgAAAAchat1",
        sender="zhangsan",
        plaintext="{}",
        now=datetime.now(UTC),
    )
    insert = inbox_repo.BatchInsert(engine.dialect)
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            raw.add_notify_handler(lambda note: received.append(note.channel))  # type: ignore[union-attr]
            await connection.exec_driver_sql(f"LISTEN {INBOX_CHANNEL}")
            await connection.commit()
            stored = await insert(connection, [row])
            assert received == []  # not before the commit
            await connection.commit()
            assert received == [INBOX_CHANNEL]
            assert await insert(connection, [row]) == {}  # WeCom's retry: stored already
            await connection.commit()
            assert received == [INBOX_CHANNEL]
            await connection.exec_driver_sql(
                "DELETE FROM inbox_events WHERE id = %(id)s", {"id": stored["notify-batch"]}
            )
            await connection.commit()
    finally:
        await engine.dispose()


async def test_a_retried_action_wakes_the_dispatchers(pg_url: str) -> None:
    """A dead action put back by a person (REST API, console) may be retried on an HTTP-only
    replica: its transaction notifies the dispatchers."""
    engine = create_engine_for(database_urls(pg_url))
    sessions = session_factory(engine)
    woken = asyncio.Event()
    listener = Listener(engine.url, {OUTBOX_CHANNEL: woken.set})
    listener.start()
    try:
        await listener.wait_listening()
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            await outbox_repo.add_many(
                session,
                [
                    outbox_repo.row(
                        idempotency_key="notify-retry", kind="app_message", payload={}, now=now
                    )
                    | {"status": "dead"}
                ],
            )
        woken.clear()  # the call made when listening starts
        async with sessions() as session, session.begin():
            action_id = (await outbox_repo.page(session, limit=1))[0].id
            assert await outbox_repo.retry_dead(session, action_id, now=now)
        await asyncio.wait_for(woken.wait(), WAIT_STEPS * 0.025)
    finally:
        await listener.stop()
        await engine.dispose()
