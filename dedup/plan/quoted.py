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
:mod:`dedup.plan.frames` reads them), :data:`PAIR_BLOCK` paragraph pairs at a time:
two long documents make ``n x m`` pairs (a 1,000-paragraph story inside a
7,000-paragraph one: 7 million), which were all built, with their shingle sets, before
the first was scored (review R3 of session 22).  A document pair found copied is not
scored further.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..containment import one_sided_below, relations
from ..segments import SetTable, offsets_from_counts, ranges, sorted_unique
from ..verify import COVERAGE, Scores, score_pairs
from .frames import paragraph_plan, paragraphs_of
from .items import LevelPlan


#: Paragraph pairs scored in one block: ~2 KB of temporaries each while scored (paragraphs
#: of 25-45 words, both sets of each pair gathered), so a block's peak is ~30 MB
#: (benchmarks/bench_quoted.py, measured when intersections sorted them too).
PAIR_BLOCK = 1 << 14


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
    # Each document's paragraphs that are compared, in order (rows of ``gids``).
    gids = ranges(first, count)
    compared = (para.rows(gids, "tokens") >= para.min_tokens) & ~para.rows(gids, "common").astype(bool)
    gids = gids[compared]
    held = np.bincount(np.repeat(np.arange(len(docs)), count)[compared], minlength=len(docs))
    start = offsets_from_counts(held)[:-1]
    ia, ib = np.searchsorted(docs, a[which]), np.searchsorted(docs, b[which])
    # A unit: one paragraph of side a against every one of side b; blocks of whole units.
    unit_pair = np.repeat(np.arange(len(which)), held[ia])
    unit_row = start[ia][unit_pair] + np.arange(len(unit_pair)) - offsets_from_counts(held[ia])[:-1][unit_pair]
    width = held[ib][unit_pair]
    block = offsets_from_counts(width)[:-1] // PAIR_BLOCK
    cuts = np.flatnonzero(np.diff(block, prepend=-1, append=block[-1] + 1 if len(block) else 0))
    copied, quoted = np.zeros(len(which), bool), np.zeros(len(which), bool)
    for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        units = np.arange(lo, hi)
        units = units[~copied[unit_pair[units]]]  # a pair found copied needs no more
        if not len(units):
            continue
        n = width[units]
        owner = np.repeat(unit_pair[units], n)
        at = np.arange(len(owner)) - np.repeat(offsets_from_counts(n)[:-1], n)
        pa, pb = gids[np.repeat(unit_row[units], n)], gids[start[ib][owner] + at]
        items = sorted_unique(np.concatenate([pa, pb]))
        table = SetTable(*para.segments(items))
        pairs = np.stack([np.searchsorted(items, pa), np.searchsorted(items, pb)], axis=1)
        del pa, pb, at
        scored = score_pairs(table, pairs)
        # The paragraph level's relation (:func:`dedup.containment.relations`, covered).
        copy, inside = relations(scored.jaccard, scored.containment_a, scored.containment_b, s.threshold,
                                 s.containment)
        w = np.flatnonzero(inside)
        if len(w):
            inside[w] = covered(para, items, table, pairs[w],
                                scored.containment_a[w] >= scored.containment_b[w]) >= COVERAGE
        copied |= np.bincount(owner[copy & ~inside], minlength=len(which)) > 0
        quoted |= np.bincount(owner[inside], minlength=len(which)) > 0  # a quote found, as the index asks
    out[which[quoted & ~copied]] = True
    return out
