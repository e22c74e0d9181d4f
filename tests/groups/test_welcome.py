"""Welcomes with the group's rules, from the user's side: encrypted `change_external_chat`
callbacks in, the calls to (fake) WeCom out, on a clock the test moves. Plus the pure parts:
splitting a long welcome, rendering it, the customer-group template text, and the member
names parsed from `groupchat/get`."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.groups.welcome import (
    MEMBER_SEPARATOR,
    NICKNAME,
    GroupUpkeep,
    render_welcome,
    split_welcome,
    template_text,
)
from app.models import Group, GroupMember, OutboxAction
from app.repositories import outbox as outbox_repo
from app.texts import DEFAULT_TEXTS, Texts
from bot.client import AppCredentials, WeComClient, truncate_utf8
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
OWNER = "zhangsan"
SECRET_KEY = "k" * 43
WEBHOOK_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
RULES = "1. 禁止广告引流\n2. 禁止刷屏\n3. 文明交流"
WEBHOOK = "/cgi-bin/webhook/send"
GROUPCHAT_GET = "/cgi-bin/externalcontact/groupchat/get"
TEMPLATE_ADD = "/cgi-bin/externalcontact/group_welcome_template/add"
TEMPLATE_EDIT = "/cgi-bin/externalcontact/group_welcome_template/edit"
TEXTS = Texts(dict(DEFAULT_TEXTS))


@dataclass
class WeComWithGroups(support.FakeWeCom):
    """The fake WeCom API, which also knows customer groups (`groupchat/get` answers from
    `groups`), keeps a welcome-template library, and notes when each call came."""

    clock: support.Clock = field(default_factory=support.Clock)
    # chat id → {"owner", "name", "version", "members": [(userid, name), ...]}
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    times: list[tuple[str, datetime]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.times.append((request.url.path, self.clock()))
        path = request.url.path
        if self.scripted.get(path):
            return super().handler(request)
        if path == GROUPCHAT_GET:
            self.requests.append(request)
            chat_id = json.loads(request.content)["chat_id"]
            group = self.groups[chat_id]
            return httpx.Response(
                200,
                json={
                    "errcode": 0,
                    "errmsg": "ok",
                    "group_chat": {
                        "chat_id": chat_id,
                        "name": group.get("name", "客户群"),
                        "owner": group["owner"],
                        "create_time": 1700000000,
                        "member_list": [
                            {"userid": user_id, "type": 2, "join_time": 1700000001, "name": name}
                            for user_id, name in group["members"]
                        ],
                        "member_version": group["version"],
                    },
                },
            )
        if path == TEMPLATE_ADD:
            self.requests.append(request)
            template_id = f"tpl-{len(self.templates) + 1}"
            self.templates[template_id] = json.loads(request.content)["text"]["content"]
            return httpx.Response(200, json={"errcode": 0, "template_id": template_id})
        if path == TEMPLATE_EDIT:
            self.requests.append(request)
            body = json.loads(request.content)
            self.templates[body["template_id"]] = body["text"]["content"]
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
        return super().handler(request)

    def webhook_times(self) -> list[datetime]:
        return [at for path, at in self.times if path == WEBHOOK]


def policy_file(tmp_path: Path) -> str:
    path = tmp_path / "policy.json"
    # Join screening (tests/screening) is off: its groupchat/get calls are not these tests' count.
    policy = {"newcomer_days": 0, "newcomer_messages": 0, "join_screening": "off"}
    path.write_text(json.dumps(policy), encoding="utf-8")
    return str(path)


async def start(database_url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Service]:
    wecom = WeComWithGroups()
    values: dict[str, Any] = {
        "policy_path": policy_file(tmp_path),
        "secret_key": SECRET_KEY,
        **settings,
    }
    async for service in start_service(
        make_settings(database_url, tmp_path, **values), wecom, clock=wecom.clock
    ):
        yield service


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async for running in start(database_url, tmp_path):
        yield running


def fake(service: Service) -> WeComWithGroups:
    assert isinstance(service.wecom, WeComWithGroups)
    return service.wecom


def advance(service: Service, seconds: float) -> None:
    fake(service).clock.advance(seconds)


async def change(
    service: Service,
    members: list[str],
    *,
    last: str,
    version: str,
    detail: str = "add_member",
    change_type: str = "update",
    chat_id: str = CHAT,
) -> None:
    plaintext = support.external_chat_change(
        members,
        chat_id=chat_id,
        detail=detail,
        last_version=last,
        version=version,
        change_type=change_type,
    )
    assert (await service.post_app(plaintext)).status_code == 200
    await service.settle()


async def patch(service: Service, body: dict[str, Any], chat_id: str = CHAT) -> None:
    response = await service.http.patch(
        f"/api/v1/groups/{chat_id}",
        json=body,
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert response.status_code == 200, response.text


async def known_group(
    service: Service,
    members: list[tuple[str, str]],
    *,
    version: str = "v0",
    settings: dict[str, Any] | None = None,
) -> None:
    """WeCom tells of a new customer group; the service takes its member list (baseline)."""
    fake(service).groups[CHAT] = {
        "owner": OWNER,
        "name": "VIP客户群",
        "version": version,
        "members": [(OWNER, "张三"), *members],
    }
    await change(service, [], last="", version=version, detail="", change_type="create")
    if settings:
        await patch(service, settings)


def welcomes(service: Service) -> list[dict[str, Any]]:
    """The welcomes posted through the webhook robot (warnings are left out)."""
    return [
        body["text"]
        for body in service.wecom.bodies(WEBHOOK)
        if body["text"]["content"].startswith("👋")
    ]


async def member_rows(service: Service) -> dict[str, GroupMember]:
    async with service.runtime.sessions() as session:
        rows = await session.execute(select(GroupMember).where(GroupMember.chat_id == CHAT))
        return {row.user_id: row for row in rows.scalars().all()}


async def outbox(service: Service) -> list[OutboxAction]:
    async with service.runtime.sessions() as session:
        rows = await session.execute(select(OutboxAction).order_by(OutboxAction.id))
        return list(rows.scalars().all())


def aibot_text_without_reply_url(content: str, *, msgid: str, sender: str) -> str:
    """A group message the smart bot was not asked to answer (no response_url): a warning
    must go through the group's webhook robot."""
    return json.dumps(
        {
            "msgid": msgid,
            "aibotid": "AIBOTID",
            "chatid": CHAT,
            "chattype": "group",
            "from": {"userid": sender},
            "msgtype": "text",
            "text": {"content": f"@审核助手 {content}"},
        },
        ensure_ascii=False,
    )


