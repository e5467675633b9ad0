"""The compiled MinHash loop (numba): every text's signature in one call, shingle by
shingle and permutation by permutation, with nothing allocated but the signatures.

Why compiled: in numpy a batch was signed by three paths (short texts position by
position over many texts, a few texts over dense blocks, long ones by
``np.minimum.reduceat``), each a few numpy calls per step over ``(permutations,
texts)`` temporaries; at 256 permutations the scan spent ~1.8 s of a 16.6 s scan of
the 19 MB base there (benchmarks/README.md, session 21).  Here each shingle's value
is mixed once and folded into its text's running minimum, one row of ``num_perm``
uint32 held in cache, the loop over permutations vectorized by the compiler: one path
for any text length and batch size (the same numbers, tested against datasketch).

Imported by :func:`dedup.minhash.signatures`, so that commands which sign nothing do
not load numba; a scan loads it once in its own process before its workers fork
(:func:`dedup.minhash.load`).
"""

from __future__ import annotations

import numpy as np

from .compiled import njit


@njit
def minhash_rows(hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out[i]`` = the MinHash of the shingles ``hashes[offsets[i]:offsets[i + 1]]``
    (uint64) under the affine32 permutations ``(a, b)`` (uint32): each shingle enters
    as :func:`~dedup.minhash.fmix32` of :func:`~dedup.minhash.fold32` of its hash, and
    ``out[i, p]`` is the minimum of ``a[p] * v + b[p]`` mod 2^32 over them.  ``out``
    (uint32, ``(texts, len(a))``) must hold ``EMPTY`` (``0xFFFFFFFF``) on entry: a text
    without shingles keeps it, and ``min(EMPTY, x) == x``."""
    num_perm = a.shape[0]
    mask = np.uint64(0xFFFFFFFF)
    for t in range(offsets.shape[0] - 1):
        row = out[t]
        for s in range(offsets[t], offsets[t + 1]):
            h = hashes[s]
            v = (h ^ (h >> np.uint64(32))) & mask  # fold32
            v ^= v >> np.uint64(16)  # fmix32, in 64 bits masked to 32
            v = (v * np.uint64(0x85EBCA6B)) & mask
            v ^= v >> np.uint64(13)
            v = (v * np.uint64(0xC2B2AE35)) & mask
            v ^= v >> np.uint64(16)
            x = np.uint32(v)
            for p in range(num_perm):
                y = np.uint32(a[p] * x + b[p])  # uint32 wraps: datasketch's mod 2^32
                if y < row[p]:
                    row[p] = y
