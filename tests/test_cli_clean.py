"""``dedup clean`` on the command line: exit codes and what it says on stderr (#12's
leftovers of session 18: the third new user's clean findings and M3)."""

import json
import os
from pathlib import Path

from click.testing import CliRunner

from dedup.cli import main

STORY = ("The harbour bridge reopened on Monday after three weeks of repairs to its "
         "deck, and the city council said traffic would return to normal by Friday.\n")


def run(*args):
    return CliRunner().invoke(main, ["clean", *(str(a) for a in args)])


def test_an_empty_folder_exits_2_as_scan_does(tmp_path):
    """README's exit table: 2 for "no file matched"; clean exited 0."""
    (tmp_path / "src").mkdir()
    res = run(tmp_path / "src", tmp_path / "out", "-j", "1", "--no-cache")
    assert res.exit_code == 2, res.output
    assert "dedup: no file found" in res.stderr


def test_unreadable_files_only_exit_2_each_named_with_its_cause(tmp_path):
    """Nothing at all could be read: 2 (clean exited 0), and each file is named with the
    cause, under the folder as given (clean only counted them); DEST is still a copy."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "blob.txt").write_bytes(b"\x00\x01")
    (src / "latin.txt").write_bytes(b"caf\xe9 ok\n")
    res = run(src, tmp_path / "out", "-j", "1", "--no-cache")
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert f"dedup: {src}/blob.txt: binary file (NUL byte at offset 0)" in lines
    assert any(line.startswith(f"dedup: {src}/latin.txt: not UTF-8 and no byte-order mark (byte 0xe9 at offset 3)")
               for line in lines)
    assert lines[-1] == "dedup: no document could be read"
    assert (tmp_path / "out" / "blob.txt").read_bytes() == b"\x00\x01"


def test_an_unreadable_file_among_good_ones_is_named_and_the_run_exits_0(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text(STORY)
    (src / "b.txt").write_text(STORY)
    (src / "blob.txt").write_bytes(b"\x00\x01")
    res = run(src, tmp_path / "out", "-j", "1", "--no-cache")
    assert res.exit_code == 0, res.output
    assert f"dedup: {src}/blob.txt: binary file (NUL byte at offset 0)" in res.stderr.splitlines()
    manifest = json.loads((tmp_path / "out" / "dedup-clean.json").read_text(encoding="utf-8"))
    assert manifest["errors"] == [{"path": "blob.txt", "error": "binary file (NUL byte at offset 0)"}]
    quiet = run(src, tmp_path / "out2", "-j", "1", "--no-cache", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == (
        "dedup: 1 file or record could not be read (1 copied unchanged; listed in the manifest)\n")


def test_not_empty_says_force_as_the_command_line_spells_it(tmp_path):
    """The CLI's remedy is --force (the message named force=True first)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text(STORY)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    res = run(tmp_path / "src", tmp_path / "out", "-j", "1", "--no-cache")
    assert res.exit_code == 2
    assert res.stderr == (f"dedup: {tmp_path / 'out'} is not empty (--force writes into it, "
                          "replacing files of the same name)\n")


