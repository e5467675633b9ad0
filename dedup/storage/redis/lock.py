"""The Redis index's write lock: a key with a lease, taken by a write transaction, and
renewed by the worker's own steps.  A mixin of :class:`~dedup.storage.redis.RedisStorage`.

A write transaction holds ``PREFIX:lock`` (``SET NX PX``: a random token with a lease)
from the first read it decides on to its last write, so check-then-add is exclusive
across workers; every write script first checks the token is still the caller's and
renews the lease (:mod:`.lua`), so a writer stalled past its lease is fenced out.
Between writes the lease is renewed at checkpoints (:meth:`Locking._checkpoint`) on the
main thread, never by a heartbeat thread: a thread would keep a stalled worker's lock
alive.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Optional

from ..protocol import IndexBusy
from .log import number
from .url import RedisURL, guarded, is_redis_error, lease_lost, translate

#: The share of the write lock's lease after which a checkpoint renews it.
RENEW_AFTER = 0.25


class Locking:
    """Taking, renewing and releasing the write lock (needs ``_k``, ``_url``, ``path``,
    ``busy_timeout`` and the scripts ``_lock``, ``_renew``, ``_release``)."""

    _k: str
    _url: RedisURL
    path: str
    busy_timeout: float
    _lock: Any
    _renew: Any
    _release: Any
    _token: Optional[str]
    _renew_at: float
    _seq: tuple[int, int]
    _top: tuple[int, int]
    _listed: tuple[int, int]
    _gen: int

    @guarded("lock")
    def _acquire(self) -> str:
        token = secrets.token_hex(16)
        lease = int(self._url.lease * 1000)
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.002
        while True:
            sent = time.monotonic()
            got = self._lock(args=[self._k + "lock", token, lease, self._k])
            if got[0]:
                self._renew_at = sent + self._url.lease * RENEW_AFTER
                self._seq = (int(got[1]), int(got[2]))
                self._top = (int(got[3]), int(got[4]))
                self._listed = (int(got[5]), int(got[6]))
                self._gen = number(got[7], self.path, self._k + "log:gen")
                return token
            if time.monotonic() >= deadline:
                raise IndexBusy(f"{self.path}: another worker held the index's write lock for more than "
                                f"{self.busy_timeout:g} s; nothing was changed, try again (or wait longer "
                                "with ?busy=SECONDS in the URL)")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.05)

    def _checkpoint(self) -> None:
        """Renew the write lock's lease when :data:`RENEW_AFTER` of it has passed since it
        was taken or last renewed; nothing outside a write transaction.

        Called by the main thread between the steps of a write transaction -- every
        storage call (the wrapper of :func:`.url.guarded`), each page of a sync, each
        part of the band keys made from it, the look-up of a batch
        (:meth:`candidates`) and before judging (:meth:`keep_lease`) -- not by a
        heartbeat thread, which would keep a stalled worker's lock alive and defeat
        the fencing.  A step longer than the lease (or a worker stalled past it) still
        loses the lock: the next checkpoint or write is refused (reviewer's R9: at
        100k the batch look-up ran past the 30 s lease, and nothing renewed it).

        Raises :class:`IndexBusy` when the lock was lost (its lease ran out)."""
        if self._token is None or time.monotonic() < self._renew_at:
            return
        sent = time.monotonic()
        try:
            kept = self._renew(args=[self._k + "lock", self._token, int(self._url.lease * 1000)])
        except Exception as err:  # noqa: BLE001 -- filtered below
            if not is_redis_error(err):
                raise
            raise translate(err, self.path, "lock") from err
        if not kept:
            raise IndexBusy(lease_lost(self.path, self._url.lease, "before this worker's next step"))
        self._renew_at = sent + self._url.lease * RENEW_AFTER

    def keep_lease(self) -> None:
        """A checkpoint the index calls before judging a batch (:meth:`_checkpoint`)."""
        self._checkpoint()

    def _unlock(self) -> None:
        try:
            self._release(args=[self._k + "lock", self._token])
        except Exception as err:  # noqa: BLE001 -- the lease frees it anyway
            if not is_redis_error(err):
                raise
