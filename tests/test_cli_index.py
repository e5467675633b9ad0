"""`dedup check` and `dedup index add|stats|remove` through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
import os
import random

import pytest
from click.testing import CliRunner
from conftest import UKRAINE
from textgen import prose, rewrite, write_docs

from dedup.cli import main
from dedup.index import Index


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run in the test's folder: document ids are paths relative to the current folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def seeded(tmp_path):
    """An index holding the seed article minus its repeated paragraph 6."""
    lines = UKRAINE.read_text(encoding="utf-8").splitlines()
    (tmp_path / "ukraine.txt").write_text("\n".join(l for i, l in enumerate(lines) if i != 6), encoding="utf-8")
    db = tmp_path / "articles.dedup"
    result = run("index", "add", tmp_path / "ukraine.txt", "--db", db)
    assert result.exit_code == 0 and "added: nothing seen before" in result.stdout
    return db, lines


def test_check_flags_the_repeated_lead_with_scores_and_spans(seeded, tmp_path):
    db, lines = seeded
    (tmp_path / "lead.txt").write_text(lines[6] + "\n", encoding="utf-8")
    result = run("check", tmp_path / "lead.txt", "--db", db)
    assert result.exit_code == 1
    assert "lead.txt: DUPLICATE: 1 of 1 paragraphs already seen" in result.stdout
    assert f"¶0 [0:{len(lines[6])}] ~ ¶0 [0:{len(lines[0])}]  similarity 0.73" in result.stdout

    report = json.loads(run("check", "-", "--id", "lead", "--db", db, "--format", "json", input=lines[6]).stdout)
    assert set(report) >= {"settings", "documents", "pairs", "groups", "errors", "verdicts", "index"}
    (pair,) = [p for p in report["pairs"] if p["kind"] == "paragraph"]
    # The one-paragraph article is also (mostly) inside the stored article as a whole.
    assert [(p["relation"], p["inside"]) for p in report["pairs"] if p["kind"] == "document"] == [("contained", "b")]
    assert pair["a"] == {"path": "ukraine.txt", "paragraph": 0, "start": 0, "end": len(lines[0])}
    assert pair["b"]["path"] == "lead" and pair["similarity"] > 0.5
    (verdict,) = report["verdicts"]
    assert verdict["duplicate"] and verdict["seen_paragraphs"] == [0] and not verdict["added"]
    assert verdict["matches"][0]["paragraphs"][0]["stored_paragraph"] == 0


def test_check_exit_codes_formats_and_read_errors(seeded, tmp_path):
    db, lines = seeded
    rng = random.Random(3)
    docs = write_docs(tmp_path / "in", {
        "new.txt": [prose(rng, 50) for _ in range(3)],
        "mixed.txt": [prose(rng, 50), lines[10], prose(rng, 50)],
    })
    (docs / "bin.txt").write_bytes(b"\x00\x01binary")
    clean = run("check", docs / "new.txt", "--db", db)
    assert clean.exit_code == 0 and "new.txt: new: nothing seen before" in clean.stdout
    result = run("check", docs, "--db", db, "--format", "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # One row per document, with its verdict (issue #14: no more bare header).
    assert [(r["path"], r["verdict"], r["matched_id"], r["seen_paragraphs"]) for r in rows] == [
        ("in/mixed.txt", "partly seen", "ukraine.txt", "1"), ("in/new.txt", "new", "", ""), ("in/bin.txt", "error", "", "")]
    assert rows[0]["accepted"] == "true" and rows[0]["added"] == "false" and float(rows[0]["similarity"]) < 0.3
    assert rows[1]["reason"] == "nothing seen before"
    only_new = run("check", docs / "new.txt", "--db", db, "--format", "csv")
    assert [r["verdict"] for r in csv.DictReader(io.StringIO(only_new.stdout))] == ["new"]
    assert "bin.txt: binary file" in result.stderr
    assert run("check", docs, "--db", db, "--exit-zero").exit_code == 0
    lines_out = [json.loads(l) for l in run("check", docs, "--db", db, "--format", "jsonl").stdout.splitlines()]
    verdicts = [l for l in lines_out if l["kind"] == "verdict"]
    assert [v["id"] for v in verdicts] == ["in/mixed.txt", "in/new.txt"]
    assert verdicts[0]["seen_paragraphs"] == [1] and not verdicts[0]["duplicate"]


def test_index_add_reports_rejections_and_stats_and_remove(tmp_path):
    rng = random.Random(4)
    base = [prose(rng, 60) for _ in range(4)]
    docs = write_docs(tmp_path / "in", {
        "a.txt": base,
        "b.txt": [rewrite(rng, p, 0.1) for p in base],
        "c.txt": [prose(rng, 60) for _ in range(3)],
    })
    db = tmp_path / "i.dedup"
    result = run("index", "add", docs, "--db", db)
    assert result.exit_code == 1
    assert "a.txt: added" in result.stdout and "c.txt: added" in result.stdout
    assert "b.txt: rejected: document similarity" in result.stdout
    stats = json.loads(run("index", "stats", "--db", db, "--format", "json").stdout)
    assert stats["documents"] == 2 and stats["paragraphs"] == 7 and stats["bytes"] > 0
    assert stats["settings"]["num_perm"] == 256
    assert "2 documents, 7 paragraphs" in run("index", "stats", "--db", db).stdout
    assert run("index", "remove", "in/a.txt", "--db", db).exit_code == 0
    missing = run("index", "remove", "in/a.txt", "--db", db)
    assert missing.exit_code == 2 and "no document 'in/a.txt'" in missing.stderr
    again = run("index", "add", docs / "b.txt", "--db", db, "--format", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["verdicts"][0]["added"]


def test_strip_policy_and_settings_options(tmp_path):
    rng = random.Random(5)
    base = [prose(rng, 60) for _ in range(3)]
    fresh = prose(rng, 60)
    docs = write_docs(tmp_path / "in", {"a.txt": base, "b.txt": [base[0], fresh]})
    db = tmp_path / "i.dedup"
    assert run("index", "add", docs / "a.txt", "--db", db, "--ngram", "3").exit_code == 0
    out = run("index", "add", docs / "b.txt", "--db", db, "--policy", "strip", "--format", "json")
    verdict = json.loads(out.stdout)["verdicts"][0]
    assert verdict["added"] and verdict["text"] == fresh
    with Index.open(db) as idx:
        assert idx.settings.ngram == 3 and idx.get("in/b.txt").text == fresh
    wrong = run("check", docs / "a.txt", "--db", db, "--ngram", "2")
    assert wrong.exit_code == 2 and "--ngram 2 differs from the index's 3" in wrong.stderr
    (docs / "c.txt").write_text((docs / "a.txt").read_text())  # (a.txt itself: already indexed)
    assert run("check", docs / "c.txt", "--db", db, "--ngram", "3").exit_code == 1


def test_unusable_index_files_exit_2_with_a_clear_message(tmp_path):
    (tmp_path / "doc.txt").write_text(prose(random.Random(6), 40), encoding="utf-8")
    missing = run("check", tmp_path / "doc.txt", "--db", tmp_path / "none.dedup")
    assert missing.exit_code == 2 and "none.dedup: no such index" in missing.stderr
    foreign = tmp_path / "foreign.dedup"
    foreign.write_text("hello\n" * 100)
    result = run("index", "add", tmp_path / "doc.txt", "--db", foreign)
    assert result.exit_code == 2 and "foreign.dedup: not a dedup index" in result.stderr
    assert foreign.read_text() == "hello\n" * 100
    short = tmp_path / "short.txt"
    short.write_text("Too short to compare.\n")
    db = tmp_path / "i.dedup"
    result = run("index", "add", short, "--db", db)  # a short text is stored (exact copies only)
    assert result.exit_code == 0 and "compared as an exact copy only" in result.stdout


OPENING = (["check", "doc.txt"], ["index", "list"], ["index", "export"], ["index", "stats"],
           ["index", "remove", "--older-than", "30d"], ["index", "optimize"])  # every command that opens


def test_an_index_under_a_file_says_the_file_is_not_a_folder_in_every_command(tmp_path):
    """s23 audit of #12: `index add --db FILE/x.dedup` said "FILE is not a folder", every
    command that only opens an index said "no such index" (as if the path were fine)."""
    (tmp_path / "doc.txt").write_text(prose(random.Random(6), 40), encoding="utf-8")
    (tmp_path / "file").write_text("x")
    for args in OPENING:
        result = run(*args, "--db", "file/x.dedup")
        assert result.exit_code == 2 and result.stderr == "dedup: file/x.dedup: no such index: file is not a folder\n", \
            (args, result.stderr)
    result = run("index", "add", "doc.txt", "--db", "file/x.dedup")
    assert result.exit_code == 2 and "file/x.dedup: cannot create the index: file is not a folder" in result.stderr


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_a_pseudo_file_as_the_index_is_said_to_be_no_index_file(tmp_path):
    """s23 audit of #12: ``--db /proc/self/status`` (a regular file that says 0 bytes yet
    has content) was "empty (0 bytes), not a dedup index yet ... `index add` creates the
    index in it", or for ``index add`` "the folder is read-only"."""
    (tmp_path / "doc.txt").write_text(prose(random.Random(6), 40), encoding="utf-8")
    for args in (*OPENING, ["index", "add", "doc.txt"]):
        result = run(*args, "--db", "/proc/self/status")
        assert result.exit_code == 2 and result.stderr.startswith(
            "dedup: /proc/self/status: is a special file (its size reads 0 bytes but it has content"), \
            (args, result.stderr)
        assert result.stderr.rstrip().endswith("not an index file")


