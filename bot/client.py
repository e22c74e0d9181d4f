"""Async client for the WeCom server API, with an access-token cache shared by all senders.

All calls go through one `httpx.AsyncClient` (injectable: tests pass one with a
`MockTransport`) and one base URL (`WECOM_API_BASE`). A smart-bot `response_url` is re-rooted
onto that base URL too, after checking it names a WeCom host, so a private deployment or a fake
API in tests sees every call.

Secrets travel in query strings (`corpsecret`, `access_token`, a webhook robot's `key`), and
httpx logs every request URL at INFO. Constructing a client therefore adds, once per process, a
filter to the `httpx` logger that masks those values to their first 4 characters and "…". The
webhook key is masked the same way in every exception message this client raises.

Which secret a call needs (WeCom gives a token per secret, and the client caches one per secret):

- app messages, appchat, customer groups and welcome templates: the app's `credentials` (the
  app must be allowed to use customer contact, 客户联系 → 可调用应用, for the last two);
- `msgaudit/groupchat/get`: `archive_credentials`, built from the chat archive secret
  (会话内容存档 Secret); its `agent_id` is not used (pass 0);
- the webhook robot: no token, only its key.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from bot.errors import (
    ApiErrcodeError,
    ApiTransportError,
    ConfigurationError,
    RefusedUrl,
    TokenExpired,
    error_for_errcode,
)

__all__ = [
    "APPCHAT_TEXT_MAX_BYTES",
    "APP_MESSAGE_MAX_BYTES",
    "DEFAULT_API_BASE",
    "TEXTCARD_DESCRIPTION_MAX_BYTES",
    "TEXTCARD_TITLE_MAX_BYTES",
    "WEBHOOK_MARKDOWN_MAX_BYTES",
    "WEBHOOK_TEXT_MAX_BYTES",
    "WECOM_HOSTS",
    "WELCOME_TEXT_MAX_BYTES",
    "AccessTokenCache",
    "AppCredentials",
    "ExternalContact",
    "GroupInfo",
    "GroupKind",
    "WeComClient",
    "truncate_utf8",
]

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
WECOM_HOSTS = frozenset({"qyapi.weixin.qq.com"})
_TOKEN_MARGIN = 300.0  # seconds before expiry at which a cached token is refreshed

# Size limits WeCom documents, in UTF-8 bytes.
APP_MESSAGE_MAX_BYTES = 2048  # an app message's text or markdown (message/send)
WEBHOOK_TEXT_MAX_BYTES = 2048
WEBHOOK_MARKDOWN_MAX_BYTES = 4096
APPCHAT_TEXT_MAX_BYTES = 2048
TEXTCARD_TITLE_MAX_BYTES = 128
TEXTCARD_DESCRIPTION_MAX_BYTES = 512
WELCOME_TEXT_MAX_BYTES = 3000
_ELLIPSIS = "…"

GroupKind = Literal["customer", "internal"]


def _mask(secret: str) -> str:
    """The first 4 characters of a secret and "…" (only "…" when it is too short to hide)."""
    return f"{secret[:4]}{_ELLIPSIS}" if len(secret) > 8 else _ELLIPSIS


_SECRET_QUERY = re.compile(r"(?<=[?&])(key|access_token|corpsecret)=([^&\s\"']+)")


class _SecretQueryRedactor(logging.Filter):
    """Masks `key`, `access_token` and `corpsecret` query values in the `httpx` request log."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken record: logging reports it, not this filter
            return True
        masked = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={_mask(m.group(2))}", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _redact_secrets_in_http_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _SecretQueryRedactor) for f in logger.filters):
        logger.addFilter(_SecretQueryRedactor())


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _check_size(text: str, limit: int, what: str) -> None:
    size = _utf8_len(text)
    if size > limit:
        raise ValueError(f"{what} is {size} bytes in UTF-8; WeCom accepts at most {limit}")


