"""The sandbox in a real browser (Debian's Chromium driven by Playwright), on a fresh machine:
the service runs in uvicorn with no WeCom credentials, so the sandbox is on and `serve`'s
one-time sign-in link is the way in. The browser opens the printed link, types a disguised
contact as the newcomer of the internal group and sees the bot's warning and the moderators'
alert appear, plays every scenario, checks that the REST log listing, the statistics and the
health list show no sandbox data, resets the sandbox and checks again.

Screenshots go to tests/artifacts/sandbox/ (ignored by git); docs/images/sandbox/ holds copies
for the guide (docs/sandbox.md)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import migrate
from app.cli import _print_sign_in_link
from app.db import database_urls
from app.main import create_app
from app.sandbox.scenarios import SCENARIOS
from app.settings import load_settings
from tests import support
from tests.console.test_console_browser import CHROMIUM, _Server

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "sandbox"
DISGUISED = "加我薇信 一三八零零一三八零零零"


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _no_sandbox_data(api: httpx.Client) -> None:
    listing = api.get("/api/v1/moderation-logs", params={"limit": 200})
    assert listing.status_code == 200
    assert listing.json()["items"] == []
    stats = api.get("/api/v1/stats").json()
    assert stats["flagged"] == 0 and stats["decisions"] == {} and stats["top_offenders"] == []
    assert stats["messages"]["active_members"] == 0, stats["messages"]
    health = api.get("/api/v1/health/groups")
    assert health.status_code == 200
    assert "wrSandbox" not in health.text
    assert "wrSandbox" not in api.get("/api/v1/moderation-logs/export.csv").text
    assert 'status="sandbox"' not in api.get("/metrics").text


def test_a_fresh_machine_signs_in_with_the_printed_link_and_plays_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect, sync_playwright

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(database_urls(url))
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text(support.LEXICON, encoding="utf-8")
    settings = load_settings(
        _env_file=None,
        database_url=url,
        lexicon_path=str(lexicon),
        admin_api_token=support.ADMIN_TOKEN,  # for the REST checks; not a WeCom credential
    )
    assert settings.sandbox_on and not settings.has_wecom_credentials
    app = create_app(settings, poll_seconds=0.05)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    with _Server(app) as service:
        _print_sign_in_link(app, "127.0.0.1", service.port)
        printed = capsys.readouterr().out
        found = re.search(r"http://127\.0\.0\.1:\d+/console/login/once\?token=[\w-]+", printed)
        assert found, printed
        link = found.group(0)
        headers = {"Authorization": f"Bearer {support.ADMIN_TOKEN}"}
        problems: list[str] = []
        with (
            httpx.Client(base_url=service.url, headers=headers, timeout=10) as api,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox"]
            )
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page = context.new_page()
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))

            # The printed link signs in and opens the sandbox; it works once.
            page.goto(link)
            expect(page).to_have_url(f"{service.url}/console/sandbox")
            expect(page.locator("h1")).to_have_text("沙盒 · 模拟群")
            expect(page.locator("#nav-sandbox")).to_be_visible()

            # The newcomer of the internal group types a disguised contact.
            page.locator("#sandbox-groups a", has_text="模拟内部群").click()
            page.select_option("#say-sender", "sandbox-newcomer")
            page.fill("#say-text", DISGUISED)
            page.click("#say-send")
            chat = page.locator("#sandbox-chat")
            expect(chat.locator(".bubble.member").last).to_contain_text(DISGUISED)
            expect(chat.locator(".bubble.bot").last).to_contain_text(
                "@sandbox-newcomer", timeout=15_000
            )
            expect(chat.locator(".bubble.bot").last).to_contain_text("广告引流")
            alert = page.locator("#sandbox-alerts .appcard").last
            expect(alert).to_contain_text("违规消息提醒")
            expect(alert).to_contain_text("sandbox-moderator")
            expect(chat.locator(".decision a", has_text="违规次数")).to_be_visible()
            _shot(page, "sandbox-warning")

            # The log row, the member's strikes and the review queue the chat links to.
            with page.expect_navigation():
                chat.locator(".decision a", has_text="记录").first.click()
            expect(page.locator("main")).to_contain_text(DISGUISED[:4])
            page.go_back()
            with page.expect_navigation():
                page.locator("#sandbox-chat .decision a", has_text="违规次数").first.click()
            expect(page.locator("#member-standing")).to_have_text("1")
            page.goto(f"{service.url}/console/review?sandbox=1")
            expect(page.locator("#review-sandbox")).to_be_visible()
            expect(page.locator("main")).to_contain_text("sandbox-newcomer")

            # Every scenario, each in a group of its own.
            for scenario in SCENARIOS:
                page.goto(f"{service.url}/console/sandbox")
                page.click(f"#play-{scenario.name}")
                chat = page.locator("#sandbox-chat")
                expect(chat.locator("h2")).to_contain_text(scenario.title.split("：")[0][:10])
                if any(step.join for step in scenario.steps):
                    expect(chat.locator(".system")).to_have_count(len(scenario.steps))
                    # the owner is asked (app message) to attach the welcome template
                    expect(page.locator("#sandbox-alerts .appcard").first).to_contain_text(
                        "欢迎语", timeout=30_000
                    )
                else:
                    said = [step for step in scenario.steps if step.text]
                    expect(chat.locator(".bubble.member")).to_have_count(len(said))
                if any(step.expect == "act" for step in scenario.steps):
                    expect(chat.locator(".bubble.bot").first).to_be_visible(timeout=15_000)
                if any(step.expect == "review" for step in scenario.steps):
                    expect(page.locator("#sandbox-alerts .appcard").first).to_contain_text(
                        "举报", timeout=15_000
                    )
                if scenario.name in ("phone-ad", "spam-wave", "welcome"):
                    _shot(page, f"sandbox-{scenario.name}")
            page.goto(f"{service.url}/console/sandbox")
            _shot(page, "sandbox-page")

            # Nothing of it is counted or listed.
            _no_sandbox_data(api)

            # The reset deletes it all (the page then makes fresh ready-made groups).
            page.click("#reset-button")
            expect(page).to_have_url(f"{service.url}/console/sandbox")
            expect(page.locator("#sandbox-groups a")).to_have_count(3)
            expect(page.locator("#sandbox-chat .bubble")).to_have_count(0)
            _no_sandbox_data(api)

            # A customer joins the customer group: WeCom's welcome from the template.
            page.locator("#sandbox-groups a", has_text="模拟客户群").click()
            page.click("#join-button")
            expect(page.locator("#sandbox-chat .system")).to_contain_text("wmSandboxNew1")
            expect(page.locator("#sandbox-chat .bubble.wecom")).to_contain_text(
                "欢迎 wmSandboxNew1", timeout=30_000
            )
            _shot(page, "sandbox-join")
            _no_sandbox_data(api)
            audit = api.get("/api/v1/audit").json()["items"]
            assert {"console.sign_in", "sandbox.reset"} <= {entry["action"] for entry in audit}

            assert problems == []

            # The link was spent (the page answers 401, which the browser logs).
            context.clear_cookies()
            page.goto(link)
            expect(page.locator("main")).to_contain_text("一次性登录链接已使用")
            browser.close()
