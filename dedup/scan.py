"""``scan``: the batch job, as a library call (``dedup scan`` is a thin layer over it).

Reads every document under the given paths, signs them in batches, detects duplicate
paragraphs and documents, and returns a :class:`~dedup.results.ScanResult`.  Bad files
become entries in ``result.errors``; they never stop the scan.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

from .cache import SignatureCache, document_digest
from .corpus import Corpus, sign_documents
from . import boilerplate
from .detect import LEVELS, boilerplate_mask, detect
from .progress import NO_PROGRESS, Progress
from .readers import STDIN_ARG, Document, ReadError, ReadOptions, ReadWarning, read_file, read_stdin
from .readers.text import surrogate_problem
from .results import Kind, ScanResult
from .settings import Settings
from .sources import Selection, check_roots, walk

#: Documents per batch, on average (see :func:`batches`): large enough for numpy to
#: amortize its call overhead, small enough to spread a scan over several processes.
BATCH_DOCUMENTS = 256
#: Hard caps on a batch, which keep its temporary arrays to a few hundred MB.
BATCH_MAX_DOCUMENTS = 1024
BATCH_MAX_CHARS = 16_000_000


def scan(
    paths: Union[str, Path, Sequence[Union[str, Path]]],
    settings: Settings | None = None,
    *,
    levels: Sequence[Kind] = LEVELS,
    selection: Selection | None = None,
    read_options: ReadOptions | None = None,
    jobs: int = 1,
    cache_dir: Union[str, Path, None] = None,
    all_pairs: bool = False,
    progress: Progress = NO_PROGRESS,
) -> ScanResult:
    """Find duplicate documents and paragraphs in the files under ``paths``.

    Report paths are relative to the scanned folder when one folder is given, and
    prefixed with each root as given otherwise.  A path ``"-"`` reads stdin, as
    ``read_options.stdin_format`` says.  ``progress`` is told of documents read and
    signed, then of the detection stage (see :mod:`dedup.progress`).  Raises
    :class:`FileNotFoundError` if a path does not exist; every other problem with a
    file is an entry in ``errors``.
    """
    roots = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    check_roots(roots, STDIN_ARG)
    return scan_documents(
        progress.counted(read_paths(roots, selection or Selection(), read_options or ReadOptions()),
                         "reading and signing"),
        settings,
        levels=levels,
        jobs=jobs,
        cache_dir=cache_dir,
        all_pairs=all_pairs,
        progress=progress,
    )


def scan_documents(
    documents: Iterable[Union[Document, ReadError]],
    settings: Settings | None = None,
    *,
    levels: Sequence[Kind] = LEVELS,
    jobs: int = 1,
    cache_dir: Union[str, Path, None] = None,
    all_pairs: bool = False,
    progress: Progress = NO_PROGRESS,
) -> ScanResult:
    """Like :func:`scan`, over documents you already have in memory.

    ``jobs`` processes sign the documents (the result is the same for any number);
    with ``cache_dir`` signed batches are kept there and reused by later scans
    (see :mod:`dedup.cache`).  ``all_pairs`` reports every verified pair instead of
    the pairs that link each group (see :func:`dedup.detect.detect`).
    """
    settings = settings or Settings()
    cache = SignatureCache(Path(cache_dir), settings) if cache_dir is not None else None
    corpus = build_corpus(documents, settings, jobs=jobs, cache=cache)
    progress.stage(f"finding and verifying candidates among {corpus.paragraphs:,} paragraphs", "")
    common = boilerplate_mask(corpus, settings)
    pairs, groups = detect(corpus, settings, levels, all_pairs=all_pairs, boilerplate=common)
    progress.close()
    return ScanResult(
        settings={**settings.to_dict(), "levels": [lvl for lvl in LEVELS if lvl in levels], "all_pairs": all_pairs},
        documents=corpus.documents,
        pairs=pairs,
        groups=groups,
        errors=corpus.errors,
        boilerplate=boilerplate.groups(corpus, common) if "paragraph" in levels else [],
        warnings=corpus.warnings,
    )


def build_corpus(
    documents: Iterable[Union[Document, ReadError]],
    settings: Settings,
    *,
    jobs: int = 1,
    cache: SignatureCache | None = None,
) -> Corpus:
    """Sign documents batch by batch on ``jobs`` processes, reusing ``cache`` entries;
    read errors and documents' warnings are carried along in order.  The corpus does
    not depend on ``jobs`` or on the cache: batches are signed independently and
    joined in document order."""
    errors: list[ReadError] = []
    warnings: list[ReadWarning] = []

    def readable() -> Iterator[Document]:
        for item in documents:
            if isinstance(item, ReadError):
                errors.append(item)
            elif problem := surrogate_problem(item.text):
                errors.append(ReadError(item.path, f"the text holds {problem}"))
            else:
                if item.warning:
                    warnings.append(ReadWarning(item.path, item.warning))
                yield item

    parts = list(sign_batches(batches(readable()), settings, jobs=jobs, cache=cache))
    corpus = Corpus.concat(parts or [sign_documents([], settings)], settings.num_perm)
    corpus.errors = errors
    corpus.warnings = warnings
    return corpus


def available_cpus() -> int:
    """CPUs this process may run on (the default number of signing processes)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Batch:
    """Documents signed together, with their content digests (the cache key)."""

    documents: list[Document]
    digests: list[bytes]


