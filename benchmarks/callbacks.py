"""Callback throughput and latency: wecom-mod's smart-bot endpoint against a bare FastAPI endpoint.

What it measures, in one run, one target after the other (never both at once):

1. `bare`: a FastAPI app with a single `POST /bare` that reads the body and answers an empty 200,
   served by uvicorn (one worker process). This is the floor: HTTP parsing, routing, the client.
2. `service`: the real service, started like production with `wecom-mod serve` (which applies
   the migrations first) on a fresh SQLite file, with the smart-bot channel on, a small word
   file, and `WECOM_API_BASE` pointing at a fake WeCom API (a third uvicorn process) so that the
   background workers never reach the internet. Every request is a distinct, correctly signed
   and encrypted smart-bot group text callback (`POST /wecom/aibot`); about one in ten contains
   a word from the word file, so the moderation path runs too (moderation log, outbox, the
   warning in the group and the alert to moderators, both sent to the fake API).

The load generator runs in this process: `--concurrency` asyncio workers, each with its own httpx
client and keep-alive connection, send `--requests` callbacks between them (after a warm-up of
`--warmup` callbacks that are not counted), or stop after `--seconds`. Bodies and signed query
strings are built before the clock starts. For each target it prints requests, errors (any
non-200 answer or transport failure, printed loudly), callbacks per second over the wall time of
the timed phase, and the p50/p90/p99/max time to the full answer; then the service/bare
throughput ratio. After the load it waits (at most 60 s) for the service to work through its
inbox and outbox, and checks that every acknowledged callback was stored exactly once.

The client, the server and its workers share the machine's cores, so the numbers are a
comparison between the two targets on this machine, not an absolute capacity figure.

Run it with `make bench`, or directly:

    .venv/bin/python benchmarks/callbacks.py [--requests N] [--concurrency C] [--seconds S]

Everything listens on 127.0.0.1 on free ports; the temporary directory (database, word file,
server logs) is removed at the end, and the servers are stopped even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/callbacks.py` puts benchmarks/ first
    sys.path.insert(0, str(ROOT))

from app.settings import Settings  # noqa: E402
from bot.crypto import CallbackCipher  # noqa: E402

HOST = "127.0.0.1"
CORP_ID = "wwbench0123456789"
AGENT_ID = "1000002"
APP_SECRET = "bench-app-secret"
AIBOT_TOKEN = "BenchAibotToken"
AIBOT_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"  # 43 characters
LEXICON = "赌博\tgambling\tblock\n加微信\tads\treview\n代开发票\tfraud\tblock\n刷单\tfraud\tblock\n"
FLAGGED_WORDS = ("赌博", "加微信", "代开发票", "刷单")
CLEAN_TEXTS = (
    "今天下午三点的例会改到四点，请大家准时参加。",
    "第二季度的报表已经上传到共享盘了，麻烦各位核对一下。",
    "明天上午有客户来访，前台记得准备访客证。",
    "新版本已经发布，更新说明见群公告。",
    "周五团建的地点定在公司附近的公园，中午十二点集合。",
)
FLAG_EVERY = 10  # one callback in ten contains a word from the word file
TIMESTAMP_WINDOW = 600  # seconds; the service refuses callbacks whose timestamp is further off
READY_TIMEOUT = 60.0  # seconds to wait for a server to answer /healthz
DRAIN_TIMEOUT = 60.0  # seconds to wait for the service's inbox to empty after the load
STOP_TIMEOUT = 20.0  # seconds to wait for a server to exit after SIGTERM
REQUEST_TIMEOUT = 30.0  # seconds per request

BARE_APP = textwrap.dedent(
    '''
    """A bare FastAPI endpoint: read the body, answer an empty 200."""
    from fastapi import FastAPI, Request, Response

    app = FastAPI()


    @app.post("/bare")
    async def bare(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)


    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}
    '''
)

FAKE_WECOM_APP = textwrap.dedent(
    '''
    """A fake WeCom server API: a token for /cgi-bin/gettoken, success for everything else."""
    from collections import Counter

    from fastapi import FastAPI, Request

    app = FastAPI()
    calls: Counter[str] = Counter()


    @app.get("/_stats")
    async def stats() -> dict[str, int]:
        return dict(calls)


    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(path: str, request: Request) -> dict[str, object]:
        await request.body()
        calls["/" + path] += 1
        if path == "cgi-bin/gettoken":
            return {"errcode": 0, "errmsg": "ok", "access_token": "T", "expires_in": 7200}
        return {"errcode": 0, "errmsg": "ok"}
    '''
)


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One server subprocess, its port and its log file."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str]
    cwd: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # Ctrl-C reaches this script only; it stops the servers
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Poll /healthz until it answers 200; returns the seconds it took. Raises on failure."""
        assert self.process is not None
        started = time.monotonic()
        deadline = started + timeout
        for _ in range(int(timeout / 0.1) + 1):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with status {self.process.returncode} before it "
                    f"was ready:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return time.monotonic() - started
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"!!! {self.name} did not stop within {STOP_TIMEOUT:.0f} s; killing it")
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(log is empty)"


