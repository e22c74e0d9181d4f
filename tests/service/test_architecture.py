"""The rules of shared/architecture.md, enforced: bot/ and moderation/ stay independent,
moderation/ reads no clock, every query of app/ lives in app/repositories/, every error of app/
descends from the one root drawn in app/errors.py, and a test that starts a process carries
the `slow` marker (the check lives in tests/conftest.py)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
# The clock reads of moderation/, by what they are whatever the import spelled them
# (`datetime.datetime.now()`, `from time import time`, `import datetime as dt`, …).
CLOCK_READS = {
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.perf_counter",
    "time.perf_counter_ns",
    "time.localtime",
    "time.gmtime",
}

# Statements are built and run only in app/repositories/. Calls that are a query wherever they
# appear: SQLAlchemy's statement builders (by what they were imported as), and running
# something on a session, connection or cursor.
QUERY_BUILDERS = {"select", "insert", "update", "delete", "text"}
QUERY_RUNNERS = {"execute", "exec_driver_sql", "scalar", "scalars", "stream", "stream_scalars"}
# Modules of app/ outside app/repositories/ allowed to query, and why.
QUERIES_ALLOWED = {
    "app/db.py": "engine set-up: the PRAGMAs every new SQLite connection gets (WAL, ...)",
    "app/models.py": "DDL, not a query: the predicates of partial indexes (`text`)",
}
# ... and for now: the judging pipeline is being reworked in this file. It makes no query of its
# own today (its reads are repository calls); the exception goes once the rework has landed.
QUERIES_ALLOWED_FOR_NOW = {
    "app/judging/processing.py": "pipeline work in progress",
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


# -- moderation/ reads no clock, whatever the spelling ----------------------------------------


def _import_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name → the dotted name it was imported as (`dt` → `datetime`, `now`? no:
    `from datetime import datetime` → `datetime.datetime`)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The dotted name an expression refers to, its root resolved through the imports; None
    for anything but a name or a chain of attributes on one."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    root = aliases.get(node.id, node.id)
    return ".".join([root, *reversed(parts)])


def clock_reads(source: str) -> list[tuple[int, str]]:
    """(line, what) of every clock read in `source`: a name or attribute chain that resolves
    to one of CLOCK_READS, called or not (`clock=time.monotonic` reads it later)."""
    tree = ast.parse(source)
    aliases = _import_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Load):
            name = _dotted(node, aliases)
            if name in CLOCK_READS:
                found.append((node.lineno, name))
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in CLOCK_READS:
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
    return found


def test_moderation_reads_no_clock_in_any_spelling() -> None:
    for path in sorted((ROOT / "moderation").rglob("*.py")):
        reads = clock_reads(path.read_text(encoding="utf-8"))
        assert not reads, f"{path.relative_to(ROOT)} reads the clock: {reads}"


@pytest.mark.parametrize(
    "source",
    [
        "import datetime\nnow = datetime.datetime.now()\n",
        "import datetime\nnow = datetime.datetime.now(datetime.UTC)\n",
        "import datetime as dt\ntoday = dt.date.today()\n",
        "from datetime import datetime\nnow = datetime.now()\n",
        "from datetime import datetime as DT\nnow = DT.utcnow()\n",
        "from datetime import date\ntoday = date.today()\n",
        "import time\nnow = time.time()\n",
        "from time import time\nnow = time()\n",
        "from time import monotonic as tick\nnow = tick()\n",
        "import time\ndef f(clock=time.monotonic):\n    return clock()\n",
    ],
)
def test_the_clock_rule_catches_every_spelling(source: str) -> None:
    assert clock_reads(source), source


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import UTC, datetime\nat = datetime(2026, 1, 1, tzinfo=UTC)\n",
        "from datetime import datetime\nat = datetime.fromtimestamp(0)\n",
        "import time\ntime.sleep(0)\n",
        "def f(now: float) -> float:\n    return now + 1\n",
    ],
)
def test_the_clock_rule_lets_time_given_as_data_through(source: str) -> None:
    assert clock_reads(source) == []


def test_the_old_pair_rule_missed_the_module_qualified_spelling() -> None:
    """Why the rule above exists: `datetime.datetime.now()` has no (name, attr) pair in
    FORBIDDEN_ATTRS_IN_MODERATION, so the pair rule let it through."""
    tree = ast.parse("import datetime\nnow = datetime.datetime.now()\n")
    pairs = {
        (node.value.id, node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }
    assert not pairs & FORBIDDEN_ATTRS_IN_MODERATION
    assert clock_reads("import datetime\nnow = datetime.datetime.now()\n")


# -- every query in app/repositories/ --------------------------------------------------------


def query_calls(source: str) -> list[tuple[int, str]]:
    """(line, what) of every query in `source`: a call of a SQLAlchemy statement builder
    (QUERY_BUILDERS, however imported), a call of `.execute(…)` and the other QUERY_RUNNERS on
    anything, and `session.get(…)` (a primary-key SELECT)."""
    tree = ast.parse(source)
    aliases = _import_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = _dotted(func, aliases)
        builder = name is not None and name.rsplit(".", 1)[-1] in QUERY_BUILDERS
        if name is not None and builder and name.startswith("sqlalchemy"):
            found.append((node.lineno, name))
            continue
        if isinstance(func, ast.Attribute):
            receiver = _dotted(func.value, aliases) or ""
            if func.attr in QUERY_RUNNERS:
                found.append((node.lineno, f"{receiver or '…'}.{func.attr}"))
            elif func.attr == "get" and receiver.rsplit(".", 1)[-1] == "session":
                found.append((node.lineno, f"{receiver}.get"))
    return found


def _app_modules() -> Iterator[Path]:
    for path in sorted((ROOT / "app").rglob("*.py")):
        if (ROOT / "app" / "repositories") not in path.parents:
            yield path


def test_every_query_of_app_lives_in_repositories() -> None:
    offenders = {}
    for path in _app_modules():
        where = path.relative_to(ROOT).as_posix()
        if where in QUERIES_ALLOWED or where in QUERIES_ALLOWED_FOR_NOW:
            continue
        calls = query_calls(path.read_text(encoding="utf-8"))
        if calls:
            offenders[where] = calls
    assert offenders == {}, "queries outside app/repositories/ (move them into a repository)"


def test_every_module_allowed_to_query_still_does() -> None:
    """A lasting exception that is no longer needed is taken off the list."""
    for where in QUERIES_ALLOWED:
        assert query_calls((ROOT / where).read_text(encoding="utf-8")), where


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from sqlalchemy import select\nq = select(X)\n", [(2, "sqlalchemy.select")]),
        ("import sqlalchemy as sa\nq = sa.update(X)\n", [(2, "sqlalchemy.update")]),
        ("from sqlalchemy import text\nq = text('SELECT 1')\n", [(2, "sqlalchemy.text")]),
        (
            "from sqlalchemy.dialects import sqlite\nq = sqlite.insert(X)\n",
            [(2, "sqlalchemy.dialects.sqlite.insert")],
        ),
        ("async def f(session):\n    await session.execute(q)\n", [(2, "session.execute")]),
        ("async def f(c):\n    await c.exec_driver_sql(q)\n", [(2, "c.exec_driver_sql")]),
        ("async def f(self):\n    await self.session.get(X, 1)\n", [(2, "self.session.get")]),
        # Not queries: a repository's function, a local named like a builder, a dict's get.
        ("from app.repositories import outbox\nasync def f(s):\n    await outbox.get(s, 1)\n", []),
        ("def f(delete):\n    return delete(1)\n", []),
        ("def f(texts):\n    return texts.get('a')\n", []),
    ],
)
def test_the_query_rule_knows_a_query(source: str, found: list[tuple[int, str]]) -> None:
    assert query_calls(source) == found


# -- one error root for app/ -----------------------------------------------------------------


def _app_exception_classes() -> list[type[BaseException]]:
    import app

    classes = []
    for info in pkgutil.walk_packages(app.__path__, "app."):
        module = importlib.import_module(info.name)
        for _name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                classes.append(value)
    return classes


def test_every_error_of_app_descends_from_the_one_root_and_is_drawn() -> None:
    from app import errors

    classes = _app_exception_classes()
    assert len(classes) >= 10  # the walk found the modules
    tree = errors.__doc__ or ""
    for cls in classes:
        assert issubclass(cls, errors.WecomModError), f"{cls.__module__}.{cls.__qualname__}"
        if cls is not errors.WecomModError:
            assert f" {cls.__name__} " in tree, f"{cls.__name__} is not drawn in app/errors.py"
            assert cls.__module__ in tree, f"{cls.__name__}: app/errors.py does not name its module"


def test_the_error_root_keeps_each_errors_other_bases() -> None:
    """Joining the tree changed no except clause: the bases callers catch are still there."""
    from app.ingest.inbox_writer import InboxWriterClosed
    from app.outbox.dispatcher import PermanentFailure
    from bot.errors import WeComApiError

    assert issubclass(InboxWriterClosed, RuntimeError)
    assert issubclass(PermanentFailure, WeComApiError)
    assert PermanentFailure("x").retryable is False


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


# --- app/ layering (docs/architecture.md): routes → services → repositories ---------------

APP = ROOT / "app"
CAPABILITIES = sorted(
    path.name for path in APP.iterdir() if path.is_dir() and (path / "__init__.py").exists()
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, by dotted name (`from app.x import y` counts app.x and
    app.x.y, since y may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _app_module_paths() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(APP.rglob("*.py"))}


def _router_modules() -> set[str]:
    """The modules that define HTTP endpoints (a module-level `router` or `routes`)."""
    found = set()
    for name, path in _app_module_paths().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            if any(isinstance(t, ast.Name) and t.id in {"router", "routes"} for t in targets):
                found.add(name)
    return found


def test_every_behaviour_is_two_hops_from_the_tree() -> None:
    """app/ holds shared modules and capability packages, nothing deeper."""
    for path in APP.rglob("*.py"):
        depth = len(path.relative_to(APP).parts)
        assert depth <= 2, f"{path.relative_to(ROOT)} is {depth} folders deep"


def test_only_the_wiring_imports_app_main() -> None:
    """Routes and workers read `app.runtime`; `app.main` wires them (and `cli serve` starts it)."""
    for name, path in _app_module_paths().items():
        if name in {"app.main", "app.cli"}:
            continue
        assert "app.main" not in _imported_modules(path), f"{name} imports app.main"


def test_no_module_imports_another_module_s_endpoints() -> None:
    """A route module is a leaf outside its package: what two entry points share (a limit, a
    function, a shape) lives in a service or schema module that both import (REST, chat
    commands, the console)."""
    routers = _router_modules()
    assert {"app.admin.api", "app.groups.routes", "app.ingest.callbacks"} <= routers
    for name, path in _app_module_paths().items():
        if name == "app.main":
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        foreign = {m for m in _imported_modules(path) & routers if m.rpartition(".")[0] != package}
        assert not foreign, f"{name} imports the endpoints of {sorted(foreign)}"


def test_repositories_import_no_service() -> None:
    """Repositories hold queries: they may read the tables, the database helpers and each
    other, never a capability package above them."""
    allowed = {"app.models", "app.db", "app.errors", "app.repositories"}
    for name, path in _app_module_paths().items():
        if not name.startswith("app.repositories"):
            continue
        for imported in _imported_modules(path):
            if imported.startswith("app."):
                assert any(imported == a or imported.startswith(a + ".") for a in allowed), (
                    f"{name} imports {imported}"
                )


def test_capability_packages_are_listed_in_the_architecture_page() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in CAPABILITIES:
        assert f"{package}/" in page, f"docs/architecture.md does not place app/{package}/"


# The ways a log row is written: one ORM row (`add`) or a batch's rows as Core dicts
# (`add_many`); both write the rows' rules.
LOG_WRITES = {"app.repositories.moderation_log.add", "app.repositories.moderation_log.add_many"}
LOG_MODEL = "app.models.ModerationLog"


def unlogged_rows(source: str) -> list[tuple[int, str]]:
    """The functions that build a `ModerationLog` row without writing it through
    `moderation_log.add` or `add_many` (which also write the rules of its findings, for the
    log's rule filter), or that INSERT into its table themselves: (line, function)."""
    tree = ast.parse(source)
    aliases = _import_aliases(tree)
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        calls = [node for node in ast.walk(function) if isinstance(node, ast.Call)]
        names = {_dotted(call.func, aliases) for call in calls}
        inserts = any(
            (_dotted(call.func, aliases) or "").rsplit(".", 1)[-1] == "insert"
            and call.args
            and (_dotted(call.args[0], aliases) or "").startswith(LOG_MODEL)
            for call in calls
        )
        if inserts or (LOG_MODEL in names and not names & LOG_WRITES):
            found.append((function.lineno, function.name))
    return found


def test_every_log_row_of_app_is_written_with_its_rules() -> None:
    offenders = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        if path.name == "models.py":
            continue
        found = unlogged_rows(path.read_text(encoding="utf-8"))
        if found:
            offenders[path.relative_to(ROOT).as_posix()] = found
    assert offenders == {}, "write log rows through moderation_log.add (it writes their rules)"


@pytest.mark.parametrize(
    ("source", "found"),
    [
        (
            "from app.models import ModerationLog\n"
            "async def log(session):\n"
            "    session.add(ModerationLog(findings=[]))\n",
            [(2, "log")],
        ),
        (
            "from app.models import ModerationLog\n"
            "from app.repositories import moderation_log as log_repo\n"
            "async def log(session):\n"
            "    await log_repo.add(session, ModerationLog(findings=[]))\n",
            [],
        ),
        (
            "from sqlalchemy import insert\n"
            "from app.models import ModerationLog\n"
            "async def log(session, rows):\n"
            "    await session.execute(insert(ModerationLog.__table__), rows)\n",
            [(3, "log")],
        ),
        (
            "from app.repositories import moderation_log as log_repo\n"
            "async def log(session, rows):\n"
            "    await log_repo.add_many(session, rows)\n",
            [],
        ),
    ],
)
def test_the_log_row_rule_knows_a_row_written_without_its_rules(
    source: str, found: list[tuple[int, str]]
) -> None:
    assert unlogged_rows(source) == found
