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
It copies the log as it was when it began without the write lock (the log only grows;
one compaction at a time, claimed by ``PREFIX:compacting``), then takes the lock only
to append the entries written meanwhile as they are and switch, so writers wait for
the tail, not the whole copy (reviewer's R7: a 100k log of > 1 GB under the lock made
every concurrent add fail with IndexBusy); memory: one page of old entries and up to
:data:`COMPACT_ROWS` rows a level.  A mixin of
:class:`~dedup.storage.redis.RedisStorage`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any, Callable, ContextManager, Optional

import numpy as np

from ...settings import Settings
from ..protocol import Derive, IndexBusy, IndexCorrupt
from .log import PAGE, BucketCache, add_entries, derived_entry, log_key, number, publish_entry
from .url import RedisURL, guarded, lease_lost

#: How long the old log stays readable after a switch (seconds).
GRACE = 600.0
#: Rows a compaction holds a level before it writes them (~4 MB at 256 permutations;
#: an entry holds at most ~1,000).
COMPACT_ROWS = 4096


class Compaction:
    """``compact``, and following the log from one generation to the next: ``_sync``,
    ``_log``, ``_switch_to`` (needs ``_r``, ``_k``, ``_url``, ``path``, ``settings``,
    ``_derive``, ``transaction``, the lock state, the bucket cache)."""

    _r: Any
    _k: str
    _url: RedisURL
    path: str
    _cache: BucketCache
    _token: Optional[str]
    _checkpoint: Callable[[], None]
    _switch: Any
    _new_log: Any
    _renew: Any
    _release: Any
    busy_timeout: float
    settings: Settings
    _derive: Derive
    transaction: Callable[[bool], ContextManager[None]]

    @guarded("read")
    def _sync(self) -> None:
        """Hold the bucket log's entries written since the last sync (:mod:`.log`); when
        the log was compacted meanwhile and the old one expired, the new log whole."""
        try:
            self._cache.sync(self._r, self._log)
        except IndexCorrupt:
            gen = number(self._r.get(self._k + "log:gen"), self.path, self._k + "log:gen")
            if gen == self._cache.gen:
                raise
            self._switch_to(gen)
            self._cache.sync(self._r, self._log)

    @property
    def _log(self) -> str:
        """The key of the bucket log this worker holds (:func:`.log.log_key`)."""
        return log_key(self._k, self._cache.gen)

    @guarded("read")
    def _switch_to(self, gen: int) -> None:
        """Follow the bucket log to generation ``gen`` (compacted, :mod:`.compact`): a
        copy that holds the whole log compacted into it (read to its end now, if it is
        still there) holds what the new log held when it was switched to -- the live
        rows; the dropped ones stay dropped -- so it goes on from the new log's entry
        named in ``logG:from``; any other copy is dropped, and the new log read whole
        at the next sync (as at a first one)."""
        cache = self._cache
        value = self._r.get(log_key(self._k, gen) + ":from") if gen == cache.gen + 1 else None
        parts = (value or b"").decode("ascii", "replace").split(" ")
        body = " ".join(parts[:3])
        if len(parts) == 4 and hashlib.sha1(f"from {gen} {body}".encode()).hexdigest()[:16] == parts[3]:
            try:
                if cache.count < int(parts[0]):
                    cache.sync(self._r, self._log)
            except IndexCorrupt:  # the old log expired meanwhile
                pass
            if cache.count == int(parts[0]):
                cache.gen, cache.last, cache.count = gen, parts[1].encode(), int(parts[2])
                return
        self._cache = BucketCache(self._derive, self.settings, self.path, gen, self._checkpoint)

    @guarded("compact")
    def compact(self) -> dict[str, Any]:
        """Rewrite the bucket log without the rows removed (see the module doc).
        Returns what was done: entries and bytes before and after, rows left out,
        seconds.  Raises :class:`~dedup.storage.IndexCorrupt` when an entry of the
        old log does not verify, :class:`~dedup.storage.IndexBusy` when another
        compaction runs for longer than the busy timeout or this one's claim on the
        log ran out (nothing is switched then)."""
        start = time.perf_counter()
        claim = self._claim()
        try:
            # Without the write lock (the log only grows): the log up to its last
            # entry now, the rows dropped so far left out -- the current generation's
            # (a worker idle since another compacted still holds the old one).
            gen = number(self._r.get(self._k + "log:gen"), self.path, self._k + "log:gen")
            if gen != self._cache.gen:
                self._switch_to(gen)
            self._sync()
            old, gen, upto = self._log, self._cache.gen, self._cache.last
            new = log_key(self._k, gen + 1)
            fence = [self._k, gen or "", new, "1", "", "", "", "", self._k + "compacting", claim]
            self._new_log(args=fence)  # what a compaction that died left, deleted
            fence[3] = "0"
            compactor, last = Compactor(self._cache), b"-"
            entries, sizes = [0, 0], [0, 0]
            while True:
                page = self._r.xrange(old, min=last, max=upto, count=PAGE)
                done = len(page) < PAGE or page[-1][0] == upto
                made = [e for _, fields in page for e in compactor.feed(fields.get(b"v", b""))]
                if done:  # what was published up to ``upto`` (the cache has read no further)
                    made += compactor.flush("p") + compactor.flush("d") + [publish_entry(*self._cache.published)]
                self._count(page, made, entries, sizes)
                self._append(fence, made)
                self._keep_claim(claim)
                if done:
                    break
                last = b"(" + page[-1][0]
            # Under the write lock: the tail written since, as it is (its adds, drops
            # and publications: a row dropped after it was copied stays dropped), and
            # the switch.  Writers wait only for this.
            with self.transaction(True):
                self._keep_claim(claim)
                last = b"(" + upto
                while True:
                    page = self._r.xrange(old, min=last, max="+", count=PAGE)
                    made = [fields.get(b"v", b"") for _, fields in page]
                    for blob in made:
                        self._cache._parse(blob)  # verified
                    self._count(page, made, entries, sizes)
                    self._append(fence, made)
                    if len(page) < PAGE:
                        break
                    last = b"(" + page[-1][0]
                self._switch(args=[self._k + "lock", self._token, self._k, gen or "", self._cache.count, gen + 1,
                                   entries[1], int(GRACE * 1000), self._k + "compacting", claim])
        finally:
            self._release(args=[self._k + "compacting", claim])
        self._switch_to(gen + 1)
        return {"backend": "redis", "path": self.path, "rows": None, "log": {
            "generation": gen + 1, "entries": {"before": entries[0], "after": entries[1]},
            "bytes": {"before": sizes[0], "after": sizes[1]}, "rows_left_out": compactor.dropped},
            "seconds": round(time.perf_counter() - start, 2)}

    @staticmethod
    def _count(page: list, made: list[bytes], entries: list[int], sizes: list[int]) -> None:
        """Add a page of old entries and the new entries made of it to the tallies."""
        entries[0] += len(page)
        sizes[0] += sum(len(fields.get(b"v", b"")) for _, fields in page)
        entries[1] += len(made)
        sizes[1] += sum(len(e) for e in made)

    def _claim(self) -> str:
        """Claim the log for one compaction (``PREFIX:compacting``, a token with the
        lock's lease), waiting up to the busy timeout for another to finish."""
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self.busy_timeout
        while not self._r.set(self._k + "compacting", token, nx=True, px=int(self._url.lease * 1000)):
            if time.monotonic() >= deadline:
                raise IndexBusy(f"{self.path}: another worker has been compacting the bucket log for more than "
                                f"{self.busy_timeout:g} s (dedup index optimize); nothing was changed, try again")
            time.sleep(0.05)
        return token

    def _keep_claim(self, token: str) -> None:
        """Renew the claim's lease; raises :class:`IndexBusy` when it ran out (a
        stalled compaction: another may have begun)."""
        if not self._renew(args=[self._k + "compacting", token, int(self._url.lease * 1000)]):
            raise IndexBusy(lease_lost(self.path, self._url.lease, "while compacting it (nothing was switched)",
                                       "the claim on the bucket log"))

    def _append(self, fence: list, entries: list[bytes]) -> None:
        """Append ``entries`` to the new log, fenced (:data:`.lua.NEW_LOG`: refused unless
        the claim is still ours and the new log is not live); in calls of up to
        :data:`PAGE` entries (one script call holds the server while it runs)."""
        for lo in range(0, len(entries), PAGE):
            self._new_log(args=[*fence, *entries[lo : lo + PAGE]])


