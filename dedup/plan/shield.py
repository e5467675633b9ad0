"""Clean-up that a second Ctrl-C cannot cut short.

Why: a scan interrupted by Ctrl-C terminates its worker pool and removes its scratch
folder on the way out (:mod:`dedup.plan.local`, :func:`dedup.plan.scratch.scratch_folder`).
A terminal's Ctrl-C is often pressed twice, and ``timeout -s INT`` or a supervisor may
signal again: a second ``KeyboardInterrupt`` raised *inside* ``Pool.terminate`` or
``shutil.rmtree`` leaves the pool half shut (its handler threads are then joined again
by ``multiprocessing``'s exit hook, which can hang the interpreter at exit) and the
scratch folder behind.  The CLI ends with ``os._exit`` and never met this; a Python
caller of :func:`dedup.scan` did.  So clean-up runs with SIGINT and SIGTERM held back.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

_HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def held_signals() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held back (in the main thread; elsewhere
    Python delivers no signal anyway).  A signal that arrived meanwhile is dropped when
    the block raised, or when it ran while an interrupt or exit was on its way out (the
    scan is ending: the first interrupt, or the error, is what the caller gets), and
    delivered after the block otherwise."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {}
    for sig in _HELD:
        handler = signal.getsignal(sig)
        if handler not in (signal.SIG_IGN, None):
            previous[sig] = handler
            signal.signal(sig, lambda number, frame: held.append(number))
    leaving = False  # an exception on its way out of the block
    try:
        yield
    except BaseException:
        leaving = True
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Dropped only when the process is ending anyway: the block raised, or the caller
        # runs it while an interrupt or exit is on its way out (clean-up after a Ctrl-C).
        # Any exception being handled meanwhile dropped it -- a caller's ``except`` clause,
        # a generator being closed -- and ``index add`` went on for a minute (tester's U8).
        handled = sys.exc_info()[1]
        if held and not leaving and (handled is None or isinstance(handled, (Exception, GeneratorExit))):
            for number in dict.fromkeys(held):
                signal.raise_signal(number)


@contextmanager
def interrupts_stay_in_main_thread() -> Iterator[None]:
    """Threads started within the block -- by dedup or by a library: a process pool's
    handler threads, tqdm's monitor -- have SIGINT and SIGTERM blocked, so the kernel
    delivers those two signals to the main thread.

    Why: Linux delivers a signal sent to a process to any one of its threads that does
    not block it (signal(7), "process-directed" signals), while Python runs the handler
    only in the main thread (the :mod:`signal` module's docs); a main thread asleep in a
    wait (``time.sleep``, a lock, ``ApplyResult.get``) is not woken when another thread
    took the signal, and the handler waits for the wait to end (for a ``-j 2`` scan: until
    the task being waited for ends, which for a large file is minutes).

    A signal arriving during the block stays pending and is delivered to this thread
    when the block ends.  Processes forked meanwhile inherit the mask: the pool's
    workers unblock it (:func:`dedup.plan.local._worker_started`).  Outside the main
    thread, or without ``pthread_sigmask`` (Windows), the block changes nothing."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
