"""Learning from corrections, from the user's side: a member's message is flagged, a moderator
overturns it, the answer proposes the allow-list phrase that would have prevented it (the
segmented words around the hit, for the group or every group), and one call adds it with the
decision it came from. Plus the table of `phrase_around`, the rule behind the proposal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import audit
from app.lexicon import corrections
from app.models import ModerationLog
from moderation.segment import phrase_around
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgAAAAchat1"
OTHER = "wrOgAAAAchat2"
BET = "我跟老王打赌博尔特能赢"  # 我|跟|老王|打|赌博|尔特|能|赢: 赌博 is read, with 打 before it
READONLY_TOKEN = "readonly-token-0123456789"


# -- the phrase around a hit -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hit", "expected"),
    [
        # The words the reading cuts across the hit come with it.
        ("前面路口交通很堵", "口交", "路口交通"),  # 路口|交通
        ("我打赌博士今天不来", "赌博", "打赌博士"),  # 打赌|博士
        ("角色情感很细腻", "色情", "角色情感"),  # 角色|情感
        ("整套现代家具", "套现", "整套现代"),  # 整套|现代
        ("分辨真假证券", "假证", "真假证券"),  # 真假|证券
        ("大脑残存的记忆", "脑残", "大脑残存"),  # 大脑|残存
        ("我打賭博士今天不來", "賭博", "打賭博士"),  # traditional characters read as simplified
        # A hit read as a word of its own: the shorter neighbouring word, the one before on a tie.
        ("我跟老王打赌博尔特能赢", "赌博", "打赌博"),  # 打|赌博|尔特
        ("今晚一起去赌博吧", "赌博", "去赌博"),  # 去|赌博|吧
        ("坚决反对赌博", "赌博", "反对赌博"),  # 反对|赌博, nothing after
        ("赌博害人", "赌博", "赌博害人"),  # 赌博|害人: the word after
        ("色情片", "色情", "色情片"),
        ("赌😀博吧", "赌😀博", "赌😀博吧"),  # a gap hit keeps its noise
        # Latin letters and digits: a run is one word, taken whole when short.
        ("我的vx号是多少", "vx", "的vx"),
        ("a1b2赌博", "赌博", "a1b2赌博"),
        ("加weixin18123", "加weixin", "加weixin18123"),
        ("x" * 24 + "赌博", "赌博", "x" * 24 + "赌博"),
        # Alone between spaces, punctuation or the ends: nothing to allow but the word.
        ("赌博", "赌博", None),
        ("@审核助手 赌博", "赌博", None),
        ("谁在 赌博 ？", "赌博", None),
        ("赌博。", "赌博", None),
        ("free av club", "av", None),
        ("x" * 25 + "赌博", "赌博", None),  # the only neighbour is too long to be a phrase
        ("x" * 40 + "赌博", "赌博", None),
    ],
)
def test_phrase_around(text: str, hit: str, expected: str | None) -> None:
    start = text.index(hit)
    span = phrase_around(text, start, start + len(hit))
    assert (text[span[0] : span[1]] if span is not None else None) == expected


@pytest.mark.parametrize(("start", "end"), [(1, 5), (2, 2), (-1, 1), (1, 0)])
def test_phrase_around_ignores_spans_outside_the_text(start: int, end: int) -> None:
    assert phrase_around("赌博", start, end) is None


def _row(text: str, chat_id: str, *hits: tuple[str, int, int]) -> ModerationLog:
    findings: list[Any] = [
        {"detector": "lexicon", "word": word, "matched": text[a:b], "start": a, "end": b}
        for word, a, b in hits
    ]
    findings.append({"detector": "promo", "rule": "promo.phone", "start": 0, "end": 2})
    return ModerationLog(id=7, text=text, chat_id=chat_id, findings=findings, review="overturned")


def test_proposals_are_one_per_phrase_in_hit_order() -> None:
    row = _row("去赌博，去赌博，口交通道", CHAT, ("赌博", 1, 3), ("赌博", 5, 7), ("口交", 8, 10))
    proposals = corrections.suggestions(row)
    assert [(p.index, p.phrase, p.start, p.end) for p in proposals] == [
        (0, "去赌博", 0, 3),
        (1, "口交通道", 8, 12),  # 口交|通道: the hit is a whole word, so its neighbour joins
    ]
    assert corrections.scopes_of(row) == ("group", "global")
    assert corrections.scopes_of(_row("去赌博", "", ("赌博", 1, 3))) == ("global",)
    assert corrections.suggestions(_row("赌博", CHAT, ("赌博", 0, 2))) == []
    assert corrections.suggestions(_row("去赌博", CHAT, ("赌博", 2, 9))) == []  # out of range


async def test_a_one_to_one_chat_phrase_can_only_be_global() -> None:
    row = _row("去赌博", "", ("赌博", 1, 3))
    with pytest.raises(corrections.BadChoice, match='from a 1:1 chat; use "global"'):
        await corrections.allow_from_log(
            None,  # type: ignore[arg-type]  # refused before the database is read
            row,
            suggestion=0,
            phrase=None,
            scope="group",
            added_by="t",
            source="api",
            now=None,  # type: ignore[arg-type]
            actor="t",
            channel=audit.Channel.REST,
        )


# -- through the service -----------------------------------------------------------------


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    settings = make_settings(
        database_url, tmp_path, policy_path=str(policy), readonly_api_token=READONLY_TOKEN
    )
    async for running in start_service(settings, support.FakeWeCom()):
        yield running


async def say(service: Service, text: str, msgid: str, chat: str = CHAT) -> dict[str, Any]:
    """A member's message in a group; its moderation log row."""
    await service.post_aibot(
        support.aibot_group_text(text, msgid=msgid, sender="lisi", chat_id=chat)
    )
    await service.settle()
    items = (await service.api("/api/v1/moderation-logs", limit=200)).json()["items"]
    row: dict[str, Any] = next(item for item in items if item["message_id"] == msgid)
    return row


