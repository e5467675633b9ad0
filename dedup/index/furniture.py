"""A site's frame told from a stored page: paragraphs a checked article shares word
for word with a stored document whose other content is unrelated to the article's
(:func:`dedup.boilerplate.framed`).

Why: the boilerplate count (:mod:`.tallies`) needs a footer to have been seen in 10
documents; until then a site's second to tenth stories were judged duplicates of its
first through their shared footer and rejected (3 of 5 paragraphs "already seen",
whole-page Jaccard 0.31).  A news desk expects a new story in the site's frame to be
accepted: what it shares with the stored page is the frame, not the story.  But with
one stored page a footer and a paragraph copied from a stored story look alike (both
are whole paragraphs shared word for word, the rest unrelated), so:

* each (article, stored document) pair sharing exact paragraphs (not boilerplate) is
  scored again without them, on both sides; when what is left of the two is unrelated
  and what they share is the lesser part of each page, the pair is *in one frame*: its
  whole-page similarity is that of what is left (the two stories), and whether the
  article is a duplicate is for the share of its text already seen to say
  (:mod:`.judge`) -- the whole-page Jaccard is for rewritten pages, and shared whole
  paragraphs are counted by the seen share;
* a paragraph shared with a stored page in one frame whose text the index has judged
  in at least :data:`FRAME_RECURRENCE` documents before is the site's furniture:
  boilerplate for this article at once (a site's footer recurs on every story; a
  paragraph copied from one story was seen once).  So a site's second story is
  accepted when the story is the larger part of its text, and from the third story
  on the frame is boilerplate, long before the boilerplate count.

One vectorized pass over the pairs of a batch; only pairs that share an exact
paragraph (not already boilerplate) are scored again.  Off with boilerplate
(``Settings.boilerplate`` 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..boilerplate import FRAME_STORIES, LESSER_PART, UNRELATED, at_edges, framed, member, outside
from ..containment import relations
from ..settings import Settings
from ..corpus import outline
from ..segments import SetTable, offsets_from_counts, ranges, unique_sets
from ..verify import Scores, intersections, score_pairs
from .matches import joined
from .signing import Signed

#: Documents judged before in which a paragraph shared with a stored page in one frame
#: must have occurred to be the article's furniture (its boilerplate): the stored
#: page and one more, so a text copied once from a story is not.  With the article,
#: the scan's :data:`~dedup.boilerplate.FRAME_STORIES` documents.
FRAME_RECURRENCE = FRAME_STORIES - 1


def frames(
    signed: Signed, arts: np.ndarray, pair_art: np.ndarray, stored: SetTable, stored_of: np.ndarray,
    scores: Scores, shared_pair: np.ndarray, shared_para: np.ndarray, boilerplate: np.ndarray,
    recurring: np.ndarray, carried: np.ndarray, pages: Callable[[np.ndarray], list[str]],
    covered: Callable[[np.ndarray], np.ndarray], s: Settings,
) -> tuple[np.ndarray, Scores, np.ndarray, np.ndarray]:
    """Which (article, stored document) pairs are two stories in one frame.

    ``pair_art``: each pair's article (a position in ``arts``, articles of ``signed``);
    ``stored``: the stored documents' shingle sets, ``stored_of`` the one of each pair;
    ``scores``: the pairs' whole-document scores (``boilerplate`` left out);
    ``shared_pair``/``shared_para``: the exact paragraph matches, as (pair, corpus
    paragraph of the article); ``boilerplate``, ``recurring``: bool per batch
    paragraph (``recurring``: judged in :data:`FRAME_RECURRENCE` documents before;
    ``carried``: an exact copy of it is in at least two stored documents);
    ``pages``: the stored texts of some ``stored_of`` positions (read only for pairs
    that only the template branch of :func:`~dedup.boilerplate.framed` can frame);
    ``covered``: whether the stored pages of some pairs (positions among the ``n``)
    are covered by their articles (:func:`dedup.index.coverage.documents_covered`,
    asked only of pairs the article's side would frame whose stored page is inside the
    article, :func:`_left_to_contains`).
    Returns ``(framed, scores, shared, contains)``: bool per pair; the pairs' scores, those of
    framed pairs taken without the shared paragraphs (on both sides); bool per batch
    paragraph, the paragraphs shared with a stored document in one frame on the
    article's edges (:func:`_on_edges`: a paragraph shared in the middle of the
    article, between two of its own, is content reused, not its site's frame); bool
    per pair, the pairs whose relation is at least ``contains`` (:func:`_only_judged`),
    neither framed nor rejected for their whole-page score."""
    n = len(pair_art)
    furniture = np.zeros(len(boilerplate), bool)
    keep = ~boilerplate[shared_para]
    shared_pair, shared_para = shared_pair[keep], shared_para[keep]
    sharing = np.unique(shared_pair)  # the pairs sharing an exact paragraph (not boilerplate)
    if not len(sharing):
        return np.zeros(n, bool), scores, furniture, np.zeros(n, bool)
    docs = arts[pair_art[sharing]]
    rest = _rest_sets(signed, docs, boilerplate, np.searchsorted(sharing, shared_pair), shared_para)
    k = len(sharing)
    table = joined(joined(rest, signed.document_sets(docs)), stored)
    # ``whole``: the article as it is, so its left-out shingles leave the stored side too.
    again = score_pairs(table, np.stack([np.arange(k), 2 * k + stored_of[sharing]], axis=1), whole=k + np.arange(k))
    ca, cb = scores.containment_a[sharing], scores.containment_b[sharing]
    # ``lone``: a shared paragraph judged in fewer than FRAME_RECURRENCE documents before
    # (one stored page's text, not yet a frame recurring around other content).
    lone = np.bincount(np.searchsorted(sharing, shared_pair[~recurring[shared_para]]), minlength=k) > 0
    mine = ~lone & _the_articles_lesser_part(table, k, stored_of[sharing], again.jaccard,
                                             _shared_words(signed, docs, boilerplate,
                                                           np.searchsorted(sharing, shared_pair), shared_para, s), s)
    mine &= ~_left_to_contains(scores, sharing, mine, covered, s)
    held = mine & _only_judged(ca, cb, np.searchsorted(sharing, shared_pair), carried[shared_para], k)
    mine &= ~held
    # The template branch for the pairs only it can frame (rest unrelated, the shared
    # part the larger part of a page, every shared paragraph recurring).
    asked = np.flatnonzero(framed(again.jaccard, ca, cb, True) & ~framed(again.jaccard, ca, cb) & ~lone & ~mine)
    template = np.zeros(k, bool)
    if len(asked):
        # Each stored page read once, however many articles of the batch it pairs with.
        read, which = np.unique(stored_of[sharing[asked]], return_inverse=True)
        texts = pages(read)
        template[asked] = _at_edges(signed, docs[asked], [texts[i] for i in which.tolist()], s)
    one_frame = framed(again.jaccard, ca, cb, template) | mine
    is_framed = np.zeros(n, bool)
    is_framed[sharing[one_frame]] = True
    on_edges = np.zeros(n, bool)
    on_edges[sharing] = one_frame & _on_edges(signed, docs, boilerplate, np.searchsorted(sharing, shared_pair),
                                              shared_para, s)
    furniture[shared_para[on_edges[shared_pair]]] = True
    out = scores.replaced(sharing[one_frame], again, one_frame)
    contains = np.zeros(n, bool)
    contains[sharing[held]] = True
    return is_framed, out, furniture, contains


def _only_judged(ca: np.ndarray, cb: np.ndarray, shared_pair: np.ndarray, carried: np.ndarray, k: int
                 ) -> np.ndarray:
    """Which of ``k`` pairs the article's side would frame keep the relation at least
    ``contains`` instead (bool per pair): what the article shares with the stored page
    is most of the stored page (``cb``, its whole-page containment in the article, at
    least :data:`~dedup.boilerplate.LESSER_PART`, and more than ``ca``) and some shared
    paragraph (``shared_pair``: pair number of each, ``carried``: bool each) has no
    exact copy in a second stored document -- it recurs only through documents judged
    and rejected.

    Why: the recurrence the article's side asks for counts every document judged
    (the boilerplate tallies), and a wire story whose reprint was rejected once has
    recurred by that count: a trimmed copy at the head of a longer local article was
    accepted as new again (12 of 20 seeds, relation None).  A site's footer carried
    by one stored page (its brief) and rejected pages has the same shape, so neither
    is framed as new: the article is flagged as containing the stored page (never
    rejected for it), as the scan relates the pair; once a second stored page carries
    the footer it is the site's frame."""
    lone = np.bincount(shared_pair[~carried], minlength=k) > 0
    return lone & (cb >= LESSER_PART) & (cb > ca)


