"""Stage 6c, parts: the Dask engine's reported pairs and groups, written by the workers
in parts, read by the client one part at a time.

The local engine's link step (:mod:`dedup.plan.link`) returns every reported pair and
group member of a level to one process as numpy columns (~60 bytes a pair, ~40 an
item), which is what its report is made from.  On a cluster that process, the client,
would grow with the corpus; here it never holds more than one part:

1. :func:`route_copies`: each exact-copy partition sends the copies it reports (not
   those of a boilerplate text, which are grouped only, as :func:`dedup.plan.link.assemble`
   says) to the pair range of their first occurrence;
2. :func:`pair_part`: per pair range (ranges of the first item, :meth:`LevelPlan.range_of`),
   the range's reported pairs -- its exact copies, then the near-duplicate and contained
   pairs the label partitions kept for it (:mod:`dedup.plan.spread`) -- sorted by
   ``(a, b)``, and the places of their items (:meth:`Places.table`);
3. :func:`group_part`: per pair range, the groups whose label (smallest member) is in
   it: the members by ``(label, item)``, the canonical member (:func:`dedup.containment.held`)
   first in each group, where each group starts, and the
   members' places.

Concatenated in range order these are exactly :func:`~dedup.plan.link.assemble`'s
columns, in its order.  The client maps the part files (memory-mapped, unread) before
the scratch folder is removed -- a removed file stays readable while it is mapped --
and :class:`Parts` makes a level's pairs or groups from them as a report reads them,
part after part, releasing each part's pages when the next one is read
(:func:`~dedup.plan.items.release`): what the client holds is one part, the documents
(their paths and counts, which the report lists) and the boilerplate texts.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

from ..corpus import DocumentInfo, paths_of
from ..results import Kind
from ..segments import offsets_from_counts, sorted_unique
from .items import LevelPlan
from .link import Linked, canonical_first
from ..sequences import Made
from .located import LocatedGroups, LocatedPairs, Places
from .scratch import among, by_partition, load, release, save

#: A reported pair's row in a part (the columns of :class:`~dedup.plan.link.Linked`).
PAIR = np.dtype([("a", np.int64), ("b", np.int64), ("jaccard", np.float64), ("containment_a", np.float64),
                 ("containment_b", np.float64), ("estimate", np.float64), ("exact", np.bool_),
                 ("contained", np.bool_)])


def save_by_range(plan: LevelPlan, path_of: Callable[[int], object], rows: np.ndarray, first: np.ndarray) -> None:
    """Write ``rows`` split by the pair range of ``first`` (one number per row): range
    ``r``'s rows, in their order, to ``path_of(r)`` (an empty file for a range with none)."""
    order, cuts = by_partition(plan.range_of(first), plan.pair_ranges)
    for r in range(plan.pair_ranges):
        save(path_of(r), rows[order[cuts[r] : cuts[r + 1]]])


def as_pairs(rows: np.ndarray) -> np.ndarray:
    """Rows with (some of) :data:`PAIR`'s fields as :data:`PAIR` rows (others zero)."""
    out = np.zeros(len(rows), PAIR)
    for name in PAIR.names:
        if name in rows.dtype.names:
            out[name] = rows[name]
    return out


def route_copies(plan: LevelPlan, part: int, boilerplate: bool) -> None:
    """Send key partition ``part``'s reported exact copies (scores 1, ``exact``) to the
    pair range of their first occurrence; with ``boilerplate`` (the paragraph level),
    copies of a boilerplate text (key in the scratch's ``texts/common`` file) are not
    reported."""
    copy, first = (load(plan.scratch.exact(plan.level, part, name)) for name in ("copy", "first"))
    if boilerplate and len(copy):
        reported = ~among(plan.rows(copy, "keys"), plan.scratch.texts("common"))
        copy, first = copy[reported], first[reported]
    rows = np.zeros(len(copy), PAIR)
    rows["a"], rows["b"], rows["exact"] = first, copy, True
    for name in ("jaccard", "containment_a", "containment_b", "estimate"):
        rows[name] = 1.0
    save_by_range(plan, lambda r: plan.scratch.copies(plan.level, part, r), rows, first)


def pair_part(plan: LevelPlan, pair_range: int, sources: Sequence[int], doc_bases: Sequence[int]) -> int:
    """Write pair range ``pair_range``'s reported pairs, sorted by ``(a, b)``, and
    their items' places (``sources``: the kept files routed to it, :mod:`dedup.plan.spread`;
    ``doc_bases``: documents before each shard).  Returns how many pairs."""
    level = plan.level
    rows = np.concatenate([load(plan.scratch.copies(level, k, pair_range)) for k in range(plan.copy_partitions)]
                          + [as_pairs(load(plan.scratch.kept(level, s, pair_range))) for s in sources])
    rows = rows[np.lexsort((rows["b"], rows["a"]))]
    save(plan.scratch.part(level, "pairs", pair_range), rows)
    items = sorted_unique(np.concatenate([rows["a"], rows["b"]]))
    save(plan.scratch.part(level, "pair-places", pair_range), Places(plan, items, doc_bases, ()).table())
    return len(rows)


