"""The directory of a sorted band-key array (:mod:`dedup.storage.keydirectory`): its
bounds are ``np.searchsorted``'s (both sides, repeated keys, the extremes, empty stretches,
unsorted queries), and a Redis worker's in-memory buckets searched through directories
answer as a dictionary would (the bucket log's own test, every run given a directory)."""

from __future__ import annotations

import numpy as np
import pytest
from test_redis_bucket_log import test_the_copy_answers_as_a_dictionary_through_adds_heirs_drops_and_limits

import dedup.storage.keydirectory
from dedup.storage.keydirectory import KeyDirectory


@pytest.mark.parametrize("n", [0, 5, 3_000, 70_000])
def test_search_is_searchsorted(n, monkeypatch):
    monkeypatch.setattr(dedup.storage.keydirectory, "SMALL", 1)
    rng = np.random.default_rng(n)
    repeated = np.repeat(rng.integers(0, 2**64 - 1, 40, dtype=np.uint64, endpoint=True), 30)  # buckets of 30
    # and keys crowded into one slot, as the containment look-up's (a tag, a position, a value)
    crowded = (np.uint64(0xC0) << np.uint64(56)) | rng.integers(0, 2**20, n // 4 + 1, dtype=np.uint64)
    keys = np.sort(np.r_[rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True), repeated[: n], crowded])
    keys[:3] = 0 if n else keys[:3]
    directory = KeyDirectory.of(keys)
    assert directory.starts is not None
    query = np.r_[rng.choice(keys, 300), rng.integers(0, 2**64 - 1, 300, dtype=np.uint64, endpoint=True),
                  np.array([0, 1, 2**63, 2**64 - 1], np.uint64)]
    left, right = directory.bounds(keys, query)
    assert np.array_equal(left, np.searchsorted(keys, query, side="left"))
    assert np.array_equal(right, np.searchsorted(keys, query, side="right"))


def test_a_small_array_has_no_directory():
    keys = np.sort(np.random.default_rng(1).integers(0, 2**63, 1000, dtype=np.uint64))
    directory = KeyDirectory.of(keys)
    assert directory.starts is None and directory.nbytes == 0
    left, right = directory.bounds(keys, keys[::7])
    assert np.array_equal(left, np.searchsorted(keys, keys[::7], side="left"))
    assert np.array_equal(right, np.searchsorted(keys, keys[::7], side="right"))


def test_level_cache_runs_searched_through_directories_answer_as_a_dictionary(monkeypatch):
    monkeypatch.setattr(dedup.storage.keydirectory, "SMALL", 1)
    test_the_copy_answers_as_a_dictionary_through_adds_heirs_drops_and_limits()
