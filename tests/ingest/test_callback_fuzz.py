"""Fuzzing both callback parsers with hypothesis: random and mutated envelopes and plaintexts.

Two levels:

- the parsers alone (`bot.parsing`): whatever bytes or text come in, each either returns or
  raises one `CallbackError`, never anything else;
- the service from the outside (both databases): signed, encrypted deliveries whose plaintext
  is random or a valid one mutated (fields dropped, replaced by other JSON types, long, with
  control characters; XML fields likewise), and envelopes and queries mutated. Every answer is
  200 or a 4xx with a plain reason, never a 500; a refused delivery stores nothing; an accepted
  one is stored once and then handled without failing (nothing accepted is lost).

Examples are bounded (`EXAMPLES`) and derandomised, so a failure replays; hypothesis prints the
smallest failing input.
"""

from __future__ import annotations

import base64
import contextlib
import json
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from app.db import database_urls
from app.main import create_app
from app.models import InboxEvent
from bot.errors import CallbackError
from bot.parsing import (
    parse_aibot_envelope,
    parse_aibot_message,
    parse_app_envelope,
    parse_app_message,
)
from tests import support
from tests.conftest import make_settings

EXAMPLES = 150  # per channel and database, for the service; the parsers get more
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- strategies ------------------------------------------------------------------------------

ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "\n", "\x00", "\ud800", "a" * 129, "赌博", "<x/>", "{}", "null"]),
    st.text(alphabet="\r\n\t\x0b\x0c\x1b\u2028\u2029 ", max_size=5).map(lambda s: f"x{s}y"),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=8,
)
AIBOT_FIELDS = ["msgid", "aibotid", "chatid", "chattype", "from", "response_url", "msgtype", "text"]
APP_FIELDS = [
    "ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "AgentID",
    "Event", "ChatId", "ChangeType", "UpdateDetail", "MemChangeList", "LastMemVer", "CurMemVer",
]  # fmt: skip


