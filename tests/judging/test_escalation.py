"""Flooding, promotion and the escalation ladder, from the user's side: encrypted smart-bot
callbacks in, the calls to (fake) WeCom out, the moderation log and strikes through the API."""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from app.models import Group, MessageMeta, ModerationLog, Strike
from app.repositories import strikes as strikes_repo
from moderation import MessageMeta as FloodMeta
from moderation import Severity, detect_flood, fold
from moderation.flood import FloodThresholds, short_text, text_fingerprint
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgAAAAchat1"
# promo.phone: 1.0, promotional from an established member with an invitation (a number
# alone, answering someone, is only for the moderators to look at)
PHONE = "想赚钱的联系我 13800138000"


def policy_file(tmp_path: Path, **policy: Any) -> str:
    """A POLICY_PATH file; members are established at once unless the test says otherwise."""
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps({"newcomer_days": 0, "newcomer_messages": 0, **policy}), encoding="utf-8"
    )
    return str(path)


async def running(database_url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Service]:
    async for service in start_service(
        make_settings(database_url, tmp_path, **settings), support.FakeWeCom()
    ):
        yield service


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async for service in running(database_url, tmp_path, policy_path=policy_file(tmp_path)):
        yield service


async def say(service: Service, text: str, msgid: str, sender: str = "lisi") -> None:
    await service.post_aibot(support.aibot_group_text(text, msgid=msgid, sender=sender))
    await service.settle()


def replies(service: Service) -> list[str]:
    """What the bot posted in the group (smart-bot replies), oldest first."""
    return [body["markdown"]["content"] for body in service.wecom.bodies("/cgi-bin/aibot/response")]


def alerts(service: Service) -> list[str]:
    return [body["markdown"]["content"] for body in service.wecom.bodies("/cgi-bin/message/send")]


async def logs(service: Service) -> list[dict[str, Any]]:
    items = (await service.api("/api/v1/moderation-logs", limit=100)).json()["items"]
    return list(reversed(items))  # oldest first


async def test_three_offences_climb_the_ladder_to_a_human_action_alert(service: Service) -> None:
    await say(service, PHONE, "m-1")
    assert len(replies(service)) == 1 and "违反了群规" in replies(service)[0]
    assert "广告引流（手机号）" in replies(service)[0]
    assert "「1*********0」" in replies(service)[0]  # the number is masked, not repeated
    assert alerts(service) == []  # a first offence of review tier: a warning, no alert

    await say(service, "加我 13900139000 带你赚钱", "m-2")
    assert len(replies(service)) == 2 and "最后一次警告" in replies(service)[1]
    assert len(alerts(service)) == 1
    assert "违规次数：第 2 次" in alerts(service)[0]
    assert "已在群内发出最后警告" in alerts(service)[0]

    await say(service, "联系我 13700137000 详谈", "m-3")
    assert len(replies(service)) == 2  # no third warning: removal is due
    assert len(alerts(service)) == 2
    third = alerts(service)[1]
    assert "第 3 次" in third and "企业微信不允许本应用移出该群成员" in third
    assert "群成员 → 移出该成员" in third
    assert service.wecom.calls("/cgi-bin/appchat/update") == []  # not an app-created group

    rows = await logs(service)
    assert [row["step"] for row in rows] == ["warning", "final_warning", "removal"]
    assert [row["strikes"] for row in rows] == [1, 2, 3]
    assert [row["decision"] for row in rows] == ["warn", "warn", "alert"]
    assert all(row["mode"] == "enforce" for row in rows)
    assert rows[0]["signals"][0]["detector"] == "promo"
    assert rows[0]["signals"][0]["rule"] == "promo.phone"
    assert "offence 3 → removal (WeCom allows no removal here" in rows[2]["reason"]

    strikes = (await service.api(f"/api/v1/groups/{CHAT}/members/lisi/strikes")).json()
    assert strikes["standing"] == 3
    assert [s["rule"] for s in strikes["strikes"]] == [
        "promo.phone",
        "promo.wechat_id",
        "promo.phone",
    ]