def batches(documents: Iterable[Document]) -> Iterator[Batch]:
    """Cut ``documents`` into batches at content-defined boundaries.

    A batch ends after a document whose digest is 0 modulo :data:`BATCH_DOCUMENTS`
    (or at the size caps).  Why not every N documents: adding or removing one file
    would then shift every later batch and miss the cache for the rest of the scan;
    with boundaries chosen by content, only the batch around the change is re-signed.
    """
    docs: list[Document] = []
    digests: list[bytes] = []
    chars = 0
    for doc in documents:
        digest = document_digest(doc)
        docs.append(doc)
        digests.append(digest)
        chars += len(doc.text)
        boundary = int.from_bytes(digest[:4], "little") % BATCH_DOCUMENTS == 0
        if boundary or len(docs) >= BATCH_MAX_DOCUMENTS or chars >= BATCH_MAX_CHARS:
            yield Batch(docs, digests)
            docs, digests, chars = [], [], 0
    if docs:
        yield Batch(docs, digests)


def sign_batches(
    batches: Iterable[Batch], settings: Settings, *, jobs: int = 1, cache: SignatureCache | None = None
) -> Iterator[Corpus]:
    """Signed batches, in order: from the cache when it has them, else signed here
    (``jobs`` <= 1) or in a pool of ``jobs`` worker processes.

    Cache hits are loaded by this process; misses go to the workers, which also write
    the new entries, so both signing and cache writes run in parallel.  At most
    ``2 * jobs`` batches are in flight, which bounds memory.
    """
    batches = iter(batches)
    head = list(islice(batches, 2))
    batches = chain(head, batches)
    if jobs <= 1 or len(head) < 2:  # one batch: starting a pool would only cost time
        for batch in batches:
            hit = cache.load(cache.key(batch.digests), batch.documents) if cache else None
            yield hit if hit is not None else _sign_batch(batch, settings, cache)[0]
        return
    pending: deque = deque()
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_signals)
    try:
        for batch in batches:
            hit = cache.load(cache.key(batch.digests), batch.documents) if cache else None
            pending.append(hit if hit is not None else pool.submit(_sign_batch, batch, settings, cache))
            while len(pending) > 2 * jobs:
                yield _collect(pending.popleft(), cache)
        while pending:
            yield _collect(pending.popleft(), cache)
    except BaseException:
        _stop_workers(pool, cache)
        raise
    else:
        pool.shutdown()


def _worker_signals() -> None:
    """In a signing process: leave Ctrl-C to the parent (a terminal sends SIGINT to the
    whole process group; the parent stops the pool), and let SIGTERM end it at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_workers(pool: ProcessPoolExecutor, cache: SignatureCache | None) -> None:
    """Stop a pool whose results are no longer wanted (an error or a signal in this
    process): cancel what has not started, end the running workers (SIGTERM) instead of
    waiting for their batches, reap them, and remove the cache temporaries they leave."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join()
    if cache is not None:
        cache.sweep_temporaries_of([p.pid for p in workers])


def _sign_batch(batch: Batch, settings: Settings, cache: SignatureCache | None) -> tuple[Corpus, int]:
    """Sign one batch and store it in ``cache``; returns the corpus and how many cache
    writes failed (a worker's own cache object is a copy)."""
    corpus = sign_documents(batch.documents, settings)
    if cache is None:
        return corpus, 0
    before = cache.stats.write_errors
    cache.store(cache.key(batch.digests), corpus)
    return corpus, cache.stats.write_errors - before


def _collect(item: Union[Corpus, Future], cache: SignatureCache | None) -> Corpus:
    if isinstance(item, Corpus):
        return item
    corpus, write_errors = item.result()
    if cache is not None:
        cache.stats.write_errors += write_errors
    return corpus


def read_paths(
    roots: Sequence[Path], selection: Selection, options: ReadOptions,
    naming: Optional[Callable[[Path], str]] = None,
) -> Iterator[Union[Document, ReadError]]:
    """Every document (or read error) under ``roots``, in path order (``-``: stdin).
    Files are named as a scan reports them, or ``naming(path)`` when given (the
    index's ids, :mod:`dedup.index.ids`).

    A file reached twice (named twice, or under two overlapping roots) is read once:
    otherwise it would be reported as its own duplicate.  Stdin is read once too.
    """
    seen: set[tuple[int, int]] = set()
    stdin_read = False
    for root in roots:
        if root == Path(STDIN_ARG):
            if not stdin_read:
                stdin_read = True
                yield from read_stdin(options)
            continue
        single = len(roots) == 1
        prefix = "" if single else root.as_posix().rstrip("/") + "/"
        for entry in walk(root, selection):
            if isinstance(entry, ReadError):
                yield entry if entry.path == str(root) else ReadError(prefix + entry.path, entry.error)
                continue
            identity = _file_identity(entry.path)
            if identity in seen:
                continue
            if identity is not None:
                seen.add(identity)
            if naming is not None:
                name = naming(entry.path)
            else:
                name = (entry.name if single else root.as_posix()) if entry.path == root else prefix + entry.name
            yield from read_file(entry.path, name, options)


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None  # reading it will report the problem
    return (st.st_dev, st.st_ino)
