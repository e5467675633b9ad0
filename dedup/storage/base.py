"""What a persistent index needs from its storage, independent of the database.

Why an interface: the embedded default is one SQLite file (:mod:`dedup.storage.sqlite`),
but a pipeline running on several machines needs a shared backend (Redis, a separate
issue).  Everything that decides *whether* something is a duplicate -- signing, banding,
verification, policies -- lives in :mod:`dedup.index`; a backend only stores rows and
answers four kinds of lookups (bucket keys, paragraph rows, a document's shingle sets,
exact copies), inside transactions.  A backend must make ``transaction(write=True)``
exclusive across processes: that is what makes "check, then add" atomic.

Nothing is pickled: signatures and shingle sets are packed little-endian integer arrays,
ids and metadata plain columns (JSON text for metadata).
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Optional, Protocol

import numpy as np

from ..corpus import sign_documents
from ..lsh import band_keys
from ..readers import Document
from ..settings import Settings
from ..split import Span
from ..verify import SetTable

Level = Literal["paragraph", "document"]

#: Signature positions kept in a paragraph's :func:`sketch`, and bits kept of each.
SKETCH_POSITIONS = 128
SKETCH_BITS = 4
_NIBBLE = np.uint8((1 << SKETCH_BITS) - 1)

_PROBE = (
    "A fixed probe text, \u201cnormalized\u201d \u2014 shingled, signed and banded \u2014 "
    "whenever an index is created or opened.\n\nIts second PARAGRAPH, with numbers 1 2 3."
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


def sketch(signatures: np.ndarray) -> np.ndarray:
    """b-bit MinHash sketches (Li & Koenig 2010): the low ``SKETCH_BITS`` bits of the
    first ``SKETCH_POSITIONS`` signature values, two per byte -- 64 bytes per row.

    Why: most LSH candidates in a large index are chance pairs (Jaccard ~0.03).  Telling
    them apart needs only a coarse estimate, and 64 bytes instead of the 1 KB signature
    keep that first look small enough to sit beside the buckets themselves.
    """
    signatures = np.atleast_2d(signatures)
    low = (signatures[:, : sketch_positions(signatures.shape[1])] & _NIBBLE).astype(np.uint8)
    return np.ascontiguousarray(low[:, 0::2] | (low[:, 1::2] << SKETCH_BITS))


def sketch_positions(num_perm: int) -> int:
    """Positions a sketch holds for signatures of ``num_perm`` values (an even number)."""
    return min(num_perm, SKETCH_POSITIONS) // 2 * 2


def sketch_matches(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal positions of row pairs of two sketch arrays (same shape)."""
    x = np.bitwise_xor(a, b)
    return ((x & _NIBBLE) == 0).sum(axis=-1) + ((x >> SKETCH_BITS) == 0).sum(axis=-1)


class StorageError(Exception):
    """The index file cannot be used; the message names the file and the cause."""


class IndexBusy(StorageError):
    """Other processes held the index locked for longer than the bounded wait."""


class IndexCorrupt(StorageError):
    """The file is not a dedup index (foreign, truncated or damaged)."""


class IndexReadOnly(StorageError):
    """The index cannot be written (read-only file, folder or open mode)."""


class IndexFull(StorageError):
    """A write failed for lack of space; the transaction was rolled back."""


class SettingsMismatch(StorageError, ValueError):
    """The index was built with other settings than the ones asked for."""


@dataclass(frozen=True)
class ParagraphRows:
    """Stored paragraphs: row ids, owning document row, position, span, content key,
    signature and shingle set (sorted, unique), one entry per row."""

    ids: np.ndarray
    docs: np.ndarray
    index: np.ndarray
    start: np.ndarray
    end: np.ndarray
    keys: np.ndarray  # uint64
    signatures: np.ndarray  # (n, num_perm) uint32
    sets: SetTable


