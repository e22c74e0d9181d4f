"""How disguised writing is read: sounds, digits, symbols, components, zhuyin and leet.

`SensitiveWordMatcher` finds most disguises in one automaton pass over the folded text, with
patterns made when it is built; the rest it reads by rewriting the few messages that carry
disguise material, and searching the rewritten text again. This module holds the data and
the pure functions for both.

Read in the one pass:

- **Homophones.** The scan text is the folded text with every uncommon Chinese character
  (not among the `COMMON_CHARS` most frequent, about 90% of running text) replaced by a code
  for its toneless syllable (`scan_form`); lexicon words are written the same way, so 睹博
  and 赌博 scan alike (赌 睹 are both uncommon and read du). A word's common characters stand
  for themselves (an ordinary writer types them, and they are too frequent to be read as
  anything else), and each also gets one pattern where it may be written with an uncommon
  character of its sound (色晴 for 色情). What matched is told apart afterwards by comparing
  the characters.
- **Digits for characters** (`digit_variants`): a character read like a digit may be written
  as that digit, one per pattern (去4 for 去死, 约9 for 约酒): `DIGIT_SOUNDS`.
- **Leet** (`leet_variants`): an ASCII word with 1 for i or l, 3 for e, 0 for o, 4 for a, 5 for
  s, 7 for t, one letter at a time, one letter everywhere (a55hole) and all at once (sh1t,
  p0rn, 5hi7), as long as more than half of it stays letters (157 is a number, not ist).
- **Components** (`COMPONENT_PAIRS`): a character split into two side by side (亻言 for 信,
  贝者 for 赌). Each character of the lexicon that can be split so adds its pairs as
  patterns; a pair found is put back together in a rewrite (below).

Read by rewriting (`rewrite_chars`, `rewrite_sounds`), only for a message that holds the
material (the caller finds it cheaply):

- **Symbols** (`SYMBOLS`): an emoji standing for a character (草泥🐴, 🐔巴) is replaced by it.
- **Sounds**: every Chinese character is written as its pinyin and zhuyin (ㄉㄨˇ ㄅㄛˊ) as
  pinyin, so that a word spelled half in characters and half in pinyin (刷dan, yue炮) or in
  zhuyin meets the lexicon's pinyin patterns. Syllables are kept apart by a space, which the
  pinyin rules accept between syllables. The matcher keeps only what the material took part
  in and whose characters are the word's own (a character read by its sound alone is a
  homophone, for the pass to judge).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy

from moderation._components_data import COMPONENTS
from moderation._pinyin_data import BOPOMOFO, PINYIN
from moderation._words_data import COMMON
from moderation.fold import fold, fold_char, scan_table
from moderation.segment import COMMON_CHARS, word_frequency

__all__ = [
    "BOPOMOFO_SYLLABLE",
    "COMPONENT_PAIRS",
    "DIGIT_SOUNDS",
    "HANGUL_SYLLABLE",
    "SCAN",
    "SCAN_TABLE",
    "SYLLABLE_OF",
    "SYMBOLS",
    "Rewrite",
    "SoundIndex",
    "anchor",
    "beside_latin",
    "digit_variants",
    "hangul_syllable_end",
    "inserted",
    "leet_variants",
    "pinyin",
    "pinyin_run",
    "rewrite_chars",
    "rewrite_sounds",
    "scan_form",
    "sound_form",
    "spelled_many",
    "syllables",
]

# --- Sounds ------------------------------------------------------------------------------------

SYLLABLE_OF: dict[str, str] = {
    char: syllable
    for line in PINYIN.splitlines()
    for syllable, chars in [line.split(":", 1)]
    for char in chars
}
_SYLLABLES = sorted({syllable for syllable in SYLLABLE_OF.values()})
_CLASS_BASE = 0xE000  # private use: never in folded text (fold removes private-use code points)
_CLASS_OF_SYLLABLE = {syllable: chr(_CLASS_BASE + i) for i, syllable in enumerate(_SYLLABLES)}
# Uncommon character → the code of its syllable; common characters are not in it.
_SCAN: dict[int, str] = {
    ord(char): _CLASS_OF_SYLLABLE[syllable]
    for char, syllable in SYLLABLE_OF.items()
    if char not in COMMON_CHARS
}


def scan_form(folded: str) -> str:
    """The folded text as the automaton reads it: uncommon characters by their sound."""
    return folded.translate(_SCAN)


SCAN_TABLE = scan_table(_SCAN)  # `scan_form` of `fold` of every code point, for `FoldedBatch`
# Common character → the code of its syllable: with `_SCAN`, every character by its sound.
_SOUND: dict[int, str] = {
    ord(char): _CLASS_OF_SYLLABLE[syllable]
    for char, syllable in SYLLABLE_OF.items()
    if char in COMMON_CHARS
}
_SOUND_ARRAY = numpy.arange(0x110000, dtype=numpy.uint32)
_SOUND_ARRAY[list(_SOUND)] = [ord(code) for code in _SOUND.values()]


def _heard_code(code: int) -> int:
    """The code point of a scan-form character read by its sound (itself when it has none)."""
    return int(_SOUND_ARRAY[code])


def sound_form(scanned: str) -> str:
    """A text in scan form with its common characters read by their sound too: every
    character by its sound (the sound pass of long words: 他吗的 for 他妈的)."""
    return scanned.translate(_SOUND)


SCAN = (SCAN_TABLE, _SCAN)  # what `FoldedBatch(texts, scan=...)` takes

_HASH_BITS = 24  # `SoundIndex` keys hash into a bit set of 2**24 bits (2 MiB)
_GOLDEN = numpy.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing


def _hashes(keys: numpy.ndarray) -> numpy.ndarray:
    with numpy.errstate(over="ignore"):
        return (keys * _GOLDEN) >> numpy.uint64(64 - _HASH_BITS)


class SoundIndex:
    """The sound pass: lexicon words heard in a text whose characters are read by their
    sound. A word of three characters or more is heard with any of its characters written by
    another of the same sound (他吗的 for 他妈的); a word of two, with one of them kept as
    written (卖银 for 卖淫, 返力 for 返利), since the sounds of two characters are shared by
    too many ordinary pairs.

    `find` looks at a whole batch at once with numpy: a hash of each pair of neighbouring code
    points (a word of two: its first character and the sound of its second, or the sound of
    its first and its second) and of each three sounds in a row (a longer word: its first
    three sounds) is looked up in a bit set; only the few candidates are then looked up in a
    dict, and a longer word's remaining sounds compared. No automaton pass over the text read
    by sound is needed."""

    __slots__ = ("_bits", "_keys")

    def __init__(self, words: Iterable[tuple[int, str]]) -> None:
        """`words`: (index to report, the word's scan form) for each word, two characters or
        more, all with a sound."""
        self._keys: dict[int, list[tuple[int, str]]] = {}  # key → (index, sound form or "")
        listed_under = self._keys.setdefault
        words = list(words)
        # `_heard_code` of each character of every word: one `str.translate` of them all (a
        # scan form holds letters and digits only, never a line break).
        joined = "\n".join(scanned for _index, scanned in words)
        heard_all = joined.translate(_SOUND).split("\n") if words else []
        for (index, scanned), heard in zip(words, heard_all, strict=True):
            if len(scanned) == 2:
                keys: tuple[int, ...] = (
                    ord(scanned[0]) << 21 | ord(heard[1]),
                    ord(heard[0]) << 21 | ord(scanned[1]),
                )
                found = (index, "")
            else:
                keys = (ord(heard[0]) << 42 | ord(heard[1]) << 21 | ord(heard[2]),)
                found = (index, heard)
            for key in keys:
                listed = listed_under(key, [])
                if found not in listed:
                    listed.append(found)
        self._bits = numpy.zeros(1 << (_HASH_BITS - 3), dtype=numpy.uint8)
        if self._keys:
            hashes = _hashes(numpy.fromiter(self._keys, dtype=numpy.uint64))
            numpy.bitwise_or.at(
                self._bits,
                hashes >> numpy.uint64(3),
                numpy.left_shift(1, hashes & numpy.uint64(7)).astype(numpy.uint8),
            )

    def find(
        self,
        codes: numpy.ndarray,
        pairs_kept: Callable[[numpy.ndarray], numpy.ndarray] | None = None,
    ) -> list[tuple[int, int, int]]:
        """(index, start, end) of each stretch of `codes` (a scan text as code points) that a
        word sounds like, the word as written included (the caller tells them apart).
        `pairs_kept`, given the starts of the two-character stretches found, says which of
        them to keep (a boolean array), before any of them is looked up one by one."""
        if not self._keys or len(codes) < 2:
            return []
        wide = codes.astype(numpy.uint64)
        heard = _SOUND_ARRAY[codes]
        sounds = heard.astype(numpy.uint64)
        shift = numpy.uint64(21)
        # The three kinds of key side by side in one array, hashed and looked up at once.
        size = len(codes)
        joined = numpy.empty(3 * size - 4, dtype=numpy.uint64)
        candidates = [joined[: size - 1], joined[size - 1 : 2 * size - 2], joined[2 * size - 2 :]]
        numpy.left_shift(wide[:-1], shift, out=candidates[0])
        candidates[0] |= sounds[1:]
        numpy.left_shift(sounds[:-1], shift, out=candidates[1])
        candidates[1] |= wide[1:]
        numpy.left_shift(sounds[:-2], numpy.uint64(42), out=candidates[2])
        candidates[2] |= sounds[1:-1] << shift
        candidates[2] |= sounds[2:]
        hashes = _hashes(joined)
        every = (
            self._bits[hashes >> numpy.uint64(3)] >> (hashes & numpy.uint64(7)).astype(numpy.uint8)
        ) & 1
        hits = [every[: size - 1], every[size - 1 : 2 * size - 2], every[2 * size - 2 :]]
        if pairs_kept is not None:
            # One look at every two-character stretch found by either key, then each key's.
            either = hits[0] | hits[1]
            starts = numpy.flatnonzero(either)
            if len(starts):
                either[starts[~pairs_kept(starts)]] = 0
                hits[0] &= either
                hits[1] &= either
        found = []
        text = ""
        listed = self._keys
        for keys, bits in zip(candidates, hits, strict=True):
            starts = numpy.flatnonzero(bits)
            for start, key in zip(starts.tolist(), keys[starts].tolist(), strict=True):
                for index, sounded in listed.get(key, ()):
                    if not sounded:
                        found.append((index, start, start + 2))
                        continue
                    if not text:
                        text = heard.tobytes().decode("utf-32-le")
                    end = start + len(sounded)
                    if text[start:end] == sounded:
                        found.append((index, start, end))
        return found


_PINYIN_RUN = re.compile(
    "(?:" + "|".join(sorted(_SYLLABLES, key=len, reverse=True)) + ")+", re.ASCII
)


def pinyin_run(letters: str) -> bool:
    """Whether a run of Latin letters (folded) is pinyin syllables from end to end."""
    return _PINYIN_RUN.fullmatch(letters) is not None


_PINYIN_OF = {ord(char): syllable for char, syllable in SYLLABLE_OF.items()}
_INITIAL_OF = {ord(char): syllable[0] for char, syllable in SYLLABLE_OF.items()}


def pinyin(word: str) -> tuple[str, str] | None:
    """The full pinyin and the initials of a Chinese `word`; None unless every character has
    a sound."""
    full = word.translate(_PINYIN_OF)
    if not full.isascii():
        return None
    return full, word.translate(_INITIAL_OF)


def syllables(word: str) -> list[str] | None:
    """The toneless pinyin of each character; None unless every character has one."""
    found = []
    for char in word:
        syllable = SYLLABLE_OF.get(char)
        if syllable is None:
            return None
        found.append(syllable)
    return found


# --- Digits and leet ---------------------------------------------------------------------------

# The syllables a digit is written for in chat (去4 去死, 886 拜拜了, 9 酒/久/就, 7 妻/期).
DIGIT_SOUNDS: dict[str, tuple[str, ...]] = {
    "0": ("ling", "dong"),
    "1": ("yi", "yao"),
    "2": ("er", "liang"),
    "3": ("san",),
    "4": ("si",),
    "5": ("wu", "wo"),
    "6": ("liu",),
    "7": ("qi",),
    "8": ("ba", "fa"),
    "9": ("jiu",),
}
_DIGIT_OF_SYLLABLE: dict[str, str] = {
    syllable: digit for digit, sounds in DIGIT_SOUNDS.items() for syllable in sounds
}


_DIGIT_OF_CHAR: dict[str, str] = {
    char: _DIGIT_OF_SYLLABLE[syllable]
    for char, syllable in SYLLABLE_OF.items()
    if syllable in _DIGIT_OF_SYLLABLE
}


_DIGIT_TABLE = str.maketrans(_DIGIT_OF_CHAR)


def digit_variants(word: str, digits: str | None = None) -> list[str]:
    """A Chinese `word` with one character written as the digit it sounds like, for each
    such character (去4 for 去死), and with all of them at once. `digits`: `word` with every
    such character so written, when the caller has it (`digit_forms`)."""
    if digits is None:
        digits = word.translate(_DIGIT_TABLE)
    if digits == word:
        return []
    variants = [
        word[:index] + digit + word[index + 1 :]
        for index, (char, digit) in enumerate(zip(word, digits, strict=True))
        if digit != char
    ]
    if len(variants) > 1:  # all of them at once (1楼1凤 for 一楼一凤)
        variants.append(digits)
    return variants


def spelled_many(words: list[str], separator: str) -> tuple[list[str], ...]:
    """For each of `words` (none holding `separator`), at once: its scan form, its sound form,
    its full pinyin and initials as `pinyin` reads them (characters without a sound left as
    they are), and its `digit_variants` digits: one `str.translate` of the joined words each,
    not one per word."""
    joined = separator.join(words)
    scanned = scan_form(joined)
    return tuple(
        text.split(separator)
        for text in (
            scanned,
            sound_form(scanned),
            joined.translate(_PINYIN_OF),
            joined.translate(_INITIAL_OF),
            joined.translate(_DIGIT_TABLE),
        )
    )


_LEET = {"i": "1", "l": "1", "e": "3", "o": "0", "a": "4", "s": "5", "t": "7"}
MIN_LEET_WORD = 3  # letters; shorter words written with digits are codes (a1, b2)


def leet_variants(word: str) -> list[str]:
    """An ASCII word with each leet-able letter written as its digit, one at a time, then all
    at once (sh1t, p0rn, 5c4m)."""
    if len(word) < MIN_LEET_WORD or not word.isascii() or not word.isalpha():
        return []
    spots = [index for index, char in enumerate(word) if char in _LEET]
    variants = [word[:i] + _LEET[word[i]] + word[i + 1 :] for i in spots]
    for letter in dict.fromkeys(word[i] for i in spots):
        if word.count(letter) > 1:  # every s of asshole at once: a55hole
            variants.append(word.replace(letter, _LEET[letter]))
    if len(spots) > 1:
        variants.append("".join(_LEET.get(char, char) for char in word))
    # Mostly digits is a number, not a word (157 for ist).
    return [v for v in variants if sum(map(str.isalpha, v)) * 2 > len(v)]


# --- Insertions -------------------------------------------------------------------------------

_RANK = {char: rank for rank, char in enumerate(COMMON)}


def anchor(word: str) -> int:
    """Where the pair of characters starts that a word with characters inserted is found by:
    its first two or its last two, whichever is less common by the frequency ranks of their
    characters (ordinary text seldom holds it, so it has few raw hits). Characters are
    inserted between the parts of a long word (代开|各类|发票, 信用卡|大额|套现), which leaves its
    first two and its last two whole."""
    rare = len(COMMON)
    first = _RANK.get(word[0], rare) + _RANK.get(word[1], rare)
    last = _RANK.get(word[-2], rare) + _RANK.get(word[-1], rare)
    return 0 if first > last else len(word) - 2


def inserted(text: str, at: int, word: str, pair: int, most: int) -> tuple[int, int, int, int]:
    """Where `word` lies in `text` with 1 to `most` characters inserted at one place, given
    that its pair of characters starting at `pair` lies at text[at:at + 2]: (start, end,
    where the inserted characters start, how many), or (-1, -1, -1, 0) when it does not.
    Works on folded and scan text alike (the word in the same form)."""
    left, right = word[:pair], word[pair + 2 :]
    end = at + 2
    plain_left = at - len(left) >= 0 and text[at - len(left) : at] == left
    plain_right = text[end : end + len(right)] == right
    if plain_left:  # the insertion is on the right: anchor, right[:j], X, right[j:]
        for j in range(len(right)):
            if text[end : end + j] != right[:j]:
                break
            for count in range(1, most + 1):
                tail = end + j + count
                if text[tail : tail + len(right) - j] == right[j:]:
                    return at - len(left), tail + len(right) - j, end + j, count
    if plain_right:  # the insertion is on the left: left[:j], X, left[j:], anchor
        for j in range(len(left), 0, -1):
            if text[at - (len(left) - j) : at] != left[j:]:
                break
            for count in range(1, most + 1):
                head = at - (len(left) - j) - count
                if head - j >= 0 and text[head - j : head] == left[:j]:
                    return head - j, end + len(right), head, count
    return -1, -1, -1, 0


# --- Components ----------------------------------------------------------------------------------

# Two components side by side → the character (亻言 → 信). A pair that makes two characters keeps
# the first in code-point order.
COMPONENT_PAIRS: dict[str, str] = {}
for _line in COMPONENTS.splitlines():
    _pair, _char = fold(_line[1:]), fold(_line[0])
    _known = COMPONENT_PAIRS.get(_pair)
    # Parts shared by several characters (又鸟: 鸡 and 鳮) stand for the most frequent one.
    if _known is None or word_frequency(_char) > word_frequency(_known):
        COMPONENT_PAIRS[_pair] = _char
# The parts a character is looked for as, all of them: parts that are common characters or
# a word on their own (力口 加, 口口口 品, 工力 功) are ordinary text almost everywhere, so the
# matcher looks at them only beside a character that the joined one has beside it in a
# lexicon word (力口微信, 毒口口口, 法轮工力).
_PAIRS_OF: dict[str, list[str]] = {}
for _pair, _char in COMPONENT_PAIRS.items():
    _PAIRS_OF.setdefault(_char, []).append(_pair)


def component_pairs(chars: Iterable[str]) -> dict[str, str]:
    """The component pairs (pair → character) of the characters given."""
    return {pair: char for char in set(chars) for pair in _PAIRS_OF.get(char, ())}


# --- Symbols and zhuyin ----------------------------------------------------------------------

# An emoji or symbol → the character it is written for in disguise: by what it shows (🐔 鸡,
# 💊 药, 🧨 炮, 🌙 夜) or by the sound of what it shows (🐴 马 for 妈 and 吗, whose homophones
# the hand table then reads). Emoji that chat uses as decoration far more than as a character
# (❤ 🔥 🌸 ⭐ 👀 🏠) are left out: read as characters they would put a word into every third
# cheerful message.
SYMBOLS: dict[str, str] = {
    **dict.fromkeys("+➕", "加"),  # +V, ➕微
    **dict.fromkeys("🐴🐎🏇", "马"),
    **dict.fromkeys("🐔🐓🐤🐣🐥", "鸡"),
    **dict.fromkeys("🐷🐖🐽", "猪"),
    **dict.fromkeys("🐶🐕🐩", "狗"),
    **dict.fromkeys("🐮🐄🐂", "牛"),
    **dict.fromkeys("🐍", "蛇"),
    **dict.fromkeys("🐢", "龟"),
    **dict.fromkeys("🐒🐵", "猴"),
    **dict.fromkeys("🐭🐀", "鼠"),
    **dict.fromkeys("🐸", "蛙"),
    **dict.fromkeys("💊", "药"),
    **dict.fromkeys("💉", "针"),
    **dict.fromkeys("🔫", "枪"),
    **dict.fromkeys("🧨💣", "炮"),
    **dict.fromkeys("🔪🗡", "刀"),
    **dict.fromkeys("💰💴💵💸", "钱"),
    **dict.fromkeys("🍑", "桃"),
    **dict.fromkeys("🌙🌛🌜", "夜"),
    **dict.fromkeys("⭕", "零"),  # o beside Latin letters: `SYMBOL_LETTERS`
    **dict.fromkeys("💩", "屎"),
    **dict.fromkeys("🥚", "蛋"),
    **dict.fromkeys("🔞", "黄"),
    **dict.fromkeys("💋", "吻"),
    **dict.fromkeys("🍆", "茄"),
    **dict.fromkeys("🐝", "蜂"),
}
# A symbol read as a Latin letter when Latin letters stand beside it (p⭕rn).
SYMBOL_LETTERS = {"⭕": "o"}
_BOPOMOFO_MARKS = frozenset("ˊˇˋ˙")
BOPOMOFO_SYLLABLE: dict[str, str] = {
    spelling: syllable
    for line in BOPOMOFO.splitlines()
    for syllable, spelling in [line.split(":", 1)]
}
_LONGEST_SPELLING = max(map(len, BOPOMOFO_SYLLABLE))

# Hangul spellings of Mandarin syllables (웨이신 for weixin, 단 for dan), after the Korean
# transcription of Mandarin (외래어 표기법, 중국어 표기): the initial as a Korean consonant,
# the final as a vowel with ㄴ or ㅇ under it and the syllables that follow (ai 아이, ao 아오).
# j and q drop the y of ㅑ ㅖ ㅠ (jia 자, jiu 주); zh ch sh r z c s write i as ㅡ (shi 스).
# Initials, medial vowels and tails are jamo indexes of the Unicode Hangul syllable block.
_HANGUL_INITIAL = {
    "": 11, "b": 7, "p": 17, "m": 6, "f": 17, "d": 3, "t": 16, "n": 2, "l": 5, "g": 0,
    "k": 15, "h": 18, "j": 12, "q": 14, "x": 9, "zh": 12, "ch": 14, "sh": 9, "r": 5,
    "z": 13, "c": 14, "s": 10, "y": 11, "w": 11,
}  # fmt: skip
_A, _AE, _YA, _EO, _E, _YE, _O, _WA, _YO, _U, _WO, _WE, _WI, _YU, _EU, _I = (
    0, 1, 2, 4, 5, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 20,
)  # fmt: skip
_N, _NG, _L = 4, 21, 8
# final → (vowel, tail, the syllables written after it)
_HANGUL_FINAL: dict[str, tuple[int, int, str]] = {
    "a": (_A, 0, ""), "o": (_O, 0, ""), "e": (_EO, 0, ""), "ai": (_A, 0, "이"),
    "ei": (_E, 0, "이"), "ao": (_A, 0, "오"), "ou": (_EO, 0, "우"), "an": (_A, _N, ""),
    "en": (_EO, _N, ""), "ang": (_A, _NG, ""), "eng": (_EO, _NG, ""), "ong": (_U, _NG, ""),
    "er": (_EO, _L, ""), "i": (_I, 0, ""), "ia": (_YA, 0, ""), "ie": (_YE, 0, ""),
    "iao": (_YA, 0, "오"), "iu": (_YU, 0, ""), "ian": (_YE, _N, ""), "in": (_I, _N, ""),
    "iang": (_YA, _NG, ""), "ing": (_I, _NG, ""), "iong": (_YU, _NG, ""), "u": (_U, 0, ""),
    "ua": (_WA, 0, ""), "uo": (_WO, 0, ""), "uai": (_WA, 0, "이"), "ui": (_U, 0, "이"),
    "uan": (_WA, _N, ""), "un": (_U, _N, ""), "uang": (_WA, _NG, ""), "v": (_WI, 0, ""),
    "ve": (_WE, 0, ""), "van": (_WI, 0, "안"), "vn": (_WI, _N, ""), "ue": (_WE, 0, ""),
}  # fmt: skip
# Syllables written with y or w: their final as the table above spells it.
_HANGUL_ZERO = {
    "yi": "i", "ya": "ia", "yo": "iao", "ye": "ie", "yao": "iao", "you": "iu", "yan": "ian",
    "yin": "in", "yang": "iang", "ying": "ing", "yong": "iong", "yu": "v", "yue": "ve",
    "yuan": "van", "yun": "vn", "wu": "u", "wa": "ua", "wo": "uo", "wai": "uai", "wei": "uei",
    "wan": "uan", "wen": "uen", "wang": "uang", "weng": "ueng",
}  # fmt: skip
_HANGUL_ZERO_FINAL = {"uei": (_WE, 0, "이"), "uen": (_WO, _N, ""), "ueng": (_WO, _NG, "")}
_PLAIN_AFTER_JQ = {_YA: _A, _YE: _E, _YU: _U}
_FLAT_I = frozenset({"zh", "ch", "sh", "r", "z", "c", "s"})


def _hangul(syllable: str) -> str:
    """The Hangul spelling of a pinyin syllable ("" when the table has none)."""
    if syllable in _HANGUL_ZERO:
        initial, final = "", _HANGUL_ZERO[syllable]
    else:
        initial = syllable[:2] if syllable[:2] in ("zh", "ch", "sh") else syllable[:1]
        if initial not in _HANGUL_INITIAL or initial in ("y", "w"):
            initial = ""
        final = syllable[len(initial) :]
        if initial in ("j", "q", "x") and final.startswith("u"):
            final = "v" + final[1:]  # ju, xue, quan: ü written u
    spelled = _HANGUL_ZERO_FINAL.get(final) or _HANGUL_FINAL.get(final)
    if spelled is None:
        return ""
    vowel, tail, rest = spelled
    if initial in ("j", "q"):
        vowel = _PLAIN_AFTER_JQ.get(vowel, vowel)
    if final == "i" and initial in _FLAT_I:
        vowel = _EU
    head = chr(0xAC00 + (_HANGUL_INITIAL[initial] * 21 + vowel) * 28 + tail)
    return head + rest


def _hangul_syllables() -> dict[str, str]:
    """Hangul spelling → the syllable it is most often written for (by how many common
    characters have each syllable: 주 for zhu rather than jiu)."""
    weight: dict[str, int] = {}
    for char, syllable in SYLLABLE_OF.items():
        weight[syllable] = weight.get(syllable, 0) + (char in COMMON_CHARS)
    found: dict[str, str] = {}
    for syllable in sorted(weight, key=lambda each: (-weight[each], each)):
        spelling = _hangul(syllable)
        if spelling:
            found.setdefault(spelling, syllable)
    return found


HANGUL_SYLLABLE = _hangul_syllables()
_LONGEST_HANGUL = max(map(len, HANGUL_SYLLABLE))


def beside_latin(text: str, index: int) -> bool:
    """Whether a Latin letter stands just before or after text[index] (p⭕rn)."""
    return any(
        char.isascii() and char.isalpha()
        for char in (text[index - 1 : index], text[index + 1 : index + 2])
    )


def _bopomofo(char: str) -> bool:
    return "\u3105" <= char <= "\u312f" or "\u31a0" <= char <= "\u31bf"


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A message rewritten so that disguise material reads as what it stands for.

    `text` is searched like a message. It is made of pieces: `pieces[k]` = (where piece k
    starts in `text`, the span of the original text it stands for, the material it came
    from: "" for characters carried over, "symbol", "component", "script" (zhuyin),
    "latin" (original Latin letters among pinyin), "sound" (a Chinese character written as
    its pinyin), "leet" (@ for a, $ for s))."""

    text: str
    pieces: tuple[tuple[int, int, int, str], ...]
    starts: tuple[int, ...]  # where each piece starts in `text`

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that text[start:end] stands for: characters carried over one
        for one, material as the whole of what it was written as."""
        first = self.pieces[bisect.bisect_right(self.starts, start) - 1]
        last = self.pieces[bisect.bisect_right(self.starts, end - 1) - 1]
        low = first[1] + start - first[0] if first[3] == "" else first[1]
        high = last[1] + end - last[0] if last[3] == "" else last[2]
        return low, high

    def kinds_in(self, start: int, end: int) -> set[str]:
        """The kinds of material among text[start:end]."""
        low = bisect.bisect_right(self.starts, start) - 1
        high = bisect.bisect_right(self.starts, end - 1)
        return {piece[3] for piece in self.pieces[low:high]} - {""}

    def takes_part(self, start: int, end: int) -> bool:
        """Whether the material takes part in text[start:end]: some of it lies there, and for
        Latin letters read as pinyin, a character read by its sound too (mixed)."""
        kinds = self.kinds_in(start, end)
        material = kinds - {"sound"}
        return bool(material) and (material != {"latin"} or "sound" in kinds)


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pieces: list[tuple[int, int, int, str]] = []
        self.size = 0

    def add(self, text: str, start: int, end: int, kind: str) -> None:
        if not kind and self.pieces and not self.pieces[-1][3] and self.pieces[-1][2] == start:
            at, low, _high, _kind = self.pieces[-1]  # carried-over text: one piece
            self.pieces[-1] = (at, low, end, "")
        else:
            self.pieces.append((self.size, start, end, kind))
        self.parts.append(text)
        self.size += len(text)

    def build(self) -> Rewrite:
        pieces = tuple(self.pieces)
        return Rewrite("".join(self.parts), pieces, tuple(piece[0] for piece in pieces))


def rewrite_chars(text: str, pairs: Iterable[tuple[int, int, str]] = ()) -> Rewrite | None:
    """`text` with each symbol of `SYMBOLS` replaced by its character and each component pair
    given (original start, end, character) by the character; None when nothing changed."""
    joined = {start: (end, char) for start, end, char in pairs}
    builder = _Builder()
    changed = False
    index = 0
    while index < len(text):
        if index in joined:
            end, char = joined[index]
            builder.add(char, index, end, "component")
            changed = True
            index = end
            continue
        char = text[index]
        symbol = SYMBOLS.get(char)
        if char in SYMBOL_LETTERS and beside_latin(text, index):
            symbol = SYMBOL_LETTERS[char]
        if symbol is not None:
            end = index + 1
            while end < len(text) and text[end] in "\ufe0f\ufe0e\u200d":
                end += 1  # the symbol's variation selector or joiner
            builder.add(symbol, index, end, "symbol")
            changed = True
            index = end
            continue
        builder.add(char, index, index + 1, "")
        index += 1
    return builder.build() if changed else None


def rewrite_sounds(text: str) -> Rewrite:
    """`text` with every Chinese character written as its pinyin and every zhuyin or Hangul
    spelling of a syllable as pinyin, syllables apart by a space."""
    builder = _Builder()
    index = 0
    while index < len(text):
        char = text[index]
        if _bopomofo(char):
            spelling, end = _zhuyin_syllable(text, index)
            syllable = BOPOMOFO_SYLLABLE.get(spelling)
            if syllable is not None:
                builder.add(f" {syllable} ", index, end, "script")
                index = end
                continue
        if "\uac00" <= char <= "\ud7a3":
            end = hangul_syllable_end(text, index)
            if end:
                builder.add(f" {HANGUL_SYLLABLE[text[index:end]]} ", index, end, "script")
                index = end
                continue
        syllable = SYLLABLE_OF.get(char) or SYLLABLE_OF.get(fold_char(char))
        if syllable is not None:
            builder.add(f" {syllable} ", index, index + 1, "sound")
        elif (char.isascii() and char.isalpha()) or "\uff21" <= char <= "\uff5a":
            builder.add(char, index, index + 1, "latin")
        else:
            builder.add(char, index, index + 1, "")
        index += 1
    return builder.build()


def hangul_syllable_end(text: str, start: int) -> int:
    """Where the longest Hangul spelling of a Mandarin syllable at `start` ends (0: none)."""
    for end in range(min(len(text), start + _LONGEST_HANGUL), start, -1):
        if text[start:end] in HANGUL_SYLLABLE:
            return end
    return 0


def _zhuyin_syllable(text: str, start: int) -> tuple[str, int]:
    """The longest zhuyin spelling of a syllable at `start` (tone marks after it included in
    the span), and where it ends."""
    end = start
    while end < len(text) and end - start < _LONGEST_SPELLING and _bopomofo(text[end]):
        end += 1
    while end > start + 1 and text[start:end] not in BOPOMOFO_SYLLABLE:
        end -= 1
    spelling = text[start:end]
    while end < len(text) and text[end] in _BOPOMOFO_MARKS:
        end += 1
    return spelling, end