def test_an_index_written_while_it_is_opened_is_no_special_file(tmp_path, monkeypatch):
    """Review R4, session 24: the pseudo-file test read the size (0) and then a byte; an
    index file that another process filled between the two (a first ``index add``
    creating it: SQLite's connect leaves 0 bytes, its first write fills them) was refused
    as "a special file", exit 2.  The race made certain: the size read says 0 bytes of a
    file that has its pages."""
    import dedup.storage.sqlite as sqlite_storage

    db = tmp_path / "i.dedup"
    with Index.open(db) as idx:
        idx.add(prose(random.Random(9), 40), doc_id="a")
    real, stale = sqlite_storage._size, {str(db)}

    def size_before_the_write(name):  # the first look at the index file, before its pages were written
        if name in stale:
            stale.discard(name)
            return 0
        return real(name)

    monkeypatch.setattr(sqlite_storage, "_size", size_before_the_write)
    with Index.open(db) as idx:
        assert "a" in idx
    assert not stale  # the stale size was read


def test_index_add_load_stores_without_checking(tmp_path):
    rng = random.Random(7)
    base = [prose(rng, 60) for _ in range(3)]
    docs = write_docs(tmp_path / "in", {"a.txt": base, "b.txt": base})
    db = tmp_path / "i.dedup"
    result = run("index", "add", docs, "--db", db, "--load")
    assert result.exit_code == 0 and "b.txt: added: loaded without checking" in result.stdout
    (docs / "c.txt").write_text((docs / "a.txt").read_text())
    assert run("check", docs / "c.txt", "--db", db).exit_code == 1


