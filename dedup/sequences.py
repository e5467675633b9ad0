"""Read-only sequences whose items are made when they are read.

Why: a scan's report can list millions of pairs, groups and documents, and an object
per item held at once costs ~0.5 KB each; these sequences keep columns and make an
item only when it is read (:class:`dedup.corpus.DocumentTable`, the located pairs and
groups of :mod:`dedup.plan.located`).  One base, so that indexing behaves as a
list's everywhere: slices, negative positions, bounds, equality.
"""

from __future__ import annotations

import operator
from typing import Iterator, Sequence


class Made(Sequence):
    """A read-only sequence whose item ``i`` is made by ``_make(i)`` when read.

    Indexing is a list's: a slice gives a list, a negative position counts from the
    end, and a position outside raises ``IndexError``.  Equal to any sequence of equal
    items."""

    def _make(self, i: int):
        raise NotImplementedError

    def _position(self, i) -> int:
        """Item ``i``'s position (a negative ``i`` counts from the end); ``IndexError``
        outside the sequence, ``TypeError`` for a position that is not an integer."""
        i = operator.index(i)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"item {i} of {n}")
        return i

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._make(j) for j in range(*i.indices(len(self)))]
        return self._make(self._position(i))

    def __iter__(self) -> Iterator:
        return (self._make(i) for i in range(len(self)))

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self)}>"
