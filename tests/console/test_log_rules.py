"""The log filtered by rule (the console's 记录 page, its keyset pages and CSV export) reads
`moderation_log_rules`, and finds exactly the rows the JSON expression over each row's findings
found before it (kept here as the reference), on SQLite and PostgreSQL: rows written before
migration 0014 (filled by it) and after (written with the row), several findings in a row, the
same rule twice, custom categories, findings that are not objects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrate
from app.db import database_urls
from app.models import ModerationLog, ModerationLogRule
from app.repositories import moderation_log as log_repo
from app.repositories.reports import finding_rule
from tests import support
from tests.conftest import make_settings, start_service

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

# The filter before migration 0014: a JSON expression over every row's findings.
JSON_RULE_SQL = {
    "postgresql": """EXISTS (SELECT 1 FROM json_array_elements(
        CASE WHEN json_typeof(moderation_logs.findings) = 'array'
        THEN moderation_logs.findings ELSE '[]'::json END) AS finding
      WHERE json_typeof(finding) = 'object' AND
        CASE WHEN coalesce(nullif(finding ->> 'detector', ''), 'lexicon') = 'lexicon'
        THEN 'word.' || coalesce(finding ->> 'category', 'custom')
        ELSE coalesce(nullif(finding ->> 'rule', ''), finding ->> 'detector') END = :log_rule)""",
    "sqlite": """EXISTS (SELECT 1 FROM json_each(moderation_logs.findings) AS finding
      WHERE finding.type = 'object' AND
        CASE WHEN coalesce(nullif(json_extract(finding.value, '$.detector'), ''), 'lexicon')
          = 'lexicon'
        THEN 'word.' || coalesce(json_extract(finding.value, '$.category'), 'custom')
        ELSE coalesce(nullif(json_extract(finding.value, '$.rule'), ''),
          json_extract(finding.value, '$.detector')) END = :log_rule)""",
}


def word(category: str | None, text_: str = "赌博") -> dict[str, Any]:
    finding: dict[str, Any] = {"detector": "lexicon", "word": text_, "severity": "block"}
    if category is not None:
        finding["category"] = category
    return finding


FLOOD = {"detector": "flood", "rule": "flood.rate", "severity": "review", "score": 1.0}
PHONE = {"detector": "promo", "rule": "promo.phone", "severity": "review", "score": 1.0}
FINDINGS: list[Any] = [
    [word("gambling")],
    [word("gambling"), FLOOD, word("gambling", "百家乐")],  # several, one rule twice
    [word("涉毒", "冰毒")],  # a custom category
    [word(None)],  # no category: word.custom
    [{"detector": "", "category": "gambling", "word": "赌博"}],  # no detector: the lexicon
    [PHONE],
    [FLOOD, PHONE],
    [{"detector": "moderator", "rule": "manual", "severity": "review"}],
    [{"detector": "flood", "severity": "review"}],  # no rule: the detector
    [{"detector": "screen", "rule": "screen.hopping"}, word("涉毒")],
    [],
    ["not a finding", 3],
]
RULES = [
    "word.gambling",
    "flood.rate",
    "word.涉毒",
    "word.custom",
    "promo.phone",
    "manual",
    "flood",
    "screen.hopping",
    "word.nothing",
]


def row(number: int) -> dict[str, Any]:
    """Log row `number`: three rows share each second (the keyset's tie on the id)."""
    return {
        "created_at": NOW - timedelta(seconds=number // 3),
        "source": "archive",
        "chat_id": f"g{number % 3}",
        "user_id": f"u{number % 4}",
        "message_id": f"m{number}",
        "text": "今晚一起去赌博吧",
        "findings": FINDINGS[number % len(FINDINGS)],
        "verdict": "warn",
        "reason": "",
        "mode": "enforce",
    }


FILTERS = [
    log_repo.LogFilter(),
    log_repo.LogFilter(chat_ids=("g0", "g2")),
    log_repo.LogFilter(chat_id="g1", user_id="u1"),
    log_repo.LogFilter(since=NOW - timedelta(seconds=20), until=NOW - timedelta(seconds=5)),
]


async def reference(session: AsyncSession, filters: log_repo.LogFilter) -> list[int]:
    """The ids the JSON expression finds, newest first, with the other filters applied by the
    repository itself (a filter without a rule)."""
    assert filters.rule is not None
    dialect = session.bind.dialect.name
    statement = (
        select(ModerationLog.id)
        .where(text(JSON_RULE_SQL[dialect]).bindparams(log_rule=filters.rule))
        .order_by(ModerationLog.created_at.desc(), ModerationLog.id.desc())
    )
    unruled = log_repo.LogFilter(
        chat_ids=filters.chat_ids,
        chat_id=filters.chat_id,
        user_id=filters.user_id,
        since=filters.since,
        until=filters.until,
    )
    allowed = {entry.id for entry in await log_repo.page(session, unruled, limit=10_000)}
    return [row_id for row_id in (await session.execute(statement)).scalars() if row_id in allowed]


async def every_page(session: AsyncSession, filters: log_repo.LogFilter) -> list[int]:
    shown: list[int] = []
    before: tuple[datetime, int] | None = None
    while True:
        rows: Sequence[ModerationLog] = await log_repo.page(
            session, filters, limit=4, before=before
        )
        shown += [entry.id for entry in rows]
        if len(rows) < 4:
            return shown
        before = (rows[-1].created_at, rows[-1].id)


async def oldest_first(session: AsyncSession, filters: log_repo.LogFilter) -> list[int]:
    shown: list[int] = []
    after: tuple[datetime, int] | None = None
    while True:
        rows = await log_repo.oldest_first(session, filters, limit=5, after=after)
        shown += [entry.id for entry in rows]
        if len(rows) < 5:
            return shown
        after = (rows[-1].created_at, rows[-1].id)


async def test_the_rule_filter_finds_what_the_json_expression_found(
    database_url: str, tmp_path: Path
) -> None:
    urls = database_urls(database_url)
    migrate.downgrade(urls, "0013")
    engine = create_engine(urls.sync_url)
    with engine.begin() as connection:  # written before the migration
        connection.execute(insert(ModerationLog), [row(number) for number in range(0, 60, 2)])
    engine.dispose()
    migrate.upgrade(urls)
    settings = make_settings(database_url, tmp_path)
    async for service in start_service(settings, support.FakeWeCom()):
        async with service.runtime.sessions() as db, db.begin():  # written by the service
            for number in range(1, 60, 2):
                await log_repo.add(db, ModerationLog(**row(number)))
        async with service.runtime.sessions() as db:
            stored = (await db.execute(select(ModerationLog))).scalars().all()
            assert len(stored) == 60
            kept = {
                (rule.moderation_log_id, rule.rule, rule.created_at)
                for rule in (await db.execute(select(ModerationLogRule))).scalars()
            }
            assert kept == {
                (entry.id, finding_rule(finding), entry.created_at)
                for entry in stored
                for finding in entry.findings
                if isinstance(finding, dict)
            }
            for rule in RULES:
                for other in FILTERS:
                    filters = log_repo.LogFilter(
                        chat_ids=other.chat_ids,
                        chat_id=other.chat_id,
                        user_id=other.user_id,
                        since=other.since,
                        until=other.until,
                        rule=rule,
                    )
                    expected = await reference(db, filters)
                    assert await every_page(db, filters) == expected, (rule, other)
                    assert await oldest_first(db, filters) == expected[::-1], (rule, other)
                    assert await log_repo.count(db, filters, cap=1000) == len(expected)
                    assert await log_repo.count(db, filters, cap=2) == min(2, len(expected))
            assert await reference(db, log_repo.LogFilter(rule="word.涉毒"))  # not vacuous


@pytest.mark.parametrize("findings", FINDINGS)
def test_rules_of_names_each_rule_once_as_finding_rule_does(findings: Any) -> None:
    expected = [finding_rule(finding) for finding in findings if isinstance(finding, dict)]
    assert log_repo.rules_of(findings) == list(dict.fromkeys(expected))


def test_rules_of_a_row_without_a_list_of_findings_is_empty() -> None:
    assert log_repo.rules_of(None) == log_repo.rules_of({"detector": "flood"}) == []
