"""Queries on `strikes`: a member's standing offences in a group, pardons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Strike
from app.repositories.bulk import BulkInsert

__all__ = [
    "add",
    "add_many",
    "counts_by_rule",
    "every",
    "pardon",
    "pardon_for_log",
    "row",
    "standing",
    "standing_count",
    "standing_counts",
    "standing_counts_many",
    "standing_elsewhere",
    "standing_of_members",
]

_INSERT = BulkInsert(cast(Table, Strike.__table__))
# Built once, run for every batch (`standing_counts_many`, `standing_of_members`).
_STANDING = select(Strike.chat_id, Strike.user_id, Strike.created_at, Strike.shadow).where(
    Strike.pardoned_at.is_(None),
    Strike.chat_id.in_(bindparam("chat_ids", expanding=True)),
    Strike.user_id.in_(bindparam("user_ids", expanding=True)),
    Strike.created_at >= bindparam("since"),
)
_STANDING_OF_MEMBERS = select(Strike.user_id, Strike.chat_id, Strike.created_at).where(
    Strike.user_id.in_(bindparam("user_ids", expanding=True)),
    Strike.created_at >= bindparam("since"),
    Strike.pardoned_at.is_(None),
    Strike.shadow.is_(False),
)


def add(
    session: AsyncSession,
    *,
    chat_id: str,
    user_id: str,
    created_at: datetime,
    moderation_log_id: int,
    rule: str,
    shadow: bool,
) -> None:
    session.add(
        Strike(
            **row(
                chat_id=chat_id,
                user_id=user_id,
                created_at=created_at,
                moderation_log_id=moderation_log_id,
                rule=rule,
                shadow=shadow,
            )
        )
    )


def row(
    *,
    chat_id: str,
    user_id: str,
    created_at: datetime,
    moderation_log_id: int,
    rule: str,
    shadow: bool,
) -> dict[str, Any]:
    """One strike as `add_many` writes it."""
    return {
        "chat_id": chat_id,
        "user_id": user_id,
        "created_at": created_at,
        "moderation_log_id": moderation_log_id,
        "rule": rule[:64],
        "shadow": shadow,
    }


async def add_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write strikes (`row`) with one statement run; nothing when `rows` is empty."""
    if rows:
        await _INSERT(session, rows)


def _standing(chat_id: str, user_id: str, *, since: datetime, shadow: bool) -> list[object]:
    return [
        Strike.chat_id == chat_id,
        Strike.user_id == user_id,
        Strike.created_at >= since,
        Strike.pardoned_at.is_(None),
        Strike.shadow.is_(shadow),
    ]


async def standing_count(
    session: AsyncSession, chat_id: str, user_id: str, *, since: datetime, shadow: bool
) -> int:
    """Unpardoned strikes since `since` (the decay window), of shadow or enforce mode."""
    statement = select(func.count()).where(
        *_standing(chat_id, user_id, since=since, shadow=shadow)  # type: ignore[arg-type]
    )
    return int((await session.execute(statement)).scalar_one())


async def standing(
    session: AsyncSession, chat_id: str, user_id: str, *, since: datetime, shadow: bool
) -> Sequence[Strike]:
    statement = (
        select(Strike)
        .where(*_standing(chat_id, user_id, since=since, shadow=shadow))  # type: ignore[arg-type]
        .order_by(Strike.created_at)
    )
    return (await session.execute(statement)).scalars().all()


async def every(session: AsyncSession, chat_id: str, user_id: str) -> Sequence[Strike]:
    """Every strike of the member in the group, oldest first (pardoned and shadow ones too)."""
    statement = (
        select(Strike)
        .where(Strike.chat_id == chat_id, Strike.user_id == user_id)
        .order_by(Strike.created_at, Strike.id)
    )
    return (await session.execute(statement)).scalars().all()


