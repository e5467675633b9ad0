"""How deep the containment search goes: single MinHash values per size ratio.

A set contained to a share ``t`` in a set ``k`` times its size has a Jaccard of
``t / (k + 1 - t)`` (:func:`min_jaccard`); a pair far apart in size is caught within
256 permutations only by single-value bands, and each size ratio gets the fewest
leading positions that catch a pair contained just at ``t`` with probability
:data:`TARGET` (:func:`depth`), fewer beside the Jaccard bands (:func:`joint_miss`).
:func:`least_ratio` is its inverse (the ratios a position serves), what
:func:`dedup.containment.buckets.bucket_pairs` pairs by.  Scalars or numpy arrays in,
arrays out; no I/O.
"""

from __future__ import annotations

import functools
import math

import numpy as np

#: Largest size ratio (larger / smaller text) searched for containment.
MAX_RATIO = 12.0
#: Chance of catching a pair exactly at the containment threshold in the worst case
#: of its class pair (larger texts, smaller ratios and higher containment: more).
TARGET = 0.99


def min_jaccard(containment: float, ratio: float | np.ndarray) -> np.ndarray:
    """Jaccard of a set contained to ``containment`` in a set ``ratio`` times its size."""
    return containment / (np.asarray(ratio, dtype=float) + 1.0 - containment)


def lowest_jaccard(threshold: float, containment: float, size_a: np.ndarray, size_b: np.ndarray,
                   max_ratio: float = MAX_RATIO) -> np.ndarray:
    """The lowest Jaccard a pair of set sizes ``size_a``, ``size_b`` (arrays, one per
    pair) can have and still be reported, where both the scan's verification and the
    index's containment look-up put their estimate floor: ``threshold``, or, with
    containment on (``containment`` > 0) and the size ratio at most ``max_ratio``,
    :func:`min_jaccard` of a pair contained just at ``containment`` if that is lower.
    Beyond ``max_ratio`` a pair is not searched for containment, so it is a pair only
    at the Jaccard threshold -- in the scan too, where a chance Jaccard band could
    bring one (tester F4 of session 16: a 1:12.25 pair reported by the scan, never by
    the index).  The index's containment look-up passes ``threshold`` 1 (its Jaccard
    look-up floors at the threshold itself): a pair beyond ``max_ratio`` then has a
    floor no estimate of it reaches (its Jaccard is at most ``1 / max_ratio``)."""
    size_a, size_b = np.asarray(size_a), np.asarray(size_b)
    ratio = np.maximum(size_a, size_b) / np.maximum(np.minimum(size_a, size_b), 1)
    lowest = np.full(ratio.shape, float(threshold))
    if containment:
        within = ratio <= max_ratio
        lowest[within] = np.minimum(threshold, min_jaccard(containment, ratio[within]))
    return lowest


def depth(containment: float, ratio: np.ndarray, target: float = TARGET,
          covered: tuple[int, int] | None = None) -> np.ndarray:
    """MinHash positions to search for a pair of size ratio ``ratio`` (larger/smaller):
    enough single-value bands that a pair at the containment threshold shares one of
    them with probability ``target``: ``ceil(log(1-target) / log(1-J_min))``.

    With ``covered`` (the Jaccard banding's ``(bands, rows)``, whose candidates are
    verified too), no more than that, and no more than the fewest positions for which
    the pair is missed by both with probability at most :data:`JOINT_SHARE` of
    ``1 - target`` (:func:`joint_miss`): a pair close in size is caught by the Jaccard
    bands often enough that it needs fewer single values (containment 0.7 beside
    49 x 2: none at 1:1.5 instead of 10, 7 at 1:2 instead of 13, the same from ~1:2.6
    on)."""
    alone = _alone_depth(containment, ratio, target)
    if covered is None:
        return alone
    joint = np.searchsorted(-_joint_jaccard(_joint_target(target), *covered), -min_jaccard(containment, ratio))
    return np.minimum(alone, joint).astype(np.int64)


#: Beside the Jaccard bands, the two together may miss a pair at the threshold at most
#: this share of what the containment search alone may (``1 - TARGET``): a tenth, so
#: that a pair close in size, which the bands catch almost always, is searched less
#: without being missed noticeably more often than by the search alone.
JOINT_SHARE = 0.1


