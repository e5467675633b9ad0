"""Which articles of one batch an add of the batch must judge one after another.

Why: ``add_many`` promises each article the verdict it would get if the batch were
added one article at a time (an article is judged against the index *and* the articles
of the batch stored before it).  Looking up a whole batch in the index at once is many
times faster than one article at a time (one bulk band-key look-up, one read of the
candidate rows, one verification), but it sees only what was stored before the batch.
So the batch is also compared with itself, as the scan's LSH compares a corpus (band
keys sorted, equal keys make candidates, the estimate floor, exact verification):
article ``k`` is *related* to an earlier article ``j`` of the batch when a one-at-a-time
add of ``k`` could meet ``j`` among its matches had ``j`` been stored -- a verified
paragraph pair (near-duplicate, or contained: :mod:`.contain`), a plausible
whole-document pair, or the same text.  The add then
resolves the batch in order: an article related to no earlier article that was stored
takes its verdict from the batch look-up; one that is (rare outside near-duplicate
bursts) is looked up again after what precedes it is written.  Either way the verdicts
and the stored rows are those of adding the articles one at a time (tested in
``tests/test_index_batch.py``).

The relation over-approximates on purpose (a false relation only costs a second
look-up; a missed one would change a verdict), except where the index provably hides
the earlier article: an exact copy of a text the index already holds
:data:`~dedup.index.matches.MAX_COPIES` times is never listed (only the oldest copies
are), so it relates nothing -- boilerplate repeated in every article of a batch does not
make the batch sequential.
"""

from __future__ import annotations

import numpy as np

from .. import containment
from ..lsh import band_keys
from ..minhash import estimate, floor
from ..segments import first_unique, ranges, sorted_unique, unique_rows
from ..settings import Settings
from ..verify import score_pairs
from . import contain
from .matches import MAX_COPIES, Found
from .signing import Signed


