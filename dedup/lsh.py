"""Locality-sensitive hashing: find candidate pairs without comparing everything.

A signature is cut into ``bands`` bands of ``rows`` values; two texts become candidates
when any band is identical.  The chance that a pair of true Jaccard ``s`` becomes a
candidate is the S-curve ``1 - (1 - s**rows) ** bands``.

Why our own banding and not ``datasketch.MinHashLSH`` for a scan: a scan has the whole
batch at once, so "which signatures share a band" is a sort of one key per (text,
band) followed by a walk over runs of equal keys -- a few numpy calls instead of one
dict insert and lookup per band per text.  The banding is datasketch-compatible in the
sense that matters (same signatures, same bands-of-rows rule), and ``dedup.index`` uses
the same keys for its persistent buckets.

Why the threshold here is loose: LSH is only the candidate generator.  The choice of
bands x rows aims at catching pairs *at* the verification threshold with p >= 0.99 (and
pairs a little above it almost surely); every candidate is then verified exactly
(:mod:`dedup.verify`), so a loose LSH costs verification time, never precision.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import crowded
from .crowded import Crowding, Judge
from .segments import ranges, sorted_unique

_U64 = np.uint64
#: A bucket larger than this is paired as *stars* (:func:`bucket_pairs`), not all-pairs,
#: so one templated text repeated in 10,000 variants stays linear.  Exact copies never
#: reach buckets (they are grouped by content hash first), so only masses of distinct
#: near-identical variants, or of short texts over few distinct shingles, do.
#:
#: Why 16: a bucket row then makes at most 7.5 pairs (a member of ``n <= 16`` pairs
#: with ``(n - 1) / 2`` others on average), so the pairs a candidate split makes
#: (``SPLIT_ROWS`` rows, :mod:`dedup.plan.candidates`) take about the memory its rows
#: take to sort (~60 against ~40-90 bytes a row), while a crowded bucket's work stays
#: linear in its members (:mod:`dedup.crowded`).  At 256 a row could make
#: 127.5 pairs: 16 MB of one-line paragraphs over a 26-letter vocabulary made 32.8
#: million candidates in one partition (1.2 GB to sort, 5 GB of scratch before the
#: disk filled), and 10,000 near-identical one-line records 109 per record.
#: Read when :func:`bucket_pairs` is called (``star_above=None``).
MAX_BUCKET_PAIRS = 16
#: The same bound when every verified pair is to be reported (``all_pairs``): a family
#: of ``n`` near-identical texts is then ``n * (n - 1) / 2`` pairs in the report
#: anyway, so its buckets are paired whole up to this size (the bound before 16).
ALL_PAIRS_BUCKET = 256
#: Candidate codes collected before repeats across bands are folded away.
_MERGE_AT = 1 << 22


def catch_probability(similarity: float | np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Chance that a pair of true Jaccard ``similarity`` shares at least one band."""
    s = np.asarray(similarity, dtype=float)
    return 1.0 - (1.0 - s**rows) ** bands


def explain(threshold: float, doc_threshold: float, bands: int, rows: int) -> list[tuple[float, float]]:
    """``(similarity, chance of becoming a candidate)`` at a ladder of similarities and
    at both thresholds: the S-curve ``dedup explain`` prints."""
    marks = sorted({0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, threshold, doc_threshold})
    return [(s, float(catch_probability(s, bands, rows))) for s in marks]


#: Chance that LSH makes a pair *exactly at* the threshold a candidate, for derived
#: bands x rows (pairs above it are caught more often).  0.99, the recall asked of
#: near-duplicates: a target of 0.9 (85 x 3 at J = 0.3) lost one pair in ten at the
#: threshold and 1.4 % at J = 0.365 by design (benchmarks/README-scripts.md).
CATCH_TARGET = 0.99


