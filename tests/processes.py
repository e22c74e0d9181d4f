"""The service and a fake WeCom API as real processes, for tests that need a real server:
SIGKILL and SIGTERM, a real connection pool, real uvicorn.

- `FakeWeComServer`: a uvicorn process serving `fake_wecom_app` (this module, `--factory`). It
  answers like WeCom's server API (a token for `/cgi-bin/gettoken`, `{"errcode": 0}` for
  everything else) and records every request, with the time it arrived and the time it was
  answered. `control(delay=..., status=...)` makes every call but `gettoken` slow, or answered
  with an HTTP status (502, 503, ...). `requests()` and `state()` read what it got. It lives in
  its own process, so it outlives the service it serves.
- `ServiceProcess`: `wecom-mod serve` (the console script, or `python -m app.cli`) with the
  settings given as environment variables, nothing else of this machine's wecom-mod settings,
  and the temporary directory as its working directory (no `.env` is read).
- `TcpProxy`: a TCP proxy in a thread of the test (e.g. between the service and PostgreSQL);
  `cut()` drops every connection through it and refuses new ones until `restore()`.
- `aibot_callback`: a signed, encrypted smart-bot callback (URL and body), as WeCom sends it.

Every process listens on 127.0.0.1 on a free port, writes its output to a log file (shown when
it fails to start), and is stopped by `stop()` (SIGTERM, then SIGKILL) even when a test fails.
This module imports nothing of the service at import time (uvicorn imports it in the fake's
process); FastAPI is imported here so that the fake's handlers' annotations resolve.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

__all__ = [
    "HOST",
    "FakeWeComServer",
    "ServiceProcess",
    "TcpProxy",
    "aibot_callback",
    "clean_environment",
    "fake_wecom_app",
    "free_port",
]

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_TIMEOUT = 60.0  # seconds for a server to answer /healthz
STOP_TIMEOUT = 20.0  # seconds for a server to exit after SIGTERM before it is killed


def uvicorn_argv(factory: str, port: int, *extra: str) -> list[str]:
    """The command of a uvicorn process serving the app factory `factory` (module:function)
    of this repository on HOST:port, warnings and worse logged."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--app-dir",
        str(ROOT),
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """This machine's environment without any wecom-mod setting (nothing leaks in)."""
    from app.settings import Settings

    names = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in names}
    env.pop("WEB_CONCURRENCY", None)  # uvicorn would read it as a worker count
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class ServerProcess:
    """One server subprocess, its port and its log file (also used by benchmarks/)."""

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

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # a Ctrl-C of pytest reaches pytest only
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Poll /healthz until it answers 200; returns the seconds it took. RuntimeError
        (with the log) otherwise."""
        assert self.process is not None
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with status {self.process.returncode} before it was "
                    f"ready:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} did not answer /healthz in {timeout:g} s:\n{self.log_tail()}"
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, like a crash or an OOM kill."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def terminate(self) -> None:
        """SIGTERM: what an orchestrator sends first; the caller waits with `wait()`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; nothing when it is not running."""
        if not self.running():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(log is empty)"


# -- the fake WeCom API ----------------------------------------------------------------------


def fake_wecom_app() -> Any:
    """The fake WeCom API (an ASGI app; uvicorn `--factory` calls this in the fake's process)."""
    app = FastAPI()
    records: list[dict[str, Any]] = []
    control: dict[str, Any] = {"delay": 0.0, "status": None}
    inflight = {"count": 0}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/_fake/control")
    async def set_control(request: Request) -> dict[str, Any]:
        control.update(await request.json())
        return control

    @app.get("/_fake/requests")
    async def get_requests() -> list[dict[str, Any]]:
        return records

    @app.get("/_fake/state")
    async def get_state() -> dict[str, Any]:
        calls = [record for record in records if record["path"] != "/cgi-bin/gettoken"]
        waiting = [record["arrived"] for record in calls if record["answered"] is None]
        return {
            "received": len(records),
            "answered": len(calls) - len(waiting),  # calls but gettoken, answered
            "inflight": inflight["count"],
            "inflight_since": min(waiting, default=None),  # time.time() the oldest arrived
            **control,
        }

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(path: str, request: Request) -> JSONResponse:
        body = (await request.body()).decode("utf-8", "replace")
        record: dict[str, Any] = {
            "seq": len(records),
            "method": request.method,
            "path": "/" + path,
            "query": request.url.query,
            "body": body,
            "arrived": time.time(),
            "answered": None,
            "status": 200,
        }
        records.append(record)
        if path == "cgi-bin/gettoken":
            record["answered"] = time.time()
            return JSONResponse(
                {"errcode": 0, "errmsg": "ok", "access_token": "T", "expires_in": 7200}
            )
        inflight["count"] += 1
        try:
            if control["delay"]:
                await asyncio.sleep(float(control["delay"]))
            status = control["status"] or 200
            record["status"] = status
            record["answered"] = time.time()
            if status != 200:
                return JSONResponse({"error": "unavailable"}, status_code=status)
            return JSONResponse({"errcode": 0, "errmsg": "ok"})
        finally:
            inflight["count"] -= 1

    return app


@dataclass
class FakeWeComServer(ServerProcess):
    """The fake WeCom API in its own uvicorn process (see the module docstring)."""

    @classmethod
    def create(cls, workdir: Path) -> FakeWeComServer:
        port = free_port()
        argv = uvicorn_argv("tests.processes:fake_wecom_app", port, "--no-access-log")
        return cls("fake-wecom", argv, port, workdir / "fake-wecom.log", clean_environment(), ROOT)

    def control(self, *, delay: float = 0.0, status: int | None = None) -> None:
        """From now on, wait `delay` seconds before answering any call but gettoken, and answer
        them with HTTP `status` (None: success, 200 with errcode 0)."""
        values = {"delay": delay, "status": status}
        httpx.post(f"{self.base_url}/_fake/control", json=values, timeout=5.0).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        """Every request received so far, in arrival order (gettoken included)."""
        response = httpx.get(f"{self.base_url}/_fake/requests", timeout=10.0)
        response.raise_for_status()
        return list(response.json())

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/_fake/state", timeout=5.0)
        response.raise_for_status()
        return dict(response.json())


# -- the service -----------------------------------------------------------------------------


def wecom_mod_command() -> list[str]:
    """The `wecom-mod` console script of this environment (pyproject: app.cli:main)."""
    script = Path(sys.executable).parent / "wecom-mod"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


@dataclass
class ServiceProcess(ServerProcess):
    """`wecom-mod serve` with `settings` (setting name → value) as its whole configuration."""

    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, workdir: Path, settings: dict[str, str]) -> ServiceProcess:
        port = free_port()
        argv = [*wecom_mod_command(), "serve", "--host", HOST, "--port", str(port)]
        env = {**clean_environment(), **{name.upper(): value for name, value in settings.items()}}
        return cls("service", argv, port, workdir / "service.log", env, workdir, None, settings)

    def restarted(self) -> ServiceProcess:
        """A new process with the same settings and port (the old one must have exited)."""
        assert not self.running()
        return ServiceProcess(
            self.name, self.argv, self.port, self.log_path, self.env, self.cwd, None, self.settings
        )


