"""Stage 1, sign: one shard of documents -> its items' files in the scratch folder.

A shard is a run of consecutive batches (:func:`batches`): each batch comes
from the signature cache when it has it, else is split, normalized, shingled and
MinHashed (:func:`dedup.corpus.sign_documents`) and stored there.  The shard then
writes, per *item* (a paragraph; documents with at least one paragraph are written the
same way by :func:`~dedup.plan.documents.document_shard`, once boilerplate is known), in scan order:

* ``keys`` (uint64, a hash of the normalized text: equal for exact copies) and
  ``tokens`` (int64);
* ``sigs``, the ``(items, num_perm)`` uint32 MinHash signatures (a document's is the
  element-wise minimum of its paragraphs', i.e. the MinHash of their union);
* ``values`` / ``offsets``: each item's shingle set, sorted and without repeats, so
  that verification later is a merge of two sorted runs, never a sort per pair;
  ``sizes`` (set sizes);
* where each item is: ``doc`` (document number within the shard), ``index`` (the
  paragraph's number in its document, -1 for a document), ``start``, ``end`` and the
  report preview (``preview``, UTF-8 bytes, with ``preview_offsets``; a document's
  is its first paragraph's) and ``utf8_bytes``, the span's size in UTF-8 (what a
  report's "duplicated bytes" add up);
* what documents are rebuilt from: the paragraphs' shingles in order (``hashes``,
  ``hash_offsets``, ``units``) and each document's ``doc_paragraphs`` / ``doc_chars`` /
  ``doc_bytes``; with the units' shingle widths (``widths``, ``unit_offsets``) they
  also say which words each shingle covers (the verify stage's coverage of a
  contained paragraph, :func:`dedup.verify.coverage`).

Only the small :class:`ShardInfo` goes back to the caller; nothing large is pickled.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from ..cache import CacheStats, SignatureCache, document_digest
from ..corpus import Corpus, DocumentInfo, DocumentTable, sign_documents, utf8_sizes
from ..detect import Items, paragraph_items
from ..readers import Document, ReadError, ReadWarning
from ..readers.text import surrogate_problem
from ..segments import SetTable, offsets_from_counts, ranges, unique_sets
from ..settings import Settings
from ..split import span_array
from .scratch import Scratch
from .shardfiles import ShardAppender

T = TypeVar("T")

#: A shard's text grows with the scan from ``SHARD_MIN_CHARS`` (so a small scan still
#: spreads over every worker) to ``SHARD_MAX_CHARS`` (so a large one has few shard files
#: to open): each shard is about a ``SHARDS_PER_JOB * jobs``-th of the text read before
#: it, so the last shards, which decide when signing ends, are small.
SHARDS_PER_JOB = 16
SHARD_MIN_CHARS = 1 << 20
SHARD_MAX_CHARS = 1 << 24
#: Documents per batch, on average (see :func:`batches`): large enough for numpy to
#: amortize its call overhead, small enough that an edit re-signs little.
BATCH_DOCUMENTS = 256
#: Hard caps on a batch, which keep its temporary arrays to a few hundred MB.
BATCH_MAX_DOCUMENTS = 1024
BATCH_MAX_CHARS = 16_000_000
#: Paragraphs signed at most at once (U2 of #12): a document with more is signed a
#: chunk of its paragraphs at a time (:func:`signed_chunks`) and a shard's files are written
#: a batch or chunk at a time (:class:`~dedup.plan.shardfiles.ShardAppender`), so signing holds ~2.8 KB per
#: paragraph of one chunk, not of a whole file (16 MB of one million one-line
#: paragraphs took 2.8 GB).
CHUNK_PARAGRAPHS = 1 << 15


@dataclass(frozen=True)
class Batch:
    """Documents signed together, with their content digests (the cache key).
    ``long``: one document that may have more than :data:`CHUNK_PARAGRAPHS`
    paragraphs, signed a chunk of them at a time and never cached."""

    documents: list[Document]
    digests: list[bytes]
    long: bool = False

    def chars(self) -> int:
        """The batch's text, in characters."""
        return sum(len(d.text) for d in self.documents)


