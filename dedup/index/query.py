"""A check's look-up, in three narrowing steps: candidates -> estimate floor -> exact verification.

1. the article's band keys are looked up in the stored buckets (one bulk look-up,
   :meth:`dedup.storage.protocol.Storage.candidates`; a heavy bucket's rows only where
   they collide in a second band, :mod:`.bands`), which gives candidate stored
   paragraphs and documents;
2. candidates whose MinHash estimate is far below the threshold are dropped (chance
   candidates grow with the archive): first on a 64-byte b-bit sketch that comes with
   the bucket hits (:func:`sketch_floor`), then on the full stored signature
   (:func:`floor`), read without the rest of the row
   (:meth:`~dedup.storage.protocol.Storage.paragraph_signatures`);
3. every remaining candidate is verified exactly on its stored shingle set
   (:func:`dedup.verify.score_pairs`); only pairs at or above the thresholds count,
   near-duplicate or contained as in a scan (:func:`dedup.containment.relations`; the
   smaller side of a contained pair must also be covered,
   :mod:`.coverage`; paragraphs of fewer than ``min_tokens`` tokens are not compared:
   their exact copies are listed only in a stored document the article matches
   otherwise, :mod:`.short`; an article of fewer than ``min_tokens`` tokens in all is
   matched only as an exact copy, :func:`~dedup.index.documents.exact_copies`, while
   one made only of short paragraphs but longer than that is compared as a whole,
   :func:`~.signing.long_enough`).

Exact copies of a matched stored text are not banded (contract rule 5), so they are
listed from their content key (:mod:`.matches`).  Whole documents are scored in
:mod:`.documents`, boilerplate told by :mod:`.tallies`, contained texts found by
:mod:`.contain`.  What the matches mean for the article is :mod:`dedup.index.judge`'s
business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..containment import relations
from ..minhash import estimate, floor
from ..segments import sorted_unique
from ..sketch import sketch, sketch_floor, sketch_matches_at, sketch_positions
from ..storage.optional import KeyCounts, SignatureBytes, supports
from ..storage.protocol import ParagraphPlaces, Storage
from ..verdict import DocumentMatch
from ..verify import score_pairs
from . import bands, contain
from .bytebound import equal_bound
from .coverage import covered
from .documents import document_matches
from .matches import MAX_COPIES, Found, copy_matches, joined
from .signing import Signed, index_band_keys
from .furniture import FRAME_RECURRENCE
from .tallies import recurrences


@dataclass(frozen=True)
class Lookup:
    """What the index holds for some articles of a signed batch, looked up together:
    ``arts`` (article numbers, ascending), their compared paragraphs ``eligible``
    (corpus indices; ``owner``: the position in ``arts`` of each one's article), the
    paragraph matches and each article's document matches."""

    arts: np.ndarray
    eligible: np.ndarray
    owner: np.ndarray
    found: Found
    docs: list[list[DocumentMatch]]
    _eligible_bounds: np.ndarray
    _found_bounds: np.ndarray
    boilerplate: np.ndarray  # bool per paragraph of the batch: :func:`~.tallies.boilerplate`, or a site's frame (:mod:`.furniture`)
    alone: np.ndarray  # bool per article of ``arts``: looked up alone, its stored pages' boilerplate differs (:class:`~.tallies.StoredBoilerplate`)

    def of(self, p: int) -> tuple[np.ndarray, Found, list[DocumentMatch]]:
        """Article ``arts[p]``'s compared paragraphs, paragraph matches (``new``
        counted in those paragraphs) and document matches."""
        lo, hi = int(self._eligible_bounds[p]), int(self._eligible_bounds[p + 1])
        return (self.eligible[lo:hi], self.found.part(int(self._found_bounds[p]), int(self._found_bounds[p + 1]), lo),
                self.docs[p])


def look_up(store: Storage, signed: Signed, arts: np.ndarray, counted: np.ndarray | None = None,
            judged_before: np.ndarray | None = None) -> Lookup:
    """Matches of the articles ``arts`` of ``signed`` (each long enough to compare,
    :func:`~.signing.long_enough`; perhaps with no paragraph that is) with what is stored: one bulk look-up for all of them,
    the same answers as looking each article up alone (``counted``: see
    :func:`~.tallies.boilerplate`).  ``judged_before`` (bool per article of ``signed``):
    the article's exact text was judged before (:func:`~.tallies.judged_texts`); its
    paragraphs' tallies then hold that earlier judgment of the article itself, which
    is not another document carrying them, so it is left out of the site-frame
    recurrence (:data:`~.furniture.FRAME_RECURRENCE`)."""
    c = signed.corpus
    position = np.full(len(signed.first) - 1, -1, dtype=np.int64)
    position[arts] = np.arange(len(arts))
    eligible = np.flatnonzero((c.para_words >= store.settings.min_tokens) & (position[c.para_doc] >= 0))
    owner = position[c.para_doc[eligible]]
    found = paragraph_matches(store, signed, eligible, owner)
    seen, need = recurrences(store, signed, position[c.para_doc] >= 0, counted)
    common = seen >= need
    own = 0 if judged_before is None else judged_before[c.para_doc].astype(np.int64)
    words = c.para_words
    short = np.flatnonzero((words > 0) & (words < store.settings.min_tokens) & (position[c.para_doc] >= 0))
    docs, furniture, alone = document_matches(store, signed, arts, eligible, owner, found, common,
                                              seen - own >= FRAME_RECURRENCE, counted, short)
    count = np.arange(len(arts) + 1)
    return Lookup(arts, eligible, owner, found, docs, np.searchsorted(owner, count),
                  np.searchsorted(owner[found.new], count), common | furniture, alone)


#: Paragraphs looked up at a time, end to end (band keys, bucket entries, sketches,
#: the estimate floor, rows read, verification): a long article's look-up holds a
#: chunk's worth of them, not ~3 KB for each of its paragraphs at once (tester's F10
#: of session 16: ``dedup check`` of 400,000 one-line paragraphs, 2.27 GB), nor their
#: signatures when the batch holds none (:meth:`~.signing.Signed.signatures_of`, a
#: chunk's derived at a time).  Each paragraph's matches are its own, so the chunks
#: change nothing found; only the exact copies are listed once for all of them.
#: Why 4,096: a chunk's temporaries grow with its paragraphs' candidates (bucket hits,
#: their sketches and signature bytes: ~45 KB a paragraph of prose checked against an
#: archive holding its 4,000 paragraphs, ~130 candidates each); a check of an 8,000-
#: paragraph article stored already peaked at 527 MB traced with 16,384, 290 MB with
#: 4,096 (171 MB with 2,048), and ``check_many`` of 375 articles (two batches, 5,002
#: paragraphs in the first) spent the same CPU within the noise (1.42 s median of three
#: against 1.42 s; 2,048: 1.71 s).
CANDIDATE_CHUNK = 4_096


def paragraph_matches(store: Storage, signed: Signed, eligible: np.ndarray, owner: np.ndarray) -> Found:
    """Verified matches of the given paragraphs (corpus indices) with stored ones, for
    any number of articles at once (:data:`CANDIDATE_CHUNK` paragraphs at a time);
    ``owner[i]``: which article ``eligible[i]`` belongs to, so that exact copies are
    listed per article as a look-up of that article alone would.  Sorted by article
    (stable)."""
    sizes = np.diff(signed.sets.offsets)[eligible]
    parts = [_verified(store, signed, eligible, sizes, lo, min(lo + CANDIDATE_CHUNK, len(eligible)))
             for lo in range(0, len(eligible), CANDIDATE_CHUNK)] or [_verified(store, signed, eligible, sizes, 0, 0)]
    new, jac, ca, cb, est, inside = (np.concatenate([p[k] for p in parts]) for k in range(6))
    matched = ParagraphPlaces.joined([p[6] for p in parts])
    # Exact copies of a matched text are not banded (contract rule 5): list them too,
    # those of the article's own matches left out.
    # (A backend that counts a key's rows unread spares reading those of texts stored
    # once: their one copy is the matched row, never listed as a copy of itself.)
    texts = matched.keys[np.unique(matched.ids, return_index=True)[1]]  # by row id, once each
    if supports(store, KeyCounts):
        texts = texts[store.key_counts("paragraph", texts) > 1]
    # Their places only: a long article's paragraphs stored MAX_COPIES times are
    # MAX_COPIES rows each (whole rows held ~1.5 KB each, session 23).
    copies = store.paragraph_copy_places(texts, MAX_COPIES)
    take, extra = copy_matches(owner[new], matched.ids, matched.keys, copies.ids, copies.keys)
    stored = ParagraphPlaces.joined([matched, copies.take(extra)])
    all_new = np.concatenate([new, new[take]])
    order = np.argsort(owner[all_new], kind="stable")
    c = signed.corpus
    return Found(
        new=all_new[order],
        rows=stored.take(order),
        jaccard=np.concatenate([jac, jac[take]])[order],
        cont_new=np.concatenate([ca, ca[take]])[order],
        cont_stored=np.concatenate([cb, cb[take]])[order],
        estimates=np.concatenate([est, est[take]])[order],
        exact=(c.para_key[eligible[all_new]] == stored.keys)[order],
        contained=np.concatenate([inside, inside[take]])[order],
    )


def _verified(store: Storage, signed: Signed, eligible: np.ndarray, sizes: np.ndarray, lo: int, hi: int
              ) -> tuple[np.ndarray, ...]:
    """The verified matches of ``eligible[lo:hi]`` (``sizes``: the shingle set size
    of each of ``eligible``): ``(new, jaccard, containment of the new side, of the
    stored side, estimate, contained, stored rows' places)``, ``new`` counted in ``eligible``,
    in (new, stored row id) order."""
    s = store.settings
    signatures = signed.signatures_of(eligible[lo:hi])
    new, refs, c_new, c_refs, c_position = _candidates(store, signatures, sizes[lo:hi])
    # A backend with signature bytes leaves few candidates past the bound, nearly all
    # above the floor: their whole rows are read at once (one read, not a signature
    # read and then a row read of nearly the same rows, ~1.5 ms of a check at 100k
    # articles); others (Redis: no bound) read the signatures of all first.
    queried, c_at = sorted_unique(c_new, return_inverse=True)  # (only their signatures gathered)
    rows = (store.paragraphs(sorted_unique(np.concatenate([refs, c_refs])))
            if supports(store, SignatureBytes) else None)
    if rows is not None:
        ids, stored_signatures = rows.ids, rows.signatures
    else:
        ids, stored_signatures = store.paragraph_signatures(sorted_unique(np.concatenate([refs, c_refs])))
        if len(c_new):  # the containment candidates' estimates first, on these signatures: few rows read
            pair, _ = contain.candidates(s.containment, signatures[queried], sizes[lo:hi][queried], ids,
                                         stored_signatures, store.paragraph_sketches(ids)[1], c_at, c_refs,
                                         c_position)
            c_new, c_refs, c_position, c_at = c_new[pair], c_refs[pair], c_position[pair], c_at[pair]
    # A bucket file written before a removal still lists the removed rows.
    there = np.isin(refs, ids)
    new, refs = new[there], refs[there]
    plausible = estimate(signatures[new], stored_signatures[np.searchsorted(ids, refs)]) >= floor(
        s.threshold, s.num_perm)
    new, refs = new[plausible], refs[plausible]
    if rows is None:
        rows = store.paragraphs(sorted_unique(np.concatenate([refs, c_refs])))  # the same snapshot
    cand = np.searchsorted(rows.ids, refs)
    if len(c_new):  # containment candidates (:mod:`.contain`), merged in (query row, row) order
        pair, c_cand = contain.candidates(s.containment, signatures[queried], sizes[lo:hi][queried], rows.ids,
                                          rows.signatures, np.diff(rows.sets.offsets), c_at, c_refs, c_position)
        c_at = c_at[pair]
        merged = sorted_unique(np.concatenate([new, queried[c_at]]) * len(rows.ids) + np.concatenate([cand, c_cand]))
        new, cand = merged // len(rows.ids), merged % len(rows.ids)
    checked = sorted_unique(new)
    new_sets = signed.sets_of(eligible[lo + checked])
    pairs = np.stack([np.searchsorted(checked, new), len(checked) + cand], axis=1)
    scores = score_pairs(joined(new_sets, rows.sets), pairs)
    near, inside = relations(scores.jaccard, scores.containment_a, scores.containment_b, s.threshold, s.containment)
    # The smaller side must also be covered (the scan's rule, :mod:`.coverage`).
    which = np.flatnonzero(inside)
    if len(which):
        inside[which] = covered(store, signed, eligible[lo + new[which]], rows, cand[which],
                                scores.containment_a[which] >= scores.containment_b[which])
    near &= ~inside
    keep = near | inside
    new, cand, inside = new[keep], cand[keep], inside[keep]
    est = estimate(signatures[new], rows.signatures[cand]) if len(new) else np.zeros(0)
    return (new + lo, scores.jaccard[keep], scores.containment_a[keep], scores.containment_b[keep], est, inside,
            rows.take(cand))


def _candidates(store: Storage, signatures: np.ndarray, sizes: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pairs of the paragraphs of ``signatures`` (their shingle set
    ``sizes``): ``(query row, stored row id)`` of the Jaccard band look-up above the
    sketch floor and the exact bound on the signature bytes, then the containment
    look-up's ``(query row, stored row id, first shared position)`` (:func:`contain.hits`)."""
    s = store.settings
    query = index_band_keys(signatures, s)
    new, refs, hit_sketches, entry = bands.paragraph_pairs(store, query, s.bands)
    sketches = sketch(signatures)
    near = sketch_matches_at(sketches, new, hit_sketches, entry) >= sketch_floor(s.threshold,
                                                                               sketch_positions(s.num_perm))
    # The estimate floor on an upper bound of the equal positions, from the stored
    # signature bytes (exact: it drops only pairs the floor drops, :mod:`.bytebound`),
    # then on the signatures; whole rows only for the candidates above it, and for the
    # containment candidates (:mod:`.contain`: those its look-up could not rule out unread).
    at = np.flatnonzero(near)
    near[at] = equal_bound(store, "paragraph", signatures, refs[at], new[at]) / s.num_perm >= floor(
        s.threshold, s.num_perm)
    c_new, c_refs, c_position = contain.hits(store, signatures, sizes, sketches)
    whole = [new[near], refs[near], c_new, c_refs, c_position]
    return tuple(a.astype(np.int64, copy=False) for a in whole)  # type: ignore[return-value]