def _the_articles_lesser_part(table: SetTable, k: int, stored_of: np.ndarray, rest_jaccard: np.ndarray,
                              shared_words: np.ndarray, s: Settings) -> np.ndarray:
    """Which (article, stored page) pairs are in one frame by the article's side
    (bool per pair): the rest of the two is unrelated
    (:data:`~dedup.boilerplate.UNRELATED`), what the article shares with the page is
    the lesser part of the article's words (``shared_words``, :func:`_shared_words`,
    under :data:`~dedup.boilerplate.LESSER_PART`), whatever share of the stored page it
    is, and the stored page has text of its own: at least ``min_tokens - 1`` shingles
    (a paragraph of ``min_tokens`` words) outside the article.  ``table``: the ``k``
    pairs' rest sets, their articles' whole sets, then the stored sets (``stored_of``:
    each pair's).

    Why: the verdict is the article's.  A site's story checked after one of its briefs
    is stored (a 20-word brief under a 70-word footer) shares the footer with it: the
    lesser part of the story's page, the larger part of the brief's, so the scan's
    both-pages rule (:func:`dedup.boilerplate.framed`) kept the whole pages' Jaccard
    (0.30-0.46) and the story was rejected (1-3 a seed of the 60-story footer-only
    family, ``tests/test_index_footer_site.py``).  An article whose larger part is its
    own text, unrelated to the page's, is no copy of it; the seen share (:mod:`.judge`)
    still counts the shared paragraphs, so it is accepted as partly seen.  A story
    republished above another site's footer is the larger part of the article and keeps
    its whole-page score; a stored page wholly inside the article (a statement read out
    in a report) is no story in a frame and keeps its relation ``contains`` (as does one
    inside it by the relation's rule, :func:`_left_to_contains`).  :func:`frames` asks
    this only of pairs whose shared paragraphs all recur (judged in
    :data:`FRAME_RECURRENCE` documents before): a trimmed wire story at the head of a
    longer local article has the same sizes (review R1, session 24) and its paragraphs
    are one stored page's text, where a site's frame recurs around other content."""
    stored_at = 2 * k + stored_of
    own = table.sizes()[stored_at] - intersections(table, np.stack([k + np.arange(k), stored_at], axis=1))
    return (rest_jaccard < UNRELATED) & (shared_words < LESSER_PART) & (own >= s.min_tokens - 1)


