"""Document-level matches of checked articles: stored documents sharing verified
paragraphs with an article, or similar to it as a whole (document band keys -> sketch
floor -> estimate floor), or exact copies of it, each scored as a whole document."""

from __future__ import annotations

from collections import defaultdict
from typing import Optional

import numpy as np

from ..containment import one_sided_below, relations
from ..minhash import estimate, floor
from ..segments import SetTable, first_unique, sorted_unique, unique_rows
from ..sketch import sketch, sketch_floor, sketch_matches_at, sketch_positions
from ..storage.protocol import IndexCorrupt, Storage
from ..storage.rowcheck import damaged, listed, plural
from ..verdict import DocumentMatch, DocumentRelation, ParagraphMatch
from ..verify import Scores, score_pairs
from .bytebound import equal_bound
from .coverage import documents_covered, stored_texts
from .furniture import frames
from .matches import MAX_COPIES, Found, hit_pairs, joined
from .short import short_copies
from .signing import Signed
from .tallies import StoredBoilerplate

#: Stored documents scored as whole documents per article (those sharing the most
#: paragraphs first); bounds the work when a text is repeated across the archive.
MAX_DOCUMENTS = 64


def document_matches(
    store: Storage, signed: Signed, arts: np.ndarray, eligible: np.ndarray, owner: np.ndarray, found: Found,
    boilerplate: np.ndarray | None = None, recurring: np.ndarray | None = None, counted: np.ndarray | None = None,
    short: np.ndarray | None = None,
) -> tuple[list[list[DocumentMatch]], np.ndarray, np.ndarray]:
    """For each article of ``arts`` (article numbers in ``signed``): the stored
    documents that share a verified paragraph with it or are similar to it as a whole,
    each scored as a whole document.  ``eligible``, ``owner``, ``found``: as given to
    and returned by :func:`paragraph_matches` (``owner``: positions in ``arts``).
    One look-up per kind for all the articles; the same lists as one article at a time.
    The articles' ``boilerplate`` paragraphs (bool per batch paragraph) are left out of
    the whole-document scores, on both sides: the stored document loses the shingles
    the article left out (:func:`dedup.verify.score_pairs`, ``whole``); so are the
    stored documents' own (:class:`~.tallies.StoredBoilerplate`, ``whole_b``).  A stored
    page in one frame with an article (:mod:`.furniture`) is scored without the
    paragraphs they share, and those of them that are ``recurring`` (bool per batch
    paragraph) are the article's furniture; a stored page that shares nothing but
    boilerplate and furniture is no match.  ``counted`` (bool per article of
    ``signed``, a batch add's): see :class:`~.tallies.StoredBoilerplate`.  Returns the
    matches, the furniture (bool per batch paragraph) and, per article of ``arts``,
    whether a look-up of it alone would leave other paragraphs of the stored pages out
    (:attr:`.tallies.StoredBoilerplate.differs`).  ``short`` (corpus indices, ascending):
    the articles' paragraphs under ``min_tokens``, listed where a stored document that
    matches holds an exact copy (:mod:`.short`; boilerplate ones left out)."""
    s = store.settings
    c = signed.corpus
    n = len(arts)
    # Stored documents sharing matched paragraphs, most shared first, then by row id --
    # paragraphs that are not boilerplate: a page sharing only a site's boilerplate is
    # no candidate (it would be scored, then left out as no match; tester T7).
    match_art = owner[found.new]
    span = int(found.rows.docs.max()) + 1 if len(match_art) else 1
    linking = slice(None) if boilerplate is None else ~boilerplate[eligible[found.new]]
    shared_pairs, _, shared = first_unique((match_art * span + found.rows.docs)[linking])
    shared_art, shared_doc = shared_pairs // span, shared_pairs % span
    ranked = np.lexsort((shared_doc, -shared, shared_art))
    ranked_bounds = np.searchsorted(shared_art[ranked], np.arange(n + 1)).tolist()
    ranked_docs = shared_doc[ranked].tolist()
    # Similar as a whole: document band keys -> sketch floor -> estimate floor.
    query = signed.doc_bands[arts, : s.bands]  # (spare bands: paragraphs only, :mod:`.bands`)
    hit_keys, doc_hits, doc_sketches = store.candidates("document", query.ravel())
    qa, refs, entry = hit_pairs(query, hit_keys, doc_hits)
    near = sketch_matches_at(sketch(signed.doc_signatures[arts]), qa, doc_sketches, entry) >= sketch_floor(
        s.doc_threshold, sketch_positions(s.num_perm))
    at = np.flatnonzero(near)  # the floor on the signature bytes first (exact: :mod:`.bytebound`)
    near[at] = equal_bound(store, "document", signed.doc_signatures[arts], refs[at], qa[at]) / s.num_perm >= floor(
        s.doc_threshold, s.num_perm)
    hit_ids, hit_signatures = store.document_signatures(sorted_unique(refs[near]))
    near &= np.isin(refs, hit_ids)
    qa, refs = qa[near], refs[near]
    plausible = estimate(signed.doc_signatures[arts[qa]], hit_signatures[np.searchsorted(hit_ids, refs)]
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
        return out, np.zeros(len(c.para_key), bool), np.zeros(n, bool)
    docs = store.documents(np.array(pair_doc, dtype=np.int64))
    lost = np.setdiff1d(np.array(pair_doc, dtype=np.int64), docs.ids)
    if len(lost):  # owners of paragraph rows read (the copies and hits are rows read)
        raise IndexCorrupt(damaged(store.path, f"stored paragraph rows belong to document row{plural(lost)} "
                                               f"{listed(lost.tolist())}, which {'are' if len(lost) > 1 else 'is'} "
                                               "not found"))
    pa = np.array(pair_art, dtype=np.int64)
    pos = np.searchsorted(docs.ids, np.array(pair_doc, dtype=np.int64))
    scored = sorted_unique(pa)
    unions = signed.document_sets(arts[scored], boilerplate)
    own = StoredBoilerplate(store, signed, arts, counted) if s.boilerplate else None
    stored_sets = store.document_sets(docs.ids, own)  # without their own boilerplate
    table = joined(unions, stored_sets)
    pairs = np.stack([np.searchsorted(scored, pa), len(scored) + pos], axis=1)
    whole = whole_b = None
    if boilerplate is not None and boilerplate.any():  # left out of the stored side too
        whole = len(table.offsets) - 1 + pairs[:, 0]
        table = joined(table, signed.document_sets(arts[scored]))
    if own is not None and own.left_out:  # and a stored page's own, out of the article
        whole_b = len(table.offsets) - 1 + pos
        table = joined(table, store.document_sets(docs.ids))
    scores = score_pairs(table, pairs, whole, whole_b)
    # Paragraphs shared word for word with a stored page whose other content is
    # unrelated are the site's frame (:mod:`.furniture`): such pairs are scored without them.
    common = np.zeros(len(c.para_key), bool) if boilerplate is None else boilerplate
    exact = np.flatnonzero(found.exact)
    width = int(max(docs.ids.max(), found.rows.docs.max(initial=0))) + 1
    codes = pa * width + docs.ids[pos]  # one per pair, unique
    wanted = match_art[exact] * width + found.rows.docs[exact]
    by_code = np.argsort(codes)
    at = np.minimum(np.searchsorted(codes[by_code], wanted), len(codes) - 1)
    hit = codes[by_code][at] == wanted
    furniture = np.zeros(len(c.para_key), bool)
    if s.boilerplate:
        recurs = np.zeros(len(c.para_key), bool) if recurring is None else recurring
        def pages(read: np.ndarray) -> list[str]:
            return stored_texts(store, docs.ids[read], [docs.doc_ids[j] for j in read.tolist()])
        def stored_covered(which: np.ndarray) -> np.ndarray:
            return documents_covered(store, signed, arts[pa[which]], docs.ids[pos[which]], table, pairs[which],
                                     np.zeros(len(which), bool), common, own)
        # Carried: an exact copy in two stored documents or more (those listed, up to MAX_COPIES).
        carried_para, _ = unique_rows(eligible[found.new[exact]], found.rows.docs[exact])
        carried = np.bincount(carried_para, minlength=len(c.para_key)) >= 2
        _, scores, framed, held = frames(signed, arts, pa, stored_sets, pos, scores, by_code[at[hit]],
                                         eligible[found.new[exact[hit]]], common, recurs, carried, pages,
                                         stored_covered, s)
        furniture = framed & recurs
    common = common | furniture
    relation = _relations(store, signed, arts[pa], docs.ids[pos], table, pairs, scores, boilerplate, own)
    if s.boilerplate:
        for t in np.flatnonzero(held).tolist():  # at least ``contains`` (furniture._only_judged)
            if relation[t] in (None, "duplicate"):
                relation[t] = "contains"
    est = estimate(signed.doc_signatures[arts[pa]], docs.signatures[pos])
    para_of = _listed_paragraphs(signed, eligible, found, match_art, codes[by_code], width)
    first_para = signed.first[arts].tolist()
    lesser = np.minimum(scores.containment_a, scores.containment_b) < one_sided_below(s.doc_threshold)
    kept = []  # the pairs listed
    for t, (a, j) in enumerate(zip(pair_art, pos.tolist())):
        paragraphs = para_of.get((a, int(docs.ids[j])), [])
        # Sharing quotes only (the scan's rule, :mod:`dedup.plan.quoted`) needs a quote
        # found: a pair whose paragraph look-up came back empty (crowded buckets) keeps
        # its document relation -- no paragraph pair is no evidence of quoting.
        compared = [p for p in paragraphs if not common[first_para[a] + p.paragraph]]
        if (relation[t] == "duplicate" and s.containment and lesser[t]
                and any(p.relation == "contained" for p in compared)
                and not any(p.relation == "near-duplicate" for p in compared)):
            relation[t] = None
        # A stored page sharing nothing but boilerplate is no match: the boilerplate
        # is listed once, in the verdict (tester T7: each such page was a match at 0.00).
        if relation[t] is not None or not all(common[first_para[a] + p.paragraph] for p in paragraphs):
            kept.append(t)
    # Short paragraphs' exact copies, in those pages only (:mod:`.short`).
    if short is not None and kept:
        for key, more in short_copies(store, signed, arts, short[~common[short]], pa[kept],
                                      docs.ids[pos[kept]]).items():
            para_of[key] = para_of.get(key, []) + more
    for t in kept:
        a, j = pair_art[t], int(pos[t])
        ref = int(docs.ids[j])
        paragraphs = tuple(sorted(para_of.get((a, ref), []), key=lambda p: (p.paragraph, p.stored_paragraph)))
        out[a].append(DocumentMatch(
            doc_id=docs.doc_ids[j],
            similarity=float(scores.jaccard[t]),
            containment=(float(scores.containment_a[t]), float(scores.containment_b[t])),
            estimate=float(est[t]),
            exact=bool(docs.keys[j] == signed.doc_keys[arts[a]]),
            chars=int(docs.chars[j]),
            paragraphs=paragraphs,
            relation=relation[t],
        ))
    for matches in out:
        matches.sort(key=lambda m: (-m.similarity, -len(m.paragraphs), m.doc_id))
    return out, furniture, (own.differs if own is not None else np.zeros(n, bool))


def _listed_paragraphs(signed: Signed, eligible: np.ndarray, found: Found, match_art: np.ndarray,
                       listed: np.ndarray, width: int) -> dict[tuple[int, int], list[ParagraphMatch]]:
    """The :class:`ParagraphMatch` es of ``found`` (``match_art``: each one's article
    position) by ``(article position, stored document row)``, only of the pairs
    ``listed`` (sorted codes ``article position * width + document row``): those scored.

    Why only those: an article repeating text stored in hundreds of documents has
    thousands of paragraph matches, many of them in documents past
    :data:`MAX_DOCUMENTS` that are never listed, and each object costs microseconds."""
    rows, c = found.rows, signed.corpus
    code = match_art * width + rows.docs
    at = np.minimum(np.searchsorted(listed, code), max(len(listed) - 1, 0))
    every = np.flatnonzero(listed[at] == code) if len(listed) else np.zeros(0, np.int64)
    para_of: dict[tuple[int, int], list[ParagraphMatch]] = defaultdict(list)
    # A chunk of the matches at a time as Python values: the fourteen lists of all of
    # them at once were ~260 MB of a check's 1.6 GB peak (513k matches: a 2 MiB article
    # stored 17 times, benchmarks/README-memory.md, session 24).
    for lo in range(0, len(every), LISTED_CHUNK):
        take = every[lo : lo + LISTED_CHUNK]
        p = eligible[found.new[take]]
        for a, doc, index, start, end, s_index, s_start, s_end, jac, ca, cb, est, exact, inside in zip(
                match_art[take].tolist(), rows.docs[take].tolist(), c.para_index[p].tolist(),
                c.para_start[p].tolist(), c.para_end[p].tolist(), rows.index[take].tolist(),
                rows.start[take].tolist(), rows.end[take].tolist(), found.jaccard[take].tolist(),
                found.cont_new[take].tolist(), found.cont_stored[take].tolist(), found.estimates[take].tolist(),
                found.exact[take].tolist(), found.contained[take].tolist()):
            para_of[(a, doc)].append(ParagraphMatch(
                paragraph=index, start=start, end=end, stored_paragraph=s_index, stored_start=s_start,
                stored_end=s_end, similarity=jac, containment=(ca, cb), estimate=est, exact=exact,
                relation="contained" if inside else "near-duplicate",
            ))
    return para_of


#: Paragraph matches made into objects at a time (:func:`_listed_paragraphs`).
LISTED_CHUNK = 8_192


def _relations(store: Storage, signed: Signed, art: np.ndarray, stored: np.ndarray, table: SetTable,
               pairs: np.ndarray, scores: Scores, boilerplate: np.ndarray | None,
               own: StoredBoilerplate | None) -> list[Optional[DocumentRelation]]:
    """Each pair's :attr:`DocumentMatch.relation`, by the scan's rule
    (:func:`dedup.containment.relations`): ``contained-in`` / ``contains`` when the
    smaller side is ``containment`` inside the other and covered
    (:func:`.coverage.documents_covered`), the article first, below ``doc_threshold``
    or one-sided above it (a stored brief that is a third of a story quoting it);
    else ``duplicate`` at ``doc_threshold``; else ``None``."""
    s = store.settings
    near, maybe = relations(scores.jaccard, scores.containment_a, scores.containment_b, s.doc_threshold,
                            s.containment)
    article_inner = scores.containment_a >= scores.containment_b
    inside = np.stack([maybe & article_inner, maybe & ~article_inner])
    for side in (0, 1):  # 0: the article inside the stored document, 1: the other way
        which = np.flatnonzero(inside[side])
        if len(which):
            leave_out = np.zeros(len(signed.corpus.para_key), bool) if boilerplate is None else boilerplate
            inside[side, which] = documents_covered(store, signed, art[which], stored[which], table, pairs[which],
                                                    np.full(len(which), side == 0), leave_out, own)
    near &= ~(inside[0] | inside[1])
    return ["duplicate" if n else "contained-in" if a else "contains" if b else None
            for n, a, b in zip(near.tolist(), inside[0].tolist(), inside[1].tolist())]


def exact_copies(store: Storage, key: int) -> list[DocumentMatch]:
    """Stored documents whose normalized text has the content key ``key``, as exact
    matches: how an article below the length rule is matched."""
    docs = store.document_copies(np.array([key], dtype=np.uint64), MAX_COPIES)
    return [
        DocumentMatch(doc_id=doc_id, similarity=1.0, containment=(1.0, 1.0), estimate=1.0, exact=True,
                      chars=int(chars), relation="duplicate")
        for doc_id, chars in zip(docs.doc_ids, docs.chars.tolist())
    ]
