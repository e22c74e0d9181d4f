"""The WeCom callback cipher: signature check, AES-256-CBC decryption, reply encryption.

Algorithm (platform notes §2, doc 90968):
- signature = sha1("".join(sorted([token, timestamp, nonce, encrypted]))) in hex;
- key = base64decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC with IV = key[:16];
- plaintext = random(16) | len(msg) as 4-byte big-endian | msg | receiveid, PKCS#7 padded to a
  multiple of 32 bytes (pad value 1..32).

Why not wechatpy's `PrpCrypto`: it compares signatures with `!=`, does not check the PKCS#7
padding (a crafted last byte raises a raw `struct.error` or silently cuts the message), has no
timestamp window and parses XML before the signature is checked. The algorithm is small, so it
is implemented here on `cryptography` with every check explicit; the tests cross-check it against
wechatpy and against hand-computed vectors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.errors import DecryptionFailed, ReceiveIdMismatch, SignatureMismatch, StaleTimestamp

__all__ = ["BLOCK_SIZE", "CallbackCipher", "decode_aes_key", "signature_of"]

BLOCK_SIZE = 32  # WeCom pads to 32 bytes, not AES's 16
_HEADER = 20  # 16 random bytes + 4-byte length


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """Turn the 43-character EncodingAESKey from the admin console into the 32-byte key.

    Raises ValueError with a readable reason when it is not such a key.
    """
    if len(encoding_aes_key) != 43:
        raise ValueError(f"must be 43 characters, got {len(encoding_aes_key)}")
    if not encoding_aes_key.isascii():
        raise ValueError("is not base64 (letters, digits, + and / only)")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("is not base64 (letters, digits, + and / only)") from exc
    if len(key) != 32:  # a key ending in "=" decodes to 31 bytes
        raise ValueError("does not decode to 32 bytes")
    return key


def signature_of(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """The msg_signature WeCom computes for these four values."""
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    data = joined.encode("utf-8", "surrogatepass")
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


class CallbackCipher:
    """One callback channel's token, AES key and receiveid (corp id, or "" for the smart bot)."""

    def __init__(self, *, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self._token = token
        self._key = decode_aes_key(encoding_aes_key)
        self._receive_id = receive_id.encode("utf-8")

    def verify(
        self,
        *,
        signature: str,
        timestamp: str,
        nonce: str,
        encrypted: str,
        now: float,
        window_seconds: float,
    ) -> None:
        """Check the timestamp window and the signature (constant time). Raises on failure."""
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise StaleTimestamp("timestamp is not a number of seconds")
        if abs(now - int(timestamp)) > window_seconds:
            raise StaleTimestamp("timestamp outside the accepted window")
        expected = signature_of(self._token, timestamp, nonce, encrypted)
        presented = signature.encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(expected.encode("ascii"), presented):
            raise SignatureMismatch("signature mismatch")

    def decrypt(self, encrypted: str) -> str:
        """Decrypt one `Encrypt`/`encrypt`/`echostr` value and return the message as text."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptionFailed("ciphertext is not base64") from exc
        if not raw or len(raw) % 16:
            raise DecryptionFailed("ciphertext length is not a multiple of the AES block")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= BLOCK_SIZE or padded[-pad:] != bytes([pad]) * pad:
            raise DecryptionFailed("bad padding")
        plain = padded[:-pad]
        if len(plain) < _HEADER:
            raise DecryptionFailed("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:_HEADER])
        if length > len(plain) - _HEADER:
            raise DecryptionFailed("message length exceeds plaintext")
        message = plain[_HEADER : _HEADER + length]
        receive_id = plain[_HEADER + length :]
        if not hmac.compare_digest(receive_id, self._receive_id):
            raise ReceiveIdMismatch("receiveid mismatch")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecryptionFailed("message is not UTF-8") from exc

    def encrypt(self, message: str, *, random_prefix: bytes | None = None) -> str:
        """Encrypt a message the way WeCom does (for passive replies and for tests)."""
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("random_prefix must be 16 bytes")
        body = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self._receive_id
        pad = BLOCK_SIZE - len(plain) % BLOCK_SIZE
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def sign(self, *, timestamp: str, nonce: str, encrypted: str) -> str:
        """The signature for an outgoing (reply) envelope."""
        return signature_of(self._token, timestamp, nonce, encrypted)
