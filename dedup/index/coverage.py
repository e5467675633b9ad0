"""Coverage of the contained paragraph pairs of a check (:func:`dedup.verify.coverage`):
a pair whose Jaccard is below the threshold is ``contained`` only when at least
:data:`~dedup.verify.COVERAGE` of its smaller side's words lie inside shingles the
larger side has, as in a scan.

The smaller side's shingles are needed in order.  A checked paragraph has them from
signing.  A stored one does not (storage keeps sorted sets, the contract's rule 9
form), so its stored text is read back (:meth:`~dedup.storage.protocol.Storage.get`,
one read per stored document of such pairs: a stored paragraph inside a checked one,
after exact verification, is rare) and shingled again: the same text, split and
normalized the same way, gives the same shingles (the pipeline fingerprint, contract
rule 7, guarantees it).
"""

from __future__ import annotations

import numpy as np

from ..normalize import normalize
from ..segments import sorted_unique, take_sets
from ..shingle import shingle
from ..storage.protocol import ParagraphRows, Storage
from ..verify import COVERAGE, coverage
from .documents import stored_text
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
        short = shingle(_stored_texts(store, rows, cand[theirs]), store.settings.unit, store.settings.ngram)
        out[theirs] = coverage(short, signed.sets_of(checked[theirs])) >= COVERAGE
    return out


def _stored_texts(store: Storage, rows: ParagraphRows, which: np.ndarray) -> list[str]:
    """The normalized texts of stored paragraph rows ``rows[which]``, read from their
    documents' stored texts.  Raises :class:`~dedup.storage.protocol.IndexCorrupt` naming
    the document when a row's document has no stored text."""
    docs = sorted_unique(rows.docs[which])
    found = store.documents(docs)
    text = {int(row): stored_text(store, doc_id) for row, doc_id in zip(found.ids.tolist(), found.doc_ids)}
    return [normalize(text[d][start:end]) for d, start, end in
            zip(rows.docs[which].tolist(), rows.start[which].tolist(), rows.end[which].tolist())]
