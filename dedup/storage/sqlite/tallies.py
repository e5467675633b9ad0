"""The boilerplate tallies of the SQLite index (table ``tallies``, meta ``judged``):
written by an add, read by the boilerplate rule, and checked for what is missing.

A changed tally row does not match its ``sum_check`` (:func:`.checks.tally_checks`);
a *deleted* one read as a count of 0 and turned verdicts silently (tester's S3 of
#12), so a text looked up without a tally is looked for among the stored paragraphs:
every paragraph stored since format 13 (row ids above meta ``tally_floor``, which is
under ``meta_check``) was tallied when it was added, and tallies only grow.  ``judged``
is kept with its checksum ``judged_check`` by the same update.
"""

from __future__ import annotations

import sqlite3
from typing import Callable, ContextManager, Optional

import numpy as np

from ...segments import sorted_unique
from ..protocol import IndexCorrupt
from ..rowcheck import damaged, listed, plural, stored, verify
from .checks import tally_checks
from .rows import signed
from .schema import judged_check


class Tallies:
    """``tally`` and ``tallies`` (needs ``_conn``, ``path``, ``errors``, ``_meta``,
    ``_select_in`` and ``_untallied``: the first paragraph row id this transaction
    stored and has not tallied yet -- an add tallies its batch after storing it)."""

    _conn: sqlite3.Connection
    path: str
    _untallied: Optional[int]
    errors: Callable[[str], ContextManager[None]]
    _meta: Callable[[str], Optional[str]]
    _select_in: Callable[[str, list], list]

    def tally(self, keys: np.ndarray, documents: int) -> None:
        unique, counts = np.unique(np.asarray(keys, dtype=np.uint64), return_counts=True)
        with self.errors("write to"):
            keys = signed(unique)
            self._conn.executemany(
                "INSERT INTO tallies (key, documents, sum_check) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET documents = documents + excluded.documents, sum_check = sum_check + 7 * excluded.documents",
                zip(keys, counts.tolist(), tally_checks(np.array(keys, np.int64), counts).tolist()))
            self._conn.executemany("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = ?",
                                   [(int(documents), "judged"), (7 * int(documents), "judged_check")])
        self._untallied = None

    def tallies(self, keys: np.ndarray) -> tuple[np.ndarray, int]:
        keys = np.asarray(keys, dtype=np.uint64)
        unique = sorted_unique(keys)
        with self.errors("read"):
            rows = self._select_in("SELECT key, documents, sum_check FROM tallies WHERE key IN ({})", signed(unique))
            judged = self._judged()
        counts = np.zeros(len(unique), dtype=np.int64)
        if rows:
            cols = list(zip(*rows))
            found, n = np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=np.int64)
            verify(stored(cols[2], self.path, "tally", found), tally_checks(found, n).view(np.uint64), found,
                   self.path, "tally")
            counts[np.searchsorted(unique, found.view(np.uint64))] = n
        self._check_untallied(unique[counts == 0])
        return counts[np.searchsorted(unique, keys)], judged

    def _judged(self) -> int:
        """Meta ``judged``, verified against ``judged_check`` (:func:`.schema.judged_check`)."""
        judged, check = self._meta("judged"), self._meta("judged_check")
        try:
            count = int(judged)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            count = -1
        if count < 0 or check != judged_check(count):
            raise IndexCorrupt(damaged(self.path, f"meta judged ({judged!r}, the documents the boilerplate "
                                                  f"tallies count) does not match its checksum judged_check ({check!r})"))
        return count

    def _check_untallied(self, keys: np.ndarray) -> None:
        """Raise :class:`IndexCorrupt` when a stored paragraph has one of ``keys``, which
        have no tally: every paragraph stored since format 13 (row ids above meta
        ``tally_floor``) was tallied when it was added, and tallies only grow -- a
        missing row read as a count of 0 and turned verdicts silently (tester's S3).
        One ``IN`` look-up on the key index (the keys asked about without a tally)."""
        if not len(keys):
            return
        floor = int(self._meta("tally_floor") or 0)  # under meta_check, verified on open
        below = f" AND id < {int(self._untallied)}" if self._untallied is not None else ""
        with self.errors("read"):
            rows = self._select_in(f"SELECT id FROM paragraphs WHERE key IN ({{}}) AND id > {floor}{below}",
                                   signed(keys))
        if rows:
            ids = sorted(r[0] for r in rows)
            raise IndexCorrupt(damaged(self.path, f"stored paragraph row{plural(ids)} {listed(ids)} "
                                                  f"{'have' if len(ids) > 1 else 'has'} no boilerplate tally "
                                                  "(a tallies row is missing)"))
