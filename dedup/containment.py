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
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .binomial import lower_quantile
from .segments import offsets_from_counts, ranges

#: Largest size ratio (larger / smaller text) searched for containment.
MAX_RATIO = 12.0
#: MinHash positions put through one sort (memory: 16 bytes per text and position).
_POSITIONS_PER_SORT = 16
#: Chance of catching a pair exactly at the containment threshold in the worst case
#: of its class pair (larger texts, smaller ratios and higher containment: more).
TARGET = 0.99
#: Buckets with more members than this hold a common shingle and are skipped.
MAX_BUCKET = 64
#: Partners :func:`bucket_pairs` looks at in one go (~40 bytes each): pairs are made and
#: judged a slice of rows at a time, so its memory does not grow with the pairs, which
#: grow with the corpus (more texts share a value at a position, up to MAX_BUCKET).
PAIRS_AT_ONCE = 1 << 20
#: See :func:`plausible`.
SIGMAS = 4.0
#: Leading positions of :func:`plausible`'s first look.
_FIRST_LOOK = 128
#: Set sizes are capped at this in bucket sorting (they share an int64 with the bucket) and in
#: the scan's containment rows (they share a uint64 with the item, :mod:`dedup.plan.band`).
SIZE_CAP = (1 << 32) - 1


def one_sided_below(threshold: float) -> float:
    """The containment of a pair's *larger* side below which the pair is one-sided:
    ``min(2 t / (1 + t), 1/2)`` for the Jaccard threshold ``t`` (0.46 at 0.3; 1/2 from
    ``t`` = 1/3 on).

    Why: with ``I`` shingles shared, ``c_S = I/|S|`` and ``c_L = I/|L|`` (smaller and
    larger set), ``J = 1 / (1/c_S + 1/c_L - 1)``.  Two texts of one size at the threshold
    hold ``2t/(1+t)`` of each other, the least a near-duplicate pair of equal sides
    holds.  For a quote, ``c_S`` is ~1 and then ``J ~ c_L``: the Jaccard is just the
    quote's share of the text around it, so ``J >= t`` says how long the quote is, not
    that the two texts are copies (session 17's N8: a 191-character quote, 37 % of the
    paragraph reading it out, made that paragraph a near-duplicate).  A pair whose
    larger side holds less of the smaller than equal sides at the threshold do is
    therefore not a near-duplicate when its smaller side is contained
    (:func:`relations`) -- and only while the shared text is the lesser part of the
    larger side (``c_L`` under 1/2): a quote is a minority of the text around it,
    while a copy with a few sentences added is mostly the copy, at any threshold
    (tester F10 / review R8 of s18: at ``t`` 0.8, ``2t/(1+t)`` is 0.89, and a copy
    with 13 % appended, J 0.87, left the groups)."""
    return min(2.0 * threshold / (1.0 + threshold), 0.5)


def relations(jaccard: np.ndarray, containment_a: np.ndarray, containment_b: np.ndarray, threshold: float,
              containment: float) -> tuple[np.ndarray, np.ndarray]:
    """The one rule of the scan and the index for a verified pair's relation, before
    coverage: ``(near, inside)``, bool arrays, one entry per pair.  ``near``: Jaccard at
    or above ``threshold``; ``inside``: the pair is ``contained`` if its smaller side's
    words are also covered (:func:`dedup.verify.coverage` at
    :data:`~dedup.verify.COVERAGE`; the caller tests it on these pairs only) -- its
    smaller side at least ``containment`` inside the larger (the larger containment is
    the smaller set's) and its Jaccard below ``threshold`` *or* the pair one-sided (the
    larger side's containment below :func:`one_sided_below`), whatever its Jaccard.
    A caller then takes ``near &= ~inside`` once coverage is known: a pair is
    ``contained`` or ``near-duplicate``, never both.  With ``containment`` 0 (off)
    nothing is inside and every pair at the threshold is near."""
    near = np.asarray(jaccard) >= threshold
    if not containment:
        return near, np.zeros(near.shape, bool)
    inner = np.maximum(containment_a, containment_b)
    outer = np.minimum(containment_a, containment_b)
    return near, (inner >= containment) & (~near | (outer < one_sided_below(threshold)))


