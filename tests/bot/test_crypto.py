r"""Tests of `bot.crypto`: known-answer vectors, a wechatpy cross-check, tampered inputs, `verify`.

Known-answer vectors
--------------------
The ciphertexts and signatures in VECTORS were produced with openssl / sha1sum, NOT with the
project's `encrypt`, so a bug shared by `encrypt` and `decrypt` cannot pass. The plaintext is
built by hand per the published algorithm (platform notes §2):

    random(16) | len(msg) as 4-byte big-endian | msg | receiveid | PKCS#7 pad to 32 bytes

This bash script (xxd, OpenSSL 3.0, coreutils, UTF-8 locale) printed every constant below;
each vector's comment names the lines that produced it.

    # wecom_encrypt KEY43 PREFIX_HEX RECEIVEID MESSAGE  -> base64 ciphertext
    wecom_encrypt() {
      key=$(printf '%s=' "$1" | base64 -d | xxd -p -c 32)
      len=$(printf '%s' "$4" | wc -c)
      rid=$(printf '%s' "$3" | wc -c)
      pad=$(( 32 - (20 + len + rid) % 32 ))
      { printf '%s' "$2" | xxd -r -p
        printf '%08x' "$len" | xxd -r -p
        printf '%s%s' "$4" "$3"
        for _ in $(seq "$pad"); do printf '%02x' "$pad"; done | xxd -r -p
      } | openssl enc -aes-256-cbc -K "$key" -iv "${key:0:32}" -nopad | base64 -w0
    }
    # wecom_sign TOKEN TIMESTAMP NONCE ENCRYPTED  -> sha1 hex of the byte-sorted concatenation
    wecom_sign() { printf '%s\n' "$@" | LC_ALL=C sort | tr -d '\n' | sha1sum | cut -d' ' -f1; }

    APP_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
    BOT_KEY=ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut
    printf '%s=' "$APP_KEY" | base64 -d | xxd -p -c 32    # APP_KEY_HEX
    printf '%s=' "$BOT_KEY" | base64 -d | xxd -p -c 32    # AIBOT_KEY_HEX
    M1='<xml><ToUserName><![CDATA[ww0123456789abcdef]]></ToUserName>'
    M1+='<FromUserName><![CDATA[zhangsan]]></FromUserName>'
    M1+='<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>'
    M1+='<Content><![CDATA[加微信领红包，赌博稳赚]]></Content>'
    M1+='<MsgId>7234567890123456789</MsgId><AgentID>1000002</AgentID></xml>'
    M2='{"msgid":"CAIQ16HMjQYY","aibotid":"AIBOTID","chatid":"wrOgAAAAchat1",'
    M2+='"chattype":"group","from":{"userid":"zhangsan"},"msgtype":"text",'
    M2+='"text":{"content":"@审核助手 你好"}}'
    M3='{"msgid":"CAIQ3Zf8sgY","msgtype":"event","event":{"eventtype":"enter_chat"}}'
    M4='1616140317555161061234567'
    C1=$(wecom_encrypt "$APP_KEY" 3f9a0c7e51d2b8446e0a93c1f57d28b6 ww0123456789abcdef "$M1")
    C2=$(wecom_encrypt "$BOT_KEY" 00ff10ef20df30cf40bf50af609f708f '' "$M2")
    C3=$(wecom_encrypt "$BOT_KEY" 0123456789abcdeffedcba9876543210 '' "$M3")
    C4=$(wecom_encrypt "$APP_KEY" 8899aabbccddeeff0011223344556677 ww0123456789abcdef "$M4")
    echo "C1=$C1"; echo "C2=$C2"; echo "C3=$C3"; echo "C4=$C4"
    echo "S1=$(wecom_sign AppCallbackToken 1700000000 nonce123 "$C1")"
    echo "S2=$(wecom_sign AibotCallbackToken 1700000001 q8Xz0kLm "$C2")"
    echo "S3=$(wecom_sign AibotCallbackToken 1700000002 zzzz "$C3")"
    echo "S4=$(wecom_sign AppCallbackToken 1409659813 1372623149 "$C4")"
"""