async def post(
    service: Service, path: str, body: Any, token: str = support.ADMIN_TOKEN
) -> httpx.Response:
    return await service.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


async def overturn(service: Service, log_id: int) -> dict[str, Any]:
    answer = await post(
        service,
        f"/api/v1/moderation-logs/{log_id}/review",
        {"verdict": "overturn", "by": "mod-bob", "note": "打赌，不是赌博"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def allow_list(service: Service) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await service.api("/api/v1/lexicon/allow")).json()["items"]
    return items


async def findings(service: Service, text: str, chat: str) -> list[dict[str, Any]]:
    answer = await post(service, "/api/v1/lexicon/test", {"text": text, "chat_id": chat})
    found: list[dict[str, Any]] = answer.json()["findings"]
    return found


async def test_overturn_proposes_the_words_around_the_hit_and_one_call_allows_them(
    service: Service,
) -> None:
    row = await say(service, BET, "m-1")
    answer = await overturn(service, row["id"])
    assert answer["suggested_allow"] == [
        {
            "index": 0,
            "word": "赌博",
            "matched": "赌博",
            "phrase": "打赌博",
            "start": 10,  # in the text as stored, after the bot's @-mention
            "end": 13,
            "scope": CHAT,
            "scopes": ["group", "global"],
        }
    ]

    added = await post(
        service,
        f"/api/v1/moderation-logs/{row['id']}/allow",
        {"suggestion": 0, "scope": "group", "by": "mod-bob"},
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["status"] == "added" and body["note"] == ""
    item = body["item"]
    assert (item["phrase"], item["scope"], item["source_log_id"]) == ("打赌博", CHAT, row["id"])
    assert (item["added_by"], item["source"]) == ("mod-bob", "api")
    await service.settle()  # this replica reloads its matcher
    assert await findings(service, BET, CHAT) == []
    assert [f["word"] for f in await findings(service, BET, OTHER)] == ["赌博"]  # group only
    assert [f["word"] for f in await findings(service, "赌博", CHAT)] == ["赌博"]

    # The same again: nothing new, and it says where the entry came from.
    again = await post(service, f"/api/v1/moderation-logs/{row['id']}/allow", {"suggestion": 0})
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "unchanged"
    assert again.json()["note"] == (
        f"already on the allow list (from moderation log {row['id']}); nothing changed"
    )
    assert again.json()["item"]["id"] == item["id"]
    assert len(await allow_list(service)) == 1

    # Globally: a second entry, for every group.
    everywhere = await post(
        service, f"/api/v1/moderation-logs/{row['id']}/allow", {"suggestion": 0, "scope": "global"}
    )
    assert everywhere.status_code == 201
    assert everywhere.json()["item"]["scope"] == ""
    await service.settle()
    assert await findings(service, BET, OTHER) == []

    listed = await allow_list(service)
    assert [(e["phrase"], e["scope"], e["source_log_id"]) for e in listed] == [
        ("打赌博", "", row["id"]),
        ("打赌博", CHAT, row["id"]),
    ]
    entries = (await service.api("/api/v1/audit", target=f"log:{row['id']}")).json()["items"]
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("lexicon.allow.add", "admin-token"),
        ("lexicon.allow.add", "admin-token:mod-bob"),
        ("log.overturn", "admin-token:mod-bob"),
    ]
    assert entries[1]["details"] == {
        "id": item["id"],
        "phrase": "打赌博",
        "scope": CHAT,
        "source_log_id": row["id"],
        "suggestion": 0,
        "lexicon_version": body["lexicon_version"],
    }


async def test_a_phrase_of_ones_own_that_holds_the_hit(service: Service) -> None:
    row = await say(service, "今晚一起去赌博吧", "m-1")
    await overturn(service, row["id"])
    added = await post(
        service,
        f"/api/v1/moderation-logs/{row['id']}/allow",
        {"phrase": " 一起去赌博吧 ", "scope": "global"},
    )
    assert added.status_code == 201, added.text
    assert added.json()["item"]["phrase"] == "一起去赌博吧"
    assert added.json()["item"]["source_log_id"] == row["id"]


async def test_entries_added_by_hand_come_from_no_decision(service: Service) -> None:
    added = await post(service, "/api/v1/lexicon/allow", {"phrase": "路口交通"})
    assert added.status_code == 201 and added.json()["item"]["source_log_id"] is None
    row = await say(service, "我们去路口交通那边赌博", "m-1")
    await overturn(service, row["id"])
    again = await post(
        service, f"/api/v1/moderation-logs/{row['id']}/allow", {"phrase": "路口交通"}
    )
    assert again.status_code == 422  # holds no hit of this row: it would not have helped


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({}, 422, 'give either "suggestion"'),
        ({"suggestion": 0, "phrase": "打赌博"}, 422, 'give either "suggestion"'),
        ({"suggestion": 1}, 422, "suggestion 1: moderation log {id} proposes 1 (0 to 0)"),
        ({"suggestion": -1}, 422, "suggestion"),
        ({"phrase": "赌博"}, 422, "is the hit itself: allowing it would allow the word"),
        ({"phrase": "老王"}, 422, "holds none of the lexicon hits of moderation log {id}"),
        ({"phrase": "去赌场"}, 422, "does not occur in the text of moderation log {id}"),
        ({"phrase": " "}, 422, "empty phrase"),
        ({"phrase": "打赌\t博"}, 422, "tab, line break or control character"),
        ({"suggestion": 0, "scope": "everywhere"}, 422, "scope"),
        ({"suggestion": 0, "by": ""}, 422, "by"),
        ({"suggestion": 0, "colour": "red"}, 422, "colour"),
    ],
)
async def test_bad_additions_are_refused_and_change_nothing(
    service: Service, body: dict[str, Any], status: int, fragment: str
) -> None:
    row = await say(service, BET, "m-1")
    await overturn(service, row["id"])
    answer = await post(service, f"/api/v1/moderation-logs/{row['id']}/allow", body)
    assert answer.status_code == status, answer.text
    assert fragment.format(id=row["id"]) in answer.json()["error"]
    assert await allow_list(service) == []
    audit = (await service.api("/api/v1/audit")).json()["items"]
    assert [entry["action"] for entry in audit] == ["log.overturn"]


