"""Damage is detected, never answered from: a bucket file with flipped bytes or zeroed
arrays, a database whose write-ahead log was lost, and the messages that name what is
wrong.  Each test failed on the code before page checksums (IndexError/ValueError
tracebacks, 75 of 100 near-copies answered "new") or before the open refused a
non-empty file that holds no index.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import time
import warnings

import pytest
from textgen import prose, rewrite

import dedup.storage.sqlite.buckets
import dedup.storage.sqlite.upkeep
from dedup.index import Index
from dedup.storage import IndexBusy, IndexCorrupt, IndexFull, IndexReadOnly, StorageError
from dedup.storage.sqlite.errors import translate
from dedup.storage.bucketfile import PAGE, BucketFileDamaged

ARTICLES = 100


def article(rng: random.Random, paragraphs: int = 5) -> str:
    return "\n\n".join(prose(rng, rng.randint(40, 70)) for _ in range(paragraphs))


def file_of(idx: Index) -> str:
    return idx.stats()["bucket_file"]["path"]


def answers(idx: Index, probes: list[str]) -> list[tuple[bool, tuple]]:
    return [(v.is_duplicate, tuple(sorted(m.doc_id for m in v.matches))) for v in idx.check_many(probes)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """An index of 100 articles with a bucket file, 100 near-copies and their answers."""
    rng = random.Random(12)
    folder = tmp_path_factory.mktemp("damage")
    texts = [article(rng) for _ in range(ARTICLES)]
    probes = ["\n\n".join(rewrite(rng, p, 0.05) for p in t.split("\n\n")) for t in texts]
    with Index.open(folder / "i.dedup", auto_optimize=False) as idx:
        idx.load([(f"d{i}", t) for i, t in enumerate(texts)])
        idx.optimize()
        expected = answers(idx, probes)
        lsh = file_of(idx)
    assert sum(dup for dup, _ in expected) == ARTICLES
    return folder, os.path.basename(lsh), probes, expected


def _copy(built, tmp_path):
    folder, lsh, probes, expected = built
    for name in os.listdir(folder):
        shutil.copy(folder / name, tmp_path / name)
    return tmp_path / "i.dedup", tmp_path / lsh, probes, expected


def _header(path) -> dict:
    data = open(path, "rb").read()
    size = int.from_bytes(data[8:16], "little")
    return json.loads(data[16 : 16 + size])


def _damage(lsh, how: str, rng: random.Random) -> None:
    header = _header(lsh)
    data = bytearray(open(lsh, "rb").read())
    if how == "flipped bytes":
        start = header["pages_from"]
        for at in rng.sample(range(start, len(data)), 200):
            data[at] ^= 1 << rng.randrange(8)
    else:
        array = {"zeroed keys": "keys", "zeroed refs": "refs", "zeroed sketches": "sketches",
                 "zeroed signature bytes": "lows"}[how]
        for level in ("paragraph", "document"):  # (zeroed keys: 0 of 100 found before checksums)
            offset, nbytes = header["levels"][level][array]
            data[offset : offset + nbytes] = bytes(nbytes)
    assert len(data) == os.path.getsize(lsh)  # size unchanged
    open(lsh, "wb").write(data)


@pytest.mark.parametrize("how", ["flipped bytes", "zeroed keys", "zeroed refs", "zeroed sketches",
                                 "zeroed signature bytes"])
def test_a_damaged_bucket_file_is_detected_and_the_database_answers(built, tmp_path, how):
    path, lsh, probes, expected = _copy(built, tmp_path)
    _damage(lsh, how, random.Random(how))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Index.open(path, auto_optimize=False) as idx:
            assert answers(idx, probes) == expected  # all 100 near-copies still found
    assert any("answering from the database" in str(w.message) for w in caught), how
    with Index.open(path) as idx:
        idx.optimize()  # a new file, written from the database, not from the damaged one
        assert idx.stats()["bucket_file"]["in_use"] and file_of(idx) != str(lsh)
        assert answers(idx, probes) == expected


def test_the_checksums_cover_every_page_of_the_arrays(built, tmp_path):
    """One flipped bit anywhere in the arrays is caught by the page that holds it."""
    path, lsh, probes, expected = _copy(built, tmp_path)
    header = _header(lsh)
    good = open(lsh, "rb").read()
    rng = random.Random(3)
    start, sums_at = header["pages_from"], header["page_sums"][0]
    for page in rng.sample(range((sums_at - start) // PAGE), 8):
        at = start + page * PAGE + rng.randrange(PAGE)
        data = bytearray(good)
        data[at] ^= 1 << rng.randrange(8)
        open(lsh, "wb").write(data)
        with Index.open(path, auto_optimize=False) as idx:
            with pytest.raises(BucketFileDamaged, match=f"page {page} of its arrays does not verify"):
                idx._store._bucket_view().file.verify_all()


def _header_only(path) -> None:
    """A database file as a lost write-ahead log leaves it when the schema was only in
    the log (how dedup created indexes before): SQLite's header page, no tables."""
    keep = sqlite3.connect(str(path) + ".tmp", isolation_level=None)
    keep.execute("PRAGMA journal_mode = WAL")
    keep.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    shutil.copy(str(path) + ".tmp", path)  # without its -wal
    keep.close()


