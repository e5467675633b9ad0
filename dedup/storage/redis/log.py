"""The LSH buckets of a Redis index: an append-only log on the server, and each
worker's own in-memory copy of it, synced before each transaction.

Why a log and a local copy: a check looks up ~1,300 keys an article (~10 paragraphs,
each 49 band keys at the default 49 x 2 layout and 79 containment keys).  Asking the
server for each of them (one
entry of a shard string, or a hash field) costs a few microseconds of single-threaded
server time and ~1 KB of transfer a key, so a check of an article costs milliseconds
however it is batched (session 9: 39 articles/s), and every entry written was a GET
and a SET of its shard inside a script (1,858 server commands an article).  Here the
server keeps the buckets as a stream (``PREFIX:log``) of entries, each the MinHash
signatures of a run of banded rows as written (one XADD per part of a batch, inside the
script that writes the rows: atomic with them), and every worker holds the whole log
as sorted arrays of band keys in memory (:class:`.levelcache.LevelCache`), like the SQLite
backend's bucket file: a look-up is a binary search here, and only the few rows that
pass the sketch are read from Redis.  The log holds signatures, not band keys: with
the containment look-up's single-value keys a row has ~130 keys at the defaults (49
band keys and 79 containment keys, 8 bytes each), its signature 256 values (4 bytes
each); a worker derives the keys and the sketches from
the signatures (the index's ``Derive``, cheap vectorized hashing, not signing).
Before each transaction a worker reads the log's tail since the last entry it has
(``XRANGE PREFIX:log (LAST +``: one round trip, empty when nothing was written).

What it costs: a new worker (or a one-off CLI process) reads the whole log once, at its
first transaction (~1 KB a stored banded row), and holds ~12 bytes a band key in memory
(sorted u64 keys, u32 rows) plus each row's sketch and signature (~1.1 KB): about 3 KB a
banded paragraph with the containment keys (see ``benchmarks/README-redis.md``).

Entries (one field ``v``, little-endian): a header (:data:`HEAD`: level tag, op,
signature length ``w``, rows ``n``), then for an add (``+``) the rows' ids (u32), their
shingle-set sizes (u32; what the containment look-up compares before it reads a row;
0 for documents) and their signatures (``n x w`` u32, row by row), for a drop (``-``)
the ids only, for a publication (``!``, level tag ``d``) the two marks a batch
published (``top:d``, ``top:p``, :func:`publish_entry`); then the
XXH3-64 of all that (a damaged entry is detected, never answered from).  A drop marks removed rows (and the rows a dead writer left
unpublished): their entries stay in the log, and look-ups leave them out (contract
rule 6).  Adds of heirs (rows given the bands of a removed exact copy) are ordinary
adds of older row ids.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Iterable, Optional

import numpy as np
import xxhash

from ...segments import ranges
from ...settings import Settings
from ..protocol import Derive, IndexCorrupt
from ..rowcheck import damaged
from .levelcache import LevelCache

#: Bytes of one add entry at most (~1,000 rows at 256 permutations).
MAX_ENTRY = 1 << 20
#: What Redis adds to a stream entry's value in its allocation (a node of its own:
#: the listpack's header, the master entry, the entry's fields and lengths).
SLACK = 96
#: Level tag, op (``+`` add, ``-`` drop, ``=`` documents made of their paragraphs,
#: ``!`` publication), signature length, rows.
HEAD = struct.Struct("<ccHI")
SUM = 8
#: Rows made into one run of band keys at most (~170 keys a row: ~11M keys, ~0.2 GB
#: while sorted).
FLUSH_ROWS = 1 << 16
#: Log entries read per XRANGE round trip while syncing (an entry is a part of a
#: batch: up to ~20k band keys, ~0.2 MB).
PAGE = 64


def log_key(k: str, gen: int) -> str:
    """The key of the bucket log under prefix ``k`` (``"PREFIX:"``) in generation ``gen``
    (``PREFIX:log``, then ``PREFIX:log1``, ... after each compaction)."""
    return f"{k}log{gen or ''}"


def number(value: Optional[bytes], name: str, key: str) -> int:
    """A count or row id kept in Redis as a string (``None``: 0), from ``key`` (its full
    name, the prefix included).

    Raises :class:`IndexCorrupt` naming the key when it is not an integer."""
    try:
        return int(value or 0)
    except ValueError:
        raise IndexCorrupt(damaged(name, f"{key} is not a number ({bytes(value)[:20]!r})")) from None


def add_entry(tag: str, ids: np.ndarray, signatures: np.ndarray, sizes: np.ndarray) -> bytes:
    """The log entry adding rows ``ids`` with their ``(n, num_perm)`` signatures and
    shingle-set sizes to the buckets of level ``tag``."""
    body = (HEAD.pack(tag.encode(), b"+", signatures.shape[1], len(ids))
            + np.ascontiguousarray(ids, dtype="<u4").tobytes() + np.ascontiguousarray(sizes, dtype="<u4").tobytes()
            + np.ascontiguousarray(signatures, "<u4").tobytes())
    return body + xxhash.xxh3_64_digest(body)


def add_entries(tag: str, ids: np.ndarray, signatures: np.ndarray, sizes: np.ndarray) -> list[bytes]:
    """:func:`add_entry` of rows ``ids``, split into entries that each fill an
    allocation size class of Redis's allocator (jemalloc: four classes per power of two)
    almost exactly: a value is allocated at the next class up, which cost ~11 % of the
    log's memory when entries were cut anywhere (measured: 11.1 MB of entries took
    12.4 MB).  At most :data:`MAX_ENTRY` bytes an entry; each wastes less than a row."""
    row, fixed = 8 + 4 * signatures.shape[1], HEAD.size + SUM + SLACK
    out, at, n = [], 0, len(ids)
    while at < n:
        cap = _size_class(min(fixed + row * (n - at), MAX_ENTRY))
        take = min(max((cap - fixed) // row, 1), n - at)
        out.append(add_entry(tag, ids[at : at + take], signatures[at : at + take], sizes[at : at + take]))
        at += take
    return out


def _size_class(size: int) -> int:
    """The largest jemalloc size class not above ``size`` (``2^k * (1 + i/4)``)."""
    k = max(size.bit_length() - 1, 4)
    return max(c for c in ((1 << k) + i * (1 << k) // 4 for i in range(4)) if c <= size) if size >= 16 else size


def derived_entry(ids: np.ndarray, firsts: np.ndarray, counts: np.ndarray) -> bytes:
    """The log entry adding document rows ``ids`` to the document buckets without their
    signatures: each is the minimum of the signatures of its paragraph rows ``first ..
    first + count - 1`` (how a document's signature is made), all of them banded and
    logged before it (in the same script call of a batch, or an earlier one).  12 bytes a document instead of its
    1 KB signature (~100 bytes a stored paragraph)."""
    body = (HEAD.pack(b"d", b"=", 0, len(ids)) + np.ascontiguousarray(ids, dtype="<u4").tobytes()
            + np.ascontiguousarray(firsts, dtype="<u4").tobytes() + np.ascontiguousarray(counts, dtype="<u4").tobytes())
    return body + xxhash.xxh3_64_digest(body)


def drop_entry(tag: str, ids: np.ndarray, op: bytes = b"-") -> bytes:
    """The log entry marking rows ``ids`` removed (``op`` ``-``; a publication's the
    same with ``!``)."""
    body = HEAD.pack(tag.encode(), op, 0, len(ids)) + np.ascontiguousarray(ids, dtype="<u4").tobytes()
    return body + xxhash.xxh3_64_digest(body)


def publish_entry(top_d: int, top_p: int) -> bytes:
    """The log entry of a publication: the marks ``top:d``, ``top:p`` written by the
    same script call (24 bytes).  A worker compares the last one it holds with the
    marks it reads (:meth:`BucketCache.published`): a mark set back after removals
    stays above the counts, and only this says it went back (#12)."""
    return drop_entry("d", np.array([top_d, top_p]), b"!")


class BucketCache:
    """Both levels' :class:`LevelCache` and the id of the last log entry held; band keys
    and sketches are derived from the logged signatures with ``derive`` under
    ``settings``.  Entries are parsed (and verified) as they are read, and made into
    band key runs when a level is next looked up (:attr:`levels`), in runs of up to
    :data:`FLUSH_ROWS` rows: a writer that only writes (``Index.load``) sorts nothing
    until it reads, and a worker catching up sorts a few large runs, not a run a part."""

    def __init__(self, derive: Derive, settings: Settings, name: str, gen: int = 0,
                 tick: Optional[Callable[[], None]] = None) -> None:
        width = derive.sketch_width(settings)
        #: Called between the pages of a sync and the parts of the band keys made
        #: (the storage's checkpoint: it renews a write lock's lease).
        self._tick = tick or (lambda: None)
        self._levels = {"p": LevelCache(width, settings.num_perm), "d": LevelCache(width, settings.num_perm)}
        self._pending: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {"p": [], "d": []}
        self.last = b"0"
        #: The log's generation (:func:`log_key`).
        self.gen = gen
        #: The marks (``top:d``, ``top:p``) of the last publication held.
        self.published = (0, 0)
        #: Log entries read (or written here) so far: with the count the writers keep
        #: (``PREFIX:log:n``), whether the log is whole.
        self.count = 0
        self._name = name
        self._derive, self._settings = derive, settings

    @property
    def levels(self) -> dict[str, LevelCache]:
        """The levels, every entry read so far held."""
        for tag, parts in self._pending.items():  # paragraphs first: documents may be made of them
            parts[:] = [self._derived(*p) if p[1] is None else p for p in parts]
            while parts:
                rows, take = 0, 0
                while take < len(parts) and (not take or rows + len(parts[take][0]) <= FLUSH_ROWS):
                    rows += len(parts[take][0])
                    take += 1
                ids, signatures, sizes = (np.concatenate([p[i] for p in parts[:take]]) for i in range(3))
                self._levels[tag].add(ids, self._derive.bands(self._settings, signatures),
                                      self._derive.sketches(signatures), signatures, sizes)
                del parts[:take]
                self._tick()
        return self._levels

    def _derived(self, ids: np.ndarray, _: None, rows: tuple[np.ndarray, np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A :func:`derived_entry`'s documents with their signatures made from their
        paragraphs' (held: banded, logged before them)."""
        firsts, counts = rows
        paragraphs = ranges(firsts, counts)
        held, signatures = self._levels["p"].signatures(paragraphs, dropped=True)  # the document may be removed
        if not held.all() or not counts.all():
            raise IndexCorrupt(damaged(self._name, "the bucket log lacks paragraph rows a document entry is made of "
                                                   f"(document rows {ids[:5].tolist()})"))
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        return ids, np.minimum.reduceat(signatures, starts, axis=0), np.zeros(len(ids), np.uint32)

    def sync(self, client: Any, key: str) -> int:
        """Read every log entry after the last one held, in pages of :data:`PAGE`
        entries (one round trip when nothing is new); returns how many."""
        count = 0
        while True:
            pipe = client.pipeline(transaction=False)  # not MULTI: see RedisStorage._snapshot
            pipe.get(key + ":n")
            pipe.xrange(key, min=b"(" + self.last, max="+", count=PAGE)
            written, page = pipe.execute()
            self.apply(page)
            self._tick()
            count += len(page)
            if len(page) < PAGE:
                self.whole(written, key + ":n")
                return count

    def whole(self, written: Optional[bytes], key: str) -> None:
        """Check that every entry of the log was read: ``written`` (``key``, ``PREFIX:log:n``, read
        just before the log's tail just applied) entries were ever added to it, so at
        least that many must be held (more when a writer added some in between).

        Why: each entry verifies by itself, but an entry deleted from the log (XDEL,
        XTRIM, DEL of the log) lost its rows' bands without a word, and a stored
        near-copy was answered "new" (tester's T1).  The count exists from the index's
        creation on: a missing one is damage too (deleted between two writes, it hid
        entries deleted with it).

        Raises :class:`IndexCorrupt` saying how many entries are missing."""
        if written is None:
            raise IndexCorrupt(damaged(self._name, f"the count of the bucket log's entries ({key}) is missing"))
        if (n := number(written, self._name, key)) > self.count:
            raise IndexCorrupt(damaged(self._name, f"the bucket log holds {self.count} of the {n} "
                                                   "entries written to it (entries were deleted from it)"))

    def apply(self, entries: Iterable[tuple[bytes, dict]]) -> None:
        """Hold the log ``entries`` (``(id, fields)`` as XRANGE gives them).  Their order
        does not matter: a drop marks rows for good (row ids are never reused).  The
        drops of all of them are applied at once, per level (one merge of the dropped
        ids, not one per entry: a log of single removals made a first sync quadratic;
        reviewer's R11, session 15)."""
        drops: dict[str, list[np.ndarray]] = {"p": [], "d": []}
        try:
            for entry_id, fields in entries:
                tag, op, ids, signatures, sizes = self._parse(fields.get(b"v", b""))
                if op in (b"+", b"="):
                    if len(ids):
                        self._pending[tag].append((ids, signatures, sizes))
                elif op == b"!":  # marks only grow
                    self.published = (max(self.published[0], int(ids[0])), max(self.published[1], int(ids[1])))
                else:
                    drops[tag].append(ids)
                self.last = entry_id
                self.count += 1
        finally:  # the entries held so far, even when a later one is damaged
            for tag, parts in drops.items():
                if parts:
                    self._levels[tag].drop(np.concatenate(parts))

    def _parse(self, blob: bytes) -> tuple[str, bytes, np.ndarray, Any, Any]:
        if len(blob) < HEAD.size + SUM or xxhash.xxh3_64_digest(blob[:-SUM]) != blob[-SUM:]:
            raise IndexCorrupt(f"{self._name}: an entry of the bucket log is damaged (its checksum does not verify)")
        tag, op, w, n = HEAD.unpack_from(blob)
        tag = tag.decode("ascii", "replace")
        body = memoryview(blob)[HEAD.size : -SUM]
        size = 4 * n + {b"+": 4 * n + 4 * n * w, b"=": 8 * n}.get(op, 0)
        if (tag not in self._levels or op not in (b"+", b"-", b"=", b"!") or len(body) != size
                or (op == b"+" and w != self._settings.num_perm) or (op in b"=!" and tag != "d")
                or (op == b"!" and n != 2)):
            raise IndexCorrupt(f"{self._name}: an entry of the bucket log is not one this dedup wrote")
        ids = np.frombuffer(body, dtype="<u4", count=n).astype(np.int64)
        if op in b"-!":
            return tag, op, ids, None, None
        if op == b"=":
            firsts, counts = (np.frombuffer(body, dtype="<u4", count=n, offset=4 * n * k).astype(np.int64)
                              for k in (1, 2))
            return tag, op, ids, None, (firsts, counts)
        sizes = np.frombuffer(body, dtype="<u4", count=n, offset=4 * n).astype(np.uint32)
        return tag, op, ids, np.frombuffer(body, dtype="<u4", offset=8 * n).reshape(n, w).astype(np.uint32), sizes
