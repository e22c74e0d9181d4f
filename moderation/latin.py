"""When the Latin letters of a hit are not the word: links, codes, names, English.

A hit written in Latin letters (an English lexicon word, a Chinese word's pinyin, a Latin
variant such as sb) is read against the Latin text around it in the original message:

- **Inside a link or an email address** (https://…, www.…, name@host, host.tld/path): the
  letters are part of an address (an ID in a URL, a path), not a word.
- **Inside a code or an ID**: a token of ASCII letters and digits (with - and _) that holds
  digits and either has the hit's letters in capitals (SB500, AV-202), or has digits on both
  sides of the hit (x9sb2), or is 8 characters or longer (a8f3sb92kd): a product code, an
  order number or a hash. A lower-case word followed by digits (av1080p) stays a hit.
- **Part of a dotted, hyphenated or called name** (sb.append(), user.sb_id, tmd-checker): a
  token joined to another by . _ or - or followed by ( is an identifier, and a hit that is
  only part of it is not a word.
- **A romanised name**: capitalised words (Dubo, Du Bo) next to another Latin word in the
  same line, or two of them (Dubo Lu, Wang Dubo, Sebo Technology, Du Bo); in capitals only
  next to a capitalised word (SB Group). Chat spam writes its pinyin in lower case.
- **An abbreviation in English text**: a hit of one or two letters (sb, av), or one written in
  capitals (CNM), in a message whose letters are mostly Latin, with three or more Latin
  words: AV equipment, "sb = new …", "a CNM at a Boston hospital".

English words (`inflection`): a listed English word of three letters or more found inside a
longer token is an inflection when the rest is an ending (-s, -es, -ed, -er, -ers, -ing,
-y, …, a doubled last consonant allowed: scammed, shitty), and a compound when the rest is
an English word of three letters or more after a listed word of four or more (pornsite,
pornhub, bullshit, motherfucker; not github), unless the whole token is an ordinary English
word itself (cocktail, therapist, assassin: `moderation._english_data`) that does not end in
the listed word after another
English word of four letters or more (bullshit and motherfucker do). A CamelCase token is an
identifier (WTForms), not a word.
"""

from __future__ import annotations

import functools
import re

from moderation._english_data import ENGLISH
from moderation.fold import fold, fold_char

__all__ = [
    "abbreviation_in_english",
    "could_inflect",
    "in_code",
    "inflection",
    "link_spans",
    "romanised_name",
]

_ENGLISH = frozenset(ENGLISH.splitlines())
_SUFFIXES = frozenset(
    {"s", "es", "ed", "er", "ers", "ing", "ings", "in", "y", "ies", "ier", "iest", "ish"}
    | {"ery", "ness", "ty", "o"}
)
MIN_INFLECTED = 3  # letters a listed word needs to be read inflected or in a compound
# Letters a listed word and the English word joined to it need to make a compound (git and
# hub in github are too short to tell), and a listed word to take the ending -o (porno).
MIN_COMPOUND = 4
MIN_COMPOUND_PART = 3  # letters of the English word joined to a listed word (pornhub)
MAX_PREFIX = 12  # letters before a listed word read as the first part of a compound
MAX_ABBREVIATION = 2  # letters of a hit that is an abbreviation
_LATIN_LETTERS = re.compile("[A-Za-z\uff21-\uff3a\uff41-\uff5a]")
_LATIN_WORD = re.compile("[A-Za-z\uff21-\uff3a\uff41-\uff5a]{2,}")
_CHINESE = re.compile("[\u3400-\u9fff]")
_LINK = re.compile(
    r"(?:https?://|www\.)[^\s，。！？、；：“”\"'<>()（）【】]+"
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
    r"|(?<![A-Za-z0-9_.-])(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?:/[^\s，。！？、；：“”\"'<>()（）]*)?",
    re.ASCII,
)


