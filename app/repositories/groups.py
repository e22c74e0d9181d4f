"""Queries on `groups` and `group_members`."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, func, or_, select, tuple_, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Group, GroupKind, GroupMember
from app.repositories import built_once, insert_of

__all__ = [
    "ensure",
    "ensure_many",
    "ensure_member",
    "ensure_member_counts",
    "ensure_members",
    "get",
    "get_member",
    "lock",
    "many",
    "members_named",
    "members_page",
    "moderated_by",
    "named",
    "names",
    "page",
    "record_messages",
    "webhook_key",
]

# `last_seen_at` moves at most this often: rewriting it for every batch of messages would hold
# the group's row lock through each batch's transaction, and make replicas wait for each other.
LAST_SEEN_STEP = timedelta(minutes=1)


def _insert_new(
    session: AsyncSession, model: type[Group | GroupMember], keys: tuple[str, ...]
) -> Any:
    """INSERT … ON CONFLICT (`keys`) DO NOTHING into `model`'s table, run with a list of rows
    (one statement run; built once per dialect)."""
    table = cast(Table, model.__table__)
    return built_once(
        session,
        ("insert_new", table.name),
        lambda dialect: insert_of(dialect)(table).on_conflict_do_nothing(index_elements=list(keys)),
    )


# Built once: the reads of `ensure_many` and `ensure_members`, run for every batch.
_GROUPS_NAMED = (
    select(Group).where(Group.chat_id.in_(bindparam("chat_ids", expanding=True))).order_by(Group.id)
)
_MEMBERS_NAMED = select(GroupMember).where(
    tuple_(GroupMember.chat_id, GroupMember.user_id).in_(bindparam("keys", expanding=True))
)
_MEMBERS = cast(Table, GroupMember.__table__)
_MEMBER_COUNTS = select(
    _MEMBERS.c.chat_id,
    _MEMBERS.c.user_id,
    _MEMBERS.c.id,
    _MEMBERS.c.first_seen_at,
    _MEMBERS.c.messages,
).where(tuple_(_MEMBERS.c.chat_id, _MEMBERS.c.user_id).in_(bindparam("keys", expanding=True)))
_RECORD_MESSAGES = (
    update(_MEMBERS)
    .where(_MEMBERS.c.id == bindparam("member_id"))
    .values(messages=_MEMBERS.c.messages + bindparam("added"), last_message_at=bindparam("at"))
)


async def ensure(
    session: AsyncSession,
    chat_id: str,
    *,
    now: datetime,
    kind: GroupKind | str = "",
    smart_bot: bool = False,
) -> Group:
    """The group's row, created on first sight (by any replica: ON CONFLICT DO NOTHING). A
    known `kind` (a `GroupKind` or its value) replaces "unknown"; `smart_bot` is remembered
    once seen."""
    found = await ensure_many(
        session, [chat_id], now=now, kind=kind, smart_bot=[chat_id] if smart_bot else []
    )
    return found[chat_id]


async def ensure_many(
    session: AsyncSession,
    chat_ids: Iterable[str],
    *,
    now: datetime,
    kind: GroupKind | str = "",
    smart_bot: Collection[str] = (),
) -> dict[str, Group]:
    """`ensure` for several groups, by chat id: one SELECT, and one INSERT (returning the new
    rows) when some are new. Rows are inserted in chat id order, so that two replicas'
    transactions take the locks of new rows in the same order; the groups in `smart_bot` had a
    message through the smart bot."""
    wanted = sorted(set(chat_ids))
    if not wanted:
        return {}
    known = GroupKind(kind) if kind else None
    found = {
        group.chat_id: group
        for group in (await session.execute(_GROUPS_NAMED, {"chat_ids": wanted})).scalars()
    }
    missing = [chat_id for chat_id in wanted if chat_id not in found]
    if missing:
        rows = [
            {
                "chat_id": chat_id,
                "name": "",
                "owner": "",
                "kind": known or GroupKind.UNKNOWN,
                "smart_bot": chat_id in smart_bot,
                "rules_text": "",
                "welcome_template": "",
                "policy": {},
                "moderators": [],
                "member_version": "",
                "first_seen_at": now,
                "last_seen_at": now,
                "updated_at": now,
            }
            for chat_id in missing
        ]
        insert = built_once(
            session,
            "insert_groups",
            lambda dialect: (
                insert_of(dialect)(Group)
                .on_conflict_do_nothing(index_elements=["chat_id"])
                .returning(Group)
            ),
        )
        added = (await session.execute(insert, rows)).scalars()
        found.update((group.chat_id, group) for group in added)
        raced = [chat_id for chat_id in missing if chat_id not in found]
        if raced:  # another replica inserted them meanwhile
            again = await session.execute(_GROUPS_NAMED, {"chat_ids": raced})
            found.update((group.chat_id, group) for group in again.scalars())
    for group in found.values():
        if now - group.last_seen_at >= LAST_SEEN_STEP:  # not every batch: the row stays unlocked
            group.last_seen_at = now
        if known is not None and group.kind == GroupKind.UNKNOWN:
            group.kind = known
        if group.chat_id in smart_bot and not group.smart_bot:
            group.smart_bot = True
    return found


async def get(session: AsyncSession, chat_id: str) -> Group | None:
    return (
        await session.execute(select(Group).where(Group.chat_id == chat_id))
    ).scalar_one_or_none()


async def webhook_key(session: AsyncSession, chat_id: str) -> str | None:
    """The group's sealed webhook robot key; None when it has none (or is unknown)."""
    return (
        await session.execute(select(Group.webhook_key).where(Group.chat_id == chat_id))
    ).scalar_one_or_none()


