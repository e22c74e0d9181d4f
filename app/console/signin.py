"""Signing in to the console, and out.

- Token: the sign-in page's form takes ADMIN_API_TOKEN (first set-up, installs without WeCom
  credentials); compared in constant time, failures slowed down per address like the REST
  API's (`FailedAuthThrottle`). The person is an admin, audited as `admin-token`.
- WeCom, inside WeCom (网页授权, snsapi_base): `/console/login/wecom?via=oauth` redirects to
  WECOM_OAUTH_HOST's `/connect/oauth2/authorize`; opening `/console/` in WeCom's browser
  (its user agent says `wxwork`) starts it by itself.
- WeCom, in an ordinary browser (企业微信登录, QR scan): `via=qr` redirects to
  WECOM_LOGIN_HOST's `/wwlogin/sso/login`.

- One-time link (`app.console.once`): on a fresh machine `wecom-mod serve` prints
  `/console/login/once?token=…`; it signs in as an admin once, audited, and opens the sandbox.

The WeCom sign-ins come back to `/console/login/wecom/callback?code&state`. The state is
signed, expires after 10 minutes and names a nonce that must equal the one in this browser's
state cookie (set when the sign-in started), so a sign-in cannot be finished in another
browser (login CSRF). The code becomes a userid through `auth/getuserinfo` with the app's
access token (the client's token cache); someone outside the corp, or without a console role,
is refused.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from app import audit
from app.admin.auth import FailedAuthThrottle
from app.console.access import TOKEN_USER, access_of
from app.console.session import (
    STATE_COOKIE,
    STATE_SECONDS,
    Forbidden,
    check_csrf,
    clear_session,
    read_session,
    render,
    secure_headers,
    sign,
    start_session,
    unsign,
)
from app.settings import Settings
from bot.errors import WeComError

__all__ = ["ONCE_USER", "router"]

ONCE_USER = audit.rest_actor("admin", "one-time-link")  # a sign-in with the printed link

log = logging.getLogger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path, never another site."""
    if value and value.startswith("/console/") and not value.startswith("/console//"):
        return value
    return "/console/"


def wecom_ready(settings: Settings) -> bool:
    """WeCom sign-in is set up (pass `Runtime.configured`: a fresh machine's sandbox fills in
    credentials of its fake WeCom, which nobody can sign in with)."""
    return bool(
        settings.wecom_corp_id
        and settings.wecom_agent_id is not None
        and settings.app_messages_enabled
    )


def in_wecom(request: Request) -> bool:
    return "wxwork" in request.headers.get("user-agent", "").lower()


def _state_cookie(response: Response, settings: Settings, nonce: str) -> None:
    response.set_cookie(
        STATE_COOKIE,
        nonce,
        max_age=STATE_SECONDS,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=settings.console_cookie_secure,
    )


def _login_page(request: Request, *, error: str = "", status_code: int = 200) -> Response:
    settings = _settings(request)
    runtime = request.app.state.runtime
    nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        session=None,
        role=None,
        nonce=nonce,
        next=_safe_next(request.query_params.get("next")),
        error=error,
        wecom=wecom_ready(runtime.configured),
        token=settings.rest_api_enabled,
        once=runtime.sandbox is not None and runtime.sandbox.fake_client,
    )
    _state_cookie(response, settings, nonce)
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    if read_session(request) is not None:
        return secure_headers(RedirectResponse("/console/", status_code=303))
    configured = request.app.state.runtime.configured
    if in_wecom(request) and wecom_ready(configured) and not request.query_params.get("error"):
        query = urlencode({"via": "oauth", "next": _safe_next(request.query_params.get("next"))})
        return secure_headers(RedirectResponse(f"/console/login/wecom?{query}", status_code=303))
    return _login_page(request)


@router.post("/login/token")
async def login_token(
    request: Request,
    token: Annotated[str, Form(max_length=512)],
    csrf: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=512)] = "/console/",
) -> Response:
    settings = _settings(request)
    nonce = request.cookies.get(STATE_COOKIE, "")
    if not nonce or not hmac.compare_digest(nonce.encode(), csrf.encode()):
        raise Forbidden("csrf")
    expected = settings.secret("admin_api_token").encode("utf-8")
    presented = token.strip().encode("utf-8")
    good = bool(expected) and hmac.compare_digest(presented, expected)
    throttle: FailedAuthThrottle = request.app.state.auth_throttle
    address = request.client.host if request.client else "?"
    if not good:
        delay = throttle.failed(address)
        if delay:
            await asyncio.sleep(delay)
        return _login_page(request, error="login.token_wrong", status_code=401)
    throttle.succeeded(address)
    response = RedirectResponse(_safe_next(next), status_code=303)
    start_session(response, settings, user=TOKEN_USER, via="token")
    return secure_headers(response)


