"""The compiled search of :class:`~.keydirectory.KeyDirectory` (numba): every query
key's equal range in one call, each key searched alone -- its slot's stretch, or its
fence window for a crowded slot, then a binary search there for its first position,
and for a key found, another for its end.

Why compiled: in numpy the same search was a branchless binary search run on all keys
at once, each of its ~6 steps a gather, a compare, a multiply and an add over every
query key, plus the slot and fence arrays, and it ran twice (first positions, then
the ends of the keys found); a Redis worker's ``check_many`` of 256 articles asks
~200k keys of each run, ~13 % of the batch's CPU at 20k stored articles (session 24).
Imported by the first search of a directory, so that commands which never look a key
up do not load numba.
"""

from __future__ import annotations

import numpy as np

from ..compiled import first_at_least, njit


@njit
def directory_bounds(keys: np.ndarray, starts: np.ndarray, shift: int, fence: np.ndarray, fence_step: int,
                     query: np.ndarray):
    """``(left, right)`` (int64): ``np.searchsorted(keys, query, side=...)`` of the
    sorted uint64 ``keys``, ``"left"`` and ``"right"``, through ``starts`` (where the
    keys of each top-bits value ``key >> shift`` begin, ``2^b + 1`` positions) and, for
    a stretch of more than ``fence_step`` keys, ``fence`` (``keys[::fence_step]``;
    empty when none is)."""
    n = keys.shape[0]
    nf = fence.shape[0]
    left = np.empty(query.shape[0], np.int64)
    right = np.empty(query.shape[0], np.int64)
    s = np.uint64(shift)
    for i in range(query.shape[0]):
        q = query[i]
        slot = np.int64(q >> s)
        lo, hi = starts[slot], starts[slot + 1]  # both bounds lie in [lo, hi]
        end = hi
        if hi - lo > fence_step and nf:
            a = first_at_least(fence, q, 0, nf)  # the fence keys below q
            # the left bound lies in ((a - 1) * step, a * step]: past fence key a - 1, up to key a
            if a > 0:
                lo = max(lo, (a - 1) * fence_step + 1)
            hi = min(hi, a * fence_step)
        for right_side in (False, True):  # the first position, then for a key found its end
            while lo < hi:
                mid = (lo + hi) >> 1
                if keys[mid] < q or (right_side and keys[mid] == q):
                    lo = mid + 1
                else:
                    hi = mid
            if right_side:
                right[i] = lo
            else:
                left[i] = lo
                if not (lo < n and keys[lo] == q):  # a key missed ends where it starts
                    right[i] = lo
                    break
                lo, hi = lo + 1, end
    return left, right