def _left_to_contains(scores: Scores, sharing: np.ndarray, mine: np.ndarray,
                      covered: Callable[[np.ndarray], np.ndarray], s: Settings) -> np.ndarray:
    """Which of the pairs ``sharing`` (positions in ``scores``, the whole pages'; bool
    per entry) that the article's side would frame (``mine``) are left to the relation
    ``contains``: the stored page is the pair's inner side by the relation's own rule
    (:func:`dedup.containment.relations` at ``doc_threshold``: ``containment`` inside the
    article, the Jaccard under the threshold or the pair one-sided) and its words are
    ``covered`` by the article (:func:`dedup.index.coverage.documents_covered`).

    Why: a stored press release -- a statement and its short "About us" paragraph --
    quoted whole inside a longer report shares one paragraph with it, the rest of the
    two unrelated and the lesser part of the report, so the article's side framed it and
    the report was "partly seen" with no relation, where the issue asks for ``contains``
    (flagged, not rejected) and the scan reports the pair ``contained``.  A relation
    ``contains`` is never a rejection, which is all the article's side is there to
    prevent; a stored 20-word brief under its site's 70-word footer (78 % of the page's
    words) is not covered and stays in one frame with a story under the same footer
    (``tests/test_index_footer_site.py``), while a page whose footer is 82 % of its
    words now ``contains`` (what the scan says of such a pair, and the index did before
    35f9794; accepted either way)."""
    ca, cb = scores.containment_a[sharing], scores.containment_b[sharing]
    _, inside = relations(scores.jaccard[sharing], ca, cb, s.doc_threshold, s.containment)
    ask = np.flatnonzero(mine & inside & (cb > ca))
    out = np.zeros(len(sharing), bool)
    if len(ask):
        out[ask] = covered(sharing[ask])
    return out


def _shared_words(signed: Signed, docs: np.ndarray, boilerplate: np.ndarray, shared_pair: np.ndarray,
                  shared_para: np.ndarray, s: Settings) -> np.ndarray:
    """The share of each article's (``docs``, one per pair) words in the paragraphs it
    shares with the pair's stored page (``shared_pair``/``shared_para``: pair number,
    corpus paragraph), over its paragraphs of ``min_tokens`` or more that are not
    ``boilerplate`` (float per pair; 1 for an article with none): the words the seen share
    (:mod:`.judge`) weighs, so "the lesser part of the article" is the reader's."""
    c = signed.corpus
    counts = signed.first[docs + 1] - signed.first[docs]
    paras = ranges(signed.first[docs], counts)
    owner = np.repeat(np.arange(len(docs)), counts)
    words = c.para_words[paras]
    weight = np.where((words >= s.min_tokens) & ~boilerplate[paras], words, 0).astype(np.float64)
    total = np.bincount(owner, weights=weight, minlength=len(docs))
    shared = np.bincount(owner, weights=weight * member(owner, paras, shared_pair, shared_para), minlength=len(docs))
    return np.where(total > 0, shared / np.maximum(total, 1.0), 1.0)


