"""A verified pair's relation: ``near-duplicate`` or ``contained``, and which side holds the other.

The one rule the scan, ``dedup clean`` and the index share (:func:`relations`,
:func:`held`), from a pair's exact Jaccard and its two containments
(:mod:`dedup.verify`); how the candidates get there is the rest of
:mod:`dedup.containment`.
"""

from __future__ import annotations

import numpy as np


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
