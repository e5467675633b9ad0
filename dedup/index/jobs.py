"""What ``dedup check`` and ``dedup index add`` run: files in, one verdict per document out.

Files are read exactly as ``dedup scan`` reads them (:func:`dedup.scan.read_paths`:
every format, folders, ``-`` for stdin), as a stream: an archive of 100k articles
seeded with ``dedup index add --load`` is never held in memory whole, and batching
(:data:`~dedup.index.BATCH_DOCUMENTS` articles per signing pass and transaction) happens
here, not in the CLI.  Documents are named by their index ids (:mod:`dedup.index.ids`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Iterator, Optional, Sequence

from ..progress import NO_PROGRESS, Progress
from ..readers import Document, ReadError, ReadOptions, ReadWarning
from ..inputs import roots_of
from ..results import FilesRead
from ..scan import read_paths
from ..sources import Selection
from ..storage import own_files
from ..storage.protocol import IndexCorrupt, rolled_back
from ..verdict import Policy, Verdict
from . import BATCH_DOCUMENTS, Index
from .ids import Naming
from .items import input_of
from .settle import Settling


@dataclass
class Job:
    """What a job read and decided: ``documents`` (named as reports name them, text
    dropped), their index ``ids`` and ``verdicts`` (same order), the ``errors`` of
    what could not be read and the readers' ``warnings`` (as a scan has them), the
    ``files`` read (:class:`~dedup.results.FilesRead`); with
    ``keep_texts``, ``texts`` holds the text of each document that matched something
    (by report name), for reports that show it beside what it matched."""

    documents: list[Document] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    warnings: list[ReadWarning] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    keep_texts: bool = False
    files: FilesRead = field(default_factory=FilesRead)

    def keep(self, batch: Sequence[dict], verdicts: Sequence[Verdict]) -> None:
        """Record the ``verdicts`` on ``batch`` (the index items of the next documents)."""
        if self.keep_texts:
            first = len(self.verdicts)
            self.texts.update((self.documents[first + k].path, item["text"])
                              for k, (item, v) in enumerate(zip(batch, verdicts)) if v.flagged)
        self.verdicts.extend(verdicts)


def check_paths(
    index: Index, paths: Sequence[str | Path], selection: Selection, options: ReadOptions, policy: Policy,
    *, progress: Progress = NO_PROGRESS, keep_texts: bool = False, naming: Naming = Naming(),
) -> Job:
    """Check every document under ``paths`` against ``index`` (read-only), in batches
    (``progress`` counts the documents read; ``keep_texts``: see :class:`Job`).  A
    document whose id is stored with the same text is "already indexed", as an add of
    it says, and not judged (it would be its own duplicate: a new user of session 16
    got DUPLICATE, exit 1, from ``check`` and "already indexed", exit 0, from ``add``):
    :meth:`Index.check_many` with ``indexed`` (whether it is stored and the judgement of
    the rest see one read snapshot, which begins after the batch is signed)."""
    job = Job(keep_texts=keep_texts)
    docs = _stream(index, paths, selection, options, job, progress, naming)
    while batch := list(islice(docs, BATCH_DOCUMENTS)):
        job.keep(batch, index.check_many(batch, policy=policy, indexed=True))
    progress.close()
    return job


def add_paths(
    index: Index,
    paths: Sequence[str | Path],
    selection: Selection,
    options: ReadOptions,
    policy: Policy,
    *,
    load: bool = False,
    progress: Progress = NO_PROGRESS,
    keep_texts: bool = False,
    naming: Naming = Naming(),
    tmp_dir: Optional[str] = None,
) -> Job:
    """Add every document under ``paths`` to ``index`` as ``policy`` says (``load``:
    store everything unchecked, :meth:`Index.load`; ``progress`` counts the documents
    read; ``keep_texts``: see :class:`Job`), one batch (one transaction) at a time,
    then the ones it did not store judged again over the whole add until their verdicts
    settle (:mod:`dedup.index.settle`; they wait in a temporary file in ``tmp_dir``):
    adding the same documents again adds nothing and gives the same verdicts.

    Interrupted (an error or a signal), the exception gets a note (PEP 678, shown by
    the CLI) saying exactly which documents are stored: see :func:`_note_committed`."""
    job = Job(keep_texts=keep_texts)
    docs = _stream(index, paths, selection, options, job, progress, naming)
    batch: list[dict] = []
    settling = Settling(policy, folder=tmp_dir, batch=BATCH_DOCUMENTS)
    add = index.adder(policy)
    try:
        if load:
            job.verdicts = index.load(docs, replace=policy.replace)
        else:
            while True:
                batch = []  # while the next batch is read, none is in flight
                batch = list(islice(docs, BATCH_DOCUMENTS))
                if not batch:
                    break
                job.keep(batch, settling.judge(add, add.prepare([input_of(item) for item in batch])))
            batch = []
            settling.settle(add, job.verdicts)
    except BaseException as err:  # an error or a signal: say what stays committed
        flight = batch or [{"id": inp.doc_id, "text": inp.text} for inp in settling.flight]
        _note_committed(err, index, job, flight, load)
        raise
    finally:
        settling.close()
    progress.close()
    return job


def _note_committed(err: BaseException, index: Index, job: Job, batch: list[dict], load: bool) -> None:
    """Add a note (PEP 678) to ``err`` saying which documents read are stored in the
    index now (those stay) and which are not.

    Batches before the one in flight committed: their verdicts say what they stored
    (``added``; ``already indexed`` ones were stored before).  The batch in flight
    (``batch``) committed whole or not at all -- the failure may have come after its
    commit (during bucket-file upkeep) -- so its documents are looked up: one stored
    with the text read counts as stored.  ``--load`` returns no verdict before its
    end (each of its batches commits on its own, :meth:`Index.load`), so everything
    it read is looked up by id.  When the
    index cannot be read to tell (the failure was the index's: a Redis server restarted
    mid-batch), the batch in flight may be stored in part -- a backend that publishes
    each write at once keeps what it published -- and the note says so, not "none"
    (tester's F6, session 15: "none stored" while 116 were)."""
    judged = job.verdicts if not load else []
    flight = batch if not load else [{"id": i} for i in job.ids]
    stored = [job.ids[k] for k, v in enumerate(judged) if v.added or v.already_indexed]
    unknown: list[str] = []  # of the batch in flight, may be stored by this add
    undone: list[str] = []  # of the batch in flight, whose write was undone whole
    try:
        held = index.holds(flight) if load else index.holds(flight, texts=True)
    except Exception:  # the index itself is what failed: say what is known, and what is not
        held = [False] * len(flight)
        done = set(stored)
        ids = [doc_id for doc_id in dict.fromkeys(item["id"] for item in flight) if doc_id not in done]
        # A write transaction undone whole stored none of its batch: "up to 1 may be
        # stored" was said of damage found before any write (s23 audit of #12).
        if rolled_back(err) and not load:
            undone = ids
        else:
            unknown = ids
    stored = list(dict.fromkeys(stored + [item["id"] for item, h in zip(flight, held) if h]))  # kept twice if
    # the interruption came after the verdicts of the batch in flight were kept
    read = len(job.ids)
    if not read and not unknown:
        note = f"{index.path}: stopped before any document was read; nothing is stored in the index"
    elif not stored:
        known = "is known to be" if unknown or undone else "is"
        note = f"{index.path}: stopped; none of the {read} documents read {known} stored in the index"
    else:
        named = ", ".join(stored) if len(stored) <= 3 else f"the last: {stored[-1]}"
        note = (f"{index.path}: stopped; {len(stored)} of the {read} documents read are stored in the index "
                f"({named}) and stay there")
    if unknown:
        note += (f"; up to {len(unknown)}{' more' if stored else ''}, of the batch being written when it stopped, "
                 f"may be stored{' too' if stored else ''} (the index could not be read to tell)")
    if undone:
        note += (f"; this add stored none of the {len(undone)} of the batch being written when it stopped "
                 "(its write was undone whole; whether the index held them before could not be read)")
    if read > len(stored) + len(unknown) + len(undone):
        note += (f"{'; the other' if stored or unknown or undone else ':'} "
                 f"{read - len(stored) - len(unknown) - len(undone)} are not (rejected, refused or not reached")
        # Running it again cannot help a damaged index (new user N19 of session 18).
        again = ": run the same command again to add them" if not isinstance(err, IndexCorrupt) else ""
        note += ")" if unknown else again + ")"
    if (unknown or undone) and not isinstance(err, IndexCorrupt):
        note += ": run the same command again once the index can be read (what is stored is skipped)"
    err.__notes__ = [*getattr(err, "__notes__", []), note]


def _stream(index: Index, paths: Sequence[str | Path], selection: Selection, options: ReadOptions, job: Job,
            progress: Progress, naming: Naming) -> Iterator[dict]:
    """The index items (:meth:`Naming.item`) of the documents under ``paths`` as they
    are read, the index's own files left out (an index inside the folder it indexes:
    :func:`dedup.storage.own_files`); what the report needs later (the name and
    source, not the text), the ids, the read errors and warnings are kept in ``job``."""
    own = own_files(index.path)
    given = selection.skip
    selection = replace(selection, skip=own if given is None else lambda p: own(p) or given(p))
    for doc in progress.counted(read_paths(roots_of(paths), selection, options, naming.file_id,
                                           job.files.add), "documents"):
        if isinstance(doc, ReadError):
            job.errors.append(doc)
        else:
            item = naming.item(doc)
            name = naming.report_name(doc)
            if doc.warning:
                job.warnings.append(ReadWarning(name, doc.warning))
            job.documents.append(replace(doc, path=name, text=""))
            job.ids.append(item["id"])
            yield item
