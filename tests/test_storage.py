"""The SQLite backend: what is on disk, and clear errors that never damage the index."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
import time

import pytest
from textgen import prose

from dedup.index import Index
from dedup.storage import IndexBusy, IndexCorrupt, IndexFull, IndexReadOnly, SettingsMismatch, StorageError
from dedup.storage.sqlite.schema import FORMAT_VERSION


def article(rng: random.Random, paragraphs: int = 5) -> str:
    return "\n\n".join(prose(rng, rng.randint(40, 80)) for _ in range(paragraphs))


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def idx_first_id(path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT doc_id FROM documents ORDER BY id LIMIT 1").fetchone()[0]


def integrity(path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture
def built(tmp_path, rng):
    """An index file holding three articles (closed), and their texts."""
    path = tmp_path / "articles.dedup"
    texts = [article(rng) for _ in range(3)]
    with Index.open(path) as idx:
        for i, t in enumerate(texts):
            idx.add(t, doc_id=f"a{i}")
    return path, texts


def test_rows_are_packed_integers_and_plain_columns_not_pickles(built):
    path, texts = built
    with closing(sqlite3.connect(path)) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        assert meta["format"] == "dedup-index" and '"scheme": "affine32"' in meta["settings"]
        for sig, shingles in conn.execute("SELECT signature, shingles FROM paragraphs"):
            assert len(sig) == 256 * 4 and len(shingles) % 8 == 0 and not sig.startswith(b"\x80")
        doc_ids = [r[0] for r in conn.execute("SELECT doc_id FROM documents ORDER BY id")]
        assert doc_ids == ["a0", "a1", "a2"]
        paragraphs = conn.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0]
        banded = conn.execute("SELECT COUNT(*) FROM paragraphs WHERE banded = 1").fetchone()[0]
    assert paragraphs == banded == 15
    assert integrity(path) == "ok"


@pytest.mark.parametrize("content", [b"just some text, not a database\n" * 40, os.urandom(8192)])
def test_a_foreign_file_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(IndexCorrupt, match="notes.txt: not a dedup index"):
        Index.open(path)
    assert path.read_bytes() == content


def test_another_programs_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = digest(path)
    with pytest.raises(IndexCorrupt, match="app.db: is an SQLite database but not a dedup index"):
        Index.open(path)
    assert digest(path) == before


def test_a_damaged_index_is_reported(built):
    path, texts = built
    data = bytearray(path.read_bytes())
    data[4096:8192] = os.urandom(4096)  # smash a page
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="articles.dedup: not a dedup index, or a damaged one"):
        with Index.open(path) as idx:
            for text in texts:
                idx.check(text)


def test_folders_and_missing_places_give_clear_errors(tmp_path):
    with pytest.raises(StorageError, match="is a folder"):
        Index.open(tmp_path)
    with pytest.raises(StorageError, match="cannot create the index: folder .*/no/such/folder does not exist"):
        Index.open(tmp_path / "no" / "such" / "folder" / "i.dedup")
    (tmp_path / "file").write_text("x")  # it said "folder .../file does not exist" (tester, s23)
    with pytest.raises(StorageError, match="cannot create the index: .*/file is not a folder"):
        Index.open(tmp_path / "file" / "i.dedup")
    with pytest.raises(StorageError, match="no such index"):
        Index.open(tmp_path / "missing.dedup", create=False)
    os.symlink("loop", tmp_path / "loop")  # an add said "check that the folder exists and is writable"
    for create in (True, False):
        with pytest.raises(StorageError, match="loop: is a loop of symbolic links, not an index file"):
            Index.open(tmp_path / "loop", create=create)
    os.symlink("nowhere", tmp_path / "dangling")
    with pytest.raises(StorageError, match="dangling: no such index: it is a symbolic link to nowhere, which"):
        Index.open(tmp_path / "dangling", create=False)
    for create in (True, False):  # it was "is a folder, not an index file" (the current folder)
        with pytest.raises(StorageError, match="the index's path is empty"):
            Index.open("", create=create)


def test_read_only_index_answers_checks_but_refuses_adds(built, rng):
    path, texts = built
    before = digest(path)
    with Index.open(path, readonly=True) as idx:
        assert idx.check(texts[0]).is_duplicate and len(idx) == 3
        with pytest.raises(IndexReadOnly, match="opened read-only"):
            idx.add(article(rng), doc_id="new")
        with pytest.raises(IndexReadOnly):
            idx.remove("a0")
    assert digest(path) == before


def test_a_read_only_open_reads_the_table_list_once(built, monkeypatch):
    """A read-only open looks at the file's tables on a ``mode=ro`` connection (a foreign
    database is never opened read-write) and uses that look: before, the query-only
    connection read the table list again straight after (note of session 17)."""
    import dedup.storage.sqlite as opening

    path, texts = built
    statements: list[str] = []
    real = sqlite3.connect

    def traced(*args, **kwargs):
        conn = real(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(opening.sqlite3, "connect", traced)
    with Index.open(path, readonly=True) as idx:
        assert idx.check(texts[0]).is_duplicate
    assert sum("sqlite_master" in sql for sql in statements) == 1, statements


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_gives_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StorageError, match="cannot"):
            Index.open(folder / "i.dedup")
    finally:
        folder.chmod(0o755)


def test_a_locked_index_waits_a_bounded_time_then_says_so(built, rng):
    path, texts = built
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is in the middle of a write
    try:
        with Index.open(path, busy_timeout=0.3) as idx:
            assert idx.check(texts[1]).is_duplicate  # readers are not blocked (WAL)
            start = time.monotonic()
            with pytest.raises(IndexBusy, match="locked by another process for more than 0.3 s"):
                idx.add(article(rng), doc_id="late")
            assert time.monotonic() - start < 5
            holder.execute("COMMIT")
            assert idx.add(article(rng), doc_id="late").added  # and it recovers
    finally:
        holder.close()
    assert integrity(path) == "ok"


_FULL_DISK = textwrap.dedent(
    """
    import random, resource, signal, sys
    sys.path.insert(0, sys.argv[3])
    from textgen import prose
    from dedup.index import Index
    from dedup.storage import StorageError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write returns EFBIG instead
    idx = Index.open(sys.argv[1])
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    rng = random.Random(5)
    try:
        for i in range(200):
            idx.add("\\n\\n".join(prose(rng, 80) for _ in range(60)), doc_id=f"big{i}")
    except StorageError as err:
        print("ERROR", err)
        sys.exit(3)
    print("no error")
    """
)


def test_a_full_disk_is_a_clear_error_and_the_index_survives(built, rng):
    path, texts = built
    size = path.stat().st_size
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(path), str(size + 600_000), os.path.dirname(__file__)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "articles.dedup" in proc.stdout and "nothing of this change was stored" in proc.stdout
    assert integrity(path) == "ok"
    with Index.open(path) as idx:
        assert {"a0", "a1", "a2"} <= {d for d in ("a0", "a1", "a2") if d in idx}
        assert idx.check(texts[2]).is_duplicate
        stored = len(idx)
        for i in range(stored - 3):  # whatever was added before the limit is whole
            doc = idx.get(f"big{i}")
            assert doc is not None and len(doc.paragraphs) == 60
        assert idx.add(article(rng), doc_id="after").added


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs of its own (root only): real read-only and real full-disk cases."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("needs root and mount for a tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_index_on_a_read_only_filesystem_answers_checks_and_refuses_writes(tmpfs, rng):
    path = tmpfs / "i.dedup"
    text = article(rng)
    with Index.open(path) as idx:
        idx.add(text, doc_id="a")
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with Index.open(path, readonly=True) as idx:
        assert idx.check(text).is_duplicate and len(idx) == 1
    with pytest.raises(IndexReadOnly, match="folder is read-only, so the index can only be opened read-only"):
        Index.open(path)
    with pytest.raises(IndexReadOnly, match="cannot create the index: folder .* is not writable"):
        Index.open(tmpfs / "new.dedup")


def test_a_really_full_disk_is_a_clear_error_and_the_index_survives(tmpfs, rng):
    path = tmpfs / "i.dedup"
    added = []
    with Index.open(path) as idx:
        with pytest.raises(IndexFull, match="i.dedup: cannot write to the index: .*nothing of this change was stored"):
            for i in range(400):
                idx.add(article(rng, 8), doc_id=f"d{i}")
                added.append(f"d{i}")
        assert len(added) > 3 and len(idx) == len(added)
        assert idx.check(idx.get(added[-1]).text).similarity == 1.0
    assert integrity(path) == "ok"
    with Index.open(path) as idx:
        assert all(d in idx for d in added) and len(idx) == len(added)
        assert idx.check(idx.get(added[0]).text).similarity == 1.0


def test_an_index_signed_by_another_pipeline_is_refused(built):
    path, _ = built
    from dedup.storage.sqlite.schema import meta_check

    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE meta SET value = 'from-an-older-dedup' WHERE key = 'pipeline'")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())  # written so, not damaged
        conn.execute("UPDATE meta SET value = ? WHERE key = 'meta_check'", (meta_check(meta),))
    with pytest.raises(SettingsMismatch, match="signs or bands text differently"):
        Index.open(path)


def test_the_upgrade_advice_names_a_command_that_upgrades(built, monkeypatch):
    """Tester's T8: a read-only open of an older format advised `dedup index stats`,
    which opens read-only too and repeated the refusal.  The advised command, run as
    written, upgrades the index, and the next read-only command works."""
    import shlex

    from click.testing import CliRunner

    from dedup.cli import main

    path, texts = built
    monkeypatch.chdir(path.parent)
    with closing(sqlite3.connect(path)) as conn, conn:  # format 9: other checksums, none on tallies
        conn.execute("UPDATE documents SET row_check = 0")
        conn.execute("ALTER TABLE tallies DROP COLUMN sum_check")
        conn.execute("UPDATE meta SET value = '9' WHERE key = 'format_version'")
    (path.parent / "probe.txt").write_text(texts[0], encoding="utf-8")
    refused = CliRunner().invoke(main, ["check", "probe.txt", "--db", str(path)])
    assert refused.exit_code == 2 and "needs a one-time upgrade" in refused.output, refused.output
    advised = refused.output.split("open it once writable: `")[1].split("`")[0]
    assert advised.startswith("dedup index ")
    assert CliRunner().invoke(main, shlex.split(advised)[1:]).exit_code == 0
    stats = CliRunner().invoke(main, ["index", "stats", "--db", str(path)])
    assert stats.exit_code == 0 and "one-time upgrade" not in stats.output, stats.output
    checked = CliRunner().invoke(main, ["check", "probe.txt", "--db", str(path)])
    assert checked.exit_code == 1 and "duplicate" in checked.output  # the stored text, found again


def test_an_index_of_a_newer_format_says_upgrade_dedup(built):
    """Tester's T8: a format newer than this dedup reads is not damage and not a case
    for a rebuild: a newer dedup wrote it."""
    path, _ = built
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    for readonly in (True, False):
        with pytest.raises(SettingsMismatch, match=r"version 99, written by a newer dedup .*; upgrade dedup"):
            Index.open(path, readonly=readonly)


def _as_older(path, version: str) -> None:
    """Turn the index file ``path`` into one as format ``version`` wrote it."""
    with closing(sqlite3.connect(path)) as conn, conn:
        if version in ("1", "2", "3"):  # no heirs and no id meta rows yet
            conn.execute("DROP TABLE heirs")
            conn.execute("DELETE FROM meta WHERE key IN ('uid', 'paragraph_floor', 'document_floor')")
        # Tables older formats had: buckets (up to 4), sketches (2-5; their content is
        # irrelevant, the upgrade drops them).
        old_tables = {"1": ["buckets"], "2": ["buckets", "sketches"], "3": ["buckets", "sketches"],
                      "4": ["buckets", "sketches"], "5": ["sketches"], "6": [], "7": [], "8": [], "9": [], "10": []}[version]
        conn.execute("ALTER TABLE documents DROP COLUMN text_check")  # up to 10: texts not checksummed
        if version in ("9", "10"):  # checksums of another definition (9: documents' without the time
            # added; 10: both without banded, word and paragraph counts, digest, metadata)
            conn.execute("UPDATE documents SET row_check = 0, sig_check = 0")
            conn.execute("UPDATE paragraphs SET row_check = 0, sig_check = 0")
        else:
            for table in ("documents", "paragraphs"):  # up to 8: no row checksums
                for column in ("sig_check", "row_check"):
                    conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        if version != "10":
            conn.execute("ALTER TABLE tallies DROP COLUMN sum_check")  # up to 9: no tally checksums
        if version not in ("7", "8", "9", "10"):
            conn.execute("DROP INDEX documents_added")  # up to 6: no digest, no index on added
            conn.execute("ALTER TABLE documents DROP COLUMN digest")
        if version not in ("8", "9", "10"):
            conn.execute("DROP TABLE tallies")  # up to 7: no boilerplate tallies
            conn.execute("DELETE FROM meta WHERE key = 'judged'")
        for kind in old_tables:
            for level in ("paragraph", "document"):
                conn.execute(f"CREATE TABLE {level}_{kind} (a INTEGER PRIMARY KEY, b BLOB)")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (version,))


@pytest.mark.parametrize("version", ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"])
def test_an_older_index_is_upgraded_when_opened_writable(built, rng, version):
    path, texts = built
    probe = texts[1].split("\n\n")[2] + "\n\n" + article(rng, 2)
    with Index.open(path) as idx:
        before = idx.check(probe)
    _as_older(path, version)
    with pytest.raises(IndexReadOnly, match=f"format version {version} needs a one-time upgrade"):
        Index.open(path, readonly=True)
    with Index.open(path) as idx:
        after = idx.check(probe)
        idx.remove(idx_first_id(path))  # a removal after the upgrade works (logs heirs, floors)
    assert after.seen == before.seen == (0,) and after.matches == before.matches
    with closing(sqlite3.connect(path)) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        assert meta["format_version"] == str(FORMAT_VERSION) and len(meta["uid"]) == 32
        assert int(meta["document_floor"]) >= 1
        assert version in ("8", "9", "10") or meta["judged"] == "0"  # the tallies start with the upgrade
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"meta", "documents", "paragraphs", "heirs", "tallies", "counts"}
    assert integrity(path) == "ok"


def test_check_judges_a_changed_text_under_an_id_stored_without_a_digest(built, tmp_path):
    """Review R8 (session 17): rows added before digests were kept have none (NULL), and
    ``dedup check`` took every such id for "already indexed" whatever its text now."""
    from click.testing import CliRunner

    from dedup.cli import main

    path, texts = built
    _as_older(path, "6")  # no digest column: the upgrade adds it, NULL for these rows
    Index.open(path).close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM documents WHERE digest IS NULL").fetchone() == (3,)
    for name, text in (("same", texts[0]), ("changed", texts[0] + "\n\nA closing paragraph on the harbour bridge.")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a0").write_text(text)  # the stored id a0
        res = CliRunner().invoke(main, ["check", str(tmp_path / name / "a0"), "--db", str(path),
                                        "--base", str(tmp_path / name), "--format", "json"], catch_exceptions=False)
        [verdict] = json.loads(res.stdout)["verdicts"]
        if name == "same":
            assert res.exit_code == 0 and verdict["verdict"] == "already indexed"
        else:  # judged: a duplicate of its own old version, not skipped
            assert res.exit_code == 1 and verdict["verdict"] == "duplicate" and verdict["matches"][0]["id"] == "a0"
