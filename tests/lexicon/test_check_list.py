"""`app.lexicon.service.check_list`: a word or allow-list file checked a line at a time, every
refused line named with its file and line number (the console's import lists them all)."""

from __future__ import annotations

import pytest

from app.lexicon.service import ListKind, check_list, parse_list


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("赌博\tgambling\n百家乐\n", []),
        ("赌博\tgambling\tloud\n", ["f.txt:1: "]),
        ("# 注释\n\n!!!\n六合彩\n", ["f.txt:3: word '!!!' has no letters or digits"]),
        ("\tgambling\n赌博\t1\t2\t3\t4\t5\n", ["f.txt:1: empty word", "f.txt:2: expected"]),
        ("\ufeff赌博\r\n加微信\tads\treview\r\n", []),
    ],
)
def test_every_refused_line_is_named(text: str, refused: list[str]) -> None:
    checked = check_list(ListKind.WORDS, text, source="f.txt")
    assert len(checked.refused) == len(refused)
    for message, start in zip(checked.refused, refused, strict=True):
        assert message.startswith(start), message
    if not refused:  # a good file reads as the whole-file parser reads it
        assert checked.entries == parse_list(ListKind.WORDS, text, source="f.txt")


def test_allow_list_lines() -> None:
    checked = check_list(ListKind.ALLOW, "路口交通\n路口\tchat1\textra\n", source="a.txt")
    assert [entry.phrase for entry in checked.entries] == ["路口交通"]
    assert checked.refused == ["a.txt:2: expected phrase[TAB scope]"]
