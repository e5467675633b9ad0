"""Where reports go and what else is said: -o, -q, -v, stderr, colour and progress
in a terminal versus a pipe (issue #14)."""

import errno
import fcntl
import io
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from click.testing import CliRunner

from conftest import FIXTURES
from dedup.cli import main
from dedup.report import FORMATS

DEDUP = [str(Path(sys.executable).with_name("dedup"))]  # the venv's console script


def run(*args, **kwargs):
    return CliRunner(**kwargs).invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_output_file_is_written_atomically_and_stdout_stays_empty(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old report")
    res = run("scan", FIXTURES, "-o", target, "--format", "json")
    assert res.exit_code == 1 and res.stdout == ""
    assert len(json.loads(target.read_text(encoding="utf-8"))["pairs"]) == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temporary file left
    # A failing write leaves the old report as it was and no temporary file.
    def broken(result, out):
        out.write('{"half": ')
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("dedup.report.machine.write_json", broken)
    failed = CliRunner().invoke(main, ["scan", str(FIXTURES), "-o", str(target), "--format", "json"])
    assert failed.exit_code == 2 and "unexpected error: RuntimeError: disk on fire" in failed.stderr
    monkeypatch.undo()
    assert len(json.loads(target.read_text(encoding="utf-8"))["pairs"]) == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    verbose = run("scan", FIXTURES, "-o", target, "-v", "--format", "text")  # (report.json alone: JSON)
    assert "report written to" in verbose.stderr and "Document duplicates" in target.read_text(encoding="utf-8")


def test_read_errors_go_to_stderr_in_every_format_and_quiet_counts_them(tmp_path):
    (tmp_path / "good.txt").write_text("Some words that are long enough to be a paragraph here.\n")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01\x02")
    for fmt in FORMATS:
        res = run("scan", tmp_path, "--format", fmt)
        assert res.exit_code == 0, fmt
        assert f"dedup: {tmp_path}/bad.txt: binary file" in res.stderr, fmt
    quiet = run("scan", tmp_path, "-q")
    assert "bad.txt" not in quiet.stderr and "1 document could not be read" in quiet.stderr
    assert "bad.txt: binary file" in quiet.stdout  # still in the report


def test_empty_selection_does_not_claim_no_duplicates(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run("scan", empty)
    assert res.exit_code == 2
    assert "No duplicates found" not in res.stdout
    assert "no document was read" in res.stdout and "no file found" in res.stderr
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.txt").write_text("One paragraph of plain words that repeats nothing at all anywhere.\n")
    assert "No duplicates found" in run("scan", clean).stdout


def test_files_read_without_a_document_are_not_called_missing(tmp_path):
    """Tester F13 (s17): an empty JSON Lines file, a ``[]`` JSON file, a folder of
    them, or empty stdin were read -- "no file found" sent the user to check paths."""
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "none.json").write_text("[]\n")
    only = tmp_path / "only"
    only.mkdir()
    (only / "x.jsonl").write_bytes(b"")
    for args, said in [((tmp_path / "empty.jsonl",), f"no document in {tmp_path / 'empty.jsonl'} (read"),
                       ((tmp_path / "none.json",), f"no document in {tmp_path / 'none.json'} (read"),
                       ((only,), "no document in x.jsonl"),
                       ((tmp_path / "empty.jsonl", tmp_path / "none.json"), "2 files read, no document in them"),
                       (("-", "--stdin-format", "jsonl"), "no document in <stdin>")]:
        res = CliRunner().invoke(main, ["scan", *map(str, args), "-q"], input="", catch_exceptions=False)
        assert res.exit_code == 2, args
        assert said in res.stderr and "no file found" not in res.stderr, (args, res.stderr)
    assert "no file found" in run("scan", only, "--include", "*.txt", "-q").stderr  # nothing selected


def test_check_and_index_add_do_not_call_files_without_a_document_missing(tmp_path):
    """Tester F13 in ``check`` and ``index add`` (session 17: only ``scan`` was fixed);
    the scan's summary counts the files it read, not only those that held a document
    (it said "read: 0 files" beside "no document in FILE")."""
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "none.json").write_text("[]\n")
    db = tmp_path / "i.dedup"
    assert run("index", "add", "--db", db, tmp_path / "none.json", "-q").exit_code == 2
    assert not db.exists()  # an add that created the index and stored nothing removes it (458afe8)
    (tmp_path / "stored.txt").write_text(" ".join(f"word{i}" for i in range(40)) + "\n")
    assert run("index", "add", "--db", db, tmp_path / "stored.txt", "-q").exit_code == 0
    for command in (["check", "--db", db], ["index", "add", "--db", db]):
        for args, said in [((tmp_path / "empty.jsonl",), f"no document in {tmp_path / 'empty.jsonl'} (read"),
                           ((tmp_path / "empty.jsonl", tmp_path / "none.json"), "2 files read, no document in them")]:
            res = CliRunner().invoke(main, [*map(str, command), *map(str, args), "-q"], catch_exceptions=False)
            assert res.exit_code == 2, (command, args)
            assert said in res.stderr and "no file found" not in res.stderr, (command, args, res.stderr)
    res = CliRunner().invoke(main, ["scan", str(tmp_path / "empty.jsonl"), str(tmp_path / "none.json"), "--format",
                                    "json"], catch_exceptions=False)
    assert json.loads(res.stdout)["summary"]["files"] == 2


