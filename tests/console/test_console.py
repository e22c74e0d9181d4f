"""The web console over HTTP (no browser): sign-in, sessions, CSRF, security headers, who may
see and change what, and the pages against real judged messages.

The browser walk is tests/console/test_console_browser.py."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.console import pages as console_pages
from app.console import session as console_session
from app.console.texts import UI_TEXTS
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgAAAAchat1"
OTHER = "wrOgAAAAchat2"
OAUTH_HOST = "https://oauth.wecom.test"
LOGIN_HOST = "https://login.wecom.test"
GROUP_MOD = "mod-carol"  # a moderator of CHAT only
AUDITOR = "auditor-dan"  # CONSOLE_READONLY_USERIDS


def policy_file(tmp_path: Path) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    return str(path)


def console_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Any:
    return make_settings(
        database_url,
        tmp_path,
        policy_path=policy_file(tmp_path),
        wecom_oauth_host=OAUTH_HOST,
        wecom_login_host=LOGIN_HOST,
        console_readonly_userids=AUDITOR,
        **overrides,
    )


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async for running in start_service(
        console_settings(database_url, tmp_path), support.FakeWeCom()
    ):
        yield running


async def say(service: Service, text: str, msgid: str, sender: str, chat: str = CHAT) -> None:
    await service.post_aibot(
        support.aibot_group_text(text, msgid=msgid, sender=sender, chat_id=chat)
    )
    await service.settle()


async def two_groups(service: Service) -> dict[str, int]:
    """An offence in each group, and GROUP_MOD made a moderator of CHAT; the log ids."""
    await say(service, "今晚一起去赌博吧", "a-1", "lisi")
    await say(service, "赌博", "b-1", "zhaoliu", chat=OTHER)
    answer = await service.http.patch(
        f"/api/v1/groups/{CHAT}",
        json={"moderators": [GROUP_MOD]},
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert answer.status_code == 200, answer.text
    items = (await service.api("/api/v1/moderation-logs")).json()["items"]
    return {item["chat_id"]: item["id"] for item in items}


async def sign_in(service: Service, userid: str | None, *, via: str = "oauth") -> httpx.Response:
    """Through the fake WeCom: start, let WeCom issue a code for `userid`, come back."""
    start = await service.http.get("/console/login/wecom", params={"via": via})
    assert start.status_code == 303, start.text
    target = urlsplit(start.headers["location"])
    query = parse_qs(target.query)
    code = service.wecom.issue_code(userid)
    callback = urlsplit(query["redirect_uri"][0])
    return await service.http.get(callback.path, params={"code": code, "state": query["state"][0]})


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def strikes(service: Service, user: str, chat: str = CHAT) -> int:
    body = (await service.api(f"/api/v1/groups/{chat}/members/{user}/strikes")).json()
    return int(body["standing"])


# -- no page without a session ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/console/",
        "/console/overview",
        "/console/review",
        "/console/logs",
        "/console/logs/1",
        "/console/logs/export.csv",
        "/console/lexicon",
        "/console/groups",
        f"/console/groups/{CHAT}",
        "/console/outbox",
        "/console/audit",
        f"/console/groups/{CHAT}/members/lisi",
        "/console/lexicon/words.txt",
    ],
)
async def test_every_page_and_fragment_needs_a_session(service: Service, path: str) -> None:
    answer = await service.http.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=")
    fragment = await service.http.get(path, headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"].startswith(
        "/console/login"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/console/review",
        "/console/logs/1/allow",
        "/console/lexicon/test",
        f"/console/groups/{CHAT}",
        "/console/outbox/1/retry",
        f"/console/groups/{CHAT}/members/lisi/pardon",
        "/console/lexicon/words",
        "/console/lexicon/words/1/delete",
        "/console/logout",
    ],
)
async def test_a_change_without_a_session_is_refused(service: Service, path: str) -> None:
    answer = await service.http.post(path, data={"pick": "confirm:1", "suggestion": "0"})
    assert answer.status_code == 303 and "/console/login" in answer.headers["location"]


async def test_a_tampered_or_expired_session_is_no_session(service: Service) -> None:
    await sign_in(service, support.MODERATORS[0])
    assert (await service.http.get("/console/")).status_code == 200
    cookie = service.http.cookies[console_session.SESSION_COOKIE]
    body, mac = cookie.split(".")
    service.http.cookies.clear()
    service.http.cookies.set(
        console_session.SESSION_COOKIE, body + "." + mac[::-1], path="/console"
    )
    assert (await service.http.get("/console/")).status_code == 303
    settings = service.runtime.settings
    expired = console_session.sign(
        settings, "session", {"u": "mod-alice", "v": "wecom", "c": "x", "e": int(time.time()) - 1}
    )
    service.http.cookies.clear()
    service.http.cookies.set(console_session.SESSION_COOKIE, expired, path="/console")
    assert (await service.http.get("/console/")).status_code == 303
    # A sign-in state is signed for another purpose: it does not pass for a session.
    state = console_session.sign(
        settings, "state", {"u": "mod-alice", "v": "wecom", "c": "x", "e": int(time.time()) + 60}
    )
    service.http.cookies.clear()
    service.http.cookies.set(console_session.SESSION_COOKIE, state, path="/console")
    assert (await service.http.get("/console/")).status_code == 303


# -- headers ---------------------------------------------------------------------------


async def test_pages_carry_a_csp_without_inline_script(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, support.MODERATORS[0])
    for path in ("/console/login", "/console/", "/console/review", "/console/logs"):
        answer = await service.http.get(path)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        for tag in re.findall(r"<script[^>]*>", answer.text):
            assert 'src="/console/static/' in tag, f"inline script on {path}: {tag}"
        assert " style=" not in answer.text and "<style" not in answer.text
        assert not re.search(r"<[^>]+\son[a-z]+=", answer.text), f"event handler on {path}"


async def test_static_files_and_the_htmx_licence_are_served(service: Service) -> None:
    htmx = await service.http.get("/console/static/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text
    licence = await service.http.get("/console/static/htmx.LICENSE")
    assert licence.status_code == 200 and "Zero-Clause BSD" in licence.text


# -- sign-in ---------------------------------------------------------------------------


async def test_token_sign_in(service: Service) -> None:
    page = await service.http.get("/console/login")
    assert page.status_code == 200 and "企业微信扫码登录" in page.text
    nonce = csrf_of(page)
    wrong = await service.http.post(
        "/console/login/token", data={"token": "not-the-token-at-all", "csrf": nonce}
    )
    assert wrong.status_code == 401 and "令牌不正确" in wrong.text
    nonce = csrf_of(wrong)
    right = await service.http.post(
        "/console/login/token", data={"token": support.ADMIN_TOKEN, "csrf": nonce}
    )
    assert right.status_code == 303 and right.headers["location"] == "/console/"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    home = await service.http.get("/console/")
    assert home.status_code == 200 and "admin-token" in home.text and "管理员" in home.text


async def test_token_sign_in_needs_the_form_of_this_browser(service: Service) -> None:
    await service.http.get("/console/login")
    answer = await service.http.post(
        "/console/login/token", data={"token": support.ADMIN_TOKEN, "csrf": "forged"}
    )
    assert answer.status_code == 403
    assert console_session.SESSION_COOKIE not in service.http.cookies


async def test_secure_cookie_behind_https(database_url: str, tmp_path: Path) -> None:
    settings = console_settings(database_url, tmp_path, console_cookie_secure=True)
    async for running in start_service(settings, support.FakeWeCom()):
        transport = running.http._transport  # the same app, reached over https
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            running.http = http
            answer = await sign_in(running, support.MODERATORS[0])
            assert answer.status_code == 303
            assert "Secure" in answer.headers["set-cookie"]
            assert (await http.get("/console/")).status_code == 200


async def test_wecom_oauth_sign_in(service: Service) -> None:
    start = await service.http.get("/console/login/wecom", params={"via": "oauth"})
    target = urlsplit(start.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == OAUTH_HOST
    assert target.path == "/connect/oauth2/authorize" and target.fragment == "wechat_redirect"
    query = parse_qs(target.query)
    assert query["appid"] == [support.CORP_ID] and query["agentid"] == [str(support.AGENT_ID)]
    assert query["scope"] == ["snsapi_base"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://testserver/console/login/wecom/callback"]
    code = service.wecom.issue_code("mod-bob")
    back = await service.http.get(
        "/console/login/wecom/callback", params={"code": code, "state": query["state"][0]}
    )
    assert back.status_code == 303 and back.headers["location"] == "/console/"
    (call,) = service.wecom.calls("/cgi-bin/auth/getuserinfo")
    assert call.url.params["code"] == code and call.url.params["access_token"] == "TOKEN-1"
    home = await service.http.get("/console/")
    assert home.status_code == 200 and "mod-bob" in home.text


async def test_wecom_qr_sign_in_uses_the_login_host(service: Service) -> None:
    start = await service.http.get("/console/login/wecom", params={"via": "qr"})
    target = urlsplit(start.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{LOGIN_HOST}/wwlogin/sso/login"
    assert parse_qs(target.query)["login_type"] == ["CorpApp"]
    assert (await sign_in(service, "mod-alice", via="qr")).status_code == 303


async def test_inside_wecom_the_console_signs_in_by_itself(service: Service) -> None:
    agent = "Mozilla/5.0 (iPhone) AppleWebKit wxwork/4.1.0 MicroMessenger/7.0.1"
    first = await service.http.get("/console/", headers={"User-Agent": agent})
    login = await service.http.get(first.headers["location"], headers={"User-Agent": agent})
    assert login.status_code == 303 and "via=oauth" in login.headers["location"]


@pytest.mark.parametrize(
    ("case", "status", "text"),
    [
        ("forged state", 400, "登录已过期"),
        ("state from another browser", 400, "登录已过期"),
        ("code used twice", 400, "企业微信未确认"),
        ("outsider", 403, "只有本企业成员"),
        ("no role", 403, "不是管理员"),
    ],
)
async def test_wecom_sign_in_refusals(service: Service, case: str, status: int, text: str) -> None:
    start = await service.http.get("/console/login/wecom", params={"via": "oauth"})
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    user = {"outsider": None, "no role": "zhangsan"}.get(case, "mod-alice")
    code = service.wecom.issue_code(user)
    if case == "forged state":
        state = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
    if case == "state from another browser":
        service.http.cookies.delete(console_session.STATE_COOKIE, path="/console")
    if case == "code used twice":
        service.wecom.auth_codes.pop(code)
    answer = await service.http.get(
        "/console/login/wecom/callback", params={"code": code, "state": state}
    )
    assert answer.status_code == status and text in answer.text
    assert console_session.SESSION_COOKIE not in service.http.cookies


async def test_logout_ends_the_session(service: Service) -> None:
    await sign_in(service, "mod-alice")
    home = await service.http.get("/console/")
    refused = await service.http.post("/console/logout")
    assert refused.status_code == 403  # no CSRF token
    out = await service.http.post("/console/logout", data={"csrf": csrf_of(home)})
    assert out.status_code == 303
    assert (await service.http.get("/console/")).status_code == 303


# -- roles and CSRF ----------------------------------------------------------------------


async def test_a_group_moderator_sees_only_their_group(service: Service) -> None:
    ids = await two_groups(service)
    await sign_in(service, GROUP_MOD)
    queue = await service.http.get("/console/review")
    assert f'id="log-{ids[CHAT]}"' in queue.text and f'id="log-{ids[OTHER]}"' not in queue.text
    assert (await service.http.get(f"/console/logs/{ids[CHAT]}")).status_code == 200
    assert (await service.http.get(f"/console/logs/{ids[OTHER]}")).status_code == 404
    assert (await service.http.get("/console/logs", params={"chat_id": OTHER})).status_code == 404
    listing = await service.http.get("/console/logs")
    assert f'id="row-{ids[CHAT]}"' in listing.text and f'id="row-{ids[OTHER]}"' not in listing.text
    # Acting on the other group's row changes nothing.
    answer = await service.http.post(
        "/console/review", data={"csrf": csrf_of(queue), "pick": f"overturn:{ids[OTHER]}"}
    )
    assert "没有找到" in answer.text
    other = (await service.api(f"/api/v1/moderation-logs/{ids[OTHER]}")).json()
    assert other["review"] is None and await strikes(service, "zhaoliu", OTHER) == 1
    allow = await service.http.post(
        f"/console/logs/{ids[OTHER]}/allow", data={"csrf": csrf_of(queue), "suggestion": "0"}
    )
    assert allow.status_code == 404


async def test_a_change_without_the_csrf_token_is_refused(service: Service) -> None:
    ids = await two_groups(service)
    await sign_in(service, GROUP_MOD)
    for data in ({"pick": f"overturn:{ids[CHAT]}"}, {"pick": f"overturn:{ids[CHAT]}", "csrf": "x"}):
        answer = await service.http.post("/console/review", data=data)
        assert answer.status_code == 403
    row = (await service.api(f"/api/v1/moderation-logs/{ids[CHAT]}")).json()
    assert row["review"] is None and await strikes(service, "lisi") == 1


async def test_read_only_sees_everything_and_changes_nothing(service: Service) -> None:
    ids = await two_groups(service)
    await sign_in(service, AUDITOR)
    queue = await service.http.get("/console/review")
    assert f'id="log-{ids[CHAT]}"' in queue.text and f'id="log-{ids[OTHER]}"' in queue.text
    assert "只读账号不能复核" in queue.text and 'name="pick"' not in queue.text
    answer = await service.http.post(
        "/console/review", data={"csrf": csrf_of(queue), "pick": f"overturn:{ids[CHAT]}"}
    )
    assert answer.status_code == 403
    assert await strikes(service, "lisi") == 1


async def test_overturn_pardons_audits_and_offers_the_allow_phrase(service: Service) -> None:
    ids = await two_groups(service)
    await sign_in(service, GROUP_MOD)
    queue = await service.http.get("/console/review")
    assert "<mark" in queue.text and ">赌博</mark>" in queue.text
    assert await strikes(service, "lisi") == 1
    done = await service.http.post(
        "/console/review", data={"csrf": csrf_of(queue), "pick": f"overturn:{ids[CHAT]}"}
    )
    assert done.status_code == 200
    assert re.search(r'class="pardoned">1<', done.text) and re.search(
        r'class="standing">0<', done.text
    )
    assert await strikes(service, "lisi") == 0
    (entry,) = (await service.api("/api/v1/audit", action="log.overturn")).json()["items"]
    assert entry["actor"] == GROUP_MOD and entry["channel"] == "console"
    # The allow-list phrase, in this group (a moderator cannot allow in every group).
    assert "去赌博" in done.text and 'value="global"' not in done.text
    added = await service.http.post(
        f"/console/logs/{ids[CHAT]}/allow",
        data={"csrf": csrf_of(done), "suggestion": "0", "scope": "group"},
    )
    assert added.status_code == 200 and "已加入白名单" in added.text
    allow = (await service.api("/api/v1/lexicon/allow")).json()["items"]
    assert [(item["phrase"], item["scope"], item["source_log_id"]) for item in allow] == [
        ("去赌博", CHAT, ids[CHAT])
    ]
    (entry,) = (await service.api("/api/v1/audit", action="lexicon.allow.add")).json()["items"]
    assert entry["actor"] == GROUP_MOD and entry["channel"] == "console"
    # Reviewed: out of the queue, and a second review says so.
    assert f'id="log-{ids[CHAT]}"' not in (await service.http.get("/console/review")).text
    again = await service.http.post(
        "/console/review", data={"csrf": csrf_of(done), "pick": f"confirm:{ids[CHAT]}"}
    )
    assert "已被复核过" in again.text


async def test_bulk_confirm(service: Service) -> None:
    ids = await two_groups(service)
    await sign_in(service, support.MODERATORS[0])  # an admin: both groups
    queue = await service.http.get("/console/review")
    answer = await service.http.post(
        "/console/review",
        data={"csrf": csrf_of(queue), "verdict": "confirm", "log_id": [ids[CHAT], ids[OTHER]]},
    )
    assert answer.status_code == 200
    for log_id in ids.values():
        row = (await service.api(f"/api/v1/moderation-logs/{log_id}")).json()
        assert row["review"]["status"] == "confirmed" and row["review"]["by"] == "mod-alice"
    assert await strikes(service, "lisi") == 1  # confirming pardons nothing
    assert "review-empty" in (await service.http.get("/console/review")).text


# -- pages -------------------------------------------------------------------------------


async def test_overview_counts_what_happened(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, support.MODERATORS[0])
    page = await service.http.get("/console/")
    assert page.status_code == 200
    assert 'hx-trigger="every 30s"' in page.text
    assert re.search(r'id="queue-size">2<', page.text)
    assert "word.gambling" in page.text
    # Two messages in the last day; a week's total is not kept, and the page says so.
    day, week = re.findall(r"收到的消息</dt><dd>(.*?)</dd>", page.text)
    assert day == "2" and "—" in week and "只保留 24 小时" in week
    fragment = await service.http.get("/console/overview", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'id="figures"' in fragment.text
    await sign_in(service, GROUP_MOD)
    mine = await service.http.get("/console/")
    assert re.search(r'id="queue-size">1<', mine.text)
    assert "overview.outbox" not in mine.text and "出站动作" not in mine.text


async def test_log_list_filters_and_detail(service: Service) -> None:
    ids = await two_groups(service)
    await say(service, "早上好", "a-2", "zhangsan")
    await sign_in(service, support.MODERATORS[0])
    by_member = await service.http.get("/console/logs", params={"user_id": "zhaoliu"})
    assert (
        f'id="row-{ids[OTHER]}"' in by_member.text and f'id="row-{ids[CHAT]}"' not in by_member.text
    )
    by_verdict = await service.http.get("/console/logs", params={"verdict": "remove"})
    assert "logs-empty" in by_verdict.text
    future = await service.http.get("/console/logs", params={"since": "2999-01-01"})
    assert "logs-empty" in future.text
    detail = await service.http.get(f"/console/logs/{ids[CHAT]}")
    assert detail.status_code == 200 and ">赌博</mark>" in detail.text
    assert "未复核" in detail.text and "aibot_reply" in detail.text


async def test_csv_export_holds_only_the_groups_one_may_see(service: Service) -> None:
    ids = await two_groups(service)
    await sign_in(service, GROUP_MOD)
    mine = await service.http.get("/console/logs/export.csv")
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
    lines = mine.text.strip().splitlines()
    assert lines[0].startswith("id,time,chat_id") and len(lines) == 2
    assert lines[1].startswith(f"{ids[CHAT]},") and OTHER not in mine.text
    other = await service.http.get("/console/logs/export.csv", params={"chat_id": OTHER})
    assert other.status_code == 404


async def test_lexicon_test_box(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, GROUP_MOD)
    page = await service.http.get("/console/lexicon")
    assert page.status_code == 200
    assert page.text.count('class="word"') == 3  # the test lexicon's words
    searched = await service.http.get("/console/lexicon", params={"q": "赌"})
    assert searched.text.count('class="word"') == 1 and "赌博" in searched.text
    assert (
        await service.http.get("/console/lexicon", params={"words_after": "x"})
    ).status_code == 404
    token = csrf_of(page)
    found = await service.http.post(
        "/console/lexicon/test", data={"csrf": token, "text": "今晚一起去du博吧", "chat_id": CHAT}
    )
    assert found.status_code == 200
    assert re.search(r"<mark[^>]*>du博</mark>", found.text), "the hit is not highlighted"
    assert 'class="finding"' in found.text and "word.gambling" in found.text
    clean = await service.http.post("/console/lexicon/test", data={"csrf": token, "text": "早上好"})
    assert 'id="test-clean"' in clean.text
    refused = await service.http.post("/console/lexicon/test", data={"text": "赌博"})
    assert refused.status_code == 403
    elsewhere = await service.http.post(
        "/console/lexicon/test", data={"csrf": token, "text": "赌博", "chat_id": OTHER}
    )
    assert elsewhere.status_code == 404


async def test_groups_list_and_a_group_page(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, GROUP_MOD)
    listing = await service.http.get("/console/groups")
    assert f'id="group-{CHAT}"' in listing.text and f'id="group-{OTHER}"' not in listing.text
    assert (await service.http.get(f"/console/groups/{OTHER}")).status_code == 404
    page = await service.http.get(f"/console/groups/{CHAT}")
    assert page.status_code == 200 and GROUP_MOD in page.text
    token = csrf_of(page)
    saved = await service.http.post(
        f"/console/groups/{CHAT}",
        data={"csrf": token, "rules_text": "不发广告，不刷屏", "mode": "shadow"},
    )
    assert saved.status_code == 200 and 'id="group-saved"' in saved.text
    group = (await service.api(f"/api/v1/groups/{CHAT}")).json()
    assert group["rules_text"] == "不发广告，不刷屏" and group["mode"] == "shadow"
    (entry,) = (await service.api("/api/v1/audit", action="group.update")).json()["items"][:1]
    assert entry["actor"] == GROUP_MOD and entry["channel"] == "console"
    assert set(entry["details"]["changes"]) == {"rules_text", "policy"}
    bad = await service.http.post(
        f"/console/groups/{CHAT}", data={"csrf": token, "rules_text": "x", "mode": "loud"}
    )
    assert bad.status_code == 422
    braces = await service.http.post(
        f"/console/groups/{CHAT}",
        data={"csrf": token, "rules_text": "x", "mode": "off", "welcome_template": "{name}"},
    )
    assert braces.status_code == 422
    assert (await service.api(f"/api/v1/groups/{CHAT}")).json()["rules_text"] == "不发广告，不刷屏"
    other = await service.http.post(
        f"/console/groups/{OTHER}", data={"csrf": token, "rules_text": "x", "mode": "off"}
    )
    assert other.status_code == 404
    assert (await service.api(f"/api/v1/groups/{OTHER}")).json()["mode"] == "enforce"
    refused = await service.http.post(
        f"/console/groups/{CHAT}", data={"rules_text": "x", "mode": "off"}
    )
    assert refused.status_code == 403


async def test_outbox_and_audit_are_company_wide(service: Service) -> None:
    refusal = (200, {"errcode": 60020, "errmsg": "not allow to access from your ip"})
    service.wecom.scripted["/cgi-bin/message/send"] = [refusal, refusal, refusal, refusal]
    await two_groups(service)
    dead = (await service.api("/api/v1/outbox", status="dead")).json()["items"]
    assert dead, "expected a dead alert to retry"
    action = dead[0]["id"]
    await sign_in(service, GROUP_MOD)
    assert (await service.http.get("/console/outbox")).status_code == 404
    assert (await service.http.get("/console/audit")).status_code == 404
    await sign_in(service, AUDITOR)
    listing = await service.http.get("/console/outbox", params={"status": "dead"})
    assert f'id="action-{action}"' in listing.text and "60020" in listing.text
    assert 'action="/console/outbox/' not in listing.text  # read-only: no retry button
    refused = await service.http.post(
        f"/console/outbox/{action}/retry", data={"csrf": csrf_of(listing)}
    )
    assert refused.status_code == 403
    await sign_in(service, support.MODERATORS[0])
    listing = await service.http.get("/console/outbox", params={"status": "dead"})
    retried = await service.http.post(
        f"/console/outbox/{action}/retry", data={"csrf": csrf_of(listing)}
    )
    assert retried.status_code == 303 and retried.headers["location"].endswith(f"done={action}")
    row = (await service.api("/api/v1/outbox")).json()["items"]
    assert {item["id"]: item["status"] for item in row}[action] == "pending"
    again = await service.http.post(
        f"/console/outbox/{action}/retry", data={"csrf": csrf_of(listing)}
    )
    assert again.status_code == 404  # not dead any more
    trail = await service.http.get("/console/audit", params={"action": "outbox.retry"})
    assert "mod-alice" in trail.text and "console" in trail.text
    assert f"outbox:{action}" in trail.text


async def test_member_page_and_pardon(service: Service) -> None:
    ids = await two_groups(service)
    await say(service, "还要去赌博", "a-2", "lisi")
    await sign_in(service, GROUP_MOD)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert page.status_code == 200
    assert re.search(r'id="member-standing">2<', page.text)
    assert page.text.count('class="strike"') == 2 and f"/console/logs/{ids[CHAT]}" in page.text
    assert (await service.http.get(f"/console/groups/{OTHER}/members/zhaoliu")).status_code == 404
    assert (await service.http.get(f"/console/groups/{CHAT}/members/nobody")).status_code == 404
    elsewhere = await service.http.post(
        f"/console/groups/{OTHER}/members/zhaoliu/pardon", data={"csrf": csrf_of(page)}
    )
    assert elsewhere.status_code == 404 and await strikes(service, "zhaoliu", OTHER) == 1
    assert (
        await service.http.post(f"/console/groups/{CHAT}/members/lisi/pardon")
    ).status_code == 403
    done = await service.http.post(
        f"/console/groups/{CHAT}/members/lisi/pardon", data={"csrf": csrf_of(page)}
    )
    assert re.search(r'id="member-pardoned">[^<]*2<', done.text)
    assert re.search(r'id="member-standing">0<', done.text)
    assert await strikes(service, "lisi") == 0
    (entry,) = (await service.api("/api/v1/audit", action="member.pardon")).json()["items"]
    assert (entry["actor"], entry["channel"]) == (GROUP_MOD, "console")


async def test_long_lists_are_bounded(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    await two_groups(service)
    monkeypatch.setattr(console_pages, "QUEUE_COUNT_CAP", 1)
    monkeypatch.setattr(console_pages, "GROUPS_PAGE", 1)
    await sign_in(service, support.MODERATORS[0])
    assert re.search(r'id="queue-size">1\+<', (await service.http.get("/console/")).text)
    first = await service.http.get("/console/groups")
    assert first.text.count('id="group-') == 1 and 'id="groups-more"' in first.text
    second = await service.http.get("/console/groups", params={"start": 1})
    assert second.text.count('id="group-') == 1 and 'id="groups-more"' not in second.text


async def test_welcome_preview(service: Service) -> None:
    await two_groups(service)
    await sign_in(service, GROUP_MOD)
    page = await service.http.get(f"/console/groups/{CHAT}")
    assert 'id="welcome-preview"' in page.text and "@新成员" in page.text
    token = csrf_of(page)
    preview = await service.http.post(
        f"/console/groups/{CHAT}/preview",
        data={"rules_text": "不刷屏", "welcome_template": "欢迎 {members}：{rules}"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert preview.status_code == 200 and "<html" not in preview.text
    assert "欢迎 @新成员：不刷屏" in preview.text
    stray = await service.http.post(
        f"/console/groups/{CHAT}/preview",
        data={"welcome_template": "欢迎 {name}"},
        headers={"X-CSRF-Token": token},
    )
    assert 'class="problem"' in stray.text
    saved = await service.http.post(
        f"/console/groups/{CHAT}",
        data={
            "csrf": token,
            "rules_text": "不刷屏",
            "mode": "enforce",
            "welcome_template": "欢迎 {members}：{rules}",
        },
    )
    assert "欢迎 @新成员：不刷屏" in saved.text
    group = (await service.api(f"/api/v1/groups/{CHAT}")).json()
    assert group["welcome_template"] == "欢迎 {members}：{rules}"
    other = await service.http.post(
        f"/console/groups/{OTHER}/preview",
        data={"welcome_template": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert other.status_code == 404


async def test_admin_adds_and_deletes_words_and_the_test_box_finds_them(
    service: Service,
) -> None:
    await two_groups(service)
    await sign_in(service, GROUP_MOD)
    page = await service.http.get("/console/lexicon")
    assert 'id="add-word"' not in page.text  # a group moderator looks and tests
    refused = await service.http.post(
        "/console/lexicon/words", data={"csrf": csrf_of(page), "word": "百家乐"}
    )
    assert refused.status_code == 403
    await sign_in(service, support.MODERATORS[0])
    page = await service.http.get("/console/lexicon")
    token = csrf_of(page)
    added = await service.http.post(
        "/console/lexicon/words",
        data={"csrf": token, "word": "百家乐", "category": "gambling", "severity": "block"},
    )
    assert added.status_code == 303
    listed = await service.http.get(added.headers["location"])
    assert listed.text.count('class="word"') == 1 and "百家乐" in listed.text
    await service.settle()  # the workers reload the lexicon the change asked for
    found = await service.http.post(
        "/console/lexicon/test", data={"csrf": token, "text": "来玩百家乐"}
    )
    assert re.search(r"<mark[^>]*>百家乐</mark>", found.text)
    bad = await service.http.post("/console/lexicon/words", data={"csrf": token, "word": " "})
    assert 'id="lexicon-problem"' in bad.text
    allow = await service.http.post(
        "/console/lexicon/allow", data={"csrf": token, "phrase": "百家乐园", "scope": CHAT}
    )
    assert allow.status_code == 303
    exported = await service.http.get("/console/lexicon/words.txt")
    assert exported.status_code == 200 and "百家乐" in exported.text
    assert "百家乐园" in (await service.http.get("/console/lexicon/allow.txt")).text
    (word,) = (await service.api("/api/v1/lexicon/words", q="百家乐")).json()["items"]
    entries = (await service.api("/api/v1/audit", action="lexicon.")).json()["items"]
    assert {(e["action"], e["actor"], e["channel"]) for e in entries} >= {
        ("lexicon.words.add", "mod-alice", "console"),
        ("lexicon.allow.add", "mod-alice", "console"),
    }
    deleted = await service.http.post(
        f"/console/lexicon/words/{word['id']}/delete", data={"csrf": token}
    )
    assert deleted.status_code == 303
    assert not (await service.api("/api/v1/lexicon/words", q="百家乐")).json()["items"]
    again = await service.http.post(
        f"/console/lexicon/words/{word['id']}/delete", data={"csrf": token}
    )
    assert again.status_code == 404


async def test_english_ui(database_url: str, tmp_path: Path) -> None:
    settings = console_settings(database_url, tmp_path, console_language="en")
    async for running in start_service(settings, support.FakeWeCom()):
        page = await running.http.get("/console/login")
        assert "Sign in with WeCom" in page.text and 'lang="en"' in page.text


def test_both_languages_have_the_same_texts() -> None:
    assert set(UI_TEXTS["zh"]) == set(UI_TEXTS["en"])
