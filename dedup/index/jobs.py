"""What ``dedup check`` and ``dedup index add`` run: files in, one verdict per document out.

Files are read exactly as ``dedup scan`` reads them (:func:`dedup.scan.read_paths`:
every format, folders, ``-`` for stdin), as a stream: an archive of 100k articles
seeded with ``dedup index add --load`` is never held in memory whole, and batching
(:data:`~dedup.index.BATCH_DOCUMENTS` articles per signing pass and transaction) happens
here, not in the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Iterator, Sequence

from ..readers import Document, ReadError, ReadOptions
from ..scan import read_paths
from ..sources import Selection
from ..verdict import Policy, Verdict
from . import BATCH_DOCUMENTS, Index


@dataclass
class Job:
    """What a job read and decided: ``documents`` (path and source, text dropped) and
    their ``verdicts`` (same order), and the ``errors`` of what could not be read."""

    documents: list[Document] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)


def check_paths(
    index: Index, paths: Sequence[str | Path], selection: Selection, options: ReadOptions, policy: Policy
) -> Job:
    """Check every document under ``paths`` against ``index`` (read-only), in batches."""
    job = Job()
    docs = _stream(paths, selection, options, job)
    while batch := list(islice(docs, BATCH_DOCUMENTS)):
        job.verdicts.extend(index.check_many(batch, policy=policy))
    return job


def add_paths(
    index: Index,
    paths: Sequence[str | Path],
    selection: Selection,
    options: ReadOptions,
    policy: Policy,
    *,
    load: bool = False,
) -> Job:
    """Add every document under ``paths`` to ``index`` as ``policy`` says (``load``:
    store everything unchecked, :meth:`Index.load`)."""
    job = Job()
    docs = _stream(paths, selection, options, job)
    if load:
        job.verdicts = index.load(docs)
    else:
        job.verdicts = [v for _, v in index.filter(docs, policy=policy)]
    return job


def _stream(paths: Sequence[str | Path], selection: Selection, options: ReadOptions, job: Job) -> Iterator[Document]:
    """The documents under ``paths`` as they are read; what the report needs later (the
    path and source, not the text) and the read errors are kept in ``job``."""
    for item in read_paths([Path(p) for p in paths], selection, options):
        if isinstance(item, ReadError):
            job.errors.append(item)
        else:
            job.documents.append(replace(item, text=""))
            yield item
