"""The Redis backend's bucket log (dedup/storage/redis/log.py) without a server: entries
as written and read back, and a worker's in-memory copy of the buckets compared with a
plain dictionary of the same entries."""

from __future__ import annotations

import numpy as np
import pytest

from dedup.index.signing import DERIVE
from dedup.settings import Settings
from dedup.storage import IndexCorrupt
from dedup.storage.redis.levelcache import LevelCache
from dedup.storage.redis.log import MAX_ENTRY, SLACK, BucketCache, add_entries, add_entry, drop_entry


def _naive(entries: dict[int, np.ndarray], dead: set[int], query: np.ndarray, limit=None) -> set[tuple[int, int]]:
    """(key, row) pairs of ``entries`` (row -> band keys) under ``query``, as a dictionary would give."""
    buckets: dict[int, list[int]] = {}
    for row, keys in entries.items():
        for k in keys.tolist():
            buckets.setdefault(k, []).append(row)
    out = set()
    for k in query.tolist():
        rows = buckets.get(k, [])
        if limit is not None and len(rows) > limit:
            continue
        out |= {(k, r) for r in rows if r not in dead}
    return out


def test_the_copy_answers_as_a_dictionary_through_adds_heirs_drops_and_limits():
    rng = np.random.default_rng(5)
    cache = LevelCache(width=4, num_perm=8)
    entries: dict[int, np.ndarray] = {}
    dead: set[int] = set()
    pool = rng.integers(0, 2**63, 300, dtype=np.uint64)  # few keys: buckets of many rows
    next_row = 1
    for step in range(40):
        if step % 7 == 6 and entries:  # heirs: older rows, not held before, out of order
            rows = np.array(sorted(set(range(1, next_row)) - set(entries) - dead)[:5][::-1], dtype=np.int64)
        else:
            rows = np.arange(next_row, next_row + int(rng.integers(1, 30)), dtype=np.int64)
            rows = np.r_[rows[5:], rows[:5]] if step % 5 == 0 else rows  # unsorted within one add
            next_row = max(next_row, int(rows.max(initial=0)) + 1)
        if not len(rows):
            continue
        bands = np.array([rng.choice(pool, 6, replace=False) for _ in rows])  # a row has distinct keys
        cache.add(rows, bands, (rows[:, None] % 256).astype(np.uint8).repeat(4, 1),
                  rows[:, None].astype(np.uint32).repeat(8, 1), rows * 10)
        entries.update({int(r): b for r, b in zip(rows, bands)})
        if step % 4 == 3:
            gone = rng.choice(sorted(entries), size=3, replace=False)
            cache.drop(gone)
            dead |= set(gone.tolist())
        query = np.unique(rng.choice(pool, 60))
        for limit in (None, 3):
            key, row, sketch = cache.lookup(query, limit)
            assert set(zip(key.tolist(), row.tolist())) == _naive(entries, dead, query, limit)
            assert len(set(zip(key.tolist(), row.tolist()))) == len(key)  # no entry twice
            assert (sketch[:, 0] == row % 256).all()
    held_rows = np.array(sorted(entries), dtype=np.int64)
    held, signatures = cache.signatures(held_rows)
    assert (held == ~np.isin(held_rows, list(dead))).all()
    assert (signatures[:, 0] == held_rows[held]).all()
    sketches, sizes = cache.sketches_and_sizes(np.r_[held_rows, 10_000])
    assert (sizes == np.r_[np.where(held, held_rows * 10, 0), 0]).all()


def test_entries_read_back_and_damage_is_detected():
    settings = Settings()
    derive = DERIVE
    rng = np.random.default_rng(1)
    signatures = rng.integers(0, 2**32, size=(5, settings.num_perm), dtype=np.uint32)
    ids = np.arange(11, 16)
    cache = BucketCache(derive, settings, "redis://x/0?prefix=t")
    blobs = add_entries("p", ids, signatures, np.arange(5)) + [drop_entry("p", ids[:1])]
    cache.apply([(b"1-%d" % i, {b"v": blob}) for i, blob in enumerate(blobs)])
    level = cache.levels["p"]
    bands = derive.bands(settings, signatures)
    key, row, _ = level.lookup(np.unique(bands))
    assert sorted(set(row.tolist())) == [12, 13, 14, 15]  # row 11 dropped
    assert cache.last == b"1-%d" % (len(blobs) - 1)
    damaged = bytearray(add_entry("p", ids, signatures, np.arange(5)))
    damaged[40] ^= 1
    with pytest.raises(IndexCorrupt, match="bucket log is damaged"):
        cache.apply([(b"2-0", {b"v": bytes(damaged)})])


