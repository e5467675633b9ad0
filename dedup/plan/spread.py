"""Stage 6, link, spread over the workers (the Dask engine's; same result as :func:`link`).

:func:`dedup.plan.link.link` streams every verified pair through one process; here no
task holds more than one partition of them:

1. the groups are the connected components of the pairs and exact copies, found by
   :mod:`dedup.plan.components` (group label = smallest member, as union-find gives);
2. with ``all_pairs`` every verified pair is reported.  Otherwise the pairs that
   *link* the groups are chosen as :mod:`dedup.plan.link` chooses them -- rounds of
   :data:`~dedup.plan.link.ROUND` candidates in global candidate order, a pair
   dropped when earlier rounds already joined its items -- but per component: whether
   two items were joined by earlier pairs depends only on the pairs of their own
   component, so each pair range routes its pairs to the partition of their group
   (:func:`route_range`) and each partition runs the rounds over its groups alone
   (:func:`keep_partition`).  A contained pair across two groups is kept as is (they
   are never joined).

What comes back to the caller is how many pairs and groups each pair range reports:
the workers write them in parts (:mod:`dedup.plan.parts`), which the report reads one
at a time, so the client never holds a level's pairs either.

These stages partition *edges* (pairs and exact copies), not the band rows the
candidate stage partitions, so their partitions are sized by the edges
(:func:`edge_plan`: about :data:`EDGES_PER_PARTITION` a partition, at least one per
worker, at most the level's band partitions).  Each step of the components writes a
file per (task, partition): P x P files a step.  On a graph of 412,000 edges, 1.1M
items (``benchmarks/README.md``, "Dask engine"), the components cost 1.6 s of CPU at
P = 2, 8.7-11 s at P = 22 and 101 s at P = 100 (111,600 files).  Band partitions are
about 85 rows an item, edges about 0.4 on generated text, so the edge partitions are far
fewer; they are still at least one per worker, so a cluster of W workers writes at
least W x W files a step.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from ..group import merge
from ..segments import sorted_unique
from .components import components, item_partition, labels_of
from .items import LevelPlan
from .link import ROUND
from .parts import LevelParts, group_part, pair_part, route_copies, save_by_range
from .scratch import load, save
from .verify import COLUMNS

#: The columns a routed pair carries: the verified pair's, ``position`` made global.
_ROUTED = np.dtype([("a", np.int64), ("b", np.int64), ("position", np.int64), ("jaccard", np.float64),
                    ("containment_a", np.float64), ("containment_b", np.float64), ("estimate", np.float64),
                    ("contained", np.bool_)])


#: Edges (pairs and exact copies) per partition of the link stages at most: each is
#: held twice (both ends) as two int64 columns, so a task sorts about 8 MB.  Why not
#: more: with 2M (until session 15) the 1M- and 2M-paragraph benchmark corpora (~0.4M
#: and ~0.8M edges) both had 2 partitions, so a link task's edges, and its working set,
#: doubled with the corpus (star / keep_partition grew 33-38 -> 73-76 MB a task).  Past
#: ``jobs`` x this many edges a partition holds between half of it and all of it,
#: whatever the corpus; the price is P x P files a step (P = 16 at ~4M edges).
EDGES_PER_PARTITION = 1 << 18


def link_partitioned(plan: LevelPlan, executor, candidates: Sequence[int], all_pairs: bool,
                     common: Optional[np.ndarray] = None, doc_bases: Sequence[int] = (0,)) -> LevelParts:
    """:func:`dedup.plan.link.link`'s result, computed by tasks on ``executor``
    (``candidates[r]``: how many candidates pair range ``r`` had; ``doc_bases``:
    documents before each shard) and written in parts (:mod:`dedup.plan.parts`)."""
    plan = edge_plan(plan, executor.jobs)
    components(plan, executor)
    base = np.r_[0, np.cumsum(candidates)].astype(np.int64)
    tasks = [(plan, r, int(base[r]), all_pairs) for r in range(plan.pair_ranges)]
    executor.map(route_range, tasks)
    if not all_pairs:
        executor.map(keep_partition, [(plan, g) for g in range(plan.partitions)])
    executor.map(route_copies, [(plan, k, common is not None) for k in range(plan.copy_partitions)])
    pairs = executor.map(pair_part, [(plan, r, (r,) if all_pairs else tuple(range(plan.partitions)), doc_bases)
                                     for r in range(plan.pair_ranges)])
    groups = executor.map(group_part, [(plan, r, doc_bases) for r in range(plan.pair_ranges)])
    for done in ("link", "cc"):
        plan.scratch.remove(done, plan.level)
    return LevelParts(plan, pairs, groups)


def edge_plan(plan: LevelPlan, jobs: int) -> LevelPlan:
    """``plan`` with ``partitions`` the link stages' edge partitions (see the module
    doc): ``jobs`` times enough for :data:`EDGES_PER_PARTITION` each, at most
    ``plan.partitions``.  The exact-copy partitions stay as they are.  The edges are
    counted from the verified and exact-copy files' headers (memory-mapped, unread)."""
    edges = sum(len(load(plan.scratch.verified(plan.level, r, "a"), mmap=True)) for r in range(plan.pair_ranges))
    edges += sum(len(load(plan.scratch.exact(plan.level, k, "copy"), mmap=True)) for k in range(plan.copy_partitions))
    wanted = jobs * -(-edges // (EDGES_PER_PARTITION * jobs))
    return dataclasses.replace(plan, partitions=max(1, min(plan.partitions, wanted)),
                               key_partitions=plan.copy_partitions)


def route_range(plan: LevelPlan, pair_range: int, base: int, all_pairs: bool) -> None:
    """Send pair range ``pair_range``'s verified pairs (``base``: candidates before it)
    to the label partitions of their groups; with ``all_pairs`` (or for a contained
    pair between two groups) straight to the reported pairs."""
    cols = {name: load(plan.scratch.verified(plan.level, pair_range, name)) for name in COLUMNS}
    rows = np.empty(len(cols["a"]), _ROUTED)
    for name in COLUMNS:
        rows[name] = cols[name]
    rows["position"] += base
    if all_pairs:
        save(plan.scratch.kept(plan.level, pair_range, pair_range), rows)
        return
    label_a = labels_of(plan, rows["a"])  # in this range: one range's label files
    label_b = label_a.copy()  # the same for a pair that joins groups
    contained = np.flatnonzero(rows["contained"])
    label_b[contained] = labels_of(plan, rows["b"][contained])
    apart = label_a != label_b
    save(plan.scratch.routed(plan.level, pair_range, plan.partitions), rows[apart])
    part = item_partition(label_a[~apart], plan.partitions)
    together = rows[~apart]
    for g in range(plan.partitions):
        save(plan.scratch.routed(plan.level, pair_range, g), together[part == g])


def keep_partition(plan: LevelPlan, part: int) -> None:
    """The pairs label partition ``part`` reports: rounds in global candidate order,
    a pair kept unless earlier rounds joined its items (see the module doc); the last
    partition also takes the pairs between groups that every range set aside.  They
    are written split by the pair range of their first item, for :func:`pair_part`."""
    rows = np.concatenate([load(plan.scratch.routed(plan.level, r, part)) for r in range(plan.pair_ranges)])
    rows = rows[np.argsort(rows["position"], kind="stable")]
    nodes, local = sorted_unique(np.concatenate([rows["a"], rows["b"]]), return_inverse=True)
    a, b = local[: len(rows)], local[len(rows):]
    root = np.arange(len(nodes), dtype=np.int64)
    rounds = rows["position"] // ROUND
    cuts = np.flatnonzero(np.r_[True, rounds[1:] != rounds[:-1]]) if len(rows) else np.zeros(0, np.int64)
    keep = np.zeros(len(rows), bool)
    for lo, hi in zip(cuts.tolist(), [*cuts[1:].tolist(), len(rows)]):
        keep[lo:hi] = root[a[lo:hi]] != root[b[lo:hi]]
        joins = np.flatnonzero(keep[lo:hi] & ~rows["contained"][lo:hi]) + lo
        root = merge(root, a[joins], b[joins])
    kept = rows[keep]
    if part == plan.partitions - 1:
        kept = np.concatenate([kept] + [load(plan.scratch.routed(plan.level, r, plan.partitions))
                                        for r in range(plan.pair_ranges)])
    save_by_range(plan, lambda r: plan.scratch.kept(plan.level, part, r), kept, kept["a"])
