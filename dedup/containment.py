"""Containment candidates: find a short text inside a longer one, which Jaccard banding misses.

Why a second candidate stage: a 40-word quote inside a 200-word paragraph has a
containment of 1.0 (every shingle of the quote is in the paragraph) but a Jaccard of
only ~0.2, and LSH bands tuned for Jaccard 0.3 catch it about one time in four.  In
general a set Q contained to a share ``t`` in a set X of ``k`` times its size has

    J(Q, X) = t |Q| / (|X| + |Q| - t |Q|) = t / (k + 1 - t)

so the larger the size ratio ``k``, the lower the Jaccard that banding must catch.

How (LSH Ensemble, Zhu, Nargesian, Pu, Miller, "LSH Ensemble: Internet-Scale Domain
Search", VLDB 2016; datasketch's ``MinHashLSHEnsemble``): texts are put in size
partitions, here geometric classes of ratio ``sqrt(2)``.  For a class pair (small
class, large class) the worst case -- the smallest possible small text, the largest
possible large one -- gives the lowest Jaccard ``J_min`` a pair contained to ``t``
can have; that pair of classes is banded with the most rows ``r`` (and the fewest
bands ``b``) that still catch a pair at ``J_min`` with probability ``target``
(S-curve ``1-(1-J^r)^b``).  Class pairs whose ``J_min`` the ordinary Jaccard bands
already catch with that probability are left to them.  As in datasketch, a
partition's ``b`` bands are the first ``b`` bands of ``r`` rows of the same
signatures, so one set of band keys per ``r`` serves every class pair using it.

What it costs, and the one approximation: size ratios beyond ``max_ratio`` are not
searched (:data:`MAX_RATIO`; at 1:20 and ``t`` = 0.8 the Jaccard is 0.04 and only
single-row bands find it).  Single-row bands are single MinHash values, and a value
shared by many texts is a common shingle ("of the"), which says nothing about
containment; a bucket with more than :data:`MAX_BUCKET` members is therefore skipped
(a genuinely contained pair shares ~``J * b`` values, almost all of them rare).
Every candidate is verified exactly afterwards (:mod:`dedup.verify`), so a loose
candidate stage costs time, never precision.

All functions are vectorized over a whole batch: ``(signatures, sizes) -> pairs``.
"""

from __future__ import annotations

import math

import numpy as np

from .lsh import _pairs_in_runs, catch_probability
from .minhash import estimate

#: Largest size ratio (larger / smaller text) searched for containment.
MAX_RATIO = 12.0
#: MinHash positions put through one sort (memory: 16 bytes per text and position).
_POSITIONS_PER_SORT = 16
#: Chance of catching a pair exactly at the containment threshold in the worst case
#: of its class pair (larger texts, smaller ratios and higher containment: more).
TARGET = 0.99
#: Buckets with more members than this hold a common shingle and are skipped.
MAX_BUCKET = 64
#: See :func:`plausible`.
SIGMAS = 4.0


def min_jaccard(containment: float, ratio: float | np.ndarray) -> np.ndarray:
    """Jaccard of a set contained to ``containment`` in a set ``ratio`` times its size."""
    return containment / (np.asarray(ratio, dtype=float) + 1.0 - containment)


def depth(containment: float, ratio: np.ndarray, target: float = TARGET) -> np.ndarray:
    """MinHash positions to search for a pair of size ratio ``ratio`` (larger/smaller):
    enough single-value bands that a pair at the containment threshold shares one of
    them with probability ``target``: ``ceil(log(1-target) / log(1-J_min))``."""
    jaccard = np.minimum(min_jaccard(containment, ratio), 1.0 - 1e-12)
    return np.ceil(math.log(1.0 - target) / np.log1p(-jaccard)).astype(np.int64)


def lowest_ratio(containment: float, covered: tuple[int, int] | None, max_ratio: float,
                 target: float = TARGET) -> float:
    """The size ratio from which the Jaccard banding ``covered`` (``(bands, rows)``) no
    longer catches a pair at the containment threshold with probability ``target``."""
    if covered is None:
        return 1.0
    grid = np.linspace(1.0, max_ratio, 512)
    missed = catch_probability(min_jaccard(containment, grid), *covered) < target
    return float(grid[max(int(np.argmax(missed)) - 1, 0)]) if missed.any() else max_ratio


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
    shingle counts (set sizes; counts with repeats are a close upper bound and do as
    well).  Pairs whose sizes differ by more than ``max_ratio`` are not searched, nor
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


def plausible(signatures: np.ndarray, sizes: np.ndarray, pairs: np.ndarray, containment: float,
              chunk: int = 1 << 16) -> np.ndarray:
    """The ``pairs`` whose MinHash estimate is not far below the Jaccard a pair at the
    containment threshold has at its size ratio: at least ``J_min - SIGMAS * sd``,
    ``sd = sqrt(J_min (1 - J_min) / num_perm)`` (a true pair is dropped with
    probability ~3e-5).  Why: a single shared MinHash value makes a candidate, and most
    such chance pairs share just that one value out of ``num_perm``, an estimate far
    below any contained pair's; this drops them before the exact (and, for long
    texts, costly) verification."""
    num_perm = signatures.shape[1]
    small, large = np.sort(sizes[pairs], axis=1).T
    j = min_jaccard(containment, large / small)
    floor = j - SIGMAS * np.sqrt(j * (1 - j) / num_perm)
    keep = floor <= 1.0 / num_perm  # one shared value passes anyway: no need to look
    check = np.flatnonzero(~keep)
    for lo in range(0, len(check), chunk):
        part = pairs[check[lo : lo + chunk]]
        keep[check[lo : lo + chunk]] = estimate(signatures[part[:, 0]], signatures[part[:, 1]]) >= floor[
            check[lo : lo + chunk]]
    return pairs[keep]


def search_positions(containment: float, num_perm: int, max_ratio: float = MAX_RATIO, target: float = TARGET) -> int:
    """How many leading MinHash positions the search uses (the depth at ``max_ratio``)."""
    return min(int(depth(containment, np.array([max_ratio]), target)[0]), num_perm)


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
    must be whole in the rows given; rows may come in any order."""
    low = lowest_ratio(containment, covered, max_ratio, target)
    flat = _shared_bucket_pairs(keys)
    if not len(flat) or low >= max_ratio:
        return np.zeros((0, 2), np.int64)
    position = (keys[flat[:, 0]] >> np.uint64(32)).astype(np.int64)
    a, b = items[flat[:, 0]], items[flat[:, 1]]
    size_a, size_b = np.maximum(sizes[flat[:, 0]], 1), np.maximum(sizes[flat[:, 1]], 1)
    ratio = np.maximum(size_a, size_b) / np.minimum(size_a, size_b)
    keep = (ratio > low) & (ratio <= max_ratio)
    keep[keep] = position[keep] < depth(containment, ratio[keep], target)
    return np.stack([np.minimum(a, b)[keep], np.maximum(a, b)[keep]], axis=1).astype(np.int64)


def _shared_bucket_pairs(column: np.ndarray) -> np.ndarray:
    """Pairs of positions in ``column`` with equal keys, from buckets of 2 to
    :data:`MAX_BUCKET` members (larger ones are a common shingle's and skipped)."""
    order = np.argsort(column)
    ordered = column[order]
    run_start = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    run_len = np.diff(np.r_[run_start, len(column)])
    keep = (run_len > 1) & (run_len <= MAX_BUCKET)
    if not keep.any():
        return np.zeros((0, 2), np.int64)
    return _pairs_in_runs(order, run_start[keep], run_len[keep])