def earlier_related(
    signed: Signed, arts: np.ndarray, eligible: np.ndarray, owner: np.ndarray, found: Found, s: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """For each article position ``k`` in ``arts``, the earlier positions ``j < k`` it is
    related to (see the module docstring), as CSR ``(offsets, earlier)``: those of ``k``
    are ``earlier[offsets[k]:offsets[k + 1]]``.  ``eligible``/``owner``/``found``: the
    batch's compared paragraphs, their article positions and their stored matches."""
    n = len(arts)
    c = signed.corpus
    # Paragraph level, one representative per distinct text: texts already stored
    # MAX_COPIES times or more are never listed again, so their batch copies are hidden.
    keys = c.para_key[eligible]
    hidden = _stored_often(found)
    texts, inverse = sorted_unique(keys, return_inverse=True)
    rep, text_of = first_unique(keys)[1], inverse
    reps = eligible[rep]
    signatures = signed.signatures_of(reps)
    x, y = _band_pairs(band_keys(signatures, s.bands, s.rows))  # a scan's bands
    plausible = estimate(signatures[x], signatures[y]) >= floor(s.threshold, s.num_perm)
    x, y = x[plausible], y[plausible]
    if contain.positions(s):  # and pairs the containment look-up could find (no bucket bound here)
        sizes = np.diff(signed.sets_of(reps).offsets)
        near = containment.plausible(signatures, sizes, _shared_pairs(contain.keys(signatures, s)),
                                     s.containment)
        both = sorted_unique(np.concatenate([x * len(reps) + y, near[:, 0] * len(reps) + near[:, 1]]))
        x, y = both // len(reps), both % len(reps)
    checked = sorted_unique(np.concatenate([x, y]))
    scores = score_pairs(signed.sets_of(reps[checked]),
                         np.stack([np.searchsorted(checked, x), np.searchsorted(checked, y)], axis=1))
    related = (scores.jaccard >= s.threshold) | (
        np.maximum(scores.containment_a, scores.containment_b) >= (s.containment or 2.0))
    x, y = x[related], y[related]
    same = np.arange(len(texts))
    text_pairs = np.concatenate([np.stack([x, y], 1), np.stack([y, x], 1), np.stack([same, same], 1)])
    # (text a, text b) -> every (article having a, article having b)
    by_text = np.argsort(text_of, kind="stable")
    text_first = np.searchsorted(text_of[by_text], np.arange(len(texts) + 1))
    arts_of = owner[by_text]
    seen_text = ~np.isin(texts, hidden)  # the earlier article's copy may be listed
    ta, tb = text_pairs[:, 0], text_pairs[:, 1]
    keep = seen_text[tb]
    ta, tb = ta[keep], tb[keep]
    count_a = text_first[ta + 1] - text_first[ta]
    count_b = text_first[tb + 1] - text_first[tb]
    rep_a = np.repeat(np.arange(len(ta)), count_a)
    later = arts_of[ranges(text_first[ta], count_a)]
    per = count_b[rep_a]
    earlier = arts_of[ranges(np.repeat(text_first[tb], count_a), per)]
    later = np.repeat(later, per)
    # Document level: band collisions above the estimate floor, and the same text.
    da, db = _band_pairs(signed.doc_bands[arts, : s.bands])
    plausible = estimate(signed.doc_signatures[arts[da]], signed.doc_signatures[arts[db]]) >= floor(
        s.doc_threshold, s.num_perm)
    doc_keys = signed.doc_keys[arts]
    order = np.argsort(doc_keys, kind="stable")
    run = np.r_[True, doc_keys[order][1:] != doc_keys[order][:-1]]
    ea, eb = _run_pairs(np.cumsum(run) - 1, order)
    pairs = np.concatenate([
        np.stack([later, earlier], 1), np.stack([da[plausible], db[plausible]], 1),
        np.stack([db[plausible], da[plausible]], 1), np.stack([ea, eb], 1), np.stack([eb, ea], 1),
    ]).astype(np.int64)
    pairs = pairs[pairs[:, 1] < pairs[:, 0]]
    pairs = sorted_unique(pairs[:, 0] * n + pairs[:, 1])
    k, j = pairs // n, pairs % n
    return np.searchsorted(k, np.arange(n + 1)), j


def _stored_often(found: Found) -> np.ndarray:
    """Content keys of which the look-up listed ``MAX_COPIES`` or more stored rows."""
    keys, _ = unique_rows(found.rows.keys, found.rows.ids)
    keys, _, counts = first_unique(keys)
    return keys[counts >= MAX_COPIES]


def _band_pairs(bands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``(x, y)``, ``x < y``, of rows of ``bands`` sharing a band key (no bound
    per bucket: every pair a look-up in the index would find)."""
    codes = _shared_key_codes(bands)
    pairs = sorted_unique(codes)
    return pairs // len(bands), pairs % len(bands)


def _shared_pairs(keys: np.ndarray) -> np.ndarray:
    """Unique ``(x, y)``, ``x < y``, of rows of ``keys`` sharing at least
    :data:`~dedup.index.contain.MIN_SHARED` keys: those the containment look-up could
    pair (it also needs that many shared values, in small buckets)."""
    codes = np.sort(_shared_key_codes(keys))
    if not len(codes):
        return np.zeros((0, 2), np.int64)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    shared = np.diff(np.r_[starts, len(codes)])
    code = codes[starts][shared >= contain.MIN_SHARED]
    return np.stack([code // len(keys), code % len(keys)], axis=1)


def _shared_key_codes(keys: np.ndarray) -> np.ndarray:
    """``x * len(keys) + y`` for every ``x < y`` and every key value the rows ``x``
    and ``y`` of ``keys`` (shape ``(rows, k)``) share, a pair once per shared value."""
    flat = keys.ravel()
    if not len(flat):
        return np.zeros(0, np.int64)
    order = np.argsort(flat)
    ordered = flat[order]
    run = np.r_[True, ordered[1:] != ordered[:-1]]
    x, y = _run_pairs(np.cumsum(run) - 1, order // keys.shape[1])
    lo, hi = np.minimum(x, y), np.maximum(x, y)
    keep = lo != hi
    return lo[keep] * len(keys) + hi[keep]


def _run_pairs(run_id: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(items[a], items[b])``, ``a < b``, of positions in the same run
    (``run_id``: non-decreasing run number per position)."""
    n = len(run_id)
    if not n:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ends = np.flatnonzero(np.concatenate((run_id[1:] != run_id[:-1], [True]))) + 1  # each run's end
    after = np.repeat(ends, np.diff(ends, prepend=0)) - np.arange(n) - 1  # (not a search per position)
    a = np.repeat(np.arange(n), after)
    b = ranges(np.arange(n) + 1, after)
    return items[a], items[b]
