"""The Dask executor: the plan's stages as tasks on a Dask cluster (``dedup[dask]``).

The same stage functions as the local engine (:mod:`dedup.plan.local`) run unchanged
as Dask tasks (``Client.submit``); they hand each other their outputs as files in the
scan's scratch folder (:mod:`dedup.plan.scratch`), so **the scratch folder must be a
path every worker sees at the same name**: the machine's disk for a ``LocalCluster``
(the default), a shared filesystem (NFS, Lustre, a mounted bucket) on a real cluster.
Every worker is asked whether it sees the folder before any task runs
(:meth:`DaskExecutor.check_visible`).  All reads and writes of stage files go through
:func:`dedup.plan.scratch.save` / :func:`~dedup.plan.scratch.load` and every path is
made by :class:`~dedup.plan.scratch.Scratch`.  An fsspec URL (``s3://...``) is not
supported as the scratch: the stages read memory-mapped files and gather rows from
all over them (:class:`~dedup.plan.items.LevelPlan` ``rows``/``segments``), which an
object store serves only as a ranged GET per run of rows or a whole-file download per
task; ``memory://`` lives in one process.  A bucket mounted as a filesystem is a path.

Without a scheduler address the executor starts a ``LocalCluster`` of worker
processes sized to this machine (one single-threaded worker per CPU: the stages are
numpy-bound and hold the GIL between calls), listening on loopback only (its HTTP
port a free one, so two scans never fight over 8787), and closes it when the scan ends, however it ends (an error in a stage,
Ctrl-C, SIGTERM); its processes log only Dask's critical messages (a stage's error
reaches the client, which reports it).  With an address (``tcp://host:8786``: a ``dask scheduler`` with
``dask worker``\\ s, or a dask-jobqueue / Kubernetes cluster's scheduler) it connects a
client and leaves the cluster running.

Dask's threads in this process (its event loop and every thread started from it) and
the processes its nannies start begin with SIGINT and SIGTERM blocked, so that a signal
reaches the main thread at once; the workers unblock them as they start
(:func:`~dedup.plan.dask_cluster.quiet_loop`, :func:`~dedup.plan.dask_cluster.dask_setup`).

Each task ends by returning the worker's free heap pages to the system
(:func:`dedup.plan.trim.trimmed`), so what a worker holds between tasks does not
grow with the number of tasks it runs.

Groups are made by a partitioned connected-components stage
(:mod:`dedup.plan.components`) instead of the local engine's union-find in one
process, and the reported pairs and groups are written by the workers in parts that the
report reads one at a time (:mod:`dedup.plan.parts`), so the client never holds them
all: :attr:`DaskExecutor.partitioned_link` tells the plan so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
import uuid
from collections import deque
from itertools import islice
from typing import Callable, Iterable, Iterator, Optional, Sequence

from . import dask_cluster
# WORKER_CONFIG is imported from here by benchmarks/ (its home is dask_cluster).
from .dask_cluster import WORKER_CONFIG, OwnProcesses, quiet_loop  # noqa: F401
from .scratch import Scratch
from .shield import held_signals
from .trim import trimmed

#: Seconds to wait for a scheduler given by address before giving up.
CONNECT_TIMEOUT = 10


class DaskUnavailable(RuntimeError):
    """The Dask engine cannot run: the ``dedup[dask]`` extra is not installed, the
    scheduler does not answer, or a worker cannot see the scratch folder."""


def _distributed():
    try:
        import distributed
    except ImportError as error:
        raise DaskUnavailable(
            f"the Dask engine needs the dask extra: pip install -e '.[dask]' in dedup's checkout ({error})"
        ) from None
    return distributed


class DaskExecutor:
    """Runs stages as tasks on a Dask cluster (see the module doc).

    ``scheduler``: the address of a running scheduler, or ``None`` to start a
    ``LocalCluster`` of ``workers`` processes (default: this process's CPUs).
    ``progress_bar``: show Dask's text progress bar on stderr for each stage.
    Use as a context manager; entering raises :class:`DaskUnavailable` when Dask is
    missing or the scheduler does not answer within :data:`CONNECT_TIMEOUT` seconds.
    """

    #: Groups and reported pairs come from :func:`dedup.plan.spread.link_partitioned`.
    partitioned_link = True
    #: The workers read the files they sign (:mod:`dedup.plan.read`).
    reads_inputs = True

    def __init__(self, scheduler: Optional[str] = None, workers: Optional[int] = None,
                 progress_bar: bool = False) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.scheduler = scheduler
        self.workers = workers
        self.progress_bar = progress_bar
        self.jobs = 1
        self.client = None
        self._cluster = None
        self._loop = None
        self._own: Optional[OwnProcesses] = None

    def __enter__(self) -> "DaskExecutor":
        distributed = _distributed()
        try:
            if self.scheduler is None:
                self._own = OwnProcesses()  # before the loop: see OwnProcesses.__init__
            # Every thread Dask starts in this process descends from this one: see quiet_loop.
            self._loop = quiet_loop(distributed)
            loop = self._loop.loop
            if self.scheduler is None:
                from ..scan import available_cpus

                # A SIGINT or SIGTERM while the cluster starts is held until it is ours to
                # close; a SIGTERM to the process group kills the workers starting (each as
                # it unblocks it, dask_setup; they ignore SIGINT), and the start fails or a
                # nanny starts another: the signal, delivered as the block ends, is what the
                # caller gets.
                failed: Optional[Exception] = None
                with held_signals(), self._own.config():
                    try:
                        self._cluster = distributed.LocalCluster(
                            n_workers=self.workers or available_cpus(), threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL,
                            loop=loop, preload=[dask_cluster.__name__],  # dask_setup
                        )
                        self._own.workers = [nanny.pid for nanny in self._cluster.workers.values()]
                    except Exception as error:
                        failed = error
                if failed is not None:
                    raise failed
                self.client = distributed.Client(self._cluster, loop=loop)
            else:
                self.client = distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT, loop=loop)
        except (OSError, TimeoutError, ValueError) as error:
            self.close()
            raise DaskUnavailable(f"cannot reach the Dask scheduler at {self.scheduler}: {error}") from None
        except BaseException:
            self.close()
            raise
        threads = sum(self.client.nthreads().values())
        self.jobs = max(1, threads)
        return self

    def __exit__(self, kind, error, tb) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and, if this executor started it, the cluster: its worker
        processes are stopped and reaped, and so is the multiprocessing resource
        tracker that starting them started, and their folders are removed
        (:class:`OwnProcesses`), so no process of the scan outlives this call."""
        client, cluster, loop, own = self.client, self._cluster, self._loop, self._own
        self.client = self._cluster = self._loop = self._own = None
        with held_signals():
            with contextlib.suppress(Exception):
                if client is not None:
                    client.close()
            with contextlib.suppress(Exception):
                if cluster is not None:
                    cluster.close()
            with contextlib.suppress(Exception):
                if loop is not None:
                    loop.stop()
            if own is not None:
                own.end()

    def check_visible(self, scratch: Scratch) -> None:
        """Raise :class:`DaskUnavailable` unless every worker sees ``scratch``'s folder."""
        seen = self.client.run(os.path.isdir, str(scratch.root))
        blind = sorted(worker for worker, ok in seen.items() if not ok)
        if blind:
            raise DaskUnavailable(
                f"worker {blind[0]} cannot see the scratch folder {scratch.root}: "
                "give --tmp-dir a folder on a filesystem every worker mounts at the same path"
            )

    def sees(self, files: Sequence[tuple[str, int]]) -> list[bool]:
        """For each of ``files`` (``(path, size in bytes)`` as this process listed it),
        whether every worker sees a regular file of that size at that path (asked once
        per run of files, :mod:`dedup.plan.read`): a worker that does not mount the
        folder, or mounts another folder at the same path, answers no, and the client
        reads the file itself.  Other bytes of the same size are not detected."""
        answers = self.client.run(_same_files, list(files))
        return [all(seen) for seen in zip(*answers.values())] if answers else [False] * len(files)

    def map(self, stage: Callable, tasks: Iterable[tuple]) -> list:
        """``[stage(*task) for task in tasks]``, as Dask tasks; results in task order.
        An error in any task is raised here (the other tasks are cancelled)."""
        futures = [self.client.submit(trimmed, stage, *task, key=_stage_key(stage)) for task in tasks]
        try:
            if self.progress_bar and futures:
                from distributed import progress

                with contextlib.redirect_stdout(sys.stderr):  # the report may be on stdout
                    progress(futures, multi=False, loop=self.client.loop)  # no thread of its own
            return self.client.gather(futures)
        except BaseException:
            self.client.cancel(futures)
            raise

    def imap(self, stage: Callable, tasks: Iterable[tuple]) -> Iterator:
        """``stage(*task)`` for each task, yielded in order; at most ``2 * jobs``
        tasks are submitted ahead of the one being waited for (signing streams the
        documents it reads to the workers this way, in bounded memory).  Each task's
        arguments are scattered to a worker directly, which then runs it."""
        tasks = iter(tasks)
        pending: deque = deque()
        try:
            while True:
                for task in islice(tasks, max(0, 2 * self.jobs + 1 - len(pending))):
                    # straight to a worker, not through the scheduler: a shard's documents are megabytes
                    [data] = self.client.scatter([task], hash=False)
                    pending.append((data, self.client.submit(_apply, stage, data, key=_stage_key(stage))))
                if not pending:
                    return
                data, future = pending.popleft()
                yield future.result()
                del data, future  # the worker may now drop the task's inputs
        except BaseException:
            self.client.cancel([f for pair in pending for f in pair])
            raise


def _same_files(files: list[tuple[str, int]]) -> list[bool]:
    """On a worker: for each ``(path, size)``, whether a regular file of ``size`` bytes
    is at ``path`` (:meth:`DaskExecutor.sees`)."""
    seen = []
    for path, size in files:
        try:
            st = os.stat(path)
        except OSError:
            seen.append(False)
            continue
        seen.append(stat.S_ISREG(st.st_mode) and st.st_size == size)
    return seen


def _stage_key(stage: Callable) -> str:
    """A new task key named for ``stage`` (not for :func:`~dedup.plan.trim.trimmed`):
    Dask's progress bar, dashboard and task stream group tasks by it
    (``dask.utils.key_split``)."""
    return f"{stage.__name__}-{uuid.uuid4().hex}"


def _apply(stage: Callable, task: tuple):
    """``stage(*task)`` as :func:`~dedup.plan.trim.trimmed` runs it: how
    :meth:`DaskExecutor.imap` runs a task whose arguments it scattered as one piece
    of data."""
    return trimmed(stage, *task)

