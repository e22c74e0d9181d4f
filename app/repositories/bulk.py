"""Many rows of a table in one statement: what a batch of judging writes.

`BulkInsert(table)` runs the table's Core INSERT for rows given as column → value dicts (every
dict with the same keys). On SQLite that is one executemany. On PostgreSQL the rows go as one
binary array per column to one `INSERT … SELECT … FROM unnest(…)`: one statement whatever the
number of rows, converted once by psycopg, where an executemany is a statement per row for the
server and a bind conversion per value for SQLAlchemy (`app.repositories.inbox.BatchInsert`
does the same for the answer path). The values are converted as the columns' types would:
aware datetimes for `UtcDateTime` (a naive one is refused), JSON text for JSON columns; a
column left out of the rows gets its scalar Python default, as the Core INSERT would give it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import JSON, Column, String, Table, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import UtcDateTime

__all__ = ["BulkInsert"]

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


class BulkInsert:
    """The INSERT of many rows of `table`, returning the `returning` columns of each row
    written (in no promised order: map them by a column of the row)."""

    def __init__(self, table: Table, *, returning: Sequence[str] = ()) -> None:
        self._table = table
        self._returning = tuple(returning)
        statement = insert(table)
        if returning:
            statement = statement.returning(*(table.c[name] for name in returning))
        self._statement = statement
        self._unnest: dict[tuple[str, ...], tuple[str, tuple[Column[Any], ...]]] = {}

    async def __call__(
        self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]
    ) -> Sequence[Any]:
        """Write `rows`; the `returning` columns of each, or [] when none were asked for."""
        if not rows:
            return []
        dialect = session.bind.dialect if session.bind is not None else None
        if dialect is None or dialect.name != "postgresql":
            result = await session.execute(self._statement, list(rows))
            return result.all() if self._returning else []
        sql, columns = self._unnest_sql(tuple(rows[0]))
        try:
            parameters = {
                f"c{index}": _column_values(column, rows) for index, column in enumerate(columns)
            }
        except ValueError as exc:  # what a column type refuses, as the Core INSERT says it
            raise StatementError(str(exc), sql, None, exc) from exc
        connection = await session.connection()
        result = await connection.exec_driver_sql(sql, parameters)
        return result.all() if self._returning else []

    def _unnest_sql(self, names: tuple[str, ...]) -> tuple[str, tuple[Column[Any], ...]]:
        """The statement for rows with the columns `names` (built once per set of names), and
        the columns its parameters c0, c1, … are for."""
        built = self._unnest.get(names)
        if built is not None:
            return built
        table = self._table
        missing = [
            column
            for column in table.columns
            if column.name not in names and column.default is not None
        ]
        for column in missing:
            if not column.default.is_scalar:  # type: ignore[union-attr]
                raise ValueError(
                    f"{table.name}.{column.name} has a computed default: give it in the rows"
                )
        columns = tuple(table.c[name] for name in names) + tuple(missing)
        aliases = [f"c{index}" for index in range(len(columns))]
        arrays = ", ".join(
            f"%({alias})b::{_array_type(column)}"
            for alias, column in zip(aliases, columns, strict=True)
        )
        values = ", ".join(
            f"{alias}::json" if isinstance(column.type, JSON) else alias
            for alias, column in zip(aliases, columns, strict=True)
        )
        names_sql = ", ".join(column.name for column in columns)
        # Only the table's own names go into the text; every value is a parameter.
        sql = f"INSERT INTO {table.name} ({names_sql}) SELECT {values} "
        sql += f"FROM unnest({arrays}) AS rows ({', '.join(aliases)})"
        if self._returning:
            sql += " RETURNING " + ", ".join(self._returning)
        built = self._unnest[names] = (sql, columns)
        return built


def _array_type(column: Column[Any]) -> str:
    """The PostgreSQL array type a column's values are sent as: text for JSON and for every
    string column (a cast to varchar(n) would cut an over-long value without a word, where
    the INSERT's own assignment refuses it as the Core INSERT's does)."""
    if isinstance(column.type, JSON | String):
        return "text[]"
    return f"{column.type.compile(dialect=_PG)}[]"


def _column_values(column: Column[Any], rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """One column's values of `rows`, as its type would bind them on PostgreSQL."""
    name = column.name
    if name not in rows[0]:
        default = column.default.arg  # type: ignore[union-attr]
        return [default] * len(rows)
    values = [row[name] for row in rows]
    if isinstance(column.type, UtcDateTime):
        for value in values:
            if value is not None and value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
        return [None if value is None else value.astimezone(UTC) for value in values]
    if isinstance(column.type, JSON):  # None is JSON null unless the type says SQL NULL
        null = None if column.type.none_as_null else "null"
        return [null if value is None else json.dumps(value) for value in values]
    return values
