"""Hostile input, from outside: both callback endpoints and the REST API under attack.

What must hold whatever arrives: never a 500; a refused callback stores nothing in the inbox;
error bodies are JSON or plain text with a fixed reason (nothing a browser would run); the
service answers a valid callback afterwards. Randomised cases come from `random` with a fixed
seed, so a failure is reproducible.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import re
import struct
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import text

from app.admin import auth as api_module
from bot.crypto import BLOCK_SIZE, CallbackCipher, decode_aes_key
from bot.identifiers import MAX_ID_LENGTH, MAX_MSG_TYPE_LENGTH
from tests import support
from tests.conftest import Service, make_settings, start_service

SEED = 20260417
CHAT = "wrOgAAAAchat1"
READONLY_TOKEN = "readonly-token-0123456789"
SECRET_KEY = "k" * 43
WEBHOOK_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5bbb"

INJECTIONS = [
    "' OR 1=1 --",
    '" OR ""="',
    "'; DROP TABLE groups; --",
    "1; SELECT pg_sleep(5)",
    "{{7*7}}",
    "${7*7}",
    "#{7*7}",
    "$sender",
    "${sender}",
    "%s%s%s%n",
    "%(sender)s",
    "{0.__class__}",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "../../../etc/passwd",
    "%",
    "_",
    "\\",
    "\x00nul",
    "\ud800lone surrogate",
    "‮right-to-left",
    "赌博 {{7*7}} ' OR 1=1 --",
]


def _random_injection(rng: random.Random) -> str:
    parts = [rng.choice(INJECTIONS) for _ in range(rng.randint(1, 3))]
    parts.append("".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(0, 6))))
    rng.shuffle(parts)
    return "".join(parts)


def payloads(count: int = 6) -> list[str]:
    rng = random.Random(SEED)
    return INJECTIONS + [_random_injection(rng) for _ in range(count)]


# --- callbacks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    path: str
    signer: support.Signer
    key: bytes
    receive_id: bytes
    envelope: Callable[[str], bytes]
    valid: Callable[[str], str]  # a valid plaintext for a message id


APP = Channel(
    "/wecom/callback",
    support.app_signer(),
    decode_aes_key(support.APP_AES_KEY),
    support.CORP_ID.encode(),
    support.app_envelope,
    lambda msgid: support.app_text("你好", msg_id=msgid),
)
AIBOT = Channel(
    "/wecom/aibot",
    support.aibot_signer(),
    decode_aes_key(support.AIBOT_AES_KEY),
    b"",
    support.aibot_envelope,
    lambda msgid: support.aibot_group_text("你好", msgid=msgid),
)
CHANNELS = {"app": APP, "aibot": AIBOT}


def encrypt_raw(key: bytes, plain: bytes) -> str:
    """AES-256-CBC as WeCom does it, over bytes the caller already framed and padded."""
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def frame(
    message: bytes, receive_id: bytes, *, length: int | None = None, pad: bytes | None = None
) -> bytes:
    """random(16) | length | message | receiveid | padding (PKCS#7 to 32 unless `pad`)."""
    body = b"R" * 16 + struct.pack(">I", len(message) if length is None else length)
    body += message + receive_id
    if pad is None:
        size = BLOCK_SIZE - len(body) % BLOCK_SIZE
        pad = bytes([size]) * size
    return body + pad


def padded_to_block(body: bytes, last: int) -> bytes:
    """`body` filled to a multiple of 32 bytes whose last byte is `last` (a crafted pad)."""
    fill = BLOCK_SIZE - len(body) % BLOCK_SIZE or BLOCK_SIZE
    return body + b"\x01" * (fill - 1) + bytes([last])


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]><xml><Encrypt>&lol9;</Encrypt><MsgType>text</MsgType><MsgId>1</MsgId>"
    "<Content>&lol9;</Content></xml>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><Encrypt>&xxe;</Encrypt><MsgType>text</MsgType><MsgId>2</MsgId>"
    "<Content>&xxe;</Content></xml>"
)
PARAMETER_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/x.dtd">'
    " %ext;]><xml><Encrypt>x</Encrypt></xml>"
)
DOCTYPE_ONLY = '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml><Encrypt>x</Encrypt></xml>'
DEEP_XML = "<a>" * 50_000 + "</a>" * 50_000
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"encrypt":' * 50_000 + '"x"' + "}" * 50_000


@dataclass(frozen=True)
class Attack:
    name: str
    query: str
    body: bytes


def _signed(channel: Channel, encrypted: str, **query: Any) -> str:
    return channel.signer.query(encrypted, **query)


def envelope_attacks(channel: Channel) -> list[Attack]:
    """Bodies that are not a valid envelope (each signed over a plausible Encrypt value)."""
    sign = _signed(channel, "x")
    app_bodies = [
        b"",
        b"not xml at all",
        b"<xml>",
        b"<xml></xml>",
        b"<xml><Encrypt></Encrypt></xml>",
        b"<xml><Encrypt>\xff\xfe\xfd</Encrypt></xml>",
        b"\xff\xfe<\x00x\x00m\x00l\x00>",
        b'<?xml version="1.0" encoding="utf-16"?><xml><Encrypt>x</Encrypt></xml>',
        b"<?xml-stylesheet href='http://127.0.0.1:9/x'?><xml><Encrypt>x</Encrypt></xml>",
        BILLION_LAUGHS.encode(),
        EXTERNAL_ENTITY.encode(),
        PARAMETER_ENTITY.encode(),
        DOCTYPE_ONLY.encode(),
        DEEP_XML.encode(),
        b'{"encrypt": "x"}',
    ]
    aibot_bodies = [
        b"",
        b"null",
        b"[]",
        b'"encrypt"',
        b"{}",
        b'{"encrypt": 5}',
        b'{"encrypt": null}',
        b'{"encrypt": ["x"]}',
        b'{"encrypt": ""}',
        b'{"encrypt": "\xff\xfe"}',
        b'{"encrypt": "\\ud800"}',
        b'{"encrypt": NaN}',
        b'{"encrypt": 1e999999}',
        b'{"encrypt": ' + b"9" * 100_000 + b"}",
        DEEP_JSON.encode(),
        DEEP_OBJECT.encode(),
        b"<xml><Encrypt>x</Encrypt></xml>",
        BILLION_LAUGHS.encode(),
    ]
    bodies = app_bodies if channel is APP else aibot_bodies
    return [Attack(f"envelope {i}", sign, body) for i, body in enumerate(bodies)]


