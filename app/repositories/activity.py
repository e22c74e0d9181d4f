"""Queries on `message_meta`: the recent messages of a group, for the flood windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MessageMeta
from app.repositories import rowcount
from moderation import MessageMeta as FloodMeta

__all__ = ["add_many", "prune", "recent", "recent_many", "row"]

MAX_HISTORY_ROWS = 2000  # newest rows of a group loaded for one message, at most


def row(
    *, chat_id: str, sender: str, sent_at: datetime, msg_type: str, length: int, text_hash: str
) -> dict[str, Any]:
    """One message's metadata, for `add_many`."""
    return {
        "chat_id": chat_id,
        "sender": sender,
        "sent_at": sent_at,
        "msg_type": msg_type[:16],
        "length": length,
        "text_hash": text_hash,
    }


async def add_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store messages' metadata (`row`), in one statement run."""
    if rows:
        await session.execute(insert(MessageMeta), list(rows))


async def recent(
    session: AsyncSession, chat_id: str, *, since: datetime, until: datetime
) -> list[FloodMeta]:
    """The group's messages sent in [since, until], newest first, at most MAX_HISTORY_ROWS."""
    return (await recent_many(session, {chat_id: (since, until)})).get(chat_id, [])


async def recent_many(
    session: AsyncSession, windows: Mapping[str, tuple[datetime, datetime]]
) -> dict[str, list[FloodMeta]]:
    """`recent` for several groups in one query: chat id → (since, until) → the group's
    messages in that window, newest first, at most MAX_HISTORY_ROWS each (absent: none). Read
    as plain columns, not ORM objects: a busy group's window holds thousands of rows."""
    if not windows:
        return {}
    newest_first = (MessageMeta.sent_at.desc(), MessageMeta.id.desc())
    ranked = (
        select(
            MessageMeta.id,
            MessageMeta.chat_id,
            MessageMeta.sender,
            MessageMeta.sent_at,
            MessageMeta.msg_type,
            MessageMeta.length,
            MessageMeta.text_hash,
            func.row_number()
            .over(partition_by=MessageMeta.chat_id, order_by=newest_first)
            .label("rank"),
        )
        .where(
            or_(
                *(
                    and_(
                        MessageMeta.chat_id == chat_id,
                        MessageMeta.sent_at >= since,
                        MessageMeta.sent_at <= until,
                    )
                    for chat_id, (since, until) in sorted(windows.items())
                )
            )
        )
        .subquery()
    )
    column = ranked.c
    statement = (
        select(
            column.chat_id,
            column.sender,
            column.sent_at,
            column.msg_type,
            column.length,
            column.text_hash,
        )
        .where(column.rank <= MAX_HISTORY_ROWS)
        .order_by(column.chat_id, column.sent_at.desc(), column.id.desc())
    )
    found: dict[str, list[FloodMeta]] = {}
    for chat_id, sender, sent_at, msg_type, length, text_hash in await session.execute(statement):
        found.setdefault(chat_id, []).append(
            FloodMeta(
                at=sent_at.timestamp(),
                sender=sender,
                chat_id=chat_id,
                msg_type=msg_type,
                length=length,
                text_hash=text_hash,
            )
        )
    return found


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Delete metadata of messages sent before `before`; returns how many rows went."""
    result = await session.execute(
        delete(MessageMeta)
        .where(MessageMeta.sent_at < before)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
