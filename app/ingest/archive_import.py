"""Replay of decrypted chat-archive records: `wecom-mod archive import FILE.jsonl [--shadow]`.

Each line of the file is one record as DecryptData returns it (doc 91774; a JSON object with
msgid, action, from, tolist, roomid, msgtime, msgtype and the type's payload). Records go through
the service's own pipeline: stored in the inbox under the poller's key (`archive:<msgid>`), then
judged by `InboxProcessor`, in chunks of `CHUNK` records, in file order (flood windows use the
records' own times, so the file should be in time order, as the archive is).

- A line that is not such a record is reported with its number and skipped; the import goes on.
- Re-importing a file adds nothing: a msgid already in the inbox is not judged again.
- `--shadow` judges as if every enforcing group were in shadow mode: decisions and shadow
  strikes are logged, no action is queued, so nothing is ever sent. This is how a policy is
  tried on last week's traffic. Run it against its own database (DATABASE_URL of a copy or a
  scratch one): on the live database the records would count as seen, and a running service's
  inbox worker could judge them for real first. It refuses when a replica holds the archive
  lease of this corp in the database.
- Without `--shadow`, actions are queued in the outbox like the poller's; a running
  `wecom-mod serve` sends them (this command does not).
- The inbox is run until it is idle, as a replica's inbox worker would: events that were
  already pending (callbacks a stopped service left) are handled too, and not counted here.

The judged messages fill the community-health rollups of their own days (`app.health.rollup`),
so months of history show at once; days older than HEALTH_RETENTION_DAYS are pruned by the next
pass of a replica's inbox worker.

The summary counts what was read, stored and judged, the findings by detector, the decisions by
verdict and by action, the members flagged most, and the health rollup days filled.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.health.rollup import RollupConfig, day_of
from app.ingest.archive import store_message
from app.judging.events import ARCHIVE_SKIPS, archive_chat_id, archive_skip_reason, is_recall
from app.judging.processing import InboxProcessor
from app.lexicon.runtime import LexiconHolder, LexiconReloader
from app.models import ModerationLog
from app.repositories import archive as archive_repo
from app.repositories import moderation_log as log_repo
from app.runtime import moderation_context, word_files
from app.settings import Settings, SettingsError
from bot.archive import ArchiveMessage, parse_archive_message
from bot.errors import ArchiveRecordError

__all__ = ["CHUNK", "ImportSummary", "import_records", "read_records"]

log = logging.getLogger(__name__)

CHUNK = 1000  # records stored, then judged, at a time
SHOWN_BAD_LINES = 20  # bad lines reported one by one; the rest are only counted
TOP_OFFENDERS = 10


@dataclass(frozen=True, slots=True)
class BadLine:
    number: int  # 1-based line number in the file
    reason: str


@dataclass
class ImportSummary:
    """What an import read, stored and decided."""

    path: str
    shadow: bool
    lines: int = 0  # non-blank lines
    records: int = 0  # lines that are archive records
    bad_lines: list[BadLine] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # ARCHIVE_SKIPS key → records
    recalls: int = 0
    stored: int = 0  # new inbox events
    already_stored: int = 0  # msgid already in the database: not judged again
    judged_by_type: Counter[str] = field(default_factory=Counter)  # msgtype → messages judged
    failed: int = 0  # events the pipeline could not handle (kept as failed in the inbox)
    flagged: int = 0  # moderation log rows
    findings_by_detector: Counter[str] = field(default_factory=Counter)
    rules_by_detector: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    verdicts: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    offenders: Counter[str] = field(default_factory=Counter)  # user id → flagged messages
    offender_verdicts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    offender_chats: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    queued: int = 0  # outbox rows added for the imported messages
    # (chat, day) of the judged messages: the community-health rollups they filled
    health_days: set[tuple[str, int]] = field(default_factory=set)
    retention_days: int = 0  # HEALTH_RETENTION_DAYS: older days are pruned
    today: int = 0  # the day number of the import (HEALTH_TIMEZONE)

    @property
    def judged(self) -> int:
        return sum(self.judged_by_type.values())

    def render(self) -> list[str]:
        mode = "shadow: decisions logged, nothing queued or sent" if self.shadow else "enforce"
        lines = [
            f"archive import of {self.path} ({mode})",
            f"  lines: {self.lines}, records: {self.records}, bad lines skipped: "
            f"{len(self.bad_lines)}",
        ]
        not_judged = [
            f"{count} {ARCHIVE_SKIPS[reason]}" for reason, count in sorted(self.skipped.items())
        ]
        if self.recalls:
            not_judged.append(f"{self.recalls} recall(s)")
        if not_judged:
            lines.append("  not judged: " + "; ".join(not_judged))
        lines.append(
            f"  stored: {self.stored} new, {self.already_stored} already in the database "
            "(not judged again)"
        )
        lines.append(f"  messages judged: {self.judged}" + _counts(self.judged_by_type))
        if self.failed:
            lines.append(f"  failed: {self.failed} (see last_error in inbox_events)")
        lines.append(f"  flagged: {self.flagged}")
        if self.findings_by_detector:
            lines.append("  findings by detector:")
            for detector, count in self.findings_by_detector.most_common():
                lines.append(f"    {detector}: {count}" + _counts(self.rules_by_detector[detector]))
        lines.append("  decisions by verdict:" + (_counts(self.verdicts, bare=True) or " none"))
        lines.append("  decisions by action:" + (_counts(self.actions, bare=True) or " none"))
        if self.offenders:
            lines.append("  top offenders:")
            for user, count in self.offenders.most_common(TOP_OFFENDERS):
                chats = sorted(self.offender_chats[user])
                where = ", ".join(chats[:3]) + (
                    f" and {len(chats) - 3} more" if len(chats) > 3 else ""
                )
                lines.append(
                    f"    {user}: {count} flagged in {where}"
                    + _counts(self.offender_verdicts[user])
                )
        lines.append("  health rollups: " + self._health())
        if self.shadow:
            lines.append(f"  actions queued: {self.queued}")
        else:
            lines.append(
                f"  actions queued: {self.queued} (a running `wecom-mod serve` sends them)"
            )
        return lines

    def _health(self) -> str:
        if not self.health_days:
            return "no day filled"
        days = sorted(day for _chat, day in self.health_days)
        groups = len({chat for chat, _day in self.health_days})
        text = (
            f"{len(self.health_days)} group-day(s) of {groups} group(s), "
            f"{day_of(days[0])} to {day_of(days[-1])}"
        )
        old = sum(1 for day in days if day <= self.today - self.retention_days)
        if old:
            text += (
                f" ({old} older than HEALTH_RETENTION_DAYS={self.retention_days}, "
                "pruned at the next pass)"
            )
        return text


def _counts(counter: Counter[str], *, bare: bool = False) -> str:
    """ " (a 3, b 1)" (or " a 3, b 1" when bare); "" when empty."""
    if not counter:
        return ""
    inner = ", ".join(f"{key} {count}" for key, count in counter.most_common())
    return f" {inner}" if bare else f" ({inner})"


def read_records(
    lines: Iterator[str], on_bad: Callable[[BadLine], None]
) -> Iterator[tuple[ArchiveMessage, dict[str, Any]]]:
    """The records of a JSON-lines text, parsed; each bad line goes to `on_bad`."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            plaintext = json.loads(line)
        except json.JSONDecodeError as exc:
            on_bad(BadLine(number, f"not JSON ({exc.msg} at column {exc.colno})"))
            continue
        except (ValueError, RecursionError):
            on_bad(BadLine(number, "not JSON (nested too deep or not decodable)"))
            continue
        try:
            message = parse_archive_message(plaintext)
        except ArchiveRecordError as exc:
            on_bad(BadLine(number, exc.reason))
            continue
        yield message, plaintext


