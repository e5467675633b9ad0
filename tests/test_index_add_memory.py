"""``dedup index add`` holds a bounded amount per file (tester's F5 of session 18: an add
of a 4 MiB file of 248k three-word lines peaked at 1.49 GB RSS, ~6 KB a paragraph,
against the README's ~1.6 KB).

Counted with :mod:`tracemalloc` (numpy reports its arrays to it), in this process: what
one step of an add allocates above what it starts with.  The large versions (a fresh
``dedup index add`` process, its peak RSS read from ``wait4``) are behind the ``slow``
marker; ``benchmarks/README-memory.md`` has the figures."""

from __future__ import annotations

import random
import re
import urllib.parse

import numpy as np
import pytest

from dedup.index import Index
from dedup.storage import blocks, rowcheck
from dedup.storage.sqlite import SQLiteStorage

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
    monkeypatch.setattr(blocks, "ROWS", 1024)
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


def _rows(idx: Index) -> dict:
    """Every stored paragraph row as the storage contract reads it (places, keys,
    signatures, shingle sets), and the banded rows' ids."""
    store = idx._store
    with store.transaction(write=False):
        n = store.stats()["paragraphs"]
        r = store.paragraphs(np.arange(1, n + 1))
    return {name: np.ascontiguousarray(getattr(r, name)).copy() for name in
            ("ids", "docs", "index", "start", "end", "keys", "signatures")} | {
        "values": r.sets.values.copy(), "offsets": r.sets.offsets.copy()}


def _unhurried(url: str) -> str:
    """``url`` with a Redis write lock's lease of 10 minutes (an SQLite path as it is).

    Why: the ``backend`` fixture's Redis lease is 3 s, for the tests that kill a
    writer and wait for its lock to be freed; an add of thousands of paragraphs under
    tracemalloc (every allocation traced) can spend longer than that between two of
    the lease's renewals on a machine at load ~20, and then loses its lock (IndexBusy)
    -- a failure of the machine's speed, not of what these tests measure.  Nothing here
    kills a writer, so nothing waits for the lease."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return url
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "lease"] + [("lease", "600")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def test_a_long_articles_rows_are_written_from_signatures_derived_a_block_at_a_time(backend, monkeypatch):
    import dedup.plan.sign
    import dedup.storage.redis.writes as redis_writes
    from dedup.index.signing import index_band_keys, sign

    text = short_lines(3_000, every=3)
    base = _unhurried(backend.url)
    urls = [base, base + "-held" if backend.name == "sqlite"
            else re.sub(r"prefix=([^&]+)", r"prefix=\1:held", base)]  # (deleted with the prefix's keys)
    rows = []
    for url, chunk in zip(urls, (512, 1 << 15)):  # signed without holding them, then holding them
        monkeypatch.setattr(dedup.plan.sign, "CHUNK_PARAGRAPHS", chunk)
        monkeypatch.setattr(blocks, "ROWS", 700)
        monkeypatch.setattr(redis_writes, "GROUP_VALUES", 40_000)  # ~150 banded rows a script call
        with Index.open(url, auto_optimize=False) as idx:
            idx.add("warm up with a first article of a few words", "warm")
            verdict = idx.add(text, "lines")
            assert verdict.added and verdict.paragraphs == 3_000
            rows.append(_rows(idx))
            near = "\n".join(line + " again" for line in text.split("\n")[:30:3])
            with idx._store.transaction(write=False):  # every banded row is in the buckets
                keys = index_band_keys(sign([near], idx.settings).corpus.signatures, idx.settings)
                _, hits, _ = idx._store.candidates("paragraph", keys.ravel())
            assert set(range(2, 2 + 30, 3)) <= set(hits.tolist())
            assert idx.check(text).seen_share == 1.0
    for name in rows[0]:
        assert np.array_equal(rows[0][name], rows[1][name]), name


def test_an_add_of_a_long_article_holds_no_paragraph_signatures(backend, monkeypatch):
    import dedup.index.query as query
    import dedup.plan.sign
    import dedup.storage.redis.writes as redis_writes

    monkeypatch.setattr(dedup.plan.sign, "CHUNK_PARAGRAPHS", 2048)
    monkeypatch.setattr(query, "CANDIDATE_CHUNK", 2048)
    monkeypatch.setattr(blocks, "ROWS", 1024)
    monkeypatch.setattr(redis_writes, "GROUP_VALUES", 40_000)
    text = short_lines(16_000)
    with Index.open(_unhurried(backend.url), auto_optimize=False) as idx:
        # (the same paths warmed up first: imports, compiled code a fresh cache compiles)
        idx.add(short_lines(2_100, seed=7).replace("w", "x"), "warm")  # (no word in common)
        idx.check("a check reads what the warm-up stored into memory (the rows past the bucket file)")
        verdict, peak = traced_peak(lambda: idx.add(text, "lines"))
        assert verdict.added and verdict.paragraphs == 16_000
        assert idx.get("lines").text == text
    # An add signed a long article holding every paragraph's signature (1 KB at 256
    # permutations) and wrote it from them; Redis packed all its rows and their bucket
    # log entries for one script call: 2.2 KB (SQLite) and 3.1 KB (Redis) a paragraph
    # traced here (main 7edca16); now the signatures are derived from the shingle sets
    # a written block at a time, and Redis cuts the article into calls: ~0.8 KB (its
    # spans, shingles and sets, a chunk's look-up, a block's write).
    assert peak < 1400 * verdict.paragraphs, (peak, peak / verdict.paragraphs)


def _resident_file_kb() -> int:
    """The file-backed pages this process has resident (``RssFile``: mapped files)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile:"))


