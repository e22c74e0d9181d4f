"""`SensitiveWordMatcher`: lexicon words found in folded text, with hit rules and explanations.

How a message is searched:

1. The text is folded (`moderation.fold`, numeral runs as digits), then put in its scan
   form (`moderation.disguise`: uncommon Chinese characters by their sound); one automaton
   pass (ahocorasick-rs) runs over it (`find_many` folds and searches a batch of texts at
   once, with the same result).
   When the folded text has runs of a repeated character (微微信信), a second pass runs over
   the text with each run collapsed to one character.
2. The automaton holds, for each lexicon word, its scan form and, for `fuzzy` words, forms
   made when the matcher is built, not when text is read: pinyin (full; initials too for
   words of four or more characters), the hand table of substitutions (`moderation.variants`),
   each character that sounds like a digit written as it, leet for ASCII words, the first two
   characters of long words (for a word with characters inserted), and the component pairs of
   its characters (亻言). Beside the automaton, the sound pass (`moderation.disguise.
   SoundIndex`, hashed over the whole batch with numpy) finds words written with other
   characters of the same sound: a word of three characters or more with any of them, a word
   of two with one kept as written and no function word for the other. Its two-character
   stretches that a dictionary word holds or reaches into are set aside for the whole batch
   at once (`segment.pairs_apart`); when no dropped hits are asked for (`find`, `find_many`),
   so are stretches that, plainly folded, the hit rules would drop for every word they sound
   like, before any of them is looked at one by one.
3. A message holding disguise material the pass cannot read (an emoji for a character, a
   component pair, zhuyin, Latin letters glued to Chinese characters, @ or $ inside a word)
   is rewritten so that the material reads as what it stands for, and searched again
   (`moderation.disguise`); what is found there through the material is reported with the
   material's route. A component pair or a symbol is read as its character only beside a
   neighbour that character has in some lexicon form (`_pair_joins`, `_material`): one rule
   for `find`, `inspect` and `find_many`, which only apply it earlier.
4. Every raw hit then goes through the hit rules:
   - A word that starts or ends with an ASCII letter needs a word boundary there in the
     original text (`av` does not fire in `have`, `加v` not in `加vip`); a digit likewise
     needs no digit next to it. A letter next to a digit is a boundary (加weixin18123). A
     listed English word inside a longer token is an inflection or compound only as
     `moderation.latin.inflection` says (scams, motherfucker; not cocktail).
   - Latin hits inside a link, a code or an ID, a capitalised romanised name in Latin text,
     or a one- or two-letter abbreviation in English text are not hits (`moderation.latin`).
   - Noise removed between two characters of a hit is a gap. Each gap is at most `MAX_GAP`
     visible characters, a run of whitespace counting as one and invisible characters as
     none; a line break is whitespace. A gap holding a sentence break (，。！？； ! ? ; or , .
     after a Latin letter and before a space) is no gap unless every character of the hit
     stands alone between breaks (赌。博。). An ASCII word may not span a space unless every
     letter is spaced out (`f u c k`, not `pen is`); a pinyin form only between syllables (`du bo`).
   - A hit in the collapsed pass counts for a Chinese word only when every character of it
     was repeated (微微信信, not 妈妈的 → 妈的).
   - A hit written with homophones, or through a per-character substitution of the hand
     table, that spells an ordinary word of the dictionary is that word (家政 is not 假证).
   - A hit in Chinese characters that the most likely reading of its surroundings splits
     with a word reaching outside it is not there (路口|交通: `moderation.segment`), nor one
     that a longer dictionary word holds with two characters or more to spare (鸦片战争). A
     sound-pass hit of a two-character word is dropped when any dictionary word reaches into
     it (目睹|博物馆).
   - An allow-list phrase suppresses every hit lying inside it (路口交通 ⊃ 口交).
   - A word scoped to a group only counts in that group; `folded` words ignore the fuzzy
     routes and `exact` words count only when written exactly.
   - Low confidence (acts as `review` at most): every insertion hit, a homophone of a word
     of fewer than `CONFIDENT_HOMOPHONE_WORD` characters, and a word of one or two characters
     found across a gap, in pinyin, or through a digit, symbol, component, script or mixed
     spelling; but not such a word found across a gap alone whose every character stands
     alone on its line (网⏎⏎赌⏎⏎: spelled out on purpose, `_LINE_ENDS`).
5. Each surviving hit becomes a `Finding` that names the word, its category and tier, the
   original span, the folded evidence and the routes by which it matched. `inspect` also
   returns the hits dropped by a rule, each with its reason (`Dropped`).
"""

from __future__ import annotations

import bisect
import functools
import gc
import itertools
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import ahocorasick_rs
import numpy

from moderation.disguise import (
    SCAN,
    SYLLABLE_OF,
    SYMBOL_LETTERS,
    SYMBOLS,
    Rewrite,
    SoundIndex,
    anchor,
    beside_latin,
    component_pairs,
    digit_variants,
    hangul_syllable_end,
    inserted,
    leet_variants,
    pinyin_run,
    rewrite_chars,
    rewrite_sounds,
    scan_form,
    spelled_many,
    syllables,
)
from moderation.fold import (
    MARK_ALONE,
    MARK_BEFORE_LATIN,
    MARK_CHINESE,
    MARK_LATIN,
    SEPARATOR,
    Folded,
    FoldedBatch,
    fold,
    fold_char,
    fold_many,
    fold_with_origins,
    invisible,
)
from moderation.latin import (
    abbreviation_in_english,
    could_inflect,
    in_code,
    inflection,
    link_spans,
    romanised_name,
)
from moderation.lexicon import AllowEntry, Category, LexiconEntry, MatchMode, Severity
from moderation.segment import (
    FUNCTION_CHARS,
    MAX_WORD,
    WINDOW,
    Segmenter,
    dictionary_word,
    pairs_apart,
    term_holding,
)
from moderation.variants import SUBSTITUTIONS
from moderation.warning import warning_cue

__all__ = [
    "BATCH_SIZE",
    "MAX_GAP",
    "Confidence",
    "Dropped",
    "Finding",
    "Inspection",
    "Route",
    "SensitiveWordMatcher",
]

MAX_GAP = 4  # visible original characters removed between two characters of a hit, at most
MAX_VARIANTS = 24  # substitution variants per word, at most
MIN_INITIALS_WORD = 4  # pinyin initials only for words of at least this many characters
MIN_INSERTION_WORD = 4  # characters a word needs to be found with characters inserted
# Characters a word needs to be looked for by its sound alone (his common characters too:
# 他吗的). A word of two characters is looked for by its sound with one of them kept as
# written (卖银 for 卖淫, 返力 for 返利) and no word of the dictionary reaching into it: the
# sounds of two characters are shared by too many ordinary pairs of characters otherwise.
MIN_SOUND_WORD = 3
MAX_INSERTED = 2  # characters inserted into a long word, at most
SHORT_WORD = 2  # characters of a word whose disguised hits are low confidence

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_RUNS = re.compile(r"(.)\1+")
# `_worth_collapsing`: a letter three times, or a whole run (the lookahead stops it from being
# cut short), at most one character, then the start of another run.
_WORTH_COLLAPSING = re.compile(r"([a-z])\1\1|(.)\2+(?!\2).?(.)\3")
BATCH_SIZE = 64  # texts folded and searched at once by `find_many`
# Sentence breaks. A line break is not one: a word broken at a line's end, or written one
# character per line, is still the word (路口\n交通 stays innocent by its reading).
_BREAKS = frozenset("，。！？；!?;…\u3002\uff0c\uff01\uff1f\uff1b")
_LINE_ENDS = _BREAKS | frozenset("\n\r\v\f\x85\u2028\u2029")
_SCRIPT = re.compile(
    # kana, zhuyin, Hangul jamo and syllables; not the Hangul fillers (ㅤ U+3164, U+115F,
    # U+1160), which are invisible letters that folding removes
    "[\u3040-\u30ff\u3105-\u312f\u31a0-\u31bf\u1100-\u115e\u1161-\u11ff"
    "\u3130-\u3163\u3165-\u318f\uac00-\ud7af]"
)
# Latin letters, half and full width: glued to a Chinese character, disguise material that
# needs a rewrite (刷dan).
_LATIN = "A-Za-z\uff21-\uff3a\uff41-\uff5a"
_LATIN_CHAR = re.compile(f"[{_LATIN}]")
_LOWER_RUN = re.compile("[a-z\uff41-\uff5a]+")
_TO_ASCII = {code: code - 0xFEE0 for code in [*range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]}
# @ between letters (f@ck), $ starting a word ($cam).
_LEET_MATERIAL = re.compile("(?<=[A-Za-z])@(?=[A-Za-z])|(?<![A-Za-z0-9])\\$(?=[A-Za-z]{2})")
REWRITE_WINDOW = 6  # original characters read on each side of disguise material


class Route(StrEnum):
    """How a hit was found, from the plainest to the most disguised."""

    EXACT = "exact"  # the word as written (ASCII case aside)
    FOLDED = "folded"  # after folding: width, case, styles, traditional, shinjitai, look-alikes
    REPEAT = "repeat"  # repeated characters collapsed (微微信信)
    GAP = "gap"  # across noise removed between characters (微-信, 赌 博, 赌\n博)
    VARIANT = "variant"  # a substitution of the hand table (威信, 微亻言, 草泥马)
    PINYIN = "pinyin"  # written in pinyin (weixin, dubo, flg)
    HOMOPHONE = "homophone"  # other characters of the same sound (睹博, 色晴)
    MIXED = "mixed"  # characters and pinyin, syllable by syllable (刷dan, yue炮)
    DIGIT = "digit"  # a digit for a character of its sound (去4), leet (sh1t)
    SYMBOL = "symbol"  # an emoji or symbol for a character or syllable (草泥🐴)
    COMPONENT = "component"  # a character split into its components (贝者博)
    SCRIPT = "script"  # kana, hangul or zhuyin shapes and readings (微イ言, ㄉㄨˇㄅㄛˊ)
    INFLECTION = "inflection"  # an English ending or compound (scams, motherfucker)
    INSERTION = "insertion"  # characters inserted into a long word (代开各类发票)


