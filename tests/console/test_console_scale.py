"""What keeps the console's pages fast with many groups and a large log (issue 20), checked
for the figures it shows, on SQLite and PostgreSQL: a moderator's groups found by one query
(owner or listed moderator, never a name that merely contains theirs), the overview's one-read
windows equal to counting each window on its own, and the outbox figures exact where they are
exact and capped where they are capped, a queued row's history read for the whole page at
once, and the review queue's partial indexes. How long the pages take is
`make bench-console`."""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import migrations
from app.console import pages as console_pages
from app.console.access import ConsoleRole, access_of
from app.models import Group, ModerationLog, OutboxAction, Strike
from app.repositories import groups as groups_repo
from app.repositories import moderation_log as log_repo
from app.repositories import outbox as outbox_repo
from app.repositories import reports
from app.repositories import strikes as strikes_repo
from tests import support
from tests.conftest import Service, make_settings, start_service

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DAY, WEEK = NOW - timedelta(hours=24), NOW - timedelta(days=7)


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    settings = make_settings(database_url, tmp_path, console_readonly_userids="auditor")
    async for running in start_service(settings, support.FakeWeCom()):
        yield running


async def add_group(service: Service, chat_id: str, *, owner: str, moderators: list[str]) -> None:
    async with service.runtime.sessions() as db, db.begin():
        await groups_repo.ensure(db, chat_id, now=NOW)
        await db.execute(
            update(Group).where(Group.chat_id == chat_id).values(owner=owner, moderators=moderators)
        )


async def test_a_moderators_groups_are_the_ones_they_own_or_are_listed_in(
    service: Service,
) -> None:
    await add_group(service, "g-owned", owner="carol", moderators=[])
    await add_group(service, "g-listed", owner="boss", moderators=["dave", "carol"])
    await add_group(service, "g-prefix", owner="carol2", moderators=["carol2", "xcarol"])
    await add_group(service, "g-quoted", owner="", moderators=['"carol"', "carol "])
    await add_group(service, "g-nobody", owner="", moderators=[])
    settings = service.runtime.settings
    async with service.runtime.sessions() as db:
        assert await groups_repo.moderated_by(db, "carol") == ["g-listed", "g-owned"]
        assert await groups_repo.moderated_by(db, "carol2") == ["g-prefix"]
        assert await groups_repo.moderated_by(db, "") == []  # the groups without an owner
        carol = await access_of(db, settings, "carol", "wecom")
        assert carol is not None and carol.role is ConsoleRole.MODERATOR
        assert carol.chat_ids == ("g-listed", "g-owned")
        assert await access_of(db, settings, "erin", "wecom") is None
        admin = await access_of(db, settings, support.MODERATORS[0], "wecom")
        assert admin is not None and (admin.role, admin.chat_ids) == (ConsoleRole.ADMIN, None)
        auditor = await access_of(db, settings, "auditor", "wecom")
        assert auditor is not None and auditor.role is ConsoleRole.READONLY
        assert auditor.chat_ids is None
    # Taken off a group: the next request knows (nothing is kept between requests).
    await add_group(service, "g-listed", owner="boss", moderators=["dave"])
    async with service.runtime.sessions() as db:
        carol = await access_of(db, settings, "carol", "wecom")
        assert carol is not None and carol.chat_ids == ("g-owned",)


def log_row(chat_id: str, age: timedelta, verdict: str, mode: str = "enforce") -> ModerationLog:
    return ModerationLog(
        created_at=NOW - age,
        source="aibot",
        chat_id=chat_id,
        user_id="lisi",
        message_id=f"m-{chat_id}-{age.total_seconds()}-{verdict}-{mode}",
        text="今晚一起去赌博吧",
        findings=[],
        verdict=verdict,
        reason="",
        mode=mode,
    )


AGES = [
    timedelta(minutes=5),
    timedelta(hours=23, minutes=59),
    timedelta(hours=24),  # the first instant of the day's window: inside it
    timedelta(hours=25),
    timedelta(days=6),
    timedelta(days=7),  # the week's first instant
    timedelta(days=7, seconds=1),  # outside both
    timedelta(days=20),
]