def test_load_refuses_options_it_would_ignore(tmp_path):
    from click.testing import CliRunner

    from dedup.cli import main

    (tmp_path / "a.txt").write_text("one two three four five six seven eight nine ten")
    res = CliRunner().invoke(main, ["index", "add", str(tmp_path), "--db", str(tmp_path / "i.dedup"),
                                    "--load", "--policy", "strip"])
    assert res.exit_code == 2 and "--load stores everything unchecked" in res.output
    assert not (tmp_path / "i.dedup").exists()


def test_index_optimize_writes_the_bucket_file_that_check_then_uses(tmp_path):
    rng = random.Random(8)
    base = [prose(rng, 60) for _ in range(3)]
    docs = write_docs(tmp_path / "in", {"a.txt": base, "b.txt": [prose(rng, 60) for _ in range(3)]})
    probe = write_docs(tmp_path / "probe", {"p.txt": [rewrite(rng, p, 0.1) for p in base]})
    db = tmp_path / "i.dedup"
    assert run("index", "add", docs, "--db", db).exit_code == 0
    before = json.loads(run("check", probe, "--db", db, "--format", "json").stdout)["verdicts"]
    assert "none in use (6 paragraphs read into memory" in run("index", "stats", "--db", db).stdout
    result = run("index", "optimize", "--db", db)
    assert result.exit_code == 0 and "6 paragraphs and 2 documents" in result.stdout
    assert len(list(tmp_path.glob("i.dedup-lsh.*[0-9a-f]"))) == 1
    assert "6 paragraphs" not in run("index", "stats", "--db", db).stdout.splitlines()[-1]
    stats = json.loads(run("index", "stats", "--db", db, "--format", "json").stdout)
    assert stats["bucket_file"]["in_use"] and stats["bucket_file"]["paragraphs_behind"] == 0
    assert stats["bytes"] > stats["bucket_file"]["bytes"] > 0  # counted in the size on disk
    checked = run("check", probe, "--db", db, "--format", "json")
    assert checked.exit_code == 1 and json.loads(checked.stdout)["verdicts"] == before
    assert before[0]["seen_paragraphs"] == [0, 1, 2]
    missing = run("index", "optimize", "--db", tmp_path / "none.dedup")
    assert missing.exit_code == 2 and "none.dedup: no such index" in missing.stderr