def group_part(plan: LevelPlan, pair_range: int, doc_bases: Sequence[int]) -> int:
    """Write the groups whose label is in pair range ``pair_range``: members by
    ``(label, item)``, each group's canonical member first (``cc/members`` files,
    :func:`dedup.plan.components.write_labels`), where each group starts, and the members' places.  Returns how many groups."""
    level = plan.level
    rows = np.concatenate([load(plan.scratch.members(level, k, pair_range)) for k in range(plan.partitions)])
    rows = rows[np.lexsort((rows[:, 0], rows[:, 1]))]
    members, labels = rows[:, 0], rows[:, 1]
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]]) if len(rows) else np.zeros(0, np.int64)
    if len(members):  # each group's canonical member first, as the local engine's (:func:`canonical_first`)
        members = canonical_first(members, starts, np.concatenate(
            [load(plan.scratch.passed_over(level, r)) for r in range(plan.pair_ranges)]))
    save(plan.scratch.part(level, "members", pair_range), members)
    save(plan.scratch.part(level, "offsets", pair_range), np.r_[starts, len(members)].astype(np.int64))
    save(plan.scratch.part(level, "member-places", pair_range),
         Places(plan, sorted_unique(members), doc_bases, ()).table())
    return len(starts)


class LevelParts:
    """A level's part files, mapped by the client while the scratch folder is there
    (see the module doc): ``pairs[r]`` / ``groups[r]``, how many pairs and groups
    range ``r``'s parts hold."""

    def __init__(self, plan: LevelPlan, pairs: Sequence[int], groups: Sequence[int]) -> None:
        self.kind: Kind = plan.level  # type: ignore[assignment]
        self.pairs, self.groups = list(pairs), list(groups)

        def mapped(name: str, r: int) -> np.ndarray:
            return load(plan.scratch.part(plan.level, name, r), mmap=True)

        self._pair_files = [(mapped("pairs", r), mapped("pair-places", r)) if n else ()
                            for r, n in enumerate(self.pairs)]
        self._group_files = [(mapped("members", r), mapped("offsets", r), mapped("member-places", r)) if n else ()
                             for r, n in enumerate(self.groups)]
        self._previews = {s: plan.file(s, "preview") for s in range(plan.shards)}

    def located(self, documents: Sequence[DocumentInfo]) -> tuple["Parts", "Parts"]:
        """``(pairs, groups)``: sequences of this level's :class:`~dedup.results.Pair`
        and :class:`~dedup.results.Group` objects and their columns, made as read."""
        paths = paths_of(documents)

        def places(table: np.ndarray) -> Places:
            return Places.restored(table, self._previews, documents, paths)

        def pairs(r: int) -> tuple[LocatedPairs, list[np.ndarray]]:
            rows, table = self._pair_files[r]
            linked = _linked(**{name: rows[name] for name in PAIR.names})
            return LocatedPairs(self.kind, linked, places(table)), [rows, table]

        def groups(r: int) -> tuple[LocatedGroups, list[np.ndarray]]:
            members, offsets, table = self._group_files[r]
            return LocatedGroups(self.kind, _linked(members=members, offsets=offsets), places(table)), [members, table]

        return Parts(self.pairs, pairs), Parts(self.groups, groups)


def _linked(**columns: np.ndarray) -> Linked:
    """A :class:`Linked` of ``columns``, the others empty (a part is pairs or groups)."""
    empty = np.zeros(0, np.int64)
    fields = ("items", "a", "b", "jaccard", "containment_a", "containment_b", "estimate", "contained", "exact",
              "members", "offsets")
    return Linked(**{name: columns.get(name, empty) for name in fields})


class Parts(Made):
    """A level's pairs (or groups), part after part: ``open_part(r)`` gives part ``r``
    as a sequence (:class:`LocatedPairs` / :class:`LocatedGroups`) and the mapped
    arrays it reads, whose pages are released when another part is opened."""

    def __init__(self, counts: Sequence[int], open_part: Callable[[int], tuple[Sequence, list[np.ndarray]]]) -> None:
        self.starts = offsets_from_counts(np.asarray(counts, dtype=np.int64))
        self._open = open_part
        self._current: tuple = (-1, (), [])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _part(self, r: int) -> Sequence:
        if self._current[0] != r:
            for mapped in self._current[2]:
                release(mapped)
            self._current = (r, *self._open(r))
        return self._current[1]

    def _make(self, i: int):
        r = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self._part(r)[i - int(self.starts[r])]

    def _filled(self) -> Iterator[int]:
        return (r for r in range(len(self.starts) - 1) if self.starts[r + 1] > self.starts[r])

    def __iter__(self) -> Iterator:
        for r in self._filled():
            yield from self._part(r)

    def columns(self) -> Iterator:
        """The parts' blocks of columns, one part after the other (see
        :meth:`LocatedPairs.columns`)."""
        for r in self._filled():
            yield from self._part(r).columns()
