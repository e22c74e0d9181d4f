"""The chat-archive poller in the service, on SQLite and PostgreSQL: key versions and unreadable
records, the cursor across crashes, one poller per corp (the lease, its takeover and its fence),
every mapped message type through the pipeline, recalls, 1:1 chats, group info, SDK errors, the
msgaudit_notify trigger, and the archive settings.

The SDK is `FakeArchive`, a Python object with FinanceSdk's `get_chat_data`/`decrypt`/`close`
(the ctypes binding itself is tested in test_finance_sdk.py). Its records carry real RSA
PKCS#1 v1.5 random keys under the test's private keys, so the key handling is the real one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import func, select

from app.db import create_engine_for, database_urls, session_factory
from app.ingest.archive import ArchivePoller, KeyDirectory, PollerConfig
from app.main import create_app
from app.models import (
    ArchiveCursor,
    ArchiveLease,
    ArchiveRecordFailure,
    Group,
    InboxEvent,
    MessageMeta,
    ModerationLog,
    OutboxAction,
)
from app.repositories import archive as archive_repo
from app.settings import SettingsError, load_settings
from bot.errors import (
    FinanceSdkRefused,
    FinanceSdkTransient,
    FinanceSdkUnavailable,
    MalformedArchiveRecord,
    RecordDecryptFailed,
)
from bot.finance_sdk import EncryptedRecord
from tests import support
from tests.conftest import Service, make_settings, start_service

ARCHIVE_SECRET = "archive-secret-for-tests"
RANDOM_KEY = "Kx9hQm2VbT7pLw4sNc8dRf1gYj6kZa3e"
ROOM = "wrOgQhDgAAroomA"
OTHER_ROOM = "wrOgQhDgAAroomB"
NOW_MS = int(time.time() * 1000) - 600_000  # ten minutes ago: inside every window


# --- records -----------------------------------------------------------------------------------

_PAYLOAD_KEYS = {
    "markdown": "info",
    "news": "info",
    "docmsg": "doc",
    "external_redpacket": "redpacket",
}


def record(
    msgid: str,
    msgtype: str = "text",
    payload: dict[str, Any] | None = None,
    *,
    room: str = ROOM,
    sender: str = "zhangsan",
    tolist: tuple[str, ...] = ("lisi", "wangwu"),
    at_ms: int | None = None,
    action: str = "send",
) -> dict[str, Any]:
    """A decrypted archive record, shaped as in doc 91774."""
    body: dict[str, Any] = {
        "msgid": msgid,
        "action": action,
        "from": sender,
        "tolist": list(tolist),
        "roomid": room,
        "msgtime": at_ms if at_ms is not None else NOW_MS,
        "msgtype": msgtype,
    }
    if payload is not None:
        body[_PAYLOAD_KEYS.get(msgtype, msgtype)] = payload
    return body


def text(msgid: str, content: str, **kwargs: Any) -> dict[str, Any]:
    return record(msgid, "text", {"content": content}, **kwargs)


def revoke(msgid: str, recalled: str, **kwargs: Any) -> dict[str, Any]:
    return record(msgid, "revoke", {"pre_msgid": recalled}, action="recall", **kwargs)


def wrap(key: rsa.RSAPrivateKey, random_key: str) -> str:
    ciphertext = key.public_key().encrypt(random_key.encode("ascii"), padding.PKCS1v15())
    return base64.b64encode(ciphertext).decode("ascii")


@pytest.fixture(scope="module")
def rsa_keys() -> dict[int, rsa.RSAPrivateKey]:
    return {ver: rsa.generate_private_key(public_exponent=65537, key_size=2048) for ver in (2, 3)}


def write_keys(directory: Path, keys: dict[int, rsa.RSAPrivateKey]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for ver, key in keys.items():
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        (directory / f"{ver}.pem").write_bytes(pem)
    return directory


class FakeArchive:
    """Stands in for an initialised FinanceSdk: serves records after a seq and opens them."""

    def __init__(self, keys: dict[int, rsa.RSAPrivateKey]) -> None:
        self._wrapped = {ver: wrap(key, RANDOM_KEY) for ver, key in keys.items()}
        self.entries: list[EncryptedRecord] = []
        self.plaintexts: dict[str, Any] = {}  # encrypt_chat_msg → plaintext
        self.calls: list[int] = []  # the seq asked for by each get_chat_data
        self.errors: list[Exception] = []  # raised by the next calls, in order
        self.overlap = 0  # serve this many already-read records again (a repeated batch)
        self.on_call: Callable[[], None] | None = None
        self.decrypted = 0
        self.closed = False

    def add(
        self, plaintext: Any, *, ver: int = 2, wrapped_with: int | None = None, seq: int = 0
    ) -> EncryptedRecord:
        """Queue a record; `wrapped_with` is the key version its random key really uses."""
        seq = seq or (self.entries[-1].seq + 1 if self.entries else 1)
        ciphertext = f"ECM-{seq:08d}-" + "A" * 24
        if plaintext is not None:
            self.plaintexts[ciphertext] = plaintext
        msgid = plaintext.get("msgid", "") if isinstance(plaintext, dict) else ""
        entry = EncryptedRecord(
            seq=seq,
            msgid=msgid,
            publickey_ver=ver,
            encrypt_random_key=self._wrapped[wrapped_with or (ver if ver in self._wrapped else 2)],
            encrypt_chat_msg=ciphertext,
        )
        self.entries.append(entry)
        return entry

    def add_all(self, *plaintexts: Any) -> None:
        for plaintext in plaintexts:
            self.add(plaintext)

    def get_chat_data(
        self, seq: int, limit: int = 1000, *, proxy: str = "", passwd: str = "", timeout: int = 10
    ) -> list[EncryptedRecord]:
        self.calls.append(seq)
        if self.on_call is not None:
            self.on_call()
        if self.errors:
            raise self.errors.pop(0)
        after = [entry for entry in self.entries if entry.seq > seq]
        if self.overlap:
            before = [entry for entry in self.entries if entry.seq <= seq][-self.overlap :]
            after = before + after
        return after[:limit]

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        self.decrypted += 1
        if random_key != RANDOM_KEY or encrypt_chat_msg not in self.plaintexts:
            raise RecordDecryptFailed("DecryptData: code 10006: 解密失败", code=10006)
        plaintext = self.plaintexts[encrypt_chat_msg]
        if not isinstance(plaintext, dict):
            raise MalformedArchiveRecord("decrypted message is not a JSON object")
        return dict(plaintext)

    def close(self) -> None:
        self.closed = True


# --- the service ---------------------------------------------------------------------------------


def archive_settings(
    database_url: str, tmp_path: Path, keys: dict[int, rsa.RSAPrivateKey], **overrides: Any
) -> Any:
    values: dict[str, Any] = {
        "archive_enabled": True,
        "archive_secret": ARCHIVE_SECRET,
        "archive_keys_dir": str(write_keys(tmp_path / "keys", keys)),
    }
    values.update(overrides)
    return make_settings(database_url, tmp_path, **values)


@contextlib.asynccontextmanager
async def start(
    settings: Any,
    fake: FakeArchive,
    wecom: support.FakeWeCom | None = None,
    **app_options: Any,
) -> AsyncIterator[Service]:
    wecom = wecom or support.FakeWeCom()
    app_options.setdefault("start_workers", False)
    app = create_app(
        settings, transport=wecom.transport, archive_source=lambda: fake, **app_options
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Service(http=http, runtime=app.state.runtime, wecom=wecom)


@pytest.fixture
def fake(rsa_keys: dict[int, rsa.RSAPrivateKey]) -> FakeArchive:
    return FakeArchive(rsa_keys)


@pytest.fixture
async def service(
    database_url: str,
    tmp_path: Path,
    rsa_keys: dict[int, rsa.RSAPrivateKey],
    fake: FakeArchive,
) -> AsyncIterator[Service]:
    async with start(archive_settings(database_url, tmp_path, rsa_keys), fake) as running:
        yield running


def poller(service: Service) -> ArchivePoller:
    assert service.runtime.archive is not None
    return service.runtime.archive


async def pull_and_settle(service: Service) -> int:
    stored = await poller(service).poll()
    await service.settle()
    return stored


async def rows(service: Service, model: type) -> list[Any]:
    async with service.runtime.sessions() as session:
        return list((await session.execute(select(model))).scalars().all())


async def count(service: Service, model: type) -> int:
    async with service.runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def cursor(service: Service) -> int:
    async with service.runtime.sessions() as session:
        return await archive_repo.cursor(session, support.CORP_ID)


async def logs_by_message(service: Service) -> dict[str, ModerationLog]:
    return {row.message_id: row for row in await rows(service, ModerationLog)}


async def assert_one_alert_each(service: Service) -> None:
    """Every flagged message has exactly one moderator alert, carried out (sent or merged
    into a digest by the dispatcher)."""
    logs = await rows(service, ModerationLog)
    alerts = [a for a in await rows(service, OutboxAction) if a.kind == "app_message"]
    assert sorted(a.moderation_log_id for a in alerts) == sorted(entry.id for entry in logs)
    assert {a.status for a in alerts} <= {"sent", "merged"}
    assert service.wecom.calls("/cgi-bin/message/send")


# --- keys and unreadable records -----------------------------------------------------------------


async def test_records_of_two_key_versions_are_stored_and_moderated(
    service: Service, fake: FakeArchive
) -> None:
    fake.add(text("m-v2", "今晚一起去赌博吧"), ver=2)
    fake.add(text("m-v3", "好的 谢谢", sender="lisi"), ver=3)

    assert await pull_and_settle(service) == 2
    assert fake.calls == [0]
    assert await cursor(service) == 2
    events = await rows(service, InboxEvent)
    assert {(e.source, e.kind, e.dedupe_key, e.chat_id) for e in events} == {
        ("archive", "archive_message", "archive:m-v2", ROOM),
        ("archive", "archive_message", "archive:m-v3", ROOM),
    }
    assert all(e.status == "done" and e.plaintext is None for e in events)
    (entry,) = await rows(service, ModerationLog)
    assert (entry.source, entry.message_id, entry.chat_id, entry.user_id) == (
        "archive",
        "m-v2",
        ROOM,
        "zhangsan",
    )
    assert entry.verdict == "warn"
    assert [f["word"] for f in entry.findings] == ["赌博"]
    # No channel to warn in a group seen only through the archive; the moderators are alerted.
    assert len(service.wecom.calls("/cgi-bin/message/send")) == 1
    assert service.wecom.calls("/cgi-bin/aibot/response") == []


async def test_unreadable_records_are_recorded_and_the_batch_goes_on(
    service: Service, fake: FakeArchive, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(text("m-ok-1", "赌博"))
    fake.add(text("m-nokey", "赌博"), ver=4)  # no private key of version 4
    fake.add(text("m-wrongkey", "赌博"), ver=3, wrapped_with=2)  # the v3 key cannot open it
    fake.add(None)  # DecryptData refuses it (no plaintext behind the ciphertext)
    fake.add({"action": "send", "msgtype": "text"})  # decrypts, but has no msgid
    fake.add(text("m-ok-2", "赌博", sender="lisi"))

    with caplog.at_level(logging.WARNING, logger="app.ingest.archive"):
        assert await pull_and_settle(service) == 2
    assert await cursor(service) == 6
    assert set(await logs_by_message(service)) == {"m-ok-1", "m-ok-2"}
    failures = await rows(service, ArchiveRecordFailure)
    by_seq = {f.seq: f for f in failures}
    assert sorted(by_seq) == [2, 3, 4, 5]
    assert (by_seq[2].msgid, by_seq[2].publickey_ver, by_seq[2].error) == (
        "m-nokey",
        4,
        "ArchiveKeyMissing",
    )
    assert "publickey_ver 4" in by_seq[2].reason and "loaded: 2, 3" in by_seq[2].reason
    assert by_seq[3].error in {"RandomKeyUndecryptable", "RecordDecryptFailed"}
    assert by_seq[4].error == "RecordDecryptFailed"
    assert by_seq[5].error == "MalformedArchiveRecord"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "seq 2 msgid m-nokey (publickey_ver 4) skipped: ArchiveKeyMissing" in logged
    for secret in (RANDOM_KEY, ARCHIVE_SECRET, "赌博"):
        assert secret not in logged

    # Pulling again reads nothing new and records nothing twice.
    assert await pull_and_settle(service) == 0
    assert fake.calls == [0, 6]
    assert await count(service, ArchiveRecordFailure) == 4


async def test_a_key_version_added_to_the_directory_is_used_without_a_restart(
    tmp_path: Path, rsa_keys: dict[int, rsa.RSAPrivateKey]
) -> None:
    directory = write_keys(tmp_path / "keys", {2: rsa_keys[2]})
    keys = KeyDirectory(directory)
    assert keys.keys().versions == (2,)
    write_keys(directory, {3: rsa_keys[3]})
    assert keys.keys().versions == (2, 3)
    (directory / "9.pem").write_text("not a key", encoding="utf-8")
    assert keys.keys().versions == (2, 3)  # a broken change is logged; the keys read stay


# --- the cursor --------------------------------------------------------------------------------


async def test_a_crash_after_a_commit_loses_nothing_and_repeats_no_action(
    database_url: str,
    tmp_path: Path,
    rsa_keys: dict[int, rsa.RSAPrivateKey],
    fake: FakeArchive,
) -> None:
    fake.add_all(*(text(f"m-{i}", f"第{i}次 赌博", sender=f"user{i}") for i in range(5)))
    settings = archive_settings(database_url, tmp_path, rsa_keys, archive_batch=2)
    async with start(settings, fake) as service:
        crashes = iter([True])

        def crash_once() -> None:
            if next(crashes, False):
                raise RuntimeError("the process dies right after the commit")

        first = ArchivePoller(
            service.runtime.sessions,
            poller(service).config,
            open_source=lambda: fake,
            keys=KeyDirectory(tmp_path / "keys").keys,
            clock=lambda: datetime.now(UTC),
            on_stored=crash_once,
        )
        with pytest.raises(RuntimeError):
            await first.poll()
        assert await cursor(service) == 2
        assert await count(service, InboxEvent) == 2

        # A new process: another holder, once the dead one's lease has expired.
        later = datetime.now(UTC) + timedelta(seconds=settings.archive_lease_seconds + 1)
        second = ArchivePoller(
            service.runtime.sessions,
            first.config,
            open_source=lambda: fake,
            keys=KeyDirectory(tmp_path / "keys").keys,
            clock=lambda: later,
        )
        assert await second.poll() == 3
        assert fake.calls == [0, 2, 4]  # each batch once: from the cursor the crash left
        await service.settle()

        assert await cursor(service) == 5
        assert await count(service, InboxEvent) == 5
        assert sorted(await logs_by_message(service)) == [f"m-{i}" for i in range(5)]
        await assert_one_alert_each(service)


async def test_a_repeated_batch_is_dropped_by_the_inbox_key(
    service: Service, fake: FakeArchive
) -> None:
    fake.add_all(text("m-1", "赌博"), text("m-2", "赌博", sender="lisi"))
    assert await pull_and_settle(service) == 2
    fake.add(text("m-3", "赌博", sender="wangwu"))
    fake.overlap = 2  # the SDK serves the last batch again before the new record
    assert await pull_and_settle(service) == 1
    assert poller(service).last is not None and poller(service).last.duplicates == 2
    assert await count(service, InboxEvent) == 3
    assert await count(service, ModerationLog) == 3
    await assert_one_alert_each(service)


async def test_a_failure_before_the_commit_stores_nothing_of_the_batch(
    service: Service, fake: FakeArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.ingest import archive

    fake.add_all(text("m-1", "赌博"), text("m-2", "你好"), text("m-3", "赌博", sender="lisi"))
    real = archive.store_message
    stored: list[str] = []

    async def store_then_fail(session: Any, message: Any, plaintext: Any, *, now: Any) -> Any:
        stored.append(message.msgid)
        if len(stored) == 2:
            raise ConnectionResetError("the database went away mid-batch")
        return await real(session, message, plaintext, now=now)

    monkeypatch.setattr(archive, "store_message", store_then_fail)
    with pytest.raises(ConnectionResetError):
        await poller(service).poll()
    assert await cursor(service) == 0
    assert await count(service, InboxEvent) == 0

    monkeypatch.setattr(archive, "store_message", real)
    assert await pull_and_settle(service) == 3
    assert fake.calls == [0, 0]
    assert sorted(await logs_by_message(service)) == ["m-1", "m-3"]


# --- one poller per corp -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def two_replicas(
    database_url: str, tmp_path: Path, rsa_keys: dict[int, rsa.RSAPrivateKey]
) -> AsyncIterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Two pollers of one corp on one database, each with its own engine, SDK and clock."""
    keys = KeyDirectory(write_keys(tmp_path / "keys", rsa_keys))
    engines = []
    replicas = []
    for name in ("a", "b"):
        engine = create_engine_for(database_urls(database_url))
        engines.append(engine)
        fake = FakeArchive(rsa_keys)
        clock = Clock()
        replica = {
            "fake": fake,
            "clock": clock,
            "sessions": session_factory(engine),
        }
        replica["poller"] = ArchivePoller(
            replica["sessions"],
            PollerConfig(corp_id=support.CORP_ID, batch=10, lease_seconds=60, poll_seconds=15),
            open_source=lambda fake=fake: fake,
            keys=keys.keys,
            clock=clock,
            holder=f"replica-{name}",
        )
        replicas.append(replica)
    try:
        yield replicas[0], replicas[1]
    finally:
        for engine in engines:
            await engine.dispose()


