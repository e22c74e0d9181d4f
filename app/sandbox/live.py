"""The console's sandbox (沙盒 / 模拟群) in the live service: groups marked as sandbox in the
service's own database, where the operator types as a ready-made member or plays the
ready-made scenarios (`app.sandbox.scenarios`), each message going the real way: a signed,
encrypted callback into the service's own sandbox endpoint (`/wecom/sandbox/aibot`,
`/wecom/sandbox/callback`, built as `app.sandbox.wire` builds them for the demo) or a
chat-archive record in the inbox, then the pipeline and the outbox.

Isolation (`app.repositories.sandbox`): a sandbox group is marked (`groups.sandbox`) and
everything under its chat id is the sandbox's; no statistic, health figure, digest, export or
REST log listing counts it; the outbox delivers its actions to `sandbox_posts`, which the page
reads, never to WeCom; `reset` deletes it all.

The sandbox's ciphers are drawn when the service starts and live in this object only: no one
outside the process can sign a sandbox callback (`app.ingest.callbacks` says why that keeps
real groups and sandbox groups apart).

On a fresh machine (no WeCom credentials), the whole service talks to the fake WeCom of the
sandbox (`fresh_machine_settings`): there is no real WeCom to reach, and the member list of a
customer group, its welcome template and the contacts the join screening asks for come from
`SandboxWeCom`. With credentials (SANDBOX_ENABLED=true), the service's WeCom client is the real
one, so the sandbox's customer group takes no joins: a join makes the service ask WeCom for
the group's members, and a sandbox group must never reach WeCom.

One replica: the fake WeCom's member lists and the ciphers are this process's; with several
replicas, use the sandbox on the one the console is served from (a sandbox callback posted
to another replica is refused).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from app.models import Group
from app.repositories import sandbox as sandbox_repo
from app.sandbox.fake_wecom import LIVE_REPLY_URL, SANDBOX_API_BASE, SandboxWeCom
from app.sandbox.scenarios import ROLES, Scenario, by_name
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
from bot.crypto import CallbackCipher

__all__ = [
    "CHAT_PREFIX",
    "GROUP_KINDS",
    "MEMBERS",
    "LiveSandbox",
    "fresh_machine_settings",
]

# The ready-made members of a group the operator types in: user id → role (`ROLES`).
MEMBERS = {
    "sandbox-newcomer": "newcomer",
    "sandbox-regular": "regular",
    "sandbox-owner": "owner",
    "sandbox-moderator": "moderator",
}
GROUP_KINDS = ("internal", "customer", "app_created")
CHAT_PREFIX = "wrSandbox"  # a sandbox group's chat id starts so (for people reading a log)
# joins within this long get one welcome (the policy's default is a minute: too long to watch)
WELCOME_WINDOW_SECONDS = 5.0
RULES = "1. 友善交流\n2. 禁止广告引流\n3. 禁止刷屏"
assert set(MEMBERS.values()) == set(ROLES)  # noqa: S101 - one member of each role


def fresh_machine_settings(settings: Settings) -> Settings:
    """A fresh machine's settings for the sandbox: the app credentials the fake WeCom of the
    sandbox accepts, drawn at random (nothing real to reach; the callbacks stay off), a key
    of the process's own for the console's cookies (the one-time sign-in link is the way in;
    the REST API stays off without ADMIN_API_TOKEN), and the sandbox on. The settings as
    given stay what `/healthz` and the console's overview report (`Runtime.configured`)."""
    filled = settings.model_copy(
        update={
            "wecom_corp_id": CORP_ID,
            "wecom_agent_id": AGENT_ID,
            "wecom_app_secret": SecretStr(secrets.token_hex(16)),
            "wecom_api_base": SANDBOX_API_BASE,
            "sandbox_enabled": True,
        }
    )
    return filled.with_session_key(secrets.token_bytes(32))


