"""Which (paragraph, stored row) pairs of a paragraph look-up are candidates: every
pair sharing a light bucket, and a pair sharing only heavy buckets where it collides
in two bands or more.  Decided per pair: a batch's candidates are those of its
paragraphs looked up one at a time (until session 17 a heavy bucket's entry kept for
one paragraph paired its row with every paragraph of the batch holding that key).

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

from ..segments import row_positions
from ..storage.optional import BucketRows, supports
from ..storage.protocol import Storage
from .matches import hit_pairs

#: Stored rows above which a bucket is heavy: its rows are candidates only where they
#: collide in a second band.  The containment look-up's bound on its single-value
#: buckets is the same (:data:`dedup.containment.MAX_BUCKET`).
HEAVY = 64

#: Stored rows above which a bucket is *crowded*: the look-up does not read it at all
#: (``limit`` of :meth:`~dedup.storage.protocol.Storage.candidates`; both backends
#: skip such a bucket unread).  Why: a heavy bucket is read whole to find its rows'
#: second collisions, and the largest grow with the archive -- a very common word
#: pair ("of the", "in the") the minimum of both rows of a band: 44,655 rows (11 %)
#: at 20k stored articles, 221,682 at 100k (session 21 at 100k, a cap of 1,024: the
#: entries a check reads 71.5k -> 15.6k, the look-up with the pairing 6.46 -> 1.57 ms).
#:
#: What it can miss: a stored row whose every band shared with the checked paragraph
#: is crowded -- shared band minima that are all very common word pairs, or a text
#: stored as more than this many near-copies (each of its bands one crowded bucket).
#: A pair is still found through any one light bucket, or any two heavy ones of at
#: most this many rows.  Why 4,096, not 1,024: at 100k stored articles (session 22,
#: two ``add_many`` batches of 128 new articles) 1,024 lost one paragraph pair at
#: Jaccard 0.33 (so its shared buckets held 1,025-4,096 rows); that batch replayed with
#: 4,096 and 16,384 lost none.
#:
#: The least cap: it grows with the index (:func:`crowded`).
CROWDED = 4_096

#: Stored rows a bucket of the cap stands for: a backend that counts its rows
#: (:class:`~dedup.storage.optional.BucketRows`) gets the cap
#: ``max(CROWDED, rows / CROWDED_SHARE)``, rounded up to a power of two (so it changes
#: only when the rows double).  Why: a bucket's share of the rows stays as the index
#: grows (a common word pair the minimum of a band), so a fixed cap reads ever fewer
#: of the buckets a pair meets in (review R10 of session 22).  Measured (session 23,
#: ``check_many`` of 240 articles, 3/4 of them rewrites at 0.1-0.3 of stored ones,
#: each cap against the uncapped look-up): at 20k stored articles (400k paragraph
#: rows) a cap of 64 lost 59 matches in 2 verdicts, 128 lost 11 in 1, 256 none; at
#: 100k (2M rows, session 22) 1,024 lost one pair and 4,096 none -- the loss begins
#: near one row in ~2,000-3,000 at both sizes, so a cap of one row in 512 keeps a
#: margin of ~4x or more at any size, and equals 4,096 up to ~2.1M rows.
CROWDED_SHARE = 512


def crowded(store: Storage) -> int:
    """Stored rows above which a band bucket of ``store`` is not read: :data:`CROWDED`,
    or more in an index of more than ``CROWDED * CROWDED_SHARE`` paragraph rows (see
    :data:`CROWDED_SHARE`; a backend that cannot count them says nothing)."""
    rows = store.bucket_rows("paragraph") if supports(store, BucketRows) else 0
    share = -(-rows // CROWDED_SHARE)
    return CROWDED if share <= CROWDED else 1 << (share - 1).bit_length()


def paragraph_pairs(store: Storage, query: np.ndarray, bands: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pairs of the paragraph band keys ``query`` (``(texts, bands +
    spare)`` uint64): ``(query row, stored row, sketches, at)``, int64 pairs sorted by
    query row then stored row (:func:`~.matches.hit_pairs`), each pair's stored sketch
    being ``sketches[at]``.  A pair sharing only heavy buckets (more than
    :data:`HEAVY` entries) is a candidate only if it shares two band keys or more; a
    crowded bucket (more than :func:`crowded`) is not read at all; an index without
    spare bands (``query`` ``bands`` wide) keeps every pair of the other buckets (one
    look-up, as before).

    The entries come without sketches first (a bucket's entries are consecutive, its
    rows' sketches one random read each), then the sketches of the kept pairs' rows
    only (:meth:`Storage.paragraph_sketches`)."""
    limit = crowded(store)
    if query.shape[1] <= bands:
        keys, refs, sketches = store.candidates("paragraph", query.ravel(), limit=limit)
        new, refs, entry = hit_pairs(query, keys, refs)
        return new, refs, sketches, entry
    keys, refs, _ = store.candidates("paragraph", query.ravel(), limit=limit, sketches=False)
    new, refs, _ = hit_pairs(query, keys, refs, heavy=HEAVY)
    rows, at = row_positions(refs)
    sketches, _ = store.paragraph_sketches(rows)
    return new, refs, sketches, at
