"""Entering each B-tree of the SQLite index at its first and last entry when it is
opened, so that damage to a root page is reported by every command, not only by those
that happen to go through that B-tree.

Why: the row checksums (:mod:`dedup.storage.rowcheck`) and the table ``counts``
(:mod:`.counts`) verify what a look-up reads, so damage elsewhere is found only when it
is read.  With 4,000 bytes overwritten at offset 20,000 (the root pages of
``documents_key`` and ``documents_added``), ``dedup index list`` and the "already
indexed" of ``dedup check`` exited 0 while ``index stats`` and any check of a new text
said the index was damaged (new user N19 of session 18).  Every look-up of a B-tree goes
through its root page, and the root pages of a new index are its first pages.

Cost: ``2 x depth`` pages of each of the 10 B-trees besides ``meta`` (read whole on
every open): a ``MIN`` and a ``MAX``, which SQLite answers by walking down one edge;
once per open.  What it does not find: damage to a page in the middle of a B-tree,
found when a look-up reads it (or by ``PRAGMA integrity_check``, a full scan).
"""

from __future__ import annotations

import sqlite3

from ..protocol import IndexCorrupt
from ..rowcheck import damaged

#: ``(B-tree, statement)``: each B-tree of the schema (:data:`.schema._SCHEMA`) with a
#: ``MIN`` / ``MAX`` that SQLite answers from that B-tree alone (checked by
#: ``tests/test_sqlite_root_damage.py`` against ``sqlite_master``).
EDGES = tuple(
    (btree, f"SELECT {end}({column}) FROM {table}")
    for btree, table, column in (
        ("documents", "documents", "id"),
        ("sqlite_autoindex_documents_1", "documents", "doc_id"),
        ("documents_key", "documents", "key"),
        ("documents_added", "documents", "added"),
        ("paragraphs", "paragraphs", "id"),
        ("paragraphs_doc", "paragraphs", "doc"),
        ("paragraphs_key", "paragraphs", "key"),
        ("heirs", "heirs", "seq"),
        ("tallies", "tallies", "key"),
        ("counts", "counts", "level"),
    )
    for end in ("MIN", "MAX")
)


def enter_edges(conn: sqlite3.Connection, name: str) -> None:
    """Read the first and last entry of every B-tree of the index ``name``; raise
    :class:`IndexCorrupt` naming the B-tree whose pages SQLite finds malformed."""
    for btree, sql in EDGES:
        try:
            conn.execute(sql).fetchone()
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.OperationalError) and "malformed" not in str(err):
                raise  # (locked, I/O: not damage; the caller translates it)
            raise IndexCorrupt(damaged(name, f"a page of SQLite's B-tree {btree} is malformed ({err}; "
                                             f"`sqlite3 {name} 'PRAGMA integrity_check'` lists the damage)")) from err
