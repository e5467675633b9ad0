"""Look-ups by document id verify the row they answer from (#12; new user N4 of session
19): ``in``, ``get``, ``holds``, ``remove``, the "already indexed" of ``check`` and
``add``, and ``dedup check`` / ``dedup index add`` (exit 2 naming the index).

Before: SQLite read ``doc_id`` from its index on ids (a column an index it searched
holds is read from the index), so a documents row whose own id bytes were damaged
verified against the intact copy -- ``in`` True, ``get`` the row, ``dedup check`` "already
indexed: same id, same text", exit 0 -- while ``dedup index list``, which reads the row,
said it was damaged.  And "already indexed: same id, same text" was said of a stored text
that no longer matched its checksum.  Each test fails on that code.
"""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing

import pytest
from click.testing import CliRunner
from textgen import prose

from dedup.cli import main
from dedup.index import Index
from dedup.storage import IndexCorrupt

IDS = ["p001.txt", "p002.txt", "p003.txt"]


@pytest.fixture
def built(tmp_path):
    """``(db, folder)``: an index of three files added by the CLI (ids = file names)."""
    rng = random.Random(3)
    folder = tmp_path / "src"
    folder.mkdir()
    for name in IDS:
        (folder / name).write_text(prose(rng, 60) + "\n\n" + prose(rng, 60) + "\n", encoding="utf-8")
    db = tmp_path / "i.dedup"
    res = CliRunner().invoke(main, ["index", "add", str(folder), "--db", str(db), "--base", str(folder), "-q", "-j", "1"])
    assert res.exit_code == 0, res.output
    return db, folder


def _damage_row_id(db, old: str, new: str) -> None:
    """Change the id ``old`` to ``new`` (as long) in its documents row only -- the copy
    in SQLite's index on ids (its root page, a leaf in this small file) left alone, as a
    flipped byte on disk would."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_documents_1'"
                               ).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    data = bytearray(db.read_bytes())
    index_page = range((root - 1) * size, root * size)
    places = [i for i in range(len(data)) if data.startswith(old.encode(), i) and i not in index_page]
    assert len(places) == 1, places
    data[places[0] : places[0] + len(old)] = new.encode()
    db.write_bytes(data)
    with closing(sqlite3.connect(db)) as conn:  # the index on ids still finds the row by its old id
        assert conn.execute("SELECT id FROM documents WHERE doc_id = ?", (old,)).fetchone() is not None


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _says_damaged(res, db) -> None:
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert f"{db.name}: the index is damaged: stored document row" in res.stderr, res.stderr
    assert "does not match its checksum" in res.stderr and "Traceback" not in res.output


def test_an_id_damaged_in_its_row_is_never_answered_from(built):
    db, folder = built
    _damage_row_id(db, "p002.txt", "q002.txt")
    text = (folder / "p002.txt").read_text(encoding="utf-8")
    with Index.open(db) as idx:
        for ask in (lambda: "p002.txt" in idx, lambda: idx.get("p002.txt"), lambda: idx.holds([{"id": "p002.txt"}]),
                    lambda: idx.holds([{"id": "p002.txt", "text": text}], texts=True),
                    lambda: idx.check(text, "p002.txt"), lambda: idx.add(text, "p002.txt"),
                    lambda: idx.remove("p002.txt")):
            with pytest.raises(IndexCorrupt, match="stored document row .* does not match its checksum"):
                ask()
        assert "p001.txt" in idx and idx.get("p003.txt").text == (folder / "p003.txt").read_text(encoding="utf-8")
        assert "q002.txt" not in idx


def test_the_cli_exits_2_on_an_id_damaged_in_its_row(built):
    db, folder = built
    _damage_row_id(db, "p002.txt", "q002.txt")
    for command in (["check"], ["index", "add"]):
        _says_damaged(_cli(*command, folder / "p002.txt", "--db", db, "--base", folder, "-j", "1"), db)
    _says_damaged(_cli("index", "list", "--db", db), db)
    _says_damaged(_cli("index", "export", "--db", db), db)


def test_already_indexed_is_not_said_of_a_damaged_stored_text(built):
    """The digest matches, but the stored text does not match its checksum: not "same
    text" -- the index no longer holds it."""
    db, folder = built
    with closing(sqlite3.connect(db)) as conn, conn:
        (text,) = conn.execute("SELECT text FROM documents WHERE doc_id = 'p002.txt'").fetchone()
        conn.execute("UPDATE documents SET text = ? WHERE doc_id = 'p002.txt'", (text.replace(" ", "_", 1),))
    for command in (["check"], ["index", "add"]):
        res = _cli(*command, folder / "p002.txt", "--db", db, "--base", folder, "-j", "1")
        assert res.exit_code == 2 and "stored document text row" in res.stderr, res.output
    read = {name: (folder / name).read_text(encoding="utf-8") for name in IDS}
    with Index.open(db) as idx:
        for ask in (lambda: idx.check_many([("p002.txt", read["p002.txt"])], indexed=True),
                    lambda: idx.add(read["p002.txt"], "p002.txt"), lambda: idx.get("p002.txt")):
            with pytest.raises(IndexCorrupt, match="stored document text row .* does not match its checksum"):
                ask()
        assert idx.check_many([("p001.txt", read["p001.txt"])], indexed=True)[0].already_indexed