WEBHOOK_GROUP = {"webhook_key": WEBHOOK_KEY, "rules_text": RULES}


# -- joins and welcomes ------------------------------------------------------------------


async def test_a_burst_of_five_joins_gets_one_welcome_naming_all_five_with_the_rules(
    service: Service,
) -> None:
    await known_group(service, [("old1", "老成员")], settings=WEBHOOK_GROUP)
    joiners = [f"wmNew{i}" for i in range(5)]
    for index, joiner in enumerate(joiners):
        await change(service, [joiner], last=f"v{index}", version=f"v{index + 1}")
        advance(service, 5)
    assert welcomes(service) == []  # the window is still open
    advance(service, 40)
    await service.settle()
    (welcome,) = welcomes(service)
    for joiner in joiners:
        assert joiner in welcome["content"]
    assert "老成员" not in welcome["content"] and OWNER not in welcome["content"]
    assert RULES in welcome["content"]
    assert welcome["mentioned_list"] == joiners
    assert len(fake(service).calls(GROUPCHAT_GET)) == 1  # the versions followed each other
    advance(service, 300)
    await service.settle()
    assert len(welcomes(service)) == 1  # nobody is welcomed twice
    rows = await member_rows(service)
    assert all(rows[joiner].welcomed_at is not None for joiner in joiners)


