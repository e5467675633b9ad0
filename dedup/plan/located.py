"""The last step: a level's pairs and groups as the report's values, made on demand.

What a scan keeps after its scratch folder is gone is small: the reported pairs as
numpy columns (:class:`~dedup.plan.link.Linked`, ~60 bytes a pair) and, for the items
they touch, where each one is (document, paragraph, span, preview).  The
:class:`~dedup.results.Pair` and :class:`~dedup.results.Group` objects a report
writes are made from those as the writer iterates (:class:`LocatedPairs`,
:class:`LocatedGroups` are sequences), so a report of a million pairs never holds a
million pair objects.  Each item's :class:`~dedup.results.Location` is made once and
reused (report writers cache what they encoded per location object); pairs are made a
block at a time, their item numbers looked up with one vectorized search per block.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np

from ..corpus import DocumentInfo
from ..results import Group, Kind, Location, Pair
from .items import LevelPlan
from .link import Linked


class Places:
    """Where each of ``items`` (sorted item numbers) is, read from the shard files."""

    def __init__(self, plan: LevelPlan, items: np.ndarray, doc_bases: np.ndarray,
                 documents: Sequence[DocumentInfo]) -> None:
        self.items = items
        shard = plan.shard_of(items)
        doc = plan.rows(items, "doc") + np.asarray(doc_bases)[shard] if len(items) else np.zeros(0, np.int64)
        self.paths = [documents[d].path for d in doc.tolist()]
        self.index = plan.rows(items, "index").tolist()
        self.start = plan.rows(items, "start").tolist()
        self.end = plan.rows(items, "end").tolist()
        self.preview, offsets = plan.segments(items, "preview", "preview_offsets")
        self.preview_offsets = offsets.tolist()
        self._made: list[Optional[Location]] = [None] * len(items)

    def positions(self, items: np.ndarray) -> list[int]:
        """Where ``items`` are in :attr:`items` (one vectorized search for many)."""
        return np.searchsorted(self.items, items).tolist()

    def location(self, i: int) -> Location:
        """The location of ``items[i]``, made once and reused."""
        loc = self._made[i]
        if loc is None:
            lo, hi = self.preview_offsets[i], self.preview_offsets[i + 1]
            index = self.index[i]
            loc = self._made[i] = Location(
                self.paths[i], None if index < 0 else index, self.start[i], self.end[i],
                self.preview[lo:hi].tobytes().decode("utf-8", "surrogatepass"),
            )
        return loc


#: Pairs or groups made per block: their numbers are looked up and converted together.
BLOCK = 4096


class _Made(Sequence):
    """A read-only sequence whose items are made by ``_make(i)`` when read."""

    def _make(self, i: int):
        raise NotImplementedError

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._make(j) for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._make(i)

    def __iter__(self) -> Iterator:
        return (self._make(i) for i in range(len(self)))

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self)}>"


class LocatedPairs(_Made):
    """A level's reported pairs, made as they are read (see the module doc)."""

    def __init__(self, kind: Kind, linked: Linked, where: Places) -> None:
        self.kind, self.linked, self.where = kind, linked, where

    def __len__(self) -> int:
        return len(self.linked.a)

    def _make(self, i: int) -> Pair:
        return self._block(i, i + 1)[0]

    def __iter__(self) -> Iterator[Pair]:
        for lo in range(0, len(self), BLOCK):
            yield from self._block(lo, lo + BLOCK)

    def _block(self, lo: int, hi: int) -> list[Pair]:
        p, where = self.linked, self.where
        at = where.location
        columns = zip(where.positions(p.a[lo:hi]), where.positions(p.b[lo:hi]), p.jaccard[lo:hi].tolist(),
                      p.containment_a[lo:hi].tolist(), p.containment_b[lo:hi].tolist(),
                      p.estimate[lo:hi].tolist(), p.exact[lo:hi].tolist(), p.contained[lo:hi].tolist())
        return [
            Pair(self.kind, sim, (ca, cb), est, at(a), at(b), exact, "contained" if inside else "near-duplicate")
            for a, b, sim, ca, cb, est, exact, inside in columns
        ]


class LocatedGroups(_Made):
    """A level's groups, made as they are read."""

    def __init__(self, kind: Kind, linked: Linked, where: Places) -> None:
        self.kind, self.linked, self.where = kind, linked, where

    def __len__(self) -> int:
        return len(self.linked.offsets) - 1

    def _make(self, g: int) -> Group:
        lo, hi = self.linked.offsets[g], self.linked.offsets[g + 1]
        members = tuple(map(self.where.location, self.where.positions(self.linked.members[lo:hi])))
        return Group(self.kind, members[0], members)


class Chain(_Made):
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
