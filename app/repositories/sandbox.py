"""The sandbox's rows: which groups are sandbox groups (`groups.sandbox`, the one marker), the
filter every count, list and export of real data applies (`real_chat`), what the outbox
delivered to the sandbox (`sandbox_posts`) and the one-click reset.

A sandbox group's members, messages, log rows, strikes, reports, screenings and rollups are
the sandbox's through their chat id; nothing else marks them, so the filter is written once
here and every query that must leave the sandbox out calls it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Group,
    GroupMember,
    HealthDay,
    HealthGroup,
    HealthMemberDay,
    HealthSnapshot,
    InboxEvent,
    JoinScreening,
    MemberReport,
    MessageCopy,
    MessageMeta,
    ModerationLog,
    ModerationLogRule,
    OutboxAction,
    SandboxPost,
    Strike,
)

__all__ = [
    "add_post",
    "among",
    "groups",
    "is_sandbox",
    "posts",
    "real_chat",
    "reset",
]


def _sandbox_chats() -> Any:
    return select(Group.chat_id).where(Group.sandbox.is_(True))


def real_chat(column: Any) -> ColumnElement[bool]:
    """`column` (a chat id) is not a sandbox group's: the filter of statistics, health,
    digests, exports and the REST log listing. The subquery reads the partial index
    `ix_groups_sandbox` (only sandbox groups are in it), so it costs a few rows at most."""
    return column.not_in(_sandbox_chats())  # type: ignore[no-any-return]


async def is_sandbox(session: AsyncSession, chat_id: str) -> bool:
    return bool(chat_id) and chat_id in await among(session, [chat_id])


async def among(session: AsyncSession, chat_ids: Collection[str]) -> set[str]:
    """The sandbox groups among `chat_ids`."""
    wanted = sorted({chat for chat in chat_ids if chat})
    if not wanted:
        return set()
    rows = await session.execute(
        select(Group.chat_id).where(Group.sandbox.is_(True), Group.chat_id.in_(wanted))
    )
    return set(rows.scalars().all())


async def groups(session: AsyncSession) -> Sequence[Group]:
    """Every sandbox group, oldest first."""
    rows = await session.execute(select(Group).where(Group.sandbox.is_(True)).order_by(Group.id))
    return rows.scalars().all()


def add_post(
    session: AsyncSession,
    *,
    chat_id: str,
    kind: str,
    where: str,
    text: str,
    now: datetime,
    to_users: Sequence[str] = (),
    sender: str = "",
    message_id: str = "",
    outbox_action_id: int | None = None,
    moderation_log_id: int | None = None,
) -> SandboxPost:
    post = SandboxPost(
        chat_id=chat_id,
        kind=kind,
        where=where,
        text=text,
        to_users=list(to_users),
        sender=sender,
        message_id=message_id,
        outbox_action_id=outbox_action_id,
        moderation_log_id=moderation_log_id,
        created_at=now,
    )
    session.add(post)
    return post


async def posts(session: AsyncSession, chat_id: str, *, limit: int = 200) -> Sequence[SandboxPost]:
    """What was said and delivered in the sandbox group, oldest first (the last `limit`)."""
    rows = await session.execute(
        select(SandboxPost)
        .where(SandboxPost.chat_id == chat_id)
        .order_by(SandboxPost.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.scalars().all()))


async def log_rows(
    session: AsyncSession, chat_id: str, *, limit: int = 200
) -> Sequence[ModerationLog]:
    """The sandbox group's moderation log, oldest first (the last `limit`)."""
    rows = await session.execute(
        select(ModerationLog)
        .where(ModerationLog.chat_id == chat_id, ModerationLog.chat_id.in_(_sandbox_chats()))
        .order_by(ModerationLog.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.scalars().all()))


async def reset(session: AsyncSession) -> int:
    """Delete every sandbox row: the groups and everything under their chat ids, the log rows
    (their rules and outbox actions go with them) and the actions delivered to the sandbox.
    Returns how many sandbox groups there were."""
    chats = list((await session.execute(_sandbox_chats())).scalars().all())
    action_ids = select(SandboxPost.outbox_action_id).where(
        SandboxPost.outbox_action_id.is_not(None)
    )
    log_ids = select(ModerationLog.id).where(ModerationLog.chat_id.in_(chats))
    await session.execute(
        delete(OutboxAction)
        .where(OutboxAction.id.in_(action_ids) | OutboxAction.moderation_log_id.in_(log_ids))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(ModerationLogRule)
        .where(ModerationLogRule.moderation_log_id.in_(log_ids))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Strike).where(Strike.chat_id.in_(chats)).execution_options(synchronize_session=False)
    )
    # every row of sandbox_posts is the sandbox's (a reply delivered after an earlier reset too)
    await session.execute(delete(SandboxPost).execution_options(synchronize_session=False))
    tables: list[Any] = [
        ModerationLog,
        InboxEvent,
        GroupMember,
        MessageMeta,
        MessageCopy,
        MemberReport,
        JoinScreening,
        HealthDay,
        HealthMemberDay,
        HealthGroup,
        HealthSnapshot,
    ]
    for table in tables:
        await session.execute(
            delete(table)
            .where(table.chat_id.in_(chats))
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        delete(Group).where(Group.chat_id.in_(chats)).execution_options(synchronize_session=False)
    )
    return len(chats)
