"""Stage 3, band: one shard's distinct items -> band rows, split by partition.

Only the first occurrence of each text (:mod:`dedup.plan.exact`) with at least
``min_tokens`` tokens is banded.  Each of its LSH band keys (:func:`dedup.lsh.band_keys`,
already salted with the band number) becomes a row ``(key, item)``, written to the
partition the key hashes to, so that every bucket -- all items sharing one band key --
ends up whole in one partition (:mod:`dedup.plan.candidates`).  A shard's rows are one
file, grouped by partition, whatever the number of partitions.  A large level is banded
in *waves* (:attr:`~dedup.plan.items.LevelPlan.waves`): each wave writes the rows of its
share of the bands (and containment positions) only, its candidates are found, and its
rows are removed before the next wave, so the scratch folder never holds every row.
A bucket is one band key (salted with its band) or one value at one position, so it is
whole in one wave too.  With containment on
(:mod:`dedup.containment`), the items' containment buckets (one MinHash value at one
of the leading positions) are written the same way, with each item's set size (distinct shingles).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .. import containment
from ..lsh import band_keys
from .exact import copies_in
from .items import LevelPlan, forget_removed
from ..segments import offsets_from_counts
from .scratch import PartFile, by_partition, load, partition_of, release, save, save_parts


#: Bucket rows made at once (16 bytes each, a few times that while grouping them): a
#: shard of more items is banded a chunk of items at a time (U2 of #12: one shard of a
#: million one-line paragraphs held its 49 million band rows, 0.8 GB, ~3x over).
CHUNK_ROWS = 1 << 21


def band_shard(plan: LevelPlan, shard: int, wave: int = 0) -> int:
    """Write shard ``shard``'s band rows of wave ``wave`` (its share of the bands and
    containment positions, :meth:`LevelPlan.wave_span`); returns how many items it
    banded.  The items are banded :data:`CHUNK_ROWS` rows at a time, each chunk's rows
    grouped by partition (:class:`_Grouped`): the same file whatever the chunks."""
    forget_removed()
    lo = plan.bases[shard]
    local = banded(plan, shard)
    s = plan.settings
    sigs = plan.kept_signatures(shard, local)
    first, last = plan.wave_span(s.bands, wave)
    c_first, c_last = plan.wave_span(containment.search_positions(s.containment, s.num_perm), wave) \
        if s.containment else (0, 0)
    step = max(1, CHUNK_ROWS // max(1, last - first, c_last - c_first))
    with _Grouped(plan, shard, "band") as bands, _Grouped(plan, shard, "contain", s.containment) as contained:
        for at in range(0, max(len(local), 1), step):
            chunk, chunk_sigs = local[at : at + step], np.asarray(sigs[at : at + step])
            keys = band_keys(chunk_sigs[:, first * s.rows : last * s.rows], last - first, s.rows, first).ravel()
            gids = np.repeat(chunk.astype(np.uint64) + np.uint64(lo), last - first)
            bands.add(partition_of(keys, plan.partitions) if plan.partitions > 1 else None, keys, gids)
            del keys, gids
            if s.containment:
                contained.add(*_containment_rows(plan, shard, chunk, chunk_sigs, c_first, c_last))
            release(sigs)
    return len(local)


def banded(plan: LevelPlan, shard: int) -> np.ndarray:
    """The items of shard ``shard`` that are banded (numbers within the shard, sorted):
    first occurrences of their text (the level's exact stage has run) with at least
    ``min_tokens`` tokens."""
    lo, hi = plan.bases[shard], plan.bases[shard + 1]
    eligible = np.ones(hi - lo, dtype=bool)
    eligible[copies_in(plan, lo, hi) - lo] = False
    eligible &= plan.file(shard, "tokens", mmap=False) >= plan.min_tokens
    return np.flatnonzero(eligible)


def _containment_rows(plan: LevelPlan, shard: int, local: np.ndarray, sigs: np.ndarray, first: int, last: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same items' containment bucket rows ``(key, item << 32 | set size)`` of
    positions ``first .. last - 1`` (:func:`dedup.containment.bucket_keys`; ``sigs``:
    their signatures), and the partition of each row's key (None with one partition).
    Set sizes (distinct shingles), not counts with repeats: the Jaccard of a pair contained at the threshold follows from
    the set sizes exactly (:func:`dedup.containment.min_jaccard`), while a container
    that repeats its shingles (a table, a list) has a count ratio well above its set
    ratio and was not searched at all past ``MAX_RATIO``.  Item and size share one
    64-bit column (:func:`item_sizes`): two thirds of the bytes written and read back
    (the size is capped where :func:`~dedup.containment.bucket_pairs` caps it)."""
    if plan.items > 1 << 32:
        raise ValueError(f"containment rows number items in 32 bits: {plan.items:,} items is too many "
                         "(use --containment off)")
    keys = containment.bucket_keys(sigs[:, :last], first, last)
    positions = keys.shape[1]
    keys = keys.ravel()
    sizes = np.minimum(np.asarray(plan.file(shard, "sizes")[local]), containment.SIZE_CAP).astype(np.uint64)
    packed = np.repeat(((local.astype(np.uint64) + np.uint64(plan.bases[shard])) << np.uint64(32)) | sizes,
                       positions)
    part = partition_of(keys * np.uint64(0x9E3779B97F4A7C15), plan.partitions) \
        if plan.partitions > 1 else None  # mix the position in; one partition: no number needed
    return part, keys, packed


def item_sizes(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(items, sizes)`` (int64) of containment bucket rows (:func:`_containment_rows`)."""
    packed = rows[:, 1]
    return (packed >> np.uint64(32)).astype(np.int64), (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)


class _Grouped:
    """Shard ``shard``'s ``kind`` bucket rows, given a chunk at a time (:meth:`add`) and
    written as one file grouped by partition, each partition's rows in the order
    given, and where each partition starts (one file per shard whatever the number of
    partitions: :func:`partition_splits` reads a partition's slice).  One chunk is
    written as it is; with more, each chunk's grouped rows wait in a
    :class:`~dedup.plan.scratch.PartFile` beside it, and closing copies each
    partition's slice of each chunk in order.
    Nothing is written when ``on`` is false or the block raises."""

    def __init__(self, plan: LevelPlan, shard: int, kind: str, on: bool = True) -> None:
        self.on, self.partitions = on, plan.partitions
        self.path = plan.scratch.bands(plan.level, shard, "rows", kind)
        self.cuts_path = plan.scratch.bands(plan.level, shard, "cuts", kind)
        self.part = PartFile(self.path, np.uint64)
        self.held: list[tuple[np.ndarray, np.ndarray]] = []  # (rows, cuts): the first chunk's
        self.chunk_cuts: list[np.ndarray] = []  # each chunk's cuts, by rows before it

    def __enter__(self) -> "_Grouped":
        return self

    def add(self, part: np.ndarray | None, *columns: np.ndarray) -> None:
        """Add a chunk's rows (``columns``) and the partition of each (``part``; None, not
        read, with one partition)."""
        rows = np.stack(columns, axis=1)
        if self.partitions == 1:  # already in partition order
            cuts = np.array([0, len(rows)], dtype=np.int64)
        else:
            order, cuts = by_partition(part, self.partitions)
            rows = rows[order]
        if self.held or self.chunk_cuts:  # a second chunk: the rows wait on disk
            self._spill()
            self.part.append(rows)
            self.chunk_cuts.append(cuts + self.written)
            self.written += len(rows)
        else:
            self.held = [(rows, cuts)]

    def _spill(self) -> None:
        if self.held:
            rows, cuts = self.held.pop()
            self.part.append(rows)
            self.chunk_cuts, self.written, self.width = [cuts], len(rows), rows.shape[1]

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None and self.on:
                self._write()
        finally:
            self.part.remove()

    def _write(self) -> None:
        if self.held:
            rows, cuts = self.held[0]
            save(self.path, rows)
            save(self.cuts_path, cuts)
            return
        cuts = np.stack(self.chunk_cuts)  # (chunks, partitions + 1), in rows of the .part file
        sizes = (cuts[:, 1:] - cuts[:, :-1]).T  # (partitions, chunks)
        spans = ((int(cuts[chunk, p]) * self.width, int(sizes[p, chunk]) * self.width)
                 for p in range(self.partitions) for chunk in range(len(cuts)))
        save_parts(self.path, np.uint64, (self.written, self.width), self.part.slices(spans))
        save(self.cuts_path, offsets_from_counts(sizes.sum(axis=1)))


def partition_rows(plan: LevelPlan, part: int, kind: str = "band") -> np.ndarray:
    """Partition ``part``'s bucket rows from every shard, in one array (what
    :func:`partition_splits` yields in one split; ``benchmarks/probe_candidates.py``
    saves them)."""
    return _filled(_slices(plan, part, kind))


def partition_splits(plan: LevelPlan, part: int, kind: str, most: int) -> Iterator[np.ndarray]:
    """Partition ``part``'s bucket rows from every shard (``kind``: ``"band"`` rows
    ``(key, item)`` or ``"contain"`` rows ``(key, item << 32 | set size)``), read as
    slices of the memory-mapped shard files, in splits of about ``most`` rows by key (:func:`split_of`: every bucket whole in one
    split), one split's rows after the other; the partition's other rows are never
    held (each shard's file is mapped once, its pages released as each slice is read)."""
    slices = _slices(plan, part, kind)
    splits = -(-sum(len(s) for s in slices) // most)
    if splits <= 1:
        yield _filled(slices)
        return
    grouped = []  # each slice's rows grouped by split once (not filtered once per split)
    for piece in slices:
        order, cuts = by_partition(split_of(np.asarray(piece[:, 0]), splits), splits)
        grouped.append((order.astype(np.uint32) if len(piece) < 1 << 32 else order, cuts))
        release(piece)
    for i in range(splits):
        rows = []
        for piece, (order, cuts) in zip(slices, grouped):
            rows.append(np.asarray(piece[order[cuts[i] : cuts[i + 1]]]))
            release(piece)
        yield np.concatenate(rows)


def _slices(plan: LevelPlan, part: int, kind: str) -> list[np.ndarray]:
    """Partition ``part``'s slice of each shard's ``kind`` rows file (memory-mapped,
    unread; shards without rows in it left out)."""
    slices = []
    for shard in range(plan.shards):
        lo, hi = load(plan.scratch.bands(plan.level, shard, "cuts", kind), mmap=True)[part : part + 2]
        if hi > lo:
            slices.append(load(plan.scratch.bands(plan.level, shard, "rows", kind), mmap=True)[lo:hi])
    return slices


def _filled(slices: list[np.ndarray]) -> np.ndarray:
    """The rows of ``slices`` in one array, filled in place: never twice the rows.
    Each slice's pages are released once it is read (:func:`~dedup.plan.scratch.release`),
    so one shard's pages are resident at a time, not the partition's: at 1M paragraphs
    a candidate task's RSS held ~150 MB of them on top of its own ~150 MB (the
    session-15 run before this, ``benchmarks/results/dask-1m-s15``)."""
    rows = np.empty((sum(len(s) for s in slices), 2), np.uint64)
    at = 0
    for piece in slices:
        rows[at : at + len(piece)] = piece
        at += len(piece)
        release(piece)
    return rows


def split_of(keys: np.ndarray, splits: int) -> np.ndarray:
    """Split of each bucket key within its partition (mixed apart from
    :func:`~dedup.plan.scratch.partition_of`'s choice of the partition)."""
    return partition_of(keys * np.uint64(0xD6E8FEB86659FD93), splits)
