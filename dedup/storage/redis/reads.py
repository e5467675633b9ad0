"""Reading the Redis index's rows: the records a transaction holds, paragraph rows by
row id, band and content key look-ups (hiding rows above a read's snapshot, contract
rule 3), rows' signatures and sketches, and the boilerplate tallies.  A mixin of
:class:`~dedup.storage.redis.RedisStorage`; the reads of stored documents by row
(rows, texts, copies, sets) are in :mod:`.documents`, the reads by document name
(``get``, ``contains``, digests, the listing) and the counts in :mod:`.named`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ...segments import offsets_from_counts, sorted_unique, take_sets
from ...settings import Settings
from ..protocol import COPY_BLOCK, Derive, IndexCorrupt, Level, ParagraphPlaces, ParagraphRows
from .records import PARA_ROWS, ParagraphTable, chunk_records, unpack_paragraphs
from ..rowcheck import damaged, listed, plural
from .log import BucketCache
from .multimap import sealed_count
from .url import RedisURL, guarded

_TAG = {"paragraph": "p", "document": "d"}
#: Bytes of records a transaction keeps at most (:meth:`Reads._read`): a batch of
#: thousands of articles may read a large part of the index's ``p:`` chunks (~600 B a
#: stored paragraph); past this, records are read and not kept.
HELD_BYTES = 64 << 20
_HELD_BYTES = ("bytes",)  # where the bytes kept are counted in ``_held``
_ROWS_READ = ("rows read",)  # where the keys and documents of the paragraph rows returned are noted


class Reads:
    """Record, paragraph row and look-up reads (needs ``_r``, ``_k``, ``path``, ``settings``,
    ``_derive``, the bucket cache, ``_multimap``, ``_sync``, ``_visible`` and
    ``_horizon``)."""

    _r: Any
    _k: str
    _url: RedisURL
    path: str
    settings: Settings
    _derive: Derive
    _cache: BucketCache
    _depth: int
    _horizon: Optional[dict[str, int]]
    #: What the current transaction has read (``None``: outside a transaction, nothing
    #: held): record keys with their values (:meth:`_read`), content-key shards
    #: (:meth:`.multimap.Multimaps._prefetch`).
    _held: Optional[dict]
    _ahead: Optional[tuple[np.ndarray, np.ndarray, int]]

    def _records(self, base: str, ids: np.ndarray) -> list[Optional[bytes]]:
        """The records ``base + id`` of rows ``ids`` (one MGET of those not read before
        in this transaction; ``None`` where missing)."""
        return self._read([f"{self._k}{base}{i}" for i in ids.tolist()])

    def _chunks(self, chunks: list[int]) -> dict[int, bytes]:
        """The ``p:`` chunks (see :mod:`.records`) by number (as :meth:`_records`; missing ones left out)."""
        blobs = self._read([f"{self._k}p:{c}" for c in chunks])
        return {c: b for c, b in zip(chunks, blobs) if b is not None}

    def _read(self, names: list[str]) -> list[Optional[bytes]]:
        """The values of record keys ``names``: one MGET of those this transaction has
        not read yet (none when it read them all), the others from :attr:`_held`.

        Why: a check reads the same records more than once -- the documents its
        paragraph hits belong to, then those it compares (``documents`` twice), then
        their sets (``document_sets``: the ``d:`` records again and the ``p:`` chunks
        of their paragraphs, most already read for the hits) -- a round trip each, ~0.36
        ms of redis-py's CPU and a wait for the server (session 14: 8.7 round trips a
        single check).  A row's record is written once (row ids are never reused) and
        only deleted or, for a chunk, rewritten by a write: a read transaction sees the
        records as it first read them (a snapshot, as rule 3 asks), and this worker's
        own writes forget what was held (:meth:`_forget`)."""
        if not names:
            return []
        held = self._held
        if held is None:
            return self._r.mget(names)
        new = list(dict.fromkeys(n for n in names if n not in held))
        if not new:
            return [held[n] for n in names]
        got = dict(zip(new, self._r.mget(new)))
        size = sum(len(v) for v in got.values() if v is not None)
        if held.get(_HELD_BYTES, 0) + size <= HELD_BYTES:  # a large batch's reads are not all kept
            held.update(got)
            held[_HELD_BYTES] = held.get(_HELD_BYTES, 0) + size
        return [got[n] if n in got else held[n] for n in names]

    def _forget(self) -> None:
        """Forget the records and shards read in this transaction (a write changed some)."""
        if self._held is not None:
            self._held = {}

    def _paragraph_records(self, ids: np.ndarray) -> list[Optional[bytes]]:
        """The records of paragraph rows ``ids`` (``None`` where missing), one MGET;
        the chunks are parsed vectorized (:func:`.records.chunk_records`)."""
        ids = np.asarray(ids, dtype=np.int64)
        numbers = sorted_unique(ids // PARA_ROWS)
        chunks = self._chunks(numbers.tolist())
        if not chunks:
            return [None] * len(ids)
        held = np.array(sorted(chunks), dtype=np.int64)
        joined = b"".join(chunks[c] for c in held.tolist())
        bounds = offsets_from_counts(np.array([len(chunks[c]) for c in held.tolist()], dtype=np.int64))
        chunk, rows, start, end = chunk_records(np.frombuffer(joined, np.uint8), bounds, self.path,
                                                [f"{self._k}p:{c}" for c in held.tolist()])
        # A record is its chunk's only where its row belongs there (``row // PARA_ROWS``).
        mine = rows // PARA_ROWS == held[chunk]
        rows, start, end = rows[mine], start[mine], end[mine]
        order = np.argsort(rows, kind="stable")
        rows, start, end = rows[order], start[order], end[order]
        at = np.minimum(np.searchsorted(rows, ids), max(len(rows) - 1, 0))
        hit = (rows[at] == ids) if len(rows) else np.zeros(len(ids), bool)
        return [joined[a:b] if h else None for h, a, b in zip(hit.tolist(), start[at].tolist(), end[at].tolist())]

    def bucket_rows(self, level: Level) -> int:
        """The rows this worker's copy of the bucket log holds, as last synced (a
        transaction syncs when it begins; dropped rows count).  No server call."""
        return self._cache.levels[_TAG[level]].rows

    def candidates(self, level: Level, keys: np.ndarray, limit: Optional[int] = None, sketches: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """From this worker's copy of the bucket log (:mod:`.log`), synced when the
        transaction began (or now, outside one); rows above the read's snapshot are
        left out; a bucket of more than ``limit`` entries gives none."""
        if not self._depth:
            self._sync()
        self._checkpoint()
        tag = _TAG[level]
        hit, ids, found = self._cache.levels[tag].lookup(sorted_unique(np.asarray(keys, dtype=np.uint64)), limit,
                                                         sketches)
        seen = self._visible(tag, ids)
        if seen.all():  # (no row written since the read began: nothing to copy)
            return hit, ids, found
        return hit[seen], ids[seen], found[seen] if sketches else found

    @guarded("read")
    def paragraphs(self, ids: np.ndarray) -> ParagraphRows:
        ids = sorted_unique(np.asarray(ids, dtype=np.int64))
        ids = ids[self._visible("p", ids)]
        blobs = self._paragraph_records(ids)
        have = np.array([b is not None for b in blobs], dtype=bool)
        self._lost("p", ids[~have] if len(ids) else ids)
        return self._paragraph_rows(ids[have] if len(ids) else ids, [b for b in blobs if b is not None])

    @guarded("read")
    def paragraph_signatures(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Banded rows' signatures from this worker's copy of the bucket log (no server
        call); the others' (exact copies, not in the buckets) from their records."""
        return self._signatures("p", ids, self.paragraphs)

    @guarded("read")
    def document_signatures(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`paragraph_signatures`, of document rows (their records read only
        for rows not in the buckets)."""
        return self._signatures("d", ids, self.documents)

    def _signatures(self, tag: str, ids: np.ndarray, rows_of: Callable[[np.ndarray], Any]
                    ) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, signatures)`` of rows ``ids`` of level ``tag`` visible to this read:
        held ones from the copy of the bucket log, the rest from ``rows_of`` (their records)."""
        ids = sorted_unique(np.asarray(ids, dtype=np.int64))
        ids = ids[self._visible(tag, ids)]
        held, signatures = self._cache.levels[tag].signatures(ids)
        if held.all():
            return ids, signatures
        rest = rows_of(ids[~held])
        every = np.r_[ids[held], rest.ids]
        order = np.argsort(every, kind="stable")
        return every[order], np.concatenate([signatures, rest.signatures])[order]

    @guarded("read")
    def paragraph_sketches(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Banded rows' sketches and set sizes from this worker's copy of the bucket
        log (no server call); size 0 (and a zero sketch) for rows it does not hold
        (not banded, or removed)."""
        return self._cache.levels["p"].sketches_and_sizes(np.asarray(ids, dtype=np.int64))

    @guarded("read")
    def paragraph_copy_places(self, keys: np.ndarray, limit: int) -> ParagraphPlaces:
        """The copies' shards are read with the records of the documents of the rows
        this transaction read that hold those keys (:meth:`_documents_ahead`); then
        the records, :data:`~dedup.storage.protocol.COPY_BLOCK` rows at a time, each
        verified (:func:`.records.unpack_paragraphs`), their places kept.  No
        signature is derived (a copy is not banded: the worker's bucket log does not
        hold it, and it was recomputed from the shingle set)."""
        query = sorted_unique(np.asarray(keys, dtype=np.uint64))
        _, ids, _ = self._multimap_and("k:p:", query, limit, also=self._documents_ahead(query))
        # In row order, so that a block's records are in few ``p:`` chunks (a key's
        # copies are in as many documents, a chunk each); by key again at the end.
        ids = np.sort(ids)
        parts = []
        for lo in range(0, len(ids), COPY_BLOCK):
            block = ids[lo : lo + COPY_BLOCK]
            recs = self._paragraph_records(block)
            seen = self._visible("p", block)
            have = np.array([r is not None for r in recs], dtype=bool) & seen
            self._lost("p", block[~have & seen], lambda: self._multimap("k:p:", query, limit, fresh=True)[1])
            rows = block[have]
            t = unpack_paragraphs([r for r, h in zip(recs, have) if h], rows, self.path)
            self._note(t)
            parts.append(ParagraphPlaces(rows, t.docs, t.index, t.start, t.end, t.keys))
        places = ParagraphPlaces.joined(parts)
        return places.take(np.lexsort((places.ids, places.keys)))

    def _documents_ahead(self, keys: np.ndarray) -> list[str]:
        """The ``d:`` records not read yet of the documents of the paragraph rows this
        transaction returned (:meth:`_paragraph_rows`) whose content key is one of
        ``keys`` (sorted uint64).

        Why: the index asks the exact copies of the texts it matched
        (:meth:`paragraph_copy_places`) and then the documents of the rows it matched
        (:meth:`.documents.DocumentReads.documents`): those rows are the ones read that hold the matched texts,
        so their documents are read with the copies' shards -- a near copy's check 5
        round trips -> 4 (session 19).  A row read that holds such a text but was not
        matched is an exact copy of a matched one, whose document is then read too."""
        read = self._held.get(_ROWS_READ) if self._held is not None else None
        if not read or not len(keys):
            return []
        held_keys, docs = (np.concatenate([r[k] for r in read]) for k in (0, 1))
        mine = sorted_unique(docs[np.isin(held_keys, keys)])
        return [name for name in (f"{self._k}d:{d}" for d in mine.tolist()) if name not in self._held]

    def _note(self, t: ParagraphTable) -> None:
        """Inside a transaction, note the keys and documents of paragraph rows read
        and returned (:meth:`_documents_ahead`)."""
        if self._held is not None and len(t.keys):
            self._held.setdefault(_ROWS_READ, []).append((t.keys, t.docs))

    def _paragraph_rows(self, ids: np.ndarray, blobs: list[bytes]) -> ParagraphRows:
        """Rows from their records; signatures from the bucket log's copy where held,
        else recomputed from the shingle sets (rows not in the buckets).  Inside a
        transaction their keys and documents are noted (:meth:`_documents_ahead`)."""
        t = unpack_paragraphs(blobs, ids, self.path)
        self._note(t)
        held, signatures = self._cache.levels["p"].signatures(ids)
        if not held.all():
            every = np.zeros((len(ids), self.settings.num_perm), np.uint32)
            every[held] = signatures
            every[~held] = self._derive.signatures(self.settings, take_sets(t.sets, np.flatnonzero(~held)))
            signatures = every
        return ParagraphRows(ids=ids, docs=t.docs, index=t.index, start=t.start, end=t.end, keys=t.keys,
                             signatures=signatures, sets=t.sets)

    def _lost(self, tag: str, ids: np.ndarray, listed: Optional[Callable[[], np.ndarray]] = None) -> None:
        """Raise :class:`IndexCorrupt` if rows ``ids`` of level ``tag``, whose records
        were not found, are live rows of the bucket log (synced again now: a row removed
        since the read began was dropped from it, and is left out) or still among the
        rows ``listed()`` gives (a content-key multimap read again: a removal takes a
        row out of it in the same call that deletes the record).

        Why: a record deleted from the server (``DEL PREFIX:d:N``, an emptied ``p:``
        chunk) left a listed row out without a word, and answers changed (tester's T2:
        a stored document's identical copy matched another document at 0.11; T3: an
        IndexError)."""
        if not len(ids):
            return
        self._sync()
        live, _ = self._cache.levels[tag].signatures(ids)
        if listed is not None:
            live |= np.isin(ids, listed())
        if live.any():
            raise IndexCorrupt(self._missing(tag, ids[live].tolist()))

    def _missing(self, tag: str, rows: list[int]) -> str:
        keys = sorted_unique(np.array(rows, dtype=np.int64) // (PARA_ROWS if tag == "p" else 1)).tolist()
        what = {"p": "paragraph", "d": "document"}[tag]
        # A paragraph record is found in its chunk by its row number: a chunk whose bytes
        # changed may hold it under another (tester T6, session 24: "missing" for a record
        # present but damaged).
        renamed = ("" if tag != "p" else ", or its record there has a damaged row number" if len(rows) == 1
                   else ", or their records there have damaged row numbers")
        return damaged(self.path, f"the record{plural(rows)} of stored {what} row{plural(rows)} {listed(rows)} "
                                  f"{'are' if len(rows) > 1 else 'is'} missing (Redis key{plural(keys)} "
                                  f"{listed([f'{self._k}{tag}:{c}' for c in keys])}){renamed}")

    @guarded("read")
    def known_keys(self, level: Level, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.uint64)
        query = sorted_unique(keys)
        at, ids = self._multimap(f"k:{_TAG[level]}:", query, 1)
        return np.isin(keys, query[at[self._visible(_TAG[level], ids)]])

    @guarded("read")
    def tallies(self, keys: np.ndarray) -> tuple[np.ndarray, int]:
        keys = np.asarray(keys, dtype=np.uint64)
        unique, inverse = np.unique(keys, return_inverse=True)
        # ``judged`` read before the shards, in their round trip (a writer changes both in one call).
        at, found, (judged,) = self._multimap_and("k:t:", unique, 1, [self._k + "judged"])
        judged = sealed_count(judged, self.path, self._k + "judged", "judged", "the documents judged")
        counts = np.zeros(len(unique), np.int64)
        counts[at] = found
        # Each shard verifies; a count above the documents judged is impossible too (T11).
        if len(counts) and counts.max() > judged:
            raise IndexCorrupt(damaged(self.path, f"a boilerplate tally ({self._k}k:t:..., {int(counts.max())}) "
                                                  f"exceeds the documents judged ({self._k}judged, {judged})"))
        if self._ahead is not None:
            judged = self._ahead_of(unique, counts, judged)
        return counts[inverse.ravel()], judged

    def _ahead_of(self, unique: np.ndarray, counts: np.ndarray, judged: int) -> int:
        """The tallies read (``counts`` of the sorted keys ``unique``, changed in place,
        and ``judged``, returned) less what this transaction counted first
        (:meth:`.writes.Writes.tally_first`): what they were when it began -- nobody
        else tallies while it holds the write lock.  A tally below this
        transaction's own count was lowered by something else: damage."""
        keys, added, documents = self._ahead  # type: ignore[misc]
        at = np.minimum(np.searchsorted(keys, unique), max(len(keys) - 1, 0))
        mine = (keys[at] == unique) if len(keys) else np.zeros(len(unique), bool)
        counts[mine] -= added[at[mine]]
        judged -= documents
        if judged < 0 or (len(counts) and counts.min() < 0):
            raise IndexCorrupt(damaged(self.path, f"a boilerplate tally ({self._k}k:t:...) or the documents judged "
                                                  f"({self._k}judged) is below what this write counted a moment ago"))
        return judged
