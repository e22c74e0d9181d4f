"""`create_app(settings)`: the FastAPI application and the lifespan that owns its resources.

Nothing happens at import time. `create_app` reads and checks the word file, the allow-list
file and the texts (so a bad file stops start-up before the port opens); the lifespan creates
the database engine and the callbacks' inbox writer, imports the files into the database lexicon
and loads it, creates the single `httpx.AsyncClient`, the WeCom client with its token cache, and
the background workers (with the chat-archive poller when ARCHIVE_ENABLED), and closes them in
reverse order (the inbox writer first: every callback's row is committed before the rest). The
archive's keys and library location are checked in `create_app`; the library is loaded by the
poller's first pass, so a broken one is reported and retried without stopping the service.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from app import console
from app import openapi as openapi_document
from app.admin import api, auth, health, review, stats
from app.admin import audit_routes as audit
from app.admin import metrics_route as metrics
from app.db import WriteGate, create_engine_for, database_urls, gated, session_factory
from app.groups import routes as groups
from app.groups.welcome import GroupUpkeep
from app.health import routes as health_routes
from app.health.digest import DigestConfig, DigestSender
from app.health.service import HealthConfig
from app.health.snapshot import SnapshotRefresher
from app.ingest import callbacks
from app.ingest.archive import (
    ArchivePoller,
    GroupDirectory,
    KeyDirectory,
    PollerConfig,
    SourceOpener,
    finance_sdk_opener,
)
from app.ingest.channels import aibot_channel, app_channel, sandbox_channels
from app.ingest.inbox_writer import InboxWriter
from app.judging.processing import MAX_BATCH, SQLITE_MAX_BATCH, InboxProcessor
from app.lexicon import routes as lexicon
from app.lexicon.runtime import LexiconHolder, LexiconReloader
from app.log_format import (
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    current_request_id,
    install_access_log_redactor,
)
from app.outbox import routes as outbox
from app.outbox.dispatcher import SEND_CALLS, OutboxDispatcher
from app.repositories.notifications import INBOX_CHANNEL, OUTBOX_CHANNEL, Listener
from app.runtime import Runtime, moderation_context, word_files
from app.sandbox.live import LiveSandbox, fresh_machine_settings
from app.screening import routes as screening
from app.screening.contacts import ContactDirectory
from app.screening.screener import JoinScreener
from app.settings import Settings, SettingsError
from app.texts import load_texts
from app.workers import Workers
from bot.client import AccessTokenCache, AppCredentials, WeComClient
from bot.crypto import CallbackCipher
from bot.errors import ArchiveKeysInvalid
from bot.finance_sdk import bundled_library_path

__all__ = ["Runtime", "Service", "create_app", "moderation_context", "word_files"]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _ciphers(settings: Settings) -> tuple[CallbackCipher | None, CallbackCipher | None]:
    app_cipher = aibot_cipher = None
    if settings.app_callback_enabled:
        app_cipher = CallbackCipher(
            token=settings.secret("wecom_callback_token"),
            encoding_aes_key=settings.secret("wecom_callback_aes_key"),
            receive_id=settings.wecom_corp_id,
        )
    if settings.aibot_enabled:
        aibot_cipher = CallbackCipher(
            token=settings.secret("wecom_aibot_token"),
            encoding_aes_key=settings.secret("wecom_aibot_aes_key"),
            receive_id="",
        )
    return app_cipher, aibot_cipher


@dataclass(frozen=True)
class _ArchiveSetup:
    keys: KeyDirectory
    open_source: SourceOpener


def _archive_setup(settings: Settings, open_source: SourceOpener | None) -> _ArchiveSetup | None:
    """The archive's keys (read now) and how to open its SDK; SettingsError when unusable."""
    if not settings.archive_enabled or settings.archive_keys_dir is None:
        return None
    keys = KeyDirectory(settings.archive_keys_dir)
    try:
        keys.keys()
    except ArchiveKeysInvalid as exc:
        raise SettingsError(f"ARCHIVE_KEYS_DIR: {exc}") from None
    if open_source is None:
        path = settings.archive_sdk_path
        if path is None and bundled_library_path() is None:
            raise SettingsError(
                "ARCHIVE_SDK_PATH: not set, and no Finance SDK build for this machine is "
                "installed (pip install 'wecom-mod[archive]', or point it at "
                "libWeWorkFinanceSdk_C.so)"
            )
        if path is not None and not path.is_file():
            raise SettingsError(f"ARCHIVE_SDK_PATH: no file at {path}")
        open_source = finance_sdk_opener(
            path, settings.wecom_corp_id, settings.secret("archive_secret")
        )
    return _ArchiveSetup(keys, open_source)


