"""The containment prefilter: drop the candidates whose MinHash signatures agree in too few
positions for a pair at the containment threshold, before the exact verification.

Two looks (:func:`plausible`): the low byte of the leading positions, then the low 16
bits of all of them, each against the lower binomial quantile of what a pair contained
just at the threshold shows (:func:`least_matches`).  The scan reads each look's
columns itself (:mod:`dedup.plan.candidates`); the index calls :func:`plausible`.
"""

from __future__ import annotations

import numpy as np

from ..binomial import lower_quantile
from .ratios import min_jaccard

#: See :func:`plausible`.
SIGMAS = 4.0
#: Leading positions of :func:`plausible`'s first look.
_FIRST_LOOK = 128


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
