"""A level's items across shards: global numbers, and reading their rows back.

Items (paragraphs, or documents) are numbered globally in scan order: shard ``s``
holds items ``bases[s] .. bases[s + 1] - 1``.  A stage that needs some items' rows
(signatures, shingle sets, places) reads just those from the memory-mapped shard files,
one vectorized gather per shard touched -- never one read per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..segments import offsets_from_counts, ranges
from ..settings import Settings
from .scratch import Scratch, load, release, save, save_parts


#: Signatures copied at once when a shard's are cut down to its banded items
#: (:meth:`LevelPlan.kept_signatures`; 1 KB each at 256 permutations).
KEEP_CHUNK = 1 << 15
#: Stage files this process has memory-mapped (see :func:`_mapped`), at most ``MAPS``.
_maps: dict[Path, np.ndarray] = {}
MAPS = 1024


def _mapped(path: Path) -> np.ndarray:
    """A stage file, memory-mapped once per process (a verification task reads the
    same shard files for every chunk of pairs)."""
    array = _maps.get(path)
    if array is None:
        if len(_maps) >= MAPS:
            _maps.clear()
        array = _maps[path] = load(path, mmap=True)
    return array


def forget_removed() -> None:
    """Unmap the stage files that have been removed since this process mapped them.

    Why: a removed file's disk space is freed only once no process maps it, and a
    worker keeps its maps from task to task; each stage calls this as a task starts,
    so the files a finished level no longer needs (:func:`dedup.plan.job.run_scan`)
    leave the scratch folder as soon as every worker has moved on."""
    for path in [p for p in _maps if not p.exists()]:
        del _maps[path]


@dataclass(frozen=True)
class LevelPlan:
    """Everything a stage of one level needs to know besides its own inputs (small,
    picklable: the same object goes to every task of every executor).

    ``bases``: item offsets per shard (length shards + 1); ``partitions``: band
    partitions; ``pair_ranges``: how many ranges of first-item numbers the candidate
    pairs are split into for verification, starting at items ``range_starts`` (empty:
    ranges of equal size).  ``key_partitions``: the partitions of the exact-copy keys
    (0: ``partitions``).  ``threshold`` / ``min_tokens`` decide near-duplicates.
    ``waves``: the band rows are written and turned into candidates in this many
    waves (:mod:`dedup.plan.band`), each with ``partitions`` partitions; candidate
    partition ``p`` is partition ``p % partitions`` of wave ``p // partitions``.
    ``kept``: the band stage's first wave has kept the signatures of the items it
    banded only (:func:`kept_signatures`); ``rows(gids, "sigs")`` reads those.
    ``star_above``: band buckets of more items are paired as stars (None:
    :data:`dedup.lsh.MAX_BUCKET_PAIRS`, read when the pairs are made;
    :func:`dedup.lsh.bucket_pairs`).
    """

    scratch: Scratch
    level: str
    settings: Settings
    bases: tuple[int, ...]
    partitions: int
    pair_ranges: int
    threshold: float
    min_tokens: int
    key_partitions: int = 0
    range_starts: tuple[int, ...] = ()
    waves: int = 1
    kept: bool = False
    star_above: Optional[int] = None

    @property
    def copy_partitions(self) -> int:
        """Partitions of the exact-copy keys (:mod:`dedup.plan.exact`)."""
        return self.key_partitions or self.partitions

    @property
    def candidate_partitions(self) -> int:
        """Candidate files: ``partitions`` of each wave."""
        return self.waves * self.partitions

    def wave_span(self, count: int, wave: int) -> tuple[int, int]:
        """``(first, last)``: wave ``wave``'s share of ``count`` bands (or containment
        positions) is ``first .. last - 1``."""
        return wave * count // self.waves, (wave + 1) * count // self.waves

    @property
    def items(self) -> int:
        return self.bases[-1]

    @property
    def shards(self) -> int:
        return len(self.bases) - 1

    def shard_of(self, gids: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.bases), gids, side="right") - 1

    def range_of(self, first: np.ndarray) -> np.ndarray:
        """Pair range of pairs whose first (smaller) item is ``first``."""
        if self.range_starts:
            return np.searchsorted(np.asarray(self.range_starts), first, side="right") - 1
        return (np.asarray(first, dtype=np.int64) * self.pair_ranges) // max(self.items, 1)

    def range_items(self, pair_range: int) -> tuple[int, int]:
        """``(lo, hi)``: pair range ``pair_range`` holds the pairs whose first item is
        ``lo .. hi - 1``."""
        if self.range_starts:
            ends = (*self.range_starts[1:], self.items)
            return self.range_starts[pair_range], ends[pair_range]
        n, r = self.items, self.pair_ranges
        return -(-pair_range * n // r), -(-(pair_range + 1) * n // r)

    def file(self, shard: int, name: str, mmap: bool = True) -> np.ndarray:
        path = self.scratch.shard(shard, self.level, name)
        return _mapped(path) if mmap else load(path)

    def rows(self, gids: np.ndarray, name: str) -> np.ndarray:
        """Rows ``gids`` (sorted ascending) of the per-item array ``name``."""
        gids = np.asarray(gids, dtype=np.int64)
        shard = self.shard_of(gids)
        cuts = np.searchsorted(shard, np.arange(self.shards + 1))
        out = None
        for s in np.flatnonzero(np.diff(cuts)):
            local = gids[cuts[s] : cuts[s + 1]] - self.bases[s]
            if name == "sigs" and self.kept:  # only banded items are read: each has its row
                local = np.searchsorted(self.file(int(s), "kept"), local)
                name_read = "kept_sigs"
            else:
                name_read = name
            mapped = self.file(int(s), name_read)
            if out is None:  # one array for every shard's rows: no concatenate of the parts
                out = np.empty((len(gids),) + mapped.shape[1:], mapped.dtype)
            np.take(mapped, local, axis=0, out=out[cuts[s] : cuts[s + 1]])
            release(mapped)
        if out is not None:
            return out
        if name == "sigs":
            return np.zeros((0, self.settings.num_perm), np.uint32)
        return np.zeros((0,) + self.file(0, name).shape[1:], self.file(0, name).dtype) if self.shards else np.zeros(0)

    def kept_signatures(self, shard: int, local: np.ndarray) -> np.ndarray:
        """The signatures (``(len(local), num_perm)`` uint32, memory-mapped) of shard
        ``shard``'s items ``local`` (numbers within the shard, sorted): the items the
        band stage bands.

        The first call for a shard (the band stage's first wave, ``kept`` false) keeps
        only these rows -- files ``kept_sigs`` and ``kept`` (their numbers) -- and
        removes the full ``sigs`` file; later calls (``kept`` true) read them back.
        Why: no other item can become a candidate (exact copies and items under
        ``min_tokens`` are never banded), and full signatures were the largest part
        of the scratch folder (46 % of it at its peak on 153 MB of text).  Whatever
        read every item's signature has run by then: the paragraphs' are kept by the
        document stage itself once it has built the documents from them
        (:func:`dedup.plan.documents.document_shard`), before the document level runs.
        """
        full = self.scratch.shard(shard, self.level, "sigs")
        if not self.kept and full.exists():  # else kept already (or by a retried task's first run)
            sigs = load(full, mmap=True)  # not through the maps: the file goes now

            def chunks() -> Iterator[np.ndarray]:  # a chunk at a time: never the shard's signatures
                for at in range(0, len(local), KEEP_CHUNK):
                    yield sigs[local[at : at + KEEP_CHUNK]]
                    release(sigs)

            save_parts(self.scratch.shard(shard, self.level, "kept_sigs"), sigs.dtype, (len(local), sigs.shape[1]),
                       chunks())
            save(self.scratch.shard(shard, self.level, "kept"), local.astype(np.int64))
            del sigs
            full.unlink()
        kept = self.file(shard, "kept_sigs")
        if len(kept) != len(local):
            raise RuntimeError(f"shard {shard} kept {len(kept)} signatures for {len(local)} banded items")
        return kept

    def segments(self, gids: np.ndarray, name: str = "values", offsets: str = "offsets") -> tuple[np.ndarray, np.ndarray]:
        """Flat ``(values, offsets)`` of the variable-length rows of items ``gids``
        (sorted ascending) of an array stored CSR-style as ``name`` + ``offsets``:
        by default the items' sorted shingle sets."""
        gids = np.asarray(gids, dtype=np.int64)
        shard = self.shard_of(gids)
        cuts = np.searchsorted(shard, np.arange(self.shards + 1))
        values, lengths = [], []
        for s in np.flatnonzero(np.diff(cuts)):
            local = gids[cuts[s] : cuts[s + 1]] - self.bases[s]
            bounds = self.file(int(s), offsets)
            starts, ends = np.asarray(bounds[local]), np.asarray(bounds[local + 1])
            mapped = self.file(int(s), name)
            values.append(np.asarray(mapped[ranges(starts, ends - starts)]))
            release(mapped)
            release(bounds)
            lengths.append(ends - starts)
        if not values:
            return np.zeros(0, np.uint64), np.zeros(1, np.int64)
        return np.concatenate(values), offsets_from_counts(np.concatenate(lengths))
