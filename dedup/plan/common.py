"""Stage 1a, boilerplate: per key partition, the paragraph texts found in many documents.

A paragraph text (its content key) is boilerplate when it occurs in at least ``need``
distinct documents (:func:`dedup.boilerplate.min_documents`).  A key lives in one
partition, so each partition counts its keys' documents alone
(:func:`dedup.boilerplate.document_counts`) from every shard's paragraph ``keys`` and
``doc`` files.  What comes back is small: one row per boilerplate text.  The keys of
the texts in at least :data:`dedup.boilerplate.FRAME_STORIES` documents (a site's
template may be made of them, :mod:`.frames`) are not small -- every text copied into
three documents, unbounded by ``--boilerplate`` -- so they are written to the scratch
folder, one sorted file per key partition (:func:`recurring_flags` reads them), never
sent to every task.
"""

from __future__ import annotations

import numpy as np

from ..boilerplate import FRAME_STORIES, document_counts
from .items import LevelPlan
from .scratch import load, partition_of, save


def common_partition(plan: LevelPlan, part: int, doc_bases: tuple[int, ...], need: int
                     ) -> tuple[np.ndarray, int]:
    """The boilerplate texts of key partition ``part`` of the paragraph level
    (``plan``), as a ``(texts, 4)`` int64 array of rows ``(key, first paragraph,
    documents, copies)``, and how many texts are in at least ``FRAME_STORIES``
    documents (their keys, uint64 sorted, are written to ``exact/paragraph/<part>.recurring``);
    ``doc_bases`` are the document offsets per shard."""
    keys, gids, docs = [], [], []
    for s in range(plan.shards):
        shard_keys = plan.file(s, "keys", mmap=False)
        mine = np.flatnonzero(partition_of(shard_keys, plan.copy_partitions) == part)
        keys.append(shard_keys[mine])
        gids.append(mine + plan.bases[s])
        docs.append(plan.file(s, "doc", mmap=False)[mine] + doc_bases[s])
    key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    gid = np.concatenate(gids) if gids else np.zeros(0, np.int64)
    doc = np.concatenate(docs) if docs else np.zeros(0, np.int64)
    unique, counts = document_counts(key, doc)
    recurring = unique[counts >= FRAME_STORIES]  # sorted: np.unique's order
    save(plan.scratch.exact(plan.level, part, "recurring"), recurring)
    common = unique[counts >= need]
    if not len(common):
        return np.zeros((0, 4), np.int64), len(recurring)
    mine = np.isin(key, common)
    key, gid = key[mine], gid[mine]
    order = np.lexsort((gid, key))
    key, gid = key[order], gid[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    copies = np.diff(np.r_[starts, len(key)])
    return np.stack([key[starts].view(np.int64), gid[starts], counts[counts >= need], copies], axis=1), len(recurring)


def recurring_flags(plan: LevelPlan, keys: np.ndarray) -> np.ndarray:
    """Whether each of ``keys`` (paragraph keys, any order) is one of the texts in at
    least ``FRAME_STORIES`` documents, as :func:`common_partition` wrote them: each key
    looked up in its own partition's sorted file (memory-mapped, a binary search)."""
    flags = np.zeros(len(keys), dtype=bool)
    part = partition_of(keys, plan.copy_partitions)
    for p in np.unique(part).tolist():
        recurring = load(plan.scratch.exact(plan.level, p, "recurring"), mmap=True)
        if len(recurring):
            mine = np.flatnonzero(part == p)
            at = np.minimum(np.searchsorted(recurring, keys[mine]), len(recurring) - 1)
            flags[mine] = recurring[at] == keys[mine]
    return flags