def query_attacks(channel: Channel) -> list[Attack]:
    """A valid body under a missing, malformed, stale or wrong query string."""
    encrypted = channel.signer.cipher.encrypt(channel.valid("q-1"))
    body = channel.envelope(encrypted)
    good = _signed(channel, encrypted)
    now = int(time.time())
    queries = [
        "",
        "msg_signature=&timestamp=&nonce=",
        good.replace("msg_signature=", "msg_signature=0"),
        good.replace("msg_signature=", "x="),
        good.replace("&nonce=", "&x="),
        "msg_signature=" + "a" * 5000 + "&" + good,
        _signed(channel, encrypted, timestamp=now - 100_000),
        _signed(channel, encrypted, timestamp=now + 100_000),
        _signed(channel, encrypted).replace(f"timestamp={now}", "timestamp=abc"),
        "msg_signature=x&timestamp=%EF%BC%91%EF%BC%97&nonce=n",  # full-width digits
        "msg_signature=x&timestamp=-1&nonce=n",
        "msg_signature=x&timestamp=99999999999999999999&nonce=n",
        "msg_signature=%ED%A0%80%FF%00&timestamp=1&nonce=%00",
        f"msg_signature=%FF%FE&timestamp={now}&nonce=n",
        f"msg_signature=x&timestamp={now}&nonce=" + "n" * 5000,
        "msg_signature=' OR 1=1 --&timestamp={{7*7}}&nonce=<script>",
        "%%%&&&===",
    ]
    return [Attack(f"query {i}", query, body) for i, query in enumerate(queries)]


def ciphertext_attacks(channel: Channel) -> list[Attack]:
    """Correctly signed envelopes whose Encrypt value must not decrypt to a message."""
    rng = random.Random(SEED)
    other_key = decode_aes_key(support.AIBOT_AES_KEY if channel is APP else support.APP_AES_KEY)
    message = channel.valid("c-1").encode()
    wrong_id = b"wwWRONGcorpid00000" if channel is APP else b"ww0123456789abcdef"
    header = b"R" * 16 + struct.pack(">I", len(message)) + message + channel.receive_id
    values = [
        "!!!!",
        "abc",
        "====",
        base64.b64encode(b"\x00" * 15).decode(),
        base64.b64encode(b"\x00" * 16).decode() + "\n",
        base64.urlsafe_b64encode(bytes(range(250, 256)) * 16).decode(),
        "<![CDATA[x]]>",
        # crafted PKCS#7 pad bytes
        encrypt_raw(channel.key, padded_to_block(header, 0)),
        encrypt_raw(channel.key, padded_to_block(header, 33)),
        encrypt_raw(channel.key, padded_to_block(header, 255)),
        encrypt_raw(channel.key, padded_to_block(header, 4)),  # 4 but the bytes before are 1
        encrypt_raw(channel.key, padded_to_block(header, 16)),  # 16 but only 1 byte is 16
        # framing lies
        encrypt_raw(channel.key, frame(message, channel.receive_id, length=0xFFFFFFFF)),
        encrypt_raw(channel.key, frame(message, channel.receive_id, length=len(message) + 64)),
        encrypt_raw(channel.key, b"R" * 12 + bytes([20]) * 20),  # shorter than the header
        # wrong receiveid, wrong key
        encrypt_raw(channel.key, frame(message, wrong_id)),
        encrypt_raw(channel.key, frame(message, channel.receive_id + b"x")),
        encrypt_raw(other_key, frame(message, channel.receive_id)),
        # invalid UTF-8 in the decrypted plaintext
        encrypt_raw(channel.key, frame(b"\xff\xfe\xc3\x28" + message, channel.receive_id)),
        encrypt_raw(channel.key, frame(b"\xed\xa0\x80", channel.receive_id)),
    ]
    for _ in range(20):  # random ciphertexts, random lengths
        values.append(base64.b64encode(rng.randbytes(16 * rng.randint(1, 16))).decode())
    return [
        Attack(f"ciphertext {i}", _signed(channel, value), channel.envelope(value))
        for i, value in enumerate(values)
    ]


def plaintext_attacks(channel: Channel) -> list[Attack]:
    """Correctly framed, encrypted and signed, but the decrypted message is hostile."""
    if channel is APP:
        messages = [
            BILLION_LAUGHS,
            EXTERNAL_ENTITY,
            PARAMETER_ENTITY,
            DOCTYPE_ONLY,
            DEEP_XML,
            "not xml",
            "<xml><MsgType>text</MsgType><MsgId></MsgId></xml>",
            "<xml><MsgType>text</MsgType><MsgId>" + "9" * 129 + "</MsgId></xml>",
        ]
    else:
        messages = [
            DEEP_JSON,
            DEEP_OBJECT,
            "[]",
            "null",
            "not json",
            '{"msgtype": "text", "msgid": ""}',
            '{"msgtype": "text", "msgid": 5}',
            json.dumps({"msgtype": "text", "msgid": "m" * 129}),
            BILLION_LAUGHS,
            # JSON escapes that decode to what the database cannot store
            json.dumps(
                json.loads(support.aibot_group_text("hi", sender="zhang\x00san", msgid="nul-1"))
            ),
            json.dumps(
                json.loads(support.aibot_group_text("hi", chat_id="wr\x00chat", msgid="nul-2"))
            ),
            json.dumps(json.loads(support.aibot_group_text("\x00", msgid="nul-3"))),
            json.dumps(
                json.loads(support.aibot_group_text("hi", sender="\ud800", msgid="surrogate-1"))
            ),
            json.dumps(json.loads(support.aibot_group_text("\udfff", msgid="surrogate-2"))),
        ]
    attacks = []
    for i, message in enumerate(messages):
        value = encrypt_raw(channel.key, frame(message.encode(), channel.receive_id))
        attacks.append(Attack(f"plaintext {i}", _signed(channel, value), channel.envelope(value)))
    return attacks


def unsigned_fuzz(channel: Channel) -> list[Attack]:
    """Random edits of a valid Encrypt value, presented under the original signature."""
    rng = random.Random(SEED)
    original = channel.signer.cipher.encrypt(channel.valid("f-1"))
    sign = _signed(channel, original)
    attacks = []
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/=-_ \n%<&"
    while len(attacks) < 25:
        chars = list(original)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(chars))
            edit = rng.choice(("replace", "insert", "delete"))
            if edit == "replace":
                chars[at] = rng.choice(alphabet)
            elif edit == "insert":
                chars.insert(at, rng.choice(alphabet))
            elif len(chars) > 1:
                del chars[at]
        mutated = "".join(chars)
        if mutated.strip() == original:
            continue
        body = (
            support.app_envelope(mutated)
            if channel is APP
            else json.dumps({"encrypt": mutated}).encode()
        )
        attacks.append(Attack(f"fuzz {len(attacks)}", sign, body))
    for i in range(10):  # random bytes as the whole body
        attacks.append(Attack(f"bytes {i}", sign, rng.randbytes(rng.randint(0, 2000))))
    return attacks


async def inbox_count(service: Service) -> int:
    async with service.runtime.sessions() as session:
        count = (await session.execute(text("SELECT count(*) FROM inbox_events"))).scalar_one()
    return int(count)