async def test_thirty_joins_and_warnings_never_exceed_twenty_robot_posts_a_minute(
    service: Service,
) -> None:
    await known_group(service, [], settings=WEBHOOK_GROUP)
    joiners = [f"wmJoin{i:02d}" for i in range(30)]
    for index, joiner in enumerate(joiners):
        await change(service, [joiner], last=f"v{index}", version=f"v{index + 1}")
        if index < 25:  # an offence from another member: a warning through the same robot
            await service.post_aibot(
                aibot_text_without_reply_url(
                    f"想赚钱的联系我 1380013{index:04d}", msgid=f"m-{index}", sender=f"spam{index}"
                )
            )
            await service.settle()
        advance(service, 2)
    for _ in range(60):
        advance(service, 5)
        await service.settle()

    times = sorted(fake(service).webhook_times())
    assert len(times) == 25 + len(welcomes(service))
    for at in times:
        in_window = [other for other in times if at - timedelta(seconds=60) < other <= at]
        assert len(in_window) <= 20, f"{len(in_window)} robot posts in the minute up to {at}"
    named = [user for welcome in welcomes(service) for user in welcome["mentioned_list"]]
    assert sorted(named) == joiners
    for welcome in welcomes(service):
        assert all(user in welcome["content"] for user in welcome["mentioned_list"])
    actions = await outbox(service)
    assert {action.status for action in actions} == {"sent"}
    assert all(action.attempts == 1 for action in actions)  # waiting is not an attempt


async def test_a_lost_join_callback_is_reconciled_and_the_member_welcomed(
    service: Service,
) -> None:
    await known_group(service, [("old1", "老成员")], settings=WEBHOOK_GROUP)
    wecom = fake(service)
    # v0 → v1 (小明 joins) never arrives; v1 → v2 (wmB joins) does.
    wecom.groups[CHAT]["members"] += [("wmLost", "小明"), ("wmB", "")]
    wecom.groups[CHAT]["version"] = "v2"
    await change(service, ["wmB"], last="v1", version="v2")
    assert len(wecom.calls(GROUPCHAT_GET)) == 2  # the baseline, then the reconciliation
    advance(service, 61)
    await service.settle()
    (welcome,) = welcomes(service)
    assert sorted(welcome["mentioned_list"]) == ["wmB", "wmLost"]
    assert "小明" in welcome["content"] and "wmB" in welcome["content"]
    rows = await member_rows(service)
    assert rows["wmLost"].name == "小明"
    async with service.runtime.sessions() as session:
        group = (await session.execute(select(Group).where(Group.chat_id == CHAT))).scalar_one()
    assert group.member_version == "v2" and group.sync_due_at is None


async def test_a_reconciliation_marks_members_wecom_no_longer_lists_as_left(
    service: Service,
) -> None:
    await known_group(service, [("old1", "老成员"), ("old2", "")], settings=WEBHOOK_GROUP)
    wecom = fake(service)
    wecom.groups[CHAT]["members"] = [(OWNER, "张三"), ("old1", "老成员"), ("wmB", "")]
    wecom.groups[CHAT]["version"] = "v2"
    await change(service, ["wmB"], last="v1", version="v2")  # old2's departure was lost
    rows = await member_rows(service)
    assert rows["old2"].left_at is not None
    assert rows["old1"].left_at is None and rows["wmB"].left_at is None


async def test_the_first_sync_does_not_welcome_the_members_already_there(
    service: Service,
) -> None:
    existing = [(f"wmOld{i:02d}", f"老客户{i}") for i in range(50)]
    wecom = fake(service)
    wecom.groups[CHAT] = {
        "owner": OWNER,
        "version": "v7",
        "members": [(OWNER, "张三"), *existing, ("wmFirst", "新人")],
    }
    # The service first hears of the group through a join: it takes the member list.
    await change(service, ["wmFirst"], last="v6", version="v7")
    await patch(service, WEBHOOK_GROUP)
    advance(service, 61)
    await service.settle()
    (welcome,) = welcomes(service)
    assert welcome["mentioned_list"] == ["wmFirst"]
    assert "新人" in welcome["content"]
    rows = await member_rows(service)
    assert len(rows) == 52
    assert all(row.joined_at is not None and row.left_at is None for row in rows.values())