def _in_terminal(args, env=None):
    """Run dedup with stdout and stderr on a pseudo-terminal; returns what it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # 40 rows, 120 columns
    proc = subprocess.Popen(DEDUP + args, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL,
                            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", **(env or {})})
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_terminal_gets_colour_and_progress_a_pipe_gets_neither(tmp_path):
    code, screen = _in_terminal(["scan", str(FIXTURES), "--no-cache", "-j", "1"])
    assert code == 1
    assert "\x1b[1;31m" in screen and "\x1b[1;32m" in screen  # differing words, both sides
    assert "reading and signing" in screen  # tqdm's bar on stderr
    assert "paragraphs: verifying candidates" in screen
    code, screen = _in_terminal(["scan", str(FIXTURES), "--no-cache", "-j", "1"], env={"NO_COLOR": "1"})
    assert "\x1b[1;31m" not in screen and "[-close-]" in screen
    code, screen = _in_terminal(["scan", str(FIXTURES), "--no-cache", "-j", "1", "-q"])
    assert "reading and signing" not in screen and "\x1b[1;31m" in screen

    piped = subprocess.run(DEDUP + ["scan", str(FIXTURES), "--no-cache", "-j", "1"], capture_output=True,
                           env={**os.environ, "TERM": "xterm-256color"})
    assert piped.returncode == 1 and piped.stderr == b""
    assert b"\x1b" not in piped.stdout and b"[-close-]" in piped.stdout
    forced = subprocess.run(DEDUP + ["scan", str(FIXTURES), "--no-cache", "--color", "always"], capture_output=True)
    assert b"\x1b[1;31m" in forced.stdout and forced.stderr == b""


def test_max_groups_says_what_was_left_out():
    res = run("scan", FIXTURES, "--max-groups", "2")
    assert res.stdout.count("\n[") == 3  # 1 document group + 2 paragraph groups
    assert "… 5 more paragraph groups (10 copies) not shown; --max-groups 0 shows all" in res.stdout
    everything = run("scan", FIXTURES, "--max-groups", "0")
    assert everything.stdout.count("\n[") == 8 and "not shown" not in everything.stdout


def test_index_add_of_many_new_documents_is_counted_not_listed(tmp_path):
    import random

    from textgen import prose, write_docs

    rng = random.Random(9)
    docs = write_docs(tmp_path / "in", {f"d{i:02}.txt": [prose(rng, 40), prose(rng, 40)] for i in range(25)})
    res = run("index", "add", docs, "--db", tmp_path / "i.dedup", "--base", docs)
    assert res.exit_code == 0
    assert "25 added, 0 rejected, 0 already indexed, 0 errors" in res.stdout
    assert "25 documents with nothing seen before not listed (--max-groups 0 lists them)" in res.stdout
    assert "d00.txt" not in res.stdout and len(res.stdout.splitlines()) < 10
    everything = run("check", docs, "--db", tmp_path / "i.dedup", "--base", docs, "--max-groups", "0")
    assert everything.stdout.count(": already indexed: ") == 25


def test_a_reader_that_goes_away_ends_the_command_quietly_with_141(tmp_path):
    """Issue #12 (c): ``dedup scan ... | head`` gave exit 2 and "BrokenPipeError" or 0/1
    by timing.  Made deterministic: stdout is a pipe whose reader is already gone."""
    for args in (["scan", str(FIXTURES), "--no-cache"], ["scan", str(FIXTURES), "--no-cache", "--format", "csv"],
                 ["explain"]):
        read, write = os.pipe()
        os.close(read)
        try:
            proc = subprocess.run(DEDUP + args, stdout=write, stderr=subprocess.PIPE, timeout=120)
        finally:
            os.close(write)
        assert proc.returncode == 141, (args, proc.returncode, proc.stderr)
        assert proc.stderr == b"", args  # no traceback, no message


def test_a_message_click_cannot_write_to_a_reader_gone_ends_with_141_never_1():
    """Session 16's new user: ``dedup scan x --fromat y 2>&1 | true`` exited 1 ("duplicates
    found"): click let the BrokenPipeError of its usage message escape (and exits 1 itself
    when ``--help`` or ``--version`` meets a closed stdout)."""
    for args, stream in ((["scan", str(FIXTURES), "--fromat", "x"], "stderr"), (["scan", "/nonexistent/x"], "stderr"),
                         (["--help"], "stdout"), (["--version"], "stdout"), (["scan", "--help"], "stdout")):
        read, write = os.pipe()
        os.close(read)
        other = "stdout" if stream == "stderr" else "stderr"
        try:
            proc = subprocess.run(DEDUP + args, timeout=120, **{stream: write, other: subprocess.PIPE})
        finally:
            os.close(write)
        assert proc.returncode == 141, (args, proc.returncode)
        assert (proc.stdout or proc.stderr or b"") == b"", args  # no traceback on the open stream
    usage = subprocess.run(DEDUP + ["scan", str(FIXTURES), "--fromat", "x"], capture_output=True, timeout=120)
    assert usage.returncode == 2 and b"No such option" in usage.stderr  # a reader still there: click's usual 2


def test_output_into_a_missing_folder_fails_before_the_work_naming_the_path(tmp_path, monkeypatch):
    """Issue #12 (e): ``-o`` into a missing folder ran the whole scan, then failed naming
    the temporary file."""
    calls = []
    monkeypatch.setattr("dedup.cli.scan.scan_paths", lambda *a, **k: calls.append(a))
    target = tmp_path / "missing" / "r.json"
    res = CliRunner().invoke(main, ["scan", str(FIXTURES), "-o", str(target)])
    assert res.exit_code == 2 and calls == []  # the scan never started
    assert res.stderr == f"dedup: cannot write the report to '{target}': the folder '{target.parent}' does not exist\n"
    res = CliRunner().invoke(main, ["scan", str(FIXTURES), "-o", str(tmp_path)])
    assert res.exit_code == 2 and calls == [] and "is a directory" in res.stderr  # click's own check
    file = tmp_path / "file"
    file.write_text("x")
    res = CliRunner().invoke(main, ["check", str(FIXTURES), "--db", str(tmp_path / "i.dedup"),
                                    "-o", str(file / "r.csv")])
    assert res.exit_code == 2 and f"'{file}' is not a folder" in res.stderr
    assert not (tmp_path / "i.dedup").exists()


def test_report_file_errors_name_the_report_not_the_temporary_file(tmp_path, monkeypatch):
    from dedup.report.output import report_file

    target = tmp_path / "r.txt"
    def no_rename(src, dst):
        raise PermissionError(13, "Permission denied", src, None, dst)

    monkeypatch.setattr("dedup.report.output.os.replace", no_rename)
    try:
        with report_file(str(target)) as out:
            out.write("x")
    except PermissionError as err:
        assert err.filename == str(target)
    else:
        raise AssertionError("no error")
    assert list(tmp_path.iterdir()) == []


def test_library_warnings_are_one_diagnostic_line_and_quiet_with_q(tmp_path):
    """Issue #12: a library warning (here: the cache cannot be written) reached the CLI
    as Python's two-line ``file:line: UserWarning: ...`` text."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    args = DEDUP + ["scan", str(FIXTURES), "--cache-dir", str(blocker / "cache")]
    loud = subprocess.run(args, capture_output=True, text=True)
    assert loud.returncode == 1
    lines = [line for line in loud.stderr.splitlines() if "cache" in line]
    assert lines == [f"dedup: warning: cannot write to the cache {blocker / 'cache'}: Not a directory; "
                     "scanning without it"], loud.stderr
    assert "UserWarning" not in loud.stderr and ".py:" not in loud.stderr
    quiet = subprocess.run(args + ["-q"], capture_output=True, text=True)
    assert quiet.returncode == 1 and "cache" not in quiet.stderr
    assert "dedup: 1 warning (listed in the report)" in quiet.stderr  # -q: counted on the terminal...
    report = subprocess.run(args + ["-q", "--format", "json"], capture_output=True, text=True)
    assert report.returncode == 1
    assert json.loads(report.stdout)["warnings"] == [  # ...and in the report (it was in neither before)
        {"path": "", "warning": f"cannot write to the cache {blocker / 'cache'}: Not a directory; scanning without it"}]


