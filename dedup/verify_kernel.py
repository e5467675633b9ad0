"""The compiled intersection count (numba): ``|A ∩ B|`` of many pairs of sorted sets,
each pair by one merge of its two sets, with nothing allocated but the counts.

Why compiled: in numpy a batch of pairs was counted by laying both sides' values out
with the pair number in the high bits (two gathers and two 64-bit key arrays of all
the batch's values), one stable sort of the two runs and a comparison of neighbours
-- ~10 passes over every value of every pair, where one merge reads each value once.
Verification is the part of a scan that grows fastest with near copies (a family of
``f`` pages in ``k`` near copies makes ``~k f^2`` pairs to score, benchmarks/README.md,
session 22), so its cost per pair is what the scan's cost per MB follows.

Imported by :func:`dedup.verify.intersections`, so that commands which verify nothing
do not load numba; a scan loads it before its workers fork
(:func:`dedup.minhash.load`).
"""

from __future__ import annotations

import numpy as np

from .compiled import njit


@njit
def intersection_counts(values: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray,
                        out: np.ndarray) -> None:
    """``out[k]`` = the number of values sets ``a[k]`` and ``b[k]`` share, set ``i``
    being ``values[offsets[i]:offsets[i + 1]]`` (uint64, ascending without repeats,
    as :class:`~dedup.segments.SetTable` holds them); ``a``, ``b`` int64 set numbers,
    ``out`` int64 of their length."""
    for k in range(a.shape[0]):
        i, i_end = offsets[a[k]], offsets[a[k] + 1]
        j, j_end = offsets[b[k]], offsets[b[k] + 1]
        n = 0
        while i < i_end and j < j_end:
            x, y = values[i], values[j]
            if x < y:
                i += 1
            elif y < x:
                j += 1
            else:
                n += 1
                i += 1
                j += 1
        out[k] = n
