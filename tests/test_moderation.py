"""The pure moderation package: lexicon format, matcher, decision, masking."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.processing import masked_evidence
from moderation import (
    Action,
    BatchMessage,
    Category,
    LexiconEntry,
    LexiconFormatError,
    SensitiveWordMatcher,
    Severity,
    decide,
    judge_alone,
    mask_word,
    parse_lexicon,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORDS = parse_lexicon(
    "# 示例词表\n"
    "赌博\tgambling\n"
    "博彩\tgambling\treview\n"
    "加微信\tads\treview\n"
    "AV\tporn\n"
    "fuck\tabuse\tblock\n"
    "口交\tporn\tlog\n"
    "法轮功\tpolitics\n"
    "代开发票\tfraud\n"
)
MATCHER = SensitiveWordMatcher(WORDS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今晚一起去赌博吧", [("赌博", 5, 7)]),
        ("网赌博彩", [("赌博", 1, 3)]),  # 网|赌博|彩: only the hit the reading keeps
        ("私聊加微信领福利", [("加微信", 2, 5)]),
        ("有需要代开发票的联系我", [("代开发票", 3, 7)]),
        ("看AV吗", [("AV", 1, 3)]),
        ("看 av 吗", [("AV", 2, 4)]),  # ASCII case folded, span on the original
        ("FUCK you", [("fuck", 0, 4)]),
        ("法轮功 法轮功", [("法轮功", 0, 3), ("法轮功", 4, 7)]),
        # ASCII words match whole words only.
        ("I have a question", []),
        ("avocado 很好吃", []),
        ("fuckers", [("fuck", 0, 7)]),  # an English ending of a listed word
        # Innocent everyday text.
        ("好的 谢谢", []),
        ("明天上午十点开会，请准时参加", []),
        ("", []),
    ],
)
def test_matcher_table(text: str, expected: list[tuple[str, int, int]]) -> None:
    findings = MATCHER.find(text)
    assert [(f.word, f.start, f.end) for f in findings] == expected
    for finding in findings:
        assert finding.matched == text[finding.start : finding.end]


def test_finding_carries_category_and_severity() -> None:
    (finding,) = MATCHER.find("加微信")
    assert finding.category is Category.ADS
    assert finding.severity is Severity.REVIEW
    assert finding.detector == "lexicon"


def test_empty_lexicon_finds_nothing() -> None:
    assert SensitiveWordMatcher([]).find("赌博") == []
    assert len(SensitiveWordMatcher([])) == 0


def test_duplicate_word_keeps_the_strictest_severity() -> None:
    matcher = SensitiveWordMatcher(
        [
            LexiconEntry("赌博", Category.GAMBLING, Severity.LOG),
            LexiconEntry("赌博", Category.GAMBLING, Severity.BLOCK),
            LexiconEntry("赌博", Category.GAMBLING, Severity.REVIEW),
        ]
    )
    assert len(matcher) == 1
    assert matcher.find("赌博")[0].severity is Severity.BLOCK


@pytest.mark.parametrize(
    ("text", "verdict", "actions"),
    [
        ("赌博", "warn", (Action.WARN_SENDER, Action.ALERT_MODERATORS)),
        ("加微信", "alert", (Action.ALERT_MODERATORS,)),
        ("口交", "log", ()),
        ("口交 加微信", "alert", (Action.ALERT_MODERATORS,)),  # the strictest severity wins
        ("口交 赌博", "warn", (Action.WARN_SENDER, Action.ALERT_MODERATORS)),
        ("你好", "none", ()),
    ],
)
def test_decision_follows_the_strictest_severity(
    text: str, verdict: str, actions: tuple[Action, ...]
) -> None:
    decision = judge_alone(BatchMessage("c", "u", "text", text, AT), MATCHER).decision
    assert decision is not None
    assert decision.verdict == verdict
    assert decision.actions == actions
    assert decision.flagged == (verdict != "none")


def test_decision_reason_names_the_strictest_rule() -> None:
    decision = decide(MATCHER.find("加微信 赌博"))
    assert decision.reason == (
        "2 lexicon hit(s) on 2 word(s); strictest: gambling/block; offence 1 → warning"
    )


@pytest.mark.parametrize(
    ("word", "masked"),
    [("赌", "*"), ("赌博", "赌*"), ("法轮功", "法*功"), ("fuck", "f**k"), ("代开发票", "代**票")],
)
def test_mask_word(word: str, masked: str) -> None:
    assert mask_word(word) == masked


def test_masked_evidence_masks_every_hit_and_cuts_long_text() -> None:
    text = "来赌博，加微信"
    assert masked_evidence(text, MATCHER.find(text)) == "来赌*，加*信"
    long_text = "赌博" + "啊" * 500
    evidence = masked_evidence(long_text, MATCHER.find(long_text))
    assert evidence.startswith("赌*啊") and evidence.endswith("…") and len(evidence) == 201


@pytest.mark.parametrize(
    ("line", "entry"),
    [
        ("赌博", LexiconEntry("赌博", Category.CUSTOM, Severity.BLOCK)),
        ("赌博\tgambling", LexiconEntry("赌博", Category.GAMBLING, Severity.BLOCK)),
        ("赌博\tGAMBLING\tReview", LexiconEntry("赌博", Category.GAMBLING, Severity.REVIEW)),
        ("赌博\t\tlog", LexiconEntry("赌博", Category.CUSTOM, Severity.LOG)),
        ("\ufeff赌博  ", LexiconEntry("赌博", Category.CUSTOM, Severity.BLOCK)),
    ],
)
def test_lexicon_line_formats(line: str, entry: LexiconEntry) -> None:
    assert parse_lexicon(line) == [entry]


def test_lexicon_skips_comments_and_blank_lines() -> None:
    assert parse_lexicon("# 注释\n\n   \n赌博\n# 另一条\n") == [LexiconEntry("赌博")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("赌博\t12", "words.txt:1: category '12' is a number"),
        ("赌博\t" + "类" * 33, "words.txt:1: category '" + "类" * 33 + "' longer than 32"),
        ("赌博\t3\tblock", "words.txt:1: category '3' is a number"),
        ("ok\n赌博\tgambling\t4", "words.txt:2: unknown severity '4'"),
        ("ok\n赌博\tgambling\tban", "words.txt:2: unknown severity 'ban'"),
        (
            "a\tb\tc\td\te\tf",
            "words.txt:1: expected word[TAB category[TAB severity[TAB mode[TAB scope]]]]",
        ),
        ("赌博\tgambling\tblock\tsloppy", "words.txt:1: unknown mode 'sloppy'"),
        ("\tgambling", "words.txt:1: empty word before the tab"),
        ("字" * 65, "words.txt:1: word longer than 64 characters"),
    ],
)
def test_lexicon_errors_name_source_and_line(text: str, message: str) -> None:
    with pytest.raises(LexiconFormatError) as caught:
        parse_lexicon(text, source="words.txt")
    assert str(caught.value).startswith(message)
