"""Stage 6, link: verified pairs -> the pairs to report and the groups, streamed.

The verified pairs of every range are read in order -- ranges in order, each sorted by
``(a, b)`` -- so the stream is the global candidate order, whatever the number of
partitions, ranges or processes.  Groups are the connected components of the pairs
(union-find a round of pairs at a time, :func:`dedup.group.merge`); the root of a
component is always its smallest item, i.e. the first in scan order, the group's
canonical member.

Which near-duplicate pairs are reported: with ``all_pairs`` every verified one.
Otherwise the pairs that *link* the groups: the stream is cut into rounds of
:data:`ROUND` candidates (in the global candidate order), and a pair is dropped when
earlier rounds already put its two items in one group.  The groups are the same either
way; forty variants of a templated paragraph give about forty
pairs instead of 780.  The ranges are linked as their verification ends, and the
groups so far are published after each round (the ``joined`` file, a memory-mapped
array of each item's group): the verification of later ranges skips the pairs already
in one group (:mod:`dedup.plan.verify`), which this step would drop.  How far
publishing had got when a range was verified changes what it skipped, never what is
reported.

Exact copies join the group of their first occurrence (:mod:`dedup.plan.exact`);
contained pairs (a quote inside a longer text) link no group: they are not copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from ..containment import held
from ..group import merge
from ..segments import sorted_unique
from .items import LevelPlan
from .scratch import load
from .verify import COLUMNS

#: Candidates per round when only the pairs that link groups are wanted.
ROUND = 1 << 16


@dataclass
class Linked:
    """A level's reported pairs (columns, sorted by ``(a, b)``) and groups (each
    group's canonical member first -- :func:`dedup.containment.held` -- then the others
    in item order: group ``g`` is ``members[offsets[g]:offsets[g + 1]]``)."""

    items: np.ndarray  # every item in a pair, sorted
    a: np.ndarray
    b: np.ndarray
    jaccard: np.ndarray
    containment_a: np.ndarray
    containment_b: np.ndarray
    estimate: np.ndarray
    contained: np.ndarray
    exact: np.ndarray
    members: np.ndarray
    offsets: np.ndarray


def link(plan: LevelPlan, candidates: Iterable[int], all_pairs: bool, common: Optional[np.ndarray] = None,
         joined: Optional[np.ndarray] = None) -> Linked:
    """Read the verified pairs of every range as ``candidates`` yields how many
    candidates range ``r`` had (once the range is verified) and the exact copies;
    returns what to report.  Exact copies of a boilerplate text (key in ``common``,
    sorted) join their group but are no pair.  ``joined`` (writable, one number per
    item, or None): where the groups are published after each round."""
    root = np.arange(plan.items, dtype=np.int64)
    near = []
    for pairs in _rounds(plan, candidates, all_pairs):
        if not all_pairs:
            pairs = {k: v[root[pairs["a"]] != root[pairs["b"]]] for k, v in pairs.items()}
        copies = ~pairs["contained"]  # a quote makes nothing around it a copy
        if copies.any():
            root = merge(root, pairs["a"][copies], pairs["b"][copies])
            if joined is not None:
                joined[:] = root
        near.append(pairs)
    copy, first = _exact_copies(plan)
    group_of = root.copy()
    group_of[copy] = root[first]
    return assemble(plan, near, copy, first, group_of.__getitem__, common)


def assemble(plan: LevelPlan, near: Sequence[dict[str, np.ndarray]], copy: np.ndarray, first: np.ndarray,
             group_of: Callable[[np.ndarray], np.ndarray], common: Optional[np.ndarray] = None) -> Linked:
    """The :class:`Linked` of the near-duplicate and contained pairs to report
    (``near``: column dicts, in any order), the exact copies (``copy``, ``first``;
    sorted by copy) and ``group_of(items)``, the group (smallest member) of each item
    of an array (:func:`link`'s union-find, or :mod:`dedup.plan.components`)."""
    grouped_only: list[np.ndarray] = []
    if common is not None and len(common) and len(copy):
        reported = ~np.isin(plan.rows(copy, "keys"), common)
        grouped_only = [sorted_unique(np.concatenate([copy[~reported], first[~reported]]))]
        copy, first = copy[reported], first[reported]
    a = np.concatenate([first] + [p["a"] for p in near])
    b = np.concatenate([copy] + [p["b"] for p in near])
    ones = np.ones(len(copy))
    columns = {
        name: np.concatenate([ones] + [p[name] for p in near])
        for name in ("jaccard", "containment_a", "containment_b", "estimate")
    }
    columns["contained"] = np.concatenate([np.zeros(len(copy), bool)] + [p["contained"] for p in near])
    order = np.lexsort((b, a))
    grouped = ~columns["contained"]
    touched = sorted_unique(np.concatenate([a[grouped], b[grouped], *grouped_only]))
    labels = group_of(touched)
    by_group = np.lexsort((touched, labels))
    members, labels = touched[by_group], labels[by_group]
    starts = np.flatnonzero(np.r_[True, np.diff(labels) != 0]) if len(members) else np.zeros(0, np.int64)
    if len(members):
        members = canonical_first(members, starts, passed_over(plan, a, b, columns["containment_a"],
                                                               columns["containment_b"], columns["contained"]))
    return Linked(
        items=sorted_unique(np.concatenate([a, b, *grouped_only])),
        a=a[order],
        b=b[order],
        exact=(np.arange(len(a)) < len(copy))[order],
        members=members,
        offsets=np.r_[starts, len(members)].astype(np.int64),
        **{name: col[order] for name, col in columns.items()},
    )


def passed_over(plan: LevelPlan, a: np.ndarray, b: np.ndarray, containment_a: np.ndarray,
                containment_b: np.ndarray, contained: np.ndarray) -> np.ndarray:
    """The items of the grouped pairs ``(a, b)`` (not ``contained``; the scores one per
    pair) that are not their group's canonical member while another is, for
    :func:`canonical_first`: of a paragraph pair one side of which holds the other
    (almost) whole (:func:`dedup.containment.held`), the holder -- the held side is the
    source (new user N1 of session 18: a quote 48 % of a councillor's paragraph, a
    near-duplicate pair, made the councillor's paragraph canonical and clean cut the
    quote from the source story; the holder is not cut either, it keeps its own words,
    :func:`dedup.clean.decide.copy_of`).  None at the document level (in path order: a
    story merely quoting another is no document pair, :mod:`dedup.plan.quoted`) or
    with containment off."""
    if plan.level != "paragraph" or not plan.settings.containment:
        return np.zeros(0, np.int64)
    b_held, a_held = held(containment_b, containment_a, plan.settings.containment)
    return sorted_unique(np.concatenate([a[~contained & b_held], b[~contained & a_held]]))


def canonical_first(members: np.ndarray, starts: np.ndarray, passed: np.ndarray) -> np.ndarray:
    """``members`` (grouped, each group from ``starts`` on, in scan order) with each
    group's canonical member first: its first member not among ``passed``
    (:func:`passed_over`), the others after it in scan order.  A group always has such
    a member (held is smaller than holder, so a chain of them ends); the smallest
    member stays first otherwise."""
    over = np.isin(members, passed)
    if not over.any():
        return members
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(members)]))
    first = np.full(len(starts), len(members))
    np.minimum.at(first, group[~over], np.flatnonzero(~over))
    first = np.where(first < len(members), first, starts)  # none (cannot be): the smallest
    later = np.ones(len(members), bool)
    later[first] = False
    return members[np.lexsort((np.arange(len(members)), later, group))]


