"""Boilerplate: paragraph texts that recur across many documents.

Why: cookie notices, newsletter boxes and copyright lines recur on every page of a
site.  Reported as pairs they drown the report (a footer on 10,000 pages is 9,999
exact pairs), and counted in document similarity they make two different stories of
one site "duplicates" (two 2-paragraph stories sharing three footer paragraphs have a
document Jaccard of ~0.4).  Web-scale pipelines remove repeated text before any
document-level decision (C4 keeps one copy of a repeated three-sentence span, Onion
drops repeated paragraphs); dedup reports each boilerplate text once and leaves it out
of document-level similarity.

The rule: a paragraph's exact normalized text (its content key) is boilerplate when it
occurs in at least ``max(min_documents, ceil(SHARE * documents))`` distinct documents
(``Settings.boilerplate`` is ``min_documents``, 0 turns boilerplate off).  A text
shared by a handful of documents is ordinary reuse (a story and its reprints); one on
every page of a site is furniture.  The share keeps the rule relative in a large
corpus: in 100,000 documents a text must recur in 100 of them.

A site's frame is also told from a single pair, before it has recurred ten times
(:func:`framed`): two pages that share whole paragraphs word for word while the rest of
each is unrelated to the rest of the other, and what they share is the lesser part of
each page, are two stories in one frame, scored on what is left of them -- by the scan's
document pairs (:mod:`dedup.plan.frames`) and the index's verdicts
(:mod:`dedup.index.furniture`); see the README, "Containment and boilerplate".

All functions are vectorized over a batch of paragraphs (or pairs).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .results import Boilerplate, Location
from .segments import SetTable, offsets_from_counts, segment_ids

if TYPE_CHECKING:
    from .corpus import Corpus

#: Share of the corpus's documents a text must recur in (besides ``min_documents``).
SHARE = 0.001
#: Jaccard (word 2-grams) under which the rest of two pages is *unrelated*: above what
#: unrelated documents of one genre share by chance.  Measured over 3,000 random
#: unrelated document pairs of each development set: 99.9th percentile 0.05-0.07,
#: maximum 0.096 (function-word 2-grams such as "of the"); two man pages of one family
#: (cexp/cpow), true duplicates through their shared template, share 0.15-0.19 beyond it.
UNRELATED = 0.1
#: Share of a page (containment in the other) from which what two pages share is its
#: story, not its frame: a frame is the lesser part of each page.  Two pages sharing
#: whole paragraphs with the rest unrelated are either one site's frame around two
#: stories or one story under two sites' frames (a wire story republished); only which
#: part is larger tells them apart (tester S1/S2, session 11).
LESSER_PART = 0.5
#: Documents that must carry a paragraph text (the pair's two pages among them) for it
#: to be a site's *template* when it is the larger part of a page: with two pages, a
#: frame around two short briefs and one story under two sites' frames have the same
#: shape (whole paragraphs shared, the rest unrelated); a third page carrying the same
#: header/footer paragraphs around yet another text is what a template is -- the part
#: of a site's pages that recurs around their varying content (Bar-Yossef and
#: Rajagopalan, "Template detection via data mining", WWW 2002; Gibson, Punera and
#: Tomkins, "The volume and evolution of web page templates", WWW 2005).
FRAME_STORIES = 3
#: Share of a page (containment in the other) below which a template may be the larger
#: part of it: a frame up to 4x its story (the briefs under a site's header and footer
#: of ``tests/test_frames_briefs.py`` are 1-3x).  Above it, two pages are more likely
#: one page in two editions with a few lines changed, whose unchanged paragraphs recur
#: in every edition: the versions development set's true pairs of that shape have
#: 93-99 % of one side shared.
TEMPLATE_PART = 0.8


def min_documents(documents: int, floor: int) -> int:
    """Documents a text must recur in to be boilerplate, in a corpus of ``documents``:
    ``max(floor, ceil(SHARE * documents))``; 0 when ``floor`` is 0 (off)."""
    return 0 if floor <= 0 else max(floor, math.ceil(SHARE * documents))


def document_counts(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct content keys of the paragraphs (``keys``, uint64) and in how many
    distinct documents (``docs``, one document index per paragraph) each occurs:
    ``(sorted unique keys, counts)``."""
    if not len(keys):
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    order = np.lexsort((docs, keys))
    k, d = keys[order], docs[order]
    first_in_doc = np.r_[True, (k[1:] != k[:-1]) | (d[1:] != d[:-1])]
    k = k[first_in_doc]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], np.diff(np.r_[starts, len(k)])


def paragraph_mask(keys: np.ndarray, docs: np.ndarray, documents: int, floor: int) -> np.ndarray:
    """Which paragraphs are boilerplate (bool per paragraph), in a corpus of
    ``documents`` documents with ``Settings.boilerplate`` = ``floor``."""
    need = min_documents(documents, floor)
    if not need:
        return np.zeros(len(keys), bool)
    unique, counts = document_counts(keys, docs)
    common = unique[counts >= need]
    return np.isin(keys, common)


