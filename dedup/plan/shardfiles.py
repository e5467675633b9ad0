"""A shard's item files written a part at a time (stage 1, :mod:`dedup.plan.sign`).

Why a module of its own: signing a long file a chunk of paragraphs at a time (U2 of
#12) needs its shard files to grow by parts, held in memory up to
:data:`SPILL_BYTES` and appended to disk past that -- file writing that the signing
stage only calls.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable

import numpy as np

from .scratch import PartFile, save, save_parts

#: Bytes of a shard's arrays held in memory before they are appended to its files.
SPILL_BYTES = 1 << 26
#: The shard files that hold offsets into another (rebased as chunks are appended).
_OFFSETS = ("hash_offsets", "unit_offsets", "offsets", "preview_offsets")


class ShardAppender:
    """A shard's files written a part at a time (:func:`dedup.plan.sign.sign_shard`): each file is the
    concatenation of its parts' arrays (offsets rebased, :data:`_OFFSETS`), as if they
    had been signed together.  Parts are held in memory up to :data:`SPILL_BYTES`,
    then appended to a :class:`~dedup.plan.scratch.PartFile` beside each one; closing
    writes each file (:func:`~dedup.plan.scratch.save_parts`), a few MB at a time.  ``rows``: the
    paragraphs added.  Files are left unwritten when the block raises."""

    def __init__(self, path: Callable[[str], Path]) -> None:
        self.path = path
        self.rows = 0
        self._held: dict[str, list[np.ndarray]] = {}
        self._shape: dict[str, tuple[np.dtype, tuple[int, ...]]] = {}
        self._ends: dict[str, int] = {}
        self._bytes = 0
        self._spilled: dict[str, PartFile] = {}

    def __enter__(self) -> "ShardAppender":
        return self

    def add(self, arrays: dict[str, np.ndarray]) -> None:
        self.rows += len(arrays["keys"])
        for name, array in arrays.items():
            array = np.ascontiguousarray(array)
            if name in _OFFSETS:
                end = self._ends.get(name)
                array = array if end is None else array[1:] + end
                self._ends[name] = int(array[-1]) if len(array) else self._ends.get(name, 0)
            dtype, shape = self._shape.get(name, (array.dtype, (0, *array.shape[1:])))
            if array.dtype != dtype or array.shape[1:] != shape[1:]:
                raise ValueError(f"shard file {name}: parts of {dtype} {shape[1:]} and {array.dtype} {array.shape[1:]}")
            self._shape[name] = (dtype, (shape[0] + len(array), *shape[1:]))
            self._held.setdefault(name, []).append(array)
            self._bytes += array.nbytes
        if self._bytes > SPILL_BYTES:
            self._spill()

    def _spill(self) -> None:
        for name, arrays in self._held.items():
            self._spilled.setdefault(name, PartFile(self.path(name), self._shape[name][0])).append(*arrays)
        self._held = {name: [] for name in self._held}
        self._bytes = 0

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                for name, (dtype, shape) in self._shape.items():
                    self._write(name, dtype, shape)
        finally:
            for part in self._spilled.values():
                part.remove()

    def _write(self, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        held = self._held.get(name, [])
        if name in self._spilled:
            save_parts(self.path(name), dtype, shape, itertools.chain(self._spilled[name].chunks(), held))
        else:
            save(self.path(name), np.concatenate(held) if len(held) != 1 else held[0])
