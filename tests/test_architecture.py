"""The rules of shared/architecture.md, enforced: bot/ and moderation/ stay independent; a test
that starts a process carries the `slow` marker (the check lives in tests/conftest.py)."""

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


@pytest.mark.slow  # the sample's tests start processes
def test_a_test_that_starts_a_process_without_the_slow_marker_fails(
    pytester: pytest.Pytester,
) -> None:
    """The check of tests/conftest.py on a sample: a process started in the body or through a
    fixture fails an unmarked test; a marked test and an in-process test pass."""
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    slow: starts processes\n"
    )
    pytester.makeconftest(
        "from tests.conftest import pytest_runtest_makereport, pytest_runtest_setup\n"
    )
    pytester.makepyfile(
        """
        import subprocess
        import sys

        import pytest


        def child():
            subprocess.run([sys.executable, "-c", "pass"], check=True)


        @pytest.fixture
        def started():
            child()


        def test_unmarked_body():
            child()


        def test_unmarked_fixture(started):
            pass


        def test_unmarked_skipped_after_the_start():
            child()
            pytest.skip("skipped after starting a process")


        @pytest.mark.slow
        def test_marked(started):
            child()


        def test_in_process():
            assert sys.executable
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_unmarked_body started 1 process(es)*without the `slow` marker*",
            "*test_unmarked_fixture started 1 process(es)*",
            "*test_unmarked_skipped_after_the_start started 1 process(es)*",
        ],
        consecutive=False,
    )
