"""Plays a scenario through the real service: its own endpoint, inbox, pipeline and outbox,
on a throwaway SQLite database, with WeCom replaced by `SandboxWeCom` in the process.

How each step reaches the service, as in a deployment:

- a message in an `internal` group is a signed, encrypted smart-bot callback (`/wecom/aibot`)
  that @-mentions the bot (the smart bot sees only those); its answers go to the callback's
  `response_url`;
- a message in a `customer` or `app_created` group is a chat-archive record (doc 91774) stored
  in the inbox as the archive poller stores it (`app.ingest.archive.store_message`): the
  archive is the only channel that sees those groups' messages;
- a join in a `customer` group is a signed, encrypted `change_external_chat` app callback
  (`/wecom/callback`), after a `create` callback that gives the service the group's members.

After each instant the workers run until idle (`Workers.run_until_idle`: inbox, group
upkeep, outbox); at the end the clock moves on until no action waits (alerts held for a
digest, a welcome's window). What happened is read back through the REST API (the moderation
log) and from the requests the fake WeCom received, in the order they came.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from app import migrate
from app.db import database_urls
from app.repositories import outbox as outbox_repo
from app.repositories import welcomes as welcomes_repo
from app.runtime import Runtime
from app.sandbox.fake_wecom import SANDBOX_API_BASE, SandboxWeCom
from app.sandbox.scenarios import Scenario, Step
from app.sandbox.view import shown_text
from app.sandbox.wire import (
    AGENT_ID,
    CORP_ID,
    aibot_message,
    chat_change,
    post_callback,
    prepare_group,
    random_aes_key,
    store_archive_message,
)
from app.settings import Settings
from app.texts import Texts
from app.texts.findings import describe_stored
from bot.crypto import CallbackCipher

# `app.main.create_app`, passed in by the wiring (`app.cli`) that alone imports app.main
AppFactory = Callable[..., FastAPI]

__all__ = [
    "SANDBOX_API_BASE",
    "AppFactory",
    "Played",
    "PlayedStep",
    "Posted",
    "play",
    "play_scenarios",
]

SANDBOX_ADMIN = "sandbox-admin"  # an admin in no group, so that every group has someone to alert
DRAIN_STEP_SECONDS = 30.0
DRAIN_ROUNDS = 40  # the clock moves on at most 20 minutes after the last step
SETTLE_ROUNDS = 4  # ... and at least 2 minutes (a welcome's window, the template scan)
# WeCom calls that show nothing to anyone: a token, a group's or a contact's details
SILENT_PATHS = frozenset(
    {"/cgi-bin/gettoken", "/cgi-bin/externalcontact/groupchat/get", "/cgi-bin/externalcontact/get"}
)
POSTED_IN_GROUP = {  # API path → how a text reaches the group
    "/cgi-bin/aibot/response": "aibot",
    "/cgi-bin/appchat/send": "appchat",
    "/cgi-bin/webhook/send": "webhook",
}
OUTCOME = {"remove": "act", "warn": "act", "alert": "review"}


@dataclass(frozen=True)
class Posted:
    """What the bot asked WeCom to show, `text` as it would appear, `where`: group (in the
    chat), moderators (an alert, an app message to `to`), owner (the customer group's owner
    asked to attach the welcome template), template (added to the corp's welcome-template
    library), wecom (WeCom's own welcome from that template: no API call shows it), removal,
    other (any other call, by its path)."""

    where: str
    text: str
    to: tuple[str, ...] = ()
    via: str = ""  # in the group: aibot (a smart-bot reply), appchat, webhook


@dataclass
class PlayedStep:
    step: Step
    role: str
    channel: str  # aibot | archive | join
    verdict: str = ""  # the moderation log's verdict; "" no log row
    step_name: str = ""  # the ladder step (removal …)
    why: list[tuple[str, str]] = field(default_factory=list)  # (rule, what fired)
    reason: str = ""
    posted: list[Posted] = field(default_factory=list)
    welcomed: bool = False  # a join: every member who joined was welcomed by the end

    @property
    def outcome(self) -> str:
        if self.channel == "join":
            return "welcome" if self.welcomed else "ok"
        if self.verdict == "alert" and self.step_name == "removal":
            return "act"
        return OUTCOME.get(self.verdict, "ok")


@dataclass
class Played:
    scenario: Scenario
    steps: list[PlayedStep]
    later: list[Posted]  # posted after the last step (a digest, a welcome)
    setup: list[Posted] = field(default_factory=list)  # posted as the group became known

    @property
    def mismatches(self) -> list[PlayedStep]:
        return [played for played in self.steps if played.outcome != played.step.expect]

    @property
    def passed(self) -> bool:
        return not self.mismatches


class _SandboxSettings(Settings):
    """Settings from the values given only: nothing from the environment or a `.env` file
    (an operator's DATABASE_URL, ARCHIVE_ENABLED, POLICY_PATH … never reach the sandbox)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class _Sandbox:
    """One scenario's service: the app on a fresh database, the clock, the fake WeCom."""

    def __init__(
        self, scenario: Scenario, database: Path, build_app: AppFactory, messages_path: Path | None
    ) -> None:
        self.scenario = scenario
        self.build_app = build_app
        self.chat_id = f"wrSandbox-{scenario.name}"
        self.start = datetime.now(UTC).replace(microsecond=0)
        self.now = self.start
        self.wecom = SandboxWeCom()
        self.admin_token = secrets.token_urlsafe(24)
        app_token, app_key = secrets.token_hex(8), random_aes_key()
        aibot_token, aibot_key = secrets.token_hex(8), random_aes_key()
        self.app_cipher = CallbackCipher(
            token=app_token, encoding_aes_key=app_key, receive_id=CORP_ID
        )
        self.aibot_cipher = CallbackCipher(
            token=aibot_token, encoding_aes_key=aibot_key, receive_id=""
        )
        moderators = [u for u, role in scenario.members.items() if role == "moderator"]
        self.settings = _SandboxSettings(
            database_url=f"sqlite:///{database}",
            wecom_corp_id=CORP_ID,
            wecom_agent_id=AGENT_ID,
            wecom_app_secret=secrets.token_hex(16),
            wecom_callback_token=app_token,
            wecom_callback_aes_key=app_key,
            wecom_aibot_token=aibot_token,
            wecom_aibot_aes_key=aibot_key,
            wecom_api_base=SANDBOX_API_BASE,
            wecom_admin_userids=",".join([SANDBOX_ADMIN, *moderators]),
            admin_api_token=self.admin_token,
            messages_path=messages_path,
        )
        self.msgids: list[str] = []

    def clock(self) -> datetime:
        return self.now

    async def play(self) -> Played:
        app = self.build_app(
            self.settings, transport=self.wecom.transport, start_workers=False, clock=self.clock
        )
        async with app.router.lifespan_context(app):
            runtime: Runtime = app.state.runtime
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
                return await self._play(runtime, http)

    async def _play(self, runtime: Runtime, http: httpx.AsyncClient) -> Played:
        await self._prepare(runtime, http)
        setup = self._posted(self.wecom.requests)
        played: list[PlayedStep] = []
        for index, step in enumerate(self.scenario.steps):
            self.now = self.start + timedelta(seconds=step.t)
            seen = len(self.wecom.requests)
            msgid = f"sandbox-{self.scenario.name}-{index:03d}"
            self.msgids.append(msgid)
            channel = await self._deliver(runtime, http, step, msgid)
            await runtime.workers.run_until_idle()
            played.append(
                PlayedStep(
                    step=step,
                    role=self.scenario.role(step.sender) if step.sender else "",
                    channel=channel,
                    posted=self._posted(self.wecom.requests[seen:]),
                )
            )
        seen = len(self.wecom.requests)
        for round_ in range(DRAIN_ROUNDS):
            if round_ >= SETTLE_ROUNDS and not await self._waiting(runtime):
                break
            self.now += timedelta(seconds=DRAIN_STEP_SECONDS)
            await runtime.workers.run_until_idle()
        later = self._posted(self.wecom.requests[seen:])
        async with runtime.sessions() as session:
            members = await welcomes_repo.members_by_user(session, self.chat_id)
        welcomed = [u for u, m in members.items() if m.welcomed_at is not None]
        for one in played:
            one.welcomed = bool(one.step.join) and set(one.step.join) <= set(welcomed)
        joined = [u for one in played for u in one.step.join if u in welcomed]
        template = next((p.text for p in setup if p.where == "template"), "")
        if self.scenario.kind == "customer" and joined and template:
            # WeCom sends the template attached by the owner; no API call shows it
            names = "、".join(self.scenario.display(u) for u in joined)
            later.append(Posted("wecom", template.replace("%NICKNAME%", names)))
        rows = await self._log_rows(http)
        by_message = {row["message_id"]: row for row in rows}
        reports = [row for row in rows if row.get("source") == "report"]
        for msgid, one in zip(self.msgids, played, strict=True):
            row = by_message.get(msgid)
            # a report's alert is its own log row: shown with the report that set it off
            alerted = any(p.where == "moderators" for p in one.posted)
            if row is None and one.step.text.startswith("/report") and reports and alerted:
                row = reports.pop(0)
            if row is None:
                continue
            one.verdict = str(row["decision"])
            one.step_name = str(row.get("step") or "")
            one.reason = str(row.get("reason") or "")
            one.why = [
                self._why(runtime.context.texts, item)
                for item in [*row.get("findings", []), *row.get("signals", [])]
                if isinstance(item, dict)
            ]
        return Played(self.scenario, played, later, setup)

    def _why(self, texts: Texts, finding: dict[str, Any]) -> tuple[str, str]:
        """A finding's rule and what fired; for members' reports, who reported."""
        rule, detail = describe_stored(texts, finding)
        facts = finding.get("facts")
        reporters = facts.get("reporters") if isinstance(facts, dict) else None
        if finding.get("detector") == "report" and isinstance(reporters, list):
            names = "、".join(self.scenario.display(str(user)) for user in reporters)
            detail = texts.render("demo.reporters", count=len(reporters), reporters=names)
        return rule, detail

    async def _prepare(self, runtime: Runtime, http: httpx.AsyncClient) -> None:
        """The group with its kind and owner, its established members; a customer group is
        first announced by a `create` callback, whose sync is the baseline of members."""
        scenario = self.scenario
        owners = [u for u, role in scenario.members.items() if role == "owner"]
        group_name = scenario.title.split("：")[0][:64]
        async with runtime.sessions() as session, session.begin():
            await prepare_group(
                session,
                self.chat_id,
                kind=scenario.kind,
                members=scenario.members,
                name=group_name,
                rules=scenario.rules,
                start=self.start,
                sandbox=False,
                moderators_in_group=False,
            )
        if scenario.kind == "customer":
            present = [u for u, role in scenario.members.items() if role != "newcomer"]
            self.wecom.groups[self.chat_id] = (owners[0] if owners else "", present, "v0")
            self.wecom.names[self.chat_id] = group_name
            await self._post_app(http, self._chat_change([], "v0", "v0", create=True))
            await runtime.workers.run_until_idle()

    async def _deliver(
        self, runtime: Runtime, http: httpx.AsyncClient, step: Step, msgid: str
    ) -> str:
        if step.join:
            owner, members, version = self.wecom.groups[self.chat_id]
            new = f"v{int(version[1:]) + 1}"
            self.wecom.groups[self.chat_id] = (owner, [*members, *step.join], new)
            await self._post_app(http, self._chat_change(list(step.join), version, new))
            return "join"
        if self.scenario.kind == "internal":
            plaintext = aibot_message(msgid, self.chat_id, step.sender, step.text)
            await post_callback(http, "/wecom/aibot", self.aibot_cipher, plaintext, xml=False)
            return "aibot"
        others = sorted(user for user in self.scenario.members if user != step.sender)
        try:
            async with runtime.sessions() as session, session.begin():
                await store_archive_message(
                    session,
                    msgid=msgid,
                    chat_id=self.chat_id,
                    sender=step.sender,
                    text=step.text,
                    others=others,
                    sent_at=self.now,
                    now=self.now,
                )
        except RuntimeError as exc:
            raise RuntimeError(f"{self.scenario.name}: {exc}") from None
        return "archive"

    def _chat_change(
        self, members: list[str], last: str, version: str, *, create: bool = False
    ) -> str:
        return chat_change(self.chat_id, members, last, version, now=self.now, create=create)

    async def _post_app(self, http: httpx.AsyncClient, plaintext: str) -> None:
        await post_callback(http, "/wecom/callback", self.app_cipher, plaintext, xml=True)

    async def _waiting(self, runtime: Runtime) -> bool:
        async with runtime.sessions() as session:
            return await outbox_repo.oldest_pending(session) is not None

    async def _log_rows(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        response = await http.get(
            "/api/v1/moderation-logs",
            params={"chat_id": self.chat_id, "limit": 200},
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        response.raise_for_status()
        return list(response.json()["items"])

    def _posted(self, requests: Sequence[httpx.Request]) -> list[Posted]:
        posted = []
        for request in requests:
            path = request.url.path
            if path in SILENT_PATHS:
                continue
            body: dict[str, Any] = json.loads(request.content or b"{}")
            kind = str(body.get("msgtype", ""))
            text = shown_text(kind, body.get(kind))
            if path in POSTED_IN_GROUP:
                posted.append(Posted("group", text, via=POSTED_IN_GROUP[path]))
            elif path == "/cgi-bin/message/send":
                to = tuple(str(body.get("touser", "")).split("|"))
                owner = [u for u, r in self.scenario.members.items() if r == "owner"]
                where = (
                    "owner" if owner and to == tuple(owner) and "欢迎语" in text else "moderators"
                )
                posted.append(Posted(where, text, to))
            elif path == "/cgi-bin/externalcontact/group_welcome_template/add":
                posted.append(Posted("template", str(body.get("text", {}).get("content", ""))))
            elif path == "/cgi-bin/appchat/update":
                posted.append(Posted("removal", json.dumps(body, ensure_ascii=False)))
            else:
                posted.append(Posted("other", path))
        return posted


async def play(
    scenario: Scenario, workdir: Path, build_app: AppFactory, *, messages_path: Path | None = None
) -> Played:
    """Play one scenario on a fresh SQLite database in `workdir`, on the app `build_app`
    (`app.main.create_app`) makes."""
    database = workdir / f"{scenario.name}.db"
    migrate.upgrade(database_urls(f"sqlite:///{database}"))
    return await _Sandbox(scenario, database, build_app, messages_path).play()


async def play_scenarios(
    scenarios: Sequence[Scenario], build_app: AppFactory, *, messages_path: Path | None = None
) -> list[Played]:
    """Play each scenario on its own throwaway database, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="wecom-mod-demo-") as name:
        return [
            await play(s, Path(name), build_app, messages_path=messages_path) for s in scenarios
        ]
