"""How many stored rows have each look-up key (table ``counts``), so that a look-up
through one of SQLite's indexes that lost an entry is detected, never answered from.

Why: SQLite finds a stored document id or content key through an index B-tree (the
``UNIQUE`` index on ``documents.doc_id``, ``documents_key``, ``paragraphs_key``).  One
changed byte in a page of one made a stored id read "not stored" (``in``, ``get``, and an
add stored it a second time) and exact copies of a stored text go unlisted, without an
error from SQLite (``PRAGMA integrity_check``: "row N missing from index").  The row
checksums cannot see a row that is never read.  So each such look-up is answered by
two structures that must agree: the index, and ``counts`` -- a ``WITHOUT ROWID`` table
(its key is the table's own B-tree: no second index) holding, per level and key, how
many stored rows have it, under a checksum kept by the same update (``sum_check``, like
the tallies': :func:`count_checks`).  A key the index does not find must have no count;
a key it finds must have as many rows as counted (up to the look-up's limit).  Losing
both the index entry and the count row at once is two faults and is not detected.

Levels (:data:`PARAGRAPH_KEY`, :data:`DOCUMENT_KEY`, :data:`DOCUMENT_ID`): paragraph
content keys, document content keys, document ids (their 64-bit XXH3 hash: two ids of
one hash -- about 2^-64 per pair -- would read as damage).  Cost: one more ``IN``
look-up on ``counts`` per look-up, and on an add one upsert per distinct key.
"""

from __future__ import annotations

import sqlite3
from typing import Optional, Sequence

import numpy as np

from ..protocol import IndexCorrupt, document_id_keys
from ..rowcheck import damaged

PARAGRAPH_KEY, DOCUMENT_KEY, DOCUMENT_ID = 0, 1, 2
#: What each level counts, and the SQLite index its look-ups go through.
_LEVELS = {PARAGRAPH_KEY: ("paragraph rows with content key", "paragraphs_key"),
           DOCUMENT_KEY: ("document rows with content key", "documents_key"),
           DOCUMENT_ID: ("document rows with id", "sqlite_autoindex_documents_1")}
_UPSERT = ("INSERT INTO counts (level, key, rows, sum_check) VALUES (?, ?, ?, ?) ON CONFLICT (level, key) DO UPDATE"
           " SET rows = rows + excluded.rows, sum_check = sum_check + 7 * excluded.rows")


