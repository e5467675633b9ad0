"""b-bit MinHash sketches: a 64-byte first look at an LSH candidate.

Why: most LSH candidates in a large index are chance pairs (Jaccard ~0.03).  Telling
them apart needs only a coarse estimate, and 64 bytes instead of the 1 KB signature keep
that first look small enough to sit beside the buckets themselves (Li & Koenig 2010,
"b-Bit Minwise Hashing").  The index compares sketches (:func:`sketch_matches`) before
it reads a candidate's full row; storage backends keep one sketch per banded row.
"""

from __future__ import annotations

import functools
import math

import numpy as np

#: Signature positions kept in a paragraph's :func:`sketch`, and bits kept of each.
SKETCH_POSITIONS = 128
SKETCH_BITS = 4
_NIBBLE = np.uint8((1 << SKETCH_BITS) - 1)
#: The lowest bit of every nibble of a 64-bit word.
_NIBBLE_LOW_BITS = np.uint64(0x1111111111111111)
#: See :func:`sketch_floor`: the chance that the sketch drops a pair at the threshold.
SKETCH_MISS = 1e-6
#: Cells of the Jaccard grid :func:`sketch_floors` looks floors up in.
_FLOOR_CELLS = 1024


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
    """Equal positions of row pairs of two sketch arrays (same shape), int64.

    Eight bytes at a time where the width allows: a nibble is equal where its XOR is
    zero, i.e. where the OR of its four bits -- gathered into its lowest bit by two
    shifts -- is not set, counted with one popcount per word (8x fewer elements than
    two compares per byte; a containment look-up compares ~3,000 pairs an article)."""
    if SKETCH_BITS == 4 and np.shape(a)[-1] % 8 == 0:
        w = np.ascontiguousarray(a).view(np.uint64) ^ np.ascontiguousarray(b).view(np.uint64)
        w |= w >> np.uint64(1)
        w |= w >> np.uint64(2)
        w &= _NIBBLE_LOW_BITS
        return 2 * np.shape(a)[-1] - np.bitwise_count(w).sum(axis=-1, dtype=np.int64)
    x = np.bitwise_xor(a, b)
    return ((x & _NIBBLE) == 0).sum(axis=-1) + ((x >> SKETCH_BITS) == 0).sum(axis=-1)


#: Pairs compared at once by :func:`sketch_matches_at` where its compiled compare
#: does not apply (a sketch width not a multiple of 8 bytes: ``num_perm`` < 16).
PAIR_CHUNK = 16_384


def sketch_matches_at(a: np.ndarray, ia: np.ndarray, b: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """``sketch_matches(a[ia], b[ib])`` (int64, one count per pair of row indices)
    without gathering the rows: one compiled pass over the pairs, each pair's rows
    read in place as uint64 words (:func:`~dedup.sketch_kernel.matches_at`).  A width
    that is no whole number of words is compared :data:`PAIR_CHUNK` pairs at a time.

    Why: a batch look-up compares millions of pairs (a 128-article batch at 100k x 20
    stored articles, 49 x 2 bands: ~4.9M); gathering both sides whole first held two
    64-byte rows a pair (~630 MB, plus ~310 MB for their XOR), a chunk a few MB, the
    compiled pass nothing but the counts (``benchmarks/bench_sketch_pairs.py``)."""
    ia = np.asarray(ia, dtype=np.int64)
    ib = np.asarray(ib, dtype=np.int64)
    width = np.shape(a)[-1]
    if SKETCH_BITS == 4 and width % 8 == 0 and len(ia):
        from .compiled import plain
        from .sketch_kernel import matches_at

        words = lambda v: plain(v, np.uint8).view(np.uint64).reshape(-1, width // 8)  # noqa: E731
        return matches_at(words(a), plain(ia, np.int64), words(b), plain(ib, np.int64), 2 * width)
    out = np.empty(len(ia), np.int64)
    for lo in range(0, len(ia), PAIR_CHUNK):
        out[lo : lo + PAIR_CHUNK] = sketch_matches(a[ia[lo : lo + PAIR_CHUNK]], b[ib[lo : lo + PAIR_CHUNK]])
    return out


@functools.lru_cache(maxsize=None)
def sketch_floor(threshold: float, positions: int) -> int:
    """Equal sketch positions below which a candidate is dismissed unread.

    Why: a check meets hundreds of chance LSH candidates (~510 at p50 with 100k stored
    articles, thousands for some articles), and reading each one's full row is a page
    read; the sketch comes with the bucket hits instead.  A sketch position of a pair
    with Jaccard ``J`` is equal with probability ``p = J + (1 - J) / 2**SKETCH_BITS``
    (the MinHash values agree, or they differ but their low bits agree by chance), so
    the equal positions of a pair at the threshold are ``Binomial(positions, p)``.  The floor is
    the largest count whose lower tail is at most ``SKETCH_MISS``: a true pair is lost
    with probability <= 1e-6 (pairs above the threshold even less), while a chance pair
    (J ~ 0.03) passes with probability ~1 % (at the defaults: 20 of 128 positions,
    64 bytes a sketch).  Survivors still face :func:`floor` on the full signature, then
    exact verification.
    """
    p = threshold + (1 - threshold) / (1 << SKETCH_BITS)
    tail, floor_count = 0.0, 0
    for m in range(positions + 1):
        tail += math.comb(positions, m) * p**m * (1 - p) ** (positions - m)
        if tail > SKETCH_MISS:
            break
        floor_count = m + 1
    return floor_count


def sketch_floors(jaccard: np.ndarray, positions: int) -> np.ndarray:
    """:func:`sketch_floor` for many Jaccard values at once (each pair's own: the
    containment look-up's pairs need ``J_min`` of their size ratio,
    :func:`dedup.containment.min_jaccard`), looked up in a table over a grid of ``J``
    rounded down -- never stricter than the floor at the exact ``J``."""
    cell = np.floor(np.clip(jaccard, 0.0, 1.0) * _FLOOR_CELLS).astype(np.int64)
    return _floor_table(positions)[cell]


@functools.lru_cache(maxsize=8)
def _floor_table(positions: int) -> np.ndarray:
    """:func:`sketch_floor` at ``J = 0, 1/cells, ..., 1``: per ``J``, how many leading
    counts ``m`` have ``P(Binomial(positions, p) <= m) <= SKETCH_MISS`` (the binomial
    log-pmf summed in numpy: one table for a process, not a loop per ``J``)."""
    jaccard = np.linspace(0.0, 1.0, _FLOOR_CELLS + 1)
    p = np.clip(jaccard + (1 - jaccard) / (1 << SKETCH_BITS), 1e-300, 1 - 1e-16)[:, None]
    k = np.arange(positions + 1, dtype=float)
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, positions + 1)))))
    log_choose = log_fact[-1] - log_fact - log_fact[::-1]
    cdf = np.cumsum(np.exp(log_choose + k * np.log(p) + (positions - k) * np.log1p(-p)), axis=1)
    return np.count_nonzero(cdf <= SKETCH_MISS, axis=1).astype(np.int64)
