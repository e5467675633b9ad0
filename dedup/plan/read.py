"""Stages 0 and 1 on the Dask engine's workers: each reads a run of files and signs it.

The client only lists the inputs (:func:`dedup.inputs.list_inputs`: files unread, and
the entries that cannot be visited) and groups consecutive ones into *runs* of about a
shard's size (by file size, :func:`dedup.plan.sign.runs`).  Each run goes to a worker
as a :class:`ReadTask`; the worker opens its files itself -- a local path, or an fsspec
URL (``s3://...``) that it reads straight from the store -- and signs what it read
with the local engine's code (:func:`dedup.plan.sign.screen`, ``batches``,
:func:`~dedup.plan.sign.sign_shard`).  So the documents never pass through the
client, and reading is spread over the workers as signing is.

What the workers cannot open is read by the client and handed over as documents, as
every input was before: stdin, ``memory://`` files, and a file on this machine's disk
that some worker does not see as it was listed -- missing there, or of another size (a
cluster on other machines that does not mount that folder, or mounts another folder
at the same path).  Every worker is asked once per run, for all of the run's files on
this machine's disk (:meth:`dedup.plan.dask.DaskExecutor.sees`; see each input's
``needs``, :mod:`dedup.inputs`).  A file another worker sees with the same size but
other bytes is not detected.

Results are the local engine's: a run is read in order and the runs are numbered in
scan order; a run's text is signed into shards sized as the local engine sizes them
(:func:`~dedup.plan.sign.shard_limit` of the inputs before, but at most
:data:`SHARD_CHARS`, so memory per worker stays bounded whatever a file holds),
numbered ``run * RUN_SHARDS + j``, and the scan's :class:`Scratch` lists
those numbers in order (``Scratch.numbers``) for every later stage.  Read errors and
warnings come back with each run, in order.  One file is read by one worker (its
records are named, and repeated ids found, in file order): a corpus in one huge file
is read and signed by one worker; give the Dask engine many shard files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Union

from ..cache import SignatureCache
from ..inputs import ANYWHERE, Input, LocalFile, RemoteFile
from ..progress import Progress
from ..readers import Document, ReadError, ReadWarning
from ..results import FilesRead
from ..settings import Settings
from .scratch import Scratch
from . import sign
from .sign import Batch, ShardInfo, ShardTask, batches, runs, screen, shard_limit, sign_shard

#: Shard numbers per run: run ``r`` signs into shards ``r * RUN_SHARDS + j``.
RUN_SHARDS = 1 << 16
#: Text per shard at most (the local engine's shards grow to 16 MB,
#: :data:`~dedup.plan.sign.SHARD_MAX_CHARS`): signing a shard holds ~25 bytes a
#: character and banding it ~50 (one wave; measured on generated text), so a worker's
#: largest tasks stay the candidate stage's, which its rows bound
#: (:data:`~dedup.plan.job.ROWS_PER_PARTITION`), whatever the corpus.  At 1M
#: paragraphs the 5 MB shards made signing the second largest task (benchmarks/README.md).
#: A shard ends before the batch that would take it past this (``runs(at_most=True)``;
#: a batch larger than it is a shard of its own): ending *after* it let a shard grow by
#: one batch of up to 1,024 documents, and the more shards reached the limit the larger
#: the largest -- a worker's peak at 2M paragraphs, 165 MB of its own memory, 131-135
#: now for the same tasks (benchmarks/README.md, "Dask engine", session 17).
SHARD_CHARS = 1 << 22

Piece = Union[Document, ReadError, LocalFile, RemoteFile]


@dataclass(frozen=True)
class ReadTask:
    """One run to read and sign: its number (in scan order) and its pieces, in order:
    files the worker reads, or documents and read errors the client read.  ``seen``
    (the size of the inputs before the run) and ``jobs`` size its shards as the local
    engine's (:func:`dedup.plan.sign.shard_limit`)."""

    run: int
    pieces: list[Piece]
    seen: int
    jobs: int


@dataclass
class RunInfo:
    """What reading and signing a run tells the client: its shards (in order), its
    read errors and warnings (in order), and how many files and items (documents and
    errors) it read."""

    shards: list[ShardInfo]
    errors: list[ReadError]
    warnings: list[ReadWarning]
    files: int
    items: int


