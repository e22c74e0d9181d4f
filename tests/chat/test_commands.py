"""Slash-commands from the user's side: encrypted smart-bot @-mentions in a group and messages
to the app in its 1:1 chat in, the calls to (fake) WeCom out (aibot/response, message/send,
appchat/send, appchat/update), and what the REST API then shows (logs, strikes, audit, groups).
Plus tables for the parsing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from app.chat.registry import (
    Role,
    blank_bot_mentions,
    looks_like_userid,
    parse_command,
    role_of,
    split_first,
)
from app.models import Group, GroupMember, MemberReport, OutboxAction
from bot.client import truncate_utf8
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgAAAAchat1"
OTHER = "wrOgAAAAchat2"
ADMIN = "mod-alice"  # in WECOM_ADMIN_USERIDS
OWNER = "owner-wang"  # the group's owner
GROUP_MOD = "helper-zhao"  # one of the group's own moderators
MEMBER = "lisi"
REFUSED = "抱歉，/{name} 仅限管理员使用。"


# -- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("/warn @lisi 刷屏", "warn", "@lisi 刷屏"),
        ("@审核助手 /Strikes @李四", "strikes", "@李四"),
        ("＠审核助手 ／help", "help", ""),  # full-width @ and slash
        ("/rules set 1. 友善交流\n2. 不发广告", "rules", "set 1. 友善交流\n2. 不发广告"),
        ("/rules\nset 群规", "rules", "set 群规"),
        ("/strikes #wrOgAAAAchat1 @lisi", "strikes", "#wrOgAAAAchat1 @lisi"),
        ("/report　@lisi　发广告", "report", "@lisi　发广告"),  # ideographic spaces
        ("/words test 今晚一起du博", "words", "test 今晚一起du博"),
    ],
)
def test_parse_command_table(text: str, name: str, args: str) -> None:
    invocation = parse_command(text)
    assert invocation is not None
    assert (invocation.name, invocation.args) == (name, args)


@pytest.mark.parametrize("text", ["//help", "／", "@a @b", "你好 /help", "http://x.cn/a"])
def test_not_commands_table(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize(
    ("text", "first", "rest"),
    [
        ("@lisi 刷屏 太多", "@lisi", "刷屏 太多"),
        ("  set\n1. 友善\n2. 不刷屏 ", "set", "1. 友善\n2. 不刷屏"),
        ("", "", ""),
        ("   ", "", ""),
        ("#wrOg @lisi", "#wrOg", "@lisi"),
    ],
)
def test_split_first_table(text: str, first: str, rest: str) -> None:
    assert split_first(text) == (first, rest)


@pytest.mark.parametrize(
    ("token", "userid"),
    [
        ("lisi", True),
        ("zhang.san-01", True),
        ("wmAbC123", True),
        ("李四", False),
        ("_x", False),
        ("a" * 65, False),
        ("li si", False),
    ],
)
def test_looks_like_userid_table(token: str, userid: bool) -> None:
    assert looks_like_userid(token) is userid


@pytest.mark.parametrize(
    ("text", "limit", "cut"),
    [
        ("群规", 6, "群规"),
        ("群规内容", 9, "群规…"),  # 3 bytes a character, the … too
        ("abcde", 4, "a…"),
        ("a字字", 5, "a…"),  # a character is never split
    ],
)
def test_cut_reply_table(text: str, limit: int, cut: str) -> None:
    assert truncate_utf8(text, limit) == cut


def _group(owner: str = "", moderators: list[str] | None = None) -> Group:
    return Group(chat_id=CHAT, owner=owner, moderators=moderators or [])


@pytest.mark.parametrize(
    ("sender", "group", "role"),
    [
        (ADMIN, None, Role.ADMIN),
        (ADMIN, _group(), Role.ADMIN),
        (OWNER, _group(owner=OWNER), Role.MODERATOR),
        (GROUP_MOD, _group(moderators=[GROUP_MOD]), Role.MODERATOR),
        (OWNER, None, Role.ANYONE),  # without a group only admins rank above anyone
        (MEMBER, _group(owner=OWNER, moderators=[GROUP_MOD]), Role.ANYONE),
        ("", _group(), Role.ANYONE),  # no owner known: "" is nobody
    ],
)
def test_role_of_table(sender: str, group: Group | None, role: Role) -> None:
    assert role_of(sender, group, (ADMIN, "mod-bob")) is role


# -- the running service -----------------------------------------------------------------


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    settings = make_settings(database_url, tmp_path, policy_path=str(policy), secret_key="k" * 43)
    async for running in start_service(settings, support.FakeWeCom()):
        yield running


class Chat:
    """Sends commands the way WeCom delivers them and reads the replies the service made."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.sent = 0

    def _id(self) -> str:
        self.sent += 1
        return f"cmd-{self.sent:04d}"

    async def group(self, text: str, sender: str = ADMIN, chat: str = CHAT) -> str:
        """@-mention the smart bot in a group; the bot's reply there."""
        before = len(self.group_replies())
        await self.service.post_aibot(
            support.aibot_group_text(text, msgid=self._id(), sender=sender, chat_id=chat)
        )
        await self.service.settle()
        replies = self.group_replies()
        assert len(replies) == before + 1, f"no reply to {text!r}"
        return replies[-1]

    async def direct(self, text: str, sender: str = ADMIN) -> str:
        """Write to the app in its 1:1 chat; the app's answer."""
        before = len(self.app_messages(sender))
        msg_id = str(7_000_000_000_000_000 + self.sent)
        self._id()
        await self.service.post_app(support.app_text(text, msg_id=msg_id, sender=sender))
        await self.service.settle()
        answers = self.app_messages(sender)
        assert len(answers) == before + 1, f"no answer to {text!r}"
        return answers[-1]

    def group_replies(self) -> list[str]:
        return [
            body["markdown"]["content"]
            for body in self.service.wecom.bodies("/cgi-bin/aibot/response")
        ]

    def app_messages(self, user: str) -> list[str]:
        """Text answers to `user` in the app chat."""
        return [
            body["text"]["content"]
            for body in self.service.wecom.bodies("/cgi-bin/message/send")
            if body["touser"] == user and body["msgtype"] == "text"
        ]

    def alerts(self) -> list[dict[str, Any]]:
        return [
            body
            for body in self.service.wecom.bodies("/cgi-bin/message/send")
            if body["msgtype"] == "markdown"
        ]