def test_check_and_add_show_reader_warnings_as_a_scan_does(tmp_path):
    """A record whose id repeats an earlier one's is a reader warning: ``dedup scan``
    lists it on stderr and in the report; ``check`` and ``index add`` said nothing."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"id": "a", "text": "alpha bravo charlie delta echo foxtrot golf hotel india"}\n'
                    '{"id": "a", "text": "kilo lima mike november oscar papa quebec romeo sierra"}\n')
    said = "feed.jsonl#a@2: line 2: id \"a\" (a string) repeats the id of line 1"
    scan = run("scan", feed, "--format", "json")
    assert f"dedup: warning: {tmp_path}/{said}" in scan.stderr  # stderr: the file as given (N13 of s18)
    # check and the second add: both already indexed
    for command, code in ((("index", "add"), 0), (("check",), 0), (("index", "add"), 0)):
        res = run(*command, feed, "--db", tmp_path / "i.dedup", "--format", "json")
        assert res.exit_code == code and res.stderr.count("dedup: warning: ") == 1, (command, res.stderr)
        assert f"dedup: warning: {said}" in res.stderr
        assert json.loads(res.stdout)["warnings"] == json.loads(scan.stdout)["warnings"]
    text = run("check", feed, "--db", tmp_path / "i.dedup")
    assert "1 warning:" in text.stdout and said in text.stdout
    quiet = run("check", feed, "--db", tmp_path / "i.dedup", "-q", "--format", "json")
    assert quiet.stderr == "dedup: 1 warning (listed in the report)\n"


def test_a_failed_add_says_what_it_had_committed(tmp_path, monkeypatch):
    """Tester's T3 of #12: an ``index add`` stopped by a storage error (a Redis memory
    limit, a lost server) said only the error, not which documents stay stored."""
    import dedup.index.jobs
    from dedup.storage import IndexFull

    rng = random.Random(9)
    docs = tmp_path / "docs"
    write_docs(docs, {f"d{i}.txt": [prose(rng, 60)] for i in range(5)})
    monkeypatch.setattr(dedup.index.jobs, "BATCH_DOCUMENTS", 2)
    real, calls = Index._decide, []  # the batch pass `index add` runs (dedup.index.settle)

    def full_after_one_batch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise IndexFull(f"{self.path}: cannot write to the index: disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Index, "_decide", full_after_one_batch)
    result = run("index", "add", docs, "--db", tmp_path / "i.dedup")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert "stopped; 2 of the 4 documents read are stored in the index" in lines[-2], result.stderr
    assert lines[-1].endswith("cannot write to the index: disk full")


def test_no_command_leaves_the_wal_and_shm_files_behind(seeded, tmp_path):
    """Session 15's new-user check: empty ``-wal``/``-shm`` files stayed after every
    read-only command: a ``mode=ro`` connection cannot remove them when it closes last.
    A read-only open of a writable file is now a read-write, query-only connection;
    SQLite removes both as it closes."""
    db, _ = seeded
    (tmp_path / "other.txt").write_text(prose(random.Random(3), 120))
    companions = [tmp_path / "articles.dedup-wal", tmp_path / "articles.dedup-shm"]
    for command in (("check", tmp_path / "ukraine.txt"), ("index", "list"), ("index", "stats"),
                    ("index", "export"), ("index", "add", tmp_path / "other.txt"), ("index", "optimize"),
                    ("check", tmp_path / "other.txt")):
        res = run(*command, "--db", db)
        assert res.exit_code in (0, 1), res.output
        assert [p.name for p in companions if p.exists()] == [], command
    with Index.open(db, readonly=True, create=False) as idx:
        assert len(idx) > 0
        with pytest.raises(Exception, match="readonly|read-only"):  # still never written through
            idx._store._conn.execute("DELETE FROM meta")
    assert [p.name for p in companions if p.exists()] == []


def test_a_read_only_command_never_checkpoints_a_foreign_database(tmp_path):
    """Review R5 (session 16): since the read-only commands open a writable index
    read-write (query-only, so its -wal/-shm go when they close), a foreign WAL-mode
    database given as --db was refused -- and checkpointed, its -wal folded and removed.
    Only a file holding a dedup index's tables is opened that way now."""
    import shutil
    import sqlite3

    conn = sqlite3.connect(tmp_path / "live.sqlite")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    for suffix in ("", "-wal"):  # a copy as a crashed application leaves it
        shutil.copy(tmp_path / f"live.sqlite{suffix}", tmp_path / f"g.sqlite{suffix}")
    conn.close()
    before = {s: (tmp_path / f"g.sqlite{s}").read_bytes() for s in ("", "-wal")}
    (tmp_path / "a.txt").write_text(prose(random.Random(1), 80))
    res = run("check", tmp_path / "a.txt", "--db", tmp_path / "g.sqlite")
    assert res.exit_code == 2 and "not a dedup index" in res.stderr
    assert {s: (tmp_path / f"g.sqlite{s}").read_bytes() for s in ("", "-wal")} == before


