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

The text formatter keeps every record on one line: control characters and Unicode line
separators in the message (a chat id or user id holding a newline, say) are written as escapes
(`\\n`, `\\x1b`, `\\u2028`), so no input can forge a line of its own; a traceback's lines
follow the record's line, each indented by two spaces (`exc` in JSON, which escapes anyway).

Two pieces keep secrets out of every format, whatever the code that logs: `SecretMask` (the
handler's formatter) replaces each configured secret (`Settings.secret_values`) wherever it
appears in a line, and `AccessLogRedactor` (on `uvicorn.access`) replaces the value of every
query parameter that the service does not read itself (`?access_token=…`, `?api_key=…`: a
caller's guess at where a token goes) with `***`, before uvicorn's access line is written.
Outbound calls' secrets are masked in the `httpx` log by `bot.client._SecretQueryRedactor`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import unquote_plus

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LOG_FORMATS",
    "REQUEST_ID_HEADER",
    "AccessLogRedactor",
    "JsonFormatter",
    "LogContextFilter",
    "RequestIdMiddleware",
    "SecretMask",
    "TextFormatter",
    "configure_logging",
    "current_event_id",
    "current_request_id",
    "escape_controls",
    "event_context",
    "install_access_log_redactor",
    "sane_request_id",
]

LOG_FORMATS = ("text", "json")
REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_CHARS = 64
# Visible ASCII only: no spaces, no control characters (a newline would forge a log line).
_SANE_REQUEST_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_REQUEST_ID_CHARS}}}")
_TEXT_LAYOUT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: what a terminal or a
# log shipper may take for the end of a line (tab is kept: it ends none).
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r"}
MASK = "***"
_JSON_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})

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


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` on one line: newlines, other control characters and line separators escaped."""
    return _CONTROLS.sub(_escape, text)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, then ` [request_id=…]` and ` [event_id=…]` when set; the
    message on one line (`escape_controls`), a traceback's lines indented below it."""

    def __init__(self) -> None:
        super().__init__(_TEXT_LAYOUT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = escape_controls(super().formatMessage(record))
        for name, value in _ids(record).items():
            line += f" [{name}={escape_controls(value)}]"
        return line

    def formatException(self, ei: Any) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    """Each line of a traceback two spaces in, its own control characters escaped: a line of
    the log that starts at column 0 is always a record's first line."""
    return "\n".join("  " + escape_controls(line) for line in text.splitlines())


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in the message are escaped, and so
    are the Unicode line breaks U+0085, U+2028 and U+2029)."""

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
        line = json.dumps(entry, ensure_ascii=False, default=str)
        # JSON may hold these raw, but readers that split on Unicode line breaks would not.
        return line.translate(_JSON_LINE_BREAKS)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of LOG_FORMAT (`text` or `json`)."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")


class SecretMask(logging.Formatter):
    """Another formatter's output with every one of `secrets` (the configured tokens and keys)
    replaced by `***`, wherever it appears: the message, the ids, a traceback, in either
    format (a secret as JSON writes it too)."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        forms = set()
        for secret in secrets:
            if len(secret) >= 4:
                forms.add(secret)
                forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        # Longest first, so that a secret containing another is masked whole.
        self._secrets = sorted(forms, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


class AccessLogRedactor(logging.Filter):
    """On `uvicorn.access`: the request target's query values are kept only for parameters
    named in `known` (those the service reads: the REST API's filters, the callbacks'
    signature fields); any other value is replaced with `***`. A token sent as
    `?access_token=…` is refused with 401 and must not be written to the log either."""

    def __init__(self, known: Iterable[str]) -> None:
        super().__init__()
        self.known = frozenset(known)

    def redact(self, target: str) -> str:
        path, mark, query = target.partition("?")
        if not mark:
            return target
        pairs = []
        for pair in query.split("&"):
            name, equals, _value = pair.partition("=")
            if equals and unquote_plus(name) not in self.known:
                pairs.append(f"{name}={MASK}")
            elif not equals and pair and unquote_plus(pair) not in self.known:
                pairs.append(MASK)  # a bare value (`?<token>`) is as secret as any
            else:
                pairs.append(pair)
        return f"{path}?{'&'.join(pairs)}"

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs '%s - "%s %s HTTP/%s" %d' with (client, method, target, version, status)
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], self.redact(args[2]), *args[3:])
        return True


def install_access_log_redactor(known: Iterable[str]) -> None:
    """Put one `AccessLogRedactor` on `uvicorn.access` (replacing an earlier one): the query
    parameters the service reads are `known`."""
    logger = logging.getLogger("uvicorn.access")
    for old in [f for f in logger.filters if isinstance(f, AccessLogRedactor)]:
        logger.removeFilter(old)
    logger.addFilter(AccessLogRedactor(known))


def configure_logging(
    level: str,
    log_format: str = "text",
    *,
    stream: IO[str] | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """One handler on the root logger, in LOG_FORMAT, with the ids and `secrets` masked (like
    `logging.basicConfig`, it does nothing when the root logger has a handler already)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(SecretMask(formatter_for(log_format), secrets))
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