def read_sign(scratch: Scratch, task: ReadTask, settings: Settings,
              cache: Optional[SignatureCache] = None) -> RunInfo:
    """Read ``task``'s files and sign everything in it (on a worker; see the module
    doc).  Raises ``OSError`` when the scratch folder cannot be written, ``ValueError``
    when one run would need more than :data:`RUN_SHARDS` shards."""
    errors: list[ReadError] = []
    warnings: list[ReadWarning] = []
    files = items = 0

    def read() -> Iterator[Union[Document, ReadError]]:
        nonlocal files, items
        for piece in task.pieces:
            if isinstance(piece, (Document, ReadError)):
                items += 1
                yield piece
                continue
            files += 1
            for item in piece.read():
                items += 1
                yield item

    shards = []
    signable = batches(screen(read(), errors, warnings))
    def limit(seen: int) -> int:
        return min(SHARD_CHARS, shard_limit(task.seen + seen, task.jobs))

    for j, shard in enumerate(runs(signable, Batch.chars, limit, at_most=True)):
        if j == RUN_SHARDS:
            raise ValueError(f"run {task.run} holds more than {RUN_SHARDS} shards of text: split its files")
        shards.append(sign_shard(scratch, ShardTask(task.run * RUN_SHARDS + j, shard), settings, cache))
    return RunInfo(shards, errors, warnings, files, items)


def _named_once(doc: Document, number: int, taken: set[str]) -> Document:
    """``doc`` (the ``number``-th item given to a scan, 1-based) as the scan names it: a
    name an earlier given document has becomes ``NAME@NUMBER`` (``@NUMBER`` again if
    even that is taken) with a warning, as a JSON Lines record whose id repeats is
    (README: Record names) -- new user's N9 (session 18): ``scan_documents`` of two
    documents named ``a`` reported ``a`` paired with itself.  Adds the name to ``taken``."""
    name = doc.path
    while name in taken:
        name += f"@{number}"
    taken.add(name)
    if name == doc.path:
        return doc
    note = f"item {number:,} repeats the name of an earlier document; named {name!r}, compared like any document"
    return dataclasses.replace(doc, path=name, warning="; ".join(w for w in (doc.warning, note) if w))


def read_and_sign(
    inputs: Iterable[Union[Document, ReadError, Input]],
    settings: Settings,
    executor,
    scratch: Scratch,
    cache: Optional[SignatureCache],
    progress: Progress,
    errors: list[ReadError],
    warnings: list[ReadWarning],
    files: FilesRead,
) -> tuple[list[ShardInfo], Scratch]:
    """The client's side: ``inputs`` in runs to ``executor``'s workers (its ``imap``),
    at most ``2 * jobs`` runs ahead.  Returns the shards signed, in scan order, and
    ``scratch`` naming their folders (``Scratch.numbers``); read errors and warnings
    are added to ``errors`` and ``warnings``, the files read (or sent to be read) to
    ``files``.  ``progress`` hears of files and items read and documents signed."""
    # An executor whose workers share this machine's disk splits a large file over them
    # (its documents read here go out in runs like any others); a cluster reads it whole.
    split_above = getattr(executor, "split_above", None) or float("inf")

    def pieces() -> Iterator[Piece]:
        given: set[str] = set()  # the names of the caller's own documents
        for number, entry in enumerate(inputs, 1):
            if isinstance(entry, (Document, ReadError)):
                yield _named_once(entry, number, given) if isinstance(entry, Document) else entry
                continue
            files.add(entry.shown)
            if entry.needs is not None and (entry.size or 0) <= split_above:
                yield entry
            else:  # stdin, memory://, a file to split: read here
                progress.count("files")
                yield from entry.read()

    def checked(run: list[Piece]) -> list[Piece]:
        """``run`` with each file on this machine's disk that some worker does not see
        as listed (missing, or another size) replaced by its documents, read here."""
        local = [i for i, piece in enumerate(run) if isinstance(piece, (LocalFile, RemoteFile))
                 and piece.needs != ANYWHERE]
        answers = executor.sees([(run[i].path, run[i].size) for i in local]) if local else []
        blind = {i for i, ok in zip(local, answers) if not ok}
        if not blind:
            return run
        out: list[Piece] = []
        for i, piece in enumerate(run):
            if i in blind:
                progress.count("files")
                out.extend(piece.read())
            else:
                out.append(piece)
        return out

    def size(piece: Piece) -> int:
        if isinstance(piece, Document):
            return len(piece.text)
        return 0 if isinstance(piece, ReadError) else piece.size or sign.SHARD_MIN_CHARS

    def tasks() -> Iterator[ReadTask]:
        before = 0
        for r, run in enumerate(runs(pieces(), size, lambda n: shard_limit(n, executor.jobs))):
            yield ReadTask(r, checked(run), before, executor.jobs)
            before += sum(map(size, run))

    infos: list[ShardInfo] = []
    progress.stage("reading and signing")
    for done in executor.imap(read_sign, ((scratch, task, settings, cache) for task in tasks())):
        infos.extend(done.shards)
        errors.extend(done.errors)
        warnings.extend(done.warnings)
        progress.count("files", done.files)
        progress.advance(done.items)
        progress.count("signed", sum(len(info.documents) for info in done.shards))
    return infos, dataclasses.replace(scratch, numbers=tuple(info.shard for info in infos))