def uvicorn_server(name: str, module: str, workdir: Path, env: dict[str, str]) -> Server:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{module}:app",
        "--app-dir",
        str(workdir),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return Server(name, argv, port, workdir / f"{name}.log", env, workdir)


def wecom_mod_argv(port: int) -> list[str]:
    script = Path(sys.executable).parent / "wecom-mod"
    if not script.exists():
        script = ROOT / ".venv" / "bin" / "wecom-mod"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    return [*command, "serve", "--host", HOST, "--port", str(port)]


def clean_environment() -> dict[str, str]:
    """This machine's environment without any wecom-mod setting (nothing leaks in)."""
    names = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in names}
    env.pop("WEB_CONCURRENCY", None)  # uvicorn would read it as a worker count
    env["PYTHONUNBUFFERED"] = "1"
    return env


# -- callbacks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    msgid: str
    encrypted: str
    body: bytes
    flagged: bool


def build_messages(cipher: CallbackCipher, count: int, run_id: str) -> list[Message]:
    """`count` distinct encrypted smart-bot group text callbacks (one in ten flagged)."""
    messages = []
    for i in range(count):
        msgid = f"bench-{run_id}-{i:06d}"
        flagged = i % FLAG_EVERY == FLAG_EVERY - 1
        text = CLEAN_TEXTS[i % len(CLEAN_TEXTS)]
        if flagged:
            text = f"{text} 有需要{FLAGGED_WORDS[(i // FLAG_EVERY) % len(FLAGGED_WORDS)]}的私聊我"
        plaintext = json.dumps(
            {
                "msgid": msgid,
                "aibotid": "AIBOTBENCH",
                "chatid": f"wrBench{i % 7}",
                "chattype": "group",
                "from": {"userid": f"user{i % 50:02d}"},
                "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response"
                f"?response_code={msgid}",
                "msgtype": "text",
                "text": {"content": f"@审核助手 {text} (#{i})"},
            },
            ensure_ascii=False,
        )
        encrypted = cipher.encrypt(plaintext)
        body = json.dumps({"encrypt": encrypted}).encode()
        messages.append(Message(msgid, encrypted, body, flagged))
    return messages


def signed_urls(cipher: CallbackCipher, path: str, messages: list[Message]) -> list[str]:
    """One URL per message, signed with the current timestamp and its own nonce."""
    timestamp = str(int(time.time()))
    urls = []
    for message in messages:
        nonce = secrets.token_hex(8)
        signature = cipher.sign(timestamp=timestamp, nonce=nonce, encrypted=message.encrypted)
        urls.append(f"{path}?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}")
    return urls