def test_an_add_interrupted_while_it_writes_its_report_says_it_was_complete(tmp_path, monkeypatch):
    """Tester's F9 (session 16): a SIGTERM while ``index add`` wrote its report (after
    everything was stored) said only "interrupted by SIGTERM"."""
    from dedup.cli.output import Output

    docs = write_docs(tmp_path / "docs", {f"d{i}.txt": [prose(random.Random(i), 60)] for i in range(3)})

    def cut(self, render, passages):
        raise KeyboardInterrupt

    monkeypatch.setattr(Output, "write", cut)
    res = CliRunner().invoke(main, ["index", "add", str(docs), "--db", str(tmp_path / "i.dedup")])
    assert res.exit_code == 130
    assert "the add was complete before this: 3 of the 3 documents read are stored" in res.stderr, res.stderr
    with Index.open(tmp_path / "i.dedup", readonly=True, create=False) as idx:
        assert len(idx) == 3


def test_check_of_a_stored_document_says_already_indexed_as_add_does(tmp_path):
    # A new user of session 16: `dedup check` of a file just added said DUPLICATE of
    # itself (exit 1) where `dedup index add` of it says "already indexed" (exit 0).
    rng = random.Random(21)
    docs = write_docs(tmp_path / "in", {"a.txt": [prose(rng, 60) for _ in range(3)]})
    db = tmp_path / "i.dedup"
    assert run("index", "add", docs / "a.txt", "--db", db).exit_code == 0
    (docs / "b.txt").write_text((docs / "a.txt").read_text())
    again = run("index", "add", docs / "a.txt", "--db", db)
    checked = run("check", docs / "a.txt", docs / "b.txt", "--db", db, "--format", "json")
    assert again.exit_code == 0 and "a.txt: already indexed" in again.stdout
    verdicts = json.loads(checked.stdout)["verdicts"]
    assert [(v["id"], v["verdict"], v["already_indexed"]) for v in verdicts] == [
        ("in/a.txt", "already indexed", True), ("in/b.txt", "duplicate", False)]  # a copy under another id
    assert checked.exit_code == 1  # (for b.txt)
    alone = run("check", docs / "a.txt", "--db", db)
    assert alone.exit_code == 0 and "a.txt: already indexed" in alone.stdout and "1 already indexed" in alone.stdout


