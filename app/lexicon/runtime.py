"""The matcher a replica serves, and how it follows the lexicon in the database.

`LexiconHolder` holds one immutable `ServedLexicon` (matcher + version); the inbox processor
and the REST test endpoint read it per message, and a reload replaces it with one assignment,
so a message is judged by one whole lexicon, old or new, never a mix.

`LexiconReloader.reload_if_changed` is the lexicon worker's pass (`app.workers`): it reads
`lexicon_state.version` (one small query) and, when it differs from the served one, loads the
words and allow-list phrases, builds the new matcher in a thread (building 50,000 words takes
about a second of CPU, which must not stall the event loop) and swaps it in. The old matcher
serves until then. A matcher that cannot be built is logged once per version and the old one
stays; database errors propagate so the worker retries with backoff.

It also carries the start-up imports of LEXICON_PATH and LEXICON_ALLOW_PATH: they run before
the first load, and, when the database is unreachable at start, on the first pass that reaches
it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.lexicon import service
from app.lexicon.files import ListFile
from app.repositories import lexicon as repo
from moderation import AllowEntry, LexiconEntry, SensitiveWordMatcher

__all__ = ["LexiconHolder", "LexiconReloader", "ServedLexicon"]

log = logging.getLogger(__name__)

NOT_LOADED = -1  # the version of the empty matcher served before the first load


@dataclass(frozen=True, slots=True)
class ServedLexicon:
    matcher: SensitiveWordMatcher
    version: int  # lexicon_state.version it was built from; NOT_LOADED before the first load
    words: int
    allow: int
    build_ms: float


def build_matcher(words: Sequence[LexiconEntry], allow: Sequence[AllowEntry]) -> ServedLexicon:
    """Build a matcher (CPU-bound: run it in a thread). The version is filled in by the caller."""
    started = time.perf_counter()
    matcher = SensitiveWordMatcher(words, allow)
    elapsed = (time.perf_counter() - started) * 1000
    return ServedLexicon(matcher, NOT_LOADED, len(words), len(allow), elapsed)


class LexiconHolder:
    """The lexicon this replica serves; replaced whole, never modified."""

    def __init__(self, served: ServedLexicon | None = None) -> None:
        self._served = served or ServedLexicon(SensitiveWordMatcher([]), NOT_LOADED, 0, 0, 0.0)

    @property
    def served(self) -> ServedLexicon:
        return self._served

    @property
    def matcher(self) -> SensitiveWordMatcher:
        return self._served.matcher

    @property
    def version(self) -> int:
        return self._served.version

    @property
    def loaded(self) -> bool:
        return self._served.version != NOT_LOADED

    def swap(self, served: ServedLexicon) -> None:
        self._served = served


class LexiconReloader:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        holder: LexiconHolder,
        *,
        clock: Callable[[], datetime],
        imports: Sequence[ListFile] = (),
    ) -> None:
        self._sessions = sessions
        self._holder = holder
        self._clock = clock
        self._pending_imports = list(imports)
        self._failed_version: int | None = None
        self._lock = asyncio.Lock()

    async def reload_if_changed(self) -> int:
        """Run pending start-up imports, then rebuild the matcher if the version moved.
        Returns 1 when a new matcher was swapped in, else 0."""
        async with self._lock:
            await self._run_imports()
            async with self._sessions() as session:
                version = await repo.version(session)
                if version in (self._holder.version, self._failed_version):
                    return 0
                loaded = await service.load_lexicon(session)
            try:
                built = await asyncio.to_thread(build_matcher, loaded.words, loaded.allow)
            except Exception:
                self._failed_version = version
                log.exception(
                    "lexicon version %d could not be built; still serving version %d",
                    version,
                    self._holder.version,
                )
                return 0
            self._failed_version = None
            served = ServedLexicon(
                built.matcher, loaded.version, built.words, built.allow, built.build_ms
            )
            self._holder.swap(served)
            log.info(
                "lexicon version %d in service: %d word(s), %d allow-list phrase(s), "
                "%d pattern(s), built in %.0f ms",
                served.version,
                served.words,
                served.allow,
                served.matcher.pattern_count,
                served.build_ms,
            )
            return 1

    async def _run_imports(self) -> None:
        while self._pending_imports:
            file = self._pending_imports[0]
            async with self._sessions() as session, session.begin():
                result = await service.import_text(
                    session,
                    file.kind,
                    file.text,
                    origin=file.origin,
                    sha256=file.sha256,
                    added_by="startup",
                    source=file.origin,
                    now=self._clock(),
                    once=True,
                )
            self._pending_imports.pop(0)
            what = "word(s)" if file.kind is service.ListKind.WORDS else "allow-list phrase(s)"
            if result.skipped:
                log.info("%s unchanged since its last import; not imported again", file.path)
            else:
                counts = result.counts
                log.info(
                    "imported %d %s from %s: %d added, %d updated, %d unchanged",
                    counts.total,
                    what,
                    file.path,
                    counts.added,
                    counts.updated,
                    counts.unchanged,
                )
