"""Database URLs, engines and sessions.

Users write plain `sqlite:///path` or `postgresql://user@host/db` URLs; the service picks its
drivers: aiosqlite / pysqlite for SQLite, psycopg 3 (async and sync) for PostgreSQL. The sync URL
is what Alembic uses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = [
    "DB_UNAVAILABLE",
    "PG_CONNECT_ARGS",
    "STATEMENT_TIMEOUT_MS",
    "DatabaseUrls",
    "WriteGate",
    "create_engine_for",
    "database_urls",
    "gated",
    "session_factory",
]

# Errors that say the database is unreachable, not that the work or the input is wrong: the
# work is retried later, and does not count as a failed attempt.
DB_UNAVAILABLE = (OperationalError, InterfaceError, OSError)


@dataclass(frozen=True, slots=True)
class DatabaseUrls:
    async_url: URL
    sync_url: URL

    @property
    def is_sqlite(self) -> bool:
        return self.async_url.get_backend_name() == "sqlite"


def database_urls(url: str) -> DatabaseUrls:
    """The async and sync SQLAlchemy URLs for a user's DATABASE_URL. Raises ValueError."""
    text = url.strip()
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ValueError(
            "not a database URL (expected sqlite:///path/to/file.db or "
            "postgresql://user:password@host:5432/dbname)"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise ValueError("SQLite needs a file path, e.g. sqlite:///./wecom-mod.db")
        return DatabaseUrls(
            async_url=parsed.set(drivername="sqlite+aiosqlite"),
            sync_url=parsed.set(drivername="sqlite+pysqlite"),
        )
    if backend == "postgresql":
        if not parsed.database:
            raise ValueError("PostgreSQL URL has no database name")
        driver = parsed.set(drivername="postgresql+psycopg")
        return DatabaseUrls(async_url=driver, sync_url=driver)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while one writer writes; busy_timeout makes writers queue instead
    # of failing at once with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# PostgreSQL connections: a statement running (or waiting for a lock) longer than this is
# cancelled, so that a stuck lock or a runaway query fails and is retried instead of holding a
# connection and a worker forever; the longest statements the service runs (a health refresh
# over every group, a batch of judging) take seconds.
STATEMENT_TIMEOUT_MS = 60_000
# TCP keepalives (libpq's): an idle connection is probed after 30 s, every 10 s, and given up
# after 3 unanswered probes, so that a server that went away without a word (a failover, a NAT
# that forgot the connection) is noticed in about a minute instead of the kernel's two hours.
PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def create_engine_for(urls: DatabaseUrls) -> AsyncEngine:
    if urls.is_sqlite:
        engine = create_async_engine(urls.async_url, pool_size=5, max_overflow=5)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        urls.async_url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args=PG_CONNECT_ARGS,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class WriteGate:
    """An asyncio lock that the task holding it may take again (a gated session opened inside
    another, as the inbox processor does when it redoes a failed batch one event at a time):
    other tasks wait until the holder has given back every time it took it."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    async def acquire(self) -> None:
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            self._depth += 1
            return
        await self._lock.acquire()
        self._owner, self._depth = task, 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self.release()


class _GatedSession:
    """`async with` a session while holding `gate` (taken before the session opens, given back
    after it closes)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], gate: WriteGate) -> None:
        self._sessions = sessions
        self._gate = gate
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> AsyncSession:
        await self._gate.acquire()
        try:
            self._session = self._sessions()
            return await self._session.__aenter__()
        except BaseException:
            self._gate.release()
            raise

    async def __aexit__(self, *exc: Any) -> None:
        try:
            if self._session is not None:
                await self._session.__aexit__(*exc)
        finally:
            self._gate.release()


def gated(
    sessions: async_sessionmaker[AsyncSession], gate: WriteGate | None
) -> async_sessionmaker[AsyncSession]:
    """`sessions`, each opened only while holding `gate` (None: `sessions` as they are). On
    SQLite the inbox processor's sessions are gated like the outbox's sends
    (`app.outbox.dispatcher`), so that a send's outcome never waits behind a batch of judging
    for the one write lock."""
    if gate is None:
        return sessions
    return cast("async_sessionmaker[AsyncSession]", lambda: _GatedSession(sessions, gate))
