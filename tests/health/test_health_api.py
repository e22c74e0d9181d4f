"""Community health where operators see it: `GET /api/v1/health/groups` (filter, order, pages),
`GET /api/v1/health/groups/{chat_id}` with its daily series, and `wecom-mod health`, over
groups the service saw through the chat archive, the smart bot and nothing at all; and
`wecom-mod archive import` filling the rollups from months-old records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import cli
from app.health.service import HealthConfig
from app.health.snapshot import SnapshotRefresher
from app.ingest.archive import store_message
from bot.archive import parse_archive_message
from tests import support
from tests.conftest import Service, make_settings, start_service

ACTIVE = "wr-active"
STAR = "wr-star"
DEAD = "wr-dead"
MENTIONS = "wr-mentions"


@pytest.fixture
def clock() -> support.Clock:
    return support.Clock()


@pytest.fixture
async def service(
    database_url: str, tmp_path: Path, clock: support.Clock
) -> AsyncIterator[Service]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    settings = make_settings(
        database_url,
        tmp_path,
        policy_path=str(policy),
        readonly_api_token="readonly-token-0123456789",
    )
    async for running in start_service(settings, support.FakeWeCom(), clock=clock):
        yield running


def record(
    msgid: str, chat: str, sender: str, at: datetime, content: str = "好的"
) -> dict[str, Any]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": ["x"],
        "roomid": chat,
        "msgtime": int(at.timestamp() * 1000),
        "msgtype": "text",
        "text": {"content": content},
    }


async def seed(service: Service, clock: support.Clock) -> None:
    """ACTIVE: 12 members chatting every day; STAR: one member sends nearly everything; DEAD:
    last member message 20 days ago; MENTIONS: seen through the smart bot only."""
    now = clock.now
    records = []
    for age in range(20, -1, -1):
        at = now - timedelta(days=age, minutes=1)
        if age == 20:
            records.append(record(f"d-{age}", DEAD, "wm-old", at))
        for n in range(12):
            records.append(
                record(f"a-{age}-{n}", ACTIVE, f"wm-{n}", at + timedelta(seconds=n * 40))
            )
        for n in range(6):
            sender = "wm-star" if n < 5 else f"wm-fan{age % 3}"
            records.append(record(f"s-{age}-{n}", STAR, sender, at + timedelta(seconds=n * 70)))
    async with service.runtime.sessions() as session, session.begin():
        for raw in records:
            await store_message(session, parse_archive_message(raw), raw, now=now)
    await service.settle()
    plaintext = support.aibot_group_text("大家好", msgid="m-1", chat_id=MENTIONS)
    assert (await service.post_aibot(plaintext)).status_code == 200
    await service.settle()


async def test_the_list_grades_every_group_and_says_why(
    service: Service, clock: support.Clock
) -> None:
    await seed(service, clock)
    response = await service.api("/api/v1/health/groups")
    assert response.status_code == 200, response.text
    page = response.json()
    by_chat = {item["chat_id"]: item for item in page["items"]}
    assert [item["chat_id"] for item in page["items"]] == [DEAD, STAR, ACTIVE, MENTIONS]
    assert page["grades"] == {"healthy": 1, "watch": 0, "at_risk": 1, "dead": 1, "ungraded": 1}
    dead = by_chat[DEAD]
    assert dead["grade"] == "dead"
    assert dead["decided_by"] == [
        {"figure": "days_since_member_message", "value": 20.0, "threshold": 14.0}
    ]
    star = by_chat[STAR]
    assert star["grade"] == "at_risk"
    assert [f["figure"] for f in star["decided_by"]] == ["top2_share"]
    assert star["figures"]["bus_factor"] == 1
    assert star["figures"]["member_messages"] == 21 * 6
    active = by_chat[ACTIVE]["figures"]
    assert by_chat[ACTIVE]["grade"] == "healthy"
    assert (active["speakers"], active["members"], active["speaker_ratio"]) == (12, 12, 1.0)
    assert active["days"] == 30 and active["coverage"] == "full"
    mentions = by_chat[MENTIONS]
    assert mentions["grade"] is None and mentions["decided_by"] == []
    assert mentions["figures"]["coverage"] == "partial"
    assert mentions["figures"]["member_messages"] is None


async def test_filter_order_and_pages(service: Service, clock: support.Clock) -> None:
    await seed(service, clock)

    async def ids(**params: Any) -> list[str]:
        page = (await service.api("/api/v1/health/groups", **params)).json()
        return [item["chat_id"] for item in page["items"]]

    dead = (await service.api("/api/v1/health/groups", grade="dead")).json()
    assert [item["chat_id"] for item in dead["items"]] == [DEAD]
    ungraded = (await service.api("/api/v1/health/groups", grade="ungraded")).json()
    assert [item["chat_id"] for item in ungraded["items"]] == [MENTIONS]
    busiest = (
        await service.api("/api/v1/health/groups", sort="member_messages", order="desc")
    ).json()
    assert [item["chat_id"] for item in busiest["items"]] == [ACTIVE, STAR, DEAD, MENTIONS]
    seen = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await service.api("/api/v1/health/groups", **params)).json()
        seen += [item["chat_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [DEAD, STAR, ACTIVE, MENTIONS]
    # a chat id not in the list stands where a group without the figure would: at the end
    assert await ids(cursor="wr-nowhere") == []  # every group has a grade rank
    assert await ids(sort="member_messages", cursor="wr-a") == [MENTIONS]
    assert await ids(sort="member_messages", cursor="wr-zzz") == []
    assert (await service.api("/api/v1/health/groups", sort="nonsense")).status_code == 422


async def test_one_group_with_its_daily_series(service: Service, clock: support.Clock) -> None:
    await seed(service, clock)
    response = await service.api(f"/api/v1/health/groups/{STAR}", days=7)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["grade"] == "at_risk" and detail["figures"]["days"] == 7
    series = detail["series"]
    assert len(series) == 7
    assert [day["member_messages"] for day in series] == [6] * 7
    assert [day["speakers"] for day in series] == [2] * 7
    assert series[-1]["date"] == detail["figures"]["end"]
    assert (await service.api("/api/v1/health/groups/wr-nowhere")).status_code == 404


async def test_the_read_only_token_reads_and_no_token_is_refused(service: Service) -> None:
    assert (await service.http.get("/api/v1/health/groups")).status_code == 401
    response = await service.http.get(
        "/api/v1/health/groups", headers={"Authorization": "Bearer readonly-token-0123456789"}
    )
    assert response.status_code == 200


async def test_the_command_line_table(
    service: Service,
    clock: support.Clock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await seed(service, clock)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WECOM_ADMIN_USERIDS", ",".join(support.MODERATORS))
    monkeypatch.setattr(cli, "_now", lambda: clock.now)
    assert await asyncio.to_thread(cli.main, ["health", "--grade", "dead"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["grade", "chat_id", "name"]
    assert lines[1].startswith("dead") and DEAD in lines[1]
    assert "days_since_member_message=20 (limit 14)" in lines[1]
    assert lines[-1] == "1 group(s), the last 30 day(s), computed 2026-03-02 09:00 UTC"
    assert await asyncio.to_thread(cli.main, ["health", "--days", "7"]) == 0
    out = capsys.readouterr().out
    assert "ungraded (partial)" in out and "4 group(s), the last 7 day(s)" in out


async def test_archive_import_fills_months_of_rollups(
    service: Service,
    clock: support.Clock,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = [
        json.dumps(record(f"i-{age}-{n}", ACTIVE, f"wm-{n}", clock.now - timedelta(days=age)))
        for age in range(120, -1, -30)
        for n in range(3)
    ]
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", database_url)
    lexicon = tmp_path / "lexicon.txt"
    monkeypatch.setenv("LEXICON_PATH", str(lexicon))
    assert await asyncio.to_thread(cli.main, ["archive", "import", str(export)]) == 0
    assert "health rollups:" in capsys.readouterr().out
    detail = (await service.api(f"/api/v1/health/groups/{ACTIVE}", days=121)).json()
    busy = [day["member_messages"] for day in detail["series"] if day["member_messages"]]
    assert busy == [3] * 5
    assert detail["figures"]["speakers"] == 3


async def test_the_list_answers_from_the_snapshot_one_replica_refreshes(
    service: Service, clock: support.Clock
) -> None:
    await seed(service, clock)
    config = HealthConfig.from_settings(service.runtime.settings)
    replicas = [
        SnapshotRefresher(service.runtime.sessions, config, clock=clock, holder=name)
        for name in ("replica-a", "replica-b")
    ]
    written = await asyncio.gather(*(replica.refresh_if_due() for replica in replicas))
    assert sorted(written) == [0, 4]  # one of them computed every group, the other nothing
    assert [await replica.refresh_if_due() for replica in replicas] == [0, 0]  # not due yet
    computed = clock.now
    clock.advance(60)
    page = (await service.api("/api/v1/health/groups")).json()
    assert page["computed_at"] == computed.isoformat().replace("+00:00", "Z")
    assert [item["chat_id"] for item in page["items"]] == [DEAD, STAR, ACTIVE, MENTIONS]
    assert page["grades"] == {"healthy": 1, "watch": 0, "at_risk": 1, "dead": 1, "ungraded": 1}

    async def paged(**params: Any) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            query = {"limit": 1, **params, **({"cursor": cursor} if cursor else {})}
            page = (await service.api("/api/v1/health/groups", **query)).json()
            assert page["computed_at"] == computed.isoformat().replace("+00:00", "Z")
            seen += [item["chat_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    assert await paged() == [DEAD, STAR, ACTIVE, MENTIONS]
    assert await paged(sort="member_messages", order="desc") == [ACTIVE, STAR, DEAD, MENTIONS]
    assert await paged(sort="member_messages") == [DEAD, STAR, ACTIVE, MENTIONS]
    assert await paged(grade="dead") == [DEAD]
    assert await paged(grade="ungraded") == [MENTIONS]
    nowhere = (
        await service.api("/api/v1/health/groups", sort="member_messages", cursor="wr-a")
    ).json()
    assert [item["chat_id"] for item in nowhere["items"]] == [MENTIONS]
    assert (await service.api("/api/v1/health/groups", cursor="wr-a")).json()["items"] == []

    # A new group shows at the next refresh; another window is computed at once.
    plaintext = support.aibot_group_text("大家好", msgid="m-2", chat_id="wr-new")
    assert (await service.post_aibot(plaintext)).status_code == 200
    await service.settle()
    assert len((await service.api("/api/v1/health/groups")).json()["items"]) == 4
    assert len((await service.api("/api/v1/health/groups", days=7)).json()["items"]) == 5
    clock.advance(config.refresh_minutes * 60)
    assert await replicas[1].refresh_if_due() == 5
    page = (await service.api("/api/v1/health/groups")).json()
    assert len(page["items"]) == 5
    assert page["computed_at"] == clock.now.isoformat().replace("+00:00", "Z")