def test_a_non_empty_file_without_an_index_is_refused_never_overwritten(tmp_path):
    lost = tmp_path / "lost.dedup"
    _header_only(lost)
    before = lost.read_bytes()
    assert len(before) > 0
    for readonly in (True, False):
        with pytest.raises(IndexCorrupt, match="is not empty but holds no dedup index.*lost.dedup-wal was lost"):
            Index.open(lost, readonly=readonly)
    assert lost.read_bytes() == before  # nothing written over it
    assert not os.path.exists(str(lost) + "-wal")


def test_a_new_index_commits_its_schema_to_the_file_itself(tmp_path, rng):
    """So a database file without its log is still recognised as an index (what was
    only in the log is lost, as SQLite says), and a non-empty file without tables is
    never one that dedup was creating."""
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        idx.add(article(rng), "a")
        shutil.copy(path, tmp_path / "copy.dedup")
    with Index.open(tmp_path / "copy.dedup", readonly=True) as copy:
        assert copy.settings == idx.settings


def test_a_deleted_write_ahead_log_is_named_not_called_a_full_disk(tmp_path, rng):
    path = tmp_path / "i.dedup"
    with Index.open(path) as first:
        first.add(article(rng), "a")
        os.unlink(str(path) + "-wal")
        first.add(article(rng), "b")  # still writes to the deleted log it holds open
        with pytest.raises(StorageError) as caught:
            Index.open(path)
    assert "disk full" not in str(caught.value) and not isinstance(caught.value, IndexFull)
    assert f"was {path}-wal deleted or truncated while the index was in use" in str(caught.value)


def test_a_busy_error_says_how_long_it_waited(tmp_path, rng, monkeypatch):
    """The automatic optimize waits 1 s to name its file; it said "more than 30 s"."""
    path = tmp_path / "i.dedup"
    with Index.open(path, auto_optimize=False) as idx:
        idx.add(article(rng), "a")
        blocker = sqlite3.connect(path, isolation_level=None)
        real = dedup.storage.sqlite.upkeep.write_bucket_file

        def written_then_locked(*args, **kwargs):
            out = real(*args, **kwargs)
            blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock now
            return out

        monkeypatch.setattr(dedup.storage.sqlite.upkeep, "write_bucket_file", written_then_locked)
        started = time.monotonic()
        with pytest.raises(IndexBusy, match="locked by another process for more than 1 s"):
            idx._store.optimize(when=lambda covered, behind: True)
        assert time.monotonic() - started < 10
        blocker.execute("ROLLBACK")
        blocker.close()


def test_a_read_only_shm_file_is_named_as_the_cause(tmp_path, monkeypatch):
    path = str(tmp_path / "i.dedup")
    for name in (path, path + "-wal", path + "-shm"):
        open(name, "wb").close()
    writable = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: writable(p, mode) and not str(p).endswith("-shm"))
    err = translate(sqlite3.OperationalError("attempt to write a readonly database"), path, "write to")
    assert isinstance(err, IndexReadOnly)
    assert f"{path}-shm is read-only for this user" in str(err) and f"{path} is" not in str(err)


