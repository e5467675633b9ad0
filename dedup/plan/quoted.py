"""Document pairs that share a quote only, in a scan: two documents whose Jaccard reaches
``doc_threshold`` while the larger holds less of the shared text than equal texts at the
threshold do (:func:`dedup.containment.one_sided_below`), some paragraph pair between
them is ``contained`` (a quote) and none is a near-duplicate, are no document pair.

Why: a short source story and a longer story quoting it (new user N4 of session 18: a
mayor's promise, read out by a delegate in a debate story) share the quote and nothing
else; the paragraph pair is ``contained`` (a quote makes nothing around it a copy), yet
the whole documents reached Jaccard 0.30, since the quote was half of the short story,
and ``clean`` dropped the source story as a duplicate of the story quoting it.  The
document level has no one-sided rule there: neither document is ``containment`` inside
the other (the source's own sentence is not quoted).  What two documents share is
either copied text -- then some paragraph pair between them is a near-duplicate (a
copy, a rewrite, or a copy with text added; the scan's relation, covered) -- or quotes; a pair sharing quotes only is
left to the paragraph level, where each quote is ``contained``.  The index applies the
same rule to its document matches (:func:`dedup.index.documents.document_matches`,
with the paragraph matches it found).  Pairs mostly inside each other (an edition, a
page split into other paragraphs) are not looked at: the larger side holds more than
the boundary of the shared text.

How: called by the verify stage (:mod:`dedup.plan.verify`) on the document pairs it
would keep as near-duplicates; for those in question (few), every paragraph of one side
(of ``min_tokens`` tokens or more, not boilerplate) is scored against every such
paragraph of the other, from the paragraph level's shingle sets (as
:mod:`dedup.plan.frames` reads them).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..containment import one_sided_below, relations
from ..segments import SetTable, offsets_from_counts, sorted_unique
from ..verify import COVERAGE, Scores, score_pairs
from .frames import paragraph_plan, paragraphs_of
from .items import LevelPlan


def quotes_only(plan: LevelPlan, a: np.ndarray, b: np.ndarray, scores: Scores, near: np.ndarray,
                covered: Callable[..., np.ndarray]) -> np.ndarray:
    """Which of the document pairs ``(a, b)`` (item numbers of the document level
    ``plan``; ``near``: bool per pair, near-duplicates so far) share quotes only (bool
    per pair; see the module doc): ``near``, the larger side holding less than
    :func:`~dedup.containment.one_sided_below` ``doc_threshold`` of the shared text, a
    paragraph pair between them contained and none a near-duplicate (by the paragraph level's rule,
    :func:`~dedup.containment.relations`, a contained pair's smaller side ``covered``:
    ``covered(para_plan, items, table, pairs, a_inside)``, the coverage the verify
    stage computes).  With containment off (0) none does."""
    out = np.zeros(len(a), bool)
    s = plan.settings
    outer = np.minimum(scores.containment_a, scores.containment_b)
    which = np.flatnonzero(near & (outer < one_sided_below(plan.threshold)))
    if not s.containment or not len(which):
        return out
    para = paragraph_plan(plan)
    docs = sorted_unique(np.concatenate([a[which], b[which]]))
    first, count = paragraphs_of(plan, para, docs)
    ia, ib = np.searchsorted(docs, a[which]), np.searchsorted(docs, b[which])
    # Every paragraph of side a against every one of side b, pair after pair.
    na, nb = count[ia], count[ib]
    owner = np.repeat(np.arange(len(which)), na * nb)
    at = np.arange(len(owner)) - offsets_from_counts(na * nb)[:-1][owner]
    pa, pb = first[ia][owner] + at // nb[owner], first[ib][owner] + at % nb[owner]
    gids = sorted_unique(np.concatenate([pa, pb]))
    compared = (para.rows(gids, "tokens") >= para.min_tokens) & ~para.rows(gids, "common").astype(bool)
    la, lb = np.searchsorted(gids, pa), np.searchsorted(gids, pb)
    keep = compared[la] & compared[lb]
    table, pairs = SetTable(*para.segments(gids)), np.stack([la[keep], lb[keep]], axis=1)
    scored = score_pairs(table, pairs)
    # The paragraph level's relation (:func:`dedup.containment.relations`, covered).
    copy, inside = relations(scored.jaccard, scored.containment_a, scored.containment_b, s.threshold, s.containment)
    w = np.flatnonzero(inside)
    if len(w):
        inside[w] = covered(para, gids, table, pairs[w], scored.containment_a[w] >= scored.containment_b[w]) >= COVERAGE
    copied = np.bincount(owner[keep][copy & ~inside], minlength=len(which)) > 0
    quoted = np.bincount(owner[keep][inside], minlength=len(which)) > 0  # a quote found, as the index asks
    out[which[quoted & ~copied]] = True
    return out
