"""Lower quantiles of the binomial law that counts equal MinHash positions.

Two MinHash signatures of ``n`` positions agree at each position with probability
``p`` (their Jaccard), independently, so their equal positions follow ``B(n, p)``.
The fewest a pair shows but with probability ``norm.sf(sigmas)`` is the law's lower
quantile at that tail (:func:`lower_quantile`), which the containment prefilter asks
of every candidate (:func:`dedup.containment.least_matches`).  No scipy: ``scipy.stats``
would cost a scan ~0.5 s to import, and the quantiles come from the log-pmf summed in
numpy, looked up in a table over a grid of ``p``.
"""

from __future__ import annotations

import math
import threading

import numpy as np

#: Steps of the grid of ``p`` that :func:`lower_quantile` looks its quantiles up in.
CELLS = 4096
#: Grid cells computed at once: their counts are summed only up to the largest cell's
#: mean (a lower quantile lies below it), so a block of low ``p`` is cheap.
_CELL_BLOCK = 256
_tables: dict[tuple[int, float], np.ndarray] = {}
_tables_lock = threading.Lock()


def lower_quantile(p: np.ndarray, n: int, sigmas: float) -> np.ndarray:
    """Per probability ``p`` (an array, clipped to [0, 1]): the smallest ``k`` with
    ``P(B(n, p) <= k) >= norm.sf(sigmas)``, int64 of ``p``'s shape, for ``p`` rounded
    down to the grid of :data:`CELLS` steps (so never larger than the exact quantile).
    Only the cells between the smallest and the largest ``p`` asked are computed, once
    per process and ``(n, sigmas)`` (:func:`_table`)."""
    cell = np.floor(np.clip(p, 0.0, 1.0) * CELLS).astype(np.int64)
    if not cell.size:
        return cell
    return _table(n, sigmas, int(cell.min()), int(cell.max()))[cell]


def _table(n: int, sigmas: float, lo: int, hi: int) -> np.ndarray:
    """:func:`lower_quantile` at ``p = 0, 1/CELLS, ..., 1``, with (at least) cells
    ``lo .. hi`` filled (-1: not computed yet).

    Why filled lazily, a block of cells at a time and each only up to its mean: the
    whole table (4,095 x 257 log-pmf terms at ``n`` = 256) cost each process that judged
    containment candidates 0.05-0.14 s of CPU -- a tenth of what containment adds to a
    scan of the 6 MB benchmark corpus, and paid again by every worker -- while a scan
    asks only the cells of a containment pair's Jaccard (0.06-0.54 at containment 0.7).
    Each computed cell is the same number the whole table gives: the same terms, summed
    in the same order, and the first ``k`` past the tail lies before the cut (checked;
    a cell that does not find it there is summed whole)."""
    with _tables_lock:
        table = _tables.get((n, sigmas))
        if table is None:
            table = _tables[n, sigmas] = np.full(CELLS + 1, -1, np.int64)
            table[0], table[-1] = 0, n
        missing = lo + np.flatnonzero(table[lo : hi + 1] < 0)
        if len(missing):
            tail = 0.5 * math.erfc(sigmas / math.sqrt(2.0))
            k = np.arange(n + 1, dtype=float)
            log_fact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1)))))
            log_choose = log_fact[-1] - log_fact - log_fact[::-1]
            grid = np.linspace(0.0, 1.0, CELLS + 1)
            for at in range(0, len(missing), _CELL_BLOCK):
                cells = missing[at : at + _CELL_BLOCK]
                p = grid[cells][:, None]
                width = min(n + 1, math.ceil(n * float(p[-1, 0])) + 2)
                for cut in (width, n + 1):
                    cdf = np.cumsum(np.exp(log_choose[:cut] + k[:cut] * np.log(p) + (n - k[:cut]) * np.log1p(-p)),
                                    axis=1)
                    reached = cdf >= tail
                    found = reached.any(axis=1)
                    table[cells[found]] = np.argmax(reached[found], axis=1)
                    cells, p = cells[~found], p[~found]
                table[cells] = 0  # never reached (the whole sum passes the tail): argmax's answer
        return table
