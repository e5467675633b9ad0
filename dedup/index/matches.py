"""What a look-up found -- paragraph matches as columns (:class:`Found`) -- and the
row-table helpers it is built with: band-key hits to pairs, exact copies of matched
texts (not banded, contract rule 5) joined on their content key, rows taken and joined
without a loop per row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import SetTable, ranges, sorted_unique, take_sets
from ..storage.protocol import ParagraphRows
from .signing import slice_sets

#: Exact copies of one matched stored text listed in a verdict.
MAX_COPIES = 16


@dataclass(frozen=True)
class Found:
    """Paragraph matches of checked paragraphs: which checked paragraph (an index into
    the ``eligible`` array the look-up was given), the stored row, scores."""

    new: np.ndarray  # index into the checked (eligible) paragraphs
    rows: ParagraphRows  # stored side, one row per match
    jaccard: np.ndarray
    cont_new: np.ndarray
    cont_stored: np.ndarray
    estimates: np.ndarray
    exact: np.ndarray
    contained: np.ndarray  # Jaccard below the threshold, one side >= containment inside the other

    def part(self, lo: int, hi: int, start: int) -> "Found":
        """Matches ``lo:hi`` (those of one article), ``new`` counted from ``start``
        (the article's first checked paragraph)."""
        r = self.rows
        rows = ParagraphRows(r.ids[lo:hi], r.docs[lo:hi], r.index[lo:hi], r.start[lo:hi], r.end[lo:hi],
                             r.keys[lo:hi], r.signatures[lo:hi], slice_sets(r.sets, lo, hi))
        return Found(self.new[lo:hi] - start, rows, self.jaccard[lo:hi], self.cont_new[lo:hi],
                     self.cont_stored[lo:hi], self.estimates[lo:hi], self.exact[lo:hi], self.contained[lo:hi])


def copy_matches(
    match_owner: np.ndarray, match_ids: np.ndarray, match_keys: np.ndarray, copy_ids: np.ndarray,
    copy_keys: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The matches to add for exact copies of matched stored texts: every ``(m, r)``,
    match ``m`` and copy ``r`` having the same content key, unless the article owning
    ``m`` already matches row ``copy_ids[r]`` itself; in ``(r, m)`` order, as
    ``(m array, r array)``.  One sort and a join on the key, no loop per pair."""
    by_key = np.argsort(match_keys, kind="stable")
    ordered = match_keys[by_key]
    left = np.searchsorted(ordered, copy_keys, side="left")
    count = np.searchsorted(ordered, copy_keys, side="right") - left
    m = by_key[ranges(left, count)]
    r = np.repeat(np.arange(len(copy_ids), dtype=np.int64), count)
    if not len(m):
        return m.astype(np.int64), r
    span = int(max(match_ids.max(initial=0), copy_ids.max(initial=0))) + 1
    seen = np.isin(match_owner[m] * span + copy_ids[r], match_owner * span + match_ids)
    return m[~seen].astype(np.int64), r[~seen]


def joined(a: SetTable, b: SetTable) -> SetTable:
    """Two set tables as one (``b``'s sets numbered after ``a``'s)."""
    return SetTable(
        values=np.concatenate([a.values, b.values]),
        offsets=np.concatenate([a.offsets, b.offsets[1:] + a.offsets[-1]]),
    )


def key_rows(query: np.ndarray, hit_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (hit entry, query row) whose band key is the entry's: ``(rows, times)``,
    ``rows`` the query rows of entry 0, then of entry 1, ..., ``times`` how many each
    entry has (a key is usually one row's)."""
    flat = query.ravel()
    owner = np.repeat(np.arange(len(query), dtype=np.int64), query.shape[1])
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    left = np.searchsorted(ordered, hit_keys, side="left")
    times = np.searchsorted(ordered, hit_keys, side="right") - left
    return owner[order[ranges(left, times)]], times


def hits_to_pairs(query: np.ndarray, hit_keys: np.ndarray, hit_refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``(query row, stored row)`` pairs that share a band key."""
    new, count = key_rows(query, hit_keys)
    refs = np.repeat(hit_refs, count)
    if not len(new):
        return new, refs
    # One int64 per pair, ordered by (query row, stored row): a 1-D unique is ~3x
    # faster than ``np.unique(axis=0)`` on the ~500 pairs of a check at 100k articles.
    span = int(refs.max()) + 1
    pairs = sorted_unique(new * span + refs)
    return pairs // span, pairs % span


def hit_pairs(query: np.ndarray, hit_keys: np.ndarray, hit_refs: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`hits_to_pairs` with each pair's place among the hits: ``(query row,
    stored row, entry)``, ``entry`` being the first hit entry of the pair's stored row
    (where its sketch is: ``sketches[entry]`` as :meth:`Storage.candidates` returns them).

    Why: the pairs are made from the hit rows numbered once (their distinct ids), so
    each pair knows its row's entry by position -- no binary search of every pair's row
    among the hit rows (a 128-article batch at 100k x 20 articles, 49 x 2 bands: ~4.9M
    pairs from ~1.9M hit entries)."""
    # One stable sort of the hits by row: each row's first entry, and every entry's row
    # number (a permutation written once: no repeated index in a fancy assignment).
    order = np.argsort(hit_refs, kind="stable")
    ordered = hit_refs[order]
    head = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=head[1:])
    ids, first = ordered[head], order[head]
    inverse = np.empty(len(hit_refs), dtype=np.int64)
    inverse[order] = np.cumsum(head) - 1
    new, row = hits_to_pairs(query, hit_keys, inverse)
    return new, ids[row], first[row]


def take_rows(rows: ParagraphRows, which: np.ndarray) -> ParagraphRows:
    return ParagraphRows(
        ids=rows.ids[which],
        docs=rows.docs[which],
        index=rows.index[which],
        start=rows.start[which],
        end=rows.end[which],
        keys=rows.keys[which],
        signatures=rows.signatures[which],
        sets=take_sets(rows.sets, which),
    )


def concat_rows(a: ParagraphRows, b: ParagraphRows) -> ParagraphRows:
    return ParagraphRows(
        ids=np.concatenate([a.ids, b.ids]),
        docs=np.concatenate([a.docs, b.docs]),
        index=np.concatenate([a.index, b.index]),
        start=np.concatenate([a.start, b.start]),
        end=np.concatenate([a.end, b.end]),
        keys=np.concatenate([a.keys, b.keys]),
        signatures=np.concatenate([a.signatures, b.signatures]),
        sets=joined(a.sets, b.sets),
    )
