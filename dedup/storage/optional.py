"""The optional protocols of the index's storage: what only some backends do, and the
index uses when a backend has it (:func:`supports`, or ``isinstance``: each is
``runtime_checkable``).  The core contract every backend keeps is :mod:`dedup.storage.protocol`."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Protocol, Sequence, runtime_checkable

import numpy as np

from .protocol import Level


def supports(store: object, protocol: type) -> bool:
    """``isinstance(store, protocol)`` for these protocols (methods only, so the
    backend's class decides), answered once per class.

    Why: a ``runtime_checkable`` protocol's ``isinstance`` looks every member up on each
    call (~10-20 us in Python 3.11); a check asks ~10 times (~2 % of its CPU)."""
    return _subclass(type(store), protocol)


@functools.lru_cache(maxsize=None)
def _subclass(kind: type, protocol: type) -> bool:
    return issubclass(kind, protocol)


def low_bytes(signatures: np.ndarray) -> np.ndarray:
    """The signature bytes of :class:`SignatureBytes`: the low byte of each value of
    ``(n, num_perm)`` uint32 signatures, ``(n, num_perm)`` uint8."""
    return np.asarray(signatures).astype(np.uint8)  # (numpy's cast keeps the low byte)


@runtime_checkable
class SignatureBytes(Protocol):
    """Optional: backends that keep each banded row's signature bytes
    (:func:`low_bytes`) beside its buckets (SQLite, in its bucket file; added in
    session 12).

    Why: equal signature values have equal low bytes, so the positions in which two
    rows' signature bytes agree bound the positions in which their signatures agree
    from above -- a pair whose bytes agree in fewer positions than a floor needs is
    below that floor exactly, and the index drops it without reading the stored row's
    signature (at 100k stored articles ~360 random row reads a check, ~15-25 us each).
    A backend that keeps its signatures in memory (Redis) needs no such thing."""

    def signature_bytes(self, level: Level, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(known, lows)`` of banded rows ``ids`` (row ids from
        :meth:`Storage.candidates` of ``level``), in the order of ``ids``: whether the
        backend keeps the row's signature bytes, and :func:`low_bytes` of its
        signature (``(len(ids), num_perm)`` uint8, zeros where not known).  A removed
        row may still give its bytes."""


@runtime_checkable
class BucketRows(Protocol):
    """Optional: backends that know, without a server call, how many rows a level's
    buckets can point at (SQLite: the highest row id its bucket file and what is held
    beside it cover; Redis: the rows its worker's copy of the bucket log holds).

    Why: the look-up leaves crowded band buckets unread (``limit`` of
    :meth:`Storage.candidates`, :func:`dedup.index.bands.crowded`), and a bucket's size
    grows with the rows stored -- a fixed cap loses more pairs as the index grows
    (review R10 of session 22), so the cap grows with this count."""

    def bucket_rows(self, level: Level) -> int:
        """An upper bound of the rows of ``level`` the current read's buckets hold
        (removed rows may count)."""


@runtime_checkable
class Leased(Protocol):
    """The optional hooks of a backend whose write lock has a lease (Redis): the index
    calls ``keep_lease`` between the long steps of a write transaction that make no
    storage call (judging a batch), so the lease is renewed by the worker doing the
    work -- a stalled one still loses it; and ``warm`` before a write transaction that
    looks up (an add, a removal), so other writers do not wait for its preparation."""

    def keep_lease(self) -> None:
        """Renew the write lock's lease if due; raises :class:`IndexBusy` when it was lost."""

    def warm(self) -> None:
        """Outside any transaction: make ready now, before the lock is taken, what the
        next write transaction's look-up would otherwise prepare while holding it (a new
        Redis worker's band keys: ~95 s of CPU at 100k articles)."""


@runtime_checkable
class Prefetching(Protocol):
    """Optional: backends whose every read is a round trip to a server (Redis; added in
    session 15).  The index tells it, just before a transaction begins, the content
    keys of the batch itself that its look-up will ask about -- the tallies of its
    texts and paragraphs, its documents' exact copies, and, for an add, which of its
    paragraphs and documents are stored already -- and the backend reads them all in
    one round trip instead of one a call: the transaction's first (session 18: a read's
    snapshot carries them, one round trip fewer a check).

    Why: redis-py costs ~0.36 ms of CPU a round trip, plus the wait for the server,
    and these keys are known before the look-up (session 14: 8.7 round trips a single
    check at 100k articles, the 2 ms target)."""

    def prefetch(self, paragraphs: np.ndarray, documents: np.ndarray, tallies: np.ndarray,
                 ids: Sequence[str] = ()) -> None:
        """Read what the transaction's later calls will ask about: the stored rows of
        paragraph and document content keys ``paragraphs`` and ``documents``
        (:meth:`Storage.known_keys`, ``*_copies``), the tallies of keys
        ``tallies`` (:meth:`Storage.tallies`); uint64 arrays, each may be empty; and
        the :meth:`Storage.digests` of the document ids ``ids`` (session 19: ``dedup
        check`` asks whether its documents are stored with their texts).
        Called outside a transaction, for the next one to begin (read in its first
        round trip); inside one, read now.  It changes no answer; calls that ask about
        other keys read them as before."""


@runtime_checkable
class TalliesFirst(Protocol):
    """Optional: backends that publish a write transaction's documents before it ends
    (Redis: each ``insert_many`` is seen at once, and the transaction's rows are not
    undone when its process is killed).  The index hands such a backend the
    transaction's boilerplate tallies before its first write, not after its last.

    Why: tallied after the last write, an add killed between the two left published
    documents whose texts were never counted -- the next add skipped them as "already
    indexed", the counts stayed low for good and 5 of 600 articles got another verdict
    (tester's F2, session 15).  Counted first, a kill can only leave the counts ahead
    of what is stored (boilerplate recognised a little sooner), never behind."""

    def tally_first(self, keys: np.ndarray, documents: int) -> None:
        """The :meth:`Storage.tally` a batch will make when it is done, written now,
        before any of its documents.  Until that call, reads of the tallies
        (:meth:`Storage.tallies`) answer without them, as they would before it; that
        call (the same ``keys`` and ``documents``) then writes nothing again, and later
        reads see them (a transaction may judge several batches: the parts of a batch
        that gives an id twice, :func:`dedup.index.run.decide`)."""


@runtime_checkable
class KeyCounts(Protocol):
    """Optional: backends that count the stored rows of a content key without reading
    them (SQLite: its key index; added in session 13).

    Why: a look-up lists the exact copies of every matched stored text
    (:meth:`Storage.paragraph_copy_places`, contract rule 5), but a matched text is mostly
    stored once -- the copies read was the matched row itself, read whole a second
    time (at 100k stored articles ~110 rows an article of a batch add, ~3 ms).  Keys
    stored once have no copy to list: only the others are read."""

    def key_counts(self, level: Level, keys: np.ndarray) -> np.ndarray:
        """int64 per key of ``keys`` (uint64 content keys), in their order: how many
        stored rows of ``level`` have it (0: none)."""


@runtime_checkable
class DocumentTexts(Protocol):
    """Optional: backends that read the texts of many documents by row id at once
    (SQLite: one ``IN`` read, each text verified against its checksum; added in
    session 15.  Redis: one MGET with the document records, each text verified;
    session 16).

    Why: the index reads a stored page's text back when a stored paragraph is
    contained in a checked one (coverage, :mod:`dedup.index.coverage`) or when a page
    may share a site's frame (:mod:`dedup.index.furniture`).  ``Storage.get`` reads a
    document by its public id with all its paragraph rows, one call each.
    Without this protocol the index falls back to ``get``."""

    def document_texts(self, ids: np.ndarray) -> dict[int, str]:
        """``{row id: text}`` of the stored documents ``ids`` (row ids from
        :meth:`Storage.documents`); ids not stored are left out.  Raises
        :class:`~dedup.storage.protocol.IndexCorrupt` for a text that does not match
        its checksum."""


@runtime_checkable
class Compacting(Protocol):
    """The optional hook of a backend whose bucket log keeps removed rows' entries
    (Redis): ``Index.optimize`` calls it."""

    def compact(self) -> dict[str, Any]:
        """Rewrite the bucket log without the removed rows; returns what was done
        (``backend``, ``path``, ``rows`` ``None``, ``log``: entries and bytes before and
        after, rows left out; ``seconds``)."""


@runtime_checkable
class Maintained(Protocol):
    """Optional maintenance hooks of backends that keep a read-optimized copy of their
    buckets or a write log (SQLite); the index calls them when a backend has them."""

    def checkpoint(self) -> None:
        """Fold logged writes into the main store after a bulk write (best effort)."""

    def optimize(self, when: Optional[Callable[[int, int], bool]] = None) -> Optional[dict[str, Any]]:
        """Rewrite the read-optimized copy of the buckets, so look-ups stay fast as the
        index grows; returns what was done.  With ``when(covered, behind)``: only if
        that says so, and never waiting for another process doing it (returns ``None``
        then)."""

    def bucket_file_lag(self) -> tuple[int, int]:
        """``(covered, behind)``: paragraph rows the read-optimized copy covers, and
        rows stored since (what :meth:`optimize` would fold in)."""
