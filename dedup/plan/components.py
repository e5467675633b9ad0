"""Stage 6a, components: the groups as connected components, computed partitioned.

The local engine groups with union-find in one process (:mod:`dedup.plan.link`); on a
cluster no process should hold every pair, so the components are found with the
*large-star / small-star* algorithm of Kiveris, Lattanzi, Mirrokni, Rastogi and
Vassilvitskii, "Connected Components in MapReduce and Beyond" (SoCC 2014): each step
is a map over edge partitions keyed by one endpoint, and O(log^2 n) rounds leave every
component as a star around its smallest item -- the canonical member, the same group
id the local union-find gives (:func:`dedup.group.merge`).

The graph: an edge for each verified pair that is not a containment (a quote makes
nothing around it a copy) and one from each exact copy to its first occurrence.
Edges are ``(u, v)`` rows of int64 item numbers, in files per (source task,
partition) of the keyed endpoint (:func:`item_partition`), under a folder per step
that is removed once the next step has read it.  Per round:

* **large-star**, on rows keyed by ``u`` (both orientations of each edge): with
  ``m(u)`` the smallest of ``u`` and its neighbours, every neighbour ``v > u`` is
  re-attached to ``m(u)``;
* **small-star**, on rows keyed by the larger endpoint ``b``: with ``m(b)`` the
  smallest of its smaller neighbours, those neighbours and ``b`` are attached to it.

When a round changes no edge (every node with a larger neighbour has no smaller one,
and every node has at most one smaller neighbour) the graph is a set of stars and the
labels are written per pair range of items (:meth:`LevelPlan.range_of`): each range's
``(item, smallest member)`` rows for the items in a component, in files read by
:func:`labels_of`; and the same rows per pair range of the label, from which the
groups are written (:mod:`dedup.plan.parts`).  Memory per task is one partition's edges.
"""

from __future__ import annotations

import shutil

import numpy as np

from ..segments import sorted_unique
from .items import LevelPlan
from .link import passed_over
from .parts import save_by_range
from .scratch import load, partition_of, save

#: Rounds after which the stage gives up (Kiveris et al. prove O(log^2 n); a few
#: dozen rounds would mean a bug, not a big graph).
MAX_ROUNDS = 64
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads consecutive numbers


def item_partition(items: np.ndarray, partitions: int) -> np.ndarray:
    """Edge partition of each item number (consecutive items spread evenly)."""
    return partition_of(np.asarray(items, dtype=np.int64).astype(np.uint64) * _MIX, partitions)


def components(plan: LevelPlan, executor) -> None:
    """Find the components of ``plan``'s level on ``executor`` and write their labels
    (see the module doc).  Raises ``RuntimeError`` if :data:`MAX_ROUNDS` do not settle."""
    sources = max(plan.pair_ranges, plan.copy_partitions)
    executor.map(seed_edges, [(plan, t) for t in range(sources)])
    for step in range(0, 2 * MAX_ROUNDS, 2):
        large = executor.map(star_partition, [(plan, step, sources, k, "large") for k in range(plan.partitions)])
        _drop_step(plan, step)
        small = executor.map(star_partition, [(plan, step + 1, plan.partitions, k, "small")
                                              for k in range(plan.partitions)])
        _drop_step(plan, step + 1)
        sources = plan.partitions
        if not sum(large) and not sum(small):
            executor.map(write_labels, [(plan, step + 2, k) for k in range(plan.partitions)])
            _drop_step(plan, step + 2)
            return
    raise RuntimeError(f"connected components did not settle in {MAX_ROUNDS} rounds")


def seed_edges(plan: LevelPlan, source: int) -> None:
    """Write the first large-star step's input from source ``source``: pair range
    ``source``'s verified non-contained pairs, and key partition ``source``'s exact
    copy links (a source number past one kind's count has none of it); and the items
    of pair range ``source`` passed over as canonical member (:func:`dedup.plan.link.passed_over`),
    which put each group's canonical member first (:func:`dedup.plan.parts.group_part`)."""
    edges = []
    if source < plan.pair_ranges:
        a, b, ca, cb, contained = (load(plan.scratch.verified(plan.level, source, n))
                                   for n in ("a", "b", "containment_a", "containment_b", "contained"))
        edges.append(np.stack([a[~contained], b[~contained]], axis=1))
        save(plan.scratch.passed_over(plan.level, source), passed_over(plan, a, b, ca, cb, contained))
    if source < plan.copy_partitions:
        copy, first = (load(plan.scratch.exact(plan.level, source, n)) for n in ("copy", "first"))
        edges.append(np.stack([first, copy], axis=1))
    _write_both_ways(plan, 0, source, np.concatenate(edges).astype(np.int64) if edges else np.zeros((0, 2), np.int64))


