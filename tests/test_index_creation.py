"""Creating an SQLite index is whole or nothing, and an empty file is handled as a user
expects (U9 of #12): an ``index add`` interrupted while it created the index left a
0-byte file that ``check`` and ``stats`` called "not a dedup index".  Each test failed on
the code before creation was atomic (the interrupted creation left the 0-byte file; an
empty file was taken over silently; an empty file beside a non-empty log was taken over
and SQLite deleted the log).
"""

from __future__ import annotations

import os
import random

import pytest
from click.testing import CliRunner
from textgen import prose

import dedup.storage.sqlite
from dedup.cli import main
from dedup.index import Index
from dedup.storage import IndexCorrupt, StorageError


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_interrupted_creation_leaves_no_file_and_the_next_add_creates_the_index(tmp_path, monkeypatch, when):
    """Interrupted before or after the schema is written: nothing is left under the
    index's name or beside it, and the next open creates the index."""
    real = dedup.storage.sqlite.create_schema

    def interrupted(*args, **kwargs):
        if when == "after":
            real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(dedup.storage.sqlite, "create_schema", interrupted)
    path = tmp_path / "i.dedup"
    with pytest.raises(KeyboardInterrupt):
        Index.open(path)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    with Index.open(path) as idx:
        idx.add(prose(random.Random(1), 50), "a")
    with Index.open(path, readonly=True) as idx:
        assert "a" in idx


def test_an_empty_file_is_refused_read_only_and_taken_over_with_a_warning(tmp_path):
    path = tmp_path / "i.dedup"
    path.touch()
    with pytest.raises(IndexCorrupt, match=r"i.dedup: is empty \(0 bytes\), not a dedup index yet.*"
                                           r"`dedup index add --db .*i.dedup \.\.\.` creates the index in it"):
        Index.open(path, readonly=True)
    assert path.stat().st_size == 0
    with pytest.warns(UserWarning, match=r"i.dedup: was empty \(0 bytes.*creating a new index in it"):
        idx = Index.open(path)
    with idx:
        idx.add(prose(random.Random(2), 50), "a")
    with Index.open(path, readonly=True) as idx:
        assert "a" in idx


def test_an_empty_file_beside_a_non_empty_log_is_never_written_over(tmp_path):
    """SQLite deletes the log of an empty database on open: the log may be all that is
    left of an index whose file was truncated."""
    path = tmp_path / "i.dedup"
    path.touch()
    wal = tmp_path / "i.dedup-wal"
    wal.write_bytes(b"\x37\x7f\x06\x82" + bytes(4092))
    for readonly in (True, False):
        with pytest.raises(IndexCorrupt, match="is empty but its write-ahead log i.dedup-wal holds 4,096 bytes"):
            Index.open(path, readonly=readonly)
    assert path.stat().st_size == 0 and wal.read_bytes()[:4] == b"\x37\x7f\x06\x82" and wal.stat().st_size == 4096


def test_the_cli_names_an_empty_file_and_index_add_creates_the_index_in_it(tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(prose(random.Random(3), 60), encoding="utf-8")
    db = tmp_path / "i.dedup"
    db.touch()
    stats = run("index", "stats", "--db", db)
    assert stats.exit_code == 2 and "is empty (0 bytes), not a dedup index yet" in stats.stderr
    checked = run("check", doc, "--db", db)
    assert checked.exit_code == 2 and "is empty (0 bytes)" in checked.stderr
    added = run("index", "add", doc, "--db", db)
    assert added.exit_code == 0 and "was empty (0 bytes" in added.stderr and "1 added" in added.stdout
    assert run("index", "stats", "--db", db).exit_code == 0


def _refused_records(path):
    """A JSON Lines file every record of which is read and then refused (an id longer than
    an id may be; an empty id is no longer refused: the record is named by its line)."""
    path.write_text('{"id": "%s", "text": "%s"}\n' % ("x" * 5000, prose(random.Random(4), 40)), encoding="utf-8")
    return path


@pytest.mark.parametrize("given", ["empty folder", "unreadable files", "refused records"])
def test_a_failed_add_removes_the_index_it_created_and_leaves_one_that_existed(tmp_path, given):
    """N5 of s19: an ``index add`` that stored nothing (an empty folder, every file
    unreadable, every record refused) left a new empty index file behind; an index that
    existed before keeps its documents and its files."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    if given == "unreadable files":
        (inputs / "a.bin").write_bytes(b"\x00\x01binary")
        (inputs / "b.txt").write_bytes(b"\xff\xfe\x00\x00\x00")
    elif given == "refused records":
        _refused_records(inputs / "r.jsonl")
    db = tmp_path / "i.dedup"
    added = run("index", "add", "--db", db, inputs)
    assert added.exit_code == 2
    assert sorted(os.listdir(tmp_path)) == ["in"], os.listdir(tmp_path)
    assert "i.dedup: removed the index this add created: it stored nothing" in added.stderr

    doc = tmp_path / "kept.txt"
    doc.write_text(prose(random.Random(5), 60), encoding="utf-8")
    assert run("index", "add", "--db", db, "--base", tmp_path, doc).exit_code == 0
    assert run("index", "add", "--db", db, inputs).exit_code == 2
    with Index.open(db, readonly=True) as idx:
        assert list(idx.ids()) == [doc.name]


def test_a_new_index_another_process_has_open_is_never_removed(tmp_path):
    """The removal cannot take away an index another writer has open, nor one holding a
    document."""
    db = tmp_path / "i.dedup"
    first = Index.open(db)
    other = Index.open(db)
    assert not first.discard()
    other.close()
    assert first.discard()
    first.close()
    assert not db.exists()
    with Index.open(db) as idx:
        idx.add(prose(random.Random(6), 50), "a")
        assert not idx.discard()
    with Index.open(db, readonly=True) as idx:
        assert list(idx.ids()) == ["a"]


def test_a_write_to_an_index_file_removed_meanwhile_says_so(tmp_path):
    """What a process that opened the new index just before its creator removed it is
    told on its first write (it said "read-only", naming the database)."""
    db = tmp_path / "i.dedup"
    idx = Index.open(db)
    idx._store._conn.execute("PRAGMA journal_mode = DELETE")  # as Index.discard leaves it
    os.unlink(db)
    with idx, pytest.raises(StorageError, match="its file was removed or replaced while this process had it open"):
        idx.add(prose(random.Random(7), 50), "a")


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a 600 KiB tmpfs (a full disk for real: SQLite's own ENOSPC path);
    skipped where tmpfs cannot be mounted (not root, no CAP_SYS_ADMIN)."""
    import subprocess

    folder = tmp_path / "disk"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(folder)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_an_add_that_created_the_index_and_filled_the_disk_removes_it(tmp_path, small_disk):
    """F10 of #12: a new index whose first batch met a full disk stayed behind (leaving WAL
    mode to remove it failed: "database or disk is full"), while a Ctrl-C at the same
    moment removed it.  Now any failure of an add that stored nothing removes what it
    created, and the disk is as it was."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = random.Random(8)
    for i in range(300):
        (inputs / f"a{i:03d}.txt").write_text("\n\n".join(prose(rng, 80) for _ in range(5)), encoding="utf-8")
    added = run("index", "add", "--db", small_disk / "i.dedup", inputs, "-q")
    assert added.exit_code == 2
    assert "disk full" in added.stderr, added.stderr
    assert "i.dedup: removed the index this add created: it stored nothing" in added.stderr, added.stderr
    assert os.listdir(small_disk) == []