def framed(rest_jaccard: np.ndarray, containment_a: np.ndarray, containment_b: np.ndarray,
           template: np.ndarray | bool = False) -> np.ndarray:
    """Which page pairs that share whole paragraphs word for word are two stories in
    one frame (bool per pair), so that what they share is the site's furniture, not a
    story: the rest of each page (its shingles outside the shared paragraphs) is
    unrelated to the rest of the other (``rest_jaccard`` < :data:`UNRELATED`) and
    either what they share is the lesser part of each page (both whole-page
    containments under :data:`LESSER_PART`) or it is a ``template`` (bool per pair,
    :func:`at_edges` of both pages and every shared text carried by at least
    :data:`FRAME_STORIES` documents) under :data:`TEMPLATE_PART` of each page.

    Why the lesser part: an edition of a page with a few lines changed also shares
    whole paragraphs and differs in unrelated ones, but is almost all inside the other
    (the true document pairs of that shape in the versions development set have
    93-99 % of one side shared), and a story republished under another site's frame
    shares the larger part of each page.  Why the template branch: a page that is half
    frame or more (a 50-word brief under a 60-word footer) looks exactly like the
    second with two pages; its frame is told by recurring -- on a third page around
    another unrelated text -- and by where it is: a header and footer around the
    story (both edges: :func:`at_edges`), where a republished story sits between its
    sites' frames."""
    part = np.maximum(containment_a, containment_b)
    return (rest_jaccard < UNRELATED) & ((part < LESSER_PART) | (template & (part < TEMPLATE_PART)))


def may_be_framed(containment_a: np.ndarray, containment_b: np.ndarray) -> np.ndarray:
    """Which page pairs :func:`framed` can call framed at all, from their whole-page
    containments alone (bool per pair): what they share must be under
    :data:`LESSER_PART` or :data:`TEMPLATE_PART` of each page, so a pair of which one
    page is more inside the other is never framed, whatever its rest and template.
    Why: its rest sets need not be built (:func:`dedup.plan.frames.rescored`; eight
    near-copies of a corpus made that ~8x the work per MB of one copy)."""
    return np.maximum(containment_a, containment_b) < max(LESSER_PART, TEMPLATE_PART)


def at_edges(group: np.ndarray, story: np.ndarray, groups: int, both: bool = True) -> np.ndarray:
    """Whether each page's shared paragraphs are its header and footer (bool per
    group): it has a paragraph of its own (``story``), a shared paragraph before its
    first own one and one after its last, and no shared paragraph between two of its
    own; with ``both`` false, its shared paragraphs are on its edges (a header, a
    footer or both: none between two of its own).  Why both edges: a shared block on one edge only is also a story republished
    above (or below) each site's own footer (or header) -- a wire story under a credit
    line -- and one pair's view cannot tell the two apart; taking a republished story
    for a frame is the silent error (an index would accept every later copy), so a
    one-edge share is left to the lesser-part rule of :func:`framed`.
    ``group``: the page (0..``groups``-1) of each paragraph row, rows of one page
    contiguous and in page order; ``story``: bool per row, the paragraph is not
    carried by the other page.  Only paragraphs long enough to be compared should be
    given (a short dateline is neither frame nor story)."""
    at = np.arange(len(group))
    first = np.full(groups, len(group), np.int64)
    last = np.full(groups, -1, np.int64)
    np.minimum.at(first, group[story], at[story])
    np.maximum.at(last, group[story], at[story])
    frame = ~story
    inside = frame & (at > first[group]) & (at < last[group])
    header = np.bincount(group[frame & (at < first[group])], minlength=groups) > 0
    footer = np.bincount(group[frame & (at > last[group])], minlength=groups) > 0
    edges = (last >= 0) & (np.bincount(group[inside], minlength=groups) == 0)
    return edges & header & footer if both else edges


def member(group: np.ndarray, values: np.ndarray, in_group: np.ndarray, in_values: np.ndarray) -> np.ndarray:
    """Whether each ``values[i]`` is among the ``in_values`` of the same group
    (``group[i]`` equal to its ``in_group``): bool per value, one sort."""
    _, code = np.unique(np.r_[values, in_values], return_inverse=True)
    width = int(code.max(initial=0)) + 1
    code = np.r_[group, in_group].astype(np.int64) * width + code
    return np.isin(code[: len(values)], code[len(values):])


def outside(rest: SetTable, shared: SetTable) -> SetTable:
    """Each set of ``rest`` without the values of the same-numbered set of ``shared``:
    what is left of a page outside the paragraphs it shares with another.  Why not just
    the union of its other paragraphs: the shingles they have in common with the
    shared ones ("of the" in a story and in its footer) would be left on one side
    only, in the intersection of the two rests, and a frame 3x a short brief made two
    unrelated briefs look related (rest Jaccard 0.09-0.11)."""
    seg = segment_ids(rest.offsets)
    keep = ~member(seg, rest.values, segment_ids(shared.offsets), shared.values)
    return SetTable(rest.values[keep], offsets_from_counts(np.bincount(seg[keep], minlength=len(rest.offsets) - 1)))


def groups(corpus: "Corpus", mask: np.ndarray) -> list[Boilerplate]:
    """One :class:`~dedup.results.Boilerplate` per boilerplate text of ``corpus``
    (``mask``: :func:`paragraph_mask`), in order of first occurrence."""
    which = np.flatnonzero(mask)
    if not len(which):
        return []
    keys = corpus.para_key[which]
    unique, first, copies = np.unique(keys, return_index=True, return_counts=True)
    _, documents = document_counts(keys, corpus.para_doc[which])  # same sorted keys
    order = np.argsort(first)
    out = []
    for k in order.tolist():
        p = int(which[first[k]])
        doc = corpus.documents[int(corpus.para_doc[p])]
        where = Location(doc.path, int(corpus.para_index[p]), int(corpus.para_start[p]), int(corpus.para_end[p]),
                         corpus.para_preview[p])
        out.append(Boilerplate(where, int(documents[k]), int(copies[k]), corpus.para_preview[p]))
    return out
