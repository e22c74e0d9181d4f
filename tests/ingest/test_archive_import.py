"""`wecom-mod archive import`: decrypted archive records from a JSON-lines file through the
pipeline, on SQLite and PostgreSQL: bad lines reported by number, shadow mode queues nothing,
a re-import adds nothing, and the summary counts findings, decisions and offenders."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli import main
from app.db import create_engine_for, database_urls, session_factory
from app.ingest.archive_import import ImportSummary, import_records
from app.models import InboxEvent, ModerationLog, OutboxAction, Strike
from app.repositories import archive as archive_repo
from app.settings import Settings, SettingsError
from tests import support
from tests.conftest import make_settings
from tests.ingest.test_archive_service import NOW_MS, OTHER_ROOM, ROOM, record, revoke, text

PHONE_LINK = {"title": "兼职日结", "description": "电话 13812345678", "link_url": "https://x.cn/j"}
RECORDS: list[Any] = [
    text("i-1", "今晚一起去赌博吧", sender="wmSpammer"),
    text("i-2", "好的，明天见", sender="zhangsan"),
    record("i-3", "link", PHONE_LINK, sender="wmSpammer", at_ms=NOW_MS + 1_000),
    text("i-4", "赌博", room="", tolist=("lisi",)),  # 1:1: skipped
    text("i-5", "私聊加微信领福利", sender="lisi", room=OTHER_ROOM, at_ms=NOW_MS + 2_000),
    revoke("i-6", "i-1", sender="wmSpammer", at_ms=NOW_MS + 3_000),
    record("i-7", "image", {"sdkfileid": "F"}, sender="zhangsan", at_ms=NOW_MS + 4_000),
]
BAD_LINES = ["{not json", '{"action": "send", "msgtype": "text"}', "[1, 2]"]


def write_jsonl(path: Path, records: list[Any], bad: list[str] = BAD_LINES) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    # Bad lines at 3, 6 and 9 (1-based), a blank line at 11.
    for offset, line in enumerate(bad):
        lines.insert(2 + offset * 3, line)
    lines.insert(10, "   ")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine_for(database_urls(database_url))
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def run(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    shadow: bool = True,
) -> tuple[ImportSummary, str]:
    report = io.StringIO()
    summary = await import_records(settings, sessions, path, shadow=shadow, report=report)
    return summary, report.getvalue()


async def test_shadow_import_judges_everything_queues_nothing_and_sums_up(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "week.jsonl", RECORDS)
    summary, report = await run(settings, sessions, path)

    assert [line.number for line in summary.bad_lines] == [3, 6, 9]
    assert f"{path}:3: skipped: not JSON" in report
    assert f"{path}:6: skipped: decrypted record has no msgid" in report
    assert f"{path}:9: skipped: decrypted record is not a JSON object" in report
    assert (summary.lines, summary.records) == (10, 7)
    assert summary.skipped == {"direct": 1}
    assert (summary.stored, summary.already_stored, summary.recalls) == (6, 0, 1)
    assert summary.judged_by_type == {"text": 3, "link": 1, "image": 1}
    assert summary.failed == 0
    assert summary.flagged == 3  # 赌博, the phone link, 加微信
    assert summary.findings_by_detector["lexicon"] == 2
    assert summary.findings_by_detector["promo"] >= 1
    assert summary.rules_by_detector["lexicon"] == {"gambling": 1, "ads": 1}
    assert "promo.phone" in summary.rules_by_detector["promo"]
    assert sum(summary.verdicts.values()) == 3
    assert summary.actions["alert_moderators"] >= 2
    assert summary.offenders.most_common(1) == [("wmSpammer", 2)]
    assert summary.offender_chats["wmSpammer"] == {ROOM}
    assert summary.queued == 0

    async with sessions() as session:
        logs = (await session.execute(select(ModerationLog))).scalars().all()
        strikes = (await session.execute(select(Strike))).scalars().all()
    assert {entry.mode for entry in logs} == {"shadow"}
    assert {entry.source for entry in logs} == {"archive"}
    recalled = {entry.message_id: entry.recalled_at for entry in logs}
    assert recalled["i-1"] == datetime.fromtimestamp((NOW_MS + 3_000) / 1000, UTC)
    assert all(strike.shadow for strike in strikes)
    assert await count(sessions, OutboxAction) == 0

    rendered = "\n".join(summary.render())
    assert "shadow: decisions logged, nothing queued or sent" in rendered
    assert "bad lines skipped: 3" in rendered
    assert (
        "not judged: 1 1:1 chat message(s) (ARCHIVE_INCLUDE_DIRECT is off); 1 recall(s)" in rendered
    )
    assert "stored: 6 new, 0 already in the database" in rendered
    assert "messages judged: 5 (text 3, link 1, image 1)" in rendered
    assert "lexicon: 2 (" in rendered and "gambling 1" in rendered
    assert "top offenders:\n    wmSpammer: 2 flagged in " + ROOM in rendered
    assert "actions queued: 0" in rendered


async def test_a_second_import_of_the_same_file_adds_nothing(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "week.jsonl", RECORDS)
    await run(settings, sessions, path)
    before = (await count(sessions, InboxEvent), await count(sessions, ModerationLog))

    summary, _ = await run(settings, sessions, path)
    assert (summary.stored, summary.already_stored) == (0, 6)
    assert summary.flagged == 0 and summary.judged == 0
    assert (await count(sessions, InboxEvent), await count(sessions, ModerationLog)) == before


async def test_without_shadow_actions_are_queued_for_the_service(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "week.jsonl", RECORDS, bad=[])
    summary, report = await run(settings, sessions, path, shadow=False)
    assert report == ""
    assert summary.flagged == 3
    assert summary.queued == await count(sessions, OutboxAction) > 0
    async with sessions() as session:
        logs = (await session.execute(select(ModerationLog))).scalars().all()
        pending = (
            (await session.execute(select(OutboxAction).where(OutboxAction.status == "pending")))
            .scalars()
            .all()
        )
    assert {entry.mode for entry in logs} == {"enforce"}
    assert pending  # the alerts: a running service sends them
    assert "a running `wecom-mod serve` sends them" in "\n".join(summary.render())


async def test_a_shadow_replay_refuses_a_database_a_poller_is_using(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with sessions() as session, session.begin():
        await archive_repo.take_lease(
            session, support.CORP_ID, "host:1:abc", now=datetime.now(UTC), seconds=60
        )
    path = write_jsonl(tmp_path / "week.jsonl", RECORDS)
    with pytest.raises(SettingsError, match="replica host:1:abc is pulling the chat archive"):
        await run(settings, sessions, path)
    assert await count(sessions, InboxEvent) == 0
    # An expired lease (the service stopped) is no obstacle.
    async with sessions() as session, session.begin():
        await archive_repo.release_lease(
            session, support.CORP_ID, "host:1:abc", now=datetime.now(UTC) - timedelta(seconds=1)
        )
    summary, _ = await run(settings, sessions, path)
    assert summary.stored == 6


async def test_a_large_file_is_imported_in_chunks_in_order(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.ingest import archive_import

    monkeypatch.setattr(archive_import, "CHUNK", 4)
    # The same line 6 times within a minute from one member: the flood detector's repeat
    # rule needs the earlier ones as history, across chunk boundaries.
    records = [
        text(f"r-{i}", "加我微信领福利啦啦啦", sender="wmRepeat", at_ms=NOW_MS + i * 5_000)
        for i in range(10)
    ]
    summary, _ = await run(settings, sessions, write_jsonl(tmp_path / "r.jsonl", records, []))
    assert summary.stored == 10
    assert summary.findings_by_detector["flood"] >= 1


def test_the_command_prints_the_summary_and_the_bad_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text(support.LEXICON, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'replay.db'}")
    monkeypatch.setenv("LEXICON_PATH", str(lexicon))
    path = write_jsonl(tmp_path / "week.jsonl", RECORDS)

    assert main(["archive", "import", str(path), "--shadow"]) == 0
    out, err = capsys.readouterr()
    assert "archive import of" in out and "flagged: 3" in out
    assert "actions queued: 0" in out
    assert f"{path}:3: skipped: not JSON" in err

    assert main(["archive", "import", str(path), "--shadow"]) == 0
    out, _ = capsys.readouterr()
    assert "stored: 0 new, 6 already in the database" in out

    assert main(["archive", "import", str(tmp_path / "missing.jsonl")]) == 2
    assert "FILE: no file at" in capsys.readouterr().err
