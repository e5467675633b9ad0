"""dedup.compiled: the index's loops are compiled with numba's on-disk cache where a
directory is writable, and in memory (same answers, a warning) where none is -- numba
itself refuses ``cache=True`` then, which would make the first look-up of a process
with a read-only install and home fail."""

from __future__ import annotations

import numpy as np
import pytest
from numba.core import caching

from dedup import compiled


def add_one(values):
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        out[i] = values[i] + 1
    return out


def test_compiled_in_memory_where_no_cache_directory_is_writable(monkeypatch):
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])  # what a read-only install and home leave
    with pytest.warns(UserWarning, match="compiled in memory by each process"):
        fn = compiled.njit(add_one)
    assert fn(np.arange(3)).tolist() == [1, 2, 3]