class _ErrorResponse(JSONResponse):
    """An error body that survives reflecting hostile input: a lone surrogate from a JSON
    escape such as "\\ud800" is written back as that escape instead of failing to encode."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return _ErrorResponse({"error": message, **extra}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            # Starlette names the methods of the first route whose path matched; a path has
            # one route per method here, so name them all.
            response.headers["Allow"] = ", ".join(_methods_of(app, request.scope))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", "")}
            for error in exc.errors()
        ]
        first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"][1:]) or "request"
        return _error(422, f"{where}: {first['msg']}", details=problems)

    @app.exception_handler(SQLAlchemyError)
    async def database_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        if isinstance(exc, DataError):  # the input, not the database (e.g. NUL on PostgreSQL)
            log.info("input the database refused: %s", exc.orig)
            return _error(422, "input holds characters or values the database cannot store")
        log.error("database error while serving a request: %s", exc)
        return _error(503, "database unavailable, retry later")

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        response = _error(500, "internal error")
        # Answered by Starlette's outermost middleware, past RequestIdMiddleware: the id the
        # request had (still set) goes on the answer here, to find the trace in the log.
        request_id = current_request_id()
        if request_id is not None:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _methods_of(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route serves at the request's path (what a 405's Allow names)."""
    methods = set()
    for method in _METHODS:
        probe = {**scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in app.router.routes):
            methods.add(method)
    return sorted(methods)


