"""The benchmarks' options do what they say (review R6 of session 24).

``benchmarks/containment.py --max-ratio`` (with ``--containment`` and ``--max-bucket``)
tunes only the recall table's search: the scans of ``--reach``, ``--cost`` and
``--stage`` ran dedup as installed and ignored it without a word, and a ratio past
15 crashed the table (an edge index past the last column).  ``benchmarks/bench_index.py
--load --rollback`` built its index with auto-optimize off, so it had no bucket file
(every other build has one) and its checks were measured without it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def benchmarks(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.mark.parametrize("others", [["--cost", "1"], ["--reach", "2"], ["--stage", "1"], ["--no-recall"]])
def test_the_recall_tuning_is_refused_where_it_would_change_nothing(benchmarks, capsys, others):
    import containment

    with pytest.raises(SystemExit) as stop:
        containment.main(["--max-ratio", "6", *others])
    assert stop.value.code == 2
    assert "--max-ratio tunes the recall table only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        containment.main(["--max-ratio", "0.5"])
    assert stop.value.code == 2 and "at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("max_ratio", [1.0, 4.0, 12.0, 13.0, 15.0, 16.0, 25.0])
def test_the_recall_tables_columns_end_at_the_max_ratio(benchmarks, max_ratio):
    import containment

    edges = containment.column_edges(max_ratio)
    assert len(edges) == len(containment.RATIOS) - 1 and (np.diff(edges) > 0).all()
    if max_ratio <= edges[-1]:
        assert max_ratio in edges  # a column ends exactly where the search stops
    if max_ratio == 12.0:  # the default: 1:12 holds the ratios from 10.95 to 12
        assert edges[containment.RATIOS.index(12)] == 12.0


def test_a_load_measured_with_rollback_is_built_with_its_bucket_file(benchmarks, tmp_path, monkeypatch):
    import bench_index

    from dedup.index import Index

    words = "the council met on tuesday to discuss the budget and the new school in the north of town".split()
    source = tmp_path / "set" / "docs"
    source.mkdir(parents=True)
    for n in range(6):
        (source / f"{n}.txt").write_text("\n\n".join(" ".join(words[(n + k) % len(words):] + words[:(n + k) % len(words)])
                                                     for k in range(8)))
    db = tmp_path / "b.dedup"
    monkeypatch.setattr(sys, "argv", ["bench_index.py", "--docs", "40", "--samples", "2", "--add-batch", "4",
                                      "--load", "--rollback", "--skip-sizes", "--db", str(db),
                                      "--source", str(tmp_path)])
    bench_index.main()
    with Index.open(db, readonly=True) as idx:
        stats = idx.stats()
    assert stats["documents"] == 40  # the measured adds were rolled back
    assert stats["bucket_file"]["in_use"] and stats["bucket_file"]["paragraphs_behind"] == 0
