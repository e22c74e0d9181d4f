"""`Segmenter`: where a reader of Chinese sees the word boundaries around a hit.

A lexicon word found across the boundary of two ordinary words is not there for a reader:
路口|交通 holds no 口交, 打赌|博士 no 赌博, 角色|情感 no 色情. The matcher asks `crossing` about a
hit in Chinese characters, and drops it when the most likely reading of the few characters
around it splits the hit with a word that reaches outside it.

The dictionary is jieba's (`jieba/dict.txt`, MIT; its words of one to four characters with a
frequency of 5 or more, generated into `moderation._words_data` by `scripts/gen_tables.py`).
Why jieba's: it is the dictionary of the most used Chinese segmenter, with word frequencies
counted over a large general corpus; the maintained ports (jieba-rs, jieba-fast, rjieba) ship
the same file; and it is MIT-licensed. Only the dictionary is used, not the library: the
reading is computed here, over at most `WINDOW` characters on each side of a hit, so messages
without a hit cost nothing, and moderation/ keeps its rule of pure code without I/O.

The reading is the segmentation of highest probability under a unigram model (each word's
probability its frequency over the dictionary's total, an unknown single character frequency
1; jieba's own method without its HMM for unknown words). The lexicon's words join the
dictionary, each with the frequency jieba's `suggest_freq` would give it (just enough to be
read as one word on its own), so that a listed word stays a unit where nothing around it
reads better (专业|代开发票, 信用卡|套现).

A hit is dropped only when the best reading *crosses* it (a word holds part of the hit and
part of its surroundings) and that reading is more likely than the best reading that keeps
the hit whole by a factor of `MARGIN`. A word that holds the whole hit and more does not cross
it: 色情片 and 赌博机 still hold their lexicon words.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable

from moderation._words_data import COMMON, TOTAL, WORDS

__all__ = ["COMMON_CHARS", "MARGIN", "WINDOW", "Segmenter", "dictionary_word"]

WINDOW = 6  # characters read on each side of a hit
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


def dictionary_word(chars: str) -> bool:
    """Whether `chars` (two or more characters) is a word of the dictionary."""
    return len(chars) >= 2 and chars in _LOG_PROB


_LogProb = Callable[[str], "float | None"]


def _segment(text: str, log_prob: _LogProb, longest: int) -> tuple[float, list[int]]:
    """The best reading of `text`: its log probability and the cut positions (0 … len)."""
    size = len(text)
    best = [0.0] + [-math.inf] * size
    back = [0] * (size + 1)
    for last in range(1, size + 1):
        for first in range(max(0, last - longest), last):
            if best[first] == -math.inf:
                continue
            score = log_prob(text[first:last])
            if score is not None and best[first] + score > best[last]:
                best[last] = best[first] + score
                back[last] = first
    cuts = [size]
    while cuts[-1] > 0:
        cuts.append(back[cuts[-1]])
    cuts.reverse()
    return best[size], cuts


class Segmenter:
    """The dictionary with the lexicon's words joined (`extra`: folded words)."""

    __slots__ = ("_extra", "_longest", "_suggested")

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._extra = frozenset(word for word in extra if len(word) >= 2)
        self._longest = max(MAX_WORD, max(map(len, self._extra), default=0))
        self._suggested: dict[str, float] = {}  # lexicon word → its log probability

    def _log_prob(self, chars: str) -> float | None:
        """The log probability of `chars` as one word, None when it is not one."""
        known = _LOG_PROB.get(chars)
        if chars in self._extra:
            suggested = self._suggested.get(chars)
            if suggested is None:
                suggested = self._suggested[chars] = _suggest(chars)
            return suggested if known is None else max(known, suggested)
        if known is None and len(chars) == 1:
            return _single(chars)
        return known

    def crossing(self, text: str, start: int, end: int) -> str:
        """The reading that splits the hit text[start:end] ("路口|交通"), "" when it stands.

        `text` is the folded text around the hit; `WINDOW` characters on each side are read
        (the caller cuts `text` at sentence breaks first)."""
        if not self._may_cross(text, start, end):
            return ""
        low = max(0, start - WINDOW)
        window = text[low : min(len(text), end + WINDOW)]
        start, end = start - low, end - low
        score, cuts = _segment(window, _dictionary_log_prob, MAX_WORD)
        pieces = list(itertools.pairwise(cuts))
        if not any(a < start < b < end or start < a < end < b for a, b in pieces):
            return ""
        whole = self._log_prob(window[start:end])
        if whole is None:
            whole = _segment(window[start:end], self._log_prob, self._longest)[0]
        kept = (
            _segment(window[:start], self._log_prob, self._longest)[0]
            + whole
            + _segment(window[end:], self._log_prob, self._longest)[0]
        )
        if kept - score > MARGIN:
            return ""
        return "|".join(window[a:b] for a, b in pieces if b > start and a < end)

    def _may_cross(self, text: str, start: int, end: int) -> bool:
        """Whether a word of the dictionary or lexicon holds the characters on both sides of
        one of the hit's edges without holding the whole hit: the cheap test before any
        reading is computed."""
        longest = self._longest
        for edge in (start, end):
            if edge <= 0 or edge >= len(text):
                continue
            for first in range(max(0, edge - longest + 1), edge):
                for last in range(edge + 1, min(len(text), first + longest) + 1):
                    if first <= start and last >= end:
                        break  # this word and every longer one holds the whole hit
                    chars = text[first:last]
                    if chars in _LOG_PROB or chars in self._extra:
                        return True
        return False


def _single(char: str) -> float:
    """The log probability of a character the dictionary does not have: an unknown Chinese
    character is rare; a letter, digit or other character is no Chinese word at all and
    costs nothing (a run of them is one token, as in jieba)."""
    return _UNKNOWN if "\u3400" <= char <= "\u9fff" else 0.0


def _dictionary_log_prob(chars: str) -> float | None:
    known = _LOG_PROB.get(chars)
    if known is None and len(chars) == 1:
        return _single(chars)
    return known


def _suggest(word: str) -> float:
    """jieba's `suggest_freq`, as a log probability: the frequency at which `word` is read as
    one word rather than as its own best split."""
    best = _segment(word, _dictionary_log_prob, MAX_WORD)[0]
    return math.log(math.exp(best + _LOG_TOTAL) + 1) - _LOG_TOTAL
