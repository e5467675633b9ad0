"""A damaged root page of any of the SQLite index's B-trees is reported when the index
is opened (:mod:`dedup.storage.sqlite.edges`), by every command: ``dedup index list``
and the "already indexed" of ``dedup check`` exited 0 on such a file (new user N19 of
session 18: 4,000 bytes overwritten at offset 20,000), since neither goes through
``documents_key`` or ``documents_added``.  Each test fails on that code.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from contextlib import closing

import pytest
from click.testing import CliRunner
from textgen import prose

from dedup.cli import main
from dedup.index import Index
from dedup.storage import IndexCorrupt
from dedup.storage.sqlite.edges import EDGES

BTREES = sorted({btree for btree, _ in EDGES})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``(db, folder)``: an index of three files (ids = file names), its log folded in."""
    rng = random.Random(4)
    folder = tmp_path_factory.mktemp("roots")
    names = ["a.txt", "b.txt", "c.txt"]
    for name in names:
        (folder / name).write_text(prose(rng, 50) + "\n\n" + prose(rng, 50) + "\n", encoding="utf-8")
    db = folder / "i.dedup"
    res = CliRunner().invoke(main, ["index", "add", *(str(folder / n) for n in names), "--db", str(db),
                                    "--base", str(folder), "-q", "-j", "1"])
    assert res.exit_code == 0, res.output
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db, folder


def _roots(db) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as conn:
        return dict(conn.execute("SELECT name, rootpage FROM sqlite_master WHERE rootpage > 0"))


def test_every_btree_is_entered(built):
    db, _ = built
    assert set(_roots(db)) == {*BTREES, "meta"}  # (meta is read whole on every open)


@pytest.mark.parametrize("btree", BTREES)
def test_a_damaged_root_page_is_reported_on_open(built, tmp_path, btree):
    db, folder = built
    copy = tmp_path / "i.dedup"
    shutil.copyfile(db, copy)
    with closing(sqlite3.connect(copy)) as conn:
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    data = bytearray(copy.read_bytes())
    at = (_roots(copy)[btree] - 1) * size
    data[at : at + 8] = b"\xff" * 8  # the page header: type, free blocks, cell count
    copy.write_bytes(data)
    said = f"the index is damaged: a page of SQLite's B-tree {btree} is malformed"
    for command in (["index", "list"], ["check", folder / "a.txt", "--base", folder, "-j", "1"]):
        res = CliRunner().invoke(main, [*map(str, command), "--db", str(copy)])
        assert res.exit_code == 2 and said in res.stderr and "Traceback" not in res.output, (command, res.output)
    with pytest.raises(IndexCorrupt, match=said):
        Index.open(copy, readonly=True)
