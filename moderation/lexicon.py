"""The lexicon model: words and allow-list phrases, and the word-file formats.

Word file (UTF-8): one word per line; `#` starts a comment line; blank lines are skipped;
optionally tab-separated `word<TAB>category<TAB>severity<TAB>mode<TAB>scope`, where trailing
fields may be left out. Category defaults to `custom`, severity to `block`, mode to `fuzzy`,
scope to every group (empty).

Allow-list file: one phrase per line, optionally `phrase<TAB>scope`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

__all__ = [
    "MAX_WORD_LENGTH",
    "AllowEntry",
    "Category",
    "LexiconEntry",
    "LexiconFormatError",
    "MatchMode",
    "Severity",
    "parse_allow_list",
    "parse_lexicon",
]

MAX_WORD_LENGTH = 64  # characters; longer lines are almost certainly not words
MAX_SCOPE_LENGTH = 128  # a chat id


class Category(StrEnum):
    POLITICS = "politics"
    PORN = "porn"
    GAMBLING = "gambling"
    FRAUD = "fraud"
    ABUSE = "abuse"
    ADS = "ads"  # advertising and contact details
    CUSTOM = "custom"


class Severity(StrEnum):
    """The tier of a word: `block` warns and alerts, `review` alerts, `log` only records."""

    BLOCK = "block"
    REVIEW = "review"
    LOG = "log"

    @property
    def rank(self) -> int:
        return {"block": 3, "review": 2, "log": 1}[self.value]


class MatchMode(StrEnum):
    """How hard a word is looked for.

    `fuzzy`: every route (folding, noise between characters, repeated characters, pinyin and
    look-alike variants). `folded`: the folded word only, written without noise in between.
    `exact`: the word exactly as written (ASCII case aside).
    """

    FUZZY = "fuzzy"
    FOLDED = "folded"
    EXACT = "exact"


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    word: str
    category: Category = Category.CUSTOM
    severity: Severity = Severity.BLOCK
    mode: MatchMode = MatchMode.FUZZY
    scope: str = ""  # "" = every group; otherwise the one chat id it applies to
    added_by: str = ""
    added_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """A phrase inside which no lexicon hit counts (路口交通 ⊃ 口交)."""

    phrase: str
    scope: str = ""
    added_by: str = ""
    added_at: datetime | None = None


class LexiconFormatError(ValueError):
    """A word file line that cannot be read; the message names the source and line."""


_E = TypeVar("_E", bound=StrEnum)


def _choice(enum: type[_E], value: str, what: str, where: str) -> _E:
    try:
        return enum(value.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise LexiconFormatError(
            f"{where}: unknown {what} {value.strip()!r} (allowed: {allowed})"
        ) from None


def _lines(text: str, source: str, max_fields: int, shape: str) -> list[tuple[str, list[str]]]:
    """(where, fields) of each non-blank, non-comment line; fields are trimmed of spaces."""
    rows = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.lstrip("\ufeff")
        if not line.strip() or line.strip().startswith("#"):
            continue
        where = f"{source}:{number}"
        # Tabs separate fields, so only spaces are trimmed around each field.
        parts = [part.strip(" \u3000") for part in line.rstrip("\t ").split("\t")]
        if len(parts) > max_fields:
            raise LexiconFormatError(f"{where}: expected {shape}")
        if not parts[0]:
            raise LexiconFormatError(f"{where}: empty word before the tab")
        if len(parts[0]) > MAX_WORD_LENGTH:
            raise LexiconFormatError(f"{where}: word longer than {MAX_WORD_LENGTH} characters")
        if len(parts) > max_fields - 1 and len(parts[-1]) > MAX_SCOPE_LENGTH:
            raise LexiconFormatError(f"{where}: scope longer than {MAX_SCOPE_LENGTH} characters")
        rows.append((where, parts + [""] * (max_fields - len(parts))))
    return rows


def parse_lexicon(text: str, *, source: str = "lexicon") -> list[LexiconEntry]:
    """Parse a word file's text. Raises LexiconFormatError naming `source:line` on bad input."""
    shape = "word[TAB category[TAB severity[TAB mode[TAB scope]]]]"
    entries = []
    for where, (word, category, severity, mode, scope) in _lines(text, source, 5, shape):
        entries.append(
            LexiconEntry(
                word=word,
                category=_choice(Category, category, "category", where)
                if category
                else Category.CUSTOM,
                severity=_choice(Severity, severity, "severity", where)
                if severity
                else Severity.BLOCK,
                mode=_choice(MatchMode, mode, "mode", where) if mode else MatchMode.FUZZY,
                scope=scope,
            )
        )
    return entries


def parse_allow_list(text: str, *, source: str = "allow-list") -> list[AllowEntry]:
    """Parse an allow-list file's text (`phrase[TAB scope]` per line)."""
    return [
        AllowEntry(phrase=phrase, scope=scope)
        for _where, (phrase, scope) in _lines(text, source, 2, "phrase[TAB scope]")
    ]