def truncate_utf8(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-8 bytes, else its longest whole-character prefix + "…"."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    room = limit - _utf8_len(_ELLIPSIS)
    # Cutting bytes may split the last character; "ignore" drops that partial character only.
    return encoded[:room].decode("utf-8", errors="ignore") + _ELLIPSIS


def _id_list(ids: Sequence[str], what: str) -> list[str]:
    if isinstance(ids, str):
        raise TypeError(f"{what} must be a sequence of ids, not one string")
    return list(ids)


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group chat as WeCom describes it.

    `member_ids` are userids (for a customer group, external members appear by their
    external_userid). `member_version` is WeCom's member-list version of a customer group; ""
    when WeCom gives none (always for an internal group). `member_names` maps a member to the
    name to greet them by (their group nickname, else their name; only members WeCom named) and
    `member_joined` to when they joined (unix seconds; only members WeCom gave a time for).
    `member_types` maps a member of a customer group to WeCom's `type` (1 a member of the
    corp, 2 an external contact; only members WeCom gave a type for).
    """

    chat_id: str
    name: str
    owner: str
    member_ids: tuple[str, ...]
    member_version: str
    kind: GroupKind
    member_names: Mapping[str, str] = field(default_factory=dict, hash=False)
    member_joined: Mapping[str, int] = field(default_factory=dict, hash=False)
    member_types: Mapping[str, int] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class ExternalContact:
    """An external contact as `externalcontact/get` describes them: `type` 1 a WeChat user,
    2 a WeCom user (of the company `corp_name`); 0 when WeCom gave no type."""

    external_userid: str
    name: str
    type: int
    corp_name: str = ""


def _member_types(members: Any, id_field: str) -> dict[str, int]:
    """Each member's `type` (1 corp member, 2 external), for the members that have one."""
    types: dict[str, int] = {}
    for member in members if isinstance(members, list) else ():
        if not isinstance(member, dict) or not isinstance(member.get(id_field), str):
            continue
        kind = member.get("type")
        if isinstance(kind, int) and not isinstance(kind, bool):
            types[member[id_field]] = kind
    return types


def _malformed(api: str, what: str) -> ApiTransportError:
    return ApiTransportError(f"{api}: answer not in the documented shape: {what}")


