"""`fold`: the one normalisation applied to lexicon words and to chat text alike.

A word added at runtime folds exactly like the text it is looked for in, so what matches is
decided by one function. Per character, in order:

1. Letters that NFKC leaves alone but that stand for Latin letters: negative squared and
   negative circled letters (🅵 🅐), regional-indicator letters (🇫), and the Greek capitals
   whose small forms look like other letters (Η is H, not η → n; also Μ Ν Υ Ζ).
2. NFKC (full-width → half-width, circled, squared and styled letters and digits → plain,
   ligatures split), then case folding, then diacritics and other combining marks dropped
   (é → e).
3. Look-alikes → Latin (Cyrillic and Greek letters that look Latin), dingbat digits (❶ ⓵ ➊)
   → digits, other scripts' decimal digits → 0-9; kana and hangul shaped like a Chinese
   character or component → it (イ → 亻, ロ → 口, エ → 工, ㅁ → 口), and の → 的, as chat writes
   it; traditional → simplified Chinese (OpenCC's character table) and Japanese shinjitai →
   simplified (売 → 卖, 薬 → 药; `moderation/_t2s_data.py`).
4. Everything that is not a letter or a digit is noise and removed: spaces, punctuation,
   symbols, emoji, zero-width and other invisible or format characters, variation selectors,
   private-use and unassigned code points, and the Hangul fillers, which are letters that
   show as nothing (U+3164, U+FFA0, U+115F, U+1160). So 微-信, 微 信, 微\u200b信 and 微\u3164信
   all fold to 微信. `invisible` tells the characters that show as nothing at all.

Then, on the folded text: a run of three or more digits at least two of which are Chinese
numerals (一三八, 壹贰叁, 1三八) is written in digits, because there they are used as digits;
shorter runs stay as they are (一起, 六四), and so does a lone numeral next to digits (3一起).

`fold_with_origins` also returns, for each folded character, the span of the original
characters it came from, so every hit found in folded text maps back to an exact span of the
original. The fast path (`fold`) uses one `str.translate` over a precomputed code-point table
and agrees with `fold_with_origins` by construction (both use the table behind `fold_char`);
a test checks it. `FoldedBatch` folds many texts with one `str.translate` over the joined
texts, for one automaton pass over all of them.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy

from moderation._t2s_data import JP2S, T2S
from moderation.variants import CONFUSABLES, SHAPES

__all__ = [
    "SEPARATOR",
    "SIMPLIFIED",
    "Folded",
    "FoldedBatch",
    "fold",
    "fold_char",
    "fold_many",
    "fold_with_origins",
    "invisible",
    "scan_table",
]

_TABLE_LIMIT = 0x20000  # the table covers planes 0 and 1; rarer code points fold one by one

_T2S: dict[str, str] = {T2S[i]: T2S[i + 1] for i in range(0, len(T2S), 2)}
_T2S.update({JP2S[i]: JP2S[i + 1] for i in range(0, len(JP2S), 2)})
# `str.translate` table: traditional and shinjitai characters → simplified, one code point for
# one (positions stay those of the text), nothing else changed.
SIMPLIFIED = str.maketrans(_T2S)
# Letters that stand for Latin letters but have no NFKC decomposition (step 1): negative
# circled and negative squared capitals, regional indicators, and the Greek capitals whose
# small letters look like another Latin letter.
_BEFORE_NFKC: dict[str, str] = {
    **{chr(0x1F150 + i): chr(0x61 + i) for i in range(26)},  # 🅐 negative circled
    **{chr(0x1F170 + i): chr(0x61 + i) for i in range(26)},  # 🅰 negative squared
    **{chr(0x1F1E6 + i): chr(0x61 + i) for i in range(26)},  # 🇦 regional indicators
    "Η": "h",
    "Μ": "m",
    "Ν": "n",
    "Υ": "y",
    "Ζ": "z",
    "Ϲ": "c",  # lunate sigma: NFKC makes it Σ, whose small σ would read as o
}
# SHAPES keyed as NFKC leaves them (hangul compatibility jamo ㅁ become conjoining ᄆ).
_SHAPES = {unicodedata.normalize("NFKC", key): value for key, value in SHAPES.items()}
# Letters that show as nothing: the Hangul fillers (and what NFKC makes of them).
_FILLERS = frozenset("\u3164\uffa0\u115f\u1160")
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Mc"})  # not Cc: a line break shows

_CHINESE_DIGITS = "零〇一二三四五六七八九壹贰叁肆伍陆柒捌玖幺"
_CHINESE_DIGIT_VALUES = "001234567891234567891"
_TO_DIGITS = str.maketrans(_CHINESE_DIGITS, _CHINESE_DIGIT_VALUES)
# Two Chinese numerals with at most digits between them (needed for a run below).
_TWO_NUMERALS = re.compile(f"[{_CHINESE_DIGITS}][0-9]*[{_CHINESE_DIGITS}]")
# A run of three or more digits and Chinese numerals; `_digits_in_runs` turns the numerals of
# those with two or more numerals into digits.
_DIGIT_RUN = re.compile(f"[0-9{_CHINESE_DIGITS}]{{3,}}")
_WITHOUT_DIGITS = str.maketrans("", "", "0123456789")
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


def invisible(char: str) -> bool:
    """Whether a character shows as nothing: format characters (zero-width, joiners),
    combining marks, variation selectors, the Hangul fillers."""
    return unicodedata.category(char) in _INVISIBLE_CATEGORIES or char in _FILLERS


def _fold_one(char: str) -> str:
    """Steps 3 and 4 for one character that has been through steps 1 and 2."""
    if char in _FILLERS:
        return ""
    char = CONFUSABLES.get(char, char)
    char = _SHAPES.get(char, char)
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
    char = _BEFORE_NFKC.get(char, char)
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
# The same, with "\x00" for a removed code point instead of nothing: a "marked" text keeps one
# character per original character (when none folds to two or more), so the runs of "\x00"
# give the origins of the folded characters without a list per character.
_MARK: list[int | str | None] = [0 if entry is None else entry for entry in _TABLE]
SEPARATOR = "\x01"  # between the texts of a batch; folds to nothing, so no pattern holds it
_SEPARATOR_CODE = ord(SEPARATOR)
_REMOVED_RUN = re.compile("\x00+")
# The table as an array for `FoldedBatch`, one entry per code point (4.4 MB): the one code
# point a code point folds to, 0 when it is removed, _SPECIAL when it folds to two or more
# or lies beyond `_TABLE` (such a batch is folded one by one). SEPARATOR stands for itself.
_SPECIAL = 0xFFFFFFFF  # the largest uint32, so one max() tells whether a batch has any
_NUMPY_TABLE = numpy.full(0x110000, _SPECIAL, dtype=numpy.uint32)
_NUMPY_TABLE[:_TABLE_LIMIT] = [
    0 if entry is None else entry if isinstance(entry, int) else ord(entry)
    if len(entry) == 1 else _SPECIAL
    for entry in _TABLE
]  # fmt: skip
_NUMPY_TABLE[_SEPARATOR_CODE] = _SEPARATOR_CODE


_SCAN_CODES = "\ue000"  # scan forms map characters to code points from here (private use)
_SCAN_CODE = re.compile("[\ue000-\uf8ff]")
_SCAN_CODE_POINT, _SCAN_CODE_LAST = 0xE000, 0xF8FF


def scan_table(mapping: dict[int, str]) -> numpy.ndarray[Any, numpy.dtype[numpy.uint32]]:
    """The code-point table of `FoldedBatch` with each folded character further mapped by
    `mapping` (a `str.translate` table of one character to one private-use character, from
    U+E000: fold removes private-use characters, so a folded text holds none of them)."""
    lookup = numpy.arange(0x110000, dtype=numpy.uint32)
    lookup[list(mapping)] = [ord(char) for char in mapping.values()]
    table = _NUMPY_TABLE.copy()
    plain = (table != 0) & (table != _SPECIAL)
    table[plain] = lookup[table[plain]]
    return table


def fold_char(char: str) -> str:
    """What one character folds to (before the numeral-run rule): "", one or more chars."""
    code = ord(char)
    if code < _TABLE_LIMIT:
        entry = _TABLE[code]
        if entry is None:
            return ""
        return chr(entry) if isinstance(entry, int) else entry
    return _fold_beyond_table(char)


def _digits_in_runs(folded: str) -> str:
    """Chinese numerals as digits where used as digits: in every run of three or more digits
    and numerals that holds two or more numerals (一三八 → 138, 1三8 stays)."""
    if not _TWO_NUMERALS.search(folded):  # the cheap test first: one 一 is common, two rare
        return folded
    pieces: list[str] = []
    done = 0
    for run in _DIGIT_RUN.finditer(folded):
        digits = run.group()
        if len(digits.translate(_WITHOUT_DIGITS)) >= 2:  # two or more numerals
            start = run.start()
            pieces.append(folded[done:start])
            pieces.append(digits.translate(_TO_DIGITS))
            done = run.end()
    if not pieces:
        return folded
    pieces.append(folded[done:])
    return "".join(pieces)


def fold(text: str) -> str:
    """The folded text (see the module docstring). Pure and deterministic."""
    if _BEYOND_TABLE.search(text):
        folded = "".join(fold_char(char) for char in text)
    else:
        folded = text.translate(_TABLE)
    return _digits_in_runs(folded)


_TABLE_KEEPING_SEPARATOR = list(_TABLE)
_TABLE_KEEPING_SEPARATOR[_SEPARATOR_CODE] = SEPARATOR


def fold_many(texts: Sequence[str]) -> list[str]:
    """`fold` of each text, with one `str.translate` of them all joined by `SEPARATOR` (kept
    there, so that numeral runs stop at it as at the end of a text)."""
    joined = SEPARATOR.join(texts)
    if _BEYOND_TABLE.search(joined) or joined.count(SEPARATOR) != len(texts) - 1:
        return [fold(text) for text in texts]
    return _digits_in_runs(joined.translate(_TABLE_KEEPING_SEPARATOR)).split(SEPARATOR)


def _marked(text: str) -> str:
    """Each character of `text` replaced by what it folds to, or by "\x00" when removed."""
    if _BEYOND_TABLE.search(text):
        return "".join(fold_char(char) or "\x00" for char in text)
    return text.translate(_MARK)


class Folded:
    """A folded text and where each of its characters came from in the original.

    Characters fold one by one, so folded character i comes from one original character,
    `origin(i)`. Origins are given (`starts`) or worked out only when asked for, from the runs
    of removed characters in the marked text: most messages never need them.
    """

    __slots__ = ("_marked", "_one_to_one", "_original", "_removed", "_starts", "text")

    def __init__(
        self,
        text: str,
        original: str,
        *,
        marked: str | None = None,
        starts: list[int] | None = None,
    ) -> None:
        self.text = text
        self._original = original
        self._marked = marked or ""  # aligned with `original` when `_one_to_one`
        self._removed: tuple[list[int], list[int]] | None = None
        self._starts = starts
        # Whether every kept original character folded to exactly one character.
        self._one_to_one = starts is not None or len(self._marked) == len(original)
        if starts is None and not self._one_to_one:  # some character folds to two or more
            starts = []
            for index, char in enumerate(original):
                starts.extend([index] * len(fold_char(char)))
            self._starts = starts

    @property
    def one_to_one(self) -> bool:
        """Whether every kept original character folded to exactly one character (then a
        folded span as long as its original span has nothing removed inside it)."""
        return self._one_to_one

    @property
    def starts(self) -> list[int]:
        """For each folded character, the index of the original character it came from."""
        if self._starts is None:
            starts: list[int] = []
            done = 0
            for run in _REMOVED_RUN.finditer(self._marked):
                starts.extend(range(done, run.start()))
                done = run.end()
            starts.extend(range(done, len(self._original)))
            self._starts = starts
        return self._starts

    def origin(self, index: int) -> int:
        """The index of the original character folded character `index` came from."""
        if self._starts is not None:
            return self._starts[index]
        positions, shifts = self._removed_runs()
        before = bisect.bisect_right(positions, index)
        return index + (shifts[before - 1] if before else 0)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the folded characters [start, end) (end > start)."""
        return self.origin(start), self.origin(end - 1) + 1

    def joined_before(self, index: int) -> bool:
        """Whether folded characters index-1 and index came from neighbouring original
        characters with nothing removed between them (False when unsure: some character
        folded to two or more)."""
        if not self._one_to_one or index <= 0:
            return False
        if self._starts is not None:
            return self._starts[index] == self._starts[index - 1] + 1
        positions = self._removed_runs()[0]
        before = bisect.bisect_left(positions, index)
        return before == len(positions) or positions[before] != index

    def _removed_runs(self) -> tuple[list[int], list[int]]:
        """For each run of removed original characters: the folded index it lies before, and
        how many original characters were removed up to and including it."""
        if self._removed is None:
            positions: list[int] = []
            shifts: list[int] = []
            removed = 0
            for run in _REMOVED_RUN.finditer(self._marked):
                positions.append(run.start() - removed)
                removed += run.end() - run.start()
                shifts.append(removed)
            self._removed = (positions, shifts)
        return self._removed


