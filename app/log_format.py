"""Log lines that say which request or inbox event they belong to, as text or as JSON.

Two context variables hold the ids: `request_id` (set by `RequestIdMiddleware` for one HTTP
request, taken from a sane incoming `X-Request-ID` or made up, and sent back in the response's
`X-Request-ID`) and `event_id` (set by `event_context` while the inbox processor handles one
inbox row: the row's id). `LogContextFilter` copies them onto every record as it is emitted,
so any formatter can show them; a record that already has one (`extra={"event_id": …}`) keeps
its own.

`LOG_FORMAT=text` (the default) writes `time LEVEL logger: message [request_id=…] [event_id=…]`;
`LOG_FORMAT=json` writes one JSON object per line: `time` (ISO 8601, UTC), `level`, `logger`,
`message`, `request_id` and `event_id` when set, `exc` (the traceback) when there is one.
Uvicorn's access log (`uvicorn.access`) has no handler of its own under `wecom-mod serve`, so it
reaches the same handler; it is written while the request's id is set, so it carries it too.

The formatters change layout only: what a message holds (secrets masked, see
`bot.client._SecretQueryRedactor`) is decided where it is logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LOG_FORMATS",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "LogContextFilter",
    "RequestIdMiddleware",
    "TextFormatter",
    "configure_logging",
    "current_event_id",
    "current_request_id",
    "event_context",
    "sane_request_id",
]

LOG_FORMATS = ("text", "json")
REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_CHARS = 64
# Visible ASCII only: no spaces, no control characters (a newline would forge a log line).
_SANE_REQUEST_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_REQUEST_ID_CHARS}}}")
_TEXT_LAYOUT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_request_id: ContextVar[str | None] = ContextVar("wecom_mod_request_id", default=None)
_event_id: ContextVar[str | None] = ContextVar("wecom_mod_event_id", default=None)


def current_request_id() -> str | None:
    """The id of the HTTP request being served, None outside one."""
    return _request_id.get()


def current_event_id() -> str | None:
    """The id of the inbox event being handled, None outside one."""
    return _event_id.get()


@contextmanager
def event_context(event_id: str) -> Iterator[None]:
    """Every log line written inside carries `event_id`."""
    token = _event_id.set(event_id)
    try:
        yield
    finally:
        _event_id.reset(token)


def sane_request_id(value: str | None) -> str | None:
    """`value` when it may be used as a request id (1–64 visible ASCII characters), else None."""
    if value is None or _SANE_REQUEST_ID.fullmatch(value) is None:
        return None
    return value


class LogContextFilter(logging.Filter):
    """Puts `request_id` and `event_id` on each record (None when not set). Install it on the
    handler: it runs in the context of the code that logs, where the ids are set."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        if getattr(record, "event_id", None) is None:
            record.event_id = _event_id.get()
        return True


def _ids(record: logging.LogRecord) -> dict[str, str]:
    """The record's ids that are set; read from the context when no filter has run."""
    found = {}
    for name, var in (("request_id", _request_id), ("event_id", _event_id)):
        value = getattr(record, name, None)
        if value is None:
            value = var.get()
        if value is not None:
            found[name] = str(value)
    return found


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, then ` [request_id=…]` and ` [event_id=…]` when set."""

    def __init__(self) -> None:
        super().__init__(_TEXT_LAYOUT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        for name, value in _ids(record).items():
            line += f" [{name}={value}]"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in the message are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_ids(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of LOG_FORMAT (`text` or `json`)."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")


def configure_logging(
    level: str, log_format: str = "text", *, stream: IO[str] | None = None
) -> None:
    """One handler on the root logger, in LOG_FORMAT, with the ids (like `logging.basicConfig`,
    it does nothing when the root logger has a handler already)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_for(log_format))
    handler.addFilter(LogContextFilter())
    logging.basicConfig(level=level, handlers=[handler])


class RequestIdMiddleware:
    """Gives every HTTP request an id: its `X-Request-ID` when sane, else a new uuid4 hex.
    The id is set for the log lines of the request and sent back as `X-Request-ID`.

    A request that raises keeps its id set for the error handler's log line (Starlette's
    outermost middleware writes it after this one returns); each request runs in a context of
    its own under uvicorn, so the id goes no further."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = sane_request_id(incoming) or uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = _request_id.set(request_id)
        await self.app(scope, receive, send_with_id)
        _request_id.reset(token)
