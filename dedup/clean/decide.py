"""``dedup clean``, deciding: which documents a scan's groups drop and which paragraphs
they strip (the rule is in :func:`copies`); :mod:`dedup.clean.write` carries it out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from ..results import Pair, ScanResult


@dataclass
class Plan:
    """What to do with the corpus: documents to drop, paragraphs to cut, notes for the manifest."""

    drop: dict[str, dict[str, Any]] = field(default_factory=dict)     # document -> why
    strip: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # document -> paragraphs cut
    notes: list[dict[str, str]] = field(default_factory=list)


def decide(result: ScanResult, strip_paragraphs: bool) -> Plan:
    """The :class:`Plan` for a scan ``result`` (document level; paragraph level too with
    ``strip_paragraphs``): per group, its members that are copies of one kept before them
    -- boilerplate too: its first copy is kept, the others are cut (:func:`boilerplate_copies`)."""
    plan = Plan()
    links = links_of(result.pairs)
    same = {p.b.key(): p.a.key() for p in result.pairs if p.exact}  # copy -> first occurrence
    boiler = boilerplate_copies(result)
    same.update(boiler)
    for g in result.groups:
        if g.kind != "document":
            continue
        for m, keeper, pair in copies(g.members, links, same):
            plan.drop[m.path] = {"reason": "duplicate document", "duplicate_of": keeper.path,
                                 "similarity": round(pair.similarity, 4) if pair else 1.0,
                                 "exact": pair.exact if pair else True}  # no pair: the same text
    if not strip_paragraphs:
        return plan
    paragraphs = {d.path: d.paragraphs for d in result.documents}
    for g in result.groups:
        if g.kind != "paragraph":
            continue
        kept = [m for m in g.members if m.path not in plan.drop]
        for m, keeper, pair in copies(kept, links, same):
            plan.strip.setdefault(m.path, []).append({
                "paragraph": m.paragraph, "start": m.start, "end": m.end,
                "duplicate_of": {"path": keeper.path, "paragraph": keeper.paragraph},
                "similarity": round(pair.similarity, 4) if pair else 1.0,  # no pair: the same text
                **({"boilerplate": True} if m.key() in boiler else {})})
    for path, cut in list(plan.strip.items()):
        cut.sort(key=lambda c: c["paragraph"])
        if len(cut) >= paragraphs.get(path, 0):
            del plan.strip[path]
            plan.drop[path] = {"reason": "every paragraph repeated elsewhere", "paragraphs": cut}
    return plan


def copies(members: Sequence, links: dict[tuple, Pair], same: dict[tuple, tuple]) -> Iterator[tuple]:
    """(member, kept member, pair or None when it is the same text) for each member of a group, in order, that is itself a
    near-duplicate (a verified pair at the threshold, or the same exact text) of a member
    kept before it; the others are kept.  A group is transitive (A~B, B~C) but C may share
    nothing with A: it is only left out for a copy of it that stays.  An exact copy is
    paired only with the first occurrence of its text (``same``), so a member's pairs are
    looked up for that first occurrence too: the copy of a dropped rewrite is dropped with it."""
    kept: list = []
    for m in members:
        text = same.get(m.key(), m.key())
        for k in kept:
            first = same.get(k.key(), k.key())
            pair = links.get((k.key(), m.key())) or links.get((first, text))
            if first == text or (pair is not None and pair.relation == "near-duplicate"):
                yield m, k, pair
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


def links_of(pairs: Sequence[Pair]) -> dict[tuple, Pair]:
    """Each reported pair under both orders of its members' keys, ``(a, b)`` and
    ``(b, a)`` (the first pair reported wins), for :func:`copies`' look-ups."""
    out: dict[tuple, Pair] = {}
    for p in pairs:
        out.setdefault((p.a.key(), p.b.key()), p)
        out.setdefault((p.b.key(), p.a.key()), p)
    return out
