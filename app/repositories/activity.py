"""Queries on `message_meta`: the recent messages of a group, for the flood windows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MessageMeta
from app.repositories import rowcount

__all__ = ["add", "prune", "recent"]

MAX_HISTORY_ROWS = 2000  # newest rows of a group loaded for one message, at most


def add(
    session: AsyncSession,
    *,
    chat_id: str,
    sender: str,
    sent_at: datetime,
    msg_type: str,
    length: int,
    text_hash: str,
) -> None:
    session.add(
        MessageMeta(
            chat_id=chat_id,
            sender=sender,
            sent_at=sent_at,
            msg_type=msg_type[:16],
            length=length,
            text_hash=text_hash,
        )
    )


async def recent(
    session: AsyncSession, chat_id: str, *, since: datetime, until: datetime
) -> Sequence[MessageMeta]:
    """The group's messages sent in [since, until], newest first, at most MAX_HISTORY_ROWS."""
    statement = (
        select(MessageMeta)
        .where(
            MessageMeta.chat_id == chat_id,
            MessageMeta.sent_at >= since,
            MessageMeta.sent_at <= until,
        )
        .order_by(MessageMeta.sent_at.desc(), MessageMeta.id.desc())
        .limit(MAX_HISTORY_ROWS)
    )
    return (await session.execute(statement)).scalars().all()


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Delete metadata of messages sent before `before`; returns how many rows went."""
    result = await session.execute(
        delete(MessageMeta)
        .where(MessageMeta.sent_at < before)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
