"""The Dask executor's own ``LocalCluster``, when no scheduler address is given: the
processes it leaves behind unless cleaned up (workers, multiprocessing's resource
tracker, Dask's worker folders: :class:`OwnProcesses`), the start-up of each of its
workers (:func:`dask_setup`, run as a Dask preload of this module), and the event-loop
thread every Dask thread of the client process starts from, with SIGINT and SIGTERM
blocked (:func:`quiet_loop`, also for a cluster given by address).  Why each is needed
is said where it is; the executor itself is :mod:`dedup.plan.dask` (split from it,
review R6 of session 24).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

from .scratch import PREFIX
from .shield import interrupts_stay_in_main_thread

#: Seconds to wait for a killed worker, or for the resource tracker, to end.
STOP_GRACE = 2.0
#: Dask settings the executor's own ``LocalCluster`` starts its workers with.  Dask's
#: statistical profiler is off: it samples each worker's stack every 10 ms and keeps one
#: call tree per second for the last 1,000 seconds (``distributed.admin.low-level-log-length``),
#: so a worker's memory between tasks grew with the scan's wall time until ~17 minutes in
#: -- ~13 MB of Python objects per worker over a 3-minute scan, the growth of the memory a
#: worker held between tasks that session 15 could not place (benchmarks/probe_held.py,
#: benchmarks/README.md).  Nobody reads those trees: the dashboard is on a random
#: loopback port and closes with the scan.  A cluster given by address keeps its own
#: configuration (the README says how to turn the profiler off there).
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


class OwnProcesses:
    """What starting a ``LocalCluster`` leaves behind unless it is cleaned up here:
    worker processes, multiprocessing's resource tracker (started by the first
    spawned worker, it outlives a process that ends by ``os._exit`` until it notices,
    and then warns of "leaked semaphore objects" if the cluster was not closed) and
    Dask's worker and scheduler folders with their lock files (in a folder of
    our own, named as a scan's scratch folder so that the next scan removes it should
    this process be killed outright, :func:`dedup.plan.scratch.sweep_orphans`).

    Why: a SIGTERM to the process group (``timeout``, a container's stop) kills the
    workers at once; the client then closed the cluster and exited with 143 while
    the tracker ran on and the dead workers waited to be reaped by init, 1-4 s after
    the exit status, and a SIGTERM during the cluster's start left it unclosed, with
    the tracker's warning on stderr (tester T4, session 12)."""

    def __init__(self) -> None:
        """Starts the resource tracker (in the calling thread) unless it runs.  Why here:
        the thread that starts it ends with SIGINT and SIGTERM *unblocked*, whatever its
        mask was (``ResourceTracker.ensure_running`` blocks them around the spawn, then
        unblocks them); started from Dask's event loop by the first nanny's queue, it
        undid that thread's mask (:func:`quiet_loop`), and the threads the loop started
        after it took signals again."""
        from multiprocessing import resource_tracker

        self.workers: list[Optional[int]] = []
        self.tracker_was_running = _tracker_pid() is not None
        resource_tracker.ensure_running()
        self.root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-dask-"))

    @contextlib.contextmanager
    def config(self) -> Iterator[None]:
        """Within the block, Dask's ``temporary-directory`` is :attr:`root` and the
        settings of :data:`WORKER_CONFIG` hold (the worker processes started meanwhile
        inherit them)."""
        import dask

        with dask.config.set({"temporary-directory": str(self.root), **WORKER_CONFIG}):
            yield

    def end(self) -> None:
        """Once the cluster is closed: kill and reap any worker still there (a close
        that failed), stop the resource tracker if starting the cluster started it,
        and remove the folder."""
        for process in multiprocessing.active_children():  # our live children (reaps the dead)
            if process.pid in self.workers:
                process.kill()
                process.join(STOP_GRACE)
        if not self.tracker_was_running:
            gc.collect()  # the closed nannies' queues: their semaphores are unregistered as they go
            _stop_tracker()
        shutil.rmtree(self.root, ignore_errors=True)


def _tracker_pid() -> Optional[int]:
    """The pid of this process's multiprocessing resource tracker, if it runs."""
    from multiprocessing import resource_tracker

    return getattr(resource_tracker._resource_tracker, "_pid", None)


def _stop_tracker() -> None:
    """Stop this process's resource tracker and reap it: it ends when every process
    holding its pipe has closed it, ours last (``ResourceTracker._stop``, bounded
    here by :data:`STOP_GRACE` seconds: should a process we do not know of hold the pipe,
    the tracker is left to end with it).  A later use of multiprocessing starts
    another."""
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker
    fd, pid = getattr(tracker, "_fd", None), getattr(tracker, "_pid", None)
    if fd is None or pid is None:
        return
    with tracker._lock:
        os.close(fd)
        tracker._fd = tracker._pid = None
    deadline = time.monotonic() + STOP_GRACE
    with contextlib.suppress(OSError):
        while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.01)


def quiet_loop(distributed):
    """Start the event loop thread that the client, and the ``LocalCluster``'s scheduler
    and nannies, run in (a ``distributed.utils.LoopRunner``; stop it after closing them),
    with SIGINT and SIGTERM blocked
    (:func:`~dedup.plan.shield.interrupts_stay_in_main_thread`).  Every thread Dask
    starts in this process afterwards -- its comms, the nannies' process watchers and
    queue feeders, the offload pool -- is started from that loop and inherits the mask.

    Why: a signal sent to the process goes to any thread not blocking it, and Python
    runs the handler only in the main thread, which waits for a task in ``Event.wait(10)``
    (``distributed.utils.sync``): a SIGTERM a Dask thread took was seen up to 10 s late
    (reviewer's R2 of #12).  The worker processes a nanny starts inherit the mask too;
    they unblock it as they start (:func:`dask_setup`)."""
    runner = distributed.utils.LoopRunner()
    with interrupts_stay_in_main_thread():
        runner.start()
    return runner


def dask_setup(worker) -> None:
    """Run by each worker of the executor's own ``LocalCluster`` as it starts, in its
    main thread (a Dask preload: ``LocalCluster(preload=[this module])``).

    - Unblock SIGINT and SIGTERM, which the worker process inherited blocked from the
      thread that started it (:func:`quiet_loop`): a worker that blocks SIGTERM in
      every thread cannot be terminated -- not by its nanny, not by a ``kill`` -- and a
      SIGTERM sent while it started is delivered now.  SIGINT is ignored first, which
      drops one held while the worker started.  Why ignored: Ctrl-C in a terminal
      sends SIGINT to the whole process group, and each worker printed its
      ``KeyboardInterrupt`` traceback (tester D4 of #12); the client alone handles it
      (it closes the cluster, whose nannies stop the workers).  Why here and no longer
      by ignoring SIGINT in the client while the cluster starts (inherited by the
      workers): a thread the client cannot mask -- OpenBLAS's, started with numpy --
      took the Ctrl-C while it was ignored, and it was lost (tester's F5 of session
      15: the scan went on to exit 1); the workers start with it blocked instead
      (:func:`quiet_loop`).
    - Log only Dask's critical messages.  Why: a task's error reaches the client,
      which reports it; what else the workers log at ERROR is the cluster's own
      shutdown racing a busy worker ("Failed to communicate with scheduler during
      heartbeat" after a Ctrl-C under load), printed with a traceback before dedup's one
      line.  ``silence_logs`` quiets the client's process (its scheduler) but, in a
      worker process, only the nanny's logger."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # first: drops a SIGINT held while the worker started
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
