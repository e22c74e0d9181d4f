"""A temporary PostgreSQL database for a benchmark run: created, yielded, dropped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import database_urls

DEFAULT_SERVER = os.environ.get(
    "WECOM_MOD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def temporary_database(server_url: str) -> Iterator[str | None]:
    """The URL of a fresh database on the server at `server_url`, dropped afterwards; None
    (with a line saying why) when the server does not answer."""
    admin_url = make_url(database_urls(server_url).sync_url)
    name = f"wecom_mod_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so; the caller keeps its other figures
        print(f"postgresql: skipped, {admin_url.render_as_string()} does not answer: {exc}")
        admin.dispose()
        yield None
        return
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        yield url.replace("postgresql+psycopg://", "postgresql://")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
