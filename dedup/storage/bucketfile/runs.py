"""The key-sorted runs a new bucket file merges, one key range at a time
(:func:`~.write.write_bucket_file`): the old file's entries where they are (mapped), and
the entries of the rows stored since, sorted a chunk at a time and spilled to a scratch
file as they come (:class:`SpilledRuns`), so that an optimize holds a key range's worth
of them, not all of them (tester's F5 of session 18: 60k rows behind the file, 12 bytes
for each of their 151 keys, plus each chunk's sort, peaked at ~9 KB a row)."""

from __future__ import annotations

import os
import tempfile
from typing import Callable, Optional, Sequence

import numpy as np

#: A run keeps every ``SAMPLE``-th key in memory: where the key ranges are cut, and
#: where to read to find a cut exactly.
SAMPLE = 1 << 10


class ArrayRun:
    """A key-sorted run held as arrays (or mapped from a file): ``keys`` (uint64) and
    ``refs``.  ``release`` (given for a mapped file, :meth:`~.pages.Pages.release`):
    the pages of what is read are given back once copied, so that a pass over the run
    holds a key range of it, not the file."""

    def __init__(self, keys: np.ndarray, refs: np.ndarray,
                 release: Optional[Callable[..., None]] = None) -> None:
        self.keys, self.refs, self.release = keys, refs, release
        self.samples = np.concatenate([self._copied(keys[lo : lo + SAMPLE_BLOCK])[::SAMPLE]  # (a multiple)
                                       for lo in range(0, len(keys), SAMPLE_BLOCK)] or [np.zeros(0, np.uint64)]
                                      ).astype(np.uint64, copy=False)

    def __len__(self) -> int:
        return len(self.keys)

    def cuts(self, bounds: np.ndarray) -> np.ndarray:
        """Where the key ranges split at ``bounds`` (ascending) begin, and where the last
        ends: ``len(bounds) + 2`` positions (a range holds keys ``>=`` its bound)."""
        return np.concatenate([[0], np.searchsorted(self.keys, bounds), [len(self.keys)]]).astype(np.int64)

    def read(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        return self._copied(self.keys[lo:hi]), self.refs_of(lo, hi)

    def refs_of(self, lo: int, hi: int) -> np.ndarray:
        return self._copied(self.refs[lo:hi])

    def _copied(self, view: np.ndarray) -> np.ndarray:
        """``view`` itself, or for a mapped run a copy, its pages given back."""
        if self.release is None:
            return view
        copy = np.array(view)
        self.release(view)
        return copy


#: Keys an :class:`ArrayRun` of a mapped file reads at a time for its samples (8 MB; a
#: multiple of :data:`SAMPLE`), and entries :func:`~.write.merged_level` checks at a time.
SAMPLE_BLOCK = 1 << 20


class SpilledRun:
    """A key-sorted run of :class:`SpilledRuns`: ``n`` entries at byte ``at`` of the
    scratch file (keys, then refs), and every :data:`SAMPLE`-th key in memory."""

    def __init__(self, owner: "SpilledRuns", at: int, n: int, samples: np.ndarray) -> None:
        self.owner, self.at, self.n, self.samples = owner, at, n, samples

    def __len__(self) -> int:
        return self.n

    def cuts(self, bounds: np.ndarray) -> np.ndarray:
        """As :meth:`ArrayRun.cuts`: each cut found among the :data:`SAMPLE` keys
        before the first sample at or above its bound (one small read)."""
        out = [0]
        for i in np.searchsorted(self.samples, bounds).tolist():
            lo = max(0, i - 1) * SAMPLE
            out.append(lo + int(np.searchsorted(self._keys(lo, min(i * SAMPLE, self.n)), bounds[len(out) - 1]))
                       if i else 0)
        return np.array(out + [self.n], dtype=np.int64)

    def _keys(self, lo: int, hi: int) -> np.ndarray:
        keys = np.frombuffer(os.pread(self.owner.fd, 8 * (hi - lo), self.at + 8 * lo), dtype="<u8")
        if len(keys) != hi - lo:
            raise OSError(f"the scratch file of a bucket file being written ended early (in {self.owner.path})")
        return keys

    def read(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        size = self.owner.refs_dtype.itemsize
        refs = np.frombuffer(os.pread(self.owner.fd, size * (hi - lo), self.at + 8 * self.n + size * lo),
                             dtype=self.owner.refs_dtype)
        if len(refs) != hi - lo:
            raise OSError(f"the scratch file of a bucket file being written ended early (in {self.owner.path})")
        return self._keys(lo, hi), refs


class SpilledRuns:
    """Key-sorted runs written to an unnamed scratch file in ``folder`` (removed when
    closed, or when the process ends): 8 bytes a key and ``refs_dtype`` a ref on disk,
    1/:data:`SAMPLE` of the keys in memory."""

    def __init__(self, folder: Optional[str], refs_dtype: str) -> None:
        self.refs_dtype = np.dtype(refs_dtype)
        self.file = tempfile.TemporaryFile(prefix="dedup-runs-", dir=folder)
        self.fd, self.path, self.end = self.file.fileno(), folder or tempfile.gettempdir(), 0
        self.runs: list[SpilledRun] = []

    def add(self, ids: np.ndarray, band_keys: np.ndarray) -> None:
        """Sort the entries of rows ``ids`` (band key ``band_keys[i, j]`` of row
        ``ids[i]``) and write them as one run."""
        flat = band_keys.ravel()
        order = np.argsort(flat)
        keys = flat[order].astype("<u8", copy=False)
        order //= band_keys.shape[1]
        refs = np.ascontiguousarray(ids.astype(self.refs_dtype)[order])
        del order
        for data, at in ((keys, self.end), (refs, self.end + keys.nbytes)):
            _write_all(self.fd, memoryview(data).cast("B"), at)
        self.runs.append(SpilledRun(self, self.end, len(keys), keys[::SAMPLE].copy()))
        self.end += keys.nbytes + refs.nbytes

    def close(self) -> None:
        self.file.close()


def partitions(runs: Sequence, per_part: int) -> list[list[tuple[int, int]]]:
    """For each run, the ``[lo, hi)`` slice of each key range, the ranges cut where
    the runs' sampled keys say each holds about ``per_part`` entries.  Why not equal
    ranges of the key space: the containment keys share one tag byte (1/256 of the key
    space, more than half of the entries at the defaults: one range held them all)."""
    total = sum(len(run) for run in runs)
    parts = -(-total // per_part)
    if parts <= 1:
        bounds = np.zeros(0, np.uint64)
    else:
        samples = np.sort(np.concatenate([run.samples for run in runs]))
        bounds = np.unique(samples[(len(samples) * np.arange(1, parts)) // parts])
    out = []
    for run in runs:
        cuts = run.cuts(bounds)
        out.append(list(zip(cuts[:-1].tolist(), cuts[1:].tolist())))
    return out


#: Rows of the old file's per-row arrays copied into :class:`SpilledRows` at a time.
COPY_ROWS = 1 << 16


class SpilledRows:
    """A level's per-row arrays for a new bucket file -- each row id ``0..upto``'s
    sketch (``width`` bytes), shingle-set size (uint32) and signature bytes
    (``num_perm`` bytes) -- in an unnamed scratch file in ``folder``, zero where no
    row is written, copied into the bucket file as it is written
    (:func:`~.write.write_bucket_file`).  Why not arrays: they were held for every row
    id of the index at once, ~0.3 KB a row whether banded or not (issue #12: 58 MB of
    the optimize after an add of 186k three-word lines, ~220 MB for 16 MiB of them)."""

    def __init__(self, folder: Optional[str], upto: int, width: int, num_perm: int) -> None:
        self.n = upto + 1
        self.widths = {"sketches": width, "sizes": 4, "lows": num_perm}
        self.at, end = {}, 0
        for name, w in self.widths.items():
            self.at[name], end = end, end + self.n * w
        self.file = tempfile.TemporaryFile(prefix="dedup-rows-", dir=folder)
        self.fd, self.path = self.file.fileno(), folder or tempfile.gettempdir()
        os.ftruncate(self.fd, end)  # zeros, not written (a sparse file where it can be)

    def nbytes(self, name: str) -> int:
        return self.n * self.widths[name]

    def put(self, ids: np.ndarray, **arrays: Optional[np.ndarray]) -> None:
        """Write the rows ``ids`` of the named arrays (``sketches=``, ``sizes=``,
        ``lows=``; one entry per id), one write per run of consecutive ids."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        order = None if (np.diff(ids) > 0).all() else np.argsort(ids, kind="stable")
        if order is not None:
            ids = ids[order]
        starts = np.r_[0, np.flatnonzero(np.diff(ids) != 1) + 1, len(ids)].tolist()
        for name, values in arrays.items():
            if values is None:
                continue
            data = np.ascontiguousarray(values if order is None else values[order],
                                        dtype="<u4" if name == "sizes" else np.uint8)
            raw, w = memoryview(data).cast("B"), self.widths[name]
            for a, b in zip(starts[:-1], starts[1:]):
                _write_all(self.fd, raw[a * w : b * w], self.at[name] + int(ids[a]) * w)

    def copy_to(self, name: str, fd: int, at: int) -> None:
        """Copy array ``name`` to byte ``at`` of the file ``fd`` (in the kernel where it
        can, else 16 MB at a time)."""
        src, left = self.at[name], self.nbytes(name)
        while left:
            step = min(left, 1 << 24)
            try:
                done = os.copy_file_range(self.fd, fd, step, src, at)
            except (AttributeError, OSError):
                data = os.pread(self.fd, step, src)
                if len(data) != step:
                    raise OSError(f"the scratch file of a bucket file being written ended early (in {self.path})")
                done = len(data)
                _write_all(fd, memoryview(data), at)
            if not done:
                raise OSError(f"the scratch file of a bucket file being written ended early (in {self.path})")
            src, at, left = src + done, at + done, left - done

    def close(self) -> None:
        self.file.close()


def _write_all(fd: int, view: memoryview, at: int) -> None:
    while len(view):
        written = os.pwrite(fd, view, at)
        view, at = view[written:], at + written