def batches(documents: Iterable[Document]) -> Iterator[Batch]:
    """Cut ``documents`` into batches at content-defined boundaries.

    A batch ends after a document whose digest is 0 modulo :data:`BATCH_DOCUMENTS`
    (or at the size caps).  Why not every N documents: adding or removing one file
    would then shift every later batch and miss the cache for the rest of the scan;
    with boundaries chosen by content, only the batch around the change is re-signed.
    A document that may be long (:func:`may_be_long`) is a batch of its own, so the
    documents around it are signed whole and cached like any others.
    """
    docs: list[Document] = []
    digests: list[bytes] = []
    chars = 0
    for doc in documents:
        digest = document_digest(doc)
        if may_be_long(doc):
            if docs:
                yield Batch(docs, digests)
                docs, digests, chars = [], [], 0
            yield Batch([doc], [digest], long=True)
            continue
        docs.append(doc)
        digests.append(digest)
        chars += len(doc.text)
        boundary = int.from_bytes(digest[:4], "little") % BATCH_DOCUMENTS == 0
        if boundary or len(docs) >= BATCH_MAX_DOCUMENTS or chars >= BATCH_MAX_CHARS:
            yield Batch(docs, digests)
            docs, digests, chars = [], [], 0
    if docs:
        yield Batch(docs, digests)


def screen(items: Iterable[Document | ReadError], errors: list[ReadError],
           warnings: list[ReadWarning]) -> Iterator[Document]:
    """The documents of ``items`` that can be signed; read errors, and documents whose
    text holds a lone surrogate, are added to ``errors``, documents' warnings to
    ``warnings`` (both in order)."""
    for item in items:
        if isinstance(item, ReadError):
            errors.append(item)
        elif problem := surrogate_problem(item.text):
            errors.append(ReadError(item.path, f"the text holds {problem}"))
        else:
            if item.warning:
                warnings.append(ReadWarning(item.path, item.warning))
            yield item