@pytest.fixture
async def chat(service: Service) -> Chat:
    """A known group (CHAT) with an owner, a group moderator and named members."""
    talk = Chat(service)
    await talk.group("/help", sender=MEMBER)  # the group is now known
    await talk.group("/help", sender=MEMBER, chat=OTHER)
    now = datetime.now(UTC)
    async with service.runtime.sessions() as session, session.begin():
        await session.execute(
            update(Group)
            .where(Group.chat_id == CHAT)
            .values(name="产品交流群", owner=OWNER, moderators=[GROUP_MOD])
        )
        for user_id, name in [
            (MEMBER, "李四"),
            ("wangwu1", "王五"),
            ("wangwu2", "王五"),
            ("zhangsan", "张三"),
        ]:
            session.add(GroupMember(chat_id=CHAT, user_id=user_id, name=name, first_seen_at=now))
    return talk


async def audit(service: Service, **params: Any) -> list[dict[str, Any]]:
    response = await service.api("/api/v1/audit", channel="chat", **params)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def standing(service: Service, user: str, chat_id: str = CHAT) -> int:
    body = (await service.api(f"/api/v1/groups/{chat_id}/members/{user}/strikes")).json()
    return int(body["standing"])


# -- who may run what --------------------------------------------------------------------

MODERATOR_COMMANDS = [
    ("/rules set 不许吵架", "rules set"),
    ("/warn @lisi 刷屏", "warn"),
    ("/pardon @lisi", "pardon"),
    ("/strikes @lisi", "strikes"),
    ("/kick @lisi", "kick"),
    ("/mode shadow", "mode"),
    ("/stats", "stats"),
    ("/words add 菠萝蜜", "words add"),
    ("/words del 赌博", "words del"),
    ("/words test 赌博", "words test"),
    ("/allow add 赌博游戏", "allow add"),
    ("/allow del 赌博游戏", "allow del"),
]


@pytest.mark.parametrize(("text", "name"), MODERATOR_COMMANDS)
async def test_a_member_who_is_no_moderator_is_refused_politely(
    service: Service, chat: Chat, text: str, name: str
) -> None:
    assert await chat.group(text, sender="zhangsan") == REFUSED.format(name=name)
    assert await audit(service) == []
    assert service.wecom.calls("/cgi-bin/appchat/update") == []