# -- a TCP proxy ---------------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`, from an asyncio loop in its own thread. While
    cut, every connection through it is closed and each new one is accepted and closed at once
    (the client sees the server hang up, as when a database restarts or a firewall resets)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.cut_off = False
        self.port = 0

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._serve, HOST, 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def __exit__(self, *_exc: object) -> None:
        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._call(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def cut(self) -> None:
        async def close_all() -> None:
            self.cut_off = True
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._call(close_all())

    def restore(self) -> None:
        self.cut_off = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, RuntimeError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers.difference_update((writer, upstream_writer))


# -- callbacks -------------------------------------------------------------------------------


def aibot_callback(
    *,
    token: str,
    aes_key: str,
    msgid: str,
    text: str,
    chat_id: str,
    sender: str,
) -> tuple[str, bytes]:
    """(path with signed query, body) of a smart-bot group text callback. Its response_url is
    on qyapi.weixin.qq.com, which the service re-roots on WECOM_API_BASE, and names `msgid`."""
    from bot.crypto import CallbackCipher

    cipher = CallbackCipher(token=token, encoding_aes_key=aes_key, receive_id="")
    plaintext = json.dumps(
        {
            "msgid": msgid,
            "aibotid": "AIBOTFAULTS",
            "chatid": chat_id,
            "chattype": "group",
            "from": {"userid": sender},
            "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response"
            f"?response_code={msgid}",
            "msgtype": "text",
            "text": {"content": f"@审核助手 {text}"},
        },
        ensure_ascii=False,
    )
    encrypted = cipher.encrypt(plaintext)
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(8)
    signature = cipher.sign(timestamp=timestamp, nonce=nonce, encrypted=encrypted)
    path = f"/wecom/aibot?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}"
    return path, json.dumps({"encrypt": encrypted}).encode()


def api_under_test() -> Any:
    """`wecom-mod serve`'s app from the environment's settings, for uvicorn `--factory`, with
    the failed-auth throttle off: a property-based run sends thousands of wrong tokens from one
    address, and the throttle (tested on its own in test_hostile_input.py) would make each
    wait 5 s. Everything else is the service as served."""
    from app.admin.auth import FailedAuthThrottle
    from app.main import create_app
    from app.settings import load_settings

    app = create_app(load_settings())
    app.state.auth_throttle = FailedAuthThrottle(free_failures=10**9)
    return app
