"""What was stored since the bucket file was written, held in memory as a few
key-sorted runs (:class:`DeltaBuckets`)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .lookup import Found, find

#: Keys a :class:`DeltaBuckets` run grows to by merging; beyond, runs stay separate
#: (a few more binary searches per lookup, instead of one add paying for re-sorting
#: millions of keys: measured 1.1 s once at 250k rows held when merging without cap).
MAX_RUN = 1 << 22


def merge_runs(slices: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
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


class DeltaBuckets:
    """Bucket entries of rows stored after a bucket file was written, in memory.

    Kept as a few key-sorted runs of geometrically growing size (a tiny log-structured
    merge): adding an article's ~1,300 entries (~10 paragraphs of 49 band keys and 79
    containment keys at the defaults) sorts only those, a run is merged with the one
    before it when that one is no more than twice its size (up to ``MAX_RUN`` keys), so
    each entry is re-sorted O(log n) times in all and a lookup searches O(log n) runs.  Rows are added in ascending id order, except heirs, which the
    caller keeps in a delta of their own (few rows: re-sorted when out of order).
    """

    def __init__(self, after: int, width: int, num_perm: int = 0) -> None:
        self.after = after  # rows up to this id are held (or in the file)
        self.rows = 0
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        # Ids, sketches, set sizes and signature bytes of the held rows, ascending, in
        # buffers that double when full.
        self._ids = np.zeros(0, dtype=np.int64)
        self._sketches = np.zeros((0, width), dtype=np.uint8)
        self._sizes = np.zeros(0, dtype=np.uint32)
        self._lows = np.zeros((0, num_perm), dtype=np.uint8)

    def add(self, ids: np.ndarray, band_keys: np.ndarray, sketches: np.ndarray, sizes: np.ndarray,
            lows: Optional[np.ndarray] = None) -> None:
        """Hold rows ``ids`` with their band keys, sketches, set sizes and signature
        bytes (``lows``: ``(n, num_perm)``, required when the delta was made with a
        ``num_perm``) (the caller keeps :attr:`after`)."""
        if not len(ids):
            return
        if lows is None:
            lows = np.zeros((len(ids), self._lows.shape[1]), np.uint8)
        by_id = np.argsort(ids, kind="stable")
        ids, band_keys, sketches, sizes, lows = ids[by_id], band_keys[by_id], sketches[by_id], sizes[by_id], lows[by_id]
        n = self.rows + len(ids)
        if n > len(self._ids):  # grow first: a failure here leaves the delta as it was
            size = max(n, 2 * len(self._ids), 256)
            self._ids, self._sketches, self._sizes, self._lows = (
                _grown(column, self.rows, size) for column in (self._ids, self._sketches, self._sizes, self._lows))
        keys = band_keys.ravel()
        order = np.argsort(keys)
        run = (keys[order], ids[order // band_keys.shape[1]])
        unsorted = self.rows > 0 and ids[0] < self._ids[self.rows - 1]
        self._ids[self.rows : n] = ids
        self._sketches[self.rows : n] = sketches
        self._sizes[self.rows : n] = sizes
        self._lows[self.rows : n] = lows
        if unsorted:
            order = np.argsort(self._ids[:n], kind="stable")
            self._ids[:n], self._sketches[:n], self._sizes[:n], self._lows[:n] = (
                self._ids[:n][order], self._sketches[:n][order], self._sizes[:n][order], self._lows[:n][order])
        self._runs.append(run)
        self.rows = n
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= min(2 * len(self._runs[-1][0]), MAX_RUN):
            self._runs[-2:] = [merge_runs(self._runs[-2:])]

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

    def signature_bytes(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(held, lows)``: which of ``ids`` this delta holds, and their signature
        bytes (rows of ``held`` only, in the order of ``ids``)."""
        if not self.rows:
            return np.zeros(len(ids), bool), self._lows[:0]
        held_ids = self._ids[: self.rows]
        at = np.minimum(np.searchsorted(held_ids, ids), self.rows - 1)
        held = held_ids[at] == ids
        return held, self._lows[at[held]]

    def sketches_and_sizes(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(held, sketches, sizes)``: which of ``ids`` this delta holds, and their
        sketches and set sizes (rows of ``held`` only, in the order of ``ids``)."""
        if not self.rows:
            return np.zeros(len(ids), bool), self._sketches[:0], np.zeros(0, np.int64)
        held_ids = self._ids[: self.rows]
        at = np.minimum(np.searchsorted(held_ids, ids), self.rows - 1)
        held = held_ids[at] == ids
        at = at[held]
        return held, self._sketches[at], self._sizes[at].astype(np.int64)


def _grown(column: np.ndarray, rows: int, size: int) -> np.ndarray:
    """A copy of ``column`` with room for ``size`` rows, its first ``rows`` kept."""
    grown = np.zeros((size,) + column.shape[1:], column.dtype)
    grown[:rows] = column[:rows]
    return grown
