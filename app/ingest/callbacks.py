"""The two WeCom callback endpoints: `/wecom/callback` (self-built app) and `/wecom/aibot`,
and the sandbox's two (`/wecom/sandbox/callback`, `/wecom/sandbox/aibot`).

GET answers URL verification with the decrypted echostr. POST checks the size, parses the
envelope, checks timestamp and signature, decrypts, parses the event, stores it in the inbox
under its unique key (through the replica's `InboxWriter`, which commits the rows of concurrent
requests together) and answers 200 once it is committed — the moderation work happens after
the answer. Any `CallbackError` is answered with its 4xx status and a short reason, and nothing
is stored; a database that cannot store the event gets a 503 so that WeCom retries.

How a sandbox callback is told apart, and why none can be forged. The sandbox's endpoints
decrypt and check signatures with the replica's own sandbox cipher (`app.sandbox.live`: a
token and an AES key drawn at random when the service starts, held in memory only, never
printed, stored or sent), and store an event only when its chat is a sandbox group
(`app.repositories.sandbox`); anything else is refused (403). No one outside the process can
sign a sandbox callback, so no caller can put a message into a real group through them. The
real endpoints take only what WeCom signs with the configured keys; WeCom cannot name a
sandbox group (their chat ids are drawn by the sandbox) and, were one named, every action for
a sandbox group goes to the sandbox's table, never to WeCom (`app.outbox.dispatcher`).

The paths are plain ASGI endpoints, not FastAPI routes, and the app serves them before its
middleware stack, with their request id: see `_CallbackEndpoint`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import WecomModError
from app.ingest.channels import CallbackChannel
from app.ingest.inbox_writer import InboxWriterClosed
from app.metrics import callback_outcome
from app.repositories import inbox as inbox_repo
from app.repositories import sandbox as sandbox_repo
from bot.errors import CallbackError, MalformedRequest
from bot.parsing import (
    check_body_size,
    inbox_key,
)

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = ["QUERY_NAMES", "CallbackChannel", "fast_paths", "routes"]

log = logging.getLogger(__name__)

_MAX_QUERY_VALUE = 4096  # characters; an echostr is a few hundred
QUERY_NAMES = ("msg_signature", "timestamp", "nonce", "echostr")  # what WeCom's calls carry


def _query(raw: bytes) -> dict[str, str]:
    """Query parameters decoded without turning '+' into a space (base64 contains '+')."""
    params: dict[str, str] = {}
    for pair in raw.decode("latin-1").split("&"):
        name, _, value = pair.partition("=")
        key = unquote(name)
        if key and key not in params:
            params[key] = unquote(value)
    return params


def _required(params: dict[str, str], *names: str) -> list[str]:
    values = []
    for name in names:
        value = params.get(name)
        if not value:
            raise MalformedRequest(f"missing query parameter {name}")
        if len(value) > _MAX_QUERY_VALUE:
            raise MalformedRequest(f"query parameter {name} too long")
        values.append(value)
    return values


class _Disconnected(WecomModError):
    """The client went away before its body arrived: there is nobody to answer."""


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            check_body_size(int(value), limit)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body += message.get("body", b"")
        check_body_size(len(body), limit)
        if not message.get("more_body", False):
            return bytes(body)


def _count(runtime: Runtime, channel: CallbackChannel, outcome: str) -> None:
    """One more answer of `channel` with `outcome` (`wecom_mod_callbacks_total`); the
    sandbox's are not counted."""
    if channel.sandbox:
        return
    runtime.callback_answers[(channel.source, outcome)] += 1


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


def _refuse(
    runtime: Runtime, channel: CallbackChannel, error: CallbackError, scope: Scope
) -> tuple[int, str]:
    _count(runtime, channel, callback_outcome(error))
    log.warning("%s refused from %s: %s", channel.label, _client(scope), error.reason)
    return error.status, error.reason


def _off(runtime: Runtime, channel: CallbackChannel) -> tuple[int, str]:
    _count(runtime, channel, "off")
    return 404, channel.off_reason


def _verify_url(runtime: Runtime, channel: CallbackChannel, scope: Scope) -> tuple[int, str]:
    if channel.cipher is None:
        return _off(runtime, channel)
    try:
        signature, timestamp, nonce, echostr = _required(
            _query(scope["query_string"]), "msg_signature", "timestamp", "nonce", "echostr"
        )
        channel.cipher.verify(
            signature=signature,
            timestamp=timestamp,
            nonce=nonce,
            encrypted=echostr,
            now=time.time(),
            window_seconds=runtime.settings.callback_timestamp_window_seconds,
        )
        plain = channel.cipher.decrypt(echostr)
    except CallbackError as error:
        return _refuse(runtime, channel, error, scope)
    log.info("%s URL verified", channel.label)
    _count(runtime, channel, "verified")
    return 200, plain


