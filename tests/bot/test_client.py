"""The outbound WeCom client against httpx.MockTransport: the exact requests it sends."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.client import AccessTokenCache, AppCredentials, WeComClient
from bot.errors import (
    ApiErrcodeError,
    ApiTransportError,
    ConfigurationError,
    RateLimited,
    RefusedUrl,
    TokenExpired,
    error_for_errcode,
)
from tests.support import FakeWeCom

CREDS = AppCredentials(corp_id="wwcorp", agent_id=1000002, secret="s3cret")


def make_client(wecom: FakeWeCom, **kwargs: object) -> tuple[WeComClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=wecom.transport)
    return WeComClient(http, api_base="https://wecom.test/", credentials=CREDS, **kwargs), http


async def test_app_message_fetches_token_once_and_sends_exact_body() -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    async with http:
        await client.send_app_message(["alice", "bob"], "markdown", {"content": "**hi**"})
        await client.send_app_message(["alice"], "text", {"content": "again"})
    token_call = wecom.calls("/cgi-bin/gettoken")
    assert len(token_call) == 1
    assert token_call[0].method == "GET"
    assert dict(token_call[0].url.params) == {"corpid": "wwcorp", "corpsecret": "s3cret"}
    sends = wecom.calls("/cgi-bin/message/send")
    assert [str(r.url) for r in sends] == [
        "https://wecom.test/cgi-bin/message/send?access_token=TOKEN-1"
    ] * 2
    assert json.loads(sends[0].content) == {
        "touser": "alice|bob",
        "msgtype": "markdown",
        "agentid": 1000002,
        "markdown": {"content": "**hi**"},
    }


async def test_web_sign_in_code_becomes_a_userid_once() -> None:
    wecom = FakeWeCom()
    code = wecom.issue_code("zhangsan")
    outsider = wecom.issue_code(None)
    client, http = make_client(wecom)
    async with http:
        assert await client.auth_userid(code) == "zhangsan"
        with pytest.raises(ApiErrcodeError) as used:
            await client.auth_userid(code)  # a code works once
        assert used.value.errcode == 40029
        assert await client.auth_userid(outsider) is None  # an openid, not a member
    (first, *_rest) = wecom.calls("/cgi-bin/auth/getuserinfo")
    assert first.method == "GET"
    assert dict(first.url.params) == {"access_token": "TOKEN-1", "code": code}
    assert wecom.token_fetches == 1


async def test_web_sign_in_refreshes_an_expired_token_once() -> None:
    wecom = FakeWeCom()
    code = wecom.issue_code("lisi")
    wecom.scripted["/cgi-bin/auth/getuserinfo"] = [(200, {"errcode": 42001, "errmsg": "e"})]
    client, http = make_client(wecom)
    async with http:
        assert await client.auth_userid(code) == "lisi"
    assert wecom.token_fetches == 2


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_expired_token_is_refreshed_once(errcode: int) -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/message/send"] = [(200, {"errcode": errcode, "errmsg": "expired"})]
    client, http = make_client(wecom)
    async with http:
        await client.send_app_message(["alice"], "text", {"content": "x"})
        assert wecom.token_fetches == 2
        assert len(wecom.calls("/cgi-bin/message/send")) == 2


async def test_token_rejected_twice_raises_token_expired() -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/message/send"] = [(200, {"errcode": 42001, "errmsg": "e"})] * 2
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(TokenExpired):
            await client.send_app_message(["alice"], "text", {"content": "x"})
    assert wecom.token_fetches == 2  # refreshed once, not in a loop


async def test_wrong_secret_is_a_configuration_error() -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/gettoken"] = [
        (200, {"errcode": 40001, "errmsg": "invalid credential"})
    ]
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(ConfigurationError, match="WECOM_APP_SECRET is wrong"):
            await client.send_app_message(["alice"], "text", {"content": "x"})


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((503, {}), ApiTransportError),
        ((429, {}), ApiTransportError),
        ((200, {"errcode": 45009, "errmsg": "freq"}), RateLimited),
        (
            (200, {"errcode": 60020, "errmsg": "not allow to access from your ip"}),
            ConfigurationError,
        ),
        ((200, {"errcode": 81013, "errmsg": "user invalid"}), ConfigurationError),
        ((200, {"errcode": 40003, "errmsg": "invalid userid"}), ApiErrcodeError),
    ],
)
async def test_failures_map_to_typed_errors(answer: tuple[int, dict], error: type) -> None:
    wecom = FakeWeCom()
    wecom.scripted["/cgi-bin/message/send"] = [answer]
    client, http = make_client(wecom)
    async with http:
        with pytest.raises(error):
            await client.send_app_message(["alice"], "text", {"content": "x"})


async def test_network_error_is_a_transport_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    client = WeComClient(http, api_base="https://wecom.test", credentials=CREDS)
    async with http:
        with pytest.raises(ApiTransportError, match="ConnectError"):
            await client.send_app_message(["alice"], "text", {"content": "x"})


async def test_non_json_answer_is_a_transport_error() -> None:
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, text="<html>"))
    )
    client = WeComClient(http, api_base="https://wecom.test", credentials=CREDS)
    async with http:
        with pytest.raises(ApiTransportError, match="not JSON"):
            await client.reply_via_response_url(
                "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=1", {}
            )


async def test_response_url_is_rebased_onto_the_api_base() -> None:
    wecom = FakeWeCom()
    client, http = make_client(wecom)
    body = {"msgtype": "markdown", "markdown": {"content": "hi"}}
    async with http:
        await client.reply_via_response_url(
            "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RC%2B1", body
        )
    (call,) = wecom.requests
    assert str(call.url) == "https://wecom.test/cgi-bin/aibot/response?response_code=RC%2B1"
    assert call.url.params["response_code"] == "RC+1"
    assert json.loads(call.content) == body
    assert "access_token" not in call.url.params


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/cgi-bin/aibot/response",
        "file:///etc/passwd",
        "not a url",
        "https://qyapi.weixin.qq.com.evil.example/x",
    ],
)
def test_response_url_off_wecom_is_refused(url: str) -> None:
    client = WeComClient(httpx.AsyncClient(), api_base="https://wecom.test")
    with pytest.raises(RefusedUrl):
        client.rebase_response_url(url)


async def test_token_cache_is_shared_between_clients() -> None:
    wecom = FakeWeCom()
    cache = AccessTokenCache()
    first, http = make_client(wecom, tokens=cache)
    second = WeComClient(http, api_base="https://wecom.test", credentials=CREDS, tokens=cache)
    async with http:
        await first.send_app_message(["a"], "text", {"content": "1"})
        await second.send_app_message(["b"], "text", {"content": "2"})
    assert wecom.token_fetches == 1


async def test_token_is_refetched_after_expiry() -> None:
    now = [1000.0]
    wecom = FakeWeCom()
    client, http = make_client(wecom, tokens=AccessTokenCache(clock=lambda: now[0]))
    async with http:
        await client.send_app_message(["a"], "text", {"content": "1"})
        now[0] += 7200
        await client.send_app_message(["a"], "text", {"content": "2"})
    assert wecom.token_fetches == 2


@pytest.mark.parametrize(
    ("errcode", "api", "kind", "retryable"),
    [
        (40014, "message/send", TokenExpired, True),
        (40014, "gettoken", ConfigurationError, False),
        (45033, "message/send", RateLimited, True),
        (130101, "message/send", RateLimited, True),
        (-1, "message/send", ApiErrcodeError, True),
        (60020, "message/send", ConfigurationError, False),
        (12345, "message/send", ApiErrcodeError, True),
    ],
)
def test_errcode_table(errcode: int, api: str, kind: type, retryable: bool) -> None:
    error = error_for_errcode(errcode, "msg", api)
    assert type(error) is kind
    assert error.retryable is retryable
    assert error.errcode == errcode


async def test_app_message_without_credentials_is_a_configuration_error() -> None:
    wecom = FakeWeCom()
    async with httpx.AsyncClient(transport=wecom.transport) as http:
        client = WeComClient(http, api_base="https://wecom.test")
        assert not client.can_send_app_messages
        with pytest.raises(ConfigurationError, match="WECOM_APP_SECRET"):
            await client.send_app_message(["alice"], "text", {"content": "x"})
    assert wecom.requests == []
