"""The compiled sketch compare (numba): the equal positions of pairs of b-bit sketches
given by row indices, each pair's two 64-byte rows read in place.

Why compiled: :func:`~dedup.sketch.sketch_matches_at` compares every candidate pair a
look-up meets (a 256-article ``add_many`` at 20k stored articles: the band pairs'
sketch floor and the containment pairs', ~40 calls); in numpy each chunk of pairs was
first gathered into two new arrays (``a[ia]``, ``b[ib]``: 128 bytes a pair), then
XORed, shifted, masked and counted by five more passes over them.  Here each pair is
eight XORs of uint64 words and one popcount each, nothing allocated but the counts.

Imported by the first sketch compare, so that commands which compare none do not load
numba (:mod:`dedup.compiled`).
"""

from __future__ import annotations

import numpy as np

from .compiled import njit


@njit
def matches_at(a: np.ndarray, ia: np.ndarray, b: np.ndarray, ib: np.ndarray, nibbles: int) -> np.ndarray:
    """Equal 4-bit positions of the pairs ``(a[ia[k]], b[ib[k]])`` (int64, one a pair):
    ``a``, ``b`` uint64 words of the sketches (two rows of the same width), ``ia``,
    ``ib`` int64 row indices; ``nibbles``: positions a row holds (16 a word).  A
    position is equal where its XOR nibble is zero: its four bits ORed into the
    nibble's lowest bit (two shifts), the nibbles summed bytewise, then the bytes by one multiply."""
    words = a.shape[1]
    out = np.empty(ia.shape[0], np.int64)
    low = np.uint64(0x1111111111111111)
    m4 = np.uint64(0x0F0F0F0F0F0F0F0F)
    ones = np.uint64(0x0101010101010101)
    for k in range(ia.shape[0]):
        x, y = ia[k], ib[k]
        differ = 0
        for w in range(words):
            v = a[x, w] ^ b[y, w]
            v |= v >> np.uint64(1)
            v |= v >> np.uint64(2)
            v &= low  # each nibble 1 where it differs, else 0
            v = (v + (v >> np.uint64(4))) & m4  # each byte: its two nibbles' sum (0-2)
            differ += np.int64((v * ones) >> np.uint64(56))
        out[k] = nibbles - differ
    return out
