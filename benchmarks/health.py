"""The community-health list at scale: every group's grade over the window, on PostgreSQL.

What it measures: a temporary PostgreSQL database is migrated and seeded with `--groups`
groups × `--days` days of health rollups (`health_days`, `health_member_days`,
`health_groups`) and the groups' members (`group_members`), written in day order as the
service writes them (without the secondary indexes, built afterwards). Then, over a
`--window`-day window, it times (`--repeat` times each): the list computed from the rollups
(`app.health.service.compute_list`: five set-based statements and the grading of every
group), a refresh of the snapshot by `app.health.snapshot.SnapshotRefresher` (that
computation and writing it), the list as `GET /api/v1/health/groups` and `wecom-mod health`
answer it (`health_page` from the fresh snapshot: the first page of 100 by grade, and 1,000
groups by top-2 share), and one group's detail (`group_health`). It prints the rows seeded,
the seeding time, each timing (min, median, max) and the grades found, and PASS/FAIL against
the issue's target (the list answered in under 500 ms).

The groups (reproducible, no randomness: each figure is a hash of group, day and member) are
of four kinds, by group number modulo 20: 6 in 20 went silent 100 days ago (2 speakers a day
before), 8 are small (0-4 speakers a day), 5 medium (5-14) and 1 large (20-39), each speaker
sending 1-12 messages, the first member of a group about a third of them; a join on about 1 in
25 member days, a departure on 1 in 60, an offence on 1 in 40; 60 members per group, 1 in 8 of
them gone.

    .venv/bin/python benchmarks/health.py [--groups N] [--days D] [--window W] [--repeat R]
        [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import create_engine_for, database_urls, session_factory  # noqa: E402
from app.health.rollup import RollupConfig  # noqa: E402
from app.health.service import (  # noqa: E402
    HealthConfig,
    HealthPage,
    compute_list,
    group_health,
    health_page,
)
from app.health.snapshot import SnapshotRefresher  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from benchmarks._backends import add_postgres_argument, start, temporary_database  # noqa: E402

TARGET_MS = 500.0
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

# One row per (day, group, speaker): the speakers of a group on a day by its kind; in day
# order (the outer loop), as the service writes them.
_SEED_MEMBER_DAYS = """
INSERT INTO health_member_days
    (chat_id, day, user_id, staff, messages, joins, departures, removals, offences)
SELECT
    'wr' || lpad(g::text, 6, '0'),
    d,
    'u' || ((i * 7 + d % 5) % 60),
    i = 0 AND g % 7 = 0,
    CASE WHEN i = 0 THEN 4 + abs(hashint4(g * 31 + d)) % 9
        ELSE 1 + abs(hashint4(g + d * 17 + i)) % 6 END,
    (abs(hashint4(g * 13 + d * 7 + i)) % 25 = 0)::int,
    (abs(hashint4(g * 11 + d * 5 + i)) % 60 = 0)::int,
    (abs(hashint4(g * 19 + d * 3 + i)) % 400 = 0)::int,
    (abs(hashint4(g * 23 + d * 29 + i)) % 40 = 0)::int
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS d
CROSS JOIN generate_series(0, CAST(:groups AS integer) - 1) AS g
CROSS JOIN LATERAL generate_series(0, (
    CASE
        WHEN g % 20 < 6 THEN CASE WHEN d < CAST(:last AS integer) - 100 THEN 2 ELSE 0 END
        WHEN g % 20 < 14 THEN abs(hashint4(g * 3 + d)) % 5
        WHEN g % 20 < 19 THEN 5 + abs(hashint4(g * 5 + d)) % 10
        ELSE 20 + abs(hashint4(g * 7 + d)) % 20
    END) - 1) AS i
"""
_SEED_DAYS = """
INSERT INTO health_days
    (chat_id, day, member_messages, staff_messages, archive_messages, joins, departures,
     removals, offences_word, offences_flood, offences_promo, noisy, promo_staff, promo_members)
SELECT chat_id, day,
    SUM(CASE WHEN staff THEN 0 ELSE messages END), SUM(CASE WHEN staff THEN messages ELSE 0 END),
    SUM(messages), SUM(joins), SUM(departures), SUM(removals),
    SUM(offences) / 2, SUM(offences) / 4, SUM(offences) - SUM(offences) / 2 - SUM(offences) / 4,
    SUM(offences), SUM(CASE WHEN staff THEN messages / 4 ELSE 0 END), SUM(offences) / 3
FROM health_member_days GROUP BY day, chat_id ORDER BY day, chat_id
"""
_SEED_GROUPS = """
INSERT INTO groups (chat_id, name, owner, kind, smart_bot, rules_text, welcome_template, policy,
    moderators, member_version, first_seen_at, last_seen_at, updated_at)
SELECT 'wr' || lpad(g::text, 6, '0'), '群 ' || g, '', 'customer', false, '', '', '{}', '[]', '',
    :since, :now, :now
FROM generate_series(0, CAST(:groups AS integer) - 1) AS g
"""
_SEED_HEALTH_GROUPS = """
INSERT INTO health_groups (chat_id, last_member_day, last_archive_day, last_aibot_day)
SELECT chat_id, MAX(CASE WHEN member_messages > 0 THEN day END), MAX(day), NULL
FROM health_days GROUP BY chat_id
"""
_SEED_MEMBERS = """
INSERT INTO group_members (chat_id, user_id, first_seen_at, messages, name, left_at)
SELECT 'wr' || lpad(g::text, 6, '0'), 'u' || m, :since, 0, '',
    CASE WHEN (g + m) % 8 = 0 THEN CAST(:now AS timestamptz) END
