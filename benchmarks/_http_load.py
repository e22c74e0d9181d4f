"""The load generator of `callbacks.py`: HTTP/1.1 keep-alive POSTs of pre-built requests, in a
closed loop (fixed concurrency, as fast as answers come) or an open loop (a fixed arrival rate,
sent on schedule whether or not earlier requests were answered).

The default client is a few lines of raw asyncio: it writes a request whose bytes were built
before the clock started and reads the status line, the headers and a Content-Length (or
chunked) body. It spends far less CPU per request than httpx (`--client httpx` keeps httpx for
comparison), which matters because the generator shares the machine's cores with the servers:
against the bare endpoint (one uvicorn process, 32 connections) on a busy 2-core machine, raw
2,800-3,500 requests/s, httpx (one client per connection) 410-580/s, so with httpx the client
set the pace, not the server.

Targets are spread strictly round-robin in the client (no load balancer): request `i` goes to
target `i % len(targets)`. In the closed loop, `concurrency` workers each hold one keep-alive
connection to one target (worker `k` to target `k % len(targets)`) and take that target's
requests in order. In the open loop, request `i` is due at `start + i / rate`; it is sent at
that time on an idle connection to its target (a new one is opened when none is idle), and its
latency runs from the time it was due, not from when it left (so a slow answer that holds up
later sends is counted, not omitted). The open loop also records the generator's own lag (due
until the request was taken up, before any wait for a connection) and when it took up the last
one, which together say whether it sustained the rate it was asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

__all__ = [
    "Phase",
    "Target",
    "build_request",
    "run_closed",
    "run_duplicates",
    "run_open",
]

REQUEST_TIMEOUT = 30.0  # seconds per request
MAX_OPEN_CONNECTIONS = 400  # per target, open loop: beyond this, a due request waits for one


@dataclass(frozen=True)
class Target:
    host: str
    port: int


def build_request(host: str, path_and_query: str, body: bytes) -> bytes:
    """The bytes of one POST with a JSON body (the same for every target: Host names no port,
    which uvicorn does not check)."""
    head = (
        f"POST {path_and_query} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


@dataclass
class Phase:
    """What one batch of requests did."""

    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, every answered request
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # transport errors
    samples: list[str] = field(default_factory=list)  # a few non-200 answers, verbatim
    ok: set[int] = field(default_factory=set)  # indexes answered 200
    answers_200: int = 0  # requests answered 200 (an index sent twice counts twice)
    answered_at: dict[int, float] = field(default_factory=dict)  # index -> time.time() of 200
    due_at: dict[int, float] = field(default_factory=dict)  # open loop: index -> time.time()
    lateness: list[float] = field(default_factory=list)  # open loop: seconds sent after due
    # open loop: seconds from due until the generator took the request up (its own lag, before
    # any wait for a free connection), and from the start until the last one was taken up
    dispatch_lag: list[float] = field(default_factory=list)
    dispatching: float = 0.0
    wall: float = 0.0
    cut_short: str = ""

    @property
    def errors(self) -> int:
        return self.sent - self.answers_200

    def record(self, index: int, status: int, body: bytes, latency: float) -> None:
        self.latencies.append(latency)
        self.statuses[status] += 1
        if status == 200:
            self.answers_200 += 1
            self.ok.add(index)
            self.answered_at[index] = time.time()
        elif len(self.samples) < 5:
            self.samples.append(f"{status} {body[:200]!r}")

    def fail(self, exc: BaseException) -> None:
        self.failures[f"{type(exc).__name__}: {exc}"[:200]] += 1


class Connection(Protocol):
    async def post(self, index: int) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...

    def reusable(self) -> bool: ...


class RawConnection:
    """One HTTP/1.1 keep-alive connection that sends pre-built requests."""

    def __init__(self, target: Target, requests: Sequence[bytes]) -> None:
        self._target = target
        self._requests = requests
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._reader.at_eof():
            await self.close()
            self._reader, self._writer = await asyncio.open_connection(
                self._target.host, self._target.port
            )
        return self._reader, self._writer

    def reusable(self) -> bool:
        return self._reader is not None and not self._reader.at_eof()

    async def post(self, index: int) -> tuple[int, bytes]:
        reader, writer = await self._open()
        try:
            writer.write(self._requests[index])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            chunked = close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            if chunked:
                parts = []
                while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    parts.append((await reader.readexactly(size + 2))[:-2])
                await reader.readuntil(b"\r\n")  # no trailers are sent
                body = b"".join(parts)
            else:
                body = await reader.readexactly(length) if length else b""
        except BaseException:
            await self.close()  # a half-read answer leaves the connection unusable
            raise
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()


class HttpxConnection:
    """The same through an httpx client with one keep-alive connection (for comparison)."""

    def __init__(self, target: Target, urls: Sequence[str], bodies: Sequence[bytes]) -> None:
        self._urls = urls
        self._bodies = bodies
        self._client = httpx.AsyncClient(
            base_url=f"http://{target.host}:{target.port}",
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(REQUEST_TIMEOUT),
        )

    def reusable(self) -> bool:
        return True

    async def post(self, index: int) -> tuple[int, bytes]:
        response = await self._client.post(
            self._urls[index],
            content=self._bodies[index],
            headers={"content-type": "application/json"},
        )
        return response.status_code, response.content

    async def close(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True)
class Requests:
    """Everything a connection needs to send request `i`: its raw bytes, or its URL and body."""

    raw: Sequence[bytes]
    urls: Sequence[str]
    bodies: Sequence[bytes]
    client: str = "raw"  # raw | httpx

    def connect(self, target: Target) -> Connection:
        if self.client == "httpx":
            return HttpxConnection(target, self.urls, self.bodies)
        return RawConnection(target, self.raw)


async def _post_into(phase: Phase, connection: Connection, index: int, since: float) -> bool:
    """Send request `index` on `connection` and record its answer in `phase`, timed from
    `since` (a perf_counter); False when the connection itself failed (it may be broken)."""
    try:
        status, body = await asyncio.wait_for(connection.post(index), timeout=REQUEST_TIMEOUT)
    except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
        phase.fail(exc)
        return False
    except httpx.HTTPError as exc:
        phase.fail(exc)
        return True
    phase.record(index, status, body, time.perf_counter() - since)
    return True


async def run_closed(
    requests: Requests,
    targets: Sequence[Target],
    indexes: Sequence[int],
    concurrency: int,
    seconds: float,
) -> Phase:
    """Send `indexes` (request `i` to target `i % len(targets)`) with `concurrency` workers
    (worker `k` on one connection to target `k % len(targets)`); stop taking new requests after
    `seconds`. Bounded in count, in time, and by a hard limit on the whole phase."""
    phase = Phase()
    queues = [iter([i for i in indexes if i % len(targets) == t]) for t in range(len(targets))]
    deadline = time.perf_counter() + seconds
    connections = [
        requests.connect(targets[k % len(targets)]) for k in range(max(concurrency, len(targets)))
    ]

    async def worker(k: int) -> None:
        connection = connections[k]
        for index in queues[k % len(targets)]:  # shared per target: each index taken once
            if time.perf_counter() > deadline:
                phase.cut_short = f"stopped after --seconds {seconds:g}"
                return
            phase.sent += 1
            await _post_into(phase, connection, index, time.perf_counter())

    started = time.perf_counter()
    tasks = [asyncio.create_task(worker(k)) for k in range(len(connections))]
    try:
        _done, unfinished = await asyncio.wait(tasks, timeout=seconds + REQUEST_TIMEOUT + 5)
    finally:  # on the time limit, and on Ctrl-C (which cancels this task), stop the workers
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
    phase.wall = time.perf_counter() - started
    if unfinished:
        phase.cut_short = "hit the hard time limit of the phase; requests were cancelled"
    return phase


async def run_open(
    requests: Requests,
    targets: Sequence[Target],
    indexes: Sequence[int],
    rate: float,
    warm_connections: int,
) -> Phase:
    """Send `indexes` at `rate` per second, the n-th due at start + n / rate, to target
    `n % len(targets)`, each on an idle connection to it (opening one when none is idle, up to
    MAX_OPEN_CONNECTIONS per target). Latency is measured from the time a request was due;
    `lateness` records how long after that it actually left (the generator's own lag).
    `warm_connections` per target are opened before the clock starts."""
    phase = Phase()
    idle: list[list[Connection]] = [[] for _ in targets]
    opened = [0] * len(targets)
    freed = [asyncio.Condition() for _ in targets]
    everything: list[Connection] = []

    for t, target in enumerate(targets):
        for _ in range(warm_connections):
            connection = requests.connect(target)
            if isinstance(connection, RawConnection):
                await connection._open()
            idle[t].append(connection)
            everything.append(connection)
            opened[t] += 1

    async def take(t: int) -> Connection:
        while True:
            while idle[t]:
                connection = idle[t].pop()  # the most recently used: likeliest still open
                if connection.reusable() or not isinstance(connection, RawConnection):
                    return connection
                await connection.close()  # the server closed it while idle: a fresh one
                return connection
            if opened[t] < MAX_OPEN_CONNECTIONS:
                opened[t] += 1
                connection = requests.connect(targets[t])
                everything.append(connection)
                return connection
            async with freed[t]:
                await freed[t].wait()

    async def give_back(t: int, connection: Connection) -> None:
        idle[t].append(connection)
        async with freed[t]:
            freed[t].notify()

    async def send(n: int, index: int, due: float) -> None:
        t = n % len(targets)
        taken_up = time.perf_counter()
        phase.dispatch_lag.append(taken_up - due)
        phase.dispatching = max(phase.dispatching, taken_up - start)
        connection = await take(t)
        phase.lateness.append(time.perf_counter() - due)
        if not await _post_into(phase, connection, index, due):
            await connection.close()
        await give_back(t, connection)

    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.05
    offset = time.time() - time.perf_counter()  # perf_counter -> time.time(), for the fake API
    try:
        for n, index in enumerate(indexes):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            phase.sent += 1
            phase.due_at[index] = due + offset
            task = asyncio.create_task(send(n, index, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(set(tasks), timeout=REQUEST_TIMEOUT + 5)
        unanswered = len(tasks)
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in everything), return_exceptions=True)
    phase.wall = time.perf_counter() - start
    if unanswered:
        phase.cut_short = f"{unanswered} request(s) unanswered after the time limit: cancelled"
    return phase


async def run_duplicates(
    requests: Requests, targets: Sequence[Target], indexes: Sequence[int]
) -> Phase:
    """Deliver each of `indexes` three times, as WeCom does when it retries: the n-th twice at
    once, to target `n % len(targets)` and to the next one, each on a fresh connection, then
    once more to the first after both were answered. Latencies are from each send."""
    phase = Phase()

    async def deliver(index: int, target: Target) -> None:
        connection = requests.connect(target)
        phase.sent += 1
        try:
            await _post_into(phase, connection, index, time.perf_counter())
        finally:
            await connection.close()

    started = time.perf_counter()
    for n, index in enumerate(indexes):
        first, second = targets[n % len(targets)], targets[(n + 1) % len(targets)]
        await asyncio.gather(deliver(index, first), deliver(index, second))
    for n, index in enumerate(indexes):
        await deliver(index, targets[n % len(targets)])
    phase.wall = time.perf_counter() - started
    return phase
