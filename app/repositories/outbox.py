"""Queries on `outbox_actions`: enqueue, claim due actions under a lease, record outcomes,
and what the REST API shows and does (a page, a summary, a dead action sent again)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import OutboxAction
from app.repositories import dialect_insert
from app.repositories.bulk import BulkInsert
from app.repositories.notifications import OUTBOX_CHANNEL, notify

__all__ = [
    "SANDBOX_STATUS",
    "add",
    "add_many",
    "app_messages_sent_since",
    "claim_due",
    "counts",
    "enqueue",
    "enqueue_once",
    "exists",
    "get",
    "hold",
    "mark_merged",
    "mark_sent",
    "oldest_pending",
    "page",
    "renew",
    "retry_dead",
    "row",
    "sends_since",
    "skipped",
    "status_counts",
]


SANDBOX_STATUS = "sandbox"  # delivered to the sandbox (`sandbox_posts`), never to WeCom

_INSERT = BulkInsert(cast(Table, OutboxAction.__table__))


def row(
    *,
    idempotency_key: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    moderation_log_id: int | None = None,
    status: str = "pending",
    note: str | None = None,
) -> dict[str, Any]:
    """An action as `add_many` writes it (the arguments as `enqueue` takes them)."""
    return {
        "idempotency_key": idempotency_key,
        "kind": kind,
        "payload": payload,
        "moderation_log_id": moderation_log_id,
        "status": status,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": note,
        "created_at": now,
    }


async def add_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write actions (`row`) with one statement run, in the caller's transaction; nothing when
    `rows` is empty. No NOTIFY: judging writes them, and the judging replica wakes its own
    dispatcher when the batch commits (one statement a batch less)."""
    if rows:
        await _INSERT(session, rows)


def enqueue(
    session: AsyncSession,
    *,
    idempotency_key: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    moderation_log_id: int | None = None,
    status: str = "pending",
    note: str | None = None,
) -> OutboxAction:
    """Add an action to the session (it is written with the caller's transaction).

    `status="skipped"` with a `note` records an action that cannot be carried out, so the log
    shows why instead of staying silent.
    """
    return add(
        session,
        row(
            idempotency_key=idempotency_key,
            kind=kind,
            payload=payload,
            now=now,
            moderation_log_id=moderation_log_id,
            status=status,
            note=note,
        ),
    )


