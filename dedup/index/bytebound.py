"""An exact bound on a candidate's equal signature positions, before its row is read.

Why: at 100k stored articles of ~20 paragraphs a check meets ~360 chance candidates
(Jaccard ~0.05) that pass the 4-bit sketch floor (:func:`dedup.sketch.sketch_floor`,
64 bytes of 128 positions), and reading each one's signature from SQLite to apply the
estimate floor was a random B-tree seek of ~15-25 us -- about 10 ms a check, twice
the whole check's budget (``benchmarks/README-index.md``).  A backend that keeps each
row's *signature bytes* (the low byte of every MinHash value,
:class:`~dedup.storage.optional.SignatureBytes`; SQLite keeps them in its bucket file,
256 bytes a row at 256 permutations) answers the floor itself: equal values have equal
low bytes, so the positions where two rows' bytes agree are at least the positions
where their signatures agree.  A pair whose bytes agree in fewer positions than a
floor needs is below that floor *exactly* -- the bound drops nothing the floor would
keep, so every verdict stays what it was -- while a chance pair agrees in ~J * 256 +
(1 - J) positions (~14 at J 0.05; the Jaccard floor at threshold 0.3 needs 48).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..segments import row_positions
from ..storage.optional import SignatureBytes, low_bytes, supports
from ..storage.protocol import Level, Storage


def equal_bound(store: Storage, level: Level, signatures: np.ndarray, refs: np.ndarray,
                which: Optional[np.ndarray] = None) -> np.ndarray:
    """For each pair of a checked signature ``signatures[i]`` (``(n, num_perm)``
    uint32; with ``which``, ``signatures[which[i]]``) and the stored row ``refs[i]`` of
    ``level``: an upper bound of the positions in which the two signatures agree
    (int64) -- where their signature bytes agree, or ``num_perm`` (no bound) where
    the backend keeps none for the row.  (``which`` spares gathering a signature per
    pair: its low bytes are taken once per checked text, a quarter of the bytes.)"""
    bound = np.full(len(refs), signatures.shape[1], dtype=np.int64)
    if not len(refs) or not supports(store, SignatureBytes):
        return bound
    rows, inverse = row_positions(refs)
    known, lows = store.signature_bytes(level, rows)
    at = np.flatnonzero(known[inverse])
    mine = low_bytes(signatures)[at if which is None else which[at]]
    bound[at] = np.count_nonzero(mine == lows[inverse[at]], axis=1)
    return bound