class Recorder:
    """A :class:`dedup.progress.Progress` that writes down what it hears."""

    def __init__(self):
        self.stages, self.done, self.counts = [], {}, {}

    def stage(self, name, unit="documents", total=None):
        self.stages.append((name, unit, total))
        self.done[name], self.counts[name] = 0, {}

    def advance(self, n=1):
        self.done[self.stages[-1][0]] += n

    def count(self, what, n=1, total=None):
        counts = self.counts[self.stages[-1][0]]
        counts[what] = (counts.get(what, (0, None))[0] + n, total)

    def close(self):
        pass

    def counted(self, items, name, unit="documents"):
        from dedup.progress import Progress

        return Progress.counted(self, items, name, unit)


def test_progress_counts_files_documents_signed_and_candidates_verified(tmp_path):
    """Issue #14: progress counts files read, documents signed and candidates verified
    (the verify stage's counts come back per finished pair range, from any worker)."""
    from dedup import scan

    for jobs in (1, 2):
        rec = Recorder()
        result = scan(FIXTURES, jobs=jobs, progress=rec, partitions=3)
        files = sum(1 for p in FIXTURES.rglob("*") if p.is_file())
        assert rec.done["reading and signing"] == len(result.documents) + len(result.errors)
        assert rec.counts["reading and signing"]["files"] == (files, None)
        assert rec.counts["reading and signing"]["signed"] == (len(result.documents), None)
        for level in ("documents", "paragraphs"):
            assert (f"{level}: finding candidates", "stages", 3) in rec.stages
            assert rec.done[f"{level}: finding candidates"] == 3
            verified = rec.done[f"{level}: verifying candidates"]
            done, ranges = rec.counts[f"{level}: verifying candidates"]["ranges"]
            assert done == ranges >= 1  # every pair range
            assert verified >= sum(1 for p in result.pairs if p.kind == level[:-1] and not p.exact) > 0
        names = [s[0] for s in rec.stages]
        assert names.index("documents: verifying candidates") < names.index("documents: grouping") \
            < names.index("paragraphs: finding candidates")