from __future__ import annotations

import base64
import random
import struct
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException

from bot.crypto import BLOCK_SIZE, CallbackCipher, decode_aes_key, signature_of
from bot.errors import (
    CallbackError,
    DecryptionFailed,
    ReceiveIdMismatch,
    SignatureMismatch,
    StaleTimestamp,
)

# Local copies (not tests.support) because the vectors below depend on these exact values.
CORP_ID = "ww0123456789abcdef"
APP_TOKEN = "AppCallbackToken"
APP_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_KEY_HEX = "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
AIBOT_TOKEN = "AibotCallbackToken"
AIBOT_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
AIBOT_KEY_HEX = "6585d65544d24503ce34c2ca2481c61440c2040f7cefae78df6d74cf2c70beeb"


@dataclass(frozen=True)
class Vector:
    name: str
    token: str
    aes_key: str
    receive_id: str
    prefix_hex: str
    message: str
    ciphertext: str
    timestamp: str
    nonce: str
    signature: str
    pad: int  # the PKCS#7 pad value this vector exercises

    def cipher(self) -> CallbackCipher:
        return CallbackCipher(
            token=self.token, encoding_aes_key=self.aes_key, receive_id=self.receive_id
        )


VECTORS = [
    # ciphertext = C1, signature = S1 of the script in the module docstring
    Vector(
        name="app-xml-chinese",
        token=APP_TOKEN,
        aes_key=APP_AES_KEY,
        receive_id=CORP_ID,
        prefix_hex="3f9a0c7e51d2b8446e0a93c1f57d28b6",
        message=(
            "<xml><ToUserName><![CDATA[ww0123456789abcdef]]></ToUserName>"
            "<FromUserName><![CDATA[zhangsan]]></FromUserName>"
            "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[加微信领红包，赌博稳赚]]></Content>"
            "<MsgId>7234567890123456789</MsgId><AgentID>1000002</AgentID></xml>"
        ),
        ciphertext=(
            "UJ2kIJN46wHbRhio87Aapsb5LRXpQhDQ2rtM+YIHSQTyy67YwpqqB/kNSzff+bQ9GV8k7A+ndXdZg1K+"
            "1gtDIdJI2kV844Hh5VX7cJM9g04k/mC0TdkHIzSQpuzk96hOMhX4hrsKhAtvRArcXusvFGEwWG+j4/Sx"
            "GaIFYcQB2A3wQ1nKwW5HaD+BWGPGueD5f5nteJNPx2u4Qfh66HFu6sToHjT9qMgJmUcldz3r6R5HNjPS"
            "VD0o1osEO8rvFaCajiQbvYmhyJ9tg3+U8XIKI+mwom33kiH5ukUYl00RoPeOLeDpHJ8Tltg2etXabE2f"
            "9rdgixwuUazLdeCEHlzgcF2vCP5S4g1fhMx+jhL4PPTFcAamo7HKMGppQQKs75jxDN//zhfgTmQ/EzJV"
            "A6zRgFEOK9wYAO+gtG4hsb7DpFI3/plWXTMxCgtYpnH/5FEhuMNs/BtS4KNOxTVb41tAHA=="
        ),
        timestamp="1700000000",
        nonce="nonce123",
        signature="66fc96404c165d9c90fb5807deb2863ba8ea601a",
        pad=5,
    ),
    # ciphertext = C2, signature = S2 (receiveid "" as for the smart bot)
    Vector(
        name="aibot-json-empty-receiveid",
        token=AIBOT_TOKEN,
        aes_key=AIBOT_AES_KEY,
        receive_id="",
        prefix_hex="00ff10ef20df30cf40bf50af609f708f",
        message=(
            '{"msgid":"CAIQ16HMjQYY","aibotid":"AIBOTID","chatid":"wrOgAAAAchat1",'
            '"chattype":"group","from":{"userid":"zhangsan"},"msgtype":"text",'
            '"text":{"content":"@审核助手 你好"}}'
        ),
        ciphertext=(
            "wPXUigu0vuYl4IqPRPlrcnoYu46Vs+ShCUNtAHKmamUB8cf6fGe6/T5Y7SwL72ESdRmGEkQqhHUygg1j"
            "qSCkkGOL+j46JplXuAB4tfUw67aMd4YbNTGXUjjb1FdU7olCEkpEgkhEe0EQ2j1VtAbxDeCnyWbng2si"
            "n9cHTkKTctPY9kMuBuepphCMFGf2Ni5EkKmIf3TFz34Mvyr2hZNl+8UDziegZT2zeILBBcNzoCAyqoFx"
            "mE1k3ciwd6E5aR+NNZqo/1VcIwUMbSGz1Q5us4uZFRPQ5+sMKcRId+PEIxw="
        ),
        timestamp="1700000001",
        nonce="q8Xz0kLm",
        signature="4fe553759089f080baf7dfcb4ecd15d4d3020063",
        pad=28,
    ),
    # 20 + 76 + 0 = 96 bytes, a multiple of 32: a whole block of 32 pad bytes of value 0x20.
    # ciphertext = C3, signature = S3
    Vector(
        name="full-32-byte-pad-block",
        token=AIBOT_TOKEN,
        aes_key=AIBOT_AES_KEY,
        receive_id="",
        prefix_hex="0123456789abcdeffedcba9876543210",
        message='{"msgid":"CAIQ3Zf8sgY","msgtype":"event","event":{"eventtype":"enter_chat"}}',
        ciphertext=(
            "+O18jPVQXc24CEDMWR9bhheniNEZUt2iotDjztAa5Ky6uhmk4QOcN4ncAKbXdy5/NtXJtLYZaV3WFUuF"
            "MmfznRd5Wq9kQYjag3u/1+1izk6jROPVqm/ftWjzTxYbUVA9nyfAYZpBocIyy5SNr8fc8fF/Krb1Wxvi"
            "cVyLIAVvIOc="
        ),
        timestamp="1700000002",
        nonce="zzzz",
        signature="c69acd97f8d90500e92d8666b339cb3482c3604a",
        pad=32,
    ),
    # 20 + 25 + 18 = 63 bytes: a single pad byte 0x01 (an echostr-like numeric message).
    # ciphertext = C4, signature = S4
    Vector(
        name="single-pad-byte-echostr",
        token=APP_TOKEN,
        aes_key=APP_AES_KEY,
        receive_id=CORP_ID,
        prefix_hex="8899aabbccddeeff0011223344556677",
        message="1616140317555161061234567",
        ciphertext=(
            "VOUapQdP/UzgJiIpa4ZsWU7WAkkQrpG/GcAW290OJn7ixbwpMtLpzrn3VKCUD7xL9UI9PTjsr1utYSII"
            "MbmrDQ=="
        ),
        timestamp="1409659813",
        nonce="1372623149",
        signature="9c954663158465cc0f8d43d9d3044d2ab8b7ff9b",
        pad=1,
    ),
]