def test_an_optimize_holds_neither_the_rows_arrays_nor_the_mapped_table(tmp_path, monkeypatch):
    import os

    from dedup.storage.bucketfile import write
    from dedup.storage.sqlite import upkeep

    if not os.path.exists("/proc/self/status"):
        pytest.skip("reads RssFile from /proc (Linux)")
    text = short_lines(40_000)  # 4,000 of them banded
    path = tmp_path / "i.dedup"
    with Index.open(path, auto_optimize=False) as idx:
        idx.add(text, "lines")
        idx._store.checkpoint()  # the rows in the database file, not its write-ahead log
        size = os.path.getsize(path)
        monkeypatch.setattr(upkeep, "DERIVED_ROWS", 1024)
        monkeypatch.setattr(write, "PARTITION", 1 << 16)
        monkeypatch.setattr(write, "SUM_PAGES", 256)
        before = _resident_file_kb()
        written, peak = traced_peak(idx.optimize)
        mapped = (_resident_file_kb() - before) << 10
        assert written["rows"]["paragraph"] == 4_000
        assert idx.check(text).seen_share == 1.0  # answered from the new file
    # Each row id's sketch, set size and signature bytes (~0.3 KB, banded or not) were
    # held for the whole level: 33 MB traced here (main 7edca16, 14 MB of it those
    # arrays, 16 MB the page sums' reads); now in a scratch file: 5.5 MB.
    assert peak < 8 << 20, peak
    # ... and every row read went through SQLite's memory map, whose pages stayed
    # resident: 56 MB of the 59 MB database (main 7edca16); now read() calls: 16 KB.
    assert mapped < size // 5, (mapped, size)


def test_an_optimize_gives_back_the_old_bucket_files_pages_as_it_reads_them(tmp_path, monkeypatch):
    """The optimize an add triggers reads all of the old bucket file (its page
    checksums, each row's sketch, set size and signature bytes, the keys and refs),
    which stays mapped for look-ups: each block's pages are given back once read."""
    import os

    import dedup.storage.bucketfile.pages as pages
    import dedup.storage.bucketfile.runs as runs
    from dedup.storage.bucketfile import write
    from dedup.storage.sqlite import upkeep

    if not os.path.exists("/proc/self/status"):
        pytest.skip("reads RssFile from /proc (Linux)")
    path = tmp_path / "i.dedup"
    with Index.open(path, auto_optimize=False) as idx:
        idx.add(short_lines(40_000), "lines")  # 4,000 of them banded
        idx.optimize()
        old = idx._store._bucket_view().file
        size = os.path.getsize(old.pages.path)
        idx.add(short_lines(2_000, seed=9), "more")
        idx.check(short_lines(50, seed=9))  # (a look-up maps a few pages)
        monkeypatch.setattr(upkeep, "DERIVED_ROWS", 1024)
        monkeypatch.setattr(write, "PARTITION", 1 << 15)
        monkeypatch.setattr(write, "COPY_ROWS", 1 << 11)
        monkeypatch.setattr(runs, "SAMPLE_BLOCK", 1 << 15)
        monkeypatch.setattr(write, "SAMPLE_BLOCK", 1 << 15)
        monkeypatch.setattr(pages, "VERIFY_PAGES", 1 << 7)
        seen: list[int] = []
        real_verify, real_write = pages.Pages.verify_all, upkeep.write_bucket_file

        def verify_all(self):
            real_verify(self)
            seen.append(_resident_file_kb())

        def write_bucket_file(*args, **kwargs):
            out = real_write(*args, **kwargs)
            seen.append(_resident_file_kb())  # (the old file still mapped)
            return out

        monkeypatch.setattr(pages.Pages, "verify_all", verify_all)
        monkeypatch.setattr(upkeep, "write_bucket_file", write_bucket_file)
        before = _resident_file_kb()
        written = idx.optimize()
        assert written["rows"]["paragraph"] == 4_200 and len(seen) == 2
        assert idx.check(short_lines(2_000, seed=9)).seen_share == 1.0
    # Every page of the old file read stayed resident until the file was let go (main
    # 0c29fb7: +13.2 MB resident, the old file 20.3 MB); now a block's worth at most
    # (-1.4 MB: the pages the look-ups had read are given back too).
    grown = (max(seen) - before) << 10
    assert grown < size // 4, (grown, size, before, seen)
