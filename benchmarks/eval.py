"""The labelled evaluation of issue 17: how much of what spammers write the word engine finds,
how many innocent messages it flags, and what the whole service does with conversations.

Two parts, on the corpus in `benchmarks/data/` (see its README):

1. **Engine**: every evasion of `evasions.tsv` (route, the lexicon word it disguises, the
   message) through `SensitiveWordMatcher` built on `lexicon.txt`: found when a finding names
   that word. Recall per route, every miss (with what the engine found instead and what it
   dropped, and why), then every benign message of `benign.tsv` that got any finding at all
   (a false positive, whatever its severity or confidence). Cases listed in
   `known_misses.tsv` stay in the figures; the report marks them "known" with the reason they
   are not caught.
2. **Service**: the timelines of `timelines.json` played through the real service in-process
   (`benchmarks/eval_service.py`): per message, what it should get (ok / review / act) and
   what it got.

Targets (issue 17): recall >= 95% on every route and 0 false positives, for the engine; every
timeline message as labelled, for the service. PASS/FAIL lines say which hold; the exit status
is 1 when one does not.

    .venv/bin/python benchmarks/eval.py [--engine-only] [--verbose]
        [--database sqlite|postgresql|postgresql://server]

`make eval` runs it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from moderation import SensitiveWordMatcher, fold, parse_lexicon  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
RECALL_TARGET = 0.95
FALSE_POSITIVE_TARGET = 0


@dataclass(frozen=True)
class Case:
    kind: str  # the route (evasions) or the context (benign)
    word: str  # the lexicon word an evasion disguises; "" for benign messages
    text: str
    note: str


def read_rows(path: Path) -> list[list[str]]:
    """The tab-separated rows of a corpus file: `#` comment lines and blank lines skipped.
    Lines end at "\\n" only: a text may hold U+2028 and other line separators on purpose."""
    rows = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip() and not line.startswith("#"):
            rows.append(line.rstrip("\r").split("\t"))
    return rows


def evasions(path: Path) -> list[Case]:
    return [Case(row[0], row[1], row[2], row[3] if len(row) > 3 else "") for row in read_rows(path)]


def benign(path: Path) -> list[Case]:
    return [Case(row[0], "", row[1], row[2] if len(row) > 2 else "") for row in read_rows(path)]


def known_misses(path: Path) -> dict[str, str]:
    """Text → why the engine does not catch it (`known_misses.tsv`: text, reason)."""
    if not path.exists():
        return {}
    return {row[0]: row[1] if len(row) > 1 else "" for row in read_rows(path)}


@dataclass
class EngineReport:
    per_route: dict[str, list[int]]  # route → [found, total]
    misses: list[tuple[Case, list[str], list[str]]]  # case, findings, dropped
    false_positives: list[tuple[Case, list[str]]]
    known: dict[str, str]
    seconds: float

    @property
    def recall_ok(self) -> bool:
        return all(found >= RECALL_TARGET * total for found, total in self.per_route.values())

    @property
    def precision_ok(self) -> bool:
        return len(self.false_positives) <= FALSE_POSITIVE_TARGET

    def render(self) -> list[str]:
        total_found = sum(found for found, _ in self.per_route.values())
        total = sum(count for _, count in self.per_route.values())
        lines = [
            f"engine: {total} evasions over {len(self.per_route)} routes, lexicon "
            f"{DATA / 'lexicon.txt'}, in {self.seconds:.1f} s",
            f"  {'route':<12} {'found':>9} {'recall':>7}",
        ]
        for route, (found, count) in sorted(self.per_route.items()):
            flag = "" if found >= RECALL_TARGET * count else "  < target"
            lines.append(f"  {route:<12} {found:>4}/{count:<4} {found / count:>7.1%}{flag}")
        lines.append(f"  {'all':<12} {total_found:>4}/{total:<4} {total_found / total:>7.1%}")
        lines.append(f"misses: {len(self.misses)}")
        for case, findings, dropped in self.misses:
            known = self.known.get(case.text)
            mark = f" [known: {known}]" if known is not None else ""
            lines.append(f"  MISS {case.kind:<11} {case.word}: {case.text!r}{mark}")
            lines.extend(f"       found instead: {found}" for found in findings)
            lines.extend(f"       dropped: {why}" for why in dropped)
        lines.append(f"false positives: {len(self.false_positives)} benign message(s) flagged")
        for case, findings in self.false_positives:
            known = self.known.get(case.text)
            mark = f" [known: {known}]" if known is not None else ""
            lines.append(f"  FP {case.kind:<10} {case.text!r}{mark}")
            lines.extend(f"       {found}" for found in findings)
        lines.append(
            f"engine recall >= {RECALL_TARGET:.0%} on every route: "
            f"{'PASS' if self.recall_ok else 'FAIL'}"
        )
        lines.append(
            f"engine false positives <= {FALSE_POSITIVE_TARGET}: "
            f"{'PASS' if self.precision_ok else 'FAIL'} ({len(self.false_positives)})"
        )
        return lines


def evaluate_engine(data: Path = DATA) -> EngineReport:
    started = time.perf_counter()
    lexicon = parse_lexicon((data / "lexicon.txt").read_text(encoding="utf-8"))
    matcher = SensitiveWordMatcher(lexicon)
    per_route: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for case in evasions(data / "evasions.tsv"):
        inspection = matcher.inspect(case.text)
        hit = any(fold(f.word) == fold(case.word) for f in inspection.findings)
        per_route[case.kind][0] += hit
        per_route[case.kind][1] += 1
        if not hit:
            misses.append(
                (
                    case,
                    [f.explain() for f in inspection.findings],
                    [
                        f"{d.word} at {d.start}:{d.end} ({d.route.value}): {d.reason}"
                        for d in inspection.dropped
                    ],
                )
            )
    false_positives = []
    for case in benign(data / "benign.tsv"):
        findings = matcher.find(case.text)
        if findings:
            false_positives.append((case, [f.explain() for f in findings]))
    return EngineReport(
        per_route=dict(per_route),
        misses=misses,
        false_positives=false_positives,
        known=known_misses(data / "known_misses.tsv"),
        seconds=time.perf_counter() - started,
    )


def benign_at_scale(sizes: tuple[int, ...] = (5_000, 20_000, 50_000)) -> list[str]:
    """How many benign messages get a finding when the lexicon is large: the generated
    lexicons of `benchmarks/matcher.py` (random words of common characters), each size."""
    from benchmarks.matcher import build_lexicon
    from moderation.matcher import Route

    texts = [case.text for case in benign(DATA / "benign.tsv")]
    lines = [f"benign messages ({len(texts)}) against generated lexicons:"]
    for size in sizes:
        lexicon = build_lexicon(size, 20_240_601)
        results = SensitiveWordMatcher(lexicon.entries, lexicon.allow).find_many(texts)
        homophone = sum(any(f.route is Route.HOMOPHONE for f in found) for found in results)
        flagged = sum(bool(found) for found in results)
        lines.append(
            f"  {size:>6,} words: {flagged} with a finding, {homophone} of them with a "
            "homophone finding"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--engine-only", action="store_true", help="skip the service timelines")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also the benign messages against generated lexicons of 5,000 to 50,000 words",
    )
    parser.add_argument("--verbose", action="store_true", help="details of each timeline miss")
    parser.add_argument(
        "--database",
        default="sqlite",
        help="the service part's database: sqlite, postgresql, or a postgresql:// URL",
    )
    args = parser.parse_args(argv)
    engine = evaluate_engine()
    print("\n".join(engine.render()))
    if args.scale:
        print()
        print("\n".join(benign_at_scale()))
    ok = engine.recall_ok and engine.precision_ok
    if not args.engine_only:
        from benchmarks.eval_service import run_timelines

        print()
        report = run_timelines(
            DATA / "timelines.json", database=args.database, verbose=args.verbose
        )
        print("\n".join(report.render()))
        innocent = report.innocent
        service_ok = not report.mismatches and not report.not_judged
        print(
            f"service: every timeline message as labelled: {'PASS' if service_ok else 'FAIL'} "
            f"({len(report.mismatches)} differ; innocent members warned publicly: "
            f"{innocent['warned']}, alerted: {innocent['alerted']})"
        )
        ok = ok and service_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
