"""Join screening from the user's side: encrypted `change_external_chat` callbacks in, the calls
to (fake) WeCom out: names with a contact in them, other companies' staff and partners, the
"not an external contact" answer, a member hopping across groups, each `join_screening` value,
shadow mode, the API limits (no more `externalcontact/get` calls than joins; the cache), the
review of a join's log row, `/screen` and its REST twin. Plus the pure judging table
(`moderation.screening`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.models import AuditEntry, GroupMember, JoinScreening, ModerationLog, OutboxAction
from moderation import GroupPolicy, SensitiveWordMatcher, parse_lexicon
from moderation.screening import ContactKind, Newcomer, same_corp, screen_newcomer
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT_A = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
CHAT_B = "wrOgQhDgAAMYQiS5ol9G7gK9JVBBBB"
CHAT_C = "wrOgQhDgAAMYQiS5ol9G7gK9JVCCCC"
OWNER = "zhangsan"
GROUPCHAT_GET = "/cgi-bin/externalcontact/groupchat/get"
CONTACT_GET = "/cgi-bin/externalcontact/get"
MESSAGE_SEND = "/cgi-bin/message/send"
APPCHAT_UPDATE = "/cgi-bin/appchat/update"
APPCHAT_SEND = "/cgi-bin/appchat/send"
OWN_CORP = "示例科技有限公司"
RIVAL = "竞品网络科技有限公司"
PARTNER = "伙伴咨询有限公司"


@dataclass
class WeComWithContacts(support.FakeWeCom):
    """The fake WeCom API, which knows customer groups (`groupchat/get` with names and member
    types) and external contacts (`externalcontact/get`; anyone not in `contacts` gets 84061)."""

    clock: support.Clock = field(default_factory=support.Clock)
    # chat id → {"version", "members": [(userid, name, type), ...]}
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    # external_userid → {"name", "type", "corp_name"?}
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.scripted.get(path):
            return super().handler(request)
        if path == GROUPCHAT_GET:
            self.requests.append(request)
            chat_id = json.loads(request.content)["chat_id"]
            group = self.groups[chat_id]
            members = [
                {"userid": user_id, "type": kind, "join_time": 1700000001, "name": name}
                for user_id, name, kind in group["members"]
            ]
            return httpx.Response(
                200,
                json={
                    "errcode": 0,
                    "errmsg": "ok",
                    "group_chat": {
                        "chat_id": chat_id,
                        "name": group.get("name", f"客户群{chat_id[-4:]}"),
                        "owner": OWNER,
                        "member_list": members,
                        "member_version": group["version"],
                    },
                },
            )
        if path == CONTACT_GET:
            self.requests.append(request)
            user_id = request.url.params["external_userid"]
            contact = self.contacts.get(user_id)
            if contact is None:
                return httpx.Response(
                    200, json={"errcode": 84061, "errmsg": "not external contact"}
                )
            return httpx.Response(
                200,
                json={
                    "errcode": 0,
                    "errmsg": "ok",
                    "external_contact": {"external_userid": user_id, **contact},
                    "follow_user": [],
                },
            )
        return super().handler(request)

    def join(self, chat_id: str, user_id: str, name: str, kind: int = 2) -> tuple[str, str]:
        """Someone joins in WeCom: the member list and its version move on; returns the
        versions before and after."""
        group = self.groups[chat_id]
        before = group["version"]
        group["members"].append((user_id, name, kind))
        group["version"] = f"{before}+"
        return before, group["version"]


def write_policy(tmp_path: Path, **policy: Any) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy), encoding="utf-8")
    return str(path)


async def start(
    database_url: str, tmp_path: Path, policy: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[Service]:
    wecom = WeComWithContacts()
    values: dict[str, Any] = {
        "policy_path": write_policy(tmp_path, **(policy or {})),
        "secret_key": "k" * 43,
        "corp_names": OWN_CORP,
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


def fake(service: Service) -> WeComWithContacts:
    assert isinstance(service.wecom, WeComWithContacts)
    return service.wecom


async def known_group(service: Service, chat_id: str = CHAT_A, **patch: Any) -> None:
    """WeCom tells of a new customer group; the service takes its member list (baseline)."""
    fake(service).groups[chat_id] = {"version": "v0", "members": [(OWNER, "张三", 1)]}
    await callback(service, chat_id, [], last="", version="v0", detail="", change_type="create")
    if patch:
        response = await service.http.patch(
            f"/api/v1/groups/{chat_id}",
            json=patch,
            headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
        )
        assert response.status_code == 200, response.text


async def callback(
    service: Service,
    chat_id: str,
    members: list[str],
    *,
    last: str,
    version: str,
    detail: str = "add_member",
    change_type: str = "update",
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


async def join(
    service: Service, chat_id: str, people: list[tuple[str, str]], *, kind: int = 2
) -> None:
    """`people` (external_userid, name) join `chat_id` in one callback."""
    wecom = fake(service)
    before = wecom.groups[chat_id]["version"]
    for user_id, name in people:
        _, after = wecom.join(chat_id, user_id, name, kind)
    await callback(service, chat_id, [user for user, _ in people], last=before, version=after)


async def logs(service: Service) -> list[ModerationLog]:
    async with service.runtime.sessions() as session:
        rows = await session.execute(
            select(ModerationLog).where(ModerationLog.source == "join").order_by(ModerationLog.id)
        )
        return list(rows.scalars().all())


async def screenings(service: Service) -> list[JoinScreening]:
    async with service.runtime.sessions() as session:
        rows = await session.execute(select(JoinScreening).order_by(JoinScreening.id))
        return list(rows.scalars().all())


def alerts(service: Service) -> list[dict[str, Any]]:
    return [
        body
        for body in service.wecom.bodies(MESSAGE_SEND)
        if body.get("msgtype") == "markdown" and "入群筛查提醒" in body["markdown"]["content"]
    ]


def rules(entry: ModerationLog) -> set[str]:
    return {finding.get("rule") or f"word.{finding.get('category')}" for finding in entry.findings}


# -- what is found --------------------------------------------------------------------------


async def test_a_name_carrying_a_disguised_wechat_id_alerts_the_moderators_and_owner_once(
    service: Service,
) -> None:
    await known_group(service)
    fake(service).contacts["wmSpam1"] = {"name": "小李", "type": 1}
    await join(service, CHAT_A, [("wmSpam1", "加薇：abc12345 领资料"), ("wmFine", "王阿姨")])

    (entry,) = await logs(service)
    assert entry.user_id == "wmSpam1" and entry.chat_id == CHAT_A
    assert entry.verdict == "alert" and entry.mode == "enforce"
    assert "promo.wechat_id" in rules(entry)
    assert "加薇：abc12345" in entry.text
    (alert,) = alerts(service)
    assert sorted(alert["touser"].split("|")) == sorted([*support.MODERATORS, OWNER])
    content = alert["markdown"]["content"]
    assert "wmSpam1" in content and f"#{entry.id}" in content and "群成员" in content
    assert "wmFine" not in content
    assert service.wecom.calls(APPCHAT_UPDATE) == []  # a customer group: no removal by API
    outcomes = {row.user_id: row.outcome for row in await screenings(service)}
    assert outcomes == {"wmSpam1": "flagged", "wmFine": "clean"}


async def test_an_employee_of_another_company_is_flagged_with_the_company(
    service: Service,
) -> None:
    await known_group(service)
    fake(service).contacts["wmRival"] = {"name": "李经理", "type": 2, "corp_name": RIVAL}
    fake(service).contacts["wmOwn"] = {"name": "同事", "type": 2, "corp_name": OWN_CORP}
    await join(service, CHAT_A, [("wmRival", "李经理"), ("wmOwn", "同事")])
    (entry,) = await logs(service)
    assert entry.user_id == "wmRival"
    (finding,) = entry.findings
    assert finding["rule"] == "screen.other_corp" and finding["evidence"] == RIVAL
    (alert,) = alerts(service)
    assert RIVAL in alert["markdown"]["content"]


async def test_a_partner_company_named_in_the_group_policy_is_not_flagged(
    service: Service,
) -> None:
    await known_group(service, policy={"partner_corps": [PARTNER]})
    fake(service).contacts["wmPartner"] = {"name": "赵顾问", "type": 2, "corp_name": PARTNER}
    await join(service, CHAT_A, [("wmPartner", "赵顾问")])
    assert await logs(service) == []
    assert alerts(service) == []
    (row,) = await screenings(service)
    assert row.outcome == "clean"


async def test_a_partner_company_in_the_setting_is_not_flagged(
    database_url: str, tmp_path: Path
) -> None:
    async for service in start(database_url, tmp_path, partner_corps=f"其他公司, {PARTNER}"):
        await known_group(service)
        fake(service).contacts["wmPartner"] = {"name": "赵顾问", "type": 2, "corp_name": PARTNER}
        await join(service, CHAT_A, [("wmPartner", "赵顾问")])
        assert await logs(service) == []


async def test_someone_who_is_not_an_external_contact_is_screened_by_name_alone(
    service: Service,
) -> None:
    await known_group(service)
    # Neither is anyone's contact: WeCom answers 84061 for both.
    await join(service, CHAT_A, [("wmStranger", "138 0013 8000 刘姐"), ("wmQuiet", "小陈")])
    (entry,) = await logs(service)
    assert entry.user_id == "wmStranger"
    assert {"promo.phone", "screen.name_only"} <= rules(entry)
    name_only = next(f for f in entry.findings if f["rule"] == "screen.name_only")
    assert "84061" in name_only["summary"] and "name alone" in name_only["summary"]
    (alert,) = alerts(service)
    assert "仅按群昵称筛查" in alert["markdown"]["content"]
    quiet = next(row for row in await screenings(service) if row.user_id == "wmQuiet")
    assert quiet.outcome == "clean"
    assert len(fake(service).calls(CONTACT_GET)) == 2


async def test_a_member_hopping_into_three_groups_is_flagged_with_the_groups(
    service: Service,
) -> None:
    for chat in (CHAT_A, CHAT_B, CHAT_C):
        await known_group(service, chat)
    fake(service).contacts["wmHopper"] = {"name": "阿强", "type": 1}
    await join(service, CHAT_A, [("wmHopper", "阿强")])
    fake(service).clock.advance(3600)
    await join(service, CHAT_B, [("wmHopper", "阿强")])
    assert await logs(service) == []  # two groups are not hopping yet
    fake(service).clock.advance(3600)
    await join(service, CHAT_C, [("wmHopper", "阿强")])
    (entry,) = await logs(service)
    assert entry.chat_id == CHAT_C
    (finding,) = entry.findings
    assert finding["rule"] == "screen.hopping"
    assert finding["facts"]["groups"] == [CHAT_A, CHAT_B, CHAT_C]
    (alert,) = alerts(service)
    assert all(chat in alert["markdown"]["content"] for chat in (CHAT_A, CHAT_B, CHAT_C))
    # Only one externalcontact/get for the three joins: the answer is cached.
    assert len(fake(service).calls(CONTACT_GET)) == 1


async def test_joins_spread_over_more_than_the_window_are_not_hopping(service: Service) -> None:
    for chat in (CHAT_A, CHAT_B, CHAT_C):
        await known_group(service, chat)
    fake(service).contacts["wmSlow"] = {"name": "阿慢", "type": 1}
    for chat in (CHAT_A, CHAT_B, CHAT_C):
        await join(service, chat, [("wmSlow", "阿慢")])
        fake(service).clock.advance(13 * 3600)
    assert await logs(service) == []


async def test_a_member_warned_in_group_a_is_seen_by_group_bs_moderators_on_joining(
    service: Service,
) -> None:
    await known_group(service, CHAT_A)
    await known_group(service, CHAT_B, moderators=["mod-carol"])
    fake(service).contacts["wmBad"] = {"name": "老赵", "type": 1}
    await join(service, CHAT_A, [("wmBad", "老赵")])
    await service.post_app(support.app_text(f"/warn #{CHAT_A} @wmBad 私信拉人", msg_id="7001"))
    await service.settle()
    assert await logs(service) == []
    await join(service, CHAT_B, [("wmBad", "老赵")])
    (entry,) = await logs(service)
    assert entry.chat_id == CHAT_B and entry.verdict == "alert"
    (finding,) = entry.findings
    assert finding["rule"] == "screen.record" and finding["facts"]["groups"] == {CHAT_A: 1}
    (alert,) = alerts(service)
    assert "mod-carol" in alert["touser"].split("|")
    content = alert["markdown"]["content"]
    assert CHAT_A in content and "其他 1 个群有 1 次有效违规" in content
    # A pardon in group A clears the record: the next screening finds nothing.
    response = await service.http.post(
        f"/api/v1/groups/{CHAT_A}/members/wmBad/pardon",
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert response.status_code == 200
    again = await service.http.post(
        f"/api/v1/groups/{CHAT_B}/members/wmBad/screen",
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert again.json()["outcome"] == "clean"


@pytest.mark.parametrize(
    ("weight", "step", "strikes"), [(0.5, "final_warning", 2), (0, "warning", 1)]
)
async def test_strikes_from_other_groups_count_at_the_policys_weight(
    service: Service, weight: float, step: str, strikes: int
) -> None:
    await known_group(service, CHAT_A)
    await known_group(service, CHAT_B, policy={"cross_group_strike_weight": weight})
    await join(service, CHAT_A, [("wmBad", "老赵")])
    for index in range(2):
        await service.post_app(
            support.app_text(f"/warn #{CHAT_A} @wmBad 私信拉人", msg_id=f"700{index}")
        )
        await service.settle()
    await service.post_aibot(
        support.aibot_group_text("赌博", msgid="m-b-1", sender="wmBad", chat_id=CHAT_B)
    )
    await service.settle()
    async with service.runtime.sessions() as session:
        entry = (
            await session.execute(
                select(ModerationLog).where(
                    ModerationLog.chat_id == CHAT_B, ModerationLog.source == "aibot"
                )
            )
        ).scalar_one()
    assert (entry.step, entry.strikes) == (step, strikes)
    # Group B's moderators see the record in group A in the alert about the message.
    (alert,) = [
        body["markdown"]["content"]
        for body in service.wecom.bodies(MESSAGE_SEND)
        if body.get("msgtype") == "markdown" and "违规消息提醒" in body["markdown"]["content"]
    ]
    assert f"其他群的有效违规：2 次（客户群{CHAT_A[-4:]} 2 次）" in alert


# -- what happens ---------------------------------------------------------------------------


async def test_join_screening_off_screens_nobody_and_asks_wecom_nothing(
    database_url: str, tmp_path: Path
) -> None:
    async for service in start(database_url, tmp_path, policy={"join_screening": "off"}):
        await known_group(service)
        calls = len(fake(service).calls(GROUPCHAT_GET))
        await join(service, CHAT_A, [("wmSpam", "加V abc12345")])
        assert await screenings(service) == []
        assert await logs(service) == []
        assert fake(service).calls(CONTACT_GET) == []
        assert len(fake(service).calls(GROUPCHAT_GET)) == calls


async def test_remove_in_an_app_created_group_removes_and_does_not_welcome(
    service: Service,
) -> None:
    await known_group(service, rules_text="文明交流")
    await join(service, CHAT_A, [("wmOld", "老成员")])
    await patch(service, {"kind": "app_created", "policy": {"join_screening": "remove"}})
    # No member list to read in a group this app created: the contact's own name is read.
    fake(service).contacts["wmSpam"] = {"name": "vx同号15900001111", "type": 1}
    await join(service, CHAT_A, [("wmSpam", "vx同号15900001111"), ("wmNice", "小周")])
    fake(service).clock.advance(61)
    await service.settle()

    (entry,) = [row for row in await logs(service) if row.user_id == "wmSpam"]
    assert entry.verdict == "remove"
    (removal,) = service.wecom.bodies(APPCHAT_UPDATE)
    assert removal == {"chatid": CHAT_A, "del_user_list": ["wmSpam"]}
    welcomes = [body["text"]["content"] for body in service.wecom.bodies(APPCHAT_SEND)]
    assert any("wmNice" in text for text in welcomes)
    assert not any("wmSpam" in text or "15900001111" in text for text in welcomes)
    (alert,) = alerts(service)
    assert "已按群策略将其移出" in alert["markdown"]["content"]


async def test_remove_in_a_customer_group_falls_back_to_an_alert_that_says_so(
    service: Service,
) -> None:
    await known_group(service, policy={"join_screening": "remove"})
    await join(service, CHAT_A, [("wmSpam", "扫码进群领资料 15900001111")])
    (entry,) = await logs(service)
    assert entry.verdict == "alert"
    assert "WeCom allows no removal here" in entry.reason
    assert service.wecom.calls(APPCHAT_UPDATE) == []
    (alert,) = alerts(service)
    content = alert["markdown"]["content"]
    assert "群策略为移出" in content and "不允许本应用移出" in content


async def test_shadow_mode_records_the_screening_and_sends_nothing(service: Service) -> None:
    await known_group(service, policy={"mode": "shadow", "join_screening": "remove"})
    await patch(service, {"kind": "app_created"})
    fake(service).contacts["wmSpam"] = {"name": "加V abc12345", "type": 1}
    await join(service, CHAT_A, [("wmSpam", "加V abc12345")])
    (entry,) = await logs(service)
    assert entry.mode == "shadow" and entry.verdict == "remove"
    assert service.wecom.calls(APPCHAT_UPDATE) == []
    assert alerts(service) == []
    async with service.runtime.sessions() as session:
        queued = (await session.execute(select(OutboxAction))).scalars().all()
    assert [action for action in queued if action.moderation_log_id == entry.id] == []


async def test_a_moderator_and_a_company_member_are_not_screened(service: Service) -> None:
    await known_group(service)
    await join(service, CHAT_A, [("wmMod", "加V abc12345")])
    before = len(await logs(service))
    await patch(service, {"moderators": ["wmMod2"]})
    await join(service, CHAT_A, [("wmMod2", "加V abc12345")])
    await join(service, CHAT_A, [("lisi", "加V abc12345")], kind=1)
    assert len(await logs(service)) == before
    outcomes = {row.user_id: (row.outcome, row.note) for row in await screenings(service)}
    assert outcomes["wmMod2"][0] == "skipped" and "moderator" in outcomes["wmMod2"][1]
    assert outcomes["lisi"] == ("skipped", "a member of the company")


# -- within WeCom's limits ------------------------------------------------------------------


async def test_no_more_contact_calls_than_joins_and_the_cache_is_honoured_until_its_ttl(
    service: Service,
) -> None:
    for chat in (CHAT_A, CHAT_B, CHAT_C):
        await known_group(service, chat)
    wecom = fake(service)
    people = [(f"wmP{i}", f"客户{i}") for i in range(5)]
    for user_id, name in people:
        wecom.contacts[user_id] = {"name": name, "type": 1}
    group_calls = len(wecom.calls(GROUPCHAT_GET))
    await join(service, CHAT_A, people)
    assert len(wecom.calls(CONTACT_GET)) == 5  # one per join
    assert len(wecom.calls(GROUPCHAT_GET)) == group_calls + 1  # one member list for the batch
    wecom.clock.advance(3600)
    await join(service, CHAT_B, people[:3])  # the same contacts again, an hour later: cached
    assert len(wecom.calls(CONTACT_GET)) == 5
    wecom.clock.advance(24 * 3600)  # past SCREENING_CONTACT_TTL_HOURS: asked again
    await join(service, CHAT_C, [people[0]])
    assert len(wecom.calls(CONTACT_GET)) == 6
    assert len(await screenings(service)) == 9


async def test_a_failed_member_list_is_retried_with_backoff(service: Service) -> None:
    await known_group(service)
    wecom = fake(service)
    wecom.scripted[GROUPCHAT_GET] = [(200, {"errcode": -1, "errmsg": "system busy"})]
    await join(service, CHAT_A, [("wmSpam", "加V abc12345")])
    (row,) = await screenings(service)
    assert row.outcome == "" and row.attempts == 1 and row.due_at is not None
    assert await logs(service) == []
    wecom.clock.advance(31)
    await service.settle()
    (entry,) = await logs(service)
    assert entry.user_id == "wmSpam"


# -- explained and reviewable ---------------------------------------------------------------


async def test_a_join_log_row_is_confirmed_or_overturned_through_the_review_path(
    service: Service,
) -> None:
    await known_group(service)
    await join(service, CHAT_A, [("wmSpam", "加V abc12345"), ("wmRival", "李经理")])
    fake(service).contacts["wmRival"] = {"name": "李经理", "type": 2, "corp_name": RIVAL}
    first, *_ = await logs(service)
    headers = {"Authorization": f"Bearer {support.ADMIN_TOKEN}"}
    response = await service.http.post(
        f"/api/v1/moderation-logs/{first.id}/review",
        json={"verdict": "overturn", "by": "mod-alice", "note": "是老客户"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["review"]["status"] == "overturned"
    listed = await service.api(f"/api/v1/moderation-logs/{first.id}")
    assert listed.status_code == 200 and listed.json()["source"] == "join"


async def test_screen_command_rescreens_a_member_and_answers_the_moderator(
    service: Service,
) -> None:
    await known_group(service, policy={"join_screening": "off"})
    await join(service, CHAT_A, [("wmLate", "小刘")])
    assert await screenings(service) == []
    # Later the member renames themself; a moderator asks for a screening from the app chat.
    wecom = fake(service)
    wecom.groups[CHAT_A]["members"] = [
        (user, "加V abc12345" if user == "wmLate" else name, kind)
        for user, name, kind in wecom.groups[CHAT_A]["members"]
    ]
    await service.post_app(support.app_text(f"/screen #{CHAT_A} @wmLate", msg_id="9001"))
    await service.settle()
    replies = [
        body["text"]["content"]
        for body in service.wecom.bodies(MESSAGE_SEND)
        if body.get("msgtype") == "text"
    ]
    assert any("重新做入群筛查" in reply for reply in replies)
    (entry,) = await logs(service)
    assert entry.user_id == "wmLate" and "promo.wechat_id" in rules(entry)
    (alert,) = alerts(service)
    assert "mod-alice" in alert["touser"].split("|")
    async with service.runtime.sessions() as session:
        audited = (
            await session.execute(select(AuditEntry).where(AuditEntry.action == "member.screen"))
        ).scalar_one()
    assert audited.actor == "mod-alice" and audited.channel == "chat"


async def test_rest_screen_answers_the_outcome_and_findings(service: Service) -> None:
    await known_group(service)
    await join(service, CHAT_A, [("wmNice", "小周")])
    fake(service).contacts["wmNice"] = {"name": "小周", "type": 2, "corp_name": RIVAL}
    fake(service).clock.advance(25 * 3600)  # the cached "not a contact" has expired
    response = await service.http.post(
        f"/api/v1/groups/{CHAT_A}/members/wmNice/screen",
        json={"by": "mod-bob"},
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "flagged" and body["verdict"] == "alert"
    assert [finding["rule"] for finding in body["findings"]] == ["screen.other_corp"]
    assert body["log_id"] == (await logs(service))[0].id
    missing = await service.http.post(
        "/api/v1/groups/wrUnknown/members/wmNice/screen",
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert missing.status_code == 404


async def patch(service: Service, body: dict[str, Any], chat_id: str = CHAT_A) -> None:
    response = await service.http.patch(
        f"/api/v1/groups/{chat_id}",
        json=body,
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert response.status_code == 200, response.text


async def member(service: Service, chat_id: str, user_id: str) -> GroupMember:
    async with service.runtime.sessions() as session:
        return (
            await session.execute(
                select(GroupMember).where(
                    GroupMember.chat_id == chat_id, GroupMember.user_id == user_id
                )
            )
        ).scalar_one()


# -- the pure part --------------------------------------------------------------------------

MATCHER = SensitiveWordMatcher(parse_lexicon("赌博\tgambling\tblock\n加微信\tads\treview\n"))


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("加V：abc12345", "promo.wechat_id"),
        ("薇：xyz2024", "promo.wechat_id"),
        ("vx同号15900001111", "promo.wechat_id"),
        ("138 0013 8000 刘姐", "promo.phone"),
        ("扫码进群领资料", "promo.qr_cue"),
        ("赌博老王", "word.gambling"),
    ],
)
def test_names_with_a_contact_or_a_word_are_flagged(name: str, rule: str) -> None:
    decision = screen_newcomer(Newcomer("c", "u", name=name), MATCHER, GroupPolicy())
    found = {
        v.rule if hasattr(v, "rule") else f"word.{v.category.value}" for v in decision.violations
    }
    assert rule in found and decision.verdict == "alert"


@pytest.mark.parametrize("name", ["小王", "Alice", "张三-装修", "王阿姨🌸", "李 经理", ""])
def test_ordinary_names_pass(name: str) -> None:
    decision = screen_newcomer(Newcomer("c", "u", name=name), MATCHER, GroupPolicy())
    assert decision.actions == () and not decision.flagged


def test_company_names_compare_without_blanks_or_case() -> None:
    assert same_corp("伙伴 咨询", ["伙伴咨询"]) and same_corp("ACME Ltd", ["acme ltd"])
    assert not same_corp("竞品", ["伙伴咨询", " "])


def test_a_wecom_user_without_a_company_is_not_another_companys_staff() -> None:
    newcomer = Newcomer("c", "u", name="李四", contact=ContactKind.WECOM, corp_name="")
    assert screen_newcomer(newcomer, MATCHER, GroupPolicy()).actions == ()


def test_hopping_off_with_zero_groups() -> None:
    newcomer = Newcomer("c", "u", name="阿强", joined_groups=("a", "b", "c", "d"))
    assert screen_newcomer(newcomer, MATCHER, GroupPolicy(hop_min_groups=0)).actions == ()
    assert screen_newcomer(newcomer, MATCHER, GroupPolicy(hop_min_groups=4)).actions != ()


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ({"join_screening": "kick"}, "join_screening"),
        ({"partner_corps": "伙伴"}, "partner_corps"),
        ({"hop_min_groups": -1}, "hop_min_groups"),
        ({"hop_window_hours": 0}, "hop_window_hours"),
    ],
)
def test_bad_screening_policy_values_are_refused_by_name(
    policy: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        GroupPolicy.from_mapping(policy)
