"""A signed corpus: every paragraph of every document, split, normalized, shingled
and MinHashed, in flat numpy arrays.

Why flat arrays: the later stages (banding, verification, grouping) work on all
paragraphs at once.  A corpus is built batch by batch (``sign_documents``) and batches
are concatenated, which is what lets a scan spread the work over several processes and
reuse cached batches: a batch depends only on its documents and the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Iterable, Optional, Sequence

import numpy as np
import xxhash

from .group import exact_groups
from .minhash import signatures
from .normalize import normalize
from .readers import Document, ReadError, ReadWarning
from .segments import offsets_from_counts
from .sequences import Made
from .settings import Settings
from .shingle import Shingles, shingle
from .split import split_paragraphs
from .tokenize import token_counts

#: Characters of each paragraph's raw text kept for the readable report.
PREVIEW_CHARS = 400


@dataclass(frozen=True)
class DocumentInfo:
    """What a report says about a document: its name, size and paragraph count, and
    what its offsets count in (``text_source``, see :class:`dedup.readers.Document`);
    ``utf8_bytes``: its text's size in UTF-8, when known (a scan sets it)."""

    path: str
    chars: int
    paragraphs: int
    text_source: str = "file"
    utf8_bytes: Optional[int] = None


class DocumentTable(Made):
    """Documents as columns, read back as :class:`DocumentInfo` objects one at a time.

    Why: a scan's client keeps every document the report lists, and a list of
    ``DocumentInfo`` objects costs ~0.5 KB a document (the object, its ``__dict__``,
    the path string and the numbers); here a document is its path's UTF-8 bytes and
    ~33 bytes of columns (200,000 documents: ~12 MB, not ~120 MB; #15).  Picklable
    (numpy columns and bytes), so a worker sends its shard's documents this way too."""

    def __init__(self, paths: bytes, ends: np.ndarray, numbers: np.ndarray, sources: np.ndarray,
                 names: tuple[str, ...]) -> None:
        self._paths, self._ends = paths, ends  # path i: _paths[_ends[i - 1]:_ends[i]]
        self._numbers = numbers  # (documents, 3) int64: chars, paragraphs, UTF-8 bytes (-1: unknown)
        self._sources, self._names = sources, names  # text_source i: _names[_sources[i]]

    @classmethod
    def of(cls, documents: Iterable[DocumentInfo]) -> "DocumentTable":
        docs = list(documents)
        encoded = [d.path.encode("utf-8", "surrogatepass") for d in docs]  # any str, back exactly
        names: dict[str, int] = {}
        sources = np.array([names.setdefault(d.text_source, len(names)) for d in docs], dtype=np.uint8)
        numbers = np.array([(d.chars, d.paragraphs, -1 if d.utf8_bytes is None else d.utf8_bytes) for d in docs],
                           dtype=np.int64).reshape(len(docs), 3)
        return cls(b"".join(encoded), np.cumsum([len(e) for e in encoded], dtype=np.int64), numbers, sources,
                   tuple(names))

    @classmethod
    def concat(cls, tables: Sequence["DocumentTable"]) -> "DocumentTable":
        """The documents of ``tables``, one after the other."""
        names: dict[str, int] = {}
        sources, ends, at = [], [], 0
        for t in tables:
            codes = np.array([names.setdefault(name, len(names)) for name in t._names], dtype=np.uint8)
            sources.append(codes[t._sources] if len(codes) else t._sources)
            ends.append(t._ends + at)
            at += len(t._paths)
        return cls(b"".join(t._paths for t in tables), np.concatenate([np.zeros(0, np.int64), *ends]),
                   np.concatenate([np.zeros((0, 3), np.int64), *(t._numbers for t in tables)]),
                   np.concatenate([np.zeros(0, np.uint8), *sources]), tuple(names))

    def __len__(self) -> int:
        return len(self._ends)

    @property
    def paths(self) -> Sequence[str]:
        """The documents' paths, decoded as read."""
        return _Paths(self)

    def path(self, i: int) -> str:
        start = int(self._ends[i - 1]) if i else 0
        return self._paths[start : int(self._ends[i])].decode("utf-8", "surrogatepass")

    def _make(self, i: int) -> DocumentInfo:
        chars, paragraphs, utf8 = self._numbers[i].tolist()
        return DocumentInfo(self.path(i), chars, paragraphs, self._names[self._sources[i]], None if utf8 < 0 else utf8)

    def __repr__(self) -> str:
        return f"DocumentTable({len(self)} documents)"


