"""A worker's in-memory copy of one level's LSH buckets (paragraph or document), as
read from the bucket log (:mod:`.log`): band keys in sorted runs with the rows they
point at, each held row's sketch, signature and set size, and the rows dropped since.
Knows nothing of the log's format or of Redis: :class:`.log.BucketCache` parses the
entries and feeds it; the look-ups (:meth:`LevelCache.lookup`) are what a check's
``candidates`` call runs.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ...segments import ranges, sorted_unique
from ..keydirectory import KeyDirectory


def _merge(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two key-sorted ``(keys, rows)`` runs as one (O(len(a) + len(b)))."""
    if not len(a[0]):
        return b
    at = np.searchsorted(a[0], b[0], side="right")
    return np.insert(a[0], at, b[0]), np.insert(a[1], at, b[1])


class LevelCache:
    """One level's buckets (paragraph or document) as a worker holds them: band keys
    sorted with the row each points at, in a few runs of geometrically growing size
    (adding a part re-sorts only its keys; a run is merged into the one before it when
    that one is at most twice its size, so each key is re-sorted O(log n) times in all
    and a look-up searches O(log n) runs, most of them small); each held
    row's sketch and signature (a check reads the signatures of the rows that
    pass the sketch from here, not from the server: recomputing them from the stored
    shingle sets was most of a check's time); and the rows dropped since."""

    def __init__(self, width: int, num_perm: int) -> None:
        # Each run's band keys (sorted) with the *position* of the row each points at
        # (an index into the columns below, u32), not its row id.  Why positions: a
        # look-up's hits are ~100k rows at 100k articles, in no order, and finding them
        # by id cost ~3 ms a call with a binary search of ``_ids`` (half a single
        # check's look-up); a map from row id to position cost 4 bytes for every row id
        # ever issued (ids are never reused: it grew with churn, not with the rows held;
        # reviewer's R10).  Positions need neither: they are bounded by the rows held,
        # and every entry of a run points at a held row by construction.
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        self._directories: list[KeyDirectory] = []  # one per run (:mod:`~dedup.storage.keydirectory`)
        self._ids = np.zeros(0, dtype=np.int64)  # ascending
        self._sketches = np.zeros((0, width), dtype=np.uint8)
        self._signatures = np.zeros((0, num_perm), dtype=np.uint32)
        self._sizes = np.zeros(0, dtype=np.uint32)
        self._rows = 0
        self._dead = np.zeros(0, dtype=np.int64)  # sorted
        # Whether the row held at each position was dropped (``_dead`` by position: a
        # look-up's ~100k hits are tested by one gather, not searched among the dropped
        # rows, which grow with churn).
        self._dropped = np.zeros(0, dtype=bool)

    def add(self, ids: np.ndarray, bands: np.ndarray, sketches: np.ndarray, signatures: np.ndarray,
            sizes: np.ndarray) -> None:
        """Hold rows ``ids`` with their ``(n, w)`` band keys, sketches, signatures and
        set sizes: their keys become one new run."""
        at = self._hold(np.asarray(ids, dtype=np.int64), sketches, signatures, sizes)
        keys = bands.ravel()
        order = np.argsort(keys)
        rows = np.repeat(at.astype(np.uint32), bands.shape[1])
        self._runs.append((keys[order], rows[order]))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            self._runs[-2:] = [_merge(self._runs[-2], self._runs[-1])]
        # Only the last run is new (or merged): the others keep their directories.
        self._directories = self._directories[: len(self._runs) - 1] + [KeyDirectory.of(self._runs[-1][0])]

    def _columns(self) -> tuple[np.ndarray, ...]:
        return self._ids, self._sketches, self._signatures, self._sizes

    def _hold(self, ids: np.ndarray, *values: np.ndarray) -> np.ndarray:
        """Hold rows ``ids`` with their ``values`` (sketches, signatures, sizes); returns
        their positions in the columns (in the order of ``ids``).  New rows above every
        held one are appended; older ones (heirs) are placed by id, which moves the
        rows after them: the runs' positions are renumbered then (heirs are rare: a
        removal whose text has an exact copy)."""
        n = self._rows
        if n + len(ids) > len(self._ids):  # buffers that double when full
            size = max(n + len(ids), 2 * len(self._ids), 1024)
            grown = tuple(np.zeros((size,) + old.shape[1:], old.dtype) for old in self._columns())
            for new, old in zip(grown, self._columns()):
                new[:n] = old[:n]
            self._ids, self._sketches, self._signatures, self._sizes = grown
            self._dropped = np.r_[self._dropped[:n], np.zeros(size - n, dtype=bool)]
        ascending = len(ids) < 2 or bool((ids[1:] > ids[:-1]).all())
        if ascending and (not n or not len(ids) or ids[0] > self._ids[n - 1]):
            for old, new in zip(self._columns(), (ids, *values)):
                old[n : n + len(ids)] = new
            self._rows = n + len(ids)
            self._dropped[n : self._rows] = np.isin(ids, self._dead) if len(self._dead) else False
            return np.arange(n, n + len(ids), dtype=np.int64)
        held = np.r_[self._ids[:n], ids]
        order = np.argsort(held, kind="stable")
        ordered = held[order]
        first = np.r_[True, ordered[1:] != ordered[:-1]]
        last = np.r_[ordered[1:] != ordered[:-1], True]  # a row given twice keeps its last values
        where = np.empty(len(held), dtype=np.int64)  # each held or given row's new position
        where[order] = np.cumsum(first) - 1
        for old, new in zip(self._columns(), (ids, *values)):
            merged = np.concatenate([old[:n], new])[order][last]
            old[: len(merged)] = merged
        self._rows = int(last.sum())
        self._dropped[: self._rows] = np.isin(self._ids[: self._rows], self._dead)
        moved = where[:n].astype(np.uint32)
        self._runs = [(keys, moved[rows]) for keys, rows in self._runs]
        return where[n:]

    @property
    def dead(self) -> np.ndarray:
        """The rows dropped (sorted)."""
        return self._dead

    def drop(self, ids: np.ndarray) -> None:
        """Leave rows ``ids`` out of every look-up from now on."""
        if len(ids):
            ids = np.asarray(ids, dtype=np.int64)
            self._dead = sorted_unique(np.r_[self._dead, ids])
            held, at = self._find(ids, dropped=True)
            self._dropped[at[held]] = True  # rows not held yet are marked when they are

    def lookup(self, query: np.ndarray, limit: Optional[int] = None, sketches: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(key, row, sketch)`` of every held entry whose key is in ``query`` (sorted,
        unique u64) and whose row was not dropped; with ``limit``, none of a key that
        has more than ``limit`` entries (dropped rows counted: nothing is gathered);
        without ``sketches``, the third array is empty."""
        found = []  # per run: (query index, first entry, entries) of the keys it holds
        for (run_keys, run_rows), directory in zip(self._runs, self._directories):
            lo, hi = directory.bounds(run_keys, query)
            hit = np.flatnonzero(hi > lo)
            found.append((hit, lo[hit], hi[hit] - lo[hit]))
        if limit is not None and found:
            total = np.zeros(len(query), np.int64)
            for hit, _, count in found:
                total[hit] += count
            found = [(hit[ok], lo[ok], count[ok]) for hit, lo, count in found for ok in [total[hit] <= limit]]
        keys, rows = [], []
        for (run_keys, run_rows), (_, lo, count) in zip(self._runs, found):
            at = ranges(lo, count)
            keys.append(run_keys[at])
            rows.append(run_rows[at])
        key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        at = np.concatenate(rows) if rows else np.zeros(0, np.uint32)
        row = self._ids[at]
        if len(self._dead) and len(row):
            live = ~self._dropped[at]
            key, row, at = key[live], row[live], at[live]
        if not sketches:
            return key, row, self._sketches[:0]
        return key, row, self._sketches[at]

    def signatures(self, ids: np.ndarray, dropped: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(held, signatures)``: which of ``ids`` are held rows not dropped (``dropped``:
        dropped ones too), and their signatures (in the order of ``ids``)."""
        held, at = self._find(ids, dropped)
        return held, self._signatures[at[held]]

    def sketches_and_sizes(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sketches, sizes)`` of rows ``ids`` (in their order); a zero sketch and
        size 0 for rows not held or dropped."""
        held, at = self._find(ids)
        sketches = np.zeros((len(ids), self._sketches.shape[1]), np.uint8)
        sizes = np.zeros(len(ids), np.int64)
        sketches[held], sizes[held] = self._sketches[at[held]], self._sizes[at[held]]
        return sketches, sizes

    def _find(self, ids: np.ndarray, dropped: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(held, at)``: which of ``ids`` are held (and not dropped, unless
        ``dropped``) and their positions (0 where not held): a binary search of the
        held ids (these calls ask for few rows: those that passed a sketch)."""
        ids = np.asarray(ids, dtype=np.int64)
        n = self._rows
        at = np.minimum(np.searchsorted(self._ids[:n], ids), max(n - 1, 0))
        held = self._ids[at] == ids if n else np.zeros(len(ids), dtype=bool)
        at[~held] = 0
        if len(self._dead) and not dropped:
            held &= ~self._dropped[at]
        return held, at

    @property
    def rows(self) -> int:
        """Rows held (dropped ones too)."""
        return self._rows

    @property
    def entries(self) -> int:
        """Band keys held."""
        return sum(len(k) for k, _ in self._runs)

    @property
    def nbytes(self) -> int:
        """Bytes of memory the held arrays take."""
        return sum(k.nbytes + r.nbytes for k, r in self._runs) + sum(d.nbytes for d in self._directories) \
            + sum(c.nbytes for c in self._columns()) \
            + self._dead.nbytes + self._dropped.nbytes
