"""Redis index URLs, and Redis errors as :class:`~dedup.storage.protocol.StorageError` s.

``redis://[USER:PASSWORD@]HOST[:PORT][/DB][?OPTIONS]``, ``rediss://...`` (TLS) or
``unix://[USER:PASSWORD@]/PATH/TO/redis.sock[?db=N&OPTIONS]``.  Our options:

* ``prefix`` (default ``dedup``): every key of the index starts with ``PREFIX:``, so
  several indexes share one server and database;
* ``timeout`` (seconds, default 10): connect and socket timeout of each command;
* ``lease`` (seconds, default 30): how long the write lock is held without a write
  before another worker may take it (a worker that died frees it after this);
* ``busy`` (seconds, default: the opener's ``busy_timeout``, 30): how long a write waits
  for the write lock while other workers hold it before it gives up with
  :class:`~dedup.storage.protocol.IndexBusy` (a CLI batch holds it from its look-up to
  its write: tens of seconds on a loaded machine, so several workers adding at once
  may need more; tester's F3, session 15);
* ``shards`` (log2 of the multimap shards' base, default 20, only when the index is
  created; see :mod:`dedup.storage.redis.multimap`).

Every other option (``socket_keepalive``, ``ssl_cert_reqs``, ``ssl_ca_certs``,
``client_name``, ...) goes to redis-py as it is.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
import functools
from typing import Any, Callable, Optional, TypeVar

from .. import masked
from ..protocol import IndexBusy, IndexCorrupt, IndexFull, IndexReadOnly, IndexUnavailable, StorageError
from ..rowcheck import damaged

DEFAULT_PREFIX = "dedup"
DEFAULT_TIMEOUT = 10.0
DEFAULT_LEASE = 30.0
DEFAULT_SHARD_BITS = 20


@dataclass(frozen=True)
class RedisURL:
    """A parsed index URL: what redis-py connects with, and our options."""

    url: str  # for redis-py, without our options
    shown: str  # for messages: the URL as given, password masked
    prefix: str = DEFAULT_PREFIX
    timeout: float = DEFAULT_TIMEOUT
    lease: float = DEFAULT_LEASE
    shard_bits: int = DEFAULT_SHARD_BITS
    options: dict[str, Any] = field(default_factory=dict)
    busy: Optional[float] = None  # None: the opener's busy_timeout


def parse(url: str) -> RedisURL:
    """Split ``url`` into redis-py's URL and our options; :class:`StorageError` names
    a bad option."""
    shown = masked(url)
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in ("prefix", "timeout", "lease", "shards", "busy")}
    rest = [(k, v) for k, v in query if k not in ours]
    try:
        prefix = ours.get("prefix", DEFAULT_PREFIX)
        timeout = float(ours.get("timeout", DEFAULT_TIMEOUT))
        lease = float(ours.get("lease", DEFAULT_LEASE))
        shard_bits = int(ours.get("shards", DEFAULT_SHARD_BITS))
        busy = float(ours["busy"]) if "busy" in ours else None
    except ValueError as err:
        raise StorageError(f"{shown}: bad index URL option ({err})") from None
    if (not prefix or not 0 < timeout < 1e6 or not 0 < lease < 1e6 or not 4 <= shard_bits <= 30
            or (busy is not None and not 0 <= busy < 1e6)):
        raise StorageError(f"{shown}: bad index URL option: prefix must not be empty, timeout and lease "
                           "must be positive, busy not negative, shards between 4 and 30")
    plain = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(rest)))
    if parts.scheme == "unix" and not plain.startswith("unix://"):
        # urlunsplit drops the "//" of a URL without a host ("unix:///run/redis.sock"),
        # and redis-py accepts unix sockets only as "unix://PATH".
        plain = "unix://" + plain[len("unix:"):]
    return RedisURL(plain, shown, prefix, timeout, lease, shard_bits, busy=busy)


def check_options(client: Any, u: RedisURL) -> None:
    """A URL option neither ours nor redis-py's (``?prefx=``), or a TLS option on a
    ``redis://`` URL, is a :class:`StorageError` naming it -- redis-py takes every
    option as a keyword of its connection class and raised ``TypeError`` only at the
    first command (tester F3, session 22).  Building one connection object checks
    them without connecting."""
    import redis.exceptions as rx

    pool = client.connection_pool
    try:
        pool.connection_class(**pool.connection_kwargs)
    except (ValueError, rx.RedisError) as err:  # a value it refuses: ?ssl_cert_reqs=bogus (review R3, s22)
        client.close()
        raise StorageError(f"{u.shown}: not a usable Redis URL ({err})") from None
    except TypeError as err:
        client.close()
        name = re.search(r"keyword argument '([^']+)'", str(err))
        what = (f"option {name.group(1)!r} is neither dedup's (prefix, timeout, lease, busy, shards) nor one "
                f"redis-py takes for a {urllib.parse.urlsplit(u.url).scheme}:// connection" if name else str(err))
        raise StorageError(f"{u.shown}: not a usable Redis URL ({what})") from None


#: The ``doing`` of :func:`translate` that write: a lost connection may interrupt them.
WRITING = ("write to", "remove from", "lock")


def translate(err: Exception, shown: str, doing: str) -> StorageError:
    """A :class:`StorageError` naming the index URL (password masked) and the cause."""
    import redis.exceptions as rx

    text = str(err)
    if isinstance(err, rx.AuthenticationError) or "WRONGPASS" in text or "NOAUTH" in text \
            or "invalid username-password" in text or isinstance(err, rx.AuthorizationError):
        return IndexUnavailable(f"{shown}: the Redis server refused the credentials ({text}); "
                                "check the user name and password in the URL")
    if isinstance(err, rx.TimeoutError):
        retry = ("; a write in progress was not completed (retry it: a document is stored whole or not at all)"
                 if doing in WRITING else "")
        return IndexUnavailable(f"{shown}: the Redis server did not answer in time while trying to {doing} "
                                f"the index ({text}){retry}")
    if isinstance(err, rx.BusyLoadingError):
        return IndexUnavailable(f"{shown}: the Redis server is loading its data; try again shortly")
    if isinstance(err, rx.ConnectionError):
        # Only a write has anything half-done to speak of (a read, an open: nothing).
        retry = (" A document being written was stored whole or not at all: retry the batch"
                 if doing in WRITING else "")
        return IndexUnavailable(f"{shown}: cannot {doing} the index: no connection to the Redis server "
                                f"({text}); is it running and reachable?{retry}")
    if "OOM" in text or "maxmemory" in text:
        return IndexFull(f"{shown}: cannot {doing} the index: the Redis server reached its memory limit "
                         f"(maxmemory); nothing of the refused document was stored ({text})")
    if "READONLY" in text:
        return IndexReadOnly(f"{shown}: cannot {doing} the index: the Redis server is a read-only replica")
    if "DEDUPDAMAGE" in text:
        return IndexCorrupt(damaged(shown, text.split("DEDUPDAMAGE ", 1)[-1]))
    if "DEDUPCLAIM" in text:
        return IndexBusy(f"{shown}: cannot {doing} the index: {text.split('DEDUPCLAIM ', 1)[-1]}; nothing was "
                         "switched, run it again")
    if "DEDUPLOCK" in text:
        return IndexBusy(lease_lost(shown, None, "while writing"))
    return StorageError(f"{shown}: cannot {doing} the index ({type(err).__name__}: {text})")


def lease_lost(shown: str, lease: Optional[float], when: str, lock: str = "the index's write lock") -> str:
    """The message of a ``lock`` lost ``when``: its lease (``lease`` seconds) ran out."""
    held = f" ({lease:g} s)" if lease else ""
    return (f"{shown}: lost {lock} {when}: its lease{held} ran out (a worker stalled, or one step "
            "of the batch took longer than the lease on a busy machine); what it was writing was not stored, "
            "retry, or give a longer lease with ?lease=SECONDS in the URL")


_F = TypeVar("_F", bound=Callable[..., Any])


def guarded(doing: str) -> Callable[[_F], _F]:
    """Redis errors raised inside the method become clear :class:`StorageError` s; in a
    write transaction each call is a checkpoint that renews the lock's lease when due
    (``RedisStorage._checkpoint``)."""

    def wrap(method: _F) -> _F:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            self._checkpoint()
            try:
                return method(self, *args, **kwargs)
            except StorageError:
                raise
            except Exception as err:  # noqa: BLE001 -- filtered below
                if not is_redis_error(err):
                    raise
                raise translate(err, self.path, doing) from err

        return run  # type: ignore[return-value]

    return wrap


def is_redis_error(err: Exception) -> bool:
    """Whether ``err`` is one of redis-py's errors (imported here: redis-py is an extra)."""
    import redis.exceptions

    return isinstance(err, redis.exceptions.RedisError)