#: See :func:`held`: the holder's unshared shingles are at least this many times the held side's.
HELD_BY = 2.0


def held(containment_a: np.ndarray, containment_b: np.ndarray, containment: float) -> tuple[np.ndarray, np.ndarray]:
    """``(a_held, b_held)``, bool arrays, one entry per pair: whether side ``a`` (``b``)
    is held (almost) whole by the other -- the other *holds* it.  A side is held when
    it is inside the other (its containment at least ``containment``; nothing is held
    with containment off, 0) and the pair's difference is mostly text the other side
    adds: of the shingles the two do not share, the other side has at least
    :data:`HELD_BY` times as many (``|B - A| >= 2 |A - B|``; with ``I`` shared,
    ``|A - B| = I (1/c_a - 1)``).  A quote and the paragraph reading it out, or a copy
    and the copy with a sentence appended, are so; two rewrites of one text, whose
    edits change about as much on each side, are not, whatever their sizes.

    The rule it serves, for any pair one side of which holds the other, near-duplicate
    or ``contained`` (:func:`relations`): the held side is the *source*.  It is the
    pair's canonical side at the paragraph level (:mod:`dedup.plan.link`), so ``dedup
    clean`` never cuts a source for the text quoting it; and of the holder only the
    held part is seen text -- clean does not cut it either (:mod:`dedup.clean.decide`),
    and the index's seen share counts a holder paragraph by its containment in the
    stored one (:mod:`dedup.index.judge`), not whole, and its strip keeps it."""
    a, b = np.asarray(containment_a, dtype=float), np.asarray(containment_b, dtype=float)
    if not containment:
        return np.zeros(a.shape, bool), np.zeros(b.shape, bool)
    with np.errstate(divide="ignore"):
        rest_a, rest_b = 1.0 / a - 1.0, 1.0 / b - 1.0  # each side's unshared shingles per shared one
    return ((a >= containment) & (a > b) & (rest_b >= HELD_BY * rest_a),
            (b >= containment) & (b > a) & (rest_a >= HELD_BY * rest_b))


def min_jaccard(containment: float, ratio: float | np.ndarray) -> np.ndarray:
    """Jaccard of a set contained to ``containment`` in a set ``ratio`` times its size."""
    return containment / (np.asarray(ratio, dtype=float) + 1.0 - containment)


def lowest_jaccard(threshold: float, containment: float, size_a: np.ndarray, size_b: np.ndarray,
                   max_ratio: float = MAX_RATIO) -> np.ndarray:
    """The lowest Jaccard a pair of set sizes ``size_a``, ``size_b`` (arrays, one per
    pair) can have and still be reported, where both the scan's verification and the
    index's containment look-up put their estimate floor: ``threshold``, or, with
    containment on (``containment`` > 0) and the size ratio at most ``max_ratio``,
    :func:`min_jaccard` of a pair contained just at ``containment`` if that is lower.
    Beyond ``max_ratio`` a pair is not searched for containment, so it is a pair only
    at the Jaccard threshold -- in the scan too, where a chance Jaccard band could
    bring one (tester F4 of session 16: a 1:12.25 pair reported by the scan, never by
    the index).  The index's containment look-up passes ``threshold`` 1 (its Jaccard
    look-up floors at the threshold itself): a pair beyond ``max_ratio`` then has a
    floor no estimate of it reaches (its Jaccard is at most ``1 / max_ratio``)."""
    size_a, size_b = np.asarray(size_a), np.asarray(size_b)
    ratio = np.maximum(size_a, size_b) / np.maximum(np.minimum(size_a, size_b), 1)
    lowest = np.full(ratio.shape, float(threshold))
    if containment:
        within = ratio <= max_ratio
        lowest[within] = np.minimum(threshold, min_jaccard(containment, ratio[within]))
    return lowest


