"""Generate the data modules moderation/_t2s_data.py and moderation/_pinyin_data.py.

moderation/ is pure (standard library only, no file I/O), so the tables it needs ship as Python
string constants. This dev script builds them from two packages of the `test` extra:

- `T2S`, traditional to simplified characters, from OpenCC's `TSCharacters.txt` as bundled by
  opencc-python-reimplemented: lines whose key is one code point and whose first simplified
  alternative is one, different, code point; chains (a target that is itself a key) are followed
  to their end.
- `PINYIN`, toneless readings, from `pypinyin.pinyin_dict.pinyin_dict`: for each character of
  CJK Unified Ideographs and Extension A, its first reading without tone marks, with ü written
  as `v`, kept when it is then plain a-z.

The output is already in `ruff format` style, so regenerating is stable; tests/test_tables.py
checks that the committed modules equal what this script renders. Run it with:

    .venv/bin/python scripts/gen_tables.py
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import opencc
from pypinyin.pinyin_dict import pinyin_dict

ROOT = Path(__file__).resolve().parent.parent
T2S_PATH = ROOT / "moderation" / "_t2s_data.py"
PINYIN_PATH = ROOT / "moderation" / "_pinyin_data.py"

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


def _module(docstring: str, name: str, literals: list[str]) -> str:
    body = "".join(f'{INDENT}"{literal}"\n' for literal in literals)
    return f'"""{docstring}"""\n\n{name} = (\n{body})\n'


_BUDGET = LINE_WIDTH - len(INDENT) - 2  # the two quotes


def render_t2s(pairs: list[tuple[str, str]] | None = None) -> str:
    """Source text of moderation/_t2s_data.py."""
    if pairs is None:
        pairs = t2s_pairs()
    version = importlib.metadata.version("opencc-python-reimplemented")
    docstring = (
        "Traditional to simplified Chinese characters, one code point to one.\n"
        "\n"
        f"Source: OpenCC TSCharacters.txt from opencc-python-reimplemented {version} "
        "(Apache-2.0).\n"
        "`T2S` is a flat string of pairs: a traditional character followed by its simplified\n"
        f"form, sorted by code point ({len(pairs)} pairs).\n"
        "\n"
        "Generated by scripts/gen_tables.py; do not edit.\n"
    )
    return _module(docstring, "T2S", _literals((t + s for t, s in pairs), _BUDGET))


def render_pinyin(groups: dict[str, str] | None = None) -> str:
    """Source text of moderation/_pinyin_data.py."""
    if groups is None:
        groups = pinyin_groups()
    version = importlib.metadata.version("pypinyin")
    count = sum(len(chars) for chars in groups.values())
    docstring = (
        "Toneless pinyin of CJK Unified Ideographs and Extension A, by first reading.\n"
        "\n"
        f"Source: pypinyin {version} (MIT), pypinyin.pinyin_dict.\n"
        "`PINYIN` is a string of lines `syllable:chars`, one per toneless syllable (ü written as\n"
        "`v`), syllables sorted, characters sorted by code point "
        f"({len(groups)} syllables, {count} characters).\n"
        "\n"
        "Generated by scripts/gen_tables.py; do not edit.\n"
    )
    literals: list[str] = []
    for syllable, chars in groups.items():
        # Each syllable starts a new literal; a long one continues over several.
        literals.extend(_literals([f"{syllable}:", *chars, "\\n"], _BUDGET))
    return _module(docstring, "PINYIN", literals)


def main() -> None:
    for path, text in ((T2S_PATH, render_t2s()), (PINYIN_PATH, render_pinyin())):
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)} ({len(text.encode('utf-8')) / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
