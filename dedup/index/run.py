"""An add or check of a batch of articles, decided as adding (checking) them one at a
time would, in two steps: :func:`prepare` signs the batch (one vectorized pass, before
any lock is taken: it reads nothing stored), then :func:`decide`, in one storage
transaction, looks the whole batch up (:mod:`.query`), compares it with itself
(:mod:`.batch`), decides each article in order (:mod:`.judge`) and writes once at the
end.  A part of a :class:`Prepared` batch can be decided without being signed again
(:meth:`Prepared.take`): :func:`decide` does so for a batch that gives an id twice, and
:func:`check_indexed` (``dedup check``) for the documents its snapshot finds not stored."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from ..settings import Settings
from ..storage.optional import Leased, Prefetching, TalliesFirst, supports
from ..storage.protocol import NewDocument, Storage
from ..verdict import Policy, Verdict, already_indexed
from . import judge as judging
from .batch import earlier_related
from .documents import exact_copies
from .items import Input, auto_id, digest, name_of, problem, stored_digest, stored_with
from .query import look_up
from .signing import Executor, Signed, banded, long_enough, new_document, sign
from .tallies import copied_before, first_judged, judged_texts, tallied, text_keys


@dataclass(frozen=True)
class Prepared:
    """A batch of articles as signed, before anything stored is read: the ``inputs``,
    why each bad one cannot be checked (``problems``: ``None`` for a good one), the
    ``good`` ones' positions in ``inputs`` (ascending), their signatures (``signed``:
    article ``d`` is ``inputs[good[d]]``), the articles long enough to compare
    (``comparable``, numbers into ``good``: :func:`~.signing.long_enough`) and each good text's tally key
    (``keys``, :func:`~.tallies.text_keys`)."""

    inputs: list[Input]
    problems: list[Optional[str]]
    good: np.ndarray
    signed: Signed
    comparable: np.ndarray
    keys: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    def take(self, positions: Sequence[int]) -> "Prepared":
        """The articles at ``positions`` (into ``inputs``, in that order), signatures
        and all, without signing anything again."""
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        where = np.full(len(self.inputs), -1, dtype=np.int64)
        where[self.good] = np.arange(len(self.good))
        mine = where[positions]
        kept = np.flatnonzero(mine >= 0)
        docs = mine[kept]
        compared = np.zeros(len(self.good), dtype=bool)
        compared[self.comparable] = True
        return Prepared(
            inputs=[self.inputs[k] for k in positions.tolist()],
            problems=[self.problems[k] for k in positions.tolist()],
            good=kept,
            signed=self.signed.take(docs),
            comparable=np.flatnonzero(compared[docs]),
            keys=self.keys[docs],
        )


def prepare(inputs: Sequence[Input], s: Settings, executor: Optional[Executor] = None) -> Prepared:
    """``inputs`` checked for problems (:func:`~.items.problem`) and the good ones signed
    in one vectorized pass (:func:`~.signing.sign`, on ``executor``'s workers for a
    large batch).  A batch with a long article holds no paragraph signatures, for a
    check or an add (:func:`~.signing.sign` without ``hold``): the look-up derives a
    chunk's again, the backend a written block's (issue #12).  Reads nothing stored,
    so it runs before any lock is taken."""
    inputs = list(inputs)
    problems = [problem(inp) for inp in inputs]
    good = np.array([i for i, bad in enumerate(problems) if not bad], dtype=np.int64)
    texts = [inputs[i].text for i in good.tolist()]
    signed = sign(texts, s, executor, hold=False)
    comparable = np.flatnonzero(long_enough(signed.first, signed.corpus.para_words, s.min_tokens))
    return Prepared(inputs, problems, good, signed, comparable, text_keys(texts))


def decide(store: Storage, batch: Prepared, policy: Policy, write: bool, judge: bool = True,
           changed: Optional[list[bool]] = None) -> list[Verdict]:
    """Verdicts on a :func:`prepared <prepare>` batch, and with ``write`` the batch
    stored as the policy says, exactly as adding its articles one at a time would (see
    :mod:`.batch`): in one storage transaction, one look-up of the whole batch, the
    batch compared with itself, then an in-order pass that decides each article, one
    bulk write at the end.  ``changed`` (one entry per input) is set where an article
    changed the index: stored, or its text counted in the boilerplate tallies
    (:mod:`.settle`).

    An add whose batch gives one id twice is decided in parts, one after another in
    the same transaction, cut before each repeat (:func:`_repeat_cuts`): whether a
    repeat is counted in the tallies depends on what the earlier article's verdict
    stored under the id, and the tallies are counted before the batch's first write
    (:class:`~dedup.storage.optional.TalliesFirst`).  (Before: a repeat with another
    text was counted, where one at a time it is refused unjudged; with a low
    boilerplate floor the counts then made other articles' paragraphs boilerplate.)"""
    cuts = _repeat_cuts(batch) if write else []
    if not cuts:
        return _decide(store, batch, policy, write, judge, changed)
    if judge and supports(store, Leased):  # (inside the transaction below it would do nothing)
        store.warm()
    verdicts: list[Verdict] = []
    with store.transaction(write):
        for lo, hi in zip([0, *cuts], [*cuts, len(batch)]):
            mine = None if changed is None else [False] * (hi - lo)
            verdicts += _decide(store, batch.take(range(lo, hi)), policy, write, judge, mine)
            if changed is not None:
                changed[lo:hi] = mine
    return verdicts


def _repeat_cuts(batch: Prepared) -> list[int]:
    """Positions (into ``batch.inputs``, ascending) of the articles that give an id an
    earlier article of their part gave (an article without an id: its
    :func:`~.items.auto_id`): each begins a new part."""
    cuts: list[int] = []
    seen: set[str] = set()
    for i in batch.good.tolist():
        inp = batch.inputs[i]
        doc_id = inp.doc_id if inp.doc_id is not None else auto_id(inp.text)
        if doc_id in seen:
            cuts.append(i)
            seen = set()
        seen.add(doc_id)
    return cuts


def check_indexed(store: Storage, batch: Prepared, policy: Policy) -> list[Verdict]:
    """Verdicts of a read-only check of a :func:`prepared <prepare>` batch in which an
    article whose id ``store`` holds with that very text is "already indexed" (what an
    add of it says; :func:`~.items.stored_with`) and not judged; the others judged as
    :func:`decide` judges them (``write`` false).  Both in one read transaction, the
    batch signed before it (a read held through signing holds off SQLite's checkpoints
    and Redis's horizon), its keys and ids read in the transaction's first round trip
    on a :class:`~dedup.storage.optional.Prefetching` backend.

    Why one: an add of the same id committed between the look-up of the ids and the
    judgement made a document its own duplicate (whole-diff review, session 17); and
    ``dedup check`` looked the ids up once before signing (to sign only the documents
    not stored) and again in the snapshot -- on Redis 7 round trips a file, where a
    check costs 5 (review R16, session 18).  The price: a document already stored is
    signed too (measured in ``benchmarks/README-redis.md``, session 19)."""
    inputs = batch.inputs
    ids = [inp.doc_id if bad is None else None for inp, bad in zip(inputs, batch.problems)]
    _prefetch(store, batch, False, True, [doc_id for doc_id in ids if doc_id is not None])
    with store.transaction(False):
        held = stored_with(store, ids, [inp.text if doc_id is not None else "" for inp, doc_id in zip(inputs, ids)])
        rest = [k for k, h in enumerate(held) if not h]
        judged = iter(_decide(store, batch if len(rest) == len(inputs) else batch.take(rest), policy, False, True,
                              None, prefetch=False))
        return [already_indexed(inp.doc_id, inp.text, policy) if h else next(judged) for inp, h in zip(inputs, held)]


def _prefetch(store: Storage, batch: Prepared, write: bool, judge: bool, ids: Sequence[str] = ()) -> None:
    """On a :class:`~dedup.storage.optional.Prefetching` backend (Redis), just before
    the transaction that decides ``batch``: the batch's own keys -- and the document
    ``ids`` it will ask :meth:`~dedup.storage.protocol.Storage.digests` of -- read in
    that transaction's first round trip."""
    if not supports(store, Prefetching):
        return
    s, signed = store.settings, batch.signed
    none = np.zeros(0, np.uint64)
    # (The texts' tallies of an add that turns out to count none, all stored already, are read for nothing.)
    texts_tallied = write or (s.boilerplate and judge)
    store.prefetch(signed.corpus.para_key if write else none, signed.doc_keys if judge or write else none,
                   np.concatenate([batch.keys, signed.corpus.para_key if s.boilerplate and judge else none])
                   if texts_tallied else none, ids)


def _decide(store: Storage, batch: Prepared, policy: Policy, write: bool, judge: bool,
            changed: Optional[list[bool]], *, prefetch: bool = True) -> list[Verdict]:
    """:func:`decide` of a batch that gives no id twice when ``write`` (``prefetch``:
    :func:`_prefetch` first; not when the caller's transaction did)."""
    inputs, signed = batch.inputs, batch.signed
    verdicts: list[Optional[Verdict]] = [
        None if bad is None else Verdict(name_of(inp.doc_id), policy.action, error=bad)
        for inp, bad in zip(inputs, batch.problems)]
    good = batch.good.tolist()
    comparable = batch.comparable
    s = store.settings
    if write and judge and supports(store, Leased):  # prepared outside the write lock (R3)
        store.warm()
    if prefetch:
        _prefetch(store, batch, write, judge)
    with store.transaction(write):
        ids = [inputs[i].doc_id if inputs[i].doc_id is not None or not write else auto_id(inputs[i].text)
               for i in good]
        known = store.digests(ids) if write else {}
        # The articles an add judges (or loads) are tallied for boilerplate --
        # stored or rejected, the index has seen them -- but not those already
        # indexed, nor a changed text under a stored id without ``replace``.
        counted = np.array([write and (doc_id not in known or (
            policy.replace and known[doc_id] not in (None, digest(inputs[i].text))))
            for doc_id, i in zip(ids, good)], dtype=bool)
        # ... nor a text judged before, stored or rejected (:func:`first_judged`).
        # One tally read of the batch's text keys serves both this and the look-up's
        # site-frame recurrence (``judged_before``).
        texts = [inputs[i].text for i in good]
        keys = batch.keys
        tallied_texts = counted.any() or (s.boilerplate and judge)
        judged = judged_texts(store, keys) if tallied_texts else np.zeros(len(keys), bool)
        counted = first_judged(keys, judged, counted)
        # An id stored with the same text is "already indexed" (:func:`_stored_again`)
        # and never judged: not looked up, so a retried or concurrent add of what is
        # stored holds the write lock for moments, not for a whole batch look-up.
        # (An add gives no id twice here: :func:`decide` cut it; reviewer's R8.)
        settled = np.array([doc_id in known and known[doc_id] == digest(inputs[i].text)
                            for doc_id, i in zip(ids, good)], dtype=bool)
        comparable = comparable[~settled[comparable]]
        # An exact copy of a text an earlier article of the batch counts was judged
        # before it, as one at a time (reviewer's R1: it became a site's frame only in a batch).
        before = judged | copied_before(keys, counted) if s.boilerplate and judge else None
        lookup = (look_up(store, signed, comparable, counted if write else None, before)
                  if judge and len(comparable) else None)
        related = (earlier_related(signed, comparable, lookup.eligible, lookup.owner, lookup.found, s)
                   if write and lookup is not None and len(comparable) > 1 else None)
        if supports(store, Leased):  # the look-up may have taken long: renew the write lock's lease (R9)
            store.keep_lease()
        # A backend that publishes each write at once counts the batch before its first
        # write, so a kill leaves the counts ahead of what is stored, never behind (F2).
        if counted.any() and supports(store, TalliesFirst):
            store.tally_first(tallied(signed, counted, texts), int(counted.sum()))
        where = np.full(len(good), -1, dtype=np.int64)
        where[comparable] = np.arange(len(comparable))
        stored = np.zeros(len(comparable), dtype=bool)
        pending: list[NewDocument] = []
        # After a stripped store or a replacement the batch look-up no longer
        # tells what a one-at-a-time add would see: each later article is looked
        # up alone; so is one whose stored pages' boilerplate the batch's earlier
        # counted articles changed (``lookup.alone``).
        alone = False
        for d, i in enumerate(good):
            inp, doc_id = inputs[i], ids[d]
            replacing = doc_id in known
            if replacing:
                if policy.replace:
                    _write(store, pending)  # the version replaced may be among them
                verdicts[i] = _stored_again(store, doc_id, inp.text, known[doc_id], policy)
                if verdicts[i] is not None:
                    continue
                alone = True
            p = int(where[d])
            paragraphs = int(signed.first[d + 1] - signed.first[d])
            if not judge:
                verdict = judging.unjudged(doc_id, inp.text, paragraphs, policy)
            elif p < 0:  # under the length rule: matched only as an exact copy, by its key
                key = int(signed.doc_keys[d])
                if any(doc.key == key for doc in pending):
                    _write(store, pending)  # an earlier copy in this batch
                verdict = judging.exact_only(doc_id, inp.text, paragraphs, exact_copies(store, key), policy,
                                             s.min_tokens)
            else:
                mine, q = lookup, p
                if alone or lookup.alone[p] or (related is not None
                                                and stored[related[1][related[0][p] : related[0][p + 1]]].any()):
                    _write(store, pending)  # what precedes it, then look it up again
                    mine, q = look_up(store, signed, np.array([d]), counted, before), 0
                eligible, found, docs = mine.of(q)
                lo, hi = int(signed.first[d]), int(signed.first[d + 1])
                verdict = judging.judge(signed, d, eligible, found, docs, doc_id, inp.text, policy, s,
                                        mine.boilerplate[lo:hi])
            if write and verdict.error is None and (judging.stores(verdict, policy) or replacing):
                text = verdict.text if policy.action == "strip" and verdict.text is not None else inp.text
                pending.append(new_document(s, text, doc_id, inp.meta, digest(inp.text), signed, d,
                                            text is inp.text))
                known[doc_id] = digest(inp.text)
                alone = alone or text is not inp.text
                if p >= 0:
                    stored[p] = True
                verdict = replace(verdict, added=True, replaced=replacing)
            verdicts[i] = verdict
        _write(store, pending)
        if counted.any():
            store.tally(tallied(signed, counted, texts), int(counted.sum()))
    if changed is not None:
        for d, i in enumerate(good):
            changed[i] = bool(counted[d] or verdicts[i].added)  # type: ignore[union-attr]
    return verdicts  # type: ignore[return-value]


def _stored_again(store: Storage, doc_id: str, text: str, stored: Optional[str], policy: Policy) -> Optional[Verdict]:
    """An add of an id that is stored: "already indexed" when the text is the same
    (an index written before digests were kept compares the stored text), an error
    when it differs -- or, when the policy says ``replace``, ``None`` after removing
    the old version (the caller then judges and stores the new one in its place, in
    the same transaction)."""
    stored = stored_digest(store, doc_id, stored)
    if stored == digest(text):
        return already_indexed(doc_id, text, policy)
    if not policy.replace:
        return Verdict(doc_id, policy.action, error=(
            f"document {doc_id!r} is already in the index with a different text "
            "(replace it with --replace, or Policy(replace=True))"))
    store.delete(doc_id)
    return None


def _write(store: Storage, pending: list[NewDocument]) -> None:
    """Store the documents decided so far, in order, in one bulk write."""
    if pending:
        store.insert_many(banded(store, pending))
        pending.clear()
