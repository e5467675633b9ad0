"""The shared backend: one index on a Redis server, used by many ingest workers at once.

Why Redis: when ingestion runs in several processes or on several machines, the
pre-ingest index must be shared; Redis is the common choice, and a small server holds a
large index (see ``benchmarks/`` for memory per paragraph).  Talks to the server with
redis-py (hiredis parses replies when installed).  The layout is in :mod:`.records`, the
server-side scripts in :mod:`.lua`, URLs and errors in :mod:`.url`.

How the contract (:mod:`dedup.storage.protocol`) is kept:

* **atomic admission**: a write transaction holds a lock key (``SET NX PX``: a token with
  a lease), so check-then-add is exclusive across workers; every write is one Lua call
  that first checks the token is still ours (a stalled writer whose lease ran out is
  fenced out) and renews the lease;
* **all or nothing**: each ``insert_many`` (a whole batch of documents) is written by
  a few script calls and published by the last (ids, counts and the ``top:*`` marks
  at once), each removal by one call, so a reader sees a batch whole or not at all,
  and a worker killed mid-batch leaves earlier batches whole and nothing visible of
  the one it was writing (the next writer removes its unpublished rows); when a
  transaction fails by an exception the documents it had written are removed again
  (best effort: not when the server is gone -- then the batch can be retried, the
  documents already stored being found by id);
* **snapshots**: every look-up is one atomic call; a check makes several, and hides
  rows above the ids written when it began, so it sees each concurrent batch whole or
  not at all (rule 3);
* **removal** takes the removed rows out of every band entry and hands the bands of a
  banded text over to its oldest surviving exact copy -- no stale entries remain.
"""

from __future__ import annotations

import functools
import os
import secrets
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar

import numpy as np

from ...segments import SetTable, offsets_from_counts, ranges, sorted_unique, take_sets, unique_sets
from ...settings import Settings
from ...split import Span
from .. import compat
from ..protocol import (
    BUSY_TIMEOUT,
    Derive,
    DocumentRows,
    IndexBusy,
    IndexCorrupt,
    IndexMissing,
    IndexReadOnly,
    Level,
    Listed,
    NewDocument,
    ParagraphRows,
    StorageError,
    StoredDocument,
)
from . import lua
from .records import (
    DOC_BANDED,
    MAX_ROW,
    PARA_BANDED,
    PARA_ROWS,
    ParagraphTable,
    chunk_entries,
    pack_document,
    pack_paragraphs,
    pack_text,
    sketch_rows,
    split_chunk,
    u32,
    u64,
    unpack_document,
    unpack_meta,
    unpack_paragraphs,
    unpack_text,
)
from .url import RedisURL, parse, translate

FORMAT = "dedup-index-redis"
#: The layout (:mod:`.records`); an index of another version is refused ("rebuild").
#: 2: multimaps as packed strings, zlib text, one script call per batch.
FORMAT_VERSION = "2"
#: log2 of the shards of each multimap below the paragraph buckets' (the URL's
#: ``shards``, 20 by default): document buckets (10x fewer rows, 85 bands each),
#: paragraph content keys (one entry a row) and document content keys.  At the
#: defaults and 1M paragraphs: ~80, ~65, ~60 and ~50 entries a shard -- a few hundred
#: bytes, so a shard's key costs ~1 byte an entry and a look-up reads little.
SHARD_BITS_BELOW = {"b:p:": 0, "b:d:": 3, "k:p:": 6, "k:d:": 9}
#: Keys per MGET when reading multimap shards (a batch's look-up is several MGETs,
#: pipelined: one round trip, without one huge reply).
MGET_KEYS = 4096
#: Multimap entries (band keys, content keys) written by one script call of a batch: a
#: script holds the server while it runs (~20k entries: a few tens of ms on an idle
#: machine; several 256-article batches' worth took seconds on a loaded one).
GROUP_ENTRIES = 20_000

_F = TypeVar("_F", bound=Callable[..., Any])
_TAG = {"paragraph": "p", "document": "d"}


