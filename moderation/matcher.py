"""`SensitiveWordMatcher`: lexicon words found in folded text, with hit rules and explanations.

How a message is searched:

1. The text is folded (`moderation.fold`): one automaton pass (ahocorasick-rs) runs over the
   folded text (`find_many` folds and searches a batch of texts at once, with the same
   result). When the folded text has runs of a repeated character (微微信信), a second pass
   runs over the text with each run collapsed to one character.
2. The automaton holds, for each lexicon word, its folded form and, for `fuzzy` words, variants
   made when the matcher is built, not when text is read: pinyin (full; initials too for words
   of four or more characters) and homophone/shape substitutions (`moderation.variants`).
3. Every raw hit then goes through the hit rules:
   - A word that starts or ends with an ASCII letter needs a word boundary there in the
     original text (`av` does not fire in `have`, `加v` not in `加vip`); a digit likewise
     needs no digit next to it. A letter next to a digit is a boundary (加weixin18123).
   - Noise removed between two characters of a hit is a gap. Each gap is at most `MAX_GAP`
     characters. An ASCII word may not span a space unless every letter is spaced out
     (`f u c k`, not `pen is`); a pinyin variant only between syllables (`du bo`). A word of
     one or two characters found across a gap is a low-confidence hit: at most `review`.
   - A hit in the collapsed pass counts for a Chinese word only when every character of it
     was repeated (微微信信, not 妈妈的 → 妈的).
   - An allow-list phrase suppresses every hit lying inside it (路口交通 ⊃ 口交).
   - A word scoped to a group only counts in that group; `folded` words ignore the fuzzy
     routes and `exact` words count only when written exactly.
4. Each surviving hit becomes a `Finding` that names the word, its category and tier, the
   original span, the folded evidence and the routes by which it matched.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import ahocorasick_rs

from moderation._pinyin_data import PINYIN
from moderation.fold import Folded, FoldedBatch, fold, fold_char, fold_with_origins
from moderation.lexicon import AllowEntry, Category, LexiconEntry, MatchMode, Severity
from moderation.variants import SUBSTITUTIONS

__all__ = ["BATCH_SIZE", "MAX_GAP", "Confidence", "Finding", "Route", "SensitiveWordMatcher"]

MAX_GAP = 4  # original characters removed between two characters of a hit, at most
MAX_VARIANTS = 24  # substitution variants per word, at most
MIN_INITIALS_WORD = 4  # pinyin initials only for words of at least this many characters

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_RUNS = re.compile(r"(.)\1+")
# `_worth_collapsing`: a letter three times, or a whole run (the lookahead stops it from being
# cut short), at most one character, then the start of another run.
_WORTH_COLLAPSING = re.compile(r"([a-z])\1\1|(.)\2+(?!\2).?(.)\3")
BATCH_SIZE = 64  # texts folded and searched at once by `find_many`
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Mc"})  # not Cc: a line break is visible


class Route(StrEnum):
    """How a hit was found, from the plainest to the most disguised."""

    EXACT = "exact"  # the word as written (ASCII case aside)
    FOLDED = "folded"  # after folding: width, case, traditional, look-alikes, digits
    REPEAT = "repeat"  # repeated characters collapsed (微微信信)
    GAP = "gap"  # across noise removed between characters (微-信, 赌 博)
    VARIANT = "variant"  # a homophone or shape substitution (威信, 微亻言)
    PINYIN = "pinyin"  # written in pinyin (weixin, dubo, flg)


# The order in which routes are named: the most telling first.
_ROUTE_ORDER = (Route.PINYIN, Route.VARIANT, Route.GAP, Route.REPEAT, Route.FOLDED, Route.EXACT)


class Confidence(StrEnum):
    HIGH = "high"
    LOW = "low"  # a short word only found across noise, or a short word's pinyin


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
    pattern: str = ""  # the automaton pattern: the folded word, or its pinyin or variant
    confidence: Confidence = Confidence.HIGH
    scope: str = ""  # the group the word is scoped to; "" for every group
    detector: str = "lexicon"

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
        if self.pattern and self.route in (Route.PINYIN, Route.VARIANT):
            line += f" (pattern {self.pattern!r})"
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
            "explanation": self.explain(),
        }


# --- Variants, made at build time ------------------------------------------------------------

_SYLLABLE_OF: dict[str, str] = {
    char: syllable
    for line in PINYIN.splitlines()
    for syllable, chars in [line.split(":", 1)]
    for char in chars
}


def _syllables(word: str) -> list[str] | None:
    """The toneless pinyin of each character; None unless every character has one."""
    syllables = []
    for char in word:
        syllable = _SYLLABLE_OF.get(char)
        if syllable is None:
            return None
        syllables.append(syllable)
    return syllables


def _pinyin_forms(word: str) -> list[str]:
    """Pinyin spellings of an all-Chinese word of two or more characters: full pinyin, and
    initials for long words."""
    if len(word) < 2:
        return []
    syllables = _syllables(word)
    if syllables is None:
        return []
    if len(word) < MIN_INITIALS_WORD:
        return ["".join(syllables)]
    return ["".join(syllables), "".join(syllable[0] for syllable in syllables)]


def _syllable_starts(word: str, pattern: str) -> frozenset[int]:
    """Offsets in a pinyin pattern of `word` where a syllable starts (where a gap may fall)."""
    syllables = _syllables(word) or []
    if len(pattern) == len(syllables):  # initials: every letter is a syllable
        return frozenset(range(1, len(pattern)))
    return frozenset(itertools.accumulate(len(syllable) for syllable in syllables))


# The table, folded like the words it applies to, and indexed by first character.
_SUBSTITUTIONS = {
    fold(fragment): tuple(fold(alternative) for alternative in alternatives)
    for fragment, alternatives in SUBSTITUTIONS.items()
}
_FRAGMENTS_BY_FIRST_CHAR: dict[str, list[str]] = {}
for _fragment in _SUBSTITUTIONS:
    _FRAGMENTS_BY_FIRST_CHAR.setdefault(_fragment[0], []).append(_fragment)


def _substitution_variants(word: str) -> list[str]:
    """The word with look-alike fragments substituted: one substitution at a time first, then
    two non-overlapping ones, and so on, up to MAX_VARIANTS."""
    spots = [
        (start, start + len(fragment), _SUBSTITUTIONS[fragment])
        for start, char in enumerate(word)
        for fragment in _FRAGMENTS_BY_FIRST_CHAR.get(char, ())
        if word.startswith(fragment, start)
    ]
    if not spots:
        return []
    spots.sort(key=lambda spot: (spot[0], spot[1]))
    variants: list[str] = []
    seen = {word}
    for count in range(1, len(spots) + 1):
        for chosen in itertools.combinations(spots, count):
            if any(a[1] > b[0] for a, b in itertools.pairwise(chosen)):
                continue  # overlapping fragments
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
                    variants.append(variant)
                    if len(variants) >= MAX_VARIANTS:
                        return variants
    return variants


# --- Building -------------------------------------------------------------------------------


def _invisible(char: str) -> bool:
    return unicodedata.category(char) in _INVISIBLE_CATEGORIES


def _ascii_class(char: str) -> str:
    """ "a" for an ASCII letter, "0" for an ASCII digit, "" for anything else."""
    if not char.isascii():
        return ""
    if char.isalpha():
        return "a"
    return "0" if char.isdigit() else ""


_STARTS_WITH_LETTER = 1
_ENDS_WITH_LETTER = 2


def _letter_edges(pattern: str) -> int:
    """Which edges of a (folded, lower-case) pattern are ASCII letters, as bits."""
    return (_STARTS_WITH_LETTER if "a" <= pattern[0] <= "z" else 0) | (
        _ENDS_WITH_LETTER if "a" <= pattern[-1] <= "z" else 0
    )


# One way a pattern stands for an entry, as one int: entry index * 4 + route code, where the
# code is 0 for the folded word itself, else an index into _ROUTE_OF_CODE. A 50,000-word
# lexicon makes ~100,000 of them; ints in tuples leave the garbage collector nothing to scan.
_Ref = int
_ROUTE_OF_CODE: tuple[Route | None, ...] = (None, Route.PINYIN, Route.VARIANT)
_EXACT_ONLY: tuple[Route, ...] = (Route.EXACT,)


class SensitiveWordMatcher:
    """Finds lexicon words in text. Immutable once built; safe to share between threads."""

    def __init__(
        self,
        entries: Iterable[LexiconEntry],
        allow: Iterable[AllowEntry] = (),
        *,
        collapse_repeats: bool = True,
    ) -> None:
        self._collapse = collapse_repeats
        chosen: dict[tuple[str, str], tuple[LexiconEntry, str]] = {}
        for entry in entries:
            folded = fold(entry.word)
            if not folded:
                continue  # nothing left to look for (the word was all symbols)
            known = chosen.get((folded, entry.scope))
            if known is None or entry.severity.rank > known[0].severity.rank:
                chosen[(folded, entry.scope)] = (entry, folded)
        self.entries: tuple[LexiconEntry, ...] = tuple(entry for entry, _ in chosen.values())
        self._folded_words = [folded for _, folded in chosen.values()]

        refs: dict[str, list[_Ref]] = {}
        for index, (entry, folded) in enumerate(chosen.values()):
            refs.setdefault(folded, []).append(index * 4)
            if entry.mode is not MatchMode.FUZZY:
                continue
            for pinyin in _pinyin_forms(folded):
                refs.setdefault(pinyin, []).append(index * 4 + 1)
            for variant in _substitution_variants(folded):
                refs.setdefault(variant, []).append(index * 4 + 2)
        self._patterns = list(refs)
        self._refs = [tuple(refs[pattern]) for pattern in self._patterns]
        self._letter_edges = [_letter_edges(pattern) for pattern in self._patterns]
        self._automaton = ahocorasick_rs.AhoCorasick(self._patterns) if self._patterns else None

        self.allow: tuple[AllowEntry, ...] = tuple(a for a in allow if fold(a.phrase))
        allow_patterns: dict[str, list[str]] = {}
        for allowed in self.allow:
            allow_patterns.setdefault(fold(allowed.phrase), []).append(allowed.scope)
        self._allow_patterns = list(allow_patterns)
        self._allow_scopes = [allow_patterns[pattern] for pattern in self._allow_patterns]
        self._allow_longest = max(map(len, self._allow_patterns), default=0)
        self._allow_automaton = (
            ahocorasick_rs.AhoCorasick(self._allow_patterns) if self._allow_patterns else None
        )

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def pattern_count(self) -> int:
        """Patterns in the automaton: folded words plus their pinyin and look-alike variants."""
        return len(self._patterns)

    def find(self, text: str, chat_id: str = "") -> list[Finding]:
        """Every hit of every word that applies in `chat_id`, ordered by position."""
        if self._automaton is None or not text:
            return []
        layout = fold_with_origins(text)
        found = self._automaton.find_matches_as_indexes(layout.text, overlapping=True)
        return self._findings(text, layout.text, lambda: layout, found, chat_id, None)

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
            batch = FoldedBatch(chunk)
            offsets, folded, joined_before = batch.offsets, batch.text, batch.joined_before
            edges = self._letter_edges
            hits: dict[int, list[tuple[int, int, int]]] = {}
            index = 0
            next_offset = offsets[1] if len(offsets) > 1 else len(folded)
            for pattern_index, start, end in scan(folded, overlapping=True):
                # `_inside_a_word` on the whole batch (a text's edge is SEPARATOR, no letter).
                edge = edges[pattern_index]
                if edge and (
                    (
                        edge & _STARTS_WITH_LETTER
                        and start
                        and "a" <= folded[start - 1] <= "z"
                        and joined_before(start)
                    )
                    or (
                        edge & _ENDS_WITH_LETTER
                        and "a" <= folded[end : end + 1] <= "z"
                        and joined_before(end)
                    )
                ):
                    continue
                while end > next_offset:  # hits come by end: the text they lie in only grows
                    index += 1
                    next_offset = offsets[index + 1] if index + 1 < len(offsets) else len(folded)
                offset = offsets[index]
                hits.setdefault(index, []).append((pattern_index, start - offset, end - offset))
            repeated = batch.repeats if self._collapse else set()
            for index in hits.keys() | repeated:
                text = chunk[index]
                chat_id = chat_ids[first + index] if chat_ids is not None else ""
                results[first + index] = self._findings(
                    text,
                    batch.folded(index),
                    functools.partial(batch.layout, index),
                    hits.get(index, []),
                    chat_id,
                    index in repeated,
                )
        return results

    def _findings(
        self,
        text: str,
        folded: str,
        layout: Callable[[], Folded],
        found: list[tuple[int, int, int]],
        chat_id: str,
        collapse: bool | None,
    ) -> list[Finding]:
        """The hit rules over the automaton's matches in one folded text; `collapse` says
        whether a collapsed pass is worth it (None: find out). `layout` gives the origins,
        asked for only when some hit needs them."""
        hits = [(index, start, end, False) for index, start, end in found]
        if collapse is None:
            collapse = self._collapse and _worth_collapsing(folded)
        collapsed = None
        if collapse and self._automaton is not None:
            collapsed = _Collapsed(folded)
            found = self._automaton.find_matches_as_indexes(collapsed.text, overlapping=True)
            hits += [(index, start, end, True) for index, start, end in found]
        if not hits:
            return []
        return _Search(self, text, layout(), chat_id, collapsed).run(hits)

    def _inside_allowed(self, folded: str, start: int, end: int, chat_id: str) -> bool:
        """Whether folded[start:end] lies inside an allow-list phrase that applies in chat_id.
        Only the window a phrase containing the hit could cover is scanned."""
        if self._allow_automaton is None:
            return False
        offset = max(0, end - self._allow_longest)
        window = folded[offset : start + self._allow_longest]
        return any(
            a + offset <= start and end <= b + offset
            for index, a, b in self._allow_automaton.find_matches_as_indexes(
                window, overlapping=True
            )
            if any(scope in ("", chat_id) for scope in self._allow_scopes[index])
        )


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


class _Search:
    """The hit rules for one message (only built when the automaton found something)."""

    def __init__(
        self,
        matcher: SensitiveWordMatcher,
        text: str,
        layout: Folded,
        chat_id: str,
        collapsed: _Collapsed | None = None,
    ) -> None:
        self.matcher = matcher
        self.text = text
        self.layout = layout
        self.chat_id = chat_id
        self._collapsed = collapsed

    def run(self, hits: list[tuple[int, int, int, bool]]) -> list[Finding]:
        findings: dict[tuple[int, int, int], Finding] = {}
        for pattern_index, start, end, collapsed in hits:
            if collapsed:
                if not self._mostly_repeated(pattern_index, start, end):
                    continue
                start, end = self.collapsed.folded_span(start, end)
            if self._inside_a_word(pattern_index, start, end):
                continue
            for ref in self.matcher._refs[pattern_index]:
                entry_index, route = ref >> 2, _ROUTE_OF_CODE[ref & 3]
                finding = self._finding(entry_index, route, pattern_index, start, end, collapsed)
                if finding is not None:
                    findings.setdefault((entry_index, finding.start, finding.end), finding)
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
            self._collapsed = _Collapsed(self.layout.text)
        return self._collapsed

    def _mostly_repeated(self, pattern_index: int, start: int, end: int) -> bool:
        """A collapsed-pass hit counts only if more than half of its characters stood for a
        run of two or more (微微信信, 加微微信信, ssbb), so that reduplicated words (妈妈的 → 妈的)
        stay innocent; an ASCII word also counts with one letter stretched to three or more
        (fuuuck). The same conditions as `_worth_collapsing`, hit by hit."""
        runs = self.collapsed.runs_in(start, end)
        if 2 * len(runs) > end - start:
            return True
        return bool(runs) and max(runs) >= 3 and self.matcher._patterns[pattern_index].isascii()

    def _finding(
        self,
        entry_index: int,
        via: Route | None,
        pattern_index: int,
        start: int,
        end: int,
        collapsed: bool,
    ) -> Finding | None:
        matcher = self.matcher
        entry = matcher.entries[entry_index]
        if entry.scope and entry.scope != self.chat_id:
            return None
        pattern = matcher._patterns[pattern_index]
        layout = self.layout
        original_start, original_end = layout.original_span(start, end)
        if not self._on_boundaries(pattern, original_start, original_end):
            return None  # the commonest rejection (`git` in `github`), so it goes first
        # Contiguous: one original character per folded one, nothing removed between them
        # (the common case, with nothing to look at between the characters).
        contiguous = layout.one_to_one and original_end - original_start == end - start
        matched = self.text[original_start:original_end]
        evidence = layout.text[start:end]
        if (
            contiguous
            and via is None
            and not collapsed
            and (matched == evidence or matched.translate(_ASCII_LOWER) == evidence)
        ):
            ordered = _EXACT_ONLY  # the commonest hit: the word as written (any mode takes it)
            low = False
        else:
            gaps = [] if contiguous else self._visible_gaps(start, end)
            routes: set[Route] = set()
            if any(gaps):
                routes.add(Route.GAP)
            if collapsed:
                routes.add(Route.REPEAT)
            if via is not None:
                routes.add(via)
            else:
                kept = matched if contiguous else self._kept_original(start, end)
                if kept.translate(_ASCII_LOWER) != evidence or len(kept) != len(matched):
                    routes.add(Route.FOLDED)  # characters changed, or invisible ones removed
            if not routes:
                routes.add(Route.EXACT)
            if entry.mode is MatchMode.EXACT and routes != {Route.EXACT}:
                return None
            if entry.mode is MatchMode.FOLDED and not routes <= {Route.EXACT, Route.FOLDED}:
                return None
            if Route.GAP in routes and not self._gaps_allowed(
                entry_index, via, pattern, start, gaps
            ):
                return None
            short = len(matcher._folded_words[entry_index]) <= 2
            low = short and (Route.GAP in routes or via is Route.PINYIN)
            ordered = tuple(route for route in _ROUTE_ORDER if route in routes)
        if matcher._inside_allowed(layout.text, start, end, self.chat_id):
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

    def _kept_original(self, start: int, end: int) -> str:
        """The original characters the folded characters [start, end) came from, without the
        noise in between: what folding changed shows as a difference from the evidence."""
        layout = self.layout
        return "".join(self.text[index] for index in dict.fromkeys(layout.starts[start:end]))

    def _visible_gaps(self, start: int, end: int) -> list[int]:
        """For each pair of neighbouring characters of the hit: how many visible characters
        were removed between them. Invisible ones (zero-width, format, combining, variation
        selectors) cost nothing: they never get between words by accident."""
        layout = self.layout
        gaps = []
        for index in range(start, end - 1):
            removed = self.text[layout.starts[index] + 1 : layout.starts[index + 1]]
            gaps.append(sum(1 for char in removed if not _invisible(char)) if removed else 0)
        return gaps

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

    def _gaps_allowed(
        self, entry_index: int, via: Route | None, pattern: str, start: int, gaps: list[int]
    ) -> bool:
        if max(gaps) > MAX_GAP:
            return False
        if not pattern.isascii():
            return True
        letter_spaced = all(gaps)
        if letter_spaced:
            return True
        layout = self.layout
        syllables = None
        if via is Route.PINYIN:
            syllables = _syllable_starts(self.matcher._folded_words[entry_index], pattern)
        for offset, gap in enumerate(gaps, start=1):
            if not gap:
                continue
            if syllables is not None:
                if offset not in syllables:
                    return False
                continue
            removed = self.text[
                layout.starts[start + offset - 1] + 1 : layout.starts[start + offset]
            ]
            if any(char.isspace() for char in removed):
                return False  # `pen is` is two words, not one disguised word
        return True