def shard_limit(seen: int, jobs: int) -> int:
    """The size at which a shard ends, after ``seen`` characters (see
    :data:`SHARD_MIN_CHARS`)."""
    return min(SHARD_MAX_CHARS, max(SHARD_MIN_CHARS, seen // (SHARDS_PER_JOB * jobs)))


def runs(items: Iterable[T], size: Callable[[T], int], limit: Callable[[int], int],
         at_most: bool = False) -> Iterator[list[T]]:
    """Consecutive ``items`` grouped into runs: a run ends once its ``size`` reaches
    ``limit(size of every item so far)`` (shards of batches; for the Dask engine, runs
    of files for a worker to read and sign, :mod:`dedup.plan.read`).  With ``at_most``
    a run also ends before an item that would take it past the limit (an item larger
    than the limit is a run of its own), so no run is larger than the limit but such
    an item: the Dask engine's shards (:data:`dedup.plan.read.SHARD_CHARS`)."""
    run: list[T] = []
    total = seen = 0
    for item in items:
        n = size(item)
        if at_most and run and total + n > limit(seen + n):
            yield run
            run, total = [], 0
        run.append(item)
        total, seen = total + n, seen + n
        if total >= limit(seen):
            yield run
            run, total = [], 0
    if run:
        yield run


@dataclass(frozen=True)
class ShardTask:
    """One shard to sign: its number and its batches (documents with their digests)."""

    shard: int
    batches: list[Batch]


@dataclass
class ShardInfo:
    """What signing a shard tells the caller: its documents, how many items each level
    has, how many of them are long enough to be banded (``long_enough``: at least
    ``min_tokens`` tokens; what the plan sizes its bucket rows by, :func:`~dedup.plan.job.run_scan`),
    and what it did with the cache."""

    shard: int
    documents: DocumentTable
    items: dict[str, int]
    cache: CacheStats | None = None
    long_enough: dict[str, int] = dataclasses.field(default_factory=dict)


def sign_shard(
    scratch: Scratch,
    task: ShardTask,
    settings: Settings,
    cache: SignatureCache | None = None,
) -> ShardInfo:
    """Sign ``task``'s documents and write their paragraph items' files (see the
    module doc; documents are made from those by :func:`~dedup.plan.documents.document_shard`), a batch --
    or a chunk of a long document's paragraphs (:data:`CHUNK_PARAGRAPHS`) -- at a time.

    Raises ``OSError`` when the scratch folder cannot be written.
    """
    if cache is not None:  # a copy that counts this shard's events, and never warns
        cache = copy.copy(cache)
        cache.stats, cache.warn = CacheStats(), False
    documents: list[DocumentInfo] = []
    long = 0
    with ShardAppender(lambda name: scratch.shard(task.shard, "paragraph", name)) as out:
        for batch in task.batches:
            for part in _signed(batch, settings, cache):
                arrays = _paragraph_arrays(part, len(documents))
                long += int(np.count_nonzero(arrays["tokens"] >= settings.min_tokens))
                out.add(arrays)
                documents.extend(part.finished)
        if not out.rows:  # no document: the files still say so
            out.add(_paragraph_arrays(_whole(sign_documents([], settings), []), 0))
        items = {"paragraph": out.rows}
    return ShardInfo(
        shard=task.shard,
        documents=DocumentTable.of(documents),  # columns, not an object per document (#15)
        items=items,
        cache=cache.stats if cache is not None else None,
        long_enough={"paragraph": long},
    )


def sign_batch(batch: Batch, settings: Settings, cache: SignatureCache | None = None) -> Corpus:
    """One batch signed: from ``cache`` when it has it, else signed and stored there."""
    if cache is None:
        return sign_documents(batch.documents, settings)
    key = cache.key(batch.digests)
    corpus = cache.load(key, batch.documents)
    if corpus is None:
        corpus = sign_documents(batch.documents, settings)
        cache.store(key, corpus)
    return corpus


@dataclass(frozen=True)
class SignedPart:
    """Signed paragraphs written together: a batch's, or a chunk of one long
    document's.  ``corpus``'s spans index ``texts`` (a chunk's: its slice of the
    document's text, which starts at character ``at`` and paragraph ``first`` of the
    document); ``finished``: the documents whose last paragraph is in this part (with
    their UTF-8 sizes), in order."""

    corpus: Corpus
    texts: Sequence[Document]
    finished: list[DocumentInfo]
    at: int = 0
    first: int = 0


def _whole(corpus: Corpus, documents: Sequence[Document]) -> SignedPart:
    sizes = utf8_sizes(documents, np.arange(len(documents)), np.zeros(len(documents), np.int64),
                       np.array([len(d.text) for d in documents], dtype=np.int64))
    return SignedPart(corpus, documents, [dataclasses.replace(d, utf8_bytes=b)
                                     for d, b in zip(corpus.documents, sizes.tolist())])


def _signed(batch: Batch, settings: Settings, cache: SignatureCache | None) -> Iterator[SignedPart]:
    """``batch`` signed: whole (from ``cache`` when it has it), or its one long
    document a chunk at a time (:func:`signed_chunks`), not cached."""
    if batch.long:
        (doc,) = batch.documents
        yield from signed_chunks(doc, settings)
    else:
        yield _whole(sign_batch(batch, settings, cache), batch.documents)


def may_be_long(doc: Document) -> bool:
    """Whether ``doc`` may have more than :data:`CHUNK_PARAGRAPHS` paragraphs: a
    paragraph takes a character and a line break at least."""
    text = doc.text
    if len(text) < 2 * CHUNK_PARAGRAPHS - 1:
        return False
    return sum(map(text.count, ("\n", "\r", "\x85", "\u2028", "\u2029"))) >= CHUNK_PARAGRAPHS


def signed_chunks(doc: Document, settings: Settings, spans: np.ndarray | None = None) -> Iterator[SignedPart]:
    """``doc`` signed :data:`CHUNK_PARAGRAPHS` paragraphs at a time: each chunk is the
    text from its first paragraph's start to its last one's end, which splits into
    exactly those paragraphs -- the separators between them are in it, and a chunk of
    one paragraph (whose own line breaks could then split it) never is, the last
    chunk taking the one left over.  Checked all the same: a chunk that splits
    otherwise raises ``RuntimeError`` (a bug, never a wrong result)."""
    spans = span_array(doc.text) if spans is None else spans  # (the caller's, when it has them)
    n = len(spans)
    if n <= CHUNK_PARAGRAPHS:
        yield _whole(sign_documents([doc], settings), [doc])
        return
    cuts = list(range(0, n, CHUNK_PARAGRAPHS)) + [n]
    if cuts[-1] - cuts[-2] < 2:
        del cuts[-2]
    # The whole text's UTF-8 size: its encoding (1-4 bytes a character), not utf8_sizes'
    # per-character arrays (~20 bytes a character of a text this long).
    size = len(doc.text.encode("utf-8", "surrogatepass"))
    info = DocumentInfo(doc.path, len(doc.text), n, doc.source, size)
    for i, j in zip(cuts, cuts[1:]):
        at, stop = int(spans[i, 0]), int(spans[j - 1, 1])
        piece = dataclasses.replace(doc, text=doc.text[at:stop])
        corpus = sign_documents([piece], settings)
        if (corpus.paragraphs != j - i or not np.array_equal(corpus.para_start + at, spans[i:j, 0])
                or not np.array_equal(corpus.para_end + at, spans[i:j, 1])):
            raise RuntimeError(f"{doc.path}: paragraphs {i} to {j - 1} split otherwise on their own")
        yield SignedPart(corpus, [piece], [info] if j == n else [], at, i)


def _paragraph_arrays(part: SignedPart, doc_base: int) -> dict[str, np.ndarray]:
    """The paragraph items' files of ``part`` (the ``doc`` numbers start at
    ``doc_base``; offsets start at 0, :class:`ShardAppender` rebases them), and what the
    document stage (:func:`~dedup.plan.documents.document_shard`) rebuilds documents from."""
    corpus, sh = part.corpus, part.corpus.shingles
    arrays = {"hashes": sh.hashes.astype(np.uint64, copy=False), "hash_offsets": sh.offsets.astype(np.int64, copy=False),
              "units": sh.units.astype(np.int64, copy=False), "widths": sh.widths.astype(np.uint8, copy=False),
              "unit_offsets": offsets_from_counts(sh.units),
              "doc_paragraphs": np.array([d.paragraphs for d in part.finished], dtype=np.int64),
              "doc_chars": np.array([d.chars for d in part.finished], dtype=np.int64),
              "doc_bytes": np.array([d.utf8_bytes for d in part.finished], dtype=np.int64)}
    places = {"doc": corpus.para_doc + doc_base, "index": corpus.para_index + part.first,
              "start": corpus.para_start + part.at, "end": corpus.para_end + part.at,
              "utf8_bytes": utf8_sizes(part.texts, corpus.para_doc, corpus.para_start, corpus.para_end)}
    arrays.update(item_arrays(paragraph_items(corpus), places, corpus.para_preview))
    return arrays


def item_arrays(items: Items, places: dict, previews: Sequence[str], sets: SetTable | None = None
                ) -> dict[str, np.ndarray]:
    """One level's item files (see the module doc), by name; ``sets``: the items'
    shingle sets (sorted, distinct) when the caller has them, else made here."""
    n = len(items.keys)
    if sets is None:
        lengths = items.ends - items.starts
        sets = unique_sets(items.hashes[ranges(items.starts, lengths)], offsets_from_counts(lengths))
    arrays = {"keys": items.keys, "tokens": items.tokens.astype(np.int64), "sigs": items.signatures,
              "values": sets.values, "offsets": sets.offsets, "sizes": np.diff(sets.offsets)}
    arrays.update({name: np.asarray(v, dtype=np.int64) for name, v in places.items()})
    encoded = [p.encode("utf-8", "surrogatepass") for p in previews]
    arrays["preview"] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    arrays["preview_offsets"] = offsets_from_counts(np.fromiter(map(len, encoded), dtype=np.int64, count=n))
    return arrays
