"""The persistent index: "have we seen this article (or these paragraphs) before?"

This is the second way dedup is used: an ingest pipeline checks each incoming article
against everything already accepted, rejects or trims duplicates and adds the rest,
across restarts.  ``dedup check`` and ``dedup index ...`` are thin layers over it
(:mod:`dedup.index.jobs`).

The package, one concern per module: :class:`Index` here holds the public verbs (the
collection's -- removal, listing, retention -- in :mod:`~dedup.index.collection`, the
bucket file's upkeep in :mod:`~dedup.index.upkeep`);
:mod:`~dedup.index.signing` signs a batch of articles once (reusing the scan's stages);
:mod:`~dedup.index.query` finds each article's verified matches (candidates -> estimate
floor -> exact verification; whole documents in :mod:`~dedup.index.documents`, contained
texts in :mod:`~dedup.index.contain`, boilerplate by :mod:`~dedup.index.tallies`);
:mod:`~dedup.index.judge` turns them into a verdict as the policy says;
:mod:`~dedup.index.run` decides a batch as one-at-a-time adds would (with
:mod:`~dedup.index.batch`); the rows live behind one storage contract (:mod:`dedup.storage.protocol`),
in an SQLite file or on a Redis server (:func:`dedup.storage.open_storage`).

``add`` runs the same check and the write in one exclusive storage transaction, so two
processes adding near-identical articles at the same moment cannot both be admitted.
Batches (``check_many``, ``add_many``, ``filter``) sign all their articles in one
vectorized pass and use one transaction per batch; a batch's verdicts are those of its
articles checked (added) one at a time, in order.  Adding is idempotent (an id stored
with the same text is "already indexed"; ``dedup index add`` also judges what it
rejected again until the verdicts settle, :mod:`~dedup.index.settle`), and every
document keeps the time it was added, for listing (``ids``, ``documents``) and
retention (``prune``).
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

from ..minhash import floor
from ..plan.local import LocalExecutor
from ..settings import Settings
from ..sketch import SKETCH_MISS, sketch_floor
from ..storage import BUSY_TIMEOUT, Maintained, Storage, StoredDocument, open_storage
from ..verdict import Policy, Verdict
from .collection import LIST_PAGE, Collection
from .items import BadDocument, Input, Item, input_of, raised, stored_with
from .run import Prepared, check_indexed, decide, prepare
from .settle import Adder
from .signing import DERIVE
from .upkeep import OPTIMIZE_AFTER, OPTIMIZE_SHARE, Upkeep

#: Articles per batch in ``filter`` and the CLI (one signing pass and one transaction each).
BATCH_DOCUMENTS = 256
__all__ = ["BATCH_DOCUMENTS", "LIST_PAGE", "OPTIMIZE_AFTER", "OPTIMIZE_SHARE", "BadDocument", "Index", "Item",
           "SKETCH_MISS", "floor", "sketch_floor"]


class Index(Collection, Upkeep):
    """A persistent near-duplicate index.  Open with :meth:`Index.open`.

    One ``Index`` per thread or process (it holds one database connection); any number
    of processes may open the same file at once."""

    def __init__(
        self, storage: Storage, policy: Union[Policy, str, None] = None, auto_optimize: bool = True, jobs: int = 1,
    ) -> None:
        self._store = storage
        self.policy = Policy.of(policy, Policy())
        self.auto_optimize = auto_optimize
        # Batches of many articles are signed on ``jobs`` worker processes (started on
        # first use, stopped by :meth:`close`); the rest of a batch runs here.
        self._executor = LocalExecutor(jobs) if jobs > 1 else None

    @classmethod
    def open(
        cls,
        url: Union[str, os.PathLike],
        settings: Optional[Settings] = None,
        *,
        policy: Union[Policy, str, None] = None,
        create: bool = True,
        readonly: bool = False,
        busy_timeout: float = BUSY_TIMEOUT,
        auto_optimize: bool = True,
        jobs: int = 1,
    ) -> "Index":
        """Open the index at ``url``, creating it (with ``settings``, default
        ``Settings()``) if missing.  ``url`` is a file path (or ``sqlite:///PATH``) for
        an SQLite file, or ``redis://``, ``rediss://``, ``unix://`` for a shared Redis
        server (:func:`dedup.storage.open_storage`).  An existing index keeps its stored
        settings; asking for different ones raises :class:`~dedup.storage.SettingsMismatch`.

        With ``auto_optimize`` (the default) a write that leaves many paragraphs
        outside the bucket file rewrites it (:meth:`optimize`; seconds on a large
        index); pipelines that cannot afford that pause in an ``add`` pass ``False``
        and call :meth:`optimize` (``dedup index optimize``) on their own schedule.

        ``jobs``: processes that sign a batch of at least
        :data:`~dedup.index.signing.PARALLEL_ARTICLES` articles (``add_many``,
        ``check_many``, ``filter``, ``load``), in parts; signing is about a third of an
        add at 100k stored articles (``benchmarks/README-index.md``)."""
        weak = settings.lsh_warning() if settings is not None else None
        if weak:
            warnings.warn(f"{os.fspath(url)}: {weak}", stacklevel=2)
        store = open_storage(url, settings, derive=DERIVE, create=create, readonly=readonly,
                             busy_timeout=busy_timeout)
        index = cls(store, policy, auto_optimize=auto_optimize and not readonly, jobs=jobs)
        if index.auto_optimize:  # e.g. an index upgraded from a format without bucket file
            index._optimize_if_behind()
        return index

    @property
    def settings(self) -> Settings:
        return self._store.settings

    @property
    def path(self) -> str:
        return self._store.path

    # -- the questions -------------------------------------------------------------

    def check(self, text: str, doc_id: Optional[str] = None, *, policy: Union[Policy, str, None] = None) -> Verdict:
        """What the index says about ``text`` (read-only).  Bad input raises :class:`BadDocument`."""
        return raised(self._run([Input(doc_id, text, None)], Policy.of(policy, self.policy), write=False)[0])

    def add(
        self,
        text: str,
        doc_id: Optional[str] = None,
        *,
        meta: Optional[Mapping[str, Any]] = None,
        policy: Union[Policy, str, None] = None,
    ) -> Verdict:
        """Check ``text`` and, as the policy decides, store it -- atomically.

        Without ``doc_id`` the id is derived from the text.  Returns the verdict
        (``verdict.added`` says whether it was stored)."""
        return raised(self._run([Input(doc_id, text, meta)], Policy.of(policy, self.policy), write=True)[0])

    def check_many(self, items: Iterable[Item], *, policy: Union[Policy, str, None] = None,
                   indexed: bool = False) -> list[Verdict]:
        """Verdicts for many articles (``(id, text)`` pairs, dicts with ``id``/``text``,
        :class:`~dedup.readers.Document` s or plain strings), signed in one pass.
        Each is judged against the index alone, as :meth:`check` would judge it -- not
        against the other articles of the batch, which a check does not store -- so the
        verdicts do not depend on the batch's order or make-up.
        Bad items get a verdict with ``error`` set instead of stopping the batch.

        With ``indexed`` (what ``dedup check`` asks, :func:`dedup.index.jobs.check_paths`),
        an article whose id the index stores with that very text is "already indexed",
        as an add of it would say, and not judged (else it would be its own duplicate);
        whether it is stored and the judgement of the others see one read snapshot,
        which begins after the whole batch is signed (:func:`dedup.index.run.check_indexed`)."""
        inputs, policy = [input_of(i) for i in items], Policy.of(policy, self.policy)
        if not indexed:
            return self._run(inputs, policy, write=False)
        return check_indexed(self._store, self._prepare(inputs), policy)

    def add_many(self, items: Iterable[Item], *, policy: Union[Policy, str, None] = None) -> list[Verdict]:
        """Like :meth:`add` for each article in turn, in one transaction: the verdicts,
        and what is stored, are those of adding the articles one at a time in the
        batch's order (each judged against the index *and* the articles of the batch
        added before it; of near-duplicates within the batch, the first is stored), but
        signed in one vectorized pass before the write lock is taken and looked up in
        bulk (:mod:`dedup.index.run`).  A verdict is not judged again after later
        articles of the batch: an article rejected through a site's frame stays
        rejected when a later page shows the frame to be a template (a later add of it
        may store it; ``dedup index add`` settles the whole add instead,
        :mod:`dedup.index.settle`).  Extra keys of dict items are stored as metadata."""
        return self._run([input_of(i) for i in items], Policy.of(policy, self.policy), write=True)

    def filter(
        self,
        stream: Iterable[Item],
        *,
        policy: Union[Policy, str, None] = None,
        batch_size: int = BATCH_DOCUMENTS,
    ) -> Iterator[tuple[Item, Verdict]]:
        """Add a stream of articles batch by batch, yielding ``(item, verdict)``.

        Keep ``verdict.text`` when ``verdict.accepted`` (the article, or under
        ``strip`` its unseen paragraphs; it is ``None`` otherwise).  Each batch is an
        :meth:`add_many`, committed before it is yielded: the verdicts are those of
        adding the stream's articles one at a time, in order.  A bad ``policy`` raises
        ``ValueError`` here, when filter is called, not when the first item is pulled."""
        return self._filtered(stream, Policy.of(policy, self.policy), batch_size)

    def _filtered(self, stream: Iterable[Item], policy: Policy, batch_size: int) -> Iterator[tuple[Item, Verdict]]:
        batch: list[Item] = []
        for item in stream:
            batch.append(item)
            if len(batch) >= batch_size:
                yield from zip(batch, self.add_many(batch, policy=policy))
                batch = []
        if batch:
            yield from zip(batch, self.add_many(batch, policy=policy))

    def load(self, items: Iterable[Item], *, batch_size: int = BATCH_DOCUMENTS, replace: bool = False) -> list[Verdict]:
        """Store articles *without* checking them, one transaction per ``batch_size``
        articles (each signed before its transaction begins).

        For seeding an index from an archive that is already deduplicated (for
        example with ``dedup scan``): nothing is compared, which is several times
        faster than adding one article at a time, and the bucket file is written once
        at the end (with ``auto_optimize``).  Bad items get an ``error`` verdict; an id
        already stored is "already indexed" or an error (``replace``: replaced), as in
        :meth:`add_many`.  Interrupted, the batches committed before stay stored, and
        loading the same articles again resumes: those are "already indexed".  (Why
        not one transaction for the whole load, as before session 18: memory and the
        write-ahead log grew with the archive -- a 4 GB log at 100k articles -- and
        its signing ran inside the write lock, holding every other writer off.)
        """
        verdicts: list[Verdict] = []
        batch: list[Input] = []
        policy = Policy(self.policy.action, self.policy.seen_share, self.policy.add_duplicates, replace)
        for item in items:
            batch.append(input_of(item))
            if len(batch) >= batch_size:
                verdicts.extend(self._run(batch, policy, write=True, judge=False))
                batch = []
        if batch:
            verdicts.extend(self._run(batch, policy, write=True, judge=False))
        if self.auto_optimize:
            self._optimize_if_behind(lambda covered, behind: behind > 0)
        if isinstance(self._store, Maintained):
            self._store.checkpoint()
        return verdicts

    # -- the collection: :class:`.collection.Collection`; upkeep: :class:`.upkeep.Upkeep` -----------------------------------------------------------

    def holds(self, items: Sequence[Mapping[str, Any]], *, texts: bool = False) -> list[bool]:
        """For each item (a mapping with ``id``, and ``text`` when ``texts``): whether
        the index stores that id (with ``texts``: added with that very text, as given
        -- what an add of it would call "already indexed"; a row stored before digests
        were kept has its text compared, as an add does).  One look-up for all."""
        with self._store.transaction(write=False):
            if texts:
                return stored_with(self._store, [item["id"] for item in items], [item["text"] for item in items])
            stored = self._store.digests([item["id"] for item in items])
        return [item["id"] in stored for item in items]

    @contextmanager
    def snapshot(self) -> Iterator["Index"]:
        """One read snapshot for several look-ups (:meth:`holds`, :meth:`check_many`,
        ...): all see what was committed before it began, nothing committed meanwhile
        (SQLite: one deferred ``BEGIN`` in WAL; Redis: one row-id horizon); nested ones
        join it.  No writes inside (Redis raises StorageError; SQLite would write
        without taking the write lock first), and nothing slow: an open snapshot holds
        off SQLite's checkpoints and Redis's horizon, so sign first (``dedup check``
        asks "stored with this text?" and judges the rest in one, its documents signed
        before it, :meth:`check_many` with ``indexed``; an add committed between two
        snapshots made a document its own duplicate: whole-diff review, session 17)."""
        with self._store.transaction(write=False):
            yield self

    def get(self, doc_id: str) -> Optional[StoredDocument]:
        """The stored text, paragraph spans and metadata of ``doc_id`` (or ``None``)."""
        return self._store.get(doc_id)

    def stats(self) -> dict[str, Any]:
        """``{"documents", "paragraphs", "settings", "bytes", ...}``."""
        return self._store.stats()

    def __len__(self) -> int:
        return self._store.count()

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._store.contains(doc_id)

    def discard(self) -> bool:
        """Remove the index when it holds no document and no other process has it open
        (SQLite; an index on a Redis server is kept): what ``dedup index add`` does with
        an index it created when it stored nothing (an empty folder, every file refused,
        interrupted first).  ``True`` when removed, and then only :meth:`close` may
        follow; errors are not raised (the index is kept)."""
        return self._store.discard()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()
        self._store.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is not None and self._executor is not None:  # an error or a signal: the
            self._executor.close(abort=True)  # signing workers are stopped, not waited for
        self.close()

    # -- the work ------------------------------------------------------------------

    def _run(self, inputs: Sequence[Input], policy: Policy, write: bool, judge: bool = True) -> list[Verdict]:
        """Verdicts on a batch, and with ``write`` the batch stored as the policy says
        (:func:`dedup.index.run.prepare`, then :meth:`_decide`)."""
        return self._decide(self._prepare(inputs), policy, write, judge)

    def _prepare(self, inputs: Sequence[Input]) -> Prepared:
        """``inputs`` signed (:func:`dedup.index.run.prepare`; reads nothing stored, so
        it runs before any transaction)."""
        return prepare(inputs, self.settings, self._executor)

    def _decide(self, batch: Prepared, policy: Policy, write: bool, judge: bool = True,
                changed: Optional[list[bool]] = None) -> list[Verdict]:
        """Verdicts on a prepared batch, and with ``write`` the batch stored as the policy
        says (:func:`dedup.index.run.decide`; ``changed``: see there); then a new bucket
        file if one is due."""
        verdicts = decide(self._store, batch, policy, write, judge, changed)
        if write and judge and self.auto_optimize:
            self._optimize_if_behind()
        return verdicts

    def adder(self, policy: Union[Policy, str, None] = None) -> Adder:
        """One in-order pass of an add under ``policy`` (default: the index's), as
        :class:`~dedup.index.settle.Settling` calls it -- ``dedup index add`` adds its
        batches with it and then judges what it rejected again over the whole add
        (:func:`dedup.index.jobs.add_paths`): ``prepare`` signs a batch of
        :class:`~dedup.index.items.Input` s, ``apply`` adds a prepared batch and returns
        its verdicts and which articles changed the index."""
        policy = Policy.of(policy, self.policy)
        def apply(batch: Prepared) -> tuple[list[Verdict], list[bool]]:
            changed = [False] * len(batch)
            return self._decide(batch, policy, write=True, changed=changed), changed
        return Adder(self._prepare, apply)