def test_add_entries_fill_allocator_size_classes():
    rows = 3_000
    signatures = np.zeros((rows, 256), np.uint32)
    blobs = add_entries("p", np.arange(rows), signatures, np.zeros(rows))
    assert all(len(b) <= MAX_ENTRY for b in blobs) and len(blobs) >= 3
    # Each entry with its stream overhead leaves less than one row (1,032 bytes) of the
    # size class it is allocated in unused (the class below does not hold it).
    for b in blobs:
        need = len(b) + SLACK
        allocated = min(c for k in range(4, 30) for c in ((1 << k) + i * (1 << k) // 4 for i in range(4)) if c >= need)
        assert allocated - need < 1_032, len(b)


def _parts(entries: list[bytes]) -> list[tuple[bytes, dict]]:
    return [(b"%d-0" % (i + 1), {b"v": e}) for i, e in enumerate(entries)]


def test_a_document_entry_without_its_signature_is_made_from_its_paragraphs_even_after_a_removal():
    """Layout 7 logs a document whose paragraphs are all banded as (row, first paragraph,
    paragraphs): its signature is the minimum of theirs, made by each worker.  A worker
    that reads the document's removal with it (the drop before the rows are made into
    runs) still makes it, and leaves it out."""
    from dedup.storage.redis.log import derived_entry

    s = Settings()
    rng = np.random.default_rng(3)
    signatures = rng.integers(0, 2**32, (5, s.num_perm), dtype=np.uint64).astype(np.uint32)
    sizes = np.full(5, 40)
    written = [add_entry("p", np.arange(1, 6), signatures, sizes),
               derived_entry(np.array([1, 2]), np.array([1, 4]), np.array([3, 2]))]
    for removed in (False, True):
        cache = BucketCache(DERIVE, s, "test")
        cache.apply(_parts(written + ([drop_entry("p", np.arange(1, 4)), drop_entry("d", np.array([1]))]
                                      if removed else [])))
        held, got = cache.levels["d"].signatures(np.array([1, 2]))
        assert held.tolist() == [not removed, True]
        want = [signatures[0:3].min(axis=0), signatures[3:5].min(axis=0)]
        assert np.array_equal(got, np.stack(want[1:] if removed else want))


def test_a_document_entry_whose_paragraphs_are_not_in_the_log_is_damage():
    from dedup.storage.redis.log import derived_entry

    s = Settings()
    cache = BucketCache(DERIVE, s, "test")
    cache.apply(_parts([derived_entry(np.array([1]), np.array([1]), np.array([3]))]))
    with pytest.raises(IndexCorrupt, match="lacks paragraph rows a document entry is made of"):
        cache.levels


def test_the_copy_costs_memory_by_rows_held_not_by_row_ids_issued():
    """Row ids are never reused, so after churn (and a compaction: a new worker reads only
    the live rows) the rows held have ids far above their count.  The copy's memory is
    bounded by the rows it holds (reviewer's R10: a map by row id cost 4 bytes for every
    id ever issued, 80 MB here)."""
    rng = np.random.default_rng(3)
    cache = LevelCache(width=4, num_perm=8)
    rows = np.sort(rng.choice(np.arange(20_000_000, 20_100_000), 1_000, replace=False)).astype(np.int64)
    bands = rng.integers(0, 2**63, (len(rows), 6), dtype=np.uint64)
    cache.add(rows, bands, (rows[:, None] % 256).astype(np.uint8).repeat(4, 1),
              rows[:, None].astype(np.uint32).repeat(8, 1), rows * 10)
    per_row = 4 + 8 * 4 + 4 + 8 + 6 * (8 + 4)  # sketch, signature, size, id, band entries
    assert cache.nbytes < 4 * per_row * len(rows) + 64 * 1024
    key, row, sketch = cache.lookup(np.sort(bands[::7].ravel()))
    assert set(row.tolist()) == set(rows[::7].tolist())
    assert (sketch[:, 0] == row % 256).all()


def test_rows_given_again_and_heirs_below_sparse_ids_answer_from_their_own_values():
    """A row given twice keeps its last values; heirs (older ids) placed among held rows
    move them, and every look-up and read still answers each row's own values; ids
    never held (between, below, above, negative) are not held."""
    cache = LevelCache(width=4, num_perm=8)

    def give(rows, bands, tag):
        rows = np.asarray(rows, dtype=np.int64)
        cache.add(rows, np.asarray(bands, dtype=np.uint64), np.full((len(rows), 4), tag, np.uint8),
                  (rows[:, None] * 100 + tag).astype(np.uint32).repeat(8, 1), rows + tag)

    give([1_000, 5_000_000], [[1, 2], [3, 4]], 1)
    give([7, 3_000_000], [[5, 6], [7, 8]], 2)  # heirs among held rows, both below the top
    give([5_000_000], [[9, 10]], 3)  # given again: its last values
    key, row, sketch = cache.lookup(np.arange(1, 11, dtype=np.uint64))
    got = {(int(k), int(r), int(s)) for k, r, s in zip(key, row, sketch[:, 0])}
    assert got == {(1, 1_000, 1), (2, 1_000, 1), (5, 7, 2), (6, 7, 2), (7, 3_000_000, 2), (8, 3_000_000, 2),
                   (3, 5_000_000, 3), (4, 5_000_000, 3), (9, 5_000_000, 3), (10, 5_000_000, 3)}
    ask = np.array([7, 1_000, 3_000_000, 5_000_000, 8, 999, 6, -1, 5_000_001, 2**40], dtype=np.int64)
    held, signatures = cache.signatures(ask)
    assert held.tolist() == [True] * 4 + [False] * 6
    assert signatures[:, 0].tolist() == [702, 100_001, 300_000_002, 500_000_003]
    sketches, sizes = cache.sketches_and_sizes(ask)
    assert sizes.tolist() == [9, 1_001, 3_000_002, 5_000_003] + [0] * 6
    assert sketches[:, 0].tolist() == [2, 1, 2, 3] + [0] * 6
    # Drops: of held rows, and of a row before it is held (the log's order does not matter).
    cache.drop(np.array([1_000, 6_000_000]))
    give([6_000_000, 8], [[11, 12], [13, 14]], 4)  # 8: an heir, placed before the dropped 1_000
    key, row, _ = cache.lookup(np.arange(1, 15, dtype=np.uint64))
    assert set(row.tolist()) == {7, 8, 3_000_000, 5_000_000}
    held, _ = cache.signatures(np.array([1_000, 6_000_000, 8]))
    assert held.tolist() == [False, False, True]
    held, _ = cache.signatures(np.array([1_000, 6_000_000]), dropped=True)
    assert held.all()


def test_a_page_of_drop_entries_is_one_merge_per_level(monkeypatch):
    """Reviewer's R11 (session 15): each drop entry re-sorted every dropped id, so a log
    of single removals made a new worker's first sync quadratic.  A page of entries is
    held with one drop per level, and the rows are dropped all the same."""
    cache = BucketCache(DERIVE, Settings(), "redis://x/0?prefix=t")
    calls = []
    real = LevelCache.drop
    monkeypatch.setattr(LevelCache, "drop", lambda self, ids: (calls.append(len(ids)), real(self, ids))[1])
    blobs = [drop_entry("p", np.array([i])) for i in range(1, 50)] + [drop_entry("d", np.array([7, 8]))]
    cache.apply([(b"1-%d" % i, {b"v": blob}) for i, blob in enumerate(blobs)])
    assert sorted(calls) == [2, 49]
    assert cache.levels["p"].dead.tolist() == list(range(1, 50)) and cache.levels["d"].dead.tolist() == [7, 8]
    assert cache.count == 50