async def import_records(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    shadow: bool,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    report: TextIO | None = None,
) -> ImportSummary:
    """Store and judge every record of `path` (see the module docstring). Bad lines are
    written to `report` as they are met. Raises SettingsError when the file cannot be read or
    a shadow replay would share the database with a running poller."""
    list_files = word_files(settings)
    context_holder = LexiconHolder()
    context = moderation_context(settings, context_holder)
    if shadow and settings.wecom_corp_id:
        async with sessions() as session:
            lease = await archive_repo.lease(session, settings.wecom_corp_id)
        if lease is not None and lease.expires_at > clock():
            raise SettingsError(
                f"DATABASE_URL: replica {lease.holder} is pulling the chat archive into this "
                "database (its lease runs until "
                f"{lease.expires_at:%Y-%m-%d %H:%M:%S} UTC); its inbox worker could judge the "
                "replayed records for real. Replay in shadow against a copy or a scratch "
                "database"
            )
    reloader = LexiconReloader(sessions, context_holder, clock=clock, imports=list_files)
    await reloader.reload_if_changed()
    processor = InboxProcessor(
        sessions,
        context,
        clock=clock,
        force_shadow=shadow,
        archive_include_direct=settings.archive_include_direct,
    )
    summary = ImportSummary(
        path=str(path),
        shadow=shadow,
        retention_days=context.rollups.retention_days,
        today=context.rollups.day(clock()),
    )

    def bad(line: BadLine) -> None:
        summary.bad_lines.append(line)
        if report is not None and len(summary.bad_lines) <= SHOWN_BAD_LINES:
            print(f"{path}:{line.number}: skipped: {line.reason}", file=report)

    include_direct = settings.archive_include_direct
    event_ids: list[int] = []
    try:
        file = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise SettingsError(f"FILE: cannot read {path}: {exc.strerror}") from None
    with file:
        chunk: list[tuple[ArchiveMessage, dict[str, Any]]] = []
        try:
            for item in read_records(_count_lines(file, summary), bad):
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    event_ids += await _store_and_judge(
                        sessions, processor, chunk, summary, clock, include_direct, context.rollups
                    )
                    chunk = []
        except UnicodeDecodeError as exc:
            raise SettingsError(f"FILE: {path} is not UTF-8 text: {exc.reason}") from None
        if chunk:
            event_ids += await _store_and_judge(
                sessions, processor, chunk, summary, clock, include_direct, context.rollups
            )
    if report is not None and len(summary.bad_lines) > SHOWN_BAD_LINES:
        print(
            f"{path}: {len(summary.bad_lines) - SHOWN_BAD_LINES} more bad line(s) skipped",
            file=report,
        )
    await _tally_decisions(sessions, event_ids, summary)
    return summary


