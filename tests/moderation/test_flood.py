"""The flood detector: rate, repeats, copy-paste waves, short bursts, one-character walls, long
pastes; the innocent chat that must pass; per-group thresholds; the in-memory tracker's bounds.

Timelines are (seconds, sender, text) or (seconds, sender, text, type) in one group; the last
entry is the message judged, the ones before it its history.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from moderation import flood
from moderation.flood import (
    FloodThresholds,
    FloodTracker,
    MessageMeta,
    detect_flood,
    history_window,
    text_fingerprint,
)
from moderation.fold import fold
from moderation.lexicon import Severity
from moderation.promo import detect_promotion
from moderation.signal import Signal

GROUP = "wrOgQhDgAAq3mQ8xPjhwlFHkjXzRZc5A"
OTHER_GROUP = "wrOgQhDgAA7nT0cZbGq2dUeRkLxVhY9w"
T0 = 1_718_000_000.0  # an afternoon in June 2024

AD = "【福利】加V：fuli8888，免费领取会员，名额有限先到先得！"  # 24 folded characters
NOTICE = (
    "各位家长好：本周五下午两点在学校操场举行秋季运动会，请家长为孩子准备运动服和运动鞋，"
    "带好水杯和毛巾，不要带零食和贵重物品。运动会结束后由班主任统一组织放学，请家长四点半"
    "在校门口接孩子，不要提前进入校园。"
)
ANNOUNCEMENT = (NOTICE * 6)[:600]
Entry = tuple[Any, ...]


def meta(entry: Entry, chat_id: str = GROUP) -> MessageMeta:
    at, sender, text, *rest = entry
    return MessageMeta(
        at=T0 + at,
        sender=sender,
        chat_id=chat_id,
        msg_type=rest[0] if rest else "text",
        length=len(text),
        text_hash=text_fingerprint(text),
    )


def promotional(text: str) -> bool:
    """What the service passes as `promotional`: the promotion detector found anything."""
    return bool(detect_promotion(text).signals)


def judge(
    timeline: Sequence[Entry], thresholds: FloodThresholds | None = None
) -> dict[str, Severity]:
    """The rules that fire on the last message of the timeline, with their severities."""
    *earlier, current = timeline
    signals = detect_flood(
        meta(current),
        fold(current[2]),
        [meta(e) for e in earlier],
        thresholds or FloodThresholds(),
        promotional=promotional(current[2]),
    )
    return {signal.rule: signal.severity for signal in signals}


def replay(
    timeline: Sequence[Entry], thresholds: FloodThresholds | None = None
) -> list[tuple[int, str]]:
    """Every (message index, rule) that fires when the timeline is judged message by message."""
    return [
        (index, rule)
        for index in range(len(timeline))
        for rule in judge(timeline[: index + 1], thresholds)
    ]


def burst(sender: str, texts: Sequence[str], start: float, step: float) -> list[Entry]:
    return [(start + i * step, sender, text) for i, text in enumerate(texts)]


FAST_QUESTIONS = ["在吗", "有人吗", "我想问一下", "这个活动怎么报名", "是在群里报吗", "还是找老师"]
SHORT_LINES = ["啊", "哦", "嗯", "？", "好", "行"]

RATE_8_IN_5S = burst("lixiaoming", [*FAST_QUESTIONS, "急", "谢谢"], 0, 5 / 7)
REPEATED_AD = [
    (0, "wmOgQhDgAAtd3", "加我微信 领福利!!"),
    (12, "zhangwei", "这是什么"),
    (25, "wmOgQhDgAAtd3", "加我微信，领福利"),
    (50, "wmOgQhDgAAtd3", "加我微信領福利～"),
]
AD_WAVE = [
    (0, "wmOgQhDgAAnew1", AD),
    (20, "wmOgQhDgAAnew2", AD),
    (55, "wmOgQhDgAAnew3", AD),
    (90, "wmOgQhDgAAnew4", AD),
]
SHORT_LINES_BURST = burst("zhoujie", SHORT_LINES, 0, 2)
LAUGH_12 = [(0, "sunli", "哈哈哈哈哈哈哈哈哈哈哈哈")]
PASTE_3000 = [(0, "wmOgQhDgAAtd3", (NOTICE * 30)[:3000])]

FIRING = [
    pytest.param(
        RATE_8_IN_5S,
        {"flood.rate": Severity.REVIEW},
        id="rate: 8 messages in 5 s",
    ),
    pytest.param(
        burst("lixiaoming", [*FAST_QUESTIONS, *FAST_QUESTIONS, "快回我"], 0, 0.7),
        {"flood.rate": Severity.BLOCK},
        id="rate: 13 messages in 9 s is over twice the limit",
    ),
    pytest.param(
        REPEATED_AD,
        {"flood.repeat": Severity.REVIEW},
        id="repeat: the same ad 3 times in a minute, spaces and punctuation aside",
    ),
    pytest.param(
        burst("wmOgQhDgAAtd3", ["加我微信领福利"] * 6, 0, 9),
        {"flood.repeat": Severity.BLOCK},
        id="repeat: 6 copies in 45 s is twice the count",
    ),
    pytest.param(
        [
            (0, "wmOgQhDgAAnew1", AD),
            (8, "wangfang", "又来了"),
            (20, "wmOgQhDgAAnew2", AD),
            (55, "wmOgQhDgAAnew3", AD.replace("！", "!!")),
        ],
        {"flood.wave": Severity.BLOCK},
        id="wave: the third new account pasting the same ad",
    ),
    pytest.param(
        AD_WAVE,
        {"flood.wave": Severity.BLOCK},
        id="wave: 4 new accounts post one ad within 90 s",
    ),
    pytest.param(
        [
            (0, "wmOgQhDgAAnew1", "加我微信领福利名额有限"),
            (30, "wmOgQhDgAAnew2", "加我微信领福利名额有限"),
            (70, "wmOgQhDgAAnew3", "加我微信，领福利，名额有限"),
        ],
        {"flood.wave": Severity.REVIEW},
        id="wave of a text shorter than wave_block_chars: review only",
    ),
    pytest.param(
        [
            (0, "wmOgQhDgAAnew1", "兼职刷单，一单一结，名额仅剩5个🔥"),
            (8, "wmOgQhDgAAnew2", "兼职刷单，一单一结，名额仅剩4个🔥🔥"),
            (15, "wmOgQhDgAAnew3", "兼职刷单，一单一结，名额仅剩3个‼️"),
        ],
        {},
        id="near-copies are one text, but a wave needs promotion or a second group",
    ),
    pytest.param(
        burst("zhoujie", ["1"] * 6, 0, 1),
        {"flood.repeat": Severity.BLOCK, "flood.short_burst": Severity.REVIEW},
        id="short burst: 1, 1, 1, 1, 1, 1 in 5 s (also a repeat)",
    ),
    pytest.param(
        SHORT_LINES_BURST,
        {"flood.short_burst": Severity.REVIEW},
        id="short burst: six different one-character lines in 10 s",
    ),
    pytest.param(
        [*burst("zhoujie", SHORT_LINES, 0, 2), *burst("zhoujie", SHORT_LINES[:4], 13, 2)],
        {"flood.short_burst": Severity.BLOCK},
        id="short burst: 10 in a row is twice the count",
    ),
    pytest.param(
        LAUGH_12,
        {"flood.repeated_char": Severity.LOG},
        id="repeated char: a 12-character laugh is recorded only",
    ),
    pytest.param(
        [(0, "sunli", "啊" * 40 + "！！")],
        {"flood.repeated_char": Severity.REVIEW},
        id="repeated char: 40 of one character",
    ),
    pytest.param(
        [(0, "sunli", "刷" * 150)],
        {"flood.repeated_char": Severity.BLOCK},
        id="repeated char: a wall of 150",
    ),
    pytest.param(
        PASTE_3000,
        {"flood.too_long": Severity.REVIEW},
        id="too long: a 3000-character paste",
    ),
    pytest.param(
        [(0, "wmOgQhDgAAtd3", (NOTICE * 30)[:3001])],
        {"flood.too_long": Severity.BLOCK},
        id="too long: over twice the limit",
    ),
]


@pytest.mark.parametrize(("timeline", "expected"), FIRING)
def test_flood_fires(timeline: list[Entry], expected: dict[str, Severity]) -> None:
    assert judge(timeline) == expected


@pytest.mark.parametrize("timeline", [p.values[0] for p in FIRING], ids=[p.id for p in FIRING])
def test_history_order_does_not_matter(timeline: list[Entry]) -> None:
    shuffled = [*timeline[-2::-1], timeline[-1]]
    assert judge(shuffled) == judge(timeline)


def _human_pace() -> list[Entry]:
    lines = [
        ("zhangwei", "下午的会改到三点了"),
        ("wangfang", "好的"),
        ("liuyang", "收到"),
        ("zhangwei", "会议室在三楼东边那间"),
        ("chenjing", "我可能晚十分钟到，路上有点堵"),
        ("wangfang", "没事"),
        ("zhangwei", "PPT我已经发到群文件里了，大家先看一下"),
        ("liuyang", "第5页的数据是上个月的吗？"),
        ("zhangwei", "是的，这个月的还没出来"),
        ("liuyang", "好的"),
        ("chenjing", "哈哈哈哈"),
        ("wangfang", "[图片]", "image"),
        ("wangfang", "这个是昨天客户发来的"),
        ("zhangwei", "👍"),
        ("chenjing", "我到了"),
        ("liuyang", "谢谢"),
        ("zhangwei", "好的，大家三点见"),
        ("wangfang", "好的"),
    ]
    return [(i * 35, *line) for i, line in enumerate(lines)]  # 10 minutes


def _solitaire() -> list[Entry]:
    """接龙: each member copies the list and adds a name, so no two texts are the same."""
    names = ["王芳", "李明", "张伟", "刘洋", "陈静"]
    return [
        (i * 20, f"parent{i}", "周六亲子活动报名接龙\n" + "\n".join(names[: i + 1]))
        for i in range(len(names))
    ]


INNOCENT = [
    pytest.param(_human_pace(), id="normal chatting at human pace over 10 minutes"),
    pytest.param(
        [
            (0, "zhangwei", "好的"),
            (3, "wangfang", "好的"),
            (5, "zhangwei", "谢谢"),
            (8, "wangfang", "谢谢"),
        ],
        id="two members both saying 好的 谢谢",
    ),
    pytest.param(
        [(i * 4, f"member{i}", "收到") for i in range(10)],
        id="ten members saying 收到",
    ),
    pytest.param(
        [(i * 3, f"parent{i}", "收到，谢谢老师！") for i in range(10)]
        + [(31, "parent10", "好的收到谢谢老师"), (33, "parent11", "好的收到谢谢老师")]
        + [(35, "parent12", "好的收到谢谢老师"), (38, "parent13", "祝王老师生日快乐")],
        id="a parents' group answering a notice",
    ),
    pytest.param(
        [(0, "wangfang", "好的"), (200, "wangfang", "好的"), (420, "wangfang", "好的")],
        id="好的 three times minutes apart",
    ),
    pytest.param([(0, "banzhuren", ANNOUNCEMENT)], id="a 600-character announcement"),
    pytest.param(
        [(t, "zhangwei", "有人拼车去机场吗") for t in (0, 1800, 3600)],
        id="the same question 3 times spread over an hour",
    ),
    pytest.param(
        [(i, f"member{i}", "👍👍") for i in range(6)]
        + [(7, "member0", "🙏"), (9, "member0", "🙏"), (11, "member0", "🙏！")],
        id="emoji-only messages are never the same text",
    ),
    pytest.param(
        [(i * 0.2, "banzhuren", "", "image") for i in range(9)]
        + [(2, "banzhuren", "运动会的照片")],
        id="an album of nine photos and a caption",
    ),
    pytest.param(
        [(0, "sunli", "哈哈哈哈哈"), (30, "sunli", "哈哈哈哈哈哈哈哈哈"), (60, "sunli", "6666666")],
        id="laughter under ten characters",
    ),
    pytest.param(burst("lixiaoming", FAST_QUESTIONS, 0, 1.5), id="6 messages in 9 s"),
    pytest.param(
        burst("zhoujie", ["好", "对", "是的", "我也觉得", "嗯", "行"], 0, 3),
        id="short lines broken by a longer one",
    ),
    pytest.param(_solitaire(), id="接龙: a list copied and extended"),
]


@pytest.mark.parametrize("timeline", INNOCENT)
def test_innocent_chat_never_fires(timeline: list[Entry]) -> None:
    assert replay(timeline) == []


def test_the_wave_fires_from_the_third_member_on() -> None:
    timeline = [(i * 20, f"wmOgQhDgAAnew{i}", AD) for i in range(5)]
    assert replay(timeline) == [(2, "flood.wave"), (3, "flood.wave"), (4, "flood.wave")]


def test_other_groups_history_is_ignored() -> None:
    *earlier, current = burst("lixiaoming", [*FAST_QUESTIONS, "急", "谢谢"], 0, 0.5)
    elsewhere = [meta(e, OTHER_GROUP) for e in earlier]
    assert detect_flood(meta(current), fold("谢谢"), elsewhere, FloodThresholds()) == []
    same_group = [meta(e) for e in earlier]
    assert detect_flood(meta(current), fold("谢谢"), same_group, FloodThresholds())


def test_history_after_the_message_is_ignored_unless_now_says_otherwise() -> None:
    current = meta((50, "wmOgQhDgAAtd3", "加我微信领福利"))
    later = [meta((t, "wmOgQhDgAAtd3", "加我微信领福利")) for t in (55, 58)]
    assert detect_flood(current, "加我微信领福利", later, FloodThresholds()) == []
    (signal,) = detect_flood(current, "加我微信领福利", later, FloodThresholds(), now=T0 + 60)
    assert signal.rule == "flood.repeat"


def test_signal_carries_facts_an_operator_can_read() -> None:
    *earlier, current = [(i * 20, f"wmOgQhDgAAnew{i}", AD) for i in range(4)]
    (signal,) = detect_flood(
        meta(current), fold(AD), [meta(e) for e in earlier], FloodThresholds(), promotional=True
    )
    assert signal.detector == "flood"
    assert signal.score == pytest.approx(4 / 3)
    assert signal.summary == "same text from 4 members within 120 s (limit 3)"
    assert signal.evidence == fold(AD)
    assert signal.facts["members"] == [f"wmOgQhDgAAnew{i}" for i in range(4)]
    assert signal.facts["messages"] == 4
    assert signal.facts["text_hash"] == text_fingerprint(AD)


@pytest.mark.parametrize("timeline", [p.values[0] for p in FIRING], ids=[p.id for p in FIRING])
def test_signals_are_json_and_score_at_least_one(timeline: list[Entry]) -> None:
    *earlier, current = timeline
    signals = detect_flood(
        meta(current), fold(current[2]), [meta(e) for e in earlier], FloodThresholds()
    )
    for signal in signals:
        assert isinstance(signal, Signal)
        assert signal.rule in flood.FLOOD_RULES
        assert signal.score >= 1.0
        json.dumps(signal.as_dict(), ensure_ascii=False)


@pytest.mark.parametrize(
    ("same", "other"),
    [
        ("加我微信 领福利!!", "加我微信，领福利"),
        ("加我微信領福利", "加我微信领福利"),
        ("ＡＢＣ１２３", "abc123"),
        ("好 的", "好的"),
    ],
)
def test_texts_that_fold_equal_share_a_fingerprint(same: str, other: str) -> None:
    assert text_fingerprint(same) == text_fingerprint(other)
    assert len(text_fingerprint(same)) == 32
    assert flood.folded_fingerprint(fold(same)) == text_fingerprint(same)


def test_fingerprints_of_different_texts_differ_and_nothing_folds_to_empty() -> None:
    assert text_fingerprint("好的") != text_fingerprint("好吧")
    assert text_fingerprint("👍👍") == text_fingerprint("？？！") == text_fingerprint("") == ""


@pytest.mark.parametrize(
    ("overrides", "timeline", "expected"),
    [
        pytest.param(
            {"rate_max_messages": 0},
            RATE_8_IN_5S,
            {},
            id="rate off",
        ),
        pytest.param(
            {"rate_window_seconds": 0},
            RATE_8_IN_5S,
            {},
            id="rate off by its window",
        ),
        pytest.param({"repeat_min_copies": 0}, REPEATED_AD, {}, id="repeat off"),
        pytest.param({"wave_min_members": 0}, AD_WAVE, {}, id="wave off"),
        pytest.param(
            {"wave_block_chars": 0},
            AD_WAVE,
            {"flood.wave": Severity.REVIEW},
            id="waves that never block",
        ),
        pytest.param({"short_burst_min_messages": 0}, SHORT_LINES_BURST, {}, id="short burst off"),
        pytest.param({"repeated_char_min_chars": 0}, LAUGH_12, {}, id="chars off"),
        pytest.param({"too_long_max_chars": 0}, PASTE_3000, {}, id="too long off"),
        pytest.param(
            {"rate_max_messages": 3},
            burst("lixiaoming", FAST_QUESTIONS[:4], 0, 2),
            {"flood.rate": Severity.REVIEW},
            id="stricter rate: 4 messages in 6 s",
        ),
        pytest.param(
            {"wave_min_chars": 0, "wave_min_members": 2},
            [(0, "zhangwei", "加V"), (3, "wangfang", "加V")],
            {"flood.wave": Severity.REVIEW},
            id="a group that counts every promotional text in a wave",
        ),
        pytest.param(
            {"repeat_min_copies": 2, "repeat_window_seconds": 3600},
            [(0, "zhangwei", "有人拼车去机场吗"), (1800, "zhangwei", "有人拼车去机场吗")],
            {"flood.repeat": Severity.REVIEW},
            id="stricter repeat: twice in an hour",
        ),
        pytest.param(
            {"too_long_max_chars": 500},
            [(0, "banzhuren", ANNOUNCEMENT)],
            {"flood.too_long": Severity.REVIEW},
            id="stricter length",
        ),
    ],
)
def test_thresholds_per_group(
    overrides: dict[str, Any], timeline: list[Entry], expected: dict[str, Severity]
) -> None:
    assert judge(timeline, FloodThresholds.from_mapping(overrides)) == expected


def test_thresholds_round_trip_as_json() -> None:
    custom = FloodThresholds.from_mapping({"rate_max_messages": 10, "wave_window_seconds": 300})
    assert custom.rate_max_messages == 10
    assert custom.wave_window_seconds == 300.0
    assert custom.repeat_min_copies == FloodThresholds().repeat_min_copies
    stored = json.loads(json.dumps(custom.as_dict()))
    assert FloodThresholds.from_mapping(stored) == custom
    assert FloodThresholds.from_mapping({}) == FloodThresholds()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"rate_limit": 5}, "unknown flood threshold.*rate_limit.*known: rate_max_messages"),
        ({"rate_max_messages": -1}, "rate_max_messages must be 0 or more"),
        ({"rate_max_messages": "6"}, "rate_max_messages must be a whole number"),
        ({"rate_max_messages": 6.5}, "rate_max_messages must be a whole number"),
        ({"rate_max_messages": True}, "rate_max_messages must be a whole number"),
        ({"rate_window_seconds": None}, "rate_window_seconds must be a number"),
        ({"wave_window_seconds": float("nan")}, "wave_window_seconds must be 0 or more"),
        ({"wave_window_seconds": 7 * 86_400}, "wave_window_seconds must be at most 86400 s"),
        ({"repeat_min_copies": 1}, "repeat_min_copies must be 0 .off. or at least 2"),
        ({"repeated_char_min_ratio": 70}, "repeated_char_min_ratio is a share from 0 to 1"),
    ],
)
def test_bad_thresholds_are_refused(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FloodThresholds.from_mapping(mapping)


def test_thresholds_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="must be an object, not list"):
        FloodThresholds.from_mapping([("rate_max_messages", 3)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "window"),
    [
        ({}, 120.0),
        ({"wave_min_members": 0}, 60.0),
        ({"wave_min_members": 0, "repeat_min_copies": 0, "short_burst_window_seconds": 90}, 90.0),
        (
            {
                "rate_max_messages": 0,
                "repeat_min_copies": 0,
                "wave_min_members": 0,
                "short_burst_min_messages": 0,
            },
            0.0,
        ),
    ],
)
def test_history_window_is_the_longest_window_in_use(
    overrides: dict[str, Any], window: float
) -> None:
    assert history_window(FloodThresholds.from_mapping(overrides)) == window


def observe(tracker: FloodTracker, entry: Entry, chat_id: str = GROUP) -> list[str]:
    found = tracker.observe(meta(entry, chat_id), fold(entry[2]), promotional=promotional(entry[2]))
    return [signal.rule for signal in found]


@pytest.mark.parametrize(
    "timeline", [p.values[0] for p in FIRING + INNOCENT], ids=[p.id for p in FIRING + INNOCENT]
)
def test_tracker_agrees_with_detect_flood(timeline: list[Entry]) -> None:
    tracker = FloodTracker()
    fired = [(i, rule) for i, entry in enumerate(timeline) for rule in observe(tracker, entry)]
    assert fired == replay(timeline)


def test_tracker_holds_at_most_max_per_group_messages() -> None:
    tracker = FloodTracker(max_per_group=4)
    for entry in burst("zhangwei", [f"第{i}条" for i in range(10)], 0, 1):
        observe(tracker, entry)
    assert [m.at - T0 for m in tracker.held(GROUP)] == [6, 7, 8, 9]


def test_tracker_drops_messages_older_than_the_history_window() -> None:
    tracker = FloodTracker()
    observe(tracker, (0, "zhangwei", "早上好"))
    observe(tracker, (100, "wangfang", "早"))
    observe(tracker, (200, "liuyang", "大家早"))
    assert [m.sender for m in tracker.held(GROUP)] == ["wangfang", "liuyang"]


def test_tracker_keeps_the_most_recently_active_groups() -> None:
    tracker = FloodTracker(max_groups=2)
    observe(tracker, (0, "zhangwei", "在吗"), "group-a")
    observe(tracker, (1, "wangfang", "在"), "group-b")
    observe(tracker, (2, "zhangwei", "好的"), "group-a")
    observe(tracker, (3, "liuyang", "大家好"), "group-c")
    assert len(tracker) == 2
    assert tracker.held("group-b") == ()
    assert [m.sender for m in tracker.held("group-a")] == ["zhangwei", "zhangwei"]


def test_tracker_forgets_idle_groups_as_time_advances() -> None:
    tracker = FloodTracker()
    observe(tracker, (0, "zhangwei", "在吗"), "group-a")
    observe(tracker, (60, "wangfang", "在"), "group-b")
    observe(tracker, (150, "liuyang", "大家好"), "group-c")
    assert len(tracker) == 2  # group-a's last message is past the 120 s window
    assert tracker.held("group-a") == ()


def test_tracker_uses_each_groups_thresholds() -> None:
    strict = FloodThresholds.from_mapping({"rate_max_messages": 2})
    tracker = FloodTracker(group_thresholds={"strict": strict})
    for chat_id in ("strict", "relaxed"):
        fired = [observe(tracker, (i, "zhangwei", f"第{i}条"), chat_id) for i in range(3)]
        assert fired == ([[], [], ["flood.rate"]] if chat_id == "strict" else [[], [], []])
    assert tracker.thresholds_for("relaxed") == FloodThresholds()


@pytest.mark.parametrize(("max_groups", "max_per_group"), [(0, 500), (1000, 0)])
def test_tracker_bounds_must_be_positive(max_groups: int, max_per_group: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FloodTracker(max_groups=max_groups, max_per_group=max_per_group)


def test_public_surface() -> None:
    assert sorted(flood.__all__) == [
        "ALBUM_TYPES",
        "FLOOD_RULES",
        "FloodThresholds",
        "FloodTracker",
        "MAX_WINDOW_SECONDS",
        "MessageMeta",
        "detect_flood",
        "folded_fingerprint",
        "history_window",
        "joined_short_texts",
        "short_text",
        "text_fingerprint",
    ]


# --- A contact spelled out over one-character messages ----------------------------------------


def _short(at: float, text: str, sender: str = "wmNew") -> flood.MessageMeta:
    folded = flood.short_text(text)
    return flood.MessageMeta(
        at=at,
        sender=sender,
        chat_id="wrChat",
        msg_type="text",
        length=len(text),
        text_hash=flood.text_fingerprint(text),
        short_text=folded,
    )


@pytest.mark.parametrize(
    ("history", "last", "joined"),
    [
        # 加 / 我 / V / 1 / 3 … one per message: read joined, in order
        ([_short(0, "加"), _short(5, "我"), _short(9, "v")], _short(12, "13"), "加我v13"),
        # fewer than three short messages: nothing to join
        ([_short(0, "加")], _short(5, "我"), ""),
        # a longer message between them ends the run
        ([_short(0, "加"), _short(3, "明天开会"), _short(5, "我")], _short(7, "v"), ""),
        # more than a minute between two of them ends the run
        ([_short(0, "加"), _short(100, "我"), _short(110, "v")], _short(120, "1"), "我v1"),
        # another member's messages are not this member's
        ([_short(0, "加", "wmOther"), _short(3, "我")], _short(5, "v"), ""),
        # the message itself is not short
        ([_short(0, "加"), _short(3, "我")], _short(5, "你好呀朋友"), ""),
    ],
)
def test_joined_short_texts(
    history: list[flood.MessageMeta], last: flood.MessageMeta, joined: str
) -> None:
    assert flood.joined_short_texts(last, history) == joined


# --- Waves are group life unless they sell something or spread ---------------------------------

BIRTHDAY_WAVE = [
    (0, "zhangwei", "老王生日快乐，永远十八岁"),
    (4, "wangfang", "老王生日快乐，永远十八岁！"),
    (6, "lijing", "老王生日快乐，永远十八岁🎂"),
    (9, "liuyang", "老王生日快乐，永远十八岁"),
]


def test_a_wave_of_birthday_wishes_is_group_life() -> None:
    assert replay(BIRTHDAY_WAVE) == []


def test_the_same_text_in_another_group_makes_a_wave_of_it() -> None:
    *earlier, current = BIRTHDAY_WAVE
    signals = detect_flood(
        meta(current),
        fold(current[2]),
        [meta(e) for e in earlier],
        FloodThresholds(),
        other_groups=1,
    )
    assert [signal.rule for signal in signals] == ["flood.wave"]


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("名额仅剩5个，加我微信", "名额仅剩14个，加我微信", True),  # another number, one text
        ("订单12345已经发货了", "订单67890已经发货了", True),
        ("1", "3", False),  # digits alone are what they say (a contact spelled out)
        ("138", "139", False),
        ("第1条", "第2条", False),  # a short numbered line is what its number says
    ],
)
def test_near_copies_share_a_fingerprint(first: str, second: str, same: bool) -> None:
    assert (text_fingerprint(first) == text_fingerprint(second)) is same


def test_the_tracker_sees_a_text_spread_over_groups() -> None:
    tracker = FloodTracker()
    text = "周末一起去爬山的在这里报名"
    observe(tracker, (0, "a", text), "one")
    fired = [observe(tracker, (i, f"m{i}", text), "two") for i in range(1, 4)]
    assert fired == [[], [], ["flood.wave"]]
