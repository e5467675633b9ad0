"""The shared backend: one index on a Redis server, used by many ingest workers at once.

Why Redis: when ingestion runs in several processes or on several machines, the
pre-ingest index must be shared; Redis is the common choice, and a small server holds a
large index (see ``benchmarks/`` for memory per paragraph).  Talks to the server with
redis-py (hiredis parses replies when installed).  The layout is in :mod:`.records`, the
server-side scripts in :mod:`.lua`, URLs and errors in :mod:`.url`; this module opens
(or creates) an index, and the class of :mod:`.store` holds the connection and the
transactions, its reads of rows in :mod:`.reads`
and by document name in :mod:`.named`, its writes in :mod:`.writes`, the write lock and
its lease in :mod:`.lock`, the multimaps' search in :mod:`.multimap`, and the LSH
buckets -- a log on the server (:mod:`.log`), a copy in each worker's memory
(:mod:`.levelcache`) -- following the log across compactions, and compacting it, in
:mod:`.compact`.

How the contract (:mod:`dedup.storage.protocol`) is kept:

* **atomic admission**: a write transaction holds a lock key (``SET NX PX``: a token with
  a lease), so check-then-add is exclusive across workers; every write is one Lua call
  that first checks the token is still ours (a stalled writer whose lease ran out is
  fenced out) and renews the lease, and so do the worker's steps between writes
  (:mod:`.lock`);
* **all or nothing**: each ``insert_many`` (a whole batch of documents) is written by
  a few script calls and published by the last (ids, counts and the ``top:*`` marks
  at once), each removal by one call, so a reader sees a batch whole or not at all,
  and a worker killed mid-batch leaves earlier batches whole and nothing visible of
  the one it was writing (the next writer removes its unpublished rows); when a
  transaction fails by an exception the documents it had written are removed again
  (best effort: not when the server is gone -- then the batch can be retried, the
  documents already stored being found by id);
* **snapshots**: every look-up is one atomic call; a check makes several, and hides
  rows above the ids written when it began, so it sees each concurrent batch whole or
  not at all (rule 3); each transaction first brings this worker's copy of the bucket
  log up to date (one round trip when nothing is new);
* **removal** logs a drop of the removed rows (every worker's look-ups leave them out
  from its next transaction on) and hands the bands of a banded text over to its
  oldest surviving exact copy (an add of that row in the log).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from ...settings import Settings
from .. import compat
from ..protocol import BUSY_TIMEOUT, Derive, IndexCorrupt, IndexMissing, StorageError, busy_wait
from ..rowcheck import damaged
from . import lua
from .log import number
from .multimap import SHARD_BITS_BELOW
from .records import FIXED_META, meta_check
from .store import RedisStorage
from .url import RedisURL, check_options, is_redis_error, parse, translate

FORMAT = "dedup-index-redis"
#: The layout (:mod:`.records`); an index of another version is refused ("rebuild").
#: 2: multimaps as packed strings, zlib text, one script call per batch.
#: 3: the LSH buckets and sketches as an append-only log (:mod:`.log`), held by each
#: worker in memory.
#: 4: a checksum in each document and paragraph record (:mod:`dedup.storage.rowcheck`).
#: 5: the bucket log's entries carry the rows' set sizes.
#: 6: content-key shards end with a checksum and have presence bits; the tallies are
#: shards too (``k:t:``); ``judged`` carries a checksum; ``log:n`` exists from the start.
#: 7: no document signature in ``d:`` (it is in the bucket log, or made from the
#: paragraphs'); texts at zlib level 6.
#: 8: no ``meta_check`` field (the settings edited in place changed answers silently),
#: no document count ``n:d`` (a deleted ``ids`` hash read as an empty index) and no end
#: mark in the shards' presence bitmaps (a kind's shards deleted with their bitmap read
#: as no entries).
#: 9: no checksum in ``t:`` records (a text or its metadata edited, or copied from
#: another row, was returned as stored) nor of ``banded`` in ``d:`` / ``p:`` (cleared,
#: a removal skipped the hand-over of bands); no publications in the bucket log (a
#: ``top:p`` set back after removals hid rows from checks that read no document).
#: 10: ``n:p`` without a checksum (decremented, it gave wrong stats and nothing noticed;
#: tester's T2).
#: 11: no name multimap ``k:n:`` (a document renamed in both ``ids`` and ``dg`` read "not
#: stored" under its old name: :meth:`.named.Named._named`).
FORMAT_VERSION = "11"


def open_redis(
    url: str | os.PathLike,
    settings: Optional[Settings] = None,
    *,
    derive: Derive,
    create: bool = True,
    readonly: bool = False,
    busy_timeout: float = BUSY_TIMEOUT,
) -> RedisStorage:
    """Open (or create) the index at a ``redis://``, ``rediss://`` or ``unix://`` URL
    (options: :mod:`dedup.storage.redis.url`).

    A new index stores ``settings`` (default ``Settings()``) on the server; an existing
    one keeps its own, and giving different ``settings`` is a
    :class:`~dedup.storage.SettingsMismatch`.  Raises :class:`IndexMissing` when there
    is no index under the prefix and ``create`` is false (or ``readonly``),
    :class:`~dedup.storage.IndexUnavailable` when the server cannot be reached or
    refuses the credentials."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    u = parse(os.fspath(url))
    try:
        client = redis.Redis.from_url(u.url, socket_timeout=u.timeout, socket_connect_timeout=u.timeout,
                                      retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
    except ValueError as err:
        raise StorageError(f"{u.shown}: not a usable Redis URL ({err})") from None
    check_options(client, u)
    try:
        meta = _meta(client, u, settings, derive, create and not readonly)
        stored = compat.check(u.shown, meta, settings, derive)
        gen = number(client.get(u.prefix + ":log:gen"), u.shown, u.prefix + ":log:gen")  # compactions so far
    except BaseException as err:
        client.close()
        if isinstance(err, Exception) and is_redis_error(err):
            raise translate(err, u.shown, "open") from err
        raise
    return RedisStorage(u, client, stored, meta, readonly, busy_wait(u.shown, u.busy, busy_timeout), derive, gen)


def _meta(client: Any, u: RedisURL, settings: Optional[Settings], derive: Derive, create: bool) -> dict[str, str]:
    key = u.prefix + ":meta"
    raw = client.hgetall(key)
    if not raw:
        if not create:
            if client.exists(*(f"{u.prefix}:{name}" for name in ("log:n", "n:d", "judged", "ids", "log"))):
                raise IndexCorrupt(damaged(u.shown, f"the meta hash ({key}) is missing while the index's other keys "
                                                    "exist"))
            raise IndexMissing(f"{u.shown}: no index under prefix {u.prefix!r} in this database")
        fields = {"format": FORMAT, "format_version": FORMAT_VERSION, "shard_bits": str(u.shard_bits),
                  **compat.describe(settings or Settings(), derive)}
        fields["meta_check"] = meta_check(fields)
        marks = [(base, 1 << max(u.shard_bits - below, 0)) for base, below in SHARD_BITS_BELOW.items()]
        flat = client.register_script(lua.CREATE)(args=[u.prefix + ":", len(marks), *[x for m in marks for x in m],
                                                        *[x for kv in fields.items() for x in kv]])
        raw = dict(zip(flat[0::2], flat[1::2]))
    meta = {k.decode(): v.decode() for k, v in raw.items()}
    if meta.get("format") != FORMAT:
        raise IndexCorrupt(f"{u.shown}: the keys under prefix {u.prefix!r} are not a dedup index")
    compat.check_layout(u.shown, meta.get("format_version"), FORMAT_VERSION, "Redis")
    if meta.get("meta_check") != meta_check(meta):
        raise IndexCorrupt(damaged(u.shown, f"its meta fields {', '.join(FIXED_META)} ({u.prefix}:meta) do not "
                                            "match their checksum (meta_check)"))
    if "shard_bits" not in meta:
        raise IndexCorrupt(f"{u.shown}: the index has no shard_bits meta field")
    return meta


__all__ = ["FORMAT", "FORMAT_VERSION", "RedisStorage", "open_redis"]