async def test_in_an_app_created_group_the_third_offence_removes_the_member(
    service: Service,
) -> None:
    await say(service, PHONE, "m-1")  # the group is now known (kind unknown)
    async with service.runtime.sessions() as session, session.begin():
        await session.execute(update(Group).where(Group.chat_id == CHAT).values(kind="app_created"))
    await say(service, "加我 13900139000 带你赚钱", "m-2")
    await say(service, "联系我 13700137000 详谈", "m-3")
    (removal,) = service.wecom.bodies("/cgi-bin/appchat/update")
    assert removal == {"chatid": CHAT, "del_user_list": ["lisi"]}
    assert "已将该成员移出群聊" in alerts(service)[-1]
    assert (await logs(service))[-1]["decision"] == "remove"


async def test_a_block_tier_word_alerts_at_the_first_offence(service: Service) -> None:
    await say(service, "一起去赌博吧", "m-1")
    (warning,) = replies(service)
    assert "赌博" in warning and "「赌*」" in warning
    assert len(alerts(service)) == 1  # severity skips the alert-free step
    assert "第 1 次" in alerts(service)[0]


async def test_shadow_mode_sends_nothing_and_logs_the_same_decisions(
    database_url: str, tmp_path: Path
) -> None:
    async for service in running(
        database_url, tmp_path, policy_path=policy_file(tmp_path, mode="shadow")
    ):
        await say(service, PHONE, "m-1")
        await say(service, "加我 13900139000 带你赚钱", "m-2")
        await say(service, "联系我 13700137000 详谈", "m-3")
        assert replies(service) == [] and alerts(service) == []
        assert service.wecom.requests == []
        rows = await logs(service)
        assert [row["step"] for row in rows] == ["warning", "final_warning", "removal"]
        assert [row["decision"] for row in rows] == ["warn", "warn", "alert"]
        assert all(row["mode"] == "shadow" for row in rows)
        assert all(row["actions"] == [] for row in rows)  # nothing queued
        # Shadow strikes are kept apart: going live does not punish the trial period.
        strikes = (await service.api(f"/api/v1/groups/{CHAT}/members/lisi/strikes")).json()
        assert strikes["standing"] == 0 and all(s["shadow"] for s in strikes["strikes"])


async def test_off_mode_does_nothing_at_all(database_url: str, tmp_path: Path) -> None:
    async for service in running(
        database_url, tmp_path, policy_path=policy_file(tmp_path, mode="off")
    ):
        await say(service, "一起去赌博吧 " + PHONE, "m-1")
        assert service.wecom.requests == []
        assert await logs(service) == []


@pytest.mark.parametrize("sender", [support.MODERATORS[0], "staff-wang"])
async def test_moderators_and_staff_are_exempt_but_logged(
    database_url: str, tmp_path: Path, sender: str
) -> None:
    async for service in running(
        database_url,
        tmp_path,
        policy_path=policy_file(tmp_path),
        wecom_staff_userids="staff-wang",
    ):
        for index in range(3):
            await say(service, f"课程报名请联系 1380013800{index} 谢谢", f"m-{index}", sender)
        assert service.wecom.requests == []
        rows = await logs(service)
        assert [row["decision"] for row in rows] == ["exempt"] * 3
        assert all(row["strikes"] == 0 and row["step"] is None for row in rows)
        assert "sender exempt" in rows[0]["reason"]