# -- load ------------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one batch of requests did."""

    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, every answered request
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # transport errors
    samples: list[str] = field(default_factory=list)  # a few non-200 answers, verbatim
    ok: set[int] = field(default_factory=set)  # indexes answered 200
    wall: float = 0.0
    cut_short: str = ""

    @property
    def errors(self) -> int:
        return self.sent - len(self.ok)


async def run_phase(
    clients: list[httpx.AsyncClient],
    urls: list[str],
    messages: list[Message],
    indexes: range,
    seconds: float,
) -> Phase:
    """Send the requests `indexes` with one worker per client; stop taking new ones after
    `seconds`. Bounded in count (the indexes) and in time (the deadline, the request timeout
    and a hard limit on the whole phase)."""
    phase = Phase()
    pending = iter(indexes)
    headers = {"content-type": "application/json"}
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        for index in pending:  # shared iterator: each index is taken by exactly one worker
            if time.perf_counter() > deadline:
                phase.cut_short = f"stopped after --seconds {seconds:g}"
                return
            phase.sent += 1
            started = time.perf_counter()
            try:
                response = await client.post(
                    urls[index], content=messages[index].body, headers=headers
                )
            except httpx.HTTPError as exc:
                phase.failures[f"{type(exc).__name__}: {exc}"[:200]] += 1
                continue
            phase.latencies.append(time.perf_counter() - started)
            phase.statuses[response.status_code] += 1
            if response.status_code == 200:
                phase.ok.add(index)
            elif len(phase.samples) < 5:
                phase.samples.append(f"{response.status_code} {response.text[:200]!r}")

    started = time.perf_counter()
    tasks = [asyncio.create_task(worker(client)) for client in clients]
    try:
        _done, unfinished = await asyncio.wait(tasks, timeout=seconds + REQUEST_TIMEOUT + 5)
    finally:  # on the time limit, and on Ctrl-C (which cancels this task), stop the workers
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    phase.wall = time.perf_counter() - started
    if unfinished:
        phase.cut_short = "hit the hard time limit of the phase; requests were cancelled"
    return phase


async def load(
    base_url: str,
    urls: list[str],
    messages: list[Message],
    warmup: int,
    concurrency: int,
    seconds: float,
) -> tuple[Phase, Phase]:
    # One client with one keep-alive connection per worker: a single httpx pool shared by 32
    # workers spends so much CPU on pool bookkeeping that it, not the server, sets the pace
    # (measured here: ~300/s shared against ~750/s per worker on the bare endpoint).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(REQUEST_TIMEOUT)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout)
            )
            for _ in range(concurrency)
        ]
        warm = await run_phase(clients, urls, messages, range(warmup), seconds)
        timed = await run_phase(clients, urls, messages, range(warmup, len(messages)), seconds)
    return warm, timed


# -- inbox -----------------------------------------------------------------------------------


@dataclass
class Drain:
    pending_at_end_of_load: int
    inbox_seconds: float | None  # from the end of the timed phase until no inbox event pending
    outbox_seconds: float | None  # ... until no outbox action pending either (None: timed out)
    statuses: dict[str, int]
    keys: set[str]
    rows: int
    outbox: dict[str, int]
    moderation_logs: int


def count_pending(db: sqlite3.Connection, table: str) -> int:
    queries = {
        "inbox": "SELECT count(*) FROM inbox_events WHERE status = 'pending'",
        "outbox": "SELECT count(*) FROM outbox_actions WHERE status = 'pending'",
    }
    return int(db.execute(queries[table]).fetchone()[0])


