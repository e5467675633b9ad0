"""Reading the SQLite index's document and paragraph rows, each verified against its
checksum and the table ``counts`` (:mod:`.counts`); writing them is :mod:`.writes`.
A mixin of :class:`~dedup.storage.sqlite.SQLiteStorage`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from ...segments import SetTable, offsets_from_counts, ranges, sorted_unique, unique_sets
from ...settings import Settings
from ..protocol import COPY_BLOCK, DocumentRows, IndexCorrupt, Level, Listed, ParagraphPlaces, ParagraphRows
from ..rowcheck import damaged, listed, plural, stored, verify
from .checks import checked_signatures, document_checks, paragraph_checks, text_checks
from .counts import DOCUMENT_ID, DOCUMENT_KEY, PARAGRAPH_KEY, agree, counted, id_keys
from .schema import _ROWS, read_live

#: Most values in one ``IN (...)`` list (SQLite allows 32766 variables).
_CHUNK = 8192
#: A paragraph row as read: its checksummed columns (in :func:`_paragraph_checks`' order),
#: ``banded`` and the signature (``sig_check``), the shingle set last.
_PARA_COLUMNS = "id, doc, position, start_char, end_char, key, words, banded, signature, shingles, sig_check, row_check"
#: A paragraph row's checksummed columns (:func:`_paragraph_checks`' order after the id),
#: the shingle set and ``row_check``: what a verified read of rows without signatures reads.
_CHECKED_COLUMNS = "id, doc, position, start_char, end_char, key, words, shingles, row_check"
#: A document's checksummed columns (:func:`_document_checks`' order; its text apart:
#: ``text_check``), and the row as read: those, ``row_check``, ``banded`` and the
#: signature (``sig_check``).
_DOC_FIELDS = "id, doc_id, chars, key, added, paragraphs, digest, meta"
_DOC_COLUMNS = f"{_DOC_FIELDS}, row_check, banded, signature, sig_check"
#: The rows of the documents whose public ids are in an ``IN`` list (``{}``), read by row
#: id: SQLite reads a column that an index it searched holds from that index, not from
#: the row, so ``WHERE doc_id IN (...)`` gave the id the index holds -- a row whose own
#: id bytes were damaged verified against the intact copy, and ``dedup check`` said
#: "already indexed" from it (new user N4 of session 19).
BY_DOC_ID = "FROM documents WHERE id IN (SELECT id FROM documents WHERE doc_id IN ({}))"
#: The ``counts`` level of each level's content keys.
_KEY_LEVEL = {"paragraph": PARAGRAPH_KEY, "document": DOCUMENT_KEY}


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
    """Row reads (needs ``_conn`` and ``settings``)."""

    _conn: sqlite3.Connection
    settings: Settings
    _untallied: Optional[int]

    def paragraphs(self, ids: np.ndarray) -> ParagraphRows:
        rows = self._paragraph_rows(self._select_in(
            f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE id IN ({{}}) ORDER BY id", sorted_unique(ids).tolist()
        ))
        self._never_removed("paragraph", ids, rows.ids)
        return rows

    def paragraph_signatures(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Why not the whole row: a row (~1.5 KB) spills into an overflow page, and the
        # shingle set is at its end: id and signature alone read about half the bytes
        # (measured for 350 random rows at 100k articles: 4.4 vs 9.2 ms CPU).
        rows = self._select_in("SELECT id, banded, signature, sig_check FROM paragraphs WHERE id IN ({}) ORDER BY id",
                               sorted_unique(ids).tolist())
        cols = list(zip(*rows)) if rows else [()] * 4
        self._never_removed("paragraph", ids, cols[0])
        return checked_signatures(cols[0], cols[1], cols[2], cols[3], self.settings.num_perm, self.path, "paragraph")

    def _never_removed(self, level: Level, asked: np.ndarray, found: Sequence[int]) -> None:
        """Raise :class:`IndexCorrupt` when a row asked for by id (a look-up's candidate)
        is missing although no row at or above its id was ever removed (meta
        ``{level}_floor``, verified): rows deleted behind the index's back left their
        bucket-file entries, and a near-copy of the text read "new" (tester's U10).

        An id above every row the index ever held -- none stored at or above it, and
        the look-up view never read one (``deltas[level].after``) -- names no row: it
        is skipped, as the storage contract says of ids not stored."""
        missing = np.setdiff1d(np.asarray(asked, dtype=np.int64), np.asarray(found, dtype=np.int64))
        if not len(missing):
            return
        floor = int(read_live(self._conn, self.path)[f"{level}_floor"] or 0)
        view = getattr(self, "_view", None)
        held = max(view.deltas[level].after if view is not None else 0,
                   self._conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {_ROWS[level]}").fetchone()[0])
        never = missing[(missing > floor) & (missing <= held)].tolist()
        if never:
            raise IndexCorrupt(damaged(self.path, f"stored {level} row{plural(never)} {listed(never)} "
                                                  f"{'are' if len(never) > 1 else 'is'} missing, yet no {level} row "
                                                  f"above {floor} was ever removed"))

    def paragraph_copy_places(self, keys: np.ndarray, limit: int) -> ParagraphPlaces:
        return ParagraphPlaces.joined([self._places(rows)
                                       for rows in self._copies("paragraph", keys, limit, _CHECKED_COLUMNS, 5)])

    def _places(self, rows: list) -> ParagraphPlaces:
        """Places of paragraph rows read as :data:`_CHECKED_COLUMNS`, each verified."""
        cols, _, _ = self._verified_paragraphs(rows)
        ids, doc, index, start, end = (np.array(c, dtype=np.int64) for c in cols[:5])
        return ParagraphPlaces(ids, doc, index, start, end, unsigned(cols[5]))

    def documents(self, ids: np.ndarray) -> DocumentRows:
        rows = self._document_rows(self._select_in(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE id IN ({{}}) ORDER BY id",
            sorted_unique(ids).tolist(),
        ))
        self._never_removed("document", ids, rows.ids)
        return rows

    def document_signatures(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self.documents(ids)
        return rows.ids, rows.signatures

    def document_copies(self, keys: np.ndarray, limit: int) -> DocumentRows:
        blocks = list(self._copies("document", keys, limit, _DOC_COLUMNS, 3))
        return self._document_rows([row for rows in blocks for row in rows])

    def _copies(self, level: Level, keys: np.ndarray, limit: int, columns: str, key_at: int) -> Iterator[list]:
        """The rows (``columns``, the key at ``key_at``) of the first ``limit`` stored
        copies of each of ``keys``, as many as the table ``counts`` says (:mod:`.counts`),
        by key (ascending uint64), then id, in blocks of at most
        :data:`~dedup.storage.protocol.COPY_BLOCK` rows (a block's keys' rows): the
        rows of every key of a block counted at most ``limit`` times in one ``IN``
        read, a ``LIMIT`` statement only for each key counted more often.

        Why: the keys asked are those of matched texts stored more than once (mostly
        twice); one statement a key cost ~55 us each.  Why blocks: a long article's
        matched texts stored ``limit`` times each are ``limit`` rows a paragraph
        (session 23).  A key the index holds more (or fewer) rows of than counted still
        reads as damage (:func:`~.counts.agree`), checked block by block."""
        found, counts = self._stored_keys(level, keys)
        step = max(1, COPY_BLOCK // max(limit, 1))
        for lo in range(0, len(found), step):
            block = found[lo : lo + step]
            few = [key for key in block if counts.get(key, 0) <= limit]
            rows = self._select_in(f"SELECT {columns} FROM {_ROWS[level]} WHERE key IN ({{}})", few) if few else []
            for key in block:
                if counts.get(key, 0) > limit:
                    rows.extend(self._conn.execute(
                        f"SELECT {columns} FROM {_ROWS[level]} WHERE key = ? ORDER BY id LIMIT ?", (key, limit)
                    ).fetchall())
            rows.sort(key=lambda row: (row[key_at] & 0xFFFFFFFFFFFFFFFF, row[0]))
            got = dict.fromkeys(block, 0)
            for row in rows:
                got[row[key_at]] = got.get(row[key_at], 0) + 1
            agree(self.path, _KEY_LEVEL[level], got, counts, limit)
            yield rows

    def document_sets(self, ids: np.ndarray,
                      leave_out: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> SetTable:
        ids = np.asarray(ids, dtype=np.int64)
        wanted = sorted_unique(ids).tolist()
        # The rows read and verified a block at a time, only their owner, key and set
        # kept: all the rows of 17 stored copies of a 30k-paragraph article at once, as
        # Python tuples, were +530 MB of a check's 1.6 GB peak (session 24,
        # benchmarks/README-memory.md).
        blocks = self._blocks_in(f"SELECT {_CHECKED_COLUMNS} FROM paragraphs WHERE doc IN ({{}})", wanted)
        parts = [_owner_key_set(*self._verified_paragraphs(rows)) for rows in [[], *blocks]]
        docs, keys, values, counts = (np.concatenate(part) for part in zip(*parts))
        owner = _owners(ids, docs, self._select_in("SELECT id, paragraphs FROM documents WHERE id IN ({})", wanted),
                        self.path)
        # Lay each document's paragraph sets side by side, in the order of ``ids``: the
        # union is then one segment per document, made unique by ``unique_sets``.
        order = np.argsort(owner, kind="stable")
        starts = offsets_from_counts(counts)[:-1]
        if leave_out is not None and len(counts):
            counts = np.where(leave_out(keys), 0, counts)
        grouped = values[ranges(starts[order], counts[order])]
        per_doc = np.bincount(owner, weights=counts, minlength=len(ids)).astype(np.int64)
        return unique_sets(grouped, offsets_from_counts(per_doc))

    def paragraph_places(self, docs: np.ndarray, keys: np.ndarray) -> ParagraphPlaces:
        # The documents' rows by their keys first (no sets read: a page's long paragraphs
        # are most of its bytes), all there (:func:`_owners`); then the rows asked for,
        # whole, each verified.
        wanted = sorted_unique(np.asarray(docs, dtype=np.int64)).tolist()
        listed = self._select_in("SELECT id, doc, key FROM paragraphs WHERE doc IN ({})", wanted)
        cols = list(zip(*listed)) if listed else [()] * 3
        _owners(np.array(wanted, dtype=np.int64), np.array(cols[1], dtype=np.int64),
                self._select_in("SELECT id, paragraphs FROM documents WHERE id IN ({})", wanted), self.path)
        mine = np.array(cols[0], dtype=np.int64)[np.isin(unsigned(cols[2]), np.asarray(keys, dtype=np.uint64))]
        places = self._places(self._select_in(
            f"SELECT {_CHECKED_COLUMNS} FROM paragraphs WHERE id IN ({{}}) ORDER BY id", mine.tolist()))
        self._never_removed("paragraph", mine, places.ids)
        return places

    def _verified_paragraphs(self, rows: list) -> tuple[list, np.ndarray, np.ndarray]:
        """Paragraph rows read as :data:`_CHECKED_COLUMNS`, each verified against its
        checksum: ``(columns as tuples, set values, set sizes)``."""
        values, counts = unpack_sets([r[7] for r in rows])
        cols = list(zip(*rows)) if rows else [()] * 9
        row_ids = np.array(cols[0], dtype=np.int64)
        verify(stored(cols[8], self.path, "paragraph", row_ids),
               paragraph_checks(row_ids, cols[1:7], values, counts), row_ids, self.path, "paragraph")
        return cols, values, counts

    def known_keys(self, level: Level, keys: np.ndarray) -> np.ndarray:
        found = unsigned(self._stored_keys(level, keys)[0])
        return np.isin(keys, found)

    def key_counts(self, level: Level, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.uint64)
        _, counts = self._stored_keys(level, keys)  # (the counts table, checked against the key index)
        return np.array([counts.get(key, 0) for key in signed(keys)], dtype=np.int64)

    def _stored_keys(self, level: Level, keys: np.ndarray) -> tuple[list[int], dict[int, int]]:
        """The distinct content keys among ``keys`` that a stored row of the level has
        (as SQLite's signed integers, in ascending uint64 order): one ``IN`` look-up on
        the key index; and the ``counts`` of all of ``keys``, which must agree with it
        (:mod:`.counts`: a key the index lost reads as damage, not as "new").

        Why: the ``*_copies`` look-ups need one ``LIMIT`` query per key, and most keys
        of a new article are stored nowhere (measured at 100k articles of ~20
        paragraphs: ~60 such queries per check, ~2 ms; now one query and a few)."""
        if not len(keys):
            return [], {}
        asked = signed(sorted_unique(keys))
        found = self._select_in(f"SELECT DISTINCT key FROM {_ROWS[level]} WHERE key IN ({{}})", asked)
        keys_found = signed(sorted_unique(unsigned([r[0] for r in found])))
        counts = counted(self._conn, self.path, _KEY_LEVEL[level], asked)
        present = set(keys_found)
        agree(self.path, _KEY_LEVEL[level], {k: int(k in present) for k in asked}, counts, 1)
        return keys_found, counts

    def _select_in(self, sql: str, values: list) -> list:
        rows: list = []
        for block in self._blocks_in(sql, values):
            rows.extend(block)
        return rows

    def _blocks_in(self, sql: str, values: list) -> Iterator[list]:
        """The rows of ``sql`` whose ``IN`` list (``{}``) holds ``values``, at most
        :data:`~dedup.storage.protocol.COPY_BLOCK` at a time."""
        for lo in range(0, len(values), _CHUNK):
            chunk = _padded(values[lo : lo + _CHUNK])
            cursor = self._conn.execute(sql.format(_placeholders(len(chunk))), chunk)
            while rows := cursor.fetchmany(COPY_BLOCK):
                yield rows

    def _paragraph_rows(self, rows: list) -> ParagraphRows:
        num_perm = self.settings.num_perm
        values, counts = unpack_sets([r[9] for r in rows])
        cols = list(zip(*rows)) if rows else [()] * 12
        ids, docs, index, start, end, keys = (np.array(c, dtype=np.int64) for c in cols[:6])
        verify(stored(cols[11], self.path, "paragraph", ids),
               paragraph_checks(ids, (docs, index, start, end, keys, cols[6]), values, counts), ids, self.path,
               "paragraph")
        _, signatures = checked_signatures(ids, cols[7], cols[8], cols[10], num_perm, self.path, "paragraph")
        return ParagraphRows(
            ids=ids,
            docs=docs,
            index=index,
            start=start,
            end=end,
            keys=keys.view(np.uint64),
            signatures=signatures,
            sets=SetTable(values=values, offsets=offsets_from_counts(counts)),
        )

    def _document_rows(self, rows: list) -> DocumentRows:
        cols = list(zip(*rows)) if rows else [()] * 12
        ids, signatures = checked_signatures(cols[0], cols[9], cols[10], cols[11], self.settings.num_perm, self.path,
                                             "document")
        self._verify_documents(cols)
        return DocumentRows(ids=ids, doc_ids=list(cols[1]), chars=np.array(cols[2], dtype=np.int64),
                            keys=unsigned(cols[3]), signatures=signatures)

    def document_texts(self, ids: np.ndarray) -> dict[int, str]:
        rows = self._select_in("SELECT id, text, text_check FROM documents WHERE id IN ({}) ORDER BY id",
                               sorted_unique(np.asarray(ids, dtype=np.int64)).tolist())
        got = np.array([r[0] for r in rows], dtype=np.int64)
        texts = [r[1] for r in rows]
        verify(stored([r[2] for r in rows], self.path, "document", got), text_checks(got, texts), got, self.path,
               "document text")
        return dict(zip(got.tolist(), texts))

    def _verify_documents(self, cols: list) -> None:
        """Verify document rows' ``row_check`` (``cols``: the columns of
        :data:`_DOC_FIELDS`, then ``row_check``)."""
        ids = np.array(cols[0], dtype=np.int64)
        verify(stored(cols[8], self.path, "document", ids),
               document_checks(ids, cols[1], cols[2], unsigned(cols[3]), *cols[4:8]), ids, self.path, "document")

    def digests(self, doc_ids: Sequence[str]) -> dict[str, Optional[str]]:
        """Also verifies the stored texts of the rows found: a stored id whose digest
        matches is answered "already indexed: same id, same text", which the index
        must still hold (new user N4 of session 19: a damaged stored text was "the
        same text"); the cost is the rows read, the texts of the ids stored."""
        rows = self._select_in(f"SELECT {_DOC_FIELDS}, row_check, text, text_check {BY_DOC_ID}", list(doc_ids))
        cols = list(zip(*rows)) if rows else [()] * 11
        self._verify_documents(cols)
        self._ids_agree(list(doc_ids), list(cols[1]))
        ids = np.array(cols[0], dtype=np.int64)
        verify(stored(cols[10], self.path, "document", ids), text_checks(ids, cols[9]), ids, self.path,
               "document text")
        return dict(zip(cols[1], cols[6]))

    def _ids_agree(self, asked: list[str], found: list[str]) -> None:
        """Raise :class:`IndexCorrupt` unless the rows found for the document ids
        ``asked`` (their ids, ``found``) are those the table ``counts`` says are stored
        (:mod:`.counts`): a stored id never reads as "not stored"."""
        asked = list(dict.fromkeys(asked))
        keys = id_keys(asked)
        labels = {k: repr(d) for k, d in zip(keys, asked)}
        got = dict.fromkeys(keys, 0)
        for d in found:
            key = id_keys([d])[0]
            if key not in labels:  # a row of an id not asked for: a broken index entry
                raise IndexCorrupt(damaged(self.path, f"SQLite's index on document ids gave stored document "
                                                      f"{d!r} for {listed(list(labels.values()))}"))
            got[key] += 1
        agree(self.path, DOCUMENT_ID, got, counted(self._conn, self.path, DOCUMENT_ID, keys), labels=labels)

    def listing(self, after: int = 0, limit: int = 1000, before: Optional[float] = None) -> list[Listed]:
        when = "" if before is None else " AND added < ?"
        rows = self._conn.execute(
            f"SELECT {_DOC_FIELDS}, row_check FROM documents WHERE id > ?{when} ORDER BY id LIMIT ?",
            (after, *(() if before is None else (before,)), limit),
        ).fetchall()
        self._verify_documents(list(zip(*rows)) if rows else [()] * 9)
        return [Listed(r[0], r[1], r[4], r[2], r[5], json.loads(r[7]) if r[7] else {}) for r in rows]


def _owner_key_set(cols: list, values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Of paragraph rows read as :data:`_CHECKED_COLUMNS` and verified: each one's
    owner (document row id), content key, and shingle set ``(values, sizes)``."""
    return np.array(cols[1], dtype=np.int64), unsigned(cols[5]), values, counts


def _owners(ids: np.ndarray, docs: np.ndarray, counts: list, name: str) -> np.ndarray:
    """For each paragraph row read of the documents ``ids`` (its owner's row id in
    ``docs``), the owner's position in ``ids`` -- once each document's rows are known to
    be all of them: as many as its row says (``counts``: ``(id, paragraphs)`` rows of
    ``documents``).

    Why: the rows are found through SQLite's index ``paragraphs_doc``; one flipped byte
    of its pages lost rows without an error (tester's T4: a similarity 1.0 read as 0.83;
    ``PRAGMA integrity_check``: "row missing from index").

    Raises :class:`IndexCorrupt` naming the documents whose rows are not all there."""
    uniq, first = np.unique(ids, return_index=True)
    at = np.searchsorted(uniq, docs).clip(max=max(len(uniq) - 1, 0))
    stray = np.flatnonzero(uniq[at] != docs) if len(docs) else at[:0]
    found = np.bincount(at, minlength=len(uniq))
    said = np.full(len(uniq), -1, dtype=np.int64)
    if counts:
        rows = np.array(counts, dtype=np.int64)
        said[np.searchsorted(uniq, rows[:, 0])] = rows[:, 1]
    bad = uniq[found != said].tolist() + docs[stray].tolist()
    if bad:
        raise IndexCorrupt(damaged(name, f"not all the paragraph rows of stored document{plural(bad)} "
                                         f"{listed(bad)} are found"))
    return first[at]


def _split_rows(matrix: np.ndarray) -> Iterator[bytes]:
    """The rows of a little-endian uint32 matrix as one blob each."""
    data, width = np.ascontiguousarray(matrix, dtype="<u4").tobytes(), matrix.shape[1] * 4
    return (data[i * width : (i + 1) * width] for i in range(len(matrix)))


def unpack_sets(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Stored shingle-set blobs (little-endian uint64 each) as ``(values, counts)``: all
    values concatenated (uint64) and the number of values of each blob (int64)."""
    counts = np.fromiter((len(b) // 8 for b in blobs), dtype=np.int64, count=len(blobs))
    return np.frombuffer(b"".join(blobs), dtype="<u8").astype(np.uint64), counts
