"""The one judging pipeline (`moderation.judge_batch`) as a pure function: a batch of messages
and their facts in, decisions out, no database. Tables over real-looking group chat."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from moderation import (
    BatchFacts,
    BatchMessage,
    Finding,
    GroupFacts,
    GroupMode,
    GroupPolicy,
    Judgement,
    MemberFacts,
    MessageMeta,
    SensitiveWordMatcher,
    judge_alone,
    judge_batch,
    parse_lexicon,
)
from moderation.matcher import Route
from moderation.pipeline import split_words

MATCHER = SensitiveWordMatcher(
    parse_lexicon("赌博\tgambling\tblock\n加微信\tads\treview\n代开发票\tfraud\tblock\n")
)
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
CHAT, OTHER = "wrGroupA", "wrGroupB"
POLICY = GroupPolicy(newcomer_days=0, newcomer_messages=0)
WAVE = "这个活动真的很划算大家快去看看吧"  # 16 folded characters


def msg(seconds: float, text: str, sender: str = "zhangsan", chat: str = CHAT) -> BatchMessage:
    return BatchMessage(chat, sender, "text", text, T0 + timedelta(seconds=seconds))


def facts(
    messages: list[BatchMessage],
    *,
    policy: GroupPolicy = POLICY,
    members: dict[str, MemberFacts] | None = None,
    history: tuple[MessageMeta, ...] = (),
    spread: dict[str, list[tuple[str, datetime]]] | None = None,
    removal_possible: bool = False,
) -> BatchFacts:
    """Facts for `messages`: every member established with no strikes unless `members` says
    otherwise."""
    members = members or {}
    return BatchFacts(
        matcher=MATCHER,
        groups={
            m.chat_id: GroupFacts(policy, removal_possible, history if m.chat_id == CHAT else ())
            for m in messages
        },
        members={
            (m.chat_id, m.sender): members.get(m.sender, MemberFacts(T0 - timedelta(days=90), 50))
            for m in messages
        },
        spread=spread or {},
    )


def outcome(judgement: Judgement) -> tuple[str, str | None, int, list[str]]:
    decision = judgement.decision
    assert decision is not None
    rules = [
        f"word.{v.category.value}" if isinstance(v, Finding) else v.rule
        for v in decision.violations
    ]
    return decision.verdict, decision.step and decision.step.value, decision.strikes, rules


def test_strikes_counted_earlier_in_the_batch_climb_the_ladder() -> None:
    batch = [msg(0, "周末一起赌博吗"), msg(30, "早上好"), msg(60, "来赌博"), msg(90, "赌博去")]
    judged = judge_batch(batch, facts(batch))
    assert [outcome(j) for j in judged] == [
        ("warn", "warning", 1, ["word.gambling"]),
        ("none", None, 1, []),
        ("warn", "final_warning", 2, ["word.gambling"]),
        ("alert", "removal", 3, ["word.gambling"]),  # WeCom allows no removal: a human acts
    ]
    removable = judge_batch(batch, facts(batch, removal_possible=True))
    assert outcome(removable[3])[0] == "remove"


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (MemberFacts(T0 - timedelta(days=90), 50, strikes=2), ("alert", "removal", 3)),
        (MemberFacts(T0 - timedelta(days=90), 50, exempt="owner"), ("exempt", None, 0)),
    ],
)
def test_the_members_standing_is_a_fact(
    member: MemberFacts, expected: tuple[str, str | None, int]
) -> None:
    batch = [msg(0, "需要代开发票的私聊")]
    (judged,) = judge_batch(batch, facts(batch, members={"zhangsan": member}))
    assert outcome(judged)[:3] == expected


def test_a_member_stops_being_a_newcomer_within_the_batch() -> None:
    policy = GroupPolicy(newcomer_days=0, newcomer_messages=2)
    batch = [msg(0, "看这里 www.tb-deal.cn"), msg(60, "你好"), msg(120, "看这里 www.tb-deal.cn")]
    newbie = MemberFacts(first_seen=T0)
    judged = judge_batch(batch, facts(batch, policy=policy, members={"zhangsan": newbie}))
    assert [j.newcomer for j in judged] == [True, True, False]
    assert outcome(judged[0])[3] == ["promo.url"]
    assert outcome(judged[2])[3] == []  # an established member's plain link is fine


def test_the_batch_is_in_its_own_flood_history() -> None:
    batch = [msg(second, f"第{second}条") for second in range(7)]
    judged = judge_batch(batch, facts(batch))
    assert [outcome(j)[3] for j in judged] == [[]] * 6 + [["flood.rate"]]
    assert [j.meta.at for j in judged if j.meta] == [m.at.timestamp() for m in batch]


def test_the_history_before_the_batch_counts() -> None:
    earlier = tuple(
        MessageMeta(
            at=T0.timestamp() - 9 + s,
            sender="zhangsan",
            chat_id=CHAT,
            msg_type="text",
            length=3,
            text_hash=f"h{s}",
        )
        for s in range(6)
    )
    batch = [msg(0, "又来了")]
    assert outcome(judge_batch(batch, facts(batch))[0])[3] == []
    assert outcome(judge_batch(batch, facts(batch, history=earlier))[0])[3] == ["flood.rate"]


def test_a_text_going_round_other_groups_makes_a_wave() -> None:
    batch = [msg(s, WAVE, sender=f"member-{s}") for s in (0, 10, 20)]
    quiet = judge_batch(batch, facts(batch))
    assert [outcome(j)[3] for j in quiet] == [[], [], []]  # group life: one group, no promotion
    # The same text earlier in another group (the spread fact), or in the batch itself.
    text_hash = quiet[0].meta.text_hash if quiet[0].meta else ""
    spread = {text_hash: [(OTHER, T0 - timedelta(seconds=30))]}
    assert outcome(judge_batch(batch, facts(batch, spread=spread))[2])[3] == ["flood.wave"]
    elsewhere = [msg(-30, WAVE, sender="lisi", chat=OTHER), *batch]
    assert outcome(judge_batch(elsewhere, facts(elsewhere))[3])[3] == ["flood.wave"]


def test_a_group_that_is_off_is_not_judged() -> None:
    batch = [msg(0, "周末一起赌博吗")]
    off = facts(batch, policy=replace(POLICY, mode=GroupMode.OFF))
    assert judge_batch(batch, off) == [Judgement(decision=None)]


def test_a_contact_spelled_out_over_short_messages_is_read_joined() -> None:
    """加 / 我 / V / 13 / 80 …, one per message, is a contact once the earlier ones are in the
    history, the batch's own included."""
    parts = ["加", "我", "v", "13", "80", "01", "38", "00", "0"]
    batch = [msg(3 * index, part) for index, part in enumerate(parts)]
    rules = [outcome(judged)[3] for judged in judge_batch(batch, facts(batch))]
    assert ["promo.wechat_id" in found for found in rules] == [False] * 5 + [True] * 4


