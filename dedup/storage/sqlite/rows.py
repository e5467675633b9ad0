"""Reading and writing the SQLite index's document and paragraph rows, and removal
with the hand-over of bands to a surviving exact copy (contract rule 6,
:mod:`dedup.storage.protocol`).  A mixin of :class:`~dedup.storage.sqlite.SQLiteStorage`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Optional, Sequence

import numpy as np

from ...segments import SetTable, offsets_from_counts, ranges, sorted_unique, unique_sets
from ...settings import Settings
from ..protocol import DocumentRows, IndexCorrupt, Level, Listed, NewDocument, ParagraphRows
from .schema import _ROWS

#: Most values in one ``IN (...)`` list (SQLite allows 32766 variables).
_CHUNK = 8192
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


class Rows:
    """Row reads and writes (needs ``_conn`` and ``settings``)."""

    _conn: sqlite3.Connection
    settings: Settings

    def paragraphs(self, ids: np.ndarray) -> ParagraphRows:
        return self._paragraph_rows(self._select_in(
            f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE id IN ({{}}) ORDER BY id", sorted_unique(ids).tolist()
        ))

    def paragraph_signatures(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Why not the whole row: a row (~1.5 KB) spills into an overflow page, and the
        # shingle set is at its end: id and signature alone read about half the bytes
        # (measured for 350 random rows at 100k articles: 4.4 vs 9.2 ms CPU).
        rows = self._select_in("SELECT id, signature FROM paragraphs WHERE id IN ({}) ORDER BY id",
                               sorted_unique(ids).tolist())
        return (np.array([r[0] for r in rows], dtype=np.int64),
                _unpack_signatures([r[1] for r in rows], self.settings.num_perm))

    def paragraph_copies(self, keys: np.ndarray, limit: int) -> ParagraphRows:
        rows = []
        for key in self._stored_keys("paragraph", keys):
            rows.extend(self._conn.execute(
                f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE key = ? ORDER BY id LIMIT ?", (key, limit)
            ).fetchall())
        return self._paragraph_rows(rows)

    def documents(self, ids: np.ndarray) -> DocumentRows:
        return self._document_rows(self._select_in(
            "SELECT id, doc_id, chars, key, signature FROM documents WHERE id IN ({}) ORDER BY id",
            sorted_unique(ids).tolist(),
        ))

    def document_copies(self, keys: np.ndarray, limit: int) -> DocumentRows:
        rows = []
        for key in self._stored_keys("document", keys):
            rows.extend(self._conn.execute(
                "SELECT id, doc_id, chars, key, signature FROM documents WHERE key = ? ORDER BY id LIMIT ?",
                (key, limit),
            ).fetchall())
        return self._document_rows(rows)

    def document_sets(self, ids: np.ndarray) -> SetTable:
        ids = np.asarray(ids, dtype=np.int64)
        rows = self._select_in("SELECT doc, shingles FROM paragraphs WHERE doc IN ({})", sorted_unique(ids).tolist())
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
        found = unsigned(self._stored_keys(level, keys))
        return np.isin(keys, found)

    def _stored_keys(self, level: Level, keys: np.ndarray) -> list[int]:
        """The distinct content keys among ``keys`` that a stored row of the level has
        (as SQLite's signed integers, in ascending uint64 order): one ``IN`` look-up on
        the key index.

        Why: the ``*_copies`` look-ups need one ``LIMIT`` query per key, and most keys
        of a new article are stored nowhere (measured at 100k articles of ~20
        paragraphs: ~60 such queries per check, ~2 ms; now one query and a few)."""
        if not len(keys):
            return []
        table = "paragraphs" if level == "paragraph" else "documents"
        found = self._select_in(f"SELECT DISTINCT key FROM {table} WHERE key IN ({{}})", signed(sorted_unique(keys)))
        return signed(sorted_unique(unsigned([r[0] for r in found])))

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

    def insert_many(self, docs: Sequence[NewDocument]) -> None:
        if not docs:
            return
        c = self._conn
        now = time.time()
        doc_base = self._next_id("document")
        refs = range(doc_base, doc_base + len(docs))
        c.executemany(
            "INSERT INTO documents (id, doc_id, key, chars, paragraphs, banded, added, signature, digest, meta,"
            " text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (ref, doc.doc_id, key, len(doc.text), len(doc.para_index), int(doc.doc_banded), now,
                 _pack_u32(doc.signature), doc.digest,
                 json.dumps(dict(doc.meta), ensure_ascii=False) if doc.meta else None, doc.text)
                for ref, doc, key in zip(refs, docs, signed(np.array([d.key for d in docs], np.uint64)))
            ),
        )
        counts = np.array([len(doc.para_index) for doc in docs], dtype=np.int64)
        if not counts.sum():
            return
        base = self._next_id("paragraph")
        # All the batch's paragraphs as columns, one row each, in document order.
        cols = [np.concatenate([getattr(doc, name) for doc in docs]) for name in (
            "para_index", "para_start", "para_end", "para_words", "para_keys", "banded")]
        signatures = np.concatenate([doc.para_signatures for doc in docs]).astype("<u4")
        sets = [doc.para_sets for doc in docs]
        values = np.concatenate([t.values for t in sets]).astype("<u8")
        sizes = np.concatenate([np.diff(t.offsets) for t in sets])
        bounds = offsets_from_counts(sizes).tolist()
        set_bytes, sig_bytes = values.tobytes(), signatures.tobytes()
        width = signatures.shape[1] * 4
        c.executemany(
            "INSERT INTO paragraphs (id, doc, position, start_char, end_char, words, key, banded,"
            " signature, shingles) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            zip(
                range(base, base + len(sizes)),
                np.repeat(np.arange(doc_base, doc_base + len(docs)), counts).tolist(),
                cols[0].tolist(), cols[1].tolist(), cols[2].tolist(), cols[3].tolist(),
                signed(cols[4]), cols[5].astype(int).tolist(),
                (sig_bytes[i * width : (i + 1) * width] for i in range(len(sizes))),
                (set_bytes[8 * bounds[i] : 8 * bounds[i + 1]] for i in range(len(sizes))),
            ),
        )

    def digests(self, doc_ids: Sequence[str]) -> dict[str, Optional[str]]:
        return dict(self._select_in("SELECT doc_id, digest FROM documents WHERE doc_id IN ({})", list(doc_ids)))

    def listing(self, after: int = 0, limit: int = 1000, before: Optional[float] = None) -> list[Listed]:
        when = "" if before is None else " AND added < ?"
        rows = self._conn.execute(
            f"SELECT id, doc_id, added, chars, paragraphs, meta FROM documents WHERE id > ?{when}"
            " ORDER BY id LIMIT ?", (after, *(() if before is None else (before,)), limit),
        ).fetchall()
        return [Listed(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]) if r[5] else {}) for r in rows]

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
