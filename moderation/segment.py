"""`Segmenter`: where a reader of Chinese sees the word boundaries around a hit.

A lexicon word found across the boundary of two ordinary words is not there for a reader:
路口|交通 holds no 口交, 打赌|博士 no 赌博, 角色|情感 no 色情. The matcher asks `crossing` about a
hit in Chinese characters, and drops it when the most likely reading of the few characters
around it splits the hit with a word that reaches outside it.

The dictionary is jieba's (`jieba/dict.txt`, MIT; its words of one to four characters with a
frequency of 5 or more, generated into `moderation._words_data` by `scripts/gen_tables.py`),
with the words of the 2010s it lacks (微博, 点赞, 抖音) from wordfreq's Chinese list (data
CC BY-SA 4.0; scripts/gen_tables.py says which are kept).
Why jieba's: it is the dictionary of the most used Chinese segmenter, with word frequencies
counted over a large general corpus; the maintained ports (jieba-rs, jieba-fast, rjieba) ship
the same file; and it is MIT-licensed. Only the dictionary is used, not the library: the
reading is computed here, over at most `WINDOW` characters on each side of a hit, so messages
without a hit cost nothing, and moderation/ keeps its rule of pure code without I/O. The
cheap test before a reading (`may_cross`: does a dictionary word reach into the hit?) also
runs on a whole batch of two-character stretches at once (`pairs_apart`, for the sound pass),
against a set of the dictionary's words as integers built at its first call, with a bit set of
their hashes in front of it that rules most keys out in one array lookup.

The reading is the segmentation of highest probability under a unigram model (each word's
probability its frequency over the dictionary's total, an unknown single character frequency
1; jieba's own method without its HMM for unknown words). The lexicon's words join the
dictionary, each with the frequency jieba's `suggest_freq` would give it (just enough to be
read as one word on its own), so that a listed word stays a unit where nothing around it
reads better (专业|代开发票, 信用卡|套现).

A hit that a longer word of the dictionary holds with two characters or more to spare is part
of that word, a word of its own (鸦片战争, 水乳交融, 大麻哈鱼, 固体废物: `holding`); one more
character makes a derivation that keeps the hit's sense (赌博机, 强奸犯, 色情狂), so it stands.

An abuse word has a literal sense besides the insult (废物 waste, 杂种 hybrid, 弱智 intellectual
disability), and a technical term that starts with it, two characters to spare, means that
sense (杂种优势, 废物利用, 弱智儿童): `term_holding` looks for one among jieba's rare
four-character words too, those of a frequency below the segmenter's cut
(`moderation._terms_data`). Only where the hit starts the term: the head of a Chinese compound
is its last part, so a term that starts with the word is about something else (优势, 儿童),
while one that ends with it is still one (民族败类, 地痞流氓 are insults; 危险废物 is waste only
because 废物 is). And only abuse words: the words of the other categories (赌博, 色情, 毒品) keep
their sense inside a compound (赌博网站, 色情小说), and rare compounds name them often. A rare
term that starts with an abuse word and is still an insult (王八羔子, 禽兽不如) hides it: a
list that means it lists the term.

A hit is dropped only when the best reading *crosses* it (a word holds part of the hit and
part of its surroundings) and that reading is more likely than the best reading that keeps
the hit whole by a factor of `MARGIN`. A word that holds the whole hit and more does not cross
it: 色情片 and 赌博机 still hold their lexicon words.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable
from typing import Any

import numpy

from moderation._terms_data import TERMS
from moderation._words_data import COMMON, TOTAL, WORDS
from moderation.fold import SIMPLIFIED

__all__ = [
    "COMMON_CHARS",
    "FUNCTION_CHARS",
    "MARGIN",
    "WINDOW",
    "Segmenter",
    "dictionary_word",
    "pairs_apart",
    "phrase_around",
    "term_holding",
    "word_frequency",
]

WINDOW = 4  # characters read on each side of a hit (a crossing word reaches 3 past it)
MAX_WORD = 4  # the longest dictionary word, in characters
# How much more likely (as a natural logarithm: about 150 times) the crossing reading must be.
# Readings that replace the hit and its neighbours by fewer, common words (路口|交通 against
# 路|口交|通) win by far more; two readings with as many words (办|假证|件 against 办|假|证件)
# stay within it, so the hit is kept.
MARGIN = 2.0

_LOG_TOTAL = math.log(TOTAL)
_UNKNOWN = -_LOG_TOTAL  # log probability of a single character the dictionary does not have
_LOG_PROB: dict[str, float] = {}
for _line in WORDS.splitlines():
    _word, _, _frequency = _line.partition(" ")
    _LOG_PROB[_word] = math.log(int(_frequency)) - _LOG_TOTAL
del _line, _word, _frequency

COMMON_CHARS = frozenset(COMMON)  # the most frequent characters (see moderation._words_data)
# The characters that are words on their own most of the time, each with a probability of at
# least 1 in 500 in the dictionary (了 是 在 和 有 他 不 我 的 人 … 要 …): the function words
# and pronouns of every sentence.
FUNCTION_CHARS = frozenset(
    word for word, log in _LOG_PROB.items() if len(word) == 1 and log >= math.log(2e-3)
)

# Which pairs of neighbouring characters occur inside a word of the dictionary, as a bit set
# indexed by a hash of the pair (false positives only: `may_cross` then looks the words up).
_PAIR_BITS = 1 << 23


def _pair_bits() -> bytes:
    """The bit set of `_inside_a_word`, made with numpy at once (a Python loop over the
    dictionary's 300,000 pairs took a tenth of a second of every process's start)."""
    codes = numpy.frombuffer("\n".join(_LOG_PROB).encode("utf-32-le"), dtype=numpy.uint32)
    before, after = codes[:-1].astype(numpy.int64), codes[1:].astype(numpy.int64)
    hashes = ((before * 40503 + after) % _PAIR_BITS)[(before != 10) & (after != 10)]
    bits = numpy.zeros(_PAIR_BITS // 8, dtype=numpy.uint8)
    numpy.bitwise_or.at(bits, hashes >> 3, numpy.left_shift(1, hashes & 7).astype(numpy.uint8))
    return bits.tobytes()  # bytes: indexing it gives an int, fast in the hot path


_PAIRS = _pair_bits()


def _inside_a_word(before: str, after: str) -> bool:
    """Whether the pair of characters may occur inside a word of the dictionary."""
    pair = (ord(before) * 40503 + ord(after)) % _PAIR_BITS
    return bool(_PAIRS[pair >> 3] & (1 << (pair & 7)))


def word_frequency(word: str) -> float:
    """The log probability of `word` (a character too) in the dictionary, -inf without one."""
    return _LOG_PROB.get(word, -math.inf)


def dictionary_word(chars: str) -> bool:
    """Whether `chars` (two or more characters) is a word of the dictionary."""
    return len(chars) >= 2 and chars in _LOG_PROB


def _segment(
    text: str, extra: dict[str, float] | None = None
) -> tuple[float, list[int], list[float]]:
    """The best reading of `text`: its log probability, the cut positions (0 … len), and the
    best log probability of each prefix. Words are the dictionary's, of up to `MAX_WORD`
    characters, and those of `extra` (word → log probability), which take the better of
    the two probabilities."""
    size = len(text)
    best = [0.0] * (size + 1)
    back = [0] * (size + 1)
    words = _LOG_PROB
    for last in range(1, size + 1):
        char = text[last - 1]
        # A single character: the dictionary's, else rare for a Chinese one, and free for
        # a letter, digit or anything else (no Chinese word: a run of them is one token, as
        # in jieba).
        single = words.get(char)
        if single is None:
            single = _UNKNOWN if "\u3400" <= char <= "\u9fff" else 0.0
        top = best[last - 1] + single
        cut = last - 1
        for first in range(max(0, last - MAX_WORD), last - 1):
            chars = text[first:last]
            score = words.get(chars)
            if extra is not None:
                joined = extra.get(chars)
                if joined is not None and (score is None or joined > score):
                    score = joined
            if score is not None and best[first] + score > top:
                top = best[first] + score
                cut = first
        best[last] = top
        back[last] = cut
    cuts = [size]
    while cuts[-1] > 0:
        cuts.append(back[cuts[-1]])
    cuts.reverse()
    return best[size], cuts, best


class Segmenter:
    """The dictionary with the lexicon's words joined (`extra`: folded words)."""

    __slots__ = ("_extra", "_suggested")

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._extra = frozenset(word for word in extra if len(word) >= 2)
        self._suggested: dict[str, float] = {}  # lexicon word → its log probability

    def _joined(self, window: str) -> dict[str, float]:
        """The lexicon's words found in `window`, with their log probabilities."""
        found = {}
        for first in range(len(window) - 1):
            for last in range(first + 2, min(len(window), first + MAX_WORD) + 1):
                chars = window[first:last]
                if chars in self._extra:
                    known = self._suggested.get(chars)
                    if known is None:
                        known = self._suggested[chars] = _suggest(chars)
                    found[chars] = known
        return found

    def crossing(self, text: str, start: int, end: int) -> str:
        """The reading that splits the hit text[start:end] ("路口|交通"), "" when it stands.

        `text` is the folded text around the hit; `WINDOW` characters on each side are read
        (the caller cuts `text` at sentence breaks first)."""
        if not self.may_cross(text, start, end):
            return ""
        low = max(0, start - WINDOW)
        window = text[low : min(len(text), end + WINDOW)]
        start, end = start - low, end - low
        score, cuts, prefixes = _segment(window)
        pieces = list(itertools.pairwise(cuts))
        if not any(a < start < b < end or start < a < end < b for a, b in pieces):
            return ""
        joined = self._joined(window)
        hit = window[start:end]
        whole = max(_LOG_PROB.get(hit, -math.inf), joined.get(hit, -math.inf))
        if whole == -math.inf:
            whole = _suggest(hit) if hit in self._extra else _segment(hit, joined)[0]
        left = _segment(window[:start], joined)[0] if joined else prefixes[start]
        kept = left + whole + _segment(window[end:], joined or None)[0]
        if kept - score > MARGIN:
            return ""
        return "|".join(window[a:b] for a, b in pieces if b > start and a < end)

    def holding(self, text: str, start: int, end: int) -> str:
        """The word of the dictionary, not a lexicon word, that holds the hit text[start:end]
        with at least two more characters ("" when there is none): 鸦片战争 for 鸦片."""
        spare = MAX_WORD - (end - start)
        for low in range(max(0, start - spare), start + 1):
            for high in range(max(end, low + end - start + 2), min(len(text), low + MAX_WORD) + 1):
                word = text[low:high]
                if word in _LOG_PROB and word not in self._extra:
                    return word
        return ""

    def may_cross(self, text: str, start: int, end: int) -> str:
        """A word of the dictionary that holds the characters on both sides of one of the
        hit's edges without holding the whole hit ("" when there is none): the cheap test
        before any reading is computed (the reading that crosses a hit is the dictionary's)."""
        for edge in (start, end):
            if 0 < edge < len(text) and _inside_a_word(text[edge - 1], text[edge]):
                for first, last in _AROUND:
                    low, high = edge + first, edge + last
                    if (
                        low >= 0
                        and high <= len(text)
                        and not (low <= start and high >= end)
                        and text[low:high] in _LOG_PROB
                    ):
                        return text[low:high]
        return ""