async def test_help_lists_what_the_caller_may_run(chat: Chat) -> None:
    member = await chat.group("/help", sender=MEMBER)
    assert "/rules — 查看本群群规" in member
    assert "/report [@成员] [原因]" in member
    assert "/warn" not in member and "/words" not in member
    for moderator in (OWNER, GROUP_MOD, ADMIN):
        shown = await chat.group("/help", sender=moderator)
        assert "/warn @成员 [原因] — 在群里警告成员，并记一次违规" in shown
        assert "/words add 敏感词 [类别] [级别]" in shown
        assert "#群ID" not in shown  # in the group, the group is the chat
    direct = await chat.direct("/help", sender=OWNER)  # no group named: only anyone's commands
    assert "/warn" not in direct and "/rules" in direct
    assert "#群ID" in direct
    assert "/warn @成员" in await chat.direct(f"/help #{CHAT}", sender=OWNER)


async def test_unknown_commands_and_subcommands(chat: Chat) -> None:
    assert await chat.group("/frobnicate") == "未知命令 /frobnicate。发送 /help 查看可用命令。"
    listing = await chat.group("/words")
    assert listing.splitlines() == [
        "/words 的用法：",
        "/words add 敏感词 [类别] [级别]",
        "/words del 敏感词",
        "/words test 文字",
    ]
    assert (await chat.group("/words frob")).startswith("/words 的用法：")
    assert await chat.group("/words", sender="zhangsan") == REFUSED.format(name="words")
    assert await chat.direct("你好") == "你好！我是群管理助手。发送 /help 查看可用命令。"


# -- rules -------------------------------------------------------------------------------


async def test_rules_default_set_and_shown(service: Service, chat: Chat) -> None:
    shown = await chat.group("/rules", sender=MEMBER)
    assert shown.startswith("📋 产品交流群（wrOgAAAAchat1） 群规：\n1. 友善交流")
    rules = "1. 友善交流\n2. 不发广告"
    assert await chat.group(f"/rules set {rules}", sender=OWNER) == (
        "已更新 产品交流群（wrOgAAAAchat1） 的群规（15 字）。成员发送 /rules 即可查看。"
    )
    assert (await chat.group("/rules", sender=MEMBER)).endswith("群规：\n" + rules)
    group = (await service.api(f"/api/v1/groups/{CHAT}")).json()
    assert group["rules_text"] == rules
    (entry,) = await audit(service)
    assert entry["actor"] == OWNER and entry["action"] == "group.update"
    assert entry["target"] == f"group:{CHAT}"
    assert entry["details"]["changes"]["rules_text"]["to"] == rules

    too_long = await chat.group("/rules set " + "字" * 2001, sender=OWNER)
    assert too_long == "群规最多 2000 字，这次有 2001 字。"
    assert await chat.group("/rules set", sender=OWNER) == (
        "请在 /rules set 后写上群规内容。\n用法：/rules set 群规内容"
    )
    assert len(await audit(service)) == 1

    await chat.group("/rules set " + "字" * 2000, sender=OWNER)
    direct = await chat.direct(f"/rules #{CHAT}", sender=MEMBER)  # an app text: ≤ 2048 bytes
    assert len(direct.encode()) <= 2048 and direct.endswith("字…")
    assert (await chat.group("/rules", sender=MEMBER)).endswith("字" * 2000)


# -- warn, strikes, pardon ---------------------------------------------------------------