def fold_with_origins(text: str) -> Folded:
    """`fold(text)` together with where each folded character came from."""
    marked = _marked(text)
    return Folded(_digits_in_runs(marked.replace("\x00", "")), text, marked=marked)


class FoldedBatch:
    """Several texts folded at once, for one automaton pass over all of them.

    `text` holds the folded texts joined by `SEPARATOR` (with `scan`, a code-point table and
    the same as a `str.translate` table, each folded character further mapped 1:1 by it: the
    matcher's scan form, made after the numeral runs are read on the plainly folded text, as
    `fold` then `scan_form` make it; `layout` still gives each text's plain folded text);
    `offsets[k]` is where text k starts in it; `repeats` holds the indexes of the texts
    whose folded text has runs worth a collapsed pass (see `moderation.matcher`). `layout(k)`
    gives text k's own `Folded`; with `scan`, its plain folded text is a slice of the whole
    batch's, kept from the fold (the numeral runs are read on it), not folded again.

    The texts are folded as one array of code points with numpy (a table lookup and a mask):
    `str.translate` looks each character up through a Python object and costs about as much
    as the automaton pass itself; the array lookup costs a fifth of that and gives every
    origin at once. A batch with a character that folds to two or more, lies beyond the
    table, or is SEPARATOR itself is folded with `str.translate` instead (the same result).
    """

    __slots__ = (
        "_marked_parts",
        "_original_codes",
        "_originals",
        "_origins",
        "_plain_text",
        "_scanned",
        "codes",
        "marked",
        "offsets",
        "repeats",
        "text",
    )

    def __init__(
        self,
        texts: Sequence[str],
        scan: tuple[numpy.ndarray[Any, numpy.dtype[numpy.uint32]], dict[int, str]] | None = None,
        marks: numpy.ndarray[Any, numpy.dtype[numpy.uint8]] | None = None,
    ) -> None:
        self._originals = texts
        self._marked_parts: list[str] = []  # when folded one by one
        self._origins: numpy.ndarray[Any, numpy.dtype[numpy.intp]] | None = None
        self._scanned = scan is not None
        self._plain_text: str | None = None  # `text` folded plainly, when folded as an array
        joined = SEPARATOR.join(texts)
        codes = numpy.frombuffer(joined.encode("utf-32-le"), dtype=numpy.uint32)
        self._original_codes = codes
        self.marked = _marked_texts(texts, codes, marks) if marks is not None else {}
        mapped = (_NUMPY_TABLE if scan is None else scan[0])[codes]
        if joined.count(SEPARATOR) == len(texts) - 1 and (not joined or mapped.max() != _SPECIAL):
            kept = mapped != 0
            folded = mapped[kept]
            self._origins = numpy.flatnonzero(kept)
            if scan is None:
                plain = folded.tobytes().decode("utf-32-le")
                self.text = _digits_in_runs(plain)
                if self.text is not plain:
                    folded = _code_points(self.text)
                self._plain_text = self.text
            else:
                self.text, folded, self._plain_text = self._scanned_digits(
                    folded, codes[self._origins]
                )
        else:
            marked = SEPARATOR.join(_marked(text) for text in texts)
            self._marked_parts = marked.split(SEPARATOR)
            self.text = _digits_in_runs(marked.replace("\x00", ""))
            if scan is not None:
                self.text = self.text.translate(scan[1])
            folded = _code_points(self.text)
        separators = numpy.flatnonzero(folded == _SEPARATOR_CODE)
        self.offsets: list[int] = [0, *(separators + 1).tolist()]
        self.repeats = _texts_with_runs(self.text, folded, self.offsets)
        self.codes = folded  # `text` as an array of code points

    @staticmethod
    def _scanned_digits(
        scanned: numpy.ndarray[Any, numpy.dtype[numpy.uint32]],
        originals: numpy.ndarray[Any, numpy.dtype[numpy.uint32]],
    ) -> tuple[str, numpy.ndarray[Any, numpy.dtype[numpy.uint32]], str]:
        """The scan form of the folded batch as text and as code points (`scanned`: the scan
        form of each kept character, `originals`: the original code point of each), and the
        plainly folded text, character for character. The numeral runs are read on the
        plainly folded text, as `fold` reads them before a scan form is made (零 has a sound
        of its own in the scan form: 一三八零零 must still be 13800); their numerals, now
        digits, replace their scan forms."""
        plain_codes = _NUMPY_TABLE[originals]
        plain = plain_codes.tobytes().decode("utf-32-le")
        digits = _digits_in_runs(plain)
        if digits is not plain:
            changed = _code_points(digits)
            scanned = scanned.copy()
            at = changed != plain_codes
            scanned[at] = changed[at]
        return scanned.tobytes().decode("utf-32-le"), scanned, digits

    def joined_before(self, index: int) -> bool | None:
        """`Folded.joined_before` for character `index` of `text`; None when the batch was
        folded one by one (then ask the text's own layout)."""
        origins = self._origins
        if origins is None:
            return None
        return index > 0 and bool(origins[index] - origins[index - 1] == 1)

    def folded(self, index: int) -> str:
        """The folded text of text `index`."""
        end = self.offsets[index + 1] - 1 if index + 1 < len(self.offsets) else len(self.text)
        return self.text[self.offsets[index] : end]

    def plain(self, start: int, end: int) -> str | None:
        """`text[start:end]` folded plainly (not in the scan form): what `layout` gives for
        those characters; None when the batch was folded one by one and some character is in
        the scan form (then ask the text's own layout)."""
        if self._plain_text is not None:  # folded as an array: the plain text is known
            return self._plain_text[start:end]
        stretch = self.text[start:end]
        if not self._scanned or max(stretch, default="") < _SCAN_CODES:
            return stretch
        return None

    def plain_codes(self) -> numpy.ndarray[Any, numpy.dtype[numpy.uint32]] | None:
        """`codes` folded plainly (not in the scan form), as `plain` gives each stretch; None
        when the batch was folded one by one and some character is in the scan form."""
        codes: numpy.ndarray[Any, numpy.dtype[numpy.uint32]] = self.codes
        if not self._scanned:
            return codes
        scanned = numpy.flatnonzero((codes >= _SCAN_CODE_POINT) & (codes <= _SCAN_CODE_LAST))
        if not len(scanned):
            return codes
        if self._origins is None:
            return None
        plain: numpy.ndarray[Any, numpy.dtype[numpy.uint32]] = codes.copy()
        plain[scanned] = _NUMPY_TABLE[self._original_codes[self._origins[scanned]]]
        return plain

    def layout(self, index: int) -> Folded:
        """Text `index` folded (plain, not in the scan form), with its origins."""
        original = self._originals[index]
        folded = self.folded(index)
        scanned = self._scanned and folded and max(folded) >= _SCAN_CODES
        if self._origins is None:
            if scanned:
                folded = fold(original)  # some character is in the scan form: fold it plainly
            return Folded(folded, original, marked=self._marked_parts[index])
        start = self.offsets[index]
        end = self.offsets[index + 1] - 1 if index + 1 < len(self.offsets) else len(self.text)
        # Where text `index` starts in the joined original: every text before it, each
        # followed by one SEPARATOR, which is kept and so is the folded character before
        # `start` (or it is the first text).
        shift = int(self._origins[start - 1]) + 1 if start else 0
        starts = (self._origins[start:end] - shift).tolist()
        if scanned and self._plain_text is not None:  # the batch's plain text, folded once
            folded = self._plain_text[start:end]
        elif scanned:  # the characters in the scan form, folded plainly from the original
            folded = _SCAN_CODE.sub(lambda code: fold_char(original[starts[code.start()]]), folded)
        return Folded(folded, original, starts=starts)