def assert_refused(response: httpx.Response, name: str) -> None:
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith(("text/plain", "application/json")), (name, content_type)
    assert "<" not in response.text and "{{" not in response.text, (name, response.text)


@pytest.mark.parametrize("which", ["app", "aibot"])
async def test_hostile_callbacks_are_refused_store_nothing_and_leave_the_service_working(
    service: Service, which: str
) -> None:
    channel = CHANNELS[which]
    attacks = (
        envelope_attacks(channel)
        + query_attacks(channel)
        + ciphertext_attacks(channel)
        + plaintext_attacks(channel)
        + unsigned_fuzz(channel)
    )
    for attack in attacks:
        response = await service.http.post(f"{channel.path}?{attack.query}", content=attack.body)
        assert_refused(response, attack.name)

    # URL verification with the same hostile values as echostr.
    for attack in ciphertext_attacks(channel)[:20] + unsigned_fuzz(channel)[:10]:
        echostr = attack.body.decode("latin-1")
        stamp = str(int(time.time()))
        signature = channel.signer.cipher.sign(timestamp=stamp, nonce="n", encrypted=echostr)
        query = (
            f"msg_signature={signature}&timestamp={stamp}&nonce=n&echostr={quote(echostr, safe='')}"
        )
        response = await service.http.get(f"{channel.path}?{query}")
        assert_refused(response, f"GET {attack.name}")
    assert await inbox_count(service) == 0

    # Still working: a valid delivery is accepted and stored once.
    encrypted = channel.signer.cipher.encrypt(channel.valid("after-the-attack"))
    response = await service.http.post(
        f"{channel.path}?{_signed(channel, encrypted)}", content=channel.envelope(encrypted)
    )
    assert response.status_code == 200, response.text
    assert await inbox_count(service) == 1
    echo = channel.signer.cipher.encrypt("echo-42")
    response = await service.http.get(f"{channel.path}?{_signed(channel, echo, echostr=True)}")
    assert response.status_code == 200 and response.text == "echo-42"