# The order in which routes are named: the most telling first.
_ROUTE_ORDER = (
    Route.INSERTION,
    Route.COMPONENT,
    Route.SYMBOL,
    Route.SCRIPT,
    Route.MIXED,
    Route.DIGIT,
    Route.HOMOPHONE,
    Route.PINYIN,
    Route.VARIANT,
    Route.INFLECTION,
    Route.GAP,
    Route.REPEAT,
    Route.FOLDED,
    Route.EXACT,
)


@functools.cache
def _in_route_order(routes: frozenset[Route]) -> tuple[Route, ...]:
    """`routes` in `_ROUTE_ORDER` (a few dozen sets ever occur: each is ordered once)."""
    return tuple(route for route in _ROUTE_ORDER if route in routes)


_LOW_ALWAYS = frozenset({Route.INSERTION})
# A homophone of a word this long (贷款妙批 for 贷款秒批) is as good as the word: its other
# characters are all there as written. Shorter words' homophones are low confidence.
CONFIDENT_HOMOPHONE_WORD = 4
_LOW_WHEN_SHORT = frozenset(
    {Route.GAP, Route.PINYIN, Route.MIXED, Route.DIGIT, Route.SYMBOL, Route.COMPONENT}
    | {Route.SCRIPT}
)


class Confidence(StrEnum):
    HIGH = "high"
    LOW = "low"  # an insertion, a homophone of a word of up to three characters, or a short
    # word found through a disguise