def wait_for_inbox(db_path: Path, load_ended: float) -> Drain:
    """Poll the service's SQLite file (read-only; WAL lets it read while the service writes)
    until no inbox event, then no outbox action, is pending, for at most DRAIN_TIMEOUT."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        pending_at_end = count_pending(db, "inbox")
        deadline = load_ended + DRAIN_TIMEOUT
        waited: dict[str, float | None] = {"inbox": None, "outbox": None}
        for table in waited:
            for _ in range(int(DRAIN_TIMEOUT / 0.05) + 1):
                if count_pending(db, table) == 0:
                    waited[table] = time.perf_counter() - load_ended
                    break
                if time.perf_counter() > deadline:
                    break
                time.sleep(0.05)
        statuses = dict(db.execute("SELECT status, count(*) FROM inbox_events GROUP BY status"))
        keys = {row[0] for row in db.execute("SELECT dedupe_key FROM inbox_events")}
        rows = int(db.execute("SELECT count(*) FROM inbox_events").fetchone()[0])
        outbox = dict(db.execute("SELECT status, count(*) FROM outbox_actions GROUP BY status"))
        logs = int(db.execute("SELECT count(*) FROM moderation_logs").fetchone()[0])
    finally:
        db.close()
    return Drain(
        pending_at_end, waited["inbox"], waited["outbox"], statuses, keys, rows, outbox, logs
    )


# -- report ----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def throughput(phase: Phase) -> float:
    return phase.sent / phase.wall if phase.wall > 0 else 0.0


def print_table(results: dict[str, Phase]) -> None:
    header = (
        f"{'target':<9} {'requests':>8} {'errors':>6} {'callbacks/s':>11} "
        f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, phase in results.items():
        values = sorted(phase.latencies)
        ms = [1000 * percentile(values, f) for f in (0.50, 0.90, 0.99)]
        peak = 1000 * values[-1] if values else 0.0
        print(
            f"{name:<9} {phase.sent:>8} {phase.errors:>6} {throughput(phase):>11.1f} "
            f"{ms[0]:>8.2f} {ms[1]:>8.2f} {ms[2]:>8.2f} {peak:>8.2f}"
        )
    if "bare" in results and "service" in results and throughput(results["bare"]) > 0:
        ratio = throughput(results["service"]) / throughput(results["bare"])
        print(f"throughput service/bare: {ratio:.2f}")


def report_errors(name: str, label: str, phase: Phase) -> bool:
    """Print a phase's errors loudly; True when there were any."""
    if phase.cut_short:
        print(f"note: {name} {label}: {phase.cut_short} ({phase.sent} sent)")
    if not phase.errors:
        return False
    print(f"!!! {name} {label}: {phase.errors} of {phase.sent} requests FAILED")
    for status, count in sorted(phase.statuses.items()):
        if status != 200:
            print(f"!!!   HTTP {status}: {count}")
    for sample in phase.samples:
        print(f"!!!   answer: {sample}")
    for failure, count in phase.failures.most_common(5):
        print(f"!!!   {count} x {failure}")
    return True


