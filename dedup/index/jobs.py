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
from typing import Iterator, Sequence

from ..progress import NO_PROGRESS, Progress
from ..readers import Document, ReadError, ReadOptions
from ..scan import read_paths
from ..sources import Selection
from ..verdict import Policy, Verdict
from . import BATCH_DOCUMENTS, Index
from .ids import Naming


@dataclass
class Job:
    """What a job read and decided: ``documents`` (path and source, text dropped) and
    their ``verdicts`` (same order), and the ``errors`` of what could not be read;
    with ``keep_texts``, ``texts`` holds the text of each document that matched
    something (by path), for reports that show it beside what it matched."""

    documents: list[Document] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    keep_texts: bool = False

    def keep(self, docs: Sequence[Document], verdicts: Sequence[Verdict]) -> Sequence[Verdict]:
        if self.keep_texts:
            self.texts.update((d.path, d.text) for d, v in zip(docs, verdicts) if v.flagged)
        return verdicts


def check_paths(
    index: Index, paths: Sequence[str | Path], selection: Selection, options: ReadOptions, policy: Policy,
    *, progress: Progress = NO_PROGRESS, keep_texts: bool = False, naming: Naming = Naming(),
) -> Job:
    """Check every document under ``paths`` against ``index`` (read-only), in batches
    (``progress`` counts the documents read; ``keep_texts``: see :class:`Job`)."""
    job = Job(keep_texts=keep_texts)
    docs = _stream(paths, selection, options, job, progress, naming)
    while batch := list(islice(docs, BATCH_DOCUMENTS)):
        job.verdicts.extend(job.keep(batch, index.check_many(batch, policy=policy)))
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
) -> Job:
    """Add every document under ``paths`` to ``index`` as ``policy`` says (``load``:
    store everything unchecked, :meth:`Index.load`; ``progress`` counts the documents
    read; ``keep_texts``: see :class:`Job`)."""
    job = Job(keep_texts=keep_texts)
    docs = _stream(paths, selection, options, job, progress, naming)
    try:
        if load:
            job.verdicts = index.load(docs, replace=policy.replace)
        else:
            for d, v in index.filter(docs, policy=policy):
                job.verdicts.extend(job.keep([d], [v]))
    except BaseException as err:  # an error or a signal: say what stays committed
        _note_committed(err, index, job, load)
        raise
    progress.close()
    return job


def _note_committed(err: BaseException, index: Index, job: Job, load: bool) -> None:
    """Add a note (PEP 678, shown by the CLI) to ``err`` saying what the batches
    committed before it stored: those documents stay in the index.  The batch in flight
    may have committed too (the failure came after its commit, during the bucket-file
    upkeep): its documents are looked up in the index."""
    stored = [v.doc_id for v in job.verdicts if v.added]
    try:
        if load:  # one transaction: committed (the failure came after it) or rolled back whole
            committed = bool(job.documents) and job.documents[-1].path in index
            stored = [d.path for d in job.documents] if committed else []
        else:
            stored += [d.path for d in job.documents[len(job.verdicts):] if d.path in index]
    except Exception:  # the index itself is what failed: say what is known
        pass
    if load:
        note = (f"{index.path}: stopped after the --load transaction stored {len(stored)} documents"
                if stored else f"{index.path}: stopped; --load stores in one transaction, nothing was added")
    else:
        last = f" (the last: {stored[-1]})" if stored else ""
        note = (f"{index.path}: stopped after {len(job.verdicts)} documents were judged and "
                f"{len(stored)} stored{last}; those stay in the index, the rest were not added")
    err.__notes__ = [*getattr(err, "__notes__", []), note]


def _stream(paths: Sequence[str | Path], selection: Selection, options: ReadOptions, job: Job,
            progress: Progress, naming: Naming) -> Iterator[Document]:
    """The documents under ``paths`` as they are read, named by their ids; what the
    report needs later (the id and source, not the text) and the read errors are kept
    in ``job``."""
    for item in progress.counted(read_paths([Path(p) for p in paths], selection, options, naming.file_id),
                                 "documents"):
        if isinstance(item, ReadError):
            job.errors.append(item)
        else:
            item = naming.named(item)
            job.documents.append(replace(item, text=""))
            yield item