def test_tmp_dir_and_cache_dir_are_the_scans(tmp_path):
    """New user's M3 of session 18: clean had neither option.  The cache folder holds
    the signatures and the record of the manifest (so a later scan with the same
    --cache-dir leaves the manifest out)."""
    src, cache, scratch = tmp_path / "src", tmp_path / "cache", tmp_path / "scratch"
    src.mkdir()
    scratch.mkdir()
    (src / "a.txt").write_text(STORY)
    (src / "b.txt").write_text(STORY)
    res = run(src, tmp_path / "out", "-j", "1", "--tmp-dir", scratch, "--cache-dir", cache)
    assert res.exit_code == 0, res.output
    assert list(scratch.iterdir()) == []  # used and cleaned up
    record = (cache / "reports-written.jsonl").read_text(encoding="utf-8")
    assert str((tmp_path / "out" / "dedup-clean.json").resolve()) in record
    assert any(p.name.startswith("v") for p in cache.iterdir())  # signatures kept
    missing = run(src, tmp_path / "out2", "-j", "1", "--tmp-dir", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "(--tmp-dir): No such file or directory" in missing.stderr


def test_a_missing_tmp_dir_is_refused_not_made(tmp_path):
    """New user's M1 of session 18: ``--tmp-dir /nonexistent/x`` was made (a typo, or an
    unmounted scratch disk's mount point, would fill another filesystem)."""
    (tmp_path / "a.txt").write_text(STORY)
    res = CliRunner().invoke(main, ["scan", str(tmp_path / "a.txt"), "-j", "1", "--no-cache",
                                    "--tmp-dir", str(tmp_path / "no" / "x")])
    assert res.exit_code == 2
    assert res.stderr == (f"dedup: cannot make a scratch folder in '{tmp_path / 'no' / 'x'}' (--tmp-dir): "
                          "No such file or directory (it is not made: make the folder first)\n")
    assert not (tmp_path / "no").exists()


def test_a_cleaned_folder_cleans_again_without_reading_its_manifest(tmp_path, monkeypatch):
    """A clean of a cleaned folder read the first clean's manifest as a document ("expected
    a JSON array of records, found an object"); recorded reports and manifests found in
    SRC are left out of the dedup (copied unchanged), as a scan leaves them out, and the
    scan's warnings are said and kept in the manifest."""
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text(STORY)
    (src / "b.txt").write_text(STORY)
    (src / "r.jsonl").write_text('{"id": "x", "text": "one two three"}\n{"id": "x", "text": "four five six"}\n')
    assert run(src, tmp_path / "once", "-j", "1").exit_code == 0
    again = run(tmp_path / "once", tmp_path / "twice", "-j", "1")
    assert again.exit_code == 0, again.output
    assert "dedup-clean.json" not in again.stderr, again.stderr
    assert any(line.startswith(f"dedup: warning: {tmp_path / 'once'}/r.jsonl#x@2: ")
               for line in again.stderr.splitlines()), again.stderr
    manifest = json.loads((tmp_path / "twice" / "dedup-clean.json").read_text(encoding="utf-8"))
    assert manifest["errors"] == [] and [w["path"] for w in manifest["warnings"]] == ["r.jsonl#x@2"]


def test_a_fifo_is_counted_and_named_as_not_copied(tmp_path):
    """Tester's F8 of session 22: a FIFO (or a device, a socket) in SRC is not copied
    -- the manifest's notes said so -- but clean said it was: "2 documents could not be
    read (copied unchanged ...)" and its summary counted no file left behind.  Now the
    summary counts and names the entries not copied, and stderr tells the errors of
    files copied unchanged from those of entries not copied (library: ``not_copied``)."""
    from dedup import clean

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text(STORY)
    (src / "blob.txt").write_bytes(b"\x00\x01")
    os.mkfifo(src / "pipe.txt")
    res = run(src, tmp_path / "out", "-j", "1", "--no-cache")
    assert res.exit_code == 0, res.output
    assert "2 files copied unchanged, 0 rewritten, 0 left out, 1 not copied (not a regular file: pipe.txt)" \
        in res.stdout, res.stdout
    assert res.stderr.splitlines()[-1] == ("dedup: 2 files or records could not be read (1 copied unchanged, "
                                           "1 not copied: not a regular file; listed in the manifest)")
    assert not (tmp_path / "out" / "pipe.txt").exists() and (tmp_path / "out" / "blob.txt").exists()
    manifest = json.loads((tmp_path / "out" / "dedup-clean.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["files_copied"] == 2 and manifest["counts"]["files_not_copied"] == 1
    quiet = run(src, tmp_path / "out2", "-j", "1", "--no-cache", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == (
        "dedup: 2 files or records could not be read (1 copied unchanged, 1 not copied: not a regular file; "
        "listed in the manifest)\n")
    report = clean(src, tmp_path / "out3")
    assert report.not_copied == ["pipe.txt"] and report.files_copied == 2


def test_a_manifest_in_a_missing_folder_is_refused_before_work_as_o_is(tmp_path):
    """Tester F4 (s22): ``--manifest /nonexistent/m.json`` made /nonexistent (and three
    missing levels for a deeper path) while ``scan -o`` in a missing folder is refused
    with exit 2 before work: a typo filled another place.  A manifest inside DEST is
    still written in the folders clean makes there."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text(STORY)
    (src / "b.txt").write_text(STORY)
    res = run(src, tmp_path / "out", "--manifest", tmp_path / "no" / "such" / "m.json")
    assert res.exit_code == 2 and "cannot write the manifest" in res.stderr and "does not exist" in res.stderr
    assert not (tmp_path / "no").exists() and not (tmp_path / "out").exists()
    res = run(src, tmp_path / "out", "--manifest", tmp_path / "out" / "meta" / "m.json")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "out" / "meta" / "m.json").read_text())["counts"]["dropped"] == 1


_CTRL_C_WHILE_WRITING = """
import signal, sys
import dedup.clean  # the package (dedup.clean is also the function)
cleaning = sys.modules["dedup.clean"]
from dedup.cli import main

real, calls = cleaning.write_one, []
def write_one(*args, **kwargs):
    calls.append(args)
    if len(calls) == 2:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C after the first file was written
    return real(*args, **kwargs)
cleaning.write_one = write_one
sys.argv[1:] = ["clean", *sys.argv[1:]]
sys.exit(main())
"""


def test_an_interrupted_clean_says_what_it_left_and_the_same_command_runs_again(tmp_path):
    """F6 of #12: Ctrl-C while ``dedup clean`` wrote DEST left a partial DEST without a
    word, and the same command then said "not empty".  Now the partial copy is removed
    and said so (before "interrupted by SIGINT", exit 130), and the same command works."""
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (src / name).write_text(STORY + f" {name}\n")
    dest = tmp_path / "out"
    args = [str(src), str(dest), "-j", "1", "--no-cache", "-q"]
    stopped = subprocess.run([sys.executable, "-c", _CTRL_C_WHILE_WRITING, *args], capture_output=True, text=True,
                             timeout=300)
    assert stopped.returncode == 130, stopped.stderr
    assert stopped.stderr == (f"dedup: {dest}: removed the partial copy this run had written; run the same command "
                              "again\ndedup: interrupted by SIGINT (Ctrl-C)\n")
    assert not dest.exists()
    again = run(*args)
    assert again.exit_code == 0, again.stderr
    assert sorted(os.listdir(dest)) == ["a.txt", "dedup-clean.json"]  # b and c: copies of a, dropped