def depth(containment: float, ratio: np.ndarray, target: float = TARGET,
          covered: tuple[int, int] | None = None) -> np.ndarray:
    """MinHash positions to search for a pair of size ratio ``ratio`` (larger/smaller):
    enough single-value bands that a pair at the containment threshold shares one of
    them with probability ``target``: ``ceil(log(1-target) / log(1-J_min))``.

    With ``covered`` (the Jaccard banding's ``(bands, rows)``, whose candidates are
    verified too), no more than that, and no more than the fewest positions for which
    the pair is missed by both with probability at most :data:`JOINT_SHARE` of
    ``1 - target`` (:func:`joint_miss`): a pair close in size is caught by the Jaccard
    bands often enough that it needs fewer single values (containment 0.7 beside
    49 x 2: none at 1:1.5 instead of 10, 7 at 1:2 instead of 13, the same from ~1:2.6
    on)."""
    alone = _alone_depth(containment, ratio, target)
    if covered is None:
        return alone
    joint = np.searchsorted(-_joint_jaccard(_joint_target(target), *covered), -min_jaccard(containment, ratio))
    return np.minimum(alone, joint).astype(np.int64)


#: Beside the Jaccard bands, the two together may miss a pair at the threshold at most
#: this share of what the containment search alone may (``1 - TARGET``): a tenth, so
#: that a pair close in size, which the bands catch almost always, is searched less
#: without being missed noticeably more often than by the search alone.
JOINT_SHARE = 0.1


def _joint_target(target: float) -> float:
    return 1.0 - JOINT_SHARE * (1.0 - target)


def _alone_depth(containment: float, ratio: np.ndarray, target: float) -> np.ndarray:
    jaccard = np.minimum(min_jaccard(containment, ratio), 1.0 - 1e-12)
    return np.ceil(math.log(1.0 - target) / np.log1p(-jaccard)).astype(np.int64)


