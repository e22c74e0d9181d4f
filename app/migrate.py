"""Run the Alembic migrations in `migrations/` against a DATABASE_URL (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

import migrations
from app.db import DatabaseUrls

__all__ = ["current_revision", "downgrade", "head_revision", "upgrade"]

_SCRIPT_LOCATION = str(Path(migrations.__file__).parent)


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", _SCRIPT_LOCATION)
    return config


def _run(urls: DatabaseUrls, action: str, revision: str) -> None:
    engine = create_engine(urls.sync_url)
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


def upgrade(urls: DatabaseUrls, revision: str = "head") -> None:
    _run(urls, "upgrade", revision)


def downgrade(urls: DatabaseUrls, revision: str) -> None:
    _run(urls, "downgrade", revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(urls: DatabaseUrls) -> str | None:
    engine = create_engine(urls.sync_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
