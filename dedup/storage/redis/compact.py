"""Compacting the Redis index's bucket log: a new log without the removed rows.

Why: a removal logs a drop and leaves the removed rows' entries in the log (:mod:`.log`),
so a stream that keeps a window (``Index.prune``) grows a log of dead signatures, ~1 KB
a removed paragraph, which every worker reads at its first sync and holds in memory
until it reads the drop.  A compaction writes a new log holding the live rows only,
switches to it (``PREFIX:log:gen``, one script call) and lets the old one expire after
:data:`GRACE` (a worker that began reading it finishes on it).  Each worker's next
transaction sees the new generation: one that held the whole old log goes on from the
new log's end at the switch (``logG:from``) -- its copy already holds the live rows,
and keeps the dropped ones in memory until it is restarted; any other (a new one, one
that missed the old log's end) reads the new log whole, as at a first sync.
It holds the write lock throughout (readers go on; writers wait up to their busy
timeout, then fail with IndexBusy -- a log of > 1 GB may take longer), renewing its lease
after each page; memory: one page of old entries and up to
:data:`.log.COMPACT_ROWS` rows a level.  A mixin of
:class:`~dedup.storage.redis.RedisStorage`.
"""

from __future__ import annotations

import time
from typing import Any, Callable, ContextManager, Optional

from .log import PAGE, BucketCache, Compactor, log_key, publish_entry
from .url import RedisURL, _guarded

#: How long the old log stays readable after a switch (seconds).
GRACE = 600.0


class Compaction:
    """``compact`` (needs ``_r``, ``_k``, ``_url``, ``path``, ``transaction``, the lock
    state, the bucket cache, ``_log`` and ``_switch_to``)."""

    _r: Any
    _k: str
    _url: RedisURL
    path: str
    _cache: BucketCache
    _log: str
    _token: Optional[str]
    _checkpoint: Callable[[], None]
    _switch: Any
    transaction: Callable[[bool], ContextManager[None]]
    _switch_to: Callable[[int], None]

    @_guarded("compact")
    def compact(self) -> dict[str, Any]:
        """Rewrite the bucket log without the rows removed (see the module doc).
        Returns what was done: entries and bytes before and after, rows left out,
        seconds.  Raises :class:`~dedup.storage.IndexCorrupt` when an entry of the
        old log does not verify (nothing is switched then)."""
        start = time.perf_counter()
        with self.transaction(True):
            old, gen = self._log, self._cache.gen
            new = log_key(self._k, gen + 1)
            self._r.delete(new, new + ":n")  # what a compaction that died left
            compactor, last = Compactor(self._cache), b"-"
            entries = [0, 0]
            sizes = [0, 0]
            while True:
                page = self._r.xrange(old, min=last, max="+", count=PAGE)
                made = [e for _, fields in page for e in compactor.feed(fields.get(b"v", b""))]
                if len(page) < PAGE:
                    made += compactor.flush("p") + compactor.flush("d") + [publish_entry(*self._cache.published)]
                self._append(new, made)
                entries[0] += len(page)
                sizes[0] += sum(len(fields.get(b"v", b"")) for _, fields in page)
                entries[1] += len(made)
                sizes[1] += sum(len(e) for e in made)
                self._checkpoint()  # the lease renewed
                if len(page) < PAGE:
                    break
                last = b"(" + page[-1][0]
            self._switch(args=[self._k + "lock", self._token, self._k, gen or "", self._cache.count, gen + 1,
                               entries[1], int(GRACE * 1000)])
        self._switch_to(gen + 1)
        return {"backend": "redis", "path": self.path, "rows": None, "log": {
            "generation": gen + 1, "entries": {"before": entries[0], "after": entries[1]},
            "bytes": {"before": sizes[0], "after": sizes[1]}, "rows_left_out": compactor.dropped},
            "seconds": round(time.perf_counter() - start, 2)}

    def _append(self, key: str, entries: list[bytes]) -> None:
        if entries:
            pipe = self._r.pipeline(transaction=False)
            for e in entries:
                pipe.xadd(key, {"v": e})
            pipe.execute()