class _Paths(Made):
    """A :class:`DocumentTable`'s paths, decoded as read."""

    def __init__(self, table: DocumentTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    def _make(self, i: int) -> str:
        return self._table.path(i)


def paths_of(documents: Sequence[DocumentInfo]) -> Sequence[str]:
    """The documents' paths in order: a :class:`DocumentTable`'s own (decoded as
    read), else a list."""
    return documents.paths if isinstance(documents, DocumentTable) else [d.path for d in documents]


@dataclass
class Corpus:
    """Signed paragraphs of a list of documents, in document then paragraph order.

    Per paragraph ``i``: its document (``para_doc[i]``, an index into ``documents``),
    its position in that document (``para_index``), its character span
    (``para_start``/``para_end``), its word count, a 64-bit hash of its normalized text
    (``para_key``, equal for exact copies), the start of its raw text for readable
    reports (``para_preview``), its shingles and its MinHash signature.
    Paragraphs of one document are contiguous.
    """

    documents: list[DocumentInfo]
    para_doc: np.ndarray
    para_index: np.ndarray
    para_start: np.ndarray
    para_end: np.ndarray
    para_words: np.ndarray
    para_key: np.ndarray
    para_preview: list[str]
    shingles: Shingles
    signatures: np.ndarray
    errors: list[ReadError] = field(default_factory=list)
    warnings: list[ReadWarning] = field(default_factory=list)

    @property
    def paragraphs(self) -> int:
        return len(self.para_doc)

    def doc_offsets(self) -> np.ndarray:
        """Paragraph offsets per document: doc ``d`` owns paragraphs ``[o[d], o[d+1])``."""
        return offsets_from_counts(np.array([d.paragraphs for d in self.documents], dtype=np.int64))

    @classmethod
    def concat(cls, parts: Sequence["Corpus"], num_perm: int) -> "Corpus":
        """Join batches into one corpus (document indices are renumbered)."""
        doc_base = np.cumsum([0] + [len(p.documents) for p in parts])
        shingle_parts = [p.shingles for p in parts]
        shingle_base = np.cumsum([0] + [int(s.offsets[-1]) for s in shingle_parts])
        offsets = np.concatenate(
            [np.zeros(1, np.int64)] + [s.offsets[1:] + base for s, base in zip(shingle_parts, shingle_base)]
        )
        return cls(
            documents=[d for p in parts for d in p.documents],
            para_doc=_cat([p.para_doc + base for p, base in zip(parts, doc_base)], np.int64),
            para_index=_cat([p.para_index for p in parts], np.int64),
            para_start=_cat([p.para_start for p in parts], np.int64),
            para_end=_cat([p.para_end for p in parts], np.int64),
            para_words=_cat([p.para_words for p in parts], np.int64),
            para_key=_cat([p.para_key for p in parts], np.uint64),
            para_preview=[t for p in parts for t in p.para_preview],
            shingles=Shingles(
                hashes=_cat([s.hashes for s in shingle_parts], np.uint64),
                offsets=offsets,
                units=_cat([s.units for s in shingle_parts], np.int64),
                widths=_cat([s.widths for s in shingle_parts], np.uint8),
            ),
            signatures=np.concatenate([p.signatures for p in parts])
            if parts
            else np.zeros((0, num_perm), np.uint32),
            errors=[e for p in parts for e in p.errors],
            warnings=[w for p in parts for w in p.warnings],
        )


def _cat(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)


def paragraph_keys(texts: Sequence[str]) -> tuple[list[list[tuple[int, int]]], np.ndarray, list[str], np.ndarray]:
    """Split ``texts`` into paragraphs and key them as signing does: ``(spans, text_of,
    normalized, keys)`` -- each text's paragraph spans (character offsets), then per
    paragraph (in order) its text's number (int64), its normalized text and its content
    key (xxh3_64 of its UTF-8, uint64).  The one definition of a paragraph's key: the
    index's template rule compares stored pages' keys with signed ones."""
    spans = [split_paragraphs(t) for t in texts]
    counts = np.fromiter(map(len, spans), dtype=np.int64, count=len(spans))
    text_of = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    normalized = [normalize(t[s:e]) for t, sp in zip(texts, spans) for s, e in sp]
    keys = np.fromiter((xxhash.xxh3_64_intdigest(t.encode("utf-8")) for t in normalized), dtype=np.uint64,
                       count=len(normalized))
    return spans, text_of, normalized, keys


@dataclass(frozen=True)
class Outline:
    """Texts split, normalized, keyed and shingled as signing does, without MinHash
    (:func:`outline`).  Per paragraph, in order: ``text_of`` (its text's number, int64),
    ``keys`` (content key, uint64, :func:`paragraph_keys`); ``spans``: each text's
    paragraph spans.  Each distinct paragraph text is shingled once: ``distinct`` holds
    the shingles of the first paragraph of each distinct key, ``copy_of`` each
    paragraph's distinct number (:func:`dedup.group.exact_groups`)."""

    spans: list[list[tuple[int, int]]]
    text_of: np.ndarray
    keys: np.ndarray
    distinct: Shingles
    copy_of: np.ndarray
    distinct_words: np.ndarray

    @property
    def copies(self) -> bool:
        """Whether some paragraph repeats an earlier one's text."""
        return len(self.distinct) < len(self.keys)

    @property
    def shingles(self) -> Shingles:
        """Every paragraph's shingles in order, with their units' widths."""
        return self.distinct.take(self.copy_of) if self.copies else self.distinct

    @property
    def words(self) -> np.ndarray:
        """Every paragraph's length in tokens (int64), the unit of the length rule."""
        return self.distinct_words[self.copy_of] if self.copies else self.distinct_words


def outline(texts: Sequence[str], settings: Settings) -> Outline:
    """Split ``texts`` into paragraphs, normalize, key and shingle them as signing
    does (:func:`sign_documents` is this plus MinHash): the one definition of what a
    text's paragraphs are, which the index also uses on a stored page read back
    (:mod:`dedup.index.furniture`'s template rule, :mod:`dedup.index.coverage`).
    Paragraph lengths: the shingles' units under ``unit="word"``, else
    :func:`~dedup.tokenize.token_counts`."""
    spans, text_of, texts_n, keys = paragraph_keys(texts)
    # Shingle each distinct text once (boilerplate repeats within a batch); distinct
    # texts are kept in input order, so a batch without copies needs no gather at all.
    first, copy_of = exact_groups(keys)
    distinct = [texts_n[i] for i in first]
    sh = shingle(distinct, settings.unit, settings.ngram)
    words = sh.units if settings.unit == "word" else token_counts(distinct)
    return Outline(spans, text_of, keys, sh, copy_of, words)


def sign_documents(documents: Sequence[Document], settings: Settings) -> Corpus:
    """Split, normalize, shingle and sign ``documents`` as one batch
    (:func:`outline`, then MinHash once per distinct paragraph text)."""
    o = outline([doc.text for doc in documents], settings)
    spans, doc_of = o.spans, o.text_of
    counts = np.fromiter(map(len, spans), dtype=np.int64, count=len(spans))
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(spans)), dtype=np.int64,
                       count=2 * int(counts.sum())).reshape(-1, 2)
    starts, ends = flat[:, 0], flat[:, 1]
    sig = signatures(o.distinct, settings.num_perm, settings.seed)
    return Corpus(
        documents=[DocumentInfo(doc.path, len(doc.text), len(sp), doc.source) for doc, sp in zip(documents, spans)],
        para_doc=doc_of,
        para_index=np.arange(len(doc_of), dtype=np.int64) - np.repeat(offsets_from_counts(counts)[:-1], counts),
        para_start=starts,
        para_end=ends,
        para_words=o.words,
        para_key=o.keys,
        para_preview=previews(documents, doc_of, starts, ends),
        shingles=o.shingles,
        signatures=sig[o.copy_of] if o.copies else sig,
    )


