"""The two WeCom callback endpoints: `/wecom/callback` (self-built app) and `/wecom/aibot`.

GET answers URL verification with the decrypted echostr. POST checks the size, parses the
envelope, checks timestamp and signature, decrypts, parses the event, stores it in the inbox
under its unique key (through the replica's `InboxWriter`, which commits the rows of concurrent
requests together) and answers 200 once it is committed — the moderation work happens after
the answer. Any `CallbackError` is answered with its 4xx status and a short reason, and nothing
is stored; a database that cannot store the event gets a 503 so that WeCom retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from app.inbox_writer import InboxWriterClosed
from app.metrics import callback_outcome
from app.repositories import inbox as inbox_repo
from bot.crypto import CallbackCipher
from bot.errors import CallbackError, MalformedRequest
from bot.events import CallbackEvent, Source
from bot.parsing import (
    check_body_size,
    inbox_key,
    parse_aibot_envelope,
    parse_aibot_message,
    parse_app_envelope,
    parse_app_message,
)

__all__ = ["CallbackChannel", "router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["WeCom callbacks"])

_MAX_QUERY_VALUE = 4096  # characters; an echostr is a few hundred


@dataclass(frozen=True)
class CallbackChannel:
    source: Source
    label: str
    cipher: CallbackCipher | None  # None: the channel is off
    off_reason: str
    parse_envelope: Callable[[bytes], str]
    parse_message: Callable[[str], CallbackEvent]


def app_channel(cipher: CallbackCipher | None) -> CallbackChannel:
    return CallbackChannel(
        source="app",
        label="app callback",
        cipher=cipher,
        off_reason="the app callback is off: set WECOM_CORP_ID, WECOM_CALLBACK_TOKEN "
        "and WECOM_CALLBACK_AES_KEY",
        parse_envelope=parse_app_envelope,
        parse_message=parse_app_message,
    )


def aibot_channel(cipher: CallbackCipher | None) -> CallbackChannel:
    return CallbackChannel(
        source="aibot",
        label="smart bot callback",
        cipher=cipher,
        off_reason="the smart bot callback is off: set WECOM_AIBOT_TOKEN and WECOM_AIBOT_AES_KEY",
        parse_envelope=parse_aibot_envelope,
        parse_message=parse_aibot_message,
    )


def _query(request: Request) -> dict[str, str]:
    """Query parameters decoded without turning '+' into a space (base64 contains '+')."""
    raw = request.scope.get("query_string", b"").decode("latin-1")
    params: dict[str, str] = {}
    for pair in raw.split("&"):
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


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        check_body_size(int(declared), limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        check_body_size(len(body), limit)
    return bytes(body)


def _count(request: Request, channel: CallbackChannel, outcome: str) -> None:
    """One more answer of `channel` with `outcome` (`wecom_mod_callbacks_total`)."""
    request.app.state.runtime.callback_answers[(channel.source, outcome)] += 1


def _refuse(channel: CallbackChannel, error: CallbackError, request: Request) -> Response:
    _count(request, channel, callback_outcome(error))
    client = request.client.host if request.client else "?"
    log.warning("%s refused from %s: %s", channel.label, client, error.reason)
    return PlainTextResponse(error.reason, status_code=error.status)


def _off(channel: CallbackChannel, request: Request) -> Response:
    _count(request, channel, "off")
    return PlainTextResponse(channel.off_reason, status_code=404)


async def verify_url(request: Request, channel: CallbackChannel) -> Response:
    if channel.cipher is None:
        return _off(channel, request)
    runtime = request.app.state.runtime
    try:
        signature, timestamp, nonce, echostr = _required(
            _query(request), "msg_signature", "timestamp", "nonce", "echostr"
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
        return _refuse(channel, error, request)
    log.info("%s URL verified", channel.label)
    _count(request, channel, "verified")
    return PlainTextResponse(plain)


async def receive(request: Request, channel: CallbackChannel) -> Response:
    if channel.cipher is None:
        return _off(channel, request)
    runtime = request.app.state.runtime
    settings = runtime.settings
    try:
        signature, timestamp, nonce = _required(
            _query(request), "msg_signature", "timestamp", "nonce"
        )
        body = await _read_body(request, settings.callback_max_body_bytes)
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
        return _refuse(channel, error, request)

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
        _count(request, channel, "unavailable")
        return PlainTextResponse("storage unavailable, retry later", status_code=503)
    if stored_id is None:
        log.info("%s: duplicate delivery %s ignored", channel.label, key)
        _count(request, channel, "duplicate")
    else:
        log.debug("%s: stored %s as inbox event %s", channel.label, key, stored_id)
        runtime.workers.notify_inbox()
        _count(request, channel, "accepted")
    return Response(status_code=200)


@router.get("/wecom/callback", response_class=PlainTextResponse, summary="App URL verification")
async def app_verify(request: Request) -> Response:
    return await verify_url(request, request.app.state.runtime.app_channel)


@router.post("/wecom/callback", summary="App callback (encrypted XML)")
async def app_receive(request: Request) -> Response:
    return await receive(request, request.app.state.runtime.app_channel)


@router.get("/wecom/aibot", response_class=PlainTextResponse, summary="Smart bot URL verification")
async def aibot_verify(request: Request) -> Response:
    return await verify_url(request, request.app.state.runtime.aibot_channel)


@router.post("/wecom/aibot", summary="Smart bot callback (encrypted JSON)")
async def aibot_receive(request: Request) -> Response:
    return await receive(request, request.app.state.runtime.aibot_channel)