async def test_a_pardon_starts_the_ladder_again(service: Service) -> None:
    await say(service, PHONE, "m-1")
    await say(service, "加我 13900139000 带你赚钱", "m-2")
    answer = await service.http.post(
        f"/api/v1/groups/{CHAT}/members/lisi/pardon",
        json={"by": "mod-alice"},
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert answer.status_code == 200 and answer.json()["pardoned"] == 2
    await say(service, "联系我 13700137000 详谈", "m-3")
    assert (await logs(service))[-1]["step"] == "warning"
    strikes = (await service.api(f"/api/v1/groups/{CHAT}/members/lisi/strikes")).json()
    assert strikes["standing"] == 1
    assert [s["pardoned_by"] for s in strikes["strikes"]] == ["mod-alice", "mod-alice", None]


async def test_flooding_is_warned_with_the_rule_and_the_counts(service: Service) -> None:
    # Seven different lines (the same line with another number would be a near-copy: repeat).
    for index, topic in enumerate(("早", "开会", "午饭", "下雨", "快递", "加班", "周末")):
        await say(service, f"第{index}条 {topic}", f"m-{index}")
    (warning,) = replies(service)
    assert "刷屏（短时间内发送过多消息）" in warning
    assert "10 秒内 7 条，上限 6 条" in warning
    (row,) = await logs(service)
    assert row["signals"][0]["rule"] == "flood.rate"


async def test_flood_rules_over_the_stored_history_match_the_rules_over_every_message(
    database_url: str, tmp_path: Path
) -> None:
    """A seeded stream in two groups (rate, repeats and waves among other members'
    chatter), judged in batches of 1 to 25 from the stored history: each message's flood rules
    are those `detect_flood` finds over the whole history of its group (and of the other group,
    for how far a text spread), although only the sender's own messages and copies of its
    text are read back. The smart bot's own @-mention is no part of any text."""
    rng = random.Random(20261121)
    texts = [
        "周末的活动改到下午三点钟开始，大家记得带上身份证",  # long: a wave of it blocks
        "明天的例会取消了请互相转告一下",  # medium: a wave of it is reviewed
        "新版本的说明已经放在群文件里了",
        "1",
        "好",
    ]
    members = ["zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi"]
    chats = ["wrOgAAAAflood1", "wrOgAAAAflood2"]
    clock = support.Clock()
    settings = make_settings(database_url, tmp_path, policy_path=policy_file(tmp_path))
    sent: list[tuple[str, FloodMeta, str]] = []  # msgid, metadata, folded text
    async for service in start_service(settings, support.FakeWeCom(), clock=clock):
        index = 0
        burst: list[tuple[str, str]] = []  # one member posting fast: rate, short burst
        pool = texts
        while index < 300:
            for _ in range(rng.randint(1, 25)):
                if not burst and rng.random() < 0.1:
                    pool = rng.choice([texts, texts[3:]])
                    burst = [(rng.choice(chats), rng.choice(members))] * rng.randint(4, 9)
                if burst:
                    (chat, sender), text = burst.pop(), rng.choice(pool)
                else:
                    chat, sender = rng.choice(chats), rng.choice(members)
                    text = rng.choice(texts[:2] if rng.random() < 0.3 else texts)
                msgid = f"flood-{index}"
                answer = await service.post_aibot(
                    support.aibot_group_text(text, msgid=msgid, sender=sender, chat_id=chat)
                )
                assert answer.status_code == 200
                folded = fold(text)
                meta = FloodMeta(
                    at=clock.now.timestamp(),
                    sender=sender,
                    chat_id=chat,
                    msg_type="text",
                    length=len(text),
                    text_hash=text_fingerprint(text),
                    short_text=short_text(folded),
                )
                sent.append((msgid, meta, folded))
                clock.advance(rng.uniform(0.2, 1.0) if burst else rng.uniform(0.5, 5.0))
                index += 1
            await service.runtime.processor.process_pending()
        found = set()
        cursor: dict[str, str] = {}
        while True:
            page = (await service.api("/api/v1/moderation-logs", limit=100, **cursor)).json()
            found |= {
                (row["message_id"], signal["rule"])
                for row in page["items"]
                for signal in row["signals"]
                if signal["rule"].startswith("flood.")
            }
            if page["next_cursor"] is None:
                break
            cursor = {"cursor": page["next_cursor"]}
    expected = set()
    for position, (msgid, meta, folded) in enumerate(sent):
        history = [earlier for _id, earlier, _folded in sent[:position]]
        window = FloodThresholds().wave_window_seconds
        elsewhere = {
            earlier.chat_id
            for earlier in history
            if earlier.text_hash == meta.text_hash and meta.at - window <= earlier.at
        } - {meta.chat_id}
        found_now = detect_flood(
            meta, folded, history, FloodThresholds(), other_groups=len(elsewhere)
        )
        for signal in found_now:
            if signal.severity is not Severity.LOG:
                expected.add((msgid, signal.rule))
    assert {rule for _msgid, rule in expected} >= {
        "flood.rate",
        "flood.repeat",
        "flood.wave",
        "flood.short_burst",
    }
    assert found == expected


async def test_a_newcomers_plain_link_is_reviewed_a_short_link_blocked_a_members_ignored(
    database_url: str, tmp_path: Path
) -> None:
    async for service in running(
        database_url,
        tmp_path,
        policy_path=policy_file(tmp_path, newcomer_days=1, newcomer_messages=3),
    ):
        # A newcomer's plain link is for a moderator to look at, never a public warning.
        await say(service, "福利在这 www.tb-deal.cn", "m-1", sender="new-guy")
        assert replies(service) == [] and len(alerts(service)) == 1
        # A short link or a disguised one is promotion: warned, and block tier.
        await say(service, "福利在这 t。cn/abc123", "m-2", sender="new-guy")
        assert len(replies(service)) == 1 and "广告引流（短链接）" in replies(service)[0]
        assert len(alerts(service)) == 2
    async for service in running(database_url, tmp_path, policy_path=policy_file(tmp_path)):
        await say(service, "方案文档在这 https://docs.example.com/a/b", "m-2", sender="old-hand")
        assert service.wecom.requests == []


async def test_everyday_chat_is_left_alone(service: Service) -> None:
    for index, (sender, text) in enumerate(
        [
            ("zhangsan", "好的 谢谢"),
            ("lisi", "好的 谢谢"),
            ("wangwu", "收到"),
            ("zhangsan", "今天下午3点开会，会议室301"),
            ("lisi", "版本v1.2发布了，价格3.5元"),
        ]
    ):
        await say(service, text, f"m-{index}", sender)
    assert service.wecom.requests == []
    assert await logs(service) == []


async def test_message_metadata_keeps_no_text_and_is_pruned(service: Service) -> None:
    await say(service, "今天天气不错", "m-1")
    async with service.runtime.sessions() as session:
        (meta,) = (await session.execute(select(MessageMeta))).scalars().all()
        # What the member said: the smart bot's own @-mention is not part of it.
        assert meta.length == len("今天天气不错") and len(meta.text_hash) == 32
        assert "天气" not in json.dumps(
            {c.name: str(getattr(meta, c.name)) for c in MessageMeta.__table__.columns}
        )
    processor = service.runtime.processor
    assert await processor.prune_activity(now=meta.sent_at + timedelta(hours=23)) == 0
    assert await processor.prune_activity(now=meta.sent_at + timedelta(hours=25)) == 1
    async with service.runtime.sessions() as session:
        assert (await session.execute(select(MessageMeta))).scalars().all() == []
        assert (await session.execute(select(ModerationLog))).scalars().all() == []
        assert (await session.execute(select(Strike))).scalars().all() == []


async def test_a_spam_wave_sends_digests_within_the_rate_limit_and_loses_no_alert(
    service: Service,
) -> None:
    for index in range(50):
        await service.post_aibot(
            support.aibot_group_text(
                f"一起去赌博吧 {index}", msgid=f"wave-{index}", sender=f"spammer-{index}"
            )
        )
    await service.settle()
    rows = await logs(service)
    assert len(rows) == 50
    sends = alerts(service)
    assert 1 < len(sends) <= 30  # a handful of digests, not fifty alerts, and within 30/min
    listed = "\n".join(sends)
    for row in rows:  # every flagged message reaches the moderators, merged or not
        assert re.search(rf"#{row['id']}(?!\d)", listed)
    assert any("违规消息汇总" in body for body in sends)
    statuses = {action["status"] for row in rows for action in row["actions"]}
    assert statuses <= {"sent", "merged"}
    for body in service.wecom.bodies("/cgi-bin/message/send"):
        assert len(body["markdown"]["content"].encode("utf-8")) <= 2048


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"mode": "loud"}', "policy mode: 'loud' is not one of enforce, shadow, off"),
        ('{"ladder": "warning"}', "policy ladder: expected a list of steps"),
        ('{"flood": {"bogus": 1}}', "policy flood: unknown flood threshold(s): bogus"),
        ('{"sometimes": 1}', "policy: unknown setting(s) sometimes"),
        ("{not json", "not a UTF-8 JSON file"),
    ],
)
def test_a_bad_policy_file_stops_start_up_naming_the_setting(
    tmp_path: Path, content: str, message: str
) -> None:
    from app.groups.policy_file import load_policy
    from app.settings import SettingsError

    path = tmp_path / "policy.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError, match="POLICY_PATH") as caught:
        load_policy(path)
    assert message in str(caught.value)


