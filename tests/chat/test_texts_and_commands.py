"""Bot texts (Chinese defaults, overridable) and the command registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.chat.commands import build_registry
from app.chat.registry import CommandContext, Role, parse_command
from app.settings import SettingsError
from app.texts import DEFAULT_TEXTS, load_texts
from moderation import GroupPolicy, SensitiveWordMatcher
from moderation.flood import FLOOD_RULES
from moderation.lexicon import Category
from moderation.matcher import Route
from moderation.promo import PROMO_RULES
from tests import support
from tests.conftest import make_settings, start_service


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("/help", "help", ""),
        ("  /HELP  ", "help", ""),
        ("@审核助手 /help", "help", ""),
        ("@审核助手 @张三 /warn @李四 刷屏", "warn", "@李四 刷屏"),
        ("/words add 赌博", "words", "add 赌博"),
    ],
)
def test_parse_command(text: str, name: str, args: str) -> None:
    invocation = parse_command(text)
    assert invocation is not None
    assert (invocation.name, invocation.args) == (name, args)


@pytest.mark.parametrize("text", ["help", "@审核助手 你好", "/", "", "请看 /help", "@审核助手"])
def test_not_a_command(text: str) -> None:
    assert parse_command(text) is None


def _context(sender: str) -> CommandContext:
    """A 1:1-chat context with no group (these commands touch no database)."""
    return CommandContext(
        sender=sender,
        texts=load_texts(None),
        session=None,  # type: ignore[arg-type]
        now=datetime(2026, 1, 1, tzinfo=UTC),
        group=None,
        moderators=("mod-alice",),
        policy_for=lambda _group: GroupPolicy(),
        matcher=SensitiveWordMatcher([]),
        warning_channel=lambda _group, _url, _text: ("aibot_reply", {}, "none"),
    )


async def test_help_lists_commands_from_the_registry() -> None:
    registry = build_registry()
    reply = (await registry.run(parse_command("/help"), _context("u"))).text  # type: ignore[arg-type]
    assert reply.splitlines()[0] == DEFAULT_TEXTS["command.help_header"]
    assert "/help — 列出你可以使用的命令" in reply
    assert "/warn" not in reply  # not for someone who is no moderator
    admin = (await registry.run(parse_command("/help"), _context("mod-alice"))).text  # type: ignore[arg-type]
    assert "/words add 敏感词 [类别] [级别] — 添加敏感词" in admin


async def test_moderator_only_command_is_refused_politely() -> None:
    registry = build_registry()

    @registry.command("secret", role=Role.MODERATOR)
    async def secret(_call) -> str:  # type: ignore[no-untyped-def]
        return "done"

    invocation = parse_command("/secret")
    assert (await registry.run(invocation, _context("mod-alice"))).text == "done"  # type: ignore[arg-type]
    refusal = (await registry.run(invocation, _context("u"))).text  # type: ignore[arg-type]
    assert refusal.startswith("抱歉，/secret 仅限管理员使用。")


def test_every_registered_command_has_a_help_and_a_usage_text() -> None:
    for spec in build_registry().visible_to(Role.ADMIN):
        assert f"help./{spec.name}" in DEFAULT_TEXTS
        assert DEFAULT_TEXTS[f"usage./{spec.name}"].startswith(f"/{spec.name}")


def test_every_route_rule_and_category_has_a_text() -> None:
    """A finding's explanation names its routes and rules: a route without a text made the
    warning's rendering raise, and the message was never judged."""
    keys = [f"route.{route.value}" for route in Route]
    keys += [f"rule.{rule}" for rule in (*PROMO_RULES, *FLOOD_RULES)]
    keys += [f"category.{category.value}" for category in Category]
    assert [key for key in keys if key not in DEFAULT_TEXTS] == []


def test_overridden_texts_are_used(tmp_path: Path) -> None:
    path = tmp_path / "texts.json"
    path.write_text(json.dumps({"warning": "Hi $sender, rule: $rule"}), encoding="utf-8")
    texts = load_texts(path)
    assert texts.render("warning", sender="a", rule="b") == "Hi a, rule: b"
    assert texts["alert"] == DEFAULT_TEXTS["alert"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"warnin": "x"}', "unknown text 'warnin'"),
        (
            '{"warning": "$nobody"}',
            "uses unknown placeholder $nobody (allowed: detail, how, rule, sender,",
        ),
        ('{"warning": "cost 5$"}', "a '$' not followed by a name"),
        ('["x"]', "must be a JSON object"),
        ("{oops", "not a UTF-8 JSON file"),
    ],
)
def test_bad_texts_file_stops_start_up(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "texts.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError, match="MESSAGES_PATH") as caught:
        load_texts(path)
    assert message in str(caught.value)


async def test_configured_warning_text_reaches_the_group(tmp_path: Path) -> None:
    from app import migrate
    from app.db import database_urls

    url = f"sqlite:///{tmp_path / 't.db'}"
    migrate.upgrade(database_urls(url))
    texts = tmp_path / "texts.json"
    texts.write_text(
        json.dumps({"warning": "Please, $sender: no $rule ($word)."}), encoding="utf-8"
    )
    settings = make_settings(url, tmp_path, messages_path=str(texts))
    async for service in start_service(settings, support.FakeWeCom()):
        await service.post_aibot(support.aibot_group_text("赌博"))
        await service.settle()
        (warning,) = service.wecom.bodies("/cgi-bin/aibot/response")
        assert warning["markdown"]["content"] == "Please, zhangsan: no 赌博 (赌*)."