class Service(FastAPI):
    """The app. A GET or POST of a WeCom callback path is served before the middleware stack,
    with only its request id (`RequestIdMiddleware`): the endpoints answer their errors
    themselves (`app.ingest.callbacks`). Under a spam wave the replica answers little else,
    and the stack (Starlette's error and exception middleware, FastAPI's exit stack and body
    limit, the router) took an eighth of its CPU. Any other method, or a path under a
    `root_path`, takes the stack to the same endpoints."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast_paths = {
            path: RequestIdMiddleware(endpoint) for path, endpoint in callbacks.fast_paths.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "POST"):
            endpoint = self._fast_paths.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    start_workers: bool = True,
    clock: Callable[[], datetime] = utc_now,
    poll_seconds: float = 1.0,
    archive_source: SourceOpener | None = None,
) -> FastAPI:
    """Build the service. `transport` replaces the network for outbound WeCom calls (tests);
    `start_workers=False` leaves inbox/outbox processing to `runtime.workers.run_until_idle()`;
    `archive_source` replaces the Finance SDK (tests).
    Raises SettingsError for a bad word file, allow-list file, texts file or archive keys."""
    list_files = word_files(settings)
    archive_setup = _archive_setup(settings, archive_source)
    texts = load_texts(settings.messages_path)
    app_cipher, aibot_cipher = _ciphers(settings)
    sandbox = None
    configured = settings
    if settings.sandbox_on:
        # A fresh machine: the service talks to the sandbox's fake WeCom (app.sandbox.live).
        fresh = not settings.has_wecom_credentials
        if fresh:
            settings = fresh_machine_settings(settings)
        sandbox = LiveSandbox(fake_client=fresh)
        if fresh:
            transport = sandbox.wecom.transport
    holder = LexiconHolder()
    runtime = Runtime(
        settings=settings,
        context=moderation_context(settings, holder, texts),
        app_channel=app_channel(app_cipher),
        aibot_channel=aibot_channel(aibot_cipher),
        clock=clock,
        secret_box=settings.secret_box(),
    )
    runtime.configured_settings = configured
    if sandbox is not None:
        runtime.sandbox = sandbox
        runtime.sandbox_app_channel, runtime.sandbox_aibot_channel = sandbox_channels(
            sandbox.app_cipher, sandbox.aibot_cipher
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.engine = create_engine_for(database_urls(settings.database_url))
        runtime.sessions = session_factory(runtime.engine)
        runtime.inbox_writer = InboxWriter(runtime.engine)
        reloader = LexiconReloader(runtime.sessions, holder, clock=clock, imports=list_files)
        try:
            await reloader.reload_if_changed()
        except (SQLAlchemyError, OSError) as exc:
            log.error(
                "cannot load the lexicon at start (database unavailable or not migrated); it "
                "is imported and loaded when the database answers, the inbox waits until "
                "then: %s",
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
        timeout = settings.wecom_timeout_seconds
        # SQLite: sends and judging take turns, so that a send's outcome is committed as soon
        # as WeCom answers (`app.outbox.dispatcher`); PostgreSQL needs no turns.
        write_gate = WriteGate() if runtime.engine.dialect.name == "sqlite" else None
        http_timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        async with httpx.AsyncClient(timeout=http_timeout, transport=transport) as http:
            credentials = None
            if settings.app_messages_enabled and settings.wecom_agent_id is not None:
                credentials = AppCredentials(
                    corp_id=settings.wecom_corp_id,
                    agent_id=settings.wecom_agent_id,
                    secret=settings.secret("wecom_app_secret"),
                )
            archive_credentials = None
            if settings.archive_secret is not None and settings.wecom_corp_id:
                archive_credentials = AppCredentials(
                    corp_id=settings.wecom_corp_id,
                    agent_id=0,
                    secret=settings.secret("archive_secret"),
                )
            runtime.client = WeComClient(
                http,
                api_base=settings.wecom_api_base,
                credentials=credentials,
                tokens=AccessTokenCache(),
                archive_credentials=archive_credentials,
                call_timeout=timeout,
            )
            dispatcher = OutboxDispatcher(
                runtime.sessions,
                runtime.client,
                clock=clock,
                max_attempts=settings.outbox_max_attempts,
                texts=texts,
                secret_box=runtime.secret_box,
                lease=timedelta(seconds=settings.outbox_lease_seconds),
                give_way=runtime.foreground.give_way,
                send_deadline=SEND_CALLS * timeout,
                write_gate=write_gate,
            )
            runtime.dispatcher = dispatcher
            upkeep = GroupUpkeep(
                runtime.sessions,
                runtime.client,
                texts=texts,
                policy=runtime.context.policy,
                app_messages_enabled=settings.app_messages_enabled,
                clock=clock,
                on_enqueued=lambda: runtime.workers.notify_outbox(),
                sandbox_calls=sandbox is None or sandbox.fake_client,
            )
            # Join screening (app.screening): newcomers are screened before the welcomes.
            screener = JoinScreener(
                runtime.sessions,
                runtime.client,
                runtime.context,
                ContactDirectory(
                    runtime.sessions,
                    runtime.client,
                    ttl=timedelta(hours=settings.screening_contact_ttl_hours),
                    clock=clock,
                ),
                clock=clock,
                own_corps=settings.corp_name_list,
                partner_corps=settings.partner_corp_list,
                on_enqueued=lambda: runtime.workers.notify_outbox(),
            )
            runtime.screener = screener

            async def screen_then_upkeep() -> int:
                return await screener.run() + await upkeep.run()

            if archive_setup is not None:
                directory = GroupDirectory(runtime.sessions, runtime.client, clock=clock)
                runtime.groups = directory

                def rooms_seen(rooms: dict[str, Any]) -> None:
                    directory.note(rooms)
                    runtime.workers.notify_groups()

                runtime.archive = ArchivePoller(
                    runtime.sessions,
                    PollerConfig(
                        corp_id=settings.wecom_corp_id,
                        batch=settings.archive_batch,
                        lease_seconds=settings.archive_lease_seconds,
                        poll_seconds=settings.archive_poll_seconds,
                        include_direct=settings.archive_include_direct,
                    ),
                    open_source=archive_setup.open_source,
                    keys=archive_setup.keys.keys,
                    clock=clock,
                    on_stored=lambda: runtime.workers.notify_inbox(),
                    on_rooms=rooms_seen,
                )
            processor = InboxProcessor(
                gated(runtime.sessions, write_gate),
                runtime.context,
                clock=clock,
                on_enqueued=lambda: runtime.workers.notify_outbox(),
                archive_include_direct=settings.archive_include_direct,
                on_archive_notify=(
                    (lambda: runtime.workers.notify_archive())
                    if runtime.archive is not None
                    else None
                ),
                on_lexicon_changed=lambda: runtime.workers.notify_lexicon(),
                give_way=runtime.foreground.give_way,
                archive_enabled=runtime.archive is not None,
                max_batch=MAX_BATCH if write_gate is None else SQLITE_MAX_BATCH,
            )
            runtime.processor = processor

            async def process_inbox() -> int:
                # Judging messages with no lexicon would let them all through: they wait.
                if not holder.loaded:
                    await reloader.reload_if_changed()
                    if not holder.loaded:
                        log.warning("inbox waits: the lexicon could not be loaded yet")
                        return 0
                return await processor.process_pending()

            health_config = HealthConfig.from_settings(settings)
            health_sessions = gated(runtime.sessions, write_gate)
            refresher = SnapshotRefresher(health_sessions, health_config, clock=clock)
            digest = DigestSender(
                health_sessions,
                health_config,
                DigestConfig(
                    enabled=settings.health_digest_enabled,
                    weekday=settings.health_digest_weekday,
                    hour=settings.health_digest_hour,
                    link=settings.health_digest_link,
                    recipients=tuple(settings.admin_userids),
                    app_messages_enabled=settings.app_messages_enabled,
                ),
                clock=clock,
            )

            async def health_upkeep() -> int:
                # the snapshot first: the digest reads it
                refreshed = await refresher.refresh_if_due()
                if await digest.send_if_due():
                    runtime.workers.notify_outbox()
                return refreshed

            runtime.workers = Workers(
                process_inbox,
                dispatcher.dispatch_due,
                poll_seconds=poll_seconds,
                reload_lexicon=reloader.reload_if_changed,
                lexicon_poll_seconds=settings.lexicon_reload_seconds,
                pull_archive=runtime.archive.poll if runtime.archive is not None else None,
                archive_poll_seconds=settings.archive_poll_seconds,
                resolve_groups=(
                    runtime.groups.resolve_pending if runtime.groups is not None else None
                ),
                group_upkeep=screen_then_upkeep,
                refresh_health=health_upkeep,
            )
            if start_workers:
                runtime.workers.start()
                if runtime.engine.dialect.name == "postgresql":
                    # another replica's callbacks and actions wake these workers too
                    runtime.listener = Listener(
                        runtime.engine.url,
                        {
                            INBOX_CHANNEL: runtime.workers.notify_inbox,
                            OUTBOX_CHANNEL: runtime.workers.notify_outbox,
                        },
                    )
                    runtime.listener.start()
            log.info(
                "wecom-mod ready: app callback %s, smart bot %s, app messages %s, REST API %s, "
                "chat archive %s, background workers %s, lexicon version %d with %d word(s), "
                "database %s",
                _on(settings.app_callback_enabled),
                _on(settings.aibot_enabled),
                _on(configured.app_messages_enabled),
                _on(settings.rest_api_enabled),
                _on(settings.archive_enabled),
                _on(start_workers),
                holder.version,
                len(holder.matcher),
                runtime.engine.url.render_as_string(hide_password=True),
            )
            if sandbox is not None:
                log.info(
                    "sandbox on (console: /console/sandbox): %s",
                    "no WeCom credentials set, WeCom is the sandbox's fake"
                    if sandbox.fake_client
                    else "SANDBOX_ENABLED; sandbox groups' actions never reach WeCom",
                )
            try:
                yield
            finally:
                await runtime.inbox_writer.close()  # the callbacks' rows in flight are committed
                dispatcher.stop()  # the outbox pass ends after the send in flight
                if runtime.listener is not None:
                    await runtime.listener.stop()
                await runtime.workers.stop()
                if runtime.archive is not None:
                    await runtime.archive.close()
        await runtime.engine.dispose()

    app = Service(
        # FastAPI's own OpenTelemetry hooks are off: this service exports Prometheus metrics
        # (`/metrics`), and checking for a tracer on every request cost the callbacks CPU.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="wecom-mod",
        summary="Moderation for WeCom (企业微信) group chats",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.auth_throttle = auth.FailedAuthThrottle()
    _install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    # Plain ASGI routes, kept out of the OpenAPI document (WeCom calls them, not people); the
    # app serves them before the middleware (`Service`), these routes take other methods.
    app.router.routes.extend(callbacks.routes)
    app.include_router(review.router)  # before api: /moderation-logs/export.csv is not an id
    app.include_router(api.router)
    app.include_router(lexicon.router)
    app.include_router(groups.router)
    app.include_router(screening.router)
    app.include_router(stats.router)
    app.include_router(audit.router)
    app.include_router(outbox.router)
    app.include_router(health.router)
    app.include_router(health_routes.router)
    app.include_router(metrics.router)
    console.mount(app)  # the web console under /console/ (not in the OpenAPI document)
    openapi_document.describe(app)
    install_access_log_redactor(_query_names(app))
    return app


def _query_names(app: FastAPI) -> set[str]:
    """Every query parameter the service reads: the REST routes' and the callbacks'."""
    names = set(callbacks.QUERY_NAMES)
    for operations in app.openapi().get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "query":
                    names.add(parameter["name"])
    return names


def _on(flag: bool) -> str:
    return "on" if flag else "off"
