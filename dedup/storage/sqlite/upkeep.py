"""The SQLite index's maintenance: ``optimize`` writes a new bucket file
(:mod:`dedup.storage.bucketfile`) from the one in use and what was stored since, and
names it in the database; ``checkpoint`` folds the write-ahead log back.  A mixin of
:class:`~dedup.storage.sqlite.SQLiteStorage`; look-ups are :mod:`.buckets`.
"""

from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import numpy as np

from ..bucketfile import BucketFileDamaged, merged_level, remove_unnamed, write_bucket_file, writer_lock
from ..optional import low_bytes
from ..protocol import Derive, IndexBusy, IndexReadOnly, Level
from .buckets import _SIZE, Buckets, _BucketView
from .errors import translate_os
from .schema import _ROWS, CACHE_KB, MMAP_BYTES, write_live

#: A small index of each row table, which holds every row id.
_NARROW_INDEX = {"paragraph": "paragraphs_doc", "document": "documents_key"}
#: Seconds the automatic optimize waits for the write lock to name its new file.
AUTO_NAMING_WAIT = 1.0
#: Rows stored since the old file whose bucket keys are derived (and sorted) at a time:
#: a row's signature (1 KB) and ~40 bytes of keys and sort for each of its 151 keys at
#: the defaults, so ~30 MB a chunk (was 32k rows, ~200 MB).
DERIVED_ROWS = 1 << 12
#: KB of SQLite page cache while an optimize reads the rows (:meth:`Upkeep._streaming`).
STREAM_CACHE_KB = 8192


class Upkeep(Buckets):
    """``optimize``, ``checkpoint`` and ``bucket_file_lag``, on top of the look-ups
    (:class:`~.buckets.Buckets`): a new file merges the one in use with what was stored
    since, as a look-up sees them."""

    _waits: float

    @contextmanager
    def _busy_timeout(self, seconds: float) -> Iterator[None]:
        """Wait ``seconds`` (not the busy timeout) for locks inside; what a busy error
        then says it waited (:meth:`errors`)."""
        self._conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        self._waits = seconds
        try:
            yield
        finally:
            self._waits = self.busy_timeout
            self._conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    @contextmanager
    def _streaming(self) -> Iterator[None]:
        """Read the rows through ``read`` calls and a small page cache inside, not the
        memory map: an optimize reads every row stored since the old file once, and
        each mapped page it touched stayed in the process's resident memory (a mapped
        file's pages count in its RSS) -- the whole table's, ~1.3 KB a paragraph row
        (issue #12: the optimize after an add of 4 MiB of 186k three-word lines took
        RSS from 352 to 657 MB, 250 MB of it mapped pages of the database)."""
        self._conn.execute("PRAGMA mmap_size = 0")
        self._conn.execute(f"PRAGMA cache_size = {-STREAM_CACHE_KB}")
        try:
            yield
        finally:
            self._conn.execute(f"PRAGMA cache_size = {-CACHE_KB}")
            self._conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")

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
                with self._streaming(), self.transaction(write=False):
                    view = self._bucket_view()
                    try:  # the new file merges the old one: never carry damage over
                        view.file.verify_all()
                    except BucketFileDamaged as err:
                        view = self._without_file(view, err)
                    heirs = view.logged
                    self._verify_log(view.file.heirs, heirs)
                    levels = {level: self._merged(view, level) for level in _ROWS}
                remove_unnamed(self.path, keep=[view.named])  # left by writers that died
                file_id = uuid.uuid4().hex
                try:
                    path, entries = write_bucket_file(
                        self.path, self._uid, file_id, heirs, self._sketch_width(), levels, mode)
                finally:
                    for source in levels.values():
                        source.close()
                # Naming the file in the database is what makes it used.  The automatic
                # call does not queue behind a long writer for it (the file is then
                # dropped, and a later write tries again).
                with self._busy_timeout(AUTO_NAMING_WAIT if when is not None else self.busy_timeout):
                    with self.transaction(write=True):
                        write_live(self._conn, self.path, bucket_file=file_id)
                remove_unnamed(self.path, keep=[file_id])  # the file it replaces
        except OSError as err:
            raise translate_os(err, self.path + "-lsh", "write the bucket file of") from err
        return {
            "path": path,
            "bytes": os.path.getsize(path),
            # Every banded row has the same number of keys (its band keys and any
            # other keys the index derives: :class:`~dedup.storage.protocol.Derive`).
            "rows": {level: n // self._keys_per_row() for level, n in entries.items()},
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _merged(self, view: "_BucketView", level: Level):
        """The level's buckets for a new file: the view's file merged with the rows
        stored since and the heirs logged since (inside a read transaction)."""
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
                (f"SELECT id, banded, signature, {_SIZE[level]}, sig_check FROM {table} AS r WHERE id > ?"
                 " AND id <= ? ORDER BY id", (old.upto, upto)),
                (f"SELECT DISTINCT r.id, r.banded, r.signature, {_SIZE[level]}, r.sig_check FROM heirs AS h"
                 f" JOIN {table} AS r"
                 " ON r.id = h.id WHERE h.level = ? AND h.seq > ? AND r.id <= ?", (level, view.file.heirs, old.upto)),
            ):
                cur = self._conn.execute(sql, args)
                while rows := cur.fetchmany(DERIVED_ROWS):
                    yield self._derived(level, rows)

        def old_lows() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            """The signature bytes of the old file's rows, from their stored
            signatures (a format-3 file has none): one pass over the table."""
            cur = self._conn.execute(f"SELECT id, banded, signature, sig_check FROM {table} WHERE id <= ?",
                                     (old.upto,))
            while rows := cur.fetchmany(1 << 15):
                ids, unpacked = self._banded(level, rows)
                yield ids, low_bytes(unpacked)

        return merged_level(old, existing, upto, chunks(), self._sketch_width(), self.settings.num_perm,
                            () if old.lows is not None else old_lows(), os.path.dirname(os.path.abspath(self.path)))

    def _keys_per_row(self) -> int:
        """Bucket keys stored per banded row (what :meth:`Derive.bands` gives a row)."""
        return self._derive.bands(self.settings, np.zeros((1, self.settings.num_perm), np.uint32)).shape[1]

    def bucket_file_lag(self) -> tuple[int, int]:
        """``(covered, behind)``: paragraph rows up to the highest id the bucket file
        covers, and rows stored since (all of them when there is no usable file, or
        when it keeps no signature bytes: a format-3 file is rewritten as soon as the
        index is opened writable with auto-optimize)."""
        with self.transaction(write=False):
            file = self._bucket_view().file.levels["paragraph"]
            covered = file.upto if file.lows is not None else 0
            top = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM paragraphs").fetchone()[0]
        return covered, max(0, top - covered)