@st.composite
def aibot_plaintexts(draw: st.DrawFn) -> str:
    """A valid smart-bot message with some fields dropped or replaced, or anything at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.one_of(ODD_TEXT, JSON_VALUE.map(json.dumps)))
    message: dict[str, Any] = json.loads(
        support.aibot_group_text("今晚一起去赌博", msgid=f"fz-{draw(st.integers(0, 10**9))}")
    )
    for name in draw(st.lists(st.sampled_from(AIBOT_FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            message.pop(name, None)
        else:
            message[name] = draw(JSON_VALUE)
    if draw(st.booleans()):
        message["from"] = {"userid": draw(ODD_TEXT)}
    if draw(st.booleans()):
        message["msgtype"] = draw(st.sampled_from(["text", "event", "image", "mixed", ""]))
    return json.dumps(message, ensure_ascii=draw(st.booleans()))


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def app_plaintexts(draw: st.DrawFn) -> str:
    """A valid app message or event with some fields dropped or replaced, or anything."""
    if draw(st.integers(0, 4)) == 0:
        return draw(ODD_TEXT)
    fields = {
        "ToUserName": support.CORP_ID,
        "FromUserName": "mod-alice",
        "CreateTime": "1700000000",
        "MsgType": "text",
        "Content": "/help",
        "MsgId": str(draw(st.integers(0, 10**12))),
        "AgentID": str(support.AGENT_ID),
    }
    if draw(st.booleans()):
        fields.update(MsgType="event", Event="change_external_chat", ChatId="wrFuzz1")
        fields.update(ChangeType="update", UpdateDetail="add_member", CurMemVer="v2")
    for name in draw(st.lists(st.sampled_from(APP_FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            fields.pop(name, None)
        else:
            fields[name] = draw(ODD_TEXT)
    body = "".join(f"<{name}>{_xml_text(value)}</{name}>" for name, value in fields.items() if name)
    items = draw(st.lists(ODD_TEXT, max_size=3))
    if fields.get("Event") == "change_external_chat" or items:
        body += "<MemChangeList>" + "".join(f"<Item>{_xml_text(i)}</Item>" for i in items)
        body += "</MemChangeList>"
    return f"<xml>{body}</xml>"


def _flip(data: bytes, positions: list[int]) -> bytes:
    mutable = bytearray(data)
    for position in positions:
        if mutable:
            mutable[position % len(mutable)] ^= 0x01 << (position % 8)
    return bytes(mutable)


@dataclass
class Delivery:
    """What is sent: the query and body, whether it must be refused (unsigned, or a
    ciphertext no key made), and how it was mutated. A flipped bit can leave a delivery valid
    (in the envelope outside `Encrypt`, or in CBC's first block, which only garbles the random
    prefix): such a delivery, signed as sent, may be accepted."""

    query: str
    body: bytes
    must_refuse: bool
    how: list[str] = field(default_factory=list)


@st.composite
def deliveries(draw: st.DrawFn, channel: str) -> Delivery:
    signer = support.app_signer() if channel == "app" else support.aibot_signer()
    envelope = support.app_envelope if channel == "app" else support.aibot_envelope
    plaintext = draw(app_plaintexts() if channel == "app" else aibot_plaintexts())
    must_refuse = False
    try:
        encrypted = signer.cipher.encrypt(plaintext)
    except (UnicodeEncodeError, ValueError):  # a lone surrogate cannot be sent as UTF-8
        encrypted = base64.b64encode(plaintext.encode("utf-8", "replace")).decode()
        must_refuse = True
    how = []
    mutation = draw(st.integers(0, 9))
    if mutation == 0:  # the ciphertext's bits flipped, then signed as sent
        raw = _flip(base64.b64decode(encrypted), draw(st.lists(st.integers(0, 10**6), max_size=3)))
        encrypted = base64.b64encode(raw).decode()
        how.append("ciphertext flipped")
    elif mutation == 1:  # random base64-ish text as the ciphertext
        encrypted = draw(st.text(string.ascii_letters + string.digits + "+/= ", max_size=200))
        must_refuse = True
        how.append("random ciphertext")
    query = signer.query(encrypted)
    if mutation == 2:
        query = signer.query(encrypted, signature="0" * 40)
        must_refuse = True
        how.append("wrong signature")
    body = envelope(encrypted)
    if mutation == 3:  # the envelope itself mutated
        body = _flip(body, draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=4)))
        how.append("envelope flipped")
    elif mutation == 4:
        body = draw(st.binary(max_size=300))
        must_refuse = True
        how.append("random body")
    return Delivery(query, body, must_refuse, how)


# -- the parsers alone -------------------------------------------------------------------------


PARSERS = [parse_app_envelope, parse_aibot_envelope]
MESSAGE_PARSERS = [parse_app_message, parse_aibot_message]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    body=st.one_of(st.binary(max_size=500), ODD_TEXT.map(lambda t: t.encode("utf-8", "replace")))
)
def test_an_envelope_parser_returns_or_raises_a_callback_error(parse: Any, body: bytes) -> None:
    with contextlib.suppress(CallbackError):
        parse(body)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(plaintext=aibot_plaintexts())
def test_the_smart_bot_parser_returns_or_raises_a_callback_error(plaintext: str) -> None:
    with contextlib.suppress(CallbackError):
        parse_aibot_message(plaintext)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(plaintext=app_plaintexts())
def test_the_app_parser_returns_or_raises_a_callback_error(plaintext: str) -> None:
    with contextlib.suppress(CallbackError):
        parse_app_message(plaintext)


# -- the service from the outside ----------------------------------------------------------------


@dataclass
class Client:
    """The service in an event loop of its own thread (hypothesis drives a sync test)."""

    portal: BlockingPortal
    http: httpx.AsyncClient
    runtime: Any

    def post(self, url: str, body: bytes) -> httpx.Response:
        return self.portal.call(lambda: self.http.post(url, content=body))

    def settle(self) -> None:
        self.portal.call(self.runtime.workers.run_until_idle)


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[Client]:
    app = create_app(
        make_settings(database_url, tmp_path),
        transport=support.FakeWeCom().transport,
        start_workers=False,
    )
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        try:
            yield Client(portal, http, app.state.runtime)
        finally:
            portal.call(http.aclose)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_urls(database_url).sync_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(InboxEvent)).scalar_one())


@dataclass
class Tally:
    answers: dict[int, int] = field(default_factory=dict)

    def add(self, status: int) -> None:
        self.answers[status] = self.answers.get(status, 0) + 1


@pytest.mark.parametrize("channel", ["app", "aibot"])
def test_fuzzed_callbacks_never_500_and_store_only_what_they_accept(
    client: Client, engine: Engine, channel: str
) -> None:
    path = "/wecom/callback" if channel == "app" else "/wecom/aibot"
    tally = Tally()

    @FUZZ
    @given(delivery=deliveries(channel))
    def deliver(delivery: Delivery) -> None:
        before = _stored(engine)
        response = client.post(f"{path}?{delivery.query}", delivery.body)
        after = _stored(engine)
        tally.add(response.status_code)
        assert response.status_code in (200, 400, 403, 413), (delivery, response.text)
        assert response.headers.get("content-type", "text/plain").startswith("text/plain")
        if response.status_code != 200:
            assert after == before, (delivery, response.text)
        else:
            assert not delivery.must_refuse, delivery
            assert after - before in (0, 1)  # 0: a repeat of a delivery stored already

    deliver()
    client.settle()
    with engine.connect() as connection:
        statuses = dict(
            connection.execute(
                select(InboxEvent.status, func.count()).group_by(InboxEvent.status)
            ).all()
        )
    assert set(statuses) <= {"done"}, statuses  # nothing accepted failed afterwards
    print(
        f"\n{channel}: {sum(tally.answers.values())} deliveries, answers {tally.answers}, "
        f"stored {statuses.get('done', 0)}"
    )