@dataclass(frozen=True)
class DocumentRows:
    """Stored documents: row ids, public ids, sizes, content keys and signatures."""

    ids: np.ndarray
    doc_ids: list[str]
    chars: np.ndarray
    keys: np.ndarray  # uint64
    signatures: np.ndarray  # (n, num_perm) uint32


@dataclass(frozen=True)
class NewDocument:
    """A signed document ready to be written.

    Paragraph arrays cover every paragraph; ``banded`` marks those that go into the
    LSH buckets (long enough to be compared, and the first stored copy of their text),
    ``doc_banded`` whether the document does (the first stored copy of its text).
    """

    doc_id: str
    text: str
    meta: Optional[Mapping[str, Any]]
    key: int
    signature: np.ndarray
    doc_banded: bool
    para_index: np.ndarray
    para_start: np.ndarray
    para_end: np.ndarray
    para_words: np.ndarray
    para_keys: np.ndarray
    para_signatures: np.ndarray
    para_sets: SetTable
    banded: np.ndarray  # bool per paragraph


@dataclass(frozen=True)
class StoredDocument:
    """What ``Index.get`` returns: the stored text, its paragraph spans and metadata."""

    doc_id: str
    text: str
    paragraphs: tuple[Span, ...]
    meta: Mapping[str, Any]
    added: float  # Unix time


class Storage(Protocol):
    """The operations :class:`dedup.index.Index` performs on its backend."""

    path: str
    settings: Settings

    def transaction(self, write: bool) -> AbstractContextManager[None]:
        """A consistent snapshot (``write=False``) or an exclusive write transaction."""

    def candidates(self, level: Level, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(key, row, sketch)`` of stored buckets whose key is in ``keys`` (uint64):
        the bucket hits with each row's :func:`sketch`, the cheap first look at a
        candidate (one lookup, not one per candidate).  A row may have been removed
        since: callers drop hits whose row they cannot read."""

    def paragraphs(self, ids: np.ndarray) -> ParagraphRows:
        """Paragraph rows by row id (in ascending id order)."""

    def paragraph_copies(self, keys: np.ndarray, limit: int) -> ParagraphRows:
        """Up to ``limit`` stored paragraphs per content key in ``keys``, oldest first."""

    def documents(self, ids: np.ndarray) -> DocumentRows:
        """Document rows by row id (in ascending id order)."""

    def document_copies(self, keys: np.ndarray, limit: int) -> DocumentRows:
        """Up to ``limit`` stored documents per content key, oldest first."""

    def document_sets(self, ids: np.ndarray) -> SetTable:
        """Each document's shingle set (union of its paragraphs'), in the order of ``ids``."""

    def known_keys(self, level: Level, keys: np.ndarray) -> np.ndarray:
        """For each content key, whether a stored paragraph (document) already has it."""

    def insert(self, doc: NewDocument) -> None:
        """Write one document (inside a write transaction)."""

    def delete(self, doc_id: str) -> bool:
        """Remove a document and its rows (inside a write transaction)."""

    def checkpoint(self) -> None:
        """Fold logged writes into the main file after a bulk write (best effort)."""

    def optimize(self, when: Optional[Callable[[int, int], bool]] = None) -> Optional[dict[str, Any]]:
        """Rewrite the backend's read-optimized copy of the buckets (if it has one),
        so lookups stay fast as the index grows; returns what was done.  With
        ``when(covered, behind)``: only if that says so, and never waiting for another
        process doing it (returns ``None`` then)."""

    def bucket_file_lag(self) -> tuple[int, int]:
        """``(covered, behind)``: paragraph rows the read-optimized copy covers, and
        rows stored since (what :meth:`optimize` would fold in)."""

    def get(self, doc_id: str) -> Optional[StoredDocument]: ...

    def contains(self, doc_id: str) -> bool: ...

    def count(self) -> int: ...

    def stats(self) -> dict[str, Any]:
        """``{"documents", "paragraphs", "settings", "bytes"}`` and backend details."""

    def close(self) -> None: ...
