"""Managing the lexicon: the start-up import, the REST API, live reload on every replica, the
`words` commands — on SQLite and on PostgreSQL, through the real ASGI app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.cli import main
from app.main import create_app
from app.models import LexiconAllow, LexiconImport, LexiconWord
from app.repositories import lexicon as lexicon_repo
from app.settings import SettingsError
from moderation import parse_allow_list, parse_lexicon
from tests import support
from tests.conftest import Service, make_settings, start_service

AUTH = {"Authorization": f"Bearer {support.ADMIN_TOKEN}"}


async def post(service: Service, path: str, body: Any) -> httpx.Response:
    return await service.http.post(path, json=body, headers=AUTH)


async def delete(service: Service, path: str) -> httpx.Response:
    return await service.http.delete(path, headers=AUTH)


async def snapshot(service: Service) -> tuple[int, list[tuple[str, str, str, str, str]], int]:
    """(version, words as (word, category, severity, mode, scope), allow-list size)."""
    async with service.runtime.sessions() as session:
        version = await lexicon_repo.version(session)
        rows = await lexicon_repo.all_words(session)
        allow = await session.execute(select(func.count()).select_from(LexiconAllow))
        words = [(r.word, r.category, r.severity, r.mode, r.scope) for r in rows]
        return version, words, int(allow.scalar_one())


async def word_id(service: Service, word: str) -> int:
    async with service.runtime.sessions() as session:
        row = (
            await session.execute(select(LexiconWord).where(LexiconWord.word == word))
        ).scalar_one()
        return row.id


async def judge(service: Service, text: str, chat_id: str = "") -> dict[str, Any]:
    response = await post(service, "/api/v1/lexicon/test", {"text": text, "chat_id": chat_id})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- the start-up import -----------------------------------------------------------------


async def test_startup_import_runs_once_per_file_content(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    lexicon_file = tmp_path / "lexicon.txt"
    wecom = support.FakeWeCom()

    async for service in start_service(settings, wecom):
        version, words, _ = await snapshot(service)
        assert version == 1  # one import, one version
        assert [w[0] for w in words] == ["赌博", "加微信", "口交"]
        assert words[0] == ("赌博", "gambling", "block", "fuzzy", "")
        assert service.runtime.lexicon.version == 1
        response = await delete(service, f"/api/v1/lexicon/words/{await word_id(service, '口交')}")
        assert response.status_code == 204

    async for service in start_service(settings, wecom):  # a restart, the same file
        version, words, _ = await snapshot(service)
        assert version == 2  # the delete; the import did not run again
        assert [w[0] for w in words] == ["赌博", "加微信"]  # 口交 is not brought back
        assert service.runtime.lexicon.version == 2 and len(service.runtime.lexicon.matcher) == 2

    lexicon_file.write_text(
        support.LEXICON.replace("赌博\tgambling\tblock", "赌博\tgambling\treview")
        + "博彩\tgambling\tblock\tfolded\n",
        encoding="utf-8",
    )
    async for service in start_service(settings, wecom):  # the file changed
        version, words, _ = await snapshot(service)
        assert version == 3  # one import of the new content: one version
        assert dict((w[0], w[1:]) for w in words) == {
            "赌博": ("gambling", "review", "fuzzy", ""),  # updated
            "加微信": ("ads", "review", "fuzzy", ""),  # unchanged
            "口交": ("porn", "log", "fuzzy", ""),  # in the file, missing: added
            "博彩": ("gambling", "block", "folded", ""),  # new
        }
        async with service.runtime.sessions() as session:
            imports = (await session.execute(select(LexiconImport))).scalars().all()
        assert [(i.added, i.updated, i.unchanged) for i in imports] == [(3, 0, 0), (2, 1, 1)]
        assert {i.origin for i in imports} == {f"file:{lexicon_file}"}


async def test_startup_import_of_the_allow_list(database_url: str, tmp_path: Path) -> None:
    allow = tmp_path / "allow.txt"
    allow.write_text("# phrases\n路口交通\n不要口交\twrOgAAAAchat1\n", encoding="utf-8")
    settings = make_settings(database_url, tmp_path, lexicon_allow_path=str(allow))
    async for service in start_service(settings, support.FakeWeCom()):
        version, _words, allow_count = await snapshot(service)
        assert (version, allow_count) == (2, 2)  # the word file, then the allow list
        assert (await judge(service, "前面路口交通很堵"))["findings"] == []
        assert (await judge(service, "不要口交", "wrOtherChat"))["verdict"] == "log"
        assert (await judge(service, "不要口交", "wrOgAAAAchat1"))["findings"] == []


@pytest.mark.parametrize(
    ("setting", "content", "message"),
    [
        ("lexicon_path", "赌博\t12\n", "LEXICON_PATH: {path}:1: category '12' is a number"),
        (
            "lexicon_path",
            "赌博\n!!!\n",
            "LEXICON_PATH: {path}: word '!!!' has no letters or digits after folding",
        ),
        ("lexicon_allow_path", "a\tb\tc\n", "LEXICON_ALLOW_PATH: {path}:1: expected phrase"),
        (
            "lexicon_allow_path",
            b"ok\n\xff\xff\n",
            "LEXICON_ALLOW_PATH: {path}:2: neither UTF-8 nor GBK/GB18030 (byte 3)",
        ),
    ],
)
def test_a_bad_file_stops_start_up_with_one_line(
    tmp_path: Path, setting: str, content: str | bytes, message: str
) -> None:
    bad = tmp_path / "bad.txt"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    settings = make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, **{setting: str(bad)})
    with pytest.raises(SettingsError) as caught:
        create_app(settings)
    assert str(caught.value).startswith(message.format(path=bad))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon", "3601"])
def test_reload_interval_must_be_positive(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        make_settings("sqlite:///x.db", tmp_path, lexicon_reload_seconds=value)
    assert str(caught.value).startswith("LEXICON_RELOAD_SECONDS: must be")


# -- REST: adding, updating, deleting ----------------------------------------------------


async def test_add_a_word_then_the_same_word_again(service: Service) -> None:
    response = await post(
        service, "/api/v1/lexicon/words", {"word": "代开发票", "category": "fraud"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "added" and body["lexicon_version"] == 2
    item = body["item"]
    assert (item["word"], item["folded"], item["category"], item["severity"], item["mode"]) == (
        "代开发票",
        "代开发票",
        "fraud",
        "block",
        "fuzzy",
    )
    assert (item["scope"], item["added_by"], item["source"]) == ("", "api", "api")

    # The traditional, full-width form is the same word: it updates the row.
    again = await post(
        service,
        "/api/v1/lexicon/words",
        {"word": "代開發票", "category": "fraud", "severity": "review"},
    )
    assert again.status_code == 200
    assert again.json()["status"] == "updated" and again.json()["lexicon_version"] == 3
    assert again.json()["item"]["id"] == item["id"]
    assert again.json()["item"]["word"] == "代开发票"  # the row keeps the word as first given
    same = await post(
        service,
        "/api/v1/lexicon/words",
        {"word": "代开发票", "category": "fraud", "severity": "review"},
    )
    assert same.status_code == 200
    assert same.json()["status"] == "unchanged" and same.json()["lexicon_version"] == 3

    scoped = await post(service, "/api/v1/lexicon/words", {"word": "代开发票", "scope": "wrChatX"})
    assert scoped.status_code == 201  # another scope, another word
    version, words, _ = await snapshot(service)
    assert version == 4
    assert [w for w in words if w[0] == "代开发票"] == [
        ("代开发票", "fraud", "review", "fuzzy", ""),
        ("代开发票", "custom", "block", "fuzzy", "wrChatX"),
    ]


async def test_bulk_counts_collapse_duplicates_and_repeat_as_unchanged(service: Service) -> None:
    text = "# bulk\n刷单\tfraud\treview\n刷 单\tfraud\tblock\n网赌\tgambling\n赌博\tgambling\tlog\n"
    response = await post(service, "/api/v1/lexicon/words/bulk", {"text": text})
    assert response.status_code == 200, response.text
    # 刷单 twice (the strictest wins), 网赌 new, 赌博 existing with another severity.
    assert response.json() == {
        "total": 3,
        "added": 2,
        "updated": 1,
        "unchanged": 0,
        "lexicon_version": 2,
    }
    _, words, _ = await snapshot(service)
    assert ("刷单", "fraud", "block", "fuzzy", "") in words
    again = await post(service, "/api/v1/lexicon/words/bulk", {"text": text})
    assert again.json() == {
        "total": 3,
        "added": 0,
        "updated": 0,
        "unchanged": 3,
        "lexicon_version": 2,  # nothing changed: no new version
    }
    listed = await post(
        service,
        "/api/v1/lexicon/words/bulk",
        {"words": [{"word": "博彩", "category": "gambling", "mode": "exact"}, {"word": "网赌"}]},
    )
    assert listed.json()["added"] == 1 and listed.json()["updated"] == 1


async def test_delete_a_word(service: Service) -> None:
    target = await word_id(service, "加微信")
    assert (await delete(service, f"/api/v1/lexicon/words/{target}")).status_code == 204
    missing = await delete(service, f"/api/v1/lexicon/words/{target}")
    assert missing.status_code == 404
    assert missing.json() == {"error": f"word {target} not found"}
    version, words, _ = await snapshot(service)
    assert version == 2 and "加微信" not in [w[0] for w in words]


async def test_allow_list_add_list_delete(service: Service) -> None:
    response = await post(service, "/api/v1/lexicon/allow", {"phrase": "路口交通"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "added" and body["item"]["phrase"] == "路口交通"
    again = await post(service, "/api/v1/lexicon/allow", {"phrase": "路口 交通"})
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    bulk = await post(service, "/api/v1/lexicon/allow/bulk", {"text": "口交通\n路口交通\n"})
    assert bulk.json()["added"] == 1 and bulk.json()["unchanged"] == 1
    page = (await service.api("/api/v1/lexicon/allow")).json()
    assert [item["phrase"] for item in page["items"]] == ["口交通", "路口交通"]
    await service.settle()
    assert (await judge(service, "前面路口交通很堵"))["findings"] == []
    deleted = await delete(service, f"/api/v1/lexicon/allow/{body['item']['id']}")
    assert deleted.status_code == 204
    assert (await delete(service, "/api/v1/lexicon/allow/999")).status_code == 404
    await service.settle()
    assert (await judge(service, "前面路口交通很堵"))["findings"] == []  # 口交通 still allows it
    text = (await service.http.get("/api/v1/lexicon/allow/export", headers=AUTH)).text
    assert [entry.phrase for entry in parse_allow_list(text)] == ["口交通"]


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/words", {"word": ""}, 422, "empty word"),
        ("/words", {"word": "  "}, 422, "empty word"),
        ("/words", {"word": "长" * 65}, 422, "word longer than 64 characters"),
        ("/words", {"word": "长" * 1001}, 422, "word:"),
        ("/words", {"word": "!!!"}, 422, "word '!!!' has no letters or digits after folding"),
        ("/words", {"word": "#赌"}, 422, "starts with '#'"),
        ("/words", {"word": "赌\t博"}, 422, "contains a tab, line break or control character"),
        ("/words", {"word": "博彩", "category": "涉\u200b毒"}, 422, "invisible character"),
        ("/words", {"word": "博彩", "category": "x" * 33}, 422, "longer than 32 characters"),
        ("/words", {"word": "博彩", "severity": 4}, 422, "unknown severity 4"),
        ("/words", {"word": "博彩", "severity": True}, 422, "severity"),
        ("/words", {"word": "博彩", "severity": "ban"}, 422, "unknown severity 'ban'"),
        ("/words", {"word": "博彩", "mode": "regex"}, 422, "unknown mode 'regex'"),
        ("/words", {"word": "博彩", "scope": "c" * 129}, 422, "scope longer than 128"),
        ("/words", {"word": "博彩", "scope": "a chat"}, 422, "contains a space"),
        ("/words", {"word": "博彩", "colour": "red"}, 422, "colour"),
        ("/words", {"word": 17}, 422, "word"),
        ("/words", {}, 422, "word: Field required"),
        ("/words", [], 422, "Input should be a valid dictionary"),
        (
            "/words/bulk",
            {"words": [{"word": "博彩"}, {"word": "网赌", "category": "12"}]},
            422,
            "words[1]: category '12' is a number",
        ),
        (
            "/words/bulk",
            {"text": "博彩\tgambling\n网赌\t12\tblock\n"},
            422,
            "text:2: category '12' is a number",
        ),
        ("/words/bulk", {"text": "博彩\tgambling\tblock\tfuzzy\tc\textra\n"}, 422, "text:1:"),
        ("/words/bulk", {}, 422, 'give either "words"'),
        ("/words/bulk", {"words": [], "text": ""}, 422, 'give either "words"'),
        ("/words/bulk", {"words": [{"word": f"词{i}"} for i in range(5001)]}, 422, "5000"),
        ("/words/bulk", {"text": "".join(f"词{i}\n" for i in range(5001))}, 422, "at most 5000"),
        ("/allow", {"phrase": ""}, 422, "empty phrase"),
        ("/allow", {"phrase": "?!"}, 422, "phrase '?!' has no letters or digits after folding"),
        ("/allow/bulk", {"text": "a\tb\tc\n"}, 422, "text:1: expected phrase[TAB scope]"),
        ("/test", {"text": "x" * 10_001}, 422, "text: String should have at most 10000"),
        ("/test", {"chat_id": "c"}, 422, "text: Field required"),
    ],
)
async def test_bad_writes_get_a_clear_4xx_and_change_nothing(
    service: Service, path: str, body: Any, status: int, fragment: str
) -> None:
    before = await snapshot(service)
    response = await post(service, f"/api/v1/lexicon{path}", body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert await snapshot(service) == before


async def test_a_request_that_is_not_json_is_400(service: Service) -> None:
    response = await service.http.post(
        "/api/v1/lexicon/words",
        content=b"\xff{",
        headers={**AUTH, "content-type": "application/json"},
    )
    assert response.status_code == 400 and "error" in response.json()


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/api/v1/lexicon/words?cursor=garbage!", 400, "cursor is not one this API returned"),
        ("/api/v1/lexicon/words?cursor=aWQ6LTE", 400, "cursor is not one this API returned"),
        ("/api/v1/lexicon/words?category=12", 400, "category '12' is a number"),
        ("/api/v1/lexicon/words?severity=ban", 400, "unknown severity 'ban'"),
        ("/api/v1/lexicon/words?limit=0", 422, "limit"),
        ("/api/v1/lexicon/words?limit=501", 422, "limit"),
        ("/api/v1/lexicon/allow?cursor=%20", 400, "cursor"),
        ("/api/v1/lexicon/words/0", 405, "Method Not Allowed"),
        ("/api/v1/lexicon/nothing-here", 404, "Not Found"),
    ],
)
async def test_bad_reads_get_a_clear_4xx(
    service: Service, path: str, status: int, fragment: str
) -> None:
    response = await service.http.get(path, headers=AUTH)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/lexicon/words/0", 422),
        ("/api/v1/lexicon/words/abc", 404),  # no such word (and no route): not a 422
        ("/api/v1/lexicon/words/99999999999999999999999", 422),
        ("/api/v1/lexicon/words/999", 404),
        ("/api/v1/lexicon/allow/999", 404),
    ],
)
async def test_bad_deletes(service: Service, path: str, status: int) -> None:
    before = await snapshot(service)
    response = await delete(service, path)
    assert response.status_code == status
    assert "error" in response.json()
    assert await snapshot(service) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/lexicon/words"),
        ("POST", "/api/v1/lexicon/words"),
        ("POST", "/api/v1/lexicon/words/bulk"),
        ("DELETE", "/api/v1/lexicon/words/1"),
        ("GET", "/api/v1/lexicon/words/export"),
        ("GET", "/api/v1/lexicon/allow"),
        ("POST", "/api/v1/lexicon/allow"),
        ("POST", "/api/v1/lexicon/allow/bulk"),
        ("DELETE", "/api/v1/lexicon/allow/1"),
        ("GET", "/api/v1/lexicon/allow/export"),
        ("POST", "/api/v1/lexicon/test"),
    ],
)
async def test_every_lexicon_endpoint_needs_the_token(
    service: Service, method: str, path: str
) -> None:
    before = await snapshot(service)
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        response = await service.http.request(method, path, json={"word": "博彩"}, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "missing or wrong bearer token"}
    assert await snapshot(service) == before


async def test_lexicon_endpoints_answer_503_when_rest_is_off(tmp_path: Path) -> None:
    from app import migrate
    from app.db import database_urls
    from app.settings import load_settings

    url = f"sqlite:///{tmp_path / 'bare.db'}"
    migrate.upgrade(database_urls(url))
    async for service in start_service(
        load_settings(_env_file=None, database_url=url), support.FakeWeCom()
    ):
        response = await post(service, "/api/v1/lexicon/words", {"word": "博彩"})
        assert response.status_code == 503 and "ADMIN_API_TOKEN" in response.json()["error"]


# -- REST: listing and searching ---------------------------------------------------------


async def test_list_search_filter_and_walk_pages(service: Service) -> None:
    words = [
        {"word": "网赌", "category": "gambling"},
        {"word": "ＶＸ", "category": "ads", "severity": "review"},
        {"word": "代开发票", "category": "fraud"},
        {"word": "博彩", "category": "gambling", "severity": "review", "scope": "wrChatA"},
    ]
    assert (await post(service, "/api/v1/lexicon/words/bulk", {"words": words})).status_code == 200
    everything = (await service.api("/api/v1/lexicon/words")).json()
    assert [item["word"] for item in everything["items"]] == [
        "博彩",
        "代开发票",
        "ＶＸ",
        "网赌",
        "口交",
        "加微信",
        "赌博",
    ]  # newest first
    assert everything["next_cursor"] is None

    def words_of(page: dict[str, Any]) -> list[str]:
        return [item["word"] for item in page["items"]]

    assert words_of((await service.api("/api/v1/lexicon/words", q="赌")).json()) == ["网赌", "赌博"]
    assert words_of((await service.api("/api/v1/lexicon/words", q="vx")).json()) == ["ＶＸ"]
    assert words_of((await service.api("/api/v1/lexicon/words", q="賭博")).json()) == ["赌博"]
    assert words_of((await service.api("/api/v1/lexicon/words", q="%")).json()) == []
    by_category = (await service.api("/api/v1/lexicon/words", category="GAMBLING")).json()
    assert words_of(by_category) == ["博彩", "网赌", "赌博"]
    assert len((await service.api("/api/v1/lexicon/words", category="")).json()["items"]) == 7
    by_severity = (await service.api("/api/v1/lexicon/words", severity="review")).json()
    assert words_of(by_severity) == ["博彩", "ＶＸ", "加微信"]
    scoped = (await service.api("/api/v1/lexicon/words", scope="wrChatA")).json()
    assert words_of(scoped) == ["博彩"]
    everywhere = (await service.api("/api/v1/lexicon/words", scope="")).json()
    assert "博彩" not in words_of(everywhere) and len(everywhere["items"]) == 6

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await service.api("/api/v1/lexicon/words", **params)).json()
        seen += words_of(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == words_of(everything)


# -- REST: testing a text ----------------------------------------------------------------


async def test_test_endpoint_explains_findings_with_the_version_served(service: Service) -> None:
    body = await judge(service, "今晚一起去赌博吧")
    assert body["verdict"] == "warn"
    assert body["actions"] == ["warn_sender", "alert_moderators"]
    assert body["lexicon_version"] == 1
    (finding,) = body["findings"]
    assert finding["word"] == "赌博" and (finding["start"], finding["end"]) == (5, 7)
    assert finding["route"] == "exact" and finding["explanation"].startswith(
        "赌博 [gambling/block]"
    )
    assert set(finding) >= {"evidence", "routes", "pattern", "confidence", "effective_severity"}
    assert (await judge(service, "好的 谢谢")) == {
        "findings": [],
        "dropped": [],
        "verdict": "none",
        "actions": [],
        "reason": "no findings",
        "lexicon_version": 1,
    }

    added = await post(
        service,
        "/api/v1/lexicon/words",
        {"word": "代开发票", "scope": "wrChatA", "category": "fraud"},
    )
    assert added.json()["lexicon_version"] == 2
    # Without workers in this test, the change is served after the next pass.
    assert (await judge(service, "代开发票", "wrChatA"))["lexicon_version"] == 1
    await service.settle()
    in_chat = await judge(service, "谁要代开发票", "wrChatA")
    assert in_chat["lexicon_version"] == 2 and in_chat["verdict"] == "warn"
    assert in_chat["findings"][0]["scope"] == "wrChatA"
    assert (await judge(service, "谁要代开发票", "wrChatB"))["findings"] == []


async def test_a_word_added_by_rest_warns_in_the_group(service: Service) -> None:
    response = await post(
        service, "/api/v1/lexicon/words", {"word": "代开发票", "category": "fraud"}
    )
    assert response.status_code == 201
    await service.settle()  # the lexicon pass, then the inbox and the outbox
    await service.post_aibot(support.aibot_group_text("有需要代開發票的私聊", msgid="m-new"))
    await service.settle()
    (warning,) = service.wecom.bodies("/cgi-bin/aibot/response")
    assert (
        "@zhangsan" in warning["markdown"]["content"] and "代**票" in warning["markdown"]["content"]
    )
    (item,) = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert item["decision"] == "warn" and item["findings"][0]["word"] == "代开发票"

    await delete(service, f"/api/v1/lexicon/words/{response.json()['item']['id']}")
    await service.settle()
    await service.post_aibot(support.aibot_group_text("有需要代开发票的私聊", msgid="m-after"))
    await service.settle()
    assert len(service.wecom.bodies("/cgi-bin/aibot/response")) == 1  # deleted: no new warning


async def test_words_export_over_rest_reads_back(service: Service) -> None:
    await post(service, "/api/v1/lexicon/words", {"word": "博彩", "mode": "exact", "scope": "wrA"})
    response = await service.http.get("/api/v1/lexicon/words/export", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    entries = parse_lexicon(response.text)
    assert [(e.word, e.category, e.severity, e.mode, e.scope) for e in entries] == [
        ("赌博", "gambling", "block", "fuzzy", ""),
        ("加微信", "ads", "review", "fuzzy", ""),
        ("口交", "porn", "log", "fuzzy", ""),
        ("博彩", "custom", "block", "exact", "wrA"),
    ]


# -- live reload -------------------------------------------------------------------------


@pytest.fixture
async def two_replicas(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Service, Service]]:
    """Two service instances with running workers on one database (two replicas)."""
    settings = make_settings(database_url, tmp_path, lexicon_reload_seconds=0.05)
    wecom = support.FakeWeCom()
    first = create_app(settings, transport=wecom.transport, poll_seconds=0.05)
    second = create_app(settings, transport=wecom.transport, poll_seconds=0.05)
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as b,
    ):
        yield (
            Service(http=a, runtime=first.state.runtime, wecom=wecom),
            Service(http=b, runtime=second.state.runtime, wecom=wecom),
        )


async def wait_for_version(service: Service, version: int, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if service.runtime.lexicon.version >= version:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still at version {service.runtime.lexicon.version}, wanted {version}")


async def test_a_word_added_on_one_replica_is_matched_by_the_other(
    two_replicas: tuple[Service, Service],
) -> None:
    first, second = two_replicas
    assert (await judge(second, "代开发票"))["findings"] == []
    response = await post(first, "/api/v1/lexicon/words", {"word": "代开发票", "category": "fraud"})
    version = response.json()["lexicon_version"]
    await wait_for_version(first, version, seconds=2.0)  # woken at once
    await wait_for_version(second, version)  # by its poll
    assert (await judge(second, "谁要代开发票"))["verdict"] == "warn"
    health = (await second.http.get("/healthz")).json()
    assert health["lexicon_version"] == version and health["lexicon_words"] == 4

    await delete(second, f"/api/v1/lexicon/words/{response.json()['item']['id']}")
    await wait_for_version(first, version + 1)
    assert (await judge(first, "谁要代开发票"))["findings"] == []


async def test_concurrent_writers_queue_on_the_lexicon_lock(
    two_replicas: tuple[Service, Service],
) -> None:
    first, second = two_replicas
    batch_a = [{"word": f"词{i}"} for i in range(0, 60)]
    batch_b = [{"word": f"词{i}"} for i in range(30, 90)]
    answers = await asyncio.gather(
        post(first, "/api/v1/lexicon/words/bulk", {"words": batch_a}),
        post(second, "/api/v1/lexicon/words/bulk", {"words": batch_b}),
    )
    assert [answer.status_code for answer in answers] == [200, 200]
    assert sum(answer.json()["added"] for answer in answers) == 90
    assert sorted(answer.json()["lexicon_version"] for answer in answers) == [2, 3]
    version, words, _ = await snapshot(first)
    assert version == 3 and len(words) == 93


async def test_a_failed_rebuild_keeps_the_old_matcher(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from app.lexicon import runtime as lexicon_runtime

    real_build = lexicon_runtime.build_matcher

    def broken(*_args: object) -> lexicon_runtime.ServedLexicon:
        raise RuntimeError("automaton too large")

    monkeypatch.setattr(lexicon_runtime, "build_matcher", broken)
    await post(service, "/api/v1/lexicon/words", {"word": "代开发票"})
    with caplog.at_level(logging.ERROR, logger="app.lexicon.runtime"):
        await service.settle()
        await service.settle()  # the same version is not retried
    failures = [r for r in caplog.records if "could not be built" in r.getMessage()]
    assert len(failures) == 1
    assert "lexicon version 2 could not be built; still serving version 1" in failures[0].message
    assert service.runtime.lexicon.version == 1
    assert (await judge(service, "赌博"))["verdict"] == "warn"  # the old one still serves

    monkeypatch.setattr(lexicon_runtime, "build_matcher", real_build)
    await post(service, "/api/v1/lexicon/words", {"word": "网赌"})
    await service.settle()
    assert service.runtime.lexicon.version == 3
    assert (await judge(service, "代开发票 网赌"))["verdict"] == "warn"


async def test_swaps_are_logged_with_version_and_counts(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    await post(service, "/api/v1/lexicon/allow", {"phrase": "路口交通"})
    with caplog.at_level(logging.INFO, logger="app.lexicon.runtime"):
        await service.settle()
    (line,) = [r.getMessage() for r in caplog.records if "in service" in r.getMessage()]
    assert line.startswith("lexicon version 2 in service: 3 word(s), 1 allow-list phrase(s), ")
    assert line.endswith(" ms")


# -- command line ------------------------------------------------------------------------


def test_cli_import_export_round_trip(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    words = tmp_path / "words.txt"
    words.write_text(
        "# ours\n赌博\tgambling\n加微信\tads\treview\tfolded\n微信\tads\tlog\texact\twrChatA\n"
        "賭博\tgambling\tblock\n",
        encoding="utf-8",
    )
    assert main(["words", "import", str(words), "--by", "alice"]) == 0
    assert capsys.readouterr().out.startswith(
        f"imported 3 word(s): 3 added, 0 updated, 0 unchanged from {words}"
    )
    exported = tmp_path / "out.txt"
    assert main(["words", "export", str(exported)]) == 0
    assert capsys.readouterr().out == f"exported 3 word(s) to {exported}\n"
    entries = parse_lexicon(exported.read_text(encoding="utf-8"))
    assert [(e.word, e.category, e.severity, e.mode, e.scope) for e in entries] == [
        ("赌博", "gambling", "block", "fuzzy", ""),
        ("加微信", "ads", "review", "folded", ""),
        ("微信", "ads", "log", "exact", "wrChatA"),
    ]
    assert main(["words", "import", str(exported)]) == 0
    assert "3 word(s): 0 added, 0 updated, 3 unchanged" in capsys.readouterr().out

    assert main(["words", "export"]) == 0  # to standard output
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("# wecom-mod word file: 3 word(s), lexicon version 1, exported")
    assert printed[1:] == exported.read_text(encoding="utf-8").splitlines()[1:]

    allow = tmp_path / "allow.txt"
    allow.write_text("路口交通\n口交通道\twrChatA\n", encoding="utf-8")
    assert main(["words", "import", "--allow", str(allow)]) == 0
    assert "imported 2 allow-list phrase(s): 2 added" in capsys.readouterr().out
    assert main(["words", "export", "--allow"]) == 0
    out = capsys.readouterr().out
    assert [(e.phrase, e.scope) for e in parse_allow_list(out)] == [
        ("路口交通", ""),
        ("口交通道", "wrChatA"),
    ]

    assert main(["words", "list", "--search", "微信"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("id\tword\tcategory")
    assert [line.split("\t")[1] for line in listed[1:]] == ["微信", "加微信"]
    assert listed[1].split("\t")[6:] == ["alice", "cli"]

    assert main(["check", "--chat", "wrChatA", "加微信"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("加微信 [ads/review] at 0:3")
    assert out[1].startswith("微信 [ads/log] at 1:3") and out[1].endswith("scoped to wrChatA")
    assert out[2].startswith("decision: alert (alert_moderators)")
    assert main(["check", "去路口交通那里"]) == 0
    out = capsys.readouterr().out
    assert "2 allow-list phrase(s) in the database" in out
    # a hit the reading of the words around it drops is shown, and why
    assert main(["check", "我打赌博士今天不来"]) == 0
    assert capsys.readouterr().out.startswith(
        "赌博 at 2:4 '赌博' via exact: not counted, the words around it read 打赌|博士\nno findings"
    )

    first_id = listed[1].split("\t")[0]
    assert main(["words", "delete", first_id]) == 0
    assert capsys.readouterr().out.startswith(f"deleted word {first_id} (lexicon version")
    assert main(["words", "delete", first_id]) == 1
    assert capsys.readouterr().err == f"wecom-mod: word {first_id} not found\n"


def test_cli_import_of_a_bad_file_names_file_and_line_and_changes_nothing(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    bad = tmp_path / "bad.txt"
    bad.write_text("博彩\tgambling\n网赌\tgambling\tban\n", encoding="utf-8")
    assert main(["words", "import", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"wecom-mod: configuration error: FILE: {bad}:2: unknown severity 'ban' "
        "(allowed: block, review, log, or 1 = log, 2 = review, 3 = block)\n"
    )
    assert main(["words", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == []


def test_cli_with_an_unreachable_database_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["words", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wecom-mod: configuration error: DATABASE_URL: database unavailable")
    assert "\n" not in err.rstrip("\n")


async def test_the_inbox_waits_while_no_lexicon_could_be_loaded(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.lexicon import runtime as lexicon_runtime

    def broken(*_args: object) -> lexicon_runtime.ServedLexicon:
        raise RuntimeError("automaton too large")

    service.runtime.lexicon.swap(lexicon_runtime.LexiconHolder().served)  # as before any load
    monkeypatch.setattr(lexicon_runtime, "build_matcher", broken)
    await service.post_aibot(support.aibot_group_text("赌博", msgid="m-wait"))
    await service.settle()
    assert service.wecom.requests == []  # not judged by an empty lexicon: it waits
    monkeypatch.undo()
    await post(service, "/api/v1/lexicon/words", {"word": "网赌"})  # a new version to load
    await service.settle()
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 1
