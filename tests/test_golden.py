"""The golden check of the judging pipeline (`benchmarks/golden.py`) on a slice of its corpus:
the first messages of the pipeline benchmark decide exactly as the stored dump says."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import golden

STORED = Path(golden.ROOT) / "benchmarks" / "data" / "golden-pipeline.json"
SLICE = 400  # messages: bursts, lexicon words, promotion and the ladder's later steps


@pytest.fixture(autouse=True)
def _log_levels_kept() -> Iterator[None]:
    """The benchmark quiets the service's loggers for its run; later tests read them."""
    loggers = [logging.getLogger(), logging.getLogger("app")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.slow  # the benchmark's start runs a process (the guard in tests/conftest.py sees it)
def test_the_pipeline_decides_the_corpus_slice_as_stored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert golden.main(["--compare", str(STORED), "--messages", str(SLICE)]) == 0
    assert f"identical: {SLICE} message(s)" in capsys.readouterr().out


def test_the_slice_holds_every_kind_of_decision() -> None:
    """The slice is worth comparing: warnings, alerts, later ladder steps, flood and promotion
    signals and lexicon words are all in it."""
    stored = json.loads(STORED.read_text(encoding="utf-8"))["decisions"][:SLICE]
    verdicts = {item["verdict"] for item in stored}
    steps = {item.get("step") for item in stored}
    rules = {rule.split()[0].split(":")[0] for item in stored for rule in item.get("rules", ())}
    assert {"warn", "alert", "none"} <= verdicts
    assert {"warning", "final_warning", "removal"} <= steps
    assert {"flood.rate", "flood.wave", "promo.phone", "word.fraud"} <= rules


def test_a_changed_decision_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = json.loads(STORED.read_text(encoding="utf-8"))
    flagged = next(i for i, item in enumerate(stored["decisions"]) if item["verdict"] == "warn")
    stored["decisions"][flagged]["verdict"] = "alert"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(stored, ensure_ascii=False), encoding="utf-8")
    assert golden.main(["--compare", str(changed), "--messages", str(flagged + 1)]) == 1
    out = capsys.readouterr().out
    assert f"1 of {flagged + 1} message(s) decided differently" in out
    assert f"bench-{flagged}:" in out
