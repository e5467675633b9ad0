"""``dedup clean``, deciding: which documents a scan's groups drop and which paragraphs
they strip (the rule is in :func:`decide`); :mod:`dedup.clean.write` carries it out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from ..containment import held
from ..results import Pair, ScanResult


@dataclass
class Plan:
    """What to do with the corpus: documents to drop, paragraphs to cut, notes for the
    manifest, and the near-duplicate documents kept for text found in no kept document."""

    drop: dict[str, dict[str, Any]] = field(default_factory=dict)     # document -> why
    strip: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # document -> paragraphs cut
    notes: list[dict[str, str]] = field(default_factory=list)
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)     # near-duplicate document kept -> why


#: What a near-duplicate document kept for its own text is kept for (manifest and summary).
KEPT_REASON = "holds paragraphs found in no kept document"
#: Why a near-duplicate document that could not be read again is kept (review R22 of
#: session 18: it was said to hold paragraphs found in no kept document, unlooked at).
UNREAD_REASON = "not read again (a file behind a link, or unreadable the second time): kept whole"


def decide(result: ScanResult, strip_paragraphs: bool,
           compared: Callable[[set[str]], dict[str, np.ndarray]]) -> Plan:
    """The :class:`Plan` for a scan ``result`` at both levels (paragraphs cut only with
    ``strip_paragraphs``).  Of each document group a member that is a copy of one kept
    before it (:func:`copies`) is dropped only when nothing of it but copies of kept
    text would go: each of its paragraphs ``compared`` says is long enough to compare
    (``compared(names)``: per document name a bool per paragraph, ``min_tokens`` tokens
    or more; a name left out -- not read again -- is kept whole, for that reason) is boilerplate or a copy (exact or
    near-duplicate) of a paragraph of a kept document -- one that stays in it, under
    ``strip_paragraphs``.  Otherwise it is kept (:attr:`Plan.kept`), and the groups are
    decided again with it kept, until no dropped document holds text of its own.  Of
    each paragraph group among the documents kept, the members that are copies of one
    kept before them are cut (boilerplate too: its first copy is kept, the others are
    cut, :func:`boilerplate_copies`); a document left with no paragraph is dropped."""
    links = links_of(result.pairs)
    holding = holding_pairs(result)
    same = {p.b.key(): p.a.key() for p in result.pairs if p.exact}  # copy -> first occurrence
    boiler = boilerplate_copies(result)
    same.update(boiler)
    documents = [g for g in result.groups if g.kind == "document"]
    paragraphs = [g for g in result.groups if g.kind == "paragraph"]
    lengths = compared({m.path for g in documents for m in g.members[1:]}) if documents else {}
    order = {d.path: n for n, d in enumerate(result.documents)}
    forced: dict[str, Optional[list[int]]] = {}  # near-duplicate document kept -> its own paragraphs
    while True:
        plan = Plan()
        for g in documents:
            for m, keeper, pair, dropped in copies(g.members, links, same, lambda path: path not in forced, holding):
                why = {"duplicate_of": keeper.path, "similarity": round(pair.similarity, 4) if pair else 1.0,
                       "exact": pair.exact if pair else True}  # no pair: the same text
                if dropped:
                    plan.drop[m.path] = {"reason": "duplicate document", **why}
                else:
                    own = forced[m.path]
                    plan.kept[m.path] = ({"reason": KEPT_REASON, **why, "paragraphs": own} if own is not None
                                         else {"reason": UNREAD_REASON, **why})
        cut = _cuts(paragraphs, plan.drop, links, same, boiler, holding)
        own = _own_text(plan.drop, order, paragraphs, cut if strip_paragraphs else {}, lengths, links, same, boiler,
                        holding)
        if not own:
            break
        forced.update(own)
    if not strip_paragraphs:
        return plan
    sizes = {d.path: d.paragraphs for d in result.documents}
    for path, c in cut.items():
        if len(c) >= sizes.get(path, 0):
            plan.drop[path] = {"reason": "every paragraph repeated elsewhere", "paragraphs": c}
        else:
            plan.strip[path] = c
    return plan


def _cuts(paragraphs: Sequence, drop: dict, links: dict[tuple, Pair], same: dict[tuple, tuple],
          boiler: dict[tuple, tuple], holding: frozenset = frozenset()) -> dict[str, list[dict[str, Any]]]:
    """Per document not in ``drop``: the paragraphs cut as copies of one kept before
    them in their group (:func:`copies` among the members of documents kept), in order."""
    cut: dict[str, list[dict[str, Any]]] = {}
    for g in paragraphs:
        kept = [m for m in g.members if m.path not in drop]
        for m, keeper, pair, _ in copies(kept, links, same, holding=holding):
            cut.setdefault(m.path, []).append({
                "paragraph": m.paragraph, "start": m.start, "end": m.end,
                "duplicate_of": {"path": keeper.path, "paragraph": keeper.paragraph},
                "similarity": round(pair.similarity, 4) if pair else 1.0,  # no pair: the same text
                **({"boilerplate": True} if m.key() in boiler else {})})
    for c in cut.values():
        c.sort(key=lambda x: x["paragraph"])
    return cut


def _own_text(drop: dict, order: dict[str, int], paragraphs: Sequence, cut: dict, lengths: dict[str, np.ndarray],
              links: dict[tuple, Pair], same: dict[tuple, tuple], boiler: dict[tuple, tuple],
              holding: frozenset = frozenset()) -> dict[str, Optional[list[int]]]:
    """Documents in ``drop`` to keep, in document order (``order``): each holding a
    paragraph long enough to compare that is neither boilerplate nor a copy of a
    paragraph that stays in a kept document (one not in ``cut``) nor of one such
    paragraph of a document before it that is kept here; each with those paragraphs
    (``None``: not read again, so kept)."""
    gone = {(path, c["paragraph"]) for path, cs in cut.items() for c in cs}
    covered: set[tuple] = set()
    group_of: dict[tuple, int] = {}  # an uncovered paragraph of a dropped document -> its group
    members: dict[tuple, Any] = {}
    for n, g in enumerate(paragraphs):
        stays = [k for k in g.members if k.path not in drop and k.key() not in gone]
        for m in g.members:
            if m.path not in drop:
                continue
            if m.key() in boiler or any(copy_of(k, m, links, same, holding)[0] for k in stays):
                covered.add(m.key())
            else:
                group_of[m.key()], members[m.key()] = n, m
    kept_here: dict[int, list] = {}  # group -> paragraphs of the documents kept so far here
    out: dict[str, Optional[list[int]]] = {}
    for path in sorted(drop, key=lambda p: order.get(p, -1)):
        long = lengths.get(path)
        if long is None:
            out[path] = None
            continue
        own = [i for i in np.flatnonzero(long).tolist() if (path, i) not in covered and not any(
            copy_of(k, members[(path, i)], links, same, holding)[0] for k in kept_here.get(group_of.get((path, i)), ()))]
        if own:
            out[path] = own
            for i in own:
                if (path, i) in group_of:
                    kept_here.setdefault(group_of[(path, i)], []).append(members[(path, i)])
    return out


def copy_of(k, m, links: dict[tuple, Pair], same: dict[tuple, tuple],
            holding: frozenset = frozenset()) -> tuple[bool, Optional[Pair]]:
    """Whether ``m`` is a copy of ``k`` -- the same text (``same`` maps an exact copy to
    its first occurrence), or a near-duplicate pair of them or of their first
    occurrences in which ``m`` does not hold ``k`` (``holding``: ``(holder, held)``
    keys, :func:`holding_pairs`) -- and the pair (``None`` for the same text without
    one).  A paragraph holding a kept one whole plus words of its own is no copy of
    it: cut, its own words would be lost (tester F1 of s19: a councillor's paragraph
    reading a quote out was cut whole for the quote's source)."""
    text, first = same.get(m.key(), m.key()), same.get(k.key(), k.key())
    pair = links.get((k.key(), m.key())) or links.get((first, text))
    near = pair is not None and pair.relation == "near-duplicate" and (text, first) not in holding
    return first == text or near, pair


def copies(members: Sequence, links: dict[tuple, Pair], same: dict[tuple, tuple],
           droppable: Callable[[str], bool] = lambda path: True, holding: frozenset = frozenset()) -> Iterator[tuple]:
    """(member, kept member, pair or None when it is the same text, dropped) for each
    member of a group, in order, that is itself a near-duplicate (a verified pair at
    the threshold, or the same exact text) of a member kept before it: ``dropped`` when
    ``droppable(member.path)``, else it is kept all the same (and later members may be
    copies of it); the members that are copies of none are kept.  A group is
    transitive (A~B, B~C) but C may share nothing with A: it is only left out for a
    copy of it that stays.  An exact copy is paired only with the first occurrence of
    its text (``same``), so a member's pairs are looked up for that first occurrence
    too: the copy of a dropped rewrite is dropped with it.  A member is named the copy
    of a kept member of its own text before any other."""
    kept: list = []
    for m in members:
        text = same.get(m.key(), m.key())
        # A kept member of the same text first (review R24 of s18: an exact copy of a
        # near-duplicate kept for its own text was named a copy of the canonical).
        for k in sorted(kept, key=lambda k: same.get(k.key(), k.key()) != text):
            found, pair = copy_of(k, m, links, same, holding)
            if found:
                dropped = droppable(m.path)
                yield m, k, pair, dropped
                if not dropped:
                    kept.append(m)
                break
        else:
            kept.append(m)


def boilerplate_copies(result: ScanResult) -> dict[tuple, tuple]:
    """The copies of each boilerplate text, mapped to its first occurrence (as an exact
    pair's copy is): a boilerplate text's copies are members of its paragraph group
    without a pair (the scan groups them by content key and reports no pair for them,
    :mod:`dedup.boilerplate`), and a member without a near-duplicate or exact pair is
    in a group only as such a copy.  A group holding several boilerplate texts (a
    footer and its yearly variant, linked by a near-duplicate pair) has its copies
    mapped to its first boilerplate occurrence: which text each copy is of is not in
    the report, and dropping it is right either way (its text's first occurrence is in
    the group, kept or a copy itself)."""
    first = {b.canonical.key() for b in result.boilerplate}
    if not first:
        return {}
    paired = {k for p in result.pairs if p.relation != "contained" for k in (p.a.key(), p.b.key())}
    out: dict[tuple, tuple] = {}
    for g in result.groups:
        if g.kind != "paragraph":
            continue
        heads = [m.key() for m in g.members if m.key() in first]
        if not heads:
            continue
        out.update((m.key(), heads[0]) for m in g.members if m.key() not in first and m.key() not in paired)
    return out


def holding_pairs(result: ScanResult) -> frozenset:
    """``(holder, held)`` keys of the near-duplicate paragraph pairs of ``result`` one side
    of which holds the other (almost) whole (:func:`dedup.containment.held`, at the
    scan's containment setting): the held side is the source, the holder only partly a
    copy of it."""
    near = [p for p in result.pairs if p.kind == "paragraph" and p.relation == "near-duplicate" and not p.exact]
    if not near or not result.settings.get("containment"):
        return frozenset()
    a_held, b_held = held(np.array([p.containment[0] for p in near]), np.array([p.containment[1] for p in near]),
                          result.settings["containment"])
    return frozenset([(p.b.key(), p.a.key()) for p, h in zip(near, a_held.tolist()) if h]
                     + [(p.a.key(), p.b.key()) for p, h in zip(near, b_held.tolist()) if h])


def links_of(pairs: Sequence[Pair]) -> dict[tuple, Pair]:
    """Each reported pair under both orders of its members' keys, ``(a, b)`` and
    ``(b, a)`` (the first pair reported wins), for :func:`copies`' look-ups."""
    out: dict[tuple, Pair] = {}
    for p in pairs:
        out.setdefault((p.a.key(), p.b.key()), p)
        out.setdefault((p.b.key(), p.a.key()), p)
    return out