def choose_bands(threshold: float, num_perm: int, target: float = CATCH_TARGET) -> tuple[int, int]:
    """Pick ``(bands, rows)`` for a verification ``threshold``: the layout that catches
    a pair exactly at ``threshold`` with probability ``target`` for the fewest chance
    candidates.

    A pair of unrelated texts (Jaccard ``s0`` well under the threshold) shares a band
    with probability about ``bands * s0**rows``, so: the most ``rows`` for which the
    ``num_perm // rows`` bands that fit can still reach ``target``, and then the fewest
    bands of that many rows that do (fewer band keys to store and look up, fewer
    chance candidates).  At the defaults (0.3, 256 permutations, 0.99): 49 bands of 2
    rows, which catch a pair at J = 0.3 with p = 0.990 and at 0.365 with p = 0.999;
    3 rows cannot reach 0.99 with 256 permutations (85 bands: 0.90).
    """
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        if catch_probability(threshold, num_perm // rows, rows) < target:
            break
        best = (num_perm // rows, rows)
    bands, rows = best
    # The S-curve grows with the band count: the first count that reaches the target.
    counts = np.arange(1, bands + 1)
    enough = np.flatnonzero(catch_probability(threshold, counts, rows) >= target)
    return (int(counts[enough[0]]) if len(enough) else bands), rows


def band_keys(signatures: np.ndarray, bands: int, rows: int, first: int = 0) -> np.ndarray:
    """One 64-bit key per (text, band): a hash of that band's ``rows`` values.

    Returns a ``(texts, bands)`` uint64 array; band ``k`` of two texts is identical
    (up to a 2^-64 collision) exactly when their keys in column ``k`` are equal.
    ``first``: the signatures' columns start at band ``first``'s (a slice of whole
    signatures, e.g. ``sig[:, first * rows :]``): the keys of bands ``first .. first +
    bands - 1``, the same keys those bands have in the keys of whole signatures.
    """
    # A strided uint32 view of each row position: no uint64 copy of the signatures.
    used = signatures[:, : bands * rows].reshape(len(signatures), bands, rows)
    key = np.full(used.shape[:2], _U64(0xCBF29CE484222325), dtype=_U64)
    for r in range(rows):
        key ^= used[:, :, r]  # FNV-1a over the row values
        key *= _U64(0x100000001B3)
        key ^= key >> _U64(29)
    # Salt with the band number so equal values in different bands never meet.
    key ^= np.arange(first, first + bands, dtype=_U64) * _U64(0x9E3779B97F4A7C15)
    return key


def bucket_pairs(keys: np.ndarray, items: np.ndarray, crowding: Optional[list[Crowding]] = None,
                 star_above: Optional[int] = None, judge: Optional[Judge] = None) -> np.ndarray:
    """All pairs ``(i, j)``, ``i < j``, of ``items`` that share a key, as an ``(m, 2)``
    int64 array, sorted and without repeats -- but in a *crowded* bucket, of more than
    ``star_above`` members (default :data:`MAX_BUCKET_PAIRS`, read at the call), the
    pairs of iterated stars that ``judge`` keeps (:func:`dedup.crowded.star_pairs`:
    linear in the bucket, every cluster of near-duplicates in it found).

    ``keys`` and ``items`` are flat rows (one per item and band: band keys are salted
    with their band number, so one sort serves every band).  Sort the keys, find runs
    of equal keys (buckets), and emit the pairs within each run.
    Near-duplicates share most bands, so the same pair comes back bucket after bucket:
    pairs are made a slice of runs at a time and repeats folded away whenever the
    backlog outgrows the result, which keeps memory at a few times the output instead
    of ``bands`` times it.  ``crowding``: a list the :class:`~dedup.crowded.Crowding`
    of these rows' buckets is appended to.
    """
    items = np.asarray(items, dtype=np.int64)
    star_above = MAX_BUCKET_PAIRS if star_above is None else star_above
    if len(keys) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    n = int(items.max()) + 1
    # Members of a run are only paired with each other, and a crowded run's pairs are
    # chosen by item number (dedup.crowded), so the order inside a run never matters.
    sorted_keys, order = _grouped(np.asarray(keys, dtype=np.uint64))
    members = items[order]
    run_start = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    run_len = np.diff(np.r_[run_start, len(keys)])
    shared = run_len > 1
    run_start, run_len = run_start[shared], run_len[shared]
    made = np.where(run_len <= star_above, run_len * (run_len - 1) // 2, crowded.STAR_ROUNDS * (run_len - 1))
    cuts = np.searchsorted(np.cumsum(made), np.arange(1, int(made.sum()) // _MERGE_AT + 1) * _MERGE_AT)
    merged = np.zeros(0, dtype=np.int64)
    pending: list[np.ndarray] = []
    pending_size = unsettled = 0
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(run_start)]):
        if hi <= lo:
            continue
        pairs, still_open = _pairs_in_runs(members, run_start[lo:hi], run_len[lo:hi], star_above, judge)
        unsettled += still_open
        pending.append(np.minimum(pairs[:, 0], pairs[:, 1]) * n + np.maximum(pairs[:, 0], pairs[:, 1]))
        pending_size += len(pending[-1])
        if pending_size > max(_MERGE_AT, 2 * len(merged)):
            merged, pending, pending_size = sorted_unique(np.concatenate([merged, *pending])), [], 0
    if crowding is not None:
        big = run_len[run_len > star_above]
        crowding.append(Crowding(len(big), int(big.sum()), int(big.max(initial=0)), unsettled))
    code = sorted_unique(np.concatenate([merged, *pending]))
    return np.stack([code // n, code % n], axis=1) if len(code) else np.zeros((0, 2), dtype=np.int64)


def _grouped(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(keys sorted, the row of each)``, equal keys' rows in any order: what
    ``order = np.argsort(keys)`` gives, by a plain sort of 64-bit integers.

    Why: numpy's argsort of 64-bit keys is ~5x slower than its sort (1.5M keys: 279
    vs 52 ms CPU).  So each key's low bits are replaced by its row number and those
    integers sorted: the rows come out sorted by the keys' high bits.  Keys that share
    their high bits but differ in the low ones (a few among millions of well-mixed
    keys) may then interleave; the rows of each such stretch are sorted again by the
    whole key (an argsort of those few)."""
    bits = max(1, (len(keys) - 1).bit_length())
    if bits > 40:  # too few high bits left to sort by: the plain way
        order = np.argsort(keys)
        return keys[order], order
    low = np.uint64((1 << bits) - 1)
    packed = (keys & ~low) | np.arange(len(keys), dtype=np.uint64)
    packed.sort()
    order = (packed & low).astype(np.int64)
    ordered = keys[order]
    same_high = (packed[1:] & ~low) == (packed[:-1] & ~low)
    mixed = same_high & (ordered[1:] != ordered[:-1])
    if mixed.any():
        stretch = np.cumsum(np.r_[True, ~same_high]) - 1  # number of each high-bits stretch
        bad = np.zeros(int(stretch[-1]) + 1, dtype=bool)
        bad[stretch[1:][mixed]] = True
        at = np.flatnonzero(bad[stretch])  # whole stretches, in order: sorting them keeps them apart
        rows = order[at]
        order[at] = rows[np.argsort(keys[rows], kind="stable")]
        ordered = keys[order]
    return ordered, order


def _pairs_in_runs(order: np.ndarray, run_start: np.ndarray, run_len: np.ndarray, star_above: int,
                   judge: Optional[Judge]) -> tuple[np.ndarray, int]:
    """Pairs of members within each run ``order[start:start+len]``, vectorized (stars,
    :func:`dedup.crowded.star_pairs`, in a run of more than ``star_above``), and how
    many members are left unsettled."""
    small = run_len <= star_above
    out = [np.zeros((0, 2), np.int64)]
    unsettled = 0
    if small.any():
        starts, lens = run_start[small], run_len[small]
        # Member q of a run of length L pairs with members q+1 .. L-1.
        member_pos = ranges(starts, lens)
        member_q = member_pos - np.repeat(starts, lens)
        partners = np.repeat(lens, lens) - 1 - member_q
        left = np.repeat(member_pos, partners)
        right = left + 1 + (np.arange(len(left)) - np.repeat(np.cumsum(partners) - partners, partners))
        out.append(np.stack([order[left], order[right]], axis=1))
    if (~small).any():
        pairs, unsettled = crowded.star_pairs(order[ranges(run_start[~small], run_len[~small])], run_len[~small],
                                              judge)
        out.extend(pairs)
    return np.concatenate(out), unsettled
