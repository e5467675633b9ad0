"""Containment candidates from shared single-value buckets: ``(signatures, sizes) -> pairs``.

A bucket is one MinHash value at one of the leading positions (:func:`bucket_keys`);
two texts sharing one are a candidate when their size ratio needs that position
(:mod:`dedup.containment.ratios`) -- :func:`bucket_pairs` pairs each row only with the
sizes its position serves.  :func:`candidate_pairs` is the whole search in memory (the
scan runs the same steps by partition, :mod:`dedup.plan.band` /
:mod:`dedup.plan.candidates`), its pairs then through the prefilter
(:mod:`dedup.containment.prefilter`).
"""

from __future__ import annotations

import numpy as np

from ..segments import offsets_from_counts, ranges
from .ratios import MAX_RATIO, TARGET, depth, least_ratio, lowest_ratio, search_positions
from .prefilter import plausible

#: MinHash positions put through one sort (memory: 16 bytes per text and position).
_POSITIONS_PER_SORT = 16
#: Buckets with more members than this hold a common shingle and are skipped.
MAX_BUCKET = 64
#: Partners :func:`bucket_pairs` looks at in one go (~40 bytes each): pairs are made and
#: judged a slice of rows at a time, so its memory does not grow with the pairs, which
#: grow with the corpus (more texts share a value at a position, up to MAX_BUCKET).
PAIRS_AT_ONCE = 1 << 20
#: Set sizes are capped at this in bucket sorting (they share an int64 with the bucket) and in
#: the scan's containment rows (they share a uint64 with the item, :mod:`dedup.plan.band`).
SIZE_CAP = (1 << 32) - 1


def candidate_pairs(
    signatures: np.ndarray,
    sizes: np.ndarray,
    containment: float,
    *,
    covered: tuple[int, int] | None = None,
    max_ratio: float = MAX_RATIO,
    target: float = TARGET,
) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of texts whose smaller one may be contained to at
    least ``containment`` in the larger, as a sorted ``(m, 2)`` int64 array.

    ``signatures``: ``(n, num_perm)`` uint32 MinHash signatures; ``sizes``: ``(n,)``
    set sizes (distinct shingles: the Jaccard of a contained pair follows from them).  Pairs whose sizes differ by more than ``max_ratio`` are not searched, nor
    those the Jaccard banding ``covered`` (its ``(bands, rows)``) already catches (see
    :func:`lowest_ratio`).  Raises ``ValueError`` for a containment outside (0, 1].
    """
    if not 0.0 < containment <= 1.0:
        raise ValueError(f"containment must be in (0, 1], not {containment}")
    n = len(signatures)
    low = lowest_ratio(containment, covered, max_ratio, target)
    if n < 2 or low >= max_ratio:
        return np.zeros((0, 2), np.int64)
    sizes = np.maximum(np.asarray(sizes, dtype=np.int64), 1)
    found: list[np.ndarray] = []
    for lo in range(0, search_positions(containment, signatures.shape[1], max_ratio, target), _POSITIONS_PER_SORT):
        # One sort for a block of positions.
        keys = bucket_keys(signatures, lo, lo + _POSITIONS_PER_SORT)
        width = keys.shape[1]
        found.append(bucket_pairs(keys.ravel(), np.repeat(np.arange(n), width), np.repeat(sizes, width),
                                  containment, covered=covered, max_ratio=max_ratio, target=target))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    code = pairs[:, 0] * n + pairs[:, 1]
    code.sort()
    code = code[np.r_[True, code[1:] != code[:-1]]] if len(code) else code
    return plausible(signatures, sizes, np.stack([code // n, code % n], axis=1), containment)


def bucket_keys(signatures: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``(n, hi - lo)`` uint64 bucket keys of positions ``lo .. hi - 1``: the value,
    with its position in the high bits (a bucket is one value at one position)."""
    hi = min(hi, signatures.shape[1])
    keys = signatures[:, lo:hi].astype(np.uint64)
    keys |= np.arange(lo, hi, dtype=np.uint64) << np.uint64(32)
    return keys


