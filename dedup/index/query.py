"""A check's look-up, in three narrowing steps: candidates -> estimate floor -> exact verification.

1. the article's band keys are looked up in the stored buckets (one bulk look-up,
   :meth:`dedup.storage.protocol.Storage.candidates`), which gives candidate stored
   paragraphs and documents;
2. candidates whose MinHash estimate is far below the threshold are dropped (chance
   candidates grow with the archive): first on a 64-byte b-bit sketch that comes with
   the bucket hits (:func:`sketch_floor`), then on the full stored signature
   (:func:`floor`);
3. every remaining candidate is verified exactly on its stored shingle set
   (:func:`dedup.verify.score_pairs`); only pairs at or above the thresholds count,
   as in a scan (paragraphs of fewer than ``min_words`` words are not compared).

Exact copies of a matched stored text are not banded (contract rule 5), so they are
listed from their content key.  What the matches mean for the article is
:mod:`dedup.index.judge`'s business.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..minhash import estimate
from ..segments import SetTable, offsets_from_counts, ranges, unique_sets
from ..sketch import SKETCH_BITS, sketch, sketch_matches, sketch_positions
from ..storage.protocol import ParagraphRows, Storage
from ..verdict import DocumentMatch, ParagraphMatch
from ..verify import score_pairs
from .signing import Signed, sets_of

#: Exact copies of one matched stored text listed in a verdict.
MAX_COPIES = 16
#: Stored documents scored as whole documents per article (those sharing the most
#: paragraphs first); bounds the work when a text is repeated across the archive.
MAX_DOCUMENTS = 64
#: See :func:`floor`.
PREFILTER_SIGMAS = 4.0
#: See :func:`sketch_floor`: the chance that the sketch drops a pair at the threshold.
SKETCH_MISS = 1e-6


@dataclass(frozen=True)
class Found:
    """Paragraph matches of one article: local eligible index, stored row, scores."""

    new: np.ndarray  # index into the article's eligible paragraphs
    rows: ParagraphRows  # stored side, one row per match
    jaccard: np.ndarray
    cont_new: np.ndarray
    cont_stored: np.ndarray
    estimates: np.ndarray
    exact: np.ndarray


def paragraph_matches(store: Storage, signed: Signed, eligible: np.ndarray) -> Found:
    """Verified matches of the given paragraphs (corpus indices) with stored ones."""
    s = store.settings
    c = signed.corpus
    query = signed.para_bands[eligible]
    hit_keys, hit_refs, hit_sketches = store.candidates("paragraph", query.ravel())
    new, refs = hits_to_pairs(query, hit_keys, hit_refs)
    hit_ids, first = np.unique(hit_refs, return_index=True)
    stored_sketches = hit_sketches[first[np.searchsorted(hit_ids, refs)]]
    near = sketch_matches(sketch(c.signatures[eligible])[new], stored_sketches) >= sketch_floor(
        s.threshold, sketch_positions(s.num_perm))
    rows = store.paragraphs(np.unique(refs[near]))
    # A bucket file written before a removal still lists the removed rows.
    near &= np.isin(refs, rows.ids)
    new, refs = new[near], refs[near]
    cand = np.searchsorted(rows.ids, refs)
    plausible = estimate(c.signatures[eligible[new]], rows.signatures[cand]) >= floor(s.threshold, s.num_perm)
    new, cand = new[plausible], cand[plausible]
    new_sets = sets_of(c, eligible)
    scores = score_pairs(joined(new_sets, rows.sets), np.stack([new, len(eligible) + cand], axis=1))
    keep = scores.jaccard >= s.threshold
    new, cand = new[keep], cand[keep]
    jac, ca, cb = scores.jaccard[keep], scores.containment_a[keep], scores.containment_b[keep]
    est = estimate(c.signatures[eligible[new]], rows.signatures[cand]) if len(new) else np.zeros(0)
    # Exact copies of a matched text are not banded (see dedup.storage.sqlite): list them too.
    copies = store.paragraph_copies(rows.keys[np.unique(cand)], MAX_COPIES)
    matched_ids = set(rows.ids[cand].tolist())
    by_key: dict[int, list[int]] = defaultdict(list)
    for m, key in enumerate(rows.keys[cand].tolist()):
        by_key[key].append(m)
    extra_match, extra_row = [], []
    for r, (rid, key) in enumerate(zip(copies.ids.tolist(), copies.keys.tolist())):
        if rid not in matched_ids:
            for m in by_key[key]:
                extra_match.append(m)
                extra_row.append(r)
    take = np.array(extra_match, dtype=np.int64)
    extra = np.array(extra_row, dtype=np.int64)
    stored = concat_rows(take_rows(rows, cand), take_rows(copies, extra))
    return Found(
        new=np.concatenate([new, new[take]]),
        rows=stored,
        jaccard=np.concatenate([jac, jac[take]]),
        cont_new=np.concatenate([ca, ca[take]]),
        cont_stored=np.concatenate([cb, cb[take]]),
        estimates=np.concatenate([est, est[take]]),
        exact=c.para_key[eligible[np.concatenate([new, new[take]])]] == stored.keys,
    )

def document_matches(
    store: Storage, signed: Signed, d: int, lo: int, hi: int, eligible: np.ndarray, found: Found
) -> list[DocumentMatch]:
    """Stored documents that share a paragraph with article ``d`` or are similar to it
    as a whole, each scored as a whole document."""
    s = store.settings
    c = signed.corpus
    owners, shared = np.unique(found.rows.docs, return_counts=True)
    ranked = owners[np.argsort(-shared, kind="stable")].tolist()
    _, doc_hits, doc_sketches = store.candidates("document", signed.doc_bands[d])
    near = sketch_matches(sketch(signed.doc_signatures[d]), doc_sketches) >= sketch_floor(
        s.doc_threshold, sketch_positions(s.num_perm))
    hits = store.documents(np.unique(doc_hits[near]))
    plausible = hits.ids[estimate(signed.doc_signatures[d][None, :], hits.signatures)
                         >= floor(s.doc_threshold, s.num_perm)]
    exact_docs = store.document_copies(signed.doc_keys[d : d + 1], MAX_COPIES).ids
    candidates = list(dict.fromkeys(ranked + exact_docs.tolist() + plausible.tolist()))
    candidates = candidates[:MAX_DOCUMENTS]
    if not candidates:
        return []
    docs = store.documents(np.array(candidates, dtype=np.int64))
    new_set = sets_of(c, np.arange(lo, hi))
    union = unique_sets(new_set.values, np.array([0, len(new_set.values)], dtype=np.int64))
    stored_sets = store.document_sets(docs.ids)
    n = len(docs.ids)
    scores = score_pairs(joined(union, stored_sets), np.stack([np.zeros(n, np.int64), 1 + np.arange(n)], axis=1))
    est = estimate(signed.doc_signatures[d][None, :], docs.signatures)
    para_of: dict[int, list[ParagraphMatch]] = defaultdict(list)
    rows = found.rows
    for m in range(len(found.new)):
        p = eligible[found.new[m]]
        para_of[int(rows.docs[m])].append(ParagraphMatch(
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
        ))
    out = []
    for j, ref in enumerate(docs.ids.tolist()):
        paragraphs = tuple(sorted(para_of.get(ref, []), key=lambda p: (p.paragraph, p.stored_paragraph)))
        if not paragraphs and scores.jaccard[j] < s.doc_threshold:
            continue
        out.append(DocumentMatch(
            doc_id=docs.doc_ids[j],
            similarity=float(scores.jaccard[j]),
            containment=(float(scores.containment_a[j]), float(scores.containment_b[j])),
            estimate=float(est[j]),
            exact=bool(docs.keys[j] == signed.doc_keys[d]),
            chars=int(docs.chars[j]),
            paragraphs=paragraphs,
        ))
    out.sort(key=lambda m: (-m.similarity, -len(m.paragraphs), m.doc_id))
    return out

def floor(threshold: float, num_perm: int) -> float:
    """The MinHash estimate below which a candidate is not verified.

    Why: LSH with few rows per band (what catches light rewrites) also proposes a steady
    share of chance pairs (J ~ 0.02), and in an index their number grows with the
    archive -- about 0.0002 per stored paragraph per checked paragraph on real prose.
    Their estimate is ~0.02 +- 0.01, while a pair at the threshold has an estimate
    ``N(threshold, sqrt(t(1-t)/num_perm))``: ``PREFILTER_SIGMAS`` standard deviations
    below it drops a true pair with probability ~3e-5 and nearly every chance one,
    before its shingle set is read.
    """
    return threshold - PREFILTER_SIGMAS * math.sqrt(threshold * (1 - threshold) / num_perm)


@functools.lru_cache(maxsize=None)
def sketch_floor(threshold: float, positions: int) -> int:
    """Equal sketch positions below which a candidate is dismissed unread.

    Why: a check meets hundreds of chance LSH candidates (~510 at p50 with 100k stored
    articles, thousands for some articles), and reading each one's full row is a page
    read; the sketch comes with the bucket hits instead.  A sketch position of a pair
    with Jaccard ``J`` is equal with probability ``p = J + (1 - J) / 2**SKETCH_BITS``
    (the MinHash values agree, or they differ but their low bits agree by chance), so
    the equal positions of a pair at the threshold are ``Binomial(positions, p)``.  The floor is
    the largest count whose lower tail is at most ``SKETCH_MISS``: a true pair is lost
    with probability <= 1e-6 (pairs above the threshold even less), while a chance pair
    (J ~ 0.03) passes with probability ~1 % (at the defaults: 20 of 128 positions,
    64 bytes a sketch).  Survivors still face :func:`floor` on the full signature, then
    exact verification.
    """
    p = threshold + (1 - threshold) / (1 << SKETCH_BITS)
    tail, floor_count = 0.0, 0
    for m in range(positions + 1):
        tail += math.comb(positions, m) * p**m * (1 - p) ** (positions - m)
        if tail > SKETCH_MISS:
            break
        floor_count = m + 1
    return floor_count


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
    pairs = np.unique(new * span + refs)
    return pairs // span, pairs % span


def take_rows(rows: ParagraphRows, which: np.ndarray) -> ParagraphRows:
    sizes = rows.sets.sizes()[which]
    return ParagraphRows(
        ids=rows.ids[which],
        docs=rows.docs[which],
        index=rows.index[which],
        start=rows.start[which],
        end=rows.end[which],
        keys=rows.keys[which],
        signatures=rows.signatures[which],
        sets=SetTable(rows.sets.values[ranges(rows.sets.offsets[which], sizes)], offsets_from_counts(sizes)),
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
