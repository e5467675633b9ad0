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
* the LSH buckets are not tables: they are written to ``<file>-lsh.<file_id>`` beside
  the database, a key-sorted, memory-mapped array (:mod:`dedup.storage.bucketfile`),
  by :meth:`SQLiteStorage.optimize` from the stored signatures, and what was stored
  since is read into memory.  Why not a table: a ``WITHOUT ROWID`` bucket table cost
  one random B-tree seek per band key on a check (~850, ~4 ms at 100k articles) and
  one random page write per key on an add (measured at 100k articles: add p50 22 ms
  with the table, 6 ms without).  Only the first stored copy of a text is banded
  (``banded``; its exact copies are found by content key), so boilerplate repeated in
  every article does not grow the buckets; ``delete`` hands the bands over to a
  surviving copy and logs it in ``heirs``.  The meta rows that tie files to the
  database: ``uid`` (a file is written for one database), ``bucket_file`` (the file to
  use: a database restored from a backup ignores files written later) and the
  ``*_floor`` rows (the highest ids ever removed: ids are never reused, so what is
  newer than a file is "ids above its own, and heirs logged after it").

Errors from SQLite are translated into :class:`~dedup.storage.base.StorageError`
subclasses that name the file and the cause; a failed write rolls back whole.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
import urllib.parse
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from ..lsh import band_keys
from ..segments import offsets_from_counts, ranges
from ..settings import NORMALIZE_VERSION, Settings
from ..split import Span
from ..verify import SetTable, unique_sets
from .bucketfile import (
    BucketFile,
    DeltaBuckets,
    bucket_path,
    empty_bucket_file,
    merged_level,
    open_bucket_file,
    remove_unnamed,
    write_bucket_file,
    writer_lock,
)
from .base import (
    DocumentRows,
    IndexBusy,
    IndexCorrupt,
    IndexFull,
    IndexReadOnly,
    Level,
    NewDocument,
    ParagraphRows,
    SettingsMismatch,
    StorageError,
    StoredDocument,
    pipeline_fingerprint,
    sketch,
    sketch_positions,
)

FORMAT = "dedup-index"
FORMAT_VERSION = 6
#: Versions this dedup upgrades in place when it opens them writable (1-3: bucket and
#: sketch tables, no ``uid``, id floors or ``heirs``; 4 and 5, briefly on main: bucket
#: or sketch tables beside the bucket file).
_UPGRADABLE = {"1", "2", "3", "4", "5"}
#: WAL pages between checkpoints (64 MB of 4 KB pages) instead of SQLite's 1000: fewer
#: adds pay for a checkpoint.  Measured when an add still dirtied ~1000 pages (bucket
#: tables): add p50 17 ms with it against 69 ms with the default at 2k articles; an add
#: now writes ~20 pages, so the difference is smaller (not re-measured).
WAL_CHECKPOINT_PAGES = 16384
#: Bytes of the file read through a memory map instead of ``read`` calls (random row
#: reads of candidates).  SQLite caps the map at 2 GB.
MMAP_BYTES = 1 << 31
#: How long a writer waits for another process's write transaction before giving up.
BUSY_TIMEOUT = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    key INTEGER NOT NULL,
    chars INTEGER NOT NULL,
    paragraphs INTEGER NOT NULL,
    banded INTEGER NOT NULL,
    added REAL NOT NULL,
    signature BLOB NOT NULL,
    meta TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_key ON documents (key);