def _joint_target(target: float) -> float:
    return 1.0 - JOINT_SHARE * (1.0 - target)


def _alone_depth(containment: float, ratio: np.ndarray, target: float) -> np.ndarray:
    jaccard = np.minimum(min_jaccard(containment, ratio), 1.0 - 1e-12)
    return np.ceil(math.log(1.0 - target) / np.log1p(-jaccard)).astype(np.int64)


def joint_miss(jaccard: np.ndarray, positions: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Chance that a pair of Jaccard ``jaccard`` shares none of the first ``positions``
    MinHash values and no band of the Jaccard banding ``(bands, rows)`` (band ``i`` is
    positions ``i*rows .. i*rows + rows - 1``, :func:`dedup.lsh.band_keys`):
    ``(1-J)^D (1-J^rows)^(bands - ceil(D/rows))``.  Given no single value shared, every
    band touching the first ``D`` positions is missed too; the others are independent
    of them (MinHash positions are independent permutations)."""
    jaccard, positions = np.asarray(jaccard, dtype=float), np.asarray(positions, dtype=float)
    untouched = np.maximum(bands - np.ceil(positions / rows), 0.0)
    return (1.0 - jaccard) ** positions * (1.0 - jaccard**rows) ** untouched


@functools.lru_cache(maxsize=16)
def _joint_jaccard(target: float, bands: int, rows: int, positions: int = 1024) -> np.ndarray:
    """Per ``D = 0 .. positions - 1``: the Jaccard ``J*`` at which :func:`joint_miss` is
    exactly ``1 - target`` (by bisection; decreasing in ``D``).  A pair of Jaccard ``J``
    needs more than ``D`` positions exactly when ``J < J*[D]``."""
    d = np.arange(positions, dtype=float)
    lo, hi = np.zeros(positions), np.ones(positions)
    for _ in range(64):  # joint_miss decreases in J: keep hi on the caught side
        mid = 0.5 * (lo + hi)
        caught = joint_miss(mid, d, bands, rows) <= 1.0 - target
        hi, lo = np.where(caught, mid, hi), np.where(caught, lo, mid)
    hi.setflags(write=False)
    return hi


def lowest_ratio(containment: float, covered: tuple[int, int] | None, max_ratio: float,
                 target: float = TARGET) -> float:
    """The size ratio from which the Jaccard banding ``covered`` (``(bands, rows)``) no
    longer catches a pair at the containment threshold with probability ``target``
    (``depth`` 0 below it); at most ``max_ratio``, 1 without ``covered``."""
    if covered is None:
        return 1.0
    return float(min(least_ratio(containment, np.array([0]), target, covered)[0], max_ratio))


def least_ratio(containment: float, position: np.ndarray, target: float = TARGET,
                covered: tuple[int, int] | None = None) -> np.ndarray:
    """The size ratio above which a pair needs MinHash position ``position``: the
    inverse of :func:`depth` (``depth(ratio) > position`` exactly when ``ratio >
    least_ratio(position)``; without ``covered``, 1 for position 0, which every pair
    needs).  From ``1 - (1 - J)^p >= target``: ``J < 1 - (1 - target)^(1/p)``, and
    ``J = t / (k + 1 - t)``; with ``covered``, also ``J < J*[p]`` of :func:`joint_miss`
    (:func:`depth` is the smaller of the two, so its inverse is the larger ratio)."""
    p = np.maximum(np.asarray(position, dtype=float), 1.0)
    jaccard = -np.expm1(math.log(1.0 - target) / p)
    alone = np.where(np.asarray(position) < 1, 1.0, np.maximum(containment / jaccard - 1.0 + containment, 1.0))
    if covered is None:
        return alone
    jaccard = _joint_jaccard(_joint_target(target), *covered)[np.asarray(position, dtype=np.int64)]
    return np.maximum(alone, np.maximum(containment / jaccard - 1.0 + containment, 1.0))


def search_positions(containment: float, num_perm: int, max_ratio: float = MAX_RATIO, target: float = TARGET) -> int:
    """How many leading MinHash positions the search uses (the depth at ``max_ratio``)."""
    return min(int(depth(containment, np.array([max_ratio]), target)[0]), num_perm)
