"""The SQLite backend's storage object: the transactions, the rows by document id
and the counts (see :mod:`dedup.storage.sqlite` for the layout; :func:`open_sqlite`
opens the file and makes one).  Reading rows, writing them, the buckets' look-ups
and upkeep and the tallies are its mixins (:mod:`.rows`, :mod:`.writes`,
:mod:`.buckets`, :mod:`.upkeep`, :mod:`.tallies`)."""

from __future__ import annotations

import glob
import json
import os
import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import numpy as np

from ...settings import Settings
from ...split import Span
from ..bucketfile import bucket_path
from ..protocol import Derive, IndexReadOnly, StorageError, StoredDocument, rolled_back
from ..rowcheck import stored, verify
from .buckets import _BucketView
from .checks import text_checks
from .rows import _DOC_FIELDS, _PARA_COLUMNS, BY_DOC_ID, Rows, _owners
from .errors import translate, undecodable
from .tallies import Tallies
from .upkeep import Upkeep
from .writes import Writes


class SQLiteStorage(Rows, Writes, Upkeep, Tallies):
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
        # Whether the open transaction is a read snapshot: nothing it reads can change
        # before it ends, so the bucket view catches up once per level in it.
        self._reading = False
        self._read_meta: dict[str, Optional[str]] = {}  # meta values read in this read snapshot
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
        self._reading = not write
        self._read_meta = {}
        self._view_checked = False
        self._untallied = None
        try:
            with self.errors("write to" if write else "read"):
                if not write:
                    self._settle_view()
                yield
                self._conn.execute("COMMIT")
        except BaseException as err:
            # The view may hold rows this transaction wrote, now undone, or be half
            # updated by an interrupted read: rebuilt on the next lookup.
            self._view = None
            try:
                if self._conn.in_transaction:
                    # (Not committed: what it wrote is undone -- by this, or on the next open
                    # when a log without its commit frame is ignored.)
                    if write:
                        rolled_back(err, mark=True)
                    self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                # The original error is the one to report.  (Or the connection is closed:
                # a Ctrl-C inside the context manager's own exit left this generator
                # suspended until the garbage collector closed it after the index --
                # "Exception ignored in: <generator ... transaction>" and a traceback on
                # stderr, seen once in test_index_add_interrupted.)
                pass
            raise
        finally:
            self._depth = 0
            self._reading = False

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
        """Meta ``key``'s value (read once per read snapshot: a check asks for some twice)."""
        if self._reading and key in self._read_meta:
            return self._read_meta[key]
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if self._reading:
            self._read_meta[key] = row[0] if row else None
        return row[0] if row else None

    def get(self, doc_id: str) -> Optional[StoredDocument]:
        with self.errors("read"), self.transaction(write=False):
            found = self._conn.execute(f"SELECT {_DOC_FIELDS}, row_check, text, text_check {BY_DOC_ID.format('?')}",
                                       (doc_id,)).fetchall()
            self._verify_documents(list(zip(*found)) if found else [()] * 9)
            self._ids_agree([doc_id], [r[1] for r in found])
            if not found:
                return None
            paragraphs = self._conn.execute(f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE doc = ?",
                                            (found[0][0],)).fetchall()
        row = found[0]
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
            found = self._conn.execute(f"SELECT {_DOC_FIELDS}, row_check {BY_DOC_ID.format('?')}",
                                       (doc_id,)).fetchall()  # the row read and verified, not only the id index
            self._verify_documents(list(zip(*found)) if found else [()] * 9)
            self._ids_agree([doc_id], [r[1] for r in found])
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

    def discard(self) -> bool:
        """Remove the index file if it holds no document and no other connection has it
        open (an ``index add`` that created it and stored nothing: N5 of s19); ``True``
        when removed.  Why it cannot take another writer's index away: leaving WAL mode
        needs the only connection (the call then fails at once, busy timeout 0, and the
        file stays), and the file is unlinked under an exclusive lock, so a process that
        opened it meanwhile finds it moved on its first write (SQLite's ``DBMOVED``,
        said as such) instead of writing into a removed file.

        On a full disk (the add's own failure, F10 of #12) leaving WAL mode failed, "database
        or disk is full", and the new index stayed: the write-ahead log, which holds
        only the failed transaction's pages then, is emptied first (a checkpoint that
        truncates it; with another connection reading, it does not truncate, and leaving
        WAL mode fails as before)."""
        if self.readonly:
            return False
        try:
            with self._busy_timeout(0):
                if self.count():
                    return False
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if self._conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] != "delete":
                    return False
                self._conn.execute("BEGIN EXCLUSIVE")
                try:
                    if self.count():
                        return False
                    for name in (*glob.glob(glob.escape(self.path) + "-lsh.*"), self.path):
                        os.unlink(name)
                    return True
                finally:
                    self._conn.execute("ROLLBACK")
        except (sqlite3.Error, StorageError, OSError):
            return False  # kept: the error that made the add fail is the one to report

    def close(self) -> None:
        self._conn.close()