def test_check_verdicts_name_the_document_in_json_as_in_csv(seeded, tmp_path):
    """New user N24 (s17): two files' records of one id are told apart in the JSON and
    JSON Lines verdicts by ``path`` (the report name), as in the CSV."""
    db, lines = seeded
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.jsonl").write_text(json.dumps({"id": "wire-1", "text": lines[6]}) + "\n", encoding="utf-8")
    (two / "b.jsonl").write_text(json.dumps({"id": "wire-1", "text": "Another text with other words."}) + "\n",
                                 encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(run("check", two, "--db", db, "--format", "csv").stdout)))
    named = [(r["path"], r["verdict"]) for r in rows]
    assert len({path for path, _ in named}) == 2
    report = json.loads(run("check", two, "--db", db, "--format", "json").stdout)
    assert [(v["path"], v["verdict"]) for v in report["verdicts"]] == named
    assert {v["id"] for v in report["verdicts"]} == {"wire-1"}
    lines_out = [json.loads(l) for l in run("check", two, "--db", db, "--format", "jsonl").stdout.splitlines()]
    assert [(v["path"], v["verdict"]) for v in lines_out if v["kind"] == "verdict"] == named


def test_check_sees_one_snapshot_when_an_add_of_the_same_id_commits_meanwhile(tmp_path, monkeypatch):
    # Whole-diff review (session 17): check asked "stored with this text?" and then
    # judged the rest in a second read transaction; an add of the same id committed in
    # between made the document a DUPLICATE of its own stored copy (exit 1).  Here the
    # add commits exactly there -- just after the look-up of the ids, inside the
    # snapshot -- from another connection to the same file.
    import importlib

    run_module = importlib.import_module("dedup.index.run")
    rng = random.Random(22)
    docs = write_docs(tmp_path / "in", {"a.txt": [prose(rng, 60) for _ in range(3)],
                                        "other.txt": [prose(rng, 60) for _ in range(3)]})
    db = tmp_path / "i.dedup"
    assert run("index", "add", docs / "other.txt", "--db", db).exit_code == 0
    real, added = run_module.stored_with, []

    def add_after_the_look_up(store, ids, texts):  # after "stored?", before the judgement
        found = real(store, ids, texts)
        with Index.open(db) as other:
            added[:] = [other.add(text, doc_id=doc_id).added for doc_id, text in zip(ids, texts)]
        return found

    monkeypatch.setattr(run_module, "stored_with", add_after_the_look_up)
    checked = run("check", docs / "a.txt", "--db", db, "--format", "json")
    assert added == [True]
    verdicts = json.loads(checked.stdout)["verdicts"]
    assert checked.exit_code == 0, verdicts
    assert [(v["id"], v["verdict"]) for v in verdicts] == [("in/a.txt", "new")], verdicts


def test_check_signs_outside_its_read_snapshot_and_sees_an_add_made_meanwhile(tmp_path, monkeypatch):
    """``dedup check`` signs a batch before its read snapshot (note of session 17: the
    snapshot of 06e9a57 was held through signing, so an add's write-ahead log could not
    be checkpointed meanwhile); a document whose id an add stores after the signing
    and before the snapshot is "already indexed", not its own duplicate."""
    import importlib
    import sqlite3

    run_module = importlib.import_module("dedup.index.run")
    rng = random.Random(23)
    docs = write_docs(tmp_path / "in", {"a.txt": [prose(rng, 60) for _ in range(3)],
                                        "other.txt": [prose(rng, 60) for _ in range(3)]})
    db = tmp_path / "i.dedup"
    assert run("index", "add", docs / "other.txt", "--db", db).exit_code == 0
    real, checkpoints = run_module.sign, []

    def sign_while_another_adds(texts, *args, **kwargs):
        signed = real(texts, *args, **kwargs)
        if checkpoints:
            return signed  # the add below signs too
        checkpoints.append(None)
        with Index.open(db, auto_optimize=False) as other:
            for text in texts:
                assert other.add(text, doc_id="in/a.txt").added
        conn = sqlite3.connect(db, timeout=0)
        try:
            checkpoints[:] = [conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]]
        finally:
            conn.close()
        return signed

    monkeypatch.setattr(run_module, "sign", sign_while_another_adds)
    checked = run("check", docs / "a.txt", "--db", db, "--format", "json")
    assert checked.exit_code == 0, checked.output
    verdicts = json.loads(checked.stdout)["verdicts"]
    assert checkpoints == [0]  # not held off (1: busy, a reader's snapshot was open)
    assert [(v["id"], v["verdict"]) for v in verdicts] == [("in/a.txt", "already indexed")], verdicts