def test_the_cli_says_a_damaged_bucket_file_in_one_warning_line(built, tmp_path):
    """Tester's D9 (seen before library warnings went through the CLI's handler): the
    damaged-file warning reached the terminal as Python's ``file:line: UserWarning``
    text.  It is one ``dedup: warning:`` line, and the answer is the database's."""
    import subprocess
    import sys

    path, lsh, probes, expected = _copy(built, tmp_path)
    _damage(lsh, "zeroed keys", random.Random(5))
    probe = tmp_path / "probe.txt"
    probe.write_text(probes[0])
    res = subprocess.run([sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())",
                          "check", "--db", str(path), str(probe), "--format", "json"], capture_output=True, text=True)
    assert res.returncode == 1  # the near-copy is found (from the database)
    warned = [line for line in res.stderr.splitlines() if "bucket file" in line]
    assert len(warned) == 1 and warned[0].startswith(f"dedup: warning: {lsh}: "), res.stderr
    assert "UserWarning" not in res.stderr and ".py:" not in res.stderr


@pytest.mark.parametrize("quiet", [False, True])
def test_a_library_warning_reaches_the_report_with_or_without_quiet(built, tmp_path, quiet):
    """Tester's finding (session 14): under ``-q`` the damaged bucket file's warning was
    neither on the terminal nor in the JSON report's ``warnings`` (which no library
    warning ever reached).  ``-q`` silences the terminal -- one line counts the
    warnings -- never the report; without ``-q`` the warning is said once, not twice."""
    import subprocess
    import sys

    path, lsh, probes, expected = _copy(built, tmp_path)
    _damage(lsh, "zeroed keys", random.Random(5))
    probe = tmp_path / "probe.txt"
    probe.write_text(probes[0])
    res = subprocess.run([sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())",
                          "check", "--db", str(path), str(probe), "--format", "json", *(["-q"] if quiet else [])],
                         capture_output=True, text=True)
    assert res.returncode == 1, res.stderr
    warned = json.loads(res.stdout)["warnings"]
    assert len(warned) == 1 and warned[0]["path"] == str(path), warned
    assert warned[0]["warning"].startswith(f"{lsh}: ") and "answering from the database" in warned[0]["warning"]
    lines = [line for line in res.stderr.splitlines() if "warning" in line]
    if quiet:
        assert lines == ["dedup: 1 warning (listed in the report)"], res.stderr
    else:
        assert lines == [f"dedup: warning: {warned[0]['warning']}"], res.stderr


@pytest.mark.parametrize("command", [["index", "list"], ["index", "export"], ["index", "stats"]])
def test_index_commands_take_quiet_and_verbose_as_every_command_does(built, tmp_path, command):
    """s23 audit of #12: ``index list`` and ``index export`` refused ``-q`` (and every
    index command but ``add`` refused ``-q`` and ``-v``), which ``scan``, ``check``,
    ``clean`` and ``index add`` take.  Without a report to keep the damaged bucket
    file's warning in, ``-q`` still counts it on stderr."""
    from click.testing import CliRunner

    from dedup.cli import main

    path, lsh, _, _ = _copy(built, tmp_path)
    _damage(lsh, "zeroed keys", random.Random(5))
    said = {flag: CliRunner().invoke(main, [*command, "--db", str(path), flag]) for flag in ("-q", "-v")}
    plain = CliRunner().invoke(main, [*command, "--db", str(path)])
    assert all(res.exit_code == 0 and res.stdout == plain.stdout for res in said.values()), said
    warned = [line for line in plain.stderr.splitlines() if line.startswith("dedup: warning: ")]
    assert len(warned) == 1 and lsh.name in warned[0], plain.stderr
    assert said["-q"].stderr == "dedup: 1 warning (said without -q)\n", said["-q"].stderr
    assert warned[0] in said["-v"].stderr and said["-v"].stderr.splitlines()[-1].endswith(" s"), said["-v"].stderr


def test_remove_and_optimize_take_quiet_and_verbose(built, tmp_path):
    from click.testing import CliRunner

    from dedup.cli import main

    path, _, _, _ = _copy(built, tmp_path)
    for args in (["optimize", "-q"], ["optimize", "-v"], ["remove", "d0", "-q"], ["remove", "--older-than", "9d", "-v"]):
        res = CliRunner().invoke(main, ["index", *args, "--db", str(path)])
        assert res.exit_code == 0, (args, res.output)
        assert (res.stderr == "") if "-q" in args else res.stderr.startswith("dedup: "), (args, res.stderr)
