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
* **all or nothing**: each document is written (or removed) by one script call, so a
  reader sees it whole or not at all, and a worker killed mid-batch leaves whole
  documents only; when a transaction fails by an exception the documents it had written
  are removed again (best effort: not when the server is gone -- then the batch can be
  retried, the documents already stored being refused by id);
* **snapshots**: every look-up is one atomic call; a check makes several, so it sees
  each concurrent document whole or not at all (rule 3), but may see a document
  written between two of its look-ups;
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

from ...segments import SetTable, offsets_from_counts, ranges, take_sets, unique_sets
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
    SKETCH_ROWS,
    ParagraphTable,
    ids_of,
    pack_document,
    pack_paragraph,
    pack_text,
    u32,
    u64,
    unpack_document,
    unpack_paragraphs,
    unpack_text,
)
from .url import RedisURL, parse, translate

FORMAT = "dedup-index-redis"
FORMAT_VERSION = "1"
#: log2 of the document-level bucket and content-key shards, and of the paragraph
#: content-key shards (paragraph buckets: the URL's ``shards``): ~64 entries a shard
#: at 100k documents and 1M paragraphs, the sizes Redis keeps as compact listpacks.
DOC_SHARD_BITS = 17
KEY_SHARD_BITS = 14

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
        self._shards = {"b:p:": 1 << int(meta["shard_bits"]), "b:d:": 1 << DOC_SHARD_BITS,
                        "k:p:": 1 << KEY_SHARD_BITS, "k:d:": 1 << KEY_SHARD_BITS}
        self._width = derive.sketch_width(settings)
        self._lookup = client.register_script(lua.LOOKUP)
        self._apply = client.register_script(lua.APPLY)
        self._release = client.register_script(lua.RELEASE)
        self._depth = 0
        self._token: Optional[str] = None
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
        while not self._r.set(self._k + "lock", token, nx=True, px=lease):
            if time.monotonic() >= deadline:
                raise IndexBusy(f"{self.path}: another worker held the index's write lock for more than "
                                f"{self.busy_timeout:g} s; nothing was changed, try again")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.05)
        return token

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

    def _find(self, base: str, keys: np.ndarray, limit: int = 0, records: str = "",
              sketches: str = "") -> tuple[np.ndarray, np.ndarray, list, np.ndarray, bytes]:
        """One LOOKUP call: ``(key index per id, ids, records, sketch ids, sketches)``."""
        hits, recs, sk_ids, sk = self._lookup(args=[
            self._k + base, self._shards[base], u64(keys), limit,
            self._k + records if records else "", self._k + sketches if sketches else "",
            self._width, SKETCH_ROWS])
        which = np.array(hits[0::2], dtype=np.int64)
        found = [ids_of(v) for v in hits[1::2]]
        counts = np.array([len(f) for f in found], dtype=np.int64)
        ids = np.concatenate(found) if found else np.zeros(0, np.int64)
        return np.repeat(which, counts), ids, recs, ids_of(sk_ids), sk

    @_guarded("read")
    def candidates(self, level: Level, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        query = np.unique(np.asarray(keys, dtype=np.uint64))
        tag = _TAG[level]
        at, ids, _, sk_ids, sk = self._find(f"b:{tag}:", query, sketches=f"sk:{tag}:")
        table = np.frombuffer(sk, dtype=np.uint8).reshape(len(sk_ids), self._width)
        seen = self._visible(tag, ids)
        at, ids = at[seen], ids[seen]
        order = np.argsort(sk_ids)
        rows = order[np.searchsorted(sk_ids[order], ids)] if len(ids) else np.zeros(0, np.int64)
        return query[at], ids, table[rows]

    @_guarded("read")
    def paragraphs(self, ids: np.ndarray) -> ParagraphRows:
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        ids = ids[self._visible("p", ids)]
        blobs = self._r.mget([f"{self._k}p:{i}" for i in ids.tolist()]) if len(ids) else []
        have = np.array([b is not None for b in blobs], dtype=bool)
        return self._paragraph_rows(ids[have] if len(ids) else ids, [b for b in blobs if b is not None])

    @_guarded("read")
    def paragraph_copies(self, keys: np.ndarray, limit: int) -> ParagraphRows:
        _, ids, recs, _, _ = self._find("k:p:", np.unique(np.asarray(keys, dtype=np.uint64)), limit, records="p:")
        have = np.array([bool(r) for r in recs], dtype=bool) & self._visible("p", ids)
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
        blobs = self._r.mget([f"{self._k}d:{i}" for i in ids.tolist()]) if len(ids) else []
        keep = [i for i, b in enumerate(blobs) if b is not None]
        return self._document_rows(ids[keep] if len(ids) else ids, [blobs[i] for i in keep])

    @_guarded("read")
    def document_copies(self, keys: np.ndarray, limit: int) -> DocumentRows:
        _, ids, recs, _, _ = self._find("k:d:", np.unique(np.asarray(keys, dtype=np.uint64)), limit, records="d:")
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
        blobs = self._r.mget([f"{self._k}d:{i}" for i in ids.tolist()]) if len(ids) else []
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
        blobs = self._r.mget([f"{self._k}p:{i}" for i in rows.tolist()]) if len(rows) else []
        if any(b is None for b in blobs):
            raise IndexCorrupt(f"{self.path}: a stored document has lost paragraph rows")
        return unpack_paragraphs(blobs, self.path)

    @_guarded("read")
    def known_keys(self, level: Level, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.uint64)
        query = np.unique(keys)
        at, ids, _, _, _ = self._find(f"k:{_TAG[level]}:", query, 1)
        return np.isin(keys, query[at[self._visible(_TAG[level], ids)]])

    # -- writes ---------------------------------------------------------------------

    @_guarded("write to")
    def insert_many(self, docs: Sequence[NewDocument]) -> None:
        # One scripted write per document: each is stored whole (rule 1).
        for doc in docs:
            self._insert(doc)

    def _insert(self, doc: NewDocument) -> None:
        k, n = self._k, len(doc.para_index)
        pipe = self._r.pipeline(transaction=False)  # one round trip for both ids
        pipe.incr(k + "seq:d")
        pipe.incrby(k + "seq:p", n)
        row, last = (int(x) for x in pipe.execute())
        first = last - n + 1 if n else 0
        if max(row, first + n) > MAX_ROW:
            raise StorageError(f"{self.path}: the index has run out of row ids (2^32)")
        para_ids = np.arange(first, first + n, dtype=np.int64)
        sets = doc.para_sets
        ops: list = ["SET", f"{k}d:{row}", pack_document(doc.key, first, len(doc.text), n, doc.doc_banded, time.time(),
                                                          doc.signature, doc.doc_id),
                     "SET", f"{k}t:{row}", pack_text(doc.text, doc.meta),
                     "HSET", k + "ids", doc.doc_id, row, "HSET", k + "dg", doc.doc_id, doc.digest,
                     "INCRBY", k + "n:p", n,
                     # Readers that start from now on see these rows (writers take
                     # turns under the lock, so ``top`` only grows).
                     "SET", k + "top:d", row]
        if n:
            ops += ["SET", k + "top:p", first + n - 1]
        for i, pid in enumerate(para_ids.tolist()):
            ops += ["SET", f"{k}p:{pid}", pack_paragraph(
                row, int(doc.para_index[i]), int(doc.para_start[i]), int(doc.para_end[i]), int(doc.para_words[i]),
                int(doc.para_keys[i]), bool(doc.banded[i]), sets.values[sets.offsets[i] : sets.offsets[i + 1]])]
        ops += self._sketch_ops("p", para_ids, self._derive.sketches(doc.para_signatures))
        ops += self._sketch_ops("d", np.array([row]), self._derive.sketches(doc.signature[None, :]))
        banded = np.flatnonzero(doc.banded)
        if len(banded):
            ops += self._band_ops("MADD", "p", doc.para_signatures[banded], para_ids[banded])
        if doc.doc_banded:
            ops += self._band_ops("MADD", "d", doc.signature[None, :], np.array([row]))
        ops += ["MADD", k + "k:p:", self._shards["k:p:"], u64(doc.para_keys), u32(para_ids),
                "MADD", k + "k:d:", self._shards["k:d:"], u64(np.array([doc.key], np.uint64)), u32(np.array([row]))]
        if not self._write("new", doc.doc_id, ops):
            raise StorageError(f"{self.path}: document {doc.doc_id!r} is already in the index")
        self._written.append(doc.doc_id)

    def _sketch_ops(self, tag: str, ids: np.ndarray, sketches: np.ndarray) -> list:
        """SETRANGEs writing the sketches of consecutive rows ``ids``."""
        ops: list = []
        for chunk in np.unique(ids // SKETCH_ROWS).tolist():
            here = ids // SKETCH_ROWS == chunk
            at = int(ids[here][0] % SKETCH_ROWS) * self._width
            ops += ["SETRANGE", f"{self._k}sk:{tag}:{chunk}", at, sketches[here].tobytes()]
        return ops

    def _band_ops(self, op: str, tag: str, signatures: np.ndarray, ids: np.ndarray) -> list:
        bands = self._derive.bands(self.settings, signatures)
        base = f"b:{tag}:"
        return [op, self._k + base, self._shards[base], u64(bands.ravel()), u32(np.repeat(ids, bands.shape[1]))]

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
            _, copies, _, _, _ = self._find("k:d:", np.array([head.key], np.uint64))
            heirs = copies[copies != row]
            if len(heirs):
                ops += self._band_ops("MADD", "d", head.signature[None, :], heirs[:1])
                ops += ["SETRANGE", f"{k}d:{int(heirs[0])}", DOC_BANDED, b"\x01"]
        banded = np.flatnonzero(paras.banded)
        if len(banded):
            signatures = self._derive.signatures(s, take_sets(paras.sets, banded))
            ops += self._band_ops("MDEL", "p", signatures, para_ids[banded])
            keys = paras.keys[banded]
            at, copies, _, _, _ = self._find("k:p:", keys)
            outside = (copies < head.first) | (copies >= head.first + head.paragraphs)
            # The oldest surviving copy of each banded text (ids are in age order).
            which, first_at = np.unique(at[outside], return_index=True)
            if len(which):
                heirs = copies[outside][first_at]
                ops += self._band_ops("MADD", "p", signatures[which], heirs)
                for heir in heirs.tolist():
                    ops += ["SETRANGE", f"{k}p:{heir}", PARA_BANDED, b"\x01"]
        ops += ["MDEL", k + "k:p:", self._shards["k:p:"], u64(paras.keys), u32(para_ids),
                "MDEL", k + "k:d:", self._shards["k:d:"], u64(np.array([head.key], np.uint64)), u32(np.array([row])),
                "DEL", f"{k}d:{row}", "DEL", f"{k}t:{row}", "HDEL", k + "ids", doc_id, "HDEL", k + "dg", doc_id,
                "INCRBY", k + "n:p", -head.paragraphs]
        for pid in para_ids.tolist():
            ops += ["DEL", f"{k}p:{pid}"]
        return self._write("old", doc_id, ops)

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
        text, meta = unpack_text(text_blob)
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
        top = int(self._r.get(k + "seq:d") or 0)
        while len(out) < limit and row < top:
            rows = list(range(row + 1, min(row + limit, top) + 1))
            heads = self._r.mget([f"{k}d:{r}" for r in rows])
            found = [(r, unpack_document(h, self.settings.num_perm, self.path)) for r, h in zip(rows, heads) if h]
            found = [(r, h) for r, h in found if before is None or h.added < before][: limit - len(out)]
            texts = self._r.mget([f"{k}t:{r}" for r, _ in found]) if found else []
            out += [Listed(r, h.doc_id, h.added, h.chars, h.paragraphs, unpack_text(t)[1] if t else {})
                    for (r, h), t in zip(found, texts)]
            row = rows[-1]
        return out

    @_guarded("read")
    def contains(self, doc_id: str) -> bool:
        return bool(self._r.hexists(self._k + "ids", doc_id))

    @_guarded("read")
    def count(self) -> int:
        return int(self._r.hlen(self._k + "ids"))

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
    if meta.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt(f"{u.shown}: index format version {meta.get('format_version')}, this dedup reads "
                           f"version {FORMAT_VERSION}")
    if "shard_bits" not in meta:
        raise IndexCorrupt(f"{u.shown}: the index has no shard_bits meta field")
    return meta


__all__ = ["FORMAT", "FORMAT_VERSION", "RedisStorage", "open_redis"]
