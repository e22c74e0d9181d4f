"""The outbox dispatcher: carries out stored actions through `bot.client`, with retries.

An action is claimed under a lease (so a dead worker's action is retaken after the lease), sent,
then marked `sent`; a retryable failure reschedules it with exponential backoff and jitter; a
permanent failure, or the last allowed attempt, marks it `dead` with the reason kept on the row.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import OutboxAction
from app.repositories import outbox as outbox_repo
from bot.client import WeComClient
from bot.errors import WeComApiError

__all__ = ["OutboxDispatcher", "backoff_delay"]

log = logging.getLogger(__name__)

BACKOFF_BASE = 2.0  # seconds before the second attempt
BACKOFF_CAP = 600.0  # longest wait between attempts, in seconds
LEASE = timedelta(seconds=120)  # a claimed action is retaken by another worker after this


def backoff_delay(attempts: int, rng: random.Random) -> float:
    """Seconds to wait after `attempts` failed tries: exponential, capped, with jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


class OutboxDispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: WeComClient,
        *,
        clock: Callable[[], datetime],
        max_attempts: int,
        rng: random.Random | None = None,
        batch_size: int = 20,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._max_attempts = max_attempts
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._batch_size = batch_size

    async def dispatch_due(self) -> int:
        """Send every action that is due now; returns how many were attempted."""
        attempted = 0
        while True:
            async with self._sessions() as session, session.begin():
                batch = await outbox_repo.claim_due(
                    session, now=self._clock(), limit=self._batch_size, lease=LEASE
                )
            if not batch:
                return attempted
            for action in batch:
                await self._send_one(action)
            attempted += len(batch)

    async def _send_one(self, action: OutboxAction) -> None:
        error: WeComApiError | None = None
        try:
            await self._carry_out(action)
        except WeComApiError as exc:
            error = exc
        except Exception as exc:  # a bug or bad payload must not kill the dispatcher
            log.exception("outbox action %s (%s) raised", action.id, action.kind)
            error = WeComApiError(f"{type(exc).__name__}: {exc}")
            error.retryable = False
        async with self._sessions() as session, session.begin():
            row = await session.get(OutboxAction, action.id)
            if row is None:  # pragma: no cover - deleted under us
                return
            now = self._clock()
            row.lease_until = None
            if error is None:
                row.status = "sent"
                row.sent_at = now
                row.last_error = None
                log.info("outbox action %s (%s) sent", row.id, row.kind)
            elif error.retryable and row.attempts < self._max_attempts:
                delay = backoff_delay(row.attempts, self._rng)
                row.status = "pending"
                row.next_attempt_at = now + timedelta(seconds=delay)
                row.last_error = str(error)[:2000]
                log.warning(
                    "outbox action %s (%s) attempt %d failed, retrying in %.0f s: %s",
                    row.id,
                    row.kind,
                    row.attempts,
                    delay,
                    error,
                )
            else:
                row.status = "dead"
                row.last_error = str(error)[:2000]
                log.error(
                    "outbox action %s (%s) gave up after %d attempt(s): %s",
                    row.id,
                    row.kind,
                    row.attempts,
                    error,
                )

    async def _carry_out(self, action: OutboxAction) -> None:
        payload = action.payload
        if action.kind == "aibot_reply":
            await self._client.reply_via_response_url(payload["response_url"], payload["body"])
        elif action.kind == "app_message":
            answer = await self._client.send_app_message(
                payload["to_users"], payload["msgtype"], payload["content"]
            )
            invalid = answer.get("invaliduser")
            if invalid:
                log.warning("outbox action %s: WeCom rejected recipients %s", action.id, invalid)
        elif action.kind == "appchat_send":
            await self._client.appchat_send(
                payload["chat_id"], msgtype=payload["msgtype"], content=payload["content"]
            )
        elif action.kind == "appchat_remove":
            await self._client.appchat_remove_members(payload["chat_id"], payload["user_ids"])
            log.info(
                "removed %s from group %s (outbox action %s)",
                ", ".join(payload["user_ids"]),
                payload["chat_id"],
                action.id,
            )
        else:
            raise ValueError(f"unknown outbox action kind {action.kind!r}")
