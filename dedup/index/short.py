"""Exact copies of an article's short paragraphs in the stored documents it matches.

Below ``min_tokens`` a paragraph is matched only as an exact copy (the same content key),
as in a scan.  The index lists such a copy -- strips it, and weighs it in the seen
share of an article with no longer paragraph (:mod:`.judge`) -- only in a stored
document the article matches otherwise: one that
shares a compared paragraph with it (near-duplicate or contained), is similar to it as a
whole, contains it, is inside it, or is its exact copy (:mod:`.documents`).  A short text
alone -- a dateline, a byline, a heading shared with an otherwise different story -- is
no sign that the story was seen (news agencies repeat them across unrelated stories),
so on its own it is neither listed nor counted, and it never makes an article "partly
seen".  In a document that matches, it is the same story's heading, byline or caption.

Why this shape: the look-up is one read of the places of those documents' paragraphs
with the short texts' keys (:meth:`~dedup.storage.protocol.Storage.paragraph_places`:
no signatures or shingle sets; the documents are those the check has just read, so
Redis answers from what the transaction holds), at most one match per (short
paragraph, stored document), and nothing enters the batch relation (:mod:`.batch`): a
stored document is listed only where the article matches it otherwise, which already
relates two articles of a batch.  (Session 18 looked every short paragraph up in the
whole index, f0bce75: a check of 5,000 short lines held 260 MB, bylines made ``add_many``
look nearly every article up alone, 8x the CPU, and a shared dateline made 31 of 128 new
stories "partly seen".)
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..segments import ranges
from ..storage.protocol import Storage
from ..verdict import ParagraphMatch
from .signing import Signed


def short_copies(store: Storage, signed: Signed, arts: np.ndarray, short: np.ndarray, pair_art: np.ndarray,
                 pair_doc: np.ndarray) -> dict[tuple[int, int], list[ParagraphMatch]]:
    """The exact copies of the paragraphs ``short`` (corpus indices of the articles
    ``arts``' paragraphs under ``min_tokens``, ascending) in the stored documents each
    article is listed with (``pair_art[t]``: a position in ``arts``; ``pair_doc[t]``: a
    stored document row), as :class:`ParagraphMatch` es by ``(article position,
    document row)``: one per short paragraph and stored document (its first copy
    there, by row id), exact, similarity 1.  One storage read for all of them."""
    c = signed.corpus
    out: dict[tuple[int, int], list[ParagraphMatch]] = defaultdict(list)
    pair_art, pair_doc = np.asarray(pair_art, dtype=np.int64), np.asarray(pair_doc, dtype=np.int64)
    owner = np.searchsorted(arts, c.para_doc[short])  # each short paragraph's article position
    short = short[np.isin(owner, pair_art)]
    if not len(short):
        return out
    owner = np.searchsorted(arts, c.para_doc[short])
    keys, key_of = np.unique(c.para_key[short], return_inverse=True)
    docs, doc_of = np.unique(pair_doc, return_inverse=True)
    places = store.paragraph_places(docs, keys)
    # The first copy (lowest row id: they come in row order) of each text in each document.
    code = np.searchsorted(docs, places.docs) * len(keys) + np.searchsorted(keys, places.keys)
    code, first = np.unique(code, return_index=True)
    # Every (short paragraph, listed pair) of the same article, as codes of (document, text).
    by_art = np.argsort(pair_art, kind="stable")
    lo = np.searchsorted(pair_art[by_art], owner, side="left")
    count = np.searchsorted(pair_art[by_art], owner, side="right") - lo
    para = np.repeat(np.arange(len(short)), count)
    pair = by_art[ranges(lo, count)]
    wanted = doc_of[pair] * len(keys) + key_of.ravel()[para]
    at = np.minimum(np.searchsorted(code, wanted), max(len(code) - 1, 0))
    hit = np.flatnonzero(code[at] == wanted) if len(code) else np.zeros(0, np.int64)
    row = first[at[hit]]
    p = short[para[hit]]
    for a, doc, index, start, end, s_index, s_start, s_end in zip(
            pair_art[pair[hit]].tolist(), pair_doc[pair[hit]].tolist(), c.para_index[p].tolist(),
            c.para_start[p].tolist(), c.para_end[p].tolist(), places.index[row].tolist(),
            places.start[row].tolist(), places.end[row].tolist()):
        out[(a, doc)].append(ParagraphMatch(
            paragraph=index, start=start, end=end, stored_paragraph=s_index, stored_start=s_start,
            stored_end=s_end, similarity=1.0, containment=(1.0, 1.0), estimate=1.0, exact=True))
    return out
