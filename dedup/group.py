"""Group duplicate pairs into clusters, each with one canonical member.

Why: a text copied into ten places is one finding, not 45 pairs.  Pairs are merged
with union-find (near-duplicates of near-duplicates end up together, the usual
transitive closure of dedup tools); the canonical member of a group is the one that
comes first in the scan's order (path order, then paragraph order), so "keep the
canonical, drop the rest" is a stable, explainable rule.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


class UnionFind:
    """Disjoint sets over ``0..n-1``; the root of a set is always its smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo


def groups(n: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected groups (of two or more members) of ``0..n-1`` linked by ``pairs``.

    Members are sorted, so ``group[0]`` -- the smallest index, i.e. the first in scan
    order -- is the canonical member; groups are sorted by their canonical member.
    """
    uf = UnionFind(n)
    touched = set()
    for a, b in pairs:
        uf.union(int(a), int(b))
        touched.update((int(a), int(b)))
    by_root: dict[int, list[int]] = {}
    for x in sorted(touched):
        by_root.setdefault(uf.find(x), []).append(x)
    return [members for _, members in sorted(by_root.items()) if len(members) > 1]


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
