"""Async client for the WeCom server API, with an access-token cache shared by all senders.

All calls go through one `httpx.AsyncClient` (injectable: tests pass one with a
`MockTransport`) and one base URL (`WECOM_API_BASE`). A smart-bot `response_url` is re-rooted
onto that base URL too, after checking it names a WeCom host, so a private deployment or a fake
API in tests sees every call.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.errors import (
    ApiTransportError,
    ConfigurationError,
    RefusedUrl,
    TokenExpired,
    error_for_errcode,
)

__all__ = ["DEFAULT_API_BASE", "WECOM_HOSTS", "AccessTokenCache", "AppCredentials", "WeComClient"]

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
WECOM_HOSTS = frozenset({"qyapi.weixin.qq.com"})
_TOKEN_MARGIN = 300.0  # seconds before expiry at which a cached token is refreshed


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
    ) -> None:
        self._http = http
        self._base = api_base.rstrip("/")
        self._credentials = credentials
        self._tokens = tokens or AccessTokenCache()

    @property
    def can_send_app_messages(self) -> bool:
        return self._credentials is not None

    async def _request(
        self, method: str, url: str, api: str, *, json: Any = None, params: Any = None
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(method, url, json=json, params=params)
        except httpx.HTTPError as exc:
            raise ApiTransportError(f"{api}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ApiTransportError(f"{api}: HTTP {response.status_code}")
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
            raise error_for_errcode(errcode, str(payload.get("errmsg", "")), api)
        if response.status_code >= 400:
            raise ApiTransportError(f"{api}: HTTP {response.status_code}")
        return payload

    async def _fetch_token(self) -> tuple[str, int]:
        creds = self._require_credentials()
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

    async def _call_with_token(self, path: str, api: str, body: dict[str, Any]) -> dict[str, Any]:
        creds = self._require_credentials()
        token = await self._tokens.get(creds.corp_id, creds.secret, self._fetch_token)
        try:
            return await self._request(
                "POST", f"{self._base}{path}", api, json=body, params={"access_token": token}
            )
        except TokenExpired:
            token = await self._tokens.get(
                creds.corp_id, creds.secret, self._fetch_token, stale=token
            )
            return await self._request(
                "POST", f"{self._base}{path}", api, json=body, params={"access_token": token}
            )

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
