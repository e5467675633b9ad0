"""The index's containment look-up: a checked text inside a longer stored one, or the reverse.

Why: the Jaccard bands find a 40-word statement quoted in a 180-word stored paragraph
(a 1:4 quote, Jaccard ~0.2) about one time in four, and the estimate floor at the
Jaccard threshold then drops it, so ``dedup check statement.txt`` said "new".

How: the scan's method (:mod:`dedup.containment`, LSH Ensemble-style single-value
banding, Zhu et al., VLDB 2016), through the storage contract unchanged.  Every banded
row (paragraph and document) is also stored under its first
:func:`~dedup.containment.search_positions` MinHash values, each one bucket key (the
value, its position, and :data:`TAG`): extra band columns that :data:`DERIVE.bands
<dedup.index.signing.DERIVE>` hands the backends with the Jaccard band keys, so SQLite
and Redis store and look them up like any band key.  A check looks its paragraphs'
keys up in one bulk ``candidates`` call, then as the scan does: a bucket with more
than :data:`~dedup.containment.MAX_BUCKET` members holds a common shingle and is
skipped; a stored row must share :data:`MIN_SHARED` values (the scan: one; see there
why); a hit at position ``p`` is a candidate when the pair's size ratio is at most
:data:`~dedup.containment.MAX_RATIO` and needs that position
(:func:`~dedup.containment.depth`); its MinHash estimate must pass
:func:`~dedup.containment.plausible`; survivors are verified exactly with the Jaccard
candidates (:mod:`dedup.index.query`).  Unlike the scan, every size ratio up to
``MAX_RATIO`` is searched here, also those the Jaccard bands catch (in the index the
Jaccard path drops a pair below the threshold before verifying it, so none is left to
it); beyond ``MAX_RATIO`` a pair is found by neither, in the scan neither
(:func:`~dedup.containment.lowest_jaccard`, the one floor of both).  With ``Settings.containment`` 0 nothing is stored or
looked up.
"""

from __future__ import annotations

import numpy as np

from ..containment import (MAX_BUCKET, MAX_RATIO, bucket_keys, depth, least_matches, lowest_jaccard, plausible,
                           search_positions)
from ..segments import row_positions
from ..settings import Settings
from ..sketch import sketch_floors, sketch_matches_at, sketch_positions
from ..storage.protocol import ParagraphRows, Storage
from .bytebound import equal_bound

#: Marks a single-value key (band keys are 64-bit hashes; a clash only makes a candidate).
TAG = np.uint64(0xC0) << np.uint64(56)
#: Single values a stored row must share with a checked paragraph to be read at all.
#: Why 2, not the scan's 1: a check's rows are read one by one (~10 us each), and most
#: chance candidates share exactly one value (measured at 2,000 stored articles: ~4,800
#: pairs share one or more, ~1,000 two or more; reading them all made a check 6.6x
#: slower).  A pair of Jaccard ``J`` shares ``Binomial(79, J)`` of the searched values:
#: at containment 0.9 it is missed with p < 0.01 up to 1:10 (0.017 at 1:12); at the
#: threshold 0.7 and 1:12 with p = 0.056 (the scan: 0.01, but ~0.3 found at 1:12).
MIN_SHARED = 2


def positions(s: Settings) -> int:
    """Single-value keys per banded row under ``s`` (0 with containment off)."""
    return search_positions(s.containment, s.num_perm) if s.containment else 0


def keys(signatures: np.ndarray, s: Settings) -> np.ndarray:
    """``(n, positions(s))`` uint64 single-value bucket keys of ``(n, num_perm)`` signatures."""
    return bucket_keys(signatures, 0, positions(s)) | TAG