def star_partition(plan: LevelPlan, step: int, sources: int, part: int, kind: str) -> int:
    """One large-star (``kind="large"``) or small-star step over edge partition
    ``part`` (rows from ``sources`` tasks of the previous step); writes the next step's
    rows and returns how many edges it changed."""
    key, other = _distinct_rows(plan, [plan.scratch.edges(plan.level, step, s, part) for s in range(sources)])
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, len(key)])
    smallest = np.minimum.reduceat(other, starts) if len(key) else other
    if kind == "large":
        m = np.repeat(np.minimum(key[starts], smallest), counts)
        moved = other > key
        out = np.stack([m[moved], other[moved]], axis=1)  # (new centre, v): m < v
        changed = int(np.count_nonzero(moved & (m != key)))
        _write_keyed(plan, step + 1, part, out[:, 1], out[:, 0])  # small-star keys the larger end
    else:  # rows are (b, a) with a < b; m = the smallest a
        m = np.repeat(smallest, counts)
        leaves = np.concatenate([other[other != m], key[starts]])
        centres = np.concatenate([m[other != m], smallest])
        changed = int(len(key) - len(starts))
        _write_both_ways(plan, step + 1, part, np.stack([centres, leaves], axis=1))
    return changed


def write_labels(plan: LevelPlan, step: int, part: int) -> None:
    """Write the settled stars of edge partition ``part`` as ``(item, label)`` rows,
    split by pair range of the item (read by :func:`labels_of`) and again by pair range
    of the label (the groups' members, :func:`dedup.plan.parts.group_part`): a centre
    is its own label, a leaf its centre's."""
    key, other = _distinct_rows(plan, [plan.scratch.edges(plan.level, step, s, part) for s in range(plan.partitions)])
    label = np.where(other < key, other, key)
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    item = key[first]
    label = np.minimum.reduceat(label, first) if len(key) else label
    rows = np.stack([item, label], axis=1)
    ranges = plan.range_of(item)
    cuts = np.searchsorted(ranges, np.arange(plan.pair_ranges + 1))
    for r in range(plan.pair_ranges):
        save(plan.scratch.labels(plan.level, part, r), rows[cuts[r] : cuts[r + 1]])
    save_by_range(plan, lambda r: plan.scratch.members(plan.level, part, r), rows, label)


def labels_of(plan: LevelPlan, items: np.ndarray) -> np.ndarray:
    """The group label (smallest member of its component) of each of ``items``; an
    item in no component is its own label.  Reads only the label files of the pair
    ranges the items fall in."""
    items = np.asarray(items, dtype=np.int64)
    labels = items.copy()
    ranges = plan.range_of(items)
    for r in sorted_unique(ranges).tolist():
        table = np.concatenate([load(plan.scratch.labels(plan.level, k, r)) for k in range(plan.partitions)])
        if not len(table):
            continue
        table = table[np.argsort(table[:, 0])]
        mine = np.flatnonzero(ranges == r)
        at = np.searchsorted(table[:, 0], items[mine]).clip(max=len(table) - 1)
        hit = table[at, 0] == items[mine]
        labels[mine[hit]] = table[at[hit], 1]
    return labels


def _distinct_rows(plan: LevelPlan, paths: list) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``(key, other)`` rows of the edge files ``paths``, sorted, as two
    columns (one sort of ``key * items + other``: item numbers are below ``items``)."""
    rows = [load(path) for path in paths]
    flat = np.concatenate(rows) if rows else np.zeros((0, 2), np.int64)
    code = sorted_unique(flat[:, 0] * max(plan.items, 1) + flat[:, 1])
    return np.divmod(code, max(plan.items, 1))


def _write_both_ways(plan: LevelPlan, step: int, source: int, edges: np.ndarray) -> None:
    """Write undirected ``edges`` for a large-star step: each row under both ends."""
    _write_keyed(plan, step, source, np.concatenate([edges[:, 0], edges[:, 1]]),
                 np.concatenate([edges[:, 1], edges[:, 0]]))


def _write_keyed(plan: LevelPlan, step: int, source: int, key: np.ndarray, other: np.ndarray) -> None:
    """Write rows ``(key, other)`` split by the partition of ``key``."""
    part = item_partition(key, plan.partitions)
    order = np.argsort(part, kind="stable")
    cuts = np.searchsorted(part[order], np.arange(plan.partitions + 1))
    rows = np.stack([key[order], other[order]], axis=1).astype(np.int64)
    for k in range(plan.partitions):
        save(plan.scratch.edges(plan.level, step, source, k), rows[cuts[k] : cuts[k + 1]])


def _drop_step(plan: LevelPlan, step: int) -> None:
    """Remove a step's input files once every task of the step has read them."""
    shutil.rmtree(plan.scratch.edges(plan.level, step, 0, 0).parent, ignore_errors=True)