async def test_the_overviews_windows_count_what_each_window_counts_alone(
    service: Service,
) -> None:
    async with service.runtime.sessions() as db, db.begin():
        rows = [
            log_row(chat, age, verdict, mode)
            for chat in ("g1", "g2")
            for age in AGES
            for verdict, mode in [
                ("warn", "enforce"),
                ("remove", "enforce"),
                ("alert", "shadow"),
                ("log", "enforce"),
            ]
        ]
        db.add_all(rows)
        await db.flush()
        for number, row in enumerate(rows):
            if row.verdict in ("warn", "remove"):
                strikes_repo.add(
                    db,
                    chat_id=row.chat_id,
                    user_id=row.user_id,
                    created_at=row.created_at,
                    moderation_log_id=row.id,
                    rule="word.gambling" if number % 3 else "flood.rate",
                    shadow=number % 5 == 0,
                )
        await db.flush()
        await strikes_repo.pardon_for_log(db, rows[0].id, now=NOW, by="mod")
    async with service.runtime.sessions() as db:
        for chat_ids in (None, ("g1",), ("g1", "g2"), ("nowhere",)):
            verdicts = await reports.verdict_counts_since(db, [DAY, WEEK], chat_ids=chat_ids)
            rules = await strikes_repo.counts_by_rule(db, [DAY, WEEK], chat_ids=chat_ids)
            for since, counted, by_rule in zip((DAY, WEEK), verdicts, rules, strict=True):
                alone = await reports.verdict_counts(
                    db, since=since, chat_id=None, chat_ids=chat_ids
                )
                assert counted == alone, (chat_ids, since)
                assert by_rule == await standing_by_rule(db, since, chat_ids), (chat_ids, since)
        everyone_day, everyone_week = await reports.verdict_counts_since(
            db, [DAY, WEEK], chat_ids=None
        )
        # Three ages in the day, six in the week, per verdict and group.
        assert everyone_day[("warn", "enforce")] == 2 * 3
        assert everyone_week[("alert", "shadow")] == 2 * 6
        assert await reports.verdict_counts_since(db, [], chat_ids=None) == []


async def standing_by_rule(
    db: AsyncSession, since: datetime, chat_ids: tuple[str, ...] | None
) -> dict[str, int]:
    """The standing strikes by rule, counted row by row in Python."""
    counted: Counter[str] = Counter()
    for strike in (await db.execute(select(Strike))).scalars():
        inside = chat_ids is None or strike.chat_id in chat_ids
        if inside and strike.created_at >= since and strike.pardoned_at is None:
            counted[strike.rule] += 1
    return dict(counted)


async def test_outbox_figures_are_exact_while_waiting_and_capped_when_finished(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses = ["pending"] * 2 + ["dead"] * 3 + ["sent"] * 4 + ["merged"] + ["skipped"] * 2
    async with service.runtime.sessions() as db, db.begin():
        for number, status in enumerate(statuses):
            outbox_repo.enqueue(
                db,
                idempotency_key=f"k{number}",
                kind="webhook_send",
                payload={},
                now=NOW,
                status=status,
            )
        await db.flush()
        await db.execute(update(OutboxAction).values(next_attempt_at=NOW + timedelta(days=1)))
    async with service.runtime.sessions() as db:
        counted = await outbox_repo.status_counts(
            db, ("pending", "sending", "dead"), ("sent", "merged", "skipped"), cap=3
        )
        assert counted == {"pending": 2, "dead": 3, "sent": 3, "merged": 1, "skipped": 2}
        monkeypatch.setattr(console_pages, "OUTBOX_COUNT_CAP", 2)
        shown = await console_pages._outbox_figures(db)
    assert shown == {
        "pending": "2",
        "sending": "0",
        "dead": "3",  # never capped: each one is a problem to look at
        "sent": "2+",
        "merged": "1",
        "skipped": "2",
    }


async def test_a_queued_rows_history_is_the_members_earlier_rows_in_that_group(
    service: Service,
) -> None:
    async with service.runtime.sessions() as db, db.begin():
        rows = [
            log_row(chat, timedelta(minutes=minutes), "warn")
            for chat in ("g1", "g2")
            for minutes in range(12)
        ]
        for number, row in enumerate(rows):
            row.user_id = "lisi" if number % 3 else "wangwu"
            row.created_at = row.created_at.replace(second=0)  # ties broken by id
        rows.append(log_row("", timedelta(0), "alert"))  # a 1:1 chat: no history
        db.add_all(rows)
    async with service.runtime.sessions() as db:
        queue = await log_repo.page(db, log_repo.LogFilter(), limit=len(rows))
        histories = await log_repo.earlier_of_each(db, queue, limit=console_pages.HISTORY)
        for row in queue:
            alone = await log_repo.page(
                db,
                log_repo.LogFilter(chat_id=row.chat_id, user_id=row.user_id),
                limit=console_pages.HISTORY,
                before=(row.created_at, row.id),
            )
            expected = [entry.id for entry in alone] if row.chat_id else []
            assert [entry.id for entry in histories.get(row.id, [])] == expected, row.id
        assert await log_repo.earlier_of_each(db, [], limit=5) == {}


def test_the_review_queue_indexes_hold_the_queues_verdicts() -> None:
    """The migration's partial indexes of the review queue name the verdicts the queue shows
    (the models build theirs from the same tuple), so the queue's reads can use them."""
    path = Path(migrations.__file__).parent / "versions" / "0013_console_overview_indexes.py"
    spec = importlib.util.spec_from_file_location("migration_0013_console", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    listed = ", ".join(f"'{verdict}'" for verdict in console_pages.QUEUE_VERDICTS)
    assert str(migration.REVIEW_QUEUE) == f"verdict IN ({listed}) AND review IS NULL"