async def named(session: AsyncSession, name: str, *, limit: int = 5) -> Sequence[Group]:
    """Groups whose name is exactly `name` (at most `limit`: two already tell it is not unique)."""
    statement = select(Group).where(Group.name == name).order_by(Group.id).limit(limit)
    return (await session.execute(statement)).scalars().all()


async def lock(session: AsyncSession, chat_id: str) -> None:
    """Hold the group's row lock until the transaction ends, so that replicas handling the same
    group's reports one after another see each other's rows (PostgreSQL; SQLite has one
    writer at a time anyway)."""
    await session.execute(select(Group.id).where(Group.chat_id == chat_id).with_for_update())


async def get_member(session: AsyncSession, chat_id: str, user_id: str) -> GroupMember | None:
    return (
        await session.execute(
            select(GroupMember).where(
                GroupMember.chat_id == chat_id, GroupMember.user_id == user_id
            )
        )
    ).scalar_one_or_none()


async def members_named(
    session: AsyncSession, chat_id: str, name: str, *, limit: int = 10
) -> Sequence[GroupMember]:
    """The group's members whose display name (as WeCom has it) is exactly `name`."""
    statement = (
        select(GroupMember)
        .where(GroupMember.chat_id == chat_id, GroupMember.name == name)
        .order_by(GroupMember.id)
        .limit(limit)
    )
    return (await session.execute(statement)).scalars().all()


async def moderated_by(session: AsyncSession, user: str) -> list[str]:
    """The chat ids of the groups `user` owns or moderates (in the group's `moderators` list),
    sorted: `app.chat.registry.role_of`'s group rule as one query that returns only their
    groups (the web console works out a moderator's groups on every request)."""
    if not user:
        return []
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        listed = sql_cast(Group.moderators, JSONB).contains([user])
    else:
        member = func.json_each(Group.moderators).table_valued("value")
        listed = exists(select(1).select_from(member).where(member.c.value == user))
    statement = select(Group.chat_id).where(or_(Group.owner == user, listed))
    return sorted((await session.execute(statement)).scalars().all())


async def many(session: AsyncSession, chat_ids: Collection[str]) -> Sequence[Group]:
    """The groups with these chat ids that are known (in no particular order)."""
    wanted = sorted(set(chat_ids))
    if not wanted:
        return []
    return (await session.execute(select(Group).where(Group.chat_id.in_(wanted)))).scalars().all()


async def names(session: AsyncSession, chat_ids: Collection[str] | None) -> dict[str, str]:
    """Chat id → name of the groups in `chat_ids` (None: every group but the sandbox's) that
    are known; the name as stored ("" when WeCom never said)."""
    statement = select(Group.chat_id, Group.name)
    if chat_ids is None:
        statement = statement.where(Group.sandbox.is_(False))
    else:
        wanted = sorted(set(chat_ids))
        if not wanted:
            return {}
        statement = statement.where(Group.chat_id.in_(wanted))
    return {chat_id: name for chat_id, name in (await session.execute(statement)).all()}


