"""Writing the SQLite index's document and paragraph rows (with their checksums and
the table ``counts``), and removal with the hand-over of bands to a surviving exact
copy (contract rule 6, :mod:`dedup.storage.protocol`).  A mixin of
:class:`~dedup.storage.sqlite.SQLiteStorage`; the rows' reads are :mod:`.rows`.
"""

from __future__ import annotations

import collections
import json
import sqlite3
import time
from typing import Optional, Sequence

import numpy as np

from ...segments import offsets_from_counts
from ...settings import Settings
from .. import blocks
from ..protocol import Derive, Level, NewDocument
from ..rowcheck import changed, stored
from .checks import document_checks, heir_checks, paragraph_checks, signature_checks, text_checks
from .counts import DOCUMENT_ID, DOCUMENT_KEY, PARAGRAPH_KEY, agree, count, counted, id_keys
from .rows import _DOC_COLUMNS, _KEY_LEVEL, _PARA_COLUMNS, BY_DOC_ID, _owners, _split_rows, signed
from .schema import _ROWS, read_live, write_live


class Writes:
    """Row writes and removal (needs ``_conn``, ``path``, ``settings``, ``_derive``,
    ``_untallied`` and the reads of :class:`~.rows.Rows`)."""

    _conn: sqlite3.Connection
    path: str
    settings: Settings
    _derive: Derive
    _untallied: Optional[int]

    def insert_many(self, docs: Sequence[NewDocument]) -> None:
        if not docs:
            return
        c = self._conn
        now = time.time()
        doc_base = self._next_id("document")
        refs = np.arange(doc_base, doc_base + len(docs), dtype=np.int64)
        doc_keys = np.array([d.key for d in docs], np.uint64)
        doc_sigs = np.stack([d.signature for d in docs]).astype("<u4")
        doc_banded = np.array([int(d.doc_banded) for d in docs], dtype=np.int64)
        metas = [json.dumps(dict(doc.meta), ensure_ascii=False) if doc.meta else None for doc in docs]
        texts = [doc.text for doc in docs]
        sig_checks = signed(signature_checks(refs, doc_banded, doc_sigs))
        checks = signed(document_checks(refs, [d.doc_id for d in docs], np.array([len(t) for t in texts]), doc_keys,
                                         np.full(len(docs), now), [len(d.para_index) for d in docs],
                                         [d.digest for d in docs], metas))
        count(c, DOCUMENT_ID, id_keys([d.doc_id for d in docs]))
        count(c, DOCUMENT_KEY, signed(doc_keys))
        c.executemany(
            "INSERT INTO documents (id, doc_id, key, chars, paragraphs, banded, added, signature, digest, meta,"
            " text, sig_check, row_check, text_check) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            zip(refs.tolist(), (d.doc_id for d in docs), signed(doc_keys), (len(t) for t in texts),
                (len(d.para_index) for d in docs), doc_banded.tolist(), [now] * len(docs), _split_rows(doc_sigs),
                (d.digest for d in docs), metas, texts, sig_checks, checks, signed(text_checks(refs, texts))),
        )
        counts = np.array([len(doc.para_index) for doc in docs], dtype=np.int64)
        if not counts.sum():
            return
        base = self._next_id("paragraph")
        if self._untallied is None:  # tallied by the caller after the batch (:meth:`tally`)
            self._untallied = base
        # The batch's paragraphs' fixed columns, one row each, in document order (a
        # few numbers a row); signatures and shingle sets are packed and checksummed
        # :data:`~dedup.storage.blocks.ROWS` rows at a time (a long article's signatures
        # derived from its shingle sets a block at a time: :mod:`dedup.storage.blocks`).
        cols = [np.concatenate([getattr(doc, name) for doc in docs]) for name in (
            "para_index", "para_start", "para_end", "para_words", "para_keys", "banded")]
        sizes = np.concatenate([np.diff(doc.para_sets.offsets) for doc in docs])
        ids = np.arange(base, base + len(sizes), dtype=np.int64)
        owners = np.repeat(np.arange(doc_base, doc_base + len(docs)), counts)
        count(c, PARAGRAPH_KEY, signed(cols[4]))
        firsts = offsets_from_counts(counts)
        for lo in range(0, len(ids), blocks.ROWS):
            hi = min(lo + blocks.ROWS, len(ids))
            signatures = blocks.signatures(docs, firsts, np.arange(lo, hi), self._derive, self.settings).astype("<u4")
            values = blocks.set_values(docs, blocks.pieces(firsts, lo, hi)).astype("<u8")
            bounds = offsets_from_counts(sizes[lo:hi]).tolist()
            set_bytes = values.tobytes()
            row = slice(lo, hi)
            c.executemany(
                "INSERT INTO paragraphs (id, doc, position, start_char, end_char, words, key, banded,"
                " signature, shingles, sig_check, row_check) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                zip(
                    ids[row].tolist(), owners[row].tolist(),
                    cols[0][row].tolist(), cols[1][row].tolist(), cols[2][row].tolist(), cols[3][row].tolist(),
                    signed(cols[4][row]), cols[5][row].astype(int).tolist(),
                    _split_rows(signatures),
                    (set_bytes[8 * bounds[i] : 8 * bounds[i + 1]] for i in range(hi - lo)),
                    signed(signature_checks(ids[row], cols[5][row], signatures)),
                    signed(paragraph_checks(ids[row], (owners[row], cols[0][row], cols[1][row], cols[2][row],
                                                       signed(cols[4][row]), cols[3][row]), values, sizes[row])),
                ),
            )

    def _next_id(self, level: Level) -> int:
        """The id for a new row: above every stored *and every removed* row of the level
        (the floor, verified: :func:`.schema.read_live`).

        Why never reuse an id: a bucket file covers the rows up to an id and takes
        every higher id for a row added since (see :meth:`_caught_up`)."""
        floor = int(read_live(self._conn, self.path)[f"{level}_floor"] or 0)
        top = self._conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {_ROWS[level]}").fetchone()[0]
        return max(top, floor) + 1

    def delete(self, doc_id: str) -> bool:
        c = self._conn
        found = c.execute(f"SELECT {_DOC_COLUMNS} {BY_DOC_ID.format('?')}", (doc_id,)).fetchall()
        # The hand-over goes by the rows' keys and banded flags: verified first.
        self._document_rows(found)
        self._ids_agree([doc_id], [r[1] for r in found])
        if not found:
            return False
        ref, key, n, banded = found[0][0], found[0][3], found[0][5], found[0][9]
        paragraphs = c.execute(f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE doc = ?", (ref,)).fetchall()
        self._paragraph_rows(paragraphs)
        _owners(np.array([ref]), np.array([r[1] for r in paragraphs], dtype=np.int64), [(ref, n)], self.path)
        live = read_live(c, self.path)
        heirs: list[tuple[str, int]] = []
        if banded:
            heirs += self._hand_over("document", [key], [1], "SELECT id FROM documents WHERE key = ? AND id <> ?"
                                     " ORDER BY id LIMIT 1", ref)
        own = collections.Counter(r[5] for r in paragraphs)
        banded_keys = sorted({r[5] for r in paragraphs if r[7]})
        heirs += self._hand_over("paragraph", banded_keys, [own[k] for k in banded_keys],
                                 "SELECT id FROM paragraphs WHERE key = ? AND doc <> ? ORDER BY id LIMIT 1", ref)
        tops = {"document": ref, "paragraph": max((r[0] for r in paragraphs), default=0)}
        last = int(live["heirs"] or 0)
        seqs = np.arange(last + 1, last + 1 + len(heirs), dtype=np.int64)
        c.executemany("INSERT INTO heirs (seq, level, id, row_check) VALUES (?, ?, ?, ?)",
                      zip(seqs.tolist(), [h[0] for h in heirs], [h[1] for h in heirs],
                          signed(heir_checks(seqs, [h[0] for h in heirs], [h[1] for h in heirs]))))
        write_live(c, self.path, heirs=str(last + len(heirs)),
                   **{f"{level}_floor": str(max(int(live[f"{level}_floor"] or 0), top)) for level, top in tops.items()})
        count(c, DOCUMENT_ID, id_keys([doc_id]), -1)
        count(c, DOCUMENT_KEY, [key], -1)
        count(c, PARAGRAPH_KEY, [r[5] for r in paragraphs], -1)
        c.execute("DELETE FROM paragraphs WHERE doc = ?", (ref,))
        c.execute("DELETE FROM documents WHERE id = ?", (ref,))
        return True

    def _hand_over(self, level: Level, keys: list[int], own: list[int], sql: str, ref: int) -> list[tuple[str, int]]:
        """Banded rows (content keys ``keys``, of which the document being deleted has
        ``own`` rows each) are being deleted: for each, its surviving exact copy, if any
        (``sql`` finds the first), takes over its bands (same text, so the same keys), to
        be logged in ``heirs`` -- a bucket file written before knows only the old row,
        so readers add the heir to their delta.  The old row's entries stay in the file
        until it is rewritten; the rows they point at are gone, which lookups' callers
        check.  The flag is in the heir's ``sig_check``, which is updated with it
        (:func:`~dedup.storage.rowcheck.changed`).  Returns ``(level, heir id)`` s.

        A copy the table ``counts`` has but the key's index does not find is damage
        (:mod:`.counts`): its text would have dropped out of every look-up."""
        table, out = _ROWS[level], []
        counts = counted(self._conn, self.path, _KEY_LEVEL[level], keys)
        for key, mine in zip(keys, own):
            heir = self._conn.execute(sql, (key, ref)).fetchone()
            agree(self.path, _KEY_LEVEL[level], {key: mine + (heir is not None)}, counts, mine + 1)
            if heir is None:
                continue
            banded, check = self._conn.execute(f"SELECT banded, sig_check FROM {table} WHERE id = ?", heir).fetchone()
            if not banded:
                check = changed(stored([check], self.path, level, np.array(heir)), 1, np.zeros(1, np.int64),
                                np.ones(1, np.int64))
                self._conn.execute(f"UPDATE {table} SET banded = 1, sig_check = ? WHERE id = ?",
                                   (signed(check)[0], heir[0]))
            out.append((level, heir[0]))
        return out
