"""One-time sign-in links for the console, the way notebook servers print a token URL.

`wecom-mod serve` on a fresh machine (no WeCom credentials, so the sandbox is on and there is
no WeCom sign-in and no token anyone knows) prints one link,
`http://127.0.0.1:8000/console/login/once?token=…`. The token is 32 random bytes, works once
and for `LIFETIME` only; opening the link signs the browser in as an admin (audited as
`console.sign_in` with `via: one-time link`) and sends it to the sandbox. Only its SHA-256 is
kept, in this process's memory: a restart prints a new link and forgets the old one.

The link is printed only when the sandbox is on because no credentials are set; with
credentials, sign in with WeCom or ADMIN_API_TOKEN. Bound to a non-loopback address, the link
still works (from any machine that reaches the port), and the log says so: whoever sees the
link first can use it, so keep it to yourself and bind to 127.0.0.1 unless you mean it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
from dataclasses import dataclass, field

from app.settings import Settings

__all__ = ["LIFETIME_SECONDS", "OneTimeLinks", "link_address", "wanted"]

log = logging.getLogger(__name__)

LIFETIME_SECONDS = 900.0  # a printed link works this long (15 minutes), once
PATH = "/console/login/once"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class OneTimeLinks:
    """The tokens issued and not yet used by this process: digest → expiry (Unix seconds)."""

    lifetime: float = LIFETIME_SECONDS
    _open: dict[str, float] = field(default_factory=dict)

    def issue(self, *, now: float) -> str:
        token = secrets.token_urlsafe(32)
        self._open = {d: e for d, e in self._open.items() if e > now}
        self._open[_digest(token)] = now + self.lifetime
        return token

    def redeem(self, token: str, *, now: float) -> bool:
        """True once for a token issued here and not expired; the token is spent either way."""
        if not token or len(token) > 128:
            return False
        expires = self._open.pop(_digest(token), None)
        return expires is not None and expires > now


def wanted(settings: Settings, *, fresh_machine: bool) -> bool:
    """Print a link: the sandbox is on because no WeCom credentials are set."""
    return fresh_machine and settings.sandbox_on


def link_address(host: str, port: int, token: str) -> tuple[str, bool]:
    """The link to print, and whether `host` is a loopback address (else the log warns). A
    wildcard bind (0.0.0.0, ::) is reached on this machine at 127.0.0.1."""
    shown = host
    loopback = host in ("localhost", "")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        loopback = address.is_loopback
        if address.is_unspecified:
            shown = "127.0.0.1"
        elif address.version == 6:
            shown = f"[{host}]"
    return f"http://{shown}:{port}{PATH}?token={token}", loopback