def serve_same(records: list[dict[str, Any]], *replicas: dict[str, Any]) -> None:
    for replica in replicas:
        replica["fake"].add_all(*records)


async def test_two_pollers_only_one_pulls_and_the_other_takes_over_after_expiry(
    two_replicas: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    a, b = two_replicas
    serve_same([text(f"m-{i}", "你好") for i in range(3)], a, b)
    results = await asyncio.gather(a["poller"].poll(), b["poller"].poll())
    assert sorted(results) == [0, 3]
    pulled = [r for r in (a, b) if r["fake"].calls]
    assert len(pulled) == 1
    holder, other = (a, b) if a["fake"].calls else (b, a)
    assert holder["poller"].holding and not other["poller"].holding

    # While the holder renews, the other never pulls.
    for round_ in range(3):
        serve_same([text(f"n-{round_}", "你好")], a, b)
        for replica in (a, b):
            replica["clock"].advance(15)
        results = await asyncio.gather(holder["poller"].poll(), other["poller"].poll())
        assert results == [1, 0]
    assert other["fake"].calls == []

    # The holder dies; the other takes over once the lease has expired, from the cursor.
    serve_same([text("after", "你好")], a, b)
    other["clock"].advance(59)
    assert await other["poller"].poll() == 0
    other["clock"].advance(2)
    assert await other["poller"].poll() == 1
    assert other["fake"].calls == [6]
    assert other["poller"].holding

    # The old holder comes back: it does not pull any more.
    holder["clock"].now = other["clock"].now
    assert await holder["poller"].poll() == 0
    assert not holder["poller"].holding
    async with a["sessions"]() as session:
        assert await archive_repo.cursor(session, support.CORP_ID) == 7
        assert (
            await session.execute(select(func.count()).select_from(InboxEvent))
        ).scalar_one() == 7
        lease = await session.get(ArchiveLease, support.CORP_ID)
    assert lease is not None and lease.holder == other["poller"].holder


async def test_a_batch_pulled_by_a_replica_that_lost_the_lease_is_not_committed(
    two_replicas: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    a, b = two_replicas
    serve_same([text("m-1", "你好")], a, b)
    assert await a["poller"].poll() == 1
    serve_same([text("m-2", "你好"), text("m-3", "你好")], a, b)

    async def b_takes_over() -> None:
        # A renewed its lease at the start of its pass: B takes it once that has lapsed.
        b["clock"].now = a["clock"].now + timedelta(seconds=61)
        assert await b["poller"].poll() == 2

    loop = asyncio.get_running_loop()

    def stall() -> None:
        # A's GetChatData outlives its lease; B takes over meanwhile (A waits in a thread).
        a["fake"].on_call = None
        asyncio.run_coroutine_threadsafe(b_takes_over(), loop).result(timeout=30)

    a["clock"].advance(30)
    a["fake"].on_call = stall
    assert await a["poller"].poll() == 0
    assert not a["poller"].holding
    async with a["sessions"]() as session:
        events = (await session.execute(select(InboxEvent))).scalars().all()
        assert await archive_repo.cursor(session, support.CORP_ID) == 3
    assert sorted(e.dedupe_key for e in events) == ["archive:m-1", "archive:m-2", "archive:m-3"]


async def test_take_lease_races_have_exactly_one_winner(database_url: str) -> None:
    engines = [create_engine_for(database_urls(database_url)) for _ in range(4)]
    try:
        now = datetime.now(UTC)

        async def take(engine: Any, holder: str, corp: str) -> bool:
            async with session_factory(engine)() as session, session.begin():
                return await archive_repo.take_lease(session, corp, holder, now=now, seconds=60)

        for round_ in range(5):
            corp = f"corp-{round_}"
            results = await asyncio.gather(
                *(take(engine, f"h{i}", corp) for i, engine in enumerate(engines))
            )
            assert sum(results) == 1
            # Expired: the next one to ask wins it, again exactly one.
            now += timedelta(seconds=61)
            results = await asyncio.gather(
                *(take(engine, f"h{i}", corp) for i, engine in enumerate(engines))
            )
            assert sum(results) == 1
    finally:
        for engine in engines:
            await engine.dispose()


async def test_stopping_the_service_releases_the_lease(
    database_url: str, tmp_path: Path, rsa_keys: dict[int, rsa.RSAPrivateKey], fake: FakeArchive
) -> None:
    settings = archive_settings(database_url, tmp_path, rsa_keys)
    async with start(settings, fake) as service:
        await poller(service).poll()
        assert poller(service).holding
        before = datetime.now(UTC)
    assert fake.closed
    engine = create_engine_for(database_urls(database_url))
    try:
        async with session_factory(engine)() as session:
            lease = await session.get(ArchiveLease, support.CORP_ID)
    finally:
        await engine.dispose()
    assert lease is not None and lease.expires_at <= before + timedelta(seconds=5)


# --- every message type through the pipeline -----------------------------------------------------

PHONE_LINK = {
    "title": "兼职日结 在家就能做",
    "description": "详情电话 13812345678",
    "link_url": "https://example.com/job",
}
TYPES = [
    # (msgtype, payload, what reaches the log: detector → rules or words; {} = not flagged)
    ("text", {"content": "今晚一起去赌博吧"}, {"lexicon": ["赌博"]}),
    ("link", PHONE_LINK, {"promo": ["promo.phone"]}),
    ("weapp", {"title": "赌博群", "displayname": "小程序"}, {"lexicon": ["赌博"]}),
    ("card", {"corpname": "某某科技", "userid": "wmCardUser"}, {"promo": ["promo.msgtype"]}),
    (
        "redpacket",
        {"wish": "恭喜发财 赌博", "totalcnt": 5, "totalamount": 500},
        {"lexicon": ["赌博"]},
    ),
    ("external_redpacket", {"wish": "大吉大利", "totalcnt": 1, "totalamount": 100}, {}),
    ("image", {"sdkfileid": "FILEID", "md5sum": "abc", "filesize": 1024}, {}),
    ("voice", {"sdkfileid": "FILEID", "play_length": 3}, {}),
    ("video", {"sdkfileid": "FILEID", "play_length": 3}, {}),
    (
        "file",
        {"filename": "赌博攻略.docx", "fileext": "docx", "sdkfileid": "F"},
        {"lexicon": ["赌博"]},
    ),
    (
        "mixed",
        {
            "item": [
                {"type": "text", "content": json.dumps({"content": "看图"})},
                {"type": "image", "content": json.dumps({"sdkfileid": "F"})},
                {"type": "text", "content": json.dumps({"content": "来赌博"})},
            ]
        },
        {"lexicon": ["赌博"]},
    ),
    (
        "chatrecord",
        {
            "title": "群聊的聊天记录",
            "item": [
                {"type": "ChatRecordText", "content": json.dumps({"content": "赌博吗"})},
            ],
        },
        {"lexicon": ["赌博"]},
    ),
    ("agree", {"userid": "wmAgree", "agree_time": NOW_MS}, {}),
    ("disagree", {"userid": "wmAgree", "disagree_time": NOW_MS}, {}),
    ("meeting_voice_call", {"endtime": 1, "sdkfileid": "F"}, {}),  # not mapped: an unknown type
]


@pytest.mark.parametrize(("msgtype", "payload", "expected"), TYPES, ids=[t[0] for t in TYPES])
async def test_every_message_type_reaches_the_pipeline(
    service: Service,
    fake: FakeArchive,
    msgtype: str,
    payload: dict[str, Any],
    expected: dict[str, list[str]],
) -> None:
    fake.add(record(f"m-{msgtype}", msgtype, payload, sender="wmOgQhDgAAnewcomer"))
    assert await pull_and_settle(service) == 1
    (event,) = await rows(service, InboxEvent)
    assert event.status == "done", event.last_error
    (meta,) = await rows(service, MessageMeta)  # counted for flooding, whatever the type
    assert meta.chat_id == ROOM and meta.sender == "wmOgQhDgAAnewcomer"
    assert meta.msg_type == {"external_redpacket": "redpacket"}.get(msgtype, msgtype)[:16]
    entries = await rows(service, ModerationLog)
    if not expected:
        assert entries == []
        return
    (entry,) = entries
    found: dict[str, list[str]] = {}
    for finding in entry.findings:
        found.setdefault(finding["detector"], []).append(finding.get("word") or finding["rule"])
    for detector, names in expected.items():
        assert set(names) <= set(found.get(detector, [])), entry.findings


async def test_a_link_with_a_phone_number_gets_a_promotion_decision(
    service: Service, fake: FakeArchive
) -> None:
    fake.add(record("m-link", "link", PHONE_LINK, sender="wmOgQhDgAAspam"))
    await pull_and_settle(service)
    (entry,) = await rows(service, ModerationLog)
    assert entry.verdict in {"warn", "alert"}
    assert "promo" in {finding["detector"] for finding in entry.findings}
    assert "13812345678" in entry.text and "example.com" in entry.text


async def test_a_revoke_marks_the_recalled_message_in_the_log(
    service: Service, fake: FakeArchive
) -> None:
    fake.add_all(
        text("m-bad", "今晚一起去赌博吧"),
        text("m-fine", "好的"),
        revoke("m-undo", "m-bad", at_ms=NOW_MS + 5_000),
        revoke("m-undo-2", "m-fine", at_ms=NOW_MS + 6_000),
        revoke("m-undo-3", "m-never-seen", at_ms=NOW_MS + 7_000),
    )
    assert await pull_and_settle(service) == 5
    logs = await logs_by_message(service)
    assert set(logs) == {"m-bad"}
    recalled_at = logs["m-bad"].recalled_at
    assert recalled_at == datetime.fromtimestamp((NOW_MS + 5_000) / 1000, UTC)
    assert all(e.status == "done" for e in await rows(service, InboxEvent))
    assert await count(service, MessageMeta) == 2  # recalls are not messages


async def test_direct_chats_robots_and_switches_are_skipped_by_default(
    service: Service, fake: FakeArchive
) -> None:
    fake.add_all(
        text("m-direct", "赌博", room="", tolist=("lisi",)),
        text("m-bot", "⚠️ @lisi 请勿发布赌博内容", sender="wbRobot1"),
        {"msgid": "m-switch", "action": "switch", "time": NOW_MS, "user": "zhangsan"},
        text("m-group", "赌博"),
    )
    assert await pull_and_settle(service) == 1
    assert poller(service).last is not None and poller(service).last.skipped == 3
    assert await cursor(service) == 4
    assert [e.dedupe_key for e in await rows(service, InboxEvent)] == ["archive:m-group"]
    assert set(await logs_by_message(service)) == {"m-group"}


async def test_direct_chats_are_moderated_when_included(
    database_url: str, tmp_path: Path, rsa_keys: dict[int, rsa.RSAPrivateKey], fake: FakeArchive
) -> None:
    fake.add(text("m-direct", "赌博", room="", sender="zhangsan", tolist=("lisi",)))
    settings = archive_settings(database_url, tmp_path, rsa_keys, archive_include_direct=True)
    async with start(settings, fake) as service:
        assert await pull_and_settle(service) == 1
        (entry,) = await rows(service, ModerationLog)
        assert entry.chat_id == "direct:lisi:zhangsan"


# --- group info --------------------------------------------------------------------------------


async def test_new_rooms_are_looked_up_and_cached_off_the_hot_path(
    database_url: str, tmp_path: Path, rsa_keys: dict[int, rsa.RSAPrivateKey], fake: FakeArchive
) -> None:
    wecom = support.FakeWeCom()
    wecom.scripted["/cgi-bin/msgaudit/groupchat/get"] = [
        (200, {"errcode": 0, "roomname": "研发群", "creator": "zhangsan", "members": []}),
        # OTHER_ROOM is not internal: WeCom refuses it, so the customer API is asked next.
        (200, {"errcode": 701008, "errmsg": "not an internal group"}),
    ]
    wecom.scripted["/cgi-bin/externalcontact/groupchat/get"] = [
        # The third room has an external sender: asked as a customer group first, refused
        # by both APIs: it stays unknown.
        (200, {"errcode": 40050, "errmsg": "chatid not found"}),
    ]
    wecom.scripted["/cgi-bin/externalcontact/groupchat/get"].insert(
        0,
        (
            200,
            {
                "errcode": 0,
                "group_chat": {
                    "chat_id": OTHER_ROOM,
                    "name": "客户群",
                    "owner": "lisi",
                    "member_list": [],
                    "member_version": "v1",
                },
            },
        ),
    )
    fake.add_all(
        text("m-1", "你好", room=ROOM),
        text("m-2", "你好", room=ROOM),
        text("m-3", "你好", room=OTHER_ROOM),
    )
    settings = archive_settings(database_url, tmp_path, rsa_keys)
    async with start(settings, fake, wecom=wecom) as service:
        await poller(service).poll()
        assert wecom.requests == []  # nothing asked while pulling
        assert service.runtime.groups is not None
        assert await service.runtime.groups.resolve_pending() == 2
        groups = {g.chat_id: g for g in await rows(service, Group)}
        assert (groups[ROOM].kind, groups[ROOM].name, groups[ROOM].owner) == (
            "internal",
            "研发群",
            "zhangsan",
        )
        assert (groups[OTHER_ROOM].kind, groups[OTHER_ROOM].name) == ("customer", "客户群")
        assert groups[OTHER_ROOM].member_version == "v1"

        # A known room is not asked again; a failing one stays unknown.
        wecom.scripted["/cgi-bin/msgaudit/groupchat/get"] = [
            (200, {"errcode": 701008, "errmsg": "not an internal group"})
        ]
        fake.add_all(
            text("m-4", "你好", room=ROOM),
            text("m-5", "你好", room="wrThirdRoom", sender="wmCustomer"),
        )
        await poller(service).poll()
        asked = len(wecom.requests)
        assert await service.runtime.groups.resolve_pending() == 0
        paths = [r.url.path for r in wecom.requests[asked:] if "gettoken" not in r.url.path]
        assert paths == [
            "/cgi-bin/externalcontact/groupchat/get",
            "/cgi-bin/msgaudit/groupchat/get",
        ]
        await service.settle()
        groups = {g.chat_id: g for g in await rows(service, Group)}
        assert groups["wrThirdRoom"].kind == "unknown"
        # The archive's token comes from the archive secret.
        token_calls = wecom.calls("/cgi-bin/gettoken")
        assert {c.url.params["corpsecret"] for c in token_calls} == {
            ARCHIVE_SECRET,
            support.APP_SECRET,
        }


# --- SDK errors --------------------------------------------------------------------------------


async def test_retryable_sdk_errors_back_off_then_pull(
    database_url: str, tmp_path: Path, rsa_keys: dict[int, rsa.RSAPrivateKey], fake: FakeArchive
) -> None:
    clock = Clock()
    fake.add(text("m-1", "你好"))
    fake.errors = [
        FinanceSdkTransient(10001, "网络错误", "GetChatData"),
        FinanceSdkTransient(10001, "网络错误", "GetChatData"),
    ]
    settings = archive_settings(database_url, tmp_path, rsa_keys)
    async with start(settings, fake, clock=clock) as service:
        archive = poller(service)
        assert await archive.poll() == 0
        assert await archive.poll() == 0  # inside the backoff: the SDK is not called
        assert len(fake.calls) == 1
        clock.advance(15)
        assert await archive.poll() == 0  # the second failure doubles the wait
        assert len(fake.calls) == 2
        clock.advance(20)
        assert await archive.poll() == 0
        clock.advance(10)
        assert await archive.poll() == 1
        assert len(fake.calls) == 3


@pytest.mark.parametrize(
    ("error", "where"),
    [
        (FinanceSdkRefused(10009, "ip非法", "GetChatData"), "pull"),
        (FinanceSdkUnavailable("no Finance SDK library at /nowhere.so"), "open"),
    ],
    ids=["refused", "library missing"],
)
async def test_configuration_errors_are_logged_once_per_try_and_retried_slowly(
    database_url: str,
    tmp_path: Path,
    rsa_keys: dict[int, rsa.RSAPrivateKey],
    fake: FakeArchive,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    where: str,
) -> None:
    clock = Clock()
    fake.add(text("m-1", "你好"))
    opens = []

    def open_source() -> FakeArchive:
        opens.append(1)
        if where == "open" and len(opens) == 1:
            raise error
        return fake

    if where == "pull":
        fake.errors = [error]
    settings = archive_settings(database_url, tmp_path, rsa_keys)
    app = create_app(
        settings,
        transport=support.FakeWeCom().transport,
        start_workers=False,
        clock=clock,
        archive_source=open_source,
    )
    async with app.router.lifespan_context(app):
        archive = app.state.runtime.archive
        with caplog.at_level(logging.ERROR, logger="app.ingest.archive"):
            assert await archive.poll() == 0
            clock.advance(60)
            assert await archive.poll() == 0
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "configuration error" in errors[0].getMessage()
        assert type(error).__name__ in errors[0].getMessage()
        assert ARCHIVE_SECRET not in errors[0].getMessage()
        clock.advance(300)
        assert await archive.poll() == 1
    assert len(opens) == 2  # the handle is built again after a configuration error


# --- msgaudit_notify --------------------------------------------------------------------------


def msgaudit_notify(create_time: int = 1_700_000_300) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{support.CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[msgaudit_notify]]></Event>"
        f"<AgentID>{support.AGENT_ID}</AgentID></xml>"
    )


async def test_msgaudit_notify_makes_the_running_service_pull_at_once(
    database_url: str, tmp_path: Path, rsa_keys: dict[int, rsa.RSAPrivateKey], fake: FakeArchive
) -> None:
    settings = archive_settings(
        database_url,
        tmp_path,
        rsa_keys,
        archive_poll_seconds=3000,
        archive_lease_seconds=3600,
    )

    async def eventually(check: Callable[[], Any]) -> None:
        for _ in range(200):
            if await check():
                return
            await asyncio.sleep(0.025)
        raise AssertionError("did not happen within 5 s")

    async with start(settings, fake, start_workers=True, poll_seconds=0.05) as service:

        async def pulled_once() -> bool:
            return len(fake.calls) == 1

        await eventually(pulled_once)  # the first pass at start; the timer is 50 minutes off
        fake.add(text("m-late", "今晚一起去赌博吧"))
        response = await service.post_app(msgaudit_notify())
        assert response.status_code == 200

        async def moderated() -> bool:
            return await count(service, ModerationLog) == 1

        await eventually(moderated)
        assert fake.calls == [0, 0]


async def test_msgaudit_notify_without_the_archive_is_only_logged(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async for service in start_service(make_settings(database_url, tmp_path), support.FakeWeCom()):
        assert service.runtime.archive is None
        with caplog.at_level(logging.INFO, logger="app.judging.processing"):
            assert (await service.post_app(msgaudit_notify())).status_code == 200
            await service.settle()
    assert "ARCHIVE_ENABLED is off" in caplog.text


def test_archive_defaults() -> None:
    settings = load_settings(_env_file=None)
    assert not settings.archive_enabled
    assert settings.archive_poll_seconds == 15
    assert settings.archive_batch == 1000
    assert not settings.archive_include_direct
    assert settings.archive_lease_seconds == 60
    assert "archive-secret" not in repr(
        load_settings(_env_file=None, archive_secret="archive-secret")
    )


def test_unusable_keys_or_library_stop_start_up(
    tmp_path: Path, rsa_keys: dict[int, rsa.RSAPrivateKey]
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    empty = tmp_path / "empty"
    empty.mkdir()
    settings = make_settings(
        url, tmp_path, archive_enabled=True, archive_secret="s", archive_keys_dir=str(empty)
    )
    with pytest.raises(SettingsError, match=r"^ARCHIVE_KEYS_DIR: .* holds no <publickey_ver>\.pem"):
        create_app(settings)
    settings = archive_settings(
        url, tmp_path, rsa_keys, archive_sdk_path=str(tmp_path / "missing.so")
    )
    with pytest.raises(SettingsError, match=r"^ARCHIVE_SDK_PATH: no file at "):
        create_app(settings)


async def test_the_cursor_never_moves_back(database_url: str, tmp_path: Path) -> None:
    engine = create_engine_for(database_urls(database_url))
    try:
        sessions = session_factory(engine)
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            await archive_repo.advance_cursor(session, "corp", 10, now=now)
            await archive_repo.advance_cursor(session, "corp", 7, now=now)
        async with sessions() as session:
            assert await archive_repo.cursor(session, "corp") == 10
            assert await archive_repo.cursor(session, "other") == 0
            assert (await session.get(ArchiveCursor, "corp")) is not None
    finally:
        await engine.dispose()