vector_params = pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])


def raw_key(encoding_aes_key: str) -> bytes:
    """The AES key computed with the stdlib only (independent of `decode_aes_key`)."""
    return base64.b64decode(encoding_aes_key + "=")


def aes_encrypt(key: bytes, plaintext: bytes) -> str:
    """Raw AES-256-CBC (IV = key[:16]) of an already padded plaintext, base64-encoded."""
    assert len(plaintext) % 16 == 0
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode()


def aes_decrypt(key: bytes, ciphertext: str) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    return decryptor.update(base64.b64decode(ciphertext)) + decryptor.finalize()


def pkcs7_32(data: bytes) -> bytes:
    pad = 32 - len(data) % 32
    return data + bytes([pad]) * pad


def app_cipher() -> CallbackCipher:
    return CallbackCipher(token=APP_TOKEN, encoding_aes_key=APP_AES_KEY, receive_id=CORP_ID)


def aibot_cipher() -> CallbackCipher:
    return CallbackCipher(token=AIBOT_TOKEN, encoding_aes_key=AIBOT_AES_KEY, receive_id="")


# --------------------------------------------------------------------------- known answers


def test_raw_keys_match_the_openssl_derived_hex() -> None:
    assert decode_aes_key(APP_AES_KEY).hex() == APP_KEY_HEX
    assert decode_aes_key(AIBOT_AES_KEY).hex() == AIBOT_KEY_HEX
    assert BLOCK_SIZE == 32


