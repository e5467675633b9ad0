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

The modules: this one opens the file and holds the transactions; :mod:`.schema`
creates, upgrades and checks it (:mod:`.upgrade`: an older format's rows checked and
given checksums); :mod:`.rows` reads and writes rows, :mod:`.checks` says what their
checksums cover; :mod:`.buckets` answers band-key look-ups and keeps the bucket file; :mod:`.tallies`
keeps the boilerplate tallies and checks that none is missing.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shlex
import sqlite3
import stat
import urllib.parse
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from ...settings import Settings
from ...split import Span
from ..bucketfile import bucket_path
from ..protocol import Derive, IndexCorrupt, IndexMissing, IndexReadOnly, StorageError, StoredDocument
from .buckets import Buckets, _BucketView
from ..rowcheck import stored, verify
from .checks import text_checks
from .rows import _DOC_FIELDS, _PARA_COLUMNS, Rows, _owners
from .tallies import Tallies
from .schema import (
    _TABLES,
    _UPGRADABLE,
    BUSY_TIMEOUT,
    FORMAT,
    FORMAT_VERSION,
    MMAP_BYTES,
    WAL_CHECKPOINT_PAGES,
    check_meta,
    create_schema,
    translate,
    translate_os,
    undecodable,
    upgrade_schema,
)


