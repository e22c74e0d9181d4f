"""The group and moderator calls of the WeCom client against httpx.MockTransport: the exact
requests, the parsed answers, the errcode families, the size limits and the masked webhook key."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from bot.client import AppCredentials, ExternalContact, GroupInfo, WeComClient
from bot.errors import (
    ApiErrcodeError,
    ApiTransportError,
    ConfigurationError,
    NotExternalContact,
    RateLimited,
    TokenExpired,
    WeComError,
)
from tests.support import FakeWeCom

BASE = "https://wecom.test"
CREDS = AppCredentials(corp_id="wwcorp", agent_id=1000002, secret="app-s3cret")
ARCHIVE = AppCredentials(corp_id="wwcorp", agent_id=0, secret="archive-s3cret")
WEBHOOK_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def make_client(wecom: FakeWeCom) -> tuple[WeComClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=wecom.transport)
    client = WeComClient(http, api_base=f"{BASE}/", credentials=CREDS, archive_credentials=ARCHIVE)
    return client, http


def only_call(wecom: FakeWeCom, path: str) -> httpx.Request:
    (call,) = wecom.calls(path)
    return call


# ---- exact requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        (
            {"msgtype": "text", "content": "请勿发广告", "mentioned_list": ["zhangsan", "@all"]},
            {
                "msgtype": "text",
                "text": {"content": "请勿发广告", "mentioned_list": ["zhangsan", "@all"]},
            },
        ),
        (
            {"msgtype": "text", "content": "群规：禁止刷屏"},
            {"msgtype": "text", "text": {"content": "群规：禁止刷屏", "mentioned_list": []}},
        ),
        (
            {"msgtype": "markdown", "content": "<@lisi> 已被警告：**推广链接**"},
            {"msgtype": "markdown", "markdown": {"content": "<@lisi> 已被警告：**推广链接**"}},
        ),
    ],
)
async def test_webhook_sends_exact_request_without_a_token(
    kwargs: dict[str, Any], body: dict[str, Any]
) -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        answer = await client.send_webhook(WEBHOOK_KEY, **kwargs)
    assert answer["errcode"] == 0
    (call,) = wecom.requests  # no gettoken: the robot needs no access token
    assert call.method == "POST"
    assert call.url.path == "/cgi-bin/webhook/send"
    assert dict(call.url.params) == {"key": WEBHOOK_KEY}
    assert str(call.url).startswith(f"{BASE}/cgi-bin/webhook/send?")
    assert json.loads(call.content) == body


@pytest.mark.parametrize(
    ("msgtype", "content"),
    [
        ("text", {"content": "管理员提醒：请勿发送二维码"}),
        ("markdown", {"content": "**警告** <@wangwu>"}),
        ("textcard", {"title": "违规", "description": "发送了推广链接", "url": "https://x.test"}),
    ],
)
async def test_appchat_send_exact_request(msgtype: Any, content: dict[str, Any]) -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        await client.appchat_send("wrkSFfCgAAxxxx", msgtype=msgtype, content=content)
    call = only_call(wecom, "/cgi-bin/appchat/send")
    assert call.method == "POST"
    assert dict(call.url.params) == {"access_token": "TOKEN-1"}
    assert json.loads(call.content) == {
        "chatid": "wrkSFfCgAAxxxx",
        "msgtype": msgtype,
        msgtype: content,
    }


async def test_appchat_remove_members_exact_request() -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        await client.appchat_remove_members("wrkSFfCgAAxxxx", ["spam01", "spam02"])
    call = only_call(wecom, "/cgi-bin/appchat/update")
    assert call.method == "POST"
    assert dict(call.url.params) == {"access_token": "TOKEN-1"}
    assert json.loads(call.content) == {
        "chatid": "wrkSFfCgAAxxxx",
        "del_user_list": ["spam01", "spam02"],
    }


async def test_app_textcard_exact_request() -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        await client.send_app_textcard(
            ["mod-alice", "mod-bob"],
            title="客户群违规提醒",
            description="<div class='gray'>2024-05-01</div>成员 lisi 发送了推广链接",
            url="https://mod.example/log/42",
        )
    call = only_call(wecom, "/cgi-bin/message/send")
    assert dict(call.url.params) == {"access_token": "TOKEN-1"}
    assert json.loads(call.content) == {
        "touser": "mod-alice|mod-bob",
        "msgtype": "textcard",
        "agentid": 1000002,
        "textcard": {
            "title": "客户群违规提醒",
            "description": "<div class='gray'>2024-05-01</div>成员 lisi 发送了推广链接",
            "url": "https://mod.example/log/42",
            "btntxt": "详情",
        },
    }


@pytest.mark.parametrize(
    ("title", "expected_title"),
    [
        ("违" * 42, "违" * 42),  # 126 bytes: fits
        ("违" * 43, "违" * 41 + "…"),  # 129 bytes: 41 characters (123 B) + "…" (3 B) = 126 B
        ("a" * 128, "a" * 128),
        ("a" * 129, "a" * 125 + "…"),
        ("a" + "规" * 50, "a" + "规" * 41 + "…"),  # the cut falls inside a character
    ],
)
async def test_app_textcard_title_is_cut_at_a_character_boundary(
    title: str, expected_title: str
) -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        await client.send_app_textcard(["mod-alice"], title=title, description="d", url="u")
    (body,) = wecom.bodies("/cgi-bin/message/send")
    assert body["textcard"]["title"] == expected_title
    assert len(body["textcard"]["title"].encode("utf-8")) <= 128


async def test_app_textcard_description_is_cut_to_512_bytes() -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    description = "成员发送了违规内容。" * 30  # 900 bytes
    async with http:
        await client.send_app_textcard(["m"], title="t", description=description, url="u")
    (body,) = wecom.bodies("/cgi-bin/message/send")
    cut = body["textcard"]["description"]
    assert len(cut.encode("utf-8")) <= 512
    assert cut.endswith("…")
    assert description.startswith(cut[:-1])
    assert len(cut.encode("utf-8")) > 512 - 3 - 3  # nothing dropped but the partial character


async def test_customer_group_is_parsed() -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/externalcontact/groupchat/get"] = [
        (
            200,
            {
                "errcode": 0,
                "errmsg": "ok",
                "group_chat": {
                    "chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
                    "name": "销售客户群",
                    "owner": "ZhuShengBen",
                    "create_time": 1572505490,
                    "notice": "文明沟通，拒绝脏话",
                    "member_list": [
                        {"userid": "abel", "type": 1, "join_time": 1572505491},
                        {
                            "userid": "wmOgQhDgAAuXFJGwbve4g4iQknfOQ",
                            "type": 2,
                            "unionid": "ozynqsulJFCZ2z1aYeS8h-nuasdAAA",
                            "join_time": 1572505491,
                            "join_scene": 1,
                        },
                    ],
                    "admin_list": [{"userid": "sam"}],
                    "member_version": "71217227bbd112ecfe3a49c482195cb4",
                },
            },
        )
    ]
    client, http = make_client(wecom)
    async with http:
        group = await client.get_customer_group("wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA")
    assert group == GroupInfo(
        chat_id="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
        name="销售客户群",
        owner="ZhuShengBen",
        member_ids=("abel", "wmOgQhDgAAuXFJGwbve4g4iQknfOQ"),
        member_version="71217227bbd112ecfe3a49c482195cb4",
        kind="customer",
        member_joined={"abel": 1572505491, "wmOgQhDgAAuXFJGwbve4g4iQknfOQ": 1572505491},
        member_types={"abel": 1, "wmOgQhDgAAuXFJGwbve4g4iQknfOQ": 2},
    )
    call = only_call(wecom, "/cgi-bin/externalcontact/groupchat/get")
    assert call.method == "POST"
    assert dict(call.url.params) == {"access_token": "TOKEN-1"}
    assert json.loads(call.content) == {
        "chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
        "need_name": 1,
    }
    with pytest.raises(AttributeError):
        group.name = "改名"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        (
            {"external_userid": "wmA", "name": "李经理", "type": 2, "corp_name": "竞品科技"},
            ExternalContact("wmA", "李经理", 2, "竞品科技"),
        ),
        ({"external_userid": "wmA", "name": "小王", "type": 1}, ExternalContact("wmA", "小王", 1)),
        ({"external_userid": "wmA", "type": "x"}, ExternalContact("wmA", "", 0)),
    ],
)
async def test_external_contact_exact_request_and_answer(
    contact: dict[str, Any], expected: ExternalContact
) -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/externalcontact/get"] = [
        (200, {"errcode": 0, "errmsg": "ok", "external_contact": contact, "follow_user": []})
    ]
    client, http = make_client(wecom)
    async with http:
        assert await client.get_external_contact("wmA") == expected
    call = only_call(wecom, "/cgi-bin/externalcontact/get")
    assert call.method == "GET"
    assert dict(call.url.params) == {"access_token": "TOKEN-1", "external_userid": "wmA"}


async def test_not_an_external_contact_is_its_own_error() -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/externalcontact/get"] = [
        (200, {"errcode": 84061, "errmsg": "not external contact"})
    ]
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(NotExternalContact) as caught:
            await client.get_external_contact("wmNobody")
    assert caught.value.errcode == 84061 and not caught.value.retryable


async def test_internal_archive_group_uses_the_archive_secret() -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/msgaudit/groupchat/get"] = [
        (
            200,
            {
                "errcode": 0,
                "errmsg": "ok",
                "roomname": "研发内部群",
                "creator": "ZhangWenChao",
                "room_create_time": 1592361604,
                "notice": "",
                "members": [
                    {"memberid": "ZhangWenChao", "jointime": 1592361605},
                    {"memberid": "xujinsheng", "jointime": 1592377076},
                ],
            },
        )
    ]
    client, http = make_client(wecom)
    async with http:
        group = await client.get_internal_archive_group("wrNplhCgAAIVZohLe57zKnvIV7xBKrig")
        await client.send_app_message(["mod-alice"], "text", {"content": "x"})
    assert group == GroupInfo(
        chat_id="wrNplhCgAAIVZohLe57zKnvIV7xBKrig",
        name="研发内部群",
        owner="ZhangWenChao",
        member_ids=("ZhangWenChao", "xujinsheng"),
        member_version="",
        kind="internal",
    )
    # One token per secret: the archive's first, then the app's.
    secrets = [r.url.params["corpsecret"] for r in wecom.calls("/cgi-bin/gettoken")]
    assert secrets == ["archive-s3cret", "app-s3cret"]
    call = only_call(wecom, "/cgi-bin/msgaudit/groupchat/get")
    assert call.method == "POST"
    assert dict(call.url.params) == {"access_token": "TOKEN-1"}
    assert json.loads(call.content) == {"roomid": "wrNplhCgAAIVZohLe57zKnvIV7xBKrig"}


async def test_internal_archive_group_without_archive_credentials_calls_nothing() -> None:
    wecom = FakeWeCom()
    async with httpx.AsyncClient(transport=wecom.transport) as http:
        client = WeComClient(http, api_base=BASE, credentials=CREDS)
        with pytest.raises(ConfigurationError, match="archive"):
            await client.get_internal_archive_group("wrNplhCgAAIV")
    assert wecom.requests == []


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/cgi-bin/externalcontact/groupchat/get", {"errcode": 0, "errmsg": "ok"}),
        (
            "/cgi-bin/externalcontact/groupchat/get",
            {"errcode": 0, "group_chat": {"name": "群", "owner": 7}},
        ),
        (
            "/cgi-bin/externalcontact/groupchat/get",
            {"errcode": 0, "group_chat": {"owner": "o", "member_list": [{"type": 1}]}},
        ),
        ("/cgi-bin/msgaudit/groupchat/get", {"errcode": 0, "roomname": "群"}),
        ("/cgi-bin/msgaudit/groupchat/get", {"errcode": 0, "creator": "c", "members": "x"}),
    ],
)
async def test_group_answer_in_another_shape_is_a_typed_error(
    path: str, answer: dict[str, Any]
) -> None:
    wecom = FakeWeCom()
    wecom.scripted[path] = [(200, answer)]
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(ApiTransportError, match="documented shape"):
            if "msgaudit" in path:
                await client.get_internal_archive_group("r")
            else:
                await client.get_customer_group("c")


async def test_welcome_template_add_and_edit_exact_requests() -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/externalcontact/group_welcome_template/add"] = [
        (200, {"errcode": 0, "errmsg": "ok", "template_id": "msgXXXXXXX"})
    ]
    client, http = make_client(wecom)
    text = "欢迎 %NICKNAME% 入群，请先阅读群公告，禁止发广告。"
    async with http:
        template_id = await client.add_group_welcome_template(text)
        await client.edit_group_welcome_template(template_id, "欢迎 %NICKNAME%！")
    assert template_id == "msgXXXXXXX"
    add = only_call(wecom, "/cgi-bin/externalcontact/group_welcome_template/add")
    edit = only_call(wecom, "/cgi-bin/externalcontact/group_welcome_template/edit")
    assert add.method == edit.method == "POST"
    assert dict(add.url.params) == dict(edit.url.params) == {"access_token": "TOKEN-1"}
    assert json.loads(add.content) == {"text": {"content": text}}
    assert json.loads(edit.content) == {
        "template_id": "msgXXXXXXX",
        "text": {"content": "欢迎 %NICKNAME%！"},
    }
    assert wecom.token_fetches == 1


async def test_welcome_template_add_without_template_id_is_a_typed_error() -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(ApiTransportError, match="template_id"):
            await client.add_group_welcome_template("欢迎")


# ---- errcode families, for every token call ----------------------------------------------

TokenCall = Callable[[WeComClient], Awaitable[object]]
TOKEN_CALLS: list[tuple[str, str, TokenCall]] = [
    (
        "appchat_send",
        "/cgi-bin/appchat/send",
        lambda c: c.appchat_send("chat", msgtype="text", content={"content": "x"}),
    ),
    (
        "appchat_remove_members",
        "/cgi-bin/appchat/update",
        lambda c: c.appchat_remove_members("chat", ["u"]),
    ),
    (
        "send_app_textcard",
        "/cgi-bin/message/send",
        lambda c: c.send_app_textcard(["u"], title="t", description="d", url="https://u.test"),
    ),
    (
        "get_customer_group",
        "/cgi-bin/externalcontact/groupchat/get",
        lambda c: c.get_customer_group("chat"),
    ),
    (
        "get_internal_archive_group",
        "/cgi-bin/msgaudit/groupchat/get",
        lambda c: c.get_internal_archive_group("room"),
    ),
    (
        "add_group_welcome_template",
        "/cgi-bin/externalcontact/group_welcome_template/add",
        lambda c: c.add_group_welcome_template("欢迎"),
    ),
    (
        "edit_group_welcome_template",
        "/cgi-bin/externalcontact/group_welcome_template/edit",
        lambda c: c.edit_group_welcome_template("tpl", "欢迎"),
    ),
]
SUCCESS: dict[str, dict[str, Any]] = {
    "/cgi-bin/externalcontact/groupchat/get": {
        "errcode": 0,
        "group_chat": {"name": "", "owner": "o", "member_list": []},
    },
    "/cgi-bin/msgaudit/groupchat/get": {"errcode": 0, "creator": "c", "members": []},
    "/cgi-bin/externalcontact/group_welcome_template/add": {"errcode": 0, "template_id": "t"},
}
CALL_IDS = [name for name, _, _ in TOKEN_CALLS]


@pytest.mark.parametrize(("name", "path", "call"), TOKEN_CALLS, ids=CALL_IDS)
async def test_expired_token_is_refreshed_once_then_the_call_succeeds(
    name: str, path: str, call: TokenCall
) -> None:
    wecom = FakeWeCom()
    wecom.scripted[path] = [(200, {"errcode": 42001, "errmsg": "access_token expired"})]
    if path in SUCCESS:
        wecom.scripted[path].append((200, SUCCESS[path]))
    client, http = make_client(wecom)
    async with http:
        await call(client)
    assert wecom.token_fetches == 2
    assert len(wecom.calls(path)) == 2


@pytest.mark.parametrize(("name", "path", "call"), TOKEN_CALLS, ids=CALL_IDS)
async def test_token_rejected_twice_raises_token_expired(
    name: str, path: str, call: TokenCall
) -> None:
    wecom = FakeWeCom()
    wecom.scripted[path] = [(200, {"errcode": 40014, "errmsg": "invalid access_token"})] * 2
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(TokenExpired):
            await call(client)
    assert wecom.token_fetches == 2  # refreshed once, not in a loop


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((200, {"errcode": 45009, "errmsg": "api freq out of limit"}), RateLimited),
        ((200, {"errcode": 45033, "errmsg": "api concurrent out of limit"}), RateLimited),
        (
            (200, {"errcode": 60020, "errmsg": "not allow to access from your ip"}),
            ConfigurationError,
        ),
        ((200, {"errcode": 48002, "errmsg": "api forbidden"}), ConfigurationError),
        ((200, {"errcode": 86003, "errmsg": "chat not found"}), ApiErrcodeError),
        ((503, {}), ApiTransportError),
    ],
)
@pytest.mark.parametrize(("name", "path", "call"), TOKEN_CALLS, ids=CALL_IDS)
async def test_token_call_failures_map_to_typed_errors(
    name: str,
    path: str,
    call: TokenCall,
    answer: tuple[int, dict[str, Any]],
    error: type[Exception],
) -> None:
    wecom = FakeWeCom()
    wecom.scripted[path] = [answer]
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(error) as raised:
            await call(client)
    assert type(raised.value) is error
    assert len(wecom.calls(path)) == 1  # only a token error is retried here


@pytest.mark.parametrize(
    ("answer", "error", "retryable"),
    [
        ((200, {"errcode": 45009, "errmsg": "api freq out of limit"}), RateLimited, True),
        ((200, {"errcode": 130101, "errmsg": "send too fast"}), RateLimited, True),
        ((200, {"errcode": 93000, "errmsg": "invalid webhook url"}), ConfigurationError, False),
        ((200, {"errcode": -1, "errmsg": "system busy"}), ApiErrcodeError, True),
        ((502, {}), ApiTransportError, True),
    ],
)
async def test_webhook_failures_map_to_typed_errors(
    answer: tuple[int, dict[str, Any]], error: type[Exception], retryable: bool
) -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/webhook/send"] = [answer]
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(error) as raised:
            await client.send_webhook(WEBHOOK_KEY, msgtype="text", content="x")
    assert type(raised.value) is error
    assert isinstance(raised.value, WeComError)
    assert raised.value.retryable is retryable  # type: ignore[attr-defined]
    assert wecom.token_fetches == 0


# ---- size and argument checks, before any call -------------------------------------------

Check = Callable[[WeComClient], Awaitable[object]]
TOO_BIG: list[tuple[str, Check, str]] = [
    (
        "webhook text 2049 bytes",
        lambda c: c.send_webhook(WEBHOOK_KEY, msgtype="text", content="a" * 2049),
        "2049 bytes",
    ),
    (
        "webhook text 683 CJK characters",
        lambda c: c.send_webhook(WEBHOOK_KEY, msgtype="text", content="禁" * 683),
        "2049 bytes",
    ),
    (
        "webhook markdown 4097 bytes",
        lambda c: c.send_webhook(WEBHOOK_KEY, msgtype="markdown", content="a" * 4097),
        "4097 bytes",
    ),
    (
        "appchat text 2049 bytes",
        lambda c: c.appchat_send("chat", msgtype="text", content={"content": "a" * 2049}),
        "2049 bytes",
    ),
    (
        "welcome add 3001 bytes",
        lambda c: c.add_group_welcome_template("欢" * 1000 + "a"),
        "3001 bytes",
    ),
    (
        "welcome edit 3001 bytes",
        lambda c: c.edit_group_welcome_template("tpl", "a" * 3001),
        "3001 bytes",
    ),
]
BAD_ARGUMENTS: list[tuple[str, Check, str]] = [
    ("empty webhook key", lambda c: c.send_webhook("", msgtype="text", content="x"), "empty"),
    (
        "markdown with mentioned_list",
        lambda c: c.send_webhook(
            WEBHOOK_KEY, msgtype="markdown", content="x", mentioned_list=["u"]
        ),
        "<@userid>",
    ),
    (
        "unknown webhook msgtype",
        lambda c: c.send_webhook(WEBHOOK_KEY, msgtype="image", content="x"),  # type: ignore[arg-type]
        "text or markdown",
    ),
    (
        "unknown appchat msgtype",
        lambda c: c.appchat_send("chat", msgtype="file", content={}),  # type: ignore[arg-type]
        "textcard",
    ),
    ("remove nobody", lambda c: c.appchat_remove_members("chat", []), "no members"),
    ("empty welcome text", lambda c: c.add_group_welcome_template(""), "empty"),
    ("empty template id", lambda c: c.edit_group_welcome_template("", "x"), "template_id"),
    (
        "textcard without url",
        lambda c: c.send_app_textcard(["u"], title="t", description="d", url=""),
        "url",
    ),
]


@pytest.mark.parametrize(
    ("case", "call", "message"),
    TOO_BIG + BAD_ARGUMENTS,
    ids=[c[0] for c in TOO_BIG + BAD_ARGUMENTS],
)
async def test_invalid_input_raises_value_error_before_any_call(
    case: str, call: Check, message: str
) -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(ValueError, match=message) as raised:
            await call(client)
    assert wecom.requests == []
    assert WEBHOOK_KEY not in str(raised.value)


@pytest.mark.parametrize(
    ("msgtype", "content"), [("text", "a" * 2048), ("text", "禁" * 682), ("markdown", "a" * 4096)]
)
async def test_webhook_at_the_limit_is_sent(msgtype: Any, content: str) -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        await client.send_webhook(WEBHOOK_KEY, msgtype=msgtype, content=content)
    assert len(wecom.calls("/cgi-bin/webhook/send")) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.send_webhook(WEBHOOK_KEY, msgtype="text", content="x", mentioned_list="@all"),
        lambda c: c.appchat_remove_members("chat", "spam01"),
    ],
)
async def test_one_string_for_a_list_of_ids_is_refused(call: Check) -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(TypeError, match="not one string"):
            await call(client)
    assert wecom.requests == []


# ---- the webhook key and other query secrets stay out of logs and errors -------------------


def _everything_printed(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error)


async def test_webhook_key_never_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/webhook/send"] = [
        (200, {"errcode": 0, "errmsg": "ok"}),
        (200, {"errcode": 130101, "errmsg": "send too fast"}),
        (200, {"errcode": 93000, "errmsg": f"invalid webhook url, key={WEBHOOK_KEY}"}),
    ]
    client, http = make_client(wecom)
    errors: list[BaseException] = []
    async with http:
        await client.send_webhook(WEBHOOK_KEY, msgtype="text", content="ok")
        for _ in range(2):
            with pytest.raises(ApiErrcodeError) as raised:
                await client.send_webhook(WEBHOOK_KEY, msgtype="text", content="x")
            errors.append(raised.value)
    assert len(wecom.calls("/cgi-bin/webhook/send")) == 3
    assert caplog.records, "httpx logs its requests"
    assert WEBHOOK_KEY not in caplog.text
    assert "key=693a…" in caplog.text
    for error in errors:
        assert WEBHOOK_KEY not in _everything_printed(error)
    assert "693a…" in str(errors[1])


async def test_webhook_key_never_in_a_transport_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        client = WeComClient(http, api_base=BASE)
        with pytest.raises(ApiTransportError, match="ConnectError") as raised:
            await client.send_webhook(WEBHOOK_KEY, msgtype="markdown", content="**x**")
    assert WEBHOOK_KEY not in _everything_printed(raised.value)
    assert "key=693a…" in str(raised.value)
    assert WEBHOOK_KEY not in caplog.text


async def test_app_secret_and_token_are_masked_in_http_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    wecom = FakeWeCom(token="TOKEN-0123456789abcdef")
    client, http = make_client(wecom)
    async with http:
        await client.appchat_send("chat", msgtype="text", content={"content": "x"})
    assert "app-s3cret" not in caplog.text
    assert "TOKEN-0123456789abcdef" not in caplog.text
    assert "corpsecret=app-…" in caplog.text
    assert "access_token=TOKE…" in caplog.text


def test_log_redaction_filter_is_installed_once() -> None:
    http = httpx.AsyncClient()
    WeComClient(http, api_base=BASE)
    WeComClient(http, api_base=BASE)
    assert len(logging.getLogger("httpx").filters) == 1
