"""``scan``: the batch job, as a library call (``dedup scan`` is a thin layer over it).

Reads every document under the given paths, runs the scan's plan of partitioned
stages over them (:mod:`dedup.plan`: signing, exact copies, LSH candidates, estimate
floor and exact verification, grouping) and returns a
:class:`~dedup.results.ScanResult`.  Bad files become entries in ``result.errors``; they
never stop the scan.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Collection, Iterable, Iterator, Literal, Optional, Sequence, Union

from .cache import SignatureCache
from .plan.job import run_scan
from .plan.local import LocalExecutor
from .plan.scratch import scratch_folder
from .progress import NO_PROGRESS, Progress
from .inputs import Input, list_inputs, roots_of
from .readers import STDIN_ARG, Document, ReadError, ReadOptions
from .remote import expand
from .results import LEVELS, Kind, ScanResult
from .settings import Settings
from .sources import Selection, check_roots

#: Where the scan's stages run: this machine's process pool, or a Dask cluster.
Engine = Literal["local", "dask"]
ENGINES = ("local", "dask")


def scan(
    paths: Union[str, Path, Sequence[Union[str, Path]]],
    settings: Settings | None = None,
    *,
    levels: Sequence[Kind] = LEVELS,
    selection: Selection | None = None,
    read_options: ReadOptions | None = None,
    jobs: int = 1,
    cache_dir: Union[str, Path, None] = None,
    all_pairs: Union[bool, Collection[Kind]] = False,
    progress: Progress = NO_PROGRESS,
    tmp_dir: Union[str, Path, None] = None,
    partitions: int | None = None,
    engine: Engine = "local",
    scheduler: str | None = None,
) -> ScanResult:
    """Find duplicate documents and paragraphs in the files under ``paths``.

    Report paths are relative to the scanned folder when one folder is given, and
    prefixed with each root as given otherwise.  A path ``"-"`` reads stdin, as
    ``read_options.stdin_format`` says.  ``progress`` is told of documents read
    (and files read, documents signed), then of each stage of detection (candidates
    verified, see :func:`dedup.plan.job.run_level`).  A path given as a string that is
    a URL (``s3://bucket/shards/*.parquet``) or a glob names its files through fsspec
    (:mod:`dedup.remote`).  Raises :class:`FileNotFoundError` if a path does not exist
    (or a URL or glob matches nothing), ``ValueError`` if fsspec cannot read a URL's
    protocol; every other problem with a file is an entry in ``errors``.
    """
    roots = roots_of(paths)
    check_roots([r for r in roots if isinstance(r, Path)], STDIN_ARG)
    for pattern in (r for r in roots if isinstance(r, str)):
        expand(pattern)  # nothing matches: FileNotFoundError now, not halfway through the scan
    selection, read_options = selection or Selection(), read_options or ReadOptions()
    documents = list_inputs(roots, selection, read_options)  # the workers read the files they sign (dedup.plan.read)
    return scan_documents(
        documents,
        settings,
        levels=levels,
        jobs=jobs,
        cache_dir=cache_dir,
        all_pairs=all_pairs,
        progress=progress,
        tmp_dir=tmp_dir,
        partitions=partitions,
        engine=engine,
        scheduler=scheduler,
    )


def scan_documents(
    documents: Iterable[Union[Document, ReadError, Input]],
    settings: Settings | None = None,
    *,
    levels: Sequence[Kind] = LEVELS,
    jobs: int = 1,
    cache_dir: Union[str, Path, None] = None,
    all_pairs: Union[bool, Collection[Kind]] = False,
    progress: Progress = NO_PROGRESS,
    tmp_dir: Union[str, Path, None] = None,
    partitions: int | None = None,
    engine: Engine = "local",
    scheduler: str | None = None,
) -> ScanResult:
    """Like :func:`scan`, over documents you already have in memory (or, with the
    Dask engine, files listed but not read yet: :func:`dedup.inputs.list_inputs`).

    The scan runs as a plan of partitioned stages (:mod:`dedup.plan`) on ``jobs``
    processes; its intermediate files go to a fresh folder under ``tmp_dir`` (default:
    ``cache_dir/scratch`` with a cache, else the system's temporary folder), removed
    when the scan ends, however it ends.  ``partitions`` splits each stage's work (a
    default from the corpus size).  With ``cache_dir`` signed batches are kept there and
    reused by later scans (see :mod:`dedup.cache`).  ``all_pairs`` reports every
    verified pair instead of the pairs that link each group (see
    :mod:`dedup.plan.link`), at every level or at the levels named.  ``progress`` is told of each stage.  The result is the
    same for any ``jobs``, ``partitions`` and cache.  Raises ``OSError`` when the scratch
    folder cannot be created.

    ``engine="dask"`` runs the same stages as Dask tasks (:mod:`dedup.plan.dask`,
    needs ``dedup[dask]``): on the cluster whose scheduler is at ``scheduler``
    (``tcp://host:8786``; ``tmp_dir`` must then be a folder every worker sees at the
    same path), else on a ``LocalCluster`` of ``jobs`` worker processes started for
    this scan.  Same result as the local engine.  Raises
    :class:`~dedup.plan.dask.DaskUnavailable` when Dask is not installed, the scheduler
    does not answer or a worker cannot see the scratch folder; ``ValueError`` for an
    unknown engine, or a scheduler with the local engine.
    """
    settings = settings or Settings()
    cache = SignatureCache(Path(cache_dir), settings) if cache_dir is not None else None
    if tmp_dir is None and cache_dir is not None:
        tmp_dir = Path(cache_dir) / "scratch"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError:  # an unwritable cache warns (dedup.cache); the scan goes on
            tmp_dir = None
    executor = _executor(engine, scheduler, jobs, progress)
    try:
        with scratch_folder(tmp_dir) as scratch, executor:
            if engine == "dask":
                executor.check_visible(scratch)
            result = run_scan(documents, settings, levels=levels, executor=executor, scratch=scratch,
                              partitions=partitions, cache=cache, all_pairs=all_pairs, progress=progress)
    except BaseException:
        if cache is not None and engine == "local":  # workers ended by SIGTERM cannot remove
            cache.sweep_temporaries_of(executor.worker_pids)  # their half-written entries
        raise
    progress.close()
    return result


def _executor(engine: Engine, scheduler: Optional[str], jobs: int, progress: Progress):
    """The executor of ``engine`` (see :func:`scan_documents`)."""
    if engine == "local":
        if scheduler is not None:
            raise ValueError("a scheduler address needs engine='dask'")
        return LocalExecutor(jobs)
    if engine == "dask":
        from .plan.dask import DaskExecutor

        shown = progress is not NO_PROGRESS and sys.stderr.isatty()
        return DaskExecutor(scheduler, workers=jobs, progress_bar=shown)
    raise ValueError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")


def available_cpus() -> int:
    """CPUs this process may run on (the default number of signing processes)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def read_paths(
    roots: Sequence[Union[Path, str]], selection: Selection, options: ReadOptions,
    naming: Optional[Callable[[Path], str]] = None, on_file: Optional[Callable[[str], None]] = None,
) -> Iterator[Union[Document, ReadError]]:
    """Every document (or read error) under ``roots``, in path order, read in this
    process: the files :func:`dedup.inputs.list_inputs` lists (see there: ``-`` is
    stdin, a string an fsspec URL or glob; ``naming``), each read in turn.
    ``on_file(name)`` is called as each file (or stdin) is opened (``name``: as a
    message about the whole file names it)."""
    for entry in list_inputs(roots, selection, options, naming):
        if isinstance(entry, ReadError):
            yield entry
            continue
        if on_file is not None:
            on_file(entry.shown)
        yield from entry.read()