def _str_field(data: dict[str, Any], name: str, api: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _malformed(api, f"{name} is not a string")
    return value


def _member_ids(members: Any, id_field: str, list_name: str, api: str) -> tuple[str, ...]:
    if not isinstance(members, list):
        raise _malformed(api, f"{list_name} is not a list")
    ids = []
    for index, member in enumerate(members):
        member_id = member.get(id_field) if isinstance(member, dict) else None
        if not isinstance(member_id, str) or not member_id:
            raise _malformed(api, f"{list_name}[{index}] has no {id_field}")
        ids.append(member_id)
    return tuple(ids)


def _member_details(
    members: Any, id_field: str, time_field: str
) -> tuple[dict[str, str], dict[str, int]]:
    """Names (group nickname, else name) and join times of the members that have them; any
    field missing or of another type is skipped (the ids are checked by `_member_ids`)."""
    names: dict[str, str] = {}
    joined: dict[str, int] = {}
    for member in members if isinstance(members, list) else ():
        if not isinstance(member, dict) or not isinstance(member.get(id_field), str):
            continue
        member_id = member[id_field]
        for name_field in ("group_nickname", "name"):
            name = member.get(name_field)
            if isinstance(name, str) and name.strip():
                names[member_id] = name.strip()
                break
        at = member.get(time_field)
        if isinstance(at, int) and not isinstance(at, bool) and at > 0:
            joined[member_id] = at
    return names, joined


@dataclass(frozen=True, slots=True)
class AppCredentials:
    corp_id: str
    agent_id: int
    secret: str


class AccessTokenCache:
    """Access tokens per (corp id, secret), fetched once at a time and reused until near expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    @staticmethod
    def _key(corp_id: str, secret: str) -> tuple[str, str]:
        return corp_id, hashlib.sha256(secret.encode("utf-8")).hexdigest()

    async def get(
        self,
        corp_id: str,
        secret: str,
        fetch: Callable[[], Any],
        *,
        stale: str | None = None,
    ) -> str:
        """A valid token. `stale` is a token WeCom just rejected: it is not handed out again."""
        key = self._key(corp_id, secret)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached and cached[0] != stale and cached[1] > self._clock():
                return cached[0]
            token, expires_in = await fetch()
            self._tokens[key] = (token, self._clock() + max(expires_in - _TOKEN_MARGIN, 60.0))
            return str(token)


class WeComClient:
    """The outbound WeCom calls the service makes."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_base: str = DEFAULT_API_BASE,
        credentials: AppCredentials | None = None,
        tokens: AccessTokenCache | None = None,
        archive_credentials: AppCredentials | None = None,
        call_timeout: float | None = None,
    ) -> None:
        self._http = http
        # The longest one HTTP call may take from start to last byte (None: httpx's own
        # per-phase timeouts only, which a server trickling its answer never trips).
        self._call_timeout = call_timeout
        # (api, errcode or ApiTransportError.cause) → failed calls, for the service's metrics
        self.failures: Counter[tuple[str, str]] = Counter()
        self._base = api_base.rstrip("/")
        self._credentials = credentials
        self._archive_credentials = archive_credentials
        self._tokens = tokens or AccessTokenCache()
        _redact_secrets_in_http_logs()

    @property
    def can_send_app_messages(self) -> bool:
        return self._credentials is not None

    async def _request(
        self,
        method: str,
        url: str,
        api: str,
        *,
        json: Any = None,
        params: Any = None,
        secret: str | None = None,
    ) -> dict[str, Any]:
        """`_call`, with each failure counted in `failures` by api and errcode (or cause)."""
        try:
            return await self._call(method, url, api, json=json, params=params, secret=secret)
        except ApiErrcodeError as exc:
            self.failures[(api, str(exc.errcode))] += 1
            raise
        except ApiTransportError as exc:
            self.failures[(api, exc.cause)] += 1
            raise

    async def _call(
        self,
        method: str,
        url: str,
        api: str,
        *,
        json: Any = None,
        params: Any = None,
        secret: str | None = None,
    ) -> dict[str, Any]:
        """One call; `secret` (a webhook key) is masked in every message of what it raises."""

        def redact(text: str) -> str:
            return text.replace(secret, _mask(secret)) if secret else text

        try:
            async with asyncio.timeout(self._call_timeout):
                response = await self._http.request(method, url, json=json, params=params)
        except TimeoutError:
            raise ApiTransportError(
                f"{api}: no complete answer within {self._call_timeout:g} s", cause="timeout"
            ) from None
        except httpx.HTTPError as exc:
            cause = "timeout" if isinstance(exc, httpx.TimeoutException) else "network"
            error = ApiTransportError(
                f"{api}: {type(exc).__name__}: {redact(str(exc))}", cause=cause
            )
            if secret and secret in str(exc):
                raise error from None  # a chained cause would print the secret in tracebacks
            raise error from exc
        if response.status_code >= 500 or response.status_code == 429:
            cause = "http_429" if response.status_code == 429 else "http_5xx"
            raise ApiTransportError(f"{api}: HTTP {response.status_code}", cause=cause)
        try:
            payload = response.json()
        except ValueError as exc:
            raise ApiTransportError(f"{api}: HTTP {response.status_code}, body not JSON") from exc
        if not isinstance(payload, dict):
            raise ApiTransportError(f"{api}: HTTP {response.status_code}, body not a JSON object")
        errcode = payload.get("errcode", 0)
        if not isinstance(errcode, int):
            raise ApiTransportError(f"{api}: errcode is not a number")
        if errcode != 0:
            raise error_for_errcode(errcode, redact(str(payload.get("errmsg", ""))), api)
        if response.status_code >= 400:
            raise ApiTransportError(f"{api}: HTTP {response.status_code}", cause="http_4xx")
        return payload

    async def _fetch_token(self, creds: AppCredentials) -> tuple[str, int]:
        payload = await self._request(
            "GET",
            f"{self._base}/cgi-bin/gettoken",
            "gettoken",
            params={"corpid": creds.corp_id, "corpsecret": creds.secret},
        )
        token = payload.get("access_token")
        expires_in = payload.get("expires_in", 7200)
        if not isinstance(token, str) or not token:
            raise ApiTransportError("gettoken: no access_token in the answer")
        return token, int(expires_in) if isinstance(expires_in, int) else 7200

    def _require_credentials(self) -> AppCredentials:
        if self._credentials is None:
            raise ConfigurationError(
                0,
                "app messages are off (set WECOM_CORP_ID, WECOM_AGENT_ID, WECOM_APP_SECRET)",
                "client",
            )
        return self._credentials

    def _require_archive_credentials(self) -> AppCredentials:
        if self._archive_credentials is None:
            raise ConfigurationError(
                0,
                "internal group details need the chat archive secret (会话内容存档 Secret): "
                "construct the client with archive_credentials",
                "client",
            )
        return self._archive_credentials

    async def _call_with_token(
        self,
        path: str,
        api: str,
        body: dict[str, Any],
        *,
        credentials: AppCredentials | None = None,
    ) -> dict[str, Any]:
        """POST with the access token of `credentials` (default: the app's), refreshed once."""
        creds = credentials or self._require_credentials()
        fetch = functools.partial(self._fetch_token, creds)
        token = await self._tokens.get(creds.corp_id, creds.secret, fetch)
        try:
            return await self._request(
                "POST", f"{self._base}{path}", api, json=body, params={"access_token": token}
            )
        except TokenExpired:
            token = await self._tokens.get(creds.corp_id, creds.secret, fetch, stale=token)
            return await self._request(
                "POST", f"{self._base}{path}", api, json=body, params={"access_token": token}
            )

    async def auth_userid(self, code: str) -> str | None:
        """The member a web sign-in `code` stands for (`auth/getuserinfo`, with the app's
        token): their userid, or None for someone outside the corp (WeCom answers an openid
        or external_userid instead). A code works once and for 5 minutes; a used or unknown
        one raises the errcode's error (40029)."""
        creds = self._require_credentials()
        fetch = functools.partial(self._fetch_token, creds)
        url, api = f"{self._base}/cgi-bin/auth/getuserinfo", "auth/getuserinfo"
        token = await self._tokens.get(creds.corp_id, creds.secret, fetch)
        try:
            payload = await self._request(
                "GET", url, api, params={"access_token": token, "code": code}
            )
        except TokenExpired:
            token = await self._tokens.get(creds.corp_id, creds.secret, fetch, stale=token)
            payload = await self._request(
                "GET", url, api, params={"access_token": token, "code": code}
            )
        userid = payload.get("userid") or payload.get("UserId")
        return userid if isinstance(userid, str) and userid else None

    async def send_app_message(
        self, to_users: Sequence[str], msgtype: str, content: dict[str, Any]
    ) -> dict[str, Any]:
        """`message/send` to members (up to 1000); returns WeCom's answer (with `invaliduser`)."""
        creds = self._require_credentials()
        body = {
            "touser": "|".join(to_users),
            "msgtype": msgtype,
            "agentid": creds.agent_id,
            msgtype: content,
        }
        return await self._call_with_token("/cgi-bin/message/send", "message/send", body)

    async def send_app_textcard(
        self,
        to_users: Sequence[str],
        *,
        title: str,
        description: str,
        url: str,
        btntxt: str = "详情",
    ) -> dict[str, Any]:
        """An app textcard to members (`message/send`); returns WeCom's answer.

        A title over 128 bytes or a description over 512 bytes (UTF-8) is not refused: it is cut
        at a character boundary and ends with "…", so an alert always goes out. The description
        may use WeCom's textcard HTML (`<div class="gray">`); a cut can break such a tag, so keep
        markup at the start. `url` must not be empty (the card opens it).
        """
        if not url:
            raise ValueError("a textcard needs a url")
        content = {
            "title": truncate_utf8(title, TEXTCARD_TITLE_MAX_BYTES),
            "description": truncate_utf8(description, TEXTCARD_DESCRIPTION_MAX_BYTES),
            "url": url,
            "btntxt": btntxt,
        }
        return await self.send_app_message(_id_list(to_users, "to_users"), "textcard", content)

    async def send_webhook(
        self,
        key: str,
        *,
        msgtype: Literal["text", "markdown"],
        content: str,
        mentioned_list: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Post into an internal group through its webhook robot (`webhook/send?key=`).

        Text is at most 2048 bytes (UTF-8) and may mention userids or "@all" in
        `mentioned_list`; markdown is at most 4096 bytes and mentions with `<@userid>` in the
        content (so `mentioned_list` must be empty). Too long raises ValueError before any call.
        A robot takes 20 messages a minute; over that WeCom answers 45009/130101, raised as
        `RateLimited`. The key is masked in every error message and log line.
        """
        if not key:
            raise ValueError("the webhook key is empty")
        mentions = _id_list(mentioned_list, "mentioned_list")
        body: dict[str, Any]
        if msgtype == "text":
            _check_size(content, WEBHOOK_TEXT_MAX_BYTES, "webhook text")
            body = {"msgtype": "text", "text": {"content": content, "mentioned_list": mentions}}
        elif msgtype == "markdown":
            _check_size(content, WEBHOOK_MARKDOWN_MAX_BYTES, "webhook markdown")
            if mentions:
                raise ValueError("webhook markdown mentions with <@userid> in the content")
            body = {"msgtype": "markdown", "markdown": {"content": content}}
        else:
            raise ValueError(f"webhook msgtype must be text or markdown, not {msgtype!r}")
        return await self._request(
            "POST",
            f"{self._base}/cgi-bin/webhook/send",
            "webhook/send",
            json=body,
            params={"key": key},
            secret=key,
        )

    async def appchat_send(
        self,
        chat_id: str,
        *,
        msgtype: Literal["text", "markdown", "textcard"],
        content: dict[str, Any],
    ) -> dict[str, Any]:
        """Post into a group this app created (`appchat/send`).

        `content` is WeCom's object for `msgtype`: `{"content": ...}` for text and markdown,
        title/description/url/btntxt for a textcard. Text over 2048 bytes (UTF-8) raises
        ValueError before any call.
        """
        if msgtype not in ("text", "markdown", "textcard"):
            raise ValueError(f"appchat msgtype must be text, markdown or textcard: {msgtype!r}")
        text = content.get("content")
        if msgtype == "text" and isinstance(text, str):
            _check_size(text, APPCHAT_TEXT_MAX_BYTES, "appchat text")
        body = {"chatid": chat_id, "msgtype": msgtype, msgtype: content}
        return await self._call_with_token("/cgi-bin/appchat/send", "appchat/send", body)

    async def appchat_remove_members(self, chat_id: str, user_ids: Sequence[str]) -> dict[str, Any]:
        """Remove members from a group this app created (`appchat/update` `del_user_list`).

        WeCom allows this only in groups created by this app, about 1000 changes an hour per
        corp. An empty `user_ids` raises ValueError (there is nothing to send).
        """
        ids = _id_list(user_ids, "user_ids")
        if not ids:
            raise ValueError("no members to remove")
        body = {"chatid": chat_id, "del_user_list": ids}
        return await self._call_with_token("/cgi-bin/appchat/update", "appchat/update", body)

    async def get_customer_group(self, chat_id: str) -> GroupInfo:
        """A customer group (客户群) with its members (`externalcontact/groupchat/get`)."""
        api = "externalcontact/groupchat/get"
        payload = await self._call_with_token(
            "/cgi-bin/externalcontact/groupchat/get", api, {"chat_id": chat_id, "need_name": 1}
        )
        group = payload.get("group_chat")
        if not isinstance(group, dict):
            raise _malformed(api, "no group_chat object")
        members = group.get("member_list", [])
        names, joined = _member_details(members, "userid", "join_time")
        return GroupInfo(
            chat_id=chat_id,
            name=_str_field(group, "name", api, required=False),
            owner=_str_field(group, "owner", api),
            member_ids=_member_ids(members, "userid", "member_list", api),
            member_version=_str_field(group, "member_version", api, required=False),
            kind="customer",
            member_names=names,
            member_joined=joined,
            member_types=_member_types(members, "userid"),
        )

    async def get_external_contact(self, external_userid: str) -> ExternalContact:
        """Who an external contact is (`externalcontact/get`). Raises `NotExternalContact`
        (84061) for someone no member of the corp has as a contact."""
        api = "externalcontact/get"
        creds = self._require_credentials()
        fetch = functools.partial(self._fetch_token, creds)
        params = {"external_userid": external_userid}
        token = await self._tokens.get(creds.corp_id, creds.secret, fetch)
        url = f"{self._base}/cgi-bin/externalcontact/get"
        try:
            payload = await self._request("GET", url, api, params={"access_token": token, **params})
        except TokenExpired:
            token = await self._tokens.get(creds.corp_id, creds.secret, fetch, stale=token)
            payload = await self._request("GET", url, api, params={"access_token": token, **params})
        contact = payload.get("external_contact")
        if not isinstance(contact, dict):
            raise _malformed(api, "no external_contact object")
        kind = contact.get("type")
        return ExternalContact(
            external_userid=external_userid,
            name=_str_field(contact, "name", api, required=False),
            type=kind if isinstance(kind, int) and not isinstance(kind, bool) else 0,
            corp_name=(contact["corp_name"] if isinstance(contact.get("corp_name"), str) else ""),
        )

    async def get_internal_archive_group(self, room_id: str) -> GroupInfo:
        """An internal group as the chat archive knows it (`msgaudit/groupchat/get`).

        Uses the token of `archive_credentials` (the chat archive secret); without them it
        raises `ConfigurationError` before any call. `owner` is the group's creator.
        """
        api = "msgaudit/groupchat/get"
        payload = await self._call_with_token(
            "/cgi-bin/msgaudit/groupchat/get",
            api,
            {"roomid": room_id},
            credentials=self._require_archive_credentials(),
        )
        return GroupInfo(
            chat_id=room_id,
            name=_str_field(payload, "roomname", api, required=False),
            owner=_str_field(payload, "creator", api),
            member_ids=_member_ids(payload.get("members", []), "memberid", "members", api),
            member_version="",
            kind="internal",
        )

    async def add_group_welcome_template(self, text: str) -> str:
        """Add a customer-group welcome text to the corp's library; returns its template_id.

        The text may use `%NICKNAME%`; it must not be empty and is at most 3000 bytes (UTF-8),
        else ValueError before any call. WeCom keeps at most 100 templates per corp.
        """
        api = "externalcontact/group_welcome_template/add"
        payload = await self._call_with_token(
            "/cgi-bin/externalcontact/group_welcome_template/add", api, _welcome_body(text)
        )
        template_id = payload.get("template_id")
        if not isinstance(template_id, str) or not template_id:
            raise _malformed(api, "no template_id")
        return template_id

    async def edit_group_welcome_template(self, template_id: str, text: str) -> None:
        """Replace the text of a welcome template (same limits as `add_group_welcome_template`)."""
        if not template_id:
            raise ValueError("the template_id is empty")
        body = {"template_id": template_id, **_welcome_body(text)}
        await self._call_with_token(
            "/cgi-bin/externalcontact/group_welcome_template/edit",
            "externalcontact/group_welcome_template/edit",
            body,
        )

    def rebase_response_url(self, response_url: str) -> str:
        """The URL actually called for a smart-bot `response_url` (re-rooted on the API base)."""
        parts = urlsplit(response_url)
        base_host = urlsplit(self._base).hostname
        if parts.scheme not in ("https", "http") or (
            parts.hostname not in WECOM_HOSTS and parts.hostname != base_host
        ):
            raise RefusedUrl(f"response_url host {parts.hostname!r} is not a WeCom host")
        query = f"?{parts.query}" if parts.query else ""
        return f"{self._base}{parts.path}{query}"

    async def reply_via_response_url(
        self, response_url: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Post a smart-bot active reply (markdown or template_card); no access token needed."""
        url = self.rebase_response_url(response_url)
        return await self._request("POST", url, "aibot/response", json=body)


def _welcome_body(text: str) -> dict[str, Any]:
    if not text:
        raise ValueError("a welcome text must not be empty")
    _check_size(text, WELCOME_TEXT_MAX_BYTES, "welcome text")
    return {"text": {"content": text}}
