"""Checksums of stored rows, so that a damaged index is detected, never answered from.

Why: SQLite checks its own page structure, and Redis nothing at all, but neither
notices a flipped byte *inside* a stored value -- a signature value, a span, a row of
a shingle set, a document id.  Such damage changed answers silently (an estimate 1.0
read as 0.99, a matched id cut short).  So every backend stores, with each row, a
64-bit checksum of the row's contents and its row id (a row moved to another id does
not verify either), and compares it on every read that an answer is made from.

The checksum is computed on the decoded columns, not on the stored bytes, so one
definition serves every backend and layout, over a whole batch of rows at once with
numpy (no Python step per row).  Each row's parts are 64-bit numbers ``x_k`` (field
number ``k``): its id, each fixed column (one integer or float per row), and for a
matrix (a signature: ``(rows, width)`` integers) or a segmented column (a shingle set,
a text's code points) the weighted sum ``sum_j v_j W_j`` of its values and its length,
with ``W_j`` odd 64-bit constants (one per position ``j``).  The checksum is
``sum_k mix(x_k + S_k)`` modulo 2^64, with ``S_k`` a constant per field.

What a checksum covers is a backend's choice (:func:`verify` names the row that does
not match).  A value that is changed in place later (``banded``, set on the hand-over
of a removed row's bands) can be covered all the same: :func:`changed` gives the
checksum after one fixed column changes, without reading the rest of the row.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .protocol import IndexCorrupt

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_weights = np.zeros(0, dtype=np.uint64)
#: Position weights kept between calls (8 bytes each); longer segments make theirs.
KEPT_WEIGHTS = 1 << 16
#: Values (or characters of text) checksummed at a time.
BLOCK = 1 << 18


def mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer of a uint64 array (elementwise; a bijection).  Array
    arithmetic wraps modulo 2^64 without a warning."""
    x = x ^ (x >> _S30)
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    return x ^ (x >> _S31)


def _constants(start: int, n: int) -> np.ndarray:
    """``n`` fixed pseudo-random uint64 constants (the ``start``-th on)."""
    return mix(np.array([(_GOLDEN * (start + i + 1)) & _MASK for i in range(n)], dtype=np.uint64))


#: The field constants ``S_k`` (id first, then up to 60 more parts).
_SALTS = _constants(0, 64)


def _position_weights(n: int) -> np.ndarray:
    """The odd constants ``W_0 .. W_{n-1}`` (a fixed sequence; the first
    :data:`KEPT_WEIGHTS` are kept, grown as needed, longer runs made each time)."""
    global _weights
    if n > KEPT_WEIGHTS:
        return _weights_at(np.arange(n, dtype=np.int64))
    if len(_weights) < n:
        size = min(max(n, 2 * len(_weights), 1024), KEPT_WEIGHTS)
        _weights = _weights_at(np.arange(size, dtype=np.int64))
    return _weights[:n]


def _weights_at(positions: np.ndarray) -> np.ndarray:
    """``W_p`` for each of ``positions``: ``mix((p + 1) * golden) | 1``."""
    return mix((positions.astype(np.uint64) + np.uint64(1)) * np.uint64(_GOLDEN)) | np.uint64(1)


def _as_u64(values) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return values.astype(np.float64).view(np.uint64)
    if values.dtype.kind in "iu" and values.dtype.itemsize == 8:
        return values.view(np.uint64)
    return values.astype(np.int64).view(np.uint64)