async def test_standing_counts_of_several_groups_match_a_count_of_every_strike(
    service: Service,
) -> None:
    """One query for a batch's groups, each with its own members, window and shadow flag:
    the counts must be what counting every strike row by hand gives."""
    rng = random.Random(7)
    now = service.runtime.now()
    chats, users = ["wrA", "wrB", "wrC", "wrD"], ["u1", "u2", "u3", "u4"]
    rows = [
        Strike(
            chat_id=rng.choice(chats),
            user_id=rng.choice(users),
            created_at=now - timedelta(days=rng.uniform(0, 40)),
            moderation_log_id=None,
            rule="lexicon.fraud",
            shadow=rng.random() < 0.3,
            pardoned_at=now if rng.random() < 0.2 else None,
        )
        for _ in range(300)
    ]
    wanted = {
        "wrA": (["u1", "u2", "u3"], now - timedelta(days=30), False),
        "wrB": (["u2", "u4"], now - timedelta(days=10), True),
        "wrC": ([], now - timedelta(days=30), False),  # nobody asked: nothing counted
        "wrD": (["u1"], now - timedelta(days=20), False),
        "wrE": (["u3"], now - timedelta(days=30), False),  # no rows at all
    }
    async with service.runtime.sessions() as session, session.begin():
        session.add_all(rows)
    async with service.runtime.sessions() as session:
        counts = await strikes_repo.standing_counts_many(session, wanted)
    expected: dict[tuple[str, str], int] = {}
    for row in rows:
        listed, since, shadow = wanted.get(row.chat_id, ([], now, False))
        if (
            row.user_id in listed
            and row.created_at >= since
            and row.shadow == shadow
            and row.pardoned_at is None
        ):
            key = (row.chat_id, row.user_id)
            expected[key] = expected.get(key, 0) + 1
    assert counts == expected
    assert {chat for chat, _user in counts} == {"wrA", "wrB", "wrD"}  # the seed covers these


