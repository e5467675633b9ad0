"""Compiling the index's inner loops with numba (``njit``), cached on disk where a
directory is writable.

Why numba: a check's look-ups were ~2,150 numpy calls over ~60 functions (session 18),
each on a few thousand keys, where the calls' own cost was most of the time; a loop
compiled once does the same work in one call (see :mod:`dedup.storage.bucketfile.search`
and :mod:`dedup.index.pairing`).  numba is well kept (PyPI, NumPy's own community),
compiles plain Python loops over numpy arrays, and needs no compiler on the machine.

The cost: importing numba (~0.3 s CPU) and loading the compiled code from its cache
(~0.6 s) happen once per process, on its first look-up or signing
(:mod:`dedup.minhash_kernel`), never for commands that do neither.  The code is compiled once per machine (a few seconds of CPU) and
cached where numba finds a writable place: ``NUMBA_CACHE_DIR`` if set, else the
``__pycache__`` beside the module, else the user's cache folder (``~/.cache/numba``).
With none writable (a read-only install and home) numba refuses ``cache=True``; the
functions are then compiled in memory by each process that uses them, slower to start,
the same answers (:func:`njit`)."""

from __future__ import annotations

import warnings
from typing import Callable

import numba
import numpy as np


def njit(function: Callable) -> Callable:
    """``function`` compiled: ``numba.njit(function, cache=True, nogil=True)``, or
    without the on-disk cache (with a warning saying so) where numba finds no writable
    cache directory, or where the cache does not load (:class:`_Compiled`)."""
    try:
        return _Compiled(function, numba.njit(cache=True, nogil=True)(function))
    except RuntimeError as err:  # numba: "cannot cache function ...: no locator available"
        warnings.warn(f"{err}: compiled in memory by each process (set NUMBA_CACHE_DIR to a writable folder "
                      f"to compile it once)", stacklevel=2)
        return _Compiled(function, numba.njit(nogil=True)(function), cached=False)


@numba.njit(inline="always", nogil=True)
def first_at_least(values: np.ndarray, q, lo: int, hi: int) -> int:
    """The first position in ``values[lo:hi]`` (sorted) holding a value ``>= q``, or
    ``hi`` when none does: ``lo + np.searchsorted(values[lo:hi], q)``, by binary search.
    For the compiled loops only (:func:`njit`): inlined into each at compile time, so it
    is compiled and cached with them (numba checks a cache against its caller's file
    only: after a change here, delete the callers' ``__pycache__/*.nbi`` files)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < q:
            lo = mid + 1
        else:
            hi = mid
    return lo


def plain(values: np.ndarray, dtype) -> np.ndarray:
    """``values`` as a writable C-contiguous array of ``dtype`` (a copy only when it is
    not one already): the one argument type a compiled loop is compiled and cached
    for (numba compiles anew for a read-only or strided array)."""
    values = np.ascontiguousarray(values, dtype=dtype)
    return values if values.flags.writeable else values.copy()


class _Compiled:
    """A compiled function whose on-disk cache, if it fails to load (a truncated or
    overwritten file: numba raises ``EOFError`` or ``UnpicklingError`` from it), is
    left alone: the function is compiled again in memory, with a warning naming the
    cache folder, and called again -- a damaged cache costs a compile, never an answer
    (tester F5 of session 19: it made every later ``dedup check`` exit 2).  An error
    the in-memory function raises too is raised."""

    def __init__(self, function: Callable, dispatcher: Callable, cached: bool = True) -> None:
        self._function, self._dispatcher, self._cached = function, dispatcher, cached

    def __call__(self, *args):
        try:
            return self._dispatcher(*args)
        except MemoryError:  # the call's own (a crowded look-up), not the cache's
            raise
        except Exception as err:
            interrupt = _interrupt_in(err)
            if interrupt is not None:
                raise interrupt from None
            if not self._cached:
                raise
            where = getattr(getattr(self._dispatcher, "_cache", None), "_cache_path", "numba's cache folder")
            warnings.warn(f"the compiled code of {self._function.__name__} cached in {where} does not load "
                          f"({type(err).__name__}: {err}); compiled in memory instead (delete those files to "
                          f"cache it again)", stacklevel=2)
            self._dispatcher, self._cached = numba.njit(nogil=True)(self._function), False
            return self._dispatcher(*args)


def _interrupt_in(err: BaseException) -> BaseException | None:
    """The signal's exception that ``err`` carries, or None.  A signal handler that
    raises (Ctrl-C's ``KeyboardInterrupt``, the command's SIGTERM exception: both
    ``BaseException`` but no ``Exception``) can run just as a compiled call returns its
    arrays; CPython then reports it as ``SystemError: ... returned a result with an
    exception set`` caused by it.  That is an interrupt to raise, not a cache that does
    not load (new-user NU-8 of session 24: the warning told the user to delete a good
    cache, the call was made again, and the Ctrl-C was lost until the add had ended)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if not isinstance(err, Exception):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None
