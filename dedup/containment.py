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

import functools
import math

import numpy as np

from .lsh import catch_probability
from .segments import ranges

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
#: Shingle counts are capped at this in bucket sorting (they share an int64 with the bucket).
_SIZE_CAP = (1 << 32) - 1


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
    """The ``pairs`` whose MinHash signatures agree in enough positions for a pair at
    the containment threshold: at least :func:`least_matches` of ``J_min``, the
    Jaccard such a pair has at its size ratio (a true pair is dropped with probability
    under ``norm.sf(SIGMAS)``, ~3e-5 at 4).  Why: a single shared MinHash value makes a
    candidate, and most such chance pairs share just that one value, far fewer than
    any contained pair; this drops them before the exact (and, for long texts,
    costly) verification.  Positions are compared on their low 16 bits (b-bit MinHash,
    Li and Koenig, WWW 2010): half the bytes to read, and a chance agreement adds a
    position with probability 2^-16, which can only keep a pair, never drop one.
    ``signatures``: ``(n, num_perm)``; ``sizes``: ``(n,)`` shingle counts; ``pairs``:
    ``(m, 2)`` rows into them."""
    num_perm = signatures.shape[1]
    small, large = np.sort(sizes[pairs], axis=1).T
    need = least_matches(min_jaccard(containment, large / small), num_perm)
    keep = need <= 1  # a candidate shares one value: no need to look
    check = np.flatnonzero(~keep)
    low = signatures.astype(np.uint16)
    for lo in range(0, len(check), chunk):
        part = pairs[check[lo : lo + chunk]]
        same = np.count_nonzero(low[part[:, 0]] == low[part[:, 1]], axis=1)
        keep[check[lo : lo + chunk]] = same >= need[check[lo : lo + chunk]]
    return pairs[keep]


def least_matches(jaccard: np.ndarray, num_perm: int) -> np.ndarray:
    """The fewest equal positions of ``num_perm`` a pair of Jaccard ``jaccard`` shows but
    with probability ``norm.sf(SIGMAS)`` (~3e-5 at 4): the lower quantile of the
    binomial ``B(num_perm, J)`` that the number of equal MinHash positions follows.

    Why not the normal approximation ``J - SIGMAS * sqrt(J (1 - J) / num_perm)`` the
    Jaccard floor uses (:func:`dedup.minhash.floor`): at the low Jaccard of a pair far
    apart in size (0.057 at 1:12 and containment 0.7: 14.6 equal positions expected of
    256) it falls below one position and drops nothing, while the binomial says a
    true pair shows at least two.  Looked up in a table over a grid of ``J``, rounded
    down (so never stricter than the exact quantile)."""
    table = _least_matches_table(num_perm)
    cell = np.floor(np.clip(jaccard, 0.0, 1.0) * (len(table) - 1)).astype(np.int64)
    return table[cell]


@functools.lru_cache(maxsize=8)
def _least_matches_table(num_perm: int, cells: int = 4096) -> np.ndarray:
    """:func:`least_matches` at ``J = 0, 1/cells, ..., 1``: per ``J``, the smallest ``k``
    with ``P(B(num_perm, J) <= k) >= norm.sf(SIGMAS)`` (the binomial quantile, from
    its log-pmf summed in numpy; scipy.stats would cost a scan ~0.5 s to import)."""
    tail = 0.5 * math.erfc(SIGMAS / math.sqrt(2.0))
    k = np.arange(num_perm + 1, dtype=float)
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, num_perm + 1)))))
    log_choose = log_fact[-1] - log_fact - log_fact[::-1]
    p = np.linspace(0.0, 1.0, cells + 1)[1:-1, None]
    cdf = np.cumsum(np.exp(log_choose + k * np.log(p) + (num_perm - k) * np.log1p(-p)), axis=1)
    inner = np.argmax(cdf >= tail, axis=1)
    return np.concatenate(([0], inner, [num_perm])).astype(np.int64)


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
    rows = order[ranges(run_start[shared], run_len[shared])]
    size = np.minimum(np.maximum(np.asarray(sizes)[rows], 1), _SIZE_CAP).astype(np.int64)
    # Buckets are numbered in key order, so (bucket, size) sorts by bucket, then size.
    code = (np.repeat(np.arange(int(shared.sum()), dtype=np.int64), run_len[shared]) << 32) | size
    by_size = np.argsort(code)
    code, rows, size = code[by_size], rows[by_size], size[by_size]
    run = code >> 32
    position = (keys[rows] >> np.uint64(32)).astype(np.int64)
    # Partner sizes: (low_size, high_size]; slightly wide (float rounding), then exact.
    least = np.maximum(least_ratio(containment, position, target), low) * (1.0 - 1e-9)
    first = np.searchsorted(code, (run << 32) | np.minimum(np.floor(size * least), _SIZE_CAP).astype(np.int64))
    last = np.searchsorted(code, (run << 32) | np.minimum(np.floor(size * max_ratio * (1.0 + 1e-9)),
                                                          _SIZE_CAP).astype(np.int64), side="right")
    count = np.maximum(last - first, 0)
    left = np.repeat(np.arange(len(rows)), count)
    right = ranges(first, count)
    ratio = size[right] / size[left]
    keep = (ratio > low) & (ratio <= max_ratio)
    keep[keep] = position[left[keep]] < depth(containment, ratio[keep], target)
    a, b = items[rows[left[keep]]], items[rows[right[keep]]]
    return np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1).astype(np.int64)


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


def least_ratio(containment: float, position: np.ndarray, target: float = TARGET) -> np.ndarray:
    """The size ratio above which a pair needs MinHash position ``position``: the
    inverse of :func:`depth` (``depth(ratio) > position`` exactly when ``ratio >
    least_ratio(position)``; 1 for position 0, which every pair needs).  From
    ``1 - (1 - J)^p >= target``: ``J < 1 - (1 - target)^(1/p)``, and ``J = t / (k + 1 - t)``."""
    p = np.maximum(np.asarray(position, dtype=float), 1.0)
    jaccard = -np.expm1(math.log(1.0 - target) / p)
    return np.where(np.asarray(position) < 1, 1.0, np.maximum(containment / jaccard - 1.0 + containment, 1.0))
