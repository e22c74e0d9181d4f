"""Keeping the health list's snapshot fresh: every HEALTH_REFRESH_MINUTES one replica computes
every group's health over the default window (`app.health.service.compute_list`) and replaces
the snapshot with it in one transaction.

Which replica does it is settled by the `health_refresh` row, taken with a conditional UPDATE
(no refresh in progress, or its holder's time ran out; and the last complete one is due), as
the archive's lease is: with several replicas the list is computed once per period, and a
replica that dies while computing leaves it to another after `LEASE`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.health.service import HealthConfig, compute_list, snapshot_row
from app.repositories import health as health_repo

__all__ = ["LEASE", "SnapshotRefresher"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # longest a refresh may take before another replica may redo it


class SnapshotRefresher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: HealthConfig,
        *,
        clock: Callable[[], datetime],
        holder: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._config = config
        self._clock = clock
        # cut to the column's width, as the archive lease's holder is
        self.holder = (holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}")[
            :128
        ]

    async def refresh_if_due(self) -> int:
        """Recompute the snapshot if it is due and no other replica is at it; returns the
        groups written (0: not due, or another replica's turn)."""
        now = self._clock()
        every = timedelta(minutes=self._config.refresh_minutes)
        async with self._sessions() as session, session.begin():
            claimed = await health_repo.claim_refresh(
                session, self.holder, now=now, due_before=now - every, until=now + LEASE
            )
        if not claimed:
            return 0
        started = time.perf_counter()
        async with self._sessions() as session:
            items = await compute_list(session, self._config, now=now)
        async with self._sessions() as session, session.begin():
            await health_repo.replace_snapshots(
                session,
                self._config.window_days,
                [
                    {
                        **snapshot_row(item),
                        "end_day": item.health.figures.end,
                        "computed_at": now,
                    }
                    for item in items
                ],
            )
            await health_repo.finish_refresh(session, self.holder, now=self._clock())
        log.info(
            "health snapshot of %d group(s) over %d day(s) computed in %.1f s",
            len(items),
            self._config.window_days,
            time.perf_counter() - started,
        )
        return len(items)
