"""Migrations: upgrade → downgrade → upgrade on SQLite and PostgreSQL, and models match them.

The round trip walks down from head one revision at a time to base and back up, and compares the
whole schema at every revision (every table with its columns, primary key, indexes, unique,
foreign-key and check constraints) on the way down and on the way up: each downgrade must undo
exactly what its upgrade did. The tables checked are those of the models' metadata, so a new
table is covered without touching this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

import migrations
from app import migrate
from app.db import database_urls
from app.models import Base

TABLES = set(Base.metadata.tables)  # every table of the service's schema

Schema = dict[str, dict[str, Any]]


def _name(item: dict[str, Any]) -> str:
    return item.get("name") or ""  # SQLite reports unnamed constraints as None


def _schema(url: str) -> Schema:
    """Every table of the database but Alembic's own, as plain data that compares with `==`."""
    engine = create_engine(database_urls(url).sync_url)
    try:
        inspector = inspect(engine)
        schema: Schema = {}
        for table in inspector.get_table_names():
            if table == "alembic_version":
                continue
            schema[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in inspector.get_columns(table)
                ],
                "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted(
                    (_name(i), tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (_name(u), tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                "foreign keys": sorted(
                    (
                        _name(f),
                        tuple(f["constrained_columns"]),
                        f["referred_table"],
                        tuple(f["referred_columns"]),
                        str(sorted(f.get("options", {}).items())),
                    )
                    for f in inspector.get_foreign_keys(table)
                ),
                "checks": sorted(
                    (_name(c), str(c["sqltext"])) for c in inspector.get_check_constraints(table)
                ),
            }
        return schema
    finally:
        engine.dispose()


def _revisions() -> list[str]:
    """Every revision, head first."""
    script = ScriptDirectory(str(Path(migrations.__file__).parent))
    return [revision.revision for revision in script.walk_revisions()]


def _differences(expected: Schema, got: Schema) -> list[str]:
    """What differs, table by table and part by part (empty when the schemas are equal)."""
    found = [f"{table}: only in one of the two" for table in sorted(set(expected) ^ set(got))]
    for table in sorted(set(expected) & set(got)):
        for part, value in expected[table].items():
            if got[table][part] != value:
                found.append(f"{table} {part}: {value} against {got[table][part]}")
    return found


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    urls = database_urls(database_url)
    revisions = _revisions()
    assert migrate.current_revision(urls) == migrate.head_revision() == revisions[0]
    head = _schema(database_url)
    assert set(head) == TABLES
    for table in sorted(TABLES):  # every column and index of the model is there
        model = Base.metadata.tables[table]
        columns = {column[0] for column in head[table]["columns"]}
        assert columns == set(model.columns.keys()), table
        model_indexes = {index.name for index in model.indexes}
        assert model_indexes <= {index[0] for index in head[table]["indexes"]}, table

    on_the_way_down = {revisions[0]: head}
    for revision in revisions[1:]:
        migrate.downgrade(urls, revision)
        assert migrate.current_revision(urls) == revision
        on_the_way_down[revision] = _schema(database_url)
    migrate.downgrade(urls, "base")
    assert migrate.current_revision(urls) is None
    assert _schema(database_url) == {}, "base still holds tables"

    for revision in reversed(revisions):
        migrate.upgrade(urls, revision)
        assert migrate.current_revision(urls) == revision
        differences = _differences(on_the_way_down[revision], _schema(database_url))
        assert differences == [], f"revision {revision}: on the way down, against on the way up"
    assert migrate.current_revision(urls) == migrate.head_revision()
    assert _schema(database_url) == head


def test_the_schema_comparison_sees_a_changed_index_and_a_missing_table() -> None:
    """`_differences` itself: a schema compared with a changed copy names what changed."""
    table = {"columns": [("id", "INTEGER", False, "None")], "indexes": [("ix_a", ("id",), False)]}
    changed = {"columns": table["columns"], "indexes": [("ix_a", ("id",), True)]}
    assert _differences({"t": table}, {"t": table}) == []
    assert _differences({"t": table, "u": table}, {"t": changed}) == [
        "u: only in one of the two",
        "t indexes: [('ix_a', ('id',), False)] against [('ix_a', ('id',), True)]",
    ]


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