def _count_lines(lines: TextIO, summary: ImportSummary) -> Iterator[str]:
    for line in lines:
        if line.strip():
            summary.lines += 1
        yield line


async def _store_and_judge(
    sessions: async_sessionmaker[AsyncSession],
    processor: InboxProcessor,
    chunk: list[tuple[ArchiveMessage, dict[str, Any]]],
    summary: ImportSummary,
    clock: Callable[[], datetime],
    include_direct: bool,
    rollups: RollupConfig,
) -> list[int]:
    """Store a chunk in one transaction, then run the inbox until it is idle."""
    stored: list[tuple[int, ArchiveMessage]] = []
    async with sessions() as session, session.begin():
        now = clock()
        for message, plaintext in chunk:
            summary.records += 1
            skip = archive_skip_reason(message, include_direct=include_direct)
            if skip:
                summary.skipped[skip] += 1
                continue
            event_id = await store_message(session, message, plaintext, now=now)
            if event_id is None:
                summary.already_stored += 1
                continue
            summary.stored += 1
            stored.append((event_id, message))
    while await processor.process_pending():
        pass
    for _event_id, message in stored:
        if is_recall(message):
            summary.recalls += 1
        else:
            summary.judged_by_type[message.msg_type] += 1
            summary.health_days.add((archive_chat_id(message), rollups.day(message.sent_at)))
    return [event_id for event_id, _ in stored]


async def _tally_decisions(
    sessions: async_sessionmaker[AsyncSession], event_ids: list[int], summary: ImportSummary
) -> None:
    async with sessions() as session:
        entries = await archive_repo.logs_of_events(session, event_ids)
        summary.failed = await archive_repo.failed_events(session, event_ids)
        actions = await log_repo.actions_for(session, [entry.id for entry in entries])
    summary.queued = sum(len(rows) for rows in actions.values())
    for entry in entries:
        _tally(entry, summary)


def _tally(entry: ModerationLog, summary: ImportSummary) -> None:
    summary.flagged += 1
    summary.verdicts[entry.verdict] += 1
    for action in entry.actions or ():
        summary.actions[str(action)] += 1
    for finding in entry.findings or ():
        if not isinstance(finding, dict):
            continue
        detector = str(finding.get("detector", "?"))
        summary.findings_by_detector[detector] += 1
        rule = finding.get("rule") or finding.get("category") or "?"
        summary.rules_by_detector[detector][str(rule)] += 1
    summary.offenders[entry.user_id] += 1
    summary.offender_verdicts[entry.user_id][entry.verdict] += 1
    summary.offender_chats[entry.user_id].add(entry.chat_id)
