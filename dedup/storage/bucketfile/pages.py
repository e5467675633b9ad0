"""The bucket file's page checksums: every 4 KB page of its arrays has an XXH3 checksum
in a table at the end of the file, verified lazily, the first time this process reads
the page (see :mod:`dedup.storage.bucketfile`)."""

from __future__ import annotations

import mmap
from typing import Optional

import numpy as np
import xxhash

from ...segments import ranges, sorted_unique

#: Bytes per checksummed page (one key block: a lookup reads one or two per key).
PAGE = 4096


class BucketFileDamaged(Exception):
    """A page of a bucket file does not verify: the file must not be used."""


def page_sums(region: memoryview, numbers: np.ndarray, first: int = 0) -> np.ndarray:
    """XXH3-64 of each page ``numbers[i]`` of ``region`` (``PAGE`` bytes each; the
    region begins with page ``first``), seeded with the page's number, so a page moved
    or zeroed with its checksum still fails.

    One C call per page, not a vectorized numpy hash: measured for the 2,060 pages of a
    fresh process's first check, 3.2 ms against 21 ms for a weighted sum of the
    pages' uint64 words in numpy (which copies and multiplies every word), 37 vs 76 ms
    for 30,000 pages."""
    return np.fromiter((xxhash.xxh3_64_intdigest(region[(i - first) * PAGE : (i - first + 1) * PAGE], i)
                        for i in numbers.tolist()),
                       dtype=np.uint64, count=len(numbers))


class Mapped:
    """A file mapped read-only (``data``: its bytes as a uint8 array) whose pages a
    pass over the whole file gives back as it goes (:meth:`release`).

    Why: a mapped file's pages that a process has read stay in its resident memory
    (``RssFile``) as long as the mapping lives.  An optimize reads every byte of the
    old bucket file (its page checksums, per-row arrays, keys and refs: ~0.3 KB a row
    of the index) while the file stays mapped for look-ups: the add that triggered it
    held the whole file (issue #12, per-file memory; session 23)."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.data = np.frombuffer(self._map, dtype=np.uint8)
        self._base = self.data.ctypes.data

    def release(self, *views: np.ndarray) -> None:
        """Drop the pages of ``views`` (contiguous arrays over :attr:`data`) from this
        process's resident memory: ``MADV_DONTNEED``, which for a read-only mapping of
        a file only unmaps them -- a later read faults them in again, unchanged, from
        the page cache.  Without ``madvise`` (not Linux), nothing happens."""
        if not hasattr(self._map, "madvise"):
            return
        size = len(self.data)
        for view in views:
            if not view.nbytes:
                continue
            lo = view.ctypes.data - self._base
            lo, hi = lo - lo % mmap.PAGESIZE, min(lo + view.nbytes, size)
            if 0 <= lo < hi:
                self._map.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


class Pages:
    """The page checksums of an opened file: ``data`` is the mapped file, pages of
    ``PAGE`` bytes start at byte ``start`` (the arrays; the region is a whole number of
    pages), ``sums`` their checksums; ``verified`` what this process has verified;
    ``mapped`` the mapping, whose pages :meth:`verify_all` gives back (``None``: kept)."""

    def __init__(self, data: np.ndarray, start: int, sums: np.ndarray, path: str,
                 mapped: Optional[Mapped] = None) -> None:
        self.region = memoryview(data[start : start + PAGE * len(sums)])
        self.start, self.sums, self.path, self.mapped = start, sums, path, mapped
        self._data = data
        self.verified = np.zeros(len(sums), dtype=bool)
        self.unverified = len(sums)

    def release(self, *views: np.ndarray) -> None:
        """Give back the resident pages of ``views`` (:meth:`Mapped.release`), if mapped."""
        if self.mapped is not None:
            self.mapped.release(*views)

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
        into a new one): one pass over the file, :data:`VERIFY_PAGES` at a time, each
        block's pages given back once verified (:meth:`release`)."""
        for lo in range(0, len(self.sums), VERIFY_PAGES):
            hi = min(lo + VERIFY_PAGES, len(self.sums))
            self.verify(np.arange(lo, hi))
            self.release(self._data[self.start + PAGE * lo : self.start + PAGE * hi])


#: Pages :meth:`Pages.verify_all` reads before giving them back (16 MB).
VERIFY_PAGES = 1 << 12
