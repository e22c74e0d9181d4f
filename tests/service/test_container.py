"""The image (`deploy/Dockerfile`) built and run, and the compose topology's heart: replicas on one
PostgreSQL.

There is no Docker engine on these machines; podman runs the image with the flags this kernel
accepts, through `../shared/tools/container-env` (beside the repository; `.ci/run` sets it up:
podman, runc and a local Debian base with Python 3.11, since no image registry can be reached).
The image is built with that base (`PYTHON_IMAGE`), then:

- one container on its default SQLite database answers `/healthz` and `/readyz`, and its
  process runs as UID 10001 (not root);
- `wecom-mod migrate` in a container migrates an empty PostgreSQL database;
- two containers `serve --no-migrate` on that database; a signed smart-bot callback is
  delivered to each of them (WeCom's retry reaching the other replica) and both answer 200, and
  another callback to each: every message is stored once and judged once.

Containers share the host's network (`--network host`), each on its own port. The test skips,
saying why, when podman or the tool is not there; `.ci/run` makes sure both are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import database_urls
from tests import support
from tests.processes import HOST, ROOT, aibot_callback, free_port

pytestmark = pytest.mark.slow

CONTAINER_ENV = ROOT.parent / "shared" / "tools" / "container-env"
BASE_IMAGE = "localhost/python:3.11-slim-local"
IMAGE = "localhost/wecom-mod:test"
RUN_ID = uuid.uuid4().hex[:8]


def _podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def image() -> str:
    """The image built from this tree on the local base (skips when it cannot be)."""
    if not CONTAINER_ENV.exists():
        pytest.skip(f"{CONTAINER_ENV} is missing (it lives in shared/ beside the repository)")
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: run ../shared/tools/container-env setup")
    if _podman("image", "exists", BASE_IMAGE).returncode != 0:
        pytest.skip(f"no {BASE_IMAGE}: run ../shared/tools/container-env setup")
    built = subprocess.run(
        [
            str(CONTAINER_ENV),
            "build",
            "--format",
            "docker",
            "-f",
            "deploy/Dockerfile",
            "--build-arg",
            f"PYTHON_IMAGE={BASE_IMAGE}",
            "-t",
            IMAGE,
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return IMAGE


class Containers:
    """Containers a test starts, removed at the end even when it fails."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def run(self, image: str, name: str, env: dict[str, str], *args: str) -> str:
        name = f"wecom-mod-test-{RUN_ID}-{name}"
        flags = [f"--env={key}={value}" for key, value in env.items()]
        started = subprocess.run(
            [
                str(CONTAINER_ENV),
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "host",
                *flags,
                image,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert started.returncode == 0, started.stderr
        self.names.append(name)
        return name

    def wait(self, name: str, timeout: float = 120) -> int:
        waited = _podman("wait", name, timeout=timeout)
        assert waited.returncode == 0, waited.stderr
        return int(waited.stdout.strip().splitlines()[-1])

    def logs(self, name: str) -> str:
        result = _podman("logs", name)
        return result.stdout + result.stderr

    def remove_all(self) -> None:
        for name in self.names:
            _podman("rm", "--force", "--time", "5", name)


@pytest.fixture
def containers() -> Iterator[Containers]:
    started = Containers()
    try:
        yield started
    finally:
        started.remove_all()


def _serves_the_word(base_url: str, text: str, timeout: float = 60.0) -> None:
    """Wait until the replica at `base_url` finds a word in `text` (its lexicon reloaded)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.post(
            base_url + "/api/v1/lexicon/test",
            json={"text": text},
            headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
            timeout=10,
        )
        if answer.status_code == 200 and answer.json()["findings"]:
            return
        assert time.monotonic() < deadline, f"{base_url} did not load the lexicon: {answer.text}"
        time.sleep(0.2)


def _ready(base_url: str, path: str, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(base_url + path, timeout=5)
            if response.status_code == 200:
                return response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{base_url}{path} did not answer 200 within {timeout:g} s: {last}")


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped at the end)."""
    base = os.environ.get("WECOM_MOD_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("WECOM_MOD_TEST_POSTGRES_URL is not set")
    admin_url = make_url(database_urls(base).sync_url)
    name = f"wecom_mod_image_{RUN_ID}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL does not answer: {exc}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url.replace("postgresql+psycopg://", "postgresql://")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_image_answers_its_probes_and_runs_as_uid_10001(
    image: str, containers: Containers
) -> None:
    port = free_port()
    name = containers.run(image, "alone", {}, "serve", "--host", HOST, "--port", str(port))
    base_url = f"http://{HOST}:{port}"
    health = _ready(base_url, "/healthz").json()
    assert health["status"] == "ok"
    assert _ready(base_url, "/readyz").status_code == 200
    user = _podman("exec", name, "python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert user.stdout.split() == ["10001", "10001"], user.stderr
    top = _podman("top", name, "user", "huser", "args")
    assert "wecom-mod" in top.stdout and "root" not in top.stdout.split("\n", 1)[1], top.stdout
    assert "wecom-mod ready" in containers.logs(name)


@pytest.mark.postgres
def test_two_containers_on_one_postgresql_answer_each_callback_and_judge_it_once(
    image: str, containers: Containers, empty_postgres: str, tmp_path: Path
) -> None:
    lexicon = "赌博\tgambling\tblock\n"
    env = {
        "DATABASE_URL": empty_postgres,
        "WECOM_AIBOT_TOKEN": support.AIBOT_TOKEN,
        "WECOM_AIBOT_AES_KEY": support.AIBOT_AES_KEY,
        "WECOM_API_BASE": f"http://{HOST}:{free_port()}",  # nothing there: sends wait
        "ADMIN_API_TOKEN": support.ADMIN_TOKEN,
    }
    migrate = containers.run(image, "migrate", env, "migrate")
    assert containers.wait(migrate) == 0, containers.logs(migrate)
    assert "migrated from empty to" in containers.logs(migrate)

    replicas = []
    for index in (1, 2):
        port = free_port()
        containers.run(
            image,
            f"replica{index}",
            env,
            "serve",
            "--no-migrate",
            "--host",
            HOST,
            "--port",
            str(port),
        )
        replicas.append(f"http://{HOST}:{port}")
    for base_url in replicas:
        _ready(base_url, "/readyz")
    # The lexicon through the REST API of one replica; the other follows within seconds.
    added = httpx.post(
        replicas[0] + "/api/v1/lexicon/words/bulk",
        json={"text": lexicon},
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
        timeout=10,
    )
    assert added.status_code == 200, added.text
    # Each replica judges with the lexicon once it has loaded it: wait for both to serve it
    # (a callback judged before the other replica's reload finds nothing and logs nothing).
    for base_url in replicas:
        _serves_the_word(base_url, "今晚一起去赌博")

    def deliver(base_url: str, msgid: str) -> int:
        path, body = aibot_callback(
            token=support.AIBOT_TOKEN,
            aes_key=support.AIBOT_AES_KEY,
            msgid=msgid,
            text="今晚一起去赌博",
            chat_id="wrImage1",
            sender=f"user-{msgid}",
        )
        return httpx.post(base_url + path, content=body, timeout=10).status_code

    answers = [deliver(base_url, "image-both") for base_url in replicas]
    answers += [deliver(base_url, f"image-{index}") for index, base_url in enumerate(replicas)]
    assert answers == [200, 200, 200, 200]

    engine = create_engine(database_urls(empty_postgres).sync_url)
    try:
        deadline = time.monotonic() + 60
        while True:
            with engine.connect() as connection:
                events = connection.execute(
                    text("SELECT dedupe_key, status FROM inbox_events ORDER BY dedupe_key")
                ).all()
                logs = connection.execute(
                    text("SELECT message_id FROM moderation_logs ORDER BY message_id")
                ).all()
            if all(status == "done" for _key, status in events) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    assert [tuple(row) for row in events] == [
        ("aibot:msg:image-0", "done"),
        ("aibot:msg:image-1", "done"),
        ("aibot:msg:image-both", "done"),
    ]
    assert [row[0] for row in logs] == ["image-0", "image-1", "image-both"]
    print("\nimage: " + json.dumps({"replicas": len(replicas), "events": len(events)}))
