"""Storage backends of the persistent index (the contract: :mod:`dedup.storage.protocol`).

``open_storage(url)`` is the one entry point :mod:`dedup.index` uses; it picks the
backend by the URL's scheme from a small registry:

* a plain path, ``file:PATH`` or ``sqlite:///PATH`` (``sqlite:////abs/path`` for an
  absolute one): the embedded SQLite file (:mod:`dedup.storage.sqlite`), the default;
* ``redis://``, ``rediss://`` (TLS) and ``unix://`` (a Unix socket): a shared Redis
  server (:mod:`dedup.storage.redis`, needs the ``redis`` extra).

A backend module is imported only when its scheme is used.
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any, Callable, Optional

from ..settings import Settings
from .optional import Compacting, Leased, Maintained
from .protocol import (
    BUSY_TIMEOUT,
    Derive,
    IndexBusy,
    IndexCorrupt,
    IndexFull,
    IndexMissing,
    IndexReadOnly,
    IndexUnavailable,
    SettingsMismatch,
    Storage,
    StorageError,
    StoredDocument,
)

#: URL scheme -> ``module:function`` opening it.  The function takes the URL (or path)
#: and the keyword arguments of :func:`open_storage`.
BACKENDS = {
    "": "dedup.storage.sqlite:open_sqlite_url",
    "file": "dedup.storage.sqlite:open_sqlite_url",
    "sqlite": "dedup.storage.sqlite:open_sqlite_url",
    "redis": "dedup.storage.redis:open_redis",
    "rediss": "dedup.storage.redis:open_redis",
    "unix": "dedup.storage.redis:open_redis",
}
#: Third-party libraries a backend imports when it opens (an extra to install).
BACKEND_LIBRARIES = {"redis", "hiredis"}

#: URL scheme -> ``module:function`` giving the local files of an index at such a URL:
#: ``function(url)`` returns a predicate on paths (see :func:`own_files`).  A scheme
#: without an entry keeps its index elsewhere (a Redis server): it has no local files.
FILES = {
    "": "dedup.storage.sqlite:own_files",
    "file": "dedup.storage.sqlite:own_files",
    "sqlite": "dedup.storage.sqlite:own_files",
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://|^(file|sqlite):", re.IGNORECASE)


def scheme_of(url: str | os.PathLike) -> str:
    """The URL scheme of ``url`` (lower case), ``""`` for a plain path (which may hold
    a colon: only ``NAME://`` or ``file:``/``sqlite:`` start a URL)."""
    found = _SCHEME.match(os.fspath(url))
    if not found:
        return ""
    return (found.group(1) or found.group(2)).lower()


def open_storage(
    url: str | os.PathLike,
    settings: Optional[Settings] = None,
    *,
    derive: Derive,
    create: bool = True,
    readonly: bool = False,
    busy_timeout: float = BUSY_TIMEOUT,
) -> Storage:
    """Open the index at ``url`` with the backend its scheme names (see the module
    docstring); ``derive`` is what the backend may compute from signatures (given by
    :class:`dedup.index.Index`).  Raises :class:`StorageError` for an unknown scheme
    or a backend whose library is not installed."""
    scheme = scheme_of(url)
    target = BACKENDS.get(scheme)
    if target is None:
        known = ", ".join(f"{s}://" for s in sorted(BACKENDS) if s and s != "file")
        raise StorageError(f"{masked(url)}: unknown index URL scheme {scheme!r} (a file path, or {known})")
    module_name, function = target.split(":")
    try:
        # the backend's library is imported by its opener, not by its module (tester's F6, session 18)
        opener: Any = getattr(importlib.import_module(module_name), function)
        return opener(url, settings, derive=derive, create=create, readonly=readonly, busy_timeout=busy_timeout)
    except ImportError as err:
        if (err.name or "").partition(".")[0] not in BACKEND_LIBRARIES:
            raise  # not a backend's missing library: a broken install or a bug, said as such
        raise StorageError(
            f"{masked(url)}: the {scheme} backend needs a library that is not installed ({err}); "
            "install dedup with the redis extra: pip install -e '.[redis]' in dedup's checkout"
        ) from None


def own_files(url: str | os.PathLike) -> Callable[[str | os.PathLike], bool]:
    """A predicate telling whether a local path is one of the files of the index at
    ``url`` -- for an SQLite index the database itself (by name, or by identity: a link
    to it) and its companions ``FILE-wal``, ``FILE-shm``, ``FILE-lsh.*`` -- so that no
    command reads the index as an input or writes a report over it.  Always false for
    an index on a server (Redis) or an unknown scheme."""
    target = FILES.get(scheme_of(url))
    if target is None:
        return lambda path: False
    module_name, function = target.split(":")
    return getattr(importlib.import_module(module_name), function)(url)


def masked(url: str | os.PathLike) -> str:
    """``url`` with any password replaced by ``***``."""
    return re.sub(r"(//[^/@:]*:)[^@/]*@", r"\1***@", os.fspath(url))


__all__ = [
    "BACKENDS",
    "BUSY_TIMEOUT",
    "Compacting",
    "IndexBusy",
    "IndexCorrupt",
    "IndexFull",
    "IndexMissing",
    "IndexReadOnly",
    "IndexUnavailable",
    "Leased",
    "Maintained",
    "SettingsMismatch",
    "Storage",
    "StorageError",
    "StoredDocument",
    "masked",
    "open_storage",
    "own_files",
    "scheme_of",
]
