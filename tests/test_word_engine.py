"""The evasion-resistant word engine: every fold, every hit rule, every variant route, and the
innocent sentences that must not match. Tables over real-looking Chinese chat text."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from moderation import (
    AllowEntry,
    BatchMessage,
    Category,
    Confidence,
    LexiconEntry,
    MatchMode,
    Route,
    SensitiveWordMatcher,
    Severity,
    decide,
    fold,
    judge_alone,
    parse_allow_list,
    parse_lexicon,
)
from moderation.fold import SEPARATOR, FoldedBatch, fold_char, fold_with_origins
from moderation.matcher import MAX_GAP, _worth_collapsing

WORDS = parse_lexicon(
    "赌博\tgambling\tblock\n"
    "博彩\tgambling\treview\n"
    "网赌\tgambling\tblock\n"
    "加微信\tads\treview\n"
    "兼职刷单\tfraud\tblock\n"
    "代开发票\tfraud\tblock\n"
    "法轮功\tpolitics\tblock\n"
    "口交\tporn\treview\n"
    "南京大\tcustom\treview\n"
    "av\tporn\tblock\n"
    "fuck\tabuse\tblock\n"
    "penis\tporn\treview\n"
    "傻逼\tabuse\tblock\n"
    "妈的\tabuse\treview\n"
    "13800138000\tads\treview\n"
    "六四\tpolitics\treview\n"
)
ALLOW = parse_allow_list("路口交通\n南京大学\n妈妈的\n")
MATCHER = SensitiveWordMatcher(WORDS, ALLOW)


def hits(text: str, matcher: SensitiveWordMatcher = MATCHER, chat: str = "") -> list[tuple]:
    return [(f.word, f.matched, f.route.value) for f in matcher.find(text, chat)]


# --- Folding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ｗｅｉｘｉｎ", "weixin"),  # full-width → half-width
        ("ＡＢＣ１２３", "abc123"),
        ("WeiXin", "weixin"),  # case
        ("Straße", "strasse"),  # full case folding
        ("賭博網站", "赌博网站"),  # traditional → simplified
        ("們說後來", "们说后来"),
        ("𝐟𝐮𝐜𝐤", "fuck"),  # mathematical bold
        ("𝓯𝓾𝓬𝓴", "fuck"),  # mathematical script
        ("ⓕⓤⓒⓚ", "fuck"),  # circled letters
        ("ｆｕｃｋ", "fuck"),
        ("fаcebооk", "facebook"),  # Cyrillic а and о
        ("ΑΒΕ", "abe"),  # Greek capitals
        ("ᴀᴠ", "av"),  # small capitals
        ("café naïve", "cafenaive"),  # diacritics dropped, space removed
        ("①③⑧", "138"),  # circled digits
        ("❶❸❽", "138"),  # dingbat digits
        ("⑴⑶⑻", "138"),  # parenthesised digits (parentheses are noise)
        ("一三八零零一三八零零零", "13800138000"),  # Chinese numerals used as digits
        ("壹叁捌", "138"),  # financial numerals
        ("1三八", "138"),
        ("一起吃饭", "一起吃饭"),  # a numeral in a word stays a character
        ("六四", "六四"),  # two numerals are not a digit run
        ("3一起", "3一起"),  # one numeral next to a digit is not a digit run
        ("微\u200b信", "微信"),  # zero-width space
        ("微\u200d信\ufeff", "微信"),  # zero-width joiner, BOM
        ("微\ufe0f信", "微信"),  # variation selector
        ("微\U000e0100信", "微信"),  # variation selector supplement (beyond the table)
        ("微\u0301信", "微信"),  # combining mark
        ("微 信", "微信"),  # space
        ("微　信", "微信"),  # ideographic space
        ("微-信", "微信"),  # punctuation
        ("微。信！", "微信"),
        ("微★信", "微信"),  # symbol
        ("微😀信", "微信"),  # emoji
        ("微👨‍👩‍👧信", "微信"),  # emoji ZWJ sequence
        ("1️⃣3️⃣8️⃣", "138"),  # keycaps
        ("@张三 你好", "张三你好"),
        ("https://x.cn/a", "httpsxcna"),
        ("⼈", "人"),  # Kangxi radical
        ("㎏", "kg"),
        ("𠮷野家", "𠮷野家"),  # a character beyond the table is kept
        ("", ""),
        ("。。。！！", ""),
    ],
)
def test_fold_table(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert fold_with_origins(text).text == folded


def test_fold_and_fold_with_origins_agree_on_random_text() -> None:
    """The fast path (one str.translate) and the span-tracking path are one function."""
    rng = random.Random(20261121)
    alphabet = (
        "赌博微信加一二三四五六七八九零壹贰賭們後ａｂｃＡＢＣabcXYZ0123①❶⑴㈠ "
        "\u200b\u200d\ufe0f\u0301，。！？、…-_*@#😀👍\U000e0100𠮷𝐟ßİé\n\t"
    )
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        layout = fold_with_origins(text)
        assert layout.text == fold(text), text
        assert len(layout.starts) == len(layout.text)
        assert layout.starts == sorted(layout.starts)
        for index, start in enumerate(layout.starts):
            assert 0 <= start < len(text)
            assert fold_char(text[start]), (text, index)
        # each original character that folds to something appears as often as it folds to
        assert len(layout.starts) == sum(len(fold_char(char)) for char in text)


def test_fold_batch_agrees_with_fold_with_origins_on_random_text() -> None:
    """`FoldedBatch` (numpy, one array for many texts) and `fold_with_origins` agree on the
    folded text, every origin, where each text starts and which texts have runs worth a
    collapsed pass, also for batches with rare characters or the separator itself."""
    rng = random.Random(20261122)
    alphabet = (
        "赌博微信加一二三四五六七八九零壹贰賭們後ａｂｃＡＢＣabcXYZ0123①❶⑴㈠ 哈哈微微信信aaa"
        "\u200b\u200d\ufe0f\u0301，。！？、…-_*@#😀👍\x00\x01"
    )
    rare = "𠮷ßİ㎏"
    for round_ in range(300):
        letters = alphabet + (rare if round_ % 3 == 0 else "")
        texts = [
            "".join(rng.choice(letters) for _ in range(rng.randint(0, 20)))
            for _ in range(rng.randint(1, 12))
        ]
        batch = FoldedBatch(texts)
        assert batch.text == SEPARATOR.join(fold(text) for text in texts)
        for index, text in enumerate(texts):
            alone = fold_with_origins(text)
            layout = batch.layout(index)
            assert batch.folded(index) == layout.text == alone.text, text
            assert batch.text[batch.offsets[index] :].startswith(alone.text)
            assert layout.starts == alone.starts, text
            assert [layout.origin(i) for i in range(len(alone.text))] == alone.starts
            joined = [alone.joined_before(i) for i in range(len(alone.text))]
            assert [layout.joined_before(i) for i in range(len(alone.text))] == joined
            assert (index in batch.repeats) == _worth_collapsing(alone.text), text


def test_find_many_finds_what_find_finds() -> None:
    """The batch path gives exactly the findings of one `find` per text, chat ids included."""
    rng = random.Random(20261123)
    matcher = SensitiveWordMatcher(
        [
            LexiconEntry("赌博", Category.GAMBLING),
            LexiconEntry("加微信", Category.ADS),
            LexiconEntry("av", Category.PORN),
            LexiconEntry("法轮功", Category.POLITICS),
            LexiconEntry("口交", Category.PORN),
            LexiconEntry("刷单", Category.FRAUD, scope="wrGroupA"),
        ],
        [AllowEntry("路口交通")],
    )
    pieces = [
        "赌博", "赌 博", "dubo", "加薇信", "加微微信信", "have", "av", "AV片", "法-轮-功", "flg",
        "路口交通", "刷单", "今天", "哈哈哈", "ｗｅｉｘｉｎ", " ", "，", "😀", "\u200b", "一三八",
    ]  # fmt: skip
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(700)]
    chats = [rng.choice(["", "wrGroupA", "wrGroupB"]) for _ in texts]
    expected = [matcher.find(text, chat) for text, chat in zip(texts, chats, strict=True)]
    assert matcher.find_many(texts, chats) == expected
    assert sum(1 for findings in expected if findings) > 300  # the table is not trivial
    assert matcher.find_many(texts) == [matcher.find(text) for text in texts]
    with pytest.raises(ValueError, match="2 texts but 1 chat ids"):
        matcher.find_many(["a", "b"], ["c"])
    assert SensitiveWordMatcher([]).find_many(["赌博"]) == [[]]


def test_words_and_text_fold_alike() -> None:
    """A word added in any spelling finds the text in any other spelling."""
    matcher = SensitiveWordMatcher([LexiconEntry("ＷＥＩ賭")])
    (finding,) = matcher.find("来 wei 赌 吧")
    assert finding.word == "ＷＥＩ賭"
    assert finding.evidence == "wei赌"


# --- Hit rules and routes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # exact and folded
        ("今晚一起去赌博吧", [("赌博", "赌博", "exact")]),
        ("今晚一起去賭博吧", [("赌博", "賭博", "folded")]),
        ("看AV吗", [("av", "AV", "exact")]),
        ("看ＡＶ吗", [("av", "ＡＶ", "folded")]),
        ("𝐟𝐮𝐜𝐤 you", [("fuck", "𝐟𝐮𝐜𝐤", "folded")]),
        ("赌\u200b博", [("赌博", "赌\u200b博", "folded")]),  # invisible: not a gap
        ("联系13800138000", [("13800138000", "13800138000", "exact")]),
        ("联系①③⑧⓪⓪①③⑧⓪⓪⓪", [("13800138000", "①③⑧⓪⓪①③⑧⓪⓪⓪", "folded")]),
        ("联系一三八零零一三八零零零", [("13800138000", "一三八零零一三八零零零", "folded")]),
        # gaps: noise between characters
        ("来赌-博", [("赌博", "赌-博", "gap")]),
        ("来 赌 博 吧", [("赌博", "赌 博", "gap")]),
        ("加 微 信", [("加微信", "加 微 信", "gap")]),
        ("兼😀职😀刷😀单", [("兼职刷单", "兼😀职😀刷😀单", "gap")]),
        ("f u c k", [("fuck", "f u c k", "gap")]),
        ("f.u.c.k", [("fuck", "f.u.c.k", "gap")]),
        ("代——开——发——票", [("代开发票", "代——开——发——票", "gap")]),
        # repeated characters collapsed
        ("加微微信信", [("加微信", "加微微信信", "repeat")]),
        ("赌赌博博", [("赌博", "赌赌博博", "repeat")]),
        ("fuuuuck", [("fuck", "fuuuuck", "repeat")]),
        ("ffuucckk", [("fuck", "ffuucckk", "repeat")]),
        # variants: homophones, shapes, letters
        ("加威信", [("加微信", "加威信", "variant")]),
        ("加薇信", [("加微信", "加薇信", "variant")]),
        ("加微亻言", [("加微信", "加微亻言", "variant")]),
        ("加V", [("加微信", "加V", "variant")]),
        ("加vx", [("加微信", "加vx", "variant")]),
        ("加 V 领福利", [("加微信", "加 V", "variant")]),
        ("加ｗｅｉｘｉｎ18123127114", [("加微信", "加ｗｅｉｘｉｎ", "variant")]),  # letter, digit
        ("看av1080p", [("av", "av", "exact")]),
        ("一起来堵博", [("赌博", "堵博", "variant")]),
        ("你个SB", [("傻逼", "SB", "variant")]),
        ("你个傻b", [("傻逼", "傻b", "variant")]),
        ("flg", [("法轮功", "flg", "variant")]),
        # pinyin
        ("falungong", [("法轮功", "falungong", "pinyin")]),
        ("FaLunGong", [("法轮功", "FaLunGong", "pinyin")]),
        ("jian zhi shua dan", [("兼职刷单", "jian zhi shua dan", "pinyin")]),
        ("jzsd", [("兼职刷单", "jzsd", "pinyin")]),
        ("去 du bo 吗", [("赌博", "du bo", "pinyin")]),
        ("ｄｕｂｏ", [("赌博", "ｄｕｂｏ", "pinyin")]),
        # overlapping hits are all found, unless the words around one read past it
        # 网|赌博|彩 is the dictionary's reading, and neither 网赌 nor 博彩 is clearly likelier
        ("网赌博彩", [("赌博", "赌博", "exact")]),
        ("赌博彩票", [("赌博", "赌博", "exact")]),  # 赌博|彩票: no 博彩 for a reader
        # English endings and compounds of a listed English word
        ("fuckers", [("fuck", "fuckers", "inflection")]),
    ],
)
def test_routes_table(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert hits(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # ASCII words only as whole words (checked on the original text)
        "I have a question",
        "avocado 很好吃",
        "ＨＡＶＥ a nice day",  # boundary through folding
        "pen is mightier than the sword",  # a space between two real words is not a gap
        "加vip群",  # 加v needs a boundary after v
        "订单号213800138000",  # a phone number inside a longer number
        "dubois",  # pinyin is ASCII: whole words only
        "d ubo",  # a pinyin gap must fall between syllables
        # allow-list phrases
        "前面路口交通管制",
        "路口 交通很堵",  # the allow-list phrase folds like the text
        "我是南京大学的",
        "妈妈的手机没电了",
        # reduplicated words do not collapse into a word
        "妈妈的",
        "fuuck 微微信信",  # one doubled letter is spelling, even when something else collapses
        # too wide a gap
        "赌" + "。" * (MAX_GAP + 1) + "博",
        # innocent everyday chat
        "好的 谢谢",
        "明天上午十点开会，请准时参加",
        "大家周末愉快🎉",
        "这个博物馆的彩色玻璃很好看",  # 博 … 彩 far apart
        "我们一起学习六级单词",
        "@张三 收到，马上处理",
        "请把发票开一下，谢谢",
        "今天的直播回放在这里 https://example.com/live",
    ],
)
def test_innocent_text_does_not_match(text: str) -> None:
    assert hits(text) == []


def test_spans_are_exact_on_the_original_text() -> None:
    text = "大家好👋 来玩 賭😀博 吧，加 V 有福利；f u c k"
    findings = MATCHER.find(text)
    assert [f.matched for f in findings] == ["賭😀博", "加 V", "f u c k"]
    for finding in findings:
        assert text[finding.start : finding.end] == finding.matched
        assert fold(finding.matched) == finding.evidence or finding.route is Route.PINYIN


def test_a_short_word_across_noise_is_low_confidence_and_only_reviewed() -> None:
    (finding,) = MATCHER.find("来赌-博")
    assert finding.confidence is Confidence.LOW
    assert finding.severity is Severity.BLOCK
    assert finding.effective_severity is Severity.REVIEW
    decision = decide([finding])
    assert decision.verdict == "alert"  # moderators look; nobody is warned automatically
    assert "low confidence" in decision.reason


@pytest.mark.parametrize(
    ("text", "confidence"),
    [
        ("来赌博", Confidence.HIGH),
        ("来賭博", Confidence.HIGH),
        ("赌\u200b博", Confidence.HIGH),  # invisible characters are not noise
        ("来赌-博", Confidence.LOW),
        ("dubo", Confidence.LOW),  # the pinyin of a two-character word
        ("兼-职-刷-单", Confidence.HIGH),  # longer words across noise stay confident
        ("falungong", Confidence.HIGH),
    ],
)
def test_confidence_table(text: str, confidence: Confidence) -> None:
    (finding,) = MATCHER.find(text)
    assert finding.confidence is confidence


def test_a_hit_inside_a_longer_hit_of_the_same_word_is_reported_once() -> None:
    assert hits("加v信") == [("加微信", "加v信", "variant")]


def test_an_allow_phrase_suppresses_only_the_hits_inside_it() -> None:
    assert hits("路口交通不好，别口交") == [("口交", "口交", "exact")]


def test_collapse_can_be_turned_off() -> None:
    matcher = SensitiveWordMatcher(WORDS, collapse_repeats=False)
    assert hits("加微微信信", matcher) == []
    assert hits("加微信", matcher) == [("加微信", "加微信", "exact")]


def test_repeated_letter_words_still_match_and_do_not_become_one_letter() -> None:
    matcher = SensitiveWordMatcher([LexiconEntry("666"), LexiconEntry("哈哈"), LexiconEntry("xx")])
    assert [f.word for f in matcher.find("666 哈哈 xx")] == ["666", "哈哈", "xx"]
    assert matcher.find("6 哈 x") == []
    assert matcher.find("哈哈哈") != []


# --- Entry model: mode, scope -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "text", "found"),
    [
        (MatchMode.FUZZY, "赌博", True),
        (MatchMode.FUZZY, "賭 博", True),
        (MatchMode.FUZZY, "dubo", True),
        (MatchMode.FOLDED, "赌博", True),
        (MatchMode.FOLDED, "賭博", True),
        (MatchMode.FOLDED, "賭 博", False),
        (MatchMode.FOLDED, "dubo", False),
        (MatchMode.FOLDED, "堵博", False),
        (MatchMode.EXACT, "赌博", True),
        (MatchMode.EXACT, "賭博", False),
        (MatchMode.EXACT, "赌-博", False),
    ],
)
def test_match_mode_table(mode: MatchMode, text: str, found: bool) -> None:
    matcher = SensitiveWordMatcher([LexiconEntry("赌博", Category.GAMBLING, mode=mode)])
    assert bool(matcher.find(text)) is found


def test_exact_mode_ignores_ascii_case_only() -> None:
    matcher = SensitiveWordMatcher([LexiconEntry("SB", mode=MatchMode.EXACT)])
    text = "你sb吧，你SB吧，你ＳＢ吧，你s b吧"
    assert [f.matched for f in matcher.find(text)] == ["sb", "SB"]


def test_scoped_words_and_allow_phrases_apply_in_their_group_only() -> None:
    matcher = SensitiveWordMatcher(
        [LexiconEntry("团购", Category.ADS, scope="wr-team"), LexiconEntry("赌博")],
        [AllowEntry("赌博游戏机", scope="wr-arcade")],
    )
    assert [f.word for f in matcher.find("团购赌博游戏机", "wr-team")] == ["团购", "赌博"]
    assert [f.word for f in matcher.find("团购赌博游戏机", "wr-arcade")] == []
    assert [f.word for f in matcher.find("团购赌博游戏机", "")] == ["赌博"]
    (finding,) = matcher.find("团购", "wr-team")
    assert finding.scope == "wr-team"


def test_the_pipeline_uses_the_message_group_for_scope() -> None:
    matcher = SensitiveWordMatcher([LexiconEntry("团购", Category.ADS, scope="wr-team")])
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def verdict(chat_id: str) -> str:
        decision = judge_alone(BatchMessage(chat_id, "u", "text", "团购", at), matcher).decision
        assert decision is not None
        return decision.verdict

    assert verdict("wr-team") == "warn"
    assert verdict("wr-other") == "none"


def test_a_word_of_only_symbols_is_left_out() -> None:
    matcher = SensitiveWordMatcher([LexiconEntry("！！！"), LexiconEntry("赌博")])
    assert len(matcher) == 1


def test_the_matcher_holds_variants_as_patterns() -> None:
    matcher = SensitiveWordMatcher([LexiconEntry("兼职刷单")])
    # the folded word, its pinyin, its initials, and substitution variants
    assert matcher.pattern_count > 3
    folded_only = SensitiveWordMatcher([LexiconEntry("兼职刷单", mode=MatchMode.FOLDED)])
    assert folded_only.pattern_count == 1


# --- Explanations -----------------------------------------------------------------------------


def test_a_finding_explains_itself() -> None:
    (finding,) = MATCHER.find("来賭 博")
    assert finding.explain() == (
        "赌博 [gambling/block] at 1:4 '賭 博' → folded '赌博' via gap+folded; "
        "low confidence, acts as review"
    )
    data = finding.as_dict()
    assert data["route"] == "gap"
    assert data["routes"] == ["gap", "folded"]
    assert data["evidence"] == "赌博"
    assert data["effective_severity"] == "review"
    assert data["explanation"] == finding.explain()


def test_a_variant_finding_names_its_pattern() -> None:
    (finding,) = MATCHER.find("加威信")
    assert finding.pattern == "加威信"
    assert "via variant (pattern '加威信')" in finding.explain()


# --- The shipped example word file and allow-list on real-looking chat ------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
EXAMPLE = SensitiveWordMatcher(
    parse_lexicon((ROOT / "deploy/lexicon.example.txt").read_text(encoding="utf-8")),
    parse_allow_list((ROOT / "deploy/allow.example.txt").read_text(encoding="utf-8")),
)


@pytest.mark.parametrize(
    "text",
    [
        "各位早上好，今天下午三点在三楼会议室开周会",
        "前面路口交通管制，大家绕行",
        "出口交易额今年涨了不少",
        "我妈妈的生日是下周六",
        "他妈妈的手艺真不错",
        "南京大学的讲座几点开始？",
        "我在背刷单词，明天考四级",
        "欢迎参加微信群里的读书活动",
        "这家店的百家饭很好吃",
        "请大家把发票抬头发我一下",
        "I have a question about the invoice",
        "Have a nice weekend! 🎉🎉",
        "收到，谢谢老板👍",
        "哈哈哈哈哈哈笑死我了",
        "好的好的，马上处理",
        "妈妈妈妈你在哪",
        "报名链接 https://example.com/signup?id=138",
        "@李四 麻烦把上周的报表发一下",
        "这次活动一共一百二十三人报名",
        "会议号 123 456 789",
        "The savvy traveler avoids the crowds",
    ],
)
def test_ordinary_chat_does_not_trip_the_example_lexicon(text: str) -> None:
    assert [f.explain() for f in EXAMPLE.find(text)] == []


@pytest.mark.parametrize(
    ("text", "word", "route"),
    [
        ("兼职刷单，日结300，加V详聊", "兼职刷单", "exact"),
        ("兼職刷單，日結", "兼职刷单", "folded"),
        ("兼 职 刷 单 了解一下", "兼职刷单", "gap"),
        ("jian zhi shua dan 私聊", "兼职刷单", "pinyin"),
        ("想赚钱的加威信", "加微信", "variant"),
        ("有需要的加 V", "加微信", "variant"),
        ("来玩百.家.乐", "百家乐", "gap"),
        ("代😀开😀发😀票", "代开发票", "gap"),
        ("ＦＵＣＫ", "fuck", "folded"),
        ("你个 SB", "傻逼", "variant"),
        ("草泥马", "操你妈", "variant"),
        ("同城约泡", "约炮", "variant"),
        ("加群领福利!!!", "加群领福利", "exact"),
        ("加裙领福利", "加群领福利", "variant"),
    ],
)
def test_spam_and_abuse_in_disguise_are_caught(text: str, word: str, route: str) -> None:
    findings = EXAMPLE.find(text)
    assert (word, route) in [(f.word, f.route.value) for f in findings], [
        f.explain() for f in findings
    ]
