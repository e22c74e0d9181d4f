"""Logs and metrics from the operator's side: `GET /metrics` read with a small parser of the
Prometheus text format, log lines written by the JSON and text formatters, and the request id
a client sends or gets back. On SQLite and PostgreSQL (`service`, `database_url`)."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.db import create_engine_for, database_urls, session_factory
from app.log_format import (
    JsonFormatter,
    LogContextFilter,
    TextFormatter,
    event_context,
    sane_request_id,
)
from app.metrics import Family, render
from app.repositories import groups as groups_repo
from app.settings import SettingsError, load_settings
from tests import support
from tests.conftest import Service, make_settings, start_service
from tests.ingest.test_archive_service import (  # the archive's fake SDK and its keys
    FakeArchive,
    archive_settings,
    start,
    text,
)
from tests.ingest.test_hostile_input import inbox_count
from tests.processes import ServiceProcess

CHAT = "wrOgAAAAchat1"

# --- a small parser of the text exposition format 0.0.4 -------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

Labels = frozenset[tuple[str, str]]


def _labels(text: str) -> Labels:
    pairs = []
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        assert match is not None, f"bad labels at {text[position:]!r}"
        value = re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], match.group(2))
        pairs.append((match.group(1), value))
        position = match.end()
    return frozenset(pairs)


def parse_exposition(body: str) -> dict[str, dict[Labels, float]]:
    """name → {labels → value}; checks that every sample follows its family's HELP and TYPE."""
    metrics: dict[str, dict[Labels, float]] = {}
    types: dict[str, str] = {}
    helped: set[str] = set()
    assert body.endswith("\n")
    for line in body.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge"), line
            assert name in helped and name not in types, f"TYPE out of place: {line}"
            types[name] = kind
            metrics[name] = {}
            continue
        match = _SAMPLE.match(line)
        assert match is not None, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        assert name in types, f"sample before its TYPE: {line}"
        if types[name] == "counter":
            assert name.endswith("_total"), name
        key = _labels(labels or "")
        assert key not in metrics[name], f"repeated sample: {line}"
        metrics[name][key] = float(value)
    return metrics


def sample(metrics: dict[str, dict[Labels, float]], name: str, **labels: str) -> float:
    """One sample's value; 0 when the family has no such sample (a counter not counted yet)."""
    return metrics[name].get(frozenset(labels.items()), 0.0)


async def scrape(service: Service) -> dict[str, dict[Labels, float]]:
    response = await service.http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse_exposition(response.text)


def test_the_parser_reads_escapes_and_rejects_what_is_not_the_format() -> None:
    family = Family("x_total", "counter", "help\\with\nnewline", ("a", "b"))
    family.samples[('q"uote', "back\\slash\nline")] = 3
    family.samples[("", "é")] = 0.5
    parsed = parse_exposition(render([family]))
    assert parsed == {
        "x_total": {
            frozenset({("a", 'q"uote'), ("b", "back\\slash\nline")}): 3.0,
            frozenset({("a", ""), ("b", "é")}): 0.5,
        }
    }
    with pytest.raises(AssertionError):
        parse_exposition("x_total 1\n")  # no HELP/TYPE
    with pytest.raises(AssertionError):
        parse_exposition('# HELP x y\n# TYPE x gauge\nx{a="1} 2\n')


# --- metrics -----------------------------------------------------------------------------


