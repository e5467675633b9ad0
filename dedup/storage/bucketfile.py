"""A read-optimized copy of an index's LSH buckets: sorted arrays in a memory-mapped file.

Why: checking an article looks up ~850 band keys (85 per paragraph).  In a database
table (``WITHOUT ROWID``, keyed by band key) that was ~850 random B-tree seeks -- ~4 ms
of CPU at 100k stored articles even with every page cached -- and an add wrote ~900
rows onto random pages (~15 ms).  The same buckets as one sorted uint64 key array, with
the stored row each key points at, answer all keys of a check with a fence search and
a vectorized binary search inside one 4 KB block per key.  The rows' b-bit sketches sit
beside them in an array indexed by row id, so a chance candidate is dismissed without
touching the database at all.

The file is derived data, never the source of truth: the database keeps every row's
signature and whether it is banded, from which the buckets are computed (and without a
usable file, the same goes into memory).  Files are immutable and named by a random id
(``<index>-lsh.<file_id>``); the database names the one to use, so a reader never sees
a file change under it, a file whose writer died before naming it is never used, and a
database restored from a backup ignores files written after the backup.  What changed
since the named file was written is read from the database into :class:`DeltaBuckets`
as it appears: rows with ids above the file's ``upto`` (the backend never reuses ids)
and rows that inherited the bands of a removed exact copy (the backend logs them; the
file's ``heirs`` says how much of that log it includes).  Removed rows that the file
still lists are candidates whose rows are gone: the caller drops them.

Crash safety: a file is written under a temporary name, flushed to disk, renamed to its
final name and only then named in the database; whatever is left by a process killed
on the way is unnamed, and removed by the next writer.

Damage (flipped bytes, a zeroed array, a file overwritten in place) is detected, never
answered from: the header carries its own checksum, and every 4 KB page of the arrays
has a checksum in a table at the end of the file (:class:`Pages`).  Pages are verified
*lazily*: a lookup verifies the pages it is about to read (key blocks, refs, sketches)
the first time this process reads them, so an open costs nothing extra and a lookup at
most one pass over the pages it reads anyway (measured in ``benchmarks/README-index.md``:
first check of a fresh process, and a warm one).  A page that does not verify raises
:class:`BucketFileDamaged`; the backend then drops the file and answers from the
database (what a missing file does), and the next optimize writes a new file from the
database, never from the damaged one.

Nothing is pickled: a JSON header and raw little-endian arrays.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import json
import os
import re
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping, Optional, Sequence

import numpy as np
import xxhash

from ..segments import ranges, sorted_unique

MAGIC = b"DEDUPLSH"
VERSION = 3  # 1: no checksums; 2: no set sizes (such files are not used; the next optimize replaces them)
#: Keys per block of the sorted key array; the file holds every block's first key
#: (the "fence"), so a lookup touches the small fence and then one 4 KB block.
BLOCK = 512
#: Keys a :class:`DeltaBuckets` run grows to by merging; beyond, runs stay separate
#: (a few more binary searches per lookup, instead of one add paying for re-sorting
#: millions of keys: measured 1.1 s once at 250k rows held when merging without cap).
MAX_RUN = 1 << 22
_ALIGN = 64
_HEAD = len(MAGIC) + 8  # magic, then the JSON header's length (uint64); then the header's checksum
_MAX_HEADER = 1 << 16
#: Bytes per checksummed page (one key block: a lookup reads one or two per key).
PAGE = 4096


class BucketFileDamaged(Exception):
    """A page of a bucket file does not verify: the file must not be used."""


def page_sums(region: memoryview, numbers: np.ndarray) -> np.ndarray:
    """XXH3-64 of each page ``numbers[i]`` of ``region`` (``PAGE`` bytes each), seeded
    with the page's number, so a page moved or zeroed with its checksum still fails.

    One C call per page, not a vectorized numpy hash: measured for the 2,060 pages of a
    fresh process's first check, 3.2 ms against 21 ms for a weighted sum of the
    pages' uint64 words in numpy (which copies and multiplies every word), 37 vs 76 ms
    for 30,000 pages."""
    return np.fromiter((xxhash.xxh3_64_intdigest(region[i * PAGE : (i + 1) * PAGE], i) for i in numbers.tolist()),
                       dtype=np.uint64, count=len(numbers))


class Pages:
    """The page checksums of an opened file: ``data`` is the mapped file, pages of
    ``PAGE`` bytes start at byte ``start`` (the arrays; the region is a whole number of
    pages), ``sums`` their checksums; ``verified`` what this process has verified."""

    def __init__(self, data: np.ndarray, start: int, sums: np.ndarray, path: str) -> None:
        self.region = memoryview(data[start : start + PAGE * len(sums)])
        self.start, self.sums, self.path = start, sums, path
        self.verified = np.zeros(len(sums), dtype=bool)
        self.unverified = len(sums)

    def check(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Verify (once per process) the pages holding bytes ``[lo, hi)`` of the file,
        for each pair of file offsets; :class:`BucketFileDamaged` if one does not."""
        lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
        if not len(lo):
            return
        first, last = (lo - self.start) // PAGE, (hi - 1 - self.start) // PAGE
        if first.min() < 0 or last.max() >= len(self.sums):
            raise BucketFileDamaged(f"{self.path}: a stored position points outside the file")
        if self.unverified == 0:  # (a long-running process, sooner or later)
            return
        count = last - first + 1
        self.verify(sorted_unique(ranges(first, count)))

    def verify(self, pages: np.ndarray) -> None:
        todo = pages[~self.verified[pages]]
        if not len(todo):
            return
        got = page_sums(self.region, todo)
        bad = todo[got != self.sums[todo]]
        if len(bad):
            raise BucketFileDamaged(f"{self.path}: damaged (page {int(bad[0])} of its arrays does not verify)")
        self.verified[todo] = True
        self.unverified -= len(todo)

    def verify_all(self) -> None:
        """Verify every page (what an optimize does before merging the file's buckets
        into a new one): one pass over the file."""
        for lo in range(0, len(self.sums), 1 << 14):
            self.verify(np.arange(lo, min(lo + (1 << 14), len(self.sums))))