CREATE TABLE IF NOT EXISTS paragraphs (
    id INTEGER PRIMARY KEY,
    doc INTEGER NOT NULL,
    position INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    words INTEGER NOT NULL,
    key INTEGER NOT NULL,
    banded INTEGER NOT NULL,
    signature BLOB NOT NULL,
    shingles BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS paragraphs_doc ON paragraphs (doc);
CREATE INDEX IF NOT EXISTS paragraphs_key ON paragraphs (key);
CREATE TABLE IF NOT EXISTS heirs (seq INTEGER PRIMARY KEY, level TEXT NOT NULL, id INTEGER NOT NULL);
"""
#: Meta rows an index has (since format 4) besides format, settings and fingerprints: its id
#: (pairs it with its bucket file) and the highest row ids ever removed (ids are
#: never reused, so "rows above the bucket file's" are exactly the rows added since).
_ID_META = ("uid", "paragraph_floor", "document_floor")
#: Tables every version has (a file without them is not a dedup index).
_TABLES = {"meta", "documents", "paragraphs"}
#: Tables of older formats that an upgrade drops.
_DROPPED = ("paragraph_buckets", "document_buckets", "paragraph_sketches", "document_sketches")
_ROWS = {"paragraph": "paragraphs", "document": "documents"}
#: A small index of each row table, which holds every row id.
_NARROW_INDEX = {"paragraph": "paragraphs_doc", "document": "documents_key"}
#: Rows held in memory (stored since the bucket file was written) above which the
#: process is told to optimize: reading them cost ~26 us each (measured), so 100k rows
#: delay the first check of a fresh process by seconds.
LARGE_DELTA = 100_000
#: Seconds the automatic optimize waits for the write lock to name its new file.
AUTO_NAMING_WAIT = 1.0
_PARA_COLUMNS = "id, doc, position, start_char, end_char, key, signature, shingles"


def signed(keys: np.ndarray) -> list[int]:
    """uint64 keys as the signed 64-bit integers SQLite stores."""
    return np.ascontiguousarray(keys, dtype=np.uint64).view(np.int64).tolist()


def unsigned(values: Sequence[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64).view(np.uint64)


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _padded(values: list, size_floor: int = 16) -> list:
    """``values`` padded (with its first value) to a power of two, so that an ``IN``
    list has one of a few shapes and SQLite's statement cache is hit."""
    size = max(size_floor, 1 << max(0, len(values) - 1).bit_length())
    return values + [values[0]] * (size - len(values))


#: Most values in one ``IN (...)`` list (SQLite allows 32766 variables).
_CHUNK = 8192


class SQLiteStorage:
    """An index in one SQLite file.  Open with :func:`open_sqlite`."""

    def __init__(
        self,
        path: str,
        conn: sqlite3.Connection,
        settings: Settings,
        readonly: bool,
        busy_timeout: float,
        uid: str,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
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

    # -- transactions ---------------------------------------------------------------

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
            raise translate(err, self.path, doing, self.busy_timeout) from err

    # -- lookups --------------------------------------------------------------------

    def candidates(self, level: Level, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        view = self._bucket_view()
        query = np.unique(np.asarray(keys, dtype=np.uint64))
        self._caught_up(view, level)
        found = [view.file.levels[level].lookup(query), view.deltas[level].lookup(query),
                 view.heirs[level].lookup(query)]
        return tuple(np.concatenate(parts) for parts in zip(*found))  # type: ignore[return-value]

    def _settle_view(self) -> None:
        """At the start of a read transaction: if this snapshot names a bucket file that
        is gone and no file is mapped yet, start a newer snapshot (nothing has been read
        in this one yet).

        Why: a writer removes the file it replaces right after naming the new one; a
        reader whose snapshot began just before would otherwise read every stored row
        into memory instead of using the new file."""
        view = self._bucket_view()
        if view.named and not view.file.file_id and not os.path.exists(bucket_path(self.path, view.named)):
            self._conn.execute("COMMIT")
            self._conn.execute("BEGIN")
            self._view_checked = False
            self._bucket_view()

    def _bucket_view(self) -> "_BucketView":
        """The bucket file the database names and the in-memory delta of what was
        stored since; checked once per transaction (one meta row read).  Without a
        usable file the delta holds everything: correct, but read into memory by every
        process (hence :meth:`optimize`, and the warning in :meth:`_caught_up`)."""
        if self._view_checked and self._depth and self._view is not None:
            return self._view
        self._view_checked = True
        named = self._meta("bucket_file") or ""
        view = self._view
        if view is not None and view.named == named:
            return view
        opened = open_bucket_file(self.path, named, self._uid, self._sketch_width()) if named else None
        if opened is None and view is not None:
            # The named file is missing or unusable: what this view holds (a file and
            # what was stored after it, or everything in memory) is still complete.
            view.named = named
            return view
        file = opened or empty_bucket_file(self._sketch_width())
        self._view = _BucketView(
            named,
            file,
            {level: DeltaBuckets(file.levels[level].upto, self._sketch_width()) for level in _ROWS},
            {level: DeltaBuckets(0, self._sketch_width()) for level in _ROWS},
            {level: file.heirs for level in _ROWS},
        )
        return self._view

    def _caught_up(self, view: "_BucketView", level: Level) -> None:
        """Read into the view what was stored since it was last read: rows with higher
        ids (ids are never reused, and writers commit one at a time in id order), and
        heirs of removed rows' bands (logged in ``heirs``)."""
        delta = view.deltas[level]
        table = _ROWS[level]
        rows = self._conn.execute(
            f"SELECT id, CASE WHEN banded THEN signature END FROM {table} WHERE id > ? ORDER BY id",
            (delta.after,),
        ).fetchall()
        heirs = self._conn.execute(
            f"SELECT h.seq, r.id, r.signature FROM heirs AS h LEFT JOIN {table} AS r ON r.id = h.id"
            " WHERE h.level = ? AND h.seq > ? ORDER BY h.seq",
            (level, view.heirs_after[level]),
        ).fetchall()
        for target, got in ((delta, [r for r in rows if r[1] is not None]),
                            (view.heirs[level], [r[1:] for r in heirs if r[1] is not None])):
            if got:
                signatures = _unpack_signatures([r[1] for r in got], self.settings.num_perm)
                s = self.settings
                target.add(np.array([r[0] for r in got], dtype=np.int64),
                           band_keys(signatures, s.bands, s.rows), sketch(signatures))
        if rows:
            delta.after = max(delta.after, rows[-1][0])
        if heirs:
            view.heirs_after[level] = heirs[-1][0]
        if delta.rows > LARGE_DELTA and not view.warned:
            view.warned = True
            warnings.warn(
                f"{self.path}: {delta.rows:,} {level}s stored since the bucket file was written are held in "
                f"memory; `dedup index optimize --db {self.path}` writes a new file", stacklevel=3)

    @contextmanager
    def _busy_timeout(self, seconds: float) -> Iterator[None]:
        self._conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        try:
            yield
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def _meta(self, key: str) -> Optional[str]:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _sketch_width(self) -> int:
        return sketch_positions(self.settings.num_perm) // 2

    def paragraphs(self, ids: np.ndarray) -> ParagraphRows:
        return self._paragraph_rows(self._select_in(
            f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE id IN ({{}}) ORDER BY id", np.unique(ids).tolist()
        ))

    def paragraph_copies(self, keys: np.ndarray, limit: int) -> ParagraphRows:
        rows = []
        for key in signed(np.unique(keys)):
            rows.extend(self._conn.execute(
                f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE key = ? ORDER BY id LIMIT ?", (key, limit)
            ).fetchall())
        return self._paragraph_rows(rows)

    def documents(self, ids: np.ndarray) -> DocumentRows:
        return self._document_rows(self._select_in(
            "SELECT id, doc_id, chars, key, signature FROM documents WHERE id IN ({}) ORDER BY id",
            np.unique(ids).tolist(),
        ))

    def document_copies(self, keys: np.ndarray, limit: int) -> DocumentRows:
        rows = []
        for key in signed(np.unique(keys)):
            rows.extend(self._conn.execute(
                "SELECT id, doc_id, chars, key, signature FROM documents WHERE key = ? ORDER BY id LIMIT ?",
                (key, limit),
            ).fetchall())
        return self._document_rows(rows)

    def document_sets(self, ids: np.ndarray) -> SetTable:
        ids = np.asarray(ids, dtype=np.int64)
        rows = self._select_in("SELECT doc, shingles FROM paragraphs WHERE doc IN ({})", np.unique(ids).tolist())
        position = {int(d): i for i, d in enumerate(ids)}
        owner = np.fromiter((position[r[0]] for r in rows), dtype=np.int64, count=len(rows))
        values, counts = _unpack_sets([r[1] for r in rows])
        # Lay each document's paragraph sets side by side, in the order of ``ids``: the
        # union is then one segment per document, made unique by ``unique_sets``.
        order = np.argsort(owner, kind="stable")
        starts = offsets_from_counts(counts)[:-1]
        grouped = values[ranges(starts[order], counts[order])]
        per_doc = np.bincount(owner, weights=counts, minlength=len(ids)).astype(np.int64)
        return unique_sets(grouped, offsets_from_counts(per_doc))

    def known_keys(self, level: Level, keys: np.ndarray) -> np.ndarray:
        table = "paragraphs" if level == "paragraph" else "documents"
        found = unsigned([r[0] for r in self._select_in(
            f"SELECT DISTINCT key FROM {table} WHERE key IN ({{}})", signed(np.unique(keys))
        )])
        return np.isin(keys, found)

    def _select_in(self, sql: str, values: list) -> list:
        rows: list = []
        for lo in range(0, len(values), _CHUNK):
            chunk = _padded(values[lo : lo + _CHUNK])
            rows.extend(self._conn.execute(sql.format(_placeholders(len(chunk))), chunk).fetchall())
        return rows

    def _paragraph_rows(self, rows: list) -> ParagraphRows:
        num_perm = self.settings.num_perm
        values, counts = _unpack_sets([r[7] for r in rows])
        cols = list(zip(*rows)) if rows else [()] * 6
        return ParagraphRows(
            ids=np.array(cols[0], dtype=np.int64),
            docs=np.array(cols[1], dtype=np.int64),
            index=np.array(cols[2], dtype=np.int64),
            start=np.array(cols[3], dtype=np.int64),
            end=np.array(cols[4], dtype=np.int64),
            keys=unsigned(cols[5]),
            signatures=_unpack_signatures([r[6] for r in rows], num_perm),
            sets=SetTable(values=values, offsets=offsets_from_counts(counts)),
        )

    def _document_rows(self, rows: list) -> DocumentRows:
        return DocumentRows(
            ids=np.array([r[0] for r in rows], dtype=np.int64),
            doc_ids=[r[1] for r in rows],
            chars=np.array([r[2] for r in rows], dtype=np.int64),
            keys=unsigned([r[3] for r in rows]),
            signatures=_unpack_signatures([r[4] for r in rows], self.settings.num_perm),
        )

    # -- writes ---------------------------------------------------------------------

    def insert(self, doc: NewDocument) -> None:
        c = self._conn
        cur = c.execute(
            "INSERT INTO documents (id, doc_id, key, chars, paragraphs, banded, added, signature, meta, text)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._next_id("document"),
                doc.doc_id,
                signed(np.array([doc.key], np.uint64))[0],
                len(doc.text),
                len(doc.para_index),
                int(doc.doc_banded),
                time.time(),
                _pack_u32(doc.signature),
                json.dumps(dict(doc.meta), ensure_ascii=False) if doc.meta else None,
                doc.text,
            ),
        )
        ref = cur.lastrowid
        n = len(doc.para_index)
        if not n:
            return
        base = self._next_id("paragraph")
        ids = np.arange(base, base + n, dtype=np.int64)
        sets = doc.para_sets
        c.executemany(
            "INSERT INTO paragraphs (id, doc, position, start_char, end_char, words, key, banded,"
            " signature, shingles) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (pid, ref, int(pos), int(s), int(e), int(w), key, int(b), _pack_u32(sig),
                 sets.values[sets.offsets[i] : sets.offsets[i + 1]].astype("<u8").tobytes())
                for i, (pid, pos, s, e, w, key, b, sig) in enumerate(zip(
                    ids.tolist(), doc.para_index, doc.para_start, doc.para_end, doc.para_words,
                    signed(doc.para_keys), doc.banded, doc.para_signatures,
                ))
            ),
        )

    def _next_id(self, level: Level) -> int:
        """The id for a new row: above every stored *and every removed* row of the level.

        Why never reuse an id: a bucket file covers the rows up to an id and takes
        every higher id for a row added since (see :meth:`_caught_up`)."""
        return self._conn.execute(
            f"SELECT MAX(COALESCE((SELECT MAX(id) FROM {_ROWS[level]}), 0),"
            f" (SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{level}_floor')) + 1"
        ).fetchone()[0]

    def delete(self, doc_id: str) -> bool:
        c = self._conn
        row = c.execute("SELECT id, key, banded FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            return False
        ref, key, banded = row
        if banded:
            self._hand_over("document", c.execute(
                "SELECT id FROM documents WHERE key = ? AND id <> ? ORDER BY id LIMIT 1", (key, ref)).fetchone())
        for (pkey,) in c.execute("SELECT key FROM paragraphs WHERE doc = ? AND banded = 1", (ref,)).fetchall():
            self._hand_over("paragraph", c.execute(
                "SELECT id FROM paragraphs WHERE key = ? AND doc <> ? ORDER BY id LIMIT 1", (pkey, ref)).fetchone())
        for level, top in (("document", ref), ("paragraph", c.execute(
                "SELECT COALESCE(MAX(id), 0) FROM paragraphs WHERE doc = ?", (ref,)).fetchone()[0])):
            c.execute(f"UPDATE meta SET value = MAX(CAST(value AS INTEGER), ?) WHERE key = '{level}_floor'", (top,))
        c.execute("DELETE FROM paragraphs WHERE doc = ?", (ref,))
        c.execute("DELETE FROM documents WHERE id = ?", (ref,))
        return True

    def _hand_over(self, level: Level, heir: Optional[tuple[int]]) -> None:
        """A banded row is being deleted: its surviving exact copy, if any, takes over
        its bands (same text, so the same keys), logged in ``heirs`` -- a bucket file
        written before knows only the old row, so readers add the heir to their delta.
        The old row's entries stay in the file until it is rewritten; the rows they
        point at are gone, which lookups' callers check."""
        if heir is not None:
            self._conn.execute(f"UPDATE {_ROWS[level]} SET banded = 1 WHERE id = ?", heir)
            self._conn.execute("INSERT INTO heirs (level, id) VALUES (?, ?)", (level, heir[0]))

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database and truncate it.

        Why after a bulk load: the load's log is as large as the data it wrote, and
        until it is folded back every read consults it (measured: check p50 ~2x slower
        at 100k articles with a 4 GB log in place).  Busy readers just make it partial.
        """
        with self.errors("checkpoint"):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def optimize(self, when: Optional[Callable[[int, int], bool]] = None) -> Optional[dict[str, Any]]:
        """Write a new bucket file (see :mod:`dedup.storage.bucketfile`) holding
        everything stored, name it in the database, and remove the one it replaces.

        The named file's buckets are merged with what was stored since (rows removed
        since drop out); without a usable file everything is read from the signatures.
        Reads one consistent snapshot (writers go on meanwhile; what they add reaches
        every process's delta); one writer of bucket files at a time.  With ``when``
        (the index's own call after writes: ``when(*bucket_file_lag())`` says whether
        a new file is due) it does nothing and returns ``None`` when another process is
        writing one or, once the lock is held, a new file is no longer due; otherwise a
        busy lock is waited for up to the busy timeout, then :class:`IndexBusy`.
        Returns what was written.
        """
        if self.readonly:
            raise IndexReadOnly(f"{self.path}: the index was opened read-only")
        started = time.perf_counter()
        try:
            mode = os.stat(self.path).st_mode & 0o666
            with writer_lock(self.path, mode, self.busy_timeout if when is None else 0.0) as locked:
                if not locked:
                    if when is not None:
                        return None
                    raise IndexBusy(f"{self.path}: another process kept writing the bucket file for more than "
                                    f"{self.busy_timeout:g} s; try again")
                if when is not None and not when(*self.bucket_file_lag()):
                    return None  # e.g. another process has just written one
                # Fail before the work, not at the naming, if the database cannot be
                # written (a read-only file opens as a read-only connection).
                with self.transaction(write=True):
                    self._conn.execute("UPDATE meta SET value = value WHERE key = 'uid'")
                with self.transaction(write=False):
                    view = self._bucket_view()
                    heirs = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM heirs").fetchone()[0]
                    levels = {level: self._merged(view, level) for level in _ROWS}
                remove_unnamed(self.path, keep=[view.named])  # left by writers that died
                file_id = uuid.uuid4().hex
                path, entries = write_bucket_file(
                    self.path, self._uid, file_id, heirs, self._sketch_width(), levels, mode)
                # Naming the file in the database is what makes it used.  The automatic
                # call does not queue behind a long writer for it (the file is then
                # dropped, and a later write tries again).
                with self._busy_timeout(AUTO_NAMING_WAIT if when is not None else self.busy_timeout):
                    with self.transaction(write=True):
                        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('bucket_file', ?)",
                                           (file_id,))
                remove_unnamed(self.path, keep=[file_id])  # the file it replaces
        except OSError as err:
            raise translate_os(err, self.path + "-lsh", "write the bucket file of") from err
        return {
            "path": path,
            "bytes": os.path.getsize(path),
            # Every banded row has one key per band.
            "rows": {level: n // self.settings.bands for level, n in entries.items()},
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _merged(self, view: "_BucketView", level: Level):
        """The level's buckets for a new file: the view's file merged with the rows
        stored since and the heirs logged since (inside a read transaction)."""
        s = self.settings
        table = _ROWS[level]
        old = view.file.levels[level]
        # The newest rows may have been removed since the old file: never cover less.
        upto = max(old.upto, self._conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0])
        # Every row id (``banded`` never goes back to 0, so the file's rows that still
        # exist are still banded), read from a narrow index rather than the ~2 KB rows:
        # at 100k articles 0.4 s instead of 1.5-3.3 s.
        existing = np.sort(np.array([r[0] for r in self._conn.execute(
            f"SELECT id FROM {table} INDEXED BY {_NARROW_INDEX[level]} WHERE id <= ?", (old.upto,))],
            dtype=np.int64))

        def chunks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
            for sql, args in (
                (f"SELECT id, signature FROM {table} WHERE banded = 1 AND id > ? AND id <= ? ORDER BY id",
                 (old.upto, upto)),
                (f"SELECT DISTINCT r.id, r.signature FROM heirs AS h JOIN {table} AS r ON r.id = h.id"
                 " WHERE h.level = ? AND h.seq > ? AND r.id <= ?", (level, view.file.heirs, old.upto)),
            ):
                cur = self._conn.execute(sql, args)
                while rows := cur.fetchmany(1 << 15):
                    signatures = _unpack_signatures([r[1] for r in rows], s.num_perm)
                    yield (np.array([r[0] for r in rows], dtype=np.int64),
                           band_keys(signatures, s.bands, s.rows), sketch(signatures))

        return merged_level(old, existing, upto, chunks(), self._sketch_width())

    def bucket_file_lag(self) -> tuple[int, int]:
        """``(covered, behind)``: paragraph rows up to the highest id the bucket file
        covers, and rows stored since (all of them when there is no usable file)."""
        with self.transaction(write=False):
            covered = self._bucket_view().file.levels["paragraph"].upto
            top = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM paragraphs").fetchone()[0]
        return covered, max(0, top - covered)

    # -- documents ------------------------------------------------------------------

    def get(self, doc_id: str) -> Optional[StoredDocument]:
        with self.errors("read"):
            row = self._conn.execute(
                "SELECT id, text, meta, added FROM documents WHERE doc_id = ?", (doc_id,)
            ).fetchone()
            if row is None:
                return None
            spans = self._conn.execute(
                "SELECT start_char, end_char FROM paragraphs WHERE doc = ? ORDER BY position", (row[0],)
            ).fetchall()
        return StoredDocument(
            doc_id=doc_id,
            text=row[1],
            paragraphs=tuple(Span(s, e) for s, e in spans),
            meta=json.loads(row[2]) if row[2] else {},
            added=row[3],
        )

    def contains(self, doc_id: str) -> bool:
        with self.errors("read"):
            return self._conn.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone() is not None

    def count(self) -> int:
        with self.errors("read"):
            return self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]

    def stats(self) -> dict[str, Any]:
        with self.errors("read"):
            docs = self.count()
            paras = self._conn.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0]
        _, behind = self.bucket_file_lag()
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


@dataclass
class _BucketView:
    """How this connection looks buckets up: the bucket file the database names
    (``named``; ``file`` is the empty stand-in when it is missing or unusable), the rows
    stored after it, and the heirs logged after it."""

    named: str
    file: BucketFile
    deltas: dict[str, DeltaBuckets]
    heirs: dict[str, DeltaBuckets]
    heirs_after: dict[str, int]  # the last ``heirs.seq`` read into ``heirs``
    warned: bool = False


def translate_os(err: OSError, path: str, doing: str) -> StorageError:
    """A :class:`StorageError` naming ``path`` and the cause of a failed file operation."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return IndexFull(f"{path}: cannot {doing} the index: disk full ({err.strerror}); the index itself is unchanged")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return IndexReadOnly(f"{path}: cannot {doing} the index: {err.strerror}")
    return StorageError(f"{path}: cannot {doing} the index ({err})")


def _pack_u32(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<u4").tobytes()


def _unpack_signatures(blobs: list[bytes], num_perm: int) -> np.ndarray:
    data = b"".join(blobs)
    if len(data) != 4 * num_perm * len(blobs):
        raise IndexCorrupt(f"a stored signature does not have {num_perm} values")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32).reshape(len(blobs), num_perm)


def _unpack_sets(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.fromiter((len(b) // 8 for b in blobs), dtype=np.int64, count=len(blobs))
    return np.frombuffer(b"".join(blobs), dtype="<u8").astype(np.uint64), counts


def translate(err: sqlite3.Error, path: str, doing: str, waited: float = BUSY_TIMEOUT) -> StorageError:
    """A :class:`StorageError` naming ``path`` and the cause of an SQLite error."""
    name = getattr(err, "sqlite_errorname", "") or ""
    text = str(err)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return IndexBusy(
            f"{path}: the index stayed locked by another process for more than {waited:g} s; "
            "nothing was changed, try again"
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return IndexReadOnly(f"{path}: cannot {doing} the index: it is read-only ({text})")
    if name == "SQLITE_FULL" or "disk is full" in text:
        return IndexFull(f"{path}: cannot {doing} the index: disk full; nothing of this change was stored")
    if name.startswith("SQLITE_IOERR"):
        return IndexFull(
            f"{path}: cannot {doing} the index: write failed ({text}; disk full or file size limit?); "
            "nothing of this change was stored"
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text or "malformed" in text:
        return IndexCorrupt(f"{path}: not a dedup index, or a damaged one ({text})")
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return StorageError(f"{path}: cannot open the index ({text}; check that the folder exists and is writable)")
    return StorageError(f"{path}: cannot {doing} the index ({text})")


def open_sqlite(
    path: str | os.PathLike,
    settings: Optional[Settings] = None,
    *,
    create: bool = True,
    readonly: bool = False,
    busy_timeout: float = BUSY_TIMEOUT,
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
    if not p.exists() and (readonly or not create):
        raise StorageError(f"{name}: no such index")
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
    uri = "file:" + urllib.parse.quote(os.path.abspath(name)) + query
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as err:
        raise translate(err, name, "create" if not p.exists() else "open") from err
    try:
        store = _prepare(conn, name, settings, readonly, busy_timeout)
    except BaseException:
        conn.close()
        raise
    return store


def _prepare(
    conn: sqlite3.Connection, name: str, settings: Optional[Settings], readonly: bool, busy_timeout: float
) -> SQLiteStorage:
    try:
        # Read-only look first: a foreign file must not even get its journal mode changed.
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as err:
        raise translate(err, name, "open") from err
    if tables and not _TABLES <= tables:
        raise IndexCorrupt(f"{name}: is an SQLite database but not a dedup index (tables: {', '.join(sorted(tables))})")
    if not tables and readonly:
        raise IndexCorrupt(f"{name}: is empty, not a dedup index")
    try:
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # See WAL_CHECKPOINT_PAGES.
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_CHECKPOINT_PAGES * 4096}")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MB of page cache per connection
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        if not tables:
            _create(conn, settings or Settings())
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") == FORMAT and meta.get("format_version") in _UPGRADABLE:
            if readonly:
                raise IndexReadOnly(
                    f"{name}: index format version {meta['format_version']} needs a one-time upgrade to "
                    f"version {FORMAT_VERSION}; open it once writable (e.g. `dedup index stats`)"
                )
            _upgrade(conn)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as err:
        raise translate(err, name, "create" if not tables else "open") from err
    stored = _check_meta(meta, name)
    if settings is not None and settings != stored:
        diff = [
            f"{k}={getattr(stored, k)!r} (asked for {getattr(settings, k)!r})"
            for k in stored.to_dict() if k in settings.__dataclass_fields__ and getattr(stored, k) != getattr(settings, k)
        ]
        raise SettingsMismatch(
            f"{name}: the index was built with other settings: {', '.join(diff)}; "
            "open it without settings to use its own, or build a new index"
        )
    return SQLiteStorage(name, conn, stored, readonly, busy_timeout, meta["uid"])


def _create(conn: sqlite3.Connection, settings: Settings) -> None:
    """Create the schema and meta rows; a concurrent creator's rows win (and are then
    compared with ours like on any open)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
            [
                ("format", FORMAT),
                ("format_version", str(FORMAT_VERSION)),
                ("normalize_version", str(NORMALIZE_VERSION)),
                ("settings", json.dumps(settings.to_dict(), sort_keys=True)),
                ("pipeline", pipeline_fingerprint(settings)),
                *_id_meta(),
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _id_meta() -> list[tuple[str, str]]:
    return [("uid", uuid.uuid4().hex), ("paragraph_floor", "0"), ("document_floor", "0")]


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring an older index to the current format, in one transaction: add the
    ``heirs`` table and the id meta rows, drop the bucket and sketch tables (the
    buckets are then read from the signatures until :meth:`SQLiteStorage.optimize`
    writes a bucket file); a concurrent opener that upgraded first wins and this does
    nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()[0]
        if version in _UPGRADABLE:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", _id_meta())
            for table in _DROPPED:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _check_meta(meta: dict[str, str], name: str) -> Settings:
    if meta.get("format") != FORMAT:
        raise IndexCorrupt(f"{name}: is an SQLite database but not a dedup index")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise IndexCorrupt(
            f"{name}: index format version {meta.get('format_version')}, this dedup reads version {FORMAT_VERSION}"
        )
    if any(k not in meta for k in _ID_META):
        raise IndexCorrupt(f"{name}: the index has no {', '.join(k for k in _ID_META if k not in meta)} meta row")
    if meta.get("normalize_version") != str(NORMALIZE_VERSION):
        raise SettingsMismatch(
            f"{name}: built with text normalization version {meta.get('normalize_version')}, "
            f"this dedup normalizes with version {NORMALIZE_VERSION}; rebuild the index"
        )
    try:
        settings = Settings.from_dict(json.loads(meta["settings"]))
    except (KeyError, ValueError, TypeError) as err:
        raise IndexCorrupt(f"{name}: unreadable settings in the index ({err})") from None
    if meta.get("pipeline") != pipeline_fingerprint(settings):
        raise SettingsMismatch(
            f"{name}: this dedup normalizes, hashes, signs or bands text differently from the "
            "version that built the index, so stored signatures would not match; rebuild the index"
        )
    return settings