async def test_a_flagged_message_counts_its_callback_decision_and_outbox(
    service: Service,
) -> None:
    before = await scrape(service)
    assert sample(before, "wecom_mod_database_up") == 1
    assert before["wecom_mod_callbacks_total"] == {}
    assert before["wecom_mod_outbox_actions"] == {}
    assert sample(before, "wecom_mod_outbox_oldest_pending_age_seconds") == 0

    flagged = support.aibot_group_text("今晚一起去赌博吧", msgid="obs-1", chat_id=CHAT)
    assert (await service.post_aibot(flagged)).status_code == 200
    assert (await service.post_aibot(flagged)).status_code == 200  # WeCom's retry
    queued = await scrape(service)  # stored, not judged yet
    assert sample(queued, "wecom_mod_callbacks_total", channel="aibot", outcome="accepted") == 1
    assert sample(queued, "wecom_mod_callbacks_total", channel="aibot", outcome="duplicate") == 1
    assert queued["wecom_mod_decisions_total"] == {}

    await service.settle()
    metrics = await scrape(service)
    (entry,) = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert entry["decision"] in ("warn", "remove", "alert")
    assert metrics["wecom_mod_decisions_total"] == {
        frozenset({("verdict", entry["decision"]), ("mode", "enforce")}): 1
    }
    summary = (await service.api("/api/v1/outbox/summary")).json()
    by_status: dict[str, float] = {}
    by_kind: dict[str, float] = {}
    for labels, value in metrics["wecom_mod_outbox_actions"].items():
        named = dict(labels)
        by_status[named["status"]] = by_status.get(named["status"], 0) + value
        by_kind[named["kind"]] = by_kind.get(named["kind"], 0) + value
    assert by_status == summary["by_status"] and by_kind == summary["by_kind"]
    assert sum(by_status.values()) >= 1
    assert sample(metrics, "wecom_mod_outbox_oldest_pending_age_seconds") == (
        summary["oldest_pending_age_seconds"] or 0
    )
    assert metrics["wecom_mod_wecom_errors_total"] == {}
    assert "wecom_mod_archive_lag_seconds" not in metrics  # the archive is off

    clean = support.aibot_group_text("大家好", msgid="obs-2", chat_id=CHAT)
    assert (await service.post_aibot(clean)).status_code == 200
    await service.settle()
    metrics = await scrape(service)
    assert sample(metrics, "wecom_mod_decisions_total", verdict="none", mode="enforce") == 1
    assert sample(metrics, "wecom_mod_callbacks_total", channel="aibot", outcome="accepted") == 2


async def test_every_refused_callback_counts_as_its_outcome(service: Service) -> None:
    signer = support.aibot_signer()
    encrypted = signer.cipher.encrypt(support.aibot_group_text("你好", msgid="obs-refused"))
    body = support.aibot_envelope(encrypted)
    refusals = [
        (signer.query(encrypted, signature="0" * 40), body, 403, "bad_signature"),
        (signer.query(encrypted, timestamp=1), body, 403, "stale_timestamp"),
        ("timestamp=1&nonce=x", body, 400, "bad_request"),
        (signer.query("!!not-base64!!"), support.aibot_envelope("!!not-base64!!"), 400, None),
    ]
    for query, content, status, _ in refusals:
        response = await service.http.post(f"/wecom/aibot?{query}", content=content)
        assert response.status_code == status, response.text
    # The app callback signed with the smart bot's token: its own signature check refuses it.
    app_encrypted = signer.cipher.encrypt(support.app_text("/help"))
    response = await service.http.post(
        f"/wecom/callback?{signer.query(app_encrypted)}",
        content=support.app_envelope(app_encrypted),
    )
    assert response.status_code == 403

    metrics = await scrape(service)
    callbacks = metrics["wecom_mod_callbacks_total"]
    for _, _, _, outcome in refusals:
        if outcome is not None:
            assert sample(metrics, "wecom_mod_callbacks_total", channel="aibot", outcome=outcome)
    assert sample(metrics, "wecom_mod_callbacks_total", channel="app", outcome="bad_signature") == 1
    assert sum(callbacks.values()) == len(refusals) + 1  # every answer counted once
    assert all(dict(labels)["outcome"] != "accepted" for labels in callbacks)


async def test_url_verification_and_a_channel_that_is_off_are_counted(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, tmp_path, wecom_callback_token=None, wecom_callback_aes_key=None
    )
    async for service in start_service(settings, support.FakeWeCom()):
        signer = support.aibot_signer()
        echo = signer.cipher.encrypt("echo-1")
        verified = await service.http.get(f"/wecom/aibot?{signer.query(echo, echostr=True)}")
        assert verified.status_code == 200 and verified.text == "echo-1"
        off = await service.http.post("/wecom/callback?timestamp=1", content=b"<xml/>")
        assert off.status_code == 404
        metrics = await scrape(service)
        assert metrics["wecom_mod_callbacks_total"] == {
            frozenset({("channel", "aibot"), ("outcome", "verified")}): 1,
            frozenset({("channel", "app"), ("outcome", "off")}): 1,
        }


