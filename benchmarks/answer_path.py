"""The answer path alone: how many smart-bot callbacks/s HTTP-only replicas answer, next to the
bare endpoint, and the CPU each callback costs in the server, in PostgreSQL and in the client.

`callbacks.py` measures the service as it runs, each replica judging and sending too. This one
takes judging and sending out of the picture, to show the ceiling of the answer itself: R
`wecom-mod serve --no-workers` replicas (R = each of `--replicas`) on a fresh temporary
PostgreSQL database store every callback in the inbox and judge nothing (nothing runs the
workers, so the inbox only grows), next to R uvicorn processes of the bare FastAPI endpoint
(`_bare_app.py`). The callbacks, the client and the servers are those of `callbacks.py`.

Each target gets `--rounds` closed loops of `--requests` distinct callbacks (after one warm-up
round), the targets taking turns round by round (bare, service, bare, service, ...) so that a
slow minute of the machine falls on both. Per round it prints callbacks/s and the CPU seconds
per callback of the server processes, of every `postgres` process of this machine (0 when the
server runs elsewhere) and of this process (the client), read from /proc. The summary gives
the medians and the ratio of the medians (service / bare).

    .venv/bin/python benchmarks/answer_path.py [--requests N] [--rounds K] [--concurrency C]
        [--replicas 1,2] [--postgres URL]

Linux only (/proc). The temporary directory and database are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import callbacks as bench  # noqa: E402
from benchmarks._backends import DEFAULT_SERVER, temporary_database  # noqa: E402
from benchmarks._http_load import run_closed  # noqa: E402
from bot.crypto import CallbackCipher  # noqa: E402
from tests.processes import clean_environment, free_port  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process `pid`; 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def postgres_cpu() -> float:
    """CPU seconds of every process named `postgres` on this machine."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += process_cpu(int(entry.name))
    return total


def client_cpu() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Measured:
    name: str
    servers: list[bench.Server]
    path: str
    rates: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # CPU ms per callback
    postgres_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def round(
        self, callbacks: bench.Callbacks, count: int, concurrency: int, *, counted: bool = True
    ) -> str:
        """One closed loop of `count` new callbacks; recorded when `counted`."""
        ids = callbacks.add(count)
        requests = callbacks.requests(self.path, list(ids), "raw")
        targets = [server.target for server in self.servers]
        pids = [server.process.pid for server in self.servers]
        server0, postgres0, client0 = sum(map(process_cpu, pids)), postgres_cpu(), client_cpu()
        phase = asyncio.run(run_closed(requests, targets, ids, concurrency, 600.0))
        server1, postgres1, client1 = sum(map(process_cpu, pids)), postgres_cpu(), client_cpu()
        self.errors += phase.errors
        figures = (
            bench.throughput(phase),
            1000 * (server1 - server0) / count,
            1000 * (postgres1 - postgres0) / count,
            1000 * (client1 - client0) / count,
        )
        if counted:
            for series, figure in zip(
                (self.rates, self.server_ms, self.postgres_ms, self.client_ms), figures, strict=True
            ):
                series.append(figure)
        rate, server_ms, postgres_ms, client_ms = figures
        return (
            f"{self.name:<28} {rate:8.1f}/s  CPU ms per callback: server {server_ms:.3f}, "
            f"postgres {postgres_ms:.3f}, client {client_ms:.3f}; errors {phase.errors}"
        )

    def median_line(self) -> str:
        return (
            f"{self.name:<28} {statistics.median(self.rates):8.1f}/s  CPU ms per callback: server "
            f"{statistics.median(self.server_ms):.3f}, postgres "
            f"{statistics.median(self.postgres_ms):.3f}, client "
            f"{statistics.median(self.client_ms):.3f}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="callbacks per round")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per target")
    parser.add_argument("--concurrency", type=int, default=32, help="connections in all")
    parser.add_argument("--replicas", default="1,2", help="replica counts, comma-separated")
    parser.add_argument("--postgres", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args(argv)
    try:
        args.replica_counts = sorted({int(part) for part in args.replicas.split(",")})
    except ValueError:
        parser.error(f"--replicas: not a list of numbers: {args.replicas!r}")
    if min(args.replica_counts) < 1 or args.requests < 1 or args.rounds < 1:
        parser.error("--replicas, --requests and --rounds must be at least 1")
    return args


def measure(replicas: int, args: argparse.Namespace, workdir: Path) -> bool:
    env = clean_environment()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(temporary_database(args.postgres))
        if url is None:
            print(f"!!! no PostgreSQL server answers at {args.postgres}")
            return False
        bare = Measured(
            f"bare x{replicas}",
            [
                bench.uvicorn_server(f"bare-{r + 1}-of-{replicas}", "_bare_app", workdir, env)
                for r in range(replicas)
            ],
            "/bare",
        )
        service_env = bench.service_environment(env, url, workdir)
        servers = []
        for r in range(replicas):
            port = free_port()
            servers.append(
                bench.Server(
                    f"serve --no-workers #{r + 1}",
                    [*bench.wecom_mod_argv(port), "--no-workers"],
                    port,
                    workdir / f"answer-{replicas}-{r + 1}.log",
                    service_env,
                    workdir,
                )
            )
        service = Measured(f"serve --no-workers x{replicas}", servers, "/wecom/aibot")
        bench.start_all([*bare.servers, *service.servers], stack)
        cipher = CallbackCipher(
            token=bench.AIBOT_TOKEN, encoding_aes_key=bench.AIBOT_AES_KEY, receive_id=""
        )
        print(f"\n=== {replicas} process(es) each; {args.rounds} rounds after one warm-up ===")
        for number in range(args.rounds + 1):  # round 0 warms up and is not counted
            for target in (bare, service):
                line = target.round(
                    bench.Callbacks(cipher, secrets.token_hex(4)),
                    args.requests,
                    args.concurrency,
                    counted=number > 0,
                )
                print(f"{f'round {number}' if number else 'warm-up'}: {line}", flush=True)
        print("medians:")
        print("  " + bare.median_line())
        print("  " + service.median_line())
        ratio = statistics.median(service.rates) / statistics.median(bare.rates)
        print(f"  ratio of the medians, service / bare: {ratio:.2f}")
        problem = bool(bare.errors or service.errors)
        for server in [*bare.servers, *service.servers]:
            problem |= bench.report_server_log(server)
        if problem:
            print(f"!!! errors: bare {bare.errors}, service {service.errors} (see above)")
        return not problem


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(bench.machine_context())
    ok = True
    with tempfile.TemporaryDirectory(prefix="wecom-mod-answer-") as tmp:
        workdir = Path(tmp)
        (workdir / "lexicon.txt").write_text(bench.LEXICON, encoding="utf-8")
        for replicas in args.replica_counts:
            ok &= measure(replicas, args, workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
