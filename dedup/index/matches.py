"""What a look-up found -- paragraph matches as columns (:class:`Found`) -- and the
helpers it is built with: band-key hits to pairs, exact copies of matched texts (not
banded, contract rule 5) joined on their content key, shingle-set tables joined
without a loop per row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..segments import SetTable, ranges
from ..storage.protocol import ParagraphPlaces

#: Exact copies of one matched stored text listed in a verdict.
MAX_COPIES = 16


@dataclass(frozen=True)
class Found:
    """Paragraph matches of checked paragraphs: which checked paragraph (an index into
    the ``eligible`` array the look-up was given), the stored row, scores."""

    new: np.ndarray  # index into the checked (eligible) paragraphs
    rows: ParagraphPlaces  # stored side, one row per match (its places: what a verdict lists)
    jaccard: np.ndarray
    cont_new: np.ndarray
    cont_stored: np.ndarray
    estimates: np.ndarray
    exact: np.ndarray
    contained: np.ndarray  # one side >= containment inside the other, covered (containment.relations)

    def part(self, lo: int, hi: int, start: int) -> "Found":
        """Matches ``lo:hi`` (those of one article), ``new`` counted from ``start``
        (the article's first checked paragraph)."""
        return Found(self.new[lo:hi] - start, self.rows.take(slice(lo, hi)), self.jaccard[lo:hi], self.cont_new[lo:hi],
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


def joined(*tables: SetTable) -> SetTable:
    """Set tables as one (each one's sets numbered after the one before's)."""
    bases = np.cumsum([0] + [int(t.offsets[-1]) for t in tables[:-1]])
    return SetTable(
        values=np.concatenate([t.values for t in tables]),
        offsets=np.concatenate([tables[0].offsets[:1]] + [t.offsets[1:] + b for t, b in zip(tables, bases)]),
    )


def hit_pairs(query: np.ndarray, hit_keys: np.ndarray, hit_refs: np.ndarray, heavy: Optional[int] = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unique ``(query row, stored row)`` pairs sharing a band key, from the bucket
    hits ``(hit_keys[i], hit_refs[i])`` of a look-up of ``query`` (``(texts, bands)``
    uint64 band keys): ``(query row, stored row, entry)``, int64, sorted by query row
    then stored row; ``entry`` is one hit entry of the pair's stored row (where its
    sketch is: ``sketches[entry]`` as :meth:`Storage.candidates` returns them).

    With ``heavy`` (:mod:`.bands`): a pair whose shared keys are all of buckets of more
    than ``heavy`` entries (counted among the hits) is left out unless it shares two
    keys or more.  Decided per pair, so a batch's pairs are those of its texts looked
    up one at a time.

    Why one sort of packed integers: the hits of a check at 100k stored articles are
    tens of thousands, of a 128-article batch millions; each pair's code (query row,
    stored row), whether its bucket is heavy and its entry go into one int64 (when
    they fit), so one ``np.sort`` -- 2-3x faster than an ``argsort`` of the same
    values, 10x faster than a stable one -- gives the pairs, their hit counts and
    whether any of their buckets is light.  The codes are made in one compiled call
    (:func:`~.pairing.pair_codes`: each run of a key's hits searched among the query
    keys once), and only the pairs' heads are unpacked, in another
    (:func:`~.pairing.run_heads`)."""
    from .pairing import pair_codes, run_heads  # (numba: imported by the first look-up, not by every command)

    hit_refs = np.asarray(hit_refs, dtype=np.int64)
    if not len(hit_refs):
        return hit_refs, hit_refs.copy(), hit_refs.copy()
    flat = np.asarray(query, dtype=np.uint64).ravel()
    order = np.argsort(flat)
    span = int(hit_refs.max()) + 1
    code, tag = pair_codes(flat[order], order // query.shape[1], np.asarray(hit_keys, dtype=np.uint64), hit_refs,
                           -1 if heavy is None else heavy, span, 1, False)
    if not len(code):
        return code, code.copy(), code.copy()
    low = int(len(hit_keys)).bit_length()  # entry bits; above them one bit: heavy
    if (len(query) * span).bit_length() + low + 1 <= 63:
        code <<= low + 1
        code |= tag
        code.sort()
        pair, entry = run_heads(code, low + 1, code[:0], low, heavy is not None, 1)
    else:  # (ids too large to pack: sorted by pair, a light entry first)
        by = np.lexsort((tag, code))
        pair, entry = run_heads(code[by], 0, tag[by], low, heavy is not None, 1)
    return pair // span, pair % span, entry