@vector_params
def test_vector_is_what_it_claims(vector: Vector) -> None:
    """Sanity of the pasted vector itself, checked with raw AES (not the project's code)."""
    plain = aes_decrypt(raw_key(vector.aes_key), vector.ciphertext)
    assert len(plain) % 32 == 0
    assert plain[-vector.pad :] == bytes([vector.pad]) * vector.pad
    body = vector.message.encode()
    assert plain[:16] == bytes.fromhex(vector.prefix_hex)
    assert plain[16:20] == struct.pack(">I", len(body))
    assert plain[20 : -vector.pad] == body + vector.receive_id.encode()


@vector_params
def test_decrypt_known_answer(vector: Vector) -> None:
    assert vector.cipher().decrypt(vector.ciphertext) == vector.message


@vector_params
def test_encrypt_reproduces_known_answer(vector: Vector) -> None:
    encrypted = vector.cipher().encrypt(
        vector.message, random_prefix=bytes.fromhex(vector.prefix_hex)
    )
    assert encrypted == vector.ciphertext


@vector_params
def test_signature_known_answer(vector: Vector) -> None:
    assert (
        signature_of(vector.token, vector.timestamp, vector.nonce, vector.ciphertext)
        == vector.signature
    )
    assert (
        vector.cipher().sign(
            timestamp=vector.timestamp, nonce=vector.nonce, encrypted=vector.ciphertext
        )
        == vector.signature
    )


@vector_params
def test_verify_known_answer(vector: Vector) -> None:
    vector.cipher().verify(
        signature=vector.signature,
        timestamp=vector.timestamp,
        nonce=vector.nonce,
        encrypted=vector.ciphertext,
        now=float(vector.timestamp),
        window_seconds=300,
    )


def test_signature_sorts_before_joining() -> None:
    # `printf 'b\na\nc\nd\n' | LC_ALL=C sort | tr -d '\n' | sha1sum` == sha1("abcd")
    assert signature_of("b", "a", "c", "d") == "81fe8bfe87576c3ecb22426f8e57847382917acf"
    assert signature_of("d", "c", "b", "a") == signature_of("a", "b", "c", "d")


def test_encrypt_pads_to_32_and_uses_random_prefix() -> None:
    cipher = app_cipher()
    first, second = cipher.encrypt("同一条消息"), cipher.encrypt("同一条消息")
    assert first != second  # fresh random prefix each time
    assert len(base64.b64decode(first)) % 32 == 0
    assert cipher.decrypt(first) == cipher.decrypt(second) == "同一条消息"


@pytest.mark.parametrize("prefix", [b"", b"x" * 15, b"x" * 17])
def test_encrypt_rejects_bad_prefix_length(prefix: bytes) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        app_cipher().encrypt("x", random_prefix=prefix)


@pytest.mark.parametrize("length", [0, 1, 11, 12, 13, 44, 45, 1000])
def test_round_trip_across_pad_lengths(length: int) -> None:
    message = ("审核a" * length)[:length]
    assert app_cipher().decrypt(app_cipher().encrypt(message)) == message
    assert aibot_cipher().decrypt(aibot_cipher().encrypt(message)) == message


# --------------------------------------------------------------------------- wechatpy


WECHATPY_MESSAGES = [
    "<xml><Content><![CDATA[加微信领红包]]></Content></xml>",
    '{"msgtype":"text","text":{"content":"@审核助手 赌博"}}',
    "x" * 44,  # 20 + 44 = 64 with receiveid "": full pad block
    "1616140317555161061234567",
]


