"""Moderators' review of decisions, statistics and the CSV export, from the user's side:
messages in through encrypted smart-bot callbacks, answers through the REST API."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.admin import log_csv
from app.admin.log_csv import csv_cell
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgAAAAchat1"
OTHER = "wrOgAAAAchat2"
PHONE = "想赚钱的联系我 13800138000"


def policy_file(tmp_path: Path) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    return str(path)


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    settings = make_settings(database_url, tmp_path, policy_path=policy_file(tmp_path))
    async for running in start_service(settings, support.FakeWeCom()):
        yield running


async def say(service: Service, text: str, msgid: str, sender: str, chat: str = CHAT) -> None:
    await service.post_aibot(
        support.aibot_group_text(text, msgid=msgid, sender=sender, chat_id=chat)
    )
    await service.settle()


async def post(service: Service, path: str, body: Any) -> httpx.Response:
    return await service.http.post(
        path, json=body, headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"}
    )


async def logs(service: Service, **params: Any) -> list[dict[str, Any]]:
    items = (await service.api("/api/v1/moderation-logs", limit=200, **params)).json()["items"]
    return list(reversed(items))  # oldest first


async def standing(service: Service, user: str, chat: str = CHAT) -> int:
    body = (await service.api(f"/api/v1/groups/{chat}/members/{user}/strikes")).json()
    return int(body["standing"])


async def a_small_community(service: Service) -> None:
    """Two groups, a day of ordinary chat and a few offences."""
    await say(service, "早上好", "a-1", "zhangsan")
    await say(service, "今天下午3点开会，会议室301", "a-2", "zhangsan")
    await say(service, PHONE, "a-3", "lisi")  # promotion: 1st offence, warning
    await say(service, "今晚一起去赌博吧", "a-4", "lisi")  # block word: 2nd offence
    await say(service, "群里别发口交这种词", "a-5", "wangwu")  # a log-tier word: recorded
    await say(service, "赌博", "b-1", "zhaoliu", chat=OTHER)  # block word: 1st offence
    await say(service, "大家好", "b-2", "zhaoliu", chat=OTHER)


# -- review ------------------------------------------------------------------------------


async def test_confirm_marks_the_row_and_leaves_the_strikes(service: Service) -> None:
    await a_small_community(service)
    row = next(item for item in await logs(service) if item["message_id"] == "a-4")
    assert row["review"] is None
    answer = await post(
        service,
        f"/api/v1/moderation-logs/{row['id']}/review",
        {"verdict": "confirm", "by": "mod-alice", "note": "明显的赌博邀约"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["review"]["status"] == "confirmed" and body["review"]["by"] == "mod-alice"
    assert body["pardoned_strikes"] == 0 and body["standing"] == 2
    assert body["suggested_allow"] == []
    assert await standing(service, "lisi") == 2

    shown = (await service.api(f"/api/v1/moderation-logs/{row['id']}")).json()["review"]
    assert shown["status"] == "confirmed" and shown["by"] == "mod-alice"
    assert shown["note"] == "明显的赌博邀约" and shown["at"]

    again = await post(
        service, f"/api/v1/moderation-logs/{row['id']}/review", {"verdict": "overturn"}
    )
    assert again.status_code == 409
    assert "already reviewed: confirmed by mod-alice" in again.json()["error"]
    assert await standing(service, "lisi") == 2  # the refused overturn pardoned nothing

    entries = (await service.api("/api/v1/audit")).json()["items"]
    assert [(e["action"], e["target"], e["actor"]) for e in entries] == [
        ("log.confirm", f"log:{row['id']}", "admin-token:mod-alice")
    ]


async def test_overturn_pardons_the_strike_and_suggests_an_allow_phrase(
    service: Service,
) -> None:
    await say(service, "今晚一起去赌博吧", "b-1", "zhaoliu", chat=OTHER)
    await say(service, "赌博", "b-2", "zhaoliu", chat=OTHER)
    assert await standing(service, "zhaoliu", OTHER) == 2
    first = (await logs(service))[0]
    answer = await post(
        service,
        f"/api/v1/moderation-logs/{first['id']}/review",
        {"verdict": "overturn", "by": "mod-bob", "note": "说的是电影"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["review"]["status"] == "overturned"
    assert body["pardoned_strikes"] == 1 and body["standing"] == 1
    assert body["suggested_allow"] == [
        {
            "index": 0,
            "word": "赌博",
            "matched": "赌博",
            "phrase": "去赌博",  # 今晚|一起|去|赌博|吧: the shorter neighbour, the one before
            "start": 10,
            "end": 13,
            "scope": OTHER,
            "scopes": ["group", "global"],
        }
    ]
    assert await standing(service, "zhaoliu", OTHER) == 1
    strikes = (await service.api(f"/api/v1/groups/{OTHER}/members/zhaoliu/strikes")).json()
    assert [s["pardoned_by"] for s in strikes["strikes"]] == ["mod-bob", None]
    members = (await service.api(f"/api/v1/groups/{OTHER}/members")).json()["items"]
    assert members[0]["strikes"] == 1

    # The suggestion is not added; once a moderator adds it, the message passes.
    assert (await service.api("/api/v1/lexicon/allow")).json()["items"] == []
    suggestion = body["suggested_allow"][0]
    added = await post(
        service,
        "/api/v1/lexicon/allow",
        {"phrase": suggestion["phrase"], "scope": suggestion["scope"]},
    )
    assert added.status_code == 201
    assert added.json()["item"]["source_log_id"] is None  # added by hand
    await service.settle()  # this replica reloads its matcher
    check = await post(
        service, "/api/v1/lexicon/test", {"text": "今晚一起去赌博吧", "chat_id": OTHER}
    )
    assert check.json()["findings"] == []
    assert (await post(service, "/api/v1/lexicon/test", {"text": "赌博"})).json()["findings"]

    (entry,) = (await service.api("/api/v1/audit", action="log.overturn")).json()["items"]
    assert entry["details"]["pardoned_strikes"] == 1
    assert entry["details"]["suggested_allow"] == ["去赌博"]
    assert entry["details"]["note"] == "说的是电影"


async def test_overturning_a_promotion_pardons_but_suggests_no_phrase(service: Service) -> None:
    await say(service, PHONE, "a-1", "lisi")
    (row,) = await logs(service)
    body = (
        await post(service, f"/api/v1/moderation-logs/{row['id']}/review", {"verdict": "overturn"})
    ).json()
    assert body["pardoned_strikes"] == 1 and body["standing"] == 0
    assert body["suggested_allow"] == [] and "no allow-list phrase" in body["note"]
    assert body["review"]["by"] == "api"
    (entry,) = (await service.api("/api/v1/audit")).json()["items"]
    assert entry["actor"] == "admin-token"  # no `by` given


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/api/v1/moderation-logs/999/review", {"verdict": "confirm"}, 404, "not found"),
        ("/api/v1/moderation-logs/1/review", {"verdict": "approve"}, 422, "verdict"),
        ("/api/v1/moderation-logs/1/review", {}, 422, "verdict"),
        ("/api/v1/moderation-logs/1/review", {"verdict": "confirm", "by": ""}, 422, "by"),
        ("/api/v1/moderation-logs/1/review", {"verdict": "confirm", "x": 1}, 422, "x"),
        ("/api/v1/moderation-logs/0/review", {"verdict": "confirm"}, 422, "log_id"),
    ],
)
async def test_bad_reviews_are_refused_and_change_nothing(
    service: Service, path: str, body: dict[str, Any], status: int, fragment: str
) -> None:
    await say(service, "一起去赌博吧", "a-1", "lisi")
    response = await post(service, path, body)
    assert response.status_code == status
    assert fragment in response.json()["error"]
    assert (await logs(service))[0]["review"] is None
    assert await standing(service, "lisi") == 1
    assert (await service.api("/api/v1/audit")).json()["items"] == []


# -- stats -------------------------------------------------------------------------------


async def test_stats_over_a_small_community(service: Service) -> None:
    await a_small_community(service)
    body = (await service.api("/api/v1/stats", days=7)).json()
    assert body["days"] == 7 and body["chat_id"] is None
    assert body["messages"] == {"last_24h": 7, "active_members": 4, "seen_total": 7}
    assert body["flagged"] == 4
    assert body["flagged_by_mode"] == {"enforce": 4}
    assert body["decisions"] == {"log": 1, "warn": 3}
    assert body["findings"] == {"lexicon": 3, "promo": 1}
    assert body["rules"] == {"promo.phone": 1, "word.gambling": 2, "word.porn": 1}
    assert body["findings_truncated"] is False
    assert body["actions"] == {"aibot_reply": {"sent": 3}, "app_message": {"sent": 2}}
    assert body["reviews"] == {}
    assert body["top_offenders"] == [
        {"user_id": "lisi", "chat_id": CHAT, "count": 2},
        {"user_id": "zhaoliu", "chat_id": OTHER, "count": 1},
    ]

    one = (await service.api("/api/v1/stats", days=7, chat_id=OTHER)).json()
    assert one["chat_id"] == OTHER
    assert one["messages"] == {"last_24h": 2, "active_members": 1, "seen_total": 2}
    assert one["flagged"] == 1 and one["decisions"] == {"warn": 1}
    assert one["findings"] == {"lexicon": 1}
    assert one["top_offenders"] == [{"user_id": "zhaoliu", "chat_id": OTHER, "count": 1}]

    # An overturned decision is no offence any more.
    lisi_first = next(item for item in await logs(service) if item["message_id"] == "a-3")
    await post(
        service, f"/api/v1/moderation-logs/{lisi_first['id']}/review", {"verdict": "overturn"}
    )
    after = (await service.api("/api/v1/stats")).json()
    assert after["reviews"] == {"overturned": 1}
    assert after["top_offenders"][0] == {"user_id": "lisi", "chat_id": CHAT, "count": 1}

    nothing = (await service.api("/api/v1/stats", chat_id="nobody")).json()
    assert nothing["flagged"] == 0 and nothing["top_offenders"] == []
    assert nothing["messages"] == {"last_24h": 0, "active_members": 0, "seen_total": 0}


@pytest.mark.parametrize("params", [{"days": 0}, {"days": 366}, {"days": "x"}, {"chat_id": ""}])
async def test_stats_refuses_bad_parameters(service: Service, params: dict[str, Any]) -> None:
    response = await service.api("/api/v1/stats", **params)
    assert response.status_code == 422


async def test_stats_findings_are_read_from_a_bounded_number_of_rows(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.repositories import reports

    monkeypatch.setattr(reports, "MAX_FINDINGS_ROWS", 2)
    for index, text in enumerate(["赌博", "去赌博吗", "赌博群"]):
        await say(service, text, f"a-{index}", f"user{index}")
    body = (await service.api("/api/v1/stats")).json()
    assert body["flagged"] == 3  # counted in SQL: exact
    assert body["findings"] == {"lexicon": 2} and body["findings_truncated"] is True


# -- CSV export --------------------------------------------------------------------------


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def export(service: Service, **params: Any) -> httpx.Response:
    response = await service.api("/api/v1/moderation-logs/export.csv", **params)
    assert response.status_code == 200, response.text
    return response


async def test_csv_export_has_every_column_and_is_formula_safe(service: Service) -> None:
    await say(service, PHONE, "a-1", '=HYPERLINK("http://evil")')
    await say(service, '他说"赌博",\n你信吗', "a-2", "lisi")
    response = await export(service)
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    header, first, second = parse_csv(response.text)
    assert header == list(log_csv.CSV_COLUMNS)
    rows = await logs(service)
    assert [first[0], second[0]] == [str(rows[0]["id"]), str(rows[1]["id"])]
    assert first[3] == '\'=HYPERLINK("http://evil")'
    assert first[2] == CHAT
    assert first[4:9] == ["warn", "warning", "1", "enforce", "promo.phone"]
    assert first[10] == "'@审核助手 " + PHONE  # the smart bot's text starts with its @-mention
    assert second[10] == "'@审核助手 " + '他说"赌博",\n你信吗'  # quoted, round-trips
    assert second[8] == "word.gambling"
    assert second[9] == rows[1]["reason"]
    assert datetime.fromisoformat(second[1]).tzinfo is not None


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+86 138", "'+86 138"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("正常文本 =1", "正常文本 =1"),
        ("", ""),
        (None, ""),
    ],
)
def test_csv_cells_starting_like_a_formula_are_defused(value: str | None, cell: str) -> None:
    assert csv_cell(value) == cell


async def test_csv_export_filters_and_streams_in_batches(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_csv, "EXPORT_BATCH", 2)
    for index in range(5):
        await say(service, "一起去赌博吧", f"a-{index}", f"user{index}")
    await say(service, "一起去赌博吧", "b-1", "zhaoliu", chat=OTHER)
    rows = parse_csv((await export(service)).text)[1:]
    assert [row[0] for row in rows] == [str(item["id"]) for item in await logs(service)]
    only = parse_csv((await export(service, chat_id=OTHER)).text)[1:]
    assert [row[3] for row in only] == ["zhaoliu"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert parse_csv((await export(service, since=future)).text) == [list(log_csv.CSV_COLUMNS)]
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert parse_csv((await export(service, until=past)).text) == [list(log_csv.CSV_COLUMNS)]
    naive = await service.api("/api/v1/moderation-logs/export.csv", since="2026-01-01T00:00:00")
    assert naive.status_code == 400 and "timezone" in naive.json()["error"]