async def test_warn_in_the_group_posts_the_warning_and_counts_a_strike(
    service: Service, chat: Chat
) -> None:
    warning = await chat.group("/warn @李四 发广告", sender=GROUP_MOD)
    assert warning == (
        "⚠️ @李四 管理员提醒：发广告。请遵守群规，这是你在本群的第 1 次违规记录，"
        "多次违规将被移出本群。"
    )
    assert await standing(service, MEMBER) == 1
    (row,) = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert (row["source"], row["decision"], row["user_id"], row["step"]) == (
        "command",
        "warn",
        MEMBER,
        "warning",
    )
    (signal,) = row["signals"]
    assert (signal["detector"], signal["rule"], signal["summary"]) == (
        "moderator",
        "manual",
        "发广告",
    )
    assert [action["kind"] for action in row["actions"]] == ["aibot_reply"]
    (entry,) = await audit(service, action="member.warn")
    assert entry["actor"] == GROUP_MOD and entry["target"] == f"member:{CHAT}/{MEMBER}"

    second = await chat.group("/warn lisi", sender=ADMIN)  # bare userid, default reason
    assert "管理员提醒：违反群规" in second and "第 2 次" in second

    assert await chat.group("/warn @张三", sender=OWNER) != ""
    protected = await chat.group("/warn @helper-zhao 刷屏", sender=OWNER)
    assert protected == "helper-zhao 是本群的管理员或群主，不能对其使用 /warn。"
    assert await chat.group("/warn", sender=OWNER) == (
        "请指定成员：@userid 或 @群昵称。\n用法：/warn @成员 [原因]"
    )


async def test_strikes_and_pardon(service: Service, chat: Chat) -> None:
    assert await chat.group("/strikes @lisi", sender=OWNER) == (
        "lisi 在 产品交流群（wrOgAAAAchat1） 没有违规记录。"
    )
    await chat.group("/warn @lisi 刷屏", sender=OWNER)
    listing = await chat.group("/strikes @李四", sender=OWNER)
    assert listing.startswith("lisi 在 产品交流群（wrOgAAAAchat1） 的有效违规：1 次（近 30 天")
    assert "管理员手动警告" in listing

    assert await chat.group("/pardon @李四 误会", sender=OWNER) == (
        "已清除 lisi 在 产品交流群（wrOgAAAAchat1） 的 1 次违规记录。"
    )
    assert await standing(service, MEMBER) == 0
    assert "管理员手动警告（已清除）" in await chat.group("/strikes lisi", sender=OWNER)
    assert await chat.group("/pardon @lisi", sender=OWNER) == (
        "lisi 在 产品交流群（wrOgAAAAchat1） 没有需要清除的违规记录。"
    )
    (entry,) = await audit(service, action="member.pardon")
    assert entry["details"] == {"pardoned": 1, "note": "误会"}
    strikes = (await service.api(f"/api/v1/groups/{CHAT}/members/{MEMBER}/strikes")).json()
    assert strikes["strikes"][0]["pardoned_by"] == OWNER


async def test_pardon_from_the_alert_undo_text_works(service: Service, chat: Chat) -> None:
    await chat.group("一起去赌博吧", sender=MEMBER)  # block tier: a warning and an alert
    (alert,) = chat.alerts()
    content = alert["markdown"]["content"]
    assert "在群里 @机器人 发送 /pardon @lisi" in content
    assert f"在应用单聊中发送 /pardon #{CHAT} lisi" in content
    assert f"POST /api/v1/groups/{CHAT}/members/lisi/pardon" in content
    assert await standing(service, MEMBER) == 1
    answer = await chat.direct(f"/pardon #{CHAT} lisi", sender="mod-bob")
    assert answer == "已清除 lisi 在 产品交流群（wrOgAAAAchat1） 的 1 次违规记录。"
    assert await standing(service, MEMBER) == 0


# -- the app's 1:1 chat and #group ---------------------------------------------------------


async def test_direct_commands_name_the_group(service: Service, chat: Chat) -> None:
    needs = await chat.direct("/strikes @lisi")
    assert needs.startswith("/strikes 需要指定群")
    assert needs.endswith("用法：/strikes @成员")
    assert (await chat.direct(f"/strikes #{CHAT} @李四")).startswith("lisi 在 产品交流群")
    by_name = await chat.direct("/strikes #产品交流群 lisi", sender=OWNER)
    assert by_name.startswith("lisi 在 产品交流群")
    assert await chat.direct("/strikes #不存在的群 lisi") == (
        "找不到群 #不存在的群。请使用群 ID（chat_id），或唯一的群名。"
    )
    async with service.runtime.sessions() as session, session.begin():
        await session.execute(update(Group).where(Group.chat_id == OTHER).values(name="产品交流群"))
    assert await chat.direct("/strikes #产品交流群 lisi") == (
        f"有多个群叫「产品交流群」，请改用群 ID：#{CHAT}、#{OTHER}"
    )
    # The owner of CHAT is nobody in OTHER; in 1:1 without a group, only anyone.
    assert (await chat.direct(f"/strikes #{OTHER} lisi", sender=OWNER)) == REFUSED.format(
        name="strikes"
    )
    refused = await chat.direct("/words add 菠萝蜜", sender=OWNER)
    assert refused.startswith(REFUSED.format(name="words add")) and "#群ID" in refused
    assert (await chat.direct(f"/rules #{CHAT}", sender="anyone")).startswith("📋 产品交流群")
    # In a group only that group.
    assert await chat.group(f"/strikes #{OTHER} lisi") == (
        "在群里只能管理本群；管理其他群请在应用单聊中发送命令。"
    )
    assert (await chat.group(f"/strikes #{CHAT} lisi")).startswith("lisi 在 产品交流群")


