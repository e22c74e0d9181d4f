"""`SensitiveWordMatcher`: an Aho-Corasick automaton (ahocorasick-rs) over the lexicon.

Plain matching: the only normalisation is ASCII case (length-preserving, so spans stay exact).
Overlapping hits are all reported (赌博彩票 finds both 赌博 and 博彩). A word made only of ASCII
letters and digits matches whole words only, so `av` does not fire inside `have`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick_rs

from moderation.lexicon import Category, LexiconEntry, Severity

__all__ = ["Finding", "SensitiveWordMatcher"]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _is_ascii_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _is_ascii_word(word: str) -> bool:
    return all(_is_ascii_word_char(char) for char in word)


def _on_word_boundaries(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return not (before and _is_ascii_word_char(before)) and not (
        after and _is_ascii_word_char(after)
    )


@dataclass(frozen=True, slots=True)
class Finding:
    """One hit, with its evidence: the word, why it matters, and where it is in the text."""

    word: str  # the lexicon word
    category: Category
    severity: Severity
    start: int  # character offset in the original text
    end: int  # exclusive
    matched: str  # the original text[start:end]
    detector: str = "lexicon"


class SensitiveWordMatcher:
    """Finds lexicon words in text. Immutable once built; safe to share."""

    def __init__(self, entries: Iterable[LexiconEntry]) -> None:
        by_word: dict[str, LexiconEntry] = {}
        for entry in entries:
            key = entry.word.translate(_ASCII_LOWER)
            known = by_word.get(key)
            if known is None or entry.severity.rank > known.severity.rank:
                by_word[key] = entry
        self._patterns = list(by_word)
        self._entries = [by_word[pattern] for pattern in self._patterns]
        self._whole_word = [_is_ascii_word(pattern) for pattern in self._patterns]
        self._automaton = ahocorasick_rs.AhoCorasick(self._patterns) if self._patterns else None

    def __len__(self) -> int:
        return len(self._patterns)

    def find(self, text: str) -> list[Finding]:
        """Every occurrence of every word, ordered by position."""
        if self._automaton is None or not text:
            return []
        haystack = text.translate(_ASCII_LOWER)
        findings = []
        for index, start, end in self._automaton.find_matches_as_indexes(
            haystack, overlapping=True
        ):
            if self._whole_word[index] and not _on_word_boundaries(haystack, start, end):
                continue
            entry = self._entries[index]
            findings.append(
                Finding(
                    word=entry.word,
                    category=entry.category,
                    severity=entry.severity,
                    start=start,
                    end=end,
                    matched=text[start:end],
                )
            )
        findings.sort(key=lambda finding: (finding.start, finding.end))
        return findings