# What a `marks` table (see `FoldedBatch`) says a code point is in the original text.
MARK_CHINESE = 1
MARK_LATIN = 2
MARK_BEFORE_LATIN = 3  # marks its text when a Latin letter follows
MARK_ALONE = 4  # marks its text by itself
# Which pairs of neighbours (kind before * 5 + kind after) mark their text.
_MARKING_PAIRS = numpy.zeros(25, dtype=numpy.bool_)
for _before in range(5):
    for _after in range(5):
        _MARKING_PAIRS[_before * 5 + _after] = (
            {_before, _after} == {MARK_CHINESE, MARK_LATIN}
            or (_before, _after) == (MARK_BEFORE_LATIN, MARK_LATIN)
            or MARK_ALONE in (_before, _after)
        )


def _marked_texts(
    texts: Sequence[str],
    codes: numpy.ndarray[Any, numpy.dtype[numpy.uint32]],
    marks: numpy.ndarray[Any, numpy.dtype[numpy.uint8]],
) -> dict[int, list[int]]:
    """The texts (joined as `codes`, one SEPARATOR between) holding a code point marked
    MARK_ALONE, one marked MARK_BEFORE_LATIN before a Latin letter, or a Chinese character
    and a Latin letter side by side: text index → where in the text each such pair starts."""
    if len(codes) < 2:
        return {0: [0]} if len(codes) and marks[codes[0]] == MARK_ALONE else {}
    kinds = marks[codes]
    found = numpy.flatnonzero(_MARKING_PAIRS[kinds[:-1] * 5 + kinds[1:]])
    if not len(found):
        return {}
    starts = [0]
    for text in texts[:-1]:
        starts.append(starts[-1] + len(text) + 1)
    marked: dict[int, list[int]] = {}
    # A pair starting on the SEPARATOR before a text belongs to that text (a symbol that
    # starts it), one position before its start.
    for position, index in zip(
        found.tolist(),
        (numpy.searchsorted(starts, found + 1, side="right") - 1).tolist(),
        strict=True,
    ):
        marked.setdefault(index, []).append(position - starts[index])
    return marked