async def test_a_reordered_callback_welcomes_nobody_twice(service: Service) -> None:
    await known_group(service, [], settings=WEBHOOK_GROUP)
    wecom = fake(service)
    wecom.groups[CHAT]["members"] += [("wmX", "X"), ("wmY", "Y")]
    wecom.groups[CHAT]["version"] = "v2"
    await change(service, ["wmY"], last="v1", version="v2")  # the later change first
    await change(service, ["wmX"], last="v0", version="v1")
    advance(service, 61)
    await service.settle()
    (welcome,) = welcomes(service)
    assert sorted(welcome["mentioned_list"]) == ["wmX", "wmY"]
    # The next join follows the version WeCom gave; a sync may run again, nobody is re-welcomed.
    wecom.groups[CHAT]["members"] += [("wmZ", "Z")]
    wecom.groups[CHAT]["version"] = "v3"
    await change(service, ["wmZ"], last="v2", version="v3")
    advance(service, 61)
    await service.settle()
    assert [w["mentioned_list"] for w in welcomes(service)] == [
        welcome["mentioned_list"],
        ["wmZ"],
    ]


async def test_a_member_who_leaves_before_the_welcome_is_not_named(service: Service) -> None:
    await known_group(service, [], settings=WEBHOOK_GROUP)
    await change(service, ["wmA", "wmB"], last="v0", version="v1")
    await change(service, ["wmA"], last="v1", version="v2", detail="del_member")
    advance(service, 61)
    await service.settle()
    (welcome,) = welcomes(service)
    assert welcome["mentioned_list"] == ["wmB"]


async def test_welcome_off_in_the_policy_posts_nothing(service: Service) -> None:
    await known_group(service, [], settings={**WEBHOOK_GROUP, "policy": {"welcome": False}})
    await change(service, ["wmA"], last="v0", version="v1")
    advance(service, 61)
    await service.settle()
    assert service.wecom.calls(WEBHOOK) == []


async def test_an_app_created_group_is_welcomed_with_appchat_send(service: Service) -> None:
    await known_group(service, [], settings={"rules_text": RULES})
    await change(service, ["wmA"], last="v0", version="v1")
    await patch(
        service, {"kind": "app_created", "welcome_template": "欢迎{members}！群规：{rules}"}
    )
    advance(service, 61)
    await service.settle()
    (sent,) = service.wecom.bodies("/cgi-bin/appchat/send")
    assert sent["chatid"] == CHAT and sent["msgtype"] == "text"
    assert sent["text"]["content"] == f"欢迎wmA！群规：{RULES}"


async def test_an_app_created_group_with_a_webhook_robot_too_is_welcomed_with_appchat_send(
    service: Service,
) -> None:
    """One order for every post into a group (`app.groups.capabilities`): appchat/send before the
    robot, whose 20 posts a minute stay for the groups that have nothing better."""
    await known_group(service, [], settings=WEBHOOK_GROUP)
    await change(service, ["wmA"], last="v0", version="v1")
    await patch(service, {"kind": "app_created"})
    advance(service, 61)
    await service.settle()
    (sent,) = service.wecom.bodies("/cgi-bin/appchat/send")
    assert sent["chatid"] == CHAT and "wmA" in sent["text"]["content"]
    assert service.wecom.calls(WEBHOOK) == []


# -- customer-group template -------------------------------------------------------------


