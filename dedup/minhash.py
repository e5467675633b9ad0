"""MinHash signatures for a whole batch of shingle sets at once.

Why our own numpy code rather than ``datasketch.MinHash`` per text: datasketch hashes
one text at a time; here every shingle of a batch goes through the permutations in a
few large vectorized operations and each text's minimum is taken with
``np.minimum.reduceat`` over its segment.

The signatures are nevertheless *datasketch's*: the permutations are those of
``datasketch.MinHash(scheme="affine32", seed=seed)`` and each shingle enters as the
32-bit fold of its 64-bit hash, so ``as_datasketch`` gives a ``LeanMinHash`` that
compares equal to one built by datasketch from the same shingles.  Tests check that.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .settings import SCHEME
from .shingle import Shingles

EMPTY = np.uint32(0xFFFFFFFF)
_CHUNK_CELLS = 1 << 20  # shingles x permutations per block: 4 MB, stays in cache


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The affine32 permutation parameters ``(a, b)`` datasketch 2.x derives from ``seed``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def fold32(hashes: np.ndarray) -> np.ndarray:
    """The 32-bit value a 64-bit shingle hash enters MinHash as (xor of its halves)."""
    return ((hashes ^ (hashes >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, the pre-mix datasketch's affine schemes apply."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(shingles: Shingles, num_perm: int, seed: int = 1) -> np.ndarray:
    """Return a ``(texts, num_perm)`` uint32 array of MinHash signatures.

    A text without shingles gets the all-``EMPTY`` signature, like an empty datasketch
    MinHash.  Work is done in cache-sized blocks of shingles; a text that spans blocks
    is combined with ``np.minimum``, so one huge text costs memory of one block.
    """
    a, b = permutations(num_perm, seed)
    a_col, b_col = a[:, None], b[:, None]
    n_texts = len(shingles)
    sig = np.full((n_texts, num_perm), EMPTY, dtype=np.uint32)
    offsets = shingles.offsets
    total = int(offsets[-1]) if n_texts else 0
    if total == 0:
        return sig
    mixed = fmix32(fold32(shingles.hashes))
    block = max(1, _CHUNK_CELLS // num_perm)
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    seg_start, seg_end = offsets[:-1][nonempty], offsets[1:][nonempty]
    for lo in range(0, total, block):
        hi = min(lo + block, total)
        first = np.searchsorted(seg_end, lo, side="right")
        last = np.searchsorted(seg_start, hi, side="left")
        texts = nonempty[first:last]
        starts = np.maximum(seg_start[first:last], lo) - lo
        # (num_perm, block): each permutation's row is contiguous, which lets numpy
        # vectorize both the affine map and the segment minimum (4x faster than rows
        # per shingle).  uint32 arithmetic wraps around: that *is* the mod 2^32.
        values = a_col * mixed[lo:hi] + b_col
        partial = np.minimum.reduceat(values, starts, axis=1)
        sig[texts] = np.minimum(sig[texts], partial.T)
    return sig


def estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of row pairs: the share of equal signature positions."""
    return np.mean(sig_a == sig_b, axis=-1)


def as_datasketch(signature: np.ndarray, seed: int = 1):
    """A ``datasketch.LeanMinHash`` holding ``signature`` (for interop and tests)."""
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=signature, scheme=SCHEME)