class _ShortWrites(io.RawIOBase):
    """A raw file whose ``write`` takes at most 1,000 bytes (a nearly full disk), then
    fails with ENOSPC once ``room`` bytes are in."""

    def __init__(self, room: int) -> None:
        self.data, self.room = bytearray(), room

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        if len(self.data) >= self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = min(len(b), 1000, self.room - len(self.data))
        self.data += bytes(b[:n])
        return n


def test_a_short_write_to_an_unbuffered_stdout_is_written_again_or_fails():
    """Tester's F1 (session 16): under PYTHONUNBUFFERED stdout's binary layer is the raw
    file; its short write (a nearly full disk) was dropped by the text layer without an
    error, and the cut report ended with exit 1.  Now the rest is written again: all of
    it arrives, or the disk's error is raised."""
    from dedup.report.output import _Chunked

    text = "".join(f"line {i} é\n" for i in range(30_000))
    raw = _ShortWrites(room=10 << 20)
    chunked = _Chunked(io.TextIOWrapper(raw, encoding="utf-8", write_through=True))
    chunked.write(text)
    chunked.flush()
    assert raw.data.decode("utf-8") == text
    full = _ShortWrites(room=100_000)
    chunked = _Chunked(io.TextIOWrapper(full, encoding="utf-8", write_through=True))
    with pytest.raises(OSError, match="No space left"):
        chunked.write(text)
        chunked.flush()


