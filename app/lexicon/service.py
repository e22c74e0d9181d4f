"""Changing and reading the lexicon in the database: one implementation behind the REST API,
the command line, the start-up import of LEXICON_PATH / LEXICON_ALLOW_PATH and chat commands.

A word is identified by `(fold(word), scope)` and an allow-list phrase by `(fold(phrase),
scope)`: adding one that exists updates its category, severity and mode (reported as
`updated`, or `unchanged` when they are equal); it is not an error. Within one request,
entries with the same key collapse to one, spelt as first given: the category, severity and
mode of the strictest severity win, then those of the first.

Every change takes the lexicon lock first (`repositories.lexicon.lock`) and bumps
`lexicon_state.version` in the same transaction when something changed, so every replica sees
the change as one new version. Functions flush and never commit; the caller owns the
transaction.

A category is a built-in one or a word list's own label (涉毒), stored as written; a severity
may be given as 1–3 (log, review, block): see `moderation.lexicon`. An allow-list phrase added
from an overturned decision remembers it (`lexicon_allow.source_log_id`; `add_allow`).

Errors (all leave the database unchanged):

    LexiconError
     ├── InvalidEntry     bad input: empty, too long, a category label or severity that cannot
     │                    be one, nothing left after folding
     └── EntryNotFound    no word or phrase with that id
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import WecomModError
from app.models import LexiconAllow, LexiconWord
from app.repositories import lexicon as repo
from moderation import (
    AllowEntry,
    Category,
    Decision,
    Finding,
    LexiconEntry,
    LexiconFormatError,
    MatchMode,
    SensitiveWordMatcher,
    Severity,
    decide,
    fold,
    parse_allow_list,
    parse_lexicon,
)
from moderation.lexicon import MAX_SCOPE_LENGTH, MAX_WORD_LENGTH, category_of, severity_of
from moderation.matcher import Dropped

__all__ = [
    "MAX_FOLDED_LENGTH",
    "AllowChange",
    "CheckedList",
    "Counts",
    "EntryNotFound",
    "ImportResult",
    "InvalidEntry",
    "LexiconError",
    "ListKind",
    "LoadedLexicon",
    "Outcome",
    "Page",
    "TextCheck",
    "WordChange",
    "WordList",
    "WordsResult",
    "add_allow",
    "add_words",
    "allow_entry",
    "check_list",
    "check_text",
    "delete_allow",
    "delete_word",
    "export_allow",
    "export_words",
    "import_entries",
    "import_lists",
    "import_text",
    "list_allow",
    "list_words",
    "load_lexicon",
    "parse_category",
    "parse_list",
    "parse_severity",
    "word_entry",
]

MAX_FOLDED_LENGTH = 256  # characters of a folded word (the column's width)


MAX_TEST_TEXT = 10_000  # characters of a text to test


class LexiconError(WecomModError):
    """Root of the lexicon service's errors; the message is one line for a human."""


class InvalidEntry(LexiconError):
    """The input cannot be stored as it is; nothing was changed."""


class EntryNotFound(LexiconError):
    """No word or allow-list phrase has that id."""


class ListKind(StrEnum):
    WORDS = "words"
    ALLOW = "allow"


class Outcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"  # it existed with another category, severity or mode
    UNCHANGED = "unchanged"  # it existed exactly so


@dataclass(frozen=True, slots=True)
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> Counts:
        listed = list(outcomes)
        return cls(
            added=listed.count(Outcome.ADDED),
            updated=listed.count(Outcome.UPDATED),
            unchanged=listed.count(Outcome.UNCHANGED),
        )


@dataclass(frozen=True, slots=True)
class WordChange:
    row: LexiconWord
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class AllowChange:
    row: LexiconAllow
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class WordsResult:
    """What one add did: per distinct entry, in the order first given, and the version after."""

    changes: tuple[WordChange | AllowChange, ...]
    version: int

    @property
    def counts(self) -> Counts:
        return Counts.of(change.outcome for change in self.changes)


@dataclass(frozen=True, slots=True)
class ImportResult:
    kind: ListKind
    origin: str
    counts: Counts
    version: int
    skipped: bool = False  # the same content was imported from the same origin last time
    repeated: int = 0  # words left out: an earlier list of the same import has them


