"""Which bucket entries of a paragraph look-up are candidates: every row of a light
bucket, and a heavy bucket's rows only where they collide with the checked paragraph
in two bands or more.

Why: at 100k stored articles of ~20 paragraphs (49 x 2 bands), a checked article's
band keys met ~38k (paragraph, stored row) pairs, nearly all chance, and every step up
to the sketch floor cost per pair (the sketch read alone is a random 64-byte read a
row).  Two thirds of the entries sat in ~2 % of the buckets hit (more than 1,000 rows:
a band whose two minimum values are both common shingles, "of the" in a short
paragraph), and a chance row shares one band with the checked text, rarely two.

Why recall stays: an index stores ``bands + spare_bands`` bands
(:func:`~dedup.index.signing.index_band_keys`; :func:`dedup.settings.spare_bands`
chooses ``spare_bands``).  A stored row of Jaccard ``J`` collides with the checked
paragraph in ``Binomial(bands + spare, J**rows)`` of them, whichever buckets they fall
in, so it is a candidate with probability at least ``P(Binomial(bands + spare,
J**rows) >= 2)`` even if every bucket it is in is heavy -- which the spare bands make
at least the plain S-curve ``1 - (1 - J**rows)**bands`` at the threshold (defaults:
0.9909 against 0.9902 at J = 0.3) -- and ``1 - (1 - J**rows)**(bands + spare)`` where
none is (0.9989).  Not a bound on the data: a pair whose shared shingles are common
ones collides in heavy buckets only (measured at 100k stored Markov-chain articles:
such pairs at J 0.30-0.35 were lost when heavy buckets were left out whole).
"""

from __future__ import annotations

import numpy as np

from ..segments import sorted_unique
from ..storage.protocol import Storage
from .matches import key_rows

#: Stored rows above which a bucket is heavy: its rows are candidates only where they
#: collide in a second band.  The containment look-up's bound on its single-value
#: buckets is the same (:data:`dedup.containment.MAX_BUCKET`).
HEAVY = 64


def kept(query: np.ndarray, keys: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Which bucket entries ``(keys[i], refs[i])`` of a look-up of ``query`` (``(texts,
    bands)`` uint64 band keys) are candidates: bool per entry, True for an entry of a
    bucket of at most :data:`HEAVY` entries, or whose row collides with a text of
    ``query`` holding its key in another band too.  Vectorized: one sort of the
    (text, row) pairs."""
    if not len(keys):
        return np.zeros(0, bool)
    _, inverse = sorted_unique(keys, return_inverse=True)
    heavy = np.bincount(inverse)[inverse] > HEAVY
    if not heavy.any():
        return ~heavy
    rows, times = key_rows(query, keys)
    entry = np.repeat(np.arange(len(keys), dtype=np.int64), times)
    pair = rows * (int(refs.max()) + 1) + refs[entry]
    _, at = sorted_unique(pair, return_inverse=True)
    keep = np.zeros(len(keys), bool)
    keep[entry[np.bincount(at)[at] >= 2]] = True
    return keep | ~heavy


def paragraph_candidates(store: Storage, query: np.ndarray, bands: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(key, row, sketch)`` of the paragraph bucket entries of the band keys ``query``
    (``(texts, bands + spare)`` uint64) that :func:`kept` keeps, as
    :meth:`Storage.candidates` gives them; an index without spare bands (``query``
    ``bands`` wide) keeps all of them (one look-up, as before).

    The entries come without sketches first (a bucket's entries are consecutive, its
    rows' sketches one random read each), then the sketches of the kept rows only
    (:meth:`Storage.paragraph_sketches`)."""
    if query.shape[1] <= bands:
        return store.candidates("paragraph", query.ravel())
    keys, refs, _ = store.candidates("paragraph", query.ravel(), sketches=False)
    keep = kept(query, keys, refs.astype(np.int64))
    keys, refs = keys[keep], refs[keep]
    rows, inverse = sorted_unique(refs, return_inverse=True)
    sketches, _ = store.paragraph_sketches(rows)
    return keys, refs, sketches[inverse]
