"""`Runtime`: everything a request or a worker of one replica needs, built by the lifespan
(`app.main`) and kept on `app.state.runtime`; `runtime_of(request)` reads it. Also what builds
two of its parts outside the lifespan too (`archive import`, `check`): the moderation context
and the word files read at start.

Routes and workers import this module, never `app.main`, which imports them all to wire them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import Request

from app.chat.commands import build_registry
from app.console.once import OneTimeLinks
from app.groups.policy_file import load_policy
from app.health.rollup import RollupConfig
from app.ingest.channels import CallbackChannel, sandbox_channels
from app.judging.context import ModerationContext
from app.lexicon.files import ListFile, read_list_file
from app.lexicon.runtime import LexiconHolder
from app.lexicon.service import ListKind
from app.settings import Settings
from app.texts import Texts, load_texts
from app.workers import Foreground

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from app.groups.welcome import GroupUpkeep  # noqa: F401
    from app.ingest.archive import ArchivePoller, GroupDirectory
    from app.ingest.inbox_writer import InboxWriter
    from app.judging.processing import InboxProcessor
    from app.outbox.dispatcher import OutboxDispatcher
    from app.repositories.notifications import Listener
    from app.sandbox.live import LiveSandbox
    from app.screening.screener import JoinScreener
    from app.secret_box import SecretBox
    from app.workers import Workers
    from bot.client import WeComClient

__all__ = ["Runtime", "moderation_context", "runtime_of", "word_files"]


@dataclass
class Runtime:
    """Everything a request or a worker needs; built by the lifespan, kept on app.state."""

    settings: Settings
    context: ModerationContext
    app_channel: CallbackChannel
    aibot_channel: CallbackChannel
    clock: Callable[[], datetime]
    secret_box: SecretBox | None = None  # seals webhook keys at rest; None: SECRET_KEY unset
    # (channel, outcome) → callback answers given by this replica (`app.metrics`)
    callback_answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    # the callbacks being answered, which judging and the outbox's sends give way to
    foreground: Foreground = field(default_factory=Foreground)
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    inbox_writer: InboxWriter = field(init=False)  # the callbacks' inbox rows, group-committed
    client: WeComClient = field(init=False)
    workers: Workers = field(init=False)
    archive: ArchivePoller | None = field(default=None, init=False)  # when ARCHIVE_ENABLED
    # PostgreSQL with workers: wakes them on other replicas' notifications
    listener: Listener | None = field(default=None, init=False)
    groups: GroupDirectory | None = field(default=None, init=False)  # when ARCHIVE_ENABLED
    processor: InboxProcessor = field(init=False)
    dispatcher: OutboxDispatcher = field(init=False)
    screener: JoinScreener = field(init=False)  # join screening (app.screening)
    # The console's sandbox (app.sandbox.live) and its callback channels; None / off when
    # SANDBOX_ENABLED says so. The one-time sign-in links `serve` prints (app.console.once).
    sandbox: LiveSandbox | None = None
    sandbox_app_channel: CallbackChannel = field(
        default_factory=lambda: sandbox_channels(None, None)[0]
    )
    sandbox_aibot_channel: CallbackChannel = field(
        default_factory=lambda: sandbox_channels(None, None)[1]
    )
    sign_in_links: OneTimeLinks = field(default_factory=OneTimeLinks)
    # The settings as given, when a fresh machine's sandbox filled in its own (`settings` then
    # holds the fake WeCom's credentials): what `/healthz` and the overview report as on.
    configured_settings: Settings | None = None

    @property
    def configured(self) -> Settings:
        return self.configured_settings or self.settings

    def now(self) -> datetime:
        return self.clock()

    @property
    def lexicon(self) -> LexiconHolder:
        return self.context.lexicon

    def lexicon_changed(self) -> None:
        """A change was committed through this replica: reload without waiting for the poll."""
        self.workers.notify_lexicon()


def runtime_of(request: Request) -> Runtime:
    """The runtime of the replica serving `request`."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def word_files(settings: Settings) -> list[ListFile]:
    """The word and allow-list files to import at start, read and checked (SettingsError)."""
    files = []
    if settings.lexicon_path is not None:
        files.append(read_list_file(settings.lexicon_path, ListKind.WORDS, setting="LEXICON_PATH"))
    if settings.lexicon_allow_path is not None:
        files.append(
            read_list_file(
                settings.lexicon_allow_path, ListKind.ALLOW, setting="LEXICON_ALLOW_PATH"
            )
        )
    return files


def moderation_context(
    settings: Settings, holder: LexiconHolder, texts: Texts | None = None
) -> ModerationContext:
    """What the inbox processor judges with: lexicon, texts, commands, people, policy."""
    return ModerationContext(
        lexicon=holder,
        texts=texts or load_texts(settings.messages_path),
        commands=build_registry(),
        moderators=tuple(settings.admin_userids),
        app_messages_enabled=settings.app_messages_enabled,
        staff=frozenset(settings.staff_userids),
        policy=load_policy(settings.policy_path, settings.corp_domain_list),
        bot_names=tuple(settings.smart_bot_name_list),
        rollups=RollupConfig(
            timezone=settings.health_timezone, retention_days=settings.health_retention_days
        ),
    )
