"""How the SQLite index looks band keys up: a memory-mapped bucket file
(:mod:`dedup.storage.bucketfile`) beside the database plus, in memory, what was stored
since it was written.  The maintenance that rewrites the file (``optimize``) and folds
the write-ahead log back (``checkpoint``) is :mod:`.upkeep`.  A mixin of
:class:`~dedup.storage.sqlite.SQLiteStorage`.
"""

from __future__ import annotations

import os
import sqlite3
import time
import warnings
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ...segments import sorted_unique
from ...settings import Settings
from ..bucketfile import (
    BucketFile,
    BucketFileDamaged,
    OLDEST,
    VERSION,
    DeltaBuckets,
    bounded,
    bucket_path,
    empty_bucket_file,
    older_version,
    open_bucket_file,
)
from ..optional import low_bytes
from ..protocol import Derive, IndexCorrupt, Level
from ..rowcheck import damaged, stored, verify
from .checks import checked_signatures, heir_checks
from .schema import _ROWS, read_live

#: A row's shingle-set size, as stored (the set is packed uint64 values; ``length``
#: of a blob reads no overflow page); documents keep no set of their own.
_SIZE = {"paragraph": "length(r.shingles) / 8", "document": "0"}
#: Rows held in memory (stored since the bucket file was written) above which the
#: process is told to optimize: reading them cost ~26 us each (measured), so 100k rows
#: delay the first check of a fresh process by seconds.
LARGE_DELTA = 100_000