@dataclass(frozen=True, slots=True)
class WordList:
    """One file of a folder of word lists, read and checked (`app.lexicon.files`)."""

    origin: str  # file:<path>
    sha256: str
    entries: Sequence[LexiconEntry]


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[Any]  # LexiconWord or LexiconAllow rows, newest first
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class LoadedLexicon:
    """Everything a matcher is built from, and the version it is."""

    version: int
    words: list[LexiconEntry] = field(default_factory=list)
    allow: list[AllowEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TextCheck:
    findings: list[Finding]
    decision: Decision
    dropped: list[Dropped] = field(default_factory=list)  # hits a reading rule dropped, and why

    def as_dict(self) -> dict[str, Any]:
        return {
            "findings": [finding.as_dict() for finding in self.findings],
            "dropped": [hit.as_dict() for hit in self.dropped],
            "verdict": self.decision.verdict,
            "actions": [action.value for action in self.decision.actions],
            "reason": self.decision.reason,
        }


# -- validation (pure) -------------------------------------------------------------------

_E = TypeVar("_E", bound=StrEnum)


def _at(where: str, message: str) -> InvalidEntry:
    return InvalidEntry(f"{where}: {message}" if where else message)


def _choice(enum: type[_E], value: str | None, default: _E, what: str, where: str) -> _E:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        return enum(value.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise _at(where, f"unknown {what} {value.strip()!r} (allowed: {allowed})") from None


def _text(value: str, what: str, where: str) -> tuple[str, str]:
    """(the trimmed text, its folded form), or InvalidEntry."""
    text = value.strip()
    if not text:
        raise _at(where, f"empty {what}")
    if len(text) > MAX_WORD_LENGTH:
        raise _at(where, f"{what} longer than {MAX_WORD_LENGTH} characters")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise _at(where, f"{what} {text!r} contains a tab, line break or control character")
    if text.startswith("#"):
        raise _at(where, f"{what} {text!r} starts with '#' (a word file reads that as a comment)")
    folded = fold(text)
    if not folded:
        raise _at(where, f"{what} {text!r} has no letters or digits after folding")
    if len(folded) > MAX_FOLDED_LENGTH:
        raise _at(where, f"{what} {text!r} is longer than {MAX_FOLDED_LENGTH} characters folded")
    return text, folded


def parse_category(value: str | None, where: str = "") -> Category:
    """A category as given (`moderation.lexicon.category_of`); `custom` when none is given.
    Raises InvalidEntry naming `where`."""
    if value is None or not value.strip():
        return Category.CUSTOM
    try:
        return category_of(value)
    except ValueError as exc:
        raise _at(where, str(exc)) from None


def parse_severity(value: str | int | None, where: str = "") -> Severity:
    """A severity as given (a name, or 1–3); `block` when none is given. Raises InvalidEntry."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Severity.BLOCK
    try:
        return severity_of(value)
    except ValueError as exc:
        raise _at(where, str(exc)) from None


def _scope(value: str | None, where: str) -> str:
    scope = (value or "").strip()
    if len(scope) > MAX_SCOPE_LENGTH:
        raise _at(where, f"scope longer than {MAX_SCOPE_LENGTH} characters")
    if any(unicodedata.category(char) in ("Cc", "Zs") for char in scope):
        raise _at(where, f"scope {scope!r} contains a space or control character (a chat id)")
    return scope


def word_entry(
    word: str,
    category: str | None = None,
    severity: str | int | None = None,
    mode: str | None = None,
    scope: str | None = None,
    *,
    where: str = "",
) -> LexiconEntry:
    """A checked word entry; defaults: custom, block, fuzzy, every group. Raises InvalidEntry."""
    text, _folded = _text(word, "word", where)
    return LexiconEntry(
        word=text,
        category=parse_category(category, where),
        severity=parse_severity(severity, where),
        mode=_choice(MatchMode, mode, MatchMode.FUZZY, "mode", where),
        scope=_scope(scope, where),
    )


def allow_entry(phrase: str, scope: str | None = None, *, where: str = "") -> AllowEntry:
    """A checked allow-list entry. Raises InvalidEntry."""
    text, _folded = _text(phrase, "phrase", where)
    return AllowEntry(phrase=text, scope=_scope(scope, where))


def parse_list(
    kind: ListKind,
    text: str,
    *,
    source: str,
    category: Category = Category.CUSTOM,
    severity: Severity = Severity.BLOCK,
    mode: MatchMode = MatchMode.FUZZY,
    split_commas: bool = False,
) -> list[LexiconEntry] | list[AllowEntry]:
    """Parse and check a word file or an allow-list file. Raises InvalidEntry naming `source`
    (and the line, for format errors). `category`, `severity` and `mode` are those of a word
    line that gives none; `split_commas` reads several comma-separated words on a line (see
    `moderation.parse_lexicon`)."""
    try:
        if kind is ListKind.WORDS:
            return [
                word_entry(e.word, e.category, e.severity, e.mode, e.scope, where=source)
                for e in parse_lexicon(
                    text,
                    source=source,
                    category=category,
                    severity=severity,
                    mode=mode,
                    split_commas=split_commas,
                )
            ]
        return [
            allow_entry(e.phrase, e.scope, where=source)
            for e in parse_allow_list(text, source=source)
        ]
    except LexiconFormatError as exc:
        raise InvalidEntry(str(exc)) from None


@dataclass(frozen=True, slots=True)
class CheckedList:
    """A word or allow-list file checked line by line (`check_list`)."""

    entries: list[LexiconEntry] | list[AllowEntry]
    refused: list[str]  # one per refused line: "<source>:<line>: why"


def check_list(kind: ListKind, text: str, *, source: str) -> CheckedList:
    """`parse_list` a line at a time, so that every refused line is named with its reason,
    not only the first (the lines of a list are independent of each other). A file with any
    refused line is to be refused whole: nothing of it imported."""
    entries: list[Any] = []
    refused: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        where = f"{source}:{number}"
        try:
            entries.extend(parse_list(kind, line, source=where))
        except InvalidEntry as exc:
            # A format error names the line within the one-line text: `where:1: …`.
            refused.append(str(exc).replace(f"{where}:1:", f"{where}:", 1))
    return CheckedList(entries, refused)


def _distinct_words(entries: Iterable[LexiconEntry]) -> dict[tuple[str, str], LexiconEntry]:
    """Entries by (folded, scope), spelt as first given; on a repeated key the category,
    severity and mode of the strictest severity win, then those of the first."""
    chosen: dict[tuple[str, str], LexiconEntry] = {}
    for entry in entries:
        checked = word_entry(entry.word, entry.category, entry.severity, entry.mode, entry.scope)
        key = (fold(checked.word), checked.scope)
        known = chosen.get(key)
        if known is None:
            chosen[key] = checked
        elif checked.severity.rank > known.severity.rank:
            chosen[key] = replace(checked, word=known.word)
    return chosen


# -- changes (flush, never commit) -------------------------------------------------------


async def add_words(
    session: AsyncSession,
    entries: Sequence[LexiconEntry],
    *,
    added_by: str,
    source: str,
    now: datetime,
) -> WordsResult:
    """Add or update words. Raises InvalidEntry before touching the database."""
    wanted = _distinct_words(entries)
    current = await repo.lock(session, now=now)
    existing = {
        (row.folded, row.scope): row
        for row in await repo.words_by_folded(session, {folded for folded, _ in wanted})
    }
    changes: dict[tuple[str, str], WordChange] = {}
    new: list[dict[str, Any]] = []
    for (folded, scope), entry in wanted.items():
        row = existing.get((folded, scope))
        values = (entry.category.value, entry.severity.value, entry.mode.value)
        if row is None:
            new.append(
                {
                    "word": entry.word,
                    "folded": folded,
                    "category": values[0],
                    "severity": values[1],
                    "mode": values[2],
                    "scope": scope,
                    "added_by": added_by[:128],
                    "added_at": now,
                    "source": source[:1024],
                }
            )
        elif (row.category, row.severity, row.mode) == values:
            changes[(folded, scope)] = WordChange(row, Outcome.UNCHANGED)
        else:
            row.category, row.severity, row.mode = values
            changes[(folded, scope)] = WordChange(row, Outcome.UPDATED)
    await session.flush()
    for row in await repo.insert_words(session, new):
        changes[(row.folded, row.scope)] = WordChange(row, Outcome.ADDED)
    result = WordsResult(changes=tuple(changes[key] for key in wanted), version=current)
    if result.counts.changed:
        result = WordsResult(result.changes, await repo.bump_version(session, now=now))
    return result


async def add_allow(
    session: AsyncSession,
    entries: Sequence[AllowEntry],
    *,
    added_by: str,
    source: str,
    now: datetime,
    source_log_id: int | None = None,
) -> WordsResult:
    """Add allow-list phrases (one that exists is `unchanged`, and keeps where it came from).
    `source_log_id`: the moderation log row whose overturn adds them. Raises InvalidEntry
    first."""
    wanted: dict[tuple[str, str], AllowEntry] = {}
    for entry in entries:
        checked = allow_entry(entry.phrase, entry.scope)
        wanted.setdefault((fold(checked.phrase), checked.scope), checked)
    current = await repo.lock(session, now=now)
    existing = {
        (row.folded, row.scope): row
        for row in await repo.allow_by_folded(session, {folded for folded, _ in wanted})
    }
    changes: dict[tuple[str, str], AllowChange] = {
        key: AllowChange(row, Outcome.UNCHANGED) for key, row in existing.items() if key in wanted
    }
    new = [
        {
            "phrase": entry.phrase,
            "folded": folded,
            "scope": scope,
            "added_by": added_by[:128],
            "added_at": now,
            "source": source[:1024],
            "source_log_id": source_log_id,
        }
        for (folded, scope), entry in wanted.items()
        if (folded, scope) not in existing
    ]
    for row in await repo.insert_allow(session, new):
        changes[(row.folded, row.scope)] = AllowChange(row, Outcome.ADDED)
    result = WordsResult(changes=tuple(changes[key] for key in wanted), version=current)
    if result.counts.changed:
        result = WordsResult(result.changes, await repo.bump_version(session, now=now))
    return result


async def delete_word(session: AsyncSession, word_id: int, *, now: datetime) -> int:
    """Delete one word; returns the new version. Raises EntryNotFound."""
    await repo.lock(session, now=now)
    if not await repo.delete_word(session, word_id):
        raise EntryNotFound(f"word {word_id} not found")
    return await repo.bump_version(session, now=now)


async def delete_allow(session: AsyncSession, allow_id: int, *, now: datetime) -> int:
    """Delete one allow-list phrase; returns the new version. Raises EntryNotFound."""
    await repo.lock(session, now=now)
    if not await repo.delete_allow(session, allow_id):
        raise EntryNotFound(f"allow-list phrase {allow_id} not found")
    return await repo.bump_version(session, now=now)


async def import_text(
    session: AsyncSession,
    kind: ListKind,
    text: str,
    *,
    origin: str,
    sha256: str,
    added_by: str,
    source: str,
    now: datetime,
    once: bool = False,
) -> ImportResult:
    """Import a word or allow-list file's text: missing entries are added, listed words whose
    category, severity or mode differ are updated; nothing is deleted.

    `origin` names the file (`file:<path>`); `sha256` is the digest of its bytes. With
    `once=True` (the start-up import) a file whose content is the one imported from the same
    origin last time is skipped, so entries deleted since are not brought back. Raises
    InvalidEntry (naming the file and line) before touching the database."""
    label = origin.removeprefix("file:")
    entries = parse_list(kind, text, source=label)
    return await import_entries(
        session,
        kind,
        entries,
        origin=origin,
        sha256=sha256,
        added_by=added_by,
        source=source,
        now=now,
        once=once,
    )


async def import_entries(
    session: AsyncSession,
    kind: ListKind,
    entries: Sequence[LexiconEntry] | Sequence[AllowEntry],
    *,
    origin: str,
    sha256: str,
    added_by: str,
    source: str,
    now: datetime,
    once: bool = False,
) -> ImportResult:
    """`import_text` for the checked entries of a file (`parse_list`), recorded as an import
    of `origin` with digest `sha256`."""
    current = await repo.lock(session, now=now)
    if once:
        last = await repo.last_import(session, kind=kind.value, origin=origin)
        if last is not None and last.sha256 == sha256:
            return ImportResult(kind, origin, Counts(), current, skipped=True)
    if kind is ListKind.WORDS:
        words = [entry for entry in entries if isinstance(entry, LexiconEntry)]
        result = await add_words(session, words, added_by=added_by, source=source, now=now)
    else:
        phrases = [entry for entry in entries if isinstance(entry, AllowEntry)]
        result = await add_allow(session, phrases, added_by=added_by, source=source, now=now)
    counts = result.counts
    repo.add_import(
        session,
        kind=kind.value,
        origin=origin,
        sha256=sha256,
        now=now,
        imported_by=added_by,
        added=counts.added,
        updated=counts.updated,
        unchanged=counts.unchanged,
    )
    await session.flush()
    return ImportResult(kind, origin, counts, result.version)


async def import_lists(
    session: AsyncSession,
    lists: Sequence[WordList],
    *,
    added_by: str,
    source: str,
    now: datetime,
) -> list[ImportResult]:
    """Import several word lists in the caller's one transaction, each recorded as its own
    import, in the order given. A word (its folded form and scope) that an earlier list of
    the same call has is left out of the later ones and counted as `repeated` there, so
    each word keeps the category of the first list that has it."""
    seen: set[tuple[str, str]] = set()
    results = []
    for word_list in lists:
        kept: list[LexiconEntry] = []
        repeated = 0
        for entry in word_list.entries:
            if (fold(entry.word), entry.scope) in seen:  # only earlier lists are in `seen`
                repeated += 1
                continue
            kept.append(entry)
        seen.update((fold(entry.word), entry.scope) for entry in kept)
        result = await import_entries(
            session,
            ListKind.WORDS,
            kept,
            origin=word_list.origin,
            sha256=word_list.sha256,
            added_by=added_by,
            source=source,
            now=now,
        )
        results.append(replace(result, repeated=repeated))
    return results


# -- reading -----------------------------------------------------------------------------


def _before(cursor: str | None) -> int | None:
    if not cursor:  # "" is no cursor: the first page
        return None
    try:
        return repo.decode_cursor(cursor)
    except ValueError:
        raise InvalidEntry("cursor is not one this API returned") from None


def _search(q: str | None) -> tuple[str | None, str | None]:
    if q is None or not q.strip():
        return None, None
    return q.strip(), fold(q) or None


async def list_words(
    session: AsyncSession,
    *,
    q: str | None = None,
    category: str | None = None,
    severity: str | None = None,
    scope: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Newest first. `q` is a substring of the word as written or of its folded form; `scope`
    "" lists the words for every group. Raises InvalidEntry for a bad filter or cursor."""
    search, search_folded = _search(q)
    filters = repo.WordFilter(
        search=search,
        search_folded=search_folded,
        category=parse_category(category).value
        if category is not None and category.strip()
        else None,
        severity=parse_severity(severity).value
        if severity is not None and severity.strip()
        else None,
        scope=scope.strip() if scope is not None else None,
    )
    rows = await repo.page_words(session, filters, limit=limit + 1, before_id=_before(cursor))
    return _page(rows, limit)


async def list_allow(
    session: AsyncSession,
    *,
    q: str | None = None,
    scope: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    search, search_folded = _search(q)
    filters = repo.AllowFilter(
        search=search,
        search_folded=search_folded,
        scope=scope.strip() if scope is not None else None,
    )
    rows = await repo.page_allow(session, filters, limit=limit + 1, before_id=_before(cursor))
    return _page(rows, limit)


def _page(rows: Sequence[Any], limit: int) -> Page:
    """A page from up to limit + 1 rows (one more than shown tells that a next page exists)."""
    shown = list(rows[:limit])
    more = len(rows) > limit
    return Page(items=shown, next_cursor=repo.encode_cursor(shown[-1].id) if more else None)


async def export_words(session: AsyncSession, *, now: datetime) -> str:
    """Every word as a word file (the format `parse_lexicon` reads), oldest first."""
    version = await repo.version(session)
    rows = await repo.all_words(session)
    lines = [
        f"# wecom-mod word file: {len(rows)} word(s), lexicon version {version}, "
        f"exported {now.isoformat(timespec='seconds')}",
        "# word<TAB>category<TAB>severity<TAB>mode<TAB>scope (no scope: every group)",
    ]
    for row in rows:
        fields = [row.word, row.category, row.severity, row.mode]
        if row.scope:
            fields.append(row.scope)
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


async def export_allow(session: AsyncSession, *, now: datetime) -> str:
    """Every allow-list phrase as an allow-list file (`phrase<TAB>scope`), oldest first."""
    version = await repo.version(session)
    rows = await repo.all_allow(session)
    lines = [
        f"# wecom-mod allow list: {len(rows)} phrase(s), lexicon version {version}, "
        f"exported {now.isoformat(timespec='seconds')}",
        "# phrase<TAB>scope (no scope: every group)",
    ]
    lines += [f"{row.phrase}\t{row.scope}" if row.scope else row.phrase for row in rows]
    return "\n".join(lines) + "\n"


async def load_lexicon(session: AsyncSession) -> LoadedLexicon:
    """Every word and allow-list phrase, and the version they are at least.

    The version is read first: a change committed while the rows are read makes them newer
    than the version they are labelled with, never older, so the next poll sees a newer
    version and reloads (the reverse order could miss a change)."""
    version = await repo.version(session)
    words = [
        LexiconEntry(
            word=row.word,
            category=Category(row.category),
            severity=Severity(row.severity),
            mode=MatchMode(row.mode),
            scope=row.scope,
            added_by=row.added_by,
            added_at=row.added_at,
        )
        for row in await repo.all_words(session)
    ]
    allow = [
        AllowEntry(phrase=row.phrase, scope=row.scope, added_by=row.added_by, added_at=row.added_at)
        for row in await repo.all_allow(session)
    ]
    return LoadedLexicon(version=version, words=words, allow=allow)


def check_text(matcher: SensitiveWordMatcher, text: str, chat_id: str = "") -> TextCheck:
    """What the matcher finds in `text` as if sent in `chat_id`, what would be done, and the
    hits it did not count (路口|交通 holds no 口交) with the reason."""
    inspection = matcher.inspect(text, chat_id)
    return TextCheck(
        findings=inspection.findings,
        decision=decide(inspection.findings),
        dropped=inspection.dropped,
    )
