"""Writing a bucket file: the old file's buckets merged with what was stored since, one
key range at a time (bounded memory), under a temporary name, fsynced, renamed; one
writer at a time (:func:`writer_lock`); files no longer named removed."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Optional, Sequence

import numpy as np
import xxhash

from .delta import merge_runs
from .files import ALIGN, HEAD, MAGIC, VERSION, bucket_path
from .lookup import BLOCK, LevelBuckets
from .pages import PAGE, page_sums
from .runs import COPY_ROWS, SAMPLE_BLOCK, ArrayRun, SpilledRows, SpilledRuns, partitions


@dataclass
class LevelSource:
    """What :func:`write_bucket_file` writes for one level: the highest row id covered,
    key-sorted runs to merge (:mod:`.runs`: the old file's first, an entry of it kept
    when ``alive[ref]``, where ``alive`` is given; then the new rows', spilled to the
    scratch file ``spilled``), and the sketch, set size and signature bytes of every
    row ``0..upto`` (``rows``, another scratch file).  :meth:`close` it when written."""

    upto: int
    runs: list
    alive: Optional[np.ndarray]  # bool by row id (the old file's rows), or None: keep all
    rows: SpilledRows
    spilled: Optional[SpilledRuns] = None

    @property
    def refs_dtype(self) -> str:
        return "<u4" if self.upto < 2**32 else "<i8"

    def close(self) -> None:
        """Remove the scratch files."""
        self.rows.close()
        if self.spilled is not None:
            self.spilled.close()


def merged_level(
    old: LevelBuckets,
    existing: np.ndarray,
    upto: int,
    new: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    width: int,
    num_perm: int,
    old_lows: Iterable[tuple[np.ndarray, np.ndarray]] = (),
    scratch: Optional[str] = None,
) -> LevelSource:
    """A level's buckets to write: ``old``'s entries whose row still exists (sorted ids
    in ``existing``) and the ``(ids, band_keys, sketches, sizes, lows)`` chunks of
    ``new`` (rows stored since, and heirs), covering rows up to ``upto``.  An ``old``
    level without signature bytes (format 3) gets them from the ``(ids, lows)`` chunks
    of ``old_lows`` (its rows' stored signatures).

    Each new chunk is sorted on its own as it comes and written as a run of ~12 bytes
    per entry to a scratch file in folder ``scratch`` (default: the system's), so what
    is held is a chunk's sort; the merge happens as the file is written, one key range
    at a time (:func:`write_bucket_file`).  Why: sorting and gathering every entry at
    once took ~11x the key array in memory (measured 1.19 GB for 13.6M keys, so ~7.5 GB
    for the ~85M of a 100k-article index at 85 band keys a paragraph; ~1.5x that at the
    default 49 band keys and 79 containment keys), and the runs held in memory grew
    with the rows stored since the old file (~1.8 KB a row: tester's F5 of session 18).
    The rows' sketches, set sizes and signature bytes (~0.3 KB a row of the level)
    go to a scratch file too (:class:`~.runs.SpilledRows`, session 22), so what is
    held for the whole level is a bool per row of the old file and 1/1024 of the keys.
    The old file's mapped pages are given back as they are read (a block of rows, a
    key range: :class:`~.pages.Mapped`; session 23): they stayed resident, the whole
    file, in the add that triggered the optimize.
    """
    alive = np.zeros(old.upto + 1, dtype=bool)
    alive[existing[existing <= old.upto]] = True
    rows = SpilledRows(scratch, upto, width, num_perm)
    release = old.pages.release if old.pages is not None else None
    source = LevelSource(upto, [ArrayRun(old.keys, old.refs, release)], None, rows)
    try:
        for lo in range(0, old.upto + 1, COPY_ROWS):  # (the old file's arrays are mapped: pages given back)
            hi = min(lo + COPY_ROWS, old.upto + 1)
            arrays = {"sketches": old.sketches[lo:hi], "sizes": old.sizes[lo:hi],
                      "lows": None if old.lows is None else old.lows[lo:hi]}
            rows.put(np.arange(lo, hi), **arrays)
            if release is not None:
                release(*(a for a in arrays.values() if a is not None))
        if old.lows is None:
            for ids, chunk_lows in old_lows:
                rows.put(ids, lows=chunk_lows)
        run, n = source.runs[0], len(old.refs)
        if not all(alive[run.refs_of(lo, min(lo + SAMPLE_BLOCK, n))].all() for lo in range(0, n, SAMPLE_BLOCK)):
            source.alive = alive  # applies to the old file's run only
        source.spilled = SpilledRuns(scratch, source.refs_dtype)
        for ids, band_keys, chunk_sketches, chunk_sizes, chunk_lows in new:
            if not len(ids):
                continue
            source.spilled.add(ids, band_keys)
            rows.put(ids, sketches=chunk_sketches, sizes=chunk_sizes, lows=chunk_lows)
    except BaseException:
        source.close()
        raise
    source.runs += source.spilled.runs
    return source


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


#: Entries merged at once while writing a level (see :func:`write_bucket_file`): ~32
#: bytes each at the merge (keys, order, refs), so ~32 MB.
PARTITION = 1 << 20


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
        offset = at + -(-nbytes // ALIGN) * ALIGN
        return [at, nbytes]

    for level, src in levels.items():
        slices = partitions(src.runs, PARTITION)
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
            "sketches": place(src.rows.nbytes("sketches")),
            "sizes": place(src.rows.nbytes("sizes")),
            "lows": place(src.rows.nbytes("lows")),
        }
    # The arrays are checksummed by page (:class:`Pages`): their region is padded to
    # whole pages, and the checksum table follows it.
    n_pages = -(-offset // PAGE)
    sums_at = [PAGE * n_pages, 8 * n_pages]
    # The header comes first and its size shifts the arrays: leave room for it (the
    # offsets grow by a few digits once shifted), then write it with the final offsets.
    header = {"version": VERSION, "uid": uid, "file_id": file_id, "heirs": heirs, "width": width,
              "num_perm": next(iter(levels.values())).rows.widths["lows"] if levels else 0,
              "levels": specs, "pages_from": 0, "page_sums": sums_at, "bytes": offset}
    head_room = -(-(HEAD + len(json.dumps(header)) + 256 + 8) // ALIGN) * ALIGN
    for spec in specs.values():
        for name in ("keys", "fence", "refs", "sketches", "sizes", "lows"):
            spec[name][0] += head_room
    sums_at[0] += head_room
    header["pages_from"] = head_room
    header["bytes"] = sums_at[0] + sums_at[1]
    text = json.dumps(header).encode("utf-8")
    assert HEAD + len(text) + 8 <= head_room
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


#: Pages of a bucket file read back at a time to checksum them (4 KB each: 16 MB).
SUM_PAGES = 1 << 12


def _write_page_sums(f, start: int, n_pages: int) -> None:
    """Checksum the ``n_pages`` pages from byte ``start`` of the file being written (read
    back 4k pages, 16 MB, at a time: not mapped, since a mapped file's pages stay in
    the process's resident memory, the whole file's) and write the table right after."""
    step = SUM_PAGES
    f.seek(start + PAGE * n_pages)
    for lo in range(0, n_pages, step):
        hi = min(lo + step, n_pages)
        data = os.pread(f.fileno(), PAGE * (hi - lo), start + PAGE * lo)
        if len(data) != PAGE * (hi - lo):
            raise OSError(f"the bucket file being written ended early ({f.name})")
        f.write(memoryview(page_sums(memoryview(data), np.arange(lo, hi), first=lo).astype("<u8")).cast("B"))


def _kept(src: LevelSource, run: int, lo: int, hi: int) -> int:
    if src.alive is None or run:  # only the old file's run can hold removed rows
        return hi - lo
    return int(np.count_nonzero(src.alive[src.runs[0].refs_of(lo, hi)]))


def _write_level(f, spec: dict, src: LevelSource, slices: list[list[tuple[int, int]]], counts: list[int]) -> None:
    """Write one level's keys, fence, refs, sketches, sizes and signature bytes at the
    offsets of ``spec``."""
    done = 0
    fence_parts = []
    for p, count in enumerate(counts):
        parts = []
        for r, run in enumerate(src.runs):
            lo, hi = slices[r][p]
            k, v = run.read(lo, hi)
            if r == 0 and src.alive is not None:
                keep = src.alive[v]
                k, v = k[keep], v[keep]
            parts.append((k, v))
        keys, refs = merge_runs(parts)
        assert len(keys) == count
        f.seek(spec["keys"][0] + 8 * done)
        f.write(memoryview(np.ascontiguousarray(keys, dtype="<u8")).cast("B"))
        f.seek(spec["refs"][0] + np.dtype(src.refs_dtype).itemsize * done)
        f.write(memoryview(np.ascontiguousarray(refs, dtype=src.refs_dtype)).cast("B"))
        fence_parts.append(keys[(-done) % BLOCK :: BLOCK].astype("<u8"))  # global positions % BLOCK == 0
        done += count
    f.seek(spec["fence"][0])
    f.write(memoryview(np.ascontiguousarray(np.concatenate(fence_parts) if fence_parts else np.zeros(0, "<u8"))).cast("B"))
    f.flush()
    for name in ("sketches", "sizes", "lows"):
        src.rows.copy_to(name, f.fileno(), spec[name][0])


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
