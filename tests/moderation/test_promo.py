"""The promotion detector: links, numbers, WeChat IDs, ad phrases and message types, scored
against the newcomer and established thresholds. Tables over real-looking Chinese chat text."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from moderation.lexicon import Severity
from moderation.promo import (
    PROMO_MSG_TYPES,
    PROMO_RULES,
    PromoResult,
    PromoSettings,
    detect_promotion,
)

WORK = PromoSettings(allowed_domains=("work.weixin.qq.com",))


@dataclass(frozen=True)
class AdHit:
    """Shaped like a word-matcher finding of the ads/contact category."""

    word: str
    start: int
    end: int
    matched: str


def ad_hit(text: str, word: str) -> AdHit:
    start = text.index(word)
    return AdHit(word, start, start + len(word), word)


def rules(result: PromoResult) -> list[str]:
    return [signal.rule for signal in result.signals]


def only(result: PromoResult, rule: str) -> dict[str, object]:
    found = [signal for signal in result.signals if signal.rule == rule]
    assert len(found) == 1, result.signals
    return {"evidence": found[0].evidence, **found[0].facts}


# --- Spam, and the ordinary chat that must stay clean ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_rules", "evidence"),
    [
        ("加V：abc_12345 领福利", ["promo.wechat_id"], "加V：abc_12345"),
        ("➕薇 xyz8888 兼职刷单日结", ["promo.wechat_id"], "➕薇 xyz8888"),
        ("联系电话 １３８-００１３-８０００", ["promo.phone"], "１３８-００１３-８０００"),
        ("扣扣 12345678", ["promo.qq"], "扣扣 12345678"),
        ("幺三八 零零一三 八零零零", ["promo.phone"], "幺三八 零零一三 八零零零"),
        ("联系 幺伞巴 灵灵幺伞 巴灵灵灵 随时来电", ["promo.phone"], "幺伞巴 灵灵幺伞 巴灵灵灵"),
        ("abc。com", ["promo.url"], "abc。com"),
        ("abc 点 com", ["promo.url"], "abc 点 com"),
        ("最新资源 tbdeal(.)com 速度", ["promo.url"], "tbdeal(.)com"),
        ("微信号：zhangsan 备注来意", ["promo.wechat_id"], "微信号：zhangsan"),
        ("VX: shop_888 代购正品", ["promo.wechat_id"], "VX: shop_888"),
        ("威信 hello_2024 日赚三百", ["promo.wechat_id"], "威信 hello_2024"),
        ("薇❤信：abc_123 私聊", ["promo.wechat_id"], "薇❤信：abc_123"),
        ("ｖｘ：ａｂｃ１２３４５", ["promo.wechat_id"], "ｖｘ：ａｂｃ１２３４５"),
        ("加我 abc12345 拉你进群", ["promo.wechat_id"], "加我 abc12345"),
        ("微-信 13800138000 同号", ["promo.wechat_id"], "微-信 13800138000"),
        ("QQ群 123456789 欢迎加入", ["promo.qq"], "QQ群 123456789"),
        ("Q：87654321 带你赚钱", ["promo.qq"], "Q：87654321"),
        ("📞13800138000 贷款秒批", ["promo.phone"], "13800138000"),
    ],
)
def test_one_contact_detail_is_promotion_from_anyone(
    text: str, expected_rules: list[str], evidence: str
) -> None:
    result = detect_promotion(text)
    assert rules(result) == expected_rules
    assert result.signals[0].evidence == evidence
    assert result.promotional
    assert result.severity is Severity.REVIEW
    assert detect_promotion(text, newcomer=True).severity is Severity.BLOCK


@pytest.mark.parametrize(
    "text",
    [
        "今天下午3点开会",
        "版本v1.2发布了，请大家更新",
        "价格3.5元，比上次便宜",
        "订单号 20241121000123456",
        "交易号 4200001234202411211234567890",
        "身份证 110101199003071234 已核对",
        "快递单号 SF1234567890123",
        "我的微信运动今天一万步",
        "微信支付 120元，已转",
        "好的 谢谢",
        "2024年11月21日",
        "2024-11-21 13:00:00 停电检修",
        "会议室 301",
        "这个月预计1380元",
        "3月8日妇女节快乐",
        "电话会议 0755-12345678 转 8021",
        "明天9点在A座3楼",
        "第1期第3期的材料在群文件",
        "山山水水，无无无，留言区见，期待期待",
        "一山一水一世界，一期一会",
        "我爸爸要久留几天",
        "报告.docx 已上传，见 a.txt 和 image.png",
        "脚本是 main.py 和 deploy.sh，说明在 README.md",
        "e.g. 比如这样",
        "Thanks. Me too",
        "Mr.Wang 你好，抬头写 Co.,Ltd",
        "U.S.A p.m. iPhone15.Pro node.js vue.config.js index.html",
        "去ktv点vip套餐",
        "下午3点com那边见",
        "我们用微信 meeting 吧",
        "V我50",
        "V1.0 VIP v 2.0",
        "Q4 2024 目标",
        "2024 Q4 营收 12345678 元",
        "QQ群里有 12345 人",
        "我们群号是 12345678",
        "我要3812345678",
        "6222 0213 8001 3800 012",
        "【通知】各位同事，11月21日（周四）下午2:30在3楼301会议室召开季度总结会，"
        "请准时参加。联系人：行政部小王，分机8021。",
        "各位家长：本周五（11月22日）下午4点半放学，周六上午9点在302教室开家长会。",
    ],
)
def test_ordinary_chat_carries_no_signal(text: str) -> None:
    for newcomer in (False, True):
        result = detect_promotion(text, newcomer=newcomer)
        assert result.signals == (), result.signals
        assert not result.promotional
        assert result.severity is None
        assert result.score == 0


def test_every_signal_points_at_its_evidence() -> None:
    text = "加V：abc_12345 或 电话 138 0013 8000，官网 www.tb-deal.cn，QQ 12345678"
    result = detect_promotion(text, newcomer=True)
    assert rules(result) == ["promo.wechat_id", "promo.phone", "promo.url", "promo.qq"]
    for signal in result.signals:
        assert signal.detector == "promo"
        assert signal.rule in PROMO_RULES
        assert text[signal.start : signal.end] == signal.evidence
        assert signal.summary
    json.dumps(result.as_dict(), ensure_ascii=False)  # the log stores it as JSON
    assert result.as_dict()["signals"][0]["rule"] == "promo.wechat_id"


# --- Links ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "disguised"),
    [
        ("www.tb-deal.cn 点击领取", "www.tb-deal.cn", False),
        ("点击 http://qq.com.evil.cn/x，快来", "qq.com.evil.cn", False),
        ("https://work.weixin.qq.com@evil.cn/login", "evil.cn", False),
        ("ＷＷＷ．ＡＢＣ．ＣＯＭ", "www.abc.com", False),
        ("看这里 tb-deal.top/vip", "tb-deal.top", False),
        ("资料在 pan.example.xyz", "pan.example.xyz", False),
        ("ABC。COM", "abc.com", True),
        ("abc。com。cn", "abc.com.cn", True),
        ("abc点com点击进入", "abc.com", True),
        ("百度一下 baidu 點 com", "baidu.com", True),
        ("abc . com/xx", "abc.com", True),
        ("163。com", "163.com", True),
        ("abc dot com", "abc.com", True),
        ("联系邮箱 zhangsan@company.com", "company.com", False),
    ],
)
def test_links_and_domains(text: str, host: str, disguised: bool) -> None:
    facts = only(detect_promotion(text), "promo.url")
    assert facts["host"] == host
    assert facts["disguised"] is disguised


def test_an_email_address_is_read_by_its_domain() -> None:
    result = detect_promotion("联系邮箱 zhangsan@company.com")
    facts = only(result, "promo.url")
    assert facts["email"] is True
    assert result.signals[0].summary == "email address at company.com"
    own = PromoSettings(allowed_domains=("company.com",))
    assert detect_promotion("联系邮箱 zhangsan@company.com", settings=own).signals == ()


def test_a_plain_link_is_promotion_from_a_newcomer_only() -> None:
    text = "www.tb-deal.cn 点击领取"
    assert not detect_promotion(text).promotional
    # A newcomer's plain link is for a moderator to look at, never a public warning by itself.
    assert detect_promotion(text, newcomer=True).severity is Severity.REVIEW


def test_a_plain_link_beside_a_contact_or_in_disguise_still_blocks_a_newcomer() -> None:
    assert detect_promotion("www.tb-deal.cn 加我微信", newcomer=True).severity is Severity.BLOCK
    assert detect_promotion("tb-deal点com 点击领取", newcomer=True).severity is Severity.BLOCK


@pytest.mark.parametrize(
    ("allowed", "text", "signals"),
    [
        (("work.weixin.qq.com",), "请看 https://work.weixin.qq.com/xxx", 0),
        (("qq.com",), "请看 https://work.weixin.qq.com/xxx", 0),  # a subdomain
        (("qq.com",), "请看 https://qq.com.evil.cn/xxx", 1),  # not a subdomain
        (("weixin.qq.com",), "请看 https://qq.com/xxx", 1),  # a parent is not allowed
        (("example.com",), "见 WWW.EXAMPLE.COM/docs", 0),
        (("example.com",), "见 notexample.com", 1),
        (("company.com",), "邮箱 zhangsan@company.com", 0),
        (("Work.Weixin.QQ.com.",), "https://work.weixin.qq.com", 0),  # normalised
    ],
)
def test_allowed_domains_allow_themselves_and_their_subdomains(
    allowed: tuple[str, ...], text: str, signals: int
) -> None:
    result = detect_promotion(text, settings=PromoSettings(allowed_domains=allowed))
    assert len(result.signals) == signals
    assert bool(result.allowed) is (signals == 0)


def test_a_member_sharing_one_work_link() -> None:
    text = "企业微信文档 https://work.weixin.qq.com/xxx 大家看一下"
    for msg_type in ("text", "link"):
        for newcomer in (False, True):
            result = detect_promotion(text, msg_type, settings=WORK, newcomer=newcomer)
            assert result.signals == ()
            assert result.allowed == ("work.weixin.qq.com",)
            assert not result.promotional


def test_a_link_message_to_somewhere_else_is_promotion_from_a_newcomer() -> None:
    text = "限时福利 https://tb-deal.cn/a"
    established = detect_promotion(text, "link", settings=WORK)
    assert rules(established) == ["promo.url", "promo.msgtype"]
    assert established.score == pytest.approx(0.9)
    assert not established.promotional
    assert detect_promotion(text, "link", settings=WORK, newcomer=True).promotional


def test_nothing_inside_a_link_counts_twice() -> None:
    text = "https://abc.com/qq12345678/weixin_abc123/13800138000"
    assert rules(detect_promotion(text)) == ["promo.url"]


# --- Numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "homophones"),
    [
        ("13800138000", "13800138000", False),
        ("138 0013 8000", "13800138000", False),
        ("１３８-００１３-８０００", "13800138000", False),
        ("①③⑧⓪⓪①③⑧⓪⓪⓪", "13800138000", False),
        ("一三八零零一三八零零零", "13800138000", False),
        ("壹叁捌零零壹叁捌零零零", "13800138000", False),
        ("幺三八 零零一三 八零零零", "13800138000", False),
        ("幺伞巴灵灵幺伞巴灵灵灵", "13800138000", True),
        ("要山巴铃铃要山巴铃铃铃", "13800138000", True),
        ("138灵0138000", "13800138000", True),
        ("幺五九 思吾溜妻 巴酒灵幺", "15945678901", True),
        ("+86 138 0013 8000", "13800138000", False),
        ("0086-13800138000", "13800138000", False),
        ("张三 13800138000 是我手机号，有事打我", "13800138000", False),
        ("号码 13800138000 的机主", "13800138000", False),
        ("13800138000留言", "13800138000", False),  # a homophone word after the number
    ],
)
def test_mobile_numbers_in_every_writing(text: str, number: str, homophones: bool) -> None:
    facts = only(detect_promotion(text), "promo.phone")
    assert facts["number"] == number
    assert facts["homophones"] is homophones


@pytest.mark.parametrize(
    "text",
    [
        "联系：138 0013 8000 / 139 0013 9000",
        "电话 13800138000 13900139000",
    ],
)
def test_two_numbers_side_by_side_are_two_numbers(text: str) -> None:
    result = detect_promotion(text)
    assert rules(result) == ["promo.phone", "promo.phone"]
    assert result.score == 2.0
    assert result.severity is Severity.BLOCK


def test_the_same_number_twice_counts_once() -> None:
    result = detect_promotion("电话13800138000，再说一遍 138-0013-8000")
    assert rules(result) == ["promo.phone"]


@pytest.mark.parametrize(
    ("text", "number", "cue"),
    [
        ("扣扣 12345678", "12345678", "扣扣"),
        ("qq号是 987654321", "987654321", "qq"),
        ("企鹅：12345678 细聊", "12345678", "企鹅"),
        ("球球 55667788", "55667788", "球球"),
        ("Q：12345678", "12345678", "q"),
        ("QQ 1234 5678", "12345678", "qq"),
        ("QQ 12345678 2024年加的", "12345678", "qq"),
        ("扣扣12345678久等了", "12345678", "扣扣"),
        ("12345678(QQ)", "12345678", "qq"),
        ("我的QQ邮箱是12345678@qq.com，请查收", "12345678", "qq"),
        ("扣扣 思吾溜妻巴酒", "456789", "扣扣"),
    ],
)
def test_qq_numbers_next_to_a_cue(text: str, number: str, cue: str) -> None:
    facts = only(detect_promotion(text), "promo.qq")
    assert facts["number"] == number
    assert facts["cue"] == cue


def test_a_qq_number_that_is_a_mobile_number_counts_once() -> None:
    assert rules(detect_promotion("QQ 13800138000")) == ["promo.phone"]
    result = detect_promotion("QQ 12345678 手机 13800138000")
    assert rules(result) == ["promo.qq", "promo.phone"]


# --- WeChat -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "contact_id", "kind"),
    [
        ("加V：abc_12345 领福利", "abc_12345", "id"),
        ("+v abc-2024 有惊喜", "abc-2024", "id"),
        ("v信：abc123456", "abc123456", "id"),
        ("微信：wxid_abc123", "wxid_abc123", "id"),
        ("我的微信号是abc123", "abc123", "id"),
        ("加 薇 信 abc12345", "abc12345", "id"),
        ("wx:13800138000", "13800138000", "phone"),
        ("微信 13800138000", "13800138000", "phone"),
        ("加我 zhangsan 备注群名", "zhangsan", "id"),
        ("加我 13800138000", "13800138000", "phone"),
        ("加我微信 幺三八零零一三八零零零", "13800138000", "phone"),
    ],
)
def test_wechat_ids_after_a_cue(text: str, contact_id: str, kind: str) -> None:
    facts = only(detect_promotion(text), "promo.wechat_id")
    assert facts["id"] == contact_id
    assert facts["kind"] == kind


def test_a_number_given_as_a_wechat_contact_counts_once() -> None:
    result = detect_promotion("加我微信 13800138000，电话也是 13800138000")
    assert rules(result) == ["promo.wechat_id"]
    assert result.score == 1.0


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("加我微信", "加我微信"),
        ("他加我微信了", "加我微信"),
        ("请大家加一下我的微信，方便沟通", "加一下我的微信"),
        ("有需要的私我", "私我"),
        ("有问题私聊我", "私聊我"),
        ("+V 了解详情", "+V"),
        ("vx群里说一下", "vx"),
        # Invisible letters (Hangul fillers, zero-width spaces) are nothing, as the matcher reads
        ("有需要的加\u3164微\u3164信详聊", "加\u3164微\u3164信"),
        ("加\u200b我\u200b微\u200b信", "加\u200b我\u200b微\u200b信"),
    ],
)
def test_a_wechat_cue_alone_is_weak(text: str, cue: str) -> None:
    for newcomer in (False, True):
        result = detect_promotion(text, newcomer=newcomer)
        assert rules(result) == ["promo.wechat_cue"]
        assert result.signals[0].evidence == cue
        assert result.score == 0.4
        assert not result.promotional


# --- Ad phrases from the lexicon --------------------------------------------------------------


def test_ad_phrases_add_to_the_score() -> None:
    text = "www.tb-deal.cn 点击领取"
    hits = [ad_hit(text, "点击领取")]
    result = detect_promotion(text, ad_findings=hits)
    assert rules(result) == ["promo.url", "promo.phrase"]
    assert result.signals[1].evidence == "点击领取"
    assert result.signals[1].facts["word"] == "点击领取"
    assert result.score == pytest.approx(1.1)
    assert result.promotional
    assert result.severity is Severity.REVIEW


def test_two_ad_phrases_are_promotion_and_two_newcomer_phrases_block() -> None:
    text = "兼职刷单，日结工资，点击领取"
    hits = [ad_hit(text, "兼职刷单"), ad_hit(text, "点击领取")]
    assert not detect_promotion(text, ad_findings=hits[:1]).promotional
    assert detect_promotion(text, ad_findings=hits).severity is Severity.REVIEW
    assert detect_promotion(text, ad_findings=hits[:1], newcomer=True).severity is Severity.BLOCK


def test_an_ad_phrase_inside_other_evidence_counts_once() -> None:
    text = "加我微信 abc_12345"
    hits = [ad_hit(text, "加我微信"), ad_hit(text, "加我微信")]  # the same hit twice, too
    assert rules(detect_promotion(text, ad_findings=hits)) == ["promo.wechat_id"]
    cue = "加我微信 领福利"
    assert rules(detect_promotion(cue, ad_findings=[ad_hit(cue, "加我微信")])) == [
        "promo.wechat_cue"
    ]


def test_an_ads_word_hidden_by_hangul_fillers_is_a_cue_not_a_phrase_that_blocks_a_newcomer() -> (
    None
):
    # invisible-characters timeline: 加ㅤ微ㅤ信 was found by the word matcher (fillers folded
    # away) but not by the cue rule, so it counted as an ad phrase (0.5): a newcomer's `block`.
    text = "有需要的加\u3164微\u3164信详聊"
    result = detect_promotion(text, newcomer=True, ad_findings=[ad_hit(text, "加\u3164微\u3164信")])
    assert rules(result) == ["promo.wechat_cue"]
    assert not result.promotional


def test_a_contact_detail_with_ad_phrases_blocks_an_established_member() -> None:
    text = "兼职刷单日结 加V：abc_12345 点击领取"
    hits = [ad_hit(text, "兼职刷单"), ad_hit(text, "点击领取")]
    result = detect_promotion(text, ad_findings=hits)
    assert result.score == 2.0
    assert result.severity is Severity.BLOCK


# --- Message types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg_type", "text", "established", "newcomer"),
    [
        ("card", "张三 某某科技有限公司", True, True),
        ("weapp", "群接龙 周五聚餐报名", False, False),
        ("weapp", "拼多多 帮我砍一刀", False, False),
        ("redpacket", "恭喜发财，大吉大利", False, False),
        ("link", "2024年度总结", False, False),
        ("image", "", False, False),
        ("text", "", False, False),
        ("redpacket", "恭喜发财 加我微信", False, True),  # 0.3 + 0.4
        ("weapp", "砍一刀 加我微信", False, True),  # 0.4 + 0.4
        ("redpacket", "进群红包 加V：abc_12345", True, True),
    ],
)
def test_message_types_that_carry_promotion(
    msg_type: str, text: str, established: bool, newcomer: bool
) -> None:
    assert detect_promotion(text, msg_type).promotional is established
    assert detect_promotion(text, msg_type, newcomer=True).promotional is newcomer
    result = detect_promotion(text, msg_type)
    has_msgtype = "promo.msgtype" in rules(result)
    assert has_msgtype is (msg_type in PROMO_MSG_TYPES)
    if has_msgtype:
        assert result.signals[-1].facts["msg_type"] == msg_type
        assert result.signals[-1].evidence == ""
        assert result.signals[-1].start == -1


def test_the_qr_code_hook() -> None:
    assert detect_promotion("", "image").signals == ()
    result = detect_promotion("", "image", qr_found=True)
    assert rules(result) == ["promo.qr"]
    assert result.severity is Severity.REVIEW


# --- Thresholds and severity ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "msg_type", "established", "newcomer"),
    [
        ("www.tb-deal.cn 点击领取", "text", None, Severity.REVIEW),  # 0.6, a plain link
        ("加我微信", "text", None, None),  # 0.4
        ("恭喜发财", "redpacket", None, None),  # 0.3
        ("扣扣 12345678", "text", Severity.REVIEW, Severity.BLOCK),  # 1.0
        ("扣扣 12345678 电话 13800138000", "text", Severity.BLOCK, Severity.BLOCK),  # 2.0
        ("扣扣 12345678 看 www.tb-deal.cn", "text", Severity.REVIEW, Severity.BLOCK),  # 1.6
    ],
)
def test_newcomers_are_held_to_the_stricter_threshold(
    text: str, msg_type: str, established: Severity | None, newcomer: Severity | None
) -> None:
    old = detect_promotion(text, msg_type)
    new = detect_promotion(text, msg_type, newcomer=True)
    assert (old.severity, new.severity) == (established, newcomer)
    assert (old.threshold, new.threshold) == (1.0, 0.5)
    assert old.score == new.score
    assert (old.newcomer, new.newcomer) == (False, True)


def test_each_signal_has_the_severity_of_its_rule_alone() -> None:
    text = "www.tb-deal.cn 扣扣 12345678"
    old = {s.rule: s.severity for s in detect_promotion(text).signals}
    new = {s.rule: s.severity for s in detect_promotion(text, newcomer=True).signals}
    assert old == {"promo.url": Severity.LOG, "promo.qq": Severity.REVIEW}
    # A plain link alone is weak: for a newcomer it only ever reaches review.
    assert new == {"promo.url": Severity.REVIEW, "promo.qq": Severity.BLOCK}


# --- Settings ---------------------------------------------------------------------------------


def test_defaults_are_documented_values() -> None:
    settings = PromoSettings()
    assert settings.allowed_domains == ()
    assert (settings.threshold, settings.newcomer_threshold, settings.block_threshold) == (
        1.0,
        0.5,
        2.0,
    )
    assert PromoSettings.from_mapping({}) == settings
    assert PromoSettings.from_mapping(settings.as_dict()) == settings


def test_group_overrides_round_trip_through_json() -> None:
    overrides = {
        "allowed_domains": ["work.weixin.qq.com", "Example.COM"],
        "threshold": 1.5,
        "phone_weight": 0,
    }
    settings = PromoSettings.from_mapping(overrides)
    assert settings.allowed_domains == ("work.weixin.qq.com", "example.com")
    assert settings.threshold == 1.5
    assert settings.url_weight == 0.6  # left out: the default
    stored = json.loads(json.dumps(settings.as_dict()))
    assert PromoSettings.from_mapping(stored) == settings


def test_a_weight_of_zero_turns_a_rule_off() -> None:
    sales_group = PromoSettings.from_mapping({"phone_weight": 0, "card_weight": 0})
    assert detect_promotion("我的电话 13800138000", settings=sales_group).signals == ()
    assert detect_promotion("王经理", "card", settings=sales_group).signals == ()
    assert rules(detect_promotion("扣扣 12345678", settings=sales_group)) == ["promo.qq"]


def test_overrides_change_the_verdict() -> None:
    text = "www.tb-deal.cn 点击领取"
    strict = PromoSettings.from_mapping({"threshold": 0.6})
    assert detect_promotion(text, settings=strict).severity is Severity.REVIEW
    lenient = PromoSettings.from_mapping({"newcomer_threshold": 0.8})
    assert not detect_promotion(text, settings=lenient, newcomer=True).promotional


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"treshold": 1.0}, "unknown promo setting(s): treshold"),
        ({"threshold": "high"}, "threshold must be a number"),
        ({"threshold": True}, "threshold must be a number"),
        ({"url_weight": -0.1}, "url_weight must be 0 or more"),
        ({"url_weight": float("nan")}, "url_weight must be 0 or more"),
        ({"threshold": 0}, "threshold must be above 0"),
        ({"newcomer_threshold": 1.5}, "newcomer_threshold <= threshold <= block_threshold"),
        ({"block_threshold": 0.8}, "newcomer_threshold <= threshold <= block_threshold"),
        ({"allowed_domains": "work.weixin.qq.com"}, "must be a list of host names"),
        ({"allowed_domains": ["https://work.weixin.qq.com/"]}, "is not a host name"),
        ({"allowed_domains": ["localhost"]}, "is not a host name"),
        ({"allowed_domains": [""]}, "is not a host name"),
        ({"allowed_domains": [42]}, "is not a host name"),
    ],
)
def test_bad_overrides_are_refused_naming_the_key(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PromoSettings.from_mapping(mapping)


def test_settings_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="must be an object"):
        PromoSettings.from_mapping(["threshold", 1.0])  # type: ignore[arg-type]
