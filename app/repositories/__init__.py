"""Every query the service makes, one module per table (and here what is no table's: the
dialect's INSERT, a result's row count, the readiness ping). Repositories flush, never commit."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["built_once", "dialect_insert", "insert_of", "ping", "rowcount"]

_BUILT: dict[tuple[str, Hashable], Any] = {}


def built_once(session: AsyncSession, key: Hashable, build: Callable[[str], Any]) -> Any:
    """The statement `build(dialect name)` for the session's dialect, built the first time
    `key` is asked for and kept: a statement a batch runs is neither built nor compiled again
    (building one costs more than running it). `key` names the statement in its module."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    statement = _BUILT.get((dialect, key))
    if statement is None:
        statement = _BUILT[dialect, key] = build(dialect)
    return statement


def dialect_insert(session: AsyncSession) -> Any:
    """The INSERT of the session's dialect (for ON CONFLICT clauses): PostgreSQL or SQLite."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    return insert_of(dialect)


def insert_of(dialect: str) -> Any:
    """The INSERT of the dialect named `dialect` (for ON CONFLICT clauses)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def rowcount(result: object) -> int:
    """How many rows an UPDATE or DELETE result says it touched (0 when it does not say)."""
    return int(getattr(result, "rowcount", 0) or 0)


async def ping(session: AsyncSession) -> None:
    """A round trip to the database (`SELECT 1`); raises what the driver raises when it fails."""
    await session.execute(text("SELECT 1"))
