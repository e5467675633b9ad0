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

    Vectorized: the groups the batch touches are joined by :func:`components` over
    those groups only, then every item is relabelled with one gather -- no Python loop
    per pair.
    """
    if not len(a):
        return root
    nodes, local = sorted_unique(np.concatenate([root[a], root[b]]), return_inverse=True)
    local = local.reshape(2, -1)
    remap = np.arange(len(root), dtype=np.int64)
    remap[nodes] = nodes[components(len(nodes), local[0], local[1])]
    return remap[root]


def components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected components of the graph on ``0..n-1`` with edges ``(u[i], v[i])``:
    for each node, the smallest node of its component (int64, shape ``(n,)``).

    Hooking and pointer jumping (Shiloach & Vishkin 1982), each step one numpy call
    over all edges or nodes: every node points at a smaller or equal one; each round
    hooks the larger of every edge's two roots onto the smaller (``np.minimum.at``),
    then jumps pointers until each node points at its root.  A root is always the
    smallest node of what hangs under it, so the final roots are the components'
    smallest nodes.  Rounds: O(log n) on the chains and stars pairs make.  Why not
    ``scipy.sparse.csgraph.connected_components``: importing scipy.sparse cost the
    scan's serial link step ~0.2-0.4 s, more than the components themselves.
    """
    label = np.arange(n, dtype=np.int64)
    u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
    while len(u):
        lu, lv = label[u], label[v]
        apart = lu != lv
        if not apart.any():
            break
        lu, lv = lu[apart], lv[apart]
        u, v = u[apart], v[apart]  # edges inside one component stay so: never looked at again
        np.minimum.at(label, np.maximum(lu, lv), np.minimum(lu, lv))
        while True:  # pointer jumping: every node to its root
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
    return label


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
