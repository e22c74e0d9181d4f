"""Queries of join screening (`app.screening`): the screenings due and their claims, the
external-contact cache, and the groups a member joined lately.

A claim is a conditional UPDATE of `due_at` from the value read to a lease: of two replicas,
exactly one gets rowcount 1, as for welcomes (`app.repositories.welcomes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ContactProfile, Group, GroupMember, JoinScreening
from app.repositories import dialect_insert, rowcount

__all__ = [
    "claim",
    "contacts",
    "due",
    "group_names",
    "joined_groups",
    "latest",
    "request",
    "rows",
    "save_contact",
]


def request(
    session: AsyncSession,
    chat_id: str,
    user_ids: Iterable[str],
    *,
    source: str,
    at: datetime,
    requested_by: str = "",
) -> list[JoinScreening]:
    """A screening due now for each of `user_ids` in the group (flushed with the session)."""
    added = [
        JoinScreening(
            chat_id=chat_id[:128],
            user_id=user_id[:128],
            source=source,
            requested_by=requested_by[:128],
            requested_at=at,
            due_at=at,
        )
        for user_id in dict.fromkeys(user_ids)
        if user_id
    ]
    session.add_all(added)
    return added


async def due(
    session: AsyncSession, *, now: datetime, limit: int
) -> Sequence[tuple[int, datetime]]:
    """Screenings due by `now` (id, the due time read), oldest first."""
    result = await session.execute(
        select(JoinScreening.id, JoinScreening.due_at)
        .where(JoinScreening.due_at.is_not(None), JoinScreening.due_at <= now)
        .order_by(JoinScreening.id)
        .limit(limit)
    )
    return [(row_id, at) for row_id, at in result.all() if at is not None]


async def claim(session: AsyncSession, row_id: int, *, seen: datetime, until: datetime) -> bool:
    """Take a due screening (its due time moves to `until`, a lease); False when another
    replica took it first."""
    result = await session.execute(
        update(JoinScreening)
        .where(JoinScreening.id == row_id, JoinScreening.due_at == seen)
        .values(due_at=until)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def rows(session: AsyncSession, ids: Sequence[int]) -> Sequence[JoinScreening]:
    result = await session.execute(
        select(JoinScreening).where(JoinScreening.id.in_(ids)).order_by(JoinScreening.id)
    )
    return result.scalars().all()


async def latest(session: AsyncSession, chat_id: str, user_id: str) -> JoinScreening | None:
    """A member's last screening in a group."""
    result = await session.execute(
        select(JoinScreening)
        .where(JoinScreening.chat_id == chat_id, JoinScreening.user_id == user_id)
        .order_by(JoinScreening.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def contacts(
    session: AsyncSession, external_userids: Iterable[str], *, since: datetime
) -> dict[str, ContactProfile]:
    """The cached contacts fetched at `since` or later, by external_userid."""
    wanted = list(dict.fromkeys(external_userids))
    if not wanted:
        return {}
    result = await session.execute(
        select(ContactProfile).where(
            ContactProfile.external_userid.in_(wanted), ContactProfile.fetched_at >= since
        )
    )
    return {row.external_userid: row for row in result.scalars().all()}


async def save_contact(
    session: AsyncSession,
    external_userid: str,
    *,
    at: datetime,
    known: bool,
    contact_type: int = 0,
    name: str = "",
    corp_name: str = "",
) -> None:
    """Keep what WeCom said of a contact (replacing what was kept)."""
    values = {
        "fetched_at": at,
        "known": known,
        "contact_type": contact_type,
        "name": name[:256],
        "corp_name": corp_name[:256],
    }
    insert = dialect_insert(session)
    statement = insert(ContactProfile).values(external_userid=external_userid[:128], **values)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["external_userid"], set_=values)
    )


async def joined_groups(session: AsyncSession, user_id: str, *, since: datetime) -> list[str]:
    """The groups `user_id` joined at `since` or later (whether still in them), by join time."""
    result = await session.execute(
        select(GroupMember.chat_id)
        .where(GroupMember.user_id == user_id, GroupMember.joined_at >= since)
        .order_by(GroupMember.joined_at, GroupMember.id)
    )
    return list(dict.fromkeys(result.scalars().all()))


async def group_names(session: AsyncSession, chat_ids: Iterable[str]) -> dict[str, str]:
    """The groups' names ("" when not known), by chat id."""
    wanted = list(dict.fromkeys(chat_ids))
    if not wanted:
        return {}
    result = await session.execute(
        select(Group.chat_id, Group.name).where(Group.chat_id.in_(wanted))
    )
    return {chat_id: name for chat_id, name in result.all()}
