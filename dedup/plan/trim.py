"""Giving a worker's free heap memory back to the system after each task (the Dask
engine's tasks run through :func:`trimmed`, :mod:`dedup.plan.dask`)."""

from __future__ import annotations

import ctypes
import functools
from typing import Callable, Optional


def trimmed(stage: Callable, *task):
    """``stage(*task)`` on a worker, then the worker's free heap memory back to the
    system (glibc's ``malloc_trim(0)``; nothing where the C library is not glibc),
    however the stage ends.

    Why: glibc keeps the free pages between blocks still in use (it returns only a
    heap's top), so what a worker held between tasks rose ~2 MB with each read-and-sign
    task, all of it glibc's free memory -- with the tasks per worker, so with the corpus
    (``benchmarks/README.md``, "Dask engine").  Dask documents this call as the remedy for
    memory "not released back to the OS" ("Worker Memory Management")."""
    try:
        return stage(*task)
    finally:
        trim = malloc_trim()
        if trim is not None:
            trim(0)


@functools.lru_cache(maxsize=1)
def malloc_trim() -> Optional[Callable[[int], int]]:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (musl, macOS,
    Windows); looked up once per process."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim
