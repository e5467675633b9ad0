"""What names an SQLite index: a path, ``file:PATH`` or ``sqlite:///PATH`` with an
optional ``?busy=SECONDS`` (parsed here; :func:`~dedup.storage.sqlite.open_sqlite_url`
opens it), and which files on disk are the index's own (:func:`own_files`: the file and
its companions, which a scan of the folder must not read as documents)."""

from __future__ import annotations

import os
import urllib.parse
from functools import lru_cache
from typing import Callable, Optional

from ..protocol import StorageError


def _split_url(url: str | os.PathLike) -> tuple[str, str]:
    """``(path part, query)`` of a ``file:`` / ``sqlite:`` URL; a plain path whole (a
    ``?`` in a file name is a character of it)."""
    text = os.fspath(url)
    for prefix in ("sqlite:///", "sqlite:", "file://", "file:"):
        if text.lower().startswith(prefix):
            rest, _, query = text[len(prefix):].partition("?")
            return urllib.parse.unquote(rest), query
    return text, ""


def url_busy(url: str | os.PathLike) -> Optional[float]:
    """The ``busy`` seconds a URL's query gives (``None`` without); a
    :class:`StorageError` for any other option or a bad value."""
    query = urllib.parse.parse_qsl(_split_url(url)[1], keep_blank_values=True)
    unknown = sorted({k for k, _ in query} - {"busy"})
    try:
        busy = [float(v) for k, v in query if k == "busy"]
    except ValueError:
        busy = [-1.0]
    if unknown or any(not 0 <= b < 1e6 for b in busy):
        raise StorageError(f"{os.fspath(url)}: bad index URL option"
                           f"{' ' + ', '.join(map(repr, unknown)) if unknown else ''}: an SQLite index URL takes "
                           "only ?busy=SECONDS (not negative); a '?' of the file's name is written %3F in a "
                           "file: or sqlite: URL (a plain path takes it as it is)")
    return busy[-1] if busy else None


def sqlite_path(url: str | os.PathLike) -> str:
    """The file path a path or ``file:`` / ``sqlite:`` URL names (``sqlite:///rel.db``
    is relative, ``sqlite:////abs.db`` and ``file:///abs.db`` absolute; a URL's
    ``?busy=`` is no part of it)."""
    return _split_url(url)[0]


def own_files(url: str | os.PathLike) -> Callable[[str | os.PathLike], bool]:
    """A predicate: is a path the index file ``url`` names (the same name, or a link to
    it) or one of its companions, named ``FILE-SUFFIX`` (``-wal``, ``-shm``, the bucket
    files ``-lsh.ID`` and their lock) in the index's folder -- by its name as written or
    resolved (a folder named through a link: tester's S5 of #12, the empty lock file was
    stored as a document)?  What :func:`dedup.storage.own_files` gives for SQLite URLs."""
    index = os.path.abspath(sqlite_path(url))
    folder, base = os.path.split(index)
    real_folder = os.path.realpath(folder)
    try:
        st = os.stat(index)
        identity = (st.st_dev, st.st_ino)
    except OSError:
        identity = None

    def owned(path: str | os.PathLike) -> bool:
        path = os.path.abspath(path)
        if path == index or path.startswith(index + "-"):
            return True
        there, name = os.path.split(path)
        if (name == base or name.startswith(base + "-")) and _same_folder(there, real_folder):
            return True
        if identity is None:
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == identity

    return owned


@lru_cache(maxsize=256)
def _same_folder(folder: str, real: str) -> bool:
    """Whether ``folder`` resolves to ``real`` (cached: asked for every file walked
    whose name is the index's)."""
    return os.path.realpath(folder) == real
