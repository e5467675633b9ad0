"""The compiled key search of a level's buckets (numba): every query key's first
position and bucket size in one call (:func:`search`), then the matched entries'
positions in a second (:func:`gather`), with the key ranges each search read so the
caller can verify their pages before gathering.

Why compiled: the same search in numpy was ~10 vectorized passes of a binary search
plus a run-length step of ~15 calls (``lower_bound``, ``run_lengths``, ``positions`` of
session 18), each pass a few temporaries over all keys; a check's ~3,000 keys then cost
~0.41 us each on a 1.8 GB file (40k stored articles) and the calls around them as much
again.  Here each key's first probe inside its block is interpolated (band keys are
hashes), with no temporaries; a run's length is counted by a scan that stops at
``limit + 1`` entries.  Measured in ``benchmarks/README-index.md`` (session 19).  Imported by the first
look-up (:func:`~.lookup.positions`), so that commands which never look a key up do not
load numba.
"""

from __future__ import annotations

import numpy as np

from ...compiled import first_at_least, njit

@njit
def search(keys: np.ndarray, fence: np.ndarray, query: np.ndarray, limit: int, block: int):
    """For each key of ``query`` (uint64): ``(left, count, lo, hi)``, int64 arrays --
    its first position ``>=`` it in the sorted ``keys`` (``np.searchsorted``), its
    entries there (0 if none; ``limit + 1`` for any run longer than ``limit``, when
    ``limit >= 0``), and the range ``[lo, hi)`` of ``keys`` the search read.
    ``fence`` is ``keys[::block]``.

    The answer for ``q`` lies in ``(base, top]`` after the fence (``fence[b - 1] < q
    <= fence[b]``, ``base = (b - 1) * block``, ``top = b * block``; past the end counts
    as ``+inf``).  Band keys are hashes, uniform within a block, so the first probe is
    interpolated between the block's first key and the next block's; then a gallop
    from it and a binary search inside the bracket it finds: correct for any keys,
    ~3 probes near the first instead of ``log2(block)`` across the block.  The first
    probes of all keys go in one pass (independent loads: their cache misses
    overlap).  Measured on the 40k file's paragraph level: 0.25-0.33 us a key against
    0.92-1.0 for a plain binary search in lock-step, under load ~25."""
    n = keys.shape[0]
    m = query.shape[0]
    nf = fence.shape[0]
    left = np.zeros(m, np.int64)
    count = np.zeros(m, np.int64)
    lo = np.zeros(m, np.int64)
    hi = np.zeros(m, np.int64)
    if n == 0:
        return left, count, lo, hi
    start = np.full(m, -1, np.int64)  # keys[start] < q (-1: none)
    stop = np.zeros(m, np.int64)  # keys[stop] >= q, or stop == n
    for i in range(m):  # the fence, then the interpolated first probe
        q = query[i]
        a = first_at_least(fence, q, 0, nf)
        if a == 0:  # q <= keys[0]
            hi[i] = 1
            continue
        base = (a - 1) * block
        top = min(a * block, n)
        start[i] = base
        stop[i] = top
        lo[i] = base
        hi[i] = min(base + block, n - 1) + 1
        if top < n:
            guess = base + 1 + np.int64(float(q - fence[a - 1]) / float(fence[a] - fence[a - 1]) * (top - base - 1))
        else:
            guess = base + 1 + (top - base - 1) // 2
        left[i] = min(max(guess, base + 1), top)
    for i in range(m):  # the first probes, one pass
        if start[i] >= 0 and left[i] < n:
            if keys[left[i]] < query[i]:
                start[i] = left[i]
            else:
                stop[i] = left[i]
        elif start[i] >= 0:
            stop[i] = n
    for i in range(m):
        q = query[i]
        a, b = start[i], stop[i]
        if a >= 0:
            step = 1
            if a == left[i]:  # gallop up from the probe
                while a + step < b and keys[a + step] < q:
                    a += step
                    step <<= 1
                b = min(b, a + step)
            else:  # down
                while b - step > a and keys[b - step] >= q:
                    b -= step
                    step <<= 1
                a = max(a, b - step)
            while b - a > 1:
                mid = (a + b) >> 1
                if keys[mid] < q:
                    a = mid
                else:
                    b = mid
        else:
            b = 0
        left[i] = b
        if b < n and keys[b] == q:
            end = b + 1
            last = n if limit < 0 else min(n, b + limit + 1)
            while end < last and keys[end] == q:
                end += 1
            count[i] = end - b
            if end < n:  # the key after the run (or the limit's probe) was read too
                end += 1
            hi[i] = max(hi[i], end)
    return left, count, lo, hi


@njit
def gather(query: np.ndarray, left: np.ndarray, count: np.ndarray):
    """``(keys, positions)`` of every entry of the runs ``left[i] .. left[i] +
    count[i]`` (key ``query[i]``), in query order: uint64 and int64 arrays."""
    total = 0
    for i in range(count.shape[0]):
        total += count[i]
    keys = np.empty(total, np.uint64)
    at = np.empty(total, np.int64)
    k = 0
    for i in range(count.shape[0]):
        for j in range(count[i]):
            keys[k] = query[i]
            at[k] = left[i] + j
            k += 1
    return keys, at
