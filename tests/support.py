"""Test doubles: a fake WeCom API (httpx.MockTransport) and builders of signed callbacks."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

from bot.crypto import CallbackCipher

CORP_ID = "ww0123456789abcdef"
AGENT_ID = 1000002
APP_SECRET = "app-secret-for-tests"
APP_TOKEN = "AppCallbackToken"
APP_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
AIBOT_TOKEN = "AibotCallbackToken"
AIBOT_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
ADMIN_TOKEN = "admin-token-0123456789"
MODERATORS = ("mod-alice", "mod-bob")
API_BASE = "https://wecom.test"
LEXICON = "赌博\tgambling\tblock\n加微信\tads\treview\n# a comment\n口交\tporn\tlog\n"


class Clock:
    """A clock the test moves by hand (the service's `clock`)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeWeCom:
    """Answers like WeCom's server API and records every request it gets."""

    requests: list[httpx.Request] = field(default_factory=list)
    token: str = "TOKEN-1"
    token_fetches: int = 0
    # Queued answers by path: each call pops the first (status, json); empty → success.
    scripted: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    # Web sign-in codes WeCom has issued and not yet exchanged: code → the member's userid
    # (None: someone outside the corp, answered with an openid).
    auth_codes: dict[str, str | None] = field(default_factory=dict)

    def issue_code(self, userid: str | None) -> str:
        """What WeCom's authorize or web-login page does once the member is known: a code,
        good for one `auth/getuserinfo`."""
        code = f"CODE-{len(self.auth_codes) + 1}-{userid or 'outsider'}"
        self.auth_codes[code] = userid
        return code

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        queued = self.scripted.get(path)
        if queued:
            status, body = queued.pop(0)
            return httpx.Response(status, json=body)
        if path == "/cgi-bin/auth/getuserinfo":
            return self._getuserinfo(request)
        if path == "/cgi-bin/gettoken":
            self.token_fetches += 1
            return httpx.Response(
                200,
                json={"errcode": 0, "errmsg": "ok", "access_token": self.token, "expires_in": 7200},
            )
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    def _getuserinfo(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("access_token") != self.token:
            return httpx.Response(200, json={"errcode": 40014, "errmsg": "invalid access_token"})
        code = request.url.params.get("code", "")
        if code not in self.auth_codes:
            return httpx.Response(200, json={"errcode": 40029, "errmsg": "invalid code"})
        userid = self.auth_codes.pop(code)  # a code works once
        if userid is None:
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "openid": "oAAA"})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "userid": userid})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def calls(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == path]

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.calls(path)]


@dataclass
class Signer:
    """Builds what WeCom sends: signed query strings and encrypted bodies."""

    cipher: CallbackCipher
    token: str

    def query(
        self,
        encrypted: str,
        *,
        timestamp: int | None = None,
        nonce: str = "nonce123",
        signature: str | None = None,
        echostr: bool = False,
    ) -> str:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature or self.cipher.sign(timestamp=stamp, nonce=nonce, encrypted=encrypted)
        query = f"msg_signature={sig}&timestamp={stamp}&nonce={nonce}"
        if echostr:
            query += f"&echostr={quote(encrypted, safe='')}"
        return query


def app_signer() -> Signer:
    return Signer(
        CallbackCipher(token=APP_TOKEN, encoding_aes_key=APP_AES_KEY, receive_id=CORP_ID),
        APP_TOKEN,
    )


def aibot_signer() -> Signer:
    return Signer(
        CallbackCipher(token=AIBOT_TOKEN, encoding_aes_key=AIBOT_AES_KEY, receive_id=""),
        AIBOT_TOKEN,
    )


def aibot_group_text(
    content: str,
    *,
    msgid: str = "msg-0001",
    sender: str = "zhangsan",
    chat_id: str = "wrOgAAAAchat1",
    mention: str = "@审核助手 ",
) -> str:
    """A smart-bot group message as WeCom sends it (decrypted): its content starts with the
    bot's @-mention (`mention`; "" for a content that carries its own)."""
    return json.dumps(
        {
            "msgid": msgid,
            "aibotid": "AIBOTID",
            "chatid": chat_id,
            "chattype": "group",
            "from": {"userid": sender},
            "response_url": f"https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code={msgid}",
            "msgtype": "text",
            "text": {"content": f"{mention}{content}"},
        },
        ensure_ascii=False,
    )


def app_text(content: str, *, msg_id: str = "1234567890123456", sender: str = "mod-alice") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>"
        f"<AgentID>{AGENT_ID}</AgentID></xml>"
    )


def external_chat_change(
    members: list[str],
    *,
    chat_id: str = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
    detail: str = "add_member",
    last_version: str = "9c3f6b0b3c5c4e0b",
    version: str = "71217227bbd112ec",
    change_type: str = "update",
) -> str:
    """A `change_external_chat` event; `last_version`/`version` are LastMemVer/CurMemVer."""
    items = "".join(f"<Item><![CDATA[{member}]]></Item>" for member in members)
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1700000100</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId>"
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType>"
        f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail><JoinScene>3</JoinScene>"
        f"<QuitScene>0</QuitScene><MemChangeCnt>{len(members)}</MemChangeCnt>"
        f"<MemChangeList>{items}</MemChangeList>"
        f"<LastMemVer>{last_version}</LastMemVer><CurMemVer>{version}</CurMemVer></xml>"
    )


def app_envelope(encrypted: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>"
    ).encode()


def aibot_envelope(encrypted: str) -> bytes:
    return json.dumps({"encrypt": encrypted}).encode()


class FakeSignInPages:
    """WeCom's sign-in pages as a browser meets them: the web authorisation
    (`/connect/oauth2/authorize`, 网页授权) and the web login (`/wwlogin/sso/login`, the QR
    page), answering at once for `signed_in` (the member who would scan or is in WeCom) with a
    code from `wecom` and the state given, as WeCom does. An ASGI app, served by the browser
    tests on a port of their own."""

    def __init__(self, wecom: FakeWeCom) -> None:
        self.wecom = wecom
        self.signed_in: str | None = None
        self.visits: list[str] = []  # the paths the browser was sent to

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        self.visits.append(request.url.path)
        if request.url.path not in ("/connect/oauth2/authorize", "/wwlogin/sso/login"):
            await PlainTextResponse("not found", status_code=404)(scope, receive, send)
            return
        redirect_uri = request.query_params["redirect_uri"]
        code = self.wecom.issue_code(self.signed_in)
        query = urlencode({"code": code, "state": request.query_params["state"]})
        await RedirectResponse(f"{redirect_uri}?{query}", status_code=302)(scope, receive, send)
