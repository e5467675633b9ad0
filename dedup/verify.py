"""Verify candidate pairs exactly: Jaccard and containment of the shingle sets.

Why: MinHash estimates carry an error of about sqrt(J(1-J)/num_perm) and LSH admits
candidates well below the threshold by design.  Every reported score is therefore the
exact value computed from the two shingle sets, and only pairs at or above the
threshold survive.  The MinHash estimate is kept alongside, for transparency.

How, without a Python loop per pair: the shingle sets are stored sorted (at signing,
:class:`~dedup.segments.SetTable`), so a pair's intersection is one merge of its two
sets, compiled (:mod:`dedup.verify_kernel`) -- it replaced a sort of both sides'
values, tagged with their pair numbers, per batch of pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .segments import SetTable, segment_ids
from .shingle import Shingles, windows

#: A pair below the threshold (or one-sided above it, :func:`dedup.containment.relations`)
#: is ``contained`` when, besides the shingle containment
#: asked for (``Settings.containment``), at least this share of the smaller text's
#: words (graphemes, in scripts written without spaces) lies inside shingles found in
#: the larger one (:func:`coverage`): "80 % of the text is inside", what a reader
#: (and the eval sets' judge, by characters) calls a quote; the issue's 0.8.
COVERAGE = 0.8


def intersections(table: SetTable, pairs: np.ndarray) -> np.ndarray:
    """``|A ∩ B|`` for each row ``(a, b)`` of ``pairs`` (indices into ``table``): int64,
    ``(len(pairs),)``.  One compiled merge of the two sorted sets per pair
    (:mod:`dedup.verify_kernel`)."""
    from .compiled import plain
    from .verify_kernel import intersection_counts  # (numba: loaded by the first verification)

    out = np.zeros(len(pairs), dtype=np.int64)
    if len(pairs):
        intersection_counts(plain(table.values, np.uint64), plain(table.offsets, np.int64),
                            plain(pairs[:, 0], np.int64), plain(pairs[:, 1], np.int64), out)
    return out


def coverage(short: Shingles, long: SetTable) -> np.ndarray:
    """For each text ``i`` of ``short`` (its shingles in order, with their units'
    widths), the share of its units (words, or graphemes of a script written without
    spaces) that lie inside at least one of its shingles found in set ``i`` of
    ``long``: float64, ``(len(short),)``; 0 for a text without units.

    Why not the shingle containment alone: a shingle spans several units (2 words, 3
    graphemes), so one edited word breaks several shingles -- a quote with 10 % of its
    words edited keeps ~0.8 of its word 2-grams but ~0.7 of its grapheme 3-grams --
    while an unrelated sentence that shares one long phrase with another has its
    shingles either all inside the phrase or all out of it, and reaches 0.7 of them
    when the phrase is 3/4 of it.  Coverage counts what a reader counts (how much of
    the text is inside), whatever the width: an edited unit leaves its neighbours
    covered by their other shingles.  Measured on multilingual-dev's hard negatives
    (unrelated paragraphs sharing one 8-12-word phrase): 2 of 80 reach shingle
    containment 0.7, none coverage 0.8 (``benchmarks/bench_coverage.py``).

    How, for a whole batch at once: each shingle is looked up in its own pair's set
    (pair number in the high bits, one sort and one ``searchsorted``), and the units
    covered are counted with a difference array over all texts' units (+1 where a
    found shingle starts, -1 where it ends, a running sum above 0 is covered)."""
    n = len(short)
    start, length, _ = windows(short.units, short.widths)
    bits = max(1, int(n).bit_length())
    shift, mask = np.uint64(64 - bits), np.uint64((1 << (64 - bits)) - 1)
    owner = segment_ids(short.offsets).astype(np.uint64)
    stored = np.sort((segment_ids(long.offsets).astype(np.uint64) << shift) | (long.values & mask))
    query = (owner << shift) | (short.hashes & mask)
    at = np.minimum(np.searchsorted(stored, query), max(len(stored) - 1, 0))
    found = stored[at] == query if len(stored) else np.zeros(len(query), bool)
    total = int(short.units.sum())
    edges = (np.bincount(start[found], minlength=total + 1)
             - np.bincount(start[found] + length[found], minlength=total + 1))
    covered = np.cumsum(edges[:total]) > 0
    inside = np.bincount(np.repeat(np.arange(n), short.units), weights=covered, minlength=n)
    return np.where(short.units > 0, inside / np.maximum(short.units, 1), 0.0)


def pooled_coverage(parts: Shingles, long: SetTable, owner: np.ndarray, n: int) -> np.ndarray:
    """:func:`coverage` of ``n`` texts made of parts (a document of paragraphs): part
    ``i`` of ``parts`` (its shingles in order) belongs to text ``owner[i]`` and is
    covered by set ``i`` of ``long`` (its text's other side); a text's share is its
    parts' covered units over their units (float64, ``(n,)``; 0 without units).
    Shingles never cross a paragraph boundary, so covering each paragraph on its own is
    covering the document.  The one document-level rule of the scan
    (:mod:`dedup.plan.verify`) and the index (:mod:`dedup.index.coverage`)."""
    units = parts.units
    inside = np.bincount(owner, weights=np.rint(coverage(parts, long) * units), minlength=n)
    words = np.bincount(owner, weights=units, minlength=n)
    return np.where(words > 0, inside / np.maximum(words, 1), 0.0)


@dataclass(frozen=True)
class Scores:
    """Exact scores of verified pairs, one entry per pair."""

    jaccard: np.ndarray
    containment_a: np.ndarray  # |A ∩ B| / |A|: how much of a is found in b
    containment_b: np.ndarray  # |A ∩ B| / |B|

    def replaced(self, rows: np.ndarray, other: "Scores", which: np.ndarray) -> "Scores":
        """A copy whose entries ``rows`` hold ``other``'s entries ``which`` instead
        (``rows``, ``which``: index or bool arrays selecting as many entries each): pairs
        scored again, e.g. without a shared frame (:mod:`dedup.plan.frames`,
        :mod:`dedup.index.furniture`)."""
        out = Scores(self.jaccard.copy(), self.containment_a.copy(), self.containment_b.copy())
        out.jaccard[rows] = other.jaccard[which]
        out.containment_a[rows] = other.containment_a[which]
        out.containment_b[rows] = other.containment_b[which]
        return out


def score_pairs(table: SetTable, pairs: np.ndarray, whole: np.ndarray | None = None,
                whole_b: np.ndarray | None = None) -> Scores:
    """Exact Jaccard and both containments of each pair of sets (``pairs``: rows
    ``(a, b)`` of indices into ``table``).

    ``whole`` (optional, one index into ``table`` per pair): the set ``a`` was cut
    from, ``a`` being ``whole`` with some shingles left out (an article's boilerplate
    paragraphs, :mod:`dedup.boilerplate`).  Those shingles are then left out of ``b``
    too, so both sides are scored without them: ``b`` loses ``|whole ∩ b| - |a ∩ b|``
    shingles, and nothing else changes (``a ∩ b`` already holds none of them).
    Without it, a copy of ``whole`` scores ``|a| / |whole|`` instead of 1.
    ``whole_b`` likewise for ``b`` (a stored page's own boilerplate): what ``b`` left
    out leaves ``a`` too; both may be given."""
    inter = intersections(table, pairs).astype(float)
    size_a = table.sizes()[pairs[:, 0]].astype(float)
    size_b = table.sizes()[pairs[:, 1]].astype(float)
    if whole is not None:
        size_b -= intersections(table, np.stack([whole, pairs[:, 1]], axis=1)) - inter
    if whole_b is not None:
        size_a -= intersections(table, np.stack([pairs[:, 0], whole_b], axis=1)) - inter
    union = size_a + size_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return Scores(
            jaccard=np.where(union > 0, inter / union, 0.0),
            containment_a=np.where(size_a > 0, inter / size_a, 0.0),
            containment_b=np.where(size_b > 0, inter / size_b, 0.0),
        )