def _on_edges(signed: Signed, docs: np.ndarray, boilerplate: np.ndarray, shared_pair: np.ndarray,
              shared_para: np.ndarray, s: Settings) -> np.ndarray:
    """Whether the paragraphs each article (``docs``, one per pair) shares with its pair's
    stored page (``shared_pair``/``shared_para``: pair number, corpus paragraph) and its
    ``boilerplate`` are on the article's edges, none between two of its own paragraphs
    (:func:`dedup.boilerplate.at_edges` with ``both`` false, over the paragraphs of
    ``min_tokens``).  Why: a site's frame is its pages' header and footer (the README's
    "a frame paragraph in the middle of a page waits for the boilerplate count"), while a
    paragraph reused by several stories sits anywhere; without this, paragraphs copied
    into the middle of an article from stories stored after its first judgment were
    taken for furniture when it was added again (tester T5, session 12: 6 of 11 articles
    rejected by a first add accepted by the second)."""
    c = signed.corpus
    counts = signed.first[docs + 1] - signed.first[docs]
    paras = ranges(signed.first[docs], counts)
    owner = np.repeat(np.arange(len(docs)), counts)
    carried = member(owner, paras, shared_pair, shared_para) | boilerplate[paras]
    compared = c.para_words[paras] >= s.min_tokens
    return at_edges(owner[compared], ~carried[compared], len(docs), both=False)


def _at_edges(signed: Signed, docs: np.ndarray, texts: list[str], s: Settings) -> np.ndarray:
    """Whether the paragraphs each article (``docs``) and its stored page (``texts``,
    one each) both carry are the header and footer of both
    (:func:`dedup.boilerplate.at_edges`, over the paragraphs of ``min_tokens``)."""
    c = signed.corpus
    shape = outline(texts, s)
    stored_doc, stored_key, stored_words = shape.text_of, shape.keys, shape.words
    counts = signed.first[docs + 1] - signed.first[docs]
    paras = ranges(signed.first[docs], counts)
    n = len(docs)
    owner = np.r_[np.repeat(np.arange(n), counts), stored_doc]
    keys = np.r_[c.para_key[paras], stored_key]
    side = np.r_[np.zeros(len(paras), np.int64), np.ones(len(stored_key), np.int64)]
    words = np.r_[c.para_words[paras], stored_words]
    # A text is carried by both pages when its (pair, key) occurs on both sides.
    a, b = side == 0, side == 1
    carried = np.empty(len(keys), bool)
    carried[a] = member(owner[a], keys[a], owner[b], keys[b])
    carried[b] = member(owner[b], keys[b], owner[a], keys[a])
    compared = words >= s.min_tokens
    page = (owner * 2 + side)[compared]
    return at_edges(page, ~carried[compared], 2 * n).reshape(n, 2).all(axis=1)


def _rest_sets(signed: Signed, docs: np.ndarray, boilerplate: np.ndarray, shared_pair: np.ndarray,
               shared_para: np.ndarray) -> SetTable:
    """One shingle set per pair: the union of its article's (``docs``) paragraphs that
    are neither ``boilerplate`` nor shared with the pair's stored document
    (``shared_pair``/``shared_para``: pair number, corpus paragraph), without the
    shingles of the shared ones (:func:`dedup.boilerplate.outside`)."""
    sh = signed.corpus.shingles
    order = np.argsort(shared_pair, kind="stable")
    lengths = sh.offsets[shared_para[order] + 1] - sh.offsets[shared_para[order]]
    sizes = np.bincount(shared_pair[order], weights=lengths, minlength=len(docs)).astype(np.int64)
    shared = unique_sets(sh.hashes[ranges(sh.offsets[shared_para[order]], lengths)], offsets_from_counts(sizes))
    counts = signed.first[docs + 1] - signed.first[docs]
    paras = ranges(signed.first[docs], counts)
    owner = np.repeat(np.arange(len(docs)), counts)
    span = len(boilerplate) + 1
    left_out = boilerplate[paras] | np.isin(owner * span + paras, shared_pair * span + shared_para)
    paras, owner = paras[~left_out], owner[~left_out]
    lengths = sh.offsets[paras + 1] - sh.offsets[paras]
    sizes = np.bincount(owner, weights=lengths, minlength=len(docs)).astype(np.int64)
    return outside(unique_sets(sh.hashes[ranges(sh.offsets[paras], lengths)], offsets_from_counts(sizes)), shared)