@functools.lru_cache(maxsize=4096)
def _kind(char: str) -> str:
    """ "a" for a letter, "0" for a digit, "" otherwise, as the character folds to ASCII."""
    folded = fold_char(char)
    if len(folded) != 1 or not folded.isascii():
        return ""
    if folded.isalpha():
        return "a"
    return "0" if folded.isdigit() else ""


def link_spans(text: str) -> list[tuple[int, int]]:
    """The spans of links, bare domains and email addresses in `text`."""
    return [match.span() for match in _LINK.finditer(text)]


_TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    + "".join(chr(code) for code in range(0xFF10, 0xFF1A))
    + "".join(chr(code) for code in range(0xFF21, 0xFF3B))
    + "".join(chr(code) for code in range(0xFF41, 0xFF5B))
)


def _token(text: str, start: int, end: int, joiners: str = "-_") -> tuple[int, int]:
    """The token of letters, digits and `joiners` around text[start:end] (letters and digits
    as ASCII and full-width write them)."""
    while start > 0 and (text[start - 1] in _TOKEN_CHARS or text[start - 1] in joiners):
        start -= 1
    while end < len(text) and (text[end] in _TOKEN_CHARS or text[end] in joiners):
        end += 1
    return start, end


def in_code(text: str, start: int, end: int) -> bool:
    """Whether the Latin hit text[start:end] is part of a code, an ID or an identifier."""
    first, last = _token(text, start, end)
    token = text[first:last]
    if any(_kind(char) == "0" for char in token):
        letters = text[start:end]
        if letters.upper() == letters and letters.lower() != letters:
            return True  # SB500, AV-202
        if (
            first < start
            and _kind(text[start - 1]) == "0"
            and last > end
            and _kind(text[end]) == "0"
        ):
            return True  # x9sb2
        if last - first >= 8:
            return True
    if "-" in token.strip("-") and (first < start or last > end):
        hyphenated = [part for part in token.split("-") if part]
        if len(hyphenated) >= 2 and text[start:end] != token:
            return True  # tmd-checker: part of a hyphenated name
    before = text[first - 1] if first > 0 else ""
    after = text[last] if last < len(text) else ""
    joined_before = before in "._" and first > 1 and bool(_kind(text[first - 2]))
    joined_after = (after in "._" and last + 1 < len(text) and bool(_kind(text[last + 1]))) or (
        after == "("
    )
    return joined_before or joined_after


def _neighbour_words(text: str, start: int, end: int) -> list[str]:
    """The Latin words just before and after text[start:end] on the same line, separated
    from it by spaces and , . - only."""
    words = []
    left = start
    while left > 0 and text[left - 1] in " \t,.-·":
        left -= 1
    if left < start and left > 0 and _kind(text[left - 1]) == "a":
        first, _ = _token(text, left - 1, left, "")
        words.append(text[first:left])
    right = end
    while right < len(text) and text[right] in " \t,.-·":
        right += 1
    if right > end and right < len(text) and _kind(text[right]) == "a":
        _, last = _token(text, right, right + 1, "")
        words.append(text[right:last])
    return [word for word in words if len(word) >= 2]


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and (word[1:].islower() or word[1:] == "")


def romanised_name(text: str, start: int, end: int) -> bool:
    """Whether the Latin hit text[start:end] is a capitalised name: its words capitalised
    (Du Bo, Dubo) and beside another Latin word or two of them (Dubo Lu, Wang Dubo, Du Bo);
    in capitals (SB, DUBO) only beside a capitalised word (SB Group)."""
    first, last = _token(text, start, end, "")
    if first != start or last < end:
        return False
    words = text[start:end].split()
    neighbours = _neighbour_words(text, start, end)
    if all(_capitalised(word) for word in words):
        return bool(neighbours) or len(words) >= 2
    if all(word.isupper() for word in words):
        return any(_capitalised(word) or word.isupper() for word in neighbours)
    return False


