"""The last step: a level's pairs and groups as the report's values, made on demand.

What a scan keeps after its scratch folder is gone is small: the reported pairs as
numpy columns (:class:`~dedup.plan.link.Linked`, ~60 bytes a pair) and, for the items
they touch, where each one is (document, paragraph, span, preview).  The
:class:`~dedup.results.Pair` and :class:`~dedup.results.Group` objects a report
writes are made from those as the writer iterates (:class:`LocatedPairs`,
:class:`LocatedGroups` are sequences), so a report of a million pairs never holds a
million pair objects.  Where the items are is kept as numpy arrays (about 40 bytes an
item plus its preview's UTF-8 bytes), never as Python objects per item; the
:class:`~dedup.results.Location` objects are made as pairs and groups are, a block at
a time, with one vectorized search and gather per block.
"""

from __future__ import annotations

from functools import cached_property
from typing import Iterator, Sequence

import numpy as np

from ..corpus import DocumentInfo, paths_of
from ..results import Group, GroupColumns, Kind, Location, Pair, PairColumns
from ..segments import offsets_from_counts, ranges, sorted_unique
from ..sequences import Made
from .items import LevelPlan
from .scratch import release
from .link import Linked


class Places:
    """Where each of ``items`` (sorted item numbers) is, read from the shard files.

    The previews stay in the shard files, memory-mapped, and are read a block of
    locations at a time, the block's pages released after it: a report of millions of
    pairs never holds their previews (~140 bytes an item) in memory.  The mappings
    outlive the scratch folder's removal (on POSIX systems a removed file stays
    readable while it is mapped).
    """

    def __init__(self, plan: LevelPlan, items: np.ndarray, doc_bases: np.ndarray,
                 documents: Sequence[DocumentInfo]) -> None:
        self.items = items
        self.documents = documents
        self.shard = plan.shard_of(items)
        self.doc = plan.rows(items, "doc") + np.asarray(doc_bases)[self.shard] if len(items) else np.zeros(0, np.int64)
        self.index = plan.rows(items, "index")
        self.start = plan.rows(items, "start")
        self.end = plan.rows(items, "end")
        self.utf8_bytes = plan.rows(items, "utf8_bytes")
        local = items - np.asarray(plan.bases)[self.shard] if len(items) else np.zeros(0, np.int64)
        self.preview_start = np.zeros(len(items), np.int64)
        self.preview_end = np.zeros(len(items), np.int64)
        self._previews: dict[int, np.ndarray] = {}
        for s in sorted_unique(self.shard).tolist():
            mine = self.shard == s
            offsets = plan.file(s, "preview_offsets")
            self.preview_start[mine] = offsets[local[mine]]
            self.preview_end[mine] = offsets[local[mine] + 1]
            release(offsets)
            self._previews[s] = plan.file(s, "preview")

    #: The per-item columns (:meth:`table`, :meth:`restored`).
    COLUMNS = ("items", "shard", "doc", "index", "start", "end", "utf8_bytes", "preview_start", "preview_end")

    def table(self) -> np.ndarray:
        """:data:`COLUMNS` as one structured array, a row of int64 per item: what a
        worker saves so that another process finds these places without the shard
        files' other columns (:meth:`restored`; the Dask engine's parts,
        :mod:`dedup.plan.parts`)."""
        rows = np.zeros(len(self.items), [(name, np.int64) for name in self.COLUMNS])
        for name in self.COLUMNS:
            rows[name] = getattr(self, name)
        return rows

    @classmethod
    def restored(cls, table: np.ndarray, previews: dict[int, np.ndarray], documents: Sequence[DocumentInfo],
                 paths: list[str]) -> "Places":
        """The places a :meth:`table` holds (it may be memory-mapped), with
        ``previews`` each shard's ``preview`` file (mapped) and ``paths`` the
        documents' paths (shared by every part of a scan)."""
        where = cls.__new__(cls)
        for name in cls.COLUMNS:
            setattr(where, name, table[name])
        where.documents, where._previews = documents, previews
        where.__dict__["document_paths"] = paths  # the cached property, computed once for all parts
        return where

    def positions(self, items: np.ndarray) -> np.ndarray:
        """Where ``items`` are in :attr:`items` (one vectorized search for many)."""
        return np.searchsorted(self.items, items)

    def previews(self, positions: np.ndarray) -> list[str]:
        """The previews of ``items[positions]``: one gather per shard involved."""
        texts = [""] * len(positions)
        shard = self.shard[positions]
        for s in sorted_unique(shard).tolist():
            mine = np.flatnonzero(shard == s)
            lo, hi = self.preview_start[positions[mine]], self.preview_end[positions[mine]]
            mapped = self._previews[s]
            raw = np.asarray(mapped[ranges(lo, hi - lo)]).tobytes()
            release(mapped)
            cuts = offsets_from_counts(hi - lo).tolist()
            for i, a, b in zip(mine.tolist(), cuts, cuts[1:]):
                texts[i] = raw[a:b].decode("utf-8", "surrogatepass")
        return texts

    @cached_property
    def document_paths(self) -> list[str]:
        """The path of every document (by the numbers of :attr:`doc`)."""
        return paths_of(self.documents)

    def columns(self, positions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Document number, paragraph (-1: none), start and end of ``items[positions]``."""
        return self.doc[positions], self.index[positions], self.start[positions], self.end[positions]

    def paths(self, positions: np.ndarray) -> list[str]:
        """The paths of the documents of ``items[positions]``."""
        documents = self.documents
        return [documents[d].path for d in self.doc[positions].tolist()]

    def locations(self, positions: np.ndarray) -> list[Location]:
        """The locations of ``items[positions]``, made with one gather per column."""
        positions = np.asarray(positions, dtype=np.int64)
        paths = self.paths(positions)
        texts = self.previews(positions)
        return [
            Location(path, None if index < 0 else index, start, end, preview, size)
            for path, index, start, end, preview, size in zip(paths, self.index[positions].tolist(),
                                                              self.start[positions].tolist(),
                                                              self.end[positions].tolist(), texts,
                                                              self.utf8_bytes[positions].tolist())
        ]


#: Pairs or groups made per block: their numbers are looked up and converted together.
BLOCK = 4096


class _MadeInBlocks(Made):
    """A :class:`~dedup.sequences.Made` whose items are made :data:`BLOCK` at a time by
    ``_block(lo, hi)`` (a list of the items ``lo..hi-1``), also when iterated."""

    def _block(self, lo: int, hi: int) -> list:
        raise NotImplementedError

    def _make(self, i: int):
        return self._block(i, i + 1)[0]

    def __iter__(self) -> Iterator:
        for lo in range(0, len(self), BLOCK):
            yield from self._block(lo, lo + BLOCK)


class LocatedPairs(_MadeInBlocks):
    """A level's reported pairs, made as they are read (see the module doc)."""

    def __init__(self, kind: Kind, linked: Linked, where: Places) -> None:
        self.kind, self.linked, self.where = kind, linked, where

    def __len__(self) -> int:
        return len(self.linked.a)

    def columns(self) -> Iterator[PairColumns]:
        """The pairs as columns (:class:`~dedup.results.PairColumns`), :data:`BLOCK`
        at a time, without pair or location objects or previews: what the JSON
        writers encode (:mod:`dedup.report.bulk`)."""
        p, where = self.linked, self.where
        for lo in range(0, len(self), BLOCK):
            hi = lo + BLOCK
            yield PairColumns(self.kind, where.document_paths, p.jaccard[lo:hi], p.containment_a[lo:hi],
                              p.containment_b[lo:hi], p.estimate[lo:hi], p.exact[lo:hi], p.contained[lo:hi],
                              *where.columns(where.positions(p.a[lo:hi])), *where.columns(where.positions(p.b[lo:hi])))

    def _block(self, lo: int, hi: int) -> list[Pair]:
        p, where = self.linked, self.where
        sides = where.locations(where.positions(np.concatenate([p.a[lo:hi], p.b[lo:hi]])))
        n = len(sides) // 2
        columns = zip(sides[:n], sides[n:], p.jaccard[lo:hi].tolist(),
                      p.containment_a[lo:hi].tolist(), p.containment_b[lo:hi].tolist(),
                      p.estimate[lo:hi].tolist(), p.exact[lo:hi].tolist(), p.contained[lo:hi].tolist())
        return [
            Pair(self.kind, sim, (ca, cb), est, a, b, exact, "contained" if inside else "near-duplicate")
            for a, b, sim, ca, cb, est, exact, inside in columns
        ]


class LocatedGroups(_MadeInBlocks):
    """A level's groups, made as they are read."""

    def __init__(self, kind: Kind, linked: Linked, where: Places) -> None:
        self.kind, self.linked, self.where = kind, linked, where

    def __len__(self) -> int:
        return len(self.linked.offsets) - 1

    def columns(self) -> Iterator[GroupColumns]:
        """The groups as columns (:class:`~dedup.results.GroupColumns`), :data:`BLOCK`
        groups at a time, without location objects or previews (see
        :meth:`LocatedPairs.columns`)."""
        where = self.where
        for lo in range(0, len(self), BLOCK):
            offsets = self.linked.offsets[lo : lo + BLOCK + 1]
            at = where.positions(self.linked.members[offsets[0] : offsets[-1]])
            yield GroupColumns(self.kind, where.document_paths, offsets - offsets[0], *where.columns(at),
                               where.utf8_bytes[at])

    def _block(self, lo: int, hi: int) -> list[Group]:
        offsets = self.linked.offsets[lo : hi + 1]
        at = self.where.positions(self.linked.members[offsets[0] : offsets[-1]])
        located = self.where.locations(at)
        bounds = (offsets - offsets[0]).tolist()
        groups = []
        for start, end in zip(bounds, bounds[1:]):
            members = tuple(located[start:end])
            groups.append(Group(self.kind, members[0], members))
        return groups


class Chain(Made):
    """Sequences one after the other (the document level's, then the paragraph's)."""

    def __init__(self, parts: Sequence[Sequence]) -> None:
        self.parts = [p for p in parts if len(p)]

    def __len__(self) -> int:
        return sum(map(len, self.parts))

    def _make(self, i: int):
        for part in self.parts:
            if i < len(part):
                return part[i]
            i -= len(part)
        raise IndexError(i)

    def __iter__(self) -> Iterator:
        for part in self.parts:
            yield from part

    def columns(self) -> Iterator:
        """The parts' blocks of columns (:meth:`LocatedPairs.columns`,
        :meth:`LocatedGroups.columns`), one part after the other."""
        for part in self.parts:
            yield from part.columns()
