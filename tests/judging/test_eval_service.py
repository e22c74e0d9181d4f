"""The evaluation runner (`benchmarks/eval_service.py`) on tiny hand-written timelines: it
must report what the service did to each message, or the corpus figures mean nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.eval_service import TimelineReport, load_timelines, run_timelines


def message(
    t: float, sender: str, text: str, expect: str, *, mention: bool = False
) -> dict[str, Any]:
    """A text message of a timeline, as timelines.json writes it."""
    return {
        "t": t,
        "from": sender,
        "type": "text",
        "text": text,
        "mention": mention,
        "expect": expect,
    }


TIMELINES: list[dict[str, Any]] = [
    {
        "name": "attack-in-app-group",
        "kind": "app_created",
        "note": "a newcomer advertises gambling; a regular says good morning",
        "members": {"spammer": "newcomer", "reg": "regular", "mod": "moderator"},
        "messages": [
            message(0, "reg", "早上好，今天下午三点开会", "ok"),
            message(5, "spammer", "今晚一起去赌博吧", "act"),
        ],
    },
    {
        "name": "mention-in-internal-group",
        "kind": "internal",
        "note": "a question to the bot, an attack through the bot, a mislabelled message",
        "members": {"a": "regular", "b": "regular", "boss": "owner"},
        "messages": [
            message(0, "a", "@小助手 报销流程是什么？", "ok", mention=True),
            message(3, "b", "@小助手 今晚一起去赌博吧", "act", mention=True),
            message(9, "boss", "今天天气不错", "act"),  # labelled wrong on purpose
        ],
    },
]


@pytest.fixture
def report(tmp_path: Path) -> TimelineReport:
    path = tmp_path / "timelines.json"
    path.write_text(json.dumps(TIMELINES, ensure_ascii=False), encoding="utf-8")
    return run_timelines(path)


def test_a_warned_attack_and_an_innocent_message_are_reported(report: TimelineReport) -> None:
    first, second = report.timelines
    innocent, attack = first.messages
    assert (innocent.expected, innocent.actual, innocent.verdict) == ("ok", "ok", "none")
    assert innocent.warning == innocent.alert == ""
    assert innocent.log_id is None
    assert attack.role == "newcomer" and attack.channel == "archive"
    assert (attack.actual, attack.verdict, attack.step) == ("act", "warn", "warning")
    assert attack.warning == "sent"  # appchat/send, cross-checked against the fake WeCom
    assert attack.alert == "sent"  # a block word alerts the moderators at once
    assert any("赌博" in explained for explained in attack.explanations)
    assert first.passed and not first.issues

    question, bot_attack, mislabelled = second.messages
    assert question.channel == bot_attack.channel == "aibot"
    assert question.actual == "ok"
    assert (bot_attack.actual, bot_attack.warning) == ("act", "sent")  # the smart bot's reply
    assert mislabelled.channel == "archive" and mislabelled.role == "owner"
    assert (mislabelled.expected, mislabelled.actual) == ("act", "ok")
    assert not second.passed and second.mismatches == [mislabelled]
    assert not second.issues


def test_the_aggregates_and_the_printed_report(report: TimelineReport) -> None:
    assert report.attacks == {"act": 2, "review": 0, "missed": 1}
    assert report.innocent == {"warned": 0, "alerted": 0, "ok": 2}
    assert report.reviews == {"alerted": 0, "warned": 0, "missed": 0}
    assert [timeline.name for timeline in report.passed] == ["attack-in-app-group"]
    assert report.callback_only == 2
    assert not report.not_judged and not report.warnings_not_posted
    text = "\n".join(report.render(verbose=True))
    assert "attacks (expect act): 3: 2 acted on (2 warning(s) posted), 0 only alerted" in text
    assert report.posted("act") == 2 and report.posted("ok") == 0
    assert "FAIL mention-in-internal-group" in text
    assert "mention-in-internal-group#2 t=9 boss (owner, text): expected act, got ok" in text
    assert "text: '今天天气不错'" in text


def test_a_malformed_timeline_is_refused(tmp_path: Path) -> None:
    bad = [dict(TIMELINES[0], messages=[message(0, "stranger", "你好", "ok")])]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="'stranger' is not a member"):
        load_timelines(path)