def _guarded(doing: str) -> Callable[[_F], _F]:
    """Redis errors raised inside the method become clear :class:`StorageError` s."""

    def wrap(method: _F) -> _F:
        @functools.wraps(method)
        def run(self: "RedisStorage", *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except StorageError:
                raise
            except Exception as err:  # noqa: BLE001 -- filtered below
                if not _is_redis_error(err):
                    raise
                raise translate(err, self.path, doing) from err

        return run  # type: ignore[return-value]

    return wrap


def _is_redis_error(err: Exception) -> bool:
    import redis.exceptions

    return isinstance(err, redis.exceptions.RedisError)


class RedisStorage:
    """An index under one key prefix of a Redis database.  Open with :func:`open_redis`."""

    def __init__(self, url: RedisURL, client: Any, settings: Settings, meta: dict[str, str], readonly: bool,
                 busy_timeout: float, derive: Derive) -> None:
        self.path = url.shown
        self.settings = settings
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        self._url = url
        self._r = client
        self._derive = derive
        self._k = url.prefix + ":"
        self._shards = {base: 1 << max(int(meta["shard_bits"]) - below, 0)
                        for base, below in SHARD_BITS_BELOW.items()}
        self._width = derive.sketch_width(settings)
        self._per = sketch_rows(self._width)
        self._sketches = client.register_script(lua.SKETCHES)
        self._apply = client.register_script(lua.APPLY)
        self._insert = client.register_script(lua.INSERT)
        self._lock = client.register_script(lua.ACQUIRE)
        self._release = client.register_script(lua.RELEASE)
        self._depth = 0
        self._token: Optional[str] = None
        # The last document and paragraph row ids handed out, and published, when the
        # lock was taken (known to the lock's holder).
        self._seq = (0, 0)
        self._top = (0, 0)
        self._written: list[str] = []
        # The snapshot of a read transaction: the highest row ids whose writes had
        # completed when it began (rows above are hidden from it); ``None``: see all.
        self._horizon: Optional[dict[str, int]] = None

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def transaction(self, write: bool) -> Iterator[None]:
        """A read sees the rows written before it began (a snapshot by row id: ids only
        grow, and a writer advances ``top:*`` in the same call that writes the rows); a
        write holds the index's lock from the first read it decides on to its last write."""
        if self._depth:
            if write and self._token is None:
                raise StorageError(f"{self.path}: a write inside a read transaction")
            yield
            return
        if write and self.readonly:
            raise IndexReadOnly(f"{self.path}: the index was opened read-only")
        self._depth = 1
        try:
            if not write:
                self._horizon = self._snapshot()
                try:
                    yield
                finally:
                    self._horizon = None
                return
            self._token = self._acquire()
            self._written = []
            try:
                if self._seq != self._top:
                    self._guarded_discard()
                yield
            except BaseException:
                self._undo()
                raise
            finally:
                self._unlock()
        finally:
            self._depth = 0
            self._token = None

    @_guarded("read")
    def _snapshot(self) -> dict[str, int]:
        top = self._r.mget([self._k + "top:p", self._k + "top:d"])
        return {"p": int(top[0] or 0), "d": int(top[1] or 0)}

    def _visible(self, tag: str, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` (rows of level ``tag``) the current read may see."""
        if self._horizon is None:
            return np.ones(len(ids), dtype=bool)
        return ids <= self._horizon[tag]

    @_guarded("lock")
    def _acquire(self) -> str:
        token = secrets.token_hex(16)
        lease = int(self._url.lease * 1000)
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.002
        while True:
            got = self._lock(args=[self._k + "lock", token, lease, self._k])
            if got[0]:
                self._seq = (int(got[1]), int(got[2]))
                self._top = (int(got[3]), int(got[4]))
                return token
            if time.monotonic() >= deadline:
                raise IndexBusy(f"{self.path}: another worker held the index's write lock for more than "
                                f"{self.busy_timeout:g} s; nothing was changed, try again")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.05)

    @_guarded("clean up")
    def _guarded_discard(self) -> None:
        self._discard(self._seq, self._top)

    def _unlock(self) -> None:
        try:
            self._release(args=[self._k + "lock", self._token])
        except Exception as err:  # noqa: BLE001 -- the lease frees it anyway
            if not _is_redis_error(err):
                raise

    def _undo(self) -> None:
        """Remove what the failed transaction stored (best effort, see the module doc)."""
        for doc_id in reversed(self._written):
            try:
                self.delete(doc_id)
            except StorageError:
                return

    def _write(self, guard: str, doc_id: str, ops: list) -> bool:
        args = [self._k + "lock", self._token, int(self._url.lease * 1000), guard, self._k + "ids", doc_id, *ops]
        return bool(self._apply(args=args))

    # -- look-ups -------------------------------------------------------------------

    def _multimap(self, base: str, keys: np.ndarray, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(key index, row id)`` of every entry of the multimap ``base`` (see
        :mod:`.lua`) under ``keys`` (uint64), ordered by key index then age; with
        ``limit``, the oldest ``limit`` of each key.  The keys' shards are read with
        MGETs in one pipelined round trip and searched here, vectorized."""
        keys = np.asarray(keys, dtype=np.uint64)
        if not len(keys):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        shard = (keys & np.uint64(0xFFFFFFFF)) % np.uint64(self._shards[base])
        field = (keys >> np.uint64(32)).astype(np.uint32)
        # One shard read per key (a shard two keys share is sent twice: rare, and it
        # keeps each key's entries side by side, so no gather is needed).
        names = [f"{self._k}{base}{x}" for x in shard.tolist()]
        pipe = self._r.pipeline(transaction=False)
        for lo in range(0, len(names), MGET_KEYS):
            pipe.mget(names[lo : lo + MGET_KEYS])
        blobs = [b or b"" for part in pipe.execute() for b in part]
        if any(len(b) % 8 for b in blobs):
            raise IndexCorrupt(f"{self.path}: a stored {base[:-1]} bucket entry is truncated")
        per_key = np.array([len(b) // 8 for b in blobs], dtype=np.int64)
        entries = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(-1, 2)
        match = np.flatnonzero(entries[:, 0] == np.repeat(field, per_key))
        at = np.searchsorted(np.cumsum(per_key), match, side="right")
        ids = entries[match, 1].astype(np.int64)
        if limit and len(at):
            rank = np.arange(len(at)) - np.searchsorted(at, at, side="left")
            at, ids = at[rank < limit], ids[rank < limit]
        return at, ids

    def _read_sketches(self, tag: str, ids: np.ndarray) -> np.ndarray:
        """``(len(ids), width)`` uint8 sketches of rows ``ids`` (ascending, unique)."""
        blob = self._sketches(args=[f"{self._k}sk:{tag}:", self._width, self._per, u32(ids)]) if len(ids) else b""
        if len(blob) != len(ids) * self._width:
            raise IndexCorrupt(f"{self.path}: the sketches of stored rows are missing or truncated")
        return np.frombuffer(blob, dtype=np.uint8).reshape(len(ids), self._width)

    def _records(self, base: str, ids: np.ndarray) -> list[Optional[bytes]]:
        """The records ``base + id`` of rows ``ids`` (one MGET; ``None`` where missing)."""
        return self._r.mget([f"{self._k}{base}{i}" for i in ids.tolist()]) if len(ids) else []

    def _chunks(self, chunks: list[int]) -> dict[int, bytes]:
        """The ``p:`` chunks (see :mod:`.records`) by number (one MGET; missing ones left out)."""
        blobs = self._r.mget([f"{self._k}p:{c}" for c in chunks]) if chunks else []
        return {c: b for c, b in zip(chunks, blobs) if b is not None}

    def _paragraph_records(self, ids: np.ndarray) -> list[Optional[bytes]]:
        """The records of paragraph rows ``ids`` (``None`` where missing), one MGET."""
        chunks = self._chunks(sorted_unique(np.asarray(ids, dtype=np.int64) // PARA_ROWS).tolist())
        where = {c: split_chunk(b, self.path) for c, b in chunks.items()}
        out: list[Optional[bytes]] = []
        for row in ids.tolist():
            at = where.get(row // PARA_ROWS, {}).get(row)
            out.append(chunks[row // PARA_ROWS][at[0] : at[1]] if at else None)
        return out

    @_guarded("read")
    def candidates(self, level: Level, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        query = sorted_unique(np.asarray(keys, dtype=np.uint64))
        tag = _TAG[level]
        at, ids = self._multimap(f"b:{tag}:", query)
        seen = self._visible(tag, ids)
        at, ids = at[seen], ids[seen]
        rows = sorted_unique(ids)
        return query[at], ids, self._read_sketches(tag, rows)[np.searchsorted(rows, ids)]

    @_guarded("read")
    def paragraphs(self, ids: np.ndarray) -> ParagraphRows:
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        ids = ids[self._visible("p", ids)]
        blobs = self._paragraph_records(ids)
        have = np.array([b is not None for b in blobs], dtype=bool)
        return self._paragraph_rows(ids[have] if len(ids) else ids, [b for b in blobs if b is not None])

    def paragraph_signatures(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self.paragraphs(ids)  # a record is one value: reading it whole costs the same
        return rows.ids, rows.signatures

    @_guarded("read")
    def paragraph_copies(self, keys: np.ndarray, limit: int) -> ParagraphRows:
        _, ids = self._multimap("k:p:", sorted_unique(np.asarray(keys, dtype=np.uint64)), limit)
        recs = self._paragraph_records(ids)
        have = np.array([r is not None for r in recs], dtype=bool) & self._visible("p", ids)
        recs = [r for r, h in zip(recs, have) if h]
        return self._paragraph_rows(ids[have] if len(ids) else ids, recs)

    def _paragraph_rows(self, ids: np.ndarray, blobs: list[bytes]) -> ParagraphRows:
        t = unpack_paragraphs(blobs, self.path)
        return ParagraphRows(ids=ids, docs=t.docs, index=t.index, start=t.start, end=t.end, keys=t.keys,
                             signatures=self._derive.signatures(self.settings, t.sets), sets=t.sets)

    @_guarded("read")
    def documents(self, ids: np.ndarray) -> DocumentRows:
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        ids = ids[self._visible("d", ids)]
        blobs = self._records("d:", ids)
        keep = [i for i, b in enumerate(blobs) if b is not None]
        return self._document_rows(ids[keep] if len(ids) else ids, [blobs[i] for i in keep])

    @_guarded("read")
    def document_copies(self, keys: np.ndarray, limit: int) -> DocumentRows:
        _, ids = self._multimap("k:d:", sorted_unique(np.asarray(keys, dtype=np.uint64)), limit)
        recs = self._records("d:", ids)
        seen = self._visible("d", ids)
        keep = [i for i, r in enumerate(recs) if r and seen[i]]
        return self._document_rows(ids[keep] if len(ids) else ids, [recs[i] for i in keep])

    def _document_rows(self, ids: np.ndarray, blobs: list[bytes]) -> DocumentRows:
        heads = [unpack_document(b, self.settings.num_perm, self.path) for b in blobs]
        return DocumentRows(
            ids=np.asarray(ids, dtype=np.int64),
            doc_ids=[h.doc_id for h in heads],
            chars=np.array([h.chars for h in heads], dtype=np.int64),
            keys=np.array([h.key for h in heads], dtype=np.uint64),
            signatures=(np.stack([h.signature for h in heads]) if heads
                        else np.zeros((0, self.settings.num_perm), np.uint32)),
        )

    @_guarded("read")
    def document_sets(self, ids: np.ndarray) -> SetTable:
        ids = np.asarray(ids, dtype=np.int64)
        blobs = self._records("d:", ids)
        if any(b is None for b in blobs):
            raise IndexCorrupt(f"{self.path}: a document vanished during a check")
        heads = [unpack_document(b, self.settings.num_perm, self.path) for b in blobs]
        counts = np.array([h.paragraphs for h in heads], dtype=np.int64)
        rows = ranges(np.array([h.first for h in heads], dtype=np.int64), counts)
        table = self._read_paragraphs(rows)
        owner = np.repeat(np.arange(len(ids)), counts)
        per_doc = np.bincount(owner, weights=table.sets.sizes(), minlength=len(ids)).astype(np.int64)
        return unique_sets(table.sets.values, offsets_from_counts(per_doc))

    def _read_paragraphs(self, rows: np.ndarray) -> ParagraphTable:
        blobs = self._paragraph_records(rows)
        if any(b is None for b in blobs):
            raise IndexCorrupt(f"{self.path}: a stored document has lost paragraph rows")
        return unpack_paragraphs(blobs, self.path)

    @_guarded("read")
    def known_keys(self, level: Level, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.uint64)
        query = sorted_unique(keys)
        at, ids = self._multimap(f"k:{_TAG[level]}:", query, 1)
        return np.isin(keys, query[at[self._visible(_TAG[level], ids)]])

    # -- writes ---------------------------------------------------------------------

    @_guarded("write to")
    def insert_many(self, docs: Sequence[NewDocument]) -> None:
        """The batch in parts of about :data:`GROUP_ENTRIES` band entries, one script
        call each (:data:`.lua.INSERT`): rows numbered on from the ids handed out when
        the lock was taken, hidden from readers until the last call publishes the whole
        batch (its ids, its paragraph count and the ``top:*`` marks, at once).  So the
        batch is seen whole or not at all, and no call holds the server for long (Redis
        serves nobody else while a script runs).  A writer that dies between two calls
        leaves unpublished rows, which the next writer removes (:meth:`_discard`)."""
        if not docs:
            return
        if self._token is None:
            raise StorageError(f"{self.path}: insert_many outside a write transaction")
        k, (seq_d, seq_p) = self._k, self._seq
        counts = np.array([len(d.para_index) for d in docs], dtype=np.int64)
        n, m = len(docs), int(counts.sum())
        rows = np.arange(seq_d + 1, seq_d + n + 1, dtype=np.int64)
        bounds = offsets_from_counts(counts)
        para_ids = np.arange(seq_p + 1, seq_p + m + 1, dtype=np.int64)
        if seq_d + n > MAX_ROW or seq_p + m > MAX_ROW:
            raise StorageError(f"{self.path}: the index has run out of row ids (2^32)")

        def column(name: str, dtype: Any) -> np.ndarray:
            return (np.concatenate([getattr(d, name) for d in docs]).astype(dtype) if m
                    else np.zeros(0, dtype))

        keys, banded = column("para_keys", np.uint64), column("banded", bool)
        signatures = (np.concatenate([d.para_signatures for d in docs]) if m
                      else np.zeros((0, self.settings.num_perm), np.uint32))
        doc_signatures = np.stack([d.signature for d in docs])
        doc_keys = np.array([d.key for d in docs], dtype=np.uint64)
        doc_banded = np.array([d.doc_banded for d in docs], dtype=bool)
        values = [d.para_sets.values for d in docs]
        sets = SetTable(values=np.concatenate(values) if m else np.zeros(0, np.uint64),
                        offsets=offsets_from_counts(np.concatenate([d.para_sets.sizes() for d in docs])))
        records = pack_paragraphs(np.repeat(rows, counts), column("para_index", np.int64),
                                  column("para_start", np.int64), column("para_end", np.int64), keys, banded, sets)
        para_sketches = self._derive.sketches(signatures)
        doc_sketches = self._derive.sketches(doc_signatures)
        now = time.time()
        headers = [x for d, row, first, count in zip(docs, rows.tolist(), (seq_p + 1 + bounds[:-1]).tolist(),
                                                    counts.tolist())
                   for x in (pack_document(d.key, first if count else 0, len(d.text), count, d.doc_banded, now,
                                           d.signature, d.doc_id),
                             pack_text(d.text, d.meta))]
        # Parts: consecutive documents, about GROUP_ENTRIES multimap entries each.
        cost = np.bincount(np.repeat(np.arange(n), counts), weights=banded * self.settings.bands + 1,
                           minlength=n) + doc_banded * self.settings.bands + 1
        cuts = np.searchsorted(np.cumsum(cost), np.arange(GROUP_ENTRIES, cost.sum(), GROUP_ENTRIES), side="right")
        parts = [(int(a), int(b)) for a, b in zip(np.r_[0, cuts], np.r_[cuts, n]) if b > a]
        ids = [d.doc_id for d in docs]
        # Listed before the calls: an interrupt while an answer is on its way still
        # removes the batch when the transaction fails (see ``transaction``).
        self._written += ids
        for part, (a, b) in enumerate(parts):
            lo, hi = int(bounds[a]), int(bounds[b])
            p_ids, d_rows, mine = para_ids[lo:hi], rows[a:b], banded[lo:hi]
            sketch_writes = (self._sketch_ops("p", p_ids, para_sketches[lo:hi])
                             + self._sketch_ops("d", d_rows, doc_sketches[a:b]))
            appends = [x for chunk, blob in chunk_entries(p_ids, records[lo:hi]).items() for x in (f"p:{chunk}", blob)]
            checks = ids if part == 0 else []
            last = part == len(parts) - 1
            publish = ([x for doc_id, row, d in zip(ids, rows.tolist(), docs) for x in (doc_id, row, d.digest)]
                       if last else [])
            args: list = [
                k + "lock", self._token, int(self._url.lease * 1000), k, seq_d + a, seq_p + lo, b - a, hi - lo,
                self._per * self._width, *(self._shards[x] for x in ("b:p:", "b:d:", "k:p:", "k:d:")),
                *self._bands(signatures[lo:hi][mine], p_ids[mine]),
                *self._bands(doc_signatures[a:b][doc_banded[a:b]], d_rows[doc_banded[a:b]]),
                u64(keys[lo:hi]), u32(p_ids), u64(doc_keys[a:b]), u32(d_rows),
                len(sketch_writes) // 3, len(appends) // 2, len(checks), n if last else 0, m,
                *sketch_writes, *appends, *headers[2 * a : 2 * b], *checks, *publish]
            done = self._insert(args=args)
            if not done[0]:  # only the first part checks ids: nothing was written
                del self._written[-n:]
                raise StorageError(f"{self.path}: document {done[1].decode('utf-8', 'surrogatepass')!r} is already "
                                   "in the index (nothing of the batch was written)")
        self._seq = (seq_d + n, seq_p + m)

    def _discard(self, seq: tuple[int, int], top: tuple[int, int]) -> None:
        """Remove the rows a writer that died mid-batch wrote but never published
        (document rows ``top[0]+1 .. seq[0]``, paragraph rows ``top[1]+1 .. seq[1]``;
        nobody has seen them), then publish the empty range, so ids stay unique."""
        k, ops = self._k, []
        para_rows = np.arange(top[1] + 1, seq[1] + 1, dtype=np.int64)
        blobs = self._paragraph_records(para_rows)
        have = np.array([b is not None for b in blobs], dtype=bool)
        if have.any():
            stored = para_rows[have]
            t = unpack_paragraphs([b for b in blobs if b is not None], self.path)
            banded = np.flatnonzero(t.banded)
            if len(banded):
                ops += self._band_ops("MDEL", "p", self._derive.signatures(self.settings, take_sets(t.sets, banded)),
                                      stored[banded])
            ops += ["MDEL", k + "k:p:", self._shards["k:p:"], u64(t.keys), u32(stored)]
            ops += self._chunk_ops(set(stored.tolist()), set())
        doc_rows = np.arange(top[0] + 1, seq[0] + 1, dtype=np.int64)
        for row, blob in zip(doc_rows.tolist(), self._records("d:", doc_rows)):
            if blob is None:
                continue
            head = unpack_document(blob, self.settings.num_perm, self.path)
            if head.banded:
                ops += self._band_ops("MDEL", "d", head.signature[None, :], np.array([row]))
            ops += ["MDEL", k + "k:d:", self._shards["k:d:"], u64(np.array([head.key], np.uint64)),
                    u32(np.array([row])), "DEL", f"{k}d:{row}", "DEL", f"{k}t:{row}"]
        self._write("", "", ops + ["SET", k + "top:d", seq[0], "SET", k + "top:p", seq[1]])

    def _bands(self, signatures: np.ndarray, ids: np.ndarray) -> tuple[bytes, bytes]:
        """The multimap blobs (u64 band keys, u32 row ids) of rows with these signatures."""
        bands = self._derive.bands(self.settings, signatures) if len(ids) else np.zeros((0, 1), np.uint64)
        return u64(bands.ravel()), u32(np.repeat(ids, bands.shape[1]))

    def _sketch_ops(self, tag: str, ids: np.ndarray, sketches: np.ndarray) -> list:
        """(key suffix, byte offset, bytes) writing the sketches of consecutive rows ``ids``."""
        ops: list = []
        for chunk in sorted_unique(ids // self._per).tolist():
            here = ids // self._per == chunk
            ops += [f"sk:{tag}:{chunk}", int(ids[here][0] % self._per) * self._width, sketches[here].tobytes()]
        return ops

    def _band_ops(self, op: str, tag: str, signatures: np.ndarray, ids: np.ndarray) -> list:
        base = f"b:{tag}:"
        return [op, self._k + base, self._shards[base], *self._bands(signatures, ids)]

    @_guarded("remove from")
    def delete(self, doc_id: str) -> bool:
        k, s = self._k, self.settings
        row = self._r.hget(k + "ids", doc_id)
        if row is None:
            return False
        row = int(row)
        head = unpack_document(self._r.get(f"{k}d:{row}") or b"", s.num_perm, self.path)
        para_ids = np.arange(head.first, head.first + head.paragraphs, dtype=np.int64)
        paras = self._read_paragraphs(para_ids)
        ops: list = []
        if head.banded:
            ops += self._band_ops("MDEL", "d", head.signature[None, :], np.array([row]))
            _, copies = self._multimap("k:d:", np.array([head.key], np.uint64))
            heirs = copies[copies != row]
            if len(heirs):
                ops += self._band_ops("MADD", "d", head.signature[None, :], heirs[:1])
                ops += ["SETRANGE", f"{k}d:{int(heirs[0])}", DOC_BANDED, b"\x01"]
        banded = np.flatnonzero(paras.banded)
        heirs_p: list[int] = []
        if len(banded):
            signatures = self._derive.signatures(s, take_sets(paras.sets, banded))
            ops += self._band_ops("MDEL", "p", signatures, para_ids[banded])
            keys = paras.keys[banded]
            at, copies = self._multimap("k:p:", keys)
            outside = (copies < head.first) | (copies >= head.first + head.paragraphs)
            # The oldest surviving copy of each banded text (ids are in age order).
            which, first_at = np.unique(at[outside], return_index=True)
            if len(which):
                heirs = copies[outside][first_at]
                ops += self._band_ops("MADD", "p", signatures[which], heirs)
                heirs_p = heirs.tolist()
        ops += ["MDEL", k + "k:p:", self._shards["k:p:"], u64(paras.keys), u32(para_ids),
                "MDEL", k + "k:d:", self._shards["k:d:"], u64(np.array([head.key], np.uint64)), u32(np.array([row])),
                "DEL", f"{k}d:{row}", "DEL", f"{k}t:{row}", "HDEL", k + "ids", doc_id, "HDEL", k + "dg", doc_id,
                "INCRBY", k + "n:p", -head.paragraphs]
        ops += self._chunk_ops(set(para_ids.tolist()), set(heirs_p))
        return self._write("old", doc_id, ops)

    def _chunk_ops(self, removed: set[int], marked: set[int]) -> list:
        """SET / DEL rewriting the ``p:`` chunks holding paragraph rows ``removed``
        (taken out) and ``marked`` (now banded: their bands were handed over to them)."""
        ops: list = []
        touched = sorted({row // PARA_ROWS for row in removed | marked})
        for chunk, blob in self._chunks(touched).items():
            rows, records = [], []
            for row, (a, b) in split_chunk(blob, self.path).items():
                if row in removed:
                    continue
                record = blob[a:b]
                if row in marked:
                    record = record[:PARA_BANDED] + b"\x01" + record[PARA_BANDED + 1 :]
                rows.append(row)
                records.append(record)
            key = f"{self._k}p:{chunk}"
            ops += ["SET", key, chunk_entries(np.array(rows, dtype=np.int64), records)[chunk]] if rows else ["DEL", key]
        return ops

    # -- documents ------------------------------------------------------------------

    @_guarded("read")
    def get(self, doc_id: str) -> Optional[StoredDocument]:
        k = self._k
        row = self._r.hget(k + "ids", doc_id)
        if row is None:
            return None
        head_blob, text_blob = self._r.mget([f"{k}d:{int(row)}", f"{k}t:{int(row)}"])
        if head_blob is None or text_blob is None:
            return None  # removed meanwhile
        head = unpack_document(head_blob, self.settings.num_perm, self.path)
        paras = self._read_paragraphs(np.arange(head.first, head.first + head.paragraphs, dtype=np.int64))
        text, meta = unpack_text(text_blob, self.path)
        return StoredDocument(doc_id=doc_id, text=text,
                              paragraphs=tuple(Span(int(a), int(b)) for a, b in zip(paras.start, paras.end)),
                              meta=meta, added=head.added)

    @_guarded("read")
    def digests(self, doc_ids: Sequence[str]) -> dict[str, Optional[str]]:
        ids = list(doc_ids)
        if not ids:
            return {}
        pipe = self._r.pipeline(transaction=False)
        pipe.hmget(self._k + "ids", ids)
        pipe.hmget(self._k + "dg", ids)
        rows, digests = pipe.execute()
        return {d: (g.decode() if g is not None else None) for d, r, g in zip(ids, rows, digests) if r is not None}

    @_guarded("read")
    def listing(self, after: int = 0, limit: int = 1000, before: Optional[float] = None) -> list[Listed]:
        """Rows are read in ascending id from ``after`` in pages of ``limit`` ids (a
        removed row is a missing key), up to the highest row handed out."""
        k, out, row = self._k, [], after
        top = int(self._r.get(k + "top:d") or 0)
        while len(out) < limit and row < top:
            rows = list(range(row + 1, min(row + limit, top) + 1))
            heads = self._r.mget([f"{k}d:{r}" for r in rows])
            found = [(r, unpack_document(h, self.settings.num_perm, self.path)) for r, h in zip(rows, heads) if h]
            found = [(r, h) for r, h in found if before is None or h.added < before][: limit - len(out)]
            texts = self._r.mget([f"{k}t:{r}" for r, _ in found]) if found else []
            out += [Listed(r, h.doc_id, h.added, h.chars, h.paragraphs, unpack_meta(t) if t else {})
                    for (r, h), t in zip(found, texts)]
            row = rows[-1]
        return out

    @_guarded("read")
    def contains(self, doc_id: str) -> bool:
        return bool(self._r.hexists(self._k + "ids", doc_id))

    @_guarded("read")
    def count(self) -> int:
        return int(self._r.hlen(self._k + "ids"))

    @_guarded("write to")
    def tally(self, keys: np.ndarray, documents: int) -> None:
        """One MULTI/EXEC of HINCRBYs on the hash ``tally`` (field: the key in decimal)
        and an INCRBY of ``judged``.  Not undone with a failed transaction's documents
        (the counts then run a batch ahead: boilerplate is recognised a little sooner)."""
        unique, counts = np.unique(np.asarray(keys, dtype=np.uint64), return_counts=True)
        pipe = self._r.pipeline(transaction=True)
        for key, n in zip(unique.tolist(), counts.tolist()):
            pipe.hincrby(self._k + "tally", str(key), n)
        pipe.incrby(self._k + "judged", int(documents))
        pipe.execute()

    @_guarded("read")
    def tallies(self, keys: np.ndarray) -> tuple[np.ndarray, int]:
        keys = np.asarray(keys, dtype=np.uint64)
        unique, inverse = np.unique(keys, return_inverse=True)
        pipe = self._r.pipeline(transaction=False)
        pipe.hmget(self._k + "tally", [str(k) for k in unique.tolist()] or ["-"])
        pipe.get(self._k + "judged")
        found, judged = pipe.execute()
        counts = np.array([int(v or 0) for v in found[: len(unique)]], dtype=np.int64)
        return counts[inverse.ravel()], int(judged or 0)

    @_guarded("read")
    def stats(self) -> dict[str, Any]:
        pipe = self._r.pipeline(transaction=False)
        pipe.hlen(self._k + "ids")
        pipe.get(self._k + "n:p")
        pipe.info("memory")
        docs, paras, memory = pipe.execute()
        return {
            "documents": int(docs),
            "paragraphs": int(paras or 0),
            "settings": self.settings.to_dict(),
            # Redis cannot tell one prefix's memory cheaply: the server's, all databases.
            "bytes": int(memory["used_memory"]),
            "backend": "redis",
            "path": self.path,
            "redis": {"prefix": self._url.prefix, "server_used_memory": int(memory["used_memory"]),
                      "maxmemory": int(memory.get("maxmemory", 0))},
        }

    def close(self) -> None:
        self._r.close()


def open_redis(
    url: str | os.PathLike,
    settings: Optional[Settings] = None,
    *,
    derive: Derive,
    create: bool = True,
    readonly: bool = False,
    busy_timeout: float = BUSY_TIMEOUT,
) -> RedisStorage:
    """Open (or create) the index at a ``redis://``, ``rediss://`` or ``unix://`` URL
    (options: :mod:`dedup.storage.redis.url`).

    A new index stores ``settings`` (default ``Settings()``) on the server; an existing
    one keeps its own, and giving different ``settings`` is a
    :class:`~dedup.storage.SettingsMismatch`.  Raises :class:`IndexMissing` when there
    is no index under the prefix and ``create`` is false (or ``readonly``),
    :class:`~dedup.storage.IndexUnavailable` when the server cannot be reached or
    refuses the credentials."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    u = parse(os.fspath(url))
    try:
        client = redis.Redis.from_url(u.url, socket_timeout=u.timeout, socket_connect_timeout=u.timeout,
                                      retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
    except ValueError as err:
        raise StorageError(f"{u.shown}: not a usable Redis URL ({err})") from None
    try:
        meta = _meta(client, u, settings, derive, create and not readonly)
        stored = compat.check(u.shown, meta, settings, derive)
    except BaseException as err:
        client.close()
        if isinstance(err, Exception) and _is_redis_error(err):
            raise translate(err, u.shown, "open") from err
        raise
    return RedisStorage(u, client, stored, meta, readonly, busy_timeout, derive)


def _meta(client: Any, u: RedisURL, settings: Optional[Settings], derive: Derive, create: bool) -> dict[str, str]:
    key = u.prefix + ":meta"
    raw = client.hgetall(key)
    if not raw:
        if not create:
            raise IndexMissing(f"{u.shown}: no index under prefix {u.prefix!r} in this database")
        fields = {"format": FORMAT, "format_version": FORMAT_VERSION, "shard_bits": str(u.shard_bits),
                  **compat.describe(settings or Settings(), derive)}
        flat = client.register_script(lua.CREATE)(args=[key, *[x for kv in fields.items() for x in kv]])
        raw = dict(zip(flat[0::2], flat[1::2]))
    meta = {k.decode(): v.decode() for k, v in raw.items()}
    if meta.get("format") != FORMAT:
        raise IndexCorrupt(f"{u.shown}: the keys under prefix {u.prefix!r} are not a dedup index")
    compat.check_layout(u.shown, meta.get("format_version"), FORMAT_VERSION, "Redis")
    if "shard_bits" not in meta:
        raise IndexCorrupt(f"{u.shown}: the index has no shard_bits meta field")
    return meta


__all__ = ["FORMAT", "FORMAT_VERSION", "RedisStorage", "open_redis"]
