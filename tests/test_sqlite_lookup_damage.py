"""SQLite format 14 (#12): damage to what look-ups go through is detected, never
answered from -- SQLite's indexes on document ids and content keys (cross-checked with
the table ``counts``), the ``heirs`` log, and the meta rows that change as the index
lives (floors, bucket file, last heir: ``live_check``).

On format 13 each damage here was answered from silently: one changed byte in a page of
the index on document ids made a stored id read "not stored" (``in`` False, ``get``
None, and an add stored the id a second time); in ``paragraphs_key`` it left a stored
exact copy out of the matches; a deleted ``heirs`` row or a changed floor left a stored
text out of every look-up.  Each test fails on that code (no error raised).
"""

from __future__ import annotations

import random
import sqlite3
import struct
from contextlib import closing

import pytest
from click.testing import CliRunner
from test_sqlite_flag_text_damage import _edit, _one
from textgen import news_article, prose, rewrite_paragraphs

from dedup.cli import main
from dedup.index import Index
from dedup.storage import IndexCorrupt
from dedup.storage.sqlite.schema import FORMAT_VERSION

ARTICLES = 10


@pytest.fixture
def corpus():
    """Articles, the first stored twice (``article-00`` and its exact copy ``copy-00``,
    banded once), and a light rewrite of each."""
    rng = random.Random(5)
    texts = [news_article(rng) for _ in range(ARTICLES)]
    probes = [rewrite_paragraphs(rng, t, 0.05) for t in texts]
    return texts, probes


@pytest.fixture
def built(tmp_path, corpus):
    texts, probes = corpus
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        idx.load([(f"article-{i:02d}", t) for i, t in enumerate(texts)] + [("copy-00", texts[0])])
        idx.optimize()
    return path, texts, probes