FROM generate_series(0, CAST(:groups AS integer) - 1) AS g CROSS JOIN generate_series(0, 59) AS m
"""


async def seed(
    url: str, groups: int, days: int, config: RollupConfig
) -> tuple[dict[str, int], float]:
    engine = create_engine_for(database_urls(url))
    last = config.day(NOW)
    since = datetime.fromtimestamp(NOW.timestamp() - days * 86400, UTC)
    params = {"first": last - days + 1, "last": last, "groups": groups, "since": since, "now": NOW}
    started = time.perf_counter()
    async with engine.begin() as connection:
        # Bulk load: the rollups' secondary indexes are dropped and built again afterwards
        # (the same definitions, read from the catalogue), as a restore would.
        indexes = (
            await connection.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                    "('health_days', 'health_member_days') AND indexname NOT LIKE '%pkey'"
                )
            )
        ).all()
        for name, _definition in indexes:
            await connection.execute(text(f'DROP INDEX "{name}"'))
        for statement in (
            _SEED_GROUPS,
            _SEED_MEMBERS,
            _SEED_MEMBER_DAYS,
            _SEED_DAYS,
            _SEED_HEALTH_GROUPS,
        ):
            await connection.execute(text(statement), params)
        for _name, definition in indexes:
            await connection.execute(text(definition))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))
        counts = {}
        for table in ("health_days", "health_member_days", "health_groups", "group_members"):
            counts[table] = int(
                (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
            )
    await engine.dispose()
    return counts, time.perf_counter() - started


async def measure(url: str, config: HealthConfig, repeat: int) -> dict[str, Any]:
    """Times of: the list computed from the rollups (`compute_list`), a snapshot refresh
    (computed and written), the list as REST and the CLI answer it (`health_page`: from the
    fresh snapshot), and one group's detail."""
    engine = create_engine_for(database_urls(url))
    sessions = session_factory(engine)
    found: dict[str, Any] = {
        "compute": [],
        "refresh": [],
        "list": [],
        "sorted": [],
        "detail": [],
    }

    async def timed(name: str, work: Callable[[], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        result = await work()
        found[name].append((time.perf_counter() - started) * 1000)
        return result

    async def compute() -> list[Any]:
        async with sessions() as session:
            return await compute_list(session, config, now=NOW)

    async def answer() -> HealthPage:
        async with sessions() as session:
            return await health_page(session, config, now=NOW)

    async def answer_sorted() -> HealthPage:
        async with sessions() as session:
            return await health_page(
                session, config, now=NOW, sort="top2_share", descending=True, limit=1000
            )

    for _ in range(repeat):
        items = await timed("compute", compute)
    clock = [NOW]
    refresher = SnapshotRefresher(sessions, config, clock=lambda: clock[0])
    for n in range(max(2, repeat // 3)):
        clock[0] = NOW + timedelta(minutes=config.refresh_minutes * n)
        written = await timed("refresh", refresher.refresh_if_due)
        assert written == len(items), (written, len(items))
    for _ in range(repeat):
        answered = await timed("list", answer)
        assert answered.computed_at == clock[0], "the list did not come from the snapshot"
        assert sum(answered.grades.values()) == len(items)
        await timed("sorted", answer_sorted)
    for n in range(repeat):
        chat = f"wr{(n * 37) % 10000:06d}"

        async def detail(chat: str = chat) -> Any:
            async with sessions() as session:
                return await group_health(session, config, chat, now=NOW)

        await timed("detail", detail)
    found["grades"] = Counter(
        item.health.grade.value if item.health.grade else "ungraded" for item in items
    )
    await engine.dispose()
    return found


def _timing(values: list[float]) -> str:
    return (
        f"min {min(values):7.1f} ms, median {statistics.median(values):7.1f} ms, "
        f"max {max(values):7.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    add_postgres_argument(parser)
    args = parser.parse_args(argv)
    start(
        f"--groups {args.groups} --days {args.days} --window {args.window} --repeat {args.repeat}"
    )
    rollups = RollupConfig()
    config = HealthConfig(rollups=rollups, window_days=args.window, archive_enabled=True)
    with temporary_database(args.postgres) as url:
        if url is None:
            return 1
        upgrade(database_urls(url))
        counts, seconds = asyncio.run(seed(url, args.groups, args.days, rollups))
        print(
            "seeded in "
            f"{seconds:.1f} s: " + ", ".join(f"{table} {n:,}" for table, n in counts.items())
        )
        found = asyncio.run(measure(url, config, args.repeat))
    print(f"{args.groups:,} groups, {args.window}-day window:")
    print(f"  list computed from the rollups:      {_timing(found['compute'])}")
    print(f"  snapshot refresh (compute + write):  {_timing(found['refresh'])}")
    print(f"  list answered (REST, CLI: snapshot): {_timing(found['list'])}")
    print(f"  1,000 by top2_share desc (snapshot): {_timing(found['sorted'])}")
    print(f"  one group's detail with its series:  {_timing(found['detail'])}")
    print("  grades: " + ", ".join(f"{g} {n:,}" for g, n in sorted(found["grades"].items())))
    median = statistics.median(found["list"])
    verdict = "PASS" if median < TARGET_MS else "FAIL"
    print(f"{verdict}: list answered in {median:.1f} ms median (target < {TARGET_MS:.0f} ms)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
