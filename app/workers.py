"""The background loops of a replica: inbox processing, outbox dispatch and, when given,
following the lexicon (`app.lexicon.runtime`), pulling the chat archive and looking up the
groups it shows (`app.ingest.archive`), the group upkeep: member syncs and welcomes
(`app.groups.welcome`, every `poll_seconds`), and the health list's snapshot
(`app.health.snapshot`, looked at every `health_poll_seconds`).

Each loop runs when woken (a callback was stored, an action was enqueued, the lexicon was
changed through this replica, `msgaudit_notify` arrived, the archive showed new rooms) and at
least every `poll_seconds` (`lexicon_poll_seconds` for the lexicon, `archive_poll_seconds` for
the archive), so work left by a crash and changes made by another replica are picked up too. A
failing pass (database down, say) is logged and retried; the loops stop cleanly on shutdown
after the pass in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from sqlalchemy.exc import OperationalError

__all__ = ["Foreground", "Workers"]

log = logging.getLogger(__name__)

# longest a batch of judging or of sends waits for the callbacks being answered
GIVE_WAY_SECONDS = 0.5


class Foreground:
    """The callbacks this replica is answering right now. Judging and the outbox's sends give
    way to them: a batch of either starts once none is in flight, or after
    `GIVE_WAY_SECONDS`. WeCom retries a callback not answered within 5 s, so under more load
    than a replica can both answer and work, answering comes first and the work catches up
    afterwards, still at least one batch of each every `GIVE_WAY_SECONDS` meanwhile. Within a
    batch, judging yields to the answers between two messages."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def give_way(self, most: float | None = None) -> None:
        """Return once no callback is being answered, or after `most` seconds
        (`GIVE_WAY_SECONDS`)."""
        if self._in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._idle.wait(), GIVE_WAY_SECONDS if most is None else most
                )


class Workers:
    def __init__(
        self,
        process_inbox: Callable[[], Awaitable[int]],
        dispatch_outbox: Callable[[], Awaitable[int]],
        *,
        poll_seconds: float = 1.0,
        reload_lexicon: Callable[[], Awaitable[int]] | None = None,
        lexicon_poll_seconds: float = 2.0,
        pull_archive: Callable[[], Awaitable[int]] | None = None,
        archive_poll_seconds: float = 15.0,
        resolve_groups: Callable[[], Awaitable[int]] | None = None,
        group_upkeep: Callable[[], Awaitable[int]] | None = None,
        refresh_health: Callable[[], Awaitable[int]] | None = None,
        health_poll_seconds: float = 60.0,
    ) -> None:
        self._process_inbox = process_inbox
        self._dispatch_outbox = dispatch_outbox
        self._reload_lexicon = reload_lexicon
        self._poll_seconds = poll_seconds
        self._lexicon_poll_seconds = lexicon_poll_seconds
        self._pull_archive = pull_archive
        self._archive_poll_seconds = archive_poll_seconds
        self._resolve_groups = resolve_groups
        self._group_upkeep = group_upkeep
        self._refresh_health = refresh_health
        self._health_poll_seconds = health_poll_seconds
        self._health_wakeup = asyncio.Event()
        self._upkeep_wakeup = asyncio.Event()
        self._archive_wakeup = asyncio.Event()
        self._groups_wakeup = asyncio.Event()
        self._inbox_wakeup = asyncio.Event()
        self._outbox_wakeup = asyncio.Event()
        self._lexicon_wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def notify_inbox(self) -> None:
        self._inbox_wakeup.set()

    def notify_outbox(self) -> None:
        self._outbox_wakeup.set()

    def notify_lexicon(self) -> None:
        """The lexicon changed: look at it now rather than at the next poll."""
        self._lexicon_wakeup.set()

    def notify_archive(self) -> None:
        """The chat archive has new data (msgaudit_notify): pull now rather than at the timer."""
        self._archive_wakeup.set()

    def notify_groups(self) -> None:
        """The archive showed rooms to look up."""
        self._groups_wakeup.set()

    def start(self) -> None:
        poll = self._poll_seconds
        self._tasks = [
            asyncio.create_task(self._loop("inbox", self._process_inbox, self._inbox_wakeup, poll)),
            asyncio.create_task(
                self._loop("outbox", self._dispatch_outbox, self._outbox_wakeup, poll)
            ),
        ]
        if self._reload_lexicon is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._loop(
                        "lexicon",
                        self._reload_lexicon,
                        self._lexicon_wakeup,
                        self._lexicon_poll_seconds,
                    )
                )
            )
        if self._pull_archive is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._loop(
                        "archive",
                        self._pull_archive,
                        self._archive_wakeup,
                        self._archive_poll_seconds,
                    )
                )
            )
        if self._resolve_groups is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._loop(
                        "archive groups",
                        self._resolve_groups,
                        self._groups_wakeup,
                        self._archive_poll_seconds,
                    )
                )
            )
        if self._group_upkeep is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._loop("group upkeep", self._group_upkeep, self._upkeep_wakeup, poll)
                )
            )
        if self._refresh_health is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._loop(
                        "health snapshot",
                        self._refresh_health,
                        self._health_wakeup,
                        self._health_poll_seconds,
                    )
                )
            )

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let the pass in progress finish (up to `grace_seconds`), then cancel."""
        self._stopping.set()
        self._inbox_wakeup.set()
        self._outbox_wakeup.set()
        self._lexicon_wakeup.set()
        self._archive_wakeup.set()
        self._groups_wakeup.set()
        self._upkeep_wakeup.set()
        self._health_wakeup.set()
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def run_until_idle(self) -> None:
        """Catch up with the lexicon, then process the inbox, the group upkeep and the outbox
        until none has anything due (for tests/tools)."""
        if self._reload_lexicon is not None:
            await self._reload_lexicon()
        while (
            (await self._process_inbox())
            + (await self._group_upkeep() if self._group_upkeep is not None else 0)
            + (await self._dispatch_outbox())
        ):
            pass

    async def _loop(
        self,
        name: str,
        work: Callable[[], Awaitable[int]],
        wakeup: asyncio.Event,
        poll_seconds: float,
    ) -> None:
        failures = 0
        while not self._stopping.is_set():
            wakeup.clear()
            try:
                await work()
                failures = 0
            except (OperationalError, OSError) as exc:
                failures += 1
                log.error(
                    "%s worker: database unavailable (%d pass(es) in a row), retrying: %s",
                    name,
                    failures,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
            except Exception:
                failures += 1
                log.exception("%s worker pass failed (%d in a row); retrying", name, failures)
            delay = poll_seconds * min(2 ** max(failures - 1, 0), 30)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=delay)
