"""Document pairs in one frame, in a scan: two pages that share whole paragraphs word for
word while the rest of each is unrelated to the rest of the other, and what they
share is the lesser part of each (:func:`dedup.boilerplate.framed`), are scored on what
is left.

Why: two different stories of one site, each followed by the same three footer
paragraphs, were a document pair (Jaccard 0.31) until the footer recurred in
``--boilerplate`` (10) documents; the pages share the site's frame, not a story.  The
index judges such pages the same way (:mod:`dedup.index.furniture`).  What is left of
a framed pair is unrelated by definition (Jaccard < 0.1), so the pair is no longer a
document pair at the default ``doc_threshold``; its paragraph pairs are reported as
before.  An edition of a page with a few lines changed is almost all inside the other
and keeps its whole-page score, as does one story republished under two sites' frames
(the story is the larger part of each page).

How: called by the verify stage (:mod:`dedup.plan.verify`) on the document pairs it
would keep.  A document item's paragraphs are the paragraph level's items of its shard
(the document stage keeps the shard's order), so their content keys, boilerplate flags
(``paragraph.common``, written by :func:`dedup.plan.documents.document_shard`) and shingle
sets are read from the paragraph files, for the documents of those pairs only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..boilerplate import at_edges, framed, may_be_framed, outside
from ..segments import SetTable, offsets_from_counts, ranges, sorted_unique, take_sets, unique_sets
from ..verify import Scores, score_pairs
from .items import LevelPlan
from .scratch import load


def rescored(plan: LevelPlan, a: np.ndarray, b: np.ndarray, scores: Scores) -> Scores:
    """``scores`` of the document pairs ``(a, b)`` (item numbers of the document level
    ``plan``), those of pairs in one frame replaced by the scores of what is left of
    the two without the paragraphs they share (on both sides).  Only pairs that reach
    the document threshold or the containment threshold are looked at."""
    s = plan.settings
    reported = (scores.jaccard >= plan.threshold) | (
        np.maximum(scores.containment_a, scores.containment_b) >= (s.containment or 2.0))
    # Each pair is judged on its own: those never framed (:func:`may_be_framed`) keep their scores unread.
    which = np.flatnonzero(reported & may_be_framed(scores.containment_a, scores.containment_b))
    if not s.boilerplate or not len(which):
        return scores
    para = paragraph_plan(plan)
    docs = sorted_unique(np.concatenate([a[which], b[which]]))
    first, count = paragraphs_of(plan, para, docs)
    gids = ranges(first, count)  # ascending: documents in order, each one's paragraphs in order
    at = offsets_from_counts(count)[:-1]  # each document's first paragraph in ``gids``
    keys, common = para.rows(gids, "keys"), para.rows(gids, "common").astype(bool)
    ia, ib = np.searchsorted(docs, a[which]), np.searchsorted(docs, b[which])
    # Every paragraph of both sides of each pair, as positions in ``gids``.
    side_a, side_b = ranges(at[ia], count[ia]), ranges(at[ib], count[ib])
    owner = np.concatenate([np.repeat(np.arange(len(which)), count[ia]), np.repeat(np.arange(len(which)), count[ib])])
    where = np.concatenate([side_a, side_b])
    side = np.r_[np.zeros(len(side_a), np.int8), np.ones(len(side_b), np.int8)]
    # A paragraph text is shared when both sides of its pair have it (runs of one
    # (pair, key) holding both sides).
    order = np.lexsort((side, keys[where], owner))
    o_owner, o_key = owner[order], keys[where][order]
    starts = np.flatnonzero(np.r_[True, (o_owner[1:] != o_owner[:-1]) | (o_key[1:] != o_key[:-1])])
    both = (np.minimum.reduceat(side[order], starts) == 0) & (np.maximum.reduceat(side[order], starts) == 1)
    carried = np.empty(len(order), bool)  # both pages have the text (boilerplate too)
    carried[order] = np.repeat(both, np.diff(np.r_[starts, len(order)]))
    shared = carried & ~common[where]
    a_side = side == 0
    sharing = np.unique(owner[shared & a_side])  # pairs sharing a paragraph that is not boilerplate
    if not len(sharing):
        return scores
    # What is left of side a: its paragraphs neither shared nor boilerplate.
    left = a_side & ~shared & ~common[where] & np.isin(owner, sharing)
    para_sets = SetTable(*para.segments(gids))
    rest_owner = np.searchsorted(sharing, owner[left])
    taken = take_sets(para_sets, where[left])
    sizes = np.bincount(rest_owner, weights=np.diff(taken.offsets), minlength=len(sharing)).astype(np.int64)
    # ... without the shingles of the paragraphs it shares (:func:`dedup.boilerplate.outside`).
    mine = shared & a_side
    shared_sets = take_sets(para_sets, where[mine])
    shared_sizes = np.bincount(np.searchsorted(sharing, owner[mine]), weights=np.diff(shared_sets.offsets),
                               minlength=len(sharing)).astype(np.int64)
    rest = outside(unique_sets(taken.values, offsets_from_counts(sizes)),
                   unique_sets(shared_sets.values, offsets_from_counts(shared_sizes)))
    doc_sets = SetTable(*plan.segments(docs))  # boilerplate already left out
    k = len(sharing)
    table = SetTable(np.concatenate([rest.values, doc_sets.values]),
                     np.concatenate([rest.offsets, doc_sets.offsets[1:] + rest.offsets[-1]]))
    pick = which[sharing]
    # ``whole``: side a's document, so the shared shingles leave side b too.
    again = score_pairs(table, np.stack([np.arange(k), k + ib[sharing]], axis=1), whole=k + ia[sharing])
    template = _template(para, gids, where, owner, side, carried, shared, len(which))[sharing]
    one_frame = framed(again.jaccard, scores.containment_a[pick], scores.containment_b[pick], template)
    return scores.replaced(pick[one_frame], again, one_frame)


def _template(para: LevelPlan, gids: np.ndarray, where: np.ndarray, owner: np.ndarray, side: np.ndarray,
              carried: np.ndarray, shared: np.ndarray, pairs: int) -> np.ndarray:
    """Whether what each pair's pages share is a site's template (bool per pair,
    :func:`dedup.boilerplate.framed`): every shared text is in ``FRAME_STORIES``
    documents of the corpus (the ``recurring`` flags) and both pages' shared
    paragraphs are their header and footer (:func:`dedup.boilerplate.at_edges`, over
    the paragraphs long enough to compare).  ``where``/``owner``/``side``: the pairs'
    paragraph rows (positions in ``gids``, each page's rows in page order),
    ``carried``/``shared``: bool per row."""
    compared = para.rows(gids, "tokens")[where] >= para.min_tokens
    lone = shared & compared & ~para.rows(gids, "recurring").astype(bool)[where]
    recurring = np.bincount(owner[lone], minlength=pairs) == 0
    page = (owner * 2 + side)[compared]
    edges = at_edges(page, ~carried[compared], 2 * pairs).reshape(pairs, 2).all(axis=1)
    return recurring & edges


def paragraph_plan(plan: LevelPlan) -> LevelPlan:
    """The paragraph level of the scan of the document level ``plan`` (its bases read
    from the shards' paragraph files)."""
    counts = [len(load(plan.scratch.shard(s, "paragraph", "keys"), mmap=True)) for s in range(plan.shards)]
    return dataclasses.replace(plan, level="paragraph", bases=tuple(offsets_from_counts(
        np.array(counts, dtype=np.int64)).tolist()))


def paragraphs_of(plan: LevelPlan, para: LevelPlan, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, count)``: the paragraph item number of each document item's (``docs``,
    ascending) first paragraph, and how many it has."""
    shard = plan.shard_of(docs)
    first, count = np.zeros(len(docs), np.int64), np.zeros(len(docs), np.int64)
    for s in np.unique(shard).tolist():
        mine = shard == s
        per_doc = load(plan.scratch.shard(s, "paragraph", "doc_paragraphs"))
        starts = offsets_from_counts(per_doc)
        local = docs[mine] - plan.bases[s]
        first[mine] = para.bases[s] + starts[local]
        count[mine] = per_doc[local]
    return first, count