@router.get("/login/once")
async def login_once(
    request: Request, token: Annotated[str, Query(max_length=512)] = ""
) -> Response:
    """A one-time link `serve` printed: signed in as an admin, audited, sent to the sandbox;
    used, expired or unknown: the sign-in page says so."""
    settings = _settings(request)
    runtime = request.app.state.runtime
    address = request.client.host if request.client else "?"
    if not runtime.sign_in_links.redeem(token, now=time.time()):
        log.warning("console: a one-time sign-in link refused (used, expired or unknown)")
        return _login_page(request, error="login.once_bad", status_code=401)
    async with runtime.sessions() as db, db.begin():
        await audit.record(
            db,
            actor=ONCE_USER,
            channel=audit.Channel.CONSOLE,
            action="console.sign_in",
            target="console",
            details={"via": "one-time link", "client": address},
        )
    log.info("console sign-in with the one-time link from %s", address)
    target = "/console/sandbox" if runtime.sandbox is not None else "/console/"
    response = RedirectResponse(target, status_code=303)
    start_session(response, settings, user=ONCE_USER, via="token")
    return secure_headers(response)


@router.get("/login/wecom")
async def login_wecom(
    request: Request,
    via: Annotated[str, Query(pattern="^(oauth|qr)$")] = "qr",
    next: Annotated[str, Query(max_length=512)] = "/console/",
) -> Response:
    settings = _settings(request)
    if not wecom_ready(request.app.state.runtime.configured):
        return _login_page(request, error="login.wecom_off", status_code=503)
    nonce = secrets.token_urlsafe(24)
    state = sign(
        settings,
        "state",
        {"n": nonce, "x": _safe_next(next), "e": int(time.time()) + STATE_SECONDS},
    )
    redirect_uri = str(request.url_for("login_wecom_callback"))
    if via == "oauth":
        query = urlencode(
            {
                "appid": settings.wecom_corp_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "snsapi_base",
                "state": state,
                "agentid": settings.wecom_agent_id,
            }
        )
        target = f"{settings.wecom_oauth_host}/connect/oauth2/authorize?{query}#wechat_redirect"
    else:
        query = urlencode(
            {
                "login_type": "CorpApp",
                "appid": settings.wecom_corp_id,
                "agentid": settings.wecom_agent_id,
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        target = f"{settings.wecom_login_host}/wwlogin/sso/login?{query}"
    response = RedirectResponse(target, status_code=303)
    _state_cookie(response, settings, nonce)
    return secure_headers(response)


@router.get("/login/wecom/callback", name="login_wecom_callback")
async def login_wecom_callback(
    request: Request,
    code: Annotated[str, Query(min_length=1, max_length=512)],
    state: Annotated[str, Query(min_length=1, max_length=2048)],
) -> Response:
    settings = _settings(request)
    payload = unsign(settings, "state", state, now=time.time())
    nonce = request.cookies.get(STATE_COOKIE, "")
    if (
        not payload
        or not nonce
        or not hmac.compare_digest(str(payload.get("n", "")).encode(), nonce.encode())
    ):
        return _login_page(request, error="login.state_bad", status_code=400)
    runtime = request.app.state.runtime
    try:
        user = await runtime.client.auth_userid(code)
    except WeComError as exc:
        log.info("console sign-in refused: %s", exc)
        return _login_page(request, error="login.code_bad", status_code=400)
    if user is None:
        return _login_page(request, error="login.not_member", status_code=403)
    async with runtime.sessions() as db:
        access = await access_of(db, settings, user, "wecom")
    if access is None:
        log.info("console sign-in refused: %s has no console role", user)
        return _login_page(request, error="login.no_role", status_code=403)
    response = RedirectResponse(_safe_next(str(payload.get("x", ""))), status_code=303)
    start_session(response, settings, user=user, via="wecom")
    log.info("console sign-in: %s (%s)", user, access.role.value)
    return secure_headers(response)


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = read_session(request)
    if session is not None:
        await check_csrf(request, session)
    response = RedirectResponse("/console/login?error=out", status_code=303)
    clear_session(response, _settings(request))
    return secure_headers(response)
