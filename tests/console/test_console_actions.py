"""The console's actions on members and groups, the lexicon file import, the log's rule filter
and how findings are described, over HTTP with a signed-in session (tests/console/
test_console.py has sign-in, roles and the other pages; the browser walk is
tests/console/test_console_browser.py).

Each change is made as a person would make it (the page's form, its CSRF token), and checked
from the outside: the page, the REST API, the audit trail, the outbox."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support
from tests.conftest import Service, start_service
from tests.console.test_console import (
    AUDITOR,
    CHAT,
    GROUP_MOD,
    OTHER,
    console_settings,
    csrf_of,
    sign_in,
    strikes,
    two_groups,
)

ADMIN = support.MODERATORS[0]  # WECOM_ADMIN_USERIDS
SECRET_KEY = "k" * 43
ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    settings = console_settings(database_url, tmp_path, secret_key=SECRET_KEY)
    async for running in start_service(settings, support.FakeWeCom()):
        yield running


async def admin_patch(service: Service, chat: str, **body: Any) -> None:
    answer = await service.http.patch(
        f"/api/v1/groups/{chat}",
        json=body,
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert answer.status_code == 200, answer.text


async def audit_of(service: Service, action: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await service.api("/api/v1/audit", action=action)).json()[
        "items"
    ]
    return items


async def outbox_kinds(service: Service) -> list[tuple[str, str]]:
    items = (await service.api("/api/v1/outbox")).json()["items"]
    return [(item["kind"], item["status"]) for item in items]


def problem_of(page: httpx.Response) -> str:
    match = re.search(r'id="(?:member|group)-problem">(.*?)</(?:p|div)>', page.text, re.DOTALL)
    assert match, "no problem on the page"
    return re.sub(r"<[^>]+>", "", match.group(1))


# -- warn and remove a member ------------------------------------------------------------


async def test_warn_where_the_group_cannot_post_is_refused_and_changes_nothing(
    service: Service,
) -> None:
    await two_groups(service)  # CHAT is known through the smart bot only: no channel to post
    await sign_in(service, GROUP_MOD)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert 'id="warn-cannot"' in page.text and 'id="warn-form"' not in page.text
    answer = await service.http.post(
        f"/console/groups/{CHAT}/members/lisi/warn",
        data={"csrf": csrf_of(page), "reason": "刷屏"},
    )
    assert answer.status_code == 422
    assert "webhook key" in problem_of(answer) and "无法在群里发出警告" in problem_of(answer)
    assert await strikes(service, "lisi") == 1
    assert await audit_of(service, "member.warn") == []


async def test_a_moderator_warns_a_member_through_the_groups_channel(service: Service) -> None:
    await two_groups(service)
    await admin_patch(service, CHAT, webhook_key=ROBOT_KEY)
    await sign_in(service, GROUP_MOD)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert 'id="warn-form"' in page.text
    # An internal group with a robot: a warning can be posted, a removal cannot.
    assert 'id="remove-form"' not in page.text and "群主在企业微信中" in page.text
    done = await service.http.post(
        f"/console/groups/{CHAT}/members/lisi/warn",
        data={"csrf": csrf_of(page), "reason": "刷屏"},
    )
    assert done.status_code == 200, done.text
    assert 'id="member-done"' in done.text and re.search(r'id="member-standing">2<', done.text)
    assert await strikes(service, "lisi") == 2
    (entry,) = await audit_of(service, "member.warn")
    assert (entry["actor"], entry["channel"]) == (GROUP_MOD, "console")
    assert entry["details"]["reason"] == "刷屏" and entry["details"]["strikes"] == 2
    log = (await service.api(f"/api/v1/moderation-logs/{entry['details']['log_id']}")).json()
    assert (log["source"], log["decision"], log["user_id"]) == ("command", "warn", "lisi")
    assert ("webhook_send", "pending") in await outbox_kinds(service) or (
        "webhook_send",
        "sent",
    ) in await outbox_kinds(service)


async def test_warn_and_remove_refusals(service: Service) -> None:
    await two_groups(service)
    await admin_patch(service, CHAT, kind="app_created")
    await sign_in(service, GROUP_MOD)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    token = csrf_of(page)
    base = f"/console/groups/{CHAT}/members"
    # Without the CSRF token: 403; another group's member: 404; nothing changes.
    assert (await service.http.post(f"{base}/lisi/warn")).status_code == 403
    other = await service.http.post(
        f"/console/groups/{OTHER}/members/zhaoliu/warn", data={"csrf": token}
    )
    assert other.status_code == 404
    unknown = await service.http.post(f"{base}/nobody/remove", data={"csrf": token})
    assert unknown.status_code == 404
    # The group's moderators and owner are not warned or removed (as in the chat commands).
    await admin_patch(service, CHAT, moderators=[GROUP_MOD, "lisi"])
    for action in ("warn", "remove"):
        protected = await service.http.post(f"{base}/lisi/{action}", data={"csrf": token})
        assert protected.status_code == 422 and "不能警告或移出" in problem_of(protected)
    await admin_patch(service, CHAT, moderators=[GROUP_MOD])
    # A reason longer than the chat commands take.
    long = await service.http.post(f"{base}/lisi/warn", data={"csrf": token, "reason": "长" * 201})
    assert long.status_code == 422 and "原因太长" in problem_of(long)
    assert await strikes(service, "lisi") == 1 and await strikes(service, "zhaoliu", OTHER) == 1
    assert await audit_of(service, "member.") == []
    # A read-only account changes nothing.
    service.http.cookies.clear()
    await sign_in(service, AUDITOR)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert 'id="warn-form"' not in page.text
    refused = await service.http.post(f"{base}/lisi/warn", data={"csrf": csrf_of(page)})
    assert refused.status_code == 403 and await strikes(service, "lisi") == 1


async def test_remove_only_where_wecom_allows_it(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, GROUP_MOD)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    refused = await service.http.post(
        f"/console/groups/{CHAT}/members/lisi/remove", data={"csrf": csrf_of(page)}
    )
    assert refused.status_code == 422 and "只有本应用创建的群" in problem_of(refused)
    assert await audit_of(service, "member.kick") == []
    assert not [kind for kind, _ in await outbox_kinds(service) if kind == "appchat_remove"]

    await admin_patch(service, CHAT, kind="app_created")
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert 'id="remove-form"' in page.text
    done = await service.http.post(
        f"/console/groups/{CHAT}/members/lisi/remove",
        data={"csrf": csrf_of(page), "reason": "多次广告"},
    )
    assert done.status_code == 200 and 'id="member-done"' in done.text
    (entry,) = await audit_of(service, "member.kick")
    assert (entry["actor"], entry["channel"], entry["details"]) == (
        GROUP_MOD,
        "console",
        {"reason": "多次广告"},
    )
    assert [kind for kind, _ in await outbox_kinds(service) if kind == "appchat_remove"]


async def test_customer_group_says_only_the_owner_can_remove(service: Service) -> None:
    await two_groups(service)
    await admin_patch(service, CHAT, kind="customer")
    await sign_in(service, GROUP_MOD)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert "客户群" in page.text and "只有群主能在企业微信客户端中移出" in page.text
    refused = await service.http.post(
        f"/console/groups/{CHAT}/members/lisi/remove", data={"csrf": csrf_of(page)}
    )
    assert refused.status_code == 422 and "没有移出客户群成员的接口" in problem_of(refused)


# -- a group's moderators, policy overrides and webhook key ------------------------------


async def test_only_admins_change_moderators_policy_and_webhook(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, GROUP_MOD)
    page = await service.http.get(f"/console/groups/{CHAT}")
    assert 'id="policy-form"' not in page.text and "只有管理员可以修改" in page.text
    assert 'id="policy-table"' in page.text  # the defaults and what is in force, to read
    token = csrf_of(page)
    for path, data in (
        ("moderators", {"moderators": f"{GROUP_MOD} mod-erin"}),
        ("policy", {"policy": '{"mode": "off"}'}),
        ("webhook", {"webhook_key": ROBOT_KEY}),
    ):
        answer = await service.http.post(f"/console/groups/{CHAT}/{path}", data={**data})
        assert answer.status_code == 403  # no CSRF token
        answer = await service.http.post(
            f"/console/groups/{CHAT}/{path}", data={"csrf": token, **data}
        )
        assert answer.status_code == 403, path
    group = (await service.api(f"/api/v1/groups/{CHAT}")).json()
    assert group["moderators"] == [GROUP_MOD] and group["policy"] == {}
    assert group["capabilities"]["webhook"] is False
    assert [e for e in await audit_of(service, "group.update") if e["channel"] == "console"] == []


async def test_policy_overrides_are_checked_as_the_rest_api_checks_them(
    service: Service,
) -> None:
    await two_groups(service)
    await sign_in(service, ADMIN)
    page = await service.http.get(f"/console/groups/{CHAT}")
    assert 'id="policy-form"' in page.text
    assert "report_threshold" in page.text and "strike_window_days" in page.text  # defaults
    token = csrf_of(page)
    for overrides in ('{"report_threshold": 0}', '{"no_such": 1}', "[1]", "{not json"):
        rest = await service.http.patch(
            f"/api/v1/groups/{CHAT}",
            content='{"policy": ' + overrides + "}",
            headers={
                "Authorization": f"Bearer {support.ADMIN_TOKEN}",
                "Content-Type": "application/json",
            },
        )
        answer = await service.http.post(
            f"/console/groups/{CHAT}/policy", data={"csrf": token, "policy": overrides}
        )
        assert answer.status_code == 422, overrides
        shown = html.unescape(answer.text)
        assert "策略覆盖有误，未保存" in shown and overrides in shown  # kept as typed
        assert rest.status_code == 422
        if overrides.startswith('{"'):  # the same words as the REST API's
            assert rest.json()["error"] in shown
    deep = await service.http.post(
        f"/console/groups/{CHAT}/policy", data={"csrf": token, "policy": "[" * 19_000}
    )
    assert deep.status_code == 422 and "not JSON" in deep.text
    assert (await service.api(f"/api/v1/groups/{CHAT}")).json()["policy"] == {}

    saved = await service.http.post(
        f"/console/groups/{CHAT}/policy",
        data={
            "csrf": token,
            "policy": '{"report_threshold": 5, "flood": {"rate_max_messages": 8}}',
        },
    )
    assert saved.status_code == 200 and 'id="group-saved"' in saved.text
    group = (await service.api(f"/api/v1/groups/{CHAT}")).json()
    assert group["policy"] == {"report_threshold": 5, "flood": {"rate_max_messages": 8}}
    (entry,) = [e for e in await audit_of(service, "group.update") if e["channel"] == "console"]
    assert entry["actor"] == ADMIN and "policy" in entry["details"]["changes"]
    cleared = await service.http.post(
        f"/console/groups/{CHAT}/policy", data={"csrf": token, "policy": ""}
    )
    assert cleared.status_code == 200
    assert (await service.api(f"/api/v1/groups/{CHAT}")).json()["policy"] == {}


async def test_moderators_edited_and_checked(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, ADMIN)
    token = csrf_of(await service.http.get(f"/console/groups/{CHAT}"))
    bad = await service.http.post(
        f"/console/groups/{CHAT}/moderators", data={"csrf": token, "moderators": "x" * 129}
    )
    assert bad.status_code == 422 and "群管理员有误" in bad.text and "moderators[0]" in bad.text
    assert (await service.api(f"/api/v1/groups/{CHAT}")).json()["moderators"] == [GROUP_MOD]
    done = await service.http.post(
        f"/console/groups/{CHAT}/moderators",
        data={"csrf": token, "moderators": f"{GROUP_MOD}\nmod-erin，mod-erin  mod-fay"},
    )
    assert done.status_code == 200
    group = (await service.api(f"/api/v1/groups/{CHAT}")).json()
    assert group["moderators"] == [GROUP_MOD, "mod-erin", "mod-fay"]
    (entry,) = [e for e in await audit_of(service, "group.update") if e["channel"] == "console"]
    assert entry["actor"] == ADMIN
    assert entry["details"]["changes"]["moderators"]["to"] == [GROUP_MOD, "mod-erin", "mod-fay"]
    # The new moderator has the group at once; an empty list leaves the owner and admins.
    await service.http.post(f"/console/groups/{CHAT}/moderators", data={"csrf": token})
    assert (await service.api(f"/api/v1/groups/{CHAT}")).json()["moderators"] == []


async def test_webhook_key_is_set_never_shown_and_cleared(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, ADMIN)
    token = csrf_of(await service.http.get(f"/console/groups/{CHAT}"))
    bad = await service.http.post(
        f"/console/groups/{CHAT}/webhook", data={"csrf": token, "webhook_key": "short"}
    )
    assert bad.status_code == 422 and "webhook key 有误" in bad.text
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}"
    done = await service.http.post(
        f"/console/groups/{CHAT}/webhook", data={"csrf": token, "webhook_key": url}
    )
    assert done.status_code == 200 and re.search(r'id="webhook-state">已设置<', done.text)
    assert ROBOT_KEY not in done.text
    assert (await service.api(f"/api/v1/groups/{CHAT}")).json()["capabilities"]["webhook"]
    page = await service.http.get(f"/console/groups/{CHAT}")
    assert ROBOT_KEY not in page.text and 'id="webhook-clear"' in page.text
    cleared = await service.http.post(
        f"/console/groups/{CHAT}/webhook", data={"csrf": token, "clear": "1"}
    )
    assert re.search(r'id="webhook-state">未设置<', cleared.text)
    changes = [
        e["details"]["changes"]["webhook_key"]
        for e in await audit_of(service, "group.update")
        if e["channel"] == "console"
    ]
    assert changes == [{"from": "set", "to": "cleared"}, {"from": "unset", "to": "set"}]
    assert all(ROBOT_KEY not in str(e) for e in await audit_of(service, "group.update"))


async def test_webhook_key_without_secret_key_is_refused(database_url: str, tmp_path: Path) -> None:
    settings = console_settings(database_url, tmp_path, secret_key=None)
    async for service in start_service(settings, support.FakeWeCom()):
        await two_groups(service)
        await sign_in(service, ADMIN)
        token = csrf_of(await service.http.get(f"/console/groups/{CHAT}"))
        answer = await service.http.post(
            f"/console/groups/{CHAT}/webhook", data={"csrf": token, "webhook_key": ROBOT_KEY}
        )
        assert answer.status_code == 422 and "SECRET_KEY" in answer.text
        assert not (await service.api(f"/api/v1/groups/{CHAT}")).json()["capabilities"]["webhook"]


# -- lexicon file import -----------------------------------------------------------------


async def upload(
    service: Service, token: str, content: bytes, *, kind: str = "words", name: str = "w.txt"
) -> httpx.Response:
    return await service.http.post(
        "/console/lexicon/import",
        data={"csrf": token, "kind": kind},
        files={"file": (name, content, "text/plain")},
    )


async def test_import_a_word_file(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, ADMIN)
    token = csrf_of(await service.http.get("/console/lexicon"))
    content = "# 导入\n百家乐\tgambling\n赌博\tgambling\treview\n六合彩\n".encode()
    done = await upload(service, token, content, name="博彩.txt")
    assert done.status_code == 200, done.text
    assert re.search(r'id="import-added">2<', done.text)
    assert re.search(r'id="import-updated">1<', done.text)
    assert re.search(r'id="import-refused">0<', done.text)
    words = {item["word"] for item in (await service.api("/api/v1/lexicon/words")).json()["items"]}
    assert {"百家乐", "六合彩"} <= words
    (entry,) = await audit_of(service, "lexicon.words.import")
    assert (entry["actor"], entry["channel"]) == (ADMIN, "console")
    assert entry["details"]["file"] == "博彩.txt" and entry["details"]["added"] == 2
    # The test box finds an imported word once the workers reload the lexicon.
    await service.settle()
    check = await service.http.post(
        "/console/lexicon/test", data={"csrf": token, "text": "周末来玩百家乐"}
    )
    assert ">百家乐</mark>" in check.text
    # An allow-list file, GBK as published lists often are.
    allowed = await upload(service, token, "路口交通\n".encode("gb18030"), kind="allow")
    assert re.search(r'id="import-added">1<', allowed.text)


async def test_a_malformed_word_file_imports_nothing_and_names_every_bad_line(
    service: Service,
) -> None:
    await two_groups(service)
    await sign_in(service, ADMIN)
    token = csrf_of(await service.http.get("/console/lexicon"))
    before = (await service.api("/api/v1/lexicon/words")).json()["items"]
    content = "百家乐\n坏词\tgambling\tloud\n!!!\n六合彩\n\tgambling\n".encode()
    answer = await upload(service, token, content, name="bad.txt")
    assert answer.status_code == 422
    assert "整个文件未导入" in answer.text and re.search(r'id="import-refused">3<', answer.text)
    lines = re.findall(r"<li><code>(bad\.txt:\d+):", answer.text)
    assert lines == ["bad.txt:2", "bad.txt:3", "bad.txt:5"]
    assert (await service.api("/api/v1/lexicon/words")).json()["items"] == before
    assert await audit_of(service, "lexicon.words.import") == []
    for content, text in (
        (b"\xff\xfe\x00", "无法读取文件"),
        (b"# only a comment\n", "文件里没有词"),
    ):
        answer = await upload(service, token, content)
        assert answer.status_code == 422 and text in answer.text
    none = await service.http.post("/console/lexicon/import", data={"csrf": token})
    assert none.status_code == 422 and "请选择要导入的文件" in none.text


async def test_only_admins_import(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, GROUP_MOD)
    page = await service.http.get("/console/lexicon")
    assert 'id="import-form"' not in page.text
    assert (await upload(service, csrf_of(page), "百家乐\n".encode())).status_code == 403
    assert (await upload(service, "wrong", "百家乐\n".encode())).status_code == 403
    words = (await service.api("/api/v1/lexicon/words")).json()["items"]
    assert "百家乐" not in {item["word"] for item in words}


# -- the log's rule filter, and how findings matched -------------------------------------


async def test_log_filters_by_rule_across_pages_and_in_the_csv(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.console import pages as console_pages

    await two_groups(service)
    await service.post_aibot(
        support.aibot_group_text("加我微信 vx123456 领红包", msgid="a-2", sender="wangwu")
    )
    await service.post_aibot(support.aibot_group_text("又去赌博了", msgid="a-3", sender="lisi"))
    await service.settle()
    await sign_in(service, ADMIN)
    every = await service.http.get("/console/logs")
    assert every.text.count('id="row-') >= 4
    gambling = await service.http.get("/console/logs", params={"rule": "word.gambling"})
    rows = re.findall(r'id="row-(\d+)"', gambling.text)
    assert len(rows) == 3 and 'value="word.gambling"' in gambling.text
    none = await service.http.get("/console/logs", params={"rule": "flood.rate"})
    assert 'id="logs-empty"' in none.text
    # Kept across keyset pages and in the export.
    monkeypatch.setattr(console_pages, "PAGE_SIZE", 2)
    first = await service.http.get("/console/logs", params={"rule": "word.gambling"})
    more = re.search(r'id="logs-more" href="([^"]+)"', first.text)
    assert more and "rule=word.gambling" in more.group(1)
    second = await service.http.get(more.group(1).replace("&amp;", "&"))
    shown = re.findall(r'id="row-(\d+)"', first.text) + re.findall(r'id="row-(\d+)"', second.text)
    assert sorted(shown) == sorted(rows)
    export = re.search(r'id="logs-export" href="([^"]+)"', first.text)
    assert export and "rule=word.gambling" in export.group(1)
    csv = await service.http.get(export.group(1).replace("&amp;", "&"))
    body = csv.text.splitlines()
    assert len(body) == 4 and all("word.gambling" in line for line in body[1:])
    in_chat = await service.http.get(
        "/console/logs/export.csv", params={"rule": "word.gambling", "chat_id": OTHER}
    )
    assert len(in_chat.text.splitlines()) == 2
    # A group moderator's filter stays within their groups.
    service.http.cookies.clear()
    await sign_in(service, GROUP_MOD)
    theirs = await service.http.get("/console/logs", params={"rule": "word.gambling"})
    assert len(re.findall(r'id="row-(\d+)"', theirs.text)) == 2


async def test_findings_say_how_they_matched_in_the_route_texts(service: Service) -> None:
    await two_groups(service)
    await service.post_aibot(support.aibot_group_text("去du博吗", msgid="a-2", sender="lisi"))
    await service.settle()
    await sign_in(service, ADMIN)
    queue = await service.http.get("/console/review")
    hows = re.findall(r'<span class="how" title="([^"]*)">([^<]*)</span>', queue.text)
    assert ("exact", "原文") in hows
    assert any("mixed" in names and "汉字夹拼音" in text for names, text in hows), hows
    items = (await service.api("/api/v1/moderation-logs")).json()["items"]
    detail = await service.http.get(f"/console/logs/{items[0]['id']}")
    assert '<span class="how"' in detail.text and "汉字夹拼音" in detail.text
    # What fired is said in Chinese too; the engine's English explanation is only a tooltip.
    assert re.search(r'<span title="[^"]*via [^"]*">命中「赌博」，', detail.text), detail.text


@pytest.mark.parametrize(
    ("finding", "detail"),
    [
        ({"detector": "lexicon", "word": "赌博", "routes": ["pinyin"]}, "命中「赌博」，拼音"),
        (
            {
                "detector": "flood",
                "rule": "flood.rate",
                "facts": {"count": 8, "limit": 6, "window_seconds": 10.0},
            },
            "10 秒内 8 条",
        ),
        (
            {"detector": "promo", "rule": "promo.phone", "evidence": "138 0013 8000"},
            "138 0013 8000",
        ),
        ({"detector": "promo", "rule": "promo.phone", "facts": "not a dict"}, ""),
    ],
)
def test_a_stored_finding_says_what_fired_in_the_configured_language(
    finding: dict[str, Any], detail: str
) -> None:
    from app.console.pages import described
    from app.texts import load_texts

    shown = described(finding, load_texts(None))
    assert detail in shown["detail"] and "via" not in shown["detail"]


@pytest.mark.parametrize(
    ("finding", "how"),
    [
        ({"detector": "lexicon", "routes": ["gap", "repeat"]}, "字间插入符号或空格、重复字"),
        ({"route": "pinyin"}, "拼音"),
        ({"routes": ["exact"], "confidence": "low", "warning": "严禁"}, "原文；出现在劝诫"),
        ({"routes": ["later_route"]}, "later_route"),
        ({"detector": "flood", "rule": "flood.rate"}, None),
    ],
)
def test_a_stored_finding_is_described_with_the_route_texts(
    finding: dict[str, Any], how: str | None
) -> None:
    from app.console.pages import described
    from app.texts import load_texts

    shown = described(finding, load_texts(None))
    if how is None:
        assert "how" not in shown
    else:
        assert shown["how"].startswith(how)
    assert "how" not in finding  # the row's own JSON is left as stored
