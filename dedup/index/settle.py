"""Judging rejected articles again until their verdicts settle: what makes an add one-shot.

A verdict is the index's judgement of an article against what the index holds and has
counted *when the article comes*.  An add judges its articles in order, so an article
rejected early may be accepted once later articles of the same add are stored or counted
-- a site's second brief, rejected through its frame while one page of the site is
stored, is accepted once a later page shows the frame to be a template -- and a second
add of the same articles would then store it: the add was not idempotent (session 13:
a 600-file folder stored 556, then 4 more, then 0).

The policy of ``dedup index add`` (the whole add, :func:`dedup.index.jobs.add_paths`):
after the in-order pass, the articles it did not store are judged again, in their order,
until they settle; each keeps the verdict of its last judgement.  (``Index.add_many`` and
``Index.filter`` settled each batch so until session 18; they now give the verdicts of
adding the articles one at a time, in order -- a batch means its items added in order,
and judging a batch's article again after a later one took its id refused it as "already
in the index with a different text": tester's F2 of session 17.)  The index then holds what a later
add of the same articles would find, and a text judged before is never counted again in
the tallies, so the later add gives every article the same verdict and stores nothing.

What is judged again -- the cost (``benchmarks/README-containment.md``):

* only an article judged *before the index last changed* (an article stored, or a text
  counted in the boilerplate tallies, after its judgement): one judged after every change
  would get the same verdict.  A second add of the same articles changes nothing (stored
  ones are "already indexed", judged texts are not counted again), so it judges nothing
  twice;
* an *exact copy* of a stored document (:attr:`~dedup.verdict.DocumentMatch.exact`: the
  same normalized text) cannot be stored while that copy is, and an add never removes a
  stored document (but under ``replace``, where copies are judged like the rest): it
  waits until the others are settled, then is judged once against the final index --
  once per distinct text, the verdict given to each copy of it (same text, same index,
  same verdict; its own id apart);
* at most :data:`SETTLE_ROUNDS` rounds (a chain where each round frees one more article
  would cost rounds x rejected judgements); past them a later add goes on where this
  one stopped.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

from ..verdict import Policy, Verdict
from .items import Input, digest
from .run import Prepared

#: Rounds of judging again at most (each judges the articles still rejected that are due).
SETTLE_ROUNDS = 4


@dataclass(frozen=True)
class Adder:
    """One in-order pass of an add, in its two steps (:mod:`.run`): ``prepare`` signs
    articles (before any lock is taken), ``apply`` judges and stores a prepared batch in
    a write transaction and returns its verdicts and, for each article, whether it
    changed the index (stored, or its text counted in the tallies)."""

    prepare: Callable[[Sequence[Input]], Prepared]
    apply: Callable[[Prepared], tuple[list[Verdict], list[bool]]]

    def __call__(self, inputs: Sequence[Input]) -> tuple[list[Verdict], list[bool]]:
        """One pass over ``inputs``: signed, then applied."""
        return self.apply(self.prepare(inputs))


def judged_out(verdict: Verdict) -> bool:
    """Whether an add judged an article and did not store it."""
    return not (verdict.added or verdict.already_indexed or verdict.error)


def exact_copy(verdict: Verdict) -> bool:
    """Whether ``verdict`` found its article to be an exact copy of a stored document."""
    return verdict.is_duplicate and any(m.exact for m in verdict.matches)


class Settling:
    """The articles an add did not store, waiting to be judged again (:func:`settle`).

    They wait as text in a temporary file in ``folder`` (the system's default when
    ``None``) and are signed again when judged again, outside the write lock as every
    signing is; memory holds the batch in flight and a few numbers per waiting article
    (nothing for one stored or settled).
    Why not spill the signatures too: they and the shingles a look-up verifies on are
    ~7-14x the text (measured on news articles, session 16: 14 KB pickled per 1 KB
    article, 7 KB without what can be derived again), so an add of a mirror that is
    mostly rejected would need ~10x its size in the temporary folder, where the text
    costs 1x and signing again ~a third of judging (``benchmarks/README-index.md``).
    Articles are numbered by ``position`` in the order :meth:`judge` saw them (its
    verdict list's index).  ``flight`` holds the articles being judged again, for a
    caller that must say what an interruption left stored."""

    def __init__(self, policy: Policy, *, folder: Optional[str] = None, batch: int = 256) -> None:
        self.policy = policy
        self.batch = batch
        self.flight: list[Input] = []
        self._file = tempfile.TemporaryFile(dir=folder)
        # position -> where it waits ((offset, size) of its text in the file), the tick
        # of its last judgement and its id
        self._waiting: dict[int, tuple[object, int, Optional[str]]] = {}
        self._copies: dict[int, str] = {}  # position -> digest of its text, for exact copies
        self._ids: Counter = Counter()  # ids of the waiting articles
        self._stored_ids: set[str] = set()  # of those, the ids some later article stored
        self._tick = 0
        self._changed = -1  # tick of the last judgement that changed the index
        self._seen = 0

    def close(self) -> None:
        self._file.close()

    def judge(self, add: Adder, batch: Prepared) -> list[Verdict]:
        """The first, in-order pass over ``batch`` (the next positions), recorded."""
        verdicts, changed = add.apply(batch)
        first, self._seen = self._seen, self._seen + len(batch)
        self._record(range(first, self._seen), batch, verdicts, changed)
        return verdicts

    def settle(self, add: Adder, verdicts: list[Verdict]) -> None:
        """Judge the waiting articles again (module docstring), writing each one's new
        verdict into ``verdicts`` (indexed by position)."""
        for _ in range(SETTLE_ROUNDS):
            due = [k for k in sorted(self._waiting) if self._waiting[k][1] < self._changed]
            if not due:
                return
            others = [k for k in due if k not in self._copies]
            if others:
                self._again(add, others, verdicts)
                continue
            text = {k: self._copies[k] for k in due}  # judged again, a copy may be one no longer
            first: dict[str, int] = {}  # exact copies: one judgement per distinct text
            for k in due:
                first.setdefault(text[k], k)
            self._again(add, list(first.values()), verdicts)
            for k in due:
                rep = first[text[k]]
                mine = verdicts[k].doc_id
                if k != rep and rep in self._waiting and mine not in self._stored_ids:
                    verdicts[k] = replace(verdicts[rep], doc_id=mine)
                    self._waiting[k] = (self._waiting[k][0], self._waiting[rep][1], self._waiting[k][2])
                    if rep not in self._copies:
                        del self._copies[k]

    def _again(self, add: Adder, positions: list[int], verdicts: list[Verdict]) -> None:
        for lo in range(0, len(positions), self.batch):
            part = positions[lo : lo + self.batch]
            batch = add.prepare(self._get(part))
            self.flight[:] = batch.inputs
            new, changed = add.apply(batch)
            for k, v in zip(part, new):
                verdicts[k] = v
            self._record(part, batch, new, changed)
            self.flight.clear()

    def _record(self, positions: Sequence[int], batch: Prepared, verdicts: Sequence[Verdict],
                changed: Sequence[bool]) -> None:
        """Each article of ``batch`` (at ``positions``) judged: kept waiting or released."""
        new: list[tuple[int, int]] = []  # (position, number in batch) of those that start to wait
        for j, (k, v, c) in enumerate(zip(positions, verdicts, changed)):
            tick, self._tick = self._tick, self._tick + 1
            if c:
                self._changed = tick
            if v.added and v.doc_id in self._ids:
                self._stored_ids.add(v.doc_id)
            if not judged_out(v):
                self._release(k)
                continue
            if k in self._waiting:
                self._waiting[k] = (self._waiting[k][0], tick, v.doc_id)
            else:
                self._ids[v.doc_id] += 1
                self._waiting[k] = (None, tick, v.doc_id)
                new.append((k, j))
            if exact_copy(v) and not self.policy.replace:
                self._copies[k] = digest(batch.inputs[j].text)
            else:
                self._copies.pop(k, None)
        for k, j in new:
            self._waiting[k] = (self._put(batch.inputs[j]),) + self._waiting[k][1:]

    def _release(self, k: int) -> None:
        """Forget position ``k`` (stored, or settled): nothing of it is kept."""
        entry = self._waiting.pop(k, None)
        self._copies.pop(k, None)
        if entry is not None:
            doc_id = entry[2]
            self._ids[doc_id] -= 1
            if not self._ids[doc_id]:
                del self._ids[doc_id]
                self._stored_ids.discard(doc_id)

    def _put(self, inp: Input) -> tuple[int, int]:
        data = json.dumps([inp.doc_id, inp.text, inp.meta]).encode()
        offset = self._file.seek(0, 2)
        self._file.write(data)
        return offset, len(data)

    def _get(self, positions: Sequence[int]) -> list[Input]:
        """The waiting articles at ``positions``, read back, in that order."""
        inputs = []
        for k in positions:
            offset, size = self._waiting[k][0]  # type: ignore[misc]
            self._file.seek(offset)
            inputs.append(Input(*json.loads(self._file.read(size))))
        return inputs