class Buckets:
    """Band-key look-ups (needs ``_conn``, ``settings``,
    ``_derive``, ``transaction`` and the bookkeeping attributes set in ``__init__``)."""

    _conn: sqlite3.Connection
    settings: Settings
    _derive: Derive
    path: str
    readonly: bool
    busy_timeout: float
    _uid: str
    _depth: int
    _view: Optional["_BucketView"]
    _view_checked: bool
    _reading: bool

    def candidates(self, level: Level, keys: np.ndarray, limit: Optional[int] = None, sketches: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        query = sorted_unique(np.asarray(keys, dtype=np.uint64))
        view = self._bucket_view()
        self._caught_up(view, level)
        try:
            in_file = view.file.levels[level].lookup(query, limit, sketches)
        except BucketFileDamaged as err:
            view = self._without_file(view, err)
            self._caught_up(view, level)
            in_file = view.file.levels[level].lookup(query, limit, sketches)
        return bounded([in_file, view.deltas[level].lookup(query, limit, sketches),
                        view.heirs[level].lookup(query, limit, sketches)], limit)

    def bucket_rows(self, level: Level) -> int:
        """The highest row id the bucket file and the rows held beside it cover (ids are
        never reused: removed rows count)."""
        view = self._bucket_view()
        self._caught_up(view, level)
        return max(view.file.levels[level].upto, view.deltas[level].after)

    def _without_file(self, view: "_BucketView", err: Exception) -> "_BucketView":
        """A page of the bucket file did not verify: never read it again in this
        process; answer from the database instead (everything stored is read into
        memory, as without a file), and say so.  The next optimize writes a new file
        from the database (it verifies a file whole before merging it)."""
        warnings.warn(f"{err}; answering from the database instead (slower) until "
                      f"`dedup index optimize --db {self.path}` writes a new bucket file", stacklevel=4)
        file = empty_bucket_file(self._sketch_width(), self.settings.num_perm)
        self._view = _BucketView(
            view.named, file,
            {level: self._delta(0) for level in _ROWS},
            {level: self._delta(0) for level in _ROWS},
            {level: 0 for level in _ROWS},
            logged=view.logged,
            damaged=True,
        )
        return self._view

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
        live = read_live(self._conn, self.path)
        named, logged = live["bucket_file"] or "", int(live["heirs"] or 0)
        view = self._view
        if view is not None:
            view.logged = logged
            view.current.clear()  # a new transaction: catch up again
        if view is not None and view.named == named:
            return view  # (a damaged file stays dropped: it is never renamed)
        opened = (open_bucket_file(self.path, named, self._uid, self._sketch_width(), self.settings.num_perm)
                  if named else None)
        if opened is None and view is not None:
            # The named file is missing or unusable: what this view holds (a file and
            # what was stored after it, or everything in memory) is still complete.
            view.named = named
            return view
        if opened is None and named and os.path.exists(bucket_path(self.path, named)):
            older = older_version(self.path, named)
            what = (f"written by an older dedup (bucket file format {older}, this dedup reads {OLDEST}-{VERSION})"
                    if older
                    else "not a whole bucket file of this index (damaged?)")
            warnings.warn(f"{bucket_path(self.path, named)}: {what}; answering from the database instead (slower) "
                          f"until `dedup index optimize --db {self.path}` writes a new one", stacklevel=4)
        file = opened or empty_bucket_file(self._sketch_width(), self.settings.num_perm)
        self._view = _BucketView(
            named,
            file,
            {level: self._delta(file.levels[level].upto) for level in _ROWS},
            {level: self._delta(0) for level in _ROWS},
            {level: file.heirs for level in _ROWS},
            logged=logged,
        )
        return self._view

    def _caught_up(self, view: "_BucketView", level: Level) -> None:
        """Read into the view what was stored since it was last read: rows with higher
        ids (ids are never reused, and writers commit one at a time in id order), and
        heirs of removed rows' bands (logged in ``heirs``).  Once per level in a read
        snapshot, which sees nothing new after that (a check's ~7 look-ups had read the
        tail again each time: three statements each, 21 of a one-paragraph check's 35).
        A write transaction reads on every call: it sees its own rows."""
        if self._reading and level in view.current:
            return
        delta = view.deltas[level]
        table = _ROWS[level]
        # Every row, banded or not: the flag is verified with the signature (sig_check).
        rows = self._conn.execute(
            f"SELECT id, banded, signature, {_SIZE[level]}, sig_check FROM {table} AS r WHERE id > ? ORDER BY id",
            (delta.after,),
        ).fetchall()
        self._verify_log(view.heirs_after[level], view.logged)
        heirs = self._conn.execute(
            f"SELECT h.seq, r.id, r.banded, r.signature, {_SIZE[level]}, r.sig_check FROM heirs AS h"
            f" LEFT JOIN {table} AS r ON r.id = h.id"
            " WHERE h.level = ? AND h.seq > ? ORDER BY h.seq",
            (level, view.heirs_after[level]),
        ).fetchall()
        for target, got in ((delta, rows), (view.heirs[level], [r[1:] for r in heirs if r[1] is not None])):
            if got:
                target.add(*self._derived(level, got))
        if rows:
            delta.after = max(delta.after, rows[-1][0])
        if heirs:
            view.heirs_after[level] = heirs[-1][0]
        if delta.rows > LARGE_DELTA and not view.warned:
            view.warned = True
            warnings.warn(
                f"{self.path}: {delta.rows:,} {level}s stored since the bucket file was written are held in "
                f"memory; `dedup index optimize --db {self.path}` writes a new file", stacklevel=3)
        if self._reading:
            view.current.add(level)

    def _verify_log(self, after: int, logged: int) -> None:
        """Raise :class:`IndexCorrupt` unless the ``heirs`` rows after ``seq`` ``after``
        are all there -- ``after + 1`` on, at least up to ``logged`` (meta ``heirs``,
        verified: :func:`.schema.read_live`) -- and match their checksums.  A lost heir
        left its text out of every look-up (its bands were the removed row's, in the
        bucket file).  The tail after the bucket file is read (a few rows)."""
        log = self._conn.execute("SELECT seq, level, id, row_check FROM heirs WHERE seq > ? ORDER BY seq",
                                 (after,)).fetchall()
        if not log and after >= logged:
            return
        cols = list(zip(*log)) if log else [()] * 4
        seqs = np.array(cols[0], dtype=np.int64)
        gap = np.flatnonzero(seqs != np.arange(after + 1, after + 1 + len(seqs)))
        if len(gap) or after + len(seqs) < logged:
            missing = int(seqs[gap[0]]) - 1 if len(gap) else after + len(seqs) + 1
            raise IndexCorrupt(damaged(self.path, f"the log of handed-over bands (table heirs) has no row {missing} "
                                                  f"of the {logged} logged"))
        try:
            levels, ids = [str(v) for v in cols[1]], np.array(cols[2], dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            raise IndexCorrupt(damaged(self.path, "a row of the log of handed-over bands (table heirs) is not a "
                                                  "level and a row id")) from None
        verify(stored(cols[3], self.path, "heirs", seqs), heir_checks(seqs, levels, ids), seqs, self.path, "heirs")

    def _derived(self, level: Level, rows: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(ids, band_keys, sketches, sizes, lows)`` of the banded rows among ``(id,
        banded, packed signature, size, sig_check)`` rows as read, their flags and
        signatures verified (a damaged one raises :class:`IndexCorrupt`: never banded,
        never written to a bucket file, never left out of one)."""
        ids, unpacked = self._banded(level, rows)
        return (ids, self._derive.bands(self.settings, unpacked), self._derive.sketches(unpacked),
                np.array([r[3] for r in rows if r[1]], dtype=np.uint32), low_bytes(unpacked))

    def _banded(self, level: Level, rows: list) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, signatures)`` of the banded rows among ``(id, banded, packed
        signature, ..., sig_check)`` rows as read (the check last), verified."""
        cols = list(zip(*rows))
        ids, unpacked = checked_signatures(cols[0], cols[1], cols[2], cols[-1], self.settings.num_perm, self.path,
                                           level)
        banded = np.array(cols[1], dtype=bool)
        return ids[banded], unpacked[banded]

    def _delta(self, after: int) -> DeltaBuckets:
        return DeltaBuckets(after, self._sketch_width(), self.settings.num_perm)

    def signature_bytes(self, level: Level, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(known, lows)``: for banded rows ``ids`` (row ids from :meth:`candidates`),
        whether their signature bytes are kept, and the low byte of each of their
        signature values (``(len(ids), num_perm)`` uint8; zeros where not known) --
        from the bucket file, the rows held since and the heirs (the last word).  Not
        known: rows of a format-3 file (until the next optimize), rows not stored.
        See :class:`~dedup.storage.optional.SignatureBytes`."""
        ids = np.asarray(ids, dtype=np.int64)
        view = self._bucket_view()
        self._caught_up(view, level)
        file = view.file.levels[level]
        known = np.zeros(len(ids), bool)
        lows = np.zeros((len(ids), self.settings.num_perm), np.uint8)
        inside = np.flatnonzero(ids <= file.upto)
        try:
            got = file.signature_bytes(ids[inside])
        except BucketFileDamaged as err:
            self._without_file(view, err)
            return self.signature_bytes(level, ids)
        if got is not None:
            known[inside], lows[inside] = True, got
        for delta in (view.deltas[level], view.heirs[level]):
            held, got = delta.signature_bytes(ids)
            known[held], lows[held] = True, got
        return known, lows

    def paragraph_sketches(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """From the bucket file, the rows held since and the heirs (the last word)."""
        ids = np.asarray(ids, dtype=np.int64)
        view = self._bucket_view()
        self._caught_up(view, "paragraph")
        file = view.file.levels["paragraph"]
        inside = ids <= file.upto
        everyone = bool(inside.all())  # (then the file's gathered rows are the answer, not copied again)
        try:
            got = file.sketches_and_sizes(ids if everyone else ids[inside])
        except BucketFileDamaged as err:
            self._without_file(view, err)
            return self.paragraph_sketches(ids)
        if everyone:
            sketches, sizes = got
        else:
            sketches = np.zeros((len(ids), self._sketch_width()), np.uint8)
            sizes = np.zeros(len(ids), np.int64)
            sketches[inside], sizes[inside] = got
        for delta in (view.deltas["paragraph"], view.heirs["paragraph"]):
            held, got_sketches, got_sizes = delta.sketches_and_sizes(ids)
            if len(got_sizes):
                sketches[held], sizes[held] = got_sketches, got_sizes
        return sketches, sizes

    def _sketch_width(self) -> int:
        return self._derive.sketch_width(self.settings)


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
    logged: int = 0  # meta ``heirs`` when this transaction began: the log has at least as many rows
    warned: bool = False
    damaged: bool = False  # the named file did not verify: it is not used
    current: set[str] = field(default_factory=set)  # levels caught up in this read snapshot
