"""`BulkInsert`, the statement a batch of judging writes its rows with (one `unnest` INSERT on
PostgreSQL, an executemany on SQLite): the rows it writes read back exactly as the table's Core
INSERT writes them (JSON, NULLs, UTC times, defaults of the columns left out), it returns what
was asked for, and a value the column type refuses fails the statement with nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, insert, select
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import create_engine_for, database_urls, session_factory
from app.models import MessageMeta, OutboxAction
from app.repositories.bulk import BulkInsert

OUTBOX = cast(Table, OutboxAction.__table__)
META = cast(Table, MessageMeta.__table__)
AT = datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine_for(database_urls(database_url))
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def outbox_rows(prefix: str) -> list[dict[str, Any]]:
    """Rows with what makes a bulk write go wrong if it can: nested JSON with Chinese text, a
    JSON null, SQL NULLs, a time given in another zone; `status` and `attempts` left to their
    defaults."""
    return [
        {
            "idempotency_key": f"{prefix}-1",
            "kind": "aibot_reply",
            "payload": {"markdown": {"content": "请勿发广告 **代**票"}, "n": [1, 2.5, None]},
            "moderation_log_id": None,
            "next_attempt_at": AT,
            "last_error": None,
            "created_at": AT,
        },
        {
            "idempotency_key": f"{prefix}-2",
            "kind": "app_message",
            "payload": None,
            "moderation_log_id": None,
            "next_attempt_at": AT.astimezone(timezone(timedelta(hours=8))),
            "last_error": "引号 ' \" 和反斜杠 \\",
            "created_at": AT + timedelta(seconds=1),
        },
    ]


def read_back(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(row)[1:] for row in rows]  # all but the id


async def test_rows_read_back_as_the_core_insert_writes_them(session: AsyncSession) -> None:
    async with session.begin():
        await session.execute(insert(OUTBOX), outbox_rows("core"))
        assert await BulkInsert(OUTBOX)(session, outbox_rows("bulk")) == []
    rows = (await session.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all()
    core, bulk = read_back(rows[:2]), read_back(rows[2:])
    assert [row[0] for row in bulk] == ["bulk-1", "bulk-2"]
    assert [row[1:] for row in bulk] == [row[1:] for row in core]
    assert {row.status for row in rows} == {"pending"}  # the column default
    assert {row.attempts for row in rows} == {0}
    assert rows[3].next_attempt_at == AT


async def test_returning_gives_each_rows_columns(session: AsyncSession) -> None:
    rows = [
        {
            "chat_id": f"wrChat{i}",
            "sender": "lisi",
            "sent_at": AT + timedelta(seconds=i),
            "msg_type": "text",
            "length": i,
            "text_hash": f"hash{i}",
            "short_text": "收到",
        }
        for i in range(300)
    ]
    async with session.begin():
        written = await BulkInsert(META, returning=("chat_id", "id"))(session, rows)
    ids = dict(written)
    assert len(ids) == 300
    stored = (await session.execute(select(META.c.id, META.c.chat_id, META.c.sent_at))).all()
    assert {row.chat_id: row.id for row in stored} == ids
    assert sorted(row.sent_at for row in stored) == [row["sent_at"] for row in rows]


async def test_a_naive_time_fails_the_statement_and_writes_nothing(session: AsyncSession) -> None:
    rows = outbox_rows("naive")
    rows[1]["created_at"] = datetime(2026, 12, 7, 9, 30)  # no zone: which hour would it be?
    with pytest.raises(StatementError, match="naive datetime"):
        async with session.begin():
            await BulkInsert(OUTBOX)(session, rows)
    assert (await session.execute(select(OUTBOX.c.id))).all() == []


async def test_no_rows_is_no_statement(session: AsyncSession) -> None:
    statements: list[str] = []
    engine = session.bind.sync_engine  # type: ignore[union-attr]

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async with session.begin():
        await session.execute(select(OUTBOX.c.id))  # the transaction's own first statement
        event.listen(engine, "before_cursor_execute", note)
        try:
            assert await BulkInsert(OUTBOX, returning=("id",))(session, []) == []
            assert await BulkInsert(META)(session, []) == []
        finally:
            event.remove(engine, "before_cursor_execute", note)
    assert statements == []


async def test_an_over_long_string_is_refused_as_the_core_insert_refuses_it(
    session: AsyncSession, database_url: str
) -> None:
    """PostgreSQL refuses a value longer than its varchar column (SQLite keeps any length):
    the bulk statement must not cut it short instead."""
    rows = outbox_rows("long")
    rows[0]["kind"] = "k" * 40  # outbox_actions.kind is String(32)
    if not database_url.startswith("postgresql"):
        async with session.begin():
            await BulkInsert(OUTBOX)(session, rows)
        kinds = (await session.execute(select(OUTBOX.c.kind))).scalars().all()
        assert "k" * 40 in kinds
        return
    with pytest.raises(DBAPIError, match="too long"):
        async with session.begin():
            await BulkInsert(OUTBOX)(session, rows)
