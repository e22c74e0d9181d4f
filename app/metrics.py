"""Prometheus metrics of one replica, written in the text exposition format 0.0.4.

Each part of the service keeps its own counts as a plain `collections.Counter` (so `bot/` needs
nothing from here); `collect` reads them when `/metrics` is scraped, together with gauges
read from the database at that moment. Counts live in the process: every replica exposes its
own, they start at 0 when it starts, and Prometheus sums them across replicas
(`sum by (outcome) (rate(wecom_mod_callbacks_total[5m]))`). The database gauges are the same on
every replica (take `max`, not `sum`); the archive lag comes only from the replica pulling.

Where each count is kept and when it grows:

- `wecom_mod_callbacks_total{channel, outcome}`: `Runtime.callback_answers`, once per answer
  of `app/ingest/callbacks.py` (outcomes: `CALLBACK_OUTCOMES`);
- `wecom_mod_decisions_total{verdict, mode}`: `InboxProcessor.decisions`, once per judged
  message, when its transaction commits (a batch redone one by one is not counted twice);
- `wecom_mod_wecom_errors_total{api, errcode}`: `bot.client.WeComClient.failures`, once per
  failed outbound call (the errcode, or the cause: timeout, network, http_5xx, …);
- `wecom_mod_archive_records_total{outcome}`: `ArchivePoller.totals`, when a batch commits;
- `wecom_mod_archive_lag_seconds`: now − `ArchivePoller.caught_up_at` (the start of its last
  pass that reached the end of the archive), on the replica holding the lease only;
- `wecom_mod_outbox_actions{status, kind}`, `wecom_mod_outbox_oldest_pending_age_seconds`
  (0: nothing waits): read from the database at scrape;
- `wecom_mod_database_up`: 1 when the database answered those reads, else 0.

A database that does not answer within `DATABASE_TIMEOUT_SECONDS` leaves its gauges out and
sets `wecom_mod_database_up 0`; the scrape still succeeds with the in-process counts.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.repositories import outbox as outbox_repo
from bot.errors import (
    CallbackError,
    DecryptionFailed,
    MalformedMessage,
    MalformedRequest,
    PayloadTooLarge,
    ReceiveIdMismatch,
    SignatureMismatch,
    StaleTimestamp,
)

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = [
    "CONTENT_TYPE",
    "DATABASE_TIMEOUT_SECONDS",
    "Family",
    "callback_outcome",
    "collect",
    "render",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DATABASE_TIMEOUT_SECONDS = 3.0  # longest a scrape waits for the database's gauges

# The outcome label of a refused callback, by the error refusing it (most specific first).
_REFUSALS: tuple[tuple[type[CallbackError], str], ...] = (
    (PayloadTooLarge, "too_large"),
    (SignatureMismatch, "bad_signature"),
    (StaleTimestamp, "stale_timestamp"),
    (ReceiveIdMismatch, "bad_receiver"),
    (DecryptionFailed, "undecryptable"),
    (MalformedRequest, "bad_request"),
    (MalformedMessage, "bad_request"),
)
# Every outcome of a callback answer (`wecom_mod_callbacks_total`).
CALLBACK_OUTCOMES = (
    "accepted",  # POST stored: 200
    "duplicate",  # POST already stored (WeCom's retry): 200
    "verified",  # GET URL verification answered with the echostr: 200
    "off",  # the channel is not configured: 404
    "unavailable",  # the database could not store it: 503
    "refused",  # any other CallbackError
    "error",  # an unexpected error: 500
    *dict.fromkeys(outcome for _, outcome in _REFUSALS),
)


def callback_outcome(error: CallbackError) -> str:
    """The `outcome` label of a callback refused with `error`."""
    for kind, outcome in _REFUSALS:
        if isinstance(error, kind):
            return outcome
    return "refused"


@dataclass
class Family:
    """One metric: its samples by label values (in the order of `labels`)."""

    name: str
    kind: Literal["counter", "gauge"]
    help: str
    labels: tuple[str, ...] = ()
    samples: dict[tuple[str, ...], float] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        name: str,
        kind: Literal["counter", "gauge"],
        help: str,
        labels: tuple[str, ...],
        counts: Iterable[tuple[tuple[str, ...], float]],
    ) -> Family:
        """A family of `counts`: (label values, value) pairs, e.g. a Counter's `items()`."""
        return cls(name, kind, help, labels, dict(counts))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """The exposition text (format 0.0.4) of `families`: HELP, TYPE, then sorted samples."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for values, value in sorted(family.samples.items()):
            if len(values) != len(family.labels):
                raise ValueError(f"{family.name}: {len(values)} label value(s) for {family.labels}")
            labels = ",".join(
                f'{name}="{_escape_label(str(part))}"'
                for name, part in zip(family.labels, values, strict=True)
            )
            lines.append(
                f"{family.name}{{{labels}}} {_number(value)}"
                if labels
                else f"{family.name} {_number(value)}"
            )
    return "\n".join(lines) + "\n"


def _in_process(runtime: Runtime, now: datetime) -> list[Family]:
    families = [
        Family.of(
            "wecom_mod_callbacks_total",
            "counter",
            "WeCom callback answers of this replica, by channel (app, aibot) and outcome.",
            ("channel", "outcome"),
            runtime.callback_answers.items(),
        ),
        Family.of(
            "wecom_mod_decisions_total",
            "counter",
            "Messages judged by this replica, by verdict (remove, warn, alert, exempt, log, "
            "none) and group mode (enforce, shadow).",
            ("verdict", "mode"),
            runtime.processor.decisions.items(),
        ),
        Family.of(
            "wecom_mod_wecom_errors_total",
            "counter",
            "Failed outbound WeCom API calls of this replica, by API path and errcode (or "
            "timeout, network, http_5xx, http_429, http_4xx, bad_answer).",
            ("api", "errcode"),
            runtime.client.failures.items(),
        ),
    ]
    archive = runtime.archive
    if archive is not None:
        totals = archive.totals
        families.append(
            Family.of(
                "wecom_mod_archive_records_total",
                "counter",
                "Chat-archive records pulled by this replica, by outcome (stored, duplicate, "
                "skipped: not moderated, failed: unreadable).",
                ("outcome",),
                [
                    (("stored",), totals.stored),
                    (("duplicate",), totals.duplicates),
                    (("skipped",), totals.skipped),
                    (("failed",), totals.failed),
                ],
            )
        )
        lag = Family(
            "wecom_mod_archive_lag_seconds",
            "gauge",
            "Seconds since this replica last pulled the chat archive to its end (only on the "
            "replica holding the archive lease).",
        )
        if archive.holding and archive.caught_up_at is not None:
            lag.samples[()] = max((now - archive.caught_up_at).total_seconds(), 0.0)
        families.append(lag)
    return families


async def _outbox_gauges(
    sessions: async_sessionmaker[AsyncSession], now: datetime
) -> tuple[list[tuple[str, str, int]], float]:
    async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), sessions() as session:
        counts = await outbox_repo.counts(session)
        oldest = await outbox_repo.oldest_pending(session)
    age = 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)
    return counts, age


async def collect(runtime: Runtime) -> list[Family]:
    """Every metric of this replica now: in-process counts and the database's gauges."""
    now = runtime.now()
    families = _in_process(runtime, now)
    actions = Family(
        "wecom_mod_outbox_actions",
        "gauge",
        "Outbound actions in the database, by status and kind (the same on every replica).",
        ("status", "kind"),
    )
    oldest = Family(
        "wecom_mod_outbox_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest outbound action not carried out yet (pending or sending); 0: none.",
    )
    up = Family(
        "wecom_mod_database_up", "gauge", "1 when the database answered this scrape, else 0."
    )
    try:
        counts, age = await _outbox_gauges(runtime.sessions, now)
    except (SQLAlchemyError, OSError, TimeoutError):
        up.samples[()] = 0
    else:
        up.samples[()] = 1
        for status, kind, count in counts:
            actions.samples[(status, kind)] = count
        oldest.samples[()] = age
    return [*families, actions, oldest, up]