SPLIT_MATCHER = SensitiveWordMatcher(
    parse_lexicon("刷单\tfraud\tblock\n兼职刷单\tfraud\tblock\n赌博\tgambling\tblock\n")
)


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        # (messages one after another, the last one judged), the words it completes
        (["兼", "职", "刷", "单"], [("兼职刷单", "high"), ("刷单", "low")]),
        (["在", "赌", "博"], [("赌博", "low")]),  # two characters across a gap: low
        (["赌", "博", "吗"], []),  # found when 博 came: the last message holds none of it
        (["好", "的", "赌博"], []),  # inside the last message: the message's own hit
        (["好", "的", "呀"], []),
    ],
)
def test_split_words_reach_into_the_last_message(
    parts: list[str], words: list[tuple[str, str]]
) -> None:
    joined = "".join(parts)
    found = split_words(SPLIT_MATCHER.find(joined), len(joined) - len(parts[-1]), parts[-1])
    assert [(hit.word, hit.confidence.value) for hit in found] == words
    for hit in found:
        assert (hit.start, hit.end, hit.matched) == (0, len(parts[-1]), parts[-1])
        assert hit.route is Route.GAP


def test_a_fraud_word_sent_one_character_per_message_is_an_offence() -> None:
    """split-word-across-messages timeline: 兼 / 职 / 刷 / 单 from a newcomer, one character
    per message, got nothing: only contacts were read joined, not lexicon words."""
    batch = [msg(index, part, sender="wmSp1") for index, part in enumerate("兼职刷单")]
    split_facts = replace(facts(batch), matcher=SPLIT_MATCHER)
    judged = [outcome(j) for j in judge_batch(batch, split_facts)]
    assert [verdict for verdict, *_ in judged] == ["none", "none", "none", "warn"]
    assert judged[-1][3] == ["word.fraud", "word.fraud"]


