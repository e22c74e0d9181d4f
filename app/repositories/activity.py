"""Queries on `message_meta`: the recent messages of a group that its flood rules need."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MessageMeta
from app.repositories import rowcount
from app.repositories.bulk import BulkInsert
from moderation import MessageMeta as FloodMeta

__all__ = ["HistoryQuery", "add_many", "groups_with_texts", "prune", "recent_many", "row"]

MAX_HISTORY_ROWS = 2000  # newest matching rows of a group loaded for a batch, at most
SHORT_TEXT_COLUMN = 8  # characters of `message_meta.short_text`


_INSERT = BulkInsert(cast(Table, MessageMeta.__table__))  # not the ORM's bulk insert


def row(
    *,
    chat_id: str,
    sender: str,
    sent_at: datetime,
    msg_type: str,
    length: int,
    text_hash: str,
    short_text: str = "",
) -> dict[str, Any]:
    """One message's metadata, for `add_many`."""
    return {
        "chat_id": chat_id,
        "sender": sender,
        "sent_at": sent_at,
        "msg_type": msg_type[:16],
        "length": length,
        "text_hash": text_hash,
        "short_text": short_text[:SHORT_TEXT_COLUMN],
    }


async def add_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store messages' metadata (`row`), in one statement run."""
    if rows:
        await _INSERT(session, rows)


@dataclass(frozen=True)
class HistoryQuery:
    """What one group's flood rules need of its history: the messages sent in [since, until]
    by `senders` (rate, repeat, short burst) or with a fingerprint in `hashes` (wave). Every
    rule that reads history looks only at the member's own messages or at copies of the same
    text, so the rest of a busy group's window is never loaded."""

    since: datetime
    until: datetime
    senders: frozenset[str]
    hashes: frozenset[str] = frozenset()


_HISTORY_STATEMENTS: dict[int, Any] = {}  # `recent_many`'s, by number of groups


def _history_statement(groups: int) -> Any:
    """`recent_many`'s statement for `groups` groups, built once per number of groups: a
    clause per group with its parameters named by index (`chat_i`, `since_i`, `until_i`,
    `senders_i` and `hashes_i`, both expanding; an empty list matches nothing), so that a batch
    neither builds nor compiles it again."""
    known = _HISTORY_STATEMENTS.get(groups)
    if known is not None:
        return known
    newest_first = (MessageMeta.sent_at.desc(), MessageMeta.id.desc())

    def matching(index: int) -> ColumnElement[bool]:
        return and_(
            MessageMeta.chat_id == bindparam(f"chat_{index}"),
            MessageMeta.sent_at >= bindparam(f"since_{index}"),
            MessageMeta.sent_at <= bindparam(f"until_{index}"),
            or_(
                MessageMeta.sender.in_(bindparam(f"senders_{index}", expanding=True)),
                MessageMeta.text_hash.in_(bindparam(f"hashes_{index}", expanding=True)),
            ),
        )

    ranked = (
        select(
            MessageMeta.id,
            MessageMeta.chat_id,
            MessageMeta.sender,
            MessageMeta.sent_at,
            MessageMeta.msg_type,
            MessageMeta.length,
            MessageMeta.text_hash,
            MessageMeta.short_text,
            func.row_number()
            .over(partition_by=MessageMeta.chat_id, order_by=newest_first)
            .label("rank"),
        )
        .where(or_(*(matching(index) for index in range(groups))))
        .subquery()
    )
    column = ranked.c
    statement: Select[Any] = (
        select(
            column.chat_id,
            column.sender,
            column.sent_at,
            column.msg_type,
            column.length,
            column.text_hash,
            column.short_text,
        )
        .where(column.rank <= MAX_HISTORY_ROWS)
        .order_by(column.chat_id, column.sent_at.desc(), column.id.desc())
    )
    _HISTORY_STATEMENTS[groups] = statement
    return statement


async def recent_many(
    session: AsyncSession, queries: Mapping[str, HistoryQuery]
) -> dict[str, list[FloodMeta]]:
    """Chat id → its `HistoryQuery`'s messages, newest first, at most MAX_HISTORY_ROWS per group
    (absent: none), in one statement. Read as plain columns, not ORM objects: a wave's window
    can hold thousands of rows."""
    wanted = sorted(
        ((chat, query) for chat, query in queries.items() if query.senders or query.hashes),
        key=lambda item: item[0],
    )
    if not wanted:
        return {}
    parameters: dict[str, Any] = {}
    for index, (chat_id, query) in enumerate(wanted):
        parameters[f"chat_{index}"] = chat_id
        parameters[f"since_{index}"] = query.since
        parameters[f"until_{index}"] = query.until
        parameters[f"senders_{index}"] = sorted(query.senders)
        parameters[f"hashes_{index}"] = sorted(query.hashes)
    statement = _history_statement(len(wanted))
    found: dict[str, list[FloodMeta]] = {}
    rows = await session.execute(statement, parameters)
    for chat_id, sender, sent_at, msg_type, length, text_hash, short_text in rows:
        found.setdefault(chat_id, []).append(
            FloodMeta(
                at=sent_at.timestamp(),
                sender=sender,
                chat_id=chat_id,
                msg_type=msg_type,
                length=length,
                text_hash=text_hash,
                short_text=short_text or "",
            )
        )
    return found


_WITH_TEXTS = (  # `groups_with_texts`'s, built once
    select(MessageMeta.text_hash, MessageMeta.chat_id, MessageMeta.sent_at)
    .where(
        MessageMeta.text_hash.in_(bindparam("hashes", expanding=True)),
        MessageMeta.sent_at >= bindparam("since"),
        MessageMeta.sent_at <= bindparam("until"),
    )
    .distinct()
)


async def groups_with_texts(
    session: AsyncSession, hashes: Sequence[str], *, since: datetime, until: datetime
) -> dict[str, list[tuple[str, datetime]]]:
    """Text fingerprint → (group, sent at) of each message with it sent within [since, until],
    for each of `hashes` sent anywhere then: how far a text spread across the corp's groups
    (the wave rule), in one statement."""
    wanted = sorted({text_hash for text_hash in hashes if text_hash})
    if not wanted:
        return {}
    found: dict[str, list[tuple[str, datetime]]] = {}
    parameters = {"hashes": wanted, "since": since, "until": until}
    for text_hash, chat_id, sent_at in await session.execute(_WITH_TEXTS, parameters):
        found.setdefault(text_hash, []).append((chat_id, sent_at))
    return found


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Delete metadata of messages sent before `before`; returns how many rows went."""
    result = await session.execute(
        delete(MessageMeta)
        .where(MessageMeta.sent_at < before)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
