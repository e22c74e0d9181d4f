"""SecretBox: webhook keys sealed at rest, and every way a token can fail to open."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable

import pytest

from app.secret_box import MIN_MASTER_KEY_BYTES, SecretBox, SecretBoxError

MASTER = "k0d5m2uQfL9x3YbW7nTq1rVh6sJ8cPzA4eGiOyUo"
OTHER = "Zp9Qe4Lr7Tn2Wv5Xb8Kc1Md6Fg3Hj0SaYuIoEtRw"
WEBHOOK_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize(
    "plain", [WEBHOOK_KEY, "", "群机器人密钥：测试🔑", "x" * 4000, "line\nbreak\x00nul"]
)
def test_round_trip(plain: str) -> None:
    box = SecretBox(MASTER)
    token = box.encrypt(plain)
    assert token.startswith("v1:")
    assert plain == "" or plain not in token
    assert box.decrypt(token) == plain
    # Another box from the same setting (str or bytes) opens it too.
    assert SecretBox(MASTER.encode()).decrypt(token) == plain


def test_token_is_nonce_then_ciphertext_and_tag() -> None:
    token = SecretBox(MASTER).encrypt(WEBHOOK_KEY)
    raw = unb64url(token.removeprefix("v1:"))
    assert len(raw) == 12 + len(WEBHOOK_KEY.encode()) + 16
    assert "=" not in token


def test_same_plaintext_gives_different_tokens() -> None:
    box = SecretBox(MASTER)
    tokens = {box.encrypt(WEBHOOK_KEY) for _ in range(50)}
    assert len(tokens) == 50
    nonces = {unb64url(t.removeprefix("v1:"))[:12] for t in tokens}
    assert len(nonces) == 50


def test_wrong_master_key_fails() -> None:
    token = SecretBox(MASTER).encrypt(WEBHOOK_KEY)
    with pytest.raises(SecretBoxError, match="wrong master key") as raised:
        SecretBox(OTHER).decrypt(token)
    assert WEBHOOK_KEY not in str(raised.value)
    assert raised.value.__cause__ is None


@pytest.mark.parametrize("position", [0, 5, 11, 12, 20, -17, -1])
def test_tampered_token_fails(position: int) -> None:
    box = SecretBox(MASTER)
    raw = bytearray(unb64url(box.encrypt(WEBHOOK_KEY).removeprefix("v1:")))
    raw[position] ^= 0x01
    with pytest.raises(SecretBoxError, match="altered") as raised:
        box.decrypt("v1:" + b64url(bytes(raw)))
    assert WEBHOOK_KEY not in str(raised.value)


def test_truncated_or_extended_token_fails() -> None:
    box = SecretBox(MASTER)
    raw = unb64url(box.encrypt(WEBHOOK_KEY).removeprefix("v1:"))
    for changed in (raw[:-1], raw + b"\x00"):
        with pytest.raises(SecretBoxError, match="altered"):
            box.decrypt("v1:" + b64url(changed))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "empty"),
        ("no prefix at all", "no version prefix"),
        (b64url(b"\x00" * 40), "no version prefix"),
        ("v2:" + b64url(b"\x00" * 40), "unknown secret token version 'v2'"),
        ("V1:" + b64url(b"\x00" * 40), "unknown secret token version 'V1'"),
        (f"{WEBHOOK_KEY}:" + b64url(b"\x00" * 40), r"version \(not a version tag\)"),
        ("v1:not base64!", "not base64url"),
        ("v1:abc+def/", "not base64url"),
        ("v1:abcde", "impossible length"),
        ("v1:" + b64url(b"\x00" * 27), "27 bytes, shorter"),
        ("v1:", "0 bytes, shorter"),
        ("v1:==", "0 bytes, shorter"),
        ("v1:====", "not base64url"),
    ],
)
def test_malformed_tokens_fail(token: str, message: str) -> None:
    with pytest.raises(SecretBoxError, match=message) as raised:
        SecretBox(MASTER).decrypt(token)
    assert WEBHOOK_KEY not in str(raised.value)


def test_a_token_of_another_type_fails() -> None:
    with pytest.raises(SecretBoxError, match="empty"):
        SecretBox(MASTER).decrypt(None)  # type: ignore[arg-type]


def test_plaintext_never_in_error_messages() -> None:
    box = SecretBox(MASTER)
    token = box.encrypt(WEBHOOK_KEY)
    raw = unb64url(token.removeprefix("v1:"))
    attempts: list[Callable[[], object]] = [
        lambda: SecretBox(OTHER).decrypt(token),
        lambda: box.decrypt("v1:" + b64url(raw[:-2] + b"xx")),
        lambda: box.decrypt("v9:" + token[3:]),
        lambda: box.decrypt(token + "!"),
        lambda: box.decrypt(token[3:]),
    ]
    for attempt in attempts:
        with pytest.raises(SecretBoxError) as raised:
            attempt()
        assert WEBHOOK_KEY not in str(raised.value)
        assert WEBHOOK_KEY not in repr(raised.value)
        assert token[3:] not in str(raised.value)


@pytest.mark.parametrize("master", ["", "short", "x" * (MIN_MASTER_KEY_BYTES - 1), b"\x01" * 31])
def test_short_master_key_is_refused(master: str | bytes) -> None:
    with pytest.raises(SecretBoxError, match=r"python -m app\.secret_box"):
        SecretBox(master)


def test_master_key_not_in_repr() -> None:
    assert MASTER not in repr(SecretBox(MASTER))


def test_generated_keys_are_usable_and_distinct() -> None:
    keys = {SecretBox.generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(key) == 43
        assert len(unb64url(key)) == 32
    key = keys.pop()
    assert SecretBox(key).decrypt(SecretBox(key).encrypt("x")) == "x"


@pytest.mark.slow
def test_module_prints_a_new_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.secret_box"], capture_output=True, text=True, check=True
    )
    key = result.stdout.strip()
    assert len(unb64url(key)) == 32
    SecretBox(key)
