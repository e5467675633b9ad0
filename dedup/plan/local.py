"""The local executor: runs the plan's stages on a pool of worker processes.

An executor has two verbs (the Dask executor keeps the same ones):

* ``map(stage, tasks)`` -- run ``stage(*task)`` for every task, results in task order;
* ``imap(stage, tasks)`` -- the same over an iterator (signing reads documents while
  the workers sign), with at most ``2 * jobs`` tasks in flight, which bounds memory.

Stages take their inputs as explicit arguments (a :class:`~dedup.plan.items.LevelPlan`
and a partition, shard or range number) and hand their outputs over as files in the
scratch folder; what comes back through the pool is small (counts, document names).

With ``jobs <= 1`` (or a single task) the stages run in this process: no pool, no
pickling.  Otherwise a :mod:`multiprocessing` pool is started on first use.

Shutting down, however the scan ends: leaving the ``with`` block normally closes the
pool and joins its workers; leaving it by *any* exception -- an error in a stage,
``KeyboardInterrupt`` (Ctrl-C), or the exception the CLI raises on SIGTERM
(:class:`dedup.cli.failures.Terminated`) -- kills the workers and reaps them before the
exception goes on, so no worker outlives the scan and none prints a traceback (with
further SIGINT/SIGTERM held back meanwhile, :mod:`~dedup.plan.shield`).

Only the parent's main thread acts on a signal: the pool's threads are started with
SIGINT and SIGTERM blocked, so the kernel gives those signals to the main thread, and
its waits for a task wake twice a second should another thread have taken one
(:func:`~dedup.plan.shield.interrupts_stay_in_main_thread`); those waits also notice
a worker that died (:class:`WorkerLost`).  The workers ignore both signals: a
terminal's Ctrl-C, ``timeout`` and a container's stop signal the whole process group,
and a worker that died of that SIGTERM while it waited for work died holding the pool's task-queue lock, and ``Pool.terminate`` then waited for
that lock forever (#12: ``timeout -s TERM 1.5 dedup scan`` hung in 5 of 7 tries).  So
each worker ignores SIGINT and SIGTERM, and the pool's ``terminate`` stops its workers
with SIGKILL instead of SIGTERM (:class:`_Pool`) -- which it does only once it holds that
lock itself, so no worker can die holding it.  On Linux each worker also asks the kernel
for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), so even a parent killed with
SIGKILL leaves no orphans.  Stopping is bounded all the same: should ``Pool.terminate``
not return within :data:`STOP_GRACE` seconds (a worker killed from outside, say by the
OOM killer, can die holding the lock), the workers are killed, reaped, and the stuck
shutdown thread is left behind (a daemon thread; the CLI exits without waiting for it).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
import threading
import warnings
from collections import deque
from itertools import chain, islice
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from .shield import held_signals, interrupts_stay_in_main_thread

#: ``prctl`` option: the signal a process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1

#: Seconds an aborting :meth:`LocalExecutor.close` waits for ``Pool.terminate`` (which
#: takes milliseconds when the workers are healthy) before it kills the workers itself,
#: and then again before it gives up on the pool's shutdown thread.
STOP_GRACE = 2.0

#: Seconds between the checks for a signal while the executor waits for a task (:func:`_result`).
_WAKE = 0.5


class LocalExecutor:
    """Runs stages on ``jobs`` processes of this machine (see the module doc).

    Use as a context manager; ``jobs`` must be >= 1.
    """

    #: The workers read the files they sign (:mod:`dedup.plan.read`): the text never
    #: passes through this process -- but for a file of more than ``split_above`` bytes,
    #: read here so that its documents are signed by every worker, not by one.
    reads_inputs = True
    split_above = 1 << 20

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self.jobs = jobs
        self._pool: Optional[Any] = None
        #: Process ids of every worker started (to clean up after them once stopped).
        self.worker_pids: list[int] = []
        self._workers: list[Any] = []  # the workers' Process objects, to notice one dying

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, kind, error, tb) -> None:
        self.close(abort=error is not None)

    def close(self, abort: bool = False) -> None:
        """Stop the workers: let them finish (``abort=False``) or terminate them; both
        wait until every worker process has been reaped."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        with held_signals():  # a second Ctrl-C must not leave the pool half shut
            if abort:
                _terminate(pool)
            else:
                pool.close()
                pool.join()

    def sees(self, files: Sequence[tuple[str, int]]) -> list[bool]:
        """Whether the workers see each of ``files`` (``(path, size)``) as listed: they
        run on this machine (:meth:`dedup.plan.dask.DaskExecutor.sees`)."""
        return [True] * len(files)

    def map(self, stage: Callable, tasks: Iterable[tuple]) -> list:
        """``[stage(*task) for task in tasks]``, on the workers."""
        return list(self.imap(stage, tasks))

    def imap(self, stage: Callable, tasks: Iterable[tuple]) -> Iterator:
        """``stage(*task)`` for each task, yielded in order; at most ``2 * jobs``
        tasks are submitted ahead of the one being waited for."""
        tasks = iter(tasks)
        head = list(islice(tasks, 2))
        if self.jobs <= 1 or (len(head) < 2 and self._pool is None):  # a pool would only cost time
            for task in chain(head, tasks):
                yield stage(*task)
            return
        pool = self._start()
        pending: deque = deque()
        try:
            for task in chain(head, tasks):
                pending.append(pool.apply_async(stage, task))
                while len(pending) > 2 * self.jobs:
                    yield _result(pending.popleft(), self._workers)
            while pending:
                yield _result(pending.popleft(), self._workers)
        except WorkerLost:
            self.close(abort=True)  # the next call starts new workers (a long-lived Index goes on)
            raise

    def _start(self):
        dead = _dead(self._workers) if self._pool is not None else []
        if dead:
            # Died between two calls (killed while idle): no task of ours is lost, but it
            # may have died holding the pool's task-queue lock (an idle worker waits for
            # work holding it), which would stall every later task: start anew.
            warnings.warn(f"a worker process (pid {dead[0].pid}) died between tasks: "
                          f"{_how(dead[0].exitcode)}; new workers were started", RuntimeWarning, stacklevel=2)
            self.close(abort=True)
        if self._pool is None:
            context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
            # A Ctrl-C comes after the pool is ours to shut down, and reaches this thread.
            with held_signals(), interrupts_stay_in_main_thread():
                self._pool = _Pool(self.jobs, initializer=_worker_started, initargs=(os.getpid(),),
                                   context=context)
            self._workers = list(getattr(self._pool, "_pool", []))  # multiprocessing keeps them there
            self.worker_pids += [p.pid for p in self._workers]
        return self._pool


