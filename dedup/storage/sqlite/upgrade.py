"""The in-place upgrade of an older SQLite index's rows (formats 1-10 to 11): what can
be checked is checked, then every row gets its checksums (:mod:`dedup.storage.rowcheck`).

Why check first: the checksums stamp the rows as they are, so damage already there
would read as intact from then on.  What the upgrade can know without the original
documents is the rows' structure, and it refuses to stamp (:class:`IndexCorrupt`, the
transaction rolled back, the file left at its old format) when any of it is wrong:

* every paragraph row belongs to a stored document, and each document has exactly as
  many paragraph rows as its ``paragraphs`` column says, at positions ``0..n-1``;
* spans lie inside their document (``0 <= start <= end <= chars``), in position order
  without overlap, and ``chars`` is the length of the stored text;
* every signature has ``num_perm`` values; every shingle set is whole 8-byte values in
  strictly ascending order; word counts are not negative;
* the ``banded`` flags keep contract rule 5 (:mod:`dedup.storage.protocol`): they are
  0 or 1, at most one row of a content key is banded, a banded paragraph has at least
  ``min_tokens`` tokens, and every content key with a paragraph that long has its
  banded row (one flipped bit of the flag made a paragraph drop out of every answer:
  tester's T10 of #12);
* no boilerplate tally is negative or above the documents judged.

What it cannot know (the README says so too): a value changed *within* what the
structure allows -- a signature value, a shingle hash, a content key, a span that still
fits, characters of a text, a document id, time added, digest or metadata -- is stamped
as it is and reads as intact afterwards.  Only the original documents can tell.
"""

from __future__ import annotations

import sqlite3
from typing import Iterator

import numpy as np

from ...settings import Settings
from ..protocol import IndexCorrupt
from ..rowcheck import damaged, listed
from .checks import document_checks, paragraph_checks, signature_checks, text_checks, unpack_signatures
from .rows import _DOC_FIELDS, signed, unpack_sets, unsigned
from .schema import table_names


#: Rows read and stamped at a time.
CHUNK = 1 << 14


def _structure_faults(conn: sqlite3.Connection, settings: Settings) -> Iterator[tuple[str, str]]:
    """``(what is wrong, SQL listing the rows it is wrong in)`` for each structural rule."""
    sig_bytes = 4 * settings.num_perm
    yield "paragraph rows of no stored document", (
        "SELECT p.id FROM paragraphs AS p LEFT JOIN documents AS d ON d.id = p.doc WHERE d.id IS NULL")
    yield "documents whose paragraph rows are not as many as they say, at positions 0..n-1", (
        "SELECT d.id FROM documents AS d LEFT JOIN (SELECT doc, COUNT(*) AS n, MIN(position) AS lo,"
        " MAX(position) AS hi, COUNT(DISTINCT position) AS k FROM paragraphs GROUP BY doc) AS p ON p.doc = d.id"
        " WHERE COALESCE(p.n, 0) <> d.paragraphs OR (p.n > 0 AND (p.lo <> 0 OR p.hi <> p.n - 1 OR p.k <> p.n))")
    yield "paragraph rows whose span is not inside their document", (
        "SELECT p.id FROM paragraphs AS p JOIN documents AS d ON d.id = p.doc"
        " WHERE p.start_char < 0 OR p.end_char < p.start_char OR p.end_char > d.chars")
    yield "paragraph rows whose span overlaps the one before", (
        "SELECT id FROM (SELECT id, start_char, LAG(end_char) OVER (PARTITION BY doc ORDER BY position) AS prev"
        " FROM paragraphs) WHERE start_char < prev")
    for table in ("paragraphs", "documents"):
        level = table[:-1]
        yield f"{level} rows whose signature does not have {settings.num_perm} values", (
            f"SELECT id FROM {table} WHERE typeof(signature) <> 'blob' OR length(signature) <> {sig_bytes}")
        yield f"{level} rows whose banded flag is not 0 or 1", (
            f"SELECT id FROM {table} WHERE banded NOT IN (0, 1)")
        yield f"{level} rows banded beside another row of their content key", (
            f"SELECT id FROM {table} WHERE banded = 1 AND key IN"
            f" (SELECT key FROM {table} WHERE banded = 1 GROUP BY key HAVING COUNT(*) > 1)")
    yield "paragraph rows whose shingle set is not whole 8-byte values", (
        "SELECT id FROM paragraphs WHERE typeof(shingles) <> 'blob' OR length(shingles) % 8 <> 0")
    yield "paragraph rows with a negative word count", "SELECT id FROM paragraphs WHERE words < 0"
    yield f"banded paragraph rows of fewer than {settings.min_tokens} tokens", (
        f"SELECT id FROM paragraphs WHERE banded = 1 AND words < {int(settings.min_tokens)}")
    yield "paragraph rows of a content key none of whose rows is banded (though long enough to be)", (
        f"SELECT MIN(id) FROM paragraphs WHERE words >= {int(settings.min_tokens)} GROUP BY key"
        " HAVING MAX(banded) = 0")
    yield "boilerplate tallies below 0 or above the documents judged", (
        "SELECT key FROM tallies WHERE documents < 0 OR documents > (SELECT CAST(value AS INTEGER) FROM meta"
        " WHERE key = 'judged')")


