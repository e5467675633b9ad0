"""The contract every storage backend of the persistent index keeps, written down.

Why a contract: the embedded default is one SQLite file (:mod:`dedup.storage.sqlite`);
a pipeline running on several machines shares one Redis server
(:mod:`dedup.storage.redis`).  Everything that decides *whether* something is a
duplicate -- signing, banding, verification, policies -- lives in :mod:`dedup.index`,
written once; a backend stores rows and answers a few kinds of bulk look-ups (band keys,
paragraph and document rows, a document's shingle sets, exact copies).  A backend never
imports the algorithm: what it must compute from stored signatures (band keys,
sketches, the pipeline fingerprint) is handed to it as a :class:`Derive`.

The rules every backend keeps (``tests/storage_contract.py`` checks each of them on
every backend):

1. **Transactions.** ``transaction(write=True)`` is exclusive across processes and
   machines: what an ``Index.add`` read when it decided is still true when it writes
   (two workers adding near-identical articles at once never both get admitted).  A
   write transaction is all or nothing for each document: on an exception nothing of
   the transaction stays; when the process (or the connection, or the server) dies
   half-way, every ``insert_many`` batch is stored whole or not at all, never some of
   its documents (SQLite: nothing of the transaction; Redis: the batches written
   before, each whole, and nothing of the one being written -- a retry of the
   batch finds the stored documents by id).
2. **Re-entrance.** A ``transaction`` opened inside another of the same storage object
   joins the outer one (``Index.load`` wraps many batches in one).  A read nested in a
   write sees the write's own rows.
3. **Snapshots.** Everything read inside one ``transaction(write=False)`` comes from
   one consistent state: a document added concurrently is seen whole (its paragraphs
   and the document) or not at all.  SQLite reads one snapshot; Redis hides rows
   above the ids written when the read began.  (On Redis a document *removed* during
   a check may still count as seen by it, without its document match.)
4. **Ids.** Row ids (``int64``, > 0) are never reused, so a cached or stale pointer to
   a removed row can only miss, never hit another row.  Public document ids
   (``doc_id``) are unique: inserting an id that is stored is refused by the index
   before it reaches the backend (a replacement is ``delete`` then ``insert`` in one
   write transaction).  Each document keeps the ``digest`` of the text it was added
   with and the Unix time it was ``added`` (:meth:`Storage.digests`,
   :meth:`Storage.listing`): what makes ingest idempotent and retention possible.
5. **Banding of exact copies.** Only the first stored copy of a text is *banded* (its
   band keys are in the buckets); later exact copies (same content key) are found
   with ``paragraph_copy_places`` / ``document_copies``.  So boilerplate repeated in every
   article does not grow the buckets.
6. **Removal hand-over.** ``delete`` of a banded row whose text has a surviving exact
   copy hands the bands over to that copy (the oldest), so the text stays findable by
   near-duplicate look-up.  After ``delete`` no band key leads to the removed rows
   (or, for backends with a read-optimized bucket copy, any stale entry leads to a row
   id that no longer reads: ``candidates``' callers drop hits they cannot read).
7. **Settings.** A new index stores its settings, MinHash scheme, normalization version
   and pipeline fingerprint; opening it with other settings or with a dedup that signs
   text differently is refused (:mod:`dedup.storage.compat`, shared by all backends).
8. **Errors.** Every failure is a :class:`StorageError` subclass whose message names
   the index (a path, or a URL with its password masked) and the cause.
9. **No pickle.** Signatures and shingle sets are packed little-endian integer arrays,
   metadata JSON text.
10. **Damage is detected, never answered from.** Every stored document and paragraph
   row carries a checksum of its contents and row id (:mod:`dedup.storage.rowcheck`,
   computed for whole batches with numpy), verified on every read an answer is made
   from (signatures, rows, shingle sets, document rows); a row that does not verify
   raises :class:`IndexCorrupt` naming it.  Bucket copies carry checksums of their own
   (SQLite's bucket file per page, Redis's bucket log per entry, and its entries are
   counted).  A row that its document row or the bucket copy lists but that is not
   found is damage too (:class:`IndexCorrupt`), not a row left out.  What each backend
   leaves out (texts it checks otherwise, flags changed in place) is said in its
   module and the README.

What only some backends do -- SQLite's write-ahead-log checkpoint and bucket-file
rewrite, its signature bytes and key counts, Redis's lease and log compaction -- are
the optional protocols of :mod:`dedup.storage.optional`, not part of the core.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, Literal, Optional, Protocol, Sequence

import numpy as np
import xxhash

from ..segments import SetTable
from ..settings import Settings
# The errors and the row tables are defined in their own modules (review R6 of session
# 24); every backend and caller imports them from here, with the contract.
from .errors import (IndexBusy, IndexCorrupt, IndexFull, IndexMissing, IndexReadOnly, IndexUnavailable,
                     SettingsMismatch, StorageError)
from .rows import DocumentRows, Listed, NewDocument, ParagraphPlaces, ParagraphRows, StoredDocument

__all__ = [
    "BUSY_TIMEOUT", "COPY_BLOCK", "LEVELS", "Derive", "DocumentRows", "IndexBusy", "IndexCorrupt", "IndexFull",
    "IndexMissing", "IndexReadOnly", "IndexUnavailable", "Level", "Listed", "NewDocument", "ParagraphPlaces",
    "ParagraphRows", "SettingsMismatch", "Storage", "StorageError", "StoredDocument", "busy_wait",
    "document_id_keys", "rolled_back",
]

Level = Literal["paragraph", "document"]

#: Most rows :meth:`Storage.paragraph_copy_places` reads (and verifies) at a time.
COPY_BLOCK = 8_192
#: How long a writer waits for another process's write transaction before giving up (s).
BUSY_TIMEOUT = 30.0
LEVELS: tuple[Level, ...] = ("paragraph", "document")


def document_id_keys(doc_ids: Sequence[str]) -> np.ndarray:
    """uint64 per public document id: the XXH3-64 of its UTF-8 bytes (lone surrogates
    kept) -- the key both backends keep each stored id under besides their listing
    (SQLite's ``counts``, signed; Redis's name multimap ``k:n:``), so that an id
    renamed or deleted in the listing is found damaged, not "not stored" (#12)."""
    return np.fromiter((xxhash.xxh3_64_intdigest(d.encode("utf-8", "surrogatepass")) for d in doc_ids),
                       dtype=np.uint64, count=len(doc_ids))


def busy_wait(shown: str, in_url: Optional[float], given: float) -> float:
    """How long a writer waits for a lock: the URL's ``?busy=`` (``in_url``), else the
    opener's ``busy_timeout`` (``given``).  Both given and different -- ``given`` not the
    default :data:`BUSY_TIMEOUT` -- is a :class:`StorageError` naming the index
    ``shown`` (a new user of session 16: ``?busy=`` won over ``busy_timeout=`` without a
    word)."""
    if in_url is None:
        return given
    if given != BUSY_TIMEOUT and given != in_url:
        raise StorageError(f"{shown}: ?busy={in_url:g} in the URL and busy_timeout={given:g} disagree: give one")
    return in_url


def rolled_back(err: BaseException, mark: bool = False) -> bool:
    """Whether ``err`` ended a write transaction that stored nothing (undone whole); with
    ``mark``, the backend's transaction says so as the error leaves it.  What reads it:
    the note of a stopped ``index add`` (:func:`dedup.index.jobs.add_paths`), which
    otherwise counts the batch in flight as "may be stored" when the index cannot be
    read to tell (s23 audit of #12: damage found before any write said "up to 1")."""
    if mark:
        err.dedup_rolled_back = True  # type: ignore[attr-defined]
    return bool(getattr(err, "dedup_rolled_back", False))


class Derive(Protocol):
    """What a backend may compute from stored signatures, handed in by the index (so
    storage never imports the algorithm)."""

    def fingerprint(self, settings: Settings) -> str:
        """A digest of what this dedup makes of a fixed probe text under ``settings``
        (see :func:`dedup.index.pipeline.pipeline_fingerprint`)."""

    def bands(self, settings: Settings, signatures: np.ndarray) -> np.ndarray:
        """``(n, bands)`` uint64 band keys of ``(n, num_perm)`` uint32 signatures."""

    def signatures(self, settings: Settings, sets: SetTable) -> np.ndarray:
        """``(n, num_perm)`` uint32 MinHash signatures of stored shingle sets (the same
        values signing the text gave: a backend may store the set only)."""

    def sketches(self, signatures: np.ndarray) -> np.ndarray:
        """``(n, sketch_width)`` uint8 b-bit sketches of the signatures."""

    def sketch_width(self, settings: Settings) -> int:
        """Bytes of one sketch under ``settings``."""


class Storage(Protocol):
    """The core operations :class:`dedup.index.Index` performs on its backend."""

    path: str  # what names the index in messages (a file path, or a URL without password)
    settings: Settings

    def transaction(self, write: bool) -> AbstractContextManager[None]:
        """A consistent snapshot (``write=False``) or an exclusive write transaction
        (rules 1-3 above); an error that leaves a write transaction undone whole is
        marked :func:`rolled_back`."""

    def candidates(self, level: Level, keys: np.ndarray, limit: Optional[int] = None, sketches: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(key, row, sketch)`` of stored buckets whose key is in ``keys`` (uint64):
        the bucket hits with each row's sketch, the cheap first look at a candidate (one
        look-up for all keys, not one per key).  A row may have been removed since:
        callers drop hits whose row they cannot read.  With ``sketches=False`` the
        third array may be empty (``(0, width)``): a caller that needs the sketches of
        a few of many hits asks :meth:`paragraph_sketches` for those.

        ``limit`` (added in session 10): a bucket holding more than ``limit`` entries
        (removed rows it still lists included) is of no use to the caller, which drops
        it anyway; a backend should then return none of its entries without reading
        them (the containment look-up's single-value buckets of common shingles hold
        thousands of rows at 100k articles).  A backend that returns them all the
        same is correct, only slower: callers apply the same bound."""

    def paragraphs(self, ids: np.ndarray) -> ParagraphRows:
        """Paragraph rows by row id (in ascending id order; missing ids are left out)."""

    def paragraph_signatures(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, signatures)`` of paragraph rows by row id (ascending; missing ids
        are left out): what the estimate floor needs, without the rest of the row.
        The index reads whole rows (:meth:`paragraphs`) only for the candidates whose
        estimate passes the floor (at 100k articles of ~20 paragraphs, ~350 candidates
        of a check pass the sketch, a few the floor).  Added in session 9; a backend
        may answer it from :meth:`paragraphs`."""

    def paragraph_sketches(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sketches, sizes)`` of banded paragraph rows ``ids`` (row ids from
        :meth:`candidates`), in the order of ``ids``: each row's sketch (as
        :meth:`candidates` gives it) and shingle-set size (``len`` of
        :attr:`ParagraphRows.sets`, int64); size 0 for a row not stored (or not
        banded).  A removed row may still give its values (callers read the rows they
        keep, and drop those gone).  What the containment look-up needs before it
        reads a row: the size ratio and a sketch floor at the ratio's Jaccard drop
        most chance candidates (thousands per check at 50k articles), so only a few
        rows are read.  Added in session 10; a backend may answer it from
        :meth:`paragraphs` (SQLite keeps both in its bucket file)."""

    def paragraph_copy_places(self, keys: np.ndarray, limit: int) -> ParagraphPlaces:
        """Where the first ``limit`` stored paragraphs (oldest first) of each content key
        in ``keys`` (uint64) are: their places only, by key (ascending uint64), then
        row id; keys stored nowhere give nothing.  Each row is verified all the same
        (rule 10: its contents are read for the checksum, its signature is not), and
        read :data:`COPY_BLOCK` rows at a time at most, so what the call holds is its
        answer (~50 bytes a row) and one block's rows, however many copies and
        however long the paragraphs.

        What the index lists the exact copies of its matched texts with (rule 5).
        Replaces ``paragraph_copies`` (whole rows: signatures, shingle sets) in session
        23: a check of a long article whose paragraphs were stored 16 times held 16
        signatures and sets a paragraph (issue #12, per-file memory)."""

    def paragraph_places(self, docs: np.ndarray, keys: np.ndarray) -> ParagraphPlaces:
        """The paragraphs of the stored documents ``docs`` (document row ids) whose
        content key is in ``keys`` (uint64), in ascending row id: their places only,
        no signature or shingle set handed back, each row verified all the same (rule
        10; a document whose rows are not all found is damage).  Documents not stored
        are left out.  What the index lists a short paragraph's exact copy with, in a
        stored document it matched otherwise (:func:`dedup.index.short.short_copies`):
        the documents are those the check has just read, so a backend that keeps what
        a transaction read (Redis) answers without a round trip.  Added in session 19."""

    def documents(self, ids: np.ndarray) -> DocumentRows:
        """Document rows by row id (in ascending id order; missing ids are left out)."""

    def document_signatures(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, signatures)`` of document rows by row id (ascending; missing ids are
        left out): what the whole-document estimate floor needs of the candidates of
        :meth:`candidates` ``("document", ...)``, as :meth:`paragraph_signatures` for
        paragraphs.  Added in session 19 (a Redis worker holds them: a check whose
        document candidates all fall below the floor reads no document record, one
        round trip fewer); a backend may answer it from :meth:`documents`."""

    def document_copies(self, keys: np.ndarray, limit: int) -> DocumentRows:
        """Up to ``limit`` stored documents per content key, oldest first."""

    def document_sets(self, ids: np.ndarray,
                      leave_out: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> SetTable:
        """Each document's shingle set (union of its paragraphs'), in the order of ``ids``.
        ``leave_out`` (optional): called once with the content keys (uint64) of all
        those documents' paragraphs, it returns a bool per key; the paragraphs it flags
        are left out of the unions (the index leaves out a stored page's boilerplate,
        :func:`dedup.index.tallies.stored_boilerplate`).  Added in session 11."""

    def known_keys(self, level: Level, keys: np.ndarray) -> np.ndarray:
        """For each content key, whether a stored paragraph (document) already has it."""

    def insert_many(self, docs: Sequence[NewDocument]) -> None:
        """Write documents, in this order (inside a write transaction): the same rows
        and row ids as writing them one at a time, in one bulk write (an add of a batch
        writes once, not once per article), all of them or none (rule 1).  Their ``banded`` marks are already set
        (:func:`dedup.index.signing.banded`)."""

    def delete(self, doc_id: str) -> bool:
        """Remove a document and its rows (inside a write transaction), handing the
        bands of its banded rows over to surviving exact copies (rule 6)."""

    def get(self, doc_id: str) -> Optional[StoredDocument]: ...

    def digests(self, doc_ids: Sequence[str]) -> dict[str, Optional[str]]:
        """For each of ``doc_ids`` that is stored, the ``digest`` it was inserted with
        (``None`` for a document stored by a dedup that kept none); ids not stored are
        left out.  One look-up for the whole batch."""

    def listing(self, after: int = 0, limit: int = 1000, before: Optional[float] = None) -> list[Listed]:
        """Up to ``limit`` stored documents with a row id above ``after``, in ascending
        row id (page with ``after=last.row``); with ``before``, only those added before
        that Unix time.  Memory is bounded by ``limit``, whatever the index's size."""

    def tally(self, keys: np.ndarray, documents: int) -> None:
        """Count, persistently (inside a write transaction, committed with it), that
        ``documents`` more documents were judged, and that each of ``keys`` (uint64
        paragraph content keys, one entry per judged document holding the key: the
        same key once per document) occurred in one more of them.  Counts only grow
        (a removal does not lower them): they are what the index has *seen*, stored or
        not -- the boilerplate rule's document counts (:func:`dedup.index.tallies.boilerplate`)."""

    def tallies(self, keys: np.ndarray) -> tuple[np.ndarray, int]:
        """``(counts, documents)``: for each of ``keys``, in how many judged documents
        it occurred (0 when never), and how many documents were judged in all
        (see :meth:`tally`).  One look-up for all keys."""

    def contains(self, doc_id: str) -> bool: ...

    def count(self) -> int: ...

    def stats(self) -> dict[str, Any]:
        """``{"documents", "paragraphs", "settings", "bytes", "backend", "path"}`` and
        backend details."""

    def discard(self) -> bool:
        """Remove the index if it holds no document and no other process can be using
        it; ``True`` when removed (then only :meth:`close` may follow).  Errors are not
        raised: the index is kept.  Redis always keeps it (``False``): whether another
        client is about to write to it cannot be known."""

    def close(self) -> None: ...