def _matrix_sums(matrix: np.ndarray) -> np.ndarray:
    """``sum_j v_j W_j`` over each row; a uint32 matrix of even width is read as
    uint64 words (two values each: half the work, still every bit).  Worked about
    :data:`BLOCK` values at a time: the products are a block's, not the whole
    matrix's (tester's F5 of session 18: ``dedup index add`` of 248k three-word lines
    made two 0.5 GB temporaries here at once)."""
    out = np.empty(len(matrix), dtype=np.uint64)
    step = max(1, BLOCK // max(1, matrix.shape[1]))
    for lo in range(0, len(matrix), step):
        block = np.ascontiguousarray(matrix[lo : lo + step])
        if block.dtype.itemsize == 4 and block.shape[1] % 2 == 0:
            words = block.view(np.uint64)
        else:
            words = _as_u64(block)
        words = words * _position_weights(words.shape[1])
        words.sum(axis=1, dtype=np.uint64, out=out[lo : lo + step])
    return out


def _segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``sum_j v_j W_j`` over each segment ``values[offsets[i]:offsets[i+1]]``, worked
    :data:`BLOCK` values at a time: its temporaries (positions, weights, terms: ~32
    bytes a value) are a block's, not a long text's (tester's F6 of session 17: ``dedup
    index add`` of one 15 MB one-line file peaked at 665 MB, 38 bytes a character here,
    and kept weights as long as the text for the life of the process)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = np.diff(offsets)
    out = np.zeros(len(sizes), dtype=np.uint64)
    if not len(values) or not (sizes > 0).any():
        return out
    kept = _position_weights(min(int(sizes.max()), KEPT_WEIGHTS))
    for lo in range(int(offsets[0]), int(offsets[-1]), BLOCK):
        hi = min(lo + BLOCK, int(offsets[-1]))
        # the segments holding values lo..hi-1, and where each starts in the block
        first, last = np.searchsorted(offsets, [lo, hi - 1], side="right") - 1
        starts = np.maximum(offsets[first : last + 1], lo)
        nonempty = starts < np.minimum(offsets[first + 1 : last + 2], hi)
        owners, starts = np.arange(first, last + 1)[nonempty], starts[nonempty]
        position = np.arange(lo, hi, dtype=np.int64)
        position -= np.repeat(offsets[owners], np.diff(np.r_[starts, hi]))
        weights = kept[position] if int(position.max()) < len(kept) else _weights_at(position)
        out[owners] += np.add.reduceat(_as_u64(values[lo:hi]) * weights, starts - lo)
    return out


def row_checks(
    ids: np.ndarray,
    columns: Sequence[np.ndarray] = (),
    matrix: Optional[np.ndarray] = None,
    segments: Optional[tuple[np.ndarray, np.ndarray]] = None,
    texts: Optional[Sequence[str]] = None,
    text_columns: Sequence[Sequence[Optional[str]]] = (),
) -> np.ndarray:
    """The checksums of ``len(ids)`` rows (uint64, one per row).

    ``ids``: the rows' ids; ``columns``: integer or float arrays, one value per row, in
    a fixed order (field ``k`` of :func:`changed` is ``columns[k - 1]``); ``matrix``:
    ``(rows, width)`` unsigned integers (a signature); ``segments``: ``(values, offsets)``,
    row ``i`` owning ``values[offsets[i]:offsets[i+1]]`` (a shingle set table); ``texts``:
    one string per row (code points, lone surrogates included); ``text_columns``: more
    such columns, where ``None`` (SQL's ``NULL``) differs from every string, ``""`` too.
    """
    if not len(ids):
        return np.zeros(0, dtype=np.uint64)
    parts = [_as_u64(np.asarray(ids, dtype=np.int64))] + [_as_u64(c) for c in columns]
    if matrix is not None:
        parts += [_matrix_sums(matrix) if matrix.size else np.zeros(len(matrix), np.uint64),
                  np.full(len(matrix), matrix.shape[1], dtype=np.uint64)]
    if segments is not None:
        values, offsets = segments
        parts += [_segment_sums(values, offsets), _as_u64(np.diff(np.asarray(offsets, dtype=np.int64)))]
    for column in ([texts] if texts is not None else []) + list(text_columns):
        parts += _text_parts(column)
    table = np.stack(parts, axis=1) + _SALTS[: len(parts)]
    return mix(table).sum(axis=1, dtype=np.uint64)


def _text_parts(texts: Sequence[Optional[str]]) -> list[np.ndarray]:
    """The weighted sum of each text's code points, and its length (-1 for ``None``);
    the texts encoded (UTF-32, 4 bytes a character) :data:`BLOCK` characters at a
    time, a long text in slices."""
    lengths = np.fromiter((-1 if t is None else len(t) for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.concatenate([np.zeros(1, np.int64), np.cumsum(lengths.clip(min=0))])
    sums = np.zeros(len(texts), dtype=np.uint64)
    run: list[str] = []
    at = chars = 0  # the run's first text, its characters

    def flush(upto: int) -> None:
        points = np.frombuffer("".join(run).encode("utf-32-le", "surrogatepass"), dtype="<u4")
        sums[at:upto] = _segment_sums(points, offsets[at : upto + 1] - offsets[at])
        run.clear()

    for i, t in enumerate(texts):
        if t and len(t) > BLOCK:  # alone, a slice at a time (a slice's positions go on)
            if run:
                flush(i)
            sums[i] = np.array([_offset_sum(np.frombuffer(t[lo : lo + BLOCK].encode("utf-32-le", "surrogatepass"),
                                                          dtype="<u4"), lo)
                                for lo in range(0, len(t), BLOCK)], dtype=np.uint64).sum(dtype=np.uint64)
            at, chars = i + 1, 0
            continue
        if t:
            run.append(t)
            chars += len(t)
        if chars >= BLOCK:
            flush(i + 1)
            at, chars = i + 1, 0
    if run or at < len(texts):
        flush(len(texts))
    return [sums, _as_u64(lengths)]


def _offset_sum(values: np.ndarray, start: int) -> np.uint64:
    """``sum_j v_j W_{start + j}``: a slice of one long segment."""
    return (_as_u64(values) * _weights_at(np.arange(start, start + len(values), dtype=np.int64))).sum(
        dtype=np.uint64)


def changed(checks: np.ndarray, field: int, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The checksums ``checks`` (uint64) of rows after their fixed column ``field``
    (``columns[field - 1]`` of :func:`row_checks`; 0 is the id) changed from ``old``
    to ``new``: one term of the sum replaced, the rest of the row not read.  A row
    whose stored checksum did not match before does not match after either."""
    salt = _SALTS[field]
    return (np.asarray(checks, dtype=np.uint64) - mix(_as_u64(old) + salt) + mix(_as_u64(new) + salt))


def stored(values: Sequence[Optional[int]], name: str, what: str, ids: np.ndarray) -> np.ndarray:
    """Stored checksums as uint64 (from SQLite's signed integers); a missing one (``NULL``)
    is damage."""
    try:
        return np.array(values, dtype=np.int64).view(np.uint64)
    except (TypeError, ValueError, OverflowError):
        bad = [int(i) for i, v in zip(np.asarray(ids).tolist(), values) if not isinstance(v, int)]
        raise IndexCorrupt(_damaged(name, what, bad)) from None


def verify(expected: np.ndarray, computed: np.ndarray, ids: np.ndarray, name: str, what: str) -> None:
    """Raise :class:`IndexCorrupt` naming the first rows whose stored checksum
    ``expected`` differs from the one ``computed`` from what was read."""
    if not len(computed):
        return
    bad = np.flatnonzero(np.asarray(expected, dtype=np.uint64) != computed)
    if len(bad):
        raise IndexCorrupt(_damaged(name, what, np.asarray(ids)[bad].tolist()))


def _damaged(name: str, what: str, rows: list) -> str:
    rows_are = f"rows {listed(rows)} do not match their checksums" if len(rows) > 1 else \
        f"row {listed(rows)} does not match its checksum"
    return damaged(name, f"stored {what} {rows_are}")


def listed(rows: list) -> str:
    """The first five of ``rows``, and how many more."""
    return ", ".join(str(r) for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def plural(rows: list) -> str:
    return "s" if len(rows) > 1 else ""


def damaged(name: str, what: str) -> str:
    """The message of :class:`IndexCorrupt` for damage ``what`` found in index ``name``."""
    return (f"{name}: the index is damaged: {what}; nothing was answered from it. "
            "Restore the index from a backup, or rebuild it: `dedup index add` the original documents into a "
            "new index")
