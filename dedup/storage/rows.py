"""The row tables a storage backend takes and hands back: paragraph places and rows,
document rows, a signed document to write, a stored document as ``Index.get`` returns
it and a listing entry.  Arrays are numpy, one entry per row; what each backend must
do with them is the contract of :mod:`dedup.storage.protocol` (split from it, review
R6 of session 24; it still exports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..segments import SetTable
from ..split import Span


@dataclass(frozen=True)
class ParagraphPlaces:
    """Where stored paragraphs are: row ids, owning document row, position, span and
    content key, one entry per row (what :meth:`.protocol.Storage.paragraph_places` gives)."""

    ids: np.ndarray
    docs: np.ndarray
    index: np.ndarray
    start: np.ndarray
    end: np.ndarray
    keys: np.ndarray  # uint64


    _FIELDS = ("ids", "docs", "index", "start", "end", "keys")

    def take(self, which: np.ndarray) -> "ParagraphPlaces":
        """The places ``which`` (indices or a bool mask), as places only."""
        return ParagraphPlaces(*(getattr(self, f)[which] for f in self._FIELDS))

    @staticmethod
    def joined(parts: Sequence["ParagraphPlaces"]) -> "ParagraphPlaces":
        """Places as one table, in that order (none: an empty table)."""
        return ParagraphPlaces(*(np.concatenate([getattr(p, f) for p in parts]) if parts else
                                 np.zeros(0, np.uint64 if f == "keys" else np.int64)
                                 for f in ParagraphPlaces._FIELDS))


@dataclass(frozen=True)
class ParagraphRows(ParagraphPlaces):
    """Stored paragraphs: their places, signature and shingle set (sorted, unique),
    one entry per row."""

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
    ``para_signatures`` may be ``None`` (a long article, signed without holding them:
    1 KB a paragraph at 256 permutations): the backend then derives them from
    ``para_sets`` with its :meth:`.protocol.Derive.signatures` (the same values), a block of
    rows at a time as it writes them, never for the whole document at once (added in
    session 22, issue #12).
    """

    doc_id: str
    text: str
    meta: Optional[Mapping[str, Any]]
    digest: str  # of the text as the caller gave it (before any strip): see Storage.digests
    key: int
    signature: np.ndarray
    doc_banded: bool
    para_index: np.ndarray
    para_start: np.ndarray
    para_end: np.ndarray
    para_words: np.ndarray
    para_keys: np.ndarray
    para_signatures: Optional[np.ndarray]  # None: derived from para_sets when written
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


@dataclass(frozen=True)
class Listed:
    """One stored document as :meth:`.protocol.Storage.listing` gives it (no text): its row id
    (the listing's order and paging key), public id, Unix time added, size and metadata."""

    row: int
    doc_id: str
    added: float
    chars: int
    paragraphs: int
    meta: Mapping[str, Any]
