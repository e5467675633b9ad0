"""Stage 2, exact copies: per key partition, link every copy to its first occurrence.

Items with the same normalized text have the same key, and a key lives in exactly one
partition (:func:`~dedup.plan.scratch.partition_of`), so each partition finds its
copies alone: take its items' ``keys`` from every shard, sort the ``(key, item)`` rows, and every item that is not the first of
its key's run is a copy of that first one.  Everything after this stage runs once per
*distinct* text, which is what keeps a paragraph repeated 10,000 times cheap.

Writes, sorted by copy: ``copy`` (int64 item numbers) and ``first`` (the item it
copies).  Every copy is reported, whatever its length; a copy is never compared again.
"""

from __future__ import annotations

import numpy as np

from .items import LevelPlan
from .scratch import partition_of, save


def exact_partition(plan: LevelPlan, part: int) -> int:
    """Find the exact copies of key partition ``part``; returns how many there are."""
    keys, gids = [], []
    for s in range(plan.shards):
        shard_keys = plan.file(s, "keys", mmap=False)
        mine = np.flatnonzero(partition_of(shard_keys, plan.copy_partitions) == part)
        keys.append(shard_keys[mine])
        gids.append(mine + plan.bases[s])
    key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    gid = np.concatenate(gids) if gids else np.zeros(0, np.int64)
    order = np.lexsort((gid, key))
    key, gid = key[order], gid[order]
    run_start = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
    first = gid[np.flatnonzero(run_start)][np.cumsum(run_start) - 1]
    copy = ~run_start
    by_copy = np.argsort(gid[copy], kind="stable")
    scratch = plan.scratch
    save(scratch.exact(plan.level, part, "copy"), gid[copy][by_copy])
    save(scratch.exact(plan.level, part, "first"), first[copy][by_copy])
    return int(copy.sum())


def copies_in(plan: LevelPlan, lo: int, hi: int) -> np.ndarray:
    """The copy items numbered ``lo .. hi - 1`` (sorted), from every partition's
    output (read memory-mapped: only the slice in range)."""
    found = []
    for part in range(plan.copy_partitions):
        copy = np.load(plan.scratch.exact(plan.level, part, "copy"), mmap_mode="r")
        a, b = np.searchsorted(copy, [lo, hi])
        found.append(np.asarray(copy[a:b]))
    return np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)