_TERM = 4  # the characters of a rare term (`moderation._terms_data`)


@functools.cache
def _terms() -> frozenset[str]:
    """The rare terms of `moderation._terms_data`, made into a set at the first call."""
    return frozenset(TERMS[at : at + _TERM] for at in range(0, len(TERMS), _TERM))


def term_holding(text: str, start: int, end: int) -> str:
    """The rare term of the dictionary that starts with the hit text[start:end] and holds two
    more characters ("" when there is none): 杂种优势 for 杂种 (`Segmenter.holding` finds the
    dictionary's other words). For abuse words only, whose literal sense such a term means
    (the module docstring)."""
    if end - start != _TERM - 2:
        return ""
    word = text[start : start + _TERM]
    return word if len(word) == _TERM and word in _terms() else ""


_Codes = numpy.ndarray[Any, numpy.dtype[numpy.uint32]]
_NO_CHAR = 0xFFFF  # a non-character: in no word of the dictionary (whose are all below it)


_KEY_BITS = 20  # `_word_key_bits`: 2**20 flags (1 MiB as booleans), an eighth of them set
_GOLDEN = numpy.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing


def _key_hashes(keys: numpy.ndarray[Any, numpy.dtype[numpy.uint64]]) -> Any:
    return (keys * _GOLDEN) >> numpy.uint64(64 - _KEY_BITS)  # wraps around, as meant


