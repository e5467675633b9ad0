"""An article batch signed once, for the index: what a check looks up and an add writes.

Reuses the scan's stages (nothing is re-implemented here): the articles are signed like
a scan batch (:func:`dedup.corpus.sign_documents`), a document-level signature is the
minimum of its paragraphs' (:func:`dedup.detect.document_items`), and both are cut into
band keys (:func:`dedup.lsh.band_keys`).  :data:`DERIVE` is the same algorithm handed to
storage backends, which must not import it (:class:`dedup.storage.protocol.Derive`).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace
from typing import Any, Iterator, Mapping, Optional, Protocol, Sequence

import numpy as np

from ..corpus import Corpus, DocumentInfo, sign_documents
from ..detect import document_items
from ..lsh import band_keys
from ..minhash import EMPTY
from ..minhash import load as minhash_load
from ..minhash import signatures as minhash_signatures
from ..plan.sign import may_be_long, signed_chunks
from ..readers import Document
from ..segments import SetTable, first_unique, offsets_from_counts, ranges, take_sets, unique_sets
from ..settings import Settings
from ..shingle import Shingles
from ..split import span_array
from ..sketch import sketch, sketch_width
from ..storage.protocol import NewDocument, Storage
from . import contain

_PROBE = (
    "A fixed probe text, \u201cnormalized\u201d \u2014 shingled, signed and banded \u2014 "
    "whenever an index is created or opened.\n\nIts second PARAGRAPH, with numbers 1 2 3."
)


class Executor(Protocol):
    """What :func:`sign` needs of an executor (:class:`dedup.plan.local.LocalExecutor`)."""

    jobs: int

    def map(self, stage: Any, tasks: Any) -> list: ...


@dataclass(frozen=True)
class Signed:
    """A signed batch: the corpus plus document-level signatures and band keys.
    Paragraphs' band keys are not held (576 bytes a paragraph at the defaults, more
    than its text): :func:`index_band_keys` makes them from the signatures of the
    paragraphs asked for, a chunk at a time (a long article's look-up, issue #12 F10)."""

    corpus: Corpus
    first: np.ndarray  # paragraph offsets per document
    doc_signatures: np.ndarray  # (documents, num_perm)
    doc_keys: np.ndarray
    doc_bands: np.ndarray  # (documents, bands + spare_bands)
    # Set when ``corpus.signatures`` is not held (a check of a batch with a long
    # article, :func:`sign`): :meth:`signatures_of` derives them from the shingle sets.
    # (Nor are ``corpus.para_preview``: the index reads none.)
    derive: Optional[Settings] = None

    def signatures_of(self, paragraphs: np.ndarray) -> np.ndarray:
        """The MinHash signatures of ``paragraphs`` (corpus indices), ``(len, num_perm)``
        uint32: taken from the corpus, or, when it holds none (``derive``), computed
        from their shingle sets -- the same values (the minimum over a paragraph's
        shingles is the minimum over its distinct ones), what a storage backend does
        (:meth:`_Derive.signatures`)."""
        if self.derive is None:
            return self.corpus.signatures[paragraphs]
        return DERIVE.signatures(self.derive, self.sets_of(np.asarray(paragraphs, dtype=np.int64)))

    def take(self, docs: np.ndarray) -> "Signed":
        """Articles ``docs`` (numbers into this batch, in that order) as a batch of their
        own: every array sliced, nothing signed again (shingle sets too, once computed)."""
        docs = np.asarray(docs, dtype=np.int64)
        counts = self.first[docs + 1] - self.first[docs]
        paras = ranges(self.first[docs], counts)
        c = self.corpus
        corpus = Corpus(
            documents=[c.documents[d] for d in docs.tolist()],
            para_doc=np.repeat(np.arange(len(docs), dtype=np.int64), counts),
            para_index=c.para_index[paras],
            para_start=c.para_start[paras],
            para_end=c.para_end[paras],
            para_words=c.para_words[paras],
            para_key=c.para_key[paras],
            para_preview=[c.para_preview[p] for p in paras.tolist()] if c.para_preview else [],
            shingles=c.shingles.take(paras),
            signatures=c.signatures if self.derive is not None else c.signatures[paras],
        )
        taken = Signed(corpus=corpus, first=offsets_from_counts(counts), doc_signatures=self.doc_signatures[docs],
                       doc_keys=self.doc_keys[docs], doc_bands=self.doc_bands[docs], derive=self.derive)
        if "sets" in self.__dict__:  # the cached property, computed: kept
            taken.__dict__["sets"] = take_sets(self.sets, paras)
        return taken

    def eligible(self, d: int, min_tokens: int) -> tuple[int, int, np.ndarray]:
        """Article ``d``'s paragraph range and its paragraphs long enough to compare."""
        lo, hi = int(self.first[d]), int(self.first[d + 1])
        return lo, hi, lo + np.flatnonzero(self.corpus.para_words[lo:hi] >= min_tokens)

    @functools.cached_property
    def sets(self) -> SetTable:
        """Every paragraph's sorted unique shingle set (computed once, when first asked:
        what an add stores, and what verification compares)."""
        sh = self.corpus.shingles
        return unique_sets(sh.hashes, sh.offsets)

    def sets_of(self, paragraphs: np.ndarray) -> SetTable:
        """The shingle sets of the given paragraphs (corpus indices), in that order."""
        return take_sets(self.sets, paragraphs)

    def document_sets(self, docs: np.ndarray, leave_out: Optional[np.ndarray] = None) -> SetTable:
        """The shingle set of each given article as a whole (the union of its paragraphs'),
        without the paragraphs flagged in ``leave_out`` (bool per corpus paragraph)."""
        sh = self.corpus.shingles
        docs = np.asarray(docs)
        if leave_out is None or not leave_out.any():
            starts, ends = sh.offsets[self.first[docs]], sh.offsets[self.first[docs + 1]]
            return unique_sets(sh.hashes[ranges(starts, ends - starts)], offsets_from_counts(ends - starts))
        paras = ranges(self.first[docs], self.first[docs + 1] - self.first[docs])
        owner = np.repeat(np.arange(len(docs)), self.first[docs + 1] - self.first[docs])
        paras, owner = paras[~leave_out[paras]], owner[~leave_out[paras]]
        lengths = sh.offsets[paras + 1] - sh.offsets[paras]
        counts = np.bincount(owner, weights=lengths, minlength=len(docs)).astype(np.int64)
        return unique_sets(sh.hashes[ranges(sh.offsets[paras], lengths)], offsets_from_counts(counts))


#: Articles below which a batch is signed in this process even with workers: a
#: check of one article must not wait for a process pool (and a part of ~32 articles
#: is ~40 ms of signing against ~1 ms of handing its signatures back).
PARALLEL_ARTICLES = 64


def sign(texts: Sequence[str], s: Settings, executor: Optional[Executor] = None, *, hold: bool = True) -> Signed:
    """Sign ``texts`` (one article each) in one vectorized pass -- with an ``executor``
    of several jobs and a batch of at least :data:`PARALLEL_ARTICLES`, in one part per
    job on its workers (the scan's :class:`~dedup.plan.local.LocalExecutor`): the same
    result, since every paragraph is signed on its own (a batch's exact copies are
    signed once and handed the same values).

    Without ``hold`` (what :class:`~dedup.index.Index` signs with, for a check or an
    add), a batch with an article that may
    have more than :data:`~dedup.plan.sign.CHUNK_PARAGRAPHS` paragraphs keeps no
    paragraph signatures (1 KB a paragraph at 256 permutations, ~80 % of what a
    signed paragraph holds): its articles are signed in this process, a long one a
    chunk at a time, each chunk's signatures reduced into the article's and dropped
    (with the paragraphs' previews, which the index never reads, ~70 bytes each),
    and the look-up derives a chunk's again from its shingle sets when it needs them
    (:meth:`Signed.signatures_of`; issue #12, F10: ``dedup check`` of one 13 MiB
    article of 851,968 one-line paragraphs peaked at 1,469 MB RSS), and an add's
    backend a written block's (:func:`new_document`; session 22: an add of 4 MiB of
    three-word lines peaked at 886 MB on SQLite, 727 MB on Redis)."""
    documents = [Document(str(i), t) for i, t in enumerate(texts)]
    if not hold and any(may_be_long(doc) for doc in documents):
        return _signed(*_unheld(documents, s), s, derive=s)
    jobs = getattr(executor, "jobs", 1)
    if executor is None or jobs <= 1 or len(texts) < PARALLEL_ARTICLES:
        corpus = sign_articles(documents, s)
    else:  # parts of about equal text (signing costs about the same per character)
        minhash_load()  # before the workers fork, not in each of them
        chars = np.cumsum([len(t) for t in texts])
        cuts = np.r_[0, np.searchsorted(chars, chars[-1] * np.arange(1, jobs) / jobs), len(texts)]
        parts = executor.map(sign_articles, [(documents[lo:hi], s) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo])
        corpus = Corpus.concat(parts, s.num_perm)
    return _signed(corpus, *_document_level(corpus, s), s)


def _document_level(corpus: Corpus, s: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Each document's signature (the minimum of its paragraphs', :func:`dedup.detect.document_items`)
    and content key."""
    items, docs = document_items(corpus)
    n = len(corpus.documents)
    doc_sigs = np.full((n, s.num_perm), EMPTY, dtype=np.uint32)
    doc_sigs[docs] = items.signatures
    doc_keys = np.zeros(n, dtype=np.uint64)
    doc_keys[docs] = items.keys
    return doc_sigs, doc_keys


def _signed(corpus: Corpus, doc_sigs: np.ndarray, doc_keys: np.ndarray, s: Settings,
            derive: Optional[Settings] = None) -> Signed:
    return Signed(corpus=corpus, first=corpus.doc_offsets(), doc_signatures=doc_sigs, doc_keys=doc_keys,
                  doc_bands=index_band_keys(doc_sigs, s), derive=derive)


def _unheld(documents: Sequence[Document], s: Settings) -> tuple[Corpus, np.ndarray, np.ndarray]:
    """:func:`sign_articles` without the paragraph signatures: the corpus (holding
    none), the documents' signatures and keys."""
    parts: list[Corpus] = []
    sigs: list[np.ndarray] = []
    keys: list[np.ndarray] = []

    def reduced(corpus: Corpus, signature: Optional[np.ndarray] = None) -> None:
        if signature is not None:  # a long article: its paragraphs' minimum, repeated (a
            corpus = replace(corpus, signatures=np.broadcast_to(signature, (corpus.paragraphs, s.num_perm)))
        doc_sigs, doc_keys = _document_level(corpus, s)  # view, no memory) reduces to itself
        sigs.append(doc_sigs)
        keys.append(doc_keys)
        parts.append(replace(corpus, signatures=np.zeros((0, s.num_perm), np.uint32), para_preview=[]))

    for piece in _pieces(documents, s, hold=False):
        reduced(*piece)
    return Corpus.concat(parts, s.num_perm), np.concatenate(sigs), np.concatenate(keys)


def sign_articles(documents: Sequence[Document], s: Settings) -> Corpus:
    """:func:`~dedup.corpus.sign_documents`, but an article that may have more than
    :data:`~dedup.plan.sign.CHUNK_PARAGRAPHS` paragraphs is signed a chunk of them at a
    time, as a scan signs it (:func:`dedup.plan.sign.signed_chunks`): the same corpus,
    while signing's temporaries (split, normalized text, shingles, MinHash) are a
    chunk's, not a whole article's (tester's F10 of session 16: one 13 MB article of
    850k one-line paragraphs peaked at 2.1 GB RSS in signing, 1.1 GB above what it kept)."""
    parts = [corpus for corpus, _ in _pieces(documents, s)] or [sign_documents([], s)]
    return parts[0] if len(parts) == 1 else Corpus.concat(parts, s.num_perm)


def _pieces(documents: Sequence[Document], s: Settings, hold: bool = True
            ) -> Iterator[tuple[Corpus, Optional[np.ndarray]]]:
    """``documents`` signed in order, a piece at a time: each run of articles that
    cannot be long (:func:`~dedup.plan.sign.may_be_long`) together, as ``(corpus,
    None)`` (:func:`~dedup.corpus.sign_documents`); each that may be, a chunk of
    paragraphs at a time, as :func:`_long_article` ``(doc, s, hold)`` gives it.  The one
    long-article rule of :func:`sign_articles` and :func:`_unheld`."""
    run: list[Document] = []
    for doc in documents:
        if not may_be_long(doc):
            run.append(doc)
            continue
        if run:
            yield sign_documents(run, s), None
            run = []
        yield _long_article(doc, s, hold)
    if run:
        yield sign_documents(run, s), None


def _long_article(doc: Document, s: Settings, hold: bool = True) -> tuple[Corpus, Optional[np.ndarray]]:
    """``doc`` signed a chunk of paragraphs at a time, as one article: the chunks'
    spans and paragraph numbers moved to where they are in the whole text, their
    signatures copied into the article's as each chunk is signed (never held twice);
    without ``hold``, reduced into the article's signature instead (returned second;
    the corpus then holds no paragraph signature)."""
    spans = span_array(doc.text)
    signatures = np.empty((len(spans) if hold else 0, s.num_perm), dtype=np.uint32)
    least = None if hold else np.full(s.num_perm, EMPTY, dtype=np.uint32)
    chunks = []
    for part in signed_chunks(doc, s, spans):
        c = part.corpus
        if least is None:
            signatures[part.first : part.first + c.paragraphs] = c.signatures
        elif c.paragraphs:
            np.minimum(least, c.signatures.min(axis=0), out=least)
        chunks.append(replace(c, para_index=c.para_index + part.first, para_start=c.para_start + part.at,
                              para_end=c.para_end + part.at, signatures=signatures[:0],
                              para_preview=c.para_preview if hold else []))
    whole = Corpus.concat(chunks, s.num_perm)
    return replace(whole, documents=[DocumentInfo(doc.path, len(doc.text), whole.paragraphs, doc.source)],
                   para_doc=np.zeros(whole.paragraphs, np.int64), signatures=signatures), least


def long_enough(first: np.ndarray, words: np.ndarray, min_tokens: int) -> np.ndarray:
    """Whether each document (paragraphs ``first[d]:first[d + 1]`` of ``words``, the
    tokens per paragraph) is long enough to compare: ``min_tokens`` tokens in all, the
    scan's rule for a document (:mod:`dedup.plan.band`), bool per document.  So a long
    text made only of short lines (verse, a list, subtitles: no paragraph of
    ``min_tokens``) is looked up and banded by its whole-document signature (tester's
    F3 of session 19: a 40-line list with 2 lines changed was "new" to the index while
    the scan paired it at 0.90); under the rule a document is matched only as an exact
    copy, by its content key."""
    running = np.r_[0, np.cumsum(words, dtype=np.int64)]
    return running[first[1:]] - running[first[:-1]] >= min_tokens


def index_band_keys(signatures: np.ndarray, s: Settings) -> np.ndarray:
    """The Jaccard band keys an index stores and looks up: ``(n, bands + spare_bands)``
    uint64 (:func:`dedup.lsh.band_keys`; the first ``bands`` columns are a scan's keys,
    the spare ones let a look-up leave heavy buckets out, :mod:`.bands`)."""
    return band_keys(signatures, s.bands + s.spare_bands, s.rows)


def slice_sets(table: SetTable, lo: int, hi: int) -> SetTable:
    """The sets ``lo:hi`` of ``table`` (views, no copy)."""
    start = table.offsets[lo]
    return SetTable(table.values[start : table.offsets[hi]], table.offsets[lo : hi + 1] - start)


def new_document(
    s: Settings, text: str, doc_id: str, meta: Optional[Mapping[str, Any]], digest: str, signed: Signed, d: int,
    same: bool,
) -> NewDocument:
    """The rows to store for ``text`` (already signed as article ``d`` when ``same``;
    a stripped remainder is signed anew, its spans being different), not yet banded
    (:func:`banded` decides that for a whole batch); ``digest`` is that of the text as
    given (:func:`dedup.index.items.digest`).  A batch signed without its paragraph
    signatures (:func:`sign` without ``hold``) hands none over: the backend derives
    them from the shingle sets a block at a time as it writes
    (:class:`~dedup.storage.protocol.NewDocument`), so an add of a long article never
    holds them all (issue #12)."""
    if not same:
        signed, d = sign([text], s, hold=False), 0
    c = signed.corpus
    lo, hi = int(signed.first[d]), int(signed.first[d + 1])
    para = np.arange(lo, hi)
    return NewDocument(
        doc_id=doc_id,
        text=text,
        meta=meta,
        digest=digest,
        key=int(signed.doc_keys[d]),
        signature=signed.doc_signatures[d],
        doc_banded=False,
        para_index=c.para_index[para],
        para_start=c.para_start[para],
        para_end=c.para_end[para],
        para_words=c.para_words[para],
        para_keys=c.para_key[para],
        # (a view of the batch's, not a copy: 1 KB a paragraph at 256 permutations;
        # a batch that holds none leaves them to the backend, a block at a time)
        para_signatures=c.signatures[lo:hi] if signed.derive is None else None,
        para_sets=slice_sets(signed.sets, lo, hi),  # all the batch's sets at once
        banded=np.zeros(hi - lo, dtype=bool),
    )


def banded(store: Storage, docs: Sequence[NewDocument]) -> list[NewDocument]:
    """``docs`` (to be stored in this order) with what goes into the LSH buckets
    marked: a paragraph long enough to compare whose text is neither stored nor in an
    earlier paragraph of the batch, a document whose text is neither stored nor earlier
    in the batch (contract rule 5, :mod:`dedup.storage.protocol`).  Two look-ups for
    the whole batch; the same marks as storing the documents one at a time."""
    if not docs:
        return []
    s = store.settings
    keys = np.concatenate([doc.para_keys for doc in docs])
    words = np.concatenate([doc.para_words for doc in docs])
    first = np.zeros(len(keys), dtype=bool)
    first[first_unique(keys)[1]] = True
    para_banded = (words >= s.min_tokens) & first & ~store.known_keys("paragraph", keys)
    doc_keys = np.array([doc.key for doc in docs], dtype=np.uint64)
    doc_first = np.zeros(len(docs), dtype=bool)
    doc_first[first_unique(doc_keys)[1]] = True
    # A document under the length rule is matched only as an exact copy (by its key).
    bounds = offsets_from_counts(np.array([len(doc.para_keys) for doc in docs], dtype=np.int64))
    doc_banded = doc_first & long_enough(bounds, words, s.min_tokens) & ~store.known_keys("document", doc_keys)
    return [replace(doc, doc_banded=bool(doc_banded[i]), banded=para_banded[bounds[i] : bounds[i + 1]])
            for i, doc in enumerate(docs)]


def pipeline_fingerprint(settings: Settings) -> str:
    """A digest of what this dedup makes of a fixed probe text under ``settings``:
    content keys, MinHash signatures and band keys.

    Why: an index stores the *outputs* of normalization, shingle hashing, MinHash and
    banding.  If any of them changes in a later version, stored buckets and signatures
    silently stop matching new ones; comparing this digest on open turns that into a
    clear error (settings alone cannot tell).
    """
    corpus = sign_documents([Document("probe", _PROBE)], settings)
    keys = DERIVE.bands(settings, corpus.signatures)  # what is stored, containment keys too
    data = corpus.para_key.tobytes() + corpus.signatures.astype("<u4").tobytes() + keys.astype("<u8").tobytes()
    return hashlib.sha256(data).hexdigest()[:32]


class _Derive:
    """The algorithm as storage backends see it (:class:`dedup.storage.protocol.Derive`)."""

    def fingerprint(self, settings: Settings) -> str:
        return pipeline_fingerprint(settings)

    def bands(self, settings: Settings, signatures: np.ndarray) -> np.ndarray:
        """The Jaccard band keys, then the containment look-up's single-value keys
        (:mod:`dedup.index.contain`; none with containment off)."""
        jaccard = index_band_keys(signatures, settings)
        if not contain.positions(settings):
            return jaccard
        return np.concatenate([jaccard, contain.keys(signatures, settings)], axis=1)

    def signatures(self, settings: Settings, sets: SetTable) -> np.ndarray:
        shingles = Shingles(hashes=sets.values, offsets=sets.offsets, units=np.diff(sets.offsets))
        return minhash_signatures(shingles, settings.num_perm, settings.seed)

    def sketches(self, signatures: np.ndarray) -> np.ndarray:
        return sketch(signatures)

    def sketch_width(self, settings: Settings) -> int:
        return sketch_width(settings.num_perm)


DERIVE = _Derive()
