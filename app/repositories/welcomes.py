"""Queries of the welcome and member-sync upkeep on `groups` and `group_members`.

The due times (`welcome_due_at`, `sync_due_at`) are set with `COALESCE` in SQL rather than
through the ORM, so that a join committed while another replica holds the group's claim still
leaves a due time behind (the claim clears the old one; this one survives it). A claim is a
conditional UPDATE on the value read: of two replicas, exactly one gets rowcount 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Group, GroupKind, GroupMember
from app.repositories import dialect_insert, rowcount

__all__ = [
    "add_members",
    "claim_sync",
    "claim_welcome",
    "current_members",
    "due_syncs",
    "due_welcomes",
    "get_group",
    "lock_group",
    "mark_welcomed",
    "members_by_user",
    "request_sync",
    "request_welcome",
    "template_candidates",
    "unwelcomed_members",
]


async def request_welcome(session: AsyncSession, group_id: int, *, due: datetime) -> None:
    """A welcome is due at `due`, unless one is due already (joins merge into it)."""
    await session.execute(
        update(Group)
        .where(Group.id == group_id)
        .values(welcome_due_at=func.coalesce(Group.welcome_due_at, due))
        .execution_options(synchronize_session=False)
    )


async def request_sync(session: AsyncSession, group_id: int, *, due: datetime) -> None:
    """The member list is to be fetched from WeCom at `due`, unless a fetch is due already."""
    await session.execute(
        update(Group)
        .where(Group.id == group_id)
        .values(sync_due_at=func.coalesce(Group.sync_due_at, due))
        .execution_options(synchronize_session=False)
    )


async def due_syncs(
    session: AsyncSession, *, now: datetime, limit: int, sandbox: bool = True
) -> Sequence[tuple[int, str, str, datetime, str]]:
    """(id, chat id, kind, sync due at, member version) of groups whose sync is due (the
    sandbox's too unless `sandbox` is False)."""
    statement = select(
        Group.id, Group.chat_id, Group.kind, Group.sync_due_at, Group.member_version
    ).where(Group.sync_due_at <= now)
    if not sandbox:
        statement = statement.where(Group.sandbox.is_(False))
    rows = await session.execute(statement.order_by(Group.sync_due_at, Group.id).limit(limit))
    return [(row[0], row[1], row[2], row[3], row[4]) for row in rows.all() if row[3] is not None]


async def claim_sync(
    session: AsyncSession, group_id: int, *, seen: datetime, until: datetime | None
) -> bool:
    """Move the sync due at `seen` to `until` (None clears it); False when another replica
    (or a newer request) changed it first."""
    result = await session.execute(
        update(Group)
        .where(Group.id == group_id, Group.sync_due_at == seen)
        .values(sync_due_at=until)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def due_welcomes(
    session: AsyncSession, *, now: datetime, limit: int
) -> Sequence[tuple[int, datetime]]:
    """(id, welcome due at) of groups whose welcome is due."""
    rows = await session.execute(
        select(Group.id, Group.welcome_due_at)
        .where(Group.welcome_due_at <= now)
        .order_by(Group.welcome_due_at, Group.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows.all() if row[1] is not None]


async def claim_welcome(session: AsyncSession, group_id: int, *, seen: datetime) -> bool:
    """Clear the welcome due at `seen`; False when another replica took it first."""
    result = await session.execute(
        update(Group)
        .where(Group.id == group_id, Group.welcome_due_at == seen)
        .values(welcome_due_at=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def unwelcomed_members(session: AsyncSession, chat_id: str) -> Sequence[GroupMember]:
    """Members in the group who joined and have not been welcomed, in the order they joined."""
    rows = await session.execute(
        select(GroupMember)
        .where(
            GroupMember.chat_id == chat_id,
            GroupMember.joined_at.is_not(None),
            GroupMember.left_at.is_(None),
            GroupMember.welcomed_at.is_(None),
        )
        .order_by(GroupMember.joined_at, GroupMember.id)
    )
    return rows.scalars().all()


async def mark_welcomed(session: AsyncSession, member_ids: Sequence[int], *, at: datetime) -> int:
    """Mark these member rows welcomed, those not welcomed yet only; returns how many."""
    if not member_ids:
        return 0
    result = await session.execute(
        update(GroupMember)
        .where(GroupMember.id.in_(list(member_ids)), GroupMember.welcomed_at.is_(None))
        .values(welcomed_at=at)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


async def members_by_user(session: AsyncSession, chat_id: str) -> dict[str, GroupMember]:
    """Every member row of the group, by userid."""
    rows = await session.execute(select(GroupMember).where(GroupMember.chat_id == chat_id))
    return {member.user_id: member for member in rows.scalars().all()}


async def current_members(session: AsyncSession, chat_id: str) -> dict[str, GroupMember]:
    """The rows of members the service holds to be in the group now (joined, not left)."""
    rows = await session.execute(
        select(GroupMember).where(
            GroupMember.chat_id == chat_id,
            GroupMember.joined_at.is_not(None),
            GroupMember.left_at.is_(None),
        )
    )
    return {member.user_id: member for member in rows.scalars().all()}


async def add_members(
    session: AsyncSession, chat_id: str, user_ids: Iterable[str], *, now: datetime
) -> None:
    """Create the rows of members not seen before (any replica may race: ON CONFLICT)."""
    values = [
        {"chat_id": chat_id, "user_id": user_id, "first_seen_at": now, "messages": 0}
        for user_id in dict.fromkeys(user_ids)
    ]
    for start in range(0, len(values), 500):
        statement = (
            dialect_insert(session)(GroupMember)
            .values(values[start : start + 500])
            .on_conflict_do_nothing(index_elements=["chat_id", "user_id"])
        )
        await session.execute(statement)


async def template_candidates(session: AsyncSession, *, sandbox: bool = True) -> Sequence[int]:
    """Ids of customer groups without a webhook robot that have rules or a welcome template:
    those whose welcome WeCom sends from a template in the corp's library (the sandbox's too
    unless `sandbox` is False)."""
    statement = select(Group.id).where(
        Group.kind == GroupKind.CUSTOMER,
        Group.webhook_key.is_(None),
        or_(Group.rules_text != "", Group.welcome_template != ""),
    )
    if not sandbox:
        statement = statement.where(Group.sandbox.is_(False))
    rows = await session.execute(statement.order_by(Group.id))
    return list(rows.scalars().all())


async def get_group(
    session: AsyncSession, group_id: int, *, for_update: bool = False
) -> Group | None:
    """The group's row as stored now (`for_update`: locked for this transaction, waiting for
    another holder on PostgreSQL); None when it is gone."""
    return await session.get(
        Group, group_id, with_for_update=for_update or None, populate_existing=True
    )


async def lock_group(session: AsyncSession, group_id: int) -> Group | None:
    """The group's row, locked for this transaction (PostgreSQL); None when another replica
    holds it (SKIP LOCKED) or it is gone."""
    rows = await session.execute(
        select(Group)
        .where(Group.id == group_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return rows.scalar_one_or_none()
