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
from .scratch import by_partition, load, partition_of, release, save


def band_shard(plan: LevelPlan, shard: int, wave: int = 0) -> int:
    """Write shard ``shard``'s band rows of wave ``wave`` (its share of the bands and
    containment positions, :meth:`LevelPlan.wave_span`); returns how many items it banded."""
    forget_removed()
    lo = plan.bases[shard]
    local = banded(plan, shard)
    s = plan.settings
    sigs = plan.kept_signatures(shard, local)
    first, last = plan.wave_span(s.bands, wave)
    keys = band_keys(np.asarray(sigs[:, first * s.rows : last * s.rows]), last - first, s.rows, first).ravel()
    gids = np.repeat(local.astype(np.uint64) + np.uint64(lo), last - first)
    _save_by_partition(plan, shard, "band", partition_of(keys, plan.partitions), keys, gids)
    if s.containment:
        _containment_rows(plan, shard, local, sigs, wave)
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


def _containment_rows(plan: LevelPlan, shard: int, local: np.ndarray, sigs: np.ndarray, wave: int) -> None:
    """The same items' containment bucket rows ``(key, item << 32 | set size)`` of wave
    ``wave``'s positions (:func:`dedup.containment.bucket_keys`; ``sigs``: their
    signatures), split by partition of their key.  Set sizes (distinct shingles), not
    counts with repeats: the Jaccard of a pair contained at the threshold follows from
    the set sizes exactly (:func:`dedup.containment.min_jaccard`), while a container
    that repeats its shingles (a table, a list) has a count ratio well above its set
    ratio and was not searched at all past ``MAX_RATIO``.  Item and size share one
    64-bit column (:func:`item_sizes`): two thirds of the bytes written and read back
    (the size is capped where :func:`~dedup.containment.bucket_pairs` caps it)."""
    s = plan.settings
    if plan.items > 1 << 32:
        raise ValueError(f"containment rows number items in 32 bits: {plan.items:,} items is too many "
                         "(use --containment off)")
    first, last = plan.wave_span(containment.search_positions(s.containment, s.num_perm), wave)
    keys = containment.bucket_keys(np.asarray(sigs[:, :last]), first, last)
    positions = keys.shape[1]
    keys = keys.ravel()
    sizes = np.minimum(np.asarray(plan.file(shard, "sizes")[local]), containment.SIZE_CAP).astype(np.uint64)
    packed = np.repeat(((local.astype(np.uint64) + np.uint64(plan.bases[shard])) << np.uint64(32)) | sizes,
                       positions)
    part = partition_of(keys * np.uint64(0x9E3779B97F4A7C15), plan.partitions)  # mix the position in
    _save_by_partition(plan, shard, "contain", part, keys, packed)


def item_sizes(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(items, sizes)`` (int64) of containment bucket rows (:func:`_containment_rows`)."""
    packed = rows[:, 1]
    return (packed >> np.uint64(32)).astype(np.int64), (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _save_by_partition(plan: LevelPlan, shard: int, kind: str, part: np.ndarray, *columns: np.ndarray) -> None:
    """Write rows of ``columns`` grouped by partition ``part`` as one file, and where
    each partition starts (one file per shard whatever the number of partitions:
    :func:`partition_rows` reads a partition's slice)."""
    rows = np.stack(columns, axis=1)
    if plan.partitions == 1:  # already in partition order
        cuts = np.array([0, len(rows)], dtype=np.int64)
    else:
        order, cuts = by_partition(part, plan.partitions)
        rows = rows[order]
    save(plan.scratch.bands(plan.level, shard, "rows", kind), rows)
    save(plan.scratch.bands(plan.level, shard, "cuts", kind), cuts)


def partition_rows(plan: LevelPlan, part: int, kind: str = "band", width: int = 2) -> np.ndarray:
    """Partition ``part``'s bucket rows from every shard (``kind``: ``"band"`` rows
    ``(key, item)`` or ``"contain"`` rows ``(key, item << 32 | set size)``), read as
    slices of the memory-mapped shard files."""
    return _filled(_slices(plan, part, kind), width)


def partition_splits(plan: LevelPlan, part: int, kind: str, most: int) -> Iterator[np.ndarray]:
    """Partition ``part``'s bucket rows (as :func:`partition_rows` reads them) in
    splits of about ``most`` rows by key (:func:`split_of`: every bucket whole in one
    split), one split's rows after the other; the partition's other rows are never
    held (each shard's file is mapped once, its pages released after each split)."""
    slices = _slices(plan, part, kind)
    splits = -(-sum(len(s) for s in slices) // most)
    if splits <= 1:
        yield _filled(slices, 2)
        return
    which = [split_of(np.asarray(piece[:, 0]), splits).astype(np.uint16 if splits < 1 << 16 else np.int64)
             for piece in slices]
    for i in range(splits):
        rows = [np.asarray(piece[mine == i]) for piece, mine in zip(slices, which)]
        for piece in slices:
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


def _filled(slices: list[np.ndarray], width: int) -> np.ndarray:
    """The rows of ``slices`` in one array, filled in place: never twice the rows."""
    rows = np.empty((sum(len(s) for s in slices), width), np.uint64)
    at = 0
    for piece in slices:
        rows[at : at + len(piece)] = piece
        at += len(piece)
    return rows


def split_of(keys: np.ndarray, splits: int) -> np.ndarray:
    """Split of each bucket key within its partition (mixed apart from
    :func:`~dedup.plan.scratch.partition_of`'s choice of the partition)."""
    return partition_of(keys * np.uint64(0xD6E8FEB86659FD93), splits)
