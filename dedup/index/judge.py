"""From what a check found to a :class:`~dedup.verdict.Verdict`, as the policy says.

A document is a duplicate when it is similar enough to a stored document as a whole
(``doc_threshold``, and not one-sided, :func:`dedup.containment.relations`, nor sharing
quotes only, :mod:`dedup.plan.quoted`) or when at
least ``policy.seen_share`` of its comparable text (the tokens of its paragraphs of
``min_tokens`` or more) is already seen -- each paragraph by the part of it that is
stored text: one with a near-duplicate stored whole, one inside a stored paragraph
nearly whole, one holding a stored paragraph (a quote read out in it: a contained pair,
or a near-duplicate one that holds the stored one almost whole,
:func:`dedup.containment.held`) as the quote's share of it.  A paragraph of fewer than
``min_tokens`` tokens is seen when a stored document the article matches otherwise
holds its exact copy (:mod:`.short`: a dateline or byline alone is never seen text),
but it weighs in the share only in an article with no comparable paragraph (a list,
verse, subtitles: its lines are its text); beside one, the bylines, datelines and
captions a story shares with the stored version it quotes would tip a story mostly of
its own words into a duplicate (tester's F4 of session 19: 40 copied words and 48 own
ones were "7 of 8 paragraphs already seen", rejected);
an article inside one stored document is ``contained-in`` it rather than a duplicate
by that share (rejected all the same), unless its near-duplicate paragraphs alone reach it;
boilerplate paragraphs (:func:`dedup.index.tallies.boilerplate`, and a site's frame,
:mod:`dedup.index.furniture`) count for neither.  Otherwise it may be *contained in* a
stored document or *contain* one (:attr:`~dedup.verdict.DocumentMatch.relation`: at
least ``Settings.containment`` of the smaller one's shingles inside the other and its
words covered, :mod:`dedup.index.coverage` -- the scan's rule for a contained pair).  The policy's action
then decides: ``reject`` accepts only documents that are neither duplicates nor
contained in a stored one; ``strip`` keeps the paragraphs that are neither seen nor
contained in a stored paragraph; ``flag`` accepts everything and annotates it.  An
article that *contains* a stored one is never rejected for it, only flagged: it is
the stored text plus new material (a report quoting a stored statement), and
rejecting it would lose the new material; under ``strip`` the quoted paragraphs go.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..containment import held
from ..corpus import Corpus
from ..settings import Settings
from ..verdict import DocumentMatch, Policy, Verdict
from .matches import Found
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
    boilerplate: Optional[np.ndarray] = None,
) -> Verdict:
    """The verdict on article ``d`` of ``signed`` (``eligible``: its comparable
    paragraphs, corpus indices) given its paragraph and document matches and which of
    its paragraphs ``lo..hi`` are ``boilerplate``.  Its shorter paragraphs are seen
    where ``doc_matches`` list them (exact copies in a matched document, :mod:`.short`),
    and weigh in the seen share only when it has no comparable paragraph."""
    c = signed.corpus
    lo, hi = int(signed.first[d]), int(signed.first[d + 1])
    common = np.zeros(hi - lo, bool) if boilerplate is None else boilerplate
    furniture = tuple(int(c.para_index[p]) for p in (lo + np.flatnonzero(common)).tolist())
    judged = eligible[~common[eligible - lo]]  # comparable and not boilerplate
    # Paragraphs under min_tokens (not boilerplate): seen when a stored document the
    # article matches otherwise holds an exact copy, listed among its paragraphs (:mod:`.short`).
    words = c.para_words[lo:hi]
    short = lo + np.flatnonzero((words > 0) & (words < s.min_tokens) & ~common)
    listed = {p.paragraph for m in doc_matches for p in m.paragraphs}
    short_seen = (np.fromiter((i in listed for i in c.para_index[short].tolist()), bool, len(short)) if listed
                  else np.zeros(len(short), bool))
    near, inside = ~found.contained, found.contained & (found.cont_new >= (s.containment or 2.0))
    # A near-duplicate paragraph holding its stored match (almost) whole, plus text of
    # its own (:func:`dedup.containment.held`: a quote about half the paragraph reading
    # it out, new user N2 of session 18), is seen only in part.
    holds = near & held(found.cont_stored, found.cont_new, s.containment)[0]
    # ``seen``: what strip drops -- paragraphs with a near-duplicate stored or inside a
    # stored paragraph (a round-up's passages, tester F1 of session 18), not one holding
    # a stored one plus words of its own (tester F1 of s19: cut, they would be lost).
    dropped = {int(c.para_index[eligible[i]]) for i in found.new[(near & ~holds) | inside].tolist()}
    dropped |= set(c.para_index[short[short_seen]].tolist())
    seen = tuple(sorted(dropped - set(furniture)))
    # The share of its text already seen: paragraphs weigh by their tokens, so a
    # three-line footer does not outweigh the story, and each by the part of it seen
    # (its shingle containment in the stored paragraph): a paragraph with a
    # near-duplicate stored counts whole, unless it holds the stored one (almost)
    # whole plus text of its own; a paragraph inside a stored one counts (nearly)
    # whole -- a round-up of passages cut from several stored stories is seen text --
    # while one holding a stored paragraph counts as the quote, not as the paragraph
    # around it (N8 of session 17), whether the pair is contained or near-duplicate.
    whole, part = np.zeros(len(eligible), bool), np.zeros(len(eligible))
    whole[found.new[near & ~holds]] = True
    some = found.contained | holds
    np.maximum.at(part, found.new[some], found.cont_new[some])
    within = np.zeros(len(eligible), bool)  # inside a stored paragraph (else holding one)
    within[found.new[found.contained & (found.cont_new > found.cont_stored)]] = True
    mine = ~common[eligible - lo]  # of eligible: judged
    # Short paragraphs weigh only where nothing longer does (see the module docstring).
    weighed, weighed_seen = (short, short_seen) if not len(eligible) else (short[:0], short_seen[:0])
    none = np.zeros(len(weighed))
    whole, part = np.concatenate([whole[mine], weighed_seen]), np.concatenate([part[mine], none])
    within = np.concatenate([within[mine], none.astype(bool)])
    tokens = c.para_words[np.concatenate([judged, weighed])].astype(np.int64)
    total = tokens.sum()
    near_share = float(tokens[whole].sum() / total) if total else 0.0
    share = float((tokens * np.where(whole, 1.0, part)).sum() / total) if total else 0.0
    similarity = max((m.similarity for m in doc_matches), default=0.0)
    copies = [m for m in doc_matches if m.relation == "duplicate"]  # not one-sided: a copy
    wrapped = [m for m in doc_matches if m.relation == "contained-in"]
    wraps = [m for m in doc_matches if m.relation == "contains"]
    # An article inside one stored document is said to be so (``contained-in``, rejected
    # all the same) unless its near-duplicate paragraphs alone make it a duplicate.
    is_duplicate = bool(copies) or near_share >= policy.seen_share or (share >= policy.seen_share and not wrapped)
    relation = "duplicate" if is_duplicate else "contained-in" if wrapped else "contains" if wraps else None
    inside_n, quoting_n = int((within & ~whole).sum()), int((~within & (part > 0) & ~whole).sum())
    seen_note = (f"{int(whole.sum())} of {len(judged) + len(weighed)} paragraphs already seen"
                 + (f", {inside_n} inside stored text" if inside_n else "")
                 + (f", {quoting_n} quoting stored text" if quoting_n else ""))
    if copies:
        best = max(copies, key=lambda m: m.similarity)
        reason = f"document similarity {best.similarity:.2f} with {best.doc_id!r} (threshold {s.doc_threshold})"
    elif is_duplicate:
        reason = f"{seen_note} ({share:.0%} of its text >= {policy.seen_share:.0%})"
    elif relation == "contained-in":
        best = max(wrapped, key=lambda m: m.containment[0])
        reason = f"{best.containment[0]:.0%} of it is inside {best.doc_id!r} (containment {s.containment})"
    elif relation == "contains":
        best = max(wraps, key=lambda m: m.containment[1])
        reason = f"contains {best.doc_id!r} ({best.containment[1]:.0%} of it; flagged, not rejected)"
    elif share:
        reason = f"{seen_note} ({share:.0%} of its text < {policy.seen_share:.0%})"
    else:
        reason = "nothing seen before"
    # Under strip, the paragraphs in ``seen`` (and boilerplate with a stored copy) go.
    # (short paragraphs alone are no new material)
    kept_new = policy.action != "strip" or bool(set(c.para_index[eligible].tolist()) - dropped)
    rejected = is_duplicate or relation == "contained-in"
    accepted = {"reject": not rejected, "strip": kept_new, "flag": True}[policy.action]
    if furniture:
        cut = policy.action == "strip" and accepted and bool(dropped & set(furniture))
        reason += "; " + boilerplate_note(furniture) + (", cut under strip" if cut else "")
    kept_text = None  # what the pipeline keeps: nothing unless accepted
    if accepted:
        kept_text = strip(text, c, lo, hi, dropped) if policy.action == "strip" and dropped else text
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
        relation=relation,
        boilerplate=furniture,
    )


def exact_only(
    doc_id: Optional[str], text: str, paragraphs: int, copies: list[DocumentMatch], policy: Policy, min_tokens: int,
) -> Verdict:
    """The verdict on an article of fewer than ``min_tokens`` tokens in all
    (:func:`~.signing.long_enough`): under the length rule a text is matched only as an
    exact copy, so it is a duplicate exactly when a stored document has the same
    normalized text (``copies``).  An empty or
    whitespace-only article is such a document too (no paragraph, the content key of
    the empty text, as in a scan): stored by that key, and two of them are exact
    duplicates."""
    short = ("empty" if not paragraphs else f"under {min_tokens} tokens") + ": compared as an exact copy only"
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
        relation="duplicate" if duplicate else None,
    )


def unjudged(doc_id: str, text: str, paragraphs: int, policy: Policy) -> Verdict:
    """The verdict of an ``Index.load``: stored as it is, compared with nothing."""
    return Verdict(doc_id, policy.action, chars=len(text), paragraphs=paragraphs, accepted=True,
                   reason="loaded without checking", text=text)


def boilerplate_note(furniture: list[int]) -> str:
    """The reason's note on boilerplate: which paragraphs (0-based positions, as in the
    JSON report) were counted as boilerplate -- ``paragraphs 0, 3 and 4 are
    boilerplate`` (``boilerplate paragraphs 2`` read like a count)."""
    numbers = [str(n) for n in furniture]
    if len(numbers) == 1:
        return f"paragraph {numbers[0]} is boilerplate (numbered from 0)"
    return f"paragraphs {', '.join(numbers[:-1])} and {numbers[-1]} are boilerplate (numbered from 0)"


def stores(verdict: Verdict, policy: Policy) -> bool:
    """Whether an add stores the article: new material is stored, duplicates (and
    articles contained in a stored one) only when asked; under ``strip`` the new
    remainder is stored."""
    if policy.action == "strip":
        return verdict.accepted
    return not (verdict.is_duplicate or verdict.relation == "contained-in") or policy.add_duplicates


def strip(text: str, corpus: Corpus, lo: int, hi: int, seen: set[int]) -> str:
    """``text`` without its already-seen paragraphs (the rest joined by blank lines)."""
    return "\n\n".join(
        text[int(corpus.para_start[p]) : int(corpus.para_end[p])]
        for p in range(lo, hi)
        if int(corpus.para_index[p]) not in seen
    )