@pytest.mark.parametrize("message", WECHATPY_MESSAGES)
@pytest.mark.parametrize(
    ("aes_key", "receive_id"), [(APP_AES_KEY, CORP_ID), (AIBOT_AES_KEY, "")], ids=["app", "aibot"]
)
def test_wechatpy_encrypts_we_decrypt(aes_key: str, receive_id: str, message: str) -> None:
    theirs = PrpCrypto(raw_key(aes_key)).encrypt(message, receive_id)
    assert isinstance(theirs, bytes)
    ours = CallbackCipher(token="t", encoding_aes_key=aes_key, receive_id=receive_id)
    assert ours.decrypt(theirs.decode("ascii")) == message


@pytest.mark.parametrize("message", WECHATPY_MESSAGES)
@pytest.mark.parametrize(
    ("aes_key", "receive_id"), [(APP_AES_KEY, CORP_ID), (AIBOT_AES_KEY, "")], ids=["app", "aibot"]
)
def test_we_encrypt_wechatpy_decrypts(aes_key: str, receive_id: str, message: str) -> None:
    ours = CallbackCipher(token="t", encoding_aes_key=aes_key, receive_id=receive_id)
    assert PrpCrypto(raw_key(aes_key)).decrypt(ours.encrypt(message), receive_id) == message


def test_wechatpy_sees_our_receive_id() -> None:
    """Our receiveid lands where wechatpy looks for it: a different corp id is refused there."""
    encrypted = app_cipher().encrypt("hello")
    with pytest.raises(InvalidCorpIdException):
        PrpCrypto(raw_key(APP_AES_KEY)).decrypt(encrypted, "wwOTHERCORP000000")


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_wechatpy_decrypts_the_openssl_vectors(vector: Vector) -> None:
    crypto = PrpCrypto(raw_key(vector.aes_key))
    assert crypto.decrypt(vector.ciphertext, vector.receive_id) == vector.message


# --------------------------------------------------------------------------- tampered inputs

APP_KEY = raw_key(APP_AES_KEY)
PREFIX = bytes(range(16))


def structured(
    message: bytes, receive_id: bytes = CORP_ID.encode(), *, length: int | None = None
) -> bytes:
    """random | length | message | receiveid, unpadded; `length` overrides the length field."""
    size = len(message) if length is None else length
    return PREFIX + struct.pack(">I", size) + message + receive_id


def with_pad(data: bytes, pad_bytes: bytes) -> bytes:
    """`data` followed by explicit (possibly bogus) padding; total must be a multiple of 16."""
    return data + pad_bytes


