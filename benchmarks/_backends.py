"""What the database benchmarks share: their header, and one run on SQLite and one on a
temporary PostgreSQL database (created, used, dropped)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import tempfile
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import database_urls

DEFAULT_SERVER = os.environ.get(
    "WECOM_MOD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
R = TypeVar("R")


def add_postgres_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres",
        default=DEFAULT_SERVER,
        help="a PostgreSQL server to create a temporary database on ('' to skip)",
    )


def start(parameters: str) -> None:
    """Quiet the service's per-message log lines; print the machine and the parameters."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("app").setLevel(logging.ERROR)  # one line per flagged message otherwise
    print(
        # system, release, machine: not platform.platform(), whose processor field runs
        # `uname -p` in a subprocess (the golden test runs this in the test process)
        f"machine: {os.cpu_count()} CPU(s), {platform.system()} {platform.release()} "
        f"{platform.machine()}, Python "
        f"{platform.python_version()}"
    )
    print(f"parameters: {parameters}")


def on_each_backend(
    postgres: str,
    run: Callable[[str, Path], Coroutine[Any, Any, R]],
    report: Callable[[str, R], None],
) -> None:
    """`run(database_url, workdir)` on a fresh SQLite file, then on a temporary PostgreSQL
    database when `postgres` names a server that answers; `report` prints each result."""
    with tempfile.TemporaryDirectory() as workdir_name:
        workdir = Path(workdir_name)
        report("sqlite", asyncio.run(run(f"sqlite:///{workdir / 'bench.db'}", workdir)))
        if not postgres:
            return
        with temporary_database(postgres) as url:
            if url is not None:
                report("postgresql", asyncio.run(run(url, workdir)))


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
