"""The lexicon model: words with a category and a severity, and the word-file format.

Word file (UTF-8): one word per line; `#` starts a comment line; blank lines are skipped;
optionally `word<TAB>category<TAB>severity`. Category defaults to `custom`, severity to `block`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

__all__ = ["Category", "LexiconEntry", "LexiconFormatError", "Severity", "parse_lexicon"]

MAX_WORD_LENGTH = 64  # characters; longer lines are almost certainly not words


class Category(StrEnum):
    POLITICS = "politics"
    PORN = "porn"
    GAMBLING = "gambling"
    FRAUD = "fraud"
    ABUSE = "abuse"
    ADS = "ads"  # advertising and contact details
    CUSTOM = "custom"


class Severity(StrEnum):
    """What a hit calls for: `block` warns and alerts, `review` alerts, `log` only records."""

    BLOCK = "block"
    REVIEW = "review"
    LOG = "log"

    @property
    def rank(self) -> int:
        return {"block": 3, "review": 2, "log": 1}[self.value]


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    word: str
    category: Category = Category.CUSTOM
    severity: Severity = Severity.BLOCK


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


def parse_lexicon(text: str, *, source: str = "lexicon") -> list[LexiconEntry]:
    """Parse a word file's text. Raises LexiconFormatError naming `source:line` on bad input."""
    entries: list[LexiconEntry] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.lstrip("\ufeff")
        if not line.strip() or line.strip().startswith("#"):
            continue
        where = f"{source}:{number}"
        # Tabs separate fields, so only spaces are trimmed around each field.
        parts = [part.strip(" \u3000") for part in line.rstrip("\t ").split("\t")]
        if len(parts) > 3:
            raise LexiconFormatError(f"{where}: expected word[TAB category[TAB severity]]")
        word = parts[0]
        if not word:
            raise LexiconFormatError(f"{where}: empty word before the tab")
        if len(word) > MAX_WORD_LENGTH:
            raise LexiconFormatError(f"{where}: word longer than {MAX_WORD_LENGTH} characters")
        category = (
            _choice(Category, parts[1], "category", where)
            if len(parts) > 1 and parts[1]
            else Category.CUSTOM
        )
        severity = (
            _choice(Severity, parts[2], "severity", where)
            if len(parts) > 2 and parts[2]
            else Severity.BLOCK
        )
        entries.append(LexiconEntry(word=word, category=category, severity=severity))
    return entries
