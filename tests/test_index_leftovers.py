"""A creation of an SQLite index killed with SIGKILL leaves ``NAME-new.PID.HEX`` (and
its ``-journal`` when killed inside the schema's transaction) beside the index; the
next writable open removes them, saying so in one line, and never touches a live
creation's file (#12, session 14's closing note).  The first test failed before
:mod:`dedup.storage.sqlite.leftovers` (the killed creation's files stayed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from dedup.cli import main
from dedup.index import Index

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="process start times come from /proc")

#: A creation that stops at a point of its schema's writing until FLAG exists:
#: ``inside`` in an open transaction (a ``-journal`` exists), ``after`` once it is written.
CREATOR = r"""
import os, sys, time
import dedup.storage.sqlite as sqlite
from dedup.index import Index
where, path, flag = sys.argv[1:]
real = sqlite.create_schema
def paused(conn, *args, **kwargs):
    if where == "inside":
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE paused (x)")
    else:
        real(conn, *args, **kwargs)
    print("paused", flush=True)
    while not os.path.exists(flag):
        time.sleep(0.1)
    if where == "inside":
        conn.execute("ROLLBACK")
        real(conn, *args, **kwargs)
sqlite.create_schema = paused
with Index.open(path) as idx:
    print("opened", len(idx), flush=True)
"""


def creator(where: str, path, flag) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CREATOR, where, str(path), str(flag)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line == "paused\n", (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc


def leftovers(folder, pid=None) -> list[str]:
    return sorted(n for n in os.listdir(folder) if "-new." in n and (pid is None or f"-new.{pid}." in n))


def test_a_killed_creations_files_are_removed_and_a_live_creations_are_not(tmp_path):
    db, go = tmp_path / "i.dedup", tmp_path / "go"
    live = creator("after", db, go)  # first: every writable open cleans up, a creator's too
    live_files = leftovers(tmp_path, live.pid)
    try:
        assert len(live_files) == 1
        killed = creator("inside", db, go)
        names = leftovers(tmp_path, killed.pid)
        assert len(names) == 2 and names[1] == names[0] + "-journal"
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert leftovers(tmp_path, killed.pid) == names  # what SIGKILL leaves
        doc = tmp_path / "doc.txt"
        doc.write_text("The harbour bridge closes to heavy traffic next month after engineers found "
                       "corrosion in two of its supports, the city council said on Tuesday.\n", encoding="utf-8")
        added = CliRunner().invoke(main, ["index", "add", str(doc), "--db", str(db), "--base", str(tmp_path)],
                                   catch_exceptions=False)
        assert added.exit_code == 0, added.output
        said = [line for line in added.stderr.splitlines() if "left by an index creation that was killed" in line]
        assert said == [f"dedup: warning: {db}: removed 2 files left by an index creation that was killed "
                        f"({names[0]}, {names[1]}; its process is gone)"], added.stderr
        assert leftovers(tmp_path, killed.pid) == []
        assert leftovers(tmp_path, live.pid) == live_files  # held: untouched
        with Index.open(db) as idx:  # a second open: nothing more to say, the live file stays
            assert "doc.txt" in idx
        assert leftovers(tmp_path, live.pid) == live_files
    finally:
        go.touch()
        out, err = live.communicate(timeout=60)
    assert live.returncode == 0 and out == "opened 1\n", err  # it opened the index created meanwhile
    assert leftovers(tmp_path) == []


def test_an_unlocked_file_is_removed_only_when_its_process_id_was_reused(tmp_path):
    """A file without the lock (an older dedup's, or a creator between making its file and
    locking it) whose process is alive stays; when that process started after the file
    was last written, the id was reused and the file goes."""
    db = tmp_path / "i.dedup"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.1)"])
    try:
        time.sleep(0.2)
        with Index.open(db):
            pass
        young = tmp_path / f"i.dedup-new.{sleeper.pid}.0123abcd"
        os.link(db, young)  # a creator that linked its file in and was stopped there
        with Index.open(db):
            pass
        assert young.exists()
        hour_ago = time.time() - 3600
        os.utime(young, (hour_ago, hour_ago))
        with pytest.warns(UserWarning, match=r"removed 1 file left by an index creation that was killed"):
            with Index.open(db):
                pass
        assert not young.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_read_only_opens_and_other_names_are_left_alone(tmp_path):
    db = tmp_path / "i.dedup"
    with Index.open(db):
        pass
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    left = tmp_path / f"i.dedup-new.{dead}.0123abcd"
    other = [tmp_path / f"other.dedup-new.{dead}.0123abcd", tmp_path / f"i.dedup-new.{dead}.notahex!",
             tmp_path / f"i.dedup-new.{dead}.0123abcd.txt",
             tmp_path / "i.dedup-new.4294967296.0123abcd",  # no process id (os.kill: OverflowError, review R1)
             tmp_path / "i.dedup-new.99999999999999999999.0123abcd", tmp_path / "i.dedup-new.0.0123abcd"]
    os.link(db, left)  # a creation killed between linking its file in and removing its name
    for path in other:
        path.write_bytes(b"")
    with Index.open(db, readonly=True):
        pass
    assert left.exists()
    with pytest.warns(UserWarning, match=rf"removed 1 file left by an index creation that was killed \(i.dedup-new.{dead}.0123abcd;"):
        with Index.open(db):
            pass
    assert not left.exists() and all(p.exists() for p in other)


def test_a_held_file_stays_whatever_its_process_id_says(tmp_path):
    """A creator in another PID namespace (a container sharing the folder) has an id
    meaningless here: its lock is what says it lives."""
    import fcntl

    db = tmp_path / "i.dedup"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with Index.open(db):
        pass
    held = tmp_path / f"i.dedup-new.{int(gone.stdout)}.0123abcd"
    os.link(db, held)
    fd = os.open(held, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with Index.open(db):
            pass
        assert held.exists()
    finally:
        os.close(fd)
    with pytest.warns(UserWarning, match="removed 1 file left by an index creation that was killed"):
        with Index.open(db):
            pass
    assert not held.exists()


def test_the_folder_is_listed_only_when_a_creation_may_have_left_files(tmp_path, monkeypatch):
    """Item 8 of session 16: every writable open listed the index's folder (91 ms of CPU
    beside 100,000 files).  Now only while the index is missing or has a second name
    (a creator's file linked in): no listing on a plain open, and files a killed
    creation left are still found in both cases."""
    import dedup.storage.sqlite.leftovers as leftovers

    listed = []
    real = os.listdir
    monkeypatch.setattr(leftovers.os, "listdir", lambda folder: listed.append(folder) or real(folder))
    db = tmp_path / "i.dedup"
    with Index.open(db):  # created: listed
        pass
    assert len(listed) == 1
    for i in range(3):
        (tmp_path / f"article{i}.txt").write_text("text")
    with Index.open(db):
        pass
    assert len(listed) == 1
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = tmp_path / f"i.dedup-new.{int(gone.stdout)}.0123abcd"
    os.link(db, left)
    with pytest.warns(UserWarning, match="removed 1 file left by an index creation"):
        with Index.open(db):
            pass
    assert len(listed) == 2 and not left.exists() and os.stat(db).st_nlink == 1
