"""Small secrets (a webhook robot's key) encrypted at rest, so a database dump alone reveals none.

`SecretBox(master_key)` derives a 256-bit AES key from the master key setting with HKDF-SHA256
and a fixed info string, and seals each value with AES-256-GCM under a fresh random 96-bit
nonce. A sealed value is text: `"v1:" + base64url(nonce + ciphertext + tag)`, without padding.
The version is also bound into GCM's associated data, so a token cannot be relabelled.

Every way opening a token can fail (wrong master key, altered token, malformed token, unknown
version) raises `SecretBoxError` with a message that says which, never the plaintext and never
the token. A new master key: `python -m app.secret_box`.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.errors import WecomModError

__all__ = ["MIN_MASTER_KEY_BYTES", "SecretBox", "SecretBoxError"]

MIN_MASTER_KEY_BYTES = 32  # a shorter master key is refused (HKDF does not stretch a weak one)
_VERSION = "v1"
_PREFIX = f"{_VERSION}:"
_HKDF_INFO = b"wecom-mod secret box v1: AES-256-GCM key"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_VERSION_TAG = re.compile(r"[A-Za-z][0-9]{1,4}")  # shown in the error


class SecretBoxError(WecomModError):
    """A master key that cannot be used, or a token that cannot be opened."""


class SecretBox:
    """Seals and opens small text secrets with one master key."""

    def __init__(self, master_key: str | bytes) -> None:
        ikm = master_key.encode("utf-8") if isinstance(master_key, str) else bytes(master_key)
        if len(ikm) < MIN_MASTER_KEY_BYTES:
            raise SecretBoxError(
                f"the master key is {len(ikm)} bytes; at least {MIN_MASTER_KEY_BYTES} are needed "
                "(make one with `python -m app.secret_box`)"
            )
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(ikm)
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<master key hidden>)"

    @staticmethod
    def generate_key() -> str:
        """A new random master key: 32 bytes as base64url (43 characters)."""
        return secrets.token_urlsafe(32)

    def encrypt(self, plain: str) -> str:
        """`plain` sealed as a `v1:` token; the same text gives a different token every time."""
        if not isinstance(plain, str):
            raise TypeError("SecretBox.encrypt takes a str")
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode("utf-8"), _VERSION.encode("ascii"))
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def decrypt(self, token: str) -> str:
        """The text sealed in `token`; `SecretBoxError` if it cannot be opened."""
        if not isinstance(token, str) or not token:
            raise SecretBoxError("malformed secret token: empty")
        version, colon, body = token.partition(":")
        if not colon:
            raise SecretBoxError("malformed secret token: no version prefix (expected 'v1:')")
        if version != _VERSION:
            shown = repr(version) if _VERSION_TAG.fullmatch(version) else "(not a version tag)"
            raise SecretBoxError(f"unknown secret token version {shown}; this build reads v1")
        raw = _decode_base64url(body)
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise SecretBoxError(
                f"malformed secret token: {len(raw)} bytes, shorter than nonce and tag "
                f"({_NONCE_BYTES + _TAG_BYTES})"
            )
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, sealed, _VERSION.encode("ascii"))
        except InvalidTag:
            raise SecretBoxError(
                "cannot open secret token: wrong master key, or the token was altered"
            ) from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretBoxError("secret token does not hold UTF-8 text") from None


def _decode_base64url(body: str) -> bytes:
    if not _BASE64URL.fullmatch(body):
        raise SecretBoxError("malformed secret token: not base64url")
    unpadded = body.rstrip("=")
    if len(unpadded) % 4 == 1:
        raise SecretBoxError("malformed secret token: base64url of impossible length")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        raise SecretBoxError("malformed secret token: not base64url") from None


if __name__ == "__main__":
    print(SecretBox.generate_key())
