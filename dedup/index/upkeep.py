"""The index's upkeep: the bucket file (SQLite) or bucket log (Redis) rewritten on
demand (:meth:`Upkeep.optimize`) and after writes that left enough outside it (the
``OPTIMIZE_*`` rule).  A mixin of :class:`dedup.index.Index`."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Optional

from ..storage import Compacting, Maintained, Storage

#: With ``auto_optimize``, a write that leaves more paragraphs outside the bucket file
#: than this, and than ``OPTIMIZE_SHARE`` of those inside, writes a new file.  Why
#: these (measured at 100k articles, ~1M paragraphs, benchmarks/README-index.md): a new
#: file merges the old one with what is new in ~2-4 s; every process that opens the
#: index reads the paragraphs outside the file into memory, ~26 us each.  So at most
#: ~50k outside (~1.3 s for a fresh process) costs each added article ~0.6 ms of
#: rewriting on average; below ~20k paragraphs there is little to gain.
OPTIMIZE_AFTER = 20_000
OPTIMIZE_SHARE = 0.05


class Upkeep:
    """:meth:`optimize` and the automatic one after writes (needs ``_store``, ``path``
    and ``stats``)."""

    _store: Storage
    path: str
    stats: Callable[[], dict[str, Any]]

    def optimize(self) -> dict[str, Any]:
        """Rewrite the read-optimized copy of the buckets that checks look keys up in
        (:mod:`dedup.storage.bucketfile`) to include everything stored.

        Why it exists: what was stored since the file was written is read into the
        memory of every process using the index (~26 us per paragraph when a process
        starts), and without a file that is everything.  Adds call it by themselves
        (``auto_optimize``); call it yourself after a large batch or on a schedule.
        Writers may go on meanwhile.  Returns what was written (path, bytes, rows,
        seconds); a backend without such a copy (Redis: its buckets are always
        current) returns ``{"backend", "path", "rows": None}``, and one whose bucket log
        keeps removed rows' entries (Redis) rewrites it without them (see
        :mod:`dedup.storage.redis.compact`) and says so under ``log``."""
        if isinstance(self._store, Compacting):
            return self._store.compact()
        if not isinstance(self._store, Maintained):
            return {"backend": self.stats().get("backend"), "path": self.path, "rows": None}
        return self._store.optimize()  # type: ignore[return-value]

    def _optimize_if_behind(self, due: Optional[Callable[[int, int], bool]] = None) -> None:
        """The automatic :meth:`optimize` after writes, when ``due(covered, behind)``
        (default: the ``OPTIMIZE_*`` rule): skipped when another process is doing it; a
        failure is a warning, not an error -- the write it follows has committed, and
        the index stays correct without a new file, only slower."""
        if not isinstance(self._store, Maintained):
            return
        due = due or _due
        try:
            if due(*self._store.bucket_file_lag()):
                self._store.optimize(when=due)
        except Exception as err:  # noqa: BLE001 -- whatever it is, the write stands
            warnings.warn(f"{self.path}: could not write a new bucket file: {err}", stacklevel=3)


def _due(covered: int, behind: int) -> bool:
    """Whether enough is stored outside the bucket file to write a new one."""
    return behind > max(OPTIMIZE_AFTER, OPTIMIZE_SHARE * covered)