async def test_a_customer_group_gets_a_template_once_edited_when_rules_change_owner_told_once(
    service: Service,
) -> None:
    await known_group(service, [("old1", "老成员")])
    wecom = fake(service)
    await patch(service, {"rules_text": RULES})
    advance(service, 31)
    await service.settle()
    (added,) = wecom.bodies(TEMPLATE_ADD)
    assert NICKNAME in added["text"]["content"] and RULES in added["text"]["content"]
    (told,) = wecom.bodies("/cgi-bin/message/send")
    assert told["touser"] == OWNER
    assert "tpl-1" in told["text"]["content"] and "入群欢迎语" in told["text"]["content"]
    assert RULES in told["text"]["content"]

    advance(service, 31)
    await service.settle()
    assert len(wecom.calls(TEMPLATE_ADD)) == 1 and wecom.calls(TEMPLATE_EDIT) == []

    await patch(service, {"rules_text": "禁止任何广告"})
    advance(service, 31)
    await service.settle()
    (edited,) = wecom.bodies(TEMPLATE_EDIT)
    assert edited["template_id"] == "tpl-1"
    assert "禁止任何广告" in edited["text"]["content"]
    assert len(wecom.calls(TEMPLATE_ADD)) == 1
    assert len(wecom.calls("/cgi-bin/message/send")) == 1  # the owner is told once

    # A join: WeCom greets with the template; the service posts nothing, marks it welcomed.
    await change(service, ["wmA"], last="v0", version="v1")
    advance(service, 61)
    await service.settle()
    assert service.wecom.calls(WEBHOOK) == [] and service.wecom.calls("/cgi-bin/appchat/send") == []
    assert (await member_rows(service))["wmA"].welcomed_at is not None


async def test_a_failed_template_call_is_retried_later(service: Service) -> None:
    await known_group(service, [])
    wecom = fake(service)
    wecom.scripted[TEMPLATE_ADD] = [(200, {"errcode": -1, "errmsg": "system busy"})]
    await patch(service, {"rules_text": RULES})
    advance(service, 31)
    await service.settle()
    assert wecom.templates == {}
    advance(service, 31)
    await service.settle()
    assert list(wecom.templates) == ["tpl-1"]


# -- the webhook key, the robot's limit, failures ----------------------------------------