async def test_warn_from_the_app_chat_goes_through_the_group_channel(
    service: Service, chat: Chat
) -> None:
    answer = await chat.direct(f"/warn #{CHAT} lisi 刷屏")
    assert answer == (
        "已警告 lisi（产品交流群（wrOgAAAAchat1）），这是其第 1 次有效违规记录。"
        "但本应用在该群没有发言通道，警告无法发到群里，请人工提醒。"
    )
    assert await standing(service, MEMBER) == 1
    (row,) = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert [(a["kind"], a["status"]) for a in row["actions"]] == [("aibot_reply", "skipped")]

    async with service.runtime.sessions() as session, session.begin():
        await session.execute(update(Group).where(Group.chat_id == CHAT).values(kind="app_created"))
    answer = await chat.direct(f"/warn #{CHAT} @李四 又刷屏")
    assert answer.endswith("这是其第 2 次有效违规记录。警告将发到群里。")
    (posted,) = service.wecom.bodies("/cgi-bin/appchat/send")
    assert posted["chatid"] == CHAT
    assert posted["text"]["content"].startswith("⚠️ @李四 管理员提醒：又刷屏。")

    # An internal group with a webhook robot: the warning goes through it, mentioning the member.
    async with service.runtime.sessions() as session, session.begin():
        await session.execute(update(Group).where(Group.chat_id == CHAT).values(kind="internal"))
    patched = await service.http.patch(
        f"/api/v1/groups/{CHAT}",
        json={"webhook_key": "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"},
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert patched.status_code == 200, patched.text
    answer = await chat.direct(f"/warn #{CHAT} lisi 第三次")
    assert answer.endswith("这是其第 3 次有效违规记录。警告将发到群里。")
    (robot,) = service.wecom.bodies("/cgi-bin/webhook/send")
    assert robot["text"]["mentioned_list"] == [MEMBER]
    assert "第三次" in robot["text"]["content"]


# -- member names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "reply"),
    [
        ("@李四", "lisi 在 产品交流群（wrOgAAAAchat1） 没有违规记录。"),
        ("@lisi", "lisi 在 产品交流群（wrOgAAAAchat1） 没有违规记录。"),
        ("张三", "zhangsan 在 产品交流群（wrOgAAAAchat1） 没有违规记录。"),
        ("@newcomer", "newcomer 在 产品交流群（wrOgAAAAchat1） 没有违规记录。"),
        (
            "@王五",
            "本群有多名成员叫「王五」：wangwu1、wangwu2。请改用 userid，例如 @wangwu1。",
        ),
        ("@赵六", "本群中找不到「赵六」。请改用成员的 userid，例如 @zhangsan。"),
        ("@", "请指定成员：@userid 或 @群昵称。\n用法：/strikes @成员"),
    ],
)
async def test_members_are_named_by_userid_or_display_name(
    chat: Chat, token: str, reply: str
) -> None:
    assert await chat.group(f"/strikes {token}", sender=OWNER) == reply


# -- the lexicon -------------------------------------------------------------------------


