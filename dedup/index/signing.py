"""An article batch signed once, for the index: what a check looks up and an add writes.

Reuses the scan's stages (nothing is re-implemented here): the articles are signed like
a scan batch (:func:`dedup.corpus.sign_documents`), a document-level signature is the
minimum of its paragraphs' (:func:`dedup.detect.document_items`), and both are cut into
band keys (:func:`dedup.lsh.band_keys`).  :data:`DERIVE` is the same algorithm handed to
storage backends, which must not import it (:class:`dedup.storage.protocol.Derive`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..corpus import Corpus, sign_documents
from ..detect import document_items
from ..lsh import band_keys
from ..minhash import EMPTY
from ..minhash import signatures as minhash_signatures
from ..readers import Document
from ..segments import SetTable, offsets_from_counts, ranges, unique_sets
from ..settings import Settings
from ..shingle import Shingles
from ..sketch import sketch, sketch_width
from ..storage.protocol import NewDocument, Storage

_PROBE = (
    "A fixed probe text, \u201cnormalized\u201d \u2014 shingled, signed and banded \u2014 "
    "whenever an index is created or opened.\n\nIts second PARAGRAPH, with numbers 1 2 3."
)


@dataclass(frozen=True)
class Signed:
    """A signed batch: the corpus plus document-level signatures and all band keys."""

    corpus: Corpus
    first: np.ndarray  # paragraph offsets per document
    para_bands: np.ndarray  # (paragraphs, bands)
    doc_signatures: np.ndarray  # (documents, num_perm)
    doc_keys: np.ndarray
    doc_bands: np.ndarray  # (documents, bands)

    def eligible(self, d: int, min_words: int) -> tuple[int, int, np.ndarray]:
        """Article ``d``'s paragraph range and its paragraphs long enough to compare."""
        lo, hi = int(self.first[d]), int(self.first[d + 1])
        return lo, hi, lo + np.flatnonzero(self.corpus.para_words[lo:hi] >= min_words)


def sign(texts: Sequence[str], s: Settings) -> Signed:
    """Sign ``texts`` (one article each) in one vectorized pass."""
    corpus = sign_documents([Document(str(i), t) for i, t in enumerate(texts)], s)
    items, docs = document_items(corpus)
    n = len(corpus.documents)
    doc_sigs = np.full((n, s.num_perm), EMPTY, dtype=np.uint32)
    doc_sigs[docs] = items.signatures
    doc_keys = np.zeros(n, dtype=np.uint64)
    doc_keys[docs] = items.keys
    return Signed(
        corpus=corpus,
        first=corpus.doc_offsets(),
        para_bands=band_keys(corpus.signatures, s.bands, s.rows),
        doc_signatures=doc_sigs,
        doc_keys=doc_keys,
        doc_bands=band_keys(doc_sigs, s.bands, s.rows),
    )


def sets_of(corpus: Corpus, paragraphs: np.ndarray) -> SetTable:
    """Sorted unique shingle sets of the given paragraphs of a signed corpus."""
    sh = corpus.shingles
    starts, ends = sh.offsets[paragraphs], sh.offsets[np.asarray(paragraphs) + 1]
    return unique_sets(sh.hashes[ranges(starts, ends - starts)], offsets_from_counts(ends - starts))


def new_document(
    store: Storage, text: str, doc_id: str, meta: Optional[Mapping[str, Any]], digest: str, signed: Signed, d: int,
    same: bool,
) -> NewDocument:
    """The rows to store for ``text`` (already signed as article ``d`` when ``same``;
    a stripped remainder is signed anew, its spans being different); ``digest`` is
    that of the text as given (:func:`dedup.index.items.digest`).  Only the first
    stored copy of a text is banded (contract rule 5, :mod:`dedup.storage.protocol`)."""
    s = store.settings
    if not same:
        signed, d = sign([text], s), 0
    c = signed.corpus
    lo, hi = int(signed.first[d]), int(signed.first[d + 1])
    para = np.arange(lo, hi)
    keys = c.para_key[para]
    first_here = np.zeros(len(para), dtype=bool)
    first_here[np.unique(keys, return_index=True)[1]] = True
    banded = (c.para_words[para] >= s.min_words) & first_here & ~store.known_keys("paragraph", keys)
    doc_key = signed.doc_keys[d : d + 1]
    doc_banded = not store.known_keys("document", doc_key)[0]
    return NewDocument(
        doc_id=doc_id,
        text=text,
        meta=meta,
        digest=digest,
        key=int(doc_key[0]),
        signature=signed.doc_signatures[d],
        doc_banded=doc_banded,
        para_index=c.para_index[para],
        para_start=c.para_start[para],
        para_end=c.para_end[para],
        para_words=c.para_words[para],
        para_keys=keys,
        para_signatures=c.signatures[para],
        para_sets=sets_of(c, para),
        banded=banded,
    )


def pipeline_fingerprint(settings: Settings) -> str:
    """A digest of what this dedup makes of a fixed probe text under ``settings``:
    content keys, MinHash signatures and band keys.

    Why: an index stores the *outputs* of normalization, shingle hashing, MinHash and
    banding.  If any of them changes in a later version, stored buckets and signatures
    silently stop matching new ones; comparing this digest on open turns that into a
    clear error (settings alone cannot tell).
    """
    corpus = sign_documents([Document("probe", _PROBE)], settings)
    keys = band_keys(corpus.signatures, settings.bands, settings.rows)
    data = corpus.para_key.tobytes() + corpus.signatures.astype("<u4").tobytes() + keys.astype("<u8").tobytes()
    return hashlib.sha256(data).hexdigest()[:32]


class _Derive:
    """The algorithm as storage backends see it (:class:`dedup.storage.protocol.Derive`)."""

    def fingerprint(self, settings: Settings) -> str:
        return pipeline_fingerprint(settings)

    def bands(self, settings: Settings, signatures: np.ndarray) -> np.ndarray:
        return band_keys(signatures, settings.bands, settings.rows)

    def signatures(self, settings: Settings, sets: SetTable) -> np.ndarray:
        shingles = Shingles(hashes=sets.values, offsets=sets.offsets, units=np.diff(sets.offsets))
        return minhash_signatures(shingles, settings.num_perm, settings.seed)

    def sketches(self, signatures: np.ndarray) -> np.ndarray:
        return sketch(signatures)

    def sketch_width(self, settings: Settings) -> int:
        return sketch_width(settings.num_perm)


DERIVE = _Derive()
