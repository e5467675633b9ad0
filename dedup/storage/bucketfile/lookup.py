"""Looking keys up in a level's buckets: a fence search, then a binary search inside
one block per key, compiled (:mod:`.search`), the entries of every matched key gathered
at once (:func:`positions`), over-full buckets left out unread (``limit``), and
the parts of one look-up (the file, what is held in memory) bounded together
(:func:`bounded`)."""

from __future__ import annotations

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
        sketches unless not ``sketches`` (see :class:`Found`); the key search
        reads first, and every page it read is verified before the entries are
        gathered (:class:`BucketFileDamaged` if one does not verify)."""
        if self.pages is None:
            found = find(self.keys, self.refs, query, self.fence, limit)
            return found.with_sketches(self.sketches if sketches else None)
        keys, at, full = positions(self.keys, self.fence, query, limit, lambda lo, hi: self._check("keys", lo, hi))
        if self.pages.unverified:  # (every page verified: the entries' ranges, found in the file, need no check)
            runs = np.flatnonzero(np.diff(at) != 1) + 1 if len(at) else at  # a bucket's entries are consecutive
            self._check("refs", at[np.r_[0, runs]] if len(at) else at,
                        at[np.r_[runs - 1, len(at) - 1]] + 1 if len(at) else at)
        refs = self.refs[at].astype(np.int64)
        if len(refs) and (refs.min() < 0 or refs.max() > self.upto):
            raise BucketFileDamaged(f"{self.pages.path}: a bucket points at row {int(refs.max())} > {self.upto}")
        if sketches and self.pages.unverified:  # (the rows are within the file: checked just above)
            self._check("sketches", refs, refs + 1)
        return Found(keys, refs, full).with_sketches(self.sketches if sketches else None)

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
    first -- one key-sorted table, whose over-full keys gave no entry -- then what is
    held in memory), without any key that holds more than ``limit`` entries in one
    part or in all of them together."""
    found = [p for p in parts if len(p.keys)] or parts[:1]
    if len(found) == 1:  # (most look-ups: nothing held beside the file)
        keys, refs, sketches = found[0].keys, found[0].refs, found[0].sketches
    else:
        keys, refs = np.concatenate([p.keys for p in found]), np.concatenate([p.refs for p in found])
        sketches = np.concatenate([p.sketches for p in found]) if found[0].sketches.shape[1] else found[0].sketches
    if limit is None or not len(keys) or len(parts) == 1:  # (one part's over-full keys gave no entry)
        return keys, refs, sketches
    # A part's own over-full keys gave none of their entries; what must still go is
    # (a) a key over the limit in another part, (b) a key the parts held in memory
    # (after the first, the file) hold whose entries in all parts together exceed the
    # limit.  The file's entries (most of them, sorted by key) are searched only for
    # those keys -- the held parts' over-full ones and (b), usually none -- not for
    # every key the file found over-full (review R4 of session 22: ~35k keys of a
    # 128-article batch searched among its ~2M entries on every look-up); each held
    # key is counted by searching it among the file's entries (not each of millions
    # of entries among the keys: ~11 % of an add_many's CPU at 20k articles with a
    # delta of ~20k rows held, session 22).
    held = sorted_unique(np.concatenate([p.keys for p in parts[1:]] or [np.zeros(0, np.uint64)]))
    over = held[sum(_counts(p.keys, held, p is parts[0]) for p in found) > limit] if len(held) else held
    held_full = np.concatenate([p.full for p in parts[1:]] + [over])
    first = sorted_unique(held_full)  # to drop from the first part (the file)
    rest = sorted_unique(np.concatenate([parts[0].full, held_full]))  # from the held parts (few entries)
    keep = [~member(first if p is parts[0] else rest, p.keys) for p in found]
    if all(k.all() for k in keep):  # (usually: nothing over the limit but what the file left out)
        return keys, refs, sketches
    keep = np.concatenate(keep)
    return keys[keep], refs[keep], sketches[keep] if len(sketches) else sketches


def _counts(keys: np.ndarray, sorted_set: np.ndarray, ordered: bool = False) -> np.ndarray:
    """How many of ``keys`` equal each of the sorted ``sorted_set``: searched among
    ``keys`` when they are sorted (``ordered``: known to be, the file's entries), else
    counted from those that are members (a delta's, few)."""
    if not ordered and (not len(keys) or not bool((keys[1:] >= keys[:-1]).all())):
        keys = np.sort(keys[member(sorted_set, keys)])
    return np.searchsorted(keys, sorted_set, side="right") - np.searchsorted(keys, sorted_set)


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


def find(keys: np.ndarray, refs: np.ndarray, query: np.ndarray, fence: Optional[np.ndarray] = None,
         limit: Optional[int] = None) -> Found:
    """Entries of a key-sorted ``(keys, refs)`` table whose key is in ``query`` (sorted);
    ``fence``: ``keys[::BLOCK]`` if the caller keeps it.  See :func:`positions`."""
    if fence is None:
        fence = np.ascontiguousarray(keys[::BLOCK])
    hit, at, full = positions(keys, fence, query, limit)
    return Found(hit, refs[at].astype(np.int64), full)


def positions(
    keys: np.ndarray, fence: np.ndarray, query: np.ndarray, limit: Optional[int] = None,
    check: Optional[Callable[[np.ndarray, np.ndarray], None]] = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(key, position, full)``: every entry of the sorted ``keys`` (``fence``: every
    ``BLOCK``-th of them) whose key is in ``query`` (sorted uint64), except those of keys
    with more than ``limit`` entries (``full``: those keys).  ``check(lo, hi)``, if
    given, is called on the ranges of ``keys`` the search read (to verify their pages)
    before any entry is gathered.

    Two compiled calls (:mod:`.search`): the search of every key and its bucket's size
    (an over-full bucket costs its search and ``limit + 1`` compared entries: none of
    its entries, nor their rows' sketches, is read), then the matched entries' positions.
    """
    from .search import gather, search  # (numba: imported by the first look-up, not by every command)

    left, count, lo, hi = search(keys, fence, query, -1 if limit is None else limit, BLOCK)
    if check is not None:
        check(lo, hi)
    full = np.zeros(0, np.uint64)
    if limit is not None:
        over = count > limit
        full, count[over] = query[over], 0
    hit, at = gather(query, left, count)
    return hit, at, full