def _rounds(plan: LevelPlan, candidates: Iterable[int], all_pairs: bool) -> Iterator[dict[str, np.ndarray]]:
    """The verified pairs in global order, one round of candidates at a time (or one
    range at a time with ``all_pairs``, where rounds do not matter); a round is
    yielded once it is complete."""
    base = 0
    pending: list[dict[str, np.ndarray]] = []
    current = -1
    for r, count in enumerate(candidates):
        cols = {name: load(plan.scratch.verified(plan.level, r, name)) for name in COLUMNS}
        rounds = (base + cols.pop("position")) // ROUND
        base += count
        if all_pairs:
            yield cols
            continue
        cuts = np.flatnonzero(np.r_[True, rounds[1:] != rounds[:-1]]) if len(rounds) else []
        for lo, hi in zip(cuts, [*cuts[1:], len(rounds)]):
            if rounds[lo] != current and pending:
                yield _cat(pending)
                pending = []
            current = rounds[lo]
            pending.append({k: v[lo:hi] for k, v in cols.items()})
        if pending and base // ROUND != current:  # later ranges start a later round
            yield _cat(pending)
            pending = []
    if pending:
        yield _cat(pending)


def _cat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _exact_copies(plan: LevelPlan) -> tuple[np.ndarray, np.ndarray]:
    """``(copy, first)`` of every exact copy, sorted by copy."""
    copies, firsts = [], []
    for part in range(plan.copy_partitions):
        copies.append(load(plan.scratch.exact(plan.level, part, "copy")))
        firsts.append(load(plan.scratch.exact(plan.level, part, "first")))
    copy = np.concatenate(copies) if copies else np.zeros(0, np.int64)
    first = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    order = np.argsort(copy, kind="stable")
    return copy[order], first[order]
