"""``dedup index add`` holds a bounded amount per file (tester's F5 of session 18: an add
of a 4 MiB file of 248k three-word lines peaked at 1.49 GB RSS, ~6 KB a paragraph,
against the README's ~1.6 KB).

Counted with :mod:`tracemalloc` (numpy reports its arrays to it), in this process: what
one step of an add allocates above what it starts with.  The large versions (a fresh
``dedup index add`` process, its peak RSS read from ``wait4``) are behind the ``slow``
marker; ``benchmarks/README-memory.md`` has the figures."""

from __future__ import annotations

import random

import numpy as np
import pytest

from dedup.index import Index
from dedup.storage import rowcheck
from dedup.storage.sqlite import SQLiteStorage, writes

from test_check_memory import _peak_inside, traced_peak


def short_lines(n: int, words: int = 3, seed: int = 5, every: int = 10) -> str:
    """``n`` one-line paragraphs of ``words`` pseudo-words (no blank line), every
    ``every``-th of 12 words (long enough to compare)."""
    rng = random.Random(seed)
    return "\n".join(" ".join(f"w{rng.randrange(5000)}" for _ in range(12 if i % every == 0 else words))
                     for i in range(n))


def test_the_checksums_of_many_signatures_work_a_block_at_a_time(monkeypatch):
    rng = np.random.default_rng(2)
    signatures = rng.integers(0, 2**32, (30_000, 256), dtype=np.uint64).astype(np.uint32)
    ids, banded = np.arange(30_000), np.zeros(30_000, np.int64)
    checks, peak = traced_peak(lambda: rowcheck.row_checks(ids, [banded], matrix=signatures))
    # Was the products of the whole matrix at once, twice over (~31 MB each here).
    assert peak < 8 << 20, peak
    # ... and the same checksums whatever the block (what every stored row was checked with)
    monkeypatch.setattr(rowcheck, "BLOCK", 1000)
    assert np.array_equal(rowcheck.row_checks(ids, [banded], matrix=signatures), checks)
    words = signatures.view(np.uint64)
    assert rowcheck._matrix_sums(signatures)[7] == (words[7] * rowcheck._position_weights(128)).sum(dtype=np.uint64)


def test_an_add_writes_its_rows_a_block_at_a_time(tmp_path, monkeypatch):
    text = short_lines(6_000)
    monkeypatch.setattr(writes, "ROWS", 1024, raising=False)
    peaks = _peak_inside(monkeypatch, SQLiteStorage, "insert_many")
    with Index.open(tmp_path / "i.dedup", auto_optimize=False) as idx:
        idx.add("warm up the imports and the storage with a first article of some words", "warm")
        verdict, _ = traced_peak(lambda: idx.add(text, "lines"))
        assert verdict.added and verdict.paragraphs == 6_000
        assert idx.get("lines").text == text
        again = idx.check(text)  # its rows read back, verified
        assert again.is_duplicate and again.seen_share == 1.0
        assert idx.optimize()["rows"]["paragraph"] == 1 + 600  # every signature verified
    # The batch's signatures, shingle sets and checksums were packed at once: 20 MB
    # traced here (main f1162c1, ~3 KB a paragraph); now a block of rows at a time.
    assert 0 < peaks[-1] < 400 * 6_000 + (6 << 20), peaks


def test_an_optimize_holds_a_chunk_of_the_rows_stored_since_the_file(tmp_path, monkeypatch):
    from dedup.storage.bucketfile import write
    from dedup.storage.sqlite import upkeep

    text = short_lines(6_000, every=1)  # 6,000 paragraphs of 12 words, all banded
    with Index.open(tmp_path / "i.dedup", auto_optimize=False) as idx:
        idx.add(text, "lines")
        monkeypatch.setattr(upkeep, "DERIVED_ROWS", 1024, raising=False)
        monkeypatch.setattr(write, "PARTITION", 1 << 16)
        written, peak = traced_peak(idx.optimize)
        assert written["rows"]["paragraph"] == 6_000
        again = idx.check(text)  # answered from the new file
        assert again.is_duplicate and again.seen_share == 1.0
    # The rows' 151 bucket keys each were held as sorted runs (12 bytes a key) after
    # a sort of 32k rows at once, and more than half of them (the containment keys,
    # one tag byte) were merged in one key range: 44 MB traced here (main f1162c1);
    # now a chunk's sort, the runs on disk, a key range of ~64k entries.
    assert peak < 16 << 20, peak
