"""What a readable report (terminal view, HTML page) shows of a result, chosen without
holding the result: one pass over its groups, one over its pairs.

A scan of a large corpus can report millions of pairs (:mod:`dedup.plan.located` makes
them as they are read).  The readable reports show the largest groups only, so they
need, besides the :class:`~dedup.report.summary.Summary` (counted on the way):

* the sizes of all groups, to pick the largest ``limit`` of each kind (two integers a
  group; the groups shown are then read again by number);
* for the members shown, the pair that links each one (to the group's canonical
  member when there is one) and, for the HTML page, up to ``pairs_per_group`` pairs of
  each group shown;
* the first ``limit`` contained pairs (they link no group), and counts of the rest.

Memory is bounded by what is shown (``limit`` groups per kind, their members), never
by the number of pairs.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..results import LEVELS, Group, Location, Pair, ScanResult
from .summary import Summary, Tally


@dataclass
class Shown:
    """The choice (see the module doc), with the result's ``summary``.  Per kind: ``groups`` shown, largest first
    (boilerplate after the rest, when it is shown at all); ``left_out`` ``(groups,
    members)`` not shown; ``pairs`` the number of pairs that link groups.  Per group
    shown (by ``id``): ``group_pairs``, the first pairs whose side ``a`` is one of its
    members, and ``more_pairs``, how many more there are."""

    groups: dict[str, list[Group]]
    left_out: dict[str, tuple[int, int]]
    pairs: dict[str, int]
    boilerplate: set[tuple]
    summary: Optional[Summary] = None
    contained: list[Pair] = field(default_factory=list)
    contained_total: int = 0
    relations: set[str] = field(default_factory=set)
    group_pairs: dict[int, list[Pair]] = field(default_factory=dict)
    more_pairs: dict[int, int] = field(default_factory=dict)
    _links: dict[tuple, Pair] = field(default_factory=dict)

    def link(self, group: Group, member: Location) -> Optional[Pair]:
        """The pair that links ``member`` (of a group shown, among its first
        ``members`` ones): to the canonical member if there is one, else the first
        seen; ``None`` if none was seen."""
        return self._links.get((group.kind, member.key()))


def choose(result: ScanResult, limit: Optional[int], *, members: int, pairs_per_group: int = 0,
           boilerplate: bool = False) -> Shown:
    """Choose what to show of ``result``: the ``limit`` largest groups of each kind
    (``None``: all), the links of their first ``members`` members, up to
    ``pairs_per_group`` pairs per group and the first ``limit`` contained pairs.
    Groups of boilerplate texts are left out unless ``boilerplate`` (then they rank
    after the other groups of their kind)."""
    tally = Tally()
    boiler = {b.canonical.key() for b in result.boilerplate}
    ranks: dict[str, tuple[array, array, array]] = {k: (array("q"), array("q"), array("q")) for k in LEVELS}
    for number, group in enumerate(result.groups):
        tally.group(group)
        is_boiler = group.canonical.key() in boiler
        if is_boiler and not boilerplate:
            continue
        numbers, sizes, flags = ranks.setdefault(group.kind, (array("q"), array("q"), array("q")))
        numbers.append(number)
        sizes.append(len(group.members))
        flags.append(is_boiler)
    groups: dict[str, list[Group]] = {}
    left_out: dict[str, tuple[int, int]] = {}
    for kind, (numbers, sizes, flags) in ranks.items():
        n, s, f = (np.frombuffer(a, dtype=np.int64) if len(a) else np.zeros(0, np.int64) for a in (numbers, sizes, flags))
        order = np.lexsort((n, -s, f))  # boilerplate last, then largest first, then in result order
        cut = len(order) if limit is None else limit
        groups[kind] = [result.groups[i] for i in n[order[:cut]].tolist()]
        left_out[kind] = (len(order[cut:]), int(s[order[cut:]].sum()))
    shown = Shown(groups=groups, left_out=left_out, pairs=dict.fromkeys(groups, 0), boilerplate=boiler)
    _stream_pairs(result, shown, tally, limit, members, pairs_per_group)
    shown.summary = tally.summary(result)
    return shown


def _stream_pairs(result: ScanResult, shown: Shown, tally: Tally, limit: Optional[int], members: int,
                  pairs_per_group: int) -> None:
    """The pass over the pairs (see :func:`choose`)."""
    canonical: dict[tuple, tuple] = {}  # (kind, member key) -> its group's canonical key
    owner: dict[tuple, int] = {}  # (kind, member key) -> id of its group
    for kind_groups in shown.groups.values():
        for g in kind_groups:
            key = g.canonical.key()
            canonical.update(((g.kind, m.key()), key) for m in g.members[1:members])
            if pairs_per_group:
                owner.update(((g.kind, m.key()), id(g)) for m in g.members)
                shown.group_pairs[id(g)], shown.more_pairs[id(g)] = [], 0
    links = shown._links
    for p in result.pairs:
        tally.pair(p)
        shown.relations.add(p.relation)
        if p.relation == "contained":
            if limit is None or len(shown.contained) < limit:
                shown.contained.append(p)
            shown.contained_total += 1
            continue
        shown.pairs[p.kind] = shown.pairs.get(p.kind, 0) + 1
        for side, other in ((p.a, p.b), (p.b, p.a)):
            key = (p.kind, side.key())
            to = canonical.get(key)
            if to is not None and (key not in links or (other.key() == to and to not in _ends(links[key]))):
                links[key] = p
        gid = owner.get((p.kind, p.a.key()))
        if gid is not None:
            kept = shown.group_pairs[gid]
            if len(kept) < pairs_per_group:
                kept.append(p)
            else:
                shown.more_pairs[gid] += 1


def _ends(p: Pair) -> tuple[tuple, tuple]:
    return p.a.key(), p.b.key()