def report_drain(drain: Drain, warm: Phase, timed: Phase, messages: list[Message]) -> bool:
    """Print what the service stored and processed; True when something is wrong."""
    acknowledged = {f"aibot:msg:{messages[i].msgid}" for i in warm.ok | timed.ok}
    sent = warm.sent + timed.sent
    lost = acknowledged - drain.keys
    unacknowledged = drain.keys - acknowledged
    flagged = sum(1 for i in warm.ok | timed.ok if messages[i].flagged)
    print(
        f"inbox events stored: {drain.rows} (sent {sent} = {warm.sent} warm-up + "
        f"{timed.sent} timed; answered 200: {len(acknowledged)})"
    )
    problem = False
    if lost:
        problem = True
        print(f"!!! LOST: {len(lost)} callback(s) answered 200 but not in inbox_events")
    if drain.rows != len(drain.keys):
        problem = True
        print(f"!!! DUPLICATED: {drain.rows - len(drain.keys)} row(s) share a dedupe key")
    if unacknowledged:
        print(f"note: {len(unacknowledged)} stored event(s) were not answered 200 to the client")
    if not lost and drain.rows == len(drain.keys) == len(acknowledged):
        print("inbox check: every acknowledged callback stored exactly once (none lost or dup.)")
    statuses = ", ".join(f"{k}={v}" for k, v in sorted(drain.statuses.items()))
    print(
        f"inbox statuses: {statuses}; pending when the load ended: {drain.pending_at_end_of_load}"
    )
    if drain.inbox_seconds is not None:
        rate = ""
        if drain.pending_at_end_of_load and drain.inbox_seconds > 0:
            per_second = drain.pending_at_end_of_load / drain.inbox_seconds
            rate = f" (backlog of {drain.pending_at_end_of_load} at ~{per_second:.0f} events/s)"
        print(f"inbox drained {drain.inbox_seconds:.2f} s after the end of the timed phase{rate}")
    else:
        problem = True
        print(
            f"!!! inbox NOT drained within {DRAIN_TIMEOUT:.0f} s "
            f"({drain.statuses.get('pending', 0)} still pending)"
        )
    if drain.statuses.get("failed"):
        problem = True
        print(f"!!! {drain.statuses['failed']} inbox event(s) failed processing")
    outbox = ", ".join(f"{k}={v}" for k, v in sorted(drain.outbox.items())) or "none"
    print(
        f"moderation logs: {drain.moderation_logs} (flagged callbacks answered 200: {flagged}); "
        f"outbox actions: {outbox}"
    )
    if drain.moderation_logs != flagged:
        problem = True
        print(f"!!! expected {flagged} moderation log(s), found {drain.moderation_logs}")
    if drain.outbox_seconds is not None:
        print(f"outbox drained {drain.outbox_seconds:.2f} s after the end of the timed phase")
    elif drain.inbox_seconds is not None:
        problem = True
        print(f"!!! outbox NOT drained within {DRAIN_TIMEOUT:.0f} s")
    if drain.outbox.get("dead"):
        problem = True
        print(f"!!! {drain.outbox['dead']} outbox action(s) gave up (dead)")
    return problem


def report_server_log(server: Server) -> bool:
    """Summarise warnings and errors a server logged; True when there were any."""
    marks = ("WARNING", "ERROR", "CRITICAL", "Traceback", "database is locked")
    lines = [line for line in server.log_text().splitlines() if any(m in line for m in marks)]
    if not lines:
        return False
    locked = sum("database is locked" in line for line in lines)
    print(
        f"!!! {server.name} logged {len(lines)} warning/error line(s)"
        + (f", {locked} mentioning 'database is locked'" if locked else "")
    )
    distinct: Counter[str] = Counter()
    for line in lines:
        parts = line.split(" ", 2)  # drop the "date time" prefix of the service's log format
        message = parts[2] if len(parts) == 3 and parts[0][:2].isdigit() else line
        distinct[re.sub(r"\d+", "N", message)] += 1
    for text, count in distinct.most_common(8):
        print(f"!!!   {count} x {text[:240]}")
    return True


def machine_context() -> str:
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("fastapi", "uvicorn", "httpx", "sqlalchemy")
    )
    return (
        f"machine: {os.cpu_count()} CPU(s), {platform.platform()}, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; {versions}"
    )


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per target")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent client workers")
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="stop each timed phase after this long"
    )
    parser.add_argument("--warmup", type=int, default=200, help="uncounted warm-up requests")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--requests and --concurrency must be at least 1, --warmup at least 0")
    # Warm-up and timed phase each stop after --seconds; both must fit the timestamp window.
    if not 0 < args.seconds <= (TIMESTAMP_WINDOW - 2 * REQUEST_TIMEOUT) / 2:
        parser.error(f"--seconds must be in (0, {(TIMESTAMP_WINDOW - 2 * REQUEST_TIMEOUT) / 2:g}]")
    return args


