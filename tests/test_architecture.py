"""The import rules of shared/architecture.md, enforced: bot/ and moderation/ stay independent."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)

ALLOWED_THIRD_PARTY = {
    "moderation": {"ahocorasick_rs", "numpy"},
    "bot": {"httpx", "cryptography", "defusedxml"},
}
FORBIDDEN_FIRST_PARTY = {"moderation": {"app", "bot"}, "bot": {"app", "moderation"}}
# moderation/ is pure: no clock reads, no I/O.
FORBIDDEN_CALLS_IN_MODERATION = {"open", "print", "input"}
FORBIDDEN_ATTRS_IN_MODERATION = {
    ("time", "time"),
    ("time", "monotonic"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", ["moderation", "bot"])
def test_package_imports_only_what_it_may(package: str) -> None:
    own = {package}
    for path in sorted((ROOT / package).rglob("*.py")):
        roots = imported_roots(path) - {"__future__"}
        forbidden = roots & FORBIDDEN_FIRST_PARTY[package]
        assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"
        foreign = roots - STDLIB - own - ALLOWED_THIRD_PARTY[package]
        assert not foreign, f"{path.relative_to(ROOT)} imports {sorted(foreign)}"


def test_moderation_reads_no_clock_and_does_no_io() -> None:
    for path in sorted((ROOT / "moderation").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in FORBIDDEN_CALLS_IN_MODERATION, (
                    f"{path.name}:{node.lineno} calls {node.func.id}()"
                )
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                pair = (node.value.id, node.attr)
                assert pair not in FORBIDDEN_ATTRS_IN_MODERATION, (
                    f"{path.name}:{node.lineno} reads the clock ({'.'.join(pair)})"
                )


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself works: a module importing app from bot is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from app.settings import Settings\nimport requests\n", encoding="utf-8")
    assert imported_roots(bad) == {"app", "requests"}


# The detectors and the ladder, which only the judging pipeline (`moderation.pipeline`) runs.
PIPELINE_PARTS = {"judge", "detect_flood", "detect_promotion", "promotion_signal"}


def test_the_service_judges_only_through_the_pipeline() -> None:
    """app/ and benchmarks/ never run a detector or the ladder themselves: they judge with
    `moderation.judge_batch` (or `judge_alone`), so every caller decides alike."""
    for package in ("app", "benchmarks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "moderation"
                ):
                    used = {alias.name for alias in node.names} & PIPELINE_PARTS
                    assert not used, (
                        f"{path.relative_to(ROOT)}:{node.lineno} imports {sorted(used)}: judge "
                        "with moderation.judge_batch"
                    )
