"""The content-key shards' layout (see :mod:`.lua`) and their client-side search:
paragraph and document content keys to row ids (the multimaps), paragraph content keys
to boilerplate tallies.  A mixin of :class:`~dedup.storage.redis.RedisStorage`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ...segments import offsets_from_counts, ranges, sorted_unique
from ...settings import Settings
from ..protocol import Derive, IndexCorrupt
from ..rowcheck import damaged, listed
from .lua import TRAILER
from .named import NAMED
from .url import guarded

#: log2 of the shards of each kind below the URL's ``shards`` (20 by default):
#: paragraph content keys (one entry a row), document content keys, the tallies
#: (one entry a distinct paragraph text judged) and the names (one entry a document,
#: :func:`~dedup.storage.protocol.document_id_keys`).  At the defaults and 1M paragraphs: ~60, ~50, ~60 and
#: ~50 entries a shard -- a few hundred bytes, so a shard's key costs ~1
#: byte an entry and a look-up reads little.  (The LSH buckets are the bucket log,
#: :mod:`.log`.)
SHARD_BITS_BELOW = {"k:p:": 6, "k:d:": 9, "k:t:": 6, "k:n:": 9}
#: Keys per MGET when reading multimap shards (a batch's look-up is several MGETs,
#: pipelined: one round trip, without one huge reply).
MGET_KEYS = 4096
#: Shards up to which a look-up reads a kind's whole presence bitmap (a GET of up to
#: 64 KB) rather than one GETBIT a shard read.
WHOLE_BITMAP = 1 << 19


def seal(name: bytes, body: bytes) -> bytes:
    """The checksum a shard string ends with (as the scripts write it, :mod:`.lua`)."""
    return hashlib.sha1(name + body).hexdigest()[:TRAILER].encode()


def sealed_value(tag: str, n: int) -> bytes:
    """The value of a count kept with its checksum, as the scripts write it (``sealed``
    in :data:`.lua._JUDGED`): ``PREFIX:judged`` (tag ``judged``), ``PREFIX:n:p``
    (tag ``paragraphs``)."""
    return b"%d %s" % (n, hashlib.sha1(b"%s %d" % (tag.encode(), n)).hexdigest()[:TRAILER].encode())


def sealed_count(value: Any, name: str, key: str, tag: str, what: str) -> int:
    """The count in the value of ``key`` sealed with ``tag`` (:func:`sealed_value`).

    Raises :class:`IndexCorrupt` naming ``what`` and the key when it is missing or does
    not match its checksum (a changed ``judged`` moves the boilerplate rule's
    threshold; a changed ``n:p`` gave wrong stats, tester's T2)."""
    head = bytes(value or b"").split(b" ", 1)[0]
    if not head.isdigit() or sealed_value(tag, int(head)) != value:
        raise IndexCorrupt(damaged(name, f"the count of {what} ({key}) is missing or does not match its checksum"))
    return int(head)


class Multimaps:
    """Multimap reads and band entries (needs ``_r``, ``_k``, ``_shards``, ``path``,
    ``settings`` and ``_derive``)."""

    _r: Any
    _k: str
    _shards: dict[str, int]
    _read_shards: Any
    _names: Any
    _names_args: Callable[[Sequence[str]], list]
    #: What the current transaction has read (:meth:`.reads.Reads._read`): shards'
    #: verified entries by ``(base, shard)``, and the values of keys read with them.
    _held: Optional[dict]
    #: What :meth:`prefetch` was given before a transaction began, for its first round
    #: trip: ``(keys by base, also, ids)``.
    _pending: Optional[tuple[dict[str, np.ndarray], list[str], list[str]]]
    _depth: int
    path: str
    settings: Settings
    _derive: Derive

    def _multimap(self, base: str, keys: np.ndarray, limit: int = 0, fresh: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
        """``(key index, row id)`` of every entry of the multimap ``base`` (see
        :mod:`.lua`) under ``keys`` (uint64), ordered by key index then age; with
        ``limit``, the oldest ``limit`` of each key.  The keys' shards are read with
        MGETs in one pipelined round trip (each shard once; none when this transaction
        read them all, :meth:`_prefetch`; ``fresh``: read them again all the same) and
        searched here, vectorized."""
        at, ids, _ = self._multimap_and(base, keys, limit, fresh=fresh)
        return at, ids

    def _multimap_and(self, base: str, keys: np.ndarray, limit: int = 0, also: Sequence[str] = (),
                      fresh: bool = False) -> tuple[np.ndarray, np.ndarray, list]:
        """:meth:`_multimap`, and the values of the keys ``also`` (full names), read
        before the shards in the same round trip."""
        keys = np.asarray(keys, dtype=np.uint64)
        shards, which = sorted_unique(self._shard_of(base, keys), return_inverse=True)
        field = (keys >> np.uint64(32)).astype(np.uint32)
        bodies, values = self._shard_bodies(base, shards.tolist(), also, fresh)
        if not len(keys):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), values
        sizes = np.array([len(b) // 8 for b in bodies], dtype=np.int64)
        # Each key's shard's entries side by side, in key order.
        per_key = sizes[which.ravel()]
        entries = np.frombuffer(b"".join(bodies), dtype="<u4").reshape(-1, 2)
        entries = entries[ranges(offsets_from_counts(sizes)[:-1][which.ravel()], per_key)]
        match = np.flatnonzero(entries[:, 0] == np.repeat(field, per_key))
        at = np.searchsorted(np.cumsum(per_key), match, side="right")
        ids = entries[match, 1].astype(np.int64)
        if limit and len(at):
            rank = np.arange(len(at)) - np.searchsorted(at, at, side="left")
            at, ids = at[rank < limit], ids[rank < limit]
        return at, ids, values

    def _shard_of(self, base: str, keys: np.ndarray) -> np.ndarray:
        """The shard of multimap ``base`` each of ``keys`` (uint64) is in."""
        return (keys & np.uint64(0xFFFFFFFF)) % np.uint64(self._shards[base])

    @guarded("read")
    def prefetch(self, paragraphs: np.ndarray, documents: np.ndarray, tallies: np.ndarray,
                 ids: Sequence[str] = ()) -> None:
        """:class:`~dedup.storage.optional.Prefetching`: the content-key shards of
        ``paragraphs`` (``k:p:``), ``documents`` (``k:d:``) and ``tallies`` (``k:t:``,
        with ``judged``), and the :meth:`digests` of document ``ids`` (its
        :data:`.lua.NAMES` call), in one round trip (:meth:`_prefetch`); called before
        a transaction, they are read in its first round trip (a read's snapshot)."""
        wanted = {base: keys for base, keys in (("k:p:", paragraphs), ("k:d:", documents), ("k:t:", tallies))
                  if len(keys)}
        ids = list(dict.fromkeys(ids))
        if not wanted and not ids:
            return
        also = [self._k + "judged"] if "k:t:" in wanted else []
        if self._depth:
            self._prefetch(wanted, also, ids)
        else:
            self._pending = (wanted, also, ids)

    def _prefetch(self, keys: dict[str, np.ndarray], also: Sequence[str] = (), ids: Sequence[str] = ()) -> None:
        """Inside a transaction: read the shards of multimap ``base`` that hold
        ``keys[base]`` (uint64 content keys) for every ``base`` given, the values of
        the keys ``also`` (full names) and the :data:`.lua.NAMES` reply about document
        ``ids``, in one pipelined round trip; the look-ups of this transaction that
        need no other shard (and :meth:`digests` of no other id) are then answered from
        them (each verified as :meth:`_shard_bodies` verifies) until a write of this
        worker.  Outside a transaction it does nothing.

        Why: a check asks the tallies twice (the texts judged before, the paragraphs'
        recurrences), and the document content keys once (exact copies), each a round
        trip, and an add the paragraph and document keys again (what to band) -- all of
        them keys of the batch itself, known before its look-up; ``dedup check`` asks
        whether its documents' ids are stored with their texts (review R16, session 18)."""
        from redis.exceptions import NoScriptError  # redis-py is an extra: imported when used

        if self._held is None:
            return
        pipe = self._r.pipeline(transaction=False)
        keep = self._queue_prefetch(pipe, keys, also, ids)
        try:
            keep(pipe.execute())
        except NoScriptError:  # a new server, or its scripts flushed: load it, once
            self._r.script_load(self._names.script)
            self._prefetch(keys, also, ids)

    def _queue_prefetch(self, pipe: Any, keys: dict[str, np.ndarray], also: Sequence[str] = (),
                        ids: Sequence[str] = ()) -> Callable[[list], None]:
        """Queue on ``pipe`` the reads of :meth:`_prefetch`; returns what keeps their
        replies (the pipeline's replies from the first of them on) for the transaction.
        (The :data:`.lua.NAMES` call is sent as ``EVALSHA``: the caller loads it when
        the server says it does not have it.)"""
        if also:
            pipe.mget(also)
        if ids:
            pipe.evalsha(self._names.sha, 0, *self._names_args(ids))
        parts = []
        for base, wanted in keys.items():
            shards = sorted_unique(self._shard_of(base, np.asarray(wanted, dtype=np.uint64))).tolist()
            parts.append((base, shards, *self._queue_shards(pipe, base, shards)))

        def keep(replies: list) -> None:
            replies = list(replies)
            values = replies.pop(0) if also else []
            if ids:
                self._held[NAMED] = (list(ids), replies.pop(0))
            for base, shards, count, finish in parts:
                self._held.update(zip(((base, x) for x in shards), finish(replies[:count])))
                del replies[:count]
            self._held.update(zip(also, values))
        return keep

    def _shard_bodies(self, base: str, shards: list[int], also: Sequence[str] = (), fresh: bool = False
                      ) -> tuple[list[bytes], list]:
        """The entries of shards ``shards`` of kind ``base`` (``b""`` for a shard that
        does not exist), each verified: its checksum, and its presence against the
        kind's bitmap (a deleted shard lost its entries without a word: an exact copy
        answered "new", a lowered tally took a paragraph for a story's own text); and
        the values of the keys ``also``, read first in the same round trip.  Inside a
        transaction, only those it has not read yet are read (none: no round trip),
        unless ``fresh``; what is read is kept for its later look-ups.

        Raises :class:`IndexCorrupt` naming the shards that do not verify."""
        held = self._held
        if held is not None and not fresh:
            missing = [x for x in shards if (base, x) not in held]
            unread = [a for a in also if a not in held]
            if missing or unread:
                bodies, values = self._shard_bodies(base, missing, unread, fresh=True)
                held.update(zip(((base, x) for x in missing), bodies))
                held.update(zip(unread, values))
            return [held[(base, x)] for x in shards], [held[a] for a in also]
        if not shards and not also:
            return [], []
        pipe = self._r.pipeline(transaction=False)
        if also:
            pipe.mget(also)
        count, finish = self._queue_shards(pipe, base, shards)
        replies = pipe.execute()
        values = replies.pop(0) if also else []
        return finish(replies), values

    def _queue_shards(self, pipe: Any, base: str, shards: list[int]
                      ) -> tuple[int, Callable[[list], list[bytes]]]:
        """Queue on ``pipe`` the reads of shards ``shards`` of kind ``base`` and of
        their presence bits; returns how many replies they make, and what turns those
        replies into the shards' verified entries (:meth:`_shard_bodies`)."""
        names = [f"{self._k}{base}{x}" for x in shards]
        for lo in range(0, len(names), MGET_KEYS):
            pipe.mget(names[lo : lo + MGET_KEYS])
        whole = self._shards[base] <= WHOLE_BITMAP
        # The bit past the last shard's is set when the index is created (the end mark).
        end = self._shards[base]
        if whole:
            pipe.get(self._k + base + "on")
        else:
            for x in [*shards, end]:
                pipe.getbit(self._k + base + "on", x)
        parts = -(-len(names) // MGET_KEYS)

        def finish(replies: list) -> list[bytes]:
            blobs = [b for part in replies[:parts] for b in part]
            if whole:
                bitmap = np.frombuffer(replies[parts] or b"", dtype=np.uint8)
                at = np.asarray([*shards, end], dtype=np.int64)
                byte = np.zeros(len(at), np.uint8)
                inside = at // 8 < len(bitmap)
                byte[inside] = bitmap[at[inside] // 8]
                on = ((byte >> (7 - at % 8).astype(np.uint8)) & 1).astype(bool)
            else:
                on = np.array(replies[parts:], dtype=bool)
            self._end_mark(base, bool(on[-1]))
            # A writer may have made or emptied a shard between the MGET and the bitmap's
            # read: such shards are read again, with their bits, in one atomic call.
            settled, on = self._settled(base, shards, blobs, on[:-1])
            return self._verified(base, shards, settled, on)

        return parts + (1 if whole else len(shards) + 1), finish

    def _end_mark(self, base: str, on: bool) -> None:
        if not on:
            raise IndexCorrupt(damaged(self.path, f"the content-key shards' presence bitmap {self._k}{base}on is "
                                                  "missing or lost its end mark"))

    def _verified(self, base: str, shards: Sequence[int], blobs: Sequence[Optional[bytes]], on: Sequence[bool]
                  ) -> list[bytes]:
        """The entries of shards ``shards`` of kind ``base`` from their strings ``blobs``
        (``None``: missing) and presence bits ``on``, each verified (its checksum, and
        its presence against its bit).

        Raises :class:`IndexCorrupt` naming the shards that do not verify."""
        bodies, bad = [], []
        tag = base[-2:-1].encode()
        for x, blob, present in zip(shards, blobs, np.asarray(on, dtype=bool).tolist()):
            if blob is None:
                bodies.append(b"")
                if present:
                    bad.append(x)
                continue
            body = blob[:-TRAILER]
            if not present or len(blob) < TRAILER or len(body) % 8 or blob[-TRAILER:] != seal(tag + b"%d" % x, body):
                bad.append(x)
            bodies.append(body)
        if bad:
            names = sorted({f"{self._k}{base}{x}" for x in bad})
            raise IndexCorrupt(damaged(self.path, f"the content-key shard{'s' if len(names) > 1 else ''} "
                                                  f"{listed(names)} {'do' if len(names) > 1 else 'does'} not match "
                                                  f"the checksum it ends with or its bit in {self._k}{base}on"))
        return bodies

    def _settled(self, base: str, shards: list[int], blobs: list, on: np.ndarray) -> tuple[list, np.ndarray]:
        """``blobs`` and presence bits ``on`` of ``shards``, those that disagree (a shard
        without its bit, a bit without its shard) read again in one atomic call."""
        odd = sorted({x for x, blob, bit in zip(shards, blobs, on.tolist()) if (blob is not None) != bit})
        if not odd:
            return blobs, on
        flat = self._read_shards(args=[self._k + base, *odd])
        again = {x: (flat[2 * i] or None, bool(flat[2 * i + 1])) for i, x in enumerate(odd)}
        blobs = [again[x][0] if x in again else b for x, b in zip(shards, blobs)]
        on = np.array([again[x][1] if x in again else bit for x, bit in zip(shards, on.tolist())], dtype=bool)
        return blobs, on
