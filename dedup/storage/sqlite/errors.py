"""SQLite's errors and failed file operations translated into
:class:`~dedup.storage.protocol.StorageError` s that name the index and the cause (a
busy lock and how long it was waited for, a full disk, which of the index's files is
read-only, a deleted write-ahead log, a damaged text column)."""

from __future__ import annotations

import errno
import os
import re
import sqlite3

from ..protocol import BUSY_TIMEOUT, IndexBusy, IndexCorrupt, IndexFull, IndexReadOnly, StorageError
from ..rowcheck import damaged, listed, plural
from .schema import _ROWS


def translate_os(err: OSError, path: str, doing: str) -> StorageError:
    """A :class:`StorageError` naming ``path`` and the cause of a failed file operation."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return IndexFull(f"{path}: cannot {doing} the index: disk full ({err.strerror}); the index itself is unchanged")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return IndexReadOnly(f"{path}: cannot {doing} the index: {err.strerror}")
    return StorageError(f"{path}: cannot {doing} the index ({err})")


def translate(err: sqlite3.Error, path: str, doing: str, waited: float = BUSY_TIMEOUT) -> StorageError:
    """A :class:`StorageError` naming ``path`` and the cause of an SQLite error."""
    name = getattr(err, "sqlite_errorname", "") or ""
    text = str(err)
    if name in ("SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY"):  # returned at once, not after waiting
        return IndexBusy(f"{path}: another process changed the index during this {doing.split()[0]} "
                         f"({name}); nothing was changed, try again")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return IndexBusy(
            f"{path}: the index stayed locked by another process for more than {waited:g} s "
            "(the busy timeout); nothing was changed, try again (to wait longer: --db "
            f"'sqlite:///{path}?busy=SECONDS', or Index.open(..., busy_timeout=SECONDS))"
        )
    if name == "SQLITE_READONLY_DBMOVED":
        return StorageError(f"{path}: cannot {doing} the index: its file was removed or replaced while this "
                            "process had it open (an `index add` that created it and stored nothing removes it); "
                            "nothing of this change was stored, try again")
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return IndexReadOnly(f"{path}: cannot {doing} the index: {_read_only(path)} ({text})")
    if name == "SQLITE_FULL" or "disk is full" in text:
        return IndexFull(f"{path}: cannot {doing} the index: disk full; nothing of this change was stored")
    if name == "SQLITE_IOERR_SHORT_READ":
        return IndexCorrupt(
            f"{path}: cannot {doing} the index: a file of it is shorter than its shared-memory file "
            f"{path}-shm says ({text}): was {path}-wal deleted or truncated while the index was in use? "
            "Stop every process using it; what was only in the deleted log is lost")
    if name in ("SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE", "SQLITE_IOERR_SHMSIZE"):
        return IndexFull(
            f"{path}: cannot {doing} the index: write failed ({text}, {name}; disk full or file size limit?); "
            "nothing of this change was stored"
        )
    if name.startswith("SQLITE_IOERR"):
        return StorageError(f"{path}: cannot {doing} the index: input/output error ({text}, {name}); "
                            "nothing of this change was stored")
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text or "malformed" in text:
        return IndexCorrupt(f"{path}: not a dedup index, or a damaged one ({text})")
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return StorageError(f"{path}: cannot open the index ({text}; check that the folder exists and is writable)")
    return StorageError(f"{path}: cannot {doing} the index ({text})")


def undecodable(conn: sqlite3.Connection, name: str, message: str) -> IndexCorrupt:
    """The :class:`IndexCorrupt` raised when SQLite returned a text column's value
    that is not UTF-8 (a signature blob damaged into text: tester's S4): the rows
    holding one, found by reading that column's text values as bytes (a scan, on
    this error only)."""
    found = re.search(r"column '([^']+)'", message)
    column = found.group(1) if found else "?"
    rows: list[str] = []
    factory = conn.text_factory
    try:
        tables = {level: table for level, table in _ROWS.items()
                  if column in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}}
        conn.text_factory = bytes
        for level, table in tables.items():
            bad = []
            for row_id, value in conn.execute(
                    f'SELECT id, "{column}" FROM {table} WHERE typeof("{column}") = \'text\''):
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append(row_id)
            if bad:
                rows.append(f"stored {level} row{plural(bad)} {listed(bad)}")
    except sqlite3.Error:
        pass  # the first error is the one to report
    finally:
        conn.text_factory = factory
    where = " and ".join(rows) or "a stored row"
    return IndexCorrupt(damaged(name, f"{where}: column {column} holds text that is not UTF-8"))


def _read_only(path: str) -> str:
    """Which of the index's files (the database, its ``-wal`` and ``-shm``) or its
    folder this process may not write -- the cause of a read-only error."""
    folder = os.path.dirname(os.path.abspath(path))
    files = [p for p in (path, path + "-wal", path + "-shm") if os.path.exists(p) and not os.access(p, os.W_OK)]
    if not os.access(folder, os.W_OK):
        files.append(f"the folder {folder}")
    if not files:
        return "it is read-only"
    return f"{' and '.join(files)} {'is' if len(files) == 1 else 'are'} read-only for this user"