def count_checks(level: int, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``sum_check`` of ``counts`` rows (SQLite's signed keys): small weights of the
    key's halves, the count and the level, so that an upsert keeps it in SQL (``+ 7 *
    n``); one changed value changes it."""
    keys, rows = np.asarray(keys, dtype=np.int64), np.asarray(rows, dtype=np.int64)
    return ((keys >> 32) & 0xFFFFFFFF) * 3 + (keys & 0xFFFFFFFF) * 5 + rows * 7 + level * 11


def id_keys(doc_ids: Sequence[str]) -> list[int]:
    """The ``counts`` keys of document ids: :func:`~dedup.storage.protocol.document_id_keys`
    (the key Redis's name multimap uses too), as SQLite's signed integers."""
    return document_id_keys(doc_ids).view(np.int64).tolist()


def count(conn: sqlite3.Connection, level: int, keys: Sequence[int], sign: int = 1) -> None:
    """Add (``sign`` 1) or take away (-1) one row of each of ``keys`` (signed keys, a
    key as often as it has rows) in ``counts``; a count back at 0 is removed."""
    if not len(keys):
        return
    unique, n = np.unique(np.asarray(keys, dtype=np.int64), return_counts=True)
    n = n.astype(np.int64) * sign
    conn.executemany(_UPSERT, zip([level] * len(unique), unique.tolist(), n.tolist(),
                                  count_checks(level, unique, n).tolist()))
    if sign < 0:
        conn.executemany("DELETE FROM counts WHERE level = ? AND key = ? AND rows = 0",
                         [(level, k) for k in unique.tolist()])


def counted(conn: sqlite3.Connection, name: str, level: int, keys: Sequence[int]) -> dict[int, int]:
    """``{key: rows}`` of the ``counts`` rows of ``keys`` (signed keys; a key with no row
    is absent), their checksums verified: :class:`IndexCorrupt` naming the key."""
    out: dict[int, int] = {}
    unique = sorted(set(keys))
    for lo in range(0, len(unique), 8192):
        chunk = unique[lo : lo + 8192]
        rows = conn.execute(f"SELECT key, rows, sum_check FROM counts WHERE level = ? AND key IN"
                            f" ({','.join('?' * len(chunk))})", (level, *chunk)).fetchall()
        got, ns, checks = zip(*rows) if rows else ((), (), ())
        if not all(type(x) is int for x in ns + checks) or min(ns, default=0) < 0 or \
                not np.array_equal(np.array(checks, dtype=np.int64), count_checks(level, np.array(got), np.array(ns))):
            _name_the_damaged_count(name, level, rows)  # (one numpy call for the whole chunk above)
        out.update(zip(got, ns))
    return out


def _name_the_damaged_count(name: str, level: int, rows: list) -> None:
    """Raise :class:`IndexCorrupt` naming the first of ``rows`` (key, rows, sum_check)
    whose count is not an integer >= 0 or does not match its checksum."""
    for key, n, check in rows:
        if not isinstance(n, int) or not isinstance(check, int) or n < 0 or \
                check != int(count_checks(level, np.array([key]), np.array([n]))[0]):
            raise IndexCorrupt(damaged(name, f"the count of stored {_LEVELS[level][0]} {_shown(level, key)} "
                                             f"({n!r}) does not match its checksum (table counts)"))


def agree(name: str, level: int, found: dict[int, int], counts: dict[int, int], limit: Optional[int] = None,
          labels: Optional[dict[int, str]] = None) -> None:
    """Raise :class:`IndexCorrupt` unless, for every key asked (``found``: the rows an
    index look-up gave each key, 0 when none), the index found as many rows as
    ``counts`` says (up to ``limit``)."""
    bad = [k for k, n in found.items()
           if n != (counts.get(k, 0) if limit is None else min(counts.get(k, 0), limit))]
    if not bad:
        return
    what, index = _LEVELS[level]
    shown = [labels[k] if labels and k in labels else _shown(level, k) for k in bad]
    said = "; ".join(f"{s}: {found[k]} found, {counts.get(k, 0)} counted" for s, k in zip(shown[:5], bad[:5]))
    raise IndexCorrupt(damaged(name, f"SQLite's index {index} and the table counts disagree on the stored {what} "
                                     f"{said}{f' and {len(bad) - 5} more' if len(bad) > 5 else ''} (if only the "
                                     f"index is damaged, `sqlite3 {name} 'REINDEX {index}'` rebuilds it from the rows)"))


def _shown(level: int, key: int) -> str:
    return f"hash {key & 0xFFFFFFFFFFFFFFFF:#x}" if level == DOCUMENT_ID else str(key & 0xFFFFFFFFFFFFFFFF)


def fill(conn: sqlite3.Connection) -> None:
    """(Re)compute every count from the stored rows (an upgrade from format 13 or
    older), reading the keys through SQLite's indexes: one pass over each."""
    conn.execute("DELETE FROM counts")
    for level, sql in ((PARAGRAPH_KEY, "SELECT key, COUNT(*) FROM paragraphs GROUP BY key"),
                       (DOCUMENT_KEY, "SELECT key, COUNT(*) FROM documents GROUP BY key")):
        cur = conn.execute(sql)
        while rows := cur.fetchmany(1 << 16):
            keys, n = (np.array(c, dtype=np.int64) for c in zip(*rows))
            conn.executemany("INSERT INTO counts (level, key, rows, sum_check) VALUES (?, ?, ?, ?)",
                             zip([level] * len(keys), keys.tolist(), n.tolist(),
                                 count_checks(level, keys, n).tolist()))
    count(conn, DOCUMENT_ID, id_keys([r[0] for r in conn.execute("SELECT doc_id FROM documents")]))
