"""A check's look-up, in three narrowing steps: candidates -> estimate floor -> exact verification.

1. the article's band keys are looked up in the stored buckets (one bulk look-up,
   :meth:`dedup.storage.protocol.Storage.candidates`), which gives candidate stored
   paragraphs and documents;
2. candidates whose MinHash estimate is far below the threshold are dropped (chance
   candidates grow with the archive): first on a 64-byte b-bit sketch that comes with
   the bucket hits (:func:`sketch_floor`), then on the full stored signature
   (:func:`floor`), read without the rest of the row
   (:meth:`~dedup.storage.protocol.Storage.paragraph_signatures`);
3. every remaining candidate is verified exactly on its stored shingle set
   (:func:`dedup.verify.score_pairs`); only pairs at or above the thresholds count,
   as in a scan (paragraphs of fewer than ``min_tokens`` tokens are not compared;
   an article without a longer one is matched only as an exact copy, :func:`exact_copies`).

Exact copies of a matched stored text are not banded (contract rule 5), so they are
listed from their content key.  What the matches mean for the article is
:mod:`dedup.index.judge`'s business.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..boilerplate import min_documents
from ..minhash import estimate, floor
from ..segments import SetTable, ranges, sorted_unique, take_sets
from ..sketch import SKETCH_MISS, sketch, sketch_floor, sketch_matches, sketch_positions
from ..storage.protocol import ParagraphRows, Storage
from ..verdict import DocumentMatch, ParagraphMatch
from ..verify import score_pairs
from . import contain
from .signing import Signed, slice_sets

#: Exact copies of one matched stored text listed in a verdict.
MAX_COPIES = 16
#: Stored documents scored as whole documents per article (those sharing the most
#: paragraphs first); bounds the work when a text is repeated across the archive.
MAX_DOCUMENTS = 64


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
    boilerplate: np.ndarray  # bool per paragraph of the batch (see :func:`boilerplate`)

    def of(self, p: int) -> tuple[np.ndarray, Found, list[DocumentMatch]]:
        """Article ``arts[p]``'s compared paragraphs, paragraph matches (``new``
        counted in those paragraphs) and document matches."""
        lo, hi = int(self._eligible_bounds[p]), int(self._eligible_bounds[p + 1])
        return (self.eligible[lo:hi], self.found.part(int(self._found_bounds[p]), int(self._found_bounds[p + 1]), lo),
                self.docs[p])


def look_up(store: Storage, signed: Signed, arts: np.ndarray, counted: np.ndarray | None = None) -> Lookup:
    """Matches of the articles ``arts`` of ``signed`` (each with at least one paragraph
    long enough to compare) with what is stored: one bulk look-up for all of them,
    the same answers as looking each article up alone (``counted``: see
    :func:`boilerplate`)."""
    c = signed.corpus
    position = np.full(len(signed.first) - 1, -1, dtype=np.int64)
    position[arts] = np.arange(len(arts))
    eligible = np.flatnonzero((c.para_words >= store.settings.min_tokens) & (position[c.para_doc] >= 0))
    owner = position[c.para_doc[eligible]]
    found = paragraph_matches(store, signed, eligible, owner)
    common = boilerplate(store, signed, position[c.para_doc] >= 0, counted)
    count = np.arange(len(arts) + 1)
    return Lookup(arts, eligible, owner, found, document_matches(store, signed, arts, eligible, owner, found, common),
                  np.searchsorted(owner, count), np.searchsorted(owner[found.new], count), common)


def paragraph_matches(store: Storage, signed: Signed, eligible: np.ndarray, owner: np.ndarray) -> Found:
    """Verified matches of the given paragraphs (corpus indices) with stored ones, for
    any number of articles at once (one look-up of all band keys); ``owner[i]``: which
    article ``eligible[i]`` belongs to, so that exact copies are listed per article as
    a look-up of that article alone would.  Sorted by article (stable)."""
    s = store.settings
    c = signed.corpus
    query = signed.para_bands[eligible]
    hit_keys, hit_refs, hit_sketches = store.candidates("paragraph", query.ravel())
    new, refs = hits_to_pairs(query, hit_keys, hit_refs)
    hit_ids, first = np.unique(hit_refs, return_index=True)
    stored_sketches = hit_sketches[first[np.searchsorted(hit_ids, refs)]]
    sketches = sketch(c.signatures[eligible])
    near = sketch_matches(sketches[new], stored_sketches) >= sketch_floor(s.threshold, sketch_positions(s.num_perm))
    # The floor on the signatures alone; whole rows only for the candidates above it.
    ids, signatures = store.paragraph_signatures(sorted_unique(refs[near]))
    # A bucket file written before a removal still lists the removed rows.
    near &= np.isin(refs, ids)
    new, refs = new[near], refs[near]
    plausible = estimate(c.signatures[eligible[new]], signatures[np.searchsorted(ids, refs)]) >= floor(
        s.threshold, s.num_perm)
    new, refs = new[plausible], refs[plausible]
    # Whole rows for the containment candidates too (:mod:`.contain`: those its
    # look-up could not rule out unread).
    sizes = np.diff(signed.sets_of(eligible).offsets)
    c_new, c_refs, c_position = contain.hits(store, c.signatures[eligible], sizes, sketches)
    rows = store.paragraphs(sorted_unique(np.concatenate([refs, c_refs])))  # the same snapshot
    cand = np.searchsorted(rows.ids, refs)
    if len(c_new):  # containment candidates (:mod:`.contain`), merged in (query row, row) order
        c_new, c_cand = contain.candidates(s.containment, c.signatures[eligible], sizes, rows, c_new, c_refs,
                                           c_position)
        merged = sorted_unique(np.concatenate([new, c_new]) * len(rows.ids) + np.concatenate([cand, c_cand]))
        new, cand = merged // len(rows.ids), merged % len(rows.ids)
    checked = sorted_unique(new)
    new_sets = signed.sets_of(eligible[checked])
    pairs = np.stack([np.searchsorted(checked, new), len(checked) + cand], axis=1)
    scores = score_pairs(joined(new_sets, rows.sets), pairs)
    near = scores.jaccard >= s.threshold
    inside = ~near & (np.maximum(scores.containment_a, scores.containment_b) >= (s.containment or 2.0))
    keep = near | inside
    new, cand, inside = new[keep], cand[keep], inside[keep]
    jac, ca, cb = scores.jaccard[keep], scores.containment_a[keep], scores.containment_b[keep]
    est = estimate(c.signatures[eligible[new]], rows.signatures[cand]) if len(new) else np.zeros(0)
    # Exact copies of a matched text are not banded (contract rule 5): list them too,
    # those of the article's own matches left out.
    copies = store.paragraph_copies(rows.keys[sorted_unique(cand)], MAX_COPIES)
    take, extra = copy_matches(owner[new], rows.ids[cand], rows.keys[cand], copies.ids, copies.keys)
    stored = concat_rows(take_rows(rows, cand), take_rows(copies, extra))
    all_new = np.concatenate([new, new[take]])
    order = np.argsort(owner[all_new], kind="stable")
    return Found(
        new=all_new[order],
        rows=take_rows(stored, order),
        jaccard=np.concatenate([jac, jac[take]])[order],
        cont_new=np.concatenate([ca, ca[take]])[order],
        cont_stored=np.concatenate([cb, cb[take]])[order],
        estimates=np.concatenate([est, est[take]])[order],
        exact=(c.para_key[eligible[all_new]] == stored.keys)[order],
        contained=np.concatenate([inside, inside[take]])[order],
    )


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


def document_matches(
    store: Storage, signed: Signed, arts: np.ndarray, eligible: np.ndarray, owner: np.ndarray, found: Found,
    boilerplate: np.ndarray | None = None,
) -> list[list[DocumentMatch]]:
    """For each article of ``arts`` (article numbers in ``signed``): the stored
    documents that share a verified paragraph with it or are similar to it as a whole,
    each scored as a whole document.  ``eligible``, ``owner``, ``found``: as given to
    and returned by :func:`paragraph_matches` (``owner``: positions in ``arts``).
    One look-up per kind for all the articles; the same lists as one article at a time.
    The articles' ``boilerplate`` paragraphs (bool per batch paragraph) are left out of
    the whole-document scores, on both sides: the stored document loses the shingles
    the article left out (:func:`dedup.verify.score_pairs`, ``whole``)."""
    s = store.settings
    c = signed.corpus
    n = len(arts)
    # Stored documents sharing matched paragraphs, most shared first, then by row id.
    match_art = owner[found.new]
    span = int(found.rows.docs.max()) + 1 if len(match_art) else 1
    shared_pairs, shared = np.unique(match_art * span + found.rows.docs, return_counts=True)
    shared_art, shared_doc = shared_pairs // span, shared_pairs % span
    ranked = np.lexsort((shared_doc, -shared, shared_art))
    ranked_bounds = np.searchsorted(shared_art[ranked], np.arange(n + 1)).tolist()
    ranked_docs = shared_doc[ranked].tolist()
    # Similar as a whole: document band keys -> sketch floor -> estimate floor.
    query = signed.doc_bands[arts]
    hit_keys, doc_hits, doc_sketches = store.candidates("document", query.ravel())
    qa, refs = hits_to_pairs(query, hit_keys, doc_hits)
    hit_ids, first = np.unique(doc_hits, return_index=True)
    near = sketch_matches(sketch(signed.doc_signatures[arts])[qa], doc_sketches[first[np.searchsorted(hit_ids, refs)]]
                          ) >= sketch_floor(s.doc_threshold, sketch_positions(s.num_perm))
    hits = store.documents(sorted_unique(refs[near]))
    near &= np.isin(refs, hits.ids)
    qa, refs = qa[near], refs[near]
    plausible = estimate(signed.doc_signatures[arts[qa]], hits.signatures[np.searchsorted(hits.ids, refs)]
                         ) >= floor(s.doc_threshold, s.num_perm)
    qa, refs = qa[plausible], refs[plausible]
    plausible_bounds = np.searchsorted(qa, np.arange(n + 1)).tolist()
    plausible_docs = refs.tolist()
    # Exact copies of each article's text, oldest first.
    copies = store.document_copies(signed.doc_keys[arts], MAX_COPIES)
    copies_of: dict[int, list[int]] = defaultdict(list)
    for rid, key in zip(copies.ids.tolist(), copies.keys.tolist()):
        copies_of[key].append(rid)
    pair_art: list[int] = []
    pair_doc: list[int] = []
    for a, key in enumerate(signed.doc_keys[arts].tolist()):
        candidates = list(dict.fromkeys(ranked_docs[ranked_bounds[a] : ranked_bounds[a + 1]] + copies_of.get(key, [])
                                        + plausible_docs[plausible_bounds[a] : plausible_bounds[a + 1]]))
        candidates = candidates[:MAX_DOCUMENTS]
        pair_art.extend([a] * len(candidates))
        pair_doc.extend(candidates)
    out: list[list[DocumentMatch]] = [[] for _ in range(n)]
    if not pair_doc:
        return out
    docs = store.documents(np.array(pair_doc, dtype=np.int64))
    pa = np.array(pair_art, dtype=np.int64)
    pos = np.searchsorted(docs.ids, np.array(pair_doc, dtype=np.int64))
    scored = sorted_unique(pa)
    unions = signed.document_sets(arts[scored], boilerplate)
    table = joined(unions, store.document_sets(docs.ids))
    pairs = np.stack([np.searchsorted(scored, pa), len(scored) + pos], axis=1)
    whole = None
    if boilerplate is not None and boilerplate.any():  # left out of the stored side too
        whole = len(table.offsets) - 1 + pairs[:, 0]
        table = joined(table, signed.document_sets(arts[scored]))
    scores = score_pairs(table, pairs, whole)
    est = estimate(signed.doc_signatures[arts[pa]], docs.signatures[pos])
    para_of: dict[tuple[int, int], list[ParagraphMatch]] = defaultdict(list)
    rows = found.rows
    for m, a in enumerate(match_art.tolist()):
        p = eligible[found.new[m]]
        para_of[(a, int(rows.docs[m]))].append(ParagraphMatch(
            paragraph=int(c.para_index[p]),
            start=int(c.para_start[p]),
            end=int(c.para_end[p]),
            stored_paragraph=int(rows.index[m]),
            stored_start=int(rows.start[m]),
            stored_end=int(rows.end[m]),
            similarity=float(found.jaccard[m]),
            containment=(float(found.cont_new[m]), float(found.cont_stored[m])),
            estimate=float(found.estimates[m]),
            exact=bool(found.exact[m]),
            relation="contained" if found.contained[m] else "near-duplicate",
        ))
    for t, (a, j) in enumerate(zip(pair_art, pos.tolist())):
        ref = int(docs.ids[j])
        paragraphs = tuple(sorted(para_of.get((a, ref), []), key=lambda p: (p.paragraph, p.stored_paragraph)))
        contained = s.containment and max(scores.containment_a[t], scores.containment_b[t]) >= s.containment
        if not paragraphs and scores.jaccard[t] < s.doc_threshold and not contained:
            continue
        out[a].append(DocumentMatch(
            doc_id=docs.doc_ids[j],
            similarity=float(scores.jaccard[t]),
            containment=(float(scores.containment_a[t]), float(scores.containment_b[t])),
            estimate=float(est[t]),
            exact=bool(docs.keys[j] == signed.doc_keys[arts[a]]),
            chars=int(docs.chars[j]),
            paragraphs=paragraphs,
        ))
    for matches in out:
        matches.sort(key=lambda m: (-m.similarity, -len(m.paragraphs), m.doc_id))
    return out


def exact_copies(store: Storage, key: int) -> list[DocumentMatch]:
    """Stored documents whose normalized text has the content key ``key``, as exact
    matches: how an article below the length rule is matched."""
    docs = store.document_copies(np.array([key], dtype=np.uint64), MAX_COPIES)
    return [
        DocumentMatch(doc_id=doc_id, similarity=1.0, containment=(1.0, 1.0), estimate=1.0, exact=True,
                      chars=int(chars))
        for doc_id, chars in zip(docs.doc_ids, docs.chars.tolist())
    ]


def boilerplate(
    store: Storage, signed: Signed, which: np.ndarray | None = None, counted: np.ndarray | None = None,
) -> np.ndarray:
    """Which paragraphs of the batch are boilerplate: their exact text occurred in at
    least :func:`dedup.boilerplate.min_documents` of the documents the index has
    judged before (stored or rejected: the storage's tallies, :meth:`Storage.tally`,
    counted by every add and load).  With ``which`` (bool per batch paragraph), only
    those paragraphs are looked at (the others are ``False``): a batch add looks
    single articles up again.  With ``counted`` (bool per article: an add of the
    batch, which judges these articles one after another), the counted articles
    earlier in the batch count too, as one-at-a-time adds would have tallied them."""
    s = store.settings
    keys = signed.corpus.para_key
    asked = np.ones(len(keys), bool) if which is None else which
    if not s.boilerplate or not asked.any():
        return np.zeros(len(keys), bool)
    seen = np.zeros(len(keys), np.int64)
    seen[asked], judged = store.tallies(keys[asked])
    before = np.zeros(len(signed.first) - 1, np.int64)
    if counted is not None:
        docs = signed.corpus.para_doc
        order = np.lexsort((docs, keys))
        k, d = keys[order], docs[order]
        new_key = np.r_[True, k[1:] != k[:-1]]
        new_pair = new_key | np.r_[True, d[1:] != d[:-1]]
        flags = np.r_[0, np.cumsum(new_pair & counted[d])]  # counted (key, article) pairs before
        pair_start = np.maximum.accumulate(np.where(new_pair, np.arange(len(k)), 0))
        key_start = np.maximum.accumulate(np.where(new_key, np.arange(len(k)), 0))
        earlier = np.empty(len(k), np.int64)
        earlier[order] = flags[pair_start] - flags[key_start]
        seen = seen + earlier
        before = np.cumsum(counted) - counted
    need = np.array([min_documents(judged + b, s.boilerplate) for b in before.tolist()], dtype=np.int64)
    return (seen >= need[signed.corpus.para_doc]) & asked


def tallied(signed: Signed, counted: np.ndarray) -> np.ndarray:
    """The paragraph content keys to tally for the ``counted`` articles of ``signed``:
    each distinct key once per article."""
    c = signed.corpus
    which = counted[c.para_doc]
    pairs = np.unique(np.stack([c.para_key[which].view(np.int64), c.para_doc[which]], 1), axis=0)
    return pairs[:, 0].view(np.uint64)


def joined(a: SetTable, b: SetTable) -> SetTable:
    """Two set tables as one (``b``'s sets numbered after ``a``'s)."""
    return SetTable(
        values=np.concatenate([a.values, b.values]),
        offsets=np.concatenate([a.offsets, b.offsets[1:] + a.offsets[-1]]),
    )


def hits_to_pairs(query: np.ndarray, hit_keys: np.ndarray, hit_refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``(query row, stored row)`` pairs that share a band key."""
    flat = query.ravel()
    owner = np.repeat(np.arange(len(query), dtype=np.int64), query.shape[1])
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    left = np.searchsorted(ordered, hit_keys, side="left")
    count = np.searchsorted(ordered, hit_keys, side="right") - left
    new = owner[order[ranges(left, count)]]
    refs = np.repeat(hit_refs, count)
    if not len(new):
        return new, refs
    # One int64 per pair, ordered by (query row, stored row): a 1-D unique is ~3x
    # faster than ``np.unique(axis=0)`` on the ~500 pairs of a check at 100k articles.
    span = int(refs.max()) + 1
    pairs = sorted_unique(new * span + refs)
    return pairs // span, pairs % span


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