async def test_an_unexpected_error_in_a_callback_is_a_500_with_its_request_id_and_no_trace(
    service: Service,
) -> None:
    def broken(_plaintext: str) -> NoReturn:
        raise RuntimeError("a parser bug")

    service.runtime.aibot_channel = dataclasses.replace(
        service.runtime.aibot_channel, parse_message=broken
    )
    signer = support.aibot_signer()
    encrypted = signer.cipher.encrypt(support.aibot_group_text("你好", msgid="obs-500"))
    with captured(JsonFormatter()) as stream:
        response = await service.http.post(
            f"/wecom/aibot?{signer.query(encrypted)}",
            content=support.aibot_envelope(encrypted),
            headers={"X-Request-ID": "trace-500"},
        )
    assert response.status_code == 500
    assert response.text == "internal error"  # no trace, nothing of the error reflected
    assert response.headers["X-Request-ID"] == "trace-500"
    (entry,) = [e for e in json_lines(stream) if e["level"] == "ERROR"]
    assert entry["request_id"] == "trace-500" and entry["logger"] == "app.ingest.callbacks"
    assert "unexpected error" in entry["message"] and "RuntimeError" in entry["exc"]
    metrics = await scrape(service)
    assert metrics["wecom_mod_callbacks_total"] == {
        frozenset({("channel", "aibot"), ("outcome", "error")}): 1
    }
    assert await inbox_count(service) == 0
    # Another method on a callback path still gets the app's answer, not the endpoint's.
    other = await service.http.put(f"/wecom/aibot?{signer.query(encrypted)}", content=b"x")
    assert other.status_code == 405 and other.headers["X-Request-ID"]


async def test_an_unexpected_error_in_the_rest_api_is_a_500_with_its_request_id(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise RuntimeError("a repository bug")

    monkeypatch.setattr(groups_repo, "page", broken)
    with captured(JsonFormatter()) as stream:
        response = await service.http.get(
            "/api/v1/groups",
            headers={
                "Authorization": f"Bearer {support.ADMIN_TOKEN}",
                "X-Request-ID": "trace-rest-500",
            },
        )
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}  # no trace, nothing reflected
    assert response.headers["X-Request-ID"] == "trace-rest-500"
    (entry,) = [e for e in json_lines(stream) if e["level"] == "ERROR"]
    assert entry["request_id"] == "trace-rest-500" and "RuntimeError" in entry["exc"]


async def test_wecom_errors_are_counted_by_api_and_errcode(service: Service) -> None:
    service.wecom.scripted["/cgi-bin/aibot/response"] = [(502, {})]
    service.wecom.scripted["/cgi-bin/message/send"] = [
        (200, {"errcode": 60020, "errmsg": "not allow to access from your ip"})
    ]
    await service.post_aibot(support.aibot_group_text("赌博", msgid="obs-err", chat_id=CHAT))
    await service.settle()
    assert service.wecom.calls("/cgi-bin/message/send"), "no moderator alert was sent"
    metrics = await scrape(service)
    assert metrics["wecom_mod_wecom_errors_total"] == {
        frozenset({("api", "aibot/response"), ("errcode", "http_5xx")}): 1,
        frozenset({("api", "message/send"), ("errcode", "60020")}): 1,
    }
    dead = sample(metrics, "wecom_mod_outbox_actions", status="dead", kind="app_message")
    assert dead == 1  # 60020 is a setting to fix: the alert is dead at once
    assert sample(metrics, "wecom_mod_outbox_oldest_pending_age_seconds") >= 0


async def test_a_database_down_at_scrape_still_answers_with_the_counts(
    service: Service, database_url: str
) -> None:
    await service.post_aibot(support.aibot_group_text("你好", msgid="obs-db", chat_id=CHAT))
    unreachable = (
        "sqlite:////nonexistent-dir/wecom-mod.db"
        if database_url.startswith("sqlite")
        else "postgresql://postgres@127.0.0.1:1/nothing"
    )
    engine = create_engine_for(database_urls(unreachable))
    working, service.runtime.sessions = service.runtime.sessions, session_factory(engine)
    try:
        metrics = await scrape(service)
    finally:
        service.runtime.sessions = working
        await engine.dispose()
    assert sample(metrics, "wecom_mod_database_up") == 0
    assert sample(metrics, "wecom_mod_callbacks_total", channel="aibot", outcome="accepted") == 1
    assert metrics["wecom_mod_outbox_actions"] == {}
    assert metrics["wecom_mod_outbox_oldest_pending_age_seconds"] == {}
    assert sample(await scrape(service), "wecom_mod_database_up") == 1


