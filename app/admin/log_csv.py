"""The moderation log as CSV, streamed a batch at a time: the REST export and the web console's.
Cells that a spreadsheet would read as a formula are quoted (`csv_cell`)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.models import ModerationLog
from app.repositories import moderation_log as log_repo
from app.repositories.reports import finding_rule

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = ["CSV_COLUMNS", "EXPORT_BATCH", "csv_cell", "csv_lines"]


EXPORT_BATCH = 500  # rows read per query while streaming an export


CSV_COLUMNS = (
    "id",
    "time",
    "chat_id",
    "user_id",
    "verdict",
    "step",
    "strikes",
    "mode",
    "rules",
    "reason",
    "text",
)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell as text, with a leading `'` when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _csv_row(row: ModerationLog) -> list[str]:
    rules: list[str] = []
    for finding in row.findings or ():
        if isinstance(finding, dict):
            rule = finding_rule(finding)
            if rule not in rules:
                rules.append(rule)
    return [
        str(row.id),
        row.created_at.astimezone(UTC).isoformat(),
        csv_cell(row.chat_id),
        csv_cell(row.user_id),
        csv_cell(row.verdict),
        csv_cell(row.step),
        str(row.strikes),
        csv_cell(row.mode),
        csv_cell(" ".join(rules)),
        csv_cell(row.reason),
        csv_cell(row.text),
    ]


async def csv_lines(runtime: Runtime, filters: log_repo.LogFilter) -> AsyncIterator[str]:
    """The rows `filters` selects as CSV text, oldest first, a batch at a time (one short
    session per batch): the REST export and the console's."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    after: tuple[datetime, int] | None = None
    while True:
        async with runtime.sessions() as session:
            rows = await log_repo.oldest_first(session, filters, limit=EXPORT_BATCH, after=after)
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            writer.writerow(_csv_row(row))
        yield buffer.getvalue()
        if len(rows) < EXPORT_BATCH:
            return
        after = (rows[-1].created_at, rows[-1].id)
