"""Crowded LSH buckets: candidate pairs in linear work, without losing a cluster.

A band bucket of more than :data:`dedup.lsh.MAX_BUCKET_PAIRS` members is *crowded*:
masses of distinct near-identical records, or of short texts over few distinct
shingles, put thousands of texts in one bucket, where all-pairs would make millions of
candidates.  Such a bucket is paired in rounds (:func:`star_pairs`), a method of leader
clustering (J. A. Hartigan, *Clustering Algorithms*, Wiley 1975, ch. 3, "the leader
algorithm") used as the candidate step of LSH:

1. its smallest member still *open* (not yet a centre, nor near one) becomes a
   *centre*, and is judged against every other member by their MinHash estimate
   (:class:`Judge`); the open members *near* it (an estimate surely at the threshold)
   are closed into its *cluster*;
2. the next round does the same around the next open member, up to
   :data:`STAR_ROUNDS` centres, or until no member is open;
3. each member still open is then judged against every other member -- *settled* --
   when that is at most :data:`OPEN_PAIRS` pairs; else they are left *unsettled*
   (compared with the centres only; counted, and the scan warns past 1 % of a
   level's keys, :data:`dedup.plan.job.UNSETTLED_SHARE`).

Which judged pairs become candidates: a pair with an open member when its estimate is
*plausible* (at or above the verification's floor, so verification would read it); a
pair of a member ``a`` with a cluster (a centre and the members it closed) through one
*near* member of that cluster if there is one -- ``a`` then surely joins the cluster's
group, and more pairs could add nothing to it -- else every plausible pair with it.

Bounds: a bucket of ``m`` members is judged at most ``STAR_ROUNDS * (m - 1) +
OPEN_PAIRS`` times (a crowded row at most 8 times in the rounds, and ~64 in the
settling at worst, at ``m`` ~ 128); only plausible pairs are written.

What it loses against all-pairs (with ``near`` at 4 standard errors above the threshold,
a closed member's true Jaccard is under it with probability ~3e-5): the *groups* are
those all-pairs finds, but for (a) a chain ``c1 ~ x ~ y ~ c2`` of two members closed
into different clusters that are near each other while neither is near the other's
centre nor any member of its cluster near ``x`` or ``y``, and (b) the members of
unsettled buckets.  Pairs of two members of one cluster are not candidates: they share
its group anyway (``--all-pairs`` pairs buckets whole up to
:data:`dedup.lsh.ALL_PAIRS_BUCKET` members, to report them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np

from .segments import offsets_from_counts, ranges, sorted_unique

#: Centres a crowded bucket gets at most: a member is judged against at most this many
#: in the rounds, so a crowded row costs at most 8 estimates there -- the 7.5 pairs a
#: row of an all-pairs bucket of 16 makes.
STAR_ROUNDS = 8
#: Pairs a bucket is settled with at most (its open members, each judged against every
#: other member): a bucket of up to 128 members settles whole.  Why 128: prose needs
#: up to ~2,060 (eval-dev: a bucket of 50 with 42 members open after the rounds), and
#: each doubling costs CPU where buckets are crowded by chance -- 40,000 one-liners of
#: 8 one-letter words (``tests/textgen.one_line_paragraphs``), scan CPU against the
#: one-star bound of session 16: 1.8x at 2,080, 2.3x at 8,128, 3.2x at 32,640, while
#: the co-grouped pairs of the all-pairs scan (bound 256) it misses fall from 16 % to
#: 6.3 %, 4.3 % and ~0.
OPEN_PAIRS = 128 * 127 // 2
#: Pairs judged at once when buckets are settled (a few arrays of 8 bytes each).
OPEN_BATCH = 1 << 20


@dataclass
class Crowding:
    """The crowded buckets met (:func:`dedup.lsh.bucket_pairs`): how many, the rows
    (band keys) in them, the largest's members, and ``unsettled``: members left open
    in buckets too large to settle (each compared with its bucket's centres only).
    Added up over partitions and splits (every bucket is whole in one)."""

    buckets: int = 0
    rows: int = 0
    largest: int = 0
    unsettled: int = 0

    def __add__(self, other: "Crowding") -> "Crowding":
        return Crowding(self.buckets + other.buckets, self.rows + other.rows, max(self.largest, other.largest),
                        self.unsettled + other.unsettled)


class Judge(Protocol):
    """Judges pairs of items ``(a[i], b[i])`` (int64 arrays of one length): returns
    ``(near, plausible)``, one bool each per pair -- ``near``: surely at the threshold;
    ``plausible``: verification would not drop the pair unread (its estimate floor).
    ``near`` implies ``plausible``.  ``among(items)`` (sorted, distinct) is called
    first with every item the pairs asked next will hold."""

    def among(self, items: np.ndarray) -> None: ...

    def __call__(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def star_pairs(members: np.ndarray, lens: np.ndarray, judge: Optional[Judge]) -> tuple[list[np.ndarray], int]:
    """The candidate pairs (``(k, 2)`` int64 arrays, in any orientation and with
    repeats) of crowded buckets -- ``members``: their items, bucket after bucket, of
    ``lens`` members each -- as the module doc says, every bucket's round at once; and
    how many members are left unsettled.  Without a judge no member is closed and none
    settled: the first :data:`STAR_ROUNDS` members are centres, paired with every other."""
    out = []
    if judge is not None:
        judge.among(sorted_unique(members))
    cluster = np.full(len(members), -1, np.int64)  # the centre a member is closed to (a centre: itself)
    done = np.iinfo(np.int64).max
    for _ in range(STAR_ROUNDS):
        starts = offsets_from_counts(lens)[:-1]
        centre_of = np.repeat(np.minimum.reduceat(np.where(cluster < 0, members, done), starts), lens)
        spoke = members != centre_of
        if judge is None:
            out.append(np.stack([centre_of[spoke], members[spoke]], axis=1))
        else:
            bucket = np.repeat(np.arange(len(lens)), lens)
            pairs, near = _judged(bucket[spoke], centre_of[spoke], members[spoke], cluster[spoke], judge)
            out.append(pairs)
            closing = np.flatnonzero(spoke)[near & (cluster[spoke] < 0)]
            cluster[closing] = centre_of[closing]
        cluster[~spoke] = centre_of[~spoke]
        live = np.add.reduceat(cluster < 0, starts) > 0  # buckets with an open member go on
        if not live.any():
            return out, 0
        keep = np.repeat(live, lens)
        members, cluster, lens = members[keep], cluster[keep], lens[live]
    opened = np.add.reduceat(cluster < 0, offsets_from_counts(lens)[:-1])
    if judge is None:
        return out, int(opened.sum())
    fits = opened * (lens - 1) <= OPEN_PAIRS
    unsettled = int(opened[~fits].sum())
    keep = np.repeat(fits, lens)
    members, cluster, lens, opened = members[keep], cluster[keep], lens[fits], opened[fits]
    # Buckets a batch at a time, at most OPEN_BATCH pairs judged (plus one bucket) each.
    asked = np.cumsum(opened * lens)
    cut = np.searchsorted(asked, np.arange(1, 1 + int(asked[-1] if len(asked) else 0) // OPEN_BATCH) * OPEN_BATCH)
    bounds = offsets_from_counts(lens)
    for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(lens)]):
        if hi > lo:
            span = slice(bounds[lo], bounds[hi])
            out.append(_settled(members[span], cluster[span], lens[lo:hi], judge))
    return out, unsettled


def _settled(members: np.ndarray, cluster: np.ndarray, lens: np.ndarray, judge: Judge) -> np.ndarray:
    """The candidate pairs of each open member (``cluster`` < 0) of buckets of
    ``lens`` ``members`` with every other member of its bucket; a pair of two open
    members is judged once."""
    starts = offsets_from_counts(lens)[:-1]
    bucket = np.repeat(np.arange(len(lens)), lens)
    mine = np.flatnonzero(cluster < 0)
    left = np.repeat(mine, lens[bucket[mine]])
    right = ranges(starts[bucket[mine]], lens[bucket[mine]])
    asked = (left != right) & ~((cluster[right] < 0) & (right < left))
    left, right = left[asked], right[asked]
    return _judged(bucket[left], members[left], members[right], cluster[right], judge)[0]


def _judged(bucket: np.ndarray, a: np.ndarray, b: np.ndarray, cluster: np.ndarray, judge: Judge
            ) -> tuple[np.ndarray, np.ndarray]:
    """The candidates among pairs ``(a, b)`` of buckets ``bucket``, ``b`` closed into
    ``cluster`` (-1: open), as the module doc says, and which pairs are near.  Each
    decision is the bucket's own and picks pairs by item number, never by position: the
    same candidates however the rows are ordered or the buckets are batched (so for any
    number of partitions and splits)."""
    near, plausible = judge(a, b)
    take = plausible & (cluster < 0)
    closed = np.flatnonzero(cluster >= 0)
    if len(closed):
        # Per (bucket, a, cluster): the near pair of the smallest b, or else every plausible one.
        order = closed[np.lexsort((b[closed], ~near[closed], cluster[closed], a[closed], bucket[closed]))]
        first = np.r_[True, (a[order][1:] != a[order][:-1]) | (cluster[order][1:] != cluster[order][:-1])
                      | (bucket[order][1:] != bucket[order][:-1])]
        group = np.cumsum(first) - 1
        linked = near[order][first][group]  # the group has a near pair (sorted first)
        take[order] = np.where(linked, first, plausible[order])
    return np.stack([a[take], b[take]], axis=1), near
