"""REST API v1 authentication: the bearer tokens (`require_token`, the dependency of every
/api/v1 router) and who called (`ApiCaller`).

Two tokens: ADMIN_API_TOKEN reads and writes; READONLY_API_TOKEN only reads (GET and HEAD).
Both are compared in constant time, and both comparisons always run.

Failed bearer auth is slowed down per client address (`FailedAuthThrottle`): after
`free_failures` failures within `window_seconds`, each further failure waits (asyncio.sleep,
doubling, capped) before its 401. The state is in memory, per replica; a successful request
never waits and clears its address's failures.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

__all__ = ["READ_METHODS", "ApiCaller", "FailedAuthThrottle", "api_caller", "require_token"]


READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """Who called the REST API: with which token."""

    kind: str  # admin (read and write) | readonly (GET only)

    @property
    def can_write(self) -> bool:
        return self.kind == "admin"


def _matches(presented: bytes, settings: Any, name: str) -> bool:
    """Constant-time comparison with the token in setting `name` (False when it is unset)."""
    if getattr(settings, name) is None:
        # Compare anyway, so an unset token takes as long as a wrong one.
        hmac.compare_digest(presented, b"\0" * 32)
        return False
    return hmac.compare_digest(presented, settings.secret(name).encode("utf-8"))


class FailedAuthThrottle:
    """Failed bearer-auth attempts per client address, and how long the next failure waits.

    Bounded: at most `max_addresses` addresses (the oldest is forgotten first) and at most
    `free_failures + 32` timestamps per address.
    """

    def __init__(
        self,
        *,
        free_failures: int = 5,
        window_seconds: float = 60.0,
        base_delay_seconds: float = 0.5,
        max_delay_seconds: float = 5.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.window_seconds = window_seconds
        self.base_delay_seconds = base_delay_seconds
        self.max_delay_seconds = max_delay_seconds
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def failed(self, address: str) -> float:
        """Record a failure from `address`; the seconds it should wait (0: none)."""
        now = self._clock()
        recent = self._failures.pop(address, None)
        if recent is None:
            recent = deque(maxlen=self.free_failures + 32)
            if len(self._failures) >= self.max_addresses:
                del self._failures[next(iter(self._failures))]
        while recent and now - recent[0] > self.window_seconds:
            recent.popleft()
        recent.append(now)
        self._failures[address] = recent  # re-inserted: most recent last
        excess = len(recent) - self.free_failures
        if excess <= 0:
            return 0.0
        return float(min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (excess - 1)))

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


async def require_token(request: Request) -> ApiCaller:
    """The bearer token: ADMIN_API_TOKEN may read and write, READONLY_API_TOKEN may only read
    (GET); 401 for a missing or wrong one, 403 for a write with the read-only token. The caller
    is also kept on `request.state.api_caller` for the audit trail."""
    settings = request.app.state.runtime.settings
    if not settings.rest_api_enabled:
        raise HTTPException(503, "the REST API is off: set ADMIN_API_TOKEN")
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    raw = presented.strip().encode("utf-8")
    admin = _matches(raw, settings, "admin_api_token")
    readonly = _matches(raw, settings, "readonly_api_token")
    address = request.client.host if request.client else "?"
    throttle: FailedAuthThrottle = request.app.state.auth_throttle
    if scheme.lower() != "bearer" or not (admin or readonly):
        # A token presented and wrong is a guess: guesses are slowed down. No token at all
        # guesses nothing (a probe, a health checker at the wrong path): answered at once.
        delay = throttle.failed(address) if header.strip() else 0.0
        if delay:
            await asyncio.sleep(delay)
        raise HTTPException(
            401,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="wecom-mod"'},
        )
    throttle.succeeded(address)
    caller = ApiCaller("admin" if admin else "readonly")
    if not caller.can_write and request.method not in READ_METHODS:
        raise HTTPException(
            403,
            f"the read-only token (READONLY_API_TOKEN) may only read (GET); {request.method} "
            "needs ADMIN_API_TOKEN",
        )
    request.state.api_caller = caller
    return caller


def api_caller(request: Request) -> ApiCaller:
    """The caller `require_token` let in (the routers depend on it)."""
    caller: ApiCaller = request.state.api_caller
    return caller
