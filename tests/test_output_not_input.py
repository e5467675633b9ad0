"""An output file is never written over an input of the same run (#12, tester's D8):
``dedup scan corpus/ -o corpus/a.json`` read a.json as an input and then replaced it with
the report.  Now the command refuses before any work, exits 2 and names the file; the
index commands refuse ``-o`` naming the index or one of its files, and ``dedup clean``
a manifest inside SRC."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from dedup.cli import main
from dedup.sources import Selection, input_holding

TEXT = "The council approved the new budget on Tuesday after a long debate about school funding.\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.txt").write_text(TEXT)
    (tmp_path / "in" / "sub" / "b.txt").write_text(TEXT)
    (tmp_path / "in" / "report.json").write_text('[{"id": "x", "text": "an input"}]')
    (tmp_path / "in" / ".hidden.txt").write_text(TEXT)
    return tmp_path / "in"


@pytest.mark.parametrize("target, named", [
    ("in/report.json", "in"),        # a file the walk reads in the folder given
    ("in/sub/b.txt", "in"),          # deeper
    ("in/a.txt", "in/a.txt"),        # the file named itself
    ("link.txt", "in/a.txt"),        # a link to it (-o replaces the link; both name one file)
])
def test_scan_refuses_to_write_its_report_over_an_input(corpus, tmp_path, monkeypatch, target, named):
    monkeypatch.chdir(tmp_path)
    os.symlink("in/a.txt", "link.txt")
    before = {p: p.read_bytes() for p in corpus.rglob("*") if p.is_file()}
    res = run("scan", named, "-o", target, "--format", "json")
    assert res.exit_code == 2
    assert f"refusing to write the report to '{target}': it is an input of this run" in res.stderr
    assert {p: p.read_bytes() for p in corpus.rglob("*") if p.is_file()} == before  # nothing written


@pytest.mark.parametrize("pattern", ["in/*.txt", "file://{root}/in/*.txt", "in/[a]*"])
def test_scan_refuses_to_write_over_a_file_a_glob_or_url_names(corpus, tmp_path, monkeypatch, pattern):
    """A quoted glob or a file:// URL names inputs too (the walk never sees them)."""
    monkeypatch.chdir(tmp_path)
    pattern = pattern.format(root=tmp_path)
    before = (corpus / "a.txt").read_bytes()
    res = run("scan", pattern, "-o", "in/a.txt", "--format", "json")
    assert res.exit_code == 2
    assert f"refusing to write the report to 'in/a.txt': it is an input of this run (read from '{pattern}')" \
        in res.stderr
    assert (corpus / "a.txt").read_bytes() == before
    assert run("scan", pattern, "-o", "in/new.json", "--format", "json").exit_code in (0, 1)  # not an input


def test_files_the_walk_does_not_read_may_be_written(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("scan", "in", "-o", "in/.hidden.txt").exit_code == 1  # hidden: not read
    assert run("scan", "in", "--exclude", "*.json", "-o", "in/report.json").exit_code == 1
    assert run("scan", "in", "-o", "in/new-report.txt").exit_code == 1  # not there: nothing overwritten
    assert run("scan", "in/sub", "-o", "in/a.txt").exit_code == 0  # outside what is scanned
    assert (corpus / "a.txt").read_text().startswith("Scanned 1 document")
    assert input_holding(corpus / ".hidden.txt", [corpus], Selection(hidden=True)) == str(corpus)


def test_check_and_index_add_refuse_an_input_as_report(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in (("index", "add", "in", "--db", "i.dedup"), ("check", "in", "--db", "i.dedup")):
        res = run(*command, "-o", "in/sub/b.txt")
        assert res.exit_code == 2 and "it is an input of this run (read from 'in')" in res.stderr
        assert (corpus / "sub" / "b.txt").read_text() == TEXT


def test_index_commands_refuse_to_write_over_the_index(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("index", "add", "in", "--db", "i.dedup", "--policy", "flag").exit_code == 1  # a.txt = sub/b.txt
    run("index", "optimize", "--db", "i.dedup")
    lsh = next(p.name for p in tmp_path.iterdir() if p.name.startswith("i.dedup-lsh."))
    for command in (("index", "export"), ("index", "list"), ("index", "stats"), ("check", "in/a.txt")):
        for target in ("i.dedup", lsh, "./i.dedup-wal"):
            res = run(*command, "--db", "i.dedup", "-o", target)
            assert res.exit_code == 2, (command, target)
            assert f"refusing to write to '{target}': it is the index 'i.dedup' or one of its files" in res.stderr
    assert run("index", "list", "--db", "i.dedup").stdout.splitlines() == ["in/a.txt", "x"]  # intact


def test_an_sqlite_url_names_the_same_index_files(corpus, tmp_path, monkeypatch):
    """``--db sqlite:///i.dedup`` is the same file as ``--db i.dedup`` (the check used
    to pass over every ``NAME://`` URL, so it let a report overwrite the index)."""
    monkeypatch.chdir(tmp_path)
    assert run("index", "add", "in/a.txt", "--db", "i.dedup").exit_code == 0
    res = run("index", "list", "--db", "sqlite:///i.dedup", "-o", "i.dedup")
    assert res.exit_code == 2 and "refusing to write to 'i.dedup': it is the index" in res.stderr
    assert run("index", "list", "--db", "i.dedup").stdout.splitlines() == ["in/a.txt"]


@pytest.mark.parametrize("walked", ["in", "inlink/"])
def test_an_index_inside_its_inputs_is_not_read(corpus, tmp_path, monkeypatch, walked):
    """``dedup index add in --db in/i.dedup`` (the index kept beside its articles): the
    database, its -wal, -shm and bucket files are the index's, not inputs -- they used
    to be listed as read errors ("binary file") on every add and check.  Also when the
    folder is named through a link (tester's S5 of #12: the empty bucket-file lock was
    stored as a document)."""
    monkeypatch.chdir(tmp_path)
    assert run("index", "add", "in", "--db", "in/i.dedup", "--policy", "flag").exit_code == 1
    assert run("index", "optimize", "--db", "in/i.dedup").exit_code == 0
    (corpus / "i.dedup-wal").write_bytes(b"\0" * 64)  # as a writer in another process leaves them
    (corpus / "i.dedup-shm").write_bytes(b"\0" * 64)
    os.symlink(corpus / "i.dedup", corpus / "link.dedup")  # by identity too
    os.symlink("in", tmp_path / "inlink")
    assert any(p.name.startswith("i.dedup-lsh.") for p in corpus.iterdir()) and (corpus / "i.dedup-lsh.lock").exists()
    folder = walked.rstrip("/")
    for command in (("index", "add", walked, "--policy", "flag"), ("check", walked)):
        res = run(*command, "--db", "in/i.dedup", "--format", "json")
        report = json.loads(res.stdout)
        assert res.exit_code == 1 and res.stderr == "", (command, res.stderr)
        assert report["errors"] == [] and sorted(d["path"] for d in report["documents"]) == [
            f"{folder}/a.txt", f"{folder}/report.json#x", f"{folder}/sub/b.txt"], command
    stored = run("index", "list", "--db", "in/i.dedup").stdout.splitlines()
    assert not any("dedup" in line for line in stored), stored


def test_clean_refuses_a_manifest_inside_the_source(corpus, tmp_path):
    res = run("clean", corpus, tmp_path / "out", "--manifest", corpus / "a.txt")
    assert res.exit_code == 2 and "is inside" in res.stderr and "would change the source" in res.stderr
    assert (corpus / "a.txt").read_text() == TEXT

