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
from ..segments import ranges, sorted_unique
from ..settings import Settings
from ..sketch import sketch_floors, sketch_matches, sketch_positions
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
    flat = query.ravel()
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    # Each bucket once (the hits come as runs of a key: one sort of few runs), its
    # members being its stored rows and the checked text (counted once, so a batch
    # gets the answers of its articles looked up one at a time).  (A backend may
    # return over-full buckets all the same: see ``Storage.candidates``.)
    by_key = np.argsort(hit_keys, kind="stable")
    sorted_keys, sorted_refs = hit_keys[by_key], hit_refs[by_key].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if len(hit_keys) else empty
    run = np.diff(np.r_[starts, len(hit_keys)])
    small = np.flatnonzero(run + 1 <= MAX_BUCKET)
    bucket = sorted_keys[starts[small]]
    left = np.searchsorted(ordered, bucket, side="left")
    count = np.searchsorted(ordered, bucket, side="right") - left
    # Every (checked paragraph, stored row) of a small bucket, with the position --
    # but only of rows in MIN_SHARED such entries or more (a pair shares one value per
    # entry of its row; most chance rows have one): the pairs of a batch's millions of
    # entries are made and sorted from those only.
    entry = ranges(starts[small], run[small])
    of = np.repeat(np.arange(len(small)), run[small])
    entry_refs = sorted_refs[entry]
    keep = _entries_per_row(entry_refs) >= MIN_SHARED
    entry, of = entry[keep], of[keep]
    at = order[ranges(left[of], count[of])]
    new, position = at // query.shape[1], at % query.shape[1]
    if not len(new):
        return empty, empty, empty
    refs = np.repeat(sorted_refs[entry], count[of])
    span = int(refs.max()) + 1
    pair = new * span + refs
    code = np.sort(pair << 10 | position)  # by pair, then position (< num_perm <= 1024)
    pair, position = code >> 10, code & 1023
    head = np.r_[True, pair[1:] != pair[:-1]]
    shared = np.diff(np.r_[np.flatnonzero(head), len(pair)])
    keep = shared >= MIN_SHARED
    pair, position = pair[head][keep], position[head][keep]
    new, refs = pair // span, pair % span
    rows = sorted_unique(refs)
    stored_sketches, stored_sizes = store.paragraph_sketches(rows)
    at = np.searchsorted(rows, refs)
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


def _entries_per_row(refs: np.ndarray) -> np.ndarray:
    """For each of ``refs`` (row ids), how many times its row occurs in ``refs``: by
    one count per row id when the ids are few against the entries (a batch), else by
    a sort (a check: ~20k entries, ids up to millions)."""
    if not len(refs):
        return np.zeros(0, np.int64)
    top = int(refs.max()) + 1
    if 4 * len(refs) >= top:
        return np.bincount(refs, minlength=top)[refs]
    unique, inverse = sorted_unique(refs, return_inverse=True)
    return np.bincount(inverse, minlength=len(unique))[inverse]


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
    keep[keep] = sketch_matches(sketches[new[keep]], stored_sketches[at[keep]]) >= sketch_floors(
        lowest_jaccard(1.0, containment, sizes[keep], stored_sizes[keep]), compared)
    return keep


def candidates(
    containment: float, signatures: np.ndarray, sizes: np.ndarray, rows: ParagraphRows,
    new: np.ndarray, refs: np.ndarray, position: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of :func:`hits` (``new``: query row, ``refs``: stored id, ``position``)
    that may be contained to ``containment``, as ``(query row, index into rows)``:
    the stored row still there, the size ratio within ``MAX_RATIO`` and needing that
    position, the estimate plausible.  ``signatures``/``sizes``: the query rows'."""
    there = np.isin(refs, rows.ids)
    new, cand, position = new[there], np.searchsorted(rows.ids, refs[there]), position[there]
    stored_sizes = np.diff(rows.sets.offsets)
    small = np.maximum(np.minimum(sizes[new], stored_sizes[cand]), 1)
    ratio = np.maximum(sizes[new], stored_sizes[cand]) / small
    keep = ratio <= MAX_RATIO
    keep[keep] = position[keep] < depth(containment, ratio[keep])
    new, cand = new[keep], cand[keep]
    both = np.concatenate([signatures, rows.signatures])
    all_sizes = np.concatenate([sizes, stored_sizes]).astype(np.int64)
    pairs = plausible(both, all_sizes, np.stack([new, len(signatures) + cand], axis=1), containment)
    return pairs[:, 0], pairs[:, 1] - len(signatures)
