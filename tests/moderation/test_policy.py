"""The escalation policy (`moderation.policy.judge`): offences climb a group's ladder, severity
skips the alert-free step, review-tier words and low-confidence hits only alert, log-tier ones
are only recorded, exempt members get nothing; `GroupPolicy` overrides from JSON; the promotion
signal; which violation is the strictest. Findings come from a real `SensitiveWordMatcher` and
behaviour signals from the real flood and promotion detectors where practical."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from typing import Any

import pytest

from moderation.decision import Action, Decision, Violation, strictest
from moderation.flood import FloodThresholds, MessageMeta, detect_flood, text_fingerprint
from moderation.fold import fold
from moderation.lexicon import Category, LexiconEntry, Severity
from moderation.matcher import Confidence, Finding, SensitiveWordMatcher
from moderation.policy import (
    DEFAULT_LADDER,
    GroupMode,
    GroupPolicy,
    Standing,
    Step,
    decide,
    is_offence,
    judge,
    promotion_signal,
)
from moderation.promo import PromoSettings, detect_promotion
from moderation.signal import Signal

MATCHER = SensitiveWordMatcher(
    [
        LexiconEntry("赌博", Category.GAMBLING, Severity.BLOCK),
        LexiconEntry("加微信", Category.ADS, Severity.REVIEW),
        LexiconEntry("傻逼", Category.ABUSE, Severity.BLOCK),
        LexiconEntry("菠菜", Category.GAMBLING, Severity.LOG),  # slang for 博彩, and a vegetable
    ]
)
GROUP = "wrOgQhDgAAq3mQ8xPjhwlFHkjXzRZc5A"
T0 = 1_718_000_000.0  # an afternoon in June 2024

WARN = (Action.WARN_SENDER,)
WARN_ALERT = (Action.WARN_SENDER, Action.ALERT_MODERATORS)
ALERT = (Action.ALERT_MODERATORS,)
REMOVE = (Action.REMOVE_MEMBER, Action.ALERT_MODERATORS)


def found(text: str) -> list[Finding]:
    """The lexicon hits in `text`; the text is chosen to have some."""
    hits = MATCHER.find(text, GROUP)
    assert hits, text
    return hits


def flood(texts: Sequence[str], seconds_apart: float = 1.0) -> list[Signal]:
    """What the flood detector says about the last of `texts`, all sent by one member."""
    metas = [
        MessageMeta(
            at=T0 + n * seconds_apart,
            sender="wmZhangSan",
            chat_id=GROUP,
            msg_type="text",
            length=len(text),
            text_hash=text_fingerprint(text),
        )
        for n, text in enumerate(texts)
    ]
    signals = detect_flood(metas[-1], fold(texts[-1]), metas[:-1], FloodThresholds())
    assert signals, texts
    return signals


def promo(text: str, *, newcomer: bool) -> Signal:
    signal = promotion_signal(detect_promotion(text, newcomer=newcomer))
    assert signal is not None, text
    return signal


def hand_signal(rule: str, severity: Severity, start: int = -1) -> Signal:
    return Signal(
        detector=rule.split(".")[0],
        rule=rule,
        severity=severity,
        score=1.0,
        summary="made by hand",
        start=start,
        end=start + 2 if start >= 0 else -1,
    )


# Lexicon texts.
GAMBLING = "周末一起去澳门赌博吗"  # 赌博: block
ABUSE = "你个傻逼别说了"  # 傻逼: block
ADS = "想要资料的加微信私聊"  # 加微信: review
SPACED = "周末去不去 赌 . 博 啊"  # 赌博 across noise: low confidence, acts as review
SPINACH = "今天菜市场菠菜两块五一斤"  # 菠菜: log

# Behaviour signals.
# Different texts (one text with another number in it would be a near-copy: flood.repeat).
TOPICS = ["快递", "午饭", "报表", "合同", "发票", "样品", "名单", "通知", "方案", "预算"]
TOPICS += ["课件", "海报", "奖品"]
RATE_REVIEW = flood([f"{topic}到了，大家看看群公告" for topic in TOPICS[:7]])  # 7 in 6 s
RATE_BLOCK = flood([f"{topic}到了，大家看看群公告" for topic in TOPICS], 0.5)  # over twice
REPEAT_REVIEW = flood(["今晚八点直播间抽奖，不见不散"] * 3, 5.0)
LAUGH_LOG = flood(["哈" * 15])  # a long laugh: recorded only
PROMO_NEWCOMER = promo("加V：abc_12345 领福利", newcomer=True)  # block
# review: a number with an invitation (a number alone from a member is only for review)
PROMO_MEMBER = promo("想赚钱的联系我 13800138000", newcomer=False)


def test_the_detectors_give_the_tiers_the_tables_rely_on() -> None:
    assert [(s.rule, s.severity) for s in RATE_REVIEW] == [("flood.rate", Severity.REVIEW)]
    assert [(s.rule, s.severity) for s in RATE_BLOCK] == [("flood.rate", Severity.BLOCK)]
    assert [(s.rule, s.severity) for s in REPEAT_REVIEW] == [("flood.repeat", Severity.REVIEW)]
    assert [(s.rule, s.severity) for s in LAUGH_LOG] == [("flood.repeated_char", Severity.LOG)]
    assert (PROMO_NEWCOMER.severity, PROMO_MEMBER.severity) == (Severity.BLOCK, Severity.REVIEW)
    [spaced] = found(SPACED)
    assert (spaced.confidence, spaced.effective_severity) == (Confidence.LOW, Severity.REVIEW)


# --- The default ladder ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("findings", "signals", "strikes", "removal_possible", "step", "actions", "verdict"),
    [
        # 1st offence: a warning; the moderators only hear of it when something blocks.
        ([], RATE_REVIEW, 0, False, Step.WARNING, WARN, "warn"),
        ([], [PROMO_MEMBER], 0, False, Step.WARNING, WARN, "warn"),
        (found(GAMBLING), [], 0, False, Step.WARNING, WARN_ALERT, "warn"),
        ([], RATE_BLOCK, 0, False, Step.WARNING, WARN_ALERT, "warn"),
        ([], [PROMO_NEWCOMER], 0, False, Step.WARNING, WARN_ALERT, "warn"),
        # a review-tier word beside a review-tier offence: a human is asked to look as well
        (found(ADS), RATE_REVIEW, 0, False, Step.WARNING, WARN_ALERT, "warn"),
        # a log-tier word or signal beside it changes nothing
        (found(SPINACH), [*RATE_REVIEW, *LAUGH_LOG], 0, False, Step.WARNING, WARN, "warn"),
        # 2nd offence: a final warning, and the moderators are alerted
        ([], RATE_REVIEW, 1, False, Step.FINAL_WARNING, WARN_ALERT, "warn"),
        # 3rd offence: removal where WeCom allows it, else a moderator is asked to act
        ([], RATE_REVIEW, 2, True, Step.REMOVAL, REMOVE, "remove"),
        (found(ABUSE), [PROMO_NEWCOMER], 2, False, Step.REMOVAL, ALERT, "alert"),
        # past the end of the ladder the last step repeats
        ([], REPEAT_REVIEW, 3, True, Step.REMOVAL, REMOVE, "remove"),
        (found(GAMBLING), [], 9, False, Step.REMOVAL, ALERT, "alert"),
    ],
)
def test_offences_climb_the_default_ladder(
    findings: list[Finding],
    signals: list[Signal],
    strikes: int,
    removal_possible: bool,
    step: Step,
    actions: tuple[Action, ...],
    verdict: str,
) -> None:
    standing = Standing(strikes=strikes, removal_possible=removal_possible)
    decision = judge(findings, signals, standing=standing)
    assert (decision.step, decision.actions, decision.verdict) == (step, actions, verdict)
    assert decision.strike is True
    assert decision.strikes == strikes + 1
    assert decision.removal_possible is removal_possible
    assert decision.findings == tuple(findings)
    assert decision.signals == tuple(signals)
    assert decision.exempt == ""
    assert f"offence {strikes + 1} → {step.value}" in decision.reason


def test_removal_where_wecom_allows_none_tells_a_moderator_to_act() -> None:
    decision = judge(found(GAMBLING), standing=Standing(strikes=2))
    assert decision.actions == ALERT
    assert "a moderator must act" in decision.reason
    allowed = judge(found(GAMBLING), standing=Standing(strikes=2, removal_possible=True))
    assert "moderator must act" not in allowed.reason


def test_the_reason_names_the_strictest_violation() -> None:
    decision = judge(found("网上赌博加微信详聊"), RATE_REVIEW)
    assert decision.reason.startswith(
        "2 lexicon hit(s) on 2 word(s); 1 signal(s): flood.rate; strictest: gambling/block"
    )
    low = judge(found(SPACED))
    assert "strictest: gambling/review (a block word, low confidence: gap)" in low.reason


def test_shadow_and_off_decide_exactly_as_enforce_does() -> None:
    # The mode tells the caller what to send; the decision itself is the same.
    standing = Standing(strikes=1)
    enforce = judge(found(ABUSE), RATE_REVIEW, standing=standing)
    for mode in (GroupMode.SHADOW, GroupMode.OFF):
        policy = GroupPolicy(mode=mode)
        assert judge(found(ABUSE), RATE_REVIEW, policy=policy, standing=standing) == enforce


# --- What is not an offence --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("findings", "signals", "actions", "verdict", "in_reason"),
    [
        # a review-tier word is for a human to judge: alert, no warning, no strike
        (found(ADS), [], ALERT, "alert", "no offence; moderators alerted"),
        # so is a low-confidence hit of a block word
        (found(SPACED), [], ALERT, "alert", "low confidence"),
        (found("你是傻 逼吗"), [], ALERT, "alert", "abuse/review (a block word, low confidence"),
        # log-tier words and signals are only recorded
        (found(SPINACH), [], (), "log", "strictest: gambling/log; no offence"),
        ([], LAUGH_LOG, (), "log", "strictest: flood.repeated_char/log; no offence"),
        (found(ADS), LAUGH_LOG, ALERT, "alert", "moderators alerted"),
        ([], [], (), "none", "no findings"),
    ],
)
def test_what_is_not_an_offence_gives_no_strike(
    findings: list[Finding],
    signals: list[Signal],
    actions: tuple[Action, ...],
    verdict: str,
    in_reason: str,
) -> None:
    decision = judge(findings, signals, standing=Standing(strikes=2, removal_possible=True))
    assert (decision.actions, decision.verdict) == (actions, verdict)
    assert in_reason in decision.reason
    assert (decision.step, decision.strike, decision.strikes) == (None, False, 2)
    assert Action.WARN_SENDER not in decision.actions
    assert decision.flagged is bool(findings or signals)


@pytest.mark.parametrize(
    ("violation", "offence"),
    [
        (found(GAMBLING)[0], True),
        (found(SPACED)[0], False),  # a block word, low confidence
        (RATE_REVIEW[0], True),
        (LAUGH_LOG[0], False),
    ],
)
def test_is_offence(violation: Violation, offence: bool) -> None:
    assert is_offence(violation) is offence


# --- Exempt senders ----------------------------------------------------------------------------


@pytest.mark.parametrize("why", ["moderator", "owner", "staff"])
def test_exempt_senders_get_no_action_and_no_strike(why: str) -> None:
    findings = found("傻逼，来赌博")
    standing = Standing(strikes=2, exempt=why, removal_possible=True)
    decision = judge(findings, RATE_BLOCK, standing=standing)
    assert (decision.actions, decision.verdict, decision.exempt) == ((), "exempt", why)
    assert (decision.step, decision.strike, decision.strikes) == (None, False, 2)
    assert f"sender exempt ({why}): no action" in decision.reason
    assert decision.findings == tuple(findings)  # still recorded, marked exempt
    assert decision.signals == tuple(RATE_BLOCK)
    assert decision.flagged


# --- Custom ladders ----------------------------------------------------------------------------

TWO_WARNINGS = GroupPolicy(ladder=(Step.WARNING, Step.WARNING, Step.FINAL_WARNING, Step.REMOVAL))
REMOVAL_ONLY = GroupPolicy.from_mapping({"ladder": ("removal",)})


@pytest.mark.parametrize(
    ("policy", "strikes", "removal_possible", "step", "actions"),
    [
        (TWO_WARNINGS, 0, True, Step.WARNING, WARN),
        (TWO_WARNINGS, 1, True, Step.WARNING, WARN),
        (TWO_WARNINGS, 2, True, Step.FINAL_WARNING, WARN_ALERT),
        (TWO_WARNINGS, 3, True, Step.REMOVAL, REMOVE),
        (REMOVAL_ONLY, 0, True, Step.REMOVAL, REMOVE),
        (REMOVAL_ONLY, 0, False, Step.REMOVAL, ALERT),
    ],
)
def test_custom_ladders(
    policy: GroupPolicy,
    strikes: int,
    removal_possible: bool,
    step: Step,
    actions: tuple[Action, ...],
) -> None:
    standing = Standing(strikes=strikes, removal_possible=removal_possible)
    decision = judge([], REPEAT_REVIEW, policy=policy, standing=standing)
    assert (decision.step, decision.actions, decision.strikes) == (step, actions, strikes + 1)


def test_a_negative_strike_count_never_jumps_to_removal() -> None:
    with contextlib.suppress(ValueError):  # rejecting the count is fine too
        decision = judge(found(GAMBLING), standing=Standing(strikes=-1, removal_possible=True))
        assert decision.step is Step.WARNING


# --- GroupPolicy from JSON ---------------------------------------------------------------------


def test_from_mapping_sets_every_field() -> None:
    policy = GroupPolicy.from_mapping(
        {
            "mode": "shadow",
            "ladder": ["warning", "removal"],
            "strike_window_days": 14,
            "newcomer_days": 3,
            "newcomer_messages": 10,
            "flood": {"rate_max_messages": 10},
            "promo": {"allowed_domains": ["work.weixin.qq.com"], "phone_weight": 0.5},
        }
    )
    assert policy.mode is GroupMode.SHADOW
    assert policy.ladder == (Step.WARNING, Step.REMOVAL)
    assert (policy.strike_window_days, policy.newcomer_days, policy.newcomer_messages) == (
        14,
        3,
        10,
    )
    assert policy.flood == FloodThresholds(rate_max_messages=10)
    assert policy.promo == PromoSettings(allowed_domains=("work.weixin.qq.com",), phone_weight=0.5)
    assert GroupPolicy.from_mapping({}) == GroupPolicy()
    assert GroupPolicy().ladder == DEFAULT_LADDER


def test_from_mapping_changes_only_what_it_names_over_a_base() -> None:
    base = GroupPolicy(
        mode=GroupMode.SHADOW,
        ladder=(Step.WARNING, Step.REMOVAL),
        strike_window_days=7,
        flood=FloodThresholds(rate_max_messages=10, wave_min_members=5),
        promo=PromoSettings(allowed_domains=("work.weixin.qq.com",), url_weight=0.3),
    )
    policy = GroupPolicy.from_mapping(
        {"newcomer_messages": 5, "flood": {"repeat_min_copies": 4}, "promo": {"phone_weight": 0.8}},
        base,
    )
    assert (policy.mode, policy.ladder, policy.strike_window_days) == (
        GroupMode.SHADOW,
        (Step.WARNING, Step.REMOVAL),
        7,
    )
    assert policy.newcomer_messages == 5
    assert (policy.flood.rate_max_messages, policy.flood.wave_min_members) == (10, 5)
    assert policy.flood.repeat_min_copies == 4
    assert policy.promo.allowed_domains == ("work.weixin.qq.com",)
    assert (policy.promo.url_weight, policy.promo.phone_weight) == (0.3, 0.8)


def test_as_dict_round_trips_through_json() -> None:
    policy = GroupPolicy(
        mode=GroupMode.OFF,
        ladder=(Step.FINAL_WARNING,),
        strike_window_days=0.5,
        newcomer_days=0,
        newcomer_messages=0,
        flood=FloodThresholds(too_long_max_chars=0, repeated_char_min_ratio=0.9),
        promo=PromoSettings(allowed_domains=("qq.com", "example.cn"), newcomer_threshold=1.0),
    )
    stored = json.loads(json.dumps(policy.as_dict()))
    assert GroupPolicy.from_mapping(stored) == policy
    assert GroupPolicy.from_mapping(stored, TWO_WARNINGS) == policy  # the base is overwritten
    assert GroupPolicy.from_mapping(GroupPolicy().as_dict(), policy) == GroupPolicy()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"mode": "shadow", "bogus": 1},
            "policy: unknown setting(s) bogus; known: cross_group_strike_weight, flood",
        ),
        ({"mode": "SHADOW"}, "policy mode: 'SHADOW' is not one of enforce, shadow, off"),
        ({"ladder": ["warning", "kick"]}, "policy ladder: ['warning', 'kick'] has a step"),
        ({"ladder": "warning"}, "policy ladder: expected a list of steps"),
        ({"ladder": []}, "policy ladder: give 1 to 10 steps"),
        ({"strike_window_days": -1}, "policy strike_window_days: -1 must be between 0 and 3650"),
        ({"strike_window_days": math.nan}, "policy strike_window_days: nan must be between"),
        ({"strike_window_days": 0}, "policy strike_window_days: must be more than 0"),
        ({"strike_window_days": True}, "policy strike_window_days: True is not a number"),
        ({"newcomer_messages": 2.5}, "policy newcomer_messages: 2.5 is not a whole number"),
        ({"flood": [1, 2]}, "policy flood: expected an object of settings"),
        ({"flood": {"bogus": 1}}, "unknown flood threshold(s): bogus"),
        ({"promo": {"threshold": 0.1}}, "need newcomer_threshold <= threshold <= block_threshold"),
    ],
)
def test_from_mapping_rejects_bad_settings_clearly(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        GroupPolicy.from_mapping(mapping)
    assert message in str(raised.value)


def test_from_mapping_wants_an_object() -> None:
    with pytest.raises(ValueError, match=r"^policy: expected an object of settings$"):
        GroupPolicy.from_mapping([("mode", "shadow")])  # type: ignore[arg-type]


def test_from_mapping_names_a_key_that_is_not_a_string() -> None:
    mapping: dict[Any, Any] = {1: "shadow"}  # a Python caller's mistake, not JSON
    with pytest.raises(ValueError, match="unknown setting"):
        GroupPolicy.from_mapping(mapping)


# --- The promotion signal ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "newcomer"),
    [
        ("明天下午三点开会，记得带电脑", True),
        ("会议纪要见 https://example.com/a", False),  # one plain link from a member
    ],
)
def test_no_promotion_signal_when_not_promotional(text: str, newcomer: bool) -> None:
    result = detect_promotion(text, newcomer=newcomer)
    assert not result.promotional
    assert promotion_signal(result) is None


def test_promotion_signal_of_a_newcomer_ad() -> None:
    result = detect_promotion("加V：abc_12345 领福利", newcomer=True)
    signal = promotion_signal(result)
    assert signal is not None
    assert (signal.detector, signal.rule, signal.severity) == (
        "promo",
        "promo.wechat_id",
        Severity.BLOCK,
    )
    assert (signal.evidence, signal.start, signal.end) == ("加V：abc_12345", 0, 12)
    assert signal.score == 2.0  # the score over the newcomer threshold
    assert signal.summary == "promotion score 1.00 >= 0.50 for a newcomer (promo.wechat_id)"
    assert signal.facts == result.as_dict()
    assert json.loads(json.dumps(signal.as_dict()))["facts"]["newcomer"] is True


def test_promotion_signal_of_a_member_giving_one_phone_number_is_review() -> None:
    assert PROMO_MEMBER.severity is Severity.REVIEW
    assert (PROMO_MEMBER.rule, PROMO_MEMBER.evidence, PROMO_MEMBER.score) == (
        "promo.phone",
        "13800138000",
        1.0,
    )
    assert "for an established member" in PROMO_MEMBER.summary


def test_promotion_signal_names_the_strongest_rule_and_every_rule() -> None:
    text = "兼职日结，加我微信 详情看 abc。com"  # a cue alone (0.4) and a disguised domain (1.0)
    result = detect_promotion(text, newcomer=False)
    signal = promotion_signal(result)
    assert signal is not None
    assert {s.rule for s in result.signals} == {"promo.wechat_cue", "promo.url"}
    assert (signal.rule, signal.evidence, signal.severity) == (
        "promo.url",
        "abc。com",
        Severity.REVIEW,
    )
    assert signal.summary.endswith("(promo.url, promo.wechat_cue)")


# --- The strictest violation -------------------------------------------------------------------

[_GAMBLING_HIT] = found(GAMBLING)
[_LOW_HIT] = found(SPACED)
[_ADS_HIT] = found(ADS)
_EARLY_ABUSE, _LATE_GAMBLING = found("傻逼，来赌博")
_LOW_GAMBLING, _SURE_GAMBLING = found("赌.博 和 赌博")


@pytest.mark.parametrize(
    ("violations", "expected"),
    [
        # effective severity first
        ([_ADS_HIT, RATE_BLOCK[0]], RATE_BLOCK[0]),
        ([_LOW_GAMBLING, _SURE_GAMBLING], _SURE_GAMBLING),
        # then the tier: a low-confidence block word over a sure review word or signal
        ([_ADS_HIT, _LOW_HIT], _LOW_HIT),
        # then a lexicon word before a signal
        ([RATE_BLOCK[0], _GAMBLING_HIT], _GAMBLING_HIT),
        # then the earliest
        ([_LATE_GAMBLING, _EARLY_ABUSE], _EARLY_ABUSE),
        ([hand_signal("promo.url", Severity.BLOCK, 9), PROMO_NEWCOMER], PROMO_NEWCOMER),
    ],
)
def test_strictest(violations: list[Violation], expected: Violation) -> None:
    assert strictest(violations) is expected
    assert strictest(list(reversed(violations))) is expected


# --- Decision ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "exempt", "flagged", "verdict"),
    [
        ((Action.WARN_SENDER, Action.REMOVE_MEMBER), "", True, "remove"),
        (WARN_ALERT, "", True, "warn"),
        (ALERT, "staff", True, "alert"),  # actions come before the exemption
        ((), "moderator", True, "exempt"),
        ((), "", True, "log"),
        ((), "", False, "none"),
    ],
)
def test_verdict(actions: tuple[Action, ...], exempt: str, flagged: bool, verdict: str) -> None:
    findings = tuple(found(GAMBLING)) if flagged else ()
    decision = Decision(findings=findings, actions=actions, reason="", exempt=exempt)
    assert decision.verdict == verdict
    assert decision.flagged is flagged


def test_violations_are_the_findings_then_the_signals() -> None:
    findings = found("网上赌博加微信详聊")
    decision = judge(findings, [*RATE_REVIEW, PROMO_MEMBER])
    assert decision.violations == (*findings, *RATE_REVIEW, PROMO_MEMBER)
    signals_only = judge([], LAUGH_LOG)
    assert (signals_only.flagged, signals_only.violations) == (True, tuple(LAUGH_LOG))


@pytest.mark.parametrize("text", [GAMBLING, ADS, SPACED, "今天天气不错，下班一起吃饭"])
def test_decide_is_judge_with_the_defaults(text: str) -> None:
    findings = MATCHER.find(text, GROUP)
    assert decide(findings) == judge(findings)
    assert decide(findings) == judge(findings, (), policy=GroupPolicy(), standing=Standing())