TAMPERED: list[tuple[str, str, type[CallbackError]]] = [
    ("bad-base64-chars", "not base64!!", DecryptionFailed),
    # a form-style query decoder turns "+" into " "
    ("plus-became-space", VECTORS[0].ciphertext.replace("+", " "), DecryptionFailed),
    # otherwise valid ciphertexts with a stray character: a lenient decoder would drop it
    (
        "junk-char-inside",
        VECTORS[0].ciphertext[:40] + "!" + VECTORS[0].ciphertext[40:],
        DecryptionFailed,
    ),
    (
        "newline-inside",
        VECTORS[3].ciphertext[:44] + "\n" + VECTORS[3].ciphertext[44:],
        DecryptionFailed,
    ),
    ("base64-non-ascii", "密文密文", DecryptionFailed),
    ("base64-bad-padding", "QUJD", DecryptionFailed),  # 3 bytes, not a block
    ("base64-truncated", "QUJDRA", DecryptionFailed),
    ("empty", "", DecryptionFailed),
    ("length-20-bytes", base64.b64encode(b"\x00" * 20).decode(), DecryptionFailed),
    ("length-33-bytes", base64.b64encode(b"\x00" * 33).decode(), DecryptionFailed),
    (
        "pad-byte-0",
        aes_encrypt(APP_KEY, with_pad(structured(b"x" * 25), b"\x00")),
        DecryptionFailed,
    ),
    (
        # 33 consistent bytes of 0x21: valid PKCS#7 for 16-byte blocks, not for WeCom's 32
        "pad-byte-33",
        aes_encrypt(APP_KEY, with_pad(structured(b"x" * 25), b"\x21" * 33)),
        DecryptionFailed,
    ),
    (
        "pad-byte-255",
        aes_encrypt(APP_KEY, with_pad(structured(b"x" * 26), b"\xff" * 32)),
        DecryptionFailed,
    ),
    (
        "pad-inconsistent",
        aes_encrypt(APP_KEY, with_pad(structured(b"x" * 22), b"\x04\x04\x03\x04")),
        DecryptionFailed,
    ),
    (
        "pad-inconsistent-first-byte",
        aes_encrypt(APP_KEY, with_pad(structured(b"x" * 14), b"\x05" + b"\x0c" * 11)),
        DecryptionFailed,
    ),
    (
        # a single 16-byte block claiming 32 bytes of padding
        "pad-longer-than-ciphertext",
        aes_encrypt(APP_KEY, b"\x20" * 16),
        DecryptionFailed,
    ),
    (
        "inner-length-huge",
        aes_encrypt(APP_KEY, pkcs7_32(structured(b"hello", length=0xFFFFFFFF))),
        DecryptionFailed,
    ),
    (
        "inner-length-one-too-many",
        aes_encrypt(APP_KEY, pkcs7_32(structured(b"hello", length=5 + 18 + 1))),
        DecryptionFailed,
    ),
    (
        # length claims the receiveid as message: what remains as receiveid is ""
        "inner-length-swallows-receiveid",
        aes_encrypt(APP_KEY, pkcs7_32(structured(b"hello", length=5 + 18))),
        ReceiveIdMismatch,
    ),
    (
        "wrong-receiveid",
        aes_encrypt(APP_KEY, pkcs7_32(structured(b"hello", b"wwOTHERCORP0000000"))),
        ReceiveIdMismatch,
    ),
    (
        "receiveid-prefix-only",
        aes_encrypt(APP_KEY, pkcs7_32(structured(b"hello", CORP_ID[:-1].encode()))),
        ReceiveIdMismatch,
    ),
    (
        "receiveid-empty",
        aes_encrypt(APP_KEY, pkcs7_32(structured(b"hello", b""))),
        ReceiveIdMismatch,
    ),
    (
        "receiveid-extra-byte",
        aes_encrypt(APP_KEY, pkcs7_32(structured(b"hello", CORP_ID.encode() + b"\x00"))),
        ReceiveIdMismatch,
    ),
    (
        "message-invalid-utf8",
        aes_encrypt(APP_KEY, pkcs7_32(structured(b"ok \xff\xfe not utf-8"))),
        DecryptionFailed,
    ),
    (
        "message-truncated-utf8",
        aes_encrypt(APP_KEY, pkcs7_32(structured("审核".encode()[:-1]))),
        DecryptionFailed,
    ),
    (
        # 16-byte block, pad 1: 15 bytes of plaintext, shorter than the 20-byte header
        "plaintext-15-bytes",
        aes_encrypt(APP_KEY, b"\x00" * 15 + b"\x01"),
        DecryptionFailed,
    ),
    (
        # 32-byte block, pad 13: 19 bytes of plaintext
        "plaintext-19-bytes",
        aes_encrypt(APP_KEY, b"\x00" * 19 + b"\x0d" * 13),
        DecryptionFailed,
    ),
    (
        # 32-byte block, pad 32: nothing at all
        "plaintext-0-bytes",
        aes_encrypt(APP_KEY, b"\x20" * 32),
        DecryptionFailed,
    ),
    (
        # the aibot vector under the app key: garbage whose last byte is not valid padding
        "wrong-key",
        VECTORS[1].ciphertext,
        DecryptionFailed,
    ),
]


@pytest.mark.parametrize(
    ("encrypted", "error"), [(c, e) for _, c, e in TAMPERED], ids=[n for n, _, _ in TAMPERED]
)
def test_tampered_ciphertext_raises_exact_error(encrypted: str, error: type[CallbackError]) -> None:
    with pytest.raises(CallbackError) as caught:
        app_cipher().decrypt(encrypted)
    assert type(caught.value) is error