def utf8_sizes(documents: Sequence[Document], doc_of: np.ndarray, starts: np.ndarray,
               ends: np.ndarray) -> np.ndarray:
    """UTF-8 bytes (int64) of each span ``[starts, ends)`` (characters) of the text of
    ``documents[doc_of]``; spans of one document must be contiguous in the arrays (as
    paragraphs are).  A lone surrogate counts 3 bytes (``surrogatepass``).  ASCII text
    costs nothing (a byte per character); other text one UTF-32 view and a cumulative
    sum per document, no loop per character."""
    sizes = (np.asarray(ends) - np.asarray(starts)).astype(np.int64)
    if not len(sizes):
        return sizes
    firsts = np.flatnonzero(np.r_[True, doc_of[1:] != doc_of[:-1]])
    for lo, hi in zip(firsts.tolist(), np.r_[firsts[1:], len(doc_of)].tolist()):
        text = documents[int(doc_of[lo])].text
        if text.isascii():
            continue
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        width = 1 + (points >= 0x80).astype(np.int64) + (points >= 0x800) + (points >= 0x10000)
        at = np.concatenate([np.zeros(1, np.int64), np.cumsum(width)])
        sizes[lo:hi] = at[ends[lo:hi]] - at[starts[lo:hi]]
    return sizes


def previews(documents: Sequence[Document], doc_of: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[str]:
    """The first ``PREVIEW_CHARS`` raw characters of each paragraph (for reports)."""
    stops = np.minimum(ends, starts + PREVIEW_CHARS)
    return [documents[d].text[s:e] for d, s, e in zip(doc_of.tolist(), starts.tolist(), stops.tolist())]