async def test_only_an_overturned_decision_teaches_the_allow_list(service: Service) -> None:
    row = await say(service, BET, "m-1")
    path = f"/api/v1/moderation-logs/{row['id']}/allow"
    refused = await post(service, path, {"suggestion": 0})
    assert refused.status_code == 409
    assert refused.json()["error"] == (
        f"moderation log {row['id']} is not overturned (review: none): overturn it first with "
        f"POST /api/v1/moderation-logs/{row['id']}/review"
    )
    confirmed = await post(
        service, f"/api/v1/moderation-logs/{row['id']}/review", {"verdict": "confirm"}
    )
    assert confirmed.status_code == 200
    assert (await post(service, path, {"suggestion": 0})).status_code == 409
    assert (await post(service, "/api/v1/moderation-logs/999/allow", {"suggestion": 0})).json()[
        "error"
    ] == "moderation log 999 not found"
    readonly = await post(service, path, {"suggestion": 0}, token=READONLY_TOKEN)
    assert readonly.status_code == 403
    assert await allow_list(service) == []


async def test_a_decision_without_a_phrase_to_propose_says_so(service: Service) -> None:
    row = await say(service, "有事打我电话 13800138000", "m-1")  # promotion, no lexicon hit
    answer = await overturn(service, row["id"])
    assert answer["suggested_allow"] == [] and "no allow-list phrase" in answer["note"]
    refused = await post(service, f"/api/v1/moderation-logs/{row['id']}/allow", {"suggestion": 0})
    assert refused.status_code == 422
    assert "proposes no allow-list phrase" in refused.json()["error"]