# --- Group life: the innocent members of issue 17 -------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "周报模板在这 https://docs.qq.com/sheet/DUnJvbmtUYWxr",
        "十点的会议链接 https://meeting.tencent.com/dm/AbCdEf12",
        "管理后台 https://work.weixin.qq.com/wework_admin/frame",
        "这篇文章不错 https://mp.weixin.qq.com/s/Xy12AbCdEf",
        "简历投递到 hr@example.com 就行",
    ],
)
async def test_a_newcomer_sharing_a_work_link_on_day_one_is_not_warned(
    database_url: str, tmp_path: Path, text: str
) -> None:
    async for service in running(
        database_url,
        tmp_path,
        policy_path=policy_file(tmp_path, newcomer_days=1, newcomer_messages=3),
        corp_domains="example.com",
    ):
        await say(service, text, "m-1", sender="new-guy")
        assert replies(service) == []
        assert alerts(service) == []


async def test_a_newcomers_shop_link_is_reviewed_not_warned(
    database_url: str, tmp_path: Path
) -> None:
    async for service in running(
        database_url,
        tmp_path,
        policy_path=policy_file(tmp_path, newcomer_days=1, newcomer_messages=3),
    ):
        await say(service, "这个同款 https://item.jd.com/100012043978.html", "m-1", sender="n")
        assert replies(service) == [] and len(alerts(service)) == 1


async def test_a_birthday_wave_with_the_bots_mention_is_group_life(service: Service) -> None:
    for index, sender in enumerate(["zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi"]):
        await say(service, "祝王老师生日快乐，天天开心，万事如意！🎂", f"m-{index}", sender)
    for index, sender in enumerate(["zhangsan", "lisi", "wangwu", "zhaoliu"]):
        await say(service, "+1", f"p-{index}", sender)
    assert service.wecom.requests == []
    assert await logs(service) == []


async def test_a_copy_paste_wave_of_an_ad_is_still_a_wave(service: Service) -> None:
    ad = "新店开业全场五折，扫码进群领优惠券，名额有限先到先得"
    for index, sender in enumerate(["zhangsan", "lisi", "wangwu"]):
        await say(service, ad, f"m-{index}", sender)
    rules = {signal["rule"] for row in await logs(service) for signal in row["signals"]}
    assert "flood.wave" in rules


async def test_a_contact_spelled_out_one_character_per_message_is_promotion(
    service: Service,
) -> None:
    for index, char in enumerate("加我V13800138000"):
        await say(service, char, f"m-{index}", "wmSplit")
    rules = {
        signal["rule"]
        for row in await logs(service)
        for signal in row["signals"]
        for signal in [signal, *signal["facts"].get("signals", [])]
    }
    assert "promo.split" in rules