@pytest.mark.parametrize("which", ["app", "aibot"])
async def test_huge_callback_bodies_are_refused_before_parsing(
    service: Service, which: str
) -> None:
    channel = CHANNELS[which]
    limit = service.runtime.settings.callback_max_body_bytes
    encrypted = channel.signer.cipher.encrypt(channel.valid("huge-1"))
    query = _signed(channel, encrypted)
    huge = channel.envelope(encrypted) + b" " * limit
    response = await service.http.post(f"{channel.path}?{query}", content=huge)
    assert response.status_code == 413, response.text

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(limit // 65_536 + 2):
            yield b"<" * 65_536

    response = await service.http.post(f"{channel.path}?{query}", content=chunks())
    assert response.status_code == 413, response.text
    assert_refused(response, "huge")
    assert await inbox_count(service) == 0


# --- REST API --------------------------------------------------------------------------------


@pytest.fixture
async def rest_service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    settings = make_settings(
        database_url, tmp_path, readonly_api_token=READONLY_TOKEN, secret_key=SECRET_KEY
    )
    async for running in start_service(settings, support.FakeWeCom()):
        yield running


def pct(value: str) -> str:
    """Percent-encoded as UTF-8, lone surrogates included (as a hostile client may send)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _headers(token: str = support.ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_safe(response: httpx.Response, what: str) -> None:
    """No 5xx, and a body that a browser would not run."""
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    content_type = response.headers.get("content-type", "")
    if response.status_code == 204:
        return
    if response.status_code >= 400:
        assert content_type.startswith("application/json"), (what, content_type)
        response.json()
    else:
        assert content_type.startswith(("application/json", "text/plain", "text/csv")), (
            what,
            content_type,
        )


async def _json_call(service: Service, method: str, path: str, body: Any) -> httpx.Response:
    # ensure_ascii keeps lone surrogates as \ud800 escapes, as a hostile client may send them
    content = json.dumps(body).encode()
    headers = {**_headers(), "Content-Type": "application/json"}
    return await service.http.request(method, path, content=content, headers=headers)


async def test_injection_strings_in_every_rest_field_are_data(rest_service: Service) -> None:
    service = rest_service
    # Something to act on: a group with a flagged message (a moderation log row).
    await service.post_aibot(support.aibot_group_text("赌博", msgid="seed-1", chat_id=CHAT))
    await service.settle()
    logs = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert logs, "the seed message was not flagged"
    log_id = logs[0]["id"]
    response = await _json_call(service, "POST", "/api/v1/lexicon/words", {"word": "普通词"})
    assert response.status_code == 201, response.text

    values = payloads()
    queries: dict[str, list[str]] = {
        "/api/v1/moderation-logs": ["chat_id", "user_id", "since", "until", "cursor", "limit"],
        "/api/v1/moderation-logs/export.csv": ["since", "until", "chat_id"],
        "/api/v1/lexicon/words": ["q", "category", "severity", "scope", "cursor", "limit"],
        "/api/v1/lexicon/allow": ["q", "scope", "cursor", "limit"],
        "/api/v1/groups": ["cursor", "limit"],
        f"/api/v1/groups/{CHAT}/members": ["cursor", "limit"],
        "/api/v1/stats": ["days", "chat_id"],
        "/api/v1/audit": ["action", "target", "channel", "cursor", "limit"],
        "/api/v1/outbox": ["status", "kind", "cursor", "limit"],
    }
    for path, names in queries.items():
        for name in names:
            for value in values:
                response = await service.http.get(f"{path}?{name}={pct(value)}", headers=_headers())
                assert_safe(response, f"GET {path}?{name}={value!r}")

    # LIKE wildcards and quotes are matched literally: none of the words contains them.
    for value in ("%", "_", "' OR 1=1 --", "\\"):
        response = await service.api("/api/v1/lexicon/words", q=value)
        assert response.status_code == 200 and response.json()["items"] == [], value

    for value in values:
        segment = pct(value)
        for method, path in [
            ("GET", f"/api/v1/moderation-logs/{segment}"),
            ("DELETE", f"/api/v1/lexicon/words/{segment}"),
            ("DELETE", f"/api/v1/lexicon/allow/{segment}"),
            ("GET", f"/api/v1/groups/{segment}"),
            ("GET", f"/api/v1/groups/{segment}/members"),
            ("GET", f"/api/v1/groups/{segment}/members/{segment}/strikes"),
            ("GET", f"/api/v1/groups/{CHAT}/members/{segment}/strikes"),
        ]:
            response = await service.http.request(method, path, headers=_headers())
            assert_safe(response, f"{method} {path}")
        for method, path, body in [
            ("PATCH", f"/api/v1/groups/{segment}", {"name": "x"}),
            ("POST", f"/api/v1/groups/{segment}/members/{segment}/pardon", {"by": "api"}),
            ("POST", f"/api/v1/moderation-logs/{segment}/review", {"verdict": "confirm"}),
            ("POST", f"/api/v1/outbox/{segment}/retry", {}),
        ]:
            assert_safe(await _json_call(service, method, path, body), f"{method} {path}")

    bodies: list[tuple[str, str, Callable[[str], Any]]] = [
        ("POST", "/api/v1/lexicon/words", lambda v: {"word": v}),
        ("POST", "/api/v1/lexicon/words", lambda v: {"word": "w1", "category": v}),
        ("POST", "/api/v1/lexicon/words", lambda v: {"word": "w2", "severity": v}),
        ("POST", "/api/v1/lexicon/words", lambda v: {"word": "w3", "mode": v}),
        ("POST", "/api/v1/lexicon/words", lambda v: {"word": "w4", "scope": v}),
        ("POST", "/api/v1/lexicon/words/bulk", lambda v: {"text": v}),
        ("POST", "/api/v1/lexicon/words/bulk", lambda v: {"text": f"{v}\t{v}\t{v}\n"}),
        ("POST", "/api/v1/lexicon/words/bulk", lambda v: {"words": [{"word": v, "scope": v}]}),
        ("POST", "/api/v1/lexicon/allow", lambda v: {"phrase": v}),
        ("POST", "/api/v1/lexicon/allow", lambda v: {"phrase": "p1", "scope": v}),
        ("POST", "/api/v1/lexicon/allow/bulk", lambda v: {"text": v}),
        ("POST", "/api/v1/lexicon/allow/bulk", lambda v: {"phrases": [{"phrase": v}]}),
        ("POST", "/api/v1/lexicon/test", lambda v: {"text": v}),
        ("POST", "/api/v1/lexicon/test", lambda v: {"text": "赌博", "chat_id": v}),
        ("PATCH", f"/api/v1/groups/{CHAT}", lambda v: {"name": v}),
        ("PATCH", f"/api/v1/groups/{CHAT}", lambda v: {"rules_text": v}),
        ("PATCH", f"/api/v1/groups/{CHAT}", lambda v: {"welcome_template": v}),
        ("PATCH", f"/api/v1/groups/{CHAT}", lambda v: {"moderators": [v]}),
        ("PATCH", f"/api/v1/groups/{CHAT}", lambda v: {"webhook_key": v}),
        ("PATCH", f"/api/v1/groups/{CHAT}", lambda v: {"kind": v}),
        ("PATCH", f"/api/v1/groups/{CHAT}", lambda v: {"policy": {v: v}}),
        ("PATCH", f"/api/v1/groups/{CHAT}", lambda v: {"policy": {"mode": v}}),
        ("PATCH", f"/api/v1/groups/{CHAT}", lambda v: {"name": "n", "by": v}),
        ("POST", f"/api/v1/groups/{CHAT}/members/zhangsan/pardon", lambda v: {"by": v}),
        ("POST", f"/api/v1/moderation-logs/{log_id}/review", lambda v: {"verdict": v}),
        (
            "POST",
            f"/api/v1/moderation-logs/{log_id}/review",
            lambda v: {"verdict": "confirm", "by": v, "note": v},
        ),
    ]
    for method, path, build in bodies:
        for value in values:
            response = await _json_call(service, method, path, build(value))
            assert_safe(response, f"{method} {path} {build(value)!r}")

    # Templates are stored and shown as written, never evaluated.
    for value in ("{{7*7}}", "${7*7}", "$sender %s {0}"):
        response = await _json_call(
            service, "PATCH", f"/api/v1/groups/{CHAT}", {"welcome_template": value}
        )
        if response.status_code == 200:
            assert response.json()["welcome_template"] == value

    # Hostile text through the whole pipeline: callbacks carry it, the API shows it as data.
    for i, value in enumerate(payloads(2)):
        clean = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")  # refused
        plaintext = support.aibot_group_text(
            f"赌博 {clean}", msgid=f"hostile-{i}", sender=clean[:60] or "x", chat_id=clean[:60]
        )
        response = await service.post_aibot(plaintext)
        assert response.status_code == 200, (value, response.text)
    await service.settle()
    for value in payloads(2):
        response = await service.http.get(
            f"/api/v1/moderation-logs?user_id={pct(value[:60])}", headers=_headers()
        )
        assert_safe(response, f"logs of {value!r}")

    # Still working, tables intact.
    for path in ("/api/v1/groups", "/api/v1/moderation-logs", "/api/v1/lexicon/words"):
        response = await service.api(path)
        assert response.status_code == 200, (path, response.text)
    response = await service.post_aibot(support.aibot_group_text("你好", msgid="after-rest"))
    assert response.status_code == 200


async def test_wrong_methods_content_types_and_bodies_are_4xx(rest_service: Service) -> None:
    service = rest_service
    cases: list[tuple[str, str, bytes, str]] = [
        ("POST", "/api/v1/lexicon/words", b"", "application/json"),
        ("POST", "/api/v1/lexicon/words", b"not json", "application/json"),
        ("POST", "/api/v1/lexicon/words", b"\xff\xfe{", "application/json"),
        ("POST", "/api/v1/lexicon/words", DEEP_JSON.encode(), "application/json"),
        ("POST", "/api/v1/lexicon/words", b'{"word": "x"}', "text/plain"),
        ("POST", "/api/v1/lexicon/words", b"<xml/>", "application/xml"),
        ("POST", "/api/v1/lexicon/words", b'{"word": {"$ne": 1}}', "application/json"),
        ("POST", "/api/v1/lexicon/words", b'{"word": ' + b"1" * 5000 + b"}", "application/json"),
        ("PATCH", f"/api/v1/groups/{CHAT}", b"[]", "application/json"),
        ("PATCH", f"/api/v1/groups/{CHAT}", DEEP_OBJECT.encode(), "application/json"),
        (
            "PATCH",
            f"/api/v1/groups/{CHAT}",
            json.dumps({"policy": json.loads("[" * 200 + "]" * 200)}).encode(),
            "application/json",
        ),
        ("POST", "/api/v1/lexicon/test", b'{"text": "' + b"a" * 20_000 + b'"}', "application/json"),
        ("PUT", "/api/v1/groups", b"{}", "application/json"),
    ]
    for method, path, body, content_type in cases:
        headers = {**_headers(), "Content-Type": content_type}
        response = await service.http.request(method, path, content=body, headers=headers)
        assert_safe(response, f"{method} {path} {body[:40]!r}")
        assert response.status_code >= 400, (method, path, response.text)


# --- failed auth is slowed down --------------------------------------------------------------


async def test_repeated_wrong_tokens_are_slowed_down_and_right_ones_are_not(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(api_module.asyncio, "sleep", fake_sleep)
    throttle = api_module.FailedAuthThrottle()
    assert throttle.failed("1.2.3.4") == 0.0

    for token in ["wrong"] * 10:
        response = await service.http.get("/api/v1/groups", headers=_headers(token))
        assert response.status_code == 401
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0] and waits[4:] == [5.0]  # 5 free, then doubling
    waits.clear()
    response = await service.http.get("/api/v1/groups", headers=_headers())
    assert response.status_code == 200 and waits == []  # a right token never waits
    response = await service.http.get("/api/v1/groups", headers={"Authorization": "Basic x"})
    assert response.status_code == 401 and waits == []  # and cleared the count


def test_failed_auth_throttle_forgets_old_failures_and_bounds_its_memory() -> None:
    now = [0.0]
    throttle = api_module.FailedAuthThrottle(max_addresses=3, clock=lambda: now[0])
    for _ in range(5):
        assert throttle.failed("a") == 0.0
    assert throttle.failed("a") == 0.5
    now[0] = 61.0 + 60.0  # a minute without failures: free again
    assert throttle.failed("a") == 0.0
    for address in ("b", "c", "d", "e"):
        throttle.failed(address)
    assert len(throttle._failures) == 3


# --- secrets never reach the log -------------------------------------------------------------


async def test_no_secret_appears_in_the_log(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wecom = support.FakeWeCom()
    wecom.token = "ACCESS-TOKEN-must-not-be-logged"
    settings = make_settings(
        database_url,
        tmp_path,
        readonly_api_token=READONLY_TOKEN,
        secret_key=SECRET_KEY,
        policy_path=str(_lenient_policy(tmp_path)),
    )
    async for service in start_service(settings, wecom):
        # REST: right and wrong tokens, a webhook key written, errors.
        for token in (support.ADMIN_TOKEN, READONLY_TOKEN, support.ADMIN_TOKEN + "x", "x"):
            await service.http.get("/api/v1/groups", headers=_headers(token))
        await service.post_aibot(support.aibot_group_text("你好", msgid="s-0", chat_id=CHAT))
        await service.settle()
        response = await _json_call(
            service, "PATCH", f"/api/v1/groups/{CHAT}", {"webhook_key": WEBHOOK_KEY}
        )
        assert response.status_code == 200, response.text
        await _json_call(service, "PATCH", f"/api/v1/groups/{CHAT}", {"webhook_key": 5})
        await service.http.get("/api/v1/moderation-logs/0", headers=_headers())
        # Callbacks: valid, refused, echo.
        for channel in (APP, AIBOT):
            attacks = ciphertext_attacks(channel)[:8] + query_attacks(channel)[:4]
            for attack in attacks:
                await service.http.post(f"{channel.path}?{attack.query}", content=attack.body)
        await service.post_app(support.app_text("你好", msg_id="s-app"))
        # Outbox: sends that succeed, and sends WeCom refuses.
        wecom.scripted["/cgi-bin/webhook/send"] = [(200, {"errcode": 93000, "errmsg": "bad"})]
        wecom.scripted["/cgi-bin/message/send"] = [
            (200, {"errcode": 40014, "errmsg": "invalid access_token"}),
            (500, {"errcode": -1, "errmsg": "busy"}),
        ]
        for i in range(3):
            await service.post_aibot(
                support.aibot_group_text(f"赌博 {i}", msgid=f"s-{i + 1}", chat_id=CHAT)
            )
        await service.settle()
        assert wecom.requests, "nothing was sent: the scenario did not exercise the outbox"

    secrets = {
        "app secret": support.APP_SECRET,
        "app token": support.APP_TOKEN,
        "app AES key": support.APP_AES_KEY,
        "smart bot token": support.AIBOT_TOKEN,
        "smart bot AES key": support.AIBOT_AES_KEY,
        "admin token": support.ADMIN_TOKEN,
        "read-only token": READONLY_TOKEN,
        "SECRET_KEY": SECRET_KEY,
        "webhook key": WEBHOOK_KEY,
        "access token": wecom.token,
    }
    logged = caplog.text + "\n".join(
        f"{record.getMessage()} {record.args!r} {record.__dict__!r}" for record in caplog.records
    )
    assert len(caplog.records) > 10
    leaked = [name for name, secret in secrets.items() if secret in logged]
    assert leaked == [], leaked


def _lenient_policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    return path


def test_the_crafted_frames_are_right() -> None:
    """The attack builders themselves: an honest frame decrypts, so refusals mean something."""
    for channel in (APP, AIBOT):
        value = encrypt_raw(channel.key, frame(b"hello", channel.receive_id))
        cipher = CallbackCipher(
            token=channel.signer.token,
            encoding_aes_key=support.APP_AES_KEY if channel is APP else support.AIBOT_AES_KEY,
            receive_id=channel.receive_id.decode(),
        )
        assert cipher.decrypt(value) == "hello"


# --- identifiers longer than their columns (issue 19, item 1) --------------------------------

LONG = "x" * (MAX_ID_LENGTH + 1)
FULL = "y" * MAX_ID_LENGTH


def _aibot_plain(**fields: Any) -> str:
    obj: dict[str, Any] = {
        "msgid": "id-ok",
        "aibotid": "AIBOTID",
        "chatid": CHAT,
        "chattype": "group",
        "from": {"userid": "zhangsan"},
        "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=x",
        "msgtype": "text",
        "text": {"content": "@审核助手 今晚一起去赌博"},
    }
    obj.update(fields)
    return json.dumps(obj, ensure_ascii=False)


OVERLONG_CALLBACKS: list[tuple[str, str, str]] = [
    ("aibot", "chatid", _aibot_plain(msgid="long-chat", chatid=LONG)),
    ("aibot", "from.userid", _aibot_plain(msgid="long-user", **{"from": {"userid": LONG}})),
    ("aibot", "msgid", _aibot_plain(msgid=LONG)),
    ("aibot", "chatid newline", _aibot_plain(msgid="nl-chat", chatid="wr1\nERROR forged")),
    ("aibot", "userid newline", _aibot_plain(msgid="nl-user", **{"from": {"userid": "a\r\nb"}})),
    ("aibot", "event msgid", _aibot_plain(msgid=LONG, msgtype="event", event={"eventtype": "x"})),
    ("app", "FromUserName", support.app_text("/help", msg_id="77", sender=LONG)),
    ("app", "MsgId", support.app_text("/help", msg_id="7" * (MAX_ID_LENGTH + 1))),
    ("app", "ChatId", support.external_chat_change(["wmA"], chat_id=LONG)),
    ("app", "MemChangeList/Item", support.external_chat_change(["wmA", LONG])),
    ("app", "ChatId newline", support.external_chat_change(["wmA"], chat_id="wr\u2028x")),
]


@pytest.mark.parametrize(
    ("which", "plaintext"),
    [(which, plain) for which, _name, plain in OVERLONG_CALLBACKS],
    ids=[f"{which}-{name}" for which, name, _plain in OVERLONG_CALLBACKS],
)
async def test_an_identifier_longer_than_its_column_is_refused_at_the_callback_not_lost_later(
    service: Service, which: str, plaintext: str
) -> None:
    """On PostgreSQL a chat id or userid over varchar(128) was answered 200, stored, and then
    failed three times in the worker (StringDataRightTruncation): an accepted message lost.
    Such an id is refused with a 400 before anything is stored."""
    post = service.post_aibot if which == "aibot" else service.post_app
    response = await post(plaintext)
    assert response.status_code == 400, response.text
    assert_refused(response, which)
    assert await inbox_count(service) == 0


async def test_identifiers_as_long_as_their_columns_are_stored_whole_and_judged(
    service: Service,
) -> None:
    """The limit is the column's width: ids of exactly 128 characters go all the way through
    (stored, judged, logged, warned) on both databases."""
    chat, user, msgid = "c" * MAX_ID_LENGTH, "u" * MAX_ID_LENGTH, "m" * MAX_ID_LENGTH
    response = await service.post_aibot(
        support.aibot_group_text("今晚一起去赌博", msgid=msgid, sender=user, chat_id=chat)
    )
    assert response.status_code == 200, response.text
    members = [FULL, "wmB"]
    response = await service.post_app(support.external_chat_change(members, chat_id="w" * 128))
    assert response.status_code == 200, response.text
    await service.settle()
    async with service.runtime.sessions() as session:
        statuses = (
            await session.execute(text("SELECT status, last_error FROM inbox_events ORDER BY id"))
        ).all()
        logged = (
            await session.execute(text("SELECT chat_id, user_id, message_id FROM moderation_logs"))
        ).all()
        joined = (
            await session.execute(
                text("SELECT user_id FROM group_members WHERE chat_id = :chat ORDER BY user_id"),
                {"chat": "w" * 128},
            )
        ).all()
    assert [tuple(row) for row in statuses] == [("done", None), ("done", None)]
    assert [tuple(row) for row in logged] == [(chat, user, msgid)]
    assert sorted(row[0] for row in joined) == sorted(members)
    assert service.wecom.calls("/cgi-bin/aibot/response"), "the warning was not sent"


async def test_archive_records_with_overlong_ids_are_recorded_unreadable_and_long_types_judged(
    database_url: str, tmp_path: Path
) -> None:
    """Chat-archive records reach the same columns: a roomid, sender or msgid over 128
    characters is reported as a bad record (not stored, so not lost later), as is a msgtype
    over `MAX_MSG_TYPE_LENGTH`; a real type longer than message_meta's 16 characters
    (`meeting_voice_call`) is judged."""
    from app.db import create_engine_for, database_urls, session_factory
    from app.ingest.archive_import import import_records
    from tests.ingest.test_archive_service import record
    from tests.ingest.test_archive_service import text as archive_text

    records = [
        archive_text("a-long-room", "今晚一起去赌博", room=LONG),
        archive_text("a-long-sender", "今晚一起去赌博", sender=LONG),
        archive_text("m" * (MAX_ID_LENGTH + 1), "今晚一起去赌博"),
        record("a-long-type", "t" * (MAX_MSG_TYPE_LENGTH + 1), {}),
        archive_text("a-full", "今晚一起去赌博", room=FULL, sender="u" * MAX_ID_LENGTH),
        record("a-meeting", "meeting_voice_call", {"endtime": 1}, room=FULL),
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    engine = create_engine_for(database_urls(database_url))
    try:
        summary = await import_records(
            make_settings(database_url, tmp_path),
            session_factory(engine),
            path,
            shadow=True,
            report=io.StringIO(),
        )
        async with session_factory(engine)() as session:
            statuses = (await session.execute(text("SELECT status FROM inbox_events"))).all()
    finally:
        await engine.dispose()
    assert [bad.number for bad in summary.bad_lines] == [1, 2, 3, 4]
    assert summary.failed == 0
    assert sorted(row[0] for row in statuses) == ["done", "done"]
    assert summary.judged_by_type == {"text": 1, "meeting_voice_call": 1}
    assert summary.flagged == 1


# Every bounded text column, and what bounds the values written to it: the limit an entry point
# enforces (ids from WeCom: `bot.identifiers`; REST fields: their schema; cut: sliced to the
# width where written) or the service's own vocabulary (the longest value it writes).
_ID = MAX_ID_LENGTH
COLUMN_LIMITS: dict[str, tuple[int, str]] = {
    "archive_cursors.corp_id": (64, "WECOM_CORP_ID (WeCom corp ids are 18 characters)"),
    "archive_leases.corp_id": (64, "WECOM_CORP_ID"),
    "archive_leases.holder": (128, "own: host:pid:random, cut"),
    "archive_record_failures.corp_id": (64, "WECOM_CORP_ID"),
    "archive_record_failures.msgid": (200, "cut to 200 where written"),
    "archive_record_failures.error": (64, "own: error class names, cut"),
    "audit_entries.actor": (200, "own prefix + REST `by` (128) or a userid (128)"),
    "audit_entries.channel": (8, "own: rest | chat | cli"),
    "audit_entries.action": (64, "own: group.update, member.pardon, ..."),
    "audit_entries.target": (300, "own prefix + chat id (128) + userid (128)"),
    "group_members.chat_id": (_ID, "bot.identifiers"),
    "group_members.user_id": (_ID, "bot.identifiers"),
    "group_members.name": (256, "groupchat/get names, cut"),
    "groups.chat_id": (_ID, "bot.identifiers; REST path max_length=128"),
    "groups.name": (256, "REST schema / groupchat/get, cut"),
    "groups.owner": (_ID, "groupchat/get owner, cut"),
    "groups.kind": (16, "own: customer | internal | app_created | unknown"),
    "groups.member_version": (64, "cut"),
    "groups.welcome_template_id": (128, "cut"),
    "groups.welcome_template_hash": (64, "own: sha256 hex"),
    "inbox_events.dedupe_key": (200, "own prefix (<= 14) + msgid (128) or sha256 hex"),
    "inbox_events.source": (16, "own: app | aibot | archive"),
    "inbox_events.kind": (64, "own event kinds"),
    "inbox_events.chat_id": (_ID, "bot.identifiers"),
    "inbox_events.sender": (_ID, "bot.identifiers"),
    "inbox_events.status": (16, "own"),
    "lexicon_allow.phrase": (256, "lexicon_service validation"),
    "lexicon_allow.folded": (256, "lexicon_service validation"),
    "lexicon_allow.scope": (_ID, "a chat id"),
    "lexicon_allow.added_by": (128, "REST/CLI `by`"),
    "lexicon_allow.source": (1024, "file:<path>, cut"),
    "lexicon_imports.kind": (16, "own"),
    "lexicon_imports.origin": (1024, "file:<path>, cut"),
    "lexicon_imports.sha256": (64, "own"),
    "lexicon_imports.imported_by": (128, "CLI `--by`"),
    "lexicon_words.word": (256, "lexicon_service validation"),
    "lexicon_words.folded": (256, "lexicon_service validation"),
    "lexicon_words.category": (16, "own enum"),
    "lexicon_words.severity": (16, "own enum"),
    "lexicon_words.mode": (16, "own enum"),
    "lexicon_words.scope": (_ID, "a chat id"),
    "lexicon_words.added_by": (128, "REST/CLI `by`"),
    "lexicon_words.source": (1024, "file:<path>, cut"),
    "member_reports.chat_id": (_ID, "bot.identifiers"),
    "member_reports.reporter": (_ID, "bot.identifiers"),
    "member_reports.target": (_ID, "a known member (<= 128) or a userid-like token (<= 64)"),
    "message_copies.chat_id": (_ID, "bot.identifiers"),
    "message_copies.sender": (_ID, "bot.identifiers"),
    "message_copies.text_hash": (32, "own: app.judging.cross_channel.copy_fingerprint"),
    "message_copies.source": (16, "own: aibot | archive"),
    "message_meta.chat_id": (_ID, "bot.identifiers"),
    "message_meta.sender": (_ID, "bot.identifiers"),
    "message_meta.msg_type": (16, "cut to 16 where written (activity_repo.row)"),
    "message_meta.short_text": (8, "cut to 8 where written (activity_repo.row); at most 2 folded"),
    "message_meta.text_hash": (32, "own: moderation.flood.text_fingerprint"),
    "moderation_logs.source": (16, "own"),
    "moderation_logs.chat_id": (_ID, "bot.identifiers"),
    "moderation_logs.user_id": (_ID, "bot.identifiers"),
    "moderation_logs.message_id": (_ID, "bot.identifiers (msgid)"),
    "moderation_logs.verdict": (16, "own enum"),
    "moderation_logs.mode": (16, "own enum"),
    "moderation_logs.step": (16, "own enum"),
    "moderation_logs.review": (16, "own enum"),
    "moderation_logs.reviewed_by": (128, "REST `by` / a userid"),
    "outbox_actions.idempotency_key": (200, "own: log:<id>:warn, inbox:<id>:reply, ..."),
    "outbox_actions.kind": (32, "own"),
    "outbox_actions.status": (16, "own"),
    "strikes.chat_id": (_ID, "bot.identifiers"),
    "strikes.user_id": (_ID, "bot.identifiers"),
    "strikes.rule": (64, "own rule names"),
    "strikes.pardoned_by": (128, "REST `by` / a userid"),
    "join_screenings.chat_id": (_ID, "bot.identifiers; cut to 128 (screenings_repo.request)"),
    "join_screenings.user_id": (_ID, "bot.identifiers; cut to 128 (screenings_repo.request)"),
    "join_screenings.source": (16, "own: join | sync | command | api"),
    "join_screenings.requested_by": (128, "REST `by` / a userid; cut to 128"),
    "join_screenings.outcome": (16, "own: clean | flagged | skipped"),
    "contact_profiles.external_userid": (_ID, "a member id; cut to 128 (save_contact)"),
    "contact_profiles.name": (256, "WeCom's answer, cut to 256 (save_contact)"),
    "health_days.chat_id": (_ID, "bot.identifiers, as the judged message's"),
    "health_groups.chat_id": (_ID, "bot.identifiers, as the judged message's"),
    "health_member_days.chat_id": (_ID, "bot.identifiers, as the judged message's"),
    "health_member_days.user_id": (_ID, "bot.identifiers, as the judged message's"),
    "health_refresh.holder": (128, "own: host:pid:random, cut"),
    "health_snapshots.chat_id": (_ID, "groups.chat_id"),
    "health_snapshots.grade": (16, "own: healthy | watch | at_risk | dead | ungraded"),
    "health_snapshots.name": (256, "groups.name"),
    "contact_profiles.corp_name": (256, "WeCom's answer, cut to 256 (save_contact)"),
    "sandbox_posts.chat_id": (_ID, "own: wrSandbox-<kind>-<12 hex> (app.sandbox.live)"),
    "sandbox_posts.kind": (32, "own: an outbox kind, member, join"),
    "sandbox_posts.where": (16, "own: member | join | group | moderators | removal | other"),
    "sandbox_posts.sender": (_ID, "a member of the sandbox group (the form checks it, <= 128)"),
    "sandbox_posts.message_id": (200, "own: sandbox-<16 hex>"),
}


def test_every_bounded_text_column_has_a_limit_no_wider_than_itself() -> None:
    """Each varchar(n) column is listed with what bounds its values, at most n: a new column,
    or a narrower one, fails here until someone decides where its values are limited."""
    from sqlalchemy import String

    from app.models import Base

    widths = {
        f"{table.name}.{column.name}": column.type.length
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, String) and column.type.length
    }
    assert sorted(widths) == sorted(COLUMN_LIMITS)
    too_wide = {
        name: (limit, widths[name])
        for name, (limit, _why) in COLUMN_LIMITS.items()
        if limit > widths[name]
    }
    assert too_wide == {}


# --- the log: no forged lines, no token from a query string (issue 19, items 3 and 4) -------

_LINE_START = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ |  ")
FORGED = "x\n2026-01-01 00:00:00,000 CRITICAL app.main: forged\r\n\x1b[31mred\u2028\u2029\x85end"


def _format_lines(formatter: logging.Formatter, record: logging.LogRecord) -> list[str]:
    return formatter.format(record).split("\n")


def test_text_log_lines_cannot_be_forged_by_what_a_message_holds() -> None:
    """A chat id or userid holding a newline wrote whole fake ERROR/CRITICAL lines in the text
    format: every control character and line separator is now an escape, and a traceback's
    lines (whose last one holds the exception's message) are indented."""
    from app.log_format import JsonFormatter, TextFormatter

    try:
        raise ValueError(FORGED)
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "app.judging.processing",
        logging.INFO,
        __file__,
        1,
        "chat %s from %s",
        (FORGED, FORGED),
        exc_info,
    )
    lines = _format_lines(TextFormatter(), record)
    assert len(lines) > 2  # the message, then the traceback
    assert all(_LINE_START.match(line) for line in lines), lines
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert "\\n2026-01-01 00:00:00,000 CRITICAL" in lines[0]
    assert all(ch not in "".join(lines) for ch in "\r\x1b\u2028\u2029\x85")
    (line,) = JsonFormatter().format(record).splitlines()
    assert json.loads(line)["message"] == f"chat {FORGED} from {FORGED}"


async def test_a_callback_with_a_newline_in_an_id_writes_no_forged_line(
    database_url: str, tmp_path: Path
) -> None:
    """The tester's case end to end: signed callbacks whose chat id and userid hold a forged
    line, and one whose msgid does, written in the default text format."""
    from app.log_format import LogContextFilter, TextFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    handler.addFilter(LogContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        async for service in start_service(
            make_settings(database_url, tmp_path), support.FakeWeCom()
        ):
            for plain in (
                _aibot_plain(msgid="f-1", chatid=FORGED),
                _aibot_plain(msgid="f-2", **{"from": {"userid": FORGED}}),
                _aibot_plain(msgid=FORGED),
                support.app_text("/help", msg_id="88", sender=FORGED),
            ):
                post = service.post_app if plain.startswith("<xml>") else service.post_aibot
                assert (await post(plain)).status_code == 400
            await service.settle()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert any("refused" in line for line in lines)
    assert all(_LINE_START.match(line) for line in lines), [
        line for line in lines if not _LINE_START.match(line)
    ]
    assert "CRITICAL app.main: forged" not in "\n".join(
        line for line in lines if not line.startswith("20") or " CRITICAL " in line
    )


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_token_in_the_query_string_is_refused_and_kept_out_of_the_access_log(
    tmp_path: Path, log_format: str
) -> None:
    """`GET /api/v1/stats?access_token=<token>` was refused with 401 but uvicorn's access line
    wrote the query verbatim. Values of query parameters the service does not read are written
    as `***`, and every configured secret is masked wherever it appears."""
    from tests.processes import ServiceProcess

    process = ServiceProcess.create(
        tmp_path,
        {
            "database_url": f"sqlite:///{tmp_path / 'serve.db'}",
            "log_format": log_format,
            "admin_api_token": support.ADMIN_TOKEN,
            "readonly_api_token": READONLY_TOKEN,
        },
    )
    process.start()
    try:
        process.wait_ready()
        targets = [
            f"/api/v1/stats?{name}={quote(token)}&days=7"
            for token in (support.ADMIN_TOKEN, READONLY_TOKEN)
            for name in ("access_token", "token", "api_key", "bearer", "Authorization")
        ] + [f"/api/v1/stats?{support.ADMIN_TOKEN}", f"/healthz?t={support.ADMIN_TOKEN}"]
        for target in targets:
            response = httpx.get(process.base_url + target, timeout=10)
            assert response.status_code in (200, 401), (target, response.status_code)
            assert (response.status_code == 200) == target.startswith("/healthz")
        # A right token in the header: the documented query values stay readable.
        response = httpx.get(
            process.base_url + "/api/v1/stats?days=7&chat_id=wrOgAAAAchat1",
            headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 200
    finally:
        process.stop()
    logged = process.log_text()
    access = [line for line in logged.splitlines() if "uvicorn.access" in line]
    assert len(access) == len(targets) + 2, access  # the ready check's /healthz too
    assert support.ADMIN_TOKEN not in logged and READONLY_TOKEN not in logged
    assert any("access_token=***&days=7" in line for line in access), access
    assert any("days=7&chat_id=wrOgAAAAchat1" in line for line in access), access


# --- the OpenAPI document describes the API (issue 19, item 6) --------------------------------


async def test_the_openapi_document_names_every_answer_the_outside_run_found_undocumented(
    rest_service: Service,
) -> None:
    """400/401/403/404/409 were undocumented, an update's 200 too; `{"kind": null}` and `{}`
    were schema-valid yet refused. The document now says what the API answers."""
    spec = (await rest_service.http.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths["/api/v1/moderation-logs/{log_id}/review"]["post"]["responses"]) >= {
        "200", "400", "401", "403", "404", "409", "422", "503",
    }  # fmt: skip
    assert {"200", "201"} <= set(paths["/api/v1/lexicon/words"]["post"]["responses"])
    assert "403" not in paths["/api/v1/groups"]["get"]["responses"]
    error = paths["/api/v1/groups/{chat_id}"]["get"]["responses"]["404"]
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    patch = spec["components"]["schemas"]["GroupPatch"]
    assert patch["properties"]["kind"] == {
        "type": "string", "enum": ["customer", "internal", "app_created"], "title": "Kind",
    }  # fmt: skip
    assert {"required": ["kind"]} in patch["anyOf"] and {"required": ["by"]} not in patch["anyOf"]
    bulk = spec["components"]["schemas"]["WordsBulkIn"]
    assert bulk["oneOf"] == [{"required": ["words"]}, {"required": ["text"]}]
    assert paths["/api/v1/stats"]["get"]["security"] == [{"bearer": []}]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/lexicon/words/bulk", "POST"),
        ("DELETE", "/api/v1/lexicon/allow/export", "GET"),
        ("DELETE", "/api/v1/lexicon/words", "GET, POST"),
        ("OPTIONS", "/api/v1/lexicon/words", "GET, POST"),
        ("OPTIONS", "/api/v1/groups/wrOgAAAAchat1", "GET, PATCH"),
        ("PUT", "/api/v1/lexicon/words/12", "DELETE"),
    ],
)
async def test_a_method_a_path_does_not_serve_is_405_naming_every_method_it_does(
    rest_service: Service, method: str, path: str, allow: str
) -> None:
    """DELETE on a collection answered 422 (`bulk` read as a word id), and OPTIONS listed only
    GET in `Allow` (the first route of the path) where the path serves more."""
    response = await rest_service.http.request(method, path, headers=_headers())
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow


@pytest.mark.parametrize("until", ["0.5", "1764000000", "2026-11-21T08:00:00", "2026-11-21"])
async def test_a_time_that_is_not_rfc3339_with_a_zone_is_refused_not_read_as_unix_time(
    rest_service: Service, until: str
) -> None:
    for path in ("/api/v1/moderation-logs", "/api/v1/moderation-logs/export.csv"):
        response = await rest_service.http.get(path, params={"until": until}, headers=_headers())
        assert response.status_code in (400, 422), (path, until, response.text)
    response = await rest_service.http.get(
        "/api/v1/moderation-logs", params={"until": "2026-11-21T08:00:00+08:00"}, headers=_headers()
    )
    assert response.status_code == 200


async def test_a_group_patch_with_a_null_or_nothing_to_change_is_refused_as_documented(
    rest_service: Service,
) -> None:
    await rest_service.post_aibot(support.aibot_group_text("你好", msgid="nul-0", chat_id=CHAT))
    await rest_service.settle()
    for body in ({"kind": None}, {}, {"by": "mod-alice"}):
        response = await _json_call(rest_service, "PATCH", f"/api/v1/groups/{CHAT}", body)
        assert response.status_code == 422, (body, response.text)
    for body in ({}, {"words": [], "text": ""}):
        response = await _json_call(rest_service, "POST", "/api/v1/lexicon/words/bulk", body)
        assert response.status_code == 422, (body, response.text)