@functools.cache
def _word_key_bits() -> numpy.ndarray[Any, numpy.dtype[numpy.bool_]]:
    """Which hashes of `_word_keys` occur: `pairs_apart` looks up in the set only the keys
    whose hash is here (about an eighth of them, not all), so that most keys are ruled out by one
    array lookup."""
    bits = numpy.zeros(1 << _KEY_BITS, dtype=numpy.bool_)
    bits[_key_hashes(numpy.fromiter(_word_keys(), dtype=numpy.uint64))] = True
    return bits


@functools.cache
def _word_keys() -> frozenset[int]:
    """The dictionary's words of 2 to 4 characters, each as one integer (16 bits per
    character, the first in the highest bits: every character of the dictionary is in the
    Basic Multilingual Plane and none is U+0000, so words of different lengths never share
    an integer); made with numpy when `pairs_apart` is first called (a set of Python ints:
    looking a few hundred keys up in it costs a quarter of a `numpy.searchsorted`)."""
    codes = numpy.frombuffer(
        "\n".join(word for word in _LOG_PROB if len(word) >= 2).encode("utf-32-le"),
        dtype=numpy.uint32,
    )
    if len(codes) and (int(codes.max()) >= _NO_CHAR or int(codes.min()) == 0):
        raise ValueError("a dictionary word beyond the Basic Multilingual Plane, or U+0000")
    ends = numpy.flatnonzero(codes == 10)
    starts = numpy.concatenate(([0], ends + 1))
    lengths = numpy.diff(numpy.concatenate((starts, [len(codes) + 1]))) - 1
    padded = numpy.concatenate((codes, numpy.zeros(MAX_WORD, dtype=numpy.uint32)))
    keys = []
    for size in range(2, MAX_WORD + 1):
        first = starts[lengths == size]
        key = numpy.zeros(len(first), dtype=numpy.uint64)
        for offset in range(size):
            key = (key << numpy.uint64(16)) | padded[first + offset].astype(numpy.uint64)
        keys.append(key)
    return frozenset(numpy.concatenate(keys).tolist())


