"""The embedded default backend: one SQLite file (stdlib ``sqlite3``, WAL mode).

Why SQLite: it is a real database in one file -- transactions survive ``kill -9``
(a transaction is in the write-ahead log before ``COMMIT`` returns, and a log without
its commit frame is ignored on reopen), several processes can read while one writes,
and ``BEGIN IMMEDIATE`` gives the cross-process write lock that makes check-then-add
atomic.  ``synchronous=NORMAL`` in WAL mode is durable against process crashes; only a
power cut can lose the last commits, never corrupt the file.

Layout (every query below is an index lookup, never a scan):

* ``meta``: format, settings (JSON), normalization version -- checked on every open;
* ``documents``: public id (unique), content key, signature blob, JSON metadata and
  text (last: a long text spills into overflow pages, which reading the columns before
  it never touches);
* ``paragraphs``: owner, position, span, word count, content key, signature blob
  (``num_perm`` little-endian uint32) and shingle-set blob (sorted little-endian uint64);
* ``heirs``: rows that inherited a removed row's bands (see below);
* ``tallies``: per paragraph content key, in how many judged documents it occurred
  (and a checksum of the two, kept by the upsert itself: :func:`.checks.tally_checks`)
  (stored or not; meta ``judged`` counts the documents): the boilerplate rule's counts;
* the LSH buckets are not tables: they are written to ``<file>-lsh.<file_id>`` beside
  the database, a key-sorted, memory-mapped array (:mod:`dedup.storage.bucketfile`),
  by :meth:`SQLiteStorage.optimize` from the stored signatures, and what was stored
  since is read into memory.  Why not a table: a ``WITHOUT ROWID`` bucket table cost
  one random B-tree seek per band key on a check (~850 with the 85 x 3 layout it was
  measured with, ~4 ms at 100k articles) and
  one random page write per key on an add (measured at 100k articles: add p50 22 ms
  with the table, 6 ms without).  Only the first stored copy of a text is banded
  (``banded``; its exact copies are found by content key), so boilerplate repeated in
  every article does not grow the buckets; ``delete`` hands the bands over to a
  surviving copy and logs it in ``heirs``.  The meta rows that tie files to the
  database: ``uid`` (a file is written for one database), ``bucket_file`` (the file to
  use: a database restored from a backup ignores files written later) and the
  ``*_floor`` rows (the highest ids ever removed: ids are never reused, so what is
  newer than a file is "ids above its own, and heirs logged after it").

Errors from SQLite are translated into :class:`~dedup.storage.protocol.StorageError`
subclasses that name the file and the cause; a failed write rolls back whole.

The modules: this one opens (or creates) the file, :mod:`.url` parses what names it
and tells its files; :mod:`.store` is the storage object, which holds the
transactions; :mod:`.schema` creates, upgrades and checks the file (:mod:`.upgrade`:
an older format's rows checked and given checksums), :mod:`.errors` translates what
went wrong; :mod:`.rows` reads rows and :mod:`.writes` writes them, :mod:`.checks`
says what their checksums cover; :mod:`.buckets` answers band-key look-ups and
:mod:`.upkeep` writes the bucket file; :mod:`.tallies` keeps the boilerplate tallies
and checks that none is missing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shlex
import sqlite3
import stat
import urllib.parse
import warnings
from pathlib import Path
from typing import Any, Optional

from ...settings import Settings
from ..protocol import BUSY_TIMEOUT, Derive, IndexCorrupt, IndexMissing, IndexReadOnly, StorageError, busy_wait
from .schema import (
    _TABLES,
    _UPGRADABLE,
    CACHE_KB,
    FORMAT,
    FORMAT_VERSION,
    MMAP_BYTES,
    WAL_CHECKPOINT_PAGES,
    check_meta,
    create_schema,
    table_names,
    upgrade_schema,
)
from .edges import enter_edges
from .errors import translate, translate_os
from .leftovers import claimed, remove_abandoned
from .store import SQLiteStorage
from .url import own_files, sqlite_path, url_busy  # (own_files: named here by dedup.storage)


def open_sqlite(
    path: str | os.PathLike,
    settings: Optional[Settings] = None,
    *,
    create: bool = True,
    readonly: bool = False,
    busy_timeout: float = BUSY_TIMEOUT,
    derive: Derive,
) -> SQLiteStorage:
    """Open (or create) the index at ``path``.

    A new index stores ``settings`` (default ``Settings()``); an existing one keeps its
    own, and giving different ``settings`` is a :class:`SettingsMismatch`.  A file that
    is not a dedup index is refused before anything is written to it.
    """
    name = os.fspath(path)
    if not name:  # (Path("") is the current folder: it was "is a folder, not an index file")
        raise StorageError("the index's path is empty: give the index file's path (--db FILE)")
    p = Path(name)
    if p.is_dir():
        raise StorageError(f"{name}: is a folder, not an index file")
    _refuse_special(name)
    folder = p.parent if str(p.parent) else Path(".")
    # Both places say what is wrong with the folder (tester's s23: `index add` said
    # "FILE is not a folder", every command that only opens said "no such index").
    unplaced = None if folder.is_dir() else f"{folder} is not a folder" if folder.exists() else \
        f"folder {folder} does not exist"
    if not p.exists() and p.is_symlink():  # (attacker pass, s24: a loop said "check that the folder
        # exists and is writable" on an add, "no such index" on a check)
        try:
            os.stat(name)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise StorageError(f"{name}: is a loop of symbolic links, not an index file") from None
        if readonly or not create:
            raise IndexMissing(f"{name}: no such index: it is a symbolic link to {os.readlink(name)}, "
                               "which does not exist")
    if not p.exists() and (readonly or not create):
        raise IndexMissing(f"{name}: no such index" + (f": {unplaced}" if unplaced else ""))
    if unplaced:
        raise StorageError(f"{name}: cannot create the index: {unplaced}")
    if p.exists() and not _size(name) and (wal := _size(name + "-wal")):
        # Before any SQLite connection, :func:`_tables_read_only`' look included: opening an empty
        # database deletes its log (see :func:`_empty`), which may be all that is left.
        raise IndexCorrupt(
            f"{name}: is empty but its write-ahead log {os.path.basename(name)}-wal holds {wal:,} bytes "
            "(was the index file truncated?); refusing to create an index over them: move both away "
            "or use another path")
    # A read-only open of a dedup index it could write opens it read-write and query-only:
    # SQLite removes the -wal and -shm files when the last connection closes (folding the
    # log into the file first, content unchanged), which a mode=ro connection cannot
    # (they stayed behind after every `dedup check`).  Any other file stays mode=ro: a
    # foreign database is never even checkpointed (review R5, session 16).
    looked = _tables_read_only(name) if readonly and os.access(folder, os.W_OK) and all(
        os.access(f, os.W_OK) for f in (name, name + "-wal", name + "-shm") if os.path.lexists(f)) else None
    query_only = looked is not None and _TABLES <= looked
    query = "?mode=rw" if query_only else "?mode=ro" if readonly else ""
    if not os.access(folder, os.W_OK):
        if not p.exists():
            raise IndexReadOnly(f"{name}: cannot create the index: folder {folder} is not writable")
        if not readonly:
            raise IndexReadOnly(
                f"{name}: the folder is read-only, so the index can only be opened read-only "
                "(as `dedup check` and `dedup index stats` do)"
            )
        wal = Path(name + "-wal")
        if wal.exists() and wal.stat().st_size:
            raise IndexReadOnly(
                f"{name}: has unfinished writes in {wal.name} and its folder is read-only; "
                "open it once where it is writable"
            )
        # SQLite needs a writable folder for WAL's shared-memory file; on read-only
        # media nothing can change the file, which is what ``immutable`` declares.
        query += "&immutable=1"
    if not readonly:
        _say_removed(name, remove_abandoned(name))
    if not readonly and not p.exists():
        _create(name, settings or Settings(), derive, busy_timeout)
    uri = "file:" + urllib.parse.quote(os.path.abspath(name)) + query
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as err:
        raise translate(err, name, "create" if not p.exists() else "open") from err
    try:
        if query_only:
            conn.execute("PRAGMA query_only = ON")
        store = _prepare(conn, name, settings, readonly, busy_timeout, derive, looked)
    except BaseException:
        conn.close()
        raise
    return store


def _prepare(
    conn: sqlite3.Connection, name: str, settings: Optional[Settings], readonly: bool, busy_timeout: float,
    derive: Derive, tables: Optional[set[str]] = None,
) -> SQLiteStorage:
    """The storage on ``conn``, once its file is known to be a dedup index (or an empty
    one is made one); ``tables``: what :func:`_tables_read_only` found moments before,
    so it is not looked up twice (a read-only open)."""
    try:
        # Read-only look first: a foreign file must not even get its journal mode changed.
        sized = _size(name)
        if tables is None:
            tables = table_names(conn)
    except sqlite3.Error as err:
        raise translate(err, name, "open") from err
    if tables and not _TABLES <= tables:
        raise IndexCorrupt(f"{name}: is an SQLite database but not a dedup index (tables: {', '.join(sorted(tables))})")
    if not tables and sized and _size(name):
        # A new index's schema is committed to the file itself before it switches to
        # WAL (below), so a non-empty file without tables was never an index of ours --
        # or was one whose write-ahead log is gone.  Never create an index over it.
        raise IndexCorrupt(
            f"{name}: is not empty but holds no dedup index (if it was one, its write-ahead log "
            f"{os.path.basename(name)}-wal was lost, and with it everything not yet folded into the file); "
            "refusing to write over it: move it away or use another path")
    if not tables:
        _empty(name, readonly)
    try:
        if not tables:  # in the rollback journal: see above
            create_schema(conn, settings or Settings(), derive)
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # See WAL_CHECKPOINT_PAGES.
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_CHECKPOINT_PAGES * 4096}")
        conn.execute(f"PRAGMA cache_size = {-CACHE_KB}")  # 64 MB of page cache per connection
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") == FORMAT and meta.get("format_version") in _UPGRADABLE:
            if readonly:
                raise IndexReadOnly(
                    f"{name}: index format version {meta['format_version']} needs a one-time upgrade to "
                    f"version {FORMAT_VERSION}; open it once writable: `dedup index optimize --db {shlex.quote(name)}` "
                    "upgrades it (`check`, `stats`, `list` and `export` only read it)"
                )
            upgrade_schema(conn, name)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as err:
        raise translate(err, name, "create" if not tables else "open") from err
    stored = check_meta(meta, name, settings, derive)
    try:
        enter_edges(conn, name)
    except sqlite3.Error as err:
        raise translate(err, name, "open") from err
    return SQLiteStorage(name, conn, stored, readonly, busy_timeout, meta["uid"], derive)


def _tables_read_only(name: str) -> Optional[set[str]]:
    """The tables of the file ``name``, looked at on a ``mode=ro`` connection (an empty
    file is not opened at all: SQLite deletes an empty database's write-ahead log, and
    has none); ``None`` when SQLite cannot read it (the open then says why)."""
    if not _size(name):
        return set()
    try:
        with contextlib.closing(sqlite3.connect("file:" + urllib.parse.quote(os.path.abspath(name)) + "?mode=ro",
                                                uri=True)) as conn:
            return table_names(conn)
    except sqlite3.Error:
        return None


def _create(name: str, settings: Settings, derive: Derive, busy_timeout: float) -> None:
    """Create a new index at ``name`` whole or not at all: its schema is written to a
    file beside it (``NAME-new.PID.RANDOM``, removed however this ends but by SIGKILL;
    held with a lock meanwhile, so a later open tells a killed creation's file from a
    live one's and removes it: :mod:`.leftovers`), which is then linked in under ``name``.  Why: SQLite creates a file when it opens it, so an
    ``index add`` interrupted while it created the index left a 0-byte file that later
    opens called "not a dedup index" (U9 of #12).  ``os.link`` never replaces a file:
    when a concurrent creator's index got there first, that one is opened instead (and
    its settings compared with ours, as on any open).  On a file system without hard
    links the index is created in place, as SQLite does."""
    temp = f"{name}-new.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        lock = claimed(temp)
    except OSError as err:
        raise translate_os(err, name, "create") from err
    try:
        conn = sqlite3.connect("file:" + urllib.parse.quote(os.path.abspath(temp)), uri=True,
                               timeout=busy_timeout, isolation_level=None)
        try:
            create_schema(conn, settings, derive)
        finally:
            conn.close()
        try:
            os.link(temp, name)
        except FileExistsError:
            pass  # a concurrent creator's index: opened next
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                raise translate_os(err, name, "create") from err
    except sqlite3.Error as err:
        raise translate(err, name, "create") from err
    finally:
        try:
            for leftover in (temp, temp + "-journal"):
                try:
                    os.unlink(leftover)
                except OSError:
                    pass  # gone, or not removable now: the next open's clean-up removes it
        finally:
            os.close(lock)  # last: a file still there is still held (see .leftovers)


def _say_removed(name: str, removed: list[str]) -> None:
    """One warning line for the files of killed creations that were removed."""
    if removed:
        warnings.warn(f"{name}: removed {len(removed)} file{'s' * (len(removed) != 1)} left by an index creation "
                      f"that was killed ({', '.join(removed)}; its process is gone)", stacklevel=4)


def _empty(name: str, readonly: bool) -> None:
    """What opening a file without tables does when it is empty (0 bytes): a writable
    open creates the index in it, with a warning; a read-only open is refused.  Why a
    0-byte file is taken over: it holds nothing to lose, and it is what an interrupted
    creation left before creation was made atomic (:func:`_create`).  An empty file
    beside a non-empty write-ahead log was refused before SQLite opened it
    (:func:`open_sqlite`): SQLite deletes the log of an empty database when it opens
    it, and the log may be all that is left of an index whose file was truncated."""
    if readonly:
        raise IndexCorrupt(
            f"{name}: is empty (0 bytes), not a dedup index yet (an index creation interrupted by an older "
            f"dedup leaves such a file); `dedup index add --db {shlex.quote(name)} ...` creates the index in it")
    warnings.warn(f"{name}: was empty (0 bytes, as an interrupted index creation leaves it): "
                  "creating a new index in it", stacklevel=4)


def _refuse_special(name: str) -> None:
    """Raise :class:`StorageError` when the index file or its ``-wal`` / ``-shm`` exists
    and is not a regular file.  Why: SQLite's ``open`` of a FIFO blocks until a writer
    comes, retrying on every signal inside C code, so ``--db FIFO`` hung and ignored
    Ctrl-C and SIGTERM (tester's U5 of #12); a device is no index either."""
    for path in (name, name + "-wal", name + "-shm"):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                    else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                    else "not a regular file")
            raise StorageError(f"{name}: {'its ' + os.path.basename(path) + ' ' if path != name else ''}is {kind}, "
                               "not an index file")
    if _pseudo_file(name):
        raise StorageError(f"{name}: is a special file (its size reads 0 bytes but it has content, as the files "
                           "under /proc and /sys do), not an index file")


def _pseudo_file(name: str) -> bool:
    """Whether ``name`` is a regular file of 0 bytes that yet has something to read (or
    would block a read): a kernel's pseudo-file (``/proc/self/status``), which a real
    empty file never is.  Read without blocking, one byte at most.  Why: ``--db
    /proc/self/status`` was called "empty (0 bytes), not a dedup index yet" or "the
    folder is read-only" (s23 audit of #12).  A regular file that another process wrote
    between the size read and the byte read (a first ``index add`` creating the index:
    SQLite's connect leaves it 0 bytes, its first write fills it) says its size now,
    where a pseudo-file's still reads 0: it is no special file (review R4, session 24)."""
    if _size(name) or not os.path.isfile(name):
        return False
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False  # the open that follows says why
    try:
        return bool(os.read(fd, 1)) and not os.fstat(fd).st_size
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _size(name: str) -> int:
    try:
        return os.path.getsize(name)
    except OSError:
        return 0


def open_sqlite_url(url: str | os.PathLike, settings: Optional[Settings] = None, **options: Any) -> SQLiteStorage:
    """:func:`open_sqlite` for what :func:`dedup.storage.open_storage` was given: a path,
    ``file:PATH`` or ``sqlite:///PATH`` (``sqlite:////abs/path``: an absolute path).  A
    URL may end ``?busy=SECONDS``: how long a write waits for another process's lock
    (default :data:`BUSY_TIMEOUT`; tester's F6 of session 16: four concurrent ``index
    add`` of 600 articles each, two gave up after 30 s, and the CLI had no longer wait)."""
    options["busy_timeout"] = busy_wait(os.fspath(url), url_busy(url), options.get("busy_timeout", BUSY_TIMEOUT))
    return open_sqlite(sqlite_path(url), settings, **options)
