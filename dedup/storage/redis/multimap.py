"""The multimaps' shard layout (see :mod:`.lua`) and their client-side search: content
keys to row ids; and the bucket log entries of rows (:mod:`.log`).  A mixin of :class:`~dedup.storage.redis.RedisStorage`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...settings import Settings
from ..protocol import Derive, IndexCorrupt

#: log2 of the shards of each multimap below the URL's ``shards`` (20 by default):
#: paragraph content keys (one entry a row) and document content keys.  At the
#: defaults and 1M paragraphs: ~60 and ~50 entries a shard -- a few hundred bytes, so
#: a shard's key costs ~1 byte an entry and a look-up reads little.  (The LSH buckets
#: are the bucket log, :mod:`.log`.)
SHARD_BITS_BELOW = {"k:p:": 6, "k:d:": 9}
#: Keys per MGET when reading multimap shards (a batch's look-up is several MGETs,
#: pipelined: one round trip, without one huge reply).
MGET_KEYS = 4096


class Multimaps:
    """Multimap reads and band entries (needs ``_r``, ``_k``, ``_shards``, ``path``,
    ``settings`` and ``_derive``)."""

    _r: Any
    _k: str
    _shards: dict[str, int]
    path: str
    settings: Settings
    _derive: Derive

    def _multimap(self, base: str, keys: np.ndarray, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(key index, row id)`` of every entry of the multimap ``base`` (see
        :mod:`.lua`) under ``keys`` (uint64), ordered by key index then age; with
        ``limit``, the oldest ``limit`` of each key.  The keys' shards are read with
        MGETs in one pipelined round trip and searched here, vectorized."""
        keys = np.asarray(keys, dtype=np.uint64)
        if not len(keys):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        shard = (keys & np.uint64(0xFFFFFFFF)) % np.uint64(self._shards[base])
        field = (keys >> np.uint64(32)).astype(np.uint32)
        # One shard read per key (a shard two keys share is sent twice: rare, and it
        # keeps each key's entries side by side, so no gather is needed).
        names = [f"{self._k}{base}{x}" for x in shard.tolist()]
        pipe = self._r.pipeline(transaction=False)
        for lo in range(0, len(names), MGET_KEYS):
            pipe.mget(names[lo : lo + MGET_KEYS])
        blobs = [b or b"" for part in pipe.execute() for b in part]
        if any(len(b) % 8 for b in blobs):
            raise IndexCorrupt(f"{self.path}: a stored {base[:-1]} bucket entry is truncated")
        per_key = np.array([len(b) // 8 for b in blobs], dtype=np.int64)
        entries = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(-1, 2)
        match = np.flatnonzero(entries[:, 0] == np.repeat(field, per_key))
        at = np.searchsorted(np.cumsum(per_key), match, side="right")
        ids = entries[match, 1].astype(np.int64)
        if limit and len(at):
            rank = np.arange(len(at)) - np.searchsorted(at, at, side="left")
            at, ids = at[rank < limit], ids[rank < limit]
        return at, ids
