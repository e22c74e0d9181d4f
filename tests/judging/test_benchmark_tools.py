"""The pure parts of the benchmark tools: `benchmarks/against.py` reading figures and putting
them side by side, and `benchmarks/callbacks.py`'s callback texts, word file and /proc fields."""

from __future__ import annotations

import math

from benchmarks import against, callbacks
from moderation.flood import folded_fingerprint
from moderation.fold import fold

PIPELINE_OUTPUT = """\
machine: 2 CPU(s), Linux 6.18 x86_64, Python 3.11.7
parameters: --messages 1000 --groups 20 --members 30 --seed 20261121
sqlite        1,000 messages in    0.93 s =    1,075 decisions/s (0.87 ms CPU of this process \
per message); logged: {'warn': 31} ; outbox rows: 62
postgresql    1,000 messages in    1.10 s =      909 decisions/s (0.61 ms CPU of this process \
per message); logged: {'warn': 31} ; outbox rows: 62
"""

CALLBACKS_OUTPUT = """\
memory: postgresql x1 #1 (pid 9344): peak RSS 262.9 MB, now 262.9 MB
postgresql x1         587.3    32.1   192.4   3660.3  0.16    66.3        200.0    20.3   586.5
!!! postgresql x1: callback -> warning p99 < 2 s at 1000/s for 60 s: FAIL (inf ms over all 6000 \
flagged callbacks, 3 without a warning)
"""


def test_the_driver_reads_pipeline_figures() -> None:
    assert against.figures(PIPELINE_OUTPUT) == {
        "sqlite decisions/s": 1075.0,
        "sqlite ms CPU/message": 0.87,
        "postgresql decisions/s": 909.0,
        "postgresql ms CPU/message": 0.61,
    }


def test_the_driver_reads_callback_figures() -> None:
    found = against.figures(CALLBACKS_OUTPUT)
    assert found["postgresql x1 #1 peak RSS MB"] == 262.9
    assert found["postgresql x1 callbacks/s (closed loop)"] == 587.3
    assert found["postgresql x1 p99 ms (closed loop)"] == 192.4
    assert math.isinf(found["postgresql x1 callback -> warning p99 ms"])


def test_side_by_side_gives_medians_and_their_ratio() -> None:
    baseline = [{"sqlite decisions/s": 1000.0}, {"sqlite decisions/s": 1200.0}]
    current = [{"sqlite decisions/s": 1500.0, "new figure": 1.0}, {"sqlite decisions/s": 1700.0}]
    header, row = against.side_by_side(baseline, current, "baseline HEAD~3")
    assert "baseline HEAD~3" in header
    assert row.startswith("sqlite decisions/s")
    assert "1,000.00 / 1,200.00 (median 1,100.00)" in row
    assert row.split()[-1] == "1.45"  # 1,600 / 1,100; one tree's figure: left out


def test_side_by_side_without_figures_says_so() -> None:
    assert against.side_by_side([{}], [{}], "baseline x") == [
        "no figures read from the outputs: compare the outputs above"
    ]


def test_callback_texts_are_no_copy_wave() -> None:
    """Digit runs read as 0 in the wave rule's fingerprint: the index is written in stems too,
    so no two callbacks share a fingerprint."""
    texts = [callbacks.callback_text(i)[0] for i in range(2_000)]
    assert len({folded_fingerprint(fold(text)) for text in texts}) == len(texts)
    assert [callbacks.callback_text(i)[2] for i in range(10)] == [False] * 9 + [True]


def test_the_word_file_keeps_the_benchmark_words_first_and_checks_the_texts() -> None:
    content, dropped = callbacks.word_file(400, 300)
    lines = content.splitlines()
    assert content.startswith(callbacks.LEXICON)
    assert len(lines) == len(callbacks.LEXICON.splitlines()) + 400 - dropped
    assert callbacks.word_file(0, 300) == (callbacks.LEXICON, 0)


def test_proc_status_fields_are_read_in_kib() -> None:
    status = "Name:\twecom-mod\nVmHWM:\t  283100 kB\nVmRSS:\t  250000 kB\n"
    assert callbacks.status_kib(status, "VmHWM") == 283100
    assert callbacks.status_kib(status, "VmSwap") is None


def test_a_missing_warning_pushes_the_percentile_to_never() -> None:
    assert math.isinf(callbacks.percentile(sorted([0.1] * 98 + [math.inf] * 2), 0.99))