# Where, around a two-character stretch at p, `pairs_apart` reads: p - 3 … p + 5.
_READ = numpy.arange(-(MAX_WORD - 1), MAX_WORD + 2)


def pairs_apart(codes: _Codes, positions: numpy.ndarray[Any, numpy.dtype[Any]]) -> Any:
    """For each two-character stretch codes[p:p + 2] (p in `positions`), whether the
    dictionary leaves it apart from the text: it is no word of the dictionary, and no word of
    the dictionary reaches into it (`may_cross` finds nothing). The same answers as
    `not dictionary_word(...) and not may_cross(...)` on the text, for the whole array at once
    (a boolean array)."""
    count = len(positions)
    if not count:
        return numpy.ones(0, dtype=numpy.bool_)
    listed = _word_keys()
    padded = numpy.full(len(codes) + 2 * MAX_WORD + 2, _NO_CHAR, dtype=numpy.uint64)
    padded[MAX_WORD : MAX_WORD + len(codes)] = numpy.clip(codes, 1, _NO_CHAR)
    # Columns: the characters p - 3 … p + 5 (p the stretch's first).
    chars = padded[(positions + MAX_WORD)[:, None] + _READ[None, :]]
    sixteen = numpy.uint64(16)
    keys = numpy.empty((7, count), dtype=numpy.uint64)
    # The words ending on the stretch's first character (2, 3, 4 characters) ...
    keys[0] = (chars[:, 2] << sixteen) | chars[:, 3]
    keys[1] = (chars[:, 1] << numpy.uint64(32)) | keys[0]
    keys[2] = (chars[:, 0] << numpy.uint64(48)) | keys[1]
    # ... the stretch itself, and the words starting on its second character.
    keys[3] = (chars[:, 3] << sixteen) | chars[:, 4]
    keys[4] = (chars[:, 4] << sixteen) | chars[:, 5]
    keys[5] = (keys[4] << sixteen) | chars[:, 6]
    keys[6] = (keys[5] << sixteen) | chars[:, 7]
    flat = keys.ravel()
    # Only the keys whose hash a word has are looked up in the set (`_word_key_bits`).
    maybe = numpy.flatnonzero(_word_key_bits()[_key_hashes(flat)])
    found = numpy.zeros(7 * count, dtype=numpy.bool_)
    if len(maybe):
        found[maybe] = numpy.fromiter(
            map(listed.__contains__, flat[maybe].tolist()), dtype=numpy.bool_, count=len(maybe)
        )
    return ~found.reshape(7, count).any(axis=0)


