"""The web console in a real browser: Debian's Chromium driven by Playwright.

The service runs in uvicorn on a local port (its workers judging messages as in production,
WeCom's server API replaced by the fake), and WeCom's sign-in pages by `FakeSignInPages` on
another port, so the browser goes through the whole redirect dance of 企业微信登录 (QR) and
网页授权 (inside WeCom, recognised by the `wxwork` user agent). Browsers cannot be downloaded
here: the test uses /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it) and
skips, saying so, when it is missing. Screenshots of each page go to tests/artifacts/console/
(ignored by git).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app import migrate
from app.db import create_engine_for, database_urls, session_factory
from app.ingest.archive_import import import_records
from app.main import create_app
from app.settings import Settings
from tests import support
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
CHAT = "wrOgAAAAchat1"
OTHER = "wrOgAAAAchat2"
GROUP_MOD = "mod-carol"
IN_WECOM = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh"
)


WORD_FILE = "# 博彩\n德州扑克\tgambling\n".encode()
BAD_WORD_FILE = "德州扑克\t1\t2\t3\t4\t5\n".encode()  # more columns than a word line has


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Server:
    """An ASGI app served by uvicorn in a thread of its own."""

    def __init__(self, app: Any) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve()))

    def __enter__(self) -> _Server:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


@dataclass
class Console:
    url: str
    wecom: support.FakeWeCom
    pages: support.FakeSignInPages
    api: httpx.Client
    settings: Settings

    def say(self, text: str, msgid: str, sender: str, chat: str) -> None:
        signer = support.aibot_signer()
        plaintext = support.aibot_group_text(text, msgid=msgid, sender=sender, chat_id=chat)
        encrypted = signer.cipher.encrypt(plaintext)
        answer = self.api.post(
            f"/wecom/aibot?{signer.query(encrypted)}", content=support.aibot_envelope(encrypted)
        )
        assert answer.status_code == 200

    def logs(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api.get("/api/v1/moderation-logs").json()["items"]
        return items

    def strikes(self, user: str, chat: str) -> int:
        return int(self.api.get(f"/api/v1/groups/{chat}/members/{user}/strikes").json()["standing"])


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    pytest.importorskip("playwright.sync_api")
    url = f"sqlite:///{tmp_path / 'console.db'}"
    migrate.upgrade(database_urls(url))
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    wecom = support.FakeWeCom()
    pages = support.FakeSignInPages(wecom)
    with _Server(pages) as sign_in_host:
        settings = make_settings(
            url,
            tmp_path,
            policy_path=str(policy),
            wecom_oauth_host=sign_in_host.url,
            wecom_login_host=sign_in_host.url,
            secret_key="k" * 43,  # webhook keys are sealed with it
        )
        app = create_app(settings, transport=wecom.transport, poll_seconds=0.05)
        with _Server(app) as service:
            headers = {"Authorization": f"Bearer {support.ADMIN_TOKEN}"}
            with httpx.Client(base_url=service.url, headers=headers, timeout=10) as api:
                yield Console(service.url, wecom, pages, api, settings)


def _seed(console: Console) -> dict[str, int]:
    console.say("今晚一起去赌博吧", "a-1", "lisi", CHAT)
    console.say("赌博", "b-1", "zhaoliu", OTHER)
    deadline = time.monotonic() + 20
    while len(console.logs()) < 2:
        assert time.monotonic() < deadline, "the messages were not judged"
        time.sleep(0.1)
    answer = console.api.patch(f"/api/v1/groups/{CHAT}", json={"moderators": [GROUP_MOD]})
    assert answer.status_code == 200, answer.text
    return {row["chat_id"]: row["id"] for row in console.logs()}


def _archive_history(console: Console, folder: Path) -> None:
    """A month of CHAT's chat through the archive (`wecom-mod archive import`), so that its
    health has full coverage and a daily series: ordinary messages, a few members a day, one
    of them on most days."""
    now = datetime.now(UTC)
    lines = []
    for age in range(29, -1, -1):
        at = now - timedelta(days=age, hours=1)
        senders = ["wm-star"] * (4 if age % 6 else 0) + [f"wm-{n}" for n in range(2 + age * 5 % 7)]
        for n, sender in enumerate(senders):
            record = {
                "msgid": f"h-{age}-{n}",
                "action": "send",
                "from": sender,
                "tolist": ["x"],
                "roomid": CHAT,
                "msgtime": int((at + timedelta(seconds=n * 50)).timestamp() * 1000),
                "msgtype": "text",
                "text": {"content": "好的，收到"},
            }
            lines.append(json.dumps(record, ensure_ascii=False))
    export = folder / "history.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")

    async def run() -> None:
        engine = create_engine_for(database_urls(console.settings.database_url))
        try:
            await import_records(
                console.settings,
                session_factory(engine),
                export,
                shadow=False,
                report=io.StringIO(),
            )
        finally:
            await engine.dispose()

    asyncio.run(run())


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_moderator_walks_the_console_and_overturns_a_decision(
    console: Console, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ids = _seed(console)
    # lisi offends in the other group too: their record there shows on their page in CHAT
    console.say("赌博", "b-2", "lisi", OTHER)
    deadline = time.monotonic() + 20
    while len(console.logs()) < 3:
        assert time.monotonic() < deadline, "the message was not judged"
        time.sleep(0.1)
    _archive_history(console, tmp_path)
    assert console.strikes("lisi", CHAT) == 1
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # this run's screenshots only
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: problems.append(str(error)))

        # Sign in through WeCom's web login (QR): the fake page answers for the moderator.
        page.goto(f"{console.url}/console/review")
        expect(page).to_have_url(re.compile(r"/console/login\?next=/console/review$"))
        _shot(page, "01-login")
        console.pages.signed_in = GROUP_MOD
        page.click("#login-qr")
        expect(page).to_have_url(f"{console.url}/console/review")
        assert "/wwlogin/sso/login" in console.pages.visits
        expect(page.locator("header.bar")).to_contain_text(GROUP_MOD)

        # The review queue: only this moderator's group, the evidence highlighted in place.
        expect(page.locator(f"#log-{ids[CHAT]}")).to_be_visible()
        expect(page.locator(f"#log-{ids[OTHER]}")).to_have_count(0)
        expect(page.locator(f"#log-{ids[CHAT]} mark")).to_have_text("赌博")
        expect(page.locator(f"#log-{ids[CHAT]} table.findings")).to_contain_text("word.gambling")
        _shot(page, "02-review-queue")

        # Overturn it: the strike goes, and the allow-list phrase is offered.
        page.click(f"#log-{ids[CHAT]} button[value='overturn:{ids[CHAT]}']")
        expect(page.locator(f"#result-{ids[CHAT]} .pardoned")).to_have_text("1")
        expect(page.locator(f"#result-{ids[CHAT]} .standing")).to_have_text("0")
        assert console.strikes("lisi", CHAT) == 0
        _shot(page, "03-overturned")
        page.click(f"#result-{ids[CHAT]} form.allow button[value='group']")
        expect(page.locator("#allow-result")).to_contain_text("去赌博")
        allowed = console.api.get("/api/v1/lexicon/allow").json()["items"]
        assert [(item["phrase"], item["scope"]) for item in allowed] == [("去赌博", CHAT)]
        audit = console.api.get("/api/v1/audit", params={"action": "log.overturn"}).json()
        assert [(e["actor"], e["channel"]) for e in audit["items"]] == [(GROUP_MOD, "console")]

        # The log and a detail page.
        page.click("nav >> text=记录")
        expect(page.locator(f"#row-{ids[CHAT]}")).to_be_visible()
        expect(page.locator(f"#row-{ids[OTHER]}")).to_have_count(0)
        page.fill("input[name=user_id]", "lisi")
        page.click("form.filters button")
        expect(page).to_have_url(re.compile(r"user_id=lisi"))
        _shot(page, "04-log")
        page.click(f"#row-{ids[CHAT]} a")
        expect(page.locator("#log-review")).to_contain_text("已撤销")
        expect(page.locator("#log-detail mark")).to_have_text("赌博")
        _shot(page, "05-log-detail")

        # The overview, and its figures refreshed through htmx (with the CSRF header).
        page.click("nav >> text=概览")
        expect(page.locator("#queue-size")).to_have_text("0")
        before = page.locator("#figures p.muted").inner_text()
        time.sleep(1.1)
        page.evaluate(
            "htmx.ajax('GET', '/console/overview', {target: '#figures', swap: 'outerHTML'})"
        )
        expect(page.locator("#figures p.muted")).not_to_have_text(before)
        _shot(page, "06-overview")

        # The lexicon test box: htmx posts the form and swaps in the findings.
        page.click("nav >> text=词库")
        page.fill("textarea[name=text]", "今晚一起去du博吧")
        page.click("#test-form button")
        expect(page.locator("#test-result mark")).to_have_text("du博")
        expect(page.locator("#test-result tr.finding")).to_contain_text("word.gambling")
        expect(page).to_have_url(f"{console.url}/console/lexicon")  # swapped in, not reloaded
        _shot(page, "07-lexicon-test")

        # Groups: only this moderator's; set the group's rules and mode.
        page.click("nav >> text=群")
        expect(page.locator(f"#group-{CHAT}")).to_be_visible()
        expect(page.locator(f"#group-{OTHER}")).to_have_count(0)
        _shot(page, "08-groups")
        page.click(f"#group-{CHAT} a")
        page.fill("textarea[name=rules_text]", "文明交流，不发广告")
        # The welcome preview follows the rules as they are typed (htmx).
        expect(page.locator("#welcome-preview")).to_contain_text("文明交流，不发广告")
        page.fill("textarea[name=welcome_template]", "欢迎 {members}，群规：{rules}")
        expect(page.locator("#welcome-preview")).to_have_text(
            "欢迎 @新成员，群规：文明交流，不发广告"
        )
        page.select_option("select[name=mode]", "shadow")
        page.click("#group-form button")
        expect(page.locator("#group-saved")).to_be_visible()
        expect(page.locator("#welcome-preview")).to_have_text(
            "欢迎 @新成员，群规：文明交流，不发广告"
        )
        expect(page.locator("#group-mode")).to_have_text("试运行（只记录）")
        assert console.api.get(f"/api/v1/groups/{CHAT}").json()["mode"] == "shadow"
        _shot(page, "09-group")

        # 健康: only this moderator's group; its view draws the daily series as SVG.
        page.click("nav >> text=健康")
        expect(page.locator(f"#health-{CHAT}")).to_be_visible()
        expect(page.locator(f"#health-{OTHER}")).to_have_count(0)
        expect(page.locator("#health-computed-at")).to_be_visible()
        _shot(page, "09a-health")
        page.click(f"#health-{CHAT} a")
        expect(page.locator("#health-grade")).to_be_visible()
        expect(page.locator("#health-decided li").first).to_be_visible()
        expect(page.locator("#health-charts svg")).to_have_count(5)
        assert page.locator("#chart-messages svg rect").count() >= 30
        expect(page.locator("#figure-coverage")).to_contain_text("会话内容存档")
        _shot(page, "09b-health-group")
        # from the group page too
        page.goto(f"{console.url}/console/groups/{CHAT}")
        page.click("#group-health")
        expect(page).to_have_url(f"{console.url}/console/health/{CHAT}")
        # the other group's health: 404
        missing = page.goto(f"{console.url}/console/health/{OTHER}")
        assert missing is not None and missing.status == 404
        assert problems and "404" in problems.pop()

        # Another group's row: 404, like a row that does not exist.
        missing = page.goto(f"{console.url}/console/logs/{ids[OTHER]}")
        assert missing is not None and missing.status == 404
        expect(page.locator("main")).to_contain_text("没有找到")
        assert problems and "404" in problems.pop()  # Chromium reports the 404 it was given

        # A change without the CSRF token (the browser's own cookies) is refused.
        refused = page.request.post(
            f"{console.url}/console/review", form={"pick": f"overturn:{ids[CHAT]}"}
        )
        assert refused.status == 403
        context.close()

        # Inside WeCom on a phone: the console signs the admin in by itself (网页授权).
        console.pages.signed_in = support.MODERATORS[0]
        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, user_agent=IN_WECOM, locale="zh-CN"
        )
        page = phone.new_page()
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.goto(f"{console.url}/console/")
        # A browser keeps the authorize URL's #wechat_redirect through the redirects back.
        expect(page).to_have_url(re.compile(r"/console/(#wechat_redirect)?$"))
        assert "/connect/oauth2/authorize" in console.pages.visits
        expect(page.locator("header.bar")).to_contain_text(support.MODERATORS[0])
        _shot(page, "10-phone-overview")
        page.goto(f"{console.url}/console/review")
        expect(page.locator(f"#log-{ids[OTHER]}")).to_be_visible()  # an admin sees every group
        _shot(page, "11-phone-review")
        # The member: strikes and history; pardon clears them.
        page.click(f"#log-{ids[OTHER]} header a >> text=zhaoliu")
        expect(page.locator("#member-standing")).to_have_text("1")
        page.click("#pardon-form button")
        expect(page.locator("#member-standing")).to_have_text("0")
        assert console.strikes("zhaoliu", OTHER) == 0
        _shot(page, "12-phone-member")
        # A group's health on the phone: the charts fit the screen's width.
        page.click("nav >> text=健康")
        expect(page.locator(f"#health-{OTHER}")).to_be_visible()  # every group for an admin
        _shot(page, "12a-phone-health-list")
        page.click(f"#health-{CHAT} a")
        expect(page.locator("#health-charts svg")).to_have_count(5)
        box = page.locator("#chart-messages svg").bounding_box()
        assert box is not None and box["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        _shot(page, "12b-phone-health")
        page.click("nav >> text=出站")
        expect(page.locator("table.logs")).to_contain_text("aibot_reply")
        _shot(page, "13-phone-outbox")
        page.click("nav >> text=审计")
        expect(page.locator("table.logs")).to_contain_text("log.overturn")
        expect(page.locator("table.logs")).to_contain_text(GROUP_MOD)
        _shot(page, "14-phone-audit")
        # An admin adds a word, and the test box finds it.
        page.click("nav >> text=词库")
        page.fill("#add-word input[name=word]", "百家乐")
        page.click("#add-word button")
        expect(page.locator("#words tr.word")).to_contain_text("百家乐")
        page.fill("textarea[name=text]", "周末来玩百家乐")
        page.click("#test-form button")
        expect(page.locator("#test-result mark")).to_have_text("百家乐")
        _shot(page, "15-phone-lexicon")
        phone.close()

        # An admin at a desktop: the group's webhook key and policy overrides, a warning, a
        # word file imported, and the log filtered by rule.
        console.pages.signed_in = support.MODERATORS[0]
        desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = desk.new_page()
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{console.url}/console/login")
        page.click("#login-qr")
        expect(page.locator("header.bar")).to_contain_text(support.MODERATORS[0])
        page.goto(f"{console.url}/console/groups/{CHAT}")
        expect(page.locator("#webhook-state")).to_have_text("未设置")
        page.fill("#webhook-form input[name=webhook_key]", "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa")
        page.click("#webhook-form button[type=submit] >> nth=0")
        expect(page.locator("#webhook-state")).to_have_text("已设置")
        expect(page.locator("#webhook-form input[name=webhook_key]")).to_have_value("")
        assert "693a91f6" not in page.content()  # never shown again
        # Policy overrides: an invalid value is refused with the REST API's words, then a
        # valid one is saved.
        page.fill("#policy-form textarea[name=policy]", '{"report_threshold": 0}')
        page.click("#policy-form button")
        expect(page.locator("#group-problem")).to_contain_text("策略覆盖有误")
        expect(page.locator("#group-problem-detail")).to_contain_text("report_threshold")
        expect(page.locator("#policy-form textarea[name=policy]")).to_have_value(
            '{"report_threshold": 0}'
        )
        assert console.api.get(f"/api/v1/groups/{CHAT}").json()["policy"] == {"mode": "shadow"}
        _shot(page, "16-group-policy-refused")
        page.fill("#policy-form textarea[name=policy]", '{"mode": "shadow", "report_threshold": 5}')
        page.click("#policy-form button")
        expect(page.locator("#group-saved")).to_be_visible()
        expect(page.locator("#policy-table tr.overridden")).to_have_count(2)
        policy = console.api.get(f"/api/v1/groups/{CHAT}").json()["policy"]
        assert policy == {"mode": "shadow", "report_threshold": 5}
        _shot(page, "17-group-settings")
        # Warn a member: the group now has a robot to post the warning with.
        page.goto(f"{console.url}/console/groups/{CHAT}/members/lisi")
        expect(page.locator("#member-standing")).to_have_text("0")
        page.fill("#warn-form input[name=reason]", "刷屏")
        page.click("#warn-form button")
        expect(page.locator("#member-done")).to_contain_text("已警告")
        expect(page.locator("#member-standing")).to_have_text("1")
        assert console.strikes("lisi", CHAT) == 1
        expect(page.locator("#remove-cannot")).to_contain_text("群主")  # not app-created
        warned = console.api.get("/api/v1/audit", params={"action": "member.warn"}).json()
        assert [(e["actor"], e["channel"]) for e in warned["items"]] == [
            (support.MODERATORS[0], "console")
        ]
        # lisi's standing strike in the other group, as the moderators' alert names it
        expect(page.locator(f"#elsewhere-{OTHER} .count")).to_have_text("1")
        _shot(page, "18-member-warned")
        # Import a word file: a bad line refuses the whole file, then a good one is imported
        # and the test box finds its word.
        page.click("nav >> text=词库")
        page.set_input_files(
            "#import-form input[type=file]",
            files=[{"name": "bad.txt", "mimeType": "text/plain", "buffer": BAD_WORD_FILE}],
        )
        page.click("#import-form button")
        expect(page.locator("#import-lines")).to_contain_text("bad.txt:1")
        page.set_input_files(
            "#import-form input[type=file]",
            files=[{"name": "words.txt", "mimeType": "text/plain", "buffer": WORD_FILE}],
        )
        page.click("#import-form button")
        expect(page.locator("#import-added")).to_have_text("1")
        _shot(page, "19-lexicon-import")
        deadline = time.monotonic() + 10
        while True:  # the workers reload the lexicon the import asked for
            page.fill("textarea[name=text]", "今晚德州扑克三缺一")
            page.click("#test-form button")
            page.wait_for_selector("#test-verdict")
            if page.locator("#test-result mark").count():
                break
            assert time.monotonic() < deadline, "the imported word was not found"
            time.sleep(0.2)
        expect(page.locator("#test-result mark")).to_have_text("德州扑克")
        # The log filtered by rule, kept in the export link.
        page.click("nav >> text=记录")
        page.fill("input[name=rule]", "word.gambling")
        page.click("form.filters button")
        expect(page).to_have_url(re.compile(r"rule=word.gambling"))
        expect(page.locator(f"#row-{ids[OTHER]}")).to_be_visible()
        expect(page.locator("#logs-export")).to_have_attribute(
            "href", re.compile(r"rule=word.gambling")
        )
        _shot(page, "20-log-by-rule")
        desk.close()
        # The refused changes answered 422, which Chromium reports as errors of their own.
        problems[:] = [problem for problem in problems if "422" not in problem]
        browser.close()
    assert problems == [], f"errors in the browser (CSP violations?): {problems}"
