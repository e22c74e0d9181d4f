"""The group registry over REST, from the operator's side: groups appear as the service sees
them, their settings change through PATCH (checked whole: bad input changes nothing), the
webhook key is write-only and sealed at rest, the read-only token cannot write, and every
change lands in the audit trail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.models import Group
from app.secret_box import SecretBox
from app.settings import SettingsError
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgAAAAchat1"
OTHER = "wrOgAAAAchat2"
READONLY_TOKEN = "readonly-token-0123456789"
SECRET_KEY = "k" * 43
WEBHOOK_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
PHONE = "想赚钱的联系我 13800138000"


def policy_file(tmp_path: Path) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    return str(path)


async def running(database_url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Service]:
    values: dict[str, Any] = {
        "policy_path": policy_file(tmp_path),
        "readonly_api_token": READONLY_TOKEN,
        "secret_key": SECRET_KEY,
        **settings,
    }
    async for service in start_service(
        make_settings(database_url, tmp_path, **values), support.FakeWeCom()
    ):
        yield service


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async for service in running(database_url, tmp_path):
        yield service


def auth(token: str = support.ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(
    service: Service, method: str, path: str, body: Any = None, token: str = support.ADMIN_TOKEN
) -> httpx.Response:
    kwargs: dict[str, Any] = {"headers": auth(token)}
    if body is not None:
        kwargs["content"] = json.dumps(body, ensure_ascii=False).encode()
        kwargs["headers"]["Content-Type"] = "application/json"
    return await service.http.request(method, path, **kwargs)


async def say(service: Service, text: str, msgid: str, sender: str, chat: str = CHAT) -> None:
    await service.post_aibot(
        support.aibot_group_text(text, msgid=msgid, sender=sender, chat_id=chat)
    )
    await service.settle()


async def audit(service: Service, **params: Any) -> list[dict[str, Any]]:
    response = await service.api("/api/v1/audit", **params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def group(service: Service, chat: str = CHAT) -> dict[str, Any]:
    response = await service.api(f"/api/v1/groups/{chat}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def raw_group(service: Service, chat: str = CHAT) -> Group:
    async with service.runtime.sessions() as session:
        row = (await session.execute(select(Group).where(Group.chat_id == chat))).scalar_one()
        session.expunge(row)
        return row


# -- listing -----------------------------------------------------------------------------


async def test_groups_seen_are_listed_with_capabilities_activity_and_moderation(
    service: Service,
) -> None:
    await say(service, "早上好", "m-1", "zhangsan")
    await say(service, "收到，谢谢", "m-2", "lisi")
    await say(service, "一起去赌博吧", "m-3", "lisi")  # block word: warned
    await say(service, PHONE, "m-4", "wangwu")  # promotion: warned
    await say(service, "大家好", "m-5", "zhaoliu", chat=OTHER)

    body = (await service.api("/api/v1/groups")).json()
    assert [item["chat_id"] for item in body["items"]] == [CHAT, OTHER]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first["kind"] == "unknown" and first["mode"] == "enforce"
    assert first["capabilities"] == {
        "webhook": False,
        "app_created": False,
        "smart_bot": True,
        "customer": False,
    }
    assert first["activity"]["messages_24h"] == 4
    assert first["activity"]["active_members_7d"] == 3
    assert first["activity"]["messages_seen"] == 4
    assert first["activity"]["last_message_at"] is not None
    assert first["moderation_30d"] == {"flagged": 2, "warned": 2, "removed": 0}
    second = body["items"][1]
    assert second["activity"]["messages_24h"] == 1
    assert second["moderation_30d"] == {"flagged": 0, "warned": 0, "removed": 0}
    assert "webhook_key" not in first


async def test_groups_page_with_a_cursor(service: Service) -> None:
    chats = [f"wrOgchat{index}" for index in range(5)]
    for index, chat in enumerate(chats):
        await say(service, "你好", f"m-{index}", "zhangsan", chat=chat)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await service.api("/api/v1/groups", **params)).json()
        seen += [item["chat_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == chats
    bad = await service.api("/api/v1/groups", cursor="garbage!")
    assert bad.status_code == 400 and "cursor" in bad.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/groups/nope", None),
        ("PATCH", "/api/v1/groups/nope", {"rules_text": "友善交流"}),
        ("GET", "/api/v1/groups/nope/members", None),
    ],
)
async def test_unknown_groups_are_404_and_patch_creates_nothing(
    service: Service, method: str, path: str, body: Any
) -> None:
    response = await call(service, method, path, body)
    assert response.status_code == 404
    assert "group nope not found" in response.json()["error"]
    assert (await service.api("/api/v1/groups")).json()["items"] == []


# -- changing a group --------------------------------------------------------------------


async def test_patch_changes_the_settings_and_the_policy_takes_effect(service: Service) -> None:
    await say(service, "早上好", "m-1", "zhangsan")
    change = {
        "name": "产品交流群",
        "kind": "app_created",
        "rules_text": "1. 友善交流\n2. 禁止广告",
        "welcome_template": "欢迎 {members} 加入！群规：\n{rules}",
        "policy": {"mode": "shadow", "flood": {"rate_max_messages": 8}},
        "moderators": ["mod-carol", " mod-dave ", "mod-carol"],
        "by": "mod-alice",
    }
    response = await call(service, "PATCH", f"/api/v1/groups/{CHAT}", change)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "产品交流群" and body["kind"] == "app_created"
    assert body["rules_text"] == "1. 友善交流\n2. 禁止广告"
    assert body["welcome_template"] == "欢迎 {members} 加入！群规：\n{rules}"
    assert body["policy"] == {"mode": "shadow", "flood": {"rate_max_messages": 8}}
    assert body["mode"] == "shadow"
    assert body["moderators"] == ["mod-carol", "mod-dave"]
    assert body["capabilities"]["app_created"] is True
    assert await group(service) == body

    # The group's own policy is what the inbox applies: shadow mode sends nothing.
    await say(service, "一起去赌博吧", "m-2", "lisi")
    assert service.wecom.requests == []
    (row,) = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert row["mode"] == "shadow"
    # The group's own moderators are exempt.
    await say(service, "一起去赌博吧", "m-3", "mod-dave")
    assert (await service.api("/api/v1/moderation-logs")).json()["items"][0]["decision"] == (
        "exempt"
    )

    (entry,) = await audit(service)
    assert entry["action"] == "group.update" and entry["target"] == f"group:{CHAT}"
    assert entry["actor"] == "admin-token:mod-alice" and entry["channel"] == "rest"
    assert entry["details"]["changes"]["kind"] == {"from": "unknown", "to": "app_created"}
    assert entry["details"]["changes"]["moderators"] == {
        "from": [],
        "to": ["mod-carol", "mod-dave"],
    }

    # An empty policy object clears the overrides; the same values again change nothing.
    cleared = await call(service, "PATCH", f"/api/v1/groups/{CHAT}", {"policy": {}})
    assert cleared.json()["policy"] == {} and cleared.json()["mode"] == "enforce"
    same = await call(service, "PATCH", f"/api/v1/groups/{CHAT}", {"policy": {}})
    assert same.status_code == 200
    assert [e["action"] for e in await audit(service)] == ["group.update", "group.update"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"rules_text": "规" * 2001}, "rules_text"),
        ({"rules_text": None}, "rules_text: may not be null"),
        ({"welcome_template": "欢迎" * 501}, "welcome_template: 3006 bytes; at most 3000"),
        ({"welcome_template": "欢迎 {name}"}, "unknown placeholder or stray brace '{name}'"),
        ({"welcome_template": "欢迎 {members"}, "stray brace"),
        ({"welcome_template": "群规} {rules}"}, "stray brace '}'"),
        ({"policy": {"mode": "loud"}}, "mode"),
        ({"policy": {"ladders": ["warning"]}}, "unknown setting(s) ladders"),
        ({"policy": {"flood": {"rate_max_messages": -1}}}, "flood"),
        ({"policy": ["mode", "shadow"]}, "policy"),
        ({"policy": None}, "policy: may not be null"),
        ({"moderators": [f"mod-{i}" for i in range(101)]}, "moderators"),
        ({"moderators": ["mod alice"]}, "moderators[0]"),
        ({"moderators": [""]}, "moderators[0]"),
        ({"kind": "vip"}, "kind"),
        ({"name": None}, "name: may not be null"),
        ({"webhook_key": "short"}, "webhook_key"),
        ({"webhook_key": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}, "webhook_key"),
        ({"owner": "someone"}, "owner"),
        ({}, "nothing to change"),
        ({"by": "mod-alice"}, "nothing to change"),
        ({"rules_text": "新群规", "kind": "vip"}, "kind"),  # one bad field: nothing changes
    ],
)
async def test_bad_input_is_422_and_changes_nothing(
    service: Service, change: dict[str, Any], fragment: str
) -> None:
    await say(service, "早上好", "m-1", "zhangsan")
    before = await group(service)
    response = await call(service, "PATCH", f"/api/v1/groups/{CHAT}", change)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["error"]
    assert await group(service) == before
    assert await audit(service) == []


async def test_a_patch_body_that_is_not_json_is_422(service: Service) -> None:
    await say(service, "早上好", "m-1", "zhangsan")
    response = await service.http.patch(
        f"/api/v1/groups/{CHAT}",
        content=b"rules_text=hi",
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


# -- the webhook key ---------------------------------------------------------------------


async def test_the_webhook_key_is_write_only_and_sealed_at_rest(service: Service) -> None:
    await say(service, "早上好", "m-1", "zhangsan")
    response = await call(
        service, "PATCH", f"/api/v1/groups/{CHAT}", {"webhook_key": WEBHOOK_KEY, "by": "ops"}
    )
    assert response.status_code == 200
    assert response.json()["capabilities"]["webhook"] is True
    assert WEBHOOK_KEY not in response.text
    for path in ("/api/v1/groups", f"/api/v1/groups/{CHAT}", "/api/v1/audit"):
        assert WEBHOOK_KEY not in (await service.api(path)).text

    stored = (await raw_group(service)).webhook_key
    assert stored is not None and stored.startswith("v1:")
    assert WEBHOOK_KEY not in stored and WEBHOOK_KEY.split("-")[0] not in stored
    assert SecretBox(SECRET_KEY).decrypt(stored) == WEBHOOK_KEY

    # The webhook URL as WeCom shows it works too; null clears the key.
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WEBHOOK_KEY[::-1]}"
    await call(service, "PATCH", f"/api/v1/groups/{CHAT}", {"webhook_key": url})
    stored = (await raw_group(service)).webhook_key
    assert stored is not None and SecretBox(SECRET_KEY).decrypt(stored) == WEBHOOK_KEY[::-1]
    cleared = await call(service, "PATCH", f"/api/v1/groups/{CHAT}", {"webhook_key": None})
    assert cleared.json()["capabilities"]["webhook"] is False
    assert (await raw_group(service)).webhook_key is None

    changes = [entry["details"]["changes"]["webhook_key"] for entry in await audit(service)]
    assert changes == [
        {"from": "set", "to": "cleared"},
        {"from": "set", "to": "set"},
        {"from": "unset", "to": "set"},
    ]


async def test_a_webhook_key_without_secret_key_is_409_and_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    async for service in running(database_url, tmp_path, secret_key=None):
        await say(service, "早上好", "m-1", "zhangsan")
        before = await group(service)
        response = await call(
            service,
            "PATCH",
            f"/api/v1/groups/{CHAT}",
            {"webhook_key": WEBHOOK_KEY, "rules_text": "新群规"},
        )
        assert response.status_code == 409
        assert "SECRET_KEY" in response.json()["error"]
        assert WEBHOOK_KEY not in response.text
        assert await group(service) == before
        assert (await raw_group(service)).webhook_key is None
        # Clearing needs no key.
        cleared = await call(service, "PATCH", f"/api/v1/groups/{CHAT}", {"webhook_key": None})
        assert cleared.status_code == 200


# -- tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", f"/api/v1/groups/{CHAT}", {"rules_text": "只读令牌改不了"}),
        ("POST", f"/api/v1/groups/{CHAT}/members/lisi/pardon", {"by": "x"}),
        ("POST", "/api/v1/moderation-logs/1/review", {"verdict": "overturn"}),
        ("POST", "/api/v1/lexicon/words", {"word": "代开发票"}),
        ("DELETE", "/api/v1/lexicon/words/1", None),
        ("POST", "/api/v1/lexicon/test", {"text": "赌博"}),
    ],
)
async def test_the_read_only_token_reads_but_cannot_write(
    service: Service, method: str, path: str, body: Any
) -> None:
    await say(service, "一起去赌博吧", "m-1", "lisi")
    before = await group(service)
    response = await call(service, method, path, body, token=READONLY_TOKEN)
    assert response.status_code == 403
    assert "read-only token" in response.json()["error"]
    assert "ADMIN_API_TOKEN" in response.json()["error"]
    assert await group(service) == before
    assert await audit(service) == []
    strikes = (await service.api(f"/api/v1/groups/{CHAT}/members/lisi/strikes")).json()
    assert strikes["standing"] == 1
    assert (await service.api("/api/v1/lexicon/words")).json()["items"][0]["word"] != "代开发票"
    for read in (
        "/api/v1/groups",
        f"/api/v1/groups/{CHAT}",
        f"/api/v1/groups/{CHAT}/members",
        f"/api/v1/groups/{CHAT}/members/lisi/strikes",
        "/api/v1/moderation-logs",
        "/api/v1/moderation-logs/export.csv",
        "/api/v1/stats",
        "/api/v1/audit",
        "/api/v1/lexicon/words",
    ):
        assert (await call(service, "GET", read, token=READONLY_TOKEN)).status_code == 200, read


@pytest.mark.parametrize(
    "token", ["", "wrong-token-0123456789", READONLY_TOKEN + "x", READONLY_TOKEN[:-1]]
)
async def test_a_wrong_token_is_401_for_reads_and_writes(service: Service, token: str) -> None:
    for method, path in (("GET", "/api/v1/groups"), ("PATCH", f"/api/v1/groups/{CHAT}")):
        response = await call(service, method, path, {"name": "x"}, token=token)
        assert response.status_code == 401
        assert response.json() == {"error": "missing or wrong bearer token"}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"admin_api_token": None}, "READONLY_API_TOKEN: set ADMIN_API_TOKEN too"),
        ({"readonly_api_token": support.ADMIN_TOKEN}, "READONLY_API_TOKEN: must differ"),
        ({"readonly_api_token": "short"}, "READONLY_API_TOKEN: must be at least 16"),
        ({"secret_key": "too-short"}, "SECRET_KEY: the master key is 9 bytes"),
    ],
)
def test_token_and_secret_key_settings_are_checked(
    tmp_path: Path, overrides: dict[str, Any], fragment: str
) -> None:
    values = {"readonly_api_token": READONLY_TOKEN, **overrides}
    with pytest.raises(SettingsError) as caught:
        make_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, **values)
    assert fragment in str(caught.value)
    assert "too-short" not in str(caught.value)


# -- members, strikes and pardons --------------------------------------------------------


async def test_members_with_their_messages_and_standing_strikes(service: Service) -> None:
    await say(service, "早上好", "m-1", "zhangsan")
    await say(service, "今天开会吗", "m-2", "zhangsan")
    await say(service, PHONE, "m-3", "lisi")
    await say(service, "加我 13900139000 带你赚钱", "m-4", "lisi")
    body = (await service.api(f"/api/v1/groups/{CHAT}/members")).json()
    assert body["strike_window_days"] == 30
    members = {item["user_id"]: item for item in body["items"]}
    assert [item["user_id"] for item in body["items"]] == ["zhangsan", "lisi"]
    assert members["zhangsan"]["messages"] == 2 and members["zhangsan"]["strikes"] == 0
    assert members["lisi"]["messages"] == 2 and members["lisi"]["strikes"] == 2
    assert members["lisi"]["shadow_strikes"] == 0
    assert members["lisi"]["last_message_at"] >= members["lisi"]["first_seen_at"]

    page = (await service.api(f"/api/v1/groups/{CHAT}/members", limit=1)).json()
    assert [item["user_id"] for item in page["items"]] == ["zhangsan"]
    rest = await service.api(f"/api/v1/groups/{CHAT}/members", cursor=page["next_cursor"])
    assert [item["user_id"] for item in rest.json()["items"]] == ["lisi"]

    pardon = await call(
        service, "POST", f"/api/v1/groups/{CHAT}/members/lisi/pardon", {"by": "mod-bob"}
    )
    assert pardon.json()["pardoned"] == 2
    members = {
        item["user_id"]: item
        for item in (await service.api(f"/api/v1/groups/{CHAT}/members")).json()["items"]
    }
    assert members["lisi"]["strikes"] == 0
    # A pardon with nothing to clear is no change and is not audited.
    again = await call(service, "POST", f"/api/v1/groups/{CHAT}/members/lisi/pardon")
    assert again.json()["pardoned"] == 0
    (entry,) = await audit(service)
    assert entry["action"] == "member.pardon"
    assert entry["target"] == f"member:{CHAT}/lisi"
    assert entry["actor"] == "admin-token:mod-bob"
    assert entry["details"] == {"pardoned": 2}


# -- the audit trail ---------------------------------------------------------------------


async def test_lexicon_changes_are_audited_and_the_trail_pages(service: Service) -> None:
    added = await call(service, "POST", "/api/v1/lexicon/words", {"word": "代开发票"})
    assert added.status_code == 201
    word_id = added.json()["item"]["id"]
    unchanged = await call(service, "POST", "/api/v1/lexicon/words", {"word": "代开发票"})
    assert unchanged.status_code == 200  # no change: not audited
    await call(service, "POST", "/api/v1/lexicon/allow", {"phrase": "路口交通"})
    await call(
        service,
        "POST",
        "/api/v1/lexicon/words/bulk",
        {"text": "网赌\tgambling\n刷单\tfraud\treview\n"},
    )
    assert (await call(service, "DELETE", f"/api/v1/lexicon/words/{word_id}")).status_code == 204
    missing = await call(service, "DELETE", "/api/v1/lexicon/words/99999")
    assert missing.status_code == 404  # nothing deleted: not audited

    entries = await audit(service)
    assert [entry["action"] for entry in entries] == [
        "lexicon.words.delete",
        "lexicon.words.add",
        "lexicon.allow.add",
        "lexicon.words.add",
    ]
    assert all(e["actor"] == "admin-token" and e["channel"] == "rest" for e in entries)
    delete, bulk, allow, first = entries
    assert delete["target"] == f"lexicon.words:{word_id}"
    assert first["details"]["entries"] == [
        {"id": word_id, "entry": "代开发票", "scope": "", "outcome": "added"}
    ]
    assert bulk["details"]["added"] == 2
    assert allow["details"]["entries"][0]["entry"] == "路口交通"

    page = (await service.api("/api/v1/audit", limit=3)).json()
    assert len(page["items"]) == 3
    older = (await service.api("/api/v1/audit", limit=3, cursor=page["next_cursor"])).json()
    assert [e["id"] for e in older["items"]] == [first["id"]]
    assert older["next_cursor"] is None
    only_allow = await audit(service, action="lexicon.allow.add")
    assert [e["id"] for e in only_allow] == [allow["id"]]
    by_prefix = await audit(service, action="lexicon.words.")
    assert len(by_prefix) == 3
    assert await audit(service, channel="chat") == []
    assert (await service.api("/api/v1/audit", channel="email")).status_code == 422


async def test_record_is_usable_by_chat_commands(service: Service) -> None:
    from app import audit as audit_trail

    async with service.runtime.sessions() as session, session.begin():
        entry = await audit_trail.record(
            session,
            actor=audit_trail.chat_actor("mod-alice"),
            channel="chat",
            action="member.warn",
            target=f"member:{CHAT}/lisi",
            details={"reason": "刷屏"},
        )
        assert entry.id is not None
    (shown,) = await audit(service, channel="chat")
    assert shown["actor"] == "mod-alice" and shown["details"] == {"reason": "刷屏"}
