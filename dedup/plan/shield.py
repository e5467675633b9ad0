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
    an exception is already on its way out (the scan is ending: the first interrupt,
    or an error, is what the caller gets), and delivered after the block otherwise."""
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
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held and sys.exc_info()[1] is None:
            for number in dict.fromkeys(held):
                signal.raise_signal(number)