async def test_words_added_in_a_group_are_live_for_that_group_only(
    service: Service, chat: Chat
) -> None:
    added = await chat.group("/words add 菠萝蜜 ads block", sender=OWNER)
    assert (
        added
        == "已添加敏感词「菠萝蜜」（广告引流，拦截级），仅对 产品交流群（wrOgAAAAchat1） 生效。"
    )
    assert "已在词库中" in await chat.group("/words add 菠萝蜜 广告引流 拦截", sender=OWNER)
    (entry,) = await audit(service, action="lexicon.words.add")
    assert entry["actor"] == OWNER
    assert entry["details"]["entries"][0] == {
        "id": entry["details"]["entries"][0]["id"],
        "entry": "菠萝蜜",
        "scope": CHAT,
        "outcome": "added",
    }

    before = len(chat.group_replies())
    await service.post_aibot(support.aibot_group_text("便宜菠萝蜜要吗", msgid="w-1", sender=MEMBER))
    await service.post_aibot(
        support.aibot_group_text("便宜菠萝蜜要吗", msgid="w-2", sender=MEMBER, chat_id=OTHER)
    )
    await service.settle()
    replies = chat.group_replies()[before:]
    assert len(replies) == 1 and "广告引流" in replies[0]  # CHAT only
    logs = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert [log["chat_id"] for log in logs if log["source"] == "aibot"] == [CHAT]

    tested = await chat.group("/words test 便宜菠萝蜜", sender=GROUP_MOD)
    assert tested.startswith("命中 1 处（按仅对 产品交流群（wrOgAAAAchat1） 生效的词库）")
    assert "广告引流（拦截级）" in tested
    assert (await chat.group("/words test 菠萝蜜", chat=OTHER)).startswith("未命中敏感词")

    assert await chat.group("/words del 菠萝蜜", sender=OWNER) == (
        "已删除敏感词「菠萝蜜」（原先仅对 产品交流群（wrOgAAAAchat1） 生效）。"
    )
    assert await chat.group("/words del 菠萝蜜", sender=OWNER) == (
        "词库中没有「菠萝蜜」（仅对 产品交流群（wrOgAAAAchat1） 生效 的部分）。"
    )
    (deleted,) = await audit(service, action="lexicon.words.delete")
    assert deleted["details"]["scope"] == CHAT
    assert (await chat.group("/words test 便宜菠萝蜜", sender=OWNER)).startswith("未命中")


async def test_company_wide_words_from_the_app_chat_are_for_admins(
    service: Service, chat: Chat
) -> None:
    added = await chat.direct("/words add 榴莲 gambling block")
    assert added == "已添加敏感词「榴莲」（赌博，拦截级），对所有群生效。"
    assert (await chat.group("/words test 榴莲", chat=OTHER)).startswith("命中 1 处")
    assert await chat.group("/words del 榴莲", sender=OWNER) == (
        "「榴莲」属于全公司的词库，只有管理员能在应用单聊中（不指定群）删除。"
    )
    assert await chat.direct("/words add 榴莲 水果 2") == (
        "已将敏感词「榴莲」改为 水果，复核级，对所有群生效。"  # a label of its own, as itself
    )
    assert await chat.direct("/words add 榴莲 3") == (
        "已将敏感词「榴莲」改为 自定义敏感词，拦截级，对所有群生效。"  # word 1–3: a severity
    )
    assert (await chat.direct("/words add 榴莲 12")).startswith(
        "不能用「12」作类别：category '12' is a number"
    )
    assert (await chat.direct("/words add 榴莲 ads 很严重")).startswith(
        "未知级别「很严重」，可选：block（拦截级）、review（复核级）、log（记录级）、3（拦截级）"
    )
    bad = await chat.direct("/words add #榴莲")  # `#group` comes before the subcommand
    assert bad.startswith("无法处理：word '#榴莲' starts with '#'")
    assert bad.endswith("用法：/words add 敏感词 [类别] [级别]")
    assert (await chat.direct("/words #榴莲 add 榴莲")).startswith("找不到群 #榴莲")
    assert (await chat.direct("/words add a b c d")).startswith("用法：/words add")
    assert await chat.direct("/words del 榴莲") == "已删除敏感词「榴莲」（原先对所有群生效）。"
    actions = [entry["action"] for entry in await audit(service)]
    assert actions == ["lexicon.words.delete", *["lexicon.words.add"] * 3]


