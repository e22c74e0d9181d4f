"""A listed word named to warn against it (`moderation.warning`): found, but low confidence."""

from __future__ import annotations

import pytest

from moderation import SensitiveWordMatcher, parse_lexicon
from moderation.matcher import Confidence
from moderation.warning import warning_cue

LEXICON = parse_lexicon(
    "赌博\tgambling\tblock\n刷单\tfraud\tblock\n裸聊\tporn\tblock\n加我微信\tcontact\tblock\n"
)


def _cue(text: str, word: str) -> str:
    start = text.index(word)
    return warning_cue(text, start, start + len(word))


@pytest.mark.parametrize(
    ("text", "word", "cue"),
    [
        # a prohibition or vigilance cue before the hit in its clause
        ("社区通知：严禁在楼道内赌博，发现请联系物业", "赌博", "严禁"),
        ("警方提醒：谨防网络赌博", "赌博", "谨防"),
        ("我们要警惕网上的刷单诈骗", "刷单", "警惕"),
        ("公司组织观看了关于打击赌博的宣传片", "赌博", "打击"),
        ("切勿参与刷单", "刷单", "切勿"),
        # a verdict after it
        ("网上兼职刷单都是诈骗，大家千万别信", "刷单", "诈骗"),
        ("发现裸聊视频请立即举报", "裸聊", "举报"),
        # an anti-fraud header covers the whole notice
        ("【反诈提醒】凡是让你先垫钱的都不可信。刷单一律不要做", "刷单", "反诈"),
        ("防骗小贴士\n网上刷单别碰", "刷单", "防骗"),
    ],
)
def test_a_word_named_in_a_warning_has_its_cue(text: str, word: str, cue: str) -> None:
    assert _cue(text, word) == cue


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("刷单日结，不是诈骗，加我微信", "刷单"),  # a negated verdict is the ad's own pitch
        ("兼职刷单不违法，一单5元", "刷单"),
        ("网上赌博稳赚，无陷阱", "赌博"),
        ("拒绝套路，刷单日结", "刷单"),  # the cue is in another clause
        ("今晚一起去赌博", "赌博"),
        ("赌博网站，诚招代理", "赌博"),
        ("刷单日结。请勿外传", "刷单"),  # 请勿 after the hit, in another sentence
        ("刷单日结【反诈提醒】", "刷单"),  # a header must open the message
    ],
)
def test_an_ad_is_no_warning(text: str, word: str) -> None:
    assert _cue(text, word) == ""


def test_a_word_in_a_warning_is_found_but_acts_as_review_at_most() -> None:
    matcher = SensitiveWordMatcher(LEXICON)
    text = "【反诈提醒】刷单就是诈骗，严禁赌博"
    findings = matcher.find(text)
    assert [(f.word, f.warning, f.confidence) for f in findings] == [
        ("刷单", "反诈", Confidence.LOW),
        ("赌博", "严禁", Confidence.LOW),
    ]
    assert all(f.effective_severity.value == "review" for f in findings)
    assert "in a warning against it ('严禁')" in findings[1].explain()
    assert findings[1].as_dict()["warning"] == "严禁"
    assert matcher.find_many([text]) == [findings]
    assert matcher.inspect(text).findings == findings


def test_an_ad_that_denies_being_a_fraud_is_still_blocked() -> None:
    findings = SensitiveWordMatcher(LEXICON).find("刷单日结，不是诈骗，加我微信")
    assert [(f.word, f.warning, f.confidence) for f in findings] == [
        ("刷单", "", Confidence.HIGH),
        ("加我微信", "", Confidence.HIGH),
    ]
