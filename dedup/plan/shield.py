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
from typing import Iterator, Optional

_HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def held_signals() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held back (in the main thread; elsewhere
    Python delivers no signal anyway).  A signal that arrived meanwhile is delivered
    after the block -- unless it repeats the interrupt already on its way out of the
    block or of the caller's clean-up (a second Ctrl-C while a ``KeyboardInterrupt``
    unwinds, a second SIGTERM while the exception raised for the first does, see
    :func:`signal_of`), or the process is exiting (``SystemExit``): those are dropped,
    since the first is what the caller gets.

    Why not drop every signal held while an exception unwinds (as before, tester's U8
    of #12): a SIGTERM held while a Ctrl-C's clean-up ran, or while an ordinary error
    left the block, was lost -- and a caller that handles that exception (a Python
    program catching ``KeyboardInterrupt``, a loop that logs an error and goes on) went
    on running as if no SIGTERM had come."""
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
    raised: Optional[BaseException] = None  # the block's own exception, on its way out
    try:
        yield
    except BaseException as err:
        raised = err
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # What is on its way out: the block's own exception, else the one the caller is
        # handling (its clean-up after a Ctrl-C, an ``except`` clause, a generator closing).
        unwinding = raised if raised is not None else sys.exc_info()[1]
        if not isinstance(unwinding, SystemExit):
            for number in dict.fromkeys(held):
                if number != signal_of(unwinding):
                    signal.raise_signal(number)


def signal_of(err: Optional[BaseException]) -> Optional[int]:
    """The signal an exception stands for: SIGINT for ``KeyboardInterrupt``, else its
    ``signum`` (:class:`dedup.cli.failures.Terminated` carries SIGTERM's); ``None``."""
    if isinstance(err, KeyboardInterrupt):
        return signal.SIGINT
    return getattr(err, "signum", None)


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
