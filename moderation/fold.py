"""`fold`: the one normalisation applied to lexicon words and to chat text alike.

A word added at runtime folds exactly like the text it is looked for in, so what matches is
decided by one function. Per character, in order:

1. NFKC (full-width → half-width, circled and styled letters and digits → plain, ligatures
   split), then case folding, then diacritics and other combining marks dropped (é → e).
2. Look-alikes → Latin (Cyrillic and Greek letters that look Latin), dingbat digits (❶ ⓵ ➊)
   → digits, other scripts' decimal digits → 0-9, traditional → simplified Chinese (OpenCC's
   character table, `moderation/_t2s_data.py`).
3. Everything that is not a letter or a digit is noise and removed: spaces, punctuation,
   symbols, emoji, zero-width and other invisible or format characters, variation selectors,
   private-use and unassigned code points. So 微-信, 微 信 and 微\u200b信 all fold to 微信.

Then, on the folded text: a run of three or more digits at least two of which are Chinese
numerals (一三八, 壹贰叁, 1三八) is written in digits, because there they are used as digits;
shorter runs stay as they are (一起, 六四), and so does a lone numeral next to digits (3一起).

`fold_with_origins` also returns, for each folded character, the span of the original
characters it came from, so every hit found in folded text maps back to an exact span of the
original. The fast path (`fold`) uses one `str.translate` over a precomputed code-point table
and agrees with `fold_with_origins` by construction (both use the table behind `fold_char`);
a test checks it.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from moderation._t2s_data import T2S
from moderation.variants import CONFUSABLES

__all__ = ["Folded", "fold", "fold_char", "fold_with_origins"]

_TABLE_LIMIT = 0x20000  # the table covers planes 0 and 1; rarer code points fold one by one

_T2S: dict[str, str] = {T2S[i]: T2S[i + 1] for i in range(0, len(T2S), 2)}

_CHINESE_DIGITS = "零〇一二三四五六七八九壹贰叁肆伍陆柒捌玖幺"
_CHINESE_DIGIT_VALUES = "001234567891234567891"
_TO_DIGITS = str.maketrans(_CHINESE_DIGITS, _CHINESE_DIGIT_VALUES)
# Two Chinese numerals with at most digits between them (needed for a run below).
_TWO_NUMERALS = re.compile(f"[{_CHINESE_DIGITS}][0-9]*[{_CHINESE_DIGITS}]")
# A run of three or more digits with at least two Chinese numerals in it.
_NUMERAL_RUN = re.compile(
    f"(?=[0-9{_CHINESE_DIGITS}]{{3}})"
    f"[0-9]*[{_CHINESE_DIGITS}][0-9]*[{_CHINESE_DIGITS}][0-9{_CHINESE_DIGITS}]*"
)
_BEYOND_TABLE = re.compile(f"[{chr(_TABLE_LIMIT)}-\U0010ffff]")


def _digit_value(char: str) -> str | None:
    """0-9 for any decimal digit or numbered dingbat (❶, ⓫, ➓); None for everything else."""
    category = unicodedata.category(char)
    if category not in ("Nd", "No"):
        return None
    value = unicodedata.numeric(char, None)
    if value is None or value != int(value) or value < 0:
        return None
    return str(int(value))


def _fold_one(char: str) -> str:
    """Step 2 and 3 for one character that has been through step 1."""
    char = CONFUSABLES.get(char, char)
    char = _T2S.get(char, char)
    digits = _digit_value(char)
    if digits is not None:
        return digits
    if unicodedata.category(char)[0] in "LN":
        return char
    return ""  # noise: separators, punctuation, symbols, marks, control/format, unassigned


@lru_cache(maxsize=4096)
def _fold_beyond_table(char: str) -> str:
    return _compute(char)


def _compute(char: str) -> str:
    normal = unicodedata.normalize("NFKC", char).casefold()
    decomposed = unicodedata.normalize("NFD", normal)
    stripped = "".join(c for c in decomposed if unicodedata.category(c)[0] != "M")
    stripped = unicodedata.normalize("NFC", stripped)
    return "".join(_fold_one(c) for c in stripped)


def _build_table() -> list[int | str | None]:
    table: list[int | str | None] = []
    for code in range(_TABLE_LIMIT):
        char = chr(code)
        folded = _compute(char)
        table.append(code if folded == char else (folded or None))
    return table


_TABLE = _build_table()
# "\x01" for a code point that folds to something, "\x00" for one that is removed.
_KEPT = ["\x00" if entry is None else "\x01" for entry in _TABLE]


def fold_char(char: str) -> str:
    """What one character folds to (before the numeral-run rule): "", one or more chars."""
    code = ord(char)
    if code < _TABLE_LIMIT:
        entry = _TABLE[code]
        if entry is None:
            return ""
        return chr(entry) if isinstance(entry, int) else entry
    return _fold_beyond_table(char)


def _as_digits(run: re.Match[str]) -> str:
    return run.group().translate(_TO_DIGITS)


def _digits_in_runs(folded: str) -> str:
    if not _TWO_NUMERALS.search(folded):  # the cheap test first: one 一 is common, two rare
        return folded
    return _NUMERAL_RUN.sub(_as_digits, folded)


def fold(text: str) -> str:
    """The folded text (see the module docstring). Pure and deterministic."""
    if _BEYOND_TABLE.search(text):
        folded = "".join(fold_char(char) for char in text)
    else:
        folded = text.translate(_TABLE)
    return _digits_in_runs(folded)


@dataclass(frozen=True, slots=True)
class Folded:
    """A folded text with, for each folded character, the original character it came from
    (characters fold one by one, so folded character i comes from text[starts[i]])."""

    text: str
    starts: list[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the folded characters [start, end) (end > start)."""
        return self.starts[start], self.starts[end - 1] + 1


def fold_with_origins(text: str, folded: str | None = None) -> Folded:
    """`fold(text)` together with where each folded character came from. Pass `folded` when
    `fold(text)` is already known."""
    if folded is None:
        folded = fold(text)
    if not _BEYOND_TABLE.search(text):
        # The index of every original character that is kept; when their number is the
        # folded length, no character folded to two or more, and these are the origins.
        kept = text.translate(_KEPT).encode("latin-1")
        starts = list(itertools.compress(range(len(text)), kept))
        if len(starts) == len(folded):
            return Folded(folded, starts)
    starts = []  # one by one: some character folds to two or more, or lies beyond the table
    for index, char in enumerate(text):
        starts.extend([index] * len(fold_char(char)))
    return Folded(folded, starts)
