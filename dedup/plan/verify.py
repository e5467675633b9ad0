"""Stage 5, verify: one range of candidate pairs -> the pairs at or above the threshold.

A pair range holds the candidates whose first item falls in one range of item numbers
(:meth:`LevelPlan.range_of`), from every band partition; their repeats are folded here.
Then, a chunk of pairs at a time (which bounds memory whatever the range's size):

0. a pair whose items the link step has already put in one group is skipped when only
   the pairs that link groups are reported: it could change nothing
   (:mod:`dedup.plan.link` publishes its groups as it goes, in the ``joined`` file,
   after each completed round; it drops such a pair anyway, so what is reported does
   not depend on how far the link step had got);
1. the MinHash estimate of each pair, from both signatures; a pair below the estimate
   floor (:func:`dedup.minhash.floor`: 4 standard errors under the threshold, a true
   pair at the threshold is lost with probability ~3e-5) is dropped unread.  With
   containment on, a pair's floor is taken at the lowest Jaccard a pair of its set
   sizes contained at the containment threshold can have, if that is lower and the
   sizes are within the ratio searched (:func:`dedup.containment.lowest_jaccard`, the
   index's floor too);
2. the survivors' exact Jaccard and containments (:func:`dedup.verify.score_pairs`) on
   their shingle sets, which signing stored sorted: verifying is a merge of two sorted
   runs per pair, not a sort.  A pair is kept when its Jaccard reaches the threshold
   (near-duplicate) or its smaller side is at least the containment threshold inside
   the larger and covered (``contained``): below the threshold, or one-sided above it
   (a long quote, :func:`dedup.containment.relations`).

Writes, for the pairs whose Jaccard reaches the threshold, sorted by ``(a, b)``:
``a``, ``b`` (item numbers), ``position`` (the pair's number among the range's
candidates: what :mod:`dedup.plan.link` cuts rounds by),
``jaccard``, ``containment_a``, ``containment_b``, ``estimate`` and ``contained``.
"""

from __future__ import annotations

import numpy as np

from ..containment import relations
from ..minhash import estimate_pairs
from ..segments import SetTable, offsets_from_counts, ranges, sorted_unique, take_sets
from ..shingle import Shingles
from ..verify import COVERAGE, coverage, pooled_coverage, score_pairs
from . import frames, quoted
from .items import LevelPlan, forget_removed
from .candidates import pair_floor, range_codes
from .scratch import load, save

#: Pairs per chunk: two signatures of 256 permutations each are 2 KB a pair, so a
#: chunk's gathered signatures stay under ~35 MB.
CHUNK = 1 << 14
COLUMNS = ("a", "b", "position", "jaccard", "containment_a", "containment_b", "estimate", "contained")


def verify_range(plan: LevelPlan, pair_range: int) -> int:
    """Verify pair range ``pair_range``; returns how many candidates it has."""
    forget_removed()
    code = range_codes(plan, pair_range)
    s = plan.settings
    joined = published_groups(plan)
    found: list[tuple[np.ndarray, ...]] = []
    for lo in range(0, len(code), CHUNK):
        a, b = np.divmod(code[lo : lo + CHUNK], plan.items)
        position = lo + np.arange(len(a))
        if joined is not None:
            apart = joined[a] != joined[b]  # one group already: skipped
            a, b, position = a[apart], b[apart], position[apart]
            if not len(a):
                continue
        involved, local = sorted_unique(np.concatenate([a, b]), return_inverse=True)
        side_a, side_b = local[: len(a)], local[len(a) :]
        sigs = plan.rows(involved, "sigs")
        est = estimate_pairs(sigs, side_a, side_b)
        del sigs
        sizes = np.maximum(plan.rows(involved, "sizes"), 1) if s.containment else None
        plausible = est >= pair_floor(plan, sizes, side_a, side_b)
        a, b, est, position = a[plausible], b[plausible], est[plausible], position[plausible]
        if not len(a):
            continue
        involved, local = sorted_unique(np.concatenate([a, b]), return_inverse=True)
        table = SetTable(*plan.segments(involved))
        scores = score_pairs(table, local.reshape(2, -1).T)
        if plan.level == "document":  # pages in one frame are scored without it (:mod:`.frames`)
            scores = frames.rescored(plan, a, b, scores)
        near, inside = relations(scores.jaccard, scores.containment_a, scores.containment_b, plan.threshold,
                                 s.containment)
        if inside.any():
            inside[inside] = _coverage(plan, involved, table, local.reshape(2, -1).T[inside],
                                       scores.containment_a[inside] >= scores.containment_b[inside]) >= COVERAGE
        near &= ~inside
        if plan.level == "document":  # sharing quotes only: no document pair (:mod:`.quoted`)
            near &= ~quoted.quotes_only(plan, a, b, scores, near, _coverage)
        keep = near | inside
        found.append((a[keep], b[keep], position[keep], scores.jaccard[keep], scores.containment_a[keep],
                      scores.containment_b[keep], est[keep], inside[keep]))
    for i, name in enumerate(COLUMNS):
        empty = np.zeros(0, bool if name == "contained" else np.float64 if i > 2 else np.int64)
        column = np.concatenate([f[i] for f in found]) if found else empty
        save(plan.scratch.verified(plan.level, pair_range, name), column)
    return len(code)


def published_groups(plan: LevelPlan):
    """The groups the link step has published so far (one number per item, shared
    memory-mapped: it grows as this task runs), or None when it publishes none."""
    path = plan.scratch.joined(plan.level)
    return load(path, mmap=True) if path.exists() else None


def _coverage(plan: LevelPlan, involved: np.ndarray, table: SetTable, pairs: np.ndarray,
              a_inside: np.ndarray) -> np.ndarray:
    """:func:`dedup.verify.coverage` of pairs ``pairs`` (rows into ``involved`` and
    ``table``, their items and shingle sets): of side a in side b where ``a_inside``,
    else of b in a.  The inside side's shingles in order and its words' widths are read
    from its shard's paragraph files (:mod:`.sign`); a document's are its paragraphs'
    but its boilerplate (left out of its set too), each paragraph covered by the other
    document's whole set, its covered words summed."""
    short = np.where(a_inside, pairs[:, 0], pairs[:, 1])
    long = np.where(a_inside, pairs[:, 1], pairs[:, 0])
    items, which = sorted_unique(involved[short], return_inverse=True)
    if plan.level == "paragraph":
        return coverage(_ordered(plan, items).take(which), take_sets(table, long))
    para = frames.paragraph_plan(plan)
    first, count = frames.paragraphs_of(plan, para, items)
    gids = ranges(first, count)
    kept = ~para.rows(gids, "common").astype(bool)
    gids, count = gids[kept], np.bincount(np.repeat(np.arange(len(items)), count)[kept], minlength=len(items))
    texts = _ordered(para, gids)
    # Each pair's short document as its paragraphs, each against the long one's set.
    at = offsets_from_counts(count)[:-1]
    mine = ranges(at[which], count[which])
    owner = np.repeat(np.arange(len(pairs)), count[which])
    return pooled_coverage(texts.take(mine), take_sets(table, long[owner]), owner, len(pairs))


def _ordered(plan: LevelPlan, items: np.ndarray) -> Shingles:
    """The shingles in order, with their words' widths, of paragraph items ``items``
    (ascending) of the paragraph level ``plan``."""
    hashes, offsets = plan.segments(items, "hashes", "hash_offsets")
    widths, unit_offsets = plan.segments(items, "widths", "unit_offsets")
    return Shingles(hashes, offsets, np.diff(unit_offsets), widths.astype(np.uint8, copy=False))