async def test_allow_phrases_from_a_group(service: Service, chat: Chat) -> None:
    assert await chat.group("/allow add 反赌博宣传", sender=OWNER) == (
        "已添加放行短语「反赌博宣传」，仅对 产品交流群（wrOgAAAAchat1） 生效。"
    )
    assert (await chat.group("/words test 参加反赌博宣传活动", sender=OWNER)).startswith("未命中")
    assert (await chat.group("/words test 参加反赌博宣传活动", chat=OTHER)).startswith("命中 1 处")
    assert "已存在" in await chat.group("/allow add 反赌博宣传", sender=OWNER)
    assert await chat.group("/allow del 反赌博宣传", sender=OWNER) == (
        "已删除放行短语「反赌博宣传」（原先仅对 产品交流群（wrOgAAAAchat1） 生效）。"
    )
    assert (await chat.group("/allow del 反赌博宣传", sender=OWNER)).startswith("放行名单中没有")
    assert [entry["action"] for entry in await audit(service)] == [
        "lexicon.allow.delete",
        "lexicon.allow.add",
    ]


# -- mode, stats, kick -------------------------------------------------------------------


async def test_mode_switches_the_groups_policy(service: Service, chat: Chat) -> None:
    assert await chat.group("/mode", sender=OWNER) == (
        "产品交流群（wrOgAAAAchat1） 当前的审核模式：enforce（执行：警告、提醒管理员、移出）。"
    )
    assert (await chat.group("/mode shadow", sender=OWNER)).startswith(
        "产品交流群（wrOgAAAAchat1） 的审核模式已设为：shadow"
    )
    group = (await service.api(f"/api/v1/groups/{CHAT}")).json()
    assert (group["mode"], group["policy"]) == ("shadow", {"mode": "shadow"})
    before = len(chat.group_replies())
    await service.post_aibot(support.aibot_group_text("一起去赌博吧", msgid="s-1", sender=MEMBER))
    await service.settle()
    assert len(chat.group_replies()) == before  # shadow: nothing posted
    (entry,) = await audit(service)
    assert entry["details"]["changes"]["policy"] == {"from": {}, "to": {"mode": "shadow"}}
    bad = await chat.group("/mode loud", sender=OWNER)
    assert bad.startswith("未知模式「loud」，可选：enforce")
    assert bad.endswith("用法：/mode [enforce|shadow|off]")


async def test_stats_for_a_group_and_overall(service: Service, chat: Chat) -> None:
    await chat.group("/warn @lisi 刷屏", sender=OWNER)
    shown = await chat.group("/stats", sender=OWNER)
    assert shown.startswith("📊 产品交流群（wrOgAAAAchat1） 近 7 天的审核统计")
    assert "判定违规：1 次（警告 1，移出 0，提醒管理员 0；其中影子模式 0）" in shown
    assert "主要规则：管理员手动警告 ×1" in shown and "违规最多：lisi ×1" in shown
    assert (await chat.group("/stats 0", sender=OWNER)).startswith("天数应为 1 到 365 的整数。")
    overall = await chat.direct("/stats 30")
    assert overall.startswith("📊 全部群 近 30 天的审核统计")
    assert f"lisi（{CHAT}）×1" in overall
    assert (await chat.direct("/stats", sender=OWNER)).startswith(REFUSED.format(name="stats"))


async def test_kick_removes_only_where_wecom_allows_it(service: Service, chat: Chat) -> None:
    told = await chat.group("/kick @李四 屡次发广告", sender=OWNER)
    assert told.startswith("企业微信不允许本应用移出 产品交流群（wrOgAAAAchat1） 的成员")
    assert told.endswith("移出 lisi。")
    assert service.wecom.calls("/cgi-bin/appchat/update") == []
    assert await audit(service) == []
    assert (await chat.group("/kick @owner-wang", sender=GROUP_MOD)).endswith(
        "不能对其使用 /kick。"
    )

    async with service.runtime.sessions() as session, session.begin():
        await session.execute(update(Group).where(Group.chat_id == CHAT).values(kind="app_created"))
    assert await chat.group("/kick @李四 屡次发广告", sender=OWNER) == (
        "已请求将 lisi 移出 产品交流群（wrOgAAAAchat1）。"
    )
    (removal,) = service.wecom.bodies("/cgi-bin/appchat/update")
    assert removal == {"chatid": CHAT, "del_user_list": [MEMBER]}
    (entry,) = await audit(service, action="member.kick")
    assert entry["details"] == {"reason": "屡次发广告"} and entry["actor"] == OWNER


# -- reports -----------------------------------------------------------------------------