def add(session: AsyncSession, action: dict[str, Any]) -> OutboxAction:
    """Add the action `action` (`row`) to the session, as `enqueue` does."""
    added = OutboxAction(**action)
    session.add(added)
    return added


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease: timedelta
) -> Sequence[OutboxAction]:
    """Take up to `limit` due actions for this worker: pending ones whose time has come, and
    `sending` ones whose lease ran out (their worker died). Each claim is a compare-and-set on
    the row's status and lease, so two workers never hold the same action.

    What goes into a group (warnings, replies, welcomes, removals) comes before the moderators'
    alerts: during a spam wave hundreds of alerts wait for the moderators' budget, and taking
    them first would hold every warning behind them."""
    due = or_(
        (OutboxAction.status == "pending") & (OutboxAction.next_attempt_at <= now),
        (OutboxAction.status == "sending") & (OutboxAction.lease_until < now),
    )
    candidates = (
        (
            await session.execute(
                select(OutboxAction)
                .where(due)
                .order_by(
                    case(
                        (
                            (OutboxAction.kind == "app_message")
                            & OutboxAction.moderation_log_id.is_not(None),
                            1,
                        ),
                        else_=0,
                    ),
                    OutboxAction.next_attempt_at,
                    OutboxAction.id,
                )
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if not candidates:
        return []
    # One compare-and-set for all: a candidate another worker claimed meanwhile is no longer
    # due (its status or lease changed) and is left out; the objects get the claimed values.
    claim = (
        update(OutboxAction)
        .where(OutboxAction.id.in_([action.id for action in candidates]), due)
        .values(status="sending", lease_until=now + lease, attempts=OutboxAction.attempts + 1)
        .returning(OutboxAction)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    claimed = list((await session.scalars(claim)).all())
    order = {action.id: index for index, action in enumerate(candidates)}
    return sorted(claimed, key=lambda action: order[action.id])


async def mark_sent(session: AsyncSession, action_id: int, *, now: datetime) -> None:
    """Record a send WeCom took, with one statement (the row need not be read)."""
    await session.execute(
        update(OutboxAction)
        .where(OutboxAction.id == action_id)
        .values(status="sent", sent_at=now, last_error=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def renew(
    session: AsyncSession, action: OutboxAction, *, now: datetime, lease: timedelta
) -> bool:
    """Extend this worker's lease on `action` right before it is sent; False when the claim
    is no longer this worker's (its lease ran out and another replica took the action, which
    changed its attempts and lease), so the send must not happen here."""
    until = now + lease
    result = await session.execute(
        update(OutboxAction)
        .where(
            OutboxAction.id == action.id,
            OutboxAction.status == "sending",
            OutboxAction.attempts == action.attempts,
            OutboxAction.lease_until == action.lease_until,
        )
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    action.lease_until = until
    return True


async def app_messages_sent_since(
    session: AsyncSession, since: datetime
) -> Sequence[tuple[list[str], datetime]]:
    """(recipients, sent_at) of every app message sent since `since`, by any replica: what
    the per-member limits count."""
    rows = await session.execute(
        select(OutboxAction.payload, OutboxAction.sent_at).where(
            OutboxAction.kind == "app_message",
            OutboxAction.status == "sent",
            OutboxAction.sent_at >= since,
        )
    )
    return [
        (list(payload.get("to_users") or ()), sent_at)
        for payload, sent_at in rows.all()
        if sent_at is not None
    ]


async def sends_since(
    session: AsyncSession,
    kind: str,
    since: datetime,
    *,
    now: datetime,
    where: tuple[str, str] | None = None,
    exclude_ids: Sequence[int] = (),
) -> list[datetime]:
    """When each action of `kind` whose payload has `where` = (field, value) (None: any) was
    sent after `since`, by any replica, oldest first: what a channel's rate limit counts. An
    action being sent right now by another replica counts as `now` (`exclude_ids`: the
    actions this worker has claimed and not sent yet)."""
    statement = select(OutboxAction.status, OutboxAction.sent_at).where(
        OutboxAction.kind == kind,
        or_(
            (OutboxAction.status == "sent") & (OutboxAction.sent_at > since),
            (OutboxAction.status == "sending")
            & (OutboxAction.lease_until >= now)
            & OutboxAction.id.not_in(list(exclude_ids)),
        ),
    )
    if where is not None:
        field, value = where
        statement = statement.where(OutboxAction.payload[field].as_string() == value)
    rows = await session.execute(statement)
    return sorted(
        sent_at if status == "sent" and sent_at is not None else now
        for status, sent_at in rows.all()
    )


async def page(
    session: AsyncSession,
    *,
    limit: int,
    before_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> Sequence[OutboxAction]:
    """Newest first (by id); `before_id` is the last id of the previous page. The actions
    delivered to the sandbox are left out (the sandbox page shows them)."""
    statement = select(OutboxAction).where(OutboxAction.status != SANDBOX_STATUS)
    if before_id is not None:
        statement = statement.where(OutboxAction.id < before_id)
    if status is not None:
        statement = statement.where(OutboxAction.status == status)
    if kind is not None:
        statement = statement.where(OutboxAction.kind == kind)
    rows = await session.execute(statement.order_by(OutboxAction.id.desc()).limit(limit))
    return rows.scalars().all()


async def counts(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(status, kind, how many) for every pair that has rows; the actions delivered to the
    sandbox (status `sandbox`) are no statistic."""
    rows = await session.execute(
        select(OutboxAction.status, OutboxAction.kind, func.count())
        .where(OutboxAction.status != SANDBOX_STATUS)
        .group_by(OutboxAction.status, OutboxAction.kind)
        .order_by(OutboxAction.status, OutboxAction.kind)
    )
    return [(status, kind, int(count)) for status, kind, count in rows.all()]


async def status_counts(
    session: AsyncSession, exact: Sequence[str], capped: Sequence[str], *, cap: int
) -> dict[str, int]:
    """Actions per status: every action of the `exact` statuses (the few waiting or dead
    ones), and up to `cap` of each of the `capped` ones (sent, merged, skipped: every action
    ever decided ends in one of them, so an exact count reads the whole table). Both read the
    (status, next_attempt_at) index; a status without actions is absent."""
    found: dict[str, int] = {}
    if exact:
        rows = await session.execute(
            select(OutboxAction.status, func.count())
            .where(OutboxAction.status.in_(list(exact)))
            .group_by(OutboxAction.status)
        )
        found.update((status, int(count)) for status, count in rows.all())
    for status in capped:
        some = select(OutboxAction.status).where(OutboxAction.status == status).limit(cap)
        counted = (
            await session.execute(select(func.count()).select_from(some.subquery()))
        ).scalar_one()
        if counted:
            found[status] = int(counted)
    return found


async def oldest_pending(session: AsyncSession) -> datetime | None:
    """When the oldest action not carried out yet (pending or sending) was queued."""
    return (
        await session.execute(
            select(func.min(OutboxAction.created_at)).where(
                OutboxAction.status.in_(("pending", "sending"))
            )
        )
    ).scalar_one_or_none()


async def retry_dead(session: AsyncSession, action_id: int, *, now: datetime) -> bool:
    """A dead action back to pending, due now, with its attempts reset; False when it is not
    dead (a compare-and-set, so two retries at once put it back once). On PostgreSQL the
    dispatchers of every replica are woken when the transaction commits."""
    result = await session.execute(
        update(OutboxAction)
        .where(OutboxAction.id == action_id, OutboxAction.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    retried = bool(result.rowcount == 1)  # type: ignore[attr-defined]
    if retried:
        await notify(session, OUTBOX_CHANNEL)
    return retried


async def get(session: AsyncSession, action_id: int) -> OutboxAction | None:
    return await session.get(OutboxAction, action_id)


async def skipped(session: AsyncSession, idempotency_key: str, *, note: str) -> OutboxAction | None:
    """The action of that key when it is stored skipped with `note`; None otherwise."""
    return (
        await session.execute(
            select(OutboxAction).where(
                OutboxAction.idempotency_key == idempotency_key,
                OutboxAction.status == "skipped",
                OutboxAction.last_error == note,
            )
        )
    ).scalar_one_or_none()


async def hold(session: AsyncSession, action_ids: Sequence[int], *, until: datetime) -> None:
    """Claimed actions back to pending, due at `until`, without counting the claim as an
    attempt."""
    await session.execute(
        update(OutboxAction)
        .where(OutboxAction.id.in_(action_ids))
        .values(
            status="pending",
            lease_until=None,
            next_attempt_at=until,
            attempts=OutboxAction.attempts - 1,
        )
        .execution_options(synchronize_session=False)
    )


async def mark_merged(session: AsyncSession, action_ids: Sequence[int], *, into: int) -> None:
    """Actions merged into the digest action `into`: done, never sent on their own."""
    await session.execute(
        update(OutboxAction)
        .where(OutboxAction.id.in_(action_ids))
        .values(status="merged", lease_until=None, last_error=f"merged into digest action {into}")
        .execution_options(synchronize_session=False)
    )


async def exists(session: AsyncSession, idempotency_key: str) -> bool:
    """Whether an action of that key was ever stored."""
    found = await session.execute(
        select(OutboxAction.id).where(OutboxAction.idempotency_key == idempotency_key)
    )
    return found.first() is not None


async def enqueue_once(
    session: AsyncSession,
    *,
    idempotency_key: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    status: str = "pending",
    note: str | None = None,
) -> bool:
    """`enqueue`, unless an action of that key exists already (another replica's, say: ON
    CONFLICT DO NOTHING); returns whether this call stored it."""
    stored = await session.execute(
        dialect_insert(session)(OutboxAction)
        .values(
            idempotency_key=idempotency_key,
            kind=kind,
            payload=payload,
            status=status,
            attempts=0,
            next_attempt_at=now,
            last_error=note,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxAction.id)
    )
    return stored.scalar_one_or_none() is not None