@dataclass(frozen=True, slots=True)
class Finding:
    """One hit, with its evidence: the word, why it matters, and where and how it was found."""

    word: str  # the lexicon word
    category: Category
    severity: Severity  # the word's tier
    start: int  # character offset in the original text
    end: int  # exclusive
    matched: str  # the original text[start:end]
    evidence: str = ""  # the folded text that matched
    route: Route = Route.EXACT  # the most telling route
    routes: tuple[Route, ...] = (Route.EXACT,)
    pattern: str = ""  # the pattern that matched: the folded word, or its pinyin or variant
    confidence: Confidence = Confidence.HIGH
    scope: str = ""  # the group the word is scoped to; "" for every group
    detector: str = "lexicon"
    # the cue that makes the hit part of a warning against it (严禁, …是诈骗: `moderation.warning`)
    warning: str = ""

    @property
    def effective_severity(self) -> Severity:
        """The tier this hit acts with: a low-confidence hit never goes beyond `review`."""
        if self.confidence is Confidence.LOW and self.severity is Severity.BLOCK:
            return Severity.REVIEW
        return self.severity

    def explain(self) -> str:
        """One line an operator can read: what, where, how."""
        how = "+".join(route.value for route in self.routes)
        line = (
            f"{self.word} [{self.category.value}/{self.severity.value}] "
            f"at {self.start}:{self.end} {self.matched!r}"
        )
        if self.evidence != self.matched:
            line += f" → folded {self.evidence!r}"
        line += f" via {how}"
        if self.pattern and self.route not in (Route.EXACT, Route.FOLDED, Route.GAP):
            line += f" (pattern {self.pattern!r})"
        if self.warning:
            line += f"; in a warning against it ({self.warning!r})"
        if self.confidence is Confidence.LOW:
            line += f"; low confidence, acts as {self.effective_severity.value}"
        if self.scope:
            line += f"; scoped to {self.scope}"
        return line

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the moderation log and the REST API."""
        return {
            "word": self.word,
            "category": self.category.value,
            "severity": self.severity.value,
            "effective_severity": self.effective_severity.value,
            "start": self.start,
            "end": self.end,
            "matched": self.matched,
            "evidence": self.evidence,
            "route": self.route.value,
            "routes": [route.value for route in self.routes],
            "pattern": self.pattern,
            "confidence": self.confidence.value,
            "scope": self.scope,
            "detector": self.detector,
            "warning": self.warning,
            "explanation": self.explain(),
        }


@dataclass(frozen=True, slots=True)
class Dropped:
    """A raw hit a rule dropped, and why: what `wecom-mod check` shows besides findings."""

    word: str
    start: int
    end: int
    matched: str
    route: Route
    reason: str  # e.g. "crosses the words 路口|交通", "inside the allowed phrase 路口交通"

    def explain(self) -> str:
        return (
            f"{self.word} at {self.start}:{self.end} {self.matched!r} via {self.route.value}: "
            f"not counted, {self.reason}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "start": self.start,
            "end": self.end,
            "matched": self.matched,
            "route": self.route.value,
            "reason": self.reason,
            "explanation": self.explain(),
        }


@dataclass(frozen=True, slots=True)
class Inspection:
    """What `SensitiveWordMatcher.inspect` saw in one text."""

    findings: list[Finding]
    dropped: list[Dropped] = field(default_factory=list)


# --- Variants, made at build time ------------------------------------------------------------


def _syllable_starts(word: str, pattern: str) -> frozenset[int]:
    """Offsets in a pinyin pattern of `word` where a syllable starts (where a gap may fall)."""
    found = syllables(word) or []
    if len(pattern) == len(found):  # initials: every letter is a syllable
        return frozenset(range(1, len(pattern)))
    return frozenset(itertools.accumulate(len(syllable) for syllable in found))


# The table, folded like the words it applies to, and indexed by first character.
_SUBSTITUTIONS = {
    fold(fragment): tuple(fold(alternative) for alternative in alternatives)
    for fragment, alternatives in SUBSTITUTIONS.items()
}
_FRAGMENTS_BY_FIRST_CHAR: dict[str, list[str]] = {}
for _fragment in _SUBSTITUTIONS:
    _FRAGMENTS_BY_FIRST_CHAR.setdefault(_fragment[0], []).append(_fragment)
_FRAGMENT_START = re.compile("[" + re.escape("".join(_FRAGMENTS_BY_FIRST_CHAR)) + "]")


def _may_substitute(words: list[str]) -> set[int]:
    """The indexes of the words holding a character that starts a fragment of the table:
    the only ones `_substitution_variants` can vary (one search over all the words)."""
    joined = SEPARATOR.join(words)
    starts = list(itertools.accumulate((len(word) + 1 for word in words), initial=0))
    return {
        bisect.bisect_right(starts, match.start()) - 1 for match in _FRAGMENT_START.finditer(joined)
    }


def _substitution_variants(word: str) -> list[tuple[str, bool]]:
    """The word with look-alike fragments substituted: one substitution at a time first, then
    two non-overlapping ones, and so on, up to MAX_VARIANTS; each with whether it replaced the
    whole word (草泥马 for 操你妈: a spelling of its own, not a substitution that may happen to
    spell another word)."""
    if _FRAGMENT_START.search(word) is None:
        return []
    spots = [
        (start, start + len(fragment), _SUBSTITUTIONS[fragment])
        for start, char in enumerate(word)
        for fragment in _FRAGMENTS_BY_FIRST_CHAR.get(char, ())
        if word.startswith(fragment, start)
    ]
    if not spots:
        return []
    spots.sort(key=lambda spot: (spot[0], spot[1]))
    variants: list[tuple[str, bool]] = []
    seen = {word}
    for count in range(1, len(spots) + 1):
        for chosen in itertools.combinations(spots, count):
            if any(a[1] > b[0] for a, b in itertools.pairwise(chosen)):
                continue  # overlapping fragments
            whole = any(end - start == len(word) for start, end, _alts in chosen)
            for replacements in itertools.product(*(alts for _s, _e, alts in chosen)):
                pieces, last = [], 0
                for (start, end, _alts), replacement in zip(chosen, replacements, strict=True):
                    pieces += [word[last:start], replacement]
                    last = end
                variant = "".join([*pieces, word[last:]])
                if not variant.isalpha():
                    variant = fold(variant)  # digits may now form a numeral run
                if len(variant) >= 2 and variant not in seen:
                    seen.add(variant)
                    variants.append((variant, whole))
                    if len(variants) >= MAX_VARIANTS:
                        return variants
    return variants


# --- Building -------------------------------------------------------------------------------


def _ascii_class(char: str) -> str:
    """ "a" for an ASCII letter, "0" for an ASCII digit, "" for anything else."""
    if not char.isascii():
        return ""
    if char.isalpha():
        return "a"
    return "0" if char.isdigit() else ""


_NOT_CHINESE = re.compile(f"[^\u3400-\u9fff{SEPARATOR}]")


def _not_all_chinese(words: list[str]) -> set[int]:
    """The indexes of the words (none holding SEPARATOR) with a character that is not a
    Chinese one (U+3400 to U+9FFF): one search over all the words."""
    joined = SEPARATOR.join(words)
    starts = list(itertools.accumulate((len(word) + 1 for word in words), initial=0))
    found: set[int] = set()
    position = 0
    while (match := _NOT_CHINESE.search(joined, position)) is not None:
        index = bisect.bisect_right(starts, match.start()) - 1
        found.add(index)
        position = starts[index + 1]  # the rest of this word tells nothing more
    return found


def _cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\ue000" <= char <= "\uf8ff"


_STARTS_WITH_LETTER = 1
_ENDS_WITH_LETTER = 2


# One way a pattern stands for an entry, as one int: plain-form index * 8 + the kind of form.
# A 50,000-word lexicon makes a few hundred thousand; ints in tuples leave the garbage
# collector nothing to scan.
_Ref = int
_WORD, _PINYIN, _VARIANT, _WHOLE, _DIGIT, _LEET, _INSERTION, _COMPONENT = range(8)
_VIA: tuple[Route | None, ...] = (
    None,
    Route.PINYIN,
    Route.VARIANT,
    Route.VARIANT,
    Route.DIGIT,
    Route.DIGIT,
    Route.INSERTION,
    None,
)
_EXACT_ONLY: tuple[Route, ...] = (Route.EXACT,)
# Characters after a digit that make it a number, not a character (4楼, 9点, 7个).
_UNITS = frozenset("楼层点号个元块月日年天次人分秒岁期栋室位件台张条斤克米千百万亿折倍")


class SensitiveWordMatcher:
    """Finds lexicon words in text. Immutable once built; safe to share between threads."""

    def __init__(
        self,
        entries: Iterable[LexiconEntry],
        allow: Iterable[AllowEntry] = (),
        *,
        collapse_repeats: bool = True,
    ) -> None:
        # The build makes a few hundred thousand small containers (forms, references, keys)
        # that all live on, and the garbage collector, counting them, would scan the whole
        # heap several times meanwhile for nothing (a tenth to a quarter of the build): it
        # waits until the build is done, then runs as before.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._build(entries, allow, collapse_repeats)
        finally:
            if collecting:
                gc.enable()

    def _build(
        self,
        entries: Iterable[LexiconEntry],
        allow: Iterable[AllowEntry],
        collapse_repeats: bool,
    ) -> None:
        self._collapse = collapse_repeats
        chosen: dict[tuple[str, str], tuple[LexiconEntry, str]] = {}
        entries = list(entries)
        for entry, folded in zip(entries, fold_many([e.word for e in entries]), strict=True):
            if not folded:
                continue  # nothing left to look for (the word was all symbols)
            known = chosen.get((folded, entry.scope))
            if known is None or entry.severity.rank > known[0].severity.rank:
                chosen[(folded, entry.scope)] = (entry, folded)
        self.entries: tuple[LexiconEntry, ...] = tuple(entry for entry, _ in chosen.values())
        self._folded_words = [folded for _, folded in chosen.values()]

        # Every form of every word: (scan form, the form as text reads it, entry, kind).
        forms: list[tuple[str, str, int, int]] = []
        self._anchors: dict[int, int] = {}  # insertion form → where its pair is in the word
        form = forms.append
        chinese_words = []  # the words of Chinese characters only: their characters' components
        sounds: dict[str, list[int]] = {}  # sound form → the word forms it stands for
        # The per-character spellings of every word at once (`spelled_many`).
        scanned_all, sound_all, full_all, initials_all, digits_all = spelled_many(
            self._folded_words, SEPARATOR
        )
        may_substitute = _may_substitute(self._folded_words)
        not_chinese = _not_all_chinese(self._folded_words)
        fuzzy = MatchMode.FUZZY
        for index, (entry, folded) in enumerate(chosen.values()):
            scanned = scanned_all[index]
            all_chinese = index not in not_chinese
            if entry.mode is not fuzzy:
                form((scanned, folded, index, _WORD))
                continue
            if all_chinese and len(folded) >= 2:
                sounds.setdefault(sound_all[index], []).append(len(forms))
            form((scanned, folded, index, _WORD))
            if scanned.isascii():
                for leet in leet_variants(folded):
                    form((leet, leet, index, _LEET))
                continue
            # Pinyin, for an all-Chinese word of two or more characters whose every character
            # has a sound (so that its spellings are ASCII): in full, and by initials when long.
            full = full_all[index]
            if len(folded) >= 2 and full.isascii():
                form((full, full, index, _PINYIN))
                if len(folded) >= MIN_INITIALS_WORD:
                    initials = initials_all[index]
                    form((initials, initials, index, _PINYIN))
            if index in may_substitute:
                for variant, whole in _substitution_variants(folded):
                    form((scan_form(variant), variant, index, _WHOLE if whole else _VARIANT))
            digits = digits_all[index]
            if digits != folded:
                for with_digit in digit_variants(folded, digits):
                    form((scan_form(with_digit), with_digit, index, _DIGIT))
            if all_chinese and folded.isalpha() and not folded.isascii():
                chinese_words.append(folded)
                if len(folded) >= MIN_INSERTION_WORD:
                    pair = anchor(folded)
                    self._anchors[len(forms)] = pair
                    form((scanned[pair : pair + 2], folded, index, _INSERTION))
        chinese = set("".join(chinese_words))
        self._composed: dict[int, str] = {}
        for parts, char in component_pairs(chinese).items():
            self._composed[len(forms)] = char
            form((scan_form(parts), parts, -1, _COMPONENT))
        self._index_forms(forms)
        self._scanned_words = scanned_all
        # The sound pass (`SoundIndex`), each sound form standing for the word forms it has.
        self._sound_refs = list(map(tuple, sounds.values()))
        plain_entry = self._plain_entry
        heard: list[tuple[int, str]] = []  # (sound index, each distinct scan form it has)
        for index, forms_ in enumerate(self._sound_refs):
            if len(forms_) == 1:  # most sound forms stand for one word form
                heard.append((index, scanned_all[plain_entry[forms_[0]]]))
            else:
                written = dict.fromkeys(scanned_all[plain_entry[form]] for form in forms_)
                heard += [(index, scanned) for scanned in written]
        self._sound_index = SoundIndex(heard)
        self._automaton = (
            ahocorasick_rs.AhoCorasick(self._patterns, store_patterns=False)
            if self._patterns
            else None
        )
        self._segmenter = Segmenter(word for word in self._folded_words if word.isalpha())

        self.allow: tuple[AllowEntry, ...] = tuple(a for a in allow if fold(a.phrase))
        allow_patterns: dict[str, list[str]] = {}
        for allowed in self.allow:
            allow_patterns.setdefault(fold(allowed.phrase), []).append(allowed.scope)
        self._allow_patterns = list(allow_patterns)
        self._allow_scopes = [allow_patterns[pattern] for pattern in self._allow_patterns]
        self._allow_longest = max(map(len, self._allow_patterns), default=0)
        self._allow_automaton = (
            ahocorasick_rs.AhoCorasick(self._allow_patterns, store_patterns=False)
            if self._allow_patterns
            else None
        )

    def _index_forms(self, forms: list[tuple[str, str, int, int]]) -> None:
        """The automaton's patterns (the distinct scan forms, in the order of their first form)
        and what the scan reads of each, from every form of every word (scan form, the form
        as text reads it, entry, kind). The per-form and per-pattern tables are made with
        numpy and C-level builtins over all forms at once: a Python loop over the few hundred
        thousand forms of a large lexicon took a fifth of the build."""
        scans: tuple[str, ...] = ()
        plains: tuple[str, ...] = ()
        owners: tuple[int, ...] = ()
        kind_of: tuple[int, ...] = ()
        if forms:
            scans, plains, owners, kind_of = zip(*forms, strict=True)
        self._plain = list(plains)
        self._plain_entry = list(owners)
        self._plain_kind = bytes(kind_of)
        # Each form's pattern number, numbering the scan forms as they first come (one pass
        # over a dict: `len` is read before `setdefault` adds a new form).
        number_of: dict[str, int] = {}
        numbered = number_of.setdefault
        pattern_of = numpy.array(
            [numbered(scanned, len(number_of)) for scanned in scans], dtype=numpy.intp
        )
        self._patterns = list(number_of)
        count = len(self._patterns)
        del number_of
        kinds = numpy.frombuffer(self._plain_kind, dtype=numpy.uint8)
        refs = numpy.arange(len(scans), dtype=numpy.int64) * 8 + kinds
        # Each pattern's references, in the order of its forms: most patterns have one form,
        # its first; the few with several are gathered one by one.
        _values, first = numpy.unique(pattern_of, return_index=True)
        self._refs: list[tuple[_Ref, ...]] = list(zip(refs[first].tolist()))
        forms_of = numpy.bincount(pattern_of, minlength=count)
        shared = numpy.flatnonzero(forms_of[pattern_of] > 1)
        gathered: dict[int, list[_Ref]] = {}
        for number, ref in zip(pattern_of[shared].tolist(), refs[shared].tolist(), strict=True):
            gathered.setdefault(number, []).append(ref)
        for number, listed in gathered.items():
            self._refs[number] = tuple(listed)

        def every_form(wanted: numpy.ndarray) -> numpy.ndarray:
            """The patterns whose every form is of a kind in `wanted` (a boolean array)."""
            others = numpy.bincount(pattern_of, weights=~wanted[kinds], minlength=count)
            return numpy.asarray(others == 0)

        def kinds_among(*chosen: int) -> numpy.ndarray:
            wanted = numpy.zeros(8, dtype=numpy.bool_)
            wanted[list(chosen)] = True
            return wanted

        # Patterns that only start a long word, join a component pair or write a character
        # as a digit: their raw hits are checked on the scan text before anything else
        # (`_worth_a_look`).
        special = every_form(kinds_among(_INSERTION, _COMPONENT, _DIGIT))
        self._special = frozenset(numpy.flatnonzero(special).tolist())
        # The first and the last character of each pattern, and whether it is all letters
        # (ASCII, either case), from one array of all the patterns' code points.
        joined = numpy.frombuffer(SEPARATOR.join(self._patterns).encode("utf-32-le"), numpy.uint32)
        lengths = numpy.fromiter(map(len, self._patterns), dtype=numpy.intp, count=count)
        starts = numpy.cumsum(lengths + 1) - lengths - 1
        firsts, lasts = joined[starts], joined[starts + lengths - 1]
        lower = ord("a"), ord("z")
        self._letter_edges = (
            ((lower[0] <= firsts) & (firsts <= lower[1])).astype(numpy.int64)
            | ((lower[0] <= lasts) & (lasts <= lower[1])).astype(numpy.int64) << 1
        ).tolist()
        folded_case = joined | 0x20  # A-Z to a-z; no other code point lands in a-z from outside
        letter = (ord("a") <= folded_case) & (folded_case <= ord("z")) & (joined < 0x80)
        not_letters = numpy.zeros(count, dtype=numpy.bool_)
        owner = numpy.repeat(numpy.arange(count), lengths + 1)[: len(joined)]
        not_letters[owner[~letter & (joined != ord(SEPARATOR))]] = True
        # Patterns of an English word (`_WORD` or `_LEET` of letters only) that a longer
        # token may inflect (scams): their hits inside a word are not dropped at once.
        worded = numpy.bincount(
            pattern_of, weights=kinds_among(_WORD, _LEET)[kinds], minlength=count
        )
        self._inflectable = frozenset(numpy.flatnonzero((worded > 0) & ~not_letters).tolist())
        # Digit patterns (every form `_DIGIT`) that start or end with their digit: a digit or
        # 第 before the first, a digit after the last, and `_lone_digits` refuses them all
        # (the commonest raw hit of a digit form: part of a longer number).
        digits_only = numpy.flatnonzero(every_form(kinds_among(_DIGIT))).tolist()
        self._digit_first = frozenset(i for i in digits_only if self._patterns[i][0].isdigit())
        self._digit_last = frozenset(i for i in digits_only if self._patterns[i][-1].isdigit())

    def __len__(self) -> int:
        return len(self.entries)

    @functools.cached_property
    def _neighbours(self) -> dict[str, tuple[str, str]]:
        """`_neighbours` of the lexicon, made when a component pair or a symbol is first
        met (most messages never need it)."""
        return _neighbours(
            scan_form(text)
            for text, kind in zip(self._plain, self._plain_kind, strict=True)
            if kind in (_WORD, _VARIANT, _WHOLE)
        )

    @property
    def pattern_count(self) -> int:
        """Patterns in the automaton: the words and every form made of them."""
        return len(self._patterns)

    def find(self, text: str, chat_id: str = "") -> list[Finding]:
        """Every hit of every word that applies in `chat_id`, ordered by position."""
        return self._search(text, chat_id, None, rewrite=True)

    def inspect(self, text: str, chat_id: str = "") -> Inspection:
        """`find`, with the raw hits the rules dropped and why (for `wecom-mod check`)."""
        dropped: list[Dropped] = []
        findings = self._search(text, chat_id, dropped, rewrite=True)
        unique: dict[tuple[str, int, int, str], Dropped] = {}
        for hit in dropped:  # each with its plainest route (`_ROUTE_ORDER` ends with exact)
            known = unique.setdefault((hit.word, hit.start, hit.end, hit.reason), hit)
            if _ROUTE_ORDER.index(hit.route) > _ROUTE_ORDER.index(known.route):
                unique[hit.word, hit.start, hit.end, hit.reason] = hit
        kept = {(f.word, f.start, f.end) for f in findings}
        return Inspection(
            findings,
            sorted(
                (d for d in unique.values() if (d.word, d.start, d.end) not in kept),
                key=lambda d: (d.start, d.end, d.word),
            ),
        )

    def _search(
        self,
        text: str,
        chat_id: str,
        dropped: list[Dropped] | None,
        *,
        rewrite: bool,
        wanted: Callable[[int, int], bool] | None = None,
    ) -> list[Finding]:
        if self._automaton is None or not text:
            return []
        layout = fold_with_origins(text)
        scanned = scan_form(layout.text)
        found = self._automaton.find_matches_as_indexes(scanned, overlapping=True)
        found += self._sound_hits(
            scanned,
            numpy.frombuffer(scanned.encode("utf-32-le"), dtype=numpy.uint32),
            # no reasons wanted: what the plain folded text rules out goes now
            None if dropped is not None else lambda start, end: layout.text[start:end],
            batch=False,
        )
        return self._findings(
            text,
            scanned,
            lambda: layout,
            found,
            chat_id,
            None,
            dropped,
            rewrite=rewrite,
            wanted=wanted,
        )

    def find_many(
        self, texts: Sequence[str], chat_ids: Sequence[str] | None = None
    ) -> list[list[Finding]]:
        """`find` for each text (with the matching chat id; "" for all when None), in batches
        of `BATCH_SIZE` folded and searched at once: the same findings, less work per message
        (one array fold, `FoldedBatch`, and one automaton pass per batch; hits inside an ASCII
        word dropped before any origin is worked out)."""
        if chat_ids is not None and len(chat_ids) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(chat_ids)} chat ids")
        results: list[list[Finding]] = [[] for _ in texts]
        if self._automaton is None:
            return results
        scan = self._automaton.find_matches_as_indexes
        for first in range(0, len(texts), BATCH_SIZE):
            chunk = texts[first : first + BATCH_SIZE]
            batch = FoldedBatch(chunk, scan=SCAN, marks=_MARKS)
            offsets, folded, joined_before = batch.offsets, batch.text, batch.joined_before
            edges = self._letter_edges
            hits: dict[int, list[tuple[int, int, int]]] = {}
            index = 0
            next_offset = offsets[1] if len(offsets) > 1 else len(folded)
            special, inflectable = self._special, self._inflectable
            digit_first, digit_last = self._digit_first, self._digit_last
            for pattern_index, start, end in scan(folded, overlapping=True):
                if pattern_index in special and (
                    (
                        pattern_index in digit_first
                        and start
                        and (folded[start - 1].isdigit() or folded[start - 1] == "第")
                    )
                    or (pattern_index in digit_last and folded[end : end + 1].isdigit())
                    or not self._worth_a_look(pattern_index, folded, start, end, joined_before)
                ):
                    continue
                # `_inside_a_word` on the whole batch (a text's edge is SEPARATOR, no letter);
                # an English word may be inflected there (scams), so it is looked at then
                # unless what follows it cannot be an ending or compound.
                edge = edges[pattern_index]
                if edge:
                    before = (
                        edge & _STARTS_WITH_LETTER
                        and start
                        and "a" <= folded[start - 1] <= "z"
                        and joined_before(start)
                    )
                    after = (
                        edge & _ENDS_WITH_LETTER
                        and "a" <= folded[end : end + 1] <= "z"
                        and joined_before(end)
                    )
                    if (before or after) and (
                        pattern_index not in inflectable
                        or not could_inflect(self._patterns[pattern_index], folded, start, end)
                    ):
                        continue
                while end > next_offset:  # hits come by end: the text they lie in only grows
                    index += 1
                    next_offset = offsets[index + 1] if index + 1 < len(offsets) else len(folded)
                offset = offsets[index]
                hits.setdefault(index, []).append((pattern_index, start - offset, end - offset))
            for index_, start, end in self._sound_hits(
                folded, batch.codes, batch.plain, batch.plain_codes()
            ):
                at = bisect.bisect_right(offsets, start) - 1
                hits.setdefault(at, []).append((index_, start - offsets[at], end - offsets[at]))
            repeated = batch.repeats if self._collapse else set()
            marked = batch.marked
            for index in sorted(hits.keys() | repeated | marked.keys()):
                text = chunk[index]
                found = hits.get(index)
                material = self._material(text, marked[index]) if index in marked else []
                if not found and index not in repeated and not material:
                    continue
                chat_id = chat_ids[first + index] if chat_ids is not None else ""
                results[first + index] = self._findings(
                    text,
                    batch.folded(index),
                    functools.partial(batch.layout, index),
                    found or [],
                    chat_id,
                    index in repeated,
                    None,
                    rewrite=True,
                    material=material,
                )
        return results

    def _sound_hits(
        self,
        scanned: str,
        codes: numpy.ndarray,
        plain: Callable[[int, int], str | None] | None = None,
        plain_codes: numpy.ndarray | None = None,
        *,
        batch: bool = True,
    ) -> list[tuple[int, int, int]]:
        """The raw hits of the sound pass (`SoundIndex`) in `scanned` (`codes`: the same as
        code points), each as (-1 - sound index, start, end), without the word as written
        (the automaton has it); a word of two characters with one of them kept as written and
        no word of the dictionary in or reaching into it (read on the scan text here, where
        uncommon characters are sounds: `_finding` reads the folded text again), and not
        written with a function word (是他吗 is no 他妈, 我带 no 卧带).

        With `batch` (a batch of texts), the dictionary tests of a two-character stretch run
        on the whole array at once (`segment.pairs_apart`), before any stretch is looked at
        one by one; without (one text: numpy's cost per call would outweigh them), one by one.

        `plain(start, end)`, when given, is the plainly folded text of scanned[start:end]
        (None when unknown), and `plain_codes` (when known) all of it as code points: a
        stretch that is plainly an ordinary word of the dictionary, or for a word of two
        characters plainly reached into by one, is left out here too, as `_finding` would
        drop it for every word it sounds like ("reads as the ordinary word", "the word …
        reaches into it"). Only callers that do not report dropped hits give them. (Every
        word of the scan text is one of the plain text: uncommon characters are sounds in the
        one and themselves in the other.)"""
        found = []
        refs, words, entry_of = self._sound_refs, self._scanned_words, self._plain_entry
        read = codes if plain_codes is None else plain_codes
        segmenter = self._segmenter
        for index, start, end in self._sound_index.find(
            codes, (lambda starts: pairs_apart(read, starts)) if batch else None
        ):
            stretch = scanned[start:end]
            heard = [words[entry_of[form]] for form in refs[index]]
            if not any(_heard(word, stretch) for word in heard):
                continue
            if end - start < MIN_SOUND_WORD:
                if all(_function_for(word, stretch) for word in heard):
                    continue
                if not batch and (
                    dictionary_word(stretch) or segmenter.may_cross(scanned, start, end)
                ):
                    continue
                if (
                    plain is not None
                    and plain_codes is None
                    and self._heard_elsewhere(plain, start, end)
                ):
                    continue
            elif plain is not None and dictionary_word(plain(start, end) or ""):
                continue
            found.append((-1 - index, start, end))
        return found

    def _heard_elsewhere(
        self, plain: Callable[[int, int], str | None], start: int, end: int
    ) -> bool:
        """Whether a stretch of the sound pass is, plainly folded, sure to be dropped by
        `_finding` for every word it sounds like, whatever else holds: an ordinary word of the
        dictionary, or, for a word of two characters, reached into by one (as `_finding` reads
        them on the plain folded text; `plain` gives it, with what lies around the stretch)."""
        stretch = plain(start, end)
        if stretch is None:
            return False
        if dictionary_word(stretch):
            return True
        if end - start >= MIN_SOUND_WORD:
            return False
        low = max(0, start - MAX_WORD + 1)
        around = plain(low, end + MAX_WORD - 1)
        return around is not None and bool(
            self._segmenter.may_cross(around, start - low, end - low)
        )

    def _worth_a_look(
        self,
        pattern_index: int,
        scanned: str,
        start: int,
        end: int,
        joined: Callable[[int], bool | None],
    ) -> bool:
        """For a raw hit of a pattern that only starts long words, joins a component pair or
        writes a character as a digit: whether the scan text around it can hold the word (the
        rest of the word follows with at most `MAX_INSERTED` characters inserted; the joined
        character has a neighbour it has in some lexicon word; the digit stands alone)."""
        for ref in self._refs[pattern_index]:
            plain_id, kind = ref >> 3, ref & 7
            if kind == _DIGIT:
                if _lone_digits(self._plain[plain_id], scanned, start, joined):
                    return True
                continue
            if kind == _COMPONENT:
                if self._pair_joins(plain_id, scanned, start, end):
                    return True
                continue
            word = self._scanned_words[self._plain_entry[plain_id]]
            if inserted(scanned, start, word, self._anchors[plain_id], MAX_INSERTED)[3]:
                return True
        return False

    def _pair_joins(self, plain_id: int, scanned: str, start: int, end: int) -> bool:
        """Whether the component pair scanned[start:end] (scan text) may be the character it
        joins into in a lexicon word: a neighbour in the text is one the character has in some
        lexicon form (`_neighbours`, in scan form, as the scan text is). The one rule for a
        pair, for `find` and `find_many` alike."""
        near = self._neighbours.get(scan_form(self._composed[plain_id]))
        return _beside(near, scanned[start - 1 : start], scanned[end : end + 1])

    def _material(self, text: str, near: Iterable[int] | None = None) -> list[tuple[int, int]]:
        """The spans of disguise material in `text` that only a rewrite reads and that can
        take part in a lexicon word (a component pair shows as a hit of the pass instead):
        zhuyin; a symbol of `SYMBOLS` beside a character it has a neighbour of in some word;
        lower-case Latin letters glued to a Chinese character that are pinyin from end to end
        (刷dan); @ or $ inside a word. `near`: the only positions to look at (each with the
        character after it), when the caller knows them (`FoldedBatch.marked`)."""
        if near is None:
            near = range(len(text))
        spots: dict[tuple[int, int], None] = {}
        for position in near:
            for at in (position, position + 1):
                if not 0 <= at < len(text):
                    continue
                char = text[at]
                if char in SYMBOLS:
                    end = at + 1
                    neighbours = self._neighbours.get(scan_form(SYMBOLS[char]))
                    if (char in SYMBOL_LETTERS and beside_latin(text, at)) or _beside(
                        neighbours, _neighbour(text, at, -1), _neighbour(text, end, 1)
                    ):
                        spots[(at, end)] = None
                elif _bopomofo(char):
                    spots[(at, at + 1)] = None
                elif "\uac00" <= char <= "\ud7a3":
                    end = hangul_syllable_end(text, at)
                    if end and _glued_run(text, at, end):
                        spots[(at, end)] = None
                elif char in "@$":
                    match = _LEET_MATERIAL.match(text, at)
                    if match:
                        spots[match.span()] = None
                elif "a" <= char <= "z" or "\uff41" <= char <= "\uff5a":
                    run = _latin_run(text, at)
                    if run not in spots and _glued(text, *run):
                        letters = text[run[0] : run[1]].translate(_TO_ASCII)
                        if pinyin_run(letters):
                            spots[run] = None
        return list(spots)

    def _findings(
        self,
        text: str,
        scanned: str,
        layout: Callable[[], Folded],
        found: list[tuple[int, int, int]],
        chat_id: str,
        collapse: bool | None,
        dropped: list[Dropped] | None,
        *,
        rewrite: bool,
        material: list[tuple[int, int]] | None = None,
        wanted: Callable[[int, int], bool] | None = None,
    ) -> list[Finding]:
        """The hit rules over the automaton's matches in one scanned text; `collapse` says
        whether a collapsed pass is worth it (None: find out). `layout` gives the plain
        folded text and its origins, asked for only when some hit needs them. `material`
        is `_material(text)` when the caller knows it (None: find out). `wanted`, given the
        original span of a raw hit, says whether to judge it at all."""
        hits = [(index, start, end, False) for index, start, end in found]
        if collapse is None:
            collapse = self._collapse and _worth_collapsing(scanned)
        collapsed = None
        if collapse and self._automaton is not None:
            collapsed = _Collapsed(scanned)
            found = self._automaton.find_matches_as_indexes(collapsed.text, overlapping=True)
            hits += [(index, start, end, True) for index, start, end in found]
        findings: list[Finding] = []
        pairs: list[tuple[int, int, str]] = []
        if hits:
            search = _Search(self, text, layout(), chat_id, collapsed, dropped, wanted)
            findings = search.run(hits)
            pairs = search.pairs
        if rewrite and (pairs or material is None or material):
            if material is None:
                material = self._material(text)
            # Material a finding already holds (加ｗｅｉｘｉｎ found as 加微信) needs no rewrite.
            material = [
                (start, end)
                for start, end in material
                if not any(f.start <= start and end <= f.end for f in findings)
            ]
            extra = self._rewritten(text, chat_id, pairs, material, dropped)
            if extra:
                findings = _without_nested([*findings, *extra])
        return _in_warnings(text, findings) if findings else findings

    def _rewritten(
        self,
        text: str,
        chat_id: str,
        pairs: list[tuple[int, int, str]],
        material: list[tuple[int, int]] | None,
        dropped: list[Dropped] | None = None,
    ) -> list[Finding]:
        """What the rewrites (`moderation.disguise`) of the stretches of `text` around its
        disguise material show through that material: characters (symbols, component
        pairs), sounds (zhuyin, Latin letters read as pinyin) and leet (@, $)."""
        if material is None:
            material = self._material(text)
        chars = [(start, end) for start, end, _char in pairs]
        sounds = []
        leet = []
        for start, end in material:
            first = text[start]
            if first in SYMBOLS:
                chars.append((start, end))
            elif first in "@$":
                leet.append((start, end))
            elif (
                _bopomofo(first)
                or "\uac00" <= first <= "\ud7a3"
                or self._mixed_possible(text, start, end)
            ):
                sounds.append((start, end))
        found: list[Finding] = []
        for spots, kind in ((chars, "chars"), (sounds, "sounds"), (leet, "leet")):
            for low, high in _windows(spots, len(text)):
                piece = text[low:high]
                if kind == "chars":
                    rewrite = rewrite_chars(piece, [(a - low, b - low, c) for a, b, c in pairs])
                elif kind == "sounds":
                    rewrite = rewrite_sounds(piece)
                else:
                    rewrite = _rewrite_leet(piece)
                if rewrite is not None:
                    found += self._through(text, low, rewrite, chat_id, dropped)
        return found

    def _mixed_possible(self, text: str, start: int, end: int) -> bool:
        """Whether Latin letters text[start:end] glued to Chinese characters can, with the
        pinyin of up to `MAX_MIXED` characters on either side, spell a lexicon word's pinyin
        syllable by syllable (刷dan → shua dan): the cheap test before a rewrite."""
        if self._automaton is None or not _LATIN_CHAR.match(text, start):
            return False
        run = text[start:end].translate(_TO_ASCII).lower()
        before = _syllables_beside(text, start, -1)
        after = _syllables_beside(text, end, 1)
        if not before and not after:
            return False
        units = [*before, run, *after]
        bounds = set(itertools.accumulate(map(len, units), initial=0))
        run_start = sum(map(len, before))
        run_end = run_start + len(run)
        for index, first, last in self._automaton.find_matches_as_indexes(
            "".join(units), overlapping=True
        ):
            if (
                first in bounds
                and last in bounds
                and first <= run_start < run_end <= last
                and (first < run_start or last > run_end)
                and any(ref & 7 == _PINYIN for ref in self._refs[index])
            ):
                return True
        return False

    def _through(
        self,
        text: str,
        low: int,
        rewrite: Rewrite,
        chat_id: str,
        dropped: list[Dropped] | None = None,
    ) -> list[Finding]:
        """The findings of one rewrite that its material takes part in, mapped back to `text`
        (the rewrite is of the stretch of `text` starting at `low`). The allow list is read
        on `text` itself: an allowed phrase written with the material (嫖女昌盛) is no
        longer there in the rewrite (嫖娼盛), and it holds the hit all the same."""
        found = []
        layout: Folded | None = None
        for finding in self._search(
            rewrite.text, chat_id, None, rewrite=False, wanted=rewrite.takes_part
        ):
            kinds = rewrite.kinds_in(finding.start, finding.end)
            route = _route_of_material(kinds)
            if route is None:
                continue
            start, end = rewrite.original_span(finding.start, finding.end)
            start, end = start + low, end + low
            if "sound" in kinds and not _characters_kept(text[start:end], fold(finding.word)):
                continue  # a character read only by its sound: a homophone, the pass's job
            if self._allow_automaton is not None:
                if layout is None:
                    layout = fold_with_origins(text)
                allowed = self._allowed_around(layout, start, end, chat_id)
                if allowed:
                    if dropped is not None:
                        dropped.append(
                            Dropped(
                                finding.word,
                                start,
                                end,
                                text[start:end],
                                route,
                                f"inside the allowed phrase {allowed}",
                            )
                        )
                    continue
            # A sound rewrite writes syllables apart: a gap only where the original has one.
            spaced = kinds & {"sound", "script", "latin"} and text[start:end].isalnum()
            skipped = (Route.EXACT, route, Route.GAP) if spaced else (Route.EXACT, route)
            routes = (route, *(r for r in finding.routes if r not in skipped))
            short = len(fold(finding.word)) <= SHORT_WORD
            low_confidence = finding.confidence is Confidence.LOW or (
                short and route in _LOW_WHEN_SHORT
            )
            found.append(
                replace(
                    finding,
                    start=start,
                    end=end,
                    matched=text[start:end],
                    route=routes[0],
                    routes=routes,
                    confidence=Confidence.LOW if low_confidence else Confidence.HIGH,
                )
            )
        return found

    def _allowed_around(self, layout: Folded, start: int, end: int, chat_id: str) -> str:
        """`_inside_allowed` for the original span [start, end) of the text `layout` folds:
        the folded characters that came from it."""
        first = bisect.bisect_left(layout.starts, start)
        last = bisect.bisect_left(layout.starts, end)
        if first >= last:
            return ""
        return self._inside_allowed(layout.text, first, last, chat_id)

    def _inside_allowed(self, folded: str, start: int, end: int, chat_id: str) -> str:
        """The allow-list phrase that applies in chat_id and holds folded[start:end], "" when
        none does. Only the window a phrase containing the hit could cover is scanned."""
        if self._allow_automaton is None:
            return ""
        offset = max(0, end - self._allow_longest)
        window = folded[offset : start + self._allow_longest]
        for index, a, b in self._allow_automaton.find_matches_as_indexes(window, overlapping=True):
            if (
                a + offset <= start
                and end <= b + offset
                and any(scope in ("", chat_id) for scope in self._allow_scopes[index])
            ):
                return self._allow_patterns[index]
        return ""


def _marks() -> numpy.ndarray:
    """What `FoldedBatch` marks a text for (`fold.MARK_*`): the cheap, array-wide first look
    for the material `SensitiveWordMatcher._material` then finds."""
    table = numpy.zeros(0x110000, dtype=numpy.uint8)
    table[0x3400:0xA000] = MARK_CHINESE
    # Lower-case letters only: chat spells a syllable in lower case (刷dan), and capitals
    # glued to characters are abbreviations (APP 下载, OK 了).
    for low, high in (("a", "z"), ("\uff41", "\uff5a")):
        table[ord(low) : ord(high) + 1] = MARK_LATIN
    table[0x3105:0x3130] = MARK_ALONE  # zhuyin
    table[0xAC00:0xD7A4] = MARK_ALONE  # Hangul syllables
    table[0x31A0:0x31C0] = MARK_ALONE
    table[[ord(symbol) for symbol in SYMBOLS]] = MARK_ALONE
    table[[ord("@"), ord("$")]] = MARK_BEFORE_LATIN
    return table


_MARKS = _marks()


def _neighbour(text: str, index: int, step: int) -> str:
    """The first character from `index` in direction `step` that folds to something, in its
    scan form ("" at the end of the text); for step -1, `index` is just past it."""
    position = index - 1 if step < 0 else index
    while 0 <= position < len(text):
        folded = fold_char(text[position])
        if folded:
            return scan_form(folded[0 if step > 0 else -1])
        position += step
    return ""


def _neighbours(forms: Iterable[str]) -> dict[str, tuple[str, str]]:
    """For each character of the lexicon's forms (words and their variants, in scan form):
    the characters found just before it and just after it in some form, as two strings (a
    form of that one character makes both "", which any text satisfies: see `_beside`)."""
    before: dict[str, set[str]] = {}
    after: dict[str, set[str]] = {}
    alone: set[str] = set()
    for scanned in forms:
        if len(scanned) == 1:
            alone.add(scanned)
        for index, char in enumerate(scanned):
            if index:
                before.setdefault(char, set()).add(scanned[index - 1])
            if index + 1 < len(scanned):
                after.setdefault(char, set()).add(scanned[index + 1])
    chars = before.keys() | after.keys() | alone
    return {
        char: ("", "")
        if char in alone
        else ("".join(before.get(char, ())), "".join(after.get(char, ())))
        for char in chars
    }


def _beside(near: tuple[str, str] | None, left: str, right: str) -> bool:
    """Whether a character with lexicon neighbours `near` may stand in a lexicon word with
    `left` before it or `right` after it in the text."""
    if near is None:
        return False
    before, after = near
    if not before and not after:
        return True  # a word of this one character
    return bool(left and left in before) or bool(right and right in after)


def _latin_run(text: str, at: int) -> tuple[int, int]:
    """The span of the lower-case Latin letters around text[at]."""
    start, end = at, at + 1
    while start > 0 and _LOWER_RUN.match(text[start - 1]):
        start -= 1
    while end < len(text) and _LOWER_RUN.match(text[end]):
        end += 1
    return start, end


def _glued(text: str, start: int, end: int) -> bool:
    """Whether the letters text[start:end] touch a Chinese character."""
    return (start > 0 and _chinese(text[start - 1])) or (end < len(text) and _chinese(text[end]))


def _glued_run(text: str, start: int, end: int) -> bool:
    """Whether the Hangul syllables from `start` (one spelling ends at `end`) touch a Chinese
    character: the run they belong to, glued to one (加웨이신, 刷단); Korean text apart from
    Chinese is Korean."""
    while start > 0 and "\uac00" <= text[start - 1] <= "\ud7a3":
        start -= 1
    while end < len(text) and "\uac00" <= text[end] <= "\ud7a3":
        end += 1
    return _glued(text, start, end)


def _chinese(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff"


MAX_MIXED = 5  # Chinese characters beside Latin letters read with them as pinyin


def _bopomofo(char: str) -> bool:
    return "\u3105" <= char <= "\u312f" or "\u31a0" <= char <= "\u31bf"


def _syllables_beside(text: str, index: int, step: int) -> list[str]:
    """The pinyin of up to `MAX_MIXED` Chinese characters right before `index` (step -1) or
    from it (step 1), nearest first reversed into reading order."""
    found: list[str] = []
    position = index - 1 if step < 0 else index
    while 0 <= position < len(text) and len(found) < MAX_MIXED:
        syllable = SYLLABLE_OF.get(text[position]) or SYLLABLE_OF.get(fold_char(text[position]))
        if syllable is None:
            break
        found.append(syllable)
        position += step
    return found[::-1] if step < 0 else found


def _lone_digits(
    pattern: str, folded: str, start: int, joined: Callable[[int], bool | None]
) -> bool:
    """Whether each digit of a pattern found at folded[start:] (a character written as the
    digit it sounds like) stands alone: no digit beside it, no 第 before it, and when it ends
    the hit, no unit glued after it in the original (45, 第4, 去4楼, 9点 are numbers; 陪9，日结
    is not). `joined(i)`: whether folded characters i - 1 and i were neighbours, None when
    not known (a batch folded one by one): then a unit after the digit refuses nothing here,
    and the hit rules ask again with the text's own layout, which knows."""
    end = start + len(pattern)
    for offset, char in enumerate(pattern):
        if char.isdigit():
            at = start + offset
            before = folded[at - 1] if at > 0 else ""
            after = folded[at + 1 : at + 2]
            if before.isdigit() or before == "第" or after.isdigit():
                return False
            if at == end - 1 and after in _UNITS and after and joined(at + 1):
                return False
    return True


def _windows(spots: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The stretches of a text of `size` characters around the spans in `spots`, each
    widened by `REWRITE_WINDOW`, overlapping ones merged."""
    windows: list[tuple[int, int]] = []
    for start, end in sorted(spots):
        low, high = max(0, start - REWRITE_WINDOW), min(size, end + REWRITE_WINDOW)
        if windows and low <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], high))
        else:
            windows.append((low, high))
    return windows


def _heard(scanned_word: str, stretch: str) -> bool:
    """Whether a stretch of scan text that sounds like a word (in scan form) is for the sound
    pass to report: not the word's own scan form (the automaton has it), and for a word of two
    characters, one of them kept as written."""
    if len(scanned_word) >= MIN_SOUND_WORD:
        return stretch != scanned_word
    return (stretch[0] == scanned_word[0]) != (stretch[1] == scanned_word[1])


def _function_for(scanned_word: str, stretch: str) -> bool:
    """Whether a stretch heard as a word of two characters writes one of them with a function
    word (`FUNCTION_CHARS`: 我带 for 卧带), which a reader reads as itself."""
    return any(
        char != own and char in FUNCTION_CHARS
        for char, own in zip(stretch, scanned_word, strict=True)
    )


def _characters_kept(original: str, word: str) -> bool:
    """Whether the Chinese characters of a stretch found through its sound are the word's
    own, in order (刷dan: 刷 of 刷单), so that only the material was read by its sound."""
    chars = [folded for folded in map(fold_char, original) if folded and _cjk(folded[0])]
    position = 0
    for char in chars:
        position = word.find(char, position) + 1
        if not position:
            return False
    return len(chars) < len(word)


def _route_of_material(kinds: set[str]) -> Route | None:
    """The route of a finding of a rewrite, by the material it covers; None when it covers
    none (the pass already saw it) or only sounds (a homophone reading: the pass's job)."""
    if "component" in kinds:
        return Route.COMPONENT
    if "symbol" in kinds:
        return Route.SYMBOL
    if "script" in kinds:
        return Route.SCRIPT
    if "leet" in kinds:
        return Route.DIGIT
    if "latin" in kinds and "sound" in kinds:
        return Route.MIXED
    return None


def _rewrite_leet(text: str) -> Rewrite:
    """`text` with @ for a and $ for s where they stand inside a word (f@ck, $cam)."""
    pieces = []
    chars = list(text)
    done = 0
    for match in _LEET_MATERIAL.finditer(text):
        at = match.start()
        if done < at:
            pieces.append((done, done, at, ""))
        pieces.append((at, at, at + 1, "leet"))
        chars[at] = "a" if text[at] == "@" else "s"
        done = at + 1
    if done < len(text):
        pieces.append((done, done, len(text), ""))
    return Rewrite("".join(chars), tuple(pieces), tuple(piece[0] for piece in pieces))


class _Search:
    """The hit rules for one message (only built when the automaton found something)."""

    def __init__(
        self,
        matcher: SensitiveWordMatcher,
        text: str,
        layout: Folded,
        chat_id: str,
        collapsed: _Collapsed | None = None,
        dropped: list[Dropped] | None = None,
        wanted: Callable[[int, int], bool] | None = None,
    ) -> None:
        self.matcher = matcher
        self.text = text
        self.layout = layout
        self.chat_id = chat_id
        self._collapsed = collapsed
        self._dropped = dropped
        self._wanted = wanted
        self._links: list[tuple[int, int]] | None = None
        self._allowed: bool | None = None  # `_any_allowed`
        self.pairs: list[tuple[int, int, str]] = []  # component pairs: original span, char

    def run(self, hits: list[tuple[int, int, int, bool]]) -> list[Finding]:
        findings: dict[tuple[int, int, int], Finding] = {}
        matcher = self.matcher
        for pattern_index, start, end, collapsed in hits:
            if collapsed:
                if not self._mostly_repeated(pattern_index, start, end):
                    continue
                start, end = self._trimmed(*self.collapsed.folded_span(start, end))
            if self._wanted is not None and not self._wanted(
                *self.layout.original_span(start, end)
            ):
                continue
            if pattern_index < 0:  # the sound pass: a word form read by its sound
                stretch = scan_form(self.layout.text[start:end])
                for form in matcher._sound_refs[-1 - pattern_index]:
                    scanned_word = matcher._scanned_words[matcher._plain_entry[form]]
                    if not _heard(scanned_word, stretch):
                        continue
                    finding = self._finding(form, _WORD, start, end, False, heard=True)
                    if finding is not None:
                        key = (matcher._plain_entry[form], finding.start, finding.end)
                        if key not in findings:
                            findings[key] = finding
                continue
            inside = self._inside_a_word(pattern_index, start, end)
            for ref in matcher._refs[pattern_index]:
                plain_id, kind = ref >> 3, ref & 7
                if kind == _COMPONENT:
                    if not collapsed:
                        self._pair(plain_id, start, end)
                    continue
                if inside and not (kind in (_WORD, _LEET) and matcher._plain[plain_id].isalpha()):
                    continue  # inside a longer word; only an English word may be inflected
                if kind == _INSERTION:
                    finding = self._insertion(plain_id, start, end) if not collapsed else None
                else:
                    finding = self._finding(plain_id, kind, start, end, collapsed)
                if finding is None:
                    continue
                key = (matcher._plain_entry[plain_id], finding.start, finding.end)
                known = findings.get(key)
                if known is None or _plainer(finding, known):
                    findings[key] = finding
        return _without_nested(findings.values())

    def _inside_a_word(self, pattern_index: int, start: int, end: int) -> bool:
        """The cheap, certain part of `_on_boundaries`, before any origin is worked out: a
        pattern with a letter at an edge, next to a letter that was its neighbour in the
        original too (`dow` in `windows`), is inside a word."""
        edges = self.matcher._letter_edges[pattern_index]
        if not edges:
            return False
        layout = self.layout
        folded = layout.text
        if (
            edges & _STARTS_WITH_LETTER
            and start
            and "a" <= folded[start - 1] <= "z"
            and layout.joined_before(start)
        ):
            return True
        if edges & _ENDS_WITH_LETTER and end < len(folded) and "a" <= folded[end] <= "z":
            return layout.joined_before(end)
        return False

    @property
    def collapsed(self) -> _Collapsed:
        if self._collapsed is None:
            self._collapsed = _Collapsed(scan_form(self.layout.text))
        return self._collapsed

    def _trimmed(self, start: int, end: int) -> tuple[int, int]:
        """A collapsed hit's folded span without the part of a run at its edge that was apart
        from the rest in the original (this is shiiiit: the s of `is` is no part of shit)."""
        layout = self.layout
        folded = layout.text
        while start + 1 < end and folded[start] == folded[start + 1]:
            if layout.joined_before(start + 1):
                break
            start += 1
        while end - 1 > start and folded[end - 1] == folded[end - 2]:
            if layout.joined_before(end - 1):
                break
            end -= 1
        return start, end

    def _mostly_repeated(self, pattern_index: int, start: int, end: int) -> bool:
        """A collapsed-pass hit counts only if more than half of its characters stood for a
        run of two or more (微微信信, 加微微信信, ssbb), so that reduplicated words (妈妈的 → 妈的)
        stay innocent; an ASCII word also counts with one letter stretched to three or more
        (fuuuck). The same conditions as `_worth_collapsing`, hit by hit."""
        runs = self.collapsed.runs_in(start, end)
        if 2 * len(runs) > end - start:
            return True
        return bool(runs) and max(runs) >= 3 and self.matcher._patterns[pattern_index].isascii()

    def _drop(self, entry_index: int, start: int, end: int, route: Route, reason: str) -> None:
        if self._dropped is not None:
            word = self.matcher.entries[entry_index].word
            matched = self.text[start:end]
            self._dropped.append(Dropped(word, start, end, matched, route, reason))

    def _pair(self, plain_id: int, start: int, end: int) -> None:
        """A component pair of a lexicon character, for the rewrite."""
        matcher = self.matcher
        layout = self.layout
        if layout.text[start:end] != matcher._plain[plain_id]:
            return  # a homophone of the pair is no pair
        low, high = max(0, start - 1), min(len(layout.text), end + 1)
        if not matcher._pair_joins(
            plain_id, scan_form(layout.text[low:high]), start - low, end - low
        ):
            return
        original_start, original_end = layout.original_span(start, end)
        self.pairs.append((original_start, original_end, matcher._composed[plain_id]))

    def _finding(
        self,
        plain_id: int,
        kind: int,
        start: int,
        end: int,
        collapsed: bool,
        *,
        heard: bool = False,
    ) -> Finding | None:
        """The finding of a raw hit of a word form, None when it is no finding (`heard`: a hit
        of the sound pass, every character read by its sound)."""
        matcher = self.matcher
        entry_index = matcher._plain_entry[plain_id]
        entry = matcher.entries[entry_index]
        if entry.scope and entry.scope != self.chat_id:
            return None
        pattern = matcher._plain[plain_id]
        word = matcher._folded_words[entry_index]
        layout = self.layout
        original_start, original_end = layout.original_span(start, end)
        via = _VIA[kind]
        inflected = False
        if not self._on_boundaries(pattern, original_start, original_end):
            span = None
            if kind in (_WORD, _LEET) and pattern.isalpha():
                span = inflection(self.text, original_start, original_end, word)
            if span is None:
                return None  # the commonest rejection (`git` in `github`), so it goes first
            original_start, original_end, _how = span
            inflected = True
        # Contiguous: one original character per folded one, nothing removed between them
        # (the common case, with nothing to look at between the characters).
        contiguous = layout.one_to_one and original_end - original_start == end - start
        matched = self.text[original_start:original_end]
        evidence = layout.text[start:end]
        if inflected:
            evidence = fold(matched)
        compared = _RUNS.sub(r"\1", evidence) if collapsed else evidence
        homophone = not inflected and compared != pattern
        route = via or Route.EXACT
        if (
            contiguous
            and via is None
            and not collapsed
            and not homophone
            and not inflected
            and (matched == evidence or matched.translate(_ASCII_LOWER) == evidence)
        ):
            ordered = _EXACT_ONLY  # the commonest hit: the word as written (any mode takes it)
            low = False
        else:
            gaps = [] if contiguous or inflected else self._gaps(start, end)
            routes: set[Route] = set()
            if any(visible for visible, _break in gaps):
                routes.add(Route.GAP)
            if collapsed:
                routes.add(Route.REPEAT)
            if inflected:
                routes.add(Route.INFLECTION)
            if via is not None:
                routes.add(via)
            if homophone:
                routes.add(Route.HOMOPHONE)
            if via is None and not homophone:
                kept = matched if contiguous or inflected else self._kept_original(start, end)
                if kept.translate(_ASCII_LOWER) != evidence or len(kept) != len(matched):
                    routes.add(Route.FOLDED)  # characters changed, or invisible ones removed
            if _SCRIPT.search(matched):
                routes.add(Route.SCRIPT)
            if not routes:
                routes.add(Route.EXACT)
            ordered = _in_route_order(frozenset(routes))
            route = ordered[0]
            if entry.mode is MatchMode.EXACT and routes != {Route.EXACT}:
                return None
            if entry.mode is MatchMode.FOLDED and not routes <= {
                Route.EXACT,
                Route.FOLDED,
                Route.INFLECTION,
            }:
                return None
            if gaps:
                reason = self._gaps_refused(entry_index, via, pattern, start, gaps)
                if reason:
                    self._drop(entry_index, original_start, original_end, route, reason)
                    return None
            if (homophone or kind == _VARIANT) and evidence != word and dictionary_word(evidence):
                self._drop(
                    entry_index,
                    original_start,
                    original_end,
                    route,
                    f"reads as the ordinary word {evidence}",
                )
                return None
            if kind == _DIGIT and not self._digit_stands_for_a_character(pattern, start, end):
                self._drop(entry_index, original_start, original_end, route, "a number")
                return None
            short = len(word) <= SHORT_WORD
            low = (
                bool(routes & _LOW_ALWAYS)
                or (
                    short
                    and bool(routes & _LOW_WHEN_SHORT)
                    # one character per line (网⏎⏎赌⏎⏎) is the word spelled out on purpose
                    and not (
                        routes & _LOW_WHEN_SHORT == {Route.GAP}
                        and self._letter_spaced(start, end, _LINE_ENDS)
                    )
                )
                or (Route.HOMOPHONE in routes and len(word) < CONFIDENT_HOMOPHONE_WORD)
            )
        reason = self._context_refuses(
            entry_index, pattern, word, kind, start, end, original_start, original_end
        )
        if not reason and heard and len(word) < MIN_SOUND_WORD:
            reaching = self.matcher._segmenter.may_cross(layout.text, start, end)
            if reaching:
                reason = f"the word {reaching} reaches into it"
        if reason:
            self._drop(entry_index, original_start, original_end, route, reason)
            return None
        return Finding(
            word=entry.word,
            category=entry.category,
            severity=entry.severity,
            start=original_start,
            end=original_end,
            matched=matched,
            evidence=evidence,
            route=ordered[0],
            routes=ordered,
            pattern=pattern,
            confidence=Confidence.LOW if low else Confidence.HIGH,
            scope=entry.scope,
        )

    def _context_refuses(
        self,
        entry_index: int,
        pattern: str,
        word: str,
        kind: int,
        start: int,
        end: int,
        original_start: int,
        original_end: int,
    ) -> str:
        """Why the text around a hit says it is not the word ("" when nothing does): Latin
        context for a Latin hit, the reading of the Chinese around a Chinese one, the allow
        list for any."""
        text = self.text
        folded = self.layout.text
        if pattern.isascii() and not pattern.isdigit():
            if self._in_link(original_start, original_end):
                return "inside a link or an email address"
            if not any(char.isdigit() for char in word) and in_code(
                text, original_start, original_end
            ):
                return "inside a code, an ID or an identifier"
            if (
                (not word.isascii() or kind in (_PINYIN, _VARIANT, _WHOLE))
                and text[original_start].isupper()
                and romanised_name(text, original_start, original_end)
            ):
                return "a romanised name in Latin text"
            if (
                len(pattern) <= 2 or not word.isascii() or kind in (_PINYIN, _VARIANT, _WHOLE)
            ) and abbreviation_in_english(text, original_start, original_end):
                return "a short abbreviation in English text"
        elif (_cjk(folded[start]) or _cjk(folded[end - 1])) and self.matcher._segmenter.may_cross(
            folded, start, end
        ):
            low, high = self._sentence(start, end)
            split = self.matcher._segmenter.crossing(folded[low:high], start - low, end - low)
            if split:
                return f"the words around it read {split}"
        if _cjk(folded[start]) and end - start <= 2:
            holding = self.matcher._segmenter.holding(folded, start, end)
            if holding:
                return f"part of the word {holding}"
            if self.matcher.entries[entry_index].category == Category.ABUSE:
                term = term_holding(folded, start, end)
                if term:
                    return f"part of the term {term}, its literal sense"
        if self._any_allowed():
            allowed = self.matcher._inside_allowed(folded, start, end, self.chat_id)
            if allowed:
                return f"inside the allowed phrase {allowed}"
        return ""

    def _any_allowed(self) -> bool:
        """Whether any allow-list phrase occurs in the folded text (looked for once, when a
        hit first asks; most texts hold none)."""
        if self._allowed is None:
            automaton = self.matcher._allow_automaton
            self._allowed = automaton is not None and bool(
                automaton.find_matches_as_indexes(self.layout.text)
            )
        return self._allowed

    def _in_link(self, start: int, end: int) -> bool:
        if self._links is None:
            self._links = link_spans(self.text) if ("." in self.text or "@" in self.text) else []
        return any(a <= start and end <= b for a, b in self._links)

    def _sentence(self, start: int, end: int) -> tuple[int, int]:
        """The folded span around [start, end) that the segmenter may read: `WINDOW`
        characters each side, cut at a sentence break."""
        layout = self.layout
        starts = layout.starts
        text = self.text
        low = start
        while low > max(0, start - WINDOW):
            between = text[starts[low - 1] + 1 : starts[low]]
            if any(char in _BREAKS for char in between):
                break
            low -= 1
        high = end
        limit = min(len(layout.text), end + WINDOW)
        while high < limit:
            between = text[starts[high - 1] + 1 : starts[high]]
            if any(char in _BREAKS for char in between):
                break
            high += 1
        return low, high

    def _digit_stands_for_a_character(self, pattern: str, start: int, end: int) -> bool:
        return _lone_digits(pattern, self.layout.text, start, self.layout.joined_before)

    def _insertion(self, plain_id: int, start: int, end: int) -> Finding | None:
        """A long word with one or two characters inserted (代开各类发票): the automaton found
        its least common pair of characters; the rest is looked for around it here."""
        matcher = self.matcher
        word = matcher._plain[plain_id]
        folded = self.layout.text
        first, last, at, count = inserted(
            folded, start, word, matcher._anchors[plain_id], MAX_INSERTED
        )
        if not count or not all(_cjk(char) for char in folded[at : at + count]):
            return None
        return self._inserted(plain_id, first, last, folded[at : at + count])

    def _inserted(self, plain_id: int, start: int, end: int, extra: str) -> Finding | None:
        matcher = self.matcher
        entry_index = matcher._plain_entry[plain_id]
        entry = matcher.entries[entry_index]
        if entry.scope and entry.scope != self.chat_id:
            return None
        layout = self.layout
        original_start, original_end = layout.original_span(start, end)
        gaps = self._gaps(start, end)
        if any(has_break for _visible, has_break in gaps) or max(v for v, _b in gaps) > MAX_GAP:
            return None
        word = matcher._folded_words[entry_index]
        reason = self._context_refuses(
            entry_index, word, word, _INSERTION, start, end, original_start, original_end
        )
        if reason:
            self._drop(entry_index, original_start, original_end, Route.INSERTION, reason)
            return None
        routes = (Route.INSERTION, Route.GAP) if any(v for v, _b in gaps) else (Route.INSERTION,)
        return Finding(
            word=entry.word,
            category=entry.category,
            severity=entry.severity,
            start=original_start,
            end=original_end,
            matched=self.text[original_start:original_end],
            evidence=layout.text[start:end],
            route=Route.INSERTION,
            routes=routes,
            pattern=f"{word} (+{extra})",
            confidence=Confidence.LOW,
            scope=entry.scope,
        )

    def _kept_original(self, start: int, end: int) -> str:
        """The original characters the folded characters [start, end) came from, without the
        noise in between: what folding changed shows as a difference from the evidence."""
        layout = self.layout
        return "".join(self.text[index] for index in dict.fromkeys(layout.starts[start:end]))

    def _gaps(self, start: int, end: int) -> list[tuple[int, bool]]:
        """For each pair of neighbouring characters of the hit: how many visible characters
        were removed between them (a run of whitespace counts as one; invisible characters as
        none: they never get between words by accident), and whether a sentence break was
        among them."""
        layout = self.layout
        text = self.text
        starts = layout.starts
        gaps = []
        for index in range(start, end - 1):
            removed = text[starts[index] + 1 : starts[index + 1]]
            if not removed:
                gaps.append((0, False))
                continue
            visible = 0
            previous_space = False
            has_break = False
            for position, char in enumerate(removed):
                if char.isspace():
                    if not previous_space:
                        visible += 1
                    previous_space = True
                else:
                    previous_space = False
                    if not invisible(char):
                        visible += 1
                if char in _BREAKS or (
                    char in ",."
                    and removed[position + 1 : position + 2].isspace()
                    and _ascii_class(text[starts[index] + position : starts[index] + position + 1])
                    == "a"
                ):
                    has_break = True  # English prose ends a sentence with a letter, then ". "
            gaps.append((visible, has_break))
        return gaps

    def _gaps_refused(
        self,
        entry_index: int,
        via: Route | None,
        pattern: str,
        start: int,
        gaps: list[tuple[int, bool]],
    ) -> str:
        """Why the gaps of a hit make it no hit ("" when they do not)."""
        if max(visible for visible, _break in gaps) > MAX_GAP:
            return "too much between its characters"
        if any(has_break for _visible, has_break in gaps) and not self._letter_spaced(
            start, start + len(gaps) + 1
        ):
            return "across a sentence break"
        if not pattern.isascii():
            return ""
        letter_spaced = all(visible for visible, _break in gaps)
        if letter_spaced:
            return ""
        layout = self.layout
        syllable_starts = None
        if via is Route.PINYIN:
            syllable_starts = _syllable_starts(self.matcher._folded_words[entry_index], pattern)
        for offset, (visible, _break) in enumerate(gaps, start=1):
            if not visible:
                continue
            if syllable_starts is not None:
                if offset not in syllable_starts:
                    return "a pinyin split inside a syllable"
                continue
            removed = self.text[
                layout.starts[start + offset - 1] + 1 : layout.starts[start + offset]
            ]
            if any(char.isspace() for char in removed):
                return "two words, not one spaced out"  # `pen is` is two words
        return ""

    def _letter_spaced(self, start: int, end: int, breaks: frozenset[str] = _BREAKS) -> bool:
        """Whether every character of the folded hit [start, end) stands alone between
        `breaks` (赌。博。 or one character per line): spacing, not two sentences."""
        text = self.text
        for index in self.layout.starts[start:end]:
            for step in (-1, 1):
                position = index + step
                while 0 <= position < len(text) and text[position] not in breaks:
                    if fold_char(text[position]):
                        return False
                    position += step
        return True

    def _on_boundaries(self, pattern: str, start: int, end: int) -> bool:
        """A pattern that starts or ends with an ASCII letter needs a word boundary there: the
        original neighbour must not fold to an ASCII letter (`av` is not in `have`). Likewise
        for a digit next to a digit (a phone number inside a longer number). A letter next to
        a digit is a boundary: 加weixin18123 is 加weixin followed by a number."""
        text = self.text
        edge = _ascii_class(pattern[0])
        if edge and start > 0:
            before = fold_char(text[start - 1])
            if before and _ascii_class(before[-1]) == edge:
                return False
        edge = _ascii_class(pattern[-1])
        if edge and end < len(text):
            after = fold_char(text[end])
            if after and _ascii_class(after[0]) == edge:
                return False
        return True


def _plainer(finding: Finding, known: Finding) -> bool:
    """Whether `finding` explains the same hit more plainly than `known` (high confidence
    first, then fewer routes)."""
    if finding.confidence is not known.confidence:
        return finding.confidence is Confidence.HIGH
    return len(finding.routes) < len(known.routes)


def _worth_collapsing(folded: str) -> bool:
    """Whether a collapsed pass can find anything the plain pass did not. A collapsed hit of
    an ASCII word needs a run of three or more of a letter (fuuuck); of any other word, more
    than half of its characters must be runs (`_mostly_repeated`), which needs two runs at
    most one character apart (微微信信, 加微微x信信)."""
    return _WORTH_COLLAPSING.search(folded) is not None


class _Collapsed:
    """Where the characters of `_RUNS.sub(r"\1", folded)` came from: each run of a repeated
    character stands for one collapsed character; bisection maps spans back."""

    __slots__ = ("_lengths", "_positions", "_shifts", "text")

    def __init__(self, folded: str) -> None:
        self._positions: list[int] = []  # collapsed index of each run's character
        self._lengths: list[int] = []  # the run's length in the folded text
        self._shifts = [0]  # folded characters dropped by the runs before run k
        pieces = []
        done = 0
        for run in _RUNS.finditer(folded):
            start, end = run.span()
            pieces.append(folded[done : start + 1])
            done = end
            self._positions.append(start - self._shifts[-1])
            self._lengths.append(end - start)
            self._shifts.append(self._shifts[-1] + end - start - 1)
        pieces.append(folded[done:])
        self.text = "".join(pieces)

    def folded_span(self, start: int, end: int) -> tuple[int, int]:
        """The folded span the collapsed characters [start, end) stand for."""
        first = bisect.bisect_left(self._positions, start)
        last = bisect.bisect_right(self._positions, end - 1)
        return start + self._shifts[first], end + self._shifts[last]

    def runs_in(self, start: int, end: int) -> list[int]:
        """The lengths of the runs among the collapsed characters [start, end)."""
        positions = self._positions
        return self._lengths[
            bisect.bisect_left(positions, start) : bisect.bisect_left(positions, end)
        ]


def _in_warnings(text: str, findings: list[Finding]) -> list[Finding]:
    """`findings`, each hit named in a warning against it made low confidence with its cue
    (`moderation.warning`)."""
    result = []
    for finding in findings:
        cue = "" if finding.warning else warning_cue(text, finding.start, finding.end)
        if cue:
            finding = replace(finding, warning=cue, confidence=Confidence.LOW)
        result.append(finding)
    return result


def _without_nested(findings: Collection[Finding]) -> list[Finding]:
    """Ordered by position; a hit of a word inside a longer hit of the same word is dropped
    (加v信 is one hit of 加微信, not two)."""
    if len(findings) < 2:
        return list(findings)
    kept: list[Finding] = []
    widest: dict[str, int] = {}  # word → end of its last kept hit
    for finding in sorted(findings, key=lambda f: (f.start, -f.end, f.word)):
        if widest.get(finding.word, -1) >= finding.end:
            continue
        widest[finding.word] = finding.end
        kept.append(finding)
    return sorted(kept, key=lambda f: (f.start, f.end, f.word))