class WorkerLost(RuntimeError):
    """A worker process died while the executor waited for a task (killed from outside:
    the kernel's OOM killer, ``kill -9``).  ``multiprocessing.Pool`` starts a new worker
    but loses the task the dead one held, so the wait would never end.  The executor's
    workers are stopped before it is raised, and the next call starts new ones (a
    worker that died *between* calls costs nothing but a warning: tester's F8, where
    every later call of a long-lived Index raised this)."""


def _result(task: multiprocessing.pool.AsyncResult, workers: Sequence[Any]) -> Any:
    """``task.get()``, waking every :data:`_WAKE` seconds meanwhile, so that a SIGINT or
    SIGTERM raises here within that time instead of when the task ends: one that a
    thread not started by dedup took (a caller's own thread; see
    :func:`~dedup.plan.shield.interrupts_stay_in_main_thread`), and one that arrived
    just before the wait began (CPython runs a handler when a wait is interrupted, and
    a signal that came first interrupts nothing).

    Raises :class:`WorkerLost` when one of ``workers`` (the pool's ``Process`` objects
    as it started them; they never exit on their own while the pool is open) has died
    meanwhile: the task it held is lost, and which task that was is not known."""
    while not task.ready():
        task.wait(_WAKE)
        dead = _dead(workers)
        if dead and not task.ready():
            raise WorkerLost(f"a worker process (pid {dead[0].pid}) died: {_how(dead[0].exitcode)}; "
                             "the tasks in progress are lost")
    return task.get()


def _dead(workers: Sequence[Any]) -> list:
    """The processes of ``workers`` that have ended."""
    return [worker for worker in workers if worker.exitcode is not None]


def _how(code: int) -> str:
    """How a process with exit code ``code`` ended (``killed by SIGKILL (out of memory?)``)."""
    if code < 0 and -code in signal.valid_signals():
        return f"killed by {signal.Signals(-code).name}" + (" (out of memory?)" if code == -signal.SIGKILL else "")
    return f"exit status {code}"


class _Pool(multiprocessing.pool.Pool):
    """A process pool whose ``terminate`` kills its workers (SIGKILL): they ignore
    SIGTERM (see the module doc)."""

    @staticmethod
    def Process(ctx, *args, **kwds):  # the hook multiprocessing's ThreadPool overrides too
        worker = ctx.Process(*args, **kwds)
        worker.terminate = worker.kill
        return worker


def _terminate(pool: multiprocessing.pool.Pool) -> None:
    """``pool.terminate()``, bounded (see the module doc): after :data:`STOP_GRACE`
    seconds the workers still running are killed, and after as long again the pool's
    shutdown is abandoned; the workers are reaped either way."""
    stopper = threading.Thread(target=pool.terminate, name="dedup-pool-stop", daemon=True)
    with interrupts_stay_in_main_thread():
        stopper.start()
    stopper.join(STOP_GRACE)
    if stopper.is_alive():
        for worker in getattr(pool, "_pool", []):  # multiprocessing keeps them there
            if worker.exitcode is None:
                worker.kill()
        stopper.join(STOP_GRACE)
    multiprocessing.active_children()  # reaps the workers an abandoned shutdown never joined


def _worker_started(parent: int) -> None:
    """A worker's signal set-up (see the module doc)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # forked with them blocked (interrupts_stay_in_main_thread)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # no prctl: the pool's own shutdown still reaps us
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