def _code_points(text: str) -> numpy.ndarray[Any, numpy.dtype[numpy.uint32]]:
    return numpy.frombuffer(text.encode("utf-32-le"), dtype=numpy.uint32)


def _texts_with_runs(
    text: str, folded: numpy.ndarray[Any, numpy.dtype[numpy.uint32]], offsets: list[int]
) -> set[int]:
    """The indexes of the texts (starting at `offsets` in `text`) with a letter three times in
    a row, or with two runs of a repeated character at most one character apart (微微信信,
    加微微x信信): the texts a collapsed pass can find something new in. The array finds the
    repeated characters; the few runs they make are checked one by one."""
    doubles = numpy.flatnonzero(folded[1:] == folded[:-1]).tolist()
    found: set[int] = set()
    previous_end = -2
    index = 0
    while index < len(doubles):
        start = last = doubles[index]
        index += 1
        while index < len(doubles) and doubles[index] == last + 1:
            last = doubles[index]
            index += 1
        end = last + 2
        char = text[start]
        if char == SEPARATOR:
            continue  # texts that folded to nothing
        if (end - start >= 3 and "a" <= char <= "z") or (
            start - previous_end <= 1 and SEPARATOR not in text[previous_end:start]
        ):
            found.add(bisect.bisect_right(offsets, start) - 1)
        previous_end = end
    return found