@dataclass
class LiveSandbox:
    """The sandbox of one replica: its ciphers, its fake WeCom, what it delivers."""

    fake_client: bool  # the service's WeCom client is the fake (a fresh machine)
    wecom: SandboxWeCom = field(default_factory=lambda: SandboxWeCom(keep_requests=False))
    app_cipher: CallbackCipher = field(
        default_factory=lambda: CallbackCipher(
            token=secrets.token_hex(16), encoding_aes_key=random_aes_key(), receive_id=CORP_ID
        )
    )
    aibot_cipher: CallbackCipher = field(
        default_factory=lambda: CallbackCipher(
            token=secrets.token_hex(16), encoding_aes_key=random_aes_key(), receive_id=""
        )
    )

    @property
    def joins(self) -> bool:
        """Whether a customer group takes joins here (see the module's docstring)."""
        return self.fake_client

    def playable(self, scenario: Scenario) -> bool:
        return self.joins or not any(step.join for step in scenario.steps)

    async def create_group(
        self,
        app: FastAPI,
        *,
        kind: str,
        name: str,
        members: dict[str, str],
        rules: str = RULES,
        now: datetime,
        label: str = "",
    ) -> str:
        """A new sandbox group of `kind` with `members` (user id → role); its chat id,
        `wrSandbox-<label>-<random>` (`label`: the kind for a ready-made group, the scenario's
        name for a scenario's)."""
        runtime = app.state.runtime
        chat_id = f"{CHAT_PREFIX}-{label or kind}-{secrets.token_hex(6)}"
        async with runtime.sessions() as session, session.begin():
            group = await prepare_group(
                session,
                chat_id,
                kind=kind,
                members=members,
                name=name[:64],
                rules=rules,
                start=now,
                sandbox=True,
                moderators_in_group=True,
            )
            group.policy = {"welcome_window_seconds": WELCOME_WINDOW_SECONDS}
        if kind == "customer" and self.joins:
            owner = next((u for u, role in members.items() if role == "owner"), "")
            present = [u for u, role in members.items() if role != "newcomer"]
            self.wecom.groups[chat_id] = (owner, present, "v0")
            self.wecom.names[chat_id] = name
            await self._post_app(app, chat_change(chat_id, [], "v0", "v0", now=now, create=True))
        return chat_id

    @staticmethod
    def members_of(chat_id: str) -> dict[str, str]:
        """The members (user id → role) a sandbox group was made with: its scenario's, or the
        ready-made ones (`MEMBERS`)."""
        label = chat_id.removeprefix(f"{CHAT_PREFIX}-").rpartition("-")[0]
        scenario = by_name(label)
        return dict(scenario.members) if scenario is not None else dict(MEMBERS)

    async def ready_made_groups(self, app: FastAPI, names: dict[str, str], now: datetime) -> None:
        """One group of each kind with the ready-made members, made when there is none."""
        runtime = app.state.runtime
        async with runtime.sessions() as session:
            existing = {group.chat_id for group in await sandbox_repo.groups(session)}
        for kind in GROUP_KINDS:
            if not any(chat.startswith(f"{CHAT_PREFIX}-{kind}-") for chat in existing):
                await self.create_group(app, kind=kind, name=names[kind], members=MEMBERS, now=now)

    async def say(
        self,
        app: FastAPI,
        group: Group,
        sender: str,
        text: str,
        *,
        others: list[str],
        sent_at: datetime,
    ) -> None:
        """`sender` says `text` in the sandbox group: a smart-bot callback (@-mentioning the
        bot) in an internal group, else a chat-archive record."""
        msgid = f"sandbox-{secrets.token_hex(8)}"
        await self._note(app, group.chat_id, "member", text, sender=sender, message_id=msgid)
        if group.kind == "internal":
            plaintext = aibot_message(msgid, group.chat_id, sender, text, reply_url=LIVE_REPLY_URL)
            async with self._http(app) as http:
                await post_callback(
                    http, "/wecom/sandbox/aibot", self.aibot_cipher, plaintext, xml=False
                )
            return
        runtime = app.state.runtime
        async with runtime.sessions() as session, session.begin():
            await store_archive_message(
                session,
                msgid=msgid,
                chat_id=group.chat_id,
                sender=sender,
                text=text,
                others=others,
                sent_at=sent_at,
                now=runtime.now(),
            )
        runtime.workers.notify_inbox()

    async def join(self, app: FastAPI, group: Group, users: list[str], now: datetime) -> bool:
        """`users` join the customer group (a `change_external_chat` callback); False when
        the sandbox takes no joins here."""
        if not self.joins or group.chat_id not in self.wecom.groups:
            return False
        await self._note(app, group.chat_id, "join", "、".join(users))
        owner, members, version = self.wecom.groups[group.chat_id]
        new = f"v{int(version[1:]) + 1}"
        self.wecom.groups[group.chat_id] = (owner, [*members, *users], new)
        await self._post_app(app, chat_change(group.chat_id, users, version, new, now=now))
        return True

    async def play(self, app: FastAPI, scenario: Scenario, *, name: str, now: datetime) -> str:
        """The scenario in a new sandbox group of its kind, its steps delivered one after the
        other at once (their spacing kept in the archive records' times); the group's id."""
        chat_id = await self.create_group(
            app,
            kind=scenario.kind,
            name=name,
            members=dict(scenario.members),
            rules=scenario.rules,
            now=now,
            label=scenario.name,
        )
        runtime = app.state.runtime
        async with runtime.sessions() as session:
            group = next(g for g in await sandbox_repo.groups(session) if g.chat_id == chat_id)
        last = max((step.t for step in scenario.steps), default=0.0)
        for step in scenario.steps:
            at = now - timedelta(seconds=last - step.t)
            if step.join:
                await self.join(app, group, list(step.join), at)
                continue
            others = sorted(user for user in scenario.members if user != step.sender)
            await self.say(app, group, step.sender, step.text, others=others, sent_at=at)
        return chat_id

    @staticmethod
    async def _note(
        app: FastAPI, chat_id: str, where: str, text: str, *, sender: str = "", message_id: str = ""
    ) -> None:
        """What the sandbox sent, for the page's chat (the inbox keeps no text once judged)."""
        runtime = app.state.runtime
        async with runtime.sessions() as session, session.begin():
            sandbox_repo.add_post(
                session,
                chat_id=chat_id,
                kind=where,
                where=where,
                text=text,
                sender=sender,
                message_id=message_id,
                now=runtime.now(),
            )

    async def _post_app(self, app: FastAPI, plaintext: str) -> None:
        async with self._http(app) as http:
            await post_callback(
                http, "/wecom/sandbox/callback", self.app_cipher, plaintext, xml=True
            )

    @staticmethod
    def _http(app: FastAPI) -> httpx.AsyncClient:
        """The service's own endpoints, in the process (as WeCom would call them)."""
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://sandbox.internal")