async def ensure_member(
    session: AsyncSession, chat_id: str, user_id: str, *, now: datetime
) -> GroupMember:
    """The member's row, created on first sight (first message or join)."""
    return (await ensure_members(session, {(chat_id, user_id): now}))[(chat_id, user_id)]


async def ensure_members(
    session: AsyncSession, first_seen: Mapping[tuple[str, str], datetime]
) -> dict[tuple[str, str], GroupMember]:
    """`ensure_member` for several (chat id, user id) pairs with one INSERT and one SELECT; a
    new row's first sight is the pair's time in `first_seen`. Rows are inserted in key order
    (the same lock order in every replica's transaction)."""
    if not first_seen:
        return {}
    keys = sorted(first_seen)
    await session.execute(
        _insert_new(session, GroupMember, ("chat_id", "user_id")), _member_rows(first_seen, keys)
    )
    rows = (await session.execute(_MEMBERS_NAMED, {"keys": keys})).scalars()
    return {(member.chat_id, member.user_id): member for member in rows}


async def ensure_member_counts(
    session: AsyncSession, first_seen: Mapping[tuple[str, str], datetime]
) -> dict[tuple[str, str], tuple[int, datetime, int]]:
    """`ensure_members` read as (member id, first seen, messages counted) by (chat id, user
    id), what judging a batch needs, without ORM objects: one SELECT, and one INSERT
    (returning the new rows, inserted in key order) when some are new."""
    if not first_seen:
        return {}
    keys = sorted(first_seen)
    found = _counts(await session.execute(_MEMBER_COUNTS, {"keys": keys}))
    missing = [key for key in keys if key not in found]
    if missing:
        insert = _insert_new(session, GroupMember, ("chat_id", "user_id")).returning(
            *_MEMBER_COUNTS.selected_columns
        )
        found.update(_counts(await session.execute(insert, _member_rows(first_seen, missing))))
        raced = [key for key in missing if key not in found]
        if raced:  # another replica inserted them meanwhile
            found.update(_counts(await session.execute(_MEMBER_COUNTS, {"keys": raced})))
    return found


def _member_rows(
    first_seen: Mapping[tuple[str, str], datetime], keys: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    return [
        {"chat_id": chat, "user_id": user, "first_seen_at": first_seen[chat, user], "messages": 0}
        for chat, user in keys
    ]


def _counts(rows: Iterable[Any]) -> dict[tuple[str, str], tuple[int, datetime, int]]:
    return {
        (chat_id, user_id): (member_id, first_seen_at, messages)
        for chat_id, user_id, member_id, first_seen_at, messages in rows
    }


async def record_messages(
    session: AsyncSession, counts: Mapping[int, tuple[int, datetime]]
) -> None:
    """Count more messages from members: member id → (how many, when the last was sent).
    Atomic increments (replicas may race), one statement run for all, in member id order."""
    if not counts:
        return
    await session.execute(
        _RECORD_MESSAGES,
        [
            {"member_id": member_id, "added": added, "at": at}
            for member_id, (added, at) in sorted(counts.items())
        ],
    )


async def page(
    session: AsyncSession, *, limit: int, after_id: int | None = None
) -> Sequence[Group]:
    """Groups in the order first seen, the sandbox's left out; `after_id` is the last id of
    the previous page."""
    statement = select(Group).where(Group.sandbox.is_(False))
    if after_id is not None:
        statement = statement.where(Group.id > after_id)
    return (await session.execute(statement.order_by(Group.id).limit(limit))).scalars().all()


async def members_page(
    session: AsyncSession, chat_id: str, *, limit: int, after_id: int | None = None
) -> Sequence[GroupMember]:
    """A group's members in the order first seen; `after_id` as in `page`."""
    statement = select(GroupMember).where(GroupMember.chat_id == chat_id)
    if after_id is not None:
        statement = statement.where(GroupMember.id > after_id)
    statement = statement.order_by(GroupMember.id).limit(limit)
    return (await session.execute(statement)).scalars().all()
