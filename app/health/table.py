"""A list of groups' health as a plain-text table (`wecom-mod health`): one line per group with
its grade, what decided it and the main figures, columns padded for a terminal (CJK names
count two columns)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime

from app.health.metrics import DecidingFigure
from app.health.service import UNGRADED, GroupHealth

__all__ = ["health_table"]

_HEADER = (
    "grade",
    "chat_id",
    "name",
    "msgs",
    "staff",
    "silent_d",
    "speakers",
    "top2",
    "bus",
    "activ",
    "churn",
    "shop",
    "noise",
    "decided by",
)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def _decided(figure: DecidingFigure) -> str:
    value = f"{figure.value:.2f}".rstrip("0").rstrip(".")
    if figure.threshold is None:
        return f"{figure.name}={value}"
    threshold = f"{figure.threshold:.2f}".rstrip("0").rstrip(".")
    return f"{figure.name}={value} (limit {threshold})"


def health_table(items: Sequence[GroupHealth], *, days: int, computed_at: datetime) -> list[str]:
    """The header, one line per group, and a closing line with the count."""
    rows = [_HEADER]
    for item in items:
        f = item.health.figures
        grade = item.health.grade.value if item.health.grade is not None else UNGRADED
        speakers = "-" if f.speakers is None else f"{f.speakers}/{f.members}"
        rows.append(
            (
                grade if f.coverage.value == "full" else f"{grade} ({f.coverage.value})",
                item.chat_id,
                item.name or "-",
                _number(f.member_messages),
                _number(f.staff_messages),
                _number(f.days_since_member_message),
                speakers,
                _share(f.top2_share),
                _number(f.bus_factor),
                _share(f.activation),
                _share(f.churn),
                _share(f.shop),
                _share(f.noise),
                "; ".join(_decided(figure) for figure in item.health.decided_by) or "-",
            )
        )
    widths = [max(_width(row[column]) for row in rows) for column in range(len(_HEADER))]
    lines = [
        "  ".join(_pad(cell, widths[n]) for n, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.append(
        f"{len(items)} group(s), the last {days} day(s), computed {computed_at:%Y-%m-%d %H:%M} UTC"
    )
    return lines
