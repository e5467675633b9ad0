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

from bisect import bisect_right
from functools import lru_cache

import numpy as np

from .segments import offsets_from_counts, ranges
from .settings import SCHEME
from .shingle import Shingles

EMPTY = np.uint32(0xFFFFFFFF)
#: Texts with at most this many shingles are signed position by position (below);
#: longer ones with a segment-wise ``np.minimum.reduceat``.
_SHORT_TEXT = 512
#: Batches with at most this many short texts sign them over dense blocks instead
#: (:func:`_sign_few`).  Measured on news paragraphs: at 256 permutations 1.3-1.7x
#: faster up to 2,048 texts, slower from ~2,500 (1.2x at 2,560, 1.7x at 4,096); at
#: 64 permutations equal at 2,048 (1.1x faster at 1,024), at 1,024 permutations
#: 1.6-2.1x faster; one article (~10 paragraphs) ~10x faster at any of them.
_FEW_TEXTS = 2048
#: Cells (shingles x permutations) per block of the reduceat path: 4 MB.
_CHUNK_CELLS = 1 << 20
#: Cells (texts x permutations) per working array of the stepwise path: 4 MB.
_STEP_CELLS = 1 << 20


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
    MinHash.  uint32 arithmetic wraps around: that *is* datasketch's mod 2^32.

    Why three paths: real paragraphs are short (a median of ~20 shingles), and a
    segment-wise ``reduceat`` then spends its time on per-segment overhead.  Short
    texts are therefore signed position by position over many texts at once (see
    :func:`_sign_short`), or, when the batch has only a few of them (one article
    being checked against an index), text by text over a dense block
    (:func:`_sign_few`); long ones, where a segment minimum is efficient, with
    ``np.minimum.reduceat`` (:func:`_sign_long`).
    """
    a, b = permutations(num_perm, seed)
    sig = np.full((len(shingles), num_perm), EMPTY, dtype=np.uint32)
    offsets = shingles.offsets
    if len(shingles) == 0 or offsets[-1] == 0:
        return sig
    mixed = fmix32(fold32(shingles.hashes))
    starts, lengths = offsets[:-1], np.diff(offsets)
    short = np.flatnonzero((lengths > 0) & (lengths <= _SHORT_TEXT))
    if len(short) <= _FEW_TEXTS:
        _sign_few(mixed, starts[short], lengths[short], a, b, out=sig, rows=short)
    else:
        short = short[np.argsort(-lengths[short], kind="stable")]
        _sign_short(mixed, starts[short], lengths[short], a, b, out=sig, rows=short)
    long = np.flatnonzero(lengths > _SHORT_TEXT)
    if len(long):
        _sign_long(mixed, starts[long], lengths[long], a, b, out=sig, rows=long)
    return sig


def _sign_short(mixed, starts, lengths, a, b, *, out: np.ndarray, rows: np.ndarray) -> None:
    """Sign texts given longest first: ``out[rows[i]]`` = MinHash of the
    ``lengths[i]`` values of ``mixed`` from ``starts[i]``.

    Over a chunk of texts, the running minimum starts at each text's first shingle
    and step ``k`` folds in the ``k``-th shingle of every text that has one -- a
    prefix of the chunk, since texts are sorted longest first.  The working arrays
    are ``(num_perm, texts)``: each numpy call runs along a whole row of texts per
    permutation (measured 10-30 % faster than rows of ``num_perm`` per text).
    """
    num_perm = len(a)
    chunk = max(1, _STEP_CELLS // num_perm)
    acc = np.empty((num_perm, chunk), np.uint32)
    tmp = np.empty((num_perm, chunk), np.uint32)
    a_col, b_col = a[:, None], b[:, None]
    for lo in range(0, len(rows), chunk):
        first, length = starts[lo : lo + chunk], lengths[lo : lo + chunk]
        n = len(first)
        np.multiply(a_col, mixed[first], out=acc[:, :n])
        acc[:, :n] += b_col
        shorter = -length  # ascending, for searchsorted
        for k in range(1, int(length[0])):
            m = int(np.searchsorted(shorter, -k, side="left"))  # texts longer than k
            values = tmp[:, :m]
            np.multiply(a_col, mixed[first[:m] + k], out=values)
            values += b_col
            np.minimum(acc[:, :m], values, out=acc[:, :m])
        out[rows[lo : lo + chunk]] = acc[:, :n].T


def _sign_few(mixed, starts, lengths, a, b, *, out: np.ndarray, rows: np.ndarray) -> None:
    """Sign a few short texts: ``out[rows[i]]`` = MinHash of the ``lengths[i]`` values
    of ``mixed`` from ``starts[i]``.

    Every shingle goes through every permutation in one dense ``(shingles, num_perm)``
    block (two numpy calls per block), then each text's minimum is taken over its
    rows: one numpy call per text, running along rows of ``num_perm`` contiguous
    values.  Why not :func:`_sign_short` for these: its loop makes four numpy calls
    per shingle *position* (~80 positions for news paragraphs), each over only as
    many texts as the batch has -- for one article, ~10 -- so call overhead was ~85 %
    of signing it (1.6 ms; this path: ~0.2 ms).  The per-text call makes this path
    lose once batches have thousands of texts (see ``_FEW_TEXTS``).
    """
    values = mixed[ranges(starts, lengths)]  # the texts' shingles back to back
    bounds = offsets_from_counts(lengths).tolist()
    targets = rows.tolist()
    block_rows = max(1, _CHUNK_CELLS // len(a))  # a short text always fits one block
    first = 0
    while first < len(targets):
        last = max(first + 1, bisect_right(bounds, bounds[first] + block_rows) - 1)  # texts [first, last)
        base = bounds[first]
        block = np.multiply(values[base : bounds[last], None], a)
        block += b
        for i in range(first, last):
            np.minimum.reduce(block[bounds[i] - base : bounds[i + 1] - base], axis=0, out=out[targets[i]])
        first = last


def _sign_long(mixed, starts, lengths, a, b, *, out: np.ndarray, rows: np.ndarray) -> None:
    """Sign long texts with a segment minimum; a text that spans blocks is combined
    with ``np.minimum``, so one huge text costs the memory of one block."""
    values = mixed[ranges(starts, lengths)]
    offsets = offsets_from_counts(lengths)
    seg_start, seg_end = offsets[:-1], offsets[1:]
    a_col, b_col = a[:, None], b[:, None]
    total = int(offsets[-1])
    block = max(1, _CHUNK_CELLS // len(a))
    for lo in range(0, total, block):
        hi = min(lo + block, total)
        first = np.searchsorted(seg_end, lo, side="right")
        last = np.searchsorted(seg_start, hi, side="left")
        texts = rows[first:last]
        # (num_perm, block): each permutation's row is contiguous, so the segment
        # minimum runs along contiguous memory.
        partial = np.minimum.reduceat(a_col * values[lo:hi] + b_col, np.maximum(seg_start[first:last], lo) - lo, axis=1)
        out[texts] = np.minimum(out[texts], partial.T)


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
