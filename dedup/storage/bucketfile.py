"""A read-optimized copy of an index's LSH buckets: sorted arrays in a memory-mapped file.

Why: checking an article looks up ~850 band keys (85 per paragraph).  In SQLite's
bucket tables that is ~850 random B-tree seeks -- ~4 ms of CPU at 100k stored
articles even with every page cached, the largest single cost of a check.  The same
buckets as one sorted uint64 key array, with the stored row each key points at, answer
all keys of a check with one :func:`numpy.searchsorted` over memory-mapped pages.  The
rows' b-bit sketches sit beside them in an array indexed by row id, so a chance
candidate is dismissed without touching the database at all.

The file is derived data, never the source of truth: the database keeps every row's
signature and whether it is banded, from which :func:`write_bucket_file`'s caller
computes the buckets (and without a file, the same goes into memory).  It is used only for the
database it was written for (the index's ``uid`` is in its header) and only if the
database names it as its current file (its ``file_id``).  What changed
since it was written is read from the database into a :class:`DeltaBuckets` in memory
as it appears: rows with ids above the file's ``upto`` (the backend never reuses ids),
and rows that inherited the bands of a removed exact copy (the backend logs them; the
file's ``heirs`` says how much of that log it already includes).  Removed rows that the
file still lists are candidates whose rows are gone: the caller drops them.

Crash safety: the file is written under a temporary name, flushed to disk and renamed
over the old one, so a reader maps either the complete old file or the complete new
one; a process killed while writing leaves only a temporary file, removed by the next
write.  A missing, stale, truncated or foreign file is not used, never trusted.

Nothing is pickled: a JSON header and raw little-endian arrays.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Optional

import numpy as np

from ..segments import ranges

MAGIC = b"DEDUPLSH"
VERSION = 1
#: Keys per block of the sorted key array; the file holds every block's first key
#: (the "fence"), so a lookup touches the small fence and then one 4 KB block.
BLOCK = 512
_ALIGN = 64
_HEAD = len(MAGIC) + 8  # magic, then the JSON header's length (uint64)


@dataclass(frozen=True)
class LevelBuckets:
    """One level's buckets (paragraph or document): band keys sorted, the row each
    points at, and every row's sketch at its id (rows ``0..upto``)."""

    upto: int
    keys: np.ndarray  # uint64, sorted
    fence: np.ndarray  # keys[::BLOCK]
    refs: np.ndarray  # uint32 or int64 row ids, aligned with keys
    sketches: np.ndarray  # (upto + 1, width) uint8

    def lookup(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(key, row, sketch)`` of every bucket entry whose key is in ``query``
        (sorted, unique uint64)."""
        keys, refs = find(self.keys, self.refs, query, lower_bound(self.keys, self.fence, query))
        return keys, refs, self.sketches[refs]


@dataclass(frozen=True)
class BucketFile:
    """An opened bucket file: what it was written from, and its levels' arrays."""

    path: str
    uid: str
    file_id: str  # the database names the file it trusts (meta ``bucket_file``); "" for none
    heirs: int  # the last logged heir the file includes
    stamp: Optional[tuple[int, int, int]]  # (inode, size, mtime_ns): tells a rewritten file apart
    levels: Mapping[str, LevelBuckets]


def find(
    keys: np.ndarray, refs: np.ndarray, query: np.ndarray, left: Optional[np.ndarray] = None
) -> tuple[np.ndarray, np.ndarray]:
    """Entries of a key-sorted ``(keys, refs)`` table whose key is in ``query`` (sorted);
    ``left``, if given, is each query key's :func:`lower_bound`.

    Most keys of a check are in no bucket, so the end of each run of equal keys is
    searched for only where the first key matched; the hits are gathered with one
    fancy index -- no Python loop, whatever the number of keys.
    """
    if left is None:
        left = np.searchsorted(keys, query, side="left")
    hit = left < len(keys)
    hit[hit] = keys[left[hit]] == query[hit]
    count = np.zeros(len(query), dtype=np.int64)
    count[hit] = np.searchsorted(keys, query[hit], side="right") - left[hit]
    at = ranges(left, count)
    return np.repeat(query, count), refs[at].astype(np.int64)


def lower_bound(keys: np.ndarray, fence: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``np.searchsorted(keys, query)`` for a large memory-mapped ``keys``, through its
    ``fence`` (every ``BLOCK``-th key).

    Why not ``np.searchsorted`` itself: its ~27 probes per key each land on a
    different page of an array of ~85M keys, and every page a process touches first
    costs a page fault.  The fence (~0.2% of the keys) stays hot; within the block it
    selects, a binary search run for all query keys at once, ``log2(BLOCK)`` vectorized
    steps, touches one page per key.
    """
    if not len(keys):
        return np.zeros(len(query), dtype=np.int64)
    n = len(keys)
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


def open_bucket_file(path: str, uid: str, width: int) -> Optional[BucketFile]:
    """The bucket file at ``path`` if it exists, is whole and was written for the
    database ``uid`` with sketches of ``width`` bytes; ``None`` otherwise (the caller
    then looks buckets up in the database)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            head = f.read(_HEAD)
            if len(head) < _HEAD or head[: len(MAGIC)] != MAGIC:
                return None
            size = int(np.frombuffer(head[len(MAGIC) :], dtype="<u8")[0])
            if size > st.st_size:
                return None
            header = json.loads(f.read(size).decode("utf-8"))
        if (header.get("version"), header.get("uid"), header.get("width")) != (VERSION, uid, width):
            return None
        if header["bytes"] != st.st_size:
            return None  # truncated or appended to: not the file that was written
        data = np.memmap(path, dtype=np.uint8, mode="r").view(np.ndarray)  # plain views: no memmap overhead
        levels = {}
        for level, spec in header["levels"].items():
            upto = int(spec["upto"])
            levels[level] = LevelBuckets(
                upto=upto,
                keys=_array(data, spec["keys"], "<u8"),
                fence=_array(data, spec["fence"], "<u8"),
                refs=_array(data, spec["refs"], spec["refs_dtype"]),
                sketches=_array(data, spec["sketches"], "u1").reshape(upto + 1, width),
            )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return BucketFile(path, uid, str(header["file_id"]), int(header["heirs"]), (st.st_ino, st.st_size, st.st_mtime_ns), levels)


def empty_bucket_file(path: str, uid: str, width: int, stamp: Optional[tuple[int, int, int]]) -> BucketFile:
    """A stand-in for a missing or unusable file at ``path`` (``stamp``): no buckets,
    covering no rows, so the delta holds everything stored."""
    level = LevelBuckets(0, np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int64),
                         np.zeros((1, width), np.uint8))
    return BucketFile(path, uid, "", 0, stamp, {"paragraph": level, "document": level})


def file_stamp(path: str) -> Optional[tuple[int, int, int]]:
    """``(inode, size, mtime_ns)`` of ``path``, or ``None`` when there is no file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _array(data: np.ndarray, spec: list[int], dtype: str) -> np.ndarray:
    offset, nbytes = spec
    if offset % _ALIGN or offset + nbytes > len(data):
        raise ValueError("array outside the file")
    return data[offset : offset + nbytes].view(dtype)


@dataclass
class LevelSource:
    """What :func:`write_bucket_file` writes for one level: the stored rows' ids (the
    highest id it covers is ``upto``), their band keys and their sketches."""

    upto: int
    ids: np.ndarray  # int64
    band_keys: np.ndarray  # (rows, bands) uint64
    sketches: np.ndarray  # (rows, width) uint8


@contextmanager
def writer_lock(path: str) -> Iterator[None]:
    """Hold the lock that lets one process at a time write the bucket file at ``path``.

    Why: writers sweep the temporary files a killed writer left behind, which must
    not be another live writer's file; and two writers would do the same work twice.
    """
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_bucket_file(
    path: str,
    uid: str,
    file_id: str,
    heirs: int,
    width: int,
    levels: Mapping[str, LevelSource],
    mode: int = 0o644,
) -> None:
    """Write the bucket file for ``levels`` atomically (temporary file, fsync, rename),
    with permission bits ``mode`` (the database's: whoever may read it may read this).
    Call it holding :func:`writer_lock`."""
    folder = os.path.dirname(os.path.abspath(path))
    for stale in _temporaries(path):
        try:
            os.unlink(stale)
        except OSError:
            pass
    plan: list[tuple[np.ndarray, int]] = []
    specs: dict[str, dict] = {}
    offset = 0

    def place(array: np.ndarray) -> list[int]:
        nonlocal offset
        at = offset
        plan.append((array, at))
        offset = at + -(-array.nbytes // _ALIGN) * _ALIGN
        return [at, array.nbytes]

    for level, src in levels.items():
        keys = np.ascontiguousarray(src.band_keys, dtype="<u8").ravel()
        refs = np.repeat(src.ids, src.band_keys.shape[1] if src.band_keys.ndim == 2 else 0)
        order = np.argsort(keys, kind="stable")
        refs_dtype = "<u4" if src.upto < 2**32 else "<i8"
        sketches = np.zeros((src.upto + 1, width), dtype=np.uint8)
        sketches[src.ids] = src.sketches
        keys = keys[order]
        specs[level] = {
            "upto": int(src.upto),
            "keys": place(keys),
            "fence": place(keys[::BLOCK]),
            "refs": place(refs[order].astype(refs_dtype)),
            "refs_dtype": refs_dtype,
            "sketches": place(sketches),
        }
    # The header comes first and its size shifts the arrays: leave room for it (the
    # offsets grow by a few digits once shifted), then write it with the final offsets.
    header = {"version": VERSION, "uid": uid, "file_id": file_id, "heirs": heirs, "width": width, "levels": specs,
              "bytes": offset}
    head_room = -(-(_HEAD + len(json.dumps(header)) + 256) // _ALIGN) * _ALIGN
    for spec in specs.values():
        for name in ("keys", "fence", "refs", "sketches"):
            spec[name][0] += head_room
    header["bytes"] = head_room + offset
    text = json.dumps(header).encode("utf-8")
    assert _HEAD + len(text) <= head_room
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + np.array([len(text)], dtype="<u8").tobytes() + text)
            for array, at in plan:
                f.seek(head_room + at)
                f.write(memoryview(np.ascontiguousarray(array)).cast("B"))
            f.truncate(head_room + offset)
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


def _temporaries(path: str) -> Iterable[str]:
    folder = os.path.dirname(os.path.abspath(path))
    prefix = os.path.basename(path) + "."
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if n.startswith(prefix) and n.endswith(".tmp")]


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class DeltaBuckets:
    """Bucket entries of rows stored after a bucket file was written, in memory.

    Kept as a few key-sorted runs of geometrically growing size (a tiny log-structured
    merge): adding an article's ~850 entries sorts only those, a run is merged with the
    one before it when that one is no more than twice its size, so each entry is
    re-sorted O(log n) times in all and a lookup searches O(log n) runs.
    """

    def __init__(self, after: int, width: int) -> None:
        self.after = after  # rows up to this id are held (or in the file)
        self.rows = 0
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        # Ids and sketches of the held rows, ascending, in buffers that double when full.
        self._ids = np.zeros(0, dtype=np.int64)
        self._sketches = np.zeros((0, width), dtype=np.uint8)

    def add(self, ids: np.ndarray, band_keys: np.ndarray, sketches: np.ndarray) -> None:
        """Hold rows ``ids`` (the caller keeps :attr:`after`)."""
        if not len(ids):
            return
        keys = band_keys.ravel()
        refs = np.repeat(ids, band_keys.shape[1])
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], refs[order]))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (k1, r1), (k2, r2) = self._runs[-2], self._runs.pop()
            keys, refs = np.concatenate([k1, k2]), np.concatenate([r1, r2])
            order = np.argsort(keys, kind="stable")
            self._runs[-1] = (keys[order], refs[order])
        n = self.rows + len(ids)
        if n > len(self._ids):
            size = max(n, 2 * len(self._ids), 256)
            self._ids = np.concatenate([self._ids[: self.rows], np.zeros(size - self.rows, np.int64)])
            self._sketches = np.concatenate(
                [self._sketches[: self.rows], np.zeros((size - self.rows, self._sketches.shape[1]), np.uint8)])
        by_id = np.argsort(ids, kind="stable")
        ids, sketches = ids[by_id], sketches[by_id]
        unsorted = self.rows > 0 and ids[0] < self._ids[self.rows - 1]  # an heir of a removed row
        self._ids[self.rows : n] = ids
        self._sketches[self.rows : n] = sketches
        self.rows = n
        if unsorted:
            order = np.argsort(self._ids[:n], kind="stable")
            self._ids[:n], self._sketches[:n] = self._ids[:n][order], self._sketches[:n][order]

    def lookup(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(key, row, sketch)`` of the held entries whose key is in ``query`` (sorted)."""
        found = [find(keys, refs, query) for keys, refs in self._runs]
        keys = np.concatenate([k for k, _ in found]) if found else np.zeros(0, np.uint64)
        refs = np.concatenate([r for _, r in found]) if found else np.zeros(0, np.int64)
        return keys, refs, self._sketches[np.searchsorted(self._ids[: self.rows], refs)]
