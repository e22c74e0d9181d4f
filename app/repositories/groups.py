"""Queries on `groups` and `group_members`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Group, GroupMember
from app.repositories import dialect_insert

__all__ = [
    "ensure",
    "ensure_member",
    "get",
    "get_member",
    "list_all",
    "lock",
    "members_named",
    "members_page",
    "named",
    "page",
    "record_message",
]


async def ensure(
    session: AsyncSession, chat_id: str, *, now: datetime, kind: str = "", smart_bot: bool = False
) -> Group:
    """The group's row, created on first sight (by any replica: ON CONFLICT DO NOTHING). A
    known `kind` replaces "unknown"; `smart_bot` is remembered once seen."""
    statement = (
        dialect_insert(session)(Group)
        .values(
            chat_id=chat_id,
            name="",
            owner="",
            kind=kind or "unknown",
            smart_bot=smart_bot,
            rules_text="",
            welcome_template="",
            policy={},
            moderators=[],
            member_version="",
            first_seen_at=now,
            last_seen_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["chat_id"])
    )
    await session.execute(statement)
    group = (await session.execute(select(Group).where(Group.chat_id == chat_id))).scalar_one()
    group.last_seen_at = now
    if kind and group.kind == "unknown":
        group.kind = kind
    if smart_bot and not group.smart_bot:
        group.smart_bot = True
    return group


async def get(session: AsyncSession, chat_id: str) -> Group | None:
    return (
        await session.execute(select(Group).where(Group.chat_id == chat_id))
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


async def list_all(session: AsyncSession) -> Sequence[Group]:
    return (await session.execute(select(Group).order_by(Group.id))).scalars().all()


async def ensure_member(
    session: AsyncSession, chat_id: str, user_id: str, *, now: datetime
) -> GroupMember:
    """The member's row, created on first sight (first message or join)."""
    statement = (
        dialect_insert(session)(GroupMember)
        .values(chat_id=chat_id, user_id=user_id, first_seen_at=now, messages=0)
        .on_conflict_do_nothing(index_elements=["chat_id", "user_id"])
    )
    await session.execute(statement)
    return (
        await session.execute(
            select(GroupMember).where(
                GroupMember.chat_id == chat_id, GroupMember.user_id == user_id
            )
        )
    ).scalar_one()


async def record_message(session: AsyncSession, member: GroupMember, *, at: datetime) -> None:
    """Count one more message from the member (an atomic increment: replicas may race)."""
    await session.execute(
        update(GroupMember)
        .where(GroupMember.id == member.id)
        .values(messages=GroupMember.messages + 1, last_message_at=at)
        .execution_options(synchronize_session=False)
    )


async def page(
    session: AsyncSession, *, limit: int, after_id: int | None = None
) -> Sequence[Group]:
    """Groups in the order first seen; `after_id` is the last id of the previous page."""
    statement = select(Group)
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
