"""The compiled step of :func:`~.matches.hit_pairs` (numba): every bucket hit paired
with each query row holding its key, as one int64 code per (hit, row) -- the pair, and
whether the hit's bucket is heavy -- in one call.

Why compiled: in numpy the same step was ~20 calls (the hit runs, two searches of each
run's key, ``repeat`` and ``ranges`` of the holders, a ``bincount`` of the bucket
sizes, the codes), each over all hits of a look-up; a check's look-up holds ~10-60k
hits, where the calls' own cost is most of the time.  The codes are then sorted by
``np.sort`` (numpy's vectorized sort of int64 is faster than a compiled quicksort).
Imported by the first look-up, so that commands which never look a key up do not load
numba.
"""

from __future__ import annotations

import numpy as np

from ..compiled import first_at_least, njit


@njit
def pair_codes(ordered: np.ndarray, text: np.ndarray, hit_keys: np.ndarray, hit_refs: np.ndarray, heavy: int,
               span: int, scale: int, drop: bool):
    """``(code, tag)`` (int64) of every (hit ``e``, query element holding its key):
    ``code = row * span + hit_refs[e] * scale`` (``row``: the element's ``text``) and
    ``tag = e | heavy bit`` (bit ``bit_length(len(hit_keys))``, set when ``heavy >= 0``
    and the hit's key has more than ``heavy`` hits in all) -- or, with ``drop``, no
    code at all for the hits of such a key.  ``ordered``: the query keys sorted,
    ``text[i]`` the query row of ``ordered[i]`` (or any code of that element: the
    containment look-up's, :func:`~.contain._shared`, with ``span`` 1).  Hits of a key
    come as runs (consecutive); a key may come in several runs (a look-up's parts) and
    the query may hold a key several times."""
    nh = hit_keys.shape[0]
    nq = ordered.shape[0]
    low = 0
    while (1 << low) <= nh:
        low += 1
    starts = np.empty(nh + 1, np.int64)
    first = np.empty(nh, np.int64)
    holders = np.empty(nh, np.int64)
    size = np.zeros(nq + 1, np.int64)
    runs = 0
    i = 0
    while i < nh:
        key = hit_keys[i]
        j = i + 1
        while j < nh and hit_keys[j] == key:
            j += 1
        a = first_at_least(ordered, key, 0, nq)  # the first query key >= key
        end = a
        while end < nq and ordered[end] == key:
            end += 1
        starts[runs] = i
        first[runs] = a
        holders[runs] = end - a
        if end > a:
            size[a] += j - i
        runs += 1
        i = j
    starts[runs] = nh
    total = 0  # (a key's size is known once all its runs are counted)
    for r in range(runs):
        if not (drop and size[first[r]] > heavy):
            total += (starts[r + 1] - starts[r]) * holders[r]
    code = np.empty(total, np.int64)
    tag = np.empty(total, np.int64)
    k = 0
    for r in range(runs):
        f, h = first[r], holders[r]
        over = heavy >= 0 and size[f] > heavy
        if h == 0 or (drop and over):
            continue
        bit = (1 << low) if over else 0
        for e in range(starts[r], starts[r + 1]):
            ref = np.int64(hit_refs[e]) * scale
            for t in range(h):
                code[k] = text[f + t] * span + ref
                tag[k] = e | bit
                k += 1
    return code, tag


@njit
def run_heads(code: np.ndarray, shift: int, tag: np.ndarray, low: int, heavy: bool, least: int):
    """``(key, entry)`` (int64) of each run of equal keys ``code >> shift`` in the sorted
    ``code``, from the run's first element: its key and the low ``low`` bits of its tag
    (``tag[i]``, or where ``tag`` is empty the low ``shift`` bits of ``code[i]``); only
    the runs of at least ``least`` elements, and with ``heavy`` only those whose first
    tag has no bit set above its low ``low`` bits (a light entry, :func:`pair_codes`,
    sorting first in its run) or which hold two elements or more.  One pass in place
    of the numpy steps (run starts, their lengths, the selection, the unpacking): each
    of them a pass over all of a batch's codes."""
    n = code.shape[0]
    keys = np.empty(n, np.int64)
    entry = np.empty(n, np.int64)
    packed = tag.shape[0] == 0
    mask = (1 << low) - 1
    k = 0
    i = 0
    while i < n:
        key = code[i] >> shift
        j = i + 1
        while j < n and (code[j] >> shift) == key:
            j += 1
        first = code[i] & ((1 << shift) - 1) if packed else tag[i]
        if j - i >= least and (not heavy or (first >> low) == 0 or j - i >= 2):
            keys[k] = key
            entry[k] = first & mask
            k += 1
        i = j
    return keys[:k], entry[:k]