def test_an_ads_word_spelled_out_per_message_stays_a_split_contact_for_review() -> None:
    """split-contact-one-char timeline: 加 / 我 / V read joined is the ads word 加我微信 (a
    `block` word): as a lexicon hit it warned a newcomer at once, where the promotion
    detector reads it as a split contact cue, for the moderators to look at."""
    lexicon = "加我微信\tads\tblock\n刷单\tfraud\tblock\n"
    batch = [msg(index, part, sender="nb") for index, part in enumerate("加我V")]
    newcomer = facts(batch, policy=GroupPolicy(), members={"nb": MemberFacts(T0)})
    judged = judge_batch(
        batch, replace(newcomer, matcher=SensitiveWordMatcher(parse_lexicon(lexicon)))
    )
    assert outcome(judged[-1])[0] == "alert"
    assert outcome(judged[-1])[3] == ["promo.wechat_cue"]


BURSTY = [
    msg(0, "周末一起赌博吗"),
    msg(1, "加微信领红包", sender="lisi"),
    *(msg(2 + s, "刷屏") for s in range(8)),
    msg(12, WAVE, sender="wangwu"),
    msg(13, WAVE, sender="zhaoliu", chat=OTHER),
    msg(14, WAVE, sender="lisi"),
    msg(15, WAVE, sender="sunqi"),
    msg(16, "来赌博", sender="zhangsan"),
]


def test_one_batch_decides_as_one_message_at_a_time() -> None:
    """What the service relies on: judging a batch at once gives the decisions of judging its
    messages one by one, each with the facts the earlier ones left."""
    whole = judge_batch(BURSTY, facts(BURSTY))
    state = facts(BURSTY)
    one_by_one = []
    for message in BURSTY:
        (judged,) = judge_batch([message], state)
        one_by_one.append(judged)
        state = _after(state, message, judged)
    assert whole == one_by_one
    assert {rule for j in whole for rule in outcome(j)[3]} >= {
        "word.gambling",
        "word.ads",
        "flood.rate",
        "flood.wave",
    }


def _after(state: BatchFacts, message: BatchMessage, judged: Judgement) -> BatchFacts:
    """The facts once `judged` is recorded, as the service's database would hold them."""
    assert judged.decision is not None and judged.meta is not None
    who = (message.chat_id, message.sender)
    member = state.members[who]
    group = state.groups[message.chat_id]
    spread = dict(state.spread)
    spread[judged.meta.text_hash] = [
        *spread.get(judged.meta.text_hash, ()),
        (message.chat_id, message.at),
    ]
    return replace(
        state,
        members={
            **state.members,
            who: replace(member, messages=member.messages + 1, strikes=judged.decision.strikes),
        },
        groups={
            **state.groups,
            message.chat_id: replace(group, history=(*group.history, judged.meta)),
        },
        spread=spread,
    )


def test_judge_alone_is_a_quiet_group_and_a_member_with_no_strikes() -> None:
    message = msg(0, "有事打我电话 13800138000")
    established = judge_alone(message, MATCHER)
    newcomer = judge_alone(message, MATCHER, newcomer=True)
    assert (established.newcomer, newcomer.newcomer) == (False, True)
    assert outcome(established)[:2] == ("alert", None)  # a phone number alone: a human looks
    assert outcome(newcomer)[:3] == ("warn", "warning", 1)
