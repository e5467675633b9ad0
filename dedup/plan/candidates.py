"""Stage 4, candidates: per band partition, the pairs of items that share a bucket.

Every bucket (all items with one band key) is whole in one partition
(:mod:`dedup.plan.band`), so a partition's pairs are exactly what the in-memory LSH
would find for its buckets (:func:`dedup.lsh.bucket_pairs`: sort, runs, pairs within
runs, big buckets as stars).  A pair sharing buckets in several partitions is found by
each of them; the verification stage folds those repeats.  With containment on, the
partition's containment buckets add their pairs
(:func:`dedup.containment.bucket_pairs`, the same pairs the in-memory search finds).

Writes the partition's pairs as one file of sorted, distinct ``a * items + b`` codes
(one file per partition, however many pair ranges verify them: a range reads its slice
of each file, :func:`range_codes`), and returns how many pairs have their first item in
each of :data:`BINS` equal bins of item numbers -- what the pair ranges are cut by, so
that each holds about as many candidates (:func:`pair_range_starts`) -- and the crowded
buckets it met (:class:`dedup.crowded.Crowding`, what the scan warns of).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from .. import containment
from ..crowded import Crowding
from ..lsh import bucket_pairs
from ..minhash import PREFILTER_SIGMAS, estimate_pairs, floor
from ..segments import sorted_unique
from .band import item_sizes, partition_splits
from .items import LevelPlan, forget_removed
from .scratch import load, save

#: Bins of first-item numbers that the candidates are counted in.
BINS = 4096
#: Items whose signatures :func:`_estimated` holds at once, for the crowded buckets'
#: judge and the containment prefilter (~1.7 KB each: the signature and the low bytes
#: compared, ~55 MB).
ITEMS = 1 << 15
#: Bytes of one look's columns (:func:`dedup.containment.head_bytes`: 128 an item,
#: :func:`~dedup.containment.low_bits`: 512 at 256 permutations) that the containment
#: prefilter holds for all of a partition's involved items at once (:func:`_plausible`),
#: each item read once: past it, chunks of pairs that each read their own items again.
#: Why bytes, not :data:`ITEMS`: the items with a chance partner in a partition grow
#: with the corpus until the partition's rows bound them (a wave holds fewer rows per
#: item, so more items), and past a fixed count of items the first look re-read each
#: chunk's items: on 8 near-copies of the 19 MB benchmark base (~198,000 items a
#: partition) 7.3M reads of 1.24M items' heads, where 4 copies (~123,000, held) read
#: each once -- the stage's CPU per pair doubled.
LOOK_BYTES = 1 << 25
#: Bucket rows paired at once: a partition with more is read and paired in splits by
#: key (:func:`dedup.plan.band.split_of`), so a task's memory follows this, not its
#: partition's rows (sorting and pairing cost ~40-90 bytes a row).
SPLIT_ROWS = 1 << 19


@dataclass
class Found:
    """What :func:`candidate_partition` found: its pairs' count per bin of first items
    (``BINS`` int64 counts) and the crowded band buckets it paired as stars."""

    counts: np.ndarray
    crowding: Crowding


def candidate_partition(plan: LevelPlan, part: int) -> Found:
    """Write candidate partition ``part``'s pairs (band partition ``part %
    plan.partitions`` of the wave whose rows are written now); returns their count per
    bin of first items and its crowded buckets."""
    forget_removed()
    p, s = part % plan.partitions, plan.settings
    crowding: list[Crowding] = []
    code = _paired(plan, p, "band", lambda rows: bucket_pairs(rows[:, 0], rows[:, 1].view(np.int64), crowding,
                                                              plan.star_above, _Judge(plan)))
    counts = _bins(plan, code)
    if s.containment:
        code_c = _paired(plan, p, "contain", lambda rows: containment.bucket_pairs(
            rows[:, 0], *item_sizes(rows), s.containment, covered=(s.bands, s.rows)))
        contained = _plausible(plan, code_c)
        counts += _bins(plan, contained)
        code = sorted_unique(np.concatenate([code, contained]))
    save(plan.scratch.candidates(plan.level, part), code)
    return Found(counts, sum(crowding, Crowding()))


def near_above(threshold: float, num_perm: int) -> float:
    """The MinHash estimate at or above which a pair counts as surely at ``threshold``
    (a crowded bucket's member is then closed around its centre, :mod:`dedup.crowded`): :data:`~dedup.minhash.PREFILTER_SIGMAS` standard
    errors above it, the mirror of the verification's floor
    (:func:`dedup.minhash.floor`), so a pair whose true Jaccard is under the threshold
    reaches it with probability ~3e-5 (the normal tail at 4 sigma).  At most 1.0: near a
    high threshold (0.9 at 128 permutations) the margin passes 1, which no estimate
    reaches, so only identical signatures are then near (the others are settled)."""
    return min(1.0, threshold + PREFILTER_SIGMAS * float(np.sqrt(threshold * (1 - threshold) / num_perm)))


class _Judge:
    """The :class:`dedup.crowded.Judge` of this level's crowded buckets, from the
    items' MinHash estimates: near at :func:`near_above` the level's threshold,
    plausible at the verification's own floor (:func:`pair_floor`), so a pair it drops
    is one that verification would drop unread.  Signatures (and set sizes) are read
    once for all the items of the buckets being paired (:meth:`among`) when there are
    at most :data:`ITEMS` of them (~55 MB), else ``ITEMS // 2`` pairs at a time."""

    def __init__(self, plan: LevelPlan) -> None:
        self.plan = plan
        self.at_least = near_above(plan.threshold, plan.settings.num_perm)
        self.held: Optional[tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]] = None

    def among(self, items: np.ndarray) -> None:
        self.held = None
        if len(items) <= ITEMS:
            self.held = (items, self.plan.rows(items, "sigs"), _sizes(self.plan, items))

    def __call__(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # A pair comes back in many buckets (a centre is the smallest member of most
        # of the buckets it is in): each distinct pair is estimated once.
        code, which = sorted_unique(np.minimum(a, b) * self.plan.items + np.maximum(a, b), return_inverse=True)
        pairs = np.stack(np.divmod(code, self.plan.items), axis=1)
        near, plausible = np.empty(len(code), bool), np.empty(len(code), bool)
        for lo, hi, _, sigs, sizes, local in _estimated(self.plan, pairs, self.held):
            side_a, side_b = local.T
            est = estimate_pairs(sigs, side_a, side_b)
            near[lo:hi] = est >= self.at_least
            plausible[lo:hi] = est >= pair_floor(self.plan, sizes, side_a, side_b)
        return near[which], plausible[which]


def _sizes(plan: LevelPlan, items: np.ndarray) -> Optional[np.ndarray]:
    """The set sizes of ``items`` (at least 1), or None with containment off."""
    return np.maximum(plan.rows(items, "sizes"), 1) if plan.settings.containment else None


def _estimated(plan: LevelPlan, pairs: np.ndarray, held: Optional[tuple] = None, read: Optional[Callable] = None,
               most: int = ITEMS) -> Iterator[tuple]:
    """``(lo, hi, involved, sigs, sizes, local)`` for runs ``pairs[lo:hi]`` of the pairs
    (``n x 2`` item numbers): the involved items (sorted item numbers), their
    signatures and set sizes (:func:`_sizes`) and each pair's two rows in them.  ``held``: ``(items, sigs,
    sizes)`` already read for every item of the pairs; else each involved item is read
    once when there are at most ``most`` of them, else ``most // 2`` pairs at a
    time (memory bounded whatever the partition).  ``read(plan, items)``: what is
    read of each item's signature instead of all of it (the containment prefilter's
    looks, :func:`_plausible`).

    Why not always in chunks of pairs: a partition's pairs share their items (the
    benchmark corpus: 200,000 pairs of 21,000 items), so chunks of pairs would read and
    convert most items' signatures once per chunk -- 12 times there, half the
    containment prefilter's CPU.  Each pair is judged alone, so the chunks' answers are
    the same."""
    read = read or _signatures
    if held is None and len(pairs):
        whole = sorted_unique(pairs)
        if len(whole) <= most:
            held = (whole, read(plan, whole), _sizes(plan, whole))
    step = max(len(pairs) if held is not None else most // 2, 1)
    for lo in range(0, len(pairs), step):
        part = pairs[lo : lo + step]
        if held is not None:
            involved, sigs, sizes = held
        else:
            involved = sorted_unique(part)
            sigs, sizes = read(plan, involved), _sizes(plan, involved)
        yield lo, lo + len(part), involved, sigs, sizes, _positions(involved, part, plan.items)


def _signatures(plan: LevelPlan, items: np.ndarray) -> np.ndarray:
    """The signatures of ``items`` (sorted item numbers)."""
    return plan.rows(items, "sigs")


def _converted(convert: Callable) -> Callable:
    """A ``read`` for :func:`_estimated`: ``convert`` (of a block of signatures) of
    each item's signature, the signatures read :data:`ITEMS` items at a time (so never
    more than ~32 MB of them at once, however many items)."""

    def read(plan: LevelPlan, items: np.ndarray) -> np.ndarray:
        out = None  # filled block by block: never the converted columns twice
        for at in range(0, max(len(items), 1), ITEMS):
            block = convert(plan.rows(items[at : at + ITEMS], "sigs"))
            if out is None:
                out = np.empty((len(items),) + block.shape[1:], block.dtype)
            out[at : at + len(block)] = block
        return out
    return read


def pair_floor(plan: LevelPlan, sizes: Optional[np.ndarray], side_a: np.ndarray, side_b: np.ndarray):
    """The MinHash estimate floor of pairs ``(side_a, side_b)`` (rows of ``sizes``:
    their items' set sizes, at least 1; None with containment off) under which
    verification drops a pair unread (:mod:`dedup.plan.verify`,
    :func:`dedup.minhash.floor`): at the level's threshold, or with containment on at
    the lowest Jaccard a pair of their set sizes contained at the containment threshold
    can have, if that is lower and their size ratio is searched
    (:func:`dedup.containment.lowest_jaccard`, the index's floor too; a scalar or one
    per pair)."""
    if not plan.settings.containment:
        return floor(plan.threshold, plan.settings.num_perm)
    lowest = containment.lowest_jaccard(plan.threshold, plan.settings.containment, sizes[side_a], sizes[side_b])
    return floor(lowest, plan.settings.num_perm)


def _paired(plan: LevelPlan, part: int, kind: str, pairs_of) -> np.ndarray:
    """The distinct pairs (sorted ``a * items + b`` codes) that ``pairs_of`` finds in
    band partition ``part``'s ``kind`` rows, read and paired :data:`SPLIT_ROWS` rows at
    a time: the same pairs, since every bucket is whole in one split."""
    codes = []
    for rows in partition_splits(plan, part, kind, SPLIT_ROWS):
        pairs = pairs_of(rows)
        del rows
        codes.append(sorted_unique(pairs[:, 0] * plan.items + pairs[:, 1]))
        del pairs
    return sorted_unique(np.concatenate(codes)) if len(codes) > 1 else codes[0]


def _bins(plan: LevelPlan, code: np.ndarray) -> np.ndarray:
    """How many of the pairs ``code`` have their first item in each of :data:`BINS` bins."""
    return np.bincount(code // max(plan.items, 1) * BINS // max(plan.items, 1), minlength=BINS)


def pair_range_starts(plan: LevelPlan, counts: np.ndarray, ranges: int) -> tuple[int, ...]:
    """First items of at most ``ranges`` pair ranges cut so that each holds about as
    many of the candidates counted per bin in ``counts`` (:func:`candidate_partition`);
    no range is empty of items."""
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1]) if len(cumulative) else 0
    cut_bins = np.searchsorted(cumulative, np.arange(1, ranges) * total / ranges, side="right")
    starts = -(-cut_bins * plan.items // BINS)  # the first item of each cut bin
    return tuple(sorted_unique(np.r_[0, starts[(starts > 0) & (starts < plan.items)]]).tolist())


def range_codes(plan: LevelPlan, pair_range: int) -> np.ndarray:
    """The distinct candidate codes of pair range ``pair_range``, sorted: from every
    partition's file, the slice whose first items fall in the range."""
    lo, hi = plan.range_items(pair_range)
    parts = []
    for part in range(plan.candidate_partitions):
        code = load(plan.scratch.candidates(plan.level, part), mmap=True)
        a, b = np.searchsorted(code, [lo * plan.items, hi * plan.items])
        if b > a:
            parts.append(np.array(code[a:b]))
    code = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return sorted_unique(code)


def _plausible(plan: LevelPlan, code: np.ndarray) -> np.ndarray:
    """The containment candidates ``code`` (sorted, distinct ``a * items + b`` codes)
    that :func:`dedup.containment.plausible` keeps (their estimate is not far below
    what a contained pair has), as codes in the same order: its first look over every
    pair, from the low bytes (:func:`~dedup.containment.head_bytes`, 128 B an item)
    of the involved items, read once; its second look over the pairs that pass, from
    the low bits (:func:`~dedup.containment.low_bits`, 512 B) of their items.

    Why each look reads its own columns, every item once: the items with a chance
    partner in a partition grow with the corpus (more texts share a MinHash value at
    some position; on the 19 MB benchmark base ~100,000 a partition), and read whole
    (signature and both conversions, ~1.7 KB an item) only :data:`ITEMS` of them fit
    the memory a task may use, so the pairs were judged a chunk at a time and each
    chunk read its items again: ~25 reads of the partition's items, most of the
    prefilter's CPU.  What a look holds is 8x (first) and 2x (second) smaller, so it
    holds each look's columns of every involved item up to :data:`LOOK_BYTES` (32 MB:
    ~262,000 items' heads, ~65,000 items' low bits); beyond that, chunks of pairs
    (:func:`_estimated`).  Pairs of at most ``2 * ITEMS`` items (every partition of the
    small benchmark corpus) have both looks' columns made from one read of their
    signatures (:func:`_looks`), no more memory than the two looks held together."""
    if not len(code):
        return code
    s = plan.settings
    pairs = np.stack(np.divmod(code, plan.items), axis=1)
    whole = sorted_unique(pairs)
    if len(whole) <= 2 * ITEMS:  # both looks' columns of every item (~40 MB at most): one read
        head, low = _looks(plan, whole)
        local = _positions(whole, pairs, plan.items)
        kept, go, need = containment.first_look(head, _sizes(plan, whole), local, s.containment, s.num_perm)
        kept[go] = containment.looked(low, local[go], need[go])
        return code[kept]
    keep = np.zeros(len(pairs), bool)
    heads, lows = _look_items(s.num_perm)
    for lo, hi, involved, head, sizes, local in _estimated(plan, pairs, read=_HEADS, most=heads):
        kept, go, need = containment.first_look(head, sizes, local, s.containment, s.num_perm)
        for at, end, _, low, _, second in _estimated(plan, involved[local[go]], read=_LOWS, most=lows):
            kept[go[at:end]] = containment.looked(low, second, need[go[at:end]])
        keep[lo:hi] = kept
    return code[keep]


def _look_items(num_perm: int) -> tuple[int, int]:
    """Items whose first-look and second-look columns fit :data:`LOOK_BYTES` (at least
    ``4 * ITEMS`` and ``2 * ITEMS``, what the looks held before it)."""
    head = containment.head_bytes(np.zeros((1, num_perm), np.uint32)).nbytes
    low = containment.low_bits(np.zeros((1, num_perm), np.uint32)).nbytes
    return max(4 * ITEMS, LOOK_BYTES // head), max(2 * ITEMS, LOOK_BYTES // low)


_HEADS = _converted(containment.head_bytes)
_LOWS = _converted(containment.low_bits)


def _looks(plan: LevelPlan, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both looks' columns of ``items`` (:func:`~dedup.containment.head_bytes`,
    :func:`~dedup.containment.low_bits`) from one read of their signatures, :data:`ITEMS` at a time."""
    heads, lows = [], []
    for at in range(0, max(len(items), 1), ITEMS):
        sigs = plan.rows(items[at : at + ITEMS], "sigs")
        heads.append(containment.head_bytes(sigs))
        lows.append(containment.low_bits(sigs))
    return np.concatenate(heads), np.concatenate(lows)


def _positions(involved: np.ndarray, items: np.ndarray, numbers: int) -> np.ndarray:
    """The position of each of ``items`` in ``involved`` (sorted, distinct item numbers
    below ``numbers``, holding every one of ``items``): a table over all item numbers
    when it costs no more memory than ``items`` themselves (one gather, ~10x faster
    than a binary search per item: in the benchmark corpus's scan 850,000 look-ups
    into 22,000 items cost ~0.07 s searched), else a binary search."""
    if numbers > 2 * items.size:
        return np.searchsorted(involved, items)
    table = np.empty(numbers, np.int64)
    table[involved] = np.arange(len(involved))
    return table[items]
