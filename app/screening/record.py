"""A member's record across groups: the standing strikes a member has in the company's other
groups, counted in a group at its policy's `cross_group_strike_weight` (default 0: not at
all), and shown in the moderators' alert about a message (`record_line`). Pardons and decay
apply as for the group's own strikes: only unpardoned strikes within the group's
`strike_window_days` count. Join screening shows the same record to the
moderators of the group a member joins (`screen.record`), and the console's member page
lists it (`record_elsewhere`)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.repositories import screenings as screenings_repo
from app.repositories import strikes as strikes_repo
from app.texts import Texts
from moderation import GroupPolicy

__all__ = [
    "GroupRecord",
    "record_elsewhere",
    "record_line",
    "record_lines",
    "strikes_from_elsewhere",
]


async def strikes_from_elsewhere(
    session: AsyncSession, chat_id: str, user_id: str, *, policy: GroupPolicy, now: datetime
) -> int:
    """The strikes from other groups a member starts with in `chat_id`: their standing strikes
    elsewhere times the policy's weight, rounded down (no query when the weight is 0)."""
    weight = policy.cross_group_strike_weight
    if not weight:
        return 0
    elsewhere = await strikes_repo.standing_elsewhere(
        session, user_id, except_chat=chat_id, since=now - timedelta(days=policy.strike_window_days)
    )
    return math.floor(weight * sum(elsewhere.values()))


@dataclass(frozen=True)
class GroupRecord:
    chat_id: str
    name: str  # "" when not known
    strikes: int  # standing strikes there


async def record_elsewhere(
    session: AsyncSession, chat_id: str, user_id: str, *, policy: GroupPolicy, now: datetime
) -> list[GroupRecord]:
    """The member's standing strikes in each of the company's other groups (within `chat_id`'s
    policy's `strike_window_days`), by chat id; empty when there are none."""
    elsewhere = await strikes_repo.standing_elsewhere(
        session, user_id, except_chat=chat_id, since=now - timedelta(days=policy.strike_window_days)
    )
    if not elsewhere:
        return []
    names = await screenings_repo.group_names(session, elsewhere)
    return [GroupRecord(chat, names.get(chat) or "", count) for chat, count in elsewhere.items()]


async def record_line(
    session: AsyncSession,
    texts: Texts,
    chat_id: str,
    user_id: str,
    *,
    policy: GroupPolicy,
    now: datetime,
) -> str:
    """A line for a moderator alert naming the member's standing strikes in the company's
    other groups ("alert.record"), or "" when there are none."""
    record = await record_elsewhere(session, chat_id, user_id, policy=policy, now=now)
    return _line(texts, record)


async def record_lines(
    session: AsyncSession,
    texts: Texts,
    alerts: Sequence[tuple[str, str, GroupPolicy, Mapping[str, int]]],
    *,
    now: datetime,
) -> list[str]:
    """`record_line` for several alerts with two statements in all: (chat id, user id, the
    group's policy, the member's strikes not stored yet by chat id) each."""
    if not alerts:
        return []
    since = [now - timedelta(days=policy.strike_window_days) for _c, _u, policy, _n in alerts]
    stored = await strikes_repo.standing_of_members(
        session, [user_id for _chat, user_id, _policy, _new in alerts], since=min(since)
    )
    counts: list[Counter[str]] = []
    for (chat_id, user_id, _policy, unstored), start in zip(alerts, since, strict=True):
        count: Counter[str] = Counter(
            other for other, at in stored.get(user_id, ()) if other != chat_id and at >= start
        )
        count.update({other: n for other, n in unstored.items() if other != chat_id and n})
        counts.append(count)
    chats = sorted({chat for count in counts for chat in count})
    names = await screenings_repo.group_names(session, chats) if chats else {}
    return [
        _line(
            texts,
            [GroupRecord(chat, names.get(chat) or "", count[chat]) for chat in sorted(count)],
        )
        for count in counts
    ]


def _line(texts: Texts, record: Sequence[GroupRecord]) -> str:
    if not record:
        return ""
    groups = "、".join(
        texts.render("alert.record_group", group=item.name or item.chat_id, count=item.strikes)
        for item in record
    )
    return texts.render("alert.record", strikes=sum(item.strikes for item in record), groups=groups)