def test_exactly_20_byte_plaintext_with_empty_message_is_accepted() -> None:
    cipher = aibot_cipher()
    encrypted = aes_encrypt(raw_key(AIBOT_AES_KEY), pkcs7_32(structured(b"", b"")))
    assert cipher.decrypt(encrypted) == ""


def test_bit_flip_in_last_block_is_refused() -> None:
    """Flipping a bit of the second-to-last block changes the padding byte of the last one."""
    good = VECTORS[3].ciphertext  # single 0x01 pad byte
    raw = bytearray(base64.b64decode(good))
    raw[-17] ^= 0x01 ^ 0x30  # plaintext last byte becomes 0x30 = 48 > 32
    with pytest.raises(DecryptionFailed):
        app_cipher().decrypt(base64.b64encode(bytes(raw)).decode())


def test_random_structured_garbage_never_raises_foreign_errors() -> None:
    """Seeded fuzz over header, length field and padding: only CallbackErrors come out."""
    rng = random.Random(20240501)
    cipher = app_cipher()
    outcomes: set[str] = set()
    for _ in range(800):
        size = 16 * rng.randint(1, 6)
        data = bytearray(rng.randbytes(size))
        if size >= 64 and rng.random() < 0.5:
            data[20 : 20 + len(CORP_ID)] = CORP_ID.encode()
        if size >= 20:
            lengths = [0, 1, 5, 18, size - 20, size, 2**31, 2**32 - 1]
            data[16:20] = struct.pack(">I", rng.choice(lengths))
        pad = rng.choice([0, 1, 2, 13, 16, 31, 32, 33, 255])
        if 1 <= pad <= min(32, size) and rng.random() < 0.8:
            data[size - pad :] = bytes([pad]) * pad
        else:
            data[-1] = pad
        try:
            cipher.decrypt(aes_encrypt(APP_KEY, bytes(data)))
            outcomes.add("ok")
        except CallbackError as exc:
            outcomes.add(type(exc).__name__)
    assert {"DecryptionFailed", "ReceiveIdMismatch"} <= outcomes


# --------------------------------------------------------------------------- verify

NOW = 1_700_000_000
WINDOW = 300
V = VECTORS[0]


def verify(**overrides: object) -> None:
    args: dict[str, object] = {
        "signature": V.signature,
        "timestamp": V.timestamp,
        "nonce": V.nonce,
        "encrypted": V.ciphertext,
        "now": float(NOW),
        "window_seconds": WINDOW,
    }
    args.update(overrides)
    V.cipher().verify(**args)


def signed_at(timestamp: str) -> dict[str, object]:
    return {
        "timestamp": timestamp,
        "signature": signature_of(V.token, timestamp, V.nonce, V.ciphertext),
    }


def flip(text: str, index: int) -> str:
    char = text[index]
    replacement = "0" if char != "0" else "1"
    return text[:index] + replacement + text[index + 1 :]


def test_verify_accepts_correct_signature() -> None:
    verify()


@pytest.mark.parametrize("index", [0, 1, 20, 38, 39])
def test_verify_one_flipped_character_is_refused(index: int) -> None:
    with pytest.raises(SignatureMismatch):
        verify(signature=flip(V.signature, index))


@pytest.mark.parametrize(
    "signature",
    [
        "",
        V.signature[:-1],
        V.signature + "0",
        "签名" * 20,
        "é" * 40,
        "\x00" * 40,
        V.signature[:-1] + "ａ",  # full-width letter
    ],
    ids=["empty", "short", "long", "chinese", "latin1", "nul", "fullwidth"],
)
def test_verify_malformed_signature_is_mismatch(signature: str) -> None:
    with pytest.raises(SignatureMismatch):
        verify(signature=signature)


def test_verify_lone_surrogate_signature_is_mismatch() -> None:
    with pytest.raises(SignatureMismatch):
        verify(signature="\ud800" + V.signature[1:])


@pytest.mark.parametrize(
    ("field", "value"),
    [("nonce", "nonce124"), ("encrypted", VECTORS[1].ciphertext), ("timestamp", str(NOW + 1))],
)
def test_verify_signature_covers_every_field(field: str, value: str) -> None:
    with pytest.raises(SignatureMismatch):
        verify(**{field: value})


