"""Lexicon changes with their audit entries, shared by the REST API and the web console: an add
that changed the lexicon, a file imported (`import_audited`; the example word list that ships
with the service, `EXAMPLE_WORDS`, is one: the sandbox imports it with one click), and the
deletion of one word or phrase."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.lexicon import service
from app.models import LexiconWord
from moderation import AllowEntry, LexiconEntry

if TYPE_CHECKING:
    pass

__all__ = [
    "AUDITED_ENTRIES",
    "EXAMPLE_WORDS",
    "audit_added",
    "audit_imported",
    "delete_entry",
    "import_audited",
    "import_example",
]


AUDITED_ENTRIES = 50  # words or phrases named in one audit entry; the counts cover all
# the example word list (deploy/lexicon.example.txt is a link to it): docs/lexicon.md's format
EXAMPLE_WORDS = Path(__file__).with_name("example.txt")


async def audit_added(
    session: AsyncSession,
    action: str,
    result: service.WordsResult,
    *,
    actor: str,
    channel: audit.Channel,
    now: datetime,
) -> None:
    """Record an add that changed the lexicon (one entry per request, in its transaction):
    the REST API's and the web console's."""
    if not result.counts.changed:
        return
    changed = [
        {
            "id": change.row.id,
            "entry": change.row.word if isinstance(change.row, LexiconWord) else change.row.phrase,
            "scope": change.row.scope,
            "outcome": change.outcome.value,
        }
        for change in result.changes
        if change.outcome is not service.Outcome.UNCHANGED
    ]
    counts = result.counts
    await audit.record(
        session,
        actor=actor,
        channel=channel,
        action=action,
        target=f"lexicon.{action.split('.')[1]}",
        details={
            "added": counts.added,
            "updated": counts.updated,
            "lexicon_version": result.version,
            "entries": changed[:AUDITED_ENTRIES],
        },
        at=now,
    )


async def audit_imported(
    session: AsyncSession,
    result: service.ImportResult,
    *,
    name: str,
    actor: str,
    channel: audit.Channel,
    now: datetime,
) -> None:
    """Record a word or allow-list file imported (`lexicon.<kind>.import`, with its name and
    counts), whether or not it changed anything: who loaded which file is worth knowing."""
    kind = result.kind.value
    counts = result.counts
    await audit.record(
        session,
        actor=actor,
        channel=channel,
        action=f"lexicon.{kind}.import",
        target=f"lexicon.{kind}",
        details={
            "file": name,
            "added": counts.added,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "lexicon_version": result.version,
        },
        at=now,
    )


async def import_audited(
    session: AsyncSession,
    kind: service.ListKind,
    entries: Sequence[LexiconEntry] | Sequence[AllowEntry],
    *,
    name: str,
    content: bytes,
    actor: str,
    channel: audit.Channel,
    now: datetime,
) -> service.ImportResult:
    """Import a checked file (`service.check_list`) named `name` with its audit entry, in the
    caller's transaction: the console's upload and the sandbox's example list. The caller
    tells the replica's lexicon when it changed."""
    result = await service.import_entries(
        session,
        kind,
        entries,
        origin=f"{channel.value}:{name}",
        sha256=hashlib.sha256(content).hexdigest(),
        added_by=actor,
        source=channel.value,
        now=now,
    )
    await audit_imported(session, result, name=name, actor=actor, channel=channel, now=now)
    return result


async def import_example(
    session: AsyncSession, *, actor: str, channel: audit.Channel, now: datetime
) -> service.ImportResult:
    """Import the example word list (`EXAMPLE_WORDS`) as a file import does: missing words are
    added, a listed word the example gives another category, severity or mode is updated,
    nothing is deleted."""
    content = EXAMPLE_WORDS.read_bytes()
    checked = service.check_list(
        service.ListKind.WORDS, content.decode("utf-8"), source=EXAMPLE_WORDS.name
    )
    if checked.refused:  # the file ships with the service: a refused line is a bug here
        raise service.InvalidEntry("; ".join(checked.refused))
    return await import_audited(
        session,
        service.ListKind.WORDS,
        checked.entries,
        name=EXAMPLE_WORDS.name,
        content=content,
        actor=actor,
        channel=channel,
        now=now,
    )


async def delete_entry(
    session: AsyncSession,
    kind: str,
    entry_id: int,
    *,
    actor: str,
    channel: audit.Channel,
    now: datetime,
) -> int:
    """Delete one word (`kind` "words") or allow-list phrase ("allow") with its audit entry;
    the new lexicon version. Raises service.EntryNotFound. The REST API's and the console's."""
    delete = service.delete_word if kind == "words" else service.delete_allow
    version = await delete(session, entry_id, now=now)
    await audit.record(
        session,
        actor=actor,
        channel=channel,
        action=f"lexicon.{kind}.delete",
        target=f"lexicon.{kind}:{entry_id}",
        details={"id": entry_id, "lexicon_version": version},
        at=now,
    )
    return version
