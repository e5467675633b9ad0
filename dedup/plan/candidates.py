"""Stage 4, candidates: per band partition, the pairs of items that share a bucket.

Every bucket (all items with one band key) is whole in one partition
(:mod:`dedup.plan.band`), so a partition's pairs are exactly what the in-memory LSH
would find for its buckets (:func:`dedup.lsh.bucket_pairs`: sort, runs, pairs within
runs, big buckets as stars).  A pair sharing buckets in several partitions is found by
each of them; the verification stage folds those repeats.  With containment on, the
partition's containment buckets add their pairs
(:func:`dedup.containment.bucket_pairs`, the same pairs the in-memory search finds).

Writes the pairs split into ``pair_ranges`` ranges of their first item
(:meth:`LevelPlan.range_of`), each as sorted, distinct ``a * items + b`` codes.
"""

from __future__ import annotations

import numpy as np

from .. import containment
from ..lsh import bucket_pairs
from ..segments import sorted_unique
from .items import LevelPlan
from .scratch import load, save


def candidate_partition(plan: LevelPlan, part: int) -> int:
    """Write band partition ``part``'s candidate pairs; returns how many it found."""
    rows = [load(plan.scratch.bands(plan.level, s, part)) for s in range(plan.shards)]
    flat = np.concatenate(rows) if rows else np.zeros((0, 2), np.uint64)
    pairs = bucket_pairs(flat[:, 0], flat[:, 1].astype(np.int64))
    del flat, rows
    s = plan.settings
    if s.containment:
        rows = [load(plan.scratch.contained(plan.level, k, part)) for k in range(plan.shards)]
        flat = np.concatenate(rows) if rows else np.zeros((0, 3), np.uint64)
        contained = containment.bucket_pairs(flat[:, 0], flat[:, 1].astype(np.int64), flat[:, 2].astype(np.int64),
                                             s.containment, covered=(s.bands, s.rows))
        contained = _plausible(plan, contained)
        pairs = np.concatenate([pairs, contained])
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    code = pairs[:, 0] * plan.items + pairs[:, 1]  # sorted: pairs are sorted by (a, b); repeats go later
    cuts = np.searchsorted(plan.range_of(pairs[:, 0]), np.arange(plan.pair_ranges + 1))
    for r in range(plan.pair_ranges):
        save(plan.scratch.candidates(plan.level, part, r), code[cuts[r] : cuts[r + 1]])
    return len(code)


def _plausible(plan: LevelPlan, pairs: np.ndarray) -> np.ndarray:
    """The distinct containment candidates that :func:`dedup.containment.plausible`
    keeps (their estimate is not far below what a contained pair has), read from the
    involved items' signatures and shingle counts."""
    if not len(pairs):
        return pairs
    code = sorted_unique(pairs[:, 0] * plan.items + pairs[:, 1])
    pairs = np.stack([code // plan.items, code % plan.items], axis=1)
    involved, local = sorted_unique(pairs, return_inverse=True)
    local = local.reshape(pairs.shape)
    sigs, sizes = plan.rows(involved, "sigs"), np.maximum(plan.rows(involved, "shingles"), 1)
    kept = containment.plausible(sigs, sizes, local, plan.settings.containment)
    return involved[kept]
