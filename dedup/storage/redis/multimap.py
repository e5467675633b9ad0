"""The multimaps' shard layout (see :mod:`.lua`) and their client-side search: band
keys and content keys to row ids.  A mixin of :class:`~dedup.storage.redis.RedisStorage`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...settings import Settings
from ..protocol import Derive, IndexCorrupt
from .records import u32, u64

#: log2 of the shards of each multimap below the paragraph buckets' (the URL's
#: ``shards``, 20 by default): document buckets (10x fewer rows, 85 bands each),
#: paragraph content keys (one entry a row) and document content keys.  At the
#: defaults and 1M paragraphs: ~80, ~65, ~60 and ~50 entries a shard -- a few hundred
#: bytes, so a shard's key costs ~1 byte an entry and a look-up reads little.
SHARD_BITS_BELOW = {"b:p:": 0, "b:d:": 3, "k:p:": 6, "k:d:": 9}
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

    def _bands(self, signatures: np.ndarray, ids: np.ndarray) -> tuple[bytes, bytes]:
        """The multimap blobs (u64 band keys, u32 row ids) of rows with these signatures."""
        bands = self._derive.bands(self.settings, signatures) if len(ids) else np.zeros((0, 1), np.uint64)
        return u64(bands.ravel()), u32(np.repeat(ids, bands.shape[1]))

    def _band_ops(self, op: str, tag: str, signatures: np.ndarray, ids: np.ndarray) -> list:
        base = f"b:{tag}:"
        return [op, self._k + base, self._shards[base], *self._bands(signatures, ids)]
