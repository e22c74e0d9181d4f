"""Queries on the lexicon tables: words, allow-list phrases, the version row, file imports.

`lock` is the first statement of every lexicon write: a no-op UPDATE of the `lexicon_state`
row, which queues concurrent writers on every replica (a row lock on PostgreSQL, the write lock
on SQLite) so that two of them never race on the same (folded, scope) key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LexiconAllow, LexiconImport, LexiconState, LexiconWord
from app.repositories import dialect_insert

__all__ = [
    "STATE_ID",
    "AllowFilter",
    "WordFilter",
    "add_import",
    "all_allow",
    "all_words",
    "allow_by_folded",
    "bump_version",
    "decode_cursor",
    "delete_allow",
    "delete_word",
    "encode_cursor",
    "get_allow",
    "get_word",
    "insert_allow",
    "insert_words",
    "last_import",
    "lock",
    "page_allow",
    "page_words",
    "version",
    "words_by_folded",
]

STATE_ID = 1  # the one row of lexicon_state
_IN_CHUNK = 500  # values per IN (...) list


@dataclass(frozen=True, slots=True)
class WordFilter:
    search: str | None = None  # substring of the word as written
    search_folded: str | None = None  # substring of the folded word
    category: str | None = None
    severity: str | None = None
    scope: str | None = None  # "" = the words for every group


@dataclass(frozen=True, slots=True)
class AllowFilter:
    search: str | None = None
    search_folded: str | None = None
    scope: str | None = None


# -- the version row ---------------------------------------------------------------------


async def lock(session: AsyncSession, *, now: datetime) -> int:
    """Take the lexicon write lock for this transaction; returns the current version."""
    statement = (
        update(LexiconState)
        .where(LexiconState.id == STATE_ID)
        .values(version=LexiconState.version)
        .returning(LexiconState.version)
    )
    current = (await session.execute(statement)).scalar_one_or_none()
    if current is not None:
        return int(current)
    # The row is missing (a hand-emptied table): put it back, then lock it.
    await session.execute(
        dialect_insert(session)(LexiconState)
        .values(id=STATE_ID, version=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return int((await session.execute(statement)).scalar_one())


async def bump_version(session: AsyncSession, *, now: datetime) -> int:
    """Count one change (call after `lock`, in the same transaction); returns the new version."""
    statement = (
        update(LexiconState)
        .where(LexiconState.id == STATE_ID)
        .values(version=LexiconState.version + 1, updated_at=now)
        .returning(LexiconState.version)
    )
    return int((await session.execute(statement)).scalar_one())


async def version(session: AsyncSession) -> int:
    """The current version; 0 when the lexicon was never changed."""
    statement = select(LexiconState.version).where(LexiconState.id == STATE_ID)
    return int((await session.execute(statement)).scalar_one_or_none() or 0)


# -- words and allow-list phrases --------------------------------------------------------


async def all_words(session: AsyncSession) -> Sequence[LexiconWord]:
    return (await session.execute(select(LexiconWord).order_by(LexiconWord.id))).scalars().all()


async def all_allow(session: AsyncSession) -> Sequence[LexiconAllow]:
    statement = select(LexiconAllow).order_by(LexiconAllow.id)
    return (await session.execute(statement)).scalars().all()


def _chunks(values: Iterable[str]) -> list[list[str]]:
    distinct = sorted(set(values))
    return [distinct[i : i + _IN_CHUNK] for i in range(0, len(distinct), _IN_CHUNK)]


async def words_by_folded(session: AsyncSession, folded: Iterable[str]) -> list[LexiconWord]:
    """Every word whose folded form is one of these (in any scope)."""
    rows: list[LexiconWord] = []
    for chunk in _chunks(folded):
        statement = select(LexiconWord).where(LexiconWord.folded.in_(chunk))
        rows += (await session.execute(statement)).scalars().all()
    return rows


async def allow_by_folded(session: AsyncSession, folded: Iterable[str]) -> list[LexiconAllow]:
    rows: list[LexiconAllow] = []
    for chunk in _chunks(folded):
        statement = select(LexiconAllow).where(LexiconAllow.folded.in_(chunk))
        rows += (await session.execute(statement)).scalars().all()
    return rows


async def insert_words(
    session: AsyncSession, values: Sequence[dict[str, Any]]
) -> Sequence[LexiconWord]:
    """Insert many words (batched multi-row INSERTs); the rows, in no particular order."""
    if not values:
        return []
    statement = insert(LexiconWord).returning(LexiconWord)
    return (await session.scalars(statement, list(values))).all()


async def insert_allow(
    session: AsyncSession, values: Sequence[dict[str, Any]]
) -> Sequence[LexiconAllow]:
    if not values:
        return []
    statement = insert(LexiconAllow).returning(LexiconAllow)
    return (await session.scalars(statement, list(values))).all()


async def get_word(session: AsyncSession, word_id: int) -> LexiconWord | None:
    return await session.get(LexiconWord, word_id)


async def get_allow(session: AsyncSession, allow_id: int) -> LexiconAllow | None:
    return await session.get(LexiconAllow, allow_id)


async def delete_word(session: AsyncSession, word_id: int) -> bool:
    result = await session.execute(delete(LexiconWord).where(LexiconWord.id == word_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_allow(session: AsyncSession, allow_id: int) -> bool:
    result = await session.execute(delete(LexiconAllow).where(LexiconAllow.id == allow_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _page(
    session: AsyncSession,
    model: type[LexiconWord] | type[LexiconAllow],
    written: Any,
    *,
    search: str | None,
    search_folded: str | None,
    scope: str | None,
    conditions: Sequence[Any] = (),
    limit: int,
    before_id: int | None,
) -> Sequence[Any]:
    """Newest first; `before_id` is the id of the last row of the previous page. `search`
    is a substring of the entry as written (`written`), `search_folded` of its folded form."""
    statement = select(model).where(*conditions)
    searches = []
    if search:
        searches.append(written.contains(search, autoescape=True))
    if search_folded:
        searches.append(model.folded.contains(search_folded, autoescape=True))
    if searches:
        statement = statement.where(or_(*searches))
    if scope is not None:
        statement = statement.where(model.scope == scope)
    if before_id is not None:
        statement = statement.where(model.id < before_id)
    statement = statement.order_by(model.id.desc()).limit(limit)
    return (await session.execute(statement)).scalars().all()


async def page_words(
    session: AsyncSession, filters: WordFilter, *, limit: int, before_id: int | None = None
) -> Sequence[LexiconWord]:
    conditions = []
    if filters.category is not None:
        conditions.append(LexiconWord.category == filters.category)
    if filters.severity is not None:
        conditions.append(LexiconWord.severity == filters.severity)
    return await _page(
        session,
        LexiconWord,
        LexiconWord.word,
        search=filters.search,
        search_folded=filters.search_folded,
        scope=filters.scope,
        conditions=conditions,
        limit=limit,
        before_id=before_id,
    )


async def page_allow(
    session: AsyncSession, filters: AllowFilter, *, limit: int, before_id: int | None = None
) -> Sequence[LexiconAllow]:
    return await _page(
        session,
        LexiconAllow,
        LexiconAllow.phrase,
        search=filters.search,
        search_folded=filters.search_folded,
        scope=filters.scope,
        limit=limit,
        before_id=before_id,
    )


def encode_cursor(row_id: int) -> str:
    return str(row_id)


def decode_cursor(cursor: str) -> int:
    """The row id in a cursor from `encode_cursor` (at most 18 digits, not 0). Raises
    ValueError for anything else."""
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18 and cursor[0] != "0"):
        raise ValueError("not a cursor")
    return int(cursor)


# -- file imports ------------------------------------------------------------------------


async def last_import(session: AsyncSession, *, kind: str, origin: str) -> LexiconImport | None:
    statement = (
        select(LexiconImport)
        .where(LexiconImport.kind == kind, LexiconImport.origin == origin)
        .order_by(LexiconImport.id.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


def add_import(
    session: AsyncSession,
    *,
    kind: str,
    origin: str,
    sha256: str,
    now: datetime,
    imported_by: str,
    added: int,
    updated: int,
    unchanged: int,
) -> LexiconImport:
    row = LexiconImport(
        kind=kind,
        origin=origin[:1024],
        sha256=sha256,
        imported_at=now,
        imported_by=imported_by[:128],
        added=added,
        updated=updated,
        unchanged=unchanged,
    )
    session.add(row)
    return row
