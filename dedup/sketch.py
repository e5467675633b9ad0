"""b-bit MinHash sketches: a 64-byte first look at an LSH candidate.

Why: most LSH candidates in a large index are chance pairs (Jaccard ~0.03).  Telling
them apart needs only a coarse estimate, and 64 bytes instead of the 1 KB signature keep
that first look small enough to sit beside the buckets themselves (Li & Koenig 2010,
"b-Bit Minwise Hashing").  The index compares sketches (:func:`sketch_matches`) before
it reads a candidate's full row; storage backends keep one sketch per banded row.
"""

from __future__ import annotations

import numpy as np

#: Signature positions kept in a paragraph's :func:`sketch`, and bits kept of each.
SKETCH_POSITIONS = 128
SKETCH_BITS = 4
_NIBBLE = np.uint8((1 << SKETCH_BITS) - 1)


def sketch(signatures: np.ndarray) -> np.ndarray:
    """b-bit MinHash sketches: the low ``SKETCH_BITS`` bits of the first
    ``SKETCH_POSITIONS`` signature values, two per byte.

    ``signatures``: ``(n, num_perm)`` uint32 (or one signature); returns ``(n,
    sketch_width(num_perm))`` uint8 -- 64 bytes per row at the defaults.
    """
    signatures = np.atleast_2d(signatures)
    low = (signatures[:, : sketch_positions(signatures.shape[1])] & _NIBBLE).astype(np.uint8)
    return np.ascontiguousarray(low[:, 0::2] | (low[:, 1::2] << SKETCH_BITS))


def sketch_positions(num_perm: int) -> int:
    """Positions a sketch holds for signatures of ``num_perm`` values (an even number)."""
    return min(num_perm, SKETCH_POSITIONS) // 2 * 2


def sketch_width(num_perm: int) -> int:
    """Bytes of one sketch for signatures of ``num_perm`` values."""
    return sketch_positions(num_perm) // 2


def sketch_matches(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal positions of row pairs of two sketch arrays (same shape)."""
    x = np.bitwise_xor(a, b)
    return ((x & _NIBBLE) == 0).sum(axis=-1) + ((x >> SKETCH_BITS) == 0).sum(axis=-1)