def check_structure(conn: sqlite3.Connection, name: str, version: str, settings: Settings) -> None:
    """Raise :class:`IndexCorrupt` naming the first rule the stored rows break (and up
    to five of its rows)."""
    tables = table_names(conn)
    for what, sql in _structure_faults(conn, settings):
        if "tallies" in sql and "tallies" not in tables:
            continue
        rows = [r[0] for r in conn.execute(sql + " LIMIT 6")]
        if rows:
            _refuse(name, version, f"{what}: {listed(rows)}")


def _refuse(name: str, version: str, what: str) -> None:
    raise IndexCorrupt(damaged(name, f"format {version} cannot be upgraded: {what}"))


def stamp(conn: sqlite3.Connection, name: str, version: str, settings: Settings) -> None:
    """Check the rows (:func:`check_structure`, and per chunk what needs their values:
    text lengths, shingle order), then compute and store every row's ``sig_check``,
    ``row_check`` and (documents) ``text_check``, :data:`CHUNK` rows at a time,
    inside the caller's write transaction."""
    check_structure(conn, name, version, settings)
    num_perm = settings.num_perm
    after = 0
    while rows := conn.execute(f"SELECT {_DOC_FIELDS}, banded, signature, text FROM documents WHERE id > ?"
                               " ORDER BY id LIMIT ?", (after, CHUNK)).fetchall():
        cols = list(zip(*rows))
        ids = np.array(cols[0], dtype=np.int64)
        texts = list(cols[10])
        wrong = [int(i) for i, t, n in zip(ids.tolist(), texts, cols[2]) if not isinstance(t, str) or len(t) != n]
        if wrong:
            _refuse(name, version, f"document rows whose size is not their text's length: {listed(wrong)}")
        conn.executemany("UPDATE documents SET sig_check = ?, row_check = ?, text_check = ? WHERE id = ?", zip(
            signed(signature_checks(ids, cols[8], unpack_signatures(list(cols[9]), num_perm))),
            signed(document_checks(ids, cols[1], cols[2], unsigned(cols[3]), *cols[4:8])),
            signed(text_checks(ids, texts)), ids.tolist()))
        after = int(ids[-1])
    after = 0
    while rows := conn.execute("SELECT id, doc, position, start_char, end_char, key, words, banded, signature,"
                               " shingles FROM paragraphs WHERE id > ? ORDER BY id LIMIT ?", (after, CHUNK)).fetchall():
        cols = list(zip(*rows))
        ids = np.array(cols[0], dtype=np.int64)
        values, counts = unpack_sets(list(cols[9]))
        ends = np.cumsum(counts)
        rising = values[1:] > values[:-1]  # within a set; a set's first value starts afresh
        rising[ends[(ends > 0) & (ends < len(values))] - 1] = True
        if not rising.all():
            bad = np.unique(np.searchsorted(ends, np.flatnonzero(~rising) + 1, side="right"))
            _refuse(name, version, f"paragraph rows whose shingle set is not in ascending order: "
                                   f"{listed(ids[bad].tolist())}")
        conn.executemany("UPDATE paragraphs SET sig_check = ?, row_check = ? WHERE id = ?", zip(
            signed(signature_checks(ids, cols[7], unpack_signatures(list(cols[8]), num_perm))),
            signed(paragraph_checks(ids, cols[1:7], values, counts)), ids.tolist()))
        after = int(ids[-1])
