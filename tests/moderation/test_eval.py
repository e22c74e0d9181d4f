"""The engine half of `make eval` (`benchmarks/eval.py`) on a tiny corpus: recall per route,
misses with what was dropped and why, false positives, known misses marked, and the targets'
verdicts, so that the corpus figures mean what they say."""

from __future__ import annotations

from pathlib import Path

from benchmarks.eval import evaluate_engine


def test_the_engine_evaluation_counts_misses_and_false_positives(tmp_path: Path) -> None:
    (tmp_path / "lexicon.txt").write_text("赌博\tgambling\tblock\n口交\tporn\treview\n", "utf-8")
    (tmp_path / "evasions.tsv").write_text(
        "# route\tword\ttext\n"
        "exact\t赌博\t今晚去赌博\n"
        "gap\t赌博\t来赌 博吧\n"
        "pinyin\t赌博\t一起去 bet 吗\n",  # not a disguise the engine reads: a miss
        "utf-8",
    )
    (tmp_path / "benign.tsv").write_text(
        "boundary\t前面路口交通管制\nwork\t我打赌博士今天不来\nwork\t他说要去赌博\n", "utf-8"
    )
    (tmp_path / "known_misses.tsv").write_text(
        "他说要去赌博\ta listed word in a sentence\n", "utf-8"
    )

    report = evaluate_engine(tmp_path)

    assert report.per_route == {"exact": [1, 1], "gap": [1, 1], "pinyin": [0, 1]}
    assert [case.text for case, _found, _dropped in report.misses] == ["一起去 bet 吗"]
    assert [case.text for case, _found in report.false_positives] == ["他说要去赌博"]
    assert not report.recall_ok and not report.precision_ok
    lines = "\n".join(report.render())
    assert "MISS pinyin" in lines and "[known: a listed word in a sentence]" in lines
    assert "engine recall >= 95% on every route: FAIL" in lines
    assert "engine false positives <= 0: FAIL (1)" in lines