async def _receive(
    runtime: Runtime, channel: CallbackChannel, scope: Scope, receive: Receive
) -> tuple[int, str]:
    if channel.cipher is None:
        return _off(runtime, channel)
    settings = runtime.settings
    try:
        signature, timestamp, nonce = _required(
            _query(scope["query_string"]), "msg_signature", "timestamp", "nonce"
        )
        body = await _read_body(scope, receive, settings.callback_max_body_bytes)
        encrypted = channel.parse_envelope(body)
        channel.cipher.verify(
            signature=signature,
            timestamp=timestamp,
            nonce=nonce,
            encrypted=encrypted,
            now=time.time(),
            window_seconds=settings.callback_timestamp_window_seconds,
        )
        plaintext = channel.cipher.decrypt(encrypted)
        event = channel.parse_message(plaintext)
    except CallbackError as error:
        return _refuse(runtime, channel, error, scope)
    if channel.sandbox and not await _in_sandbox(runtime, getattr(event, "chat_id", "")):
        log.warning("%s refused: %s is not a sandbox group", channel.label, event.kind)
        return 403, "not a sandbox group"

    key = inbox_key(channel.source, event, plaintext)
    try:
        row = inbox_repo.pending_row(
            dedupe_key=key,
            source=channel.source,
            kind=event.kind,
            chat_id=getattr(event, "chat_id", ""),
            sender=getattr(event, "from_user", ""),
            plaintext=plaintext,
            now=runtime.now(),
        )
        stored_id = await runtime.inbox_writer.store(row)
    except (SQLAlchemyError, OSError, InboxWriterClosed) as exc:
        log.error(
            "%s: could not store %s, answering 503 so WeCom retries: %s", channel.label, key, exc
        )
        _count(runtime, channel, "unavailable")
        return 503, "storage unavailable, retry later"
    if stored_id is None:
        log.info("%s: duplicate delivery %s ignored", channel.label, key)
        _count(runtime, channel, "duplicate")
    else:
        log.debug("%s: stored %s as inbox event %s", channel.label, key, stored_id)
        runtime.workers.notify_inbox()
        _count(runtime, channel, "accepted")
    return 200, ""


async def _in_sandbox(runtime: Runtime, chat_id: str) -> bool:
    async with runtime.sessions() as session:
        return await sandbox_repo.is_sandbox(session, chat_id)


class _CallbackEndpoint:
    """A callback path as a plain ASGI endpoint: GET verifies the URL, POST receives. It answers
    an unexpected error itself, with a 500 and no trace (the trace goes to the log), so it
    needs no middleware but the request id: the app serves both paths before its middleware
    stack (`fast_paths`, `app.main.Service`). In a profile of a replica under callbacks,
    FastAPI's request handling (a `Request`, dependencies, a response object) took more CPU
    than the endpoint's own work, and Starlette's middleware stack another eighth of it; a
    spam wave is all callbacks."""

    def __init__(self, channel: Callable[[Runtime], CallbackChannel]) -> None:
        self._channel = channel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime: Runtime = scope["app"].state.runtime
        channel = self._channel(runtime)
        try:
            if scope["method"] == "POST":
                with runtime.foreground.answering():
                    status, text = await _receive(runtime, channel, scope, receive)
            else:
                status, text = _verify_url(runtime, channel, scope)
        except _Disconnected:
            log.info("%s: the client left before its body arrived", channel.label)
            return
        except Exception:
            log.exception("%s: unexpected error, answering 500", channel.label)
            _count(runtime, channel, "error")
            status, text = 500, "internal error"
        body = text.encode("utf-8")
        headers = [(b"content-length", str(len(body)).encode("ascii"))]
        if body:
            headers.append((b"content-type", b"text/plain; charset=utf-8"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# path, the runtime's channel for it, route name: WeCom's two callbacks and the sandbox's
_CHANNELS: tuple[tuple[str, Callable[[Runtime], CallbackChannel], str], ...] = (
    ("/wecom/callback", lambda runtime: runtime.app_channel, "app_callback"),
    ("/wecom/aibot", lambda runtime: runtime.aibot_channel, "aibot_callback"),
    (
        "/wecom/sandbox/callback",
        lambda runtime: runtime.sandbox_app_channel,
        "sandbox_app_callback",
    ),
    (
        "/wecom/sandbox/aibot",
        lambda runtime: runtime.sandbox_aibot_channel,
        "sandbox_aibot_callback",
    ),
)
routes = [
    Route(path, _CallbackEndpoint(channel), methods=["GET", "POST"], name=name)
    for path, channel, name in _CHANNELS
]

# path -> endpoint, for the app to serve a GET or POST of these paths before its middleware
fast_paths: dict[str, ASGIApp] = {route.path: route.endpoint for route in routes}
