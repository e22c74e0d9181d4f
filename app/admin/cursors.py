"""Page cursors of the REST API (`?cursor=` in, `next_cursor` out).

A cursor names the last row of the page before: its id (`"1234"`), or for the moderation log its
time in microseconds since 1970 and its id (`"1764000000000000.42"`). Cursors are opaque to
callers, but their shape is in the OpenAPI document (`ID_CURSOR_PATTERN`, `LOG_CURSOR_PATTERN`),
and every string of that shape is a cursor the API accepts (it pages from that point), so the
document says exactly which requests are well formed. Anything else is answered 400.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import HTTPException, Query

__all__ = [
    "ID_CURSOR_PATTERN",
    "LOG_CURSOR_PATTERN",
    "IdCursor",
    "LogCursor",
    "decode_id_cursor",
    "decode_log_cursor",
    "encode_id_cursor",
    "encode_log_cursor",
]

# A row id (at most 18 digits: inside BIGINT); "" is no cursor (the first page).
ID_CURSOR_PATTERN = r"^([1-9][0-9]{0,17})?$"
# µs since 1970, a dot, a row id; "" is no cursor.
LOG_CURSOR_PATTERN = r"^((0|[1-9][0-9]{0,15})\.[1-9][0-9]{0,17})?$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BAD = "cursor is not one this API returned"

IdCursor = Annotated[
    str | None,
    Query(
        max_length=200,
        json_schema_extra={"pattern": ID_CURSOR_PATTERN},
        description="`next_cursor` of the page before",
    ),
]
LogCursor = Annotated[
    str | None,
    Query(
        max_length=200,
        json_schema_extra={"pattern": LOG_CURSOR_PATTERN},
        description="`next_cursor` of the page before",
    ),
]


def encode_id_cursor(row_id: int) -> str:
    return str(row_id)


def decode_id_cursor(cursor: str | None) -> int | None:
    """The row id of a cursor (None for none); 400 for a string of another shape."""
    if not cursor:
        return None
    if re.fullmatch(ID_CURSOR_PATTERN, cursor) is None:
        raise HTTPException(400, _BAD)
    return int(cursor)


def encode_log_cursor(created_at: datetime, row_id: int) -> str:
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{max(micros, 0)}.{row_id}"


def decode_log_cursor(cursor: str) -> tuple[datetime, int]:
    """(time, row id) of a moderation-log cursor; 400 for a string of another shape."""
    if re.fullmatch(LOG_CURSOR_PATTERN, cursor) is None:
        raise HTTPException(400, _BAD)
    micros, _, row_id = cursor.partition(".")
    return _EPOCH + timedelta(microseconds=int(micros)), int(row_id)