def test_check_judges_a_document_removed_between_its_signing_and_its_snapshot(tmp_path, monkeypatch):
    """A document stored (with that text) when ``dedup check`` signs its batch and
    removed before its snapshot is judged: the verdict is the index's as the snapshot
    sees it, never "already indexed".  (Until session 19 check looked the ids up before
    signing too, and signed only the documents not stored: review R16 of session 18.)"""
    rng = random.Random(24)
    docs = write_docs(tmp_path / "in", {"a.txt": [prose(rng, 60) for _ in range(3)]})
    db = tmp_path / "i.dedup"
    assert run("index", "add", docs / "a.txt", "--db", db).exit_code == 0
    original, signed = Index._prepare, []

    def remove_after_signing(self, inputs, **how):
        signed.append([inp.doc_id for inp in inputs])
        if len(signed) == 1:
            with Index.open(db) as other:
                other.remove("in/a.txt")
        return original(self, inputs, **how)

    monkeypatch.setattr(Index, "_prepare", remove_after_signing)
    checked = run("check", docs / "a.txt", "--db", db, "--format", "json")
    assert checked.exit_code == 0, checked.output
    assert signed == [["in/a.txt"]]  # signed once, stored or not
    verdicts = json.loads(checked.stdout)["verdicts"]
    assert [(v["id"], v["verdict"]) for v in verdicts] == [("in/a.txt", "new")], verdicts

def test_check_text_says_a_duplicate_is_accepted_under_strip_or_flag(tmp_path):
    # New user M2 of s18: `dedup check --policy strip|flag` said DUPLICATE as under reject.
    rng = random.Random(52)
    base = [prose(rng, 60) for _ in range(3)]
    docs = write_docs(tmp_path / "in", {"a.txt": base, "b.txt": base[:2] + [prose(rng, 30)]})
    db = tmp_path / "i.dedup"
    assert run("index", "add", docs / "a.txt", "--db", db).exit_code == 0
    said = {policy: run("check", docs / "b.txt", "--db", db, "--policy", policy).stdout
            for policy in ("reject", "strip", "flag")}
    assert "b.txt: DUPLICATE: " in said["reject"]
    assert "b.txt: DUPLICATE (accepted under strip: seen paragraphs cut): " in said["strip"]
    assert "b.txt: DUPLICATE (accepted under flag): " in said["flag"]


def test_an_add_that_makes_a_new_index_says_so(tmp_path, monkeypatch):
    """New-user NU-1 of session 24: a mistyped --db (article.dedup for articles.dedup)
    silently made a new, empty index and judged the article against it ("nothing seen
    before", exit 0).  The add that makes an index says so on stderr (not with -q); the
    next add to it does not."""
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("The harbour board met on Tuesday to discuss the strike at the port today.")

    def add(*extra):
        return subprocess.run([sys.executable, "-m", "dedup", "index", "add", "a.txt", "--db", "i.dedup", *extra],
                              capture_output=True, text=True, timeout=300)

    first = add()
    assert first.returncode == 0 and "dedup: i.dedup: no index there: this add makes a new one" in first.stderr
    assert "makes a new one" not in add().stderr
    (tmp_path / "i.dedup").unlink()
    assert "makes a new one" not in add("-q").stderr