class SQLiteStorage(Rows, Buckets, Tallies):
    """An index in one SQLite file.  Open with :func:`open_sqlite`."""

    def __init__(
        self,
        path: str,
        conn: sqlite3.Connection,
        settings: Settings,
        readonly: bool,
        busy_timeout: float,
        uid: str,
        derive: Derive,
    ) -> None:
        self.path = path
        self._derive = derive
        self.busy_timeout = busy_timeout
        self._waits = busy_timeout  # how long SQLite waits for a lock now
        self.settings = settings
        self.readonly = readonly
        self._conn = conn
        self._depth = 0
        self._uid = uid
        # The bucket file in use and what was stored since it was written (the "view"
        # of the buckets), checked once per transaction against the file the database
        # names.
        self._view: Optional[_BucketView] = None
        self._view_checked = False
        # The first paragraph row id this transaction stored and has not tallied yet
        # (an add tallies its batch after storing it): :meth:`tallies` does not ask
        # those rows for a tally.
        self._untallied: Optional[int] = None

    @contextmanager
    def transaction(self, write: bool) -> Iterator[None]:
        """Snapshot reads, or hold the file's write lock (``BEGIN IMMEDIATE``) so a
        decision taken on what was read is still true when it is written."""
        if self._depth:
            yield
            return
        if write and self.readonly:
            raise IndexReadOnly(f"{self.path}: the index was opened read-only")
        with self.errors("write to" if write else "read"):
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        self._depth = 1
        self._view_checked = False
        self._untallied = None
        try:
            with self.errors("write to" if write else "read"):
                if not write:
                    self._settle_view()
                yield
                self._conn.execute("COMMIT")
        except BaseException:
            # The view may hold rows this transaction wrote, now undone, or be half
            # updated by an interrupted read: rebuilt on the next lookup.
            self._view = None
            if self._conn.in_transaction:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the original error is the one to report
            raise
        finally:
            self._depth = 0

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Translate SQLite errors raised inside into clear :class:`StorageError` s."""
        try:
            yield
        except sqlite3.Error as err:
            if isinstance(err, sqlite3.OperationalError) and str(err).startswith("Could not decode to UTF-8"):
                raise undecodable(self._conn, self.path, str(err)) from err
            raise translate(err, self.path, doing, self._waits) from err

    def _meta(self, key: str) -> Optional[str]:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def get(self, doc_id: str) -> Optional[StoredDocument]:
        with self.errors("read"), self.transaction(write=False):
            found = self._conn.execute(f"SELECT {_DOC_FIELDS}, row_check, text, text_check FROM documents"
                                       " WHERE doc_id = ?", (doc_id,)).fetchall()
            self._ids_agree([doc_id], [r[1] for r in found])
            if not found:
                return None
            paragraphs = self._conn.execute(f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE doc = ?",
                                            (found[0][0],)).fetchall()
        row = found[0]
        self._verify_documents(list(zip(*found)))
        ids = np.array([row[0]], dtype=np.int64)
        verify(stored([row[10]], self.path, "document", ids), text_checks(ids, [row[9]]), ids, self.path,
               "document text")
        rows = self._paragraph_rows(paragraphs)
        _owners(ids, rows.docs, [(row[0], row[5])], self.path)
        order = np.argsort(rows.index)
        return StoredDocument(
            doc_id=doc_id,
            text=row[9],
            paragraphs=tuple(Span(s, e) for s, e in zip(rows.start[order].tolist(), rows.end[order].tolist())),
            meta=json.loads(row[7]) if row[7] else {},
            added=row[4],
        )

    def contains(self, doc_id: str) -> bool:
        with self.errors("read"), self.transaction(write=False):
            found = [r[0] for r in self._conn.execute("SELECT doc_id FROM documents WHERE doc_id = ?", (doc_id,))]
            self._ids_agree([doc_id], found)
        return bool(found)

    def count(self) -> int:
        with self.errors("read"):
            return self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]

    def stats(self) -> dict[str, Any]:
        covered, _ = self.bucket_file_lag()
        with self.errors("read"), self.transaction(write=False):
            docs = self.count()
            paras = self._conn.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0]
            # The rows stored since the file, counted (the lag counts ids, and a
            # replaced or removed document's ids are gone: 39 "behind" of 38 stored).
            behind = self._conn.execute("SELECT COUNT(*) FROM paragraphs WHERE id > ?", (covered,)).fetchone()[0]
        view = self._view
        named = bucket_path(self.path, view.named) if view is not None and view.named else None
        files = (self.path, self.path + "-wal", named)
        size = sum(os.path.getsize(p) for p in files if p and os.path.exists(p))
        return {
            "documents": docs,
            "paragraphs": paras,
            "settings": self.settings.to_dict(),
            "bytes": size,
            "backend": "sqlite",
            "path": self.path,
            "bucket_file": {
                "path": named,
                "bytes": os.path.getsize(named) if named and os.path.exists(named) else 0,
                "in_use": view is not None and bool(view.file.file_id),
                "paragraphs_behind": behind,
            },
        }

    def close(self) -> None:
        self._conn.close()


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
    p = Path(name)
    if p.is_dir():
        raise StorageError(f"{name}: is a folder, not an index file")
    _refuse_special(name)
    if not p.exists() and (readonly or not create):
        raise IndexMissing(f"{name}: no such index")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise StorageError(f"{name}: cannot create the index: folder {folder} does not exist")
    query = "?mode=ro" if readonly else ""
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
    if not readonly and not p.exists():
        _create(name, settings or Settings(), derive, busy_timeout)
    elif not _size(name) and (wal := _size(name + "-wal")):  # before SQLite deletes it (see _empty)
        raise IndexCorrupt(
            f"{name}: is empty but its write-ahead log {os.path.basename(name)}-wal holds {wal:,} bytes "
            "(was the index file truncated?); refusing to create an index over them: move both away "
            "or use another path")
    uri = "file:" + urllib.parse.quote(os.path.abspath(name)) + query
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as err:
        raise translate(err, name, "create" if not p.exists() else "open") from err
    try:
        store = _prepare(conn, name, settings, readonly, busy_timeout, derive)
    except BaseException:
        conn.close()
        raise
    return store


def _prepare(
    conn: sqlite3.Connection, name: str, settings: Optional[Settings], readonly: bool, busy_timeout: float,
    derive: Derive,
) -> SQLiteStorage:
    try:
        # Read-only look first: a foreign file must not even get its journal mode changed.
        sized = _size(name)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
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
        conn.execute("PRAGMA cache_size = -65536")  # 64 MB of page cache per connection
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
    return SQLiteStorage(name, conn, stored, readonly, busy_timeout, meta["uid"], derive)


def _create(name: str, settings: Settings, derive: Derive, busy_timeout: float) -> None:
    """Create a new index at ``name`` whole or not at all: its schema is written to a
    file beside it (``NAME-new.PID.RANDOM``, removed however this ends), which is then
    linked in under ``name``.  Why: SQLite creates a file when it opens it, so an
    ``index add`` interrupted while it created the index left a 0-byte file that later
    opens called "not a dedup index" (U9 of #12).  ``os.link`` never replaces a file:
    when a concurrent creator's index got there first, that one is opened instead (and
    its settings compared with ours, as on any open).  On a file system without hard
    links the index is created in place, as SQLite does."""
    temp = f"{name}-new.{os.getpid()}.{secrets.token_hex(4)}"
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
        for leftover in (temp, temp + "-journal"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass


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


def _size(name: str) -> int:
    try:
        return os.path.getsize(name)
    except OSError:
        return 0


def open_sqlite_url(url: str | os.PathLike, settings: Optional[Settings] = None, **options: Any) -> SQLiteStorage:
    """:func:`open_sqlite` for what :func:`dedup.storage.open_storage` was given: a path,
    ``file:PATH`` or ``sqlite:///PATH`` (``sqlite:////abs/path``: an absolute path)."""
    return open_sqlite(sqlite_path(url), settings, **options)


def sqlite_path(url: str | os.PathLike) -> str:
    """The file path a path or ``file:`` / ``sqlite:`` URL names (``sqlite:///rel.db``
    is relative, ``sqlite:////abs.db`` and ``file:///abs.db`` absolute)."""
    text = os.fspath(url)
    for prefix in ("sqlite:///", "sqlite:", "file://", "file:"):
        if text.lower().startswith(prefix):
            return urllib.parse.unquote(text[len(prefix):])
    return text


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
