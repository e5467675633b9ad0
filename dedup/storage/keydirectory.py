"""Searching a large sorted array of band keys through a directory of their top bits.

Why: band keys are 64-bit hash values, spread evenly, so the keys whose top ``b``
bits are ``t`` make one short stretch of the sorted array.  A directory of where each
stretch starts (``2^b + 1`` positions, about :data:`PER_SLOT` keys a stretch) leaves a
binary search of a few steps inside one stretch -- a cache line or two -- where
``np.searchsorted`` over the whole array takes ~log2(n) probes, most of them cache
misses once the array outgrows the caches: the cost of a look-up then hardly grows
with the index.  Keys that are not hashes crowd a few slots (the containment
look-up's single-value keys: a tag, a position and a MinHash value, which is small
far more often than large): a key of a crowded slot is found through a *fence* instead
(every :data:`FENCE`-th key, small enough to stay in the caches: ``np.searchsorted``
there, then the same few steps inside ``FENCE`` keys).  Measured (one process, CPU):
1,700 query keys against random sorted keys, 13M keys 2.1 -> 0.5 ms, 60M 2.9 -> 0.9
ms (``np.searchsorted`` -> directory).  The directory costs 8 bytes per
:data:`PER_SLOT` keys and the fence 8 per ``FENCE`` (~1.1 bytes a key), built in one
pass over the keys (~0.3 s for 13M).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

#: Keys per directory slot on average (a slot's stretch is searched in
#: ``bit_length(longest stretch)`` vectorized steps, ~5).
PER_SLOT = 8
#: Below this many keys ``np.searchsorted`` is as fast (the array sits in the caches).
SMALL = 1 << 16
#: Keys between two fence keys: a key of a slot holding more is searched through the
#: fence (``bit_length(FENCE)`` steps after the fence).
FENCE = 64


@dataclass(frozen=True)
class KeyDirectory:
    """Where each stretch of keys sharing their top bits starts in a sorted uint64 array
    (``starts``: ``2^b + 1`` int64 positions, ``shift = 64 - b``; ``None`` for a small
    array, searched with ``np.searchsorted``), the binary-search steps the longest
    stretch of at most :data:`FENCE` keys needs, and the ``fence`` (every ``FENCE``-th
    key) for the keys of longer stretches."""

    starts: Optional[np.ndarray]
    shift: np.uint64 = np.uint64(64)
    steps: int = 0
    fence: Optional[np.ndarray] = None

    @classmethod
    def of(cls, keys: np.ndarray) -> "KeyDirectory":
        """The directory of the sorted uint64 ``keys``."""
        n = len(keys)
        if n < SMALL:
            return cls(None)
        bits = max(1, int(np.ceil(np.log2(n / PER_SLOT))))
        shift = np.uint64(64 - bits)
        starts = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(np.bincount((keys >> shift).astype(np.int64), minlength=1 << bits), out=starts[1:])
        stretch = np.diff(starts)
        steps = int(stretch[stretch <= FENCE].max(initial=0)).bit_length()
        return cls(starts, shift, steps, keys[::FENCE].copy() if stretch.max() > FENCE else None)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.starts, self.fence) if a is not None)

    def search(self, keys: np.ndarray, query: np.ndarray, side: Literal["left", "right"] = "left") -> np.ndarray:
        """``np.searchsorted(keys, query, side)`` (``keys``: the array this directory was
        made of; ``query``: uint64, any order), int64."""
        if self.starts is None:
            return np.searchsorted(keys, query, side=side).astype(np.int64)
        query = np.asarray(query, dtype=np.uint64)
        slot = (query >> self.shift).astype(np.int64)
        first = self.starts[slot]
        count = self.starts[slot + 1] - first
        steps = self.steps
        crowded = np.flatnonzero(count > FENCE)
        if len(crowded):  # through the fence: the bound lies in (fence key before, fence key at or after]
            block = np.searchsorted(self.fence, query[crowded], side=side)
            first[crowded] = np.maximum(block - 1, 0) * FENCE + (block > 0)  # (and ends by block * FENCE)
            steps = max(steps, (FENCE - 1).bit_length())  # (a window holds FENCE - 1 keys)
        # The bound lies in ``first .. first + count`` (count < 2^steps); every key past
        # the stretch (its slot's, or its fence window's) is above the query (or equal,
        # for the left bound of the fence's next key), so the search may run on in the
        # same window of 2^steps for every query: a branchless search whose steps are
        # one scalar half for all (``base``: the last position known below the bound).
        # A probe past the end reads the last key, which is then below the query only
        # when the bound is the array's end (hence the ``minimum`` at the end).
        n = len(keys)
        base = first - 1
        half = (1 << steps) >> 1
        while half:
            probed = keys[np.minimum(base + half, n - 1)]
            base += ((probed < query) if side == "left" else (probed <= query)) * half
            half >>= 1
        base += 1
        return np.minimum(base, n, out=base)