async def test_metrics_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, metrics_enabled=False)
    async for service in start_service(settings, support.FakeWeCom()):
        response = await service.http.get("/metrics")
        assert response.status_code == 404
        assert "METRICS_ENABLED" in response.text


@pytest.fixture(scope="module")
def rsa_keys() -> dict[int, rsa.RSAPrivateKey]:
    return {2: rsa.generate_private_key(public_exponent=65537, key_size=2048)}


async def test_archive_records_and_lag_are_exposed(
    database_url: str, tmp_path: Path, rsa_keys: dict[int, rsa.RSAPrivateKey]
) -> None:
    fake = FakeArchive(rsa_keys)
    fake.add(text("obs-a1", "今晚一起去赌博吧"))
    fake.add(text("obs-a2", "好的 谢谢", sender="lisi"))
    fake.add(None)  # unreadable
    async with start(archive_settings(database_url, tmp_path, rsa_keys), fake) as service:
        before = await scrape(service)
        assert before["wecom_mod_archive_lag_seconds"] == {}  # not pulled yet
        assert service.runtime.archive is not None
        assert await service.runtime.archive.poll() == 2
        await service.settle()
        metrics = await scrape(service)
        assert {
            dict(k)["outcome"]: v for k, v in metrics["wecom_mod_archive_records_total"].items()
        } == {
            "stored": 2,
            "duplicate": 0,
            "skipped": 0,
            "failed": 1,
        }
        lag = sample(metrics, "wecom_mod_archive_lag_seconds")
        assert 0 <= lag < 60
        judged = sum(metrics["wecom_mod_decisions_total"].values())
        assert judged == 2


# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("text", "text"), ("json", "json"), (" JSON ", "json")]
)
def test_log_format_accepts_text_and_json(value: str, expected: str) -> None:
    assert load_settings(_env_file=None, log_format=value).log_format == expected


