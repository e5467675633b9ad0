"""MinHash signatures for a whole batch of shingle sets at once.

Why our own code rather than ``datasketch.MinHash`` per text: datasketch hashes one
text at a time through Python calls; here one compiled loop signs a whole batch
(:mod:`dedup.minhash_kernel`).

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
    MinHash.  uint32 arithmetic wraps around: that *is* datasketch's mod 2^32.  One
    compiled loop signs any batch, text by text (:mod:`dedup.minhash_kernel`; it
    replaced three numpy paths for short texts, few texts and long ones).
    """
    from .compiled import plain
    from .minhash_kernel import minhash_rows  # (numba: loaded by the first signing, not by every command)

    a, b = permutations(num_perm, seed)
    sig = np.full((len(shingles), num_perm), EMPTY, dtype=np.uint32)
    if len(shingles):
        minhash_rows(plain(shingles.hashes, np.uint64), plain(shingles.offsets, np.int64), a, b, sig)
    return sig


def load() -> None:
    """Load the compiled loops of a scan's signing and verification into this process
    now (numba and the cached machine code of :mod:`dedup.minhash_kernel` and
    :mod:`dedup.verify_kernel`: ~1 s CPU once per process, benchmarks/README.md): what
    a scan does before its worker processes fork, so that they share them instead of
    each loading them."""
    from .segments import SetTable
    from .verify import intersections

    signatures(Shingles(hashes=np.zeros(1, np.uint64), offsets=np.array([0, 1], np.int64),
                        units=np.ones(1, np.int64)), 1)
    intersections(SetTable(np.zeros(1, np.uint64), np.array([0, 1], np.int64)), np.zeros((1, 2), np.int64))


def estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of row pairs: the share of equal signature positions."""
    return np.sum(sig_a == sig_b, axis=-1, dtype=np.int64) / np.shape(sig_a)[-1]


#: Pairs that :func:`estimate_pairs` compares at once: their two signatures (2 KB a
#: pair at 256 permutations) stay in a core's cache.
_PAIR_BLOCK = 256


def estimate_pairs(sigs: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`estimate` of the row pairs ``sigs[a[i]]``, ``sigs[b[i]]``; ``a`` and
    ``b`` are integer arrays of one length, the result is float64 of that length.

    Why not ``estimate(sigs[a], sigs[b])``: that gathers every pair's two rows first
    (32 MB for 16,384 pairs at 256 permutations) and compares them after, all through
    main memory; a block of :data:`_PAIR_BLOCK` pairs is gathered and compared while
    it is in cache (16,384 pairs: 47 -> 17 ms CPU, same numbers)."""
    out = np.empty(len(a), dtype=np.float64)
    for lo in range(0, len(a), _PAIR_BLOCK):
        hi = lo + _PAIR_BLOCK
        out[lo:hi] = estimate(sigs[a[lo:hi]], sigs[b[lo:hi]])
    return out


#: See :func:`floor`.
PREFILTER_SIGMAS = 4.0


def floor(threshold, num_perm: int):
    """The MinHash estimate below which a candidate is not verified (the scan's and
    the index's estimate floor).

    Why: LSH with few rows per band (what catches light rewrites) also proposes a steady
    share of chance pairs (J ~ 0.02; on real prose 82 % of a scan's paragraph
    candidates), and their number grows with the corpus.  Their estimate is
    ~0.02 +- 0.01, while a pair at the threshold has an estimate
    ``N(threshold, sqrt(t(1-t)/num_perm))`` (the MinHash standard error): the floor sits
    ``PREFILTER_SIGMAS`` standard deviations below it, so a true pair at the threshold
    is dropped with probability ~3e-5 (the normal tail at 4 sigma; pairs above the
    threshold even less), and nearly every chance one is dropped before its shingle
    set is read.  ``threshold`` may be an array (one floor per pair).
    """
    return threshold - PREFILTER_SIGMAS * np.sqrt(threshold * (1 - threshold) / num_perm)


def as_datasketch(signature: np.ndarray, seed: int = 1):
    """A ``datasketch.LeanMinHash`` holding ``signature`` (for interop and tests)."""
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=signature, scheme=SCHEME)