def joint_miss(jaccard: np.ndarray, positions: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Chance that a pair of Jaccard ``jaccard`` shares none of the first ``positions``
    MinHash values and no band of the Jaccard banding ``(bands, rows)`` (band ``i`` is
    positions ``i*rows .. i*rows + rows - 1``, :func:`dedup.lsh.band_keys`):
    ``(1-J)^D (1-J^rows)^(bands - ceil(D/rows))``.  Given no single value shared, every
    band touching the first ``D`` positions is missed too; the others are independent
    of them (MinHash positions are independent permutations)."""
    jaccard, positions = np.asarray(jaccard, dtype=float), np.asarray(positions, dtype=float)
    untouched = np.maximum(bands - np.ceil(positions / rows), 0.0)
    return (1.0 - jaccard) ** positions * (1.0 - jaccard**rows) ** untouched


@functools.lru_cache(maxsize=16)
def _joint_jaccard(target: float, bands: int, rows: int, positions: int = 1024) -> np.ndarray:
    """Per ``D = 0 .. positions - 1``: the Jaccard ``J*`` at which :func:`joint_miss` is
    exactly ``1 - target`` (by bisection; decreasing in ``D``).  A pair of Jaccard ``J``
    needs more than ``D`` positions exactly when ``J < J*[D]``."""
    d = np.arange(positions, dtype=float)
    lo, hi = np.zeros(positions), np.ones(positions)
    for _ in range(64):  # joint_miss decreases in J: keep hi on the caught side
        mid = 0.5 * (lo + hi)
        caught = joint_miss(mid, d, bands, rows) <= 1.0 - target
        hi, lo = np.where(caught, mid, hi), np.where(caught, lo, mid)
    hi.setflags(write=False)
    return hi


def lowest_ratio(containment: float, covered: tuple[int, int] | None, max_ratio: float,
                 target: float = TARGET) -> float:
    """The size ratio from which the Jaccard banding ``covered`` (``(bands, rows)``) no
    longer catches a pair at the containment threshold with probability ``target``
    (``depth`` 0 below it); at most ``max_ratio``, 1 without ``covered``."""
    if covered is None:
        return 1.0
    return float(min(least_ratio(containment, np.array([0]), target, covered)[0], max_ratio))


def candidate_pairs(
    signatures: np.ndarray,
    sizes: np.ndarray,
    containment: float,
    *,
    covered: tuple[int, int] | None = None,
    max_ratio: float = MAX_RATIO,
    target: float = TARGET,
) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of texts whose smaller one may be contained to at
    least ``containment`` in the larger, as a sorted ``(m, 2)`` int64 array.

    ``signatures``: ``(n, num_perm)`` uint32 MinHash signatures; ``sizes``: ``(n,)``
    set sizes (distinct shingles: the Jaccard of a contained pair follows from them).  Pairs whose sizes differ by more than ``max_ratio`` are not searched, nor
    those the Jaccard banding ``covered`` (its ``(bands, rows)``) already catches (see
    :func:`lowest_ratio`).  Raises ``ValueError`` for a containment outside (0, 1].
    """
    if not 0.0 < containment <= 1.0:
        raise ValueError(f"containment must be in (0, 1], not {containment}")
    n = len(signatures)
    low = lowest_ratio(containment, covered, max_ratio, target)
    if n < 2 or low >= max_ratio:
        return np.zeros((0, 2), np.int64)
    sizes = np.maximum(np.asarray(sizes, dtype=np.int64), 1)
    found: list[np.ndarray] = []
    for lo in range(0, search_positions(containment, signatures.shape[1], max_ratio, target), _POSITIONS_PER_SORT):
        # One sort for a block of positions.
        keys = bucket_keys(signatures, lo, lo + _POSITIONS_PER_SORT)
        width = keys.shape[1]
        found.append(bucket_pairs(keys.ravel(), np.repeat(np.arange(n), width), np.repeat(sizes, width),
                                  containment, covered=covered, max_ratio=max_ratio, target=target))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    code = pairs[:, 0] * n + pairs[:, 1]
    code.sort()
    code = code[np.r_[True, code[1:] != code[:-1]]] if len(code) else code
    return plausible(signatures, sizes, np.stack([code // n, code % n], axis=1), containment)


def plausible(signatures: np.ndarray, sizes: np.ndarray, pairs: np.ndarray, containment: float,
              chunk: int = 1 << 16) -> np.ndarray:
    """The ``pairs`` whose MinHash signatures agree in enough positions for a pair at
    the containment threshold: at least :func:`least_matches` of ``J_min``, the
    Jaccard such a pair has at its size ratio (a true pair is dropped with probability
    under ``norm.sf(SIGMAS)``, ~3e-5 at 4).  Why: a single shared MinHash value makes a
    candidate, and most such chance pairs share just that one value, far fewer than
    any contained pair; this drops them before the exact (and, for long texts,
    costly) verification.  Positions are compared on their low 16 bits (b-bit MinHash,
    Li and Koenig, WWW 2010): half the bytes to read, and a chance agreement adds a
    position with probability 2^-16, which can only keep a pair, never drop one.
    ``signatures``: ``(n, num_perm)``; ``sizes``: ``(n,)`` set sizes; ``pairs``:
    ``(m, 2)`` rows into them.  The looks are :func:`first_look` and
    :func:`looked`, the numbers they ask :func:`look_needs` (the scan's candidate
    stage reads what each look compares for the items it needs, :mod:`dedup.plan.candidates`).

    Most candidates are chance pairs (on the benchmark corpus: 92 %, sharing ~6 of 256
    positions where a pair at 1:2-1:5 needs 22-54), so a first look on the low byte of
    the :data:`_FIRST_LOOK` leading positions (a quarter of the bytes) drops most of
    them, at the same rule: at least the ``norm.sf(SIGMAS)`` quantile of
    ``B(positions, J + (1 - J) / 256)``, what a pair at ``J`` shows there.  A true pair
    passes both looks but with probability under ``2 norm.sf(SIGMAS)``.  On the
    benchmark corpus's 425,641 candidates: 36,711 kept by one look, 36,683 by both
    (28 chance pairs fewer), in ~0.6x the CPU."""
    keep, go, need = first_look(head_bytes(signatures), sizes, pairs, containment, signatures.shape[1], chunk)
    keep[go] = looked(low_bits(signatures), pairs[go], need[go], chunk)
    return pairs[keep]


def first_look(head: np.ndarray, sizes: np.ndarray, pairs: np.ndarray, containment: float, num_perm: int,
               chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`plausible`'s first look at ``pairs`` (``(m, 2)`` rows into ``head``,
    :func:`head_bytes`, and ``sizes``, their ``(n,)`` set sizes): ``(keep, go, need)``
    -- ``keep``, ``(m,)`` bool, true for the pairs kept unlooked (``need`` at most 1);
    ``go``, the positions (into ``pairs``) of the others that show enough equal low
    bytes, for the second look (:func:`looked` on :func:`low_bits` at ``need[go]``);
    ``need``, ``(m,)`` from :func:`look_needs`."""
    need, need_head = look_needs(sizes[pairs[:, 0]], sizes[pairs[:, 1]], containment, num_perm)
    keep = need <= 1  # a candidate shares one value: no need to look
    check = np.flatnonzero(~keep)
    return keep, check[looked(head, pairs[check], need_head[check], chunk)], need


def look_needs(size_a: np.ndarray, size_b: np.ndarray, containment: float, num_perm: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(need, need_head)`` of :func:`plausible` for pairs of set sizes ``size_a``,
    ``size_b`` (at least 1): the equal positions (of ``num_perm``) its second look
    asks, and the equal low bytes (of the :data:`_FIRST_LOOK` leading positions) its
    first look asks, of a pair contained just at ``containment`` at their size ratio.
    A pair whose ``need`` is at most 1 is kept unlooked (its shared value is enough)."""
    jaccard = min_jaccard(containment, np.maximum(size_a, size_b) / np.minimum(size_a, size_b))
    need = least_matches(jaccard, num_perm)
    # The low byte of a position agrees with probability J + (1 - J) / 256 (values
    # equal, or their low bytes by chance).
    return need, least_matches(jaccard + (1.0 - jaccard) / 256.0, min(_FIRST_LOOK, num_perm))


def head_bytes(signatures: np.ndarray) -> np.ndarray:
    """What :func:`first_look` compares of ``(n, num_perm)`` signatures: the low byte of
    the :data:`_FIRST_LOOK` leading positions, ``(n, min(128, num_perm))`` uint8."""
    return signatures[:, :_FIRST_LOOK].astype(np.uint8)


def low_bits(signatures: np.ndarray) -> np.ndarray:
    """What the second look (:func:`looked`) compares of ``(n, num_perm)`` signatures: the low 16
    bits of every position, ``(n, num_perm)`` uint16."""
    return signatures.astype(np.uint16)


def looked(table: np.ndarray, pairs: np.ndarray, need: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Whether each pair (``(m, 2)`` rows into ``table``) has its two rows equal in at
    least ``need`` (``(m,)``) columns, ``(m,)`` bool: both looks of :func:`plausible`
    (:func:`head_bytes` against ``need_head``, then :func:`low_bits` against ``need``),
    ``chunk`` pairs at a time (rows gathered with ``np.take``, about twice as fast as
    fancy indexing for 2-D rows; equal columns counted as a byte sum)."""
    count = np.uint16 if table.shape[1] < 1 << 16 else np.int64
    out = np.empty(len(pairs), bool)
    for lo in range(0, len(pairs), chunk):
        part = pairs[lo : lo + chunk]
        equal = np.take(table, part[:, 0], axis=0) == np.take(table, part[:, 1], axis=0)
        out[lo : lo + len(part)] = equal.view(np.uint8).sum(axis=1, dtype=count) >= need[lo : lo + chunk]
    return out


def least_matches(jaccard: np.ndarray, num_perm: int) -> np.ndarray:
    """The fewest equal positions of ``num_perm`` a pair of Jaccard ``jaccard`` shows but
    with probability ``norm.sf(SIGMAS)`` (~3e-5 at 4): the lower quantile of the
    binomial ``B(num_perm, J)`` that the number of equal MinHash positions follows
    (:func:`dedup.binomial.lower_quantile`: on a grid of ``J``, rounded down, so never
    stricter than the exact quantile).

    Why not the normal approximation ``J - SIGMAS * sqrt(J (1 - J) / num_perm)`` the
    Jaccard floor uses (:func:`dedup.minhash.floor`): at the low Jaccard of a pair far
    apart in size (0.057 at 1:12 and containment 0.7: 14.6 equal positions expected of
    256) it falls below one position and drops nothing, while the binomial says a
    true pair shows at least two."""
    return lower_quantile(jaccard, num_perm, SIGMAS)


def search_positions(containment: float, num_perm: int, max_ratio: float = MAX_RATIO, target: float = TARGET) -> int:
    """How many leading MinHash positions the search uses (the depth at ``max_ratio``)."""
    return min(int(depth(containment, np.array([max_ratio]), target)[0]), num_perm)


def bucket_keys(signatures: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``(n, hi - lo)`` uint64 bucket keys of positions ``lo .. hi - 1``: the value,
    with its position in the high bits (a bucket is one value at one position)."""
    hi = min(hi, signatures.shape[1])
    keys = signatures[:, lo:hi].astype(np.uint64)
    keys |= np.arange(lo, hi, dtype=np.uint64) << np.uint64(32)
    return keys


def bucket_pairs(
    keys: np.ndarray,
    items: np.ndarray,
    sizes: np.ndarray,
    containment: float,
    *,
    covered: tuple[int, int] | None = None,
    max_ratio: float = MAX_RATIO,
    target: float = TARGET,
) -> np.ndarray:
    """Candidate pairs ``(i, j)``, ``i < j`` (item numbers, with repeats), from flat rows
    of :func:`bucket_keys` (``keys[r]`` of item ``items[r]``, whose size is
    ``sizes[r]``): pairs sharing a bucket of 2 to :data:`MAX_BUCKET` members whose size
    ratio needs that bucket's position (see :func:`candidate_pairs`).  Every bucket
    must be whole in the rows given; rows may come in any order.

    How, without making every pair of a bucket first: the rows of shared buckets are
    sorted by (bucket, size), and each row is paired only with the members of its
    bucket whose size is in the range its position serves -- more than
    :func:`least_ratio` of the position (and more than the ratio the Jaccard bands
    cover) and at most ``max_ratio`` times its own.  Most members of a crowded bucket
    at a deep position are too close in size to need it, so this makes about a
    seventh of the pairs a plain pairing would (benchmarks/README.md).
    """
    low = lowest_ratio(containment, covered, max_ratio, target)
    if len(keys) < 2 or low >= max_ratio:
        return np.zeros((0, 2), np.int64)
    ordered, order = _sorted_rows(keys)
    run_start = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    run_len = np.diff(np.r_[run_start, len(keys)])
    shared = (run_len > 1) & (run_len <= MAX_BUCKET)
    if not shared.any():
        return np.zeros((0, 2), np.int64)
    starts, lens = run_start[shared], run_len[shared]
    position = (ordered[starts] >> np.uint64(32)).astype(np.int64)  # a bucket is at one position
    del ordered
    rows = order[ranges(starts, lens)]
    del order, run_start
    size = np.minimum(np.maximum(np.asarray(sizes)[rows], 1), SIZE_CAP).astype(np.int64)
    # The least ratio each position serves, once per position (a table, not per row).
    least_of = least_ratio(containment, np.arange(int(position.max()) + 1), target, covered)
    least = np.maximum(least_of, low)[position] * (1.0 - 1e-9)
    # A bucket whose largest member is under its smallest member's least partner size
    # makes no pair (most of them: two thirds of the shared rows on the benchmark corpus):
    # left out before sorting by size.
    at = offsets_from_counts(lens)[:-1]
    useful = np.floor(np.minimum.reduceat(size, at) * least) <= np.maximum.reduceat(size, at)
    if not useful.any():
        return np.zeros((0, 2), np.int64)
    kept = np.repeat(useful, lens)
    rows, size, lens, position, least = rows[kept], size[kept], lens[useful], position[useful], least[useful]
    # Buckets are numbered in key order, so (bucket, size) sorts by bucket, then size.
    code = (np.repeat(np.arange(len(lens), dtype=np.int64), lens) << 32) | size
    # The codes come sorted by bucket: a stable sort (timsort) orders each run by
    # size in ~0.4x the time of the default quicksort.
    by_size = np.argsort(code, kind="stable")
    code, rows, size = code[by_size], rows[by_size], size[by_size]
    del by_size
    run = code >> 32
    position, least = position[run], least[run]
    # Partner sizes: (low_size, high_size]; slightly wide (float rounding), then exact.
    first = np.searchsorted(code, (run << 32) | np.minimum(np.floor(size * least), SIZE_CAP).astype(np.int64))
    last = np.searchsorted(code, (run << 32) | np.minimum(np.floor(size * max_ratio * (1.0 + 1e-9)),
                                                          SIZE_CAP).astype(np.int64), side="right")
    count = np.maximum(last - first, 0)
    del code, run, least, last

    def judged(lo: int, hi: int) -> np.ndarray:  # the kept pairs of rows lo .. hi - 1, in order
        left = np.repeat(np.arange(lo, hi), count[lo:hi])
        right = ranges(first[lo:hi], count[lo:hi])
        ratio = size[right] / size[left]
        keep = (ratio > low) & (ratio <= max_ratio)
        # ``depth(ratio) > position`` is ``ratio > least_ratio(position)`` but for float
        # rounding at the edge: decided by the table, and by ``depth`` itself near the edge.
        edge = least_of[position[left]]
        near = keep & (np.abs(ratio - edge) <= 1e-9 * edge)
        keep &= ratio > edge
        keep[near] = position[left[near]] < depth(containment, ratio[near], target, covered)
        a, b = items[rows[left[keep]]], items[rows[right[keep]]]
        return np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1).astype(np.int64)

    # A slice of rows at a time, about PAIRS_AT_ONCE partners each (a row's partners are
    # at most MAX_BUCKET - 1): the same pairs in the same order as all rows at once.
    total = np.cumsum(count)
    cuts = np.searchsorted(total, np.arange(1, int(total[-1]) // PAIRS_AT_ONCE + 1) * PAIRS_AT_ONCE, side="right")
    bounds = np.unique(np.r_[0, cuts, len(count)])
    return np.concatenate([judged(lo, hi) for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist())])


def _sorted_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(keys sorted, the row of each)``, i.e. ``keys[argsort(keys)]`` and the argsort.
    A key is a 32-bit value under its position, so while the rows' numbers fit in the
    bits above the highest position they ride along in one plain sort of 64-bit
    integers (several times faster than an argsort); else an argsort."""
    free = 32 - int(keys.max() >> np.uint64(32)).bit_length()
    if len(keys) > 1 << free:
        order = np.argsort(keys)
        return keys[order], order
    packed = (keys << np.uint64(free)) | np.arange(len(keys), dtype=np.uint64)
    packed.sort()
    return packed >> np.uint64(free), (packed & np.uint64((1 << free) - 1)).astype(np.int64)


def least_ratio(containment: float, position: np.ndarray, target: float = TARGET,
                covered: tuple[int, int] | None = None) -> np.ndarray:
    """The size ratio above which a pair needs MinHash position ``position``: the
    inverse of :func:`depth` (``depth(ratio) > position`` exactly when ``ratio >
    least_ratio(position)``; without ``covered``, 1 for position 0, which every pair
    needs).  From ``1 - (1 - J)^p >= target``: ``J < 1 - (1 - target)^(1/p)``, and
    ``J = t / (k + 1 - t)``; with ``covered``, also ``J < J*[p]`` of :func:`joint_miss`
    (:func:`depth` is the smaller of the two, so its inverse is the larger ratio)."""
    p = np.maximum(np.asarray(position, dtype=float), 1.0)
    jaccard = -np.expm1(math.log(1.0 - target) / p)
    alone = np.where(np.asarray(position) < 1, 1.0, np.maximum(containment / jaccard - 1.0 + containment, 1.0))
    if covered is None:
        return alone
    jaccard = _joint_jaccard(_joint_target(target), *covered)[np.asarray(position, dtype=np.int64)]
    return np.maximum(alone, np.maximum(containment / jaccard - 1.0 + containment, 1.0))