def abbreviation_in_english(text: str, start: int, end: int) -> bool:
    """Whether a hit of at most two letters, or written in capitals (CNM, TMD), stands in a
    message that is mostly Latin text (three or more Latin words, four Latin letters for
    each Chinese character)."""
    hit = text[start:end]
    if end - start > MAX_ABBREVIATION and not (hit.isupper() and " " not in hit):
        return False
    return english_text(text)


@functools.lru_cache(maxsize=1024)
def english_text(text: str) -> bool:
    """Whether a message is mostly Latin text: three or more Latin words, and four Latin
    letters or more for each Chinese character."""
    latin = len(_LATIN_LETTERS.findall(text))
    if latin < 6 or latin < 4 * len(_CHINESE.findall(text)):
        return False
    return len(_LATIN_WORD.findall(text)) >= 3


_LETTERS = re.compile("[a-z]*")


def could_inflect(word: str, folded: str, start: int, end: int) -> bool:
    """The cheap test before `inflection`, on folded text: whether the letters glued to the
    listed word at folded[start:end] can be an ending, or the other part of a compound."""
    letters = _LETTERS.match(folded, end)
    suffix = letters.group() if letters is not None else ""
    prefix = folded[max(0, start - MAX_PREFIX) : start]
    prefix = prefix[len(prefix.rstrip("abcdefghijklmnopqrstuvwxyz")) :]
    if prefix and suffix and len(word) < MIN_COMPOUND:
        return False
    if suffix and not prefix and _ending(word, suffix):
        return True
    rest = suffix or prefix
    return len(word) >= MIN_COMPOUND and (len(rest) >= MIN_COMPOUND_PART or _ending(word, suffix))


def _ending(word: str, suffix: str) -> bool:
    """Whether `suffix` after `word` is an ending (a doubled last consonant allowed: scammed;
    -o only after a word of four letters or more: porno, not todo)."""
    ending = suffix[1:] if suffix[:1] == word[-1:] and len(suffix) > 1 else suffix
    return (suffix in _SUFFIXES or ending in _SUFFIXES) and (
        len(word) >= MIN_COMPOUND or ending != "o"
    )


def _headed_by(word: str, prefix: str, suffix: str) -> bool:
    """Whether an English word is a compound that ends in `word` (perhaps with an ending):
    bullshit, motherfucker. Only for listed words of four letters or more after an English
    word of four or more: therapist (the + rapist) and overpass are not."""
    if len(word) < MIN_COMPOUND or len(prefix) < MIN_COMPOUND or prefix not in _ENGLISH:
        return False
    return not suffix or _ending(word, suffix)


def inflection(text: str, start: int, end: int, word: str) -> tuple[int, int, str] | None:
    """When the listed English `word`, found at text[start:end] inside a longer token, is
    inflected or compounded there: the token's span and "inflection"; else None."""
    if len(word) < MIN_INFLECTED or not word.isascii():
        return None
    first, last = _token(text, start, end, "")
    original = text[first:last]
    letters = original.lower() if original.isascii() else fold(original)
    if len(letters) != last - first or not letters.isascii() or not letters.isalpha():
        return None
    prefix = letters[: start - first]
    suffix = letters[end - first :]
    rest = suffix or prefix
    if (
        rest not in _SUFFIXES
        and rest[1:] not in _SUFFIXES
        and not (prefix and suffix)
        and (len(rest) < MIN_COMPOUND_PART or rest not in _ENGLISH)
    ):
        return None  # the commonest case: a listed word inside an unrelated word
    if not (original.islower() or original.isupper() or _capitalised(original)):
        return None  # CamelCase is an identifier (WTForms), not a word
    if not prefix and suffix and _ending(word, suffix):
        return first, last, "suffix"
    if letters in _ENGLISH and not _headed_by(word, prefix, suffix):
        return None  # cocktail, therapist, assassin
    other = suffix or prefix
    if prefix and suffix:  # motherfuckers: a word before, an ending after
        if not _ending(word, suffix):
            return None
        other = prefix
    if len(word) >= MIN_COMPOUND and len(other) >= MIN_COMPOUND_PART and other in _ENGLISH:
        return first, last, "compound"
    return None
