"""Compiling the index's inner loops with numba (``njit``), cached on disk where a
directory is writable.

Why numba: a check's look-ups were ~2,150 numpy calls over ~60 functions (session 18),
each on a few thousand keys, where the calls' own cost was most of the time; a loop
compiled once does the same work in one call (see :mod:`dedup.storage.bucketfile.search`
and :mod:`dedup.index.pairing`).  numba is well kept (PyPI, NumPy's own community),
compiles plain Python loops over numpy arrays, and needs no compiler on the machine.

The cost: importing numba (~0.3 s CPU) and loading the compiled code from its cache
happen on the first look-up of a process, never for commands that look nothing up
(``dedup scan``).  The code is compiled once per machine (a few seconds of CPU) and
cached where numba finds a writable place: ``NUMBA_CACHE_DIR`` if set, else the
``__pycache__`` beside the module, else the user's cache folder (``~/.cache/numba``).
With none writable (a read-only install and home) numba refuses ``cache=True``; the
functions are then compiled in memory by each process that uses them, slower to start,
the same answers (:func:`njit`)."""

from __future__ import annotations

import warnings
from typing import Callable

import numba


def njit(function: Callable) -> Callable:
    """``numba.njit(function, cache=True, nogil=True)``, or without the on-disk cache
    (with a warning saying so) where numba finds no writable cache directory."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError as err:  # numba: "cannot cache function ...: no locator available"
        warnings.warn(f"{err}: compiled in memory by each process (set NUMBA_CACHE_DIR to a writable folder "
                      f"to compile it once)", stacklevel=2)
        return numba.njit(nogil=True)(function)
