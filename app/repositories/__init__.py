"""Every query the service makes, one module per table (and here what is no table's: the
dialect's INSERT, a result's row count, the readiness ping). Repositories flush, never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["dialect_insert", "ping", "rowcount"]


def dialect_insert(session: AsyncSession) -> Any:
    """The INSERT of the session's dialect (for ON CONFLICT clauses): PostgreSQL or SQLite."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def rowcount(result: object) -> int:
    """How many rows an UPDATE or DELETE result says it touched (0 when it does not say)."""
    return int(getattr(result, "rowcount", 0) or 0)


async def ping(session: AsyncSession) -> None:
    """A round trip to the database (`SELECT 1`); raises what the driver raises when it fails."""
    await session.execute(text("SELECT 1"))