async def test_reports_alert_the_moderators_once_per_wave(service: Service, chat: Chat) -> None:
    thanks = "感谢你的举报，管理员会尽快核实处理。"
    assert await chat.group("/report @李四 发赌博广告", sender="zhangsan") == thanks
    assert await chat.group("/report lisi 私加好友", sender="wangwu1") == thanks
    assert await chat.group("/report @李四 又来了", sender="zhangsan") == thanks  # same reporter
    assert chat.alerts() == []
    assert await chat.direct(f"/report #{CHAT} @lisi 拉人赌博", sender="wangwu2") == thanks
    (alert,) = chat.alerts()
    assert set(alert["touser"].split("|")) == {"mod-alice", "mod-bob", OWNER, GROUP_MOD}
    content = alert["markdown"]["content"]
    assert "被举报：lisi" in content and "24 小时内举报人数：3" in content
    assert "发赌博广告" in content and "拉人赌博" in content

    (row,) = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert (row["source"], row["decision"], row["user_id"]) == ("report", "alert", MEMBER)
    (signal,) = row["signals"]
    assert signal["detector"] == "report" and signal["facts"]["reporters"] == [
        "zhangsan",
        "wangwu1",
        "wangwu2",
    ]
    assert [action["kind"] for action in row["actions"]] == ["app_message"]

    # More reports in the same wave: no second alert until as many new reporters again.
    assert await chat.group("/report @lisi", sender="newbie") == thanks
    assert len(chat.alerts()) == 1
    async with service.runtime.sessions() as session:
        reports = (await session.execute(select(MemberReport))).scalars().all()
        outbox = (await session.execute(select(OutboxAction))).scalars().all()
    assert len(reports) == 5
    assert sum(1 for report in reports if report.alerted_at is not None) == 4
    assert sum(1 for action in outbox if action.moderation_log_id == row["id"]) == 1


async def test_report_edge_cases(chat: Chat) -> None:
    thanks = "感谢你的举报，管理员会尽快核实处理。"
    assert await chat.group("/report 有人在群里刷屏", sender="zhangsan") == thanks  # the group
    assert await chat.group("/report @lisi", sender=MEMBER) == "不能举报自己。"
    assert await chat.group("/report @王五 刷屏", sender="zhangsan") == (
        "本群有多名成员叫「王五」：wangwu1、wangwu2。请改用 userid，例如 @wangwu1。"
    )
    assert (await chat.direct("/report @lisi", sender="stranger")).startswith("/report 需要指定群")
    assert await chat.direct(f"/report #{CHAT} @lisi", sender="stranger") == (
        "你不是 产品交流群（wrOgAAAAchat1） 的成员（或本服务还没见过你在该群发言），不能举报。"
    )


async def test_a_lexicon_change_wakes_the_reloader_after_the_commit(
    service: Service, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    woken: list[int] = []
    monkeypatch.setattr(service.runtime.workers, "notify_lexicon", lambda: woken.append(1))
    await chat.group("/words test 菠萝蜜", sender=OWNER)
    assert woken == []
    await chat.group("/words add 菠萝蜜", sender=OWNER)
    assert woken == [1]
    await chat.group("/words add 菠萝蜜", sender=OWNER)  # unchanged: nothing to reload
    assert woken == [1]


@pytest.mark.parametrize(
    ("text", "leading", "blanked"),
    [
        # a smart-bot callback's content starts with the bot's mention
        ("@审核助手 生日快乐", True, "      生日快乐"),
        ("@审核助手\u2005生日快乐", True, "     \u2005生日快乐"),
        # only the first: a member mentioned after it is part of what was said
        ("@审核助手 @张三 生日快乐", True, "      @张三 生日快乐"),
        # the archive's copy: the bot's names (SMART_BOT_NAMES) wherever they stand
        ("生日快乐 @审核助手", False, "生日快乐      "),
        ("＠审核助手 收到", False, "      收到"),
        ("@张三 收到", False, "@张三 收到"),
        ("@审核助手团队 收到", False, "@审核助手团队 收到"),  # another name that starts alike
    ],
)
def test_the_bots_own_mention_is_blanked_keeping_positions(
    text: str, leading: bool, blanked: str
) -> None:
    assert blank_bot_mentions(text, leading=leading, names=["审核助手"]) == blanked
    assert len(blanked) == len(text)
