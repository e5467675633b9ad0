"""Helpers for flat "segmented" arrays (CSR layout), shared by the numpy stages.

Many texts' shingles live in one array with an offsets array marking where each text
starts; these helpers turn that layout into the index arrays numpy operations need,
without a Python loop per element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for each start ``s`` and length ``l``."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + shift


def sorted_unique(values: np.ndarray, return_inverse: bool = False):
    """``np.unique(values)`` (and with ``return_inverse``, ``(unique, inverse)``: the
    position of each value of ``values``, flattened, in ``unique``) for integer
    arrays, by sorting.

    Why not ``np.unique``: from numpy 2.3 it uses a hash table for integers, which on
    mostly-distinct 64-bit values (band keys, row ids) is 10-80x slower than a sort
    (measured with numpy 2.4: 800 keys 1.1 ms vs 13 us, 220k keys 275 vs 5 ms)."""
    values = np.asarray(values).ravel()
    if not return_inverse:
        ordered = np.sort(values)
        if len(ordered) < 2:
            return ordered
        return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    order = np.argsort(values)
    ordered = values[order]
    first = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(len(values), dtype=np.intp)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


def row_positions(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sorted_unique(ids, return_inverse=True)`` for non-negative integer ids (row
    ids: a look-up's bucket hits), through a table by id when the highest id is within
    a few times the number of ids -- a batch's hits, ~1M row ids of an index of 0.4-2M
    rows -- else by sorting.  ``(unique int64, inverse intp)``.

    Why: the sort-based inverse (an argsort) of 1M row ids below 420k took ~260 ms
    under load, the table ~30 ms; 3M below 2M rows ~1 s against ~0.11 s (session 23)."""
    ids = np.asarray(ids).ravel()
    if not len(ids):
        return ids.astype(np.int64), np.zeros(0, np.intp)
    low, top = int(ids.min()), int(ids.max())
    if low < 0 or top >= 4 * len(ids) + (1 << 16):
        rows, inverse = sorted_unique(ids, return_inverse=True)
        return rows.astype(np.int64, copy=False), inverse
    seen = np.zeros(top + 1, dtype=bool)
    seen[ids] = True
    slot = np.cumsum(seen, dtype=np.intp) - 1
    return np.flatnonzero(seen).astype(np.int64, copy=False), slot[ids]


def first_unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unique, first, counts)``: ``np.unique(values, return_index=True,
    return_counts=True)`` for a 1-D integer array, by one stable sort (see
    :func:`sorted_unique` for why not ``np.unique``)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    head = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else order
    return ordered[head], order[head], np.diff(np.r_[head, len(ordered)])


def unique_rows(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``(a[i], b[i])`` pairs of two 1-D integer arrays, sorted by ``a``
    then ``b`` (``np.unique(np.stack([a, b], 1), axis=0)``, by one lexsort)."""
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    keep = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])] if len(a) else np.zeros(0, bool)
    return a[keep], b[keep]


def segment_ids(offsets: np.ndarray) -> np.ndarray:
    """For offsets ``[0, 3, 3, 5]``: ``[0, 0, 0, 2, 2]`` (which segment each element is in)."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def offsets_from_counts(counts: np.ndarray) -> np.ndarray:
    """``[0, c0, c0 + c1, ...]``: the offsets of segments of the given sizes."""
    return np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))


@dataclass(frozen=True)
class SetTable:
    """Sorted, de-duplicated shingle sets of many texts, flat (CSR layout)."""

    values: np.ndarray  # uint64
    offsets: np.ndarray  # int64

    def sizes(self) -> np.ndarray:
        """Each set's number of shingles, ``(texts,)`` int64."""
        return np.diff(self.offsets)

    @classmethod
    def from_shingles(cls, shingles: Any) -> "SetTable":
        """The sets of a :class:`~dedup.shingle.Shingles` (or any ``hashes``/``offsets`` pair)."""
        return unique_sets(shingles.hashes, shingles.offsets)


#: Values :func:`unique_sets` sorts at a time, in whole segments (a segment longer than
#: this alone).  Why: its sort holds ~7 arrays the size of its input; the 17 stored
#: copies of a 2 MiB article (5.6M values) made it +250 MB of a check's peak (session 24).
UNIQUE_BLOCK = 1 << 20


def unique_sets(values: np.ndarray, offsets: np.ndarray) -> SetTable:
    """Sort each segment's values and drop repeats within a segment, whole segments of
    about :data:`UNIQUE_BLOCK` values at a time (:func:`_unique_sets`)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    if n < 2 or offsets[-1] <= UNIQUE_BLOCK:
        return _unique_sets(values, offsets)
    block = offsets[:-1] // UNIQUE_BLOCK  # of each segment, by where it starts
    edges = [0, *(np.flatnonzero(np.diff(block)) + 1).tolist(), n]
    parts = [_unique_sets(values[offsets[lo] : offsets[hi]], offsets[lo : hi + 1] - offsets[lo])
             for lo, hi in zip(edges[:-1], edges[1:])]
    return SetTable(values=np.concatenate([p.values for p in parts]),
                    offsets=offsets_from_counts(np.concatenate([np.diff(p.offsets) for p in parts])))


def _unique_sets(values: np.ndarray, offsets: np.ndarray) -> SetTable:
    """:func:`unique_sets` of one block.

    How: one sort of a single 64-bit key per value -- the segment number in the high
    bits, the value's leading bits below it -- instead of a two-key ``lexsort`` (4x
    faster on paragraph sets).  Values are hashes, so two different values of one
    segment almost never share their leading bits; if some do, their order in the
    key is not theirs, and the two-key sort is used instead (the result is exact
    either way)."""
    n = len(offsets) - 1
    seg = segment_ids(offsets)
    values = np.asarray(values, dtype=np.uint64)
    bits = max(1, int(n).bit_length())
    if len(values) and bits < 48:
        key = (seg.astype(np.uint64) << np.uint64(64 - bits)) | (values >> np.uint64(bits))
        order = np.argsort(key)
        key, v = key[order], values[order]
        same = key[1:] == key[:-1]
        if not (same & (v[1:] != v[:-1])).any():
            keep = np.concatenate(([True], ~same))
            counts = np.bincount((key[keep] >> np.uint64(64 - bits)).astype(np.int64), minlength=n)
            return SetTable(values=v[keep], offsets=offsets_from_counts(counts))
    order = np.lexsort((values, seg))
    v, s = values[order], seg[order]
    keep = np.r_[True, (v[1:] != v[:-1]) | (s[1:] != s[:-1])] if len(v) else np.zeros(0, bool)
    counts = np.bincount(s[keep], minlength=n)
    return SetTable(values=v[keep], offsets=offsets_from_counts(counts))


def take_sets(table: SetTable, which: np.ndarray) -> SetTable:
    """The sets ``which`` (indices into ``table``) of ``table``, in that order."""
    sizes = table.sizes()[which]
    return SetTable(table.values[ranges(table.offsets[which], sizes)], offsets_from_counts(sizes))
