"""Migrations: upgrade → downgrade → upgrade on SQLite and PostgreSQL, and models match them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app import migrate
from app.db import database_urls
from app.models import Base

TABLES = {
    "inbox_events",
    "moderation_logs",
    "outbox_actions",
    "lexicon_words",
    "lexicon_allow",
    "lexicon_state",
    "lexicon_imports",
}


def _tables(url: str) -> set[str]:
    engine = create_engine(database_urls(url).sync_url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    urls = database_urls(database_url)
    assert migrate.current_revision(urls) == migrate.head_revision()
    assert _tables(database_url) >= TABLES
    migrate.downgrade(urls, "base")
    assert migrate.current_revision(urls) is None
    assert not (_tables(database_url) & TABLES)
    migrate.upgrade(urls)
    assert migrate.current_revision(urls) == migrate.head_revision()
    assert _tables(database_url) >= TABLES


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    urls = database_urls(database_url)
    migrate.upgrade(urls)
    assert migrate.current_revision(urls) == migrate.head_revision()


def test_models_match_the_migrated_schema(database_url: str) -> None:
    engine = create_engine(database_urls(database_url).sync_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