def test_verify_wrong_token_is_refused() -> None:
    other = CallbackCipher(token="OtherToken", encoding_aes_key=APP_AES_KEY, receive_id=CORP_ID)
    with pytest.raises(SignatureMismatch):
        other.verify(
            signature=V.signature,
            timestamp=V.timestamp,
            nonce=V.nonce,
            encrypted=V.ciphertext,
            now=float(NOW),
            window_seconds=WINDOW,
        )


@pytest.mark.parametrize(
    "timestamp",
    [str(NOW - WINDOW), str(NOW + WINDOW), str(NOW), "00" + str(NOW)],  # 12 chars allowed
    ids=["past-edge", "future-edge", "now", "12-chars"],
)
def test_verify_accepts_window_edges(timestamp: str) -> None:
    verify(**signed_at(timestamp))


@pytest.mark.parametrize(
    "timestamp",
    [
        str(NOW - WINDOW - 1),
        str(NOW + WINDOW + 1),
        "0",
        "9" * 12,
        "",
        "17e8",
        "-1700000000",
        "+1700000000",
        " 1700000000",
        "1700000000 ",
        "1700000000.0",
        "١٧٠٠٠٠٠٠٠٠",  # Arabic-Indic digits: str.isdigit() but not ASCII
        "１７００００００００",  # full-width digits
        "²",  # superscript: isdigit() True, int() fails
        "000" + str(NOW),  # 13 chars, value inside the window
        "9" * 5000,  # over-long: int() would refuse past 4300 digits
    ],
    ids=[
        "past",
        "future",
        "zero",
        "far-future",
        "empty",
        "exponent",
        "negative",
        "plus",
        "leading-space",
        "trailing-space",
        "decimal",
        "arabic-digits",
        "fullwidth-digits",
        "superscript",
        "13-chars",
        "5000-digits",
    ],
)
def test_verify_stale_or_bad_timestamp(timestamp: str) -> None:
    with pytest.raises(StaleTimestamp):
        verify(**signed_at(timestamp))


def test_verify_checks_timestamp_before_signature() -> None:
    with pytest.raises(StaleTimestamp):
        verify(timestamp=str(NOW - 10_000), signature="0" * 40)


# --------------------------------------------------------------------------- decode_aes_key


def test_decode_aes_key_gives_32_bytes() -> None:
    assert decode_aes_key(APP_AES_KEY) == bytes.fromhex(APP_KEY_HEX)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (APP_AES_KEY[:42], "must be 43 characters, got 42"),
        (APP_AES_KEY + "=", "must be 43 characters, got 44"),
        (APP_AES_KEY + "A", "must be 43 characters, got 44"),
        ("", "must be 43 characters, got 0"),
        (APP_AES_KEY[:42] + "!", "is not base64"),
        (APP_AES_KEY[:42] + "-", "is not base64"),  # URL-safe alphabet is not accepted
        (APP_AES_KEY[:42] + "_", "is not base64"),
        (APP_AES_KEY[:21] + " " + APP_AES_KEY[22:], "is not base64"),
        # 42 chars + "=" is valid base64 for 31 bytes
        (APP_AES_KEY[:42] + "=", "does not decode to 32 bytes"),
        (APP_AES_KEY[:42] + "é", "is not base64"),
    ],
    ids=[
        "42-chars",
        "44-with-equals",
        "44-chars",
        "empty",
        "bang",
        "urlsafe-dash",
        "urlsafe-underscore",
        "space",
        "equals-inside",
        "non-ascii",
    ],
)
def test_decode_aes_key_rejects(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_aes_key(value)


def test_decode_aes_key_non_ascii_is_at_least_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode_aes_key("密" * 43)


def test_cipher_constructor_validates_key() -> None:
    with pytest.raises(ValueError, match="43 characters"):
        CallbackCipher(token="t", encoding_aes_key=APP_AES_KEY[:42], receive_id="")