# The spans, relative to an edge, of the words of two to `MAX_WORD` characters around it.
_AROUND = tuple(
    (first, last)
    for first in range(-(MAX_WORD - 1), 0)
    for last in range(1, MAX_WORD)
    if last - first <= MAX_WORD
)


def _suggest(word: str) -> float:
    """jieba's `suggest_freq`, as a log probability: the frequency at which `word` is read as
    one word rather than as its own best split."""
    best = _segment(word)[0]
    return math.log(math.exp(best + _LOG_TOTAL) + 1) - _LOG_TOTAL


# -- the allow-list phrase around a hit ----------------------------------------------------

PHRASE_REACH = 32  # characters read on each side of a hit for its phrase (letters, digits)
MAX_LATIN_NEIGHBOUR = 24  # characters of a Latin word (letters and digits) taken into a phrase


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def phrase_around(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The allow-list phrase that would keep the hit text[start:end] from counting, as a span
    of `text`: the smallest stretch of whole words of the best reading around the hit that
    holds it and at least one neighbouring character, so that allowing the phrase does not
    allow the word itself. None when the hit stands alone (between spaces, punctuation or the
    ends of the text) or its only neighbours are Latin words too long to be a phrase.

    The words that the reading cuts across the hit come with it (打赌|博士 for 赌博 in
    我打赌博士今天不来: 打赌博士; 路口|交通 for 口交: 路口交通). When the reading has the hit as a
    word of its own (今晚一起去|赌博|吧), the shorter neighbouring word joins it, the one
    before on a tie (去赌博). A run of Latin letters and digits is one word, taken whole when
    it has at most `MAX_LATIN_NEIGHBOUR` characters (a1b2赌博). The reading is that of
    `_segment` over the letters and digits around the hit, traditional characters read as
    simplified ones; the hit itself may hold the noise the matcher read across (赌😀博)."""
    if not 0 <= start < end <= len(text):
        return None
    low = start
    while low > 0 and text[low - 1].isalnum() and start - low < PHRASE_REACH:
        low -= 1
    high = end
    while high < len(text) and text[high].isalnum() and high - end < PHRASE_REACH:
        high += 1
    window = text[low:high]
    # A Latin run that reaches the edge of the window may go on past it: too long to take.
    cut_short = {
        edge
        for edge, inside, outside in ((low, low, low - 1), (high, high - 1, high))
        if 0 <= outside < len(text) and _latin(text[inside]) and _latin(text[outside])
    }
    # read as simplified characters (one for one): the dictionary is simplified
    _score, reading, _prefixes = _segment(window.translate(SIMPLIFIED))
    cuts = [
        low + cut
        for cut in reading
        if cut in (0, len(window)) or not (_latin(window[cut - 1]) and _latin(window[cut]))
    ]
    words = list(itertools.pairwise(cuts))

    def usable(first: int, last: int) -> bool:
        """Whether a word may be part of a phrase (a Latin one only if short and whole)."""
        if not _latin(text[first]):
            return True
        return last - first <= MAX_LATIN_NEIGHBOUR and not ({first, last} & cut_short)

    held = [(first, last) for first, last in words if last > start and first < end]
    if not all(usable(a, b) for a, b in held if a < start or b > end):
        return None
    first, last = held[0][0], held[-1][1]
    if (first, last) != (start, end):
        return first, last
    before = next(((a, b) for a, b in words if b == start and usable(a, b)), None)
    after = next(((a, b) for a, b in words if a == end and usable(a, b)), None)
    if before is not None and (after is None or before[1] - before[0] <= after[1] - after[0]):
        return before[0], end
    if after is not None:
        return start, after[1]
    return None