class Compactor:
    """The entries of a compacted log, made from the old log's entries in order: adds
    without the rows ``cache`` holds dropped (re-cut into full entries), documents made
    of their paragraphs likewise (after the paragraph adds before them), no drops and
    no publications (the caller appends the last one).  What it holds is bounded by
    :data:`COMPACT_ROWS` rows a level."""

    def __init__(self, cache: BucketCache) -> None:
        self._cache = cache
        self._held: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {"p": [], "d": []}
        #: Rows left out.
        self.dropped = 0

    def feed(self, blob: bytes) -> list[bytes]:
        """The new entries made so far of old entry ``blob`` (verified)."""
        tag, op, ids, signatures, sizes = self._cache._parse(blob)
        if op in (b"-", b"!"):
            return []
        keep = ~np.isin(ids, self._cache._levels[tag].dead)
        self.dropped += int((~keep).sum())
        if op == b"=":
            firsts, counts = sizes
            return self.flush("p") + ([derived_entry(ids[keep], firsts[keep], counts[keep])] if keep.any() else [])
        self._held[tag].append((ids[keep], signatures[keep], sizes[keep]))
        return self.flush(tag) if sum(len(h[0]) for h in self._held[tag]) >= COMPACT_ROWS else []

    def flush(self, tag: str) -> list[bytes]:
        """The adds held of level ``tag``, as entries."""
        held, self._held[tag] = self._held[tag], []
        if not held or not sum(len(h[0]) for h in held):
            return []
        return add_entries(tag, *(np.concatenate([h[i] for h in held]) for i in range(3)))