def _damage_index_entry(path, index: str, value: bytes, flip: int = -1) -> None:
    """Add 1 to byte ``flip`` of ``value`` where SQLite's index ``index`` stores it (its
    root page, a leaf in these small files): the entry then holds a slightly higher
    value, as after a flipped bit on disk, which a look-up of the stored value stops
    at (a lower one it would still read: then the row read does not match its
    checksum); ``PRAGMA integrity_check`` finds the row missing from the index."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    data = bytearray(open(path, "rb").read())
    page = slice((root - 1) * size, root * size)
    assert data[page][0] == 0x0A, "the index is not one leaf page"
    at = data[page].find(value)
    assert at >= 0 and data[page].find(value, at + 1) < 0
    assert data[page.start + at + (flip % len(value))] < 0xFF
    data[page.start + at + (flip % len(value))] += 1
    open(path, "wb").write(data)
    with closing(sqlite3.connect(path)) as conn:
        assert "missing from index" in " ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))


def _key_bytes(key: int) -> bytes:
    return struct.pack(">q", key)  # a 64-bit hash is stored as 8 big-endian bytes in a record


def test_a_lost_entry_of_the_index_on_document_ids_is_damage_not_absence(built):
    path, texts, _ = built
    _damage_index_entry(path, "sqlite_autoindex_documents_1", b"article-03")
    said = "sqlite_autoindex_documents_1 and the table counts disagree on the stored document rows with id " \
           "'article-03': 0 found, 1 counted"
    with Index.open(path) as idx:
        with pytest.raises(IndexCorrupt, match=said):
            "article-03" in idx  # was False
        with pytest.raises(IndexCorrupt, match=said):
            idx.get("article-03")  # was None
        with pytest.raises(IndexCorrupt, match=said):
            idx.add(texts[3], "article-03")  # was stored a second time under the same id
        with pytest.raises(IndexCorrupt, match=said):
            idx.remove("article-03")  # was "not stored"
        assert "article-07" in idx and idx.get("article-07").text == texts[7]  # the others answer
    (tmp := path.parent / "a.txt").write_text(texts[3])
    res = CliRunner().invoke(main, ["index", "add", "--db", str(path), "--id", "article-03", "-"], input=texts[3],
                             catch_exceptions=False)
    assert res.exit_code == 2 and said in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert tmp.exists()


def test_a_lost_entry_of_the_paragraph_key_index_is_damage(built):
    """The exact copy ``copy-00``'s first paragraph, found through ``paragraphs_key``:
    listed with the original before, left out of the matches once its entry was lost."""
    path, texts, _ = built
    with Index.open(path) as idx:
        before = idx.check(texts[0])
    assert {m.doc_id for m in before.matches} == {"article-00", "copy-00"}
    key, row = _one(path, "SELECT p.key, p.id FROM paragraphs AS p JOIN documents AS d ON d.id = p.doc"
                          " WHERE d.doc_id = 'copy-00' AND p.position = 0")
    assert row < 128  # the entry is the key, then the row id in one byte
    _damage_index_entry(path, "paragraphs_key", _key_bytes(key) + bytes([row]), flip=7)
    with Index.open(path) as idx:
        with pytest.raises(IndexCorrupt, match=f"paragraphs_key and the table counts disagree on the stored paragraph "
                                               f"rows with content key {key & (2**64 - 1)}: 1 found, 2 counted"):
            idx.check(texts[0])
    (tmp := path.parent / "a.txt").write_text(texts[0])
    res = CliRunner().invoke(main, ["check", "--db", str(path), str(tmp)], catch_exceptions=False)
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "REINDEX paragraphs_key" in res.stderr


def test_a_lost_entry_of_the_document_key_index_is_damage(built):
    path, texts, _ = built
    key, row = _one(path, "SELECT key, id FROM documents WHERE doc_id = 'copy-00'")
    _damage_index_entry(path, "documents_key", _key_bytes(key) + bytes([row]), flip=7)
    with Index.open(path) as idx:
        with pytest.raises(IndexCorrupt, match="documents_key and the table counts disagree on the stored document "
                                               "rows with content key"):
            idx.check(texts[0])
        with pytest.raises(IndexCorrupt, match="documents_key and the table counts disagree"):
            idx.remove("article-00")  # its bands would have gone to no heir: copy-00 was not found


@pytest.mark.parametrize("edit", [
    "DELETE FROM counts WHERE level = 0 AND key = {key}",  # a lost count: rows found, none counted
    "UPDATE counts SET rows = rows + 1 WHERE level = 0 AND key = {key}",
    "UPDATE counts SET key = key + 1 WHERE level = 0 AND key = {key}",
])
def test_a_damaged_count_is_damage(built, edit):
    path, texts, _ = built
    (key,) = _one(path, "SELECT p.key FROM paragraphs AS p JOIN documents AS d ON d.id = p.doc"
                        " WHERE d.doc_id = 'article-00' AND p.position = 0")
    _edit(path, edit.format(key=key))
    with Index.open(path) as idx:
        with pytest.raises(IndexCorrupt, match=f"paragraph rows with content key {key & (2**64 - 1)}"):
            idx.check(texts[0])


def _handed_over(built):
    """``article-00`` removed after the bucket file was written: ``copy-00`` took its
    bands over (logged in ``heirs``), and only the log tells a reader so."""
    path, texts, probes = built
    with Index.open(path, auto_optimize=False) as idx:
        idx.remove("article-00")
        assert [m.doc_id for m in idx.check(probes[0]).matches] == ["copy-00"]
    assert _one(path, "SELECT COUNT(*) FROM heirs")[0] >= 1
    return path, probes


@pytest.mark.parametrize("edit, said", [
    ("DELETE FROM heirs WHERE seq = (SELECT MAX(seq) FROM heirs)", "table heirs\\) has no row"),
    ("DELETE FROM heirs WHERE seq = (SELECT MIN(seq) FROM heirs)", "table heirs\\) has no row 1"),
    ("UPDATE heirs SET id = id + 1 WHERE seq = 1", "stored heirs row 1 does not match its checksum"),
    ("UPDATE heirs SET level = CASE level WHEN 'paragraph' THEN 'document' ELSE 'paragraph' END WHERE seq = 1",
     "stored heirs row 1 does not"),
])
def test_a_damaged_heirs_log_is_damage(built, edit, said):
    path, probes = _handed_over(built)
    _edit(path, edit)
    with Index.open(path, auto_optimize=False) as idx:
        with pytest.raises(IndexCorrupt, match=said):
            idx.check(probes[0])  # was "new": copy-00's text was in no look-up


@pytest.mark.parametrize("edit", [
    "UPDATE meta SET value = '0' WHERE key = 'paragraph_floor'",
    "UPDATE meta SET value = '0' WHERE key = 'document_floor'",
    "UPDATE meta SET value = substr(value, 2) || '0' WHERE key = 'bucket_file'",
    "UPDATE meta SET value = '0' WHERE key = 'heirs'",
    "UPDATE meta SET value = '1' WHERE key = 'live_check'",
])
def test_changed_live_meta_rows_are_damage(built, edit):
    """A lowered floor let the next add reuse a removed row's id, which the bucket file
    still held with the removed row's signature bytes; a changed bucket file name read
    another file or none."""
    path, probes = _handed_over(built)
    _edit(path, edit)
    with Index.open(path, auto_optimize=False) as idx:
        with pytest.raises(IndexCorrupt, match="do not match their checksum \\(live_check\\)"):
            idx.check(probes[1])
            idx.add(probes[5] + "\n\n" + prose(random.Random(3), 60), "new-1")


def test_a_format_13_index_is_upgraded(built):
    """Format 13: ``meta`` a rowid table, no ``counts``, no ``heirs.row_check``, no
    ``heirs`` and ``live_check`` meta rows.  The upgrade adds them from the rows as
    they are, answers the same, and damage after it is detected."""
    path, probes = _handed_over(built)
    with Index.open(path) as idx:
        before = idx.check(probes[2])
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE counts")
        conn.execute("ALTER TABLE heirs DROP COLUMN row_check")
        conn.execute("DELETE FROM meta WHERE key IN ('heirs', 'live_check')")
        conn.execute("UPDATE meta SET value = '13' WHERE key = 'format_version'")
        conn.execute("CREATE TABLE meta13 (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta13 SELECT * FROM meta")
        conn.execute("DROP TABLE meta")
        conn.execute("ALTER TABLE meta13 RENAME TO meta")
    with Index.open(path) as idx:
        after = idx.check(probes[2])
    assert after.matches == before.matches and after.is_duplicate
    assert _one(path, "SELECT value FROM meta WHERE key = 'format_version'") == (str(FORMAT_VERSION),)
    assert "WITHOUT ROWID" in _one(path, "SELECT sql FROM sqlite_master WHERE name = 'meta'")[0]
    stored = _one(path, "SELECT COUNT(*) FROM paragraphs")[0]
    assert _one(path, "SELECT SUM(rows) FROM counts WHERE level = 0") == (stored,)
    _edit(path, "DELETE FROM heirs")
    with Index.open(path, auto_optimize=False) as idx:
        with pytest.raises(IndexCorrupt, match="table heirs\\) has no row 1"):
            idx.check(probes[0])


def test_counts_follow_adds_replacements_and_removals(built):
    """The counts kept by every write agree with the rows (and nothing here is damage)."""
    path, texts, probes = built
    with Index.open(path) as idx:
        idx.add(probes[7] + "\n\n" + prose(random.Random(9), 50), "extra")
        idx.remove("copy-00")
        idx.remove("article-05")
        idx.load([("article-06", texts[2])], replace=True)
        assert "article-06" in idx and "article-05" not in idx and idx.check(texts[0]).is_duplicate
    with closing(sqlite3.connect(path)) as conn:
        for level, sql in ((0, "SELECT key, COUNT(*) FROM paragraphs GROUP BY key"),
                           (1, "SELECT key, COUNT(*) FROM documents GROUP BY key")):
            assert dict(conn.execute("SELECT key, rows FROM counts WHERE level = ?", (level,))) == \
                dict(conn.execute(sql))
        assert conn.execute("SELECT SUM(rows), COUNT(*) FROM counts WHERE level = 2").fetchone() == \
            conn.execute("SELECT COUNT(*), COUNT(*) FROM documents").fetchone()


def test_rows_deleted_behind_the_index_are_damage(built):
    """Tester's U10: a document deleted with its paragraph rows by SQL (its bucket-file
    entries and counts left, no floor raised) made its near-copy read "partly seen" by
    another document instead of a duplicate of it, silently."""
    path, _, probes = built
    _edit(path, "DELETE FROM paragraphs WHERE doc = (SELECT id FROM documents WHERE doc_id = 'article-04')")
    _edit(path, "DELETE FROM documents WHERE doc_id = 'article-04'")
    with Index.open(path, auto_optimize=False) as idx:
        with pytest.raises(IndexCorrupt, match="missing, yet no (paragraph|document) row above 0 was ever removed"):
            idx.check(probes[4])
