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
(every :data:`FENCE`-th key, small enough to stay in the caches: a binary search
there, then the same few steps inside ``FENCE`` keys).  Each key is searched alone by
a compiled loop (:mod:`.keysearch`; a vectorized numpy search until session 24).  Measured (one process, CPU):
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
    array, searched with ``np.searchsorted``), and the ``fence`` (every ``FENCE``-th
    key) for the keys of stretches longer than :data:`FENCE`."""

    starts: Optional[np.ndarray]
    shift: np.uint64 = np.uint64(64)
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
        return cls(starts, shift, keys[::FENCE].copy() if np.diff(starts).max() > FENCE else None)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.starts, self.fence) if a is not None)

    def bounds(self, keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(np.searchsorted(keys, query, "left"), np.searchsorted(keys, query,
        "right"))`` (``keys``: the array this directory was made of; ``query``: uint64,
        any order), int64: one compiled call (:func:`~.keysearch.directory_bounds`)."""
        if self.starts is None:
            return (np.searchsorted(keys, query, side="left").astype(np.int64),
                    np.searchsorted(keys, query, side="right").astype(np.int64))
        from ..compiled import plain
        from .keysearch import directory_bounds  # (numba: imported by the first search)

        fence = self.fence if self.fence is not None else keys[:0]  # (the arrays as they are: never copied)
        return directory_bounds(keys, self.starts, int(self.shift), fence, FENCE, plain(query, np.uint64))