def test_a_full_disk_under_stdout_is_one_line_naming_stdout(tmp_path):
    """Tester's F3: "unexpected error: OSError: [Errno 28] ..." did not say what could
    not be written."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    (tmp_path / "a.txt").write_text("The harbour bridge closes to lorries after engineers found corrosion.\n")
    for env in ({}, {"PYTHONUNBUFFERED": "1"}):
        with open("/dev/full", "w") as full:
            res = subprocess.run([sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())",
                                  "scan", str(tmp_path), "--no-cache"], stdout=full, stderr=subprocess.PIPE,
                                 text=True, env={**os.environ, **env}, timeout=120)
        assert res.returncode == 2 and res.stderr.strip() == \
            "dedup: cannot write the report to stdout: No space left on device", (env, res.stderr)


@pytest.mark.parametrize("error, why", [
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    (OSError("117528 requested and 38384 written"), "a short write (117528 requested and 38384 written: disk full?)"),
])
def test_a_full_scratch_folder_is_named(tmp_path, monkeypatch, error, why):
    """Tester's F3 (session 16): a full --tmp-dir was "unexpected error: OSError: [Errno
    28] ..." (raised in a worker, without a file name; numpy's short write has no errno)."""
    from click.testing import CliRunner

    import dedup.cli.scan as cli_scan
    from dedup.cli import main

    def full(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli_scan, "scan_paths", full)
    (tmp_path / "a.txt").write_text("some text\n")
    (tmp_path / "t").mkdir()  # a missing --tmp-dir is refused (M1 of session 18)
    res = CliRunner().invoke(main, ["scan", str(tmp_path), "--tmp-dir", str(tmp_path / "t"), "-q"])
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"dedup: cannot write the scan's intermediate files in '{tmp_path / 't'}': {why} "
                                  "(--tmp-dir chooses another folder)")


@pytest.mark.skipif(not Path("/proc/1").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", [["scan", "docs", "-j", "1"], ["scan", "docs", "-j", "2"],
                                     ["index", "add", "docs", "--db", "t.dedup"]])
def test_a_tmp_dir_that_cannot_hold_a_folder_is_one_line(tmp_path, monkeypatch, command):
    """Tester's F9 (session 18): ``--tmp-dir /proc/1`` (no folder can be made there) was
    "unexpected error: FileNotFoundError ..."; now one line naming the folder and the cause."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("some text\n")
    res = CliRunner().invoke(main, [*command, "--tmp-dir", "/proc/1"])
    assert res.exit_code == 2
    assert res.stderr.strip() == ("dedup: cannot make a scratch folder in '/proc/1' (--tmp-dir): "
                                  "No such file or directory")


def test_a_tmp_dir_under_a_file_is_one_line(tmp_path):
    """Tester's F9 (session 18): a --tmp-dir that cannot be made is named, not an unexpected error."""
    (tmp_path / "a.txt").write_text("some text\n")
    res = CliRunner().invoke(main, ["scan", str(tmp_path / "a.txt"), "--tmp-dir", str(tmp_path / "a.txt" / "t")])
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"dedup: cannot make a scratch folder in '{tmp_path / 'a.txt' / 't'}' "
                                  "(--tmp-dir): Not a directory")