def hits(
    store: Storage, signatures: np.ndarray, sizes: np.ndarray, sketches: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored rows sharing at least :data:`MIN_SHARED` single-value buckets of at most
    ``MAX_BUCKET`` members (counting the checked text) with each of ``signatures``
    (the checked paragraphs', with their set ``sizes`` and ``sketches``) that could be
    contained to ``containment`` -- judged before any row is read (:func:`unread`):
    ``(query row, stored row id, first shared position)``, one per pair, sorted by
    (query row, stored id)."""
    s = store.settings
    empty = np.zeros(0, np.int64)
    if not positions(s) or not len(signatures):
        return empty, empty, empty
    query = keys(signatures, s)
    # Buckets of more than MAX_BUCKET members, the checked text one of them, are left
    # out unread (a common shingle: thousands of rows at 100k articles).
    hit_keys, hit_refs, _ = store.candidates("paragraph", query.ravel(), limit=MAX_BUCKET - 1, sketches=False)
    new, refs, position = _shared(query, hit_keys, hit_refs)
    if not len(new):
        return empty, empty, empty
    rows, at = row_positions(refs)
    stored_sketches, stored_sizes = store.paragraph_sketches(rows)
    keep = unread(s.containment, sizes[new], stored_sizes[at], position, sketches, new, stored_sketches, at,
                  sketch_positions(s.num_perm))
    new, refs, position, at = new[keep], refs[keep], position[keep], at[keep]
    # What :func:`~dedup.containment.plausible` will ask of the row, asked of an upper
    # bound of its equal positions (the signature bytes, :mod:`.bytebound`): exact.
    need = least_matches(lowest_jaccard(1.0, s.containment, sizes[new], stored_sizes[at]), s.num_perm)
    keep = need <= 1
    look = np.flatnonzero(~keep)
    keep[look] = equal_bound(store, "paragraph", signatures[new[look]], refs[look]) >= need[look]
    return new[keep], refs[keep], position[keep]


def _shared(query: np.ndarray, hit_keys: np.ndarray, hit_refs: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(query row, stored row id, first shared position)`` of every pair of a row of
    ``query`` (``(n, positions)`` single-value keys) and a stored row sharing at least
    :data:`MIN_SHARED` of its keys' buckets -- the buckets of ``hit_keys`` (the bucket
    hits, with their rows ``hit_refs``) holding at most ``MAX_BUCKET`` members, the
    checked text counted once, so a batch gets the answers of its articles looked up
    one at a time (a backend may return over-full buckets all the same: see
    ``Storage.candidates``); int64 arrays sorted by (query row, stored id).

    How: each (query element, hit of its key) one int64 code -- the pair above
    (query row << bits | stored row), the position (< num_perm <= 1024) in the low 10
    bits -- made in one compiled call (:func:`~.pairing.pair_codes`: each run of a
    key's hits searched among the query keys once, a bucket's hits counted across its
    runs, an over-full one's dropped), so that one plain sort orders them by pair then position, and another
    compiled pass keeps the first code of each run of ``MIN_SHARED`` or more
    (:func:`~.pairing.run_heads`).  (Session 18: a stable argsort of the query
    keys and the rows' entry counts took ~2x the time on numpy 2.4, whose stable
    argsort of int64 is ~5x its plain one and ~15x ``np.sort``; session 24: the same
    steps in numpy were ~15 passes over a batch's millions of codes.)"""
    from ..compiled import plain  # (numba: imported by the first look-up, never by a scan)
    from .pairing import pair_codes, run_heads

    empty = np.zeros(0, np.int64)
    if not len(hit_keys):
        return empty, empty, empty
    width = query.shape[1]
    refs = np.asarray(hit_refs, dtype=np.int64)
    flat = query.ravel()
    order = np.argsort(flat)
    bits = int(refs.max()).bit_length()
    element = (order // width) << (bits + 10) | order % width
    code, _ = pair_codes(flat[order], element, plain(hit_keys, np.uint64), plain(refs, np.int64), MAX_BUCKET - 1, 1,
                         1 << 10, True)
    code.sort()
    pair, position = run_heads(code, 10, code[:0], 10, False, MIN_SHARED)
    return pair >> bits, pair & ((1 << bits) - 1), position


def unread(
    containment: float, sizes: np.ndarray, stored_sizes: np.ndarray, position: np.ndarray,
    sketches: np.ndarray, new: np.ndarray, stored_sketches: np.ndarray, at: np.ndarray, compared: int,
) -> np.ndarray:
    """Which pairs (checked and stored sizes, first shared position, and the sketches
    ``sketches[new]`` and ``stored_sketches[at]``) may be contained to ``containment``,
    judged without reading the stored row: the size ratio within ``MAX_RATIO`` and
    needing that position (as :func:`candidates` judges it again on the row), and the
    sketches agreeing in as many of their ``compared`` positions as a
    pair at the threshold does at its size ratio (``J_min``,
    :func:`~dedup.containment.lowest_jaccard`, the scan's floor) but with probability
    :data:`~dedup.sketch.SKETCH_MISS` (:func:`~dedup.sketch.sketch_floors`).  The
    sketches are gathered only for the pairs the sizes leave (at 100k articles a
    128-article add weighs ~1M pairs).

    Why: most pairs sharing two single values share two common shingles (at 50k
    stored articles ~4,000 per check, of which 0-2 are plausible), and each was a
    stored row read whole (~80 ms of a ~100 ms check)."""
    small = np.maximum(np.minimum(sizes, stored_sizes), 1)
    ratio = np.maximum(sizes, stored_sizes) / small
    keep = (stored_sizes > 0) & (ratio <= MAX_RATIO)
    keep[keep] = position[keep] < depth(containment, ratio[keep])
    keep[keep] = sketch_matches_at(sketches, new[keep], stored_sketches, at[keep]) >= sketch_floors(
        lowest_jaccard(1.0, containment, sizes[keep], stored_sizes[keep]), compared)
    return keep


def candidates(
    containment: float, signatures: np.ndarray, sizes: np.ndarray, ids: np.ndarray, stored_signatures: np.ndarray,
    stored_sizes: np.ndarray, new: np.ndarray, refs: np.ndarray, position: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of :func:`hits` (``new``: query row, ``refs``: stored id, ``position``;
    sorted by (query row, stored id), one per pair) that may be contained to
    ``containment``, as ``(pair, index into ids)``, ``pair`` their positions in
    ``new``: the stored row among ``ids`` (sorted stored row ids, with their
    ``stored_signatures`` and set ``stored_sizes``), the size ratio within
    ``MAX_RATIO`` and needing that position, the estimate plausible.
    ``signatures``/``sizes``: the query rows'."""
    there = np.flatnonzero(np.isin(refs, ids))
    cand = np.searchsorted(ids, refs[there])
    query = new[there]
    small = np.maximum(np.minimum(sizes[query], stored_sizes[cand]), 1)
    ratio = np.maximum(sizes[query], stored_sizes[cand]) / small
    keep = ratio <= MAX_RATIO
    keep[keep] = position[there[keep]] < depth(containment, ratio[keep])
    there, query, cand = there[keep], query[keep], cand[keep]
    both = np.concatenate([signatures, stored_signatures])
    all_sizes = np.concatenate([sizes, stored_sizes]).astype(np.int64)
    pairs = plausible(both, all_sizes, np.stack([query, len(signatures) + cand], axis=1), containment)
    # The pairs kept, in their order: each one's place among the pairs given (unique, sorted).
    code = query * len(ids) + cand
    kept = np.searchsorted(code, pairs[:, 0] * len(ids) + pairs[:, 1] - len(signatures))
    return there[kept], cand[kept]