@pytest.mark.parametrize("value", ["xml", "", "logfmt"])
def test_another_log_format_is_a_clear_error(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^LOG_FORMAT: must be one of text, json, got "):
        load_settings(_env_file=None, log_format=value)


# --- logs --------------------------------------------------------------------------------


@contextmanager
def captured(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    """Everything logged inside, at DEBUG, written by `formatter` as `wecom-mod serve` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(LogContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = stream.getvalue().splitlines()
    assert lines
    return [json.loads(line) for line in lines]  # every line is one JSON object


async def test_json_logs_carry_the_request_id_and_the_event_id(service: Service) -> None:
    with captured(JsonFormatter()) as stream:
        signer = support.aibot_signer()
        encrypted = signer.cipher.encrypt(
            support.aibot_group_text("赌博", msgid="obs-log", chat_id=CHAT)
        )
        response = await service.http.post(
            f"/wecom/aibot?{signer.query(encrypted)}",
            content=support.aibot_envelope(encrypted),
            headers={"X-Request-ID": "trace-4f1c:7"},
        )
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == "trace-4f1c:7"
        await service.settle()
    entries = json_lines(stream)
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
    (stored,) = [e for e in entries if "as inbox event" in e["message"]]
    assert stored["logger"] == "app.ingest.callbacks" and stored["level"] == "DEBUG"
    assert stored["request_id"] == "trace-4f1c:7" and "event_id" not in stored
    event_id = stored["message"].rsplit(" ", 1)[1]
    (flagged,) = [e for e in entries if "flagged message obs-log" in e["message"]]
    assert flagged["logger"] == "app.judging.processing"
    assert flagged["event_id"] == event_id and "request_id" not in flagged
    # The work after the answer is not the request's; nothing leaks between the two.
    assert not [
        e for e in entries if e.get("request_id") and e["logger"] == "app.judging.processing"
    ]
    assert not [e for e in entries if e.get("event_id") and e["logger"] == "app.ingest.callbacks"]


async def test_every_response_gets_a_new_request_id_when_none_is_sent(service: Service) -> None:
    first = await service.http.get("/healthz")
    second = await service.http.get("/metrics")
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", one) for one in ids)
    assert ids[0] != ids[1]


@pytest.mark.parametrize(
    "sent",
    [b"forged\nINFO admin logged in", b"a" * 65, b"has space", "请求".encode(), b"tab\there", b""],
    ids=["newline", "65-chars", "space", "non-ascii", "tab", "empty"],
)
async def test_an_insane_request_id_is_replaced_not_echoed(service: Service, sent: bytes) -> None:
    with captured(JsonFormatter()) as stream:
        response = await service.http.get("/api/v1/groups", headers={"X-Request-ID": sent})
    assert response.status_code == 401  # no token: logged as a refusal
    given = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", given)
    logged = stream.getvalue()
    assert sent.decode("utf-8") not in logged or not sent
    entries = [json.loads(line) for line in logged.splitlines()]
    assert all(entry.get("request_id") in (None, given) for entry in entries)


@pytest.mark.parametrize(
    ("value", "sane"),
    [
        ("a" * 64, True),
        ("a" * 65, False),
        ("01J8Z3-abc_DEF.ghi:jkl/mno+pqr=", True),
        ("~!@#$%^&*()", True),
        ("", False),
        ("a b", False),
        ("a\r\nb", False),
        ("é", False),
        ("\x7f", False),
        (None, False),
    ],
)
def test_which_request_ids_are_sane(value: str | None, sane: bool) -> None:
    assert sane_request_id(value) == (value if sane else None)


def _record(message: str, *args: Any, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("broken 坏")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    record = logging.LogRecord("app.test", logging.WARNING, __file__, 1, message, args, exc_info)
    LogContextFilter().filter(record)
    return record


def test_the_json_line_holds_the_exception_and_stays_one_line() -> None:
    with event_context("42"):
        record = _record("line one\nline two %s", "参数", exc=True)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "line one\nline two 参数"
    assert entry["level"] == "WARNING" and entry["logger"] == "app.test"
    assert entry["event_id"] == "42" and "request_id" not in entry
    assert entry["exc"].startswith("Traceback") and "ValueError: broken 坏" in entry["exc"]


def test_the_text_line_shows_the_ids_when_set() -> None:
    formatter = TextFormatter()
    plain = formatter.format(_record("hello %d", 5))
    assert re.fullmatch(r"\S+ \S+ WARNING app\.test: hello 5", plain)
    with event_context("17"):
        marked = formatter.format(_record("hello"))
    assert marked.endswith("app.test: hello [event_id=17]")


async def test_json_logs_hold_no_secret(database_url: str, tmp_path: Path) -> None:
    wecom = support.FakeWeCom()
    wecom.token = "ACCESS-TOKEN-must-not-be-logged"
    wecom.scripted["/cgi-bin/message/send"] = [
        (200, {"errcode": 40014, "errmsg": "invalid access_token"})
    ]
    with captured(JsonFormatter()) as stream:
        async for service in start_service(make_settings(database_url, tmp_path), wecom):
            await service.http.get("/api/v1/groups", headers={"Authorization": "Bearer wrong-one"})
            await service.post_aibot(support.aibot_group_text("赌博", msgid="obs-s", chat_id=CHAT))
            await service.post_aibot(support.aibot_group_text("x", msgid="obs-t"), signature="0")
            await service.settle()
            await service.http.get("/metrics")
    logged = stream.getvalue()
    assert len(json_lines(stream)) > 5
    secrets = {
        support.APP_SECRET,
        support.APP_TOKEN,
        support.APP_AES_KEY,
        support.AIBOT_TOKEN,
        support.AIBOT_AES_KEY,
        support.ADMIN_TOKEN,
        wecom.token,
    }
    assert [secret for secret in secrets if secret in logged] == []


@pytest.mark.slow
def test_serve_writes_json_lines_with_the_access_log_and_its_request_id(tmp_path: Path) -> None:
    """The real `wecom-mod serve`: uvicorn's access log goes through the same formatter."""
    process = ServiceProcess.create(
        tmp_path,
        {"database_url": f"sqlite:///{tmp_path / 'serve.db'}", "log_format": "json"},
    )
    process.start()
    try:
        process.wait_ready()
        response = httpx.get(
            f"{process.base_url}/healthz", headers={"X-Request-ID": "serve-check-1"}, timeout=10
        )
        assert response.headers["X-Request-ID"] == "serve-check-1"
    finally:
        process.stop()
    lines = [line for line in process.log_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is JSON, start-up included
    access = [e for e in entries if e["logger"] == "uvicorn.access" and "/healthz" in e["message"]]
    assert any(e.get("request_id") == "serve-check-1" for e in access), lines
    assert any(e["logger"] == "app.main" and "wecom-mod ready" in e["message"] for e in entries)