async def pardon(
    session: AsyncSession, chat_id: str, user_id: str, *, now: datetime, by: str
) -> int:
    """Clear every unpardoned strike of the member in the group; returns how many."""
    result = await session.execute(
        update(Strike)
        .where(
            Strike.chat_id == chat_id,
            Strike.user_id == user_id,
            Strike.pardoned_at.is_(None),
        )
        .values(pardoned_at=now, pardoned_by=by[:128])
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def standing_counts(
    session: AsyncSession, chat_id: str, user_ids: Sequence[str], *, since: datetime, shadow: bool
) -> dict[str, int]:
    """`standing_count` for several members of one group at once (absent: 0)."""
    found = await standing_counts_many(session, {chat_id: (user_ids, since, shadow)})
    return {user_id: count for (_chat, user_id), count in found.items()}


async def standing_counts_many(
    session: AsyncSession, wanted: Mapping[str, tuple[Sequence[str], datetime, bool]]
) -> dict[tuple[str, str], int]:
    """`standing_count` for members of several groups in one query: chat id → (user ids,
    since, shadow) → (chat id, user id) → count (absent: 0).

    The statement has the same shape for every batch (the groups and members as two lists,
    the earliest `since`), and the rows each group asked for are picked out here: strikes are
    few, and building and keying a statement with a clause per group cost a batch of judging
    more than its queries (a seventh of it in a profile)."""
    asked = {
        chat_id: (frozenset(user_ids), since, shadow)
        for chat_id, (user_ids, since, shadow) in wanted.items()
        if user_ids
    }
    if not asked:
        return {}
    parameters = {
        "chat_ids": sorted(asked),
        "user_ids": sorted(set().union(*(users for users, _s, _sh in asked.values()))),
        "since": min(since for _users, since, _shadow in asked.values()),
    }
    counts: Counter[tuple[str, str]] = Counter()
    for chat_id, user_id, created_at, shadow in await session.execute(_STANDING, parameters):
        users, since, wanted_shadow = asked[chat_id]
        if user_id in users and created_at >= since and bool(shadow) == wanted_shadow:
            counts[chat_id, user_id] += 1
    return dict(counts)


async def counts_by_rule(
    session: AsyncSession, starts: Sequence[datetime], *, chat_ids: Sequence[str] | None
) -> list[dict[str, int]]:
    """Offences that stand (not pardoned), by rule, in `chat_ids` (None: every group), for
    several windows that end now (one per start in `starts`), with one read of the widest
    window from the index of standing strikes: the web console's overview."""
    if not starts:
        return []
    columns = [func.sum(case((Strike.created_at >= start, 1), else_=0)) for start in starts]
    statement = (
        select(Strike.rule, *columns)
        .where(Strike.created_at >= min(starts), Strike.pardoned_at.is_(None))
        .group_by(Strike.rule)
    )
    if chat_ids is not None:
        statement = statement.where(Strike.chat_id.in_(list(chat_ids)))
    found: list[dict[str, int]] = [{} for _ in starts]
    for rule, *counts in (await session.execute(statement)).all():
        for window, count in zip(found, counts, strict=True):
            if count:
                window[rule] = int(count)
    return found


async def pardon_for_log(
    session: AsyncSession, moderation_log_id: int, *, now: datetime, by: str
) -> int:
    """Pardon the strike a moderation log row gave (if it stands); returns 0 or 1."""
    result = await session.execute(
        update(Strike)
        .where(Strike.moderation_log_id == moderation_log_id, Strike.pardoned_at.is_(None))
        .values(pardoned_at=now, pardoned_by=by[:128])
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def standing_elsewhere(
    session: AsyncSession, user_id: str, *, except_chat: str, since: datetime
) -> dict[str, int]:
    """A member's standing (unpardoned, not shadow) strikes since `since` in every group but
    `except_chat`: chat id → count (a member's record across groups)."""
    statement = (
        select(Strike.chat_id, func.count())
        .where(
            Strike.user_id == user_id,
            Strike.chat_id != except_chat,
            Strike.created_at >= since,
            Strike.pardoned_at.is_(None),
            Strike.shadow.is_(False),
        )
        .group_by(Strike.chat_id)
        .order_by(Strike.chat_id)
    )
    return {chat_id: int(count) for chat_id, count in await session.execute(statement)}


async def standing_of_members(
    session: AsyncSession, user_ids: Sequence[str], *, since: datetime
) -> dict[str, list[tuple[str, datetime]]]:
    """The standing (unpardoned, not shadow) strikes since `since` of each of `user_ids` in
    any group: user id → (chat id, created at) of each, in one statement (what
    `standing_elsewhere` counts, for several members; absent: none)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    found: dict[str, list[tuple[str, datetime]]] = {}
    parameters = {"user_ids": wanted, "since": since}
    for user_id, chat_id, created_at in await session.execute(_STANDING_OF_MEMBERS, parameters):
        found.setdefault(user_id, []).append((chat_id, created_at))
    return found
