"""Helpers for flat "segmented" arrays (CSR layout), shared by the numpy stages.

Many texts' shingles live in one array with an offsets array marking where each text
starts; these helpers turn that layout into the index arrays numpy operations need,
without a Python loop per element.
"""

from __future__ import annotations

import numpy as np


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for each start ``s`` and length ``l``."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + shift


def segment_ids(offsets: np.ndarray) -> np.ndarray:
    """For offsets ``[0, 3, 3, 5]``: ``[0, 0, 0, 2, 2]`` (which segment each element is in)."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def offsets_from_counts(counts: np.ndarray) -> np.ndarray:
    """``[0, c0, c0 + c1, ...]``: the offsets of segments of the given sizes."""
    return np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
