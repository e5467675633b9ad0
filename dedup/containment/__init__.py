"""Containment candidates: find a short text inside a longer one, which Jaccard banding misses.

Why a second candidate stage: a 40-word quote inside a 200-word paragraph has a
containment of 1.0 (every shingle of the quote is in the paragraph) but a Jaccard of
only ~0.2, and LSH bands tuned for Jaccard 0.3 catch it about one time in four.  In
general a set Q contained to a share ``t`` in a set X of ``k`` times its size has

    J(Q, X) = t |Q| / (|X| + |Q| - t |Q|) = t / (k + 1 - t)

so the larger the size ratio ``k``, the lower the Jaccard that banding must catch.

How (after LSH Ensemble, Zhu, Nargesian, Pu, Miller, "LSH Ensemble: Internet-Scale
Domain Search", VLDB 2016, and datasketch's ``MinHashLSHEnsemble``, which band each
size partition for the Jaccard its worst case has): at the low Jaccard of a pair far
apart in size only single-row bands catch it within 256 permutations, so a bucket is
one MinHash value at one position, and each size ratio gets its own depth -- the
fewest leading positions ``D`` that catch a pair contained just at ``t`` with
probability ``target``.  The ordinary Jaccard bands' candidates are verified too, so
a pair close in size needs fewer: a pair is missed by both with probability
``(1-J)^D (1-J^r)^(b - ceil(D/r))`` (:func:`joint_miss`), and ``D`` is cut to where
that is at most a tenth of the search's own ``1 - target`` (:data:`JOINT_SHARE`; at
containment 0.7 beside the default 49 x 2: none at 1:1.5 instead of 10, 7 at 1:2
instead of 13, the same from ~1:2.6 on); ratios the Jaccard bands alone catch that
often are left to them.  Every item writes the
positions the largest ratio needs; a pair is made only in the buckets of positions
its own ratio needs (:func:`bucket_pairs`).

What it costs, and the one approximation: size ratios beyond ``max_ratio`` are not
searched (:data:`MAX_RATIO`; at 1:20 and ``t`` = 0.8 the Jaccard is 0.04 and only
single-row bands find it).  Single-row bands are single MinHash values, and a value
shared by many texts is a common shingle ("of the"), which says nothing about
containment; a bucket with more than :data:`MAX_BUCKET` members is therefore skipped.
That costs recall on real prose: about a fifth of the values a contained pair shares
are common ones, and a pair whose only shared values are common is missed (the
benchmark corpus's 1:6-1:10 quotes: 0.97-0.99 found where the S-curve says 0.999;
benchmarks/README-containment.md).  A larger cap finds them at several times the
candidates.
Every candidate is verified exactly afterwards (:mod:`dedup.verify`), so a loose
candidate stage costs time, never precision.

All functions are vectorized over a whole batch: ``(signatures, sizes) -> pairs``.
The modules, by concern (their public names are this package's, as callers use them):
:mod:`.relation` (a verified pair's relation, the rule the scan, ``clean`` and the index
share), :mod:`.ratios` (how many positions each size ratio needs), :mod:`.buckets` (pairs
from shared single-value buckets) and :mod:`.prefilter` (the looks before verification).
"""

from .buckets import MAX_BUCKET, SIZE_CAP, bucket_keys, bucket_pairs, candidate_pairs
from .ratios import (JOINT_SHARE, MAX_RATIO, TARGET, depth, joint_miss, least_ratio, lowest_jaccard, lowest_ratio,
                    min_jaccard, search_positions)
from .prefilter import SIGMAS, first_look, head_bytes, least_matches, look_needs, looked, low_bits, plausible
from .relation import HELD_BY, held, one_sided_below, relations

__all__ = ["HELD_BY", "JOINT_SHARE", "MAX_BUCKET", "MAX_RATIO", "SIGMAS", "SIZE_CAP", "TARGET",
           "bucket_keys", "bucket_pairs", "candidate_pairs", "depth", "first_look", "head_bytes", "held",
           "joint_miss", "least_matches", "least_ratio", "look_needs", "looked", "low_bits", "lowest_jaccard",
           "lowest_ratio", "min_jaccard", "one_sided_below", "plausible", "relations", "search_positions"]
