"""Run a benchmark script of this directory against a baseline git revision, in the same run.

    .venv/bin/python benchmarks/against.py --baseline REV [--rounds K] -- SCRIPT [ARGS ...]

e.g. `benchmarks/against.py --baseline HEAD~3 -- pipeline.py --messages 1000`. It checks REV
out into a temporary detached `git worktree` (removed at the end, even on Ctrl-C), then runs K
rounds (default 3), each the baseline first, then this tree: the baseline tree's copy of
SCRIPT with PYTHONPATH=<baseline tree>, then this tree's with PYTHONPATH=<this tree>, both with
this interpreter (this tree's venv; its editable install of this tree comes after PYTHONPATH on
the import path, so PYTHONPATH decides which `app`, `moderation`, ... are imported). The servers
that `callbacks.py` and `answer_path.py` start (`wecom-mod serve`, uvicorn) inherit PYTHONPATH
through `tests.processes.clean_environment`; before the rounds, for each tree, a child started
the same way (that tree's `clean_environment`, a working directory outside both trees) prints
which `app` it imports, and the run stops if that is not the tree's.

Each run's output is printed as it comes, under a `baseline REV` or `this tree` header. The
summary then puts side by side the figures it can read (`figures`: pipeline.py's decisions/s
and CPU milliseconds per message; callbacks.py's closed-loop callbacks/s and p99, peak RSS and
time to the warning): each round's value, the medians, and this tree's median over the
baseline's. A script whose lines it cannot read is shown only as the two outputs. "This tree"
is the working tree as it is, uncommitted changes included. Exit status: 1 when a run failed
(exit status not 0), else 0.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = "benchmarks"
PROBE = (
    "import subprocess, sys; from tests.processes import clean_environment; "
    "subprocess.run([sys.executable, '-c', 'import app; print(app.__file__)'], "
    "env=clean_environment(), check=True)"
)

# pipeline.py: "sqlite     1,000 messages in 0.93 s = 1,075 decisions/s (0.87 ms CPU
# of this process per message)"
THROUGHPUT = re.compile(
    r"^(?P<name>\S+)\s+[\d,]+ \w+ in\s+[\d.]+ s =\s+(?P<rate>[\d,.]+) (?P<unit>[\w/]+/s) "
    r"\((?P<cpu>[\d.]+) ms CPU"
)
# callbacks.py's summary rows: "postgresql x1   587.3  32.1  192.4 ..." (callbacks/s first)
CALLBACK_ROW = re.compile(
    r"^(?P<name>(?:sqlite|postgresql|pg) x\d+(?: split)?)\s+(?P<rate>[\d.]+)\s+[\d.]+\s+"
    r"(?P<p99>[\d.]+)\s"
)
# callbacks.py: "memory: postgresql x1 #1 (pid 9344): peak RSS 262.9 MB, now ..."
PEAK_RSS = re.compile(r"^memory: (?P<name>.+?) \(pid \d+\): peak RSS (?P<mb>[\d.]+) MB")
# callbacks.py: "... callback -> warning p99 < 2 s at 1000/s for 60 s: PASS (812.3 ms over ..."
E2E = re.compile(
    r"^(?:!!! )?(?P<name>\S+ x\d+): callback -> warning p99 .*?\((?P<ms>[\d.]+|inf) ms"
)


def figures(output: str) -> dict[str, float]:
    """The figures of one run's output that the summary compares, by name."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        if match := THROUGHPUT.match(line):
            name = match["name"]
            found[f"{name} {match['unit']}"] = float(match["rate"].replace(",", ""))
            found[f"{name} ms CPU/message"] = float(match["cpu"])
        elif match := CALLBACK_ROW.match(line):
            found[f"{match['name']} callbacks/s (closed loop)"] = float(match["rate"])
            found[f"{match['name']} p99 ms (closed loop)"] = float(match["p99"])
        elif match := PEAK_RSS.match(line):
            found[f"{match['name']} peak RSS MB"] = float(match["mb"])
        elif match := E2E.match(line):
            found[f"{match['name']} callback -> warning p99 ms"] = float(match["ms"])
    return found