async def test_the_webhook_key_is_in_no_outbox_payload_and_no_log_line(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await known_group(service, [], settings=WEBHOOK_GROUP)
    await change(service, ["wmA"], last="v0", version="v1")
    await service.post_aibot(
        aibot_text_without_reply_url("想赚钱的联系我 13800138000", msgid="m-1", sender="lisi")
    )
    await service.settle()
    advance(service, 61)
    await service.settle()
    calls = service.wecom.calls(WEBHOOK)
    assert len(calls) == 2  # the warning and the welcome
    assert all(call.url.params["key"] == WEBHOOK_KEY for call in calls)
    warning = json.loads(calls[0].content)["text"]
    assert warning["mentioned_list"] == ["lisi"] and "违反了群规" in warning["content"]
    for action in await outbox(service):
        assert WEBHOOK_KEY not in json.dumps(action.payload, ensure_ascii=False)
        assert WEBHOOK_KEY not in (action.last_error or "")
    assert WEBHOOK_KEY not in caplog.text
    assert WEBHOOK_KEY[:4] + "…" in caplog.text  # httpx's request line, masked


async def test_a_post_held_by_the_robot_limit_is_not_an_attempt(service: Service) -> None:
    await known_group(service, [], settings=WEBHOOK_GROUP)
    start_at = fake(service).clock()
    async with service.runtime.sessions() as session, session.begin():
        for index in range(21):
            outbox_repo.enqueue(
                session,
                idempotency_key=f"test:{index}",
                kind="webhook_send",
                payload={"chat_id": CHAT, "msgtype": "text", "content": f"第 {index} 条"},
                now=start_at,
            )
    await service.settle()
    assert len(service.wecom.calls(WEBHOOK)) == 20
    (held,) = [action for action in await outbox(service) if action.status == "pending"]
    assert held.attempts == 0
    assert held.next_attempt_at == start_at + timedelta(minutes=1)
    advance(service, 30)
    await service.settle()
    assert len(service.wecom.calls(WEBHOOK)) == 20
    advance(service, 30)
    await service.settle()
    assert len(service.wecom.calls(WEBHOOK)) == 21
    assert {(a.status, a.attempts) for a in await outbox(service)} == {("sent", 1)}


async def test_a_robot_that_refuses_for_rate_is_retried_after_a_minute(service: Service) -> None:
    await known_group(service, [], settings=WEBHOOK_GROUP)
    wecom = fake(service)
    wecom.scripted[WEBHOOK] = [(200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    await change(service, ["wmA"], last="v0", version="v1")
    advance(service, 61)
    await service.settle()
    (action,) = await outbox(service)
    assert action.status == "pending" and action.attempts == 1
    assert action.next_attempt_at >= wecom.clock() + timedelta(seconds=60)
    advance(service, 61)
    await service.settle()
    assert len(welcomes(service)) == 2  # refused once, then posted
    ((status, attempts),) = {(a.status, a.attempts) for a in await outbox(service)}
    assert (status, attempts) == ("sent", 2)


async def test_a_webhook_key_cleared_before_sending_fails_with_a_clear_reason(
    service: Service,
) -> None:
    await known_group(service, [], settings=WEBHOOK_GROUP)
    await change(service, ["wmA"], last="v0", version="v1")
    advance(service, 61)
    await second_replica(service).run()  # queued, not sent yet
    await patch(service, {"webhook_key": None})
    await service.settle()
    (action,) = [a for a in await outbox(service) if a.kind == "webhook_send"]
    assert action.status == "dead"
    assert action.last_error == f"group {CHAT} has no webhook key (cleared since queued?)"
    assert service.wecom.calls(WEBHOOK) == []


async def test_a_sync_refused_by_wecom_is_retried_with_backoff(service: Service) -> None:
    wecom = fake(service)
    wecom.groups[CHAT] = {"owner": OWNER, "version": "v1", "members": [(OWNER, "张三")]}
    wecom.scripted[GROUPCHAT_GET] = [(200, {"errcode": -1, "errmsg": "system busy"})]
    await change(service, [], last="", version="v1", detail="", change_type="create")
    assert len(wecom.calls(GROUPCHAT_GET)) == 1
    advance(service, 10)
    await service.settle()
    assert len(wecom.calls(GROUPCHAT_GET)) == 1  # waiting
    advance(service, 30)
    await service.settle()
    assert len(wecom.calls(GROUPCHAT_GET)) == 2
    async with service.runtime.sessions() as session:
        group = (await session.execute(select(Group).where(Group.chat_id == CHAT))).scalar_one()
    assert group.owner == OWNER and group.members_synced_at is not None
    assert group.sync_due_at is None


def second_replica(service: Service) -> GroupUpkeep:
    runtime = service.runtime
    return GroupUpkeep(
        runtime.sessions,
        runtime.client,
        texts=runtime.context.texts,
        policy=runtime.context.policy,
        app_messages_enabled=True,
        clock=runtime.clock,
    )


async def test_two_replicas_sync_once_and_welcome_once(service: Service) -> None:
    await known_group(service, [], settings=WEBHOOK_GROUP)
    wecom = fake(service)
    wecom.groups[CHAT]["members"] += [("wmLost", "小明"), ("wmB", "")]
    wecom.groups[CHAT]["version"] = "v2"
    plaintext = support.external_chat_change(["wmB"], chat_id=CHAT, last_version="v1", version="v2")
    await service.post_app(plaintext)
    await service.runtime.processor.process_pending()
    ours, theirs = service.runtime.workers._group_upkeep, second_replica(service)
    assert ours is not None
    await asyncio.gather(ours(), theirs.run())
    assert len(wecom.calls(GROUPCHAT_GET)) == 2  # the baseline and one reconciliation
    advance(service, 61)
    await asyncio.gather(ours(), theirs.run())
    await service.settle()
    (welcome,) = welcomes(service)
    assert sorted(welcome["mentioned_list"]) == ["wmB", "wmLost"]


# -- pure parts --------------------------------------------------------------------------


def render_default(members: str, rules: str) -> str:
    return render_welcome(TEXTS, "", members=members, rules=rules)


def test_a_short_welcome_is_one_message() -> None:
    names = ["张三", "李四", "wmAbc"]
    ((start, end, text),) = split_welcome(names, render_default, RULES)
    assert (start, end) == (0, 3)
    assert text == TEXTS.render("welcome", members="张三、李四、wmAbc", rules=RULES)


@pytest.mark.parametrize("count", [1, 40, 150, 700])
def test_a_long_welcome_is_split_and_names_everyone_once(count: int) -> None:
    names = [f"新成员第{index}号" for index in range(count)]
    parts = split_welcome(names, render_default, RULES, limit=2048)
    assert parts[0][0] == 0 and parts[-1][1] == count
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    for start, end, text in parts:
        assert len(text.encode("utf-8")) <= 2048
        assert MEMBER_SEPARATOR.join(names[start:end]) in text
        assert RULES in text


def test_rules_too_long_for_one_message_are_cut_not_the_names() -> None:
    rules = "请遵守群规。" * 400  # 7,200 bytes
    parts = split_welcome(["张三", "李四"], render_default, rules, limit=2048)
    assert [(start, end) for start, end, _ in parts] == [(0, 1), (1, 2)]
    for index, (_, _, text) in enumerate(parts):
        assert ["张三", "李四"][index] in text
        assert text.endswith("…") and len(text.encode("utf-8")) <= 2048


def test_a_name_longer_than_a_message_is_cut_to_fit() -> None:
    ((_, _, text),) = split_welcome(["名" * 1000], render_default, RULES, limit=2048)
    assert len(text.encode("utf-8")) <= 2048 and text.endswith("…")


def test_a_group_template_fills_members_and_rules_once() -> None:
    text = render_welcome(TEXTS, "欢迎 {members}！\n{rules}", members="{rules}哥", rules="禁广告")
    assert text == "欢迎 {rules}哥！\n禁广告"


def test_the_default_welcome_names_members_and_rules() -> None:
    text = render_default("张三、李四", RULES)
    assert text.startswith("👋") and "张三、李四" in text and RULES in text


def _group(**values: Any) -> Group:
    base: dict[str, Any] = {"chat_id": CHAT, "rules_text": "", "welcome_template": ""}
    return Group(**{**base, **values})


def test_the_template_text_greets_by_nickname_and_has_the_rules() -> None:
    text = template_text(TEXTS, _group(rules_text=RULES))
    assert NICKNAME in text and RULES in text
    own = template_text(TEXTS, _group(welcome_template="Hi {members}, 群规：{rules}"))
    assert own == f"Hi {NICKNAME}, 群规：{DEFAULT_TEXTS['rules.none']}"
    long = template_text(TEXTS, _group(rules_text="很长的群规" * 1000))
    assert len(long.encode("utf-8")) <= 3000 and long.endswith("…")


def test_cut_utf8_keeps_whole_characters() -> None:
    assert truncate_utf8("群规", 100) == "群规"
    cut = truncate_utf8("群" * 10, 10)
    assert cut == "群" * 2 + "…" and len(cut.encode("utf-8")) <= 10


async def test_group_info_parses_member_names_leniently() -> None:
    wecom = support.FakeWeCom()
    wecom.scripted[GROUPCHAT_GET] = [
        (
            200,
            {
                "errcode": 0,
                "group_chat": {
                    "name": "客户群",
                    "owner": OWNER,
                    "member_list": [
                        {"userid": "a", "name": "张三", "group_nickname": "三哥"},
                        {"userid": "b", "name": "李四", "group_nickname": ""},
                        {"userid": "c", "name": 5, "join_time": "soon"},
                        {"userid": "d", "join_time": 1700000000},
                    ],
                    "member_version": "v1",
                },
            },
        )
    ]
    async with httpx.AsyncClient(transport=wecom.transport) as http:
        client = WeComClient(
            http,
            api_base=support.API_BASE,
            credentials=AppCredentials(
                corp_id=support.CORP_ID, agent_id=support.AGENT_ID, secret=support.APP_SECRET
            ),
        )
        info = await client.get_customer_group(CHAT)
    assert info.member_ids == ("a", "b", "c", "d")
    assert dict(info.member_names) == {"a": "三哥", "b": "李四"}
    assert dict(info.member_joined) == {"d": 1700000000}
