"""Signed cookies, CSRF and the console's security headers and error pages.

A signed value is `base64url(JSON).base64url(HMAC-SHA256(key, purpose | JSON))`: the purpose
("session", "state") is in the MAC, so a sign-in state cannot pass for a session. The key is
`Settings.console_key` (SECRET_KEY, else ADMIN_API_TOKEN). Every value carries its expiry
(`e`, Unix seconds); an expired or tampered one reads as absent.

The session cookie is HttpOnly, SameSite=Lax (the WeCom sign-in comes back by a top-level
redirect from WeCom's host, which Strict would strip) and Secure with CONSOLE_COOKIE_SECURE;
it holds the userid, how they signed in, the expiry and the CSRF token. Every POST must carry
that token (form field `csrf` or header `X-CSRF-Token`), compared in constant time; a change
without it gets 403.

Errors a page raises, answered as HTML here:

    ConsoleError
     ├── SignInNeeded   no valid session: redirect to the sign-in page (htmx: HX-Redirect)
     ├── Forbidden      signed in, but may not do this (403)
     ├── NotFound       nothing there, or not theirs to see (404)
     └── ConsoleOff     no key to sign with (503)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.console.texts import ui_texts
from app.errors import WecomModError
from app.settings import Settings

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "STATE_COOKIE",
    "ConsoleError",
    "ConsoleOff",
    "Forbidden",
    "NotFound",
    "Session",
    "SignInNeeded",
    "check_csrf",
    "clear_session",
    "install_handlers",
    "read_session",
    "render",
    "secure_headers",
    "sign",
    "start_session",
    "unsign",
]

SESSION_COOKIE = "wecom_mod_console"
STATE_COOKIE = "wecom_mod_console_state"  # binds a sign-in (OAuth state, login form) to the browser
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
STATE_SECONDS = 600  # how long a sign-in may take, from the sign-in page to WeCom's answer

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# JSON as people read it (Chinese as itself); the template autoescapes it like any text.
templates.env.filters["readable_json"] = lambda value: json.dumps(
    value, ensure_ascii=False, sort_keys=True
)


class ConsoleError(WecomModError):
    """Root of the console's errors; answered as an HTML page."""


class SignInNeeded(ConsoleError):
    pass


class Forbidden(ConsoleError):
    pass


class NotFound(ConsoleError):
    pass


class ConsoleOff(ConsoleError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(settings: Settings) -> bytes:
    key = settings.console_key
    if key is None:
        raise ConsoleOff("set SECRET_KEY or ADMIN_API_TOKEN")
    return key


def _mac(key: bytes, purpose: str, body: bytes) -> bytes:
    return hmac.new(key, purpose.encode("ascii") + b"|" + body, hashlib.sha256).digest()


def sign(settings: Settings, purpose: str, payload: dict[str, Any]) -> str:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return f"{_b64(body)}.{_b64(_mac(_key(settings), purpose, body))}"


def unsign(settings: Settings, purpose: str, value: str | None, *, now: float) -> dict[str, Any]:
    """The payload of a value `sign` made for `purpose`; {} when absent, tampered or expired."""
    if not value or value.count(".") != 1:
        return {}
    body_text, mac_text = value.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError:
        return {}
    if not hmac.compare_digest(mac, _mac(_key(settings), purpose, body)):
        return {}
    try:
        payload = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), int | float):
        return {}
    return payload if payload["e"] > now else {}


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: `user` is the WeCom userid (or `admin-token` for a token sign-in)."""

    user: str
    via: str  # token | wecom
    csrf: str
    expires: float


def read_session(request: Request) -> Session | None:
    settings: Settings = request.app.state.runtime.settings
    payload = unsign(settings, "session", request.cookies.get(SESSION_COOKIE), now=time.time())
    user, via, csrf = payload.get("u"), payload.get("v"), payload.get("c")
    if not (isinstance(user, str) and isinstance(via, str) and isinstance(csrf, str)):
        return None
    return Session(user=user, via=via, csrf=csrf, expires=float(payload["e"]))


def start_session(response: Response, settings: Settings, *, user: str, via: str) -> None:
    expires = int(time.time() + settings.console_session_hours * 3600)
    value = sign(
        settings, "session", {"u": user, "v": via, "c": secrets.token_urlsafe(24), "e": expires}
    )
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(settings.console_session_hours * 3600),
        path="/console",
        httponly=True,
        samesite="lax",
        secure=settings.console_cookie_secure,
    )
    response.delete_cookie(STATE_COOKIE, path="/console")


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=settings.console_cookie_secure,
    )


async def check_csrf(request: Request, session: Session) -> None:
    """403 unless the request carries the session's CSRF token (form field or header)."""
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if presented is None or not hmac.compare_digest(
        presented.encode("utf-8"), session.csrf.encode("utf-8")
    ):
        raise Forbidden("csrf")


def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # sign-in codes travel in URLs
    response.headers["Cache-Control"] = "no-store"
    return response


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    settings: Settings = request.app.state.runtime.settings
    texts = ui_texts(settings.console_language)
    response = templates.TemplateResponse(
        request,
        template,
        {"t": texts, "lang": settings.console_language, **context},
        status_code=status_code,
    )
    secure_headers(response)
    return response


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ConsoleError)
    async def console_error(request: Request, exc: ConsoleError) -> Response:
        if isinstance(exc, SignInNeeded):
            target = "/console/login?next=" + quote(request.url.path, safe="/")
            if request.headers.get("hx-request"):
                return secure_headers(Response(status_code=401, headers={"HX-Redirect": target}))
            return secure_headers(RedirectResponse(target, status_code=303))
        status, key = {
            Forbidden: (403, "error.forbidden"),
            NotFound: (404, "error.not_found"),
            ConsoleOff: (503, "error.off"),
        }[type(exc)]
        return render(
            request, "error.html", status_code=status, message_key=key, session=None, role=None
        )