def measure(args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack) -> bool:
    """Run both targets and print the report; True when anything went wrong."""
    (workdir / "bench_bare.py").write_text(BARE_APP, encoding="utf-8")
    (workdir / "bench_fake_wecom.py").write_text(FAKE_WECOM_APP, encoding="utf-8")
    lexicon = workdir / "lexicon.txt"
    lexicon.write_text(LEXICON, encoding="utf-8")
    db_path = workdir / "bench.db"
    env = clean_environment()

    cipher = CallbackCipher(token=AIBOT_TOKEN, encoding_aes_key=AIBOT_AES_KEY, receive_id="")
    messages = build_messages(cipher, args.warmup + args.requests, secrets.token_hex(4))
    results: dict[str, tuple[Phase, Phase]] = {}  # target -> (warm-up, timed)

    # 1. The bare endpoint.
    bare = uvicorn_server("bare", "bench_bare", workdir, env)
    stack.callback(bare.stop)
    bare.start()
    bare.wait_ready()
    urls = signed_urls(cipher, "/bare", messages)
    print(f"bare: listening on {bare.base_url}, sending ...", file=sys.stderr)
    results["bare"] = asyncio.run(
        load(bare.base_url, urls, messages, args.warmup, args.concurrency, args.seconds)
    )
    bare.stop()

    # 2. The service, with a fake WeCom API behind it.
    fake = uvicorn_server("fake-wecom", "bench_fake_wecom", workdir, env)
    stack.callback(fake.stop)
    fake.start()
    fake.wait_ready()
    port = free_port()
    service_env = {
        **env,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "WECOM_AIBOT_TOKEN": AIBOT_TOKEN,
        "WECOM_AIBOT_AES_KEY": AIBOT_AES_KEY,
        "LEXICON_PATH": str(lexicon),
        "LOG_LEVEL": "WARNING",
        "WECOM_API_BASE": fake.base_url,
        # App messages on, so that moderator alerts go to the fake API like warnings do.
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_AGENT_ID": AGENT_ID,
        "WECOM_APP_SECRET": APP_SECRET,
        "WECOM_ADMIN_USERIDS": "mod-alice,mod-bob",
    }
    # cwd is the temp dir, so no .env file of the checkout is read.
    service = Server(
        "service", wecom_mod_argv(port), port, workdir / "service.log", service_env, workdir
    )
    stack.callback(service.stop)
    service.start()
    startup = service.wait_ready()
    urls = signed_urls(cipher, "/wecom/aibot", messages)
    print(f"service: listening on {service.base_url}, sending ...", file=sys.stderr)
    results["service"] = asyncio.run(
        load(service.base_url, urls, messages, args.warmup, args.concurrency, args.seconds)
    )
    load_ended = time.perf_counter()
    print("service: waiting for the inbox to drain ...", file=sys.stderr)
    drain = wait_for_inbox(db_path, load_ended)
    fake_calls: dict[str, int] = {}
    with contextlib.suppress(httpx.HTTPError, ValueError):
        fake_calls = httpx.get(f"{fake.base_url}/_stats", timeout=5.0).json()
    service.stop()
    fake.stop()

    print()
    print_table({name: timed for name, (_warm, timed) in results.items()})
    print()
    problem = False
    for name, (warm, timed) in results.items():
        problem |= report_errors(name, "warm-up", warm) | report_errors(name, "timed", timed)
    problem |= report_drain(drain, *results["service"], messages)
    calls = ", ".join(f"{path} {count}" for path, count in sorted(fake_calls.items())) or "none"
    print(f"fake WeCom API calls received: {calls}")
    print(f"service start-up (migrations + boot) took {startup:.2f} s")
    for server in (bare, fake, service):
        problem |= report_server_log(server)
    return problem


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    print(machine_context())
    print(
        f"parameters: --requests {args.requests} --concurrency {args.concurrency} "
        f"--seconds {args.seconds:g} --warmup {args.warmup}; targets run one after the other; "
        f"1 in {FLAG_EVERY} callbacks flagged; uvicorn: 1 worker, log level warning, "
        f"no access log; client: httpx in this process, one connection per worker"
    )
    workdir = Path(tempfile.mkdtemp(prefix="wecom-mod-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            problem = measure(args, workdir, stack)
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, temporary files removed", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"!!! benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if problem:
        print("!!! problems were observed: see the lines marked !!! above")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