def side_by_side(
    baseline: Sequence[dict[str, float]], current: Sequence[dict[str, float]], label: str
) -> list[str]:
    """The summary's lines: each figure read from both trees, per round, medians, ratio."""
    names = [name for run in [*baseline, *current] for name in run]
    names = [name for name in dict.fromkeys(names) if any(name in run for run in baseline)]
    names = [name for name in names if any(name in run for run in current)]
    if not names:
        return ["no figures read from the outputs: compare the outputs above"]

    def cell(runs: Sequence[dict[str, float]], name: str) -> tuple[str, float]:
        values = [run[name] for run in runs if name in run]
        median = statistics.median(values)
        each = " / ".join(f"{value:,.2f}" for value in values)
        return (each if len(values) == 1 else f"{each} (median {median:,.2f})"), median

    rows = [("figure", label, "this tree", "this tree / baseline (medians)")]
    for name in names:
        (old, old_median), (new, new_median) = cell(baseline, name), cell(current, name)
        rows.append((name, old, new, f"{new_median / old_median:.2f}" if old_median else "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return [
        "  ".join(
            [f"{row[0]:<{widths[0]}}", f"{row[1]:>{widths[1]}}", f"{row[2]:>{widths[2]}}", row[3]]
        )
        for row in rows
    ]


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def tree_env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH", "")]))
    return env


def check_imports(tree: Path, scratch: Path, label: str) -> None:
    """Stop unless a child launched like the benchmarks' servers imports `tree`'s app."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=tree_env(tree),
        cwd=scratch,
        capture_output=True,
        text=True,
    )
    where = probe.stdout.strip()
    print(f"{label}: a server child imports app from {where or probe.stderr.strip()}")
    if probe.returncode != 0 or not Path(where).resolve().is_relative_to(tree.resolve()):
        sys.exit(f"!!! {label}: the child does not import {tree}'s app; stopping")


def run_script(tree: Path, script: str, args: Sequence[str], label: str) -> tuple[str, int]:
    """Run `tree`'s copy of the script; its output, printed as it comes, and exit status."""
    print(f"\n=== {label}: {script} {' '.join(args)} ===", flush=True)
    process = subprocess.Popen(
        [sys.executable, str(tree / BENCH / script), *args],
        env=tree_env(tree),
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    return "".join(lines), process.wait()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run a benchmark script against a baseline git revision, rounds alternated.",
        usage="%(prog)s --baseline REV [--rounds K] -- SCRIPT [ARGS ...]",
    )
    parser.add_argument("--baseline", required=True, help="a git revision (HEAD~3, main, ...)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tree (default 3)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="SCRIPT [ARGS ...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("name a script of benchmarks/ after --, e.g. -- pipeline.py")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.script = Path(command[0]).name
    args.script_args = command[1:]
    if not (ROOT / BENCH / args.script).is_file():
        parser.error(f"no {BENCH}/{args.script} in this tree")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    commit = git("rev-parse", "--verify", f"{args.baseline}^{{commit}}")
    short = commit[:10]
    baseline_label = f"baseline {args.baseline} ({short})"
    head = git("rev-parse", "--short=10", "HEAD")
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    this_label = f"this tree ({head}{dirty})"
    scratch = Path(tempfile.mkdtemp(prefix="wecom-mod-against-"))
    tree = scratch / "baseline"
    git("worktree", "add", "--detach", str(tree), commit)
    failed = False
    outputs: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    try:
        if not (tree / BENCH / args.script).is_file():
            sys.exit(f"!!! {BENCH}/{args.script} is not in {baseline_label}")
        check_imports(tree, scratch, baseline_label)
        check_imports(ROOT, scratch, this_label)
        for round_number in range(1, args.rounds + 1):
            for key, where, label in (
                ("baseline", tree, baseline_label),
                ("this", ROOT, this_label),
            ):
                round_label = f"round {round_number}/{args.rounds}, {label}"
                output, status = run_script(where, args.script, args.script_args, round_label)
                outputs[key].append(figures(output))
                if status != 0:
                    print(f"!!! {round_label}: exit status {status}")
                    failed = True
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)])
        shutil.rmtree(scratch, ignore_errors=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"])
    print(
        f"\n=== summary: {args.script} {' '.join(args.script_args)}: {baseline_label} against "
        f"{this_label}, {args.rounds} round(s) each, alternated ==="
    )
    for line in side_by_side(outputs["baseline"], outputs["this"], f"baseline {args.baseline}"):
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
