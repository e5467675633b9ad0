"""Group duplicate pairs into clusters, each with one canonical member.

Why: a text copied into ten places is one finding, not 45 pairs.  Pairs are merged
with union-find (Tarjan 1975; here a batch of unions at a time, :func:`merge`) (near-duplicates of near-duplicates end up together, the usual
transitive closure of dedup tools); the canonical member of a group is the one that
comes first in the scan's order (path order, then paragraph order), so "keep the
canonical, drop the rest" is a stable, explainable rule.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .segments import sorted_unique


def merge(root: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find, a batch of unions at a time: join the groups of ``a[i]`` and ``b[i]``
    for every ``i``.  ``root[x]`` is the smallest member of ``x``'s group, before and
    after (so it is the canonical member).

    Vectorized: the groups the batch touches are joined with one
    ``connected_components`` call over those groups only, then every item is relabelled
    with one gather -- no Python loop per pair.
    """
    if not len(a):
        return root
    from scipy.sparse import coo_matrix  # ~0.2 s to import: only scans that found pairs pay
    from scipy.sparse.csgraph import connected_components

    nodes, local = sorted_unique(np.concatenate([root[a], root[b]]), return_inverse=True)
    local = local.reshape(2, -1)
    graph = coo_matrix((np.ones(local.shape[1], np.int8), (local[0], local[1])), shape=(len(nodes), len(nodes)))
    count, label = connected_components(graph, directed=False)
    smallest = np.full(count, np.iinfo(np.int64).max)
    np.minimum.at(smallest, label, nodes)
    remap = np.arange(len(root), dtype=np.int64)
    remap[nodes] = smallest[label]
    return remap[root]


def groups(n: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected groups (of two or more members) of ``0..n-1`` linked by ``pairs``.

    Members are sorted, so ``group[0]`` -- the smallest index, i.e. the first in scan
    order -- is the canonical member; groups are sorted by their canonical member.
    """
    linked = np.array(list(pairs), dtype=np.int64).reshape(-1, 2)
    root = merge(np.arange(n, dtype=np.int64), linked[:, 0], linked[:, 1])
    touched = sorted_unique(linked)
    members = touched[np.lexsort((touched, root[touched]))]
    cuts = np.flatnonzero(np.diff(root[members])) + 1
    return [g.tolist() for g in np.split(members, cuts)] if len(members) else []


def exact_groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical ``keys`` (content hashes): returns ``(first, label)``.

    ``first[k]`` is the index of the first item with the k-th distinct key (in input
    order) and ``label[i]`` the distinct-key number of item ``i``, so work can be done
    once per distinct text and mapped back to every copy.
    """
    _, first, label = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # number distinct keys by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[label.ravel()]
