"""`wecom-mod demo` and the sandbox scenarios: each scenario played through the real service
does what it declares, nothing leaves the process, and the CLI prints the transcript."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.main import create_app
from app.sandbox.player import SANDBOX_API_BASE, play_scenarios
from app.sandbox.scenarios import EXPECTATIONS, KINDS, ROLES, SCENARIOS, Scenario, by_name


def named(name: str) -> Scenario:
    scenario = by_name(name)
    assert scenario is not None
    return scenario


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Any request through a real transport (the network) is recorded and refused."""
    attempted: list[httpx.Request] = []

    async def refuse_async(self: object, request: httpx.Request) -> httpx.Response:
        attempted.append(request)
        raise AssertionError(f"a request left the process: {request.url}")

    def refuse(self: object, request: httpx.Request) -> httpx.Response:
        attempted.append(request)
        raise AssertionError(f"a request left the process: {request.url}")

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", refuse_async)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)
    return attempted


def test_the_scenarios_are_well_formed() -> None:
    names = [scenario.name for scenario in SCENARIOS]
    assert len(names) == len(set(names))
    assert {scenario.kind for scenario in SCENARIOS} == set(KINDS)
    for scenario in SCENARIOS:
        assert scenario.title and "\n" not in scenario.title
        assert set(scenario.members.values()) <= set(ROLES)
        times = [step.t for step in scenario.steps]
        assert times == sorted(times)
        for step in scenario.steps:
            assert step.expect in EXPECTATIONS
            assert step.join or step.sender in scenario.members


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
async def test_each_scenario_does_what_it_declares(
    scenario: Scenario, _no_network: list[httpx.Request]
) -> None:
    (played,) = await play_scenarios([scenario], create_app)
    assert played.passed, [(m.step, m.outcome, m.verdict) for m in played.mismatches]
    assert _no_network == []
    for step in played.steps:
        in_group = [p for p in step.posted if p.where == "group"]
        if step.step.expect == "act":
            assert in_group, f"{step.step.text}: nothing posted in the group"
            assert any(p.where == "moderators" for p in step.posted) or step.why
        if step.step.expect == "ok" and not step.step.text.startswith("/"):
            assert in_group == [], f"{step.step.text}: the bot posted {in_group}"


async def test_the_disguised_phone_ad_is_warned_and_the_birthday_wave_is_not() -> None:
    ad, birthday = await play_scenarios([named("phone-ad"), named("birthday-wave")], create_app)
    warned = [p.text for step in ad.steps for p in step.posted if p.where == "group"]
    assert len(warned) == 1 and warned[0].startswith("⚠️ @wangjl")
    assert "广告引流（手机号）" in warned[0]
    assert all(step.verdict in ("", "none", "log", "exempt") for step in birthday.steps)
    assert not [p for step in birthday.steps for p in step.posted]


async def test_the_joins_are_welcomed_once_with_the_rules() -> None:
    (played,) = await play_scenarios([named("welcome")], create_app)
    (welcome,) = [p for p in played.later if p.where == "wecom"]
    assert "小美、阿杰、Lily" in welcome.text and "禁止广告引流" in welcome.text
    assert [p.where for p in played.setup] == ["template", "owner"]


def test_demo_prints_the_transcript_on_a_throwaway_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    operator_db = tmp_path / "operator.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator_db}")
    # nothing else of the operator's environment reaches the sandbox's service either (as
    # staff, wangjl would be exempt and not warned)
    monkeypatch.setenv("WECOM_API_BASE", "https://qyapi.weixin.qq.com")
    monkeypatch.setenv("WECOM_STAFF_USERIDS", "wangjl")
    assert main(["demo", "phone-ad"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "临时 SQLite 数据库" in out[0] and "DATABASE_URL" in out[0]
    text = "\n".join(out)
    assert "+15s 王经理（新人）：急用钱的朋友看过来" in text
    assert "→ 判定：警告" in text and "· 广告引流（手机号）：" in text
    assert "群内（智能机器人回复）：⚠️ @wangjl" in text
    assert "管理员提醒（应用消息 → mod-alice、sandbox-admin）：" in text
    assert "**【wecom-mod】违规消息提醒**" in text
    assert out[-1] == "共 1 个场景，1 个符合预期。"
    assert not operator_db.exists()  # the operator's database is never touched
    assert SANDBOX_API_BASE.endswith(".invalid")


def test_demo_list_names_every_scenario_with_a_chinese_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [s.name for s in SCENARIOS]
    assert all(line.split("\t")[2] for line in lines)


def test_an_unknown_scenario_exits_2_naming_the_scenarios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "no-such"]) == 2
    err = capsys.readouterr().err
    assert "no-such" in err and all(s.name in err for s in SCENARIOS)


def test_the_transcript_texts_follow_messages_path(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps({"demo.list": "$name: $title"}), encoding="utf-8")
    monkeypatch.setenv("MESSAGES_PATH", str(messages))
    assert main(["demo", "--list"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"phone-ad: {SCENARIOS[0].title}"