_REFS_DTYPES = ("<u4", "<i8")


@dataclass(frozen=True)
class LevelBuckets:
    """One level's buckets (paragraph or document): band keys sorted, the row each
    points at, and every row's sketch and shingle-set size at its id (rows
    ``0..upto``; sizes 0 where unknown: documents, rows not banded); ``pages`` and
    ``at`` (each array's file offset) verify what a lookup reads (``None``: in memory)."""

    upto: int
    keys: np.ndarray  # uint64, sorted
    fence: np.ndarray  # keys[::BLOCK]
    refs: np.ndarray  # uint32 or int64 row ids, aligned with keys
    sketches: np.ndarray  # (upto + 1, width) uint8
    sizes: np.ndarray  # (upto + 1,) uint32
    pages: Optional[Pages] = None
    at: Optional[Mapping[str, int]] = None

    def sketches_and_sizes(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sketches, sizes)`` of rows ``ids`` (int64, each ``<= upto``), pages verified first."""
        if self.pages is not None:
            self._check("sketches", ids, ids + 1)
            self._check("sizes", ids, ids + 1)
        return self.sketches[ids], self.sizes[ids].astype(np.int64)

    def lookup(self, query: np.ndarray, limit: Optional[int] = None, sketches: bool = True) -> Found:
        """The bucket entries whose key is in ``query`` (sorted, unique uint64), but
        none of a bucket holding more than ``limit`` entries, with their rows'
        sketches unless not ``sketches`` (see :class:`Found`); every page read is
        verified first (:class:`BucketFileDamaged` if one does not)."""
        if self.pages is None:
            found = find(self.keys, self.refs, query, functools.partial(lower_bound, self.keys, self.fence), limit)
            return found.with_sketches(self.sketches if sketches else None)
        keys, at, full = positions(self.keys, query, self._verified_bound, limit)
        runs = np.flatnonzero(np.diff(at) != 1) + 1 if len(at) else at  # a bucket's entries are consecutive
        self._check("refs", at[np.r_[0, runs]] if len(at) else at, at[np.r_[runs - 1, len(at) - 1]] + 1 if len(at) else at)
        refs = self.refs[at].astype(np.int64)
        if len(refs) and (refs.min() < 0 or refs.max() > self.upto):
            raise BucketFileDamaged(f"{self.pages.path}: a bucket points at row {int(refs.max())} > {self.upto}")
        if sketches:
            self._check("sketches", refs, refs + 1)
        return Found(keys, refs, full).with_sketches(self.sketches if sketches else None)

    def _verified_bound(self, query: np.ndarray) -> np.ndarray:
        """:func:`lower_bound`, after verifying the key window each query key's search
        reads (keys ``base .. base + BLOCK``, see there)."""
        n = len(self.keys)
        if not n or not len(query):
            return lower_bound(self.keys, self.fence, query)
        block = np.searchsorted(self.fence, query, side="left")
        base = np.maximum(block - 1, 0) * BLOCK
        self._check("keys", base, np.minimum(base + BLOCK, n - 1) + 1)
        return lower_bound(self.keys, self.fence, query, block)

    def _check(self, name: str, lo: np.ndarray, hi: np.ndarray) -> None:
        """Verify the pages of entries ``[lo, hi)`` of array ``name``."""
        assert self.pages is not None and self.at is not None
        size = {"keys": 8, "refs": self.refs.itemsize, "sketches": self.sketches.shape[1], "sizes": 4}[name]
        self.pages.check(self.at[name] + size * lo, self.at[name] + size * hi)


@dataclass(frozen=True)
class BucketFile:
    """An opened bucket file (or the empty stand-in when there is none)."""

    file_id: str  # "" for the stand-in
    heirs: int  # the last logged heir the file includes
    levels: Mapping[str, LevelBuckets]
    pages: Optional[Pages] = None  # None for the stand-in

    def verify_all(self) -> None:
        """Verify every page (:class:`BucketFileDamaged` if one does not): what an
        optimize does before merging this file's buckets into a new one."""
        if self.pages is not None:
            self.pages.verify_all()


