"""From what a check found to a :class:`~dedup.verdict.Verdict`, as the policy says.

A document is a duplicate when it is similar enough to a stored document as a whole
(``doc_threshold``) or when at least ``policy.seen_share`` of its comparable paragraphs
are already stored.  The policy's action then decides: ``reject`` accepts only new
documents, ``strip`` keeps the unseen paragraphs, ``flag`` accepts everything and
annotates it.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..corpus import Corpus
from ..settings import Settings
from ..verdict import DocumentMatch, Policy, Verdict
from .items import name_of
from .query import Found
from .signing import Signed


def judge(
    signed: Signed,
    d: int,
    eligible: np.ndarray,
    found: Found,
    doc_matches: list[DocumentMatch],
    doc_id: Optional[str],
    text: str,
    policy: Policy,
    s: Settings,
) -> Verdict:
    """The verdict on article ``d`` of ``signed`` (``eligible``: its comparable
    paragraphs, corpus indices) given its paragraph and document matches."""
    c = signed.corpus
    lo, hi = int(signed.first[d]), int(signed.first[d + 1])
    seen = tuple(sorted({int(c.para_index[eligible[i]]) for i in found.new.tolist()}))
    share = len(seen) / len(eligible)
    similarity = max((m.similarity for m in doc_matches), default=0.0)
    by_similarity = similarity >= s.doc_threshold
    is_duplicate = by_similarity or share >= policy.seen_share
    if by_similarity:
        best = max(doc_matches, key=lambda m: m.similarity)
        reason = f"document similarity {similarity:.2f} with {best.doc_id!r} (threshold {s.doc_threshold})"
    elif seen:
        compare = ">=" if share >= policy.seen_share else "<"
        reason = (f"{len(seen)} of {len(eligible)} paragraphs already seen "
                  f"({share:.0%} {compare} {policy.seen_share:.0%})")
    else:
        reason = "nothing seen before"
    kept_new = policy.action != "strip" or len(seen) < len(eligible)
    accepted = {"reject": not is_duplicate, "strip": kept_new, "flag": True}[policy.action]
    kept_text = None  # what the pipeline keeps: nothing unless accepted
    if accepted:
        kept_text = strip(text, c, lo, hi, set(seen)) if policy.action == "strip" and seen else text
    return Verdict(
        doc_id=doc_id,
        policy=policy.action,
        is_duplicate=is_duplicate,
        similarity=similarity,
        seen_share=share,
        chars=len(text),
        paragraphs=hi - lo,
        seen=seen,
        matches=tuple(doc_matches),
        accepted=accepted,
        reason=reason,
        text=kept_text,
    )


def exact_only(
    doc_id: Optional[str], text: str, paragraphs: int, copies: list[DocumentMatch], policy: Policy, min_tokens: int,
) -> Verdict:
    """The verdict on an article with no paragraph of ``min_tokens`` tokens: below the
    length rule a text is matched only as an exact copy, so it is a duplicate exactly
    when a stored document has the same normalized text (``copies``)."""
    short = f"no paragraph of {min_tokens} tokens: compared as an exact copy only"
    if copies:
        reason = f"exact copy of {copies[0].doc_id!r} ({short})"
    else:
        reason = f"nothing seen before ({short})"
    duplicate = bool(copies)
    accepted = {"reject": not duplicate, "strip": not duplicate, "flag": True}[policy.action]
    return Verdict(
        doc_id=doc_id,
        policy=policy.action,
        is_duplicate=duplicate,
        similarity=1.0 if duplicate else 0.0,
        seen_share=1.0 if duplicate else 0.0,
        chars=len(text),
        paragraphs=paragraphs,
        seen=tuple(range(paragraphs)) if duplicate else (),
        matches=tuple(copies),
        accepted=accepted,
        reason=reason,
        text=text if accepted else None,
    )


def unjudged(doc_id: str, text: str, paragraphs: int, policy: Policy) -> Verdict:
    """The verdict of an ``Index.load``: stored as it is, compared with nothing."""
    return Verdict(doc_id, policy.action, chars=len(text), paragraphs=paragraphs, accepted=True,
                   reason="loaded without checking", text=text)


def stores(verdict: Verdict, policy: Policy) -> bool:
    """Whether an add stores the article: new material is stored, duplicates only when
    asked; under ``strip`` the new remainder is stored."""
    if policy.action == "strip":
        return verdict.accepted
    return not verdict.is_duplicate or policy.add_duplicates


def strip(text: str, corpus: Corpus, lo: int, hi: int, seen: set[int]) -> str:
    """``text`` without its already-seen paragraphs (the rest joined by blank lines)."""
    return "\n\n".join(
        text[int(corpus.para_start[p]) : int(corpus.para_end[p])]
        for p in range(lo, hi)
        if int(corpus.para_index[p]) not in seen
    )
