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