@dataclass(frozen=True)
class Found:
    """What a look-up found: ``(keys, refs, sketches)`` of the matching bucket entries
    (``sketches``: each entry's row's, once :meth:`with_sketches` added them) and the
    query keys left out for holding more than the look-up's ``limit`` entries (``full``,
    sorted)."""

    keys: np.ndarray  # uint64
    refs: np.ndarray  # int64 row ids
    full: np.ndarray  # uint64
    sketches: Optional[np.ndarray] = None

    def with_sketches(self, sketches: Optional[np.ndarray], rows: Optional[np.ndarray] = None) -> "Found":
        """The same with each entry's sketch: ``sketches[ref]``, or with ``rows`` (the
        sorted ids ``sketches`` is aligned with) ``sketches[position of ref in rows]``;
        ``None``: without (an empty ``(0, 0)`` array)."""
        if sketches is None:
            return Found(self.keys, self.refs, self.full, np.zeros((0, 0), np.uint8))
        at = self.refs if rows is None else np.searchsorted(rows, self.refs)
        return Found(self.keys, self.refs, self.full, sketches[at])


def bounded(parts: Sequence[Found], limit: Optional[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(key, row, sketch)`` of the entries of several look-ups of one query (the file
    first, then what is held in memory), without any key that holds more than
    ``limit`` entries in one part or in all of them together."""
    found = [p for p in parts if len(p.keys)] or parts[:1]
    if len(found) == 1:  # (most look-ups: nothing held beside the file)
        keys, refs, sketches = found[0].keys, found[0].refs, found[0].sketches
    else:
        keys, refs = np.concatenate([p.keys for p in found]), np.concatenate([p.refs for p in found])
        sketches = np.concatenate([p.sketches for p in found]) if found[0].sketches.shape[1] else found[0].sketches
    if limit is None or not len(keys):
        return keys, refs, sketches
    # The first part is one table (the file): its keys over the limit are in its
    # ``full``.  A key the other parts (runs held in memory) hold may exceed the limit
    # by the sum: count the entries of those keys (the file's are most entries).
    held = sorted_unique(np.concatenate([p.keys for p in parts[1:]] or [np.zeros(0, np.uint64)]))
    full = sorted_unique(np.concatenate([p.full for p in parts]))
    if len(held):
        mine = np.sort(keys[member(held, keys)])
        counts = np.searchsorted(mine, held, side="right") - np.searchsorted(mine, held)
        full = sorted_unique(np.concatenate([full, held[counts > limit]]))
    if not len(full):
        return keys, refs, sketches
    keep = ~member(full, keys)
    return keys[keep], refs[keep], sketches[keep] if len(sketches) else sketches


def member(sorted_set: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for a sorted ``sorted_set``: a binary search of
    each value, no sort of ``values`` (millions of bucket entries against a few keys)."""
    if not len(sorted_set):
        return np.zeros(len(values), bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values


def find(
    keys: np.ndarray, refs: np.ndarray, query: np.ndarray, bound: Optional[Callable[[np.ndarray], np.ndarray]] = None,
    limit: Optional[int] = None,
) -> Found:
    """Entries of a key-sorted ``(keys, refs)`` table whose key is in ``query`` (sorted);
    ``bound(q)`` gives each key's first position ``>= q`` (default: ``np.searchsorted``).
    See :func:`positions`."""
    hit, at, full = positions(keys, query, bound, limit)
    return Found(hit, refs[at].astype(np.int64), full)


def positions(
    keys: np.ndarray, query: np.ndarray, bound: Optional[Callable[[np.ndarray], np.ndarray]] = None,
    limit: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(key, position, full)``: every entry of the sorted ``keys`` whose key is in
    ``query``, except those of keys with more than ``limit`` entries (``full``: those keys).

    Most keys of a check are in no bucket, so the end of each run of equal keys is
    searched for only where the first key matched (as the bound of ``q + 1``); the hits
    are gathered with one fancy index -- no Python loop, whatever the number of keys.
    An over-full bucket costs its two bounds only: none of its entries (nor their
    rows' sketches) is read.
    """
    if bound is None:
        bound = functools.partial(np.searchsorted, keys)
    left = bound(query)
    hit = left < len(keys)
    hit[hit] = keys[left[hit]] == query[hit]
    count = np.zeros(len(query), dtype=np.int64)
    hits = query[hit]
    last = hits == np.iinfo(np.uint64).max  # no q + 1: its run ends the array
    right = np.full(len(hits), len(keys), dtype=np.int64)
    right[~last] = bound(hits[~last] + np.uint64(1))
    count[hit] = right - left[hit]
    full = np.zeros(0, np.uint64)
    if limit is not None:
        over = count > limit
        full, count[over] = query[over], 0
    return np.repeat(query, count), ranges(left, count), full


def lower_bound(keys: np.ndarray, fence: np.ndarray, query: np.ndarray, block: Optional[np.ndarray] = None
                ) -> np.ndarray:
    """``np.searchsorted(keys, query)`` for a large memory-mapped ``keys``, through its
    ``fence`` (every ``BLOCK``-th key); ``block``: ``np.searchsorted(fence, query)``
    if the caller has it already.

    Why not ``np.searchsorted`` itself: its ~27 probes per key each land on a
    different page of an array of ~85M keys, and every page a process touches first
    costs a page fault.  The fence (~0.2% of the keys) stays hot; within the block it
    selects, a binary search run for all query keys at once, ``log2(BLOCK)`` vectorized
    steps, touches one page per key.
    """
    if not len(keys):
        return np.zeros(len(query), dtype=np.int64)
    n = len(keys)
    if block is None:
        block = np.searchsorted(fence, query, side="left")  # fence[block - 1] < q <= fence[block]
    # The answer lies in the window [base, base + BLOCK] (past the end counts as +inf).
    base = np.maximum(block - 1, 0) * BLOCK
    size = BLOCK + 1
    while size > 1:  # base: the last position in the window below q, else the window's start
        half = size // 2
        probe = base + half
        below = (probe < n) & (keys[np.minimum(probe, n - 1)] < query)
        base = np.where(below, probe, base)
        size -= half
    return base + ((base < n) & (keys[np.minimum(base, n - 1)] < query))


def bucket_path(index_path: str, file_id: str) -> str:
    """Where the bucket file ``file_id`` of the index at ``index_path`` lives."""
    return f"{index_path}-lsh.{file_id}"


def open_bucket_file(index_path: str, file_id: str, uid: str, width: int) -> Optional[BucketFile]:
    """The bucket file ``file_id`` of the index if it exists, is whole and consistent,
    and was written for the database ``uid`` with sketches of ``width`` bytes; ``None``
    otherwise (the caller then reads what the database holds into memory)."""
    path = bucket_path(index_path, file_id)
    try:
        with open(path, "rb") as f:
            size_on_disk = os.fstat(f.fileno()).st_size
            head = f.read(_HEAD)
            if len(head) < _HEAD or head[: len(MAGIC)] != MAGIC:
                return None
            size = int(np.frombuffer(head[len(MAGIC) :], dtype="<u8")[0])
            if size > min(size_on_disk, _MAX_HEADER):
                return None
            text = f.read(size + 8)
            if len(text) != size + 8 or text[size:] != xxhash.xxh3_64_digest(text[:size]):
                return None  # a damaged header
            header = json.loads(text[:size].decode("utf-8"))
        if (header.get("version"), header.get("uid"), header.get("file_id"), header.get("width")) != (
            VERSION, uid, file_id, width
        ) or header["bytes"] != size_on_disk:
            return None  # another file, or truncated / appended to
        data = np.memmap(path, dtype=np.uint8, mode="r").view(np.ndarray)  # plain views: no memmap overhead
        start, sums_at = header["pages_from"], header["page_sums"]
        sums = _array(data, sums_at, "<u8")
        if start % _ALIGN or start + PAGE * len(sums) != sums_at[0]:
            return None
        pages = Pages(data, start, sums, path)
        levels = {}
        for level, spec in header["levels"].items():
            upto = int(spec["upto"])
            if spec["refs_dtype"] not in _REFS_DTYPES:
                return None
            keys = _array(data, spec["keys"], "<u8")
            buckets = LevelBuckets(
                upto=upto,
                keys=keys,
                fence=_array(data, spec["fence"], "<u8"),
                refs=_array(data, spec["refs"], spec["refs_dtype"]),
                sketches=_array(data, spec["sketches"], "u1").reshape(upto + 1, width),
                sizes=_array(data, spec["sizes"], "<u4"),
                pages=pages,
                at={name: spec[name][0] for name in ("keys", "refs", "sketches", "sizes")},
            )
            if (len(buckets.refs) != len(keys) or len(buckets.fence) != -(-len(keys) // BLOCK)
                    or len(buckets.sizes) != upto + 1):
                return None
            if spec["fence"][1]:  # small (one key in BLOCK): verified whole, now
                pages.check(np.array([spec["fence"][0]]), np.array([spec["fence"][0] + spec["fence"][1]]))
            levels[level] = buckets
    except (OSError, ValueError, KeyError, TypeError, BucketFileDamaged):
        return None
    return BucketFile(file_id, int(header["heirs"]), levels, pages)


def empty_bucket_file(width: int) -> BucketFile:
    """The stand-in for a missing or unusable file: no buckets, covering no rows, so
    the delta holds everything stored."""
    level = LevelBuckets(0, np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int64),
                         np.zeros((1, width), np.uint8), np.zeros(1, np.uint32))
    return BucketFile("", 0, {"paragraph": level, "document": level})


def _array(data: np.ndarray, spec: list[int], dtype: str) -> np.ndarray:
    offset, nbytes = spec
    if offset % _ALIGN or offset + nbytes > len(data):
        raise ValueError("array outside the file")
    return data[offset : offset + nbytes].view(dtype)


@dataclass
class LevelSource:
    """What :func:`write_bucket_file` writes for one level: the highest row id covered,
    key-sorted ``(keys, refs)`` runs to merge (an entry is kept when ``alive[ref]``,
    where ``alive`` is given), and the sketch and set size of every row ``0..upto``."""

    upto: int
    runs: list[tuple[np.ndarray, np.ndarray]]
    alive: Optional[np.ndarray]  # bool by row id (the old file's rows), or None: keep all
    sketches: np.ndarray  # (upto + 1, width) uint8
    sizes: np.ndarray  # (upto + 1,) uint32

    @property
    def refs_dtype(self) -> str:
        return "<u4" if self.upto < 2**32 else "<i8"


def merged_level(
    old: LevelBuckets,
    existing: np.ndarray,
    upto: int,
    new: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    width: int,
) -> LevelSource:
    """A level's buckets to write: ``old``'s entries whose row still exists (sorted ids
    in ``existing``) and the ``(ids, band_keys, sketches, sizes)`` chunks of ``new``
    (rows stored since, and heirs), covering rows up to ``upto``.

    Each new chunk is sorted on its own as it comes (cache-sized) and kept as a run of
    ~12 bytes per entry; the merge happens as the file is written, one key range at a
    time (:func:`write_bucket_file`).  Why: sorting and gathering every entry at once
    took ~11x the key array in memory (measured 1.19 GB for 13.6M keys, so ~7.5 GB
    for the ~85M of a 100k-article index).
    """
    alive = np.zeros(old.upto + 1, dtype=bool)
    alive[existing[existing <= old.upto]] = True
    sketches = np.zeros((upto + 1, width), dtype=np.uint8)
    sketches[: old.upto + 1] = old.sketches
    sizes = np.zeros(upto + 1, dtype=np.uint32)
    sizes[: old.upto + 1] = old.sizes
    source = LevelSource(upto, [(old.keys, old.refs)], None, sketches, sizes)
    if len(old.refs) and not alive[old.refs].all():
        source.alive = alive  # applies to the old file's run only
    for ids, band_keys, chunk_sketches, chunk_sizes in new:
        if not len(ids):
            continue
        flat = band_keys.ravel()
        order = np.argsort(flat)
        source.runs.append((flat[order], ids.astype(source.refs_dtype)[order // band_keys.shape[1]]))
        sketches[ids] = chunk_sketches
        sizes[ids] = chunk_sizes
    return source


def _partitions(runs: Sequence[tuple[np.ndarray, np.ndarray]], parts: int) -> list[list[tuple[int, int]]]:
    """For each run, the ``[lo, hi)`` slice of each of ``parts`` equal key ranges."""
    bounds = (np.arange(1, parts, dtype=np.uint64) * np.uint64(2**64 // parts)) if parts > 1 else np.zeros(0, np.uint64)
    out = []
    for keys, _ in runs:
        cuts = np.concatenate([[0], np.searchsorted(keys, bounds), [len(keys)]]).astype(np.int64)
        out.append(list(zip(cuts[:-1].tolist(), cuts[1:].tolist())))
    return out


def _merge_slices(slices: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One key-sorted ``(keys, refs)`` from key-sorted slices.

    A stable argsort of the concatenated slices is a merge (timsort finds the sorted
    runs).  Measured against slotting the smaller runs into the largest by binary
    search: 0.03 vs 0.04 s for 4M + 50k keys, 0.1 vs 0.3 s for 4M + 4M -- within one
    key range (see :func:`write_bucket_file`), where everything stays in cache."""
    if len(slices) == 1:
        return slices[0]
    keys = np.concatenate([k for k, _ in slices])
    order = np.argsort(keys, kind="stable")
    return keys[order], np.concatenate([r for _, r in slices])[order]


@contextmanager
def writer_lock(index_path: str, mode: int, timeout: Optional[float]) -> Iterator[bool]:
    """Hold the lock that lets one process at a time write the index's bucket files;
    yields ``False`` (without the lock) if another process held it for ``timeout``
    seconds (``None``: wait as long as it takes, ``0``: do not wait).

    Why: a writer removes the files other writers left unnamed, which must not be a
    live writer's; and two writers at once would do the same work twice.  The lock
    file is opened read-only (``flock`` needs no write access) and gets the index's
    permission bits, so whoever may use the index may take it.  (``flock`` on NFS is
    emulated with POSIX locks, which need a writable descriptor: keep indexes on a local
    filesystem, as SQLite's own locking requires anyway.)
    """
    path = index_path + "-lsh.lock"
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, mode)
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, mode)  # the umask must not narrow who may take it
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:  # type: ignore[operator]
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)  # closing releases the lock


#: Entries merged at once while writing a level (see :func:`write_bucket_file`).
PARTITION = 1 << 22


def write_bucket_file(
    index_path: str, uid: str, file_id: str, heirs: int, width: int, levels: Mapping[str, LevelSource], mode: int
) -> tuple[str, dict[str, int]]:
    """Write the bucket file ``file_id`` for ``levels`` (temporary file, fsync, rename)
    with permission bits ``mode`` (the database's); returns its path and the entries
    written per level.  Call it holding :func:`writer_lock`; the file is used once the
    database names it.

    A level's runs are merged one key range at a time (about ``PARTITION`` entries),
    each written where it belongs: ranges of the key space are contiguous in every
    sorted run and in the result, so memory stays bounded by one range.
    """
    path = bucket_path(index_path, file_id)
    folder = os.path.dirname(os.path.abspath(path))
    specs: dict[str, dict] = {}
    plans: dict[str, tuple[list[list[tuple[int, int]]], list[int]]] = {}
    offset = 0

    def place(nbytes: int) -> list[int]:
        nonlocal offset
        at = offset
        offset = at + -(-nbytes // _ALIGN) * _ALIGN
        return [at, nbytes]

    for level, src in levels.items():
        total = sum(len(k) for k, _ in src.runs)
        slices = _partitions(src.runs, 1 << max(0, (total // PARTITION).bit_length()))
        counts = [
            sum(_kept(src, r, lo, hi) for r, (lo, hi) in enumerate(run_slices[p] for run_slices in slices))
            for p in range(len(slices[0]))
        ]
        n = sum(counts)
        plans[level] = (slices, counts)
        specs[level] = {
            "upto": int(src.upto),
            "keys": place(8 * n),
            "fence": place(8 * -(-n // BLOCK)),
            "refs": place(np.dtype(src.refs_dtype).itemsize * n),
            "refs_dtype": src.refs_dtype,
            "sketches": place(src.sketches.nbytes),
            "sizes": place(4 * len(src.sizes)),
        }
    # The arrays are checksummed by page (:class:`Pages`): their region is padded to
    # whole pages, and the checksum table follows it.
    n_pages = -(-offset // PAGE)
    sums_at = [PAGE * n_pages, 8 * n_pages]
    # The header comes first and its size shifts the arrays: leave room for it (the
    # offsets grow by a few digits once shifted), then write it with the final offsets.
    header = {"version": VERSION, "uid": uid, "file_id": file_id, "heirs": heirs, "width": width,
              "levels": specs, "pages_from": 0, "page_sums": sums_at, "bytes": offset}
    head_room = -(-(_HEAD + len(json.dumps(header)) + 256 + 8) // _ALIGN) * _ALIGN
    for spec in specs.values():
        for name in ("keys", "fence", "refs", "sketches", "sizes"):
            spec[name][0] += head_room
    sums_at[0] += head_room
    header["pages_from"] = head_room
    header["bytes"] = sums_at[0] + sums_at[1]
    text = json.dumps(header).encode("utf-8")
    assert _HEAD + len(text) + 8 <= head_room
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w+b") as f:
            f.write(MAGIC + np.array([len(text)], dtype="<u8").tobytes() + text + xxhash.xxh3_64_digest(text))
            for level, src in levels.items():
                _write_level(f, specs[level], src, *plans[level])
            f.truncate(header["bytes"])
            f.flush()
            _write_page_sums(f, head_room, n_pages)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _sync_folder(folder)
    return path, {level: sum(counts) for level, (_, counts) in plans.items()}


def _write_page_sums(f, start: int, n_pages: int) -> None:
    """Checksum the ``n_pages`` pages from byte ``start`` of the file being written (read
    back through a memory map, 16k pages at a time) and write the table right after."""
    if not n_pages:
        return
    data = np.memmap(f, dtype=np.uint8, mode="r")
    region = memoryview(data[start : start + PAGE * n_pages])
    f.seek(start + PAGE * n_pages)
    for lo in range(0, n_pages, 1 << 14):
        hi = min(lo + (1 << 14), n_pages)
        f.write(memoryview(page_sums(region, np.arange(lo, hi)).astype("<u8")).cast("B"))
    region.release()
    del data


def _kept(src: LevelSource, run: int, lo: int, hi: int) -> int:
    if src.alive is None or run:  # only the old file's run can hold removed rows
        return hi - lo
    return int(np.count_nonzero(src.alive[src.runs[0][1][lo:hi]]))


def _write_level(f, spec: dict, src: LevelSource, slices: list[list[tuple[int, int]]], counts: list[int]) -> None:
    """Write one level's keys, fence, refs, sketches and sizes at the offsets of ``spec``."""
    done = 0
    fence_parts = []
    for p, count in enumerate(counts):
        parts = []
        for r, (keys, refs) in enumerate(src.runs):
            lo, hi = slices[r][p]
            k, v = keys[lo:hi], refs[lo:hi]
            if r == 0 and src.alive is not None:
                keep = src.alive[v]
                k, v = k[keep], v[keep]
            parts.append((k, v))
        keys, refs = _merge_slices(parts)
        assert len(keys) == count
        f.seek(spec["keys"][0] + 8 * done)
        f.write(memoryview(np.ascontiguousarray(keys, dtype="<u8")).cast("B"))
        f.seek(spec["refs"][0] + np.dtype(src.refs_dtype).itemsize * done)
        f.write(memoryview(np.ascontiguousarray(refs, dtype=src.refs_dtype)).cast("B"))
        fence_parts.append(keys[(-done) % BLOCK :: BLOCK].astype("<u8"))  # global positions % BLOCK == 0
        done += count
    f.seek(spec["fence"][0])
    f.write(memoryview(np.ascontiguousarray(np.concatenate(fence_parts) if fence_parts else np.zeros(0, "<u8"))).cast("B"))
    f.seek(spec["sketches"][0])
    f.write(memoryview(np.ascontiguousarray(src.sketches)).cast("B"))
    f.seek(spec["sizes"][0])
    f.write(memoryview(np.ascontiguousarray(src.sizes, dtype="<u4")).cast("B"))


def remove_unnamed(index_path: str, keep: Sequence[str]) -> None:
    """Remove the index's bucket files (and temporaries) other than those of ``keep``
    -- files replaced by a newer one, or left by a writer that died before naming
    its file.  Call it holding :func:`writer_lock`."""
    folder = os.path.dirname(os.path.abspath(index_path))
    pattern = re.compile(re.escape(os.path.basename(index_path)) + r"-lsh\.([0-9a-f]{32})(\.[^.]+\.tmp)?")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        m = pattern.fullmatch(name)
        if m and (m.group(2) or m.group(1) not in keep):
            try:
                os.unlink(os.path.join(folder, name))
            except FileNotFoundError:
                pass


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


class DeltaBuckets:
    """Bucket entries of rows stored after a bucket file was written, in memory.

    Kept as a few key-sorted runs of geometrically growing size (a tiny log-structured
    merge): adding an article's ~850 entries sorts only those, a run is merged with the
    one before it when that one is no more than twice its size (up to ``MAX_RUN``
    keys), so each entry is re-sorted O(log n) times in all and a lookup searches
    O(log n) runs.  Rows are added in ascending id order, except heirs, which the
    caller keeps in a delta of their own (few rows: re-sorted when out of order).
    """

    def __init__(self, after: int, width: int) -> None:
        self.after = after  # rows up to this id are held (or in the file)
        self.rows = 0
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        # Ids, sketches and set sizes of the held rows, ascending, in buffers that
        # double when full.
        self._ids = np.zeros(0, dtype=np.int64)
        self._sketches = np.zeros((0, width), dtype=np.uint8)
        self._sizes = np.zeros(0, dtype=np.uint32)

    def add(self, ids: np.ndarray, band_keys: np.ndarray, sketches: np.ndarray, sizes: np.ndarray) -> None:
        """Hold rows ``ids`` with their band keys, sketches and set sizes (the caller
        keeps :attr:`after`)."""
        if not len(ids):
            return
        by_id = np.argsort(ids, kind="stable")
        ids, band_keys, sketches, sizes = ids[by_id], band_keys[by_id], sketches[by_id], sizes[by_id]
        n = self.rows + len(ids)
        if n > len(self._ids):  # grow first: a failure here leaves the delta as it was
            size = max(n, 2 * len(self._ids), 256)
            grown_ids = np.zeros(size, np.int64)
            grown_ids[: self.rows] = self._ids[: self.rows]
            grown = np.zeros((size, self._sketches.shape[1]), np.uint8)
            grown[: self.rows] = self._sketches[: self.rows]
            grown_sizes = np.zeros(size, np.uint32)
            grown_sizes[: self.rows] = self._sizes[: self.rows]
            self._ids, self._sketches, self._sizes = grown_ids, grown, grown_sizes
        keys = band_keys.ravel()
        order = np.argsort(keys)
        run = (keys[order], ids[order // band_keys.shape[1]])
        unsorted = self.rows > 0 and ids[0] < self._ids[self.rows - 1]
        self._ids[self.rows : n] = ids
        self._sketches[self.rows : n] = sketches
        self._sizes[self.rows : n] = sizes
        if unsorted:
            order = np.argsort(self._ids[:n], kind="stable")
            self._ids[:n], self._sketches[:n], self._sizes[:n] = (
                self._ids[:n][order], self._sketches[:n][order], self._sizes[:n][order])
        self._runs.append(run)
        self.rows = n
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= min(2 * len(self._runs[-1][0]), MAX_RUN):
            self._runs[-2:] = [_merge_slices(self._runs[-2:])]

    def lookup(self, query: np.ndarray, limit: Optional[int] = None, sketches: bool = True) -> Found:
        """The held entries whose key is in ``query`` (sorted), as :meth:`LevelBuckets.lookup`
        (``limit`` applies to each run; :func:`bounded` applies it to the sum)."""
        found = [find(keys, refs, query, limit=limit) for keys, refs in self._runs]
        if not found:
            empty = np.zeros(0, np.uint64)
            return Found(empty, np.zeros(0, np.int64), empty,
                         np.zeros((0, self._sketches.shape[1] if sketches else 0), np.uint8))
        both = Found(*(np.concatenate(column) for column in zip(*((f.keys, f.refs, f.full) for f in found))))
        return both.with_sketches(self._sketches if sketches else None, self._ids[: self.rows])

    def sketches_and_sizes(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(held, sketches, sizes)``: which of ``ids`` this delta holds, and their
        sketches and set sizes (zeros where not held)."""
        if not self.rows:
            return (np.zeros(len(ids), bool), np.zeros((len(ids), self._sketches.shape[1]), np.uint8),
                    np.zeros(len(ids), np.int64))
        held_ids = self._ids[: self.rows]
        at = np.minimum(np.searchsorted(held_ids, ids), self.rows - 1)
        held = held_ids[at] == ids
        return held, np.where(held[:, None], self._sketches[at], 0).astype(np.uint8), np.where(
            held, self._sizes[at], 0).astype(np.int64)
