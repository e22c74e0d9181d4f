"""The console's sandbox in the live service (`app.sandbox.live`, `app.console.sandbox`): a
typed message and every scenario go the real way and show in the page; sandbox data is in
no statistic, health figure, export or REST log listing; the reset deletes it; with WeCom
credentials (SANDBOX_ENABLED) no call reaches the WeCom API from the sandbox; the one-time
sign-in link works once and not after it expires; sandbox callbacks cannot reach real groups."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import migrate
from app.cli import main
from app.console import once
from app.db import database_urls
from app.lexicon.changes import EXAMPLE_WORDS
from app.lexicon.service import ListKind, check_list
from app.main import create_app
from app.repositories import sandbox as sandbox_repo
from app.runtime import Runtime
from app.sandbox.scenarios import SCENARIOS
from app.sandbox.wire import aibot_message, post_callback, store_archive_message
from app.settings import Settings, load_settings
from tests import support
from tests.conftest import make_settings

DISGUISED = "加我薇信 一三八零零一三八零零零"
REAL_CHAT = "wrRealGroup0001"


class Page:
    """The service and a browser-like client signed in to the console."""

    def __init__(self, http: httpx.AsyncClient, runtime: Runtime) -> None:
        self.http = http
        self.runtime = runtime
        self.csrf = ""

    async def sign_in(self) -> None:
        token = self.runtime.sign_in_links.issue(now=time.time())
        answer = await self.http.get(f"/console/login/once?token={token}")
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/console/sandbox"

    async def sandbox(self, group: str = "") -> str:
        answer = await self.http.get("/console/sandbox", params={"group": group} if group else {})
        assert answer.status_code == 200, answer.text
        found = re.search(r'name="csrf" value="([^"]+)"', answer.text)
        assert found
        self.csrf = found.group(1)
        return answer.text

    async def groups(self) -> list[str]:
        return sorted(set(re.findall(r"group=(wrSandbox-[\w-]+)", await self.sandbox())))

    async def say(self, group: str, sender: str, text: str) -> None:
        answer = await self.http.post(
            "/console/sandbox/say",
            data={"csrf": self.csrf, "group": group, "sender": sender, "text": text},
        )
        assert answer.status_code == 303, answer.text
        await self.runtime.workers.run_until_idle()

    async def play(self, scenario: str) -> str:
        answer = await self.http.post(
            "/console/sandbox/play", data={"csrf": self.csrf, "scenario": scenario}
        )
        assert answer.status_code == 303, answer.text
        await self.runtime.workers.run_until_idle()
        return answer.headers["location"].split("group=")[1]

    async def chat(self, group: str) -> str:
        answer = await self.http.get("/console/sandbox/chat", params={"group": group})
        assert answer.status_code == 200
        return answer.text

    async def api(self, path: str, **params: Any) -> Any:
        token = self.runtime.settings.secret("admin_api_token")
        answer = await self.http.get(
            path, params=params, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json() if "json" in answer.headers["content-type"] else answer.text


def _fresh_settings(tmp_path: Path, **overrides: Any) -> Settings:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(database_urls(url))
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text(support.LEXICON, encoding="utf-8")
    values: dict[str, Any] = {"admin_api_token": support.ADMIN_TOKEN}  # not a WeCom credential
    values.update(overrides)
    return load_settings(_env_file=None, database_url=url, lexicon_path=str(lexicon), **values)


async def _page(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[Page]:
    app = create_app(
        settings,
        transport=transport,
        start_workers=False,
        **({"clock": clock} if clock is not None else {}),
    )
    async with app.router.lifespan_context(app):
        client = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=client, base_url="http://127.0.0.1") as http:
            yield Page(http, app.state.runtime)


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[Page]:
    """A fresh machine: no WeCom credentials, so the sandbox is on."""
    async for page in _page(_fresh_settings(tmp_path)):
        await page.sign_in()
        yield page


# -- settings ---------------------------------------------------------------------------


def test_the_sandbox_is_on_without_credentials_and_off_with_them(tmp_path: Path) -> None:
    fresh = _fresh_settings(tmp_path)
    assert fresh.sandbox_on and not fresh.has_wecom_credentials
    configured = make_settings(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    assert configured.has_wecom_credentials and not configured.sandbox_on
    on = make_settings(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, sandbox_enabled="true")
    assert on.sandbox_on
    off = _fresh_settings(tmp_path, sandbox_enabled="false")
    assert not off.sandbox_on


async def test_a_fresh_machine_reports_its_channels_off_and_keeps_the_rest_api_off(
    tmp_path: Path,
) -> None:
    async for page in _page(_fresh_settings(tmp_path, admin_api_token="")):
        health = (await page.http.get("/healthz")).json()
        assert not any(health["channels"].values()), health
        assert (await page.http.get("/api/v1/moderation-logs")).status_code in (401, 503)
        login = (await page.http.get("/console/login")).text
        assert 'id="login-once"' in login and 'id="login-qr"' not in login
        await page.sign_in()  # the console signs with the process's own key
        assert (await page.http.get("/console/sandbox")).status_code == 200


# -- the page -----------------------------------------------------------------------------


async def test_a_disguised_contact_from_a_newcomer_is_warned_and_alerted(fresh: Page) -> None:
    groups = await fresh.groups()
    assert [g.split("-")[1] for g in groups] == ["app_created", "customer", "internal"]
    internal = next(g for g in groups if "-internal-" in g)
    await fresh.sandbox(internal)
    await fresh.say(internal, "sandbox-newcomer", DISGUISED)
    chat = await fresh.chat(internal)
    assert DISGUISED in chat
    warning = re.search(r'<div class="bubble bot">.*?<div class="said">(.*?)</div>', chat, re.S)
    assert warning and "@sandbox-newcomer" in warning.group(1), chat
    assert '<article class="appcard">' in chat  # the moderators' alert as an app message
    log_id = re.search(r'href="/console/logs/(\d+)"', chat)
    assert log_id
    assert f'href="/console/groups/{internal}/members/sandbox-newcomer"' in chat
    assert 'href="/console/review?sandbox=1"' in chat
    row = await fresh.http.get(f"/console/logs/{log_id.group(1)}")
    assert row.status_code == 200
    review = await fresh.http.get("/console/review", params={"sandbox": 1})
    assert "sandbox-newcomer" in review.text
    assert "sandbox-newcomer" not in (await fresh.http.get("/console/review")).text


async def test_with_an_empty_lexicon_the_page_offers_the_example_words(tmp_path: Path) -> None:
    """A fresh machine has no words: typing 赌博 in the sandbox found nothing and the page did
    not say why. It says so now, and one click imports the example list, audited."""
    settings = _fresh_settings(tmp_path).model_copy(update={"lexicon_path": None})
    async for page in _page(settings):
        await page.sign_in()
        internal = next(g for g in await page.groups() if "-internal-" in g)
        text = await page.sandbox(internal)
        assert 'id="sandbox-no-words"' in text
        count = len(
            check_list(ListKind.WORDS, EXAMPLE_WORDS.read_text("utf-8"), source="x").entries
        )
        assert f"{count} 个词" in text
        await page.say(internal, "sandbox-newcomer", "今晚一起赌博")
        assert '<div class="bubble bot">' not in await page.chat(internal)  # no word, no warning
        answer = await page.http.post(
            "/console/sandbox/example-words", data={"csrf": page.csrf, "group": internal}
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/console/sandbox?group={internal}"
        await page.runtime.workers.run_until_idle()  # the lexicon reloads
        assert 'id="sandbox-no-words"' not in await page.sandbox(internal)
        await page.say(internal, "sandbox-newcomer", "今晚一起赌博")
        assert '<div class="bubble bot">' in await page.chat(internal)
        audit = await page.api("/api/v1/audit")
        imports = [e for e in audit["items"] if e["action"] == "lexicon.words.import"]
        assert imports and imports[0]["details"]["added"] == count, imports


async def test_the_example_words_are_offered_only_to_an_empty_lexicon_and_need_the_form_token(
    fresh: Page,
) -> None:
    before = await fresh.api("/api/v1/lexicon/words")
    assert 'id="sandbox-no-words"' not in await fresh.sandbox()  # the fixture lists words
    refused = await fresh.http.post("/console/sandbox/example-words", data={"csrf": "wrong"})
    assert refused.status_code == 403
    assert await fresh.api("/api/v1/lexicon/words") == before  # nothing imported


async def test_every_scenario_plays_in_the_page(fresh: Page) -> None:
    await fresh.groups()
    for scenario in SCENARIOS:
        group = await fresh.play(scenario.name)
        chat = await fresh.chat(group)
        said = [step for step in scenario.steps if step.text]
        for step in said:
            assert step.sender in chat, (scenario.name, step)
        acted = [step for step in said if step.expect == "act"]
        if acted:
            assert '<div class="bubble bot">' in chat, scenario.name
        if any(step.expect in ("act", "review") for step in said):
            assert '<article class="appcard">' in chat, scenario.name
        if scenario.name in ("birthday-wave", "newcomer-link"):
            assert '<div class="bubble bot">' not in chat, scenario.name
        if scenario.name == "welcome":
            assert chat.count("wmNew") >= 3  # the joins


async def test_a_customer_joins_and_wecom_sends_the_welcome_template(tmp_path: Path) -> None:
    now = [datetime.now(UTC)]
    async for page in _page(_fresh_settings(tmp_path), clock=lambda: now[0]):
        await page.sign_in()
        customer = next(g for g in await page.groups() if "-customer-" in g)
        await page.sandbox(customer)
        answer = await page.http.post(
            "/console/sandbox/join", data={"csrf": page.csrf, "group": customer}
        )
        assert answer.status_code == 303
        await page.runtime.workers.run_until_idle()
        assert "wmSandboxNew1" in await page.chat(customer)
        now[0] += timedelta(seconds=10)  # the sandbox's welcome window is 5 s
        await page.runtime.workers.run_until_idle()
        chat = await page.chat(customer)
        assert '<div class="bubble bot wecom">' in chat
        assert "欢迎 wmSandboxNew1" in chat
        assert "欢迎语素材库" in chat  # the owner is asked to attach the template


async def test_sandbox_data_is_in_no_statistic_listing_export_or_health(fresh: Page) -> None:
    runtime = fresh.runtime
    for scenario in ("phone-ad", "spam-wave", "flood"):
        await fresh.groups()
        await fresh.play(scenario)
    # a real group's message, as the chat archive brings it
    async with runtime.sessions() as session, session.begin():
        await store_archive_message(
            session,
            msgid="real-1",
            chat_id=REAL_CHAT,
            sender="wmSpammer",
            text="赌博 加我",
            others=["someone"],
            sent_at=runtime.now(),
            now=runtime.now(),
        )
    await runtime.workers.run_until_idle()
    async with runtime.sessions() as session:
        sandbox_chats = {group.chat_id for group in await sandbox_repo.groups(session)}
        assert len(sandbox_chats) >= 6
        assert [chat for chat in sandbox_chats if await sandbox_repo.log_rows(session, chat)]

    listing = await fresh.api("/api/v1/moderation-logs", limit=200)
    assert {row["chat_id"] for row in listing["items"]} == {REAL_CHAT}
    stats = await fresh.api("/api/v1/stats")
    assert stats["flagged"] == 1, stats
    assert not any(o["chat_id"] in sandbox_chats for o in stats["top_offenders"])
    export = await fresh.api("/api/v1/moderation-logs/export.csv")
    assert REAL_CHAT in export and "wrSandbox" not in export
    console_export = await fresh.http.get("/console/logs/export.csv")
    assert "wrSandbox" not in console_export.text
    outbox = await fresh.api("/api/v1/outbox", limit=200)
    assert not [a for a in outbox["items"] if a["status"] == "sandbox"]
    assert 'sandbox"' not in json.dumps(await fresh.api("/api/v1/outbox/summary"))
    groups = await fresh.api("/api/v1/groups")
    assert "wrSandbox" not in json.dumps(groups)
    assert "wrSandbox" not in (await fresh.http.get("/console/groups")).text
    assert "wrSandbox" not in (await fresh.http.get("/console/logs")).text
    assert "wrSandbox" not in (await fresh.http.get("/console/")).text
    metrics = await fresh.http.get("/metrics")
    assert 'status="sandbox"' not in metrics.text
    decisions = sum(runtime.processor.decisions.values())
    assert decisions == 1, runtime.processor.decisions
    assert "wecom_mod_callbacks_total{" not in metrics.text  # sandbox callbacks not counted
    health = await fresh.api("/api/v1/health/groups")
    shown = json.dumps(health)
    assert "wrSandbox" not in shown and REAL_CHAT in shown
    assert "wrSandbox" not in (await fresh.http.get("/console/health")).text


async def test_the_reset_deletes_every_sandbox_row(fresh: Page) -> None:
    await fresh.groups()
    group = await fresh.play("phone-ad")
    assert "wangjl" in await fresh.chat(group)
    runtime = fresh.runtime
    async with runtime.sessions() as session, session.begin():
        # a reply delivered after an earlier reset deleted its group
        sandbox_repo.add_post(
            session,
            chat_id="wrSandbox-gone-0",
            kind="aibot_reply",
            where="group",
            text="late",
            now=runtime.now(),
        )
    answer = await fresh.http.post("/console/sandbox/reset", data={"csrf": fresh.csrf})
    assert answer.status_code == 303
    async with runtime.sessions() as session:
        assert await sandbox_repo.groups(session) == []
        assert await sandbox_repo.log_rows(session, group) == []
        assert await sandbox_repo.posts(session, group) == []
        assert await sandbox_repo.posts(session, "wrSandbox-gone-0") == []
    assert (
        await fresh.http.get("/console/sandbox/chat", params={"group": group})
    ).status_code == 404
    audit = await fresh.api("/api/v1/audit")
    assert any(entry["action"] == "sandbox.reset" for entry in audit["items"])


# -- no call reaches WeCom from the sandbox -----------------------------------------------


async def test_with_credentials_no_call_reaches_the_wecom_api_from_the_sandbox(
    tmp_path: Path,
) -> None:
    calls: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise AssertionError(f"the sandbox called WeCom: {request.url}")

    url = f"sqlite:///{tmp_path / 'configured.db'}"
    migrate.upgrade(database_urls(url))
    settings = make_settings(url, tmp_path, sandbox_enabled="true")
    async for page in _page(settings, httpx.MockTransport(refuse)):
        await page.sign_in()
        groups = await page.groups()
        for group in groups:
            await page.sandbox(group)
            for sender in ("sandbox-newcomer", "sandbox-regular"):
                await page.say(group, sender, DISGUISED)
        played = []
        for scenario in SCENARIOS:
            if page.runtime.sandbox is not None and page.runtime.sandbox.playable(scenario):
                played.append(await page.play(scenario.name))
        assert len(played) == len(SCENARIOS) - 1  # no joins in the customer group here
        for group in groups:  # the newcomer's message: an alert (and a warning) in each
            async with page.runtime.sessions() as session:
                assert await sandbox_repo.posts(session, group), group
        refused = await page.http.post(
            "/console/sandbox/play", data={"csrf": page.csrf, "scenario": "welcome"}
        )
        assert "problem=sandbox.joins_off" in refused.headers["location"]
    assert calls == []


async def test_without_credentials_the_service_talks_only_to_the_sandboxs_fake(
    tmp_path: Path,
) -> None:
    calls: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: calls.append(request) or httpx.Response(500))
    async for page in _page(_fresh_settings(tmp_path), transport):
        await page.sign_in()
        await page.groups()
        await page.play("welcome")
        assert page.runtime.settings.wecom_api_base == "https://wecom.sandbox.invalid"
    assert calls == []


# -- callbacks ----------------------------------------------------------------------------


async def test_a_sandbox_callback_cannot_reach_a_real_group(fresh: Page) -> None:
    sandbox = fresh.runtime.sandbox
    assert sandbox is not None
    plaintext = aibot_message("m-real", REAL_CHAT, "intruder", DISGUISED)
    with pytest.raises(RuntimeError, match="403"):
        await post_callback(
            fresh.http, "/wecom/sandbox/aibot", sandbox.aibot_cipher, plaintext, xml=False
        )
    await fresh.runtime.workers.run_until_idle()
    listing = await fresh.api("/api/v1/moderation-logs", chat_id=REAL_CHAT)
    assert listing["items"] == []  # nothing was stored for the real group


async def test_a_callback_signed_with_another_key_is_refused(fresh: Page) -> None:
    await fresh.groups()
    async with fresh.runtime.sessions() as session:
        group = (await sandbox_repo.groups(session))[0].chat_id
    plaintext = aibot_message("m-forged", group, "intruder", DISGUISED)
    with pytest.raises(RuntimeError, match="40"):
        await post_callback(
            fresh.http, "/wecom/sandbox/aibot", support.aibot_signer().cipher, plaintext, xml=False
        )
    # the real endpoint is off on a fresh machine: nothing to sign a real callback with
    answer = await fresh.http.post(
        "/wecom/aibot?msg_signature=x&timestamp=1&nonce=n", content=b"{}"
    )
    assert answer.status_code == 404


async def test_the_sandbox_endpoints_are_off_with_the_sandbox(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'off.db'}", tmp_path)
    migrate.upgrade(database_urls(settings.database_url))
    async for page in _page(settings, support.FakeWeCom().transport):
        answer = await page.http.post("/wecom/sandbox/aibot?msg_signature=x&timestamp=1&nonce=n")
        assert answer.status_code == 404
        assert page.runtime.sandbox is None
        token = page.runtime.settings.secret("admin_api_token")
        console = await page.http.get(
            "/console/sandbox", headers={"Authorization": f"Bearer {token}"}
        )
        assert console.status_code in (303, 404)


# -- the one-time link --------------------------------------------------------------------


def test_a_one_time_link_works_once_and_not_after_it_expires() -> None:
    links = once.OneTimeLinks(lifetime=60)
    token = links.issue(now=1000.0)
    assert links.redeem(token, now=1001.0)
    assert not links.redeem(token, now=1002.0)  # used twice
    late = links.issue(now=1000.0)
    assert not links.redeem(late, now=1061.0)  # expired
    assert not links.redeem("", now=1000.0)
    assert not links.redeem("x" * 500, now=1000.0)
    assert not links.redeem(links.issue(now=1000.0) + "x", now=1000.0)


@pytest.mark.parametrize(
    ("host", "shown", "loopback"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("localhost", "localhost", True),
        ("::1", "[::1]", True),
        ("0.0.0.0", "127.0.0.1", False),  # noqa: S104 - the bind under test
        ("192.168.1.10", "192.168.1.10", False),
    ],
)
def test_the_link_names_where_to_open_it(host: str, shown: str, loopback: bool) -> None:
    link, is_loopback = once.link_address(host, 8000, "TOKEN")
    assert link == f"http://{shown}:8000/console/login/once?token=TOKEN"
    assert is_loopback is loopback


async def test_the_link_signs_in_once_audited_and_refuses_a_second_use(tmp_path: Path) -> None:
    async for page in _page(_fresh_settings(tmp_path)):
        token = page.runtime.sign_in_links.issue(now=time.time())
        first = await page.http.get(f"/console/login/once?token={token}")
        assert first.status_code == 303 and first.headers["location"] == "/console/sandbox"
        assert "wecom_mod_console=" in first.headers["set-cookie"]
        assert (await page.http.get("/console/sandbox")).status_code == 200
        page.http.cookies.clear()
        second = await page.http.get(f"/console/login/once?token={token}")
        assert second.status_code == 401
        audit = await page.api("/api/v1/audit")
        signed = [e for e in audit["items"] if e["action"] == "console.sign_in"]
        assert len(signed) == 1 and signed[0]["details"]["via"] == "one-time link"
        expired = page.runtime.sign_in_links.issue(now=time.time() - once.LIFETIME_SECONDS - 1)
        assert (await page.http.get(f"/console/login/once?token={expired}")).status_code == 401


def _serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> list[Any]:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_kw: served.append(app))
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    for name in ("WECOM_CORP_ID", "WECOM_APP_SECRET", "WECOM_AIBOT_TOKEN", "SANDBOX_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    assert main(["serve", *args]) == 0
    return served


def test_serve_on_a_fresh_machine_prints_a_one_time_link(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = _serve(monkeypatch, tmp_path)
    out = capsys.readouterr()
    link = re.search(r"http://127\.0\.0\.1:8000/console/login/once\?token=([\w-]+)", out.out)
    assert link, out.out
    runtime = served[0].state.runtime
    assert runtime.sign_in_links.redeem(link.group(1), now=time.time())
    assert "sandbox is on" in out.out


def test_serve_on_a_public_address_says_so(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _serve(monkeypatch, tmp_path, "--host", "0.0.0.0")  # noqa: S104
    out = capsys.readouterr()
    assert "http://127.0.0.1:8000/console/login/once?token=" in out.out
    assert "not a loopback address" in caplog.text


def test_serve_with_credentials_prints_no_link(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SANDBOX_ENABLED", "true")
    monkeypatch.setenv("WECOM_AIBOT_TOKEN", support.AIBOT_TOKEN)
    monkeypatch.setenv("WECOM_AIBOT_AES_KEY", support.AIBOT_AES_KEY)
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_kw: served.append(app))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    assert main(["serve"]) == 0
    assert "/console/login/once" not in capsys.readouterr().out
    assert served[0].state.runtime.sandbox is not None  # on, by the setting