def bucket_pairs(
    keys: np.ndarray,
    items: np.ndarray,
    sizes: np.ndarray,
    containment: float,
    *,
    covered: tuple[int, int] | None = None,
    max_ratio: float = MAX_RATIO,
    target: float = TARGET,
) -> np.ndarray:
    """Candidate pairs ``(i, j)``, ``i < j`` (item numbers, with repeats), from flat rows
    of :func:`bucket_keys` (``keys[r]`` of item ``items[r]``, whose size is
    ``sizes[r]``): pairs sharing a bucket of 2 to :data:`MAX_BUCKET` members whose size
    ratio needs that bucket's position (see :func:`candidate_pairs`).  Every bucket
    must be whole in the rows given; rows may come in any order.

    How, without making every pair of a bucket first: the rows of shared buckets are
    sorted by (bucket, size), and each row is paired only with the members of its
    bucket whose size is in the range its position serves -- more than
    :func:`least_ratio` of the position (and more than the ratio the Jaccard bands
    cover) and at most ``max_ratio`` times its own.  Most members of a crowded bucket
    at a deep position are too close in size to need it, so this makes about a
    seventh of the pairs a plain pairing would (benchmarks/README.md).
    """
    low = lowest_ratio(containment, covered, max_ratio, target)
    if len(keys) < 2 or low >= max_ratio:
        return np.zeros((0, 2), np.int64)
    ordered, order = _sorted_rows(keys)
    run_start = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    run_len = np.diff(np.r_[run_start, len(keys)])
    shared = (run_len > 1) & (run_len <= MAX_BUCKET)
    if not shared.any():
        return np.zeros((0, 2), np.int64)
    starts, lens = run_start[shared], run_len[shared]
    position = (ordered[starts] >> np.uint64(32)).astype(np.int64)  # a bucket is at one position
    del ordered
    rows = order[ranges(starts, lens)]
    del order, run_start
    size = np.minimum(np.maximum(np.asarray(sizes)[rows], 1), SIZE_CAP).astype(np.int64)
    # The least ratio each position serves, once per position (a table, not per row).
    least_of = least_ratio(containment, np.arange(int(position.max()) + 1), target, covered)
    least = np.maximum(least_of, low)[position] * (1.0 - 1e-9)
    # A bucket whose largest member is under its smallest member's least partner size
    # makes no pair (most of them: two thirds of the shared rows on the benchmark corpus):
    # left out before sorting by size.
    at = offsets_from_counts(lens)[:-1]
    useful = np.floor(np.minimum.reduceat(size, at) * least) <= np.maximum.reduceat(size, at)
    if not useful.any():
        return np.zeros((0, 2), np.int64)
    kept = np.repeat(useful, lens)
    rows, size, lens, position, least = rows[kept], size[kept], lens[useful], position[useful], least[useful]
    # Buckets are numbered in key order, so (bucket, size) sorts by bucket, then size.
    code = (np.repeat(np.arange(len(lens), dtype=np.int64), lens) << 32) | size
    # The codes come sorted by bucket: a stable sort (timsort) orders each run by
    # size in ~0.4x the time of the default quicksort.
    by_size = np.argsort(code, kind="stable")
    code, rows, size = code[by_size], rows[by_size], size[by_size]
    del by_size
    run = code >> 32
    position, least = position[run], least[run]
    # Partner sizes: (low_size, high_size]; slightly wide (float rounding), then exact.
    first = np.searchsorted(code, (run << 32) | np.minimum(np.floor(size * least), SIZE_CAP).astype(np.int64))
    last = np.searchsorted(code, (run << 32) | np.minimum(np.floor(size * max_ratio * (1.0 + 1e-9)),
                                                          SIZE_CAP).astype(np.int64), side="right")
    count = np.maximum(last - first, 0)
    del code, run, least, last

    def judged(lo: int, hi: int) -> np.ndarray:  # the kept pairs of rows lo .. hi - 1, in order
        left = np.repeat(np.arange(lo, hi), count[lo:hi])
        right = ranges(first[lo:hi], count[lo:hi])
        ratio = size[right] / size[left]
        keep = (ratio > low) & (ratio <= max_ratio)
        # ``depth(ratio) > position`` is ``ratio > least_ratio(position)`` but for float
        # rounding at the edge: decided by the table, and by ``depth`` itself near the edge.
        edge = least_of[position[left]]
        near = keep & (np.abs(ratio - edge) <= 1e-9 * edge)
        keep &= ratio > edge
        keep[near] = position[left[near]] < depth(containment, ratio[near], target, covered)
        a, b = items[rows[left[keep]]], items[rows[right[keep]]]
        return np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1).astype(np.int64)

    # A slice of rows at a time, about PAIRS_AT_ONCE partners each (a row's partners are
    # at most MAX_BUCKET - 1): the same pairs in the same order as all rows at once.
    total = np.cumsum(count)
    cuts = np.searchsorted(total, np.arange(1, int(total[-1]) // PAIRS_AT_ONCE + 1) * PAIRS_AT_ONCE, side="right")
    bounds = np.unique(np.r_[0, cuts, len(count)])
    return np.concatenate([judged(lo, hi) for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist())])


def _sorted_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(keys sorted, the row of each)``, i.e. ``keys[argsort(keys)]`` and the argsort.
    A key is a 32-bit value under its position, so while the rows' numbers fit in the
    bits above the highest position they ride along in one plain sort of 64-bit
    integers (several times faster than an argsort); else an argsort."""
    free = 32 - int(keys.max() >> np.uint64(32)).bit_length()
    if len(keys) > 1 << free:
        order = np.argsort(keys)
        return keys[order], order
    packed = (keys << np.uint64(free)) | np.arange(len(keys), dtype=np.uint64)
    packed.sort()
    return packed >> np.uint64(free), (packed & np.uint64((1 << free) - 1)).astype(np.int64)
