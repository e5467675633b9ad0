"""Coverage of the contained pairs of a check (:func:`dedup.verify.coverage`): a pair
whose Jaccard is below the threshold (or one-sided above it,
:func:`dedup.containment.relations`) is ``contained`` only when at least
:data:`~dedup.verify.COVERAGE` of its smaller side's words lie inside shingles the
larger side has, as in a scan -- paragraph pairs (:func:`covered`) and whole documents
(:func:`documents_covered`, a document's words being its paragraphs' but its
boilerplate, :func:`dedup.verify.pooled_coverage`, the scan's document rule).

The smaller side's shingles are needed in order.  A checked article has them from
signing.  A stored one does not (storage keeps sorted sets, the contract's rule 9
form), so its stored text is read back (:meth:`~dedup.storage.protocol.Storage.get`,
one read per stored document of such pairs: a stored text inside a checked one, after
exact verification, is rare) and outlined again (:func:`dedup.corpus.outline`): the
same text, split and normalized the same way, gives the same paragraphs and shingles
(the pipeline fingerprint, contract rule 7, guarantees it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional, Sequence

import numpy as np

from ..corpus import Outline, outline
from ..segments import SetTable, offsets_from_counts, ranges, sorted_unique, take_sets
from ..shingle import Shingles
from ..storage.optional import DocumentTexts, supports
from ..storage.protocol import IndexCorrupt, ParagraphRows, Storage
from ..storage.rowcheck import damaged
from ..verify import COVERAGE, coverage, pooled_coverage
from .signing import Signed


def covered(store: Storage, signed: Signed, checked: np.ndarray, rows: ParagraphRows, cand: np.ndarray,
            new_inside: np.ndarray) -> np.ndarray:
    """For contained pairs ``(checked[i], rows[cand[i]])`` (corpus paragraph of the
    check, stored row), whether the smaller side -- the checked paragraph where
    ``new_inside``, else the stored one -- is covered to :data:`COVERAGE` by the other:
    bool, one per pair."""
    out = np.zeros(len(checked), dtype=bool)
    mine = np.flatnonzero(new_inside)
    if len(mine):
        short = signed.corpus.shingles.take(checked[mine])
        out[mine] = coverage(short, take_sets(rows.sets, cand[mine])) >= COVERAGE
    theirs = np.flatnonzero(~new_inside)
    if len(theirs):
        stored = cand[theirs]
        docs, pages = _pages(store, rows.docs[stored])
        first = offsets_from_counts(np.bincount(pages.text_of, minlength=len(docs)))
        k = np.searchsorted(docs, rows.docs[stored])
        at = first[k] + rows.index[stored]
        if (at >= first[k + 1]).any():
            raise IndexCorrupt(damaged(store.path, f"stored paragraph row {int(rows.ids[stored][at >= first[k + 1]][0])}"
                                                   " lies past the end of its document's text"))
        out[theirs] = coverage(pages.shingles.take(at), signed.sets_of(checked[theirs])) >= COVERAGE
    return out


def documents_covered(store: Storage, signed: Signed, art: np.ndarray, stored: np.ndarray, table: SetTable,
                      pairs: np.ndarray, article_inside: np.ndarray, leave_out: np.ndarray,
                      own: Optional[Callable[[np.ndarray], np.ndarray]]) -> np.ndarray:
    """For document pairs (article ``art[i]`` of ``signed``, stored document row
    ``stored[i]``) scored as the sets ``pairs[i]`` = (article's, stored document's) of
    ``table``, whether the smaller side -- the article where ``article_inside``, else
    the stored document -- is covered to :data:`COVERAGE` by the other's set: bool, one
    per pair.  An article's words are those of its paragraphs not flagged in
    ``leave_out`` (bool per batch paragraph: its boilerplate, left out of its set too);
    a stored document's are those of its paragraphs ``own`` does not flag (its own
    boilerplate, :class:`~.tallies.StoredBoilerplate`), read back from its stored text."""
    out = np.zeros(len(art), dtype=bool)
    mine = np.flatnonzero(article_inside)
    if len(mine):
        a = art[mine]
        c = signed.corpus
        out[mine] = _pooled(c.shingles, leave_out, signed.first[a], signed.first[a + 1] - signed.first[a],
                            table, pairs[mine, 1]) >= COVERAGE
    theirs = np.flatnonzero(~article_inside)
    if len(theirs):
        rows, pages = _pages(store, stored[theirs])
        counts = np.bincount(pages.text_of, minlength=len(rows))
        k = np.searchsorted(rows, stored[theirs])
        left_out = own(pages.keys) if own is not None else np.zeros(len(pages.keys), bool)
        out[theirs] = _pooled(pages.shingles, left_out, offsets_from_counts(counts)[:-1][k], counts[k], table,
                              pairs[theirs, 0]) >= COVERAGE
    return out


def _pooled(shingles: Shingles, left_out: np.ndarray, first: np.ndarray, counts: np.ndarray, table: SetTable,
            other: np.ndarray) -> np.ndarray:
    """The coverage of each text made of paragraphs ``first[i] .. first[i] + counts[i]``
    of ``shingles`` but those ``left_out`` by set ``other[i]`` of ``table``
    (:func:`dedup.verify.pooled_coverage`)."""
    paras = ranges(first, counts)
    owner = np.repeat(np.arange(len(first)), counts)
    kept = ~left_out[paras]
    paras, owner = paras[kept], owner[kept]
    return pooled_coverage(shingles.take(paras), take_sets(table, other[owner]), owner, len(first))


def _pages(store: Storage, rows: np.ndarray) -> tuple[np.ndarray, Outline]:
    """The distinct document rows among ``rows`` (ascending) and their stored texts'
    paragraphs, outlined as signing does (text ``i`` of the outline is row ``i``).
    Raises :class:`~dedup.storage.protocol.IndexCorrupt` naming a document that has
    rows but no stored text."""
    docs = sorted_unique(rows)
    found = store.documents(docs)
    if len(found.ids) < len(docs):
        lost = np.setdiff1d(docs, found.ids).tolist()
        raise IndexCorrupt(damaged(store.path, f"stored rows belong to document row {lost[0]}, which is not found"))
    text = dict(zip(found.ids.tolist(), found.doc_ids))
    return docs, outline(stored_texts(store, docs, [text[d] for d in docs.tolist()]), store.settings)


def stored_texts(store: Storage, rows: np.ndarray, doc_ids: Sequence[str]) -> list[str]:
    """The texts of the stored documents ``rows`` (row ids) whose public ids are
    ``doc_ids`` (aligned): in one read from a backend that has
    :class:`~dedup.storage.optional.DocumentTexts`, else one :func:`stored_text` each."""
    if not supports(store, DocumentTexts):
        return [stored_text(store, doc_id) for doc_id in doc_ids]
    texts = store.document_texts(rows)
    lost = [doc_id for row, doc_id in zip(rows.tolist(), doc_ids) if row not in texts]
    if lost:
        raise IndexCorrupt(damaged(store.path, f"document {lost[0]!r} has rows but no text"))
    return [texts[row] for row in rows.tolist()]


def stored_text(store: Storage, doc_id: str) -> str:
    """A stored document's text (:func:`~.furniture.frames` reads a stored page's
    paragraphs in order only when its template rule needs them, coverage when a
    stored text is inside a checked one)."""
    stored = store.get(doc_id)
    if stored is None:
        raise IndexCorrupt(damaged(store.path, f"document {doc_id!r} has rows but no text"))
    return stored.text
