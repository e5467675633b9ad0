"""Looking keys up in a level's buckets: a fence search, then a vectorized binary search
inside one block per key (:func:`lower_bound`), the entries of every matched key
gathered at once (:func:`positions`), over-full buckets left out unread (``limit``), and
the parts of one look-up (the file, what is held in memory) bounded together
(:func:`bounded`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from ...segments import ranges, sorted_unique
from .pages import BucketFileDamaged, Pages

#: Keys per block of the sorted key array; the file holds every block's first key
#: (the "fence"), so a lookup touches the small fence and then one 4 KB block.
BLOCK = 512


@dataclass(frozen=True)
class LevelBuckets:
    """One level's buckets (paragraph or document): band keys sorted, the row each
    points at, and every row's sketch, shingle-set size and signature bytes at its id
    (rows ``0..upto``; sizes 0 where unknown: documents, rows not banded); ``pages``
    and ``at`` (each array's file offset) verify what a lookup reads (``None``: in
    memory).  ``lows``: the low byte of each of the row's signature values (zeros for
    rows not banded), ``None`` in a file of format 3 (written before they were kept)."""

    upto: int
    keys: np.ndarray  # uint64, sorted
    fence: np.ndarray  # keys[::BLOCK]
    refs: np.ndarray  # uint32 or int64 row ids, aligned with keys
    sketches: np.ndarray  # (upto + 1, width) uint8
    sizes: np.ndarray  # (upto + 1,) uint32
    pages: Optional[Pages] = None
    at: Optional[Mapping[str, int]] = None
    lows: Optional[np.ndarray] = None  # (upto + 1, num_perm) uint8

    def signature_bytes(self, ids: np.ndarray) -> Optional[np.ndarray]:
        """The signature bytes (:attr:`lows`) of rows ``ids`` (int64, each ``<= upto``),
        pages verified first; ``None`` if this level keeps none (a format-3 file)."""
        if self.lows is None:
            return None
        if self.pages is not None:
            self._check("lows", ids, ids + 1)
        return self.lows[ids]

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
        keys, at, full = positions(self.keys, query, self._verified_bound, limit,
                                   lambda lo, hi: self._check("keys", lo, hi))
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
        size = {"keys": 8, "refs": self.refs.itemsize, "sketches": self.sketches.shape[1], "sizes": 4,
                "lows": 0 if self.lows is None else self.lows.shape[1]}[name]
        self.pages.check(self.at[name] + size * lo, self.at[name] + size * hi)


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
    if keep.all():  # (the file's own over-full keys: it returned none of their entries)
        return keys, refs, sketches
    return keys[keep], refs[keep], sketches[keep] if len(sketches) else sketches


def member(sorted_set: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for a sorted ``sorted_set``: a binary search of
    each value, no sort of ``values`` (millions of bucket entries against a few keys);
    when ``values`` are sorted too (a look-up of the bucket file alone), each key of the
    set is searched among them instead (session 18: 2.15M entries of a 128-article
    batch against its 34,605 over-full keys, 68 ms -> a few)."""
    if not len(sorted_set):
        return np.zeros(len(values), bool)
    if len(values) > len(sorted_set) and bool((values[1:] >= values[:-1]).all()):
        lo = np.searchsorted(values, sorted_set, side="left")
        inside = np.zeros(len(values), bool)
        inside[ranges(lo, np.searchsorted(values, sorted_set, side="right") - lo)] = True
        return inside
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
    limit: Optional[int] = None, check: Optional[Callable[[np.ndarray, np.ndarray], None]] = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(key, position, full)``: every entry of the sorted ``keys`` whose key is in
    ``query``, except those of keys with more than ``limit`` entries (``full``: those keys).
    ``check(lo, hi)``, if given, is called on every range of ``keys`` read besides
    what ``bound`` reads (to verify its pages first).

    Most keys of a check are in no bucket, so a run's length is found only where its
    first key matched, and mostly without a second search (:func:`run_lengths`); the
    hits are gathered with one fancy index -- no Python loop, whatever the number of
    keys.  An over-full bucket costs its bound and one probe: none of its entries (nor
    their rows' sketches) is read.
    """
    if bound is None:
        bound = functools.partial(np.searchsorted, keys)
    left = bound(query)
    hit = left < len(keys)
    hit[hit] = keys[left[hit]] == query[hit]
    count = np.zeros(len(query), dtype=np.int64)
    count[hit] = run_lengths(keys, left[hit], query[hit], bound, limit, check)
    full = np.zeros(0, np.uint64)
    if limit is not None:
        over = count > limit
        full, count[over] = query[over], 0
    return np.repeat(query, count), ranges(left, count), full


#: Entries after a run's first one compared at once to find where the run ends: one
#: cache line of keys (most buckets hold a few entries).
AHEAD = 8


def run_lengths(
    keys: np.ndarray, first: np.ndarray, values: np.ndarray, bound: Callable[[np.ndarray], np.ndarray],
    limit: Optional[int] = None, check: Optional[Callable[[np.ndarray, np.ndarray], None]] = None,
) -> np.ndarray:
    """Entries of each run of ``values`` in the sorted ``keys``, the run starting at
    ``first`` (``keys[first] == values``); with a ``limit``, any count above it stands
    for a run longer than ``limit`` (not its length).

    Why: searching each run's end as the bound of ``value + 1`` cost a second
    ``log2(BLOCK)``-step search per hit (~half of a containment look-up, whose keys
    mostly hit).  Instead the :data:`AHEAD` entries after the first are compared at
    once; a longer run is over the ``limit`` exactly when ``keys[first + limit]`` is
    still its value (one probe); only the rest, runs of ``AHEAD + 1 .. limit``
    entries or any long run without a limit, are searched as before.  ``check``: as
    in :func:`positions`."""
    n = len(keys)
    if not len(first):
        return np.zeros(0, np.int64)
    if check is not None:
        check(first, np.minimum(first + AHEAD + 1, n))
    ahead = first[:, None] + np.arange(1, AHEAD + 1)
    same = (ahead < n) & (keys[np.minimum(ahead, n - 1)] == values[:, None])
    length = 1 + np.count_nonzero(same, axis=1)  # keys are sorted: the equal ones come first
    long = np.flatnonzero(same[:, -1])
    if limit is not None and limit >= AHEAD and len(long):
        probe = first[long] + limit
        inside = probe < n
        if check is not None:
            check(probe[inside], probe[inside] + 1)
        over = inside & (keys[np.minimum(probe, n - 1)] == values[long])
        length[long[over]] = limit + 1
        long = long[~over]
    if len(long):
        last = values[long] == np.iinfo(np.uint64).max  # no value + 1: its run ends the array
        end = np.full(len(long), n, dtype=np.int64)
        end[~last] = bound(values[long][~last] + np.uint64(1))
        length[long] = end - first[long]
    return length


def lower_bound(keys: np.ndarray, fence: np.ndarray, query: np.ndarray, block: Optional[np.ndarray] = None
                ) -> np.ndarray:
    """``np.searchsorted(keys, query)`` for a large memory-mapped ``keys``, through its
    ``fence`` (every ``BLOCK``-th key); ``block``: ``np.searchsorted(fence, query)``
    if the caller has it already.

    Why not ``np.searchsorted`` itself: its ~27 probes per key each land on a
    different page of an array of ~85M keys (100k articles at 85 band keys a paragraph;
    ~1.5x that at 49 band keys and 79 containment keys), and every page a process touches first
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
