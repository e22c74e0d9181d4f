"""Shared fixtures: hermetic settings, SQLite and PostgreSQL databases, the service under test.

PostgreSQL tests use the server named by WECOM_MOD_TEST_POSTGRES_URL (`make test` and `.ci/run`
set it to postgresql://postgres@127.0.0.1:5432/test). Each test session creates its own
database there and drops it at the end; when the server does not answer, those tests skip and
say why.

A test that starts a process (a subprocess, a uvicorn server, a container, a fork), in its body
or through a fixture it is the first to need, carries the `slow` marker: `pytest -m "not slow"`
is then the in-process suite. `_process_start_counted` counts every start and
`pytest_runtest_makereport` fails an unmarked test that started one, so the marker stays true.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import migrate
from app.db import database_urls
from app.main import Runtime, create_app
from app.models import Base
from app.settings import Settings, load_settings
from tests import support

pytest_plugins = ["pytester"]  # tests/test_architecture.py runs the marker check on a sample

PG_ENV = "WECOM_MOD_TEST_POSTGRES_URL"
_SETTING_NAMES = [name.upper() for name in Settings.model_fields]


# -- process-level tests carry the `slow` marker ----------------------------------------------

_process_starts = [0]  # processes started by this pytest process so far (Popen and os.fork)
_STARTS_BEFORE = pytest.StashKey[int]()
_popen_execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]


def _process_start_counted(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> Any:
    """`Popen._execute_child`, counted: every subprocess, asyncio's included, starts here."""
    _process_starts[0] += 1
    return _popen_execute_child(self, *args, **kwargs)


def _fork_counted() -> None:
    _process_starts[0] += 1


if not getattr(subprocess.Popen._execute_child, "counts_process_starts", False):  # type: ignore[attr-defined]
    _process_start_counted.counts_process_starts = True  # type: ignore[attr-defined]
    subprocess.Popen._execute_child = _process_start_counted  # type: ignore[attr-defined]
    os.register_at_fork(before=_fork_counted)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of `item` is set up: how many processes were started until now."""
    item.stash[_STARTS_BEFORE] = _process_starts[0]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that passed (or skipped) but started a process through its fixtures or its body
    without the `slow` marker fails, naming how many it started."""
    report = yield
    started = _process_starts[0] - item.stash.get(_STARTS_BEFORE, _process_starts[0])
    if (
        report.when == "call"
        and not report.failed
        and started
        and not item.get_closest_marker("slow")
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} started {started} process(es) (a subprocess, a server, a container "
            "or a fork) without the `slow` marker: mark it `@pytest.mark.slow` (or the module "
            '`pytestmark = pytest.mark.slow`) so that `pytest -m "not slow"` stays in-process'
        )
    return report


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine's environment or a .env file."""
    for name in _SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    admin_url = make_url(database_urls(base).sync_url)
    name = f"wecom_mod_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is not there: say so and skip
        admin.dispose()
        pytest.skip(f"PostgreSQL at {admin_url.render_as_string()} does not answer: {exc}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    url = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate(url: str) -> None:
    engine = create_engine(database_urls(url).sync_url)
    with engine.begin() as connection:
        tables = ", ".join(Base.metadata.tables)  # every table of the service's schema
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(
            text("INSERT INTO lexicon_state (id, version, updated_at) VALUES (1, 0, now())")
        )
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wecom-mod.db'}"
        migrate.upgrade(database_urls(url))
        return url
    url = request.getfixturevalue("postgres_url")
    migrate.upgrade(database_urls(url))
    _truncate(url)
    return url


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text(support.LEXICON, encoding="utf-8")
    values: dict[str, Any] = {
        "_env_file": None,
        "database_url": database_url,
        "wecom_corp_id": support.CORP_ID,
        "wecom_agent_id": support.AGENT_ID,
        "wecom_app_secret": support.APP_SECRET,
        "wecom_callback_token": support.APP_TOKEN,
        "wecom_callback_aes_key": support.APP_AES_KEY,
        "wecom_aibot_token": support.AIBOT_TOKEN,
        "wecom_aibot_aes_key": support.AIBOT_AES_KEY,
        "wecom_api_base": support.API_BASE,
        "wecom_admin_userids": ",".join(support.MODERATORS),
        "admin_api_token": support.ADMIN_TOKEN,
        "lexicon_path": str(lexicon),
    }
    values.update(overrides)
    return load_settings(**values)


@dataclass
class Service:
    """The running service: an HTTP client on the ASGI app, its runtime, the fake WeCom API."""

    http: httpx.AsyncClient
    runtime: Runtime
    wecom: support.FakeWeCom

    async def settle(self) -> None:
        """Let the service finish all work after the answers (inbox, then outbox)."""
        await self.runtime.workers.run_until_idle()

    async def post_aibot(self, plaintext: str, **query: Any) -> httpx.Response:
        signer = support.aibot_signer()
        encrypted = signer.cipher.encrypt(plaintext)
        return await self.http.post(
            f"/wecom/aibot?{signer.query(encrypted, **query)}",
            content=support.aibot_envelope(encrypted),
        )

    async def post_app(self, plaintext: str, **query: Any) -> httpx.Response:
        signer = support.app_signer()
        encrypted = signer.cipher.encrypt(plaintext)
        return await self.http.post(
            f"/wecom/callback?{signer.query(encrypted, **query)}",
            content=support.app_envelope(encrypted),
        )

    async def api(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(
            path, params=params, headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"}
        )


async def start_service(
    settings: Settings,
    wecom: support.FakeWeCom,
    *,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[Service]:
    """The service on `settings`, its workers run by hand (`Service.settle`), calling `wecom`
    instead of WeCom; `clock` replaces the wall clock."""
    app = create_app(
        settings,
        transport=wecom.transport,
        start_workers=False,
        **({"clock": clock} if clock is not None else {}),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Service(http=http, runtime=app.state.runtime, wecom=wecom)


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async for running in start_service(make_settings(database_url, tmp_path), support.FakeWeCom()):
        yield running
