"""dedup never reads its own reports as documents (#12, session 15's new-user check 1),
and a file cannot pass for one (tester's F5, session 16).

``dedup scan fixtures/ -o fixtures/r.json`` was accepted (r.json did not exist yet); the
next run of the same command refused to write over r.json, an input now (exit 2: the
first CI run passes, the second fails), and a scan without ``-o`` read it.  A text, CSV
or HTML report left in a scanned folder was read as a document and reported as a copy
of every file it quotes.  Now every report file a command writes is recorded
(:mod:`dedup.report.written`); a recorded report found inside a scanned folder, still
as written, is left out with a warning naming it, the ``-o`` file itself without a
word, and a report named on the command line is read like any file.  A first version
recognized reports by their first line: one forged line then hid a copied document
from the scan (F5); contents alone now never leave a file out."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from dedup.cli import main
from dedup.report.shapes import report_kind

STORY = ("The harbour bridge will close to heavy traffic next month after engineers found corrosion "
         "in two of its four main supports during a routine inspection in the spring.\n\n"
         "Lorries heavier than seven tonnes will be diverted along the ring road, adding about twenty "
         "minutes to journeys between the port and the industrial estate.\n")
OTHER = ("The city library reopens on Monday after a two-year renovation that added a reading room, "
         "a children's floor and a cafe overlooking the river.\n")
FORMATS = ("json", "jsonl", "csv", "text", "html")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def news(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path / "cache"))  # where written reports are recorded
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "a.txt").write_text(STORY)
    (tmp_path / "news" / "b.txt").write_text(STORY.replace("about", "roughly"))
    (tmp_path / "news" / "c.txt").write_text(OTHER)
    return tmp_path / "news"


def scanned(*args) -> dict:
    res = run("scan", *args, "--format", "json", "-o", "-")
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_scan_into_the_scanned_folder_runs_twice(news, fmt):
    """The CI case: the second run writes over the first run's report, and reads the
    same documents (it refused with exit 2 before)."""
    target = f"news/report.{'txt' if fmt == 'text' else fmt}"
    first = run("scan", "news", "-o", target, "--format", fmt)
    assert first.exit_code == 1, first.output
    written = (news / target.split("/")[1]).read_bytes()
    second = run("scan", "news", "-o", target, "--format", fmt)
    assert second.exit_code == 1, second.output
    assert "warning" not in second.stderr  # the -o file is left out without a word
    again = (news / target.split("/")[1]).read_bytes()
    if fmt in ("json", "jsonl", "csv"):
        assert again == written
    assert [d["path"] for d in scanned("news", "--exclude", "report.*")["documents"]] == ["a.txt", "b.txt", "c.txt"]


def test_reports_of_every_command_found_in_a_folder_are_named_not_read(news):
    reports = news / "reports"
    reports.mkdir()
    assert run("index", "add", "news", "--db", "i.dedup", "-q").exit_code in (0, 1)
    for fmt in FORMATS:
        suffix = "txt" if fmt == "text" else fmt
        for command in (("scan", "news"), ("check", "news/a.txt", "--db", "i.dedup"),
                        ("index", "add", "news/c.txt", "--db", "i.dedup")):
            name = f"{command[0]}-{command[-1].replace('/', '_')}.{suffix}"
            res = run(*command, "--format", fmt, "-o", reports / name, "-q")
            assert res.exit_code in (0, 1), res.output
    export = run("index", "export", "--db", "i.dedup")  # on stdout: not recorded, so read (and unreadable)
    (news / "export.jsonl").write_text(export.stdout)
    written = sorted(p.name for p in reports.iterdir())
    assert len(written) == 15

    result = scanned("news")
    assert [d["path"] for d in result["documents"]] == ["a.txt", "b.txt", "c.txt"]
    assert {e["path"].split(":")[0].split("#")[0] for e in result["errors"]} == {"export.jsonl"}
    assert sorted(w["path"] for w in result["warnings"]) == [f"reports/{n}" for n in written]
    assert all("not read: a report dedup wrote on this machine" in w["warning"] for w in result["warnings"])
    assert {(p["a"]["path"], p["b"]["path"]) for p in result["pairs"]} == {("a.txt", "b.txt")}

    added = run("index", "add", "news", "--db", "i2.dedup", "--format", "json", "-o", "-")
    assert added.exit_code in (0, 1), added.output
    report = json.loads(added.stdout)
    assert sorted(v["id"] for v in report["verdicts"]) == ["news/a.txt", "news/b.txt", "news/c.txt"]
    assert len(report["warnings"]) == 15


def test_a_report_changed_since_it_was_written_is_read(news):
    assert run("scan", "news", "-o", "news/report.txt").exit_code == 1
    with open(news / "report.txt", "a") as f:
        f.write("\n" + OTHER)
    result = scanned("news")
    assert "report.txt" in [d["path"] for d in result["documents"]] and result["warnings"] == []


def test_a_forged_report_header_hides_no_document(news):
    """Tester's F5: a copy of a.txt under a first line copied from a text report was
    skipped as "a text report written by dedup": the scan said "No duplicates found",
    exit 0.  Now it is read, and as ``-o`` of a CI job that writes into the folder it
    is refused (exit 2), not written over unread."""
    forged = "Scanned 1 document in 1 file, 6 paragraphs (threshold 0.3, word 2-grams).\n\n" + OTHER
    (news / "d.txt").write_text(forged)
    result = scanned("news")
    assert ("c.txt", "d.txt") in {(p["a"]["path"], p["b"]["path"]) for p in result["pairs"]}
    assert result["warnings"] == []
    (news / "report.txt").write_text(forged)
    res = run("scan", "news", "-o", "news/report.txt")
    assert res.exit_code == 2
    assert "it looks like a report of dedup's, but not one this machine's dedup recorded writing" in res.stderr
    assert (news / "report.txt").read_text() == forged


def test_a_report_named_on_the_command_line_is_read(news):
    assert run("scan", "news", "-o", "news/report.txt").exit_code == 1
    result = scanned("news/report.txt")
    assert [d["path"] for d in result["documents"]] == ["report.txt"] and result["warnings"] == []


def test_an_existing_file_that_is_no_report_is_still_refused(news):
    (news / "r.json").write_text('[{"id": "x", "text": "a record"}]')
    res = run("scan", "news", "-o", "news/r.json")
    assert res.exit_code == 2 and "it is an input of this run" in res.stderr
    assert (news / "r.json").read_text() == '[{"id": "x", "text": "a record"}]'


@pytest.mark.parametrize("head", [
    # JSON Lines records holding the text field are documents, whatever else they hold
    b'{"kind": "error", "path": "a", "error": "b", "text": "a document"}\n',
    b'{"kind": "paragraph", "similarity": 1.0, "a": {}, "b": {}, "text": "x"}\n',
    b'{"id": "x", "added": "2026", "added_unix": 1, "meta": {}, "text": "t"}\n',
    # near misses of the text report's first line
    b"Scanned 5 documents in 5 files, 43 paragraphs.\n",
    b"Scanned the documents in 5 files, 43 paragraphs (threshold 0.3, word 2-grams).\n",
    b"The report said: Scanned 5 documents in 5 files, 43 paragraphs (threshold 0.3, word 2-grams).\n",
    b"Added to the list: (threshold 0.3, two 2-grams)\n",
    # CSV with another header; a JSON array; an HTML page of someone else
    b"kind,similarity\npair,1\n",
    b'[{"settings": {"num_perm": 1}}]',
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>dedup scan</title>',
])
def test_inputs_shaped_almost_like_a_report_are_read(head):
    assert report_kind(head) is None


def test_a_record_shaped_like_a_report_line_is_no_report_when_it_holds_the_text_field():
    line = (json.dumps({"kind": "error", "path": "p", "error": STORY}) + "\n").encode()
    assert report_kind(line) == "JSON Lines"
    assert report_kind(line, text_field="error") is None


def test_coloured_text_reports_are_recognized():
    head = "\x1b[1mScanned 1,204 documents in 1 file, 9 paragraphs\x1b[0m (threshold 0.3, word 2-grams).\n"
    assert report_kind(head.encode()) == "text"


def test_only_regular_files_are_recorded(tmp_path):
    """``-o /dev/stdout`` or a FIFO is never read back to be recorded (it would block)."""
    from dedup.report.written import RECORD, REPORT, Written, record

    os.mkfifo(tmp_path / "fifo")
    for path in ("/dev/null", tmp_path / "fifo"):
        record(str(path), tmp_path)
    assert not (tmp_path / RECORD).exists()
    (tmp_path / "r.txt").write_text("a report")
    record(str(tmp_path / "r.txt"), tmp_path)
    assert Written(tmp_path).kind(tmp_path / "r.txt") == REPORT
    (tmp_path / "r.txt").write_text("a forged one")  # same path, new contents
    assert Written(tmp_path).kind(tmp_path / "r.txt") is None


def test_a_report_also_named_as_an_input_is_never_written_over(news):
    """Review R1 (session 16): with news/report.json a recorded report, ``scan news/
    news/report.json -o news/report.json`` read nothing of it and wrote over it, while
    the other order of the same arguments refused: the first root holding it decided."""
    assert run("scan", "news", "-o", "news/report.json").exit_code == 1
    before = (news / "report.json").read_bytes()
    for roots in (("news", "news/report.json"), ("news/report.json", "news")):
        res = run("scan", *roots, "-o", "news/report.json")
        assert res.exit_code == 2 and "it is an input of this run" in res.stderr, roots
        assert (news / "report.json").read_bytes() == before


def test_the_record_follows_cache_dir(news, tmp_path):
    """Review R8: ``--cache-dir X`` kept its signatures in X but recorded its reports in
    the default cache folder."""
    from dedup.report.written import RECORD

    assert run("scan", "news", "--cache-dir", tmp_path / "x", "-o", "news/report.txt").exit_code == 1
    assert (tmp_path / "x" / RECORD).exists() and not (tmp_path / "cache" / RECORD).exists()
    again = run("scan", "news", "--cache-dir", tmp_path / "x", "-o", "news/report.txt")
    assert again.exit_code == 1 and "warning" not in again.stderr
    other = run("scan", "news", "-o", "news/report.txt")  # another cache folder: not recorded there
    assert other.exit_code == 2 and "not one this machine's dedup recorded writing" in other.stderr


def test_a_parquet_report_folder_in_the_scanned_folder_is_not_read(news):
    """A new user of session 16: ``--format parquet -o news/report`` wrote a folder of
    tables that the next scan of ``news`` read (as two unreadable documents, exit 2
    with ``--exit-zero`` off and nothing else wrong)."""
    pytest.importorskip("pyarrow")
    assert run("scan", "news", "--format", "parquet", "-o", "news/report").exit_code == 1
    report = scanned("news")
    assert [d["path"] for d in report["documents"]] == ["a.txt", "b.txt", "c.txt"] and report["errors"] == []
    assert sorted(w["path"] for w in report["warnings"]) == [
        f"report/{table}/part-00000.parquet"
        for table in ("boilerplate", "documents", "errors", "groups", "pairs", "summary", "warnings")]
    named = run("scan", "news/report/pairs/part-00000.parquet")  # named itself: read (a table without text)
    assert named.exit_code == 2 and "no text column" in named.stderr


def test_a_report_is_digested_as_it_is_written_not_read_again(news, monkeypatch):
    """Review leftover of session 16: recording a report read the whole file again
    to digest it; the digest is now taken from the bytes as they are written."""
    import dedup.report.written as written

    real, read = written.digest, []
    monkeypatch.setattr(written, "digest", lambda path: read.append(path) or real(path))
    assert run("scan", "news", "-o", "news/report.json", "--format", "json").exit_code == 1
    assert read == []
    [entry] = [json.loads(line) for line in (news.parent / "cache" / written.RECORD).read_text().splitlines()]
    assert entry["digest"] == real(str(news / "report.json"))
    assert [d["path"] for d in scanned("news")["documents"]] == ["a.txt", "b.txt", "c.txt"]


def test_check_and_add_follow_cache_dir_too(news, tmp_path):
    """Review leftover of session 16: ``dedup check`` / ``index add`` had no
    ``--cache-dir``, so a report a ``scan --cache-dir X`` wrote into a folder was read
    by them as a document (and theirs were recorded in the default folder only)."""
    from dedup.report.written import RECORD

    x = tmp_path / "x"
    assert run("scan", "news", "--cache-dir", x, "-o", "news/report.txt").exit_code == 1
    db = tmp_path / "i.dedup"
    added = run("index", "add", "news", "--db", db, "--cache-dir", x, "--format", "json", "-o", "news/added.json")
    assert added.exit_code == 1, added.output  # b.txt repeats a.txt
    assert "report.txt: not read: a report dedup wrote" in added.stderr
    assert not (tmp_path / "cache" / RECORD).exists()  # recorded in x, as the scan's
    checked = json.loads(run("check", "news", "--db", db, "--cache-dir", x, "--format", "json").stdout)
    assert [d["path"] for d in checked["documents"]] == ["news/a.txt", "news/b.txt", "news/c.txt"]  # (ids)
    assert sorted(w["path"] for w in checked["warnings"]) == ["added.json", "report.txt"]
    default = run("check", "news", "--db", db, "--format", "json")  # the default cache folder: no record there
    read = json.loads(default.stdout)
    assert [d["path"] for d in read["documents"]] == ["news/a.txt", "news/b.txt", "news/c.txt", "news/report.txt"]
    assert [e["path"] for e in read["errors"]] == ["news/added.json"]  # (a JSON object: no records)


def test_a_report_reached_through_a_linked_folder_is_not_read(news, tmp_path):
    # New user's N17 (session 17): left out by its real path, read through a link.
    assert run("scan", "news", "-o", "news/report.txt").exit_code == 1
    os.symlink(news, tmp_path / "linked")
    result = scanned("linked")
    assert sorted(d["path"] for d in result["documents"]) == ["a.txt", "b.txt", "c.txt"]
    assert [w["path"] for w in result["warnings"]] == ["report.txt"]
    # ... and a report written through the link is left out by its real path too
    assert run("scan", "linked", "-o", "linked/again.txt").exit_code == 1
    assert sorted(w["path"] for w in scanned("news")["warnings"]) == ["again.txt", "report.txt"]


def test_a_file_link_to_a_recorded_report_is_not_read(news, tmp_path):
    """Tester's F2 (session 18): a folder link was seen, a file link to a recorded report
    (under another name) was read as an input -- a text report linked in pairs with the
    corpus it quotes."""
    (tmp_path / "reports").mkdir()
    assert run("scan", "news", "-o", "reports/r.txt").exit_code == 1
    os.symlink(tmp_path / "reports" / "r.txt", news / "linked-report.md")
    result = scanned("news")
    assert sorted(d["path"] for d in result["documents"]) == ["a.txt", "b.txt", "c.txt"]
    assert [w["path"] for w in result["warnings"]] == ["linked-report.md"]
    (tmp_path / "reports" / "r.txt").write_text(OTHER)  # changed since: no report of dedup's, read
    assert "linked-report.md" in {d["path"] for d in scanned("news")["documents"]}


def test_a_report_recorded_through_a_link_is_found_by_its_real_path(news, tmp_path):
    """Tester's F2b (session 18): records made before paths were resolved hold the
    path a report was written through (``linked/r.txt``); a scan of the real folder
    read the report."""
    os.symlink(news, tmp_path / "linked")
    assert run("scan", "news", "-o", "news/r.txt").exit_code == 1
    record = tmp_path / "cache" / "reports-written.jsonl"
    [entry] = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    entry["path"] = str(tmp_path / "linked" / "r.txt")  # as an older dedup recorded it
    record.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    result = scanned("news")
    assert sorted(d["path"] for d in result["documents"]) == ["a.txt", "b.txt", "c.txt"]
    assert [w["path"] for w in result["warnings"]] == ["r.txt"]


def test_a_walk_opens_no_file_to_tell_an_index_beside_the_corpus(news, monkeypatch):
    """Review R10 (session 18): every walked file got an extra open and 16-byte read,
    plus a stat per '-' in its name, to recognise an index beside the corpus.  Now a
    file is opened only when its size can be an SQLite database's (whole 512-byte
    pages), and a name is tried as an index's companion only for the suffixes an
    index gives them."""
    import dedup.cli.left_out as left_out

    for i in range(20):
        (news / f"2024-01-05-talks-in-istanbul-{i}.txt").write_text(OTHER + f"Take {i}.\n")
    (news / "page.txt").write_bytes(b"x" * 1024)  # a size an SQLite database can have: tested
    assert run("index", "add", "news", "--db", "news/articles.dedup", "-q").exit_code in (0, 1)
    (news / "articles.dedup-wal").write_bytes(b"\x37\x7f\x06\x82\x00")
    opened, stats = [], []
    real_open, real_isfile = os.open, os.path.isfile
    monkeypatch.setattr(left_out.os, "open", lambda p, *a, **k: opened.append(os.path.basename(p)) or real_open(p, *a, **k))
    monkeypatch.setattr(left_out.os.path, "isfile", lambda p: stats.append(os.path.basename(p)) or real_isfile(p))
    left = left_out.LeftOut(None, ["news"])
    from dedup.inputs import list_inputs
    from dedup.readers import ReadOptions
    from dedup.sources import Selection

    names = [e.name for e in list_inputs([news], left.selection(Selection()), ReadOptions())]
    monkeypatch.undo()
    assert "articles.dedup" not in names and "articles.dedup-wal" not in names and "page.txt" in names
    assert sorted(opened) == ["articles.dedup", "articles.dedup", "page.txt"]  # the database, as itself and as the wal's
    assert stats == ["articles.dedup"]
    assert sorted(left.skipped) == ["articles.dedup", "articles.dedup-wal"]


def test_an_index_kept_beside_the_corpus_is_not_read(news):
    # New user's N26 (session 17): the README's own layout, `dedup index add ic/ --db
    # ic/articles.dedup`, made the next `dedup scan ic/` exit 2 ("binary file").
    assert run("index", "add", "news", "--db", "news/articles.dedup", "-q").exit_code in (0, 1)
    (news / "articles.dedup-lsh.1").write_bytes(b"DEDUPLSH\x00\x00 bucket file")  # the files beside it
    (news / "articles.dedup-wal").write_bytes(b"\x37\x7f\x06\x82\x00")
    (news / "articles-notes.txt").write_text(OTHER.replace("Monday", "Friday"))  # a document beside it
    res = run("scan", "news", "--format", "json", "-o", "-")
    assert res.exit_code == 1, res.output
    result = json.loads(res.stdout)
    assert result["errors"] == []
    assert sorted(d["path"] for d in result["documents"]) == ["a.txt", "articles-notes.txt", "b.txt", "c.txt"]
    assert {w["path"]: w["warning"] for w in result["warnings"]} == {
        "articles.dedup": "not read: an SQLite database (a dedup index?), not a document "
                          "(name the file itself to read it)",
        "articles.dedup-lsh.1": "not read: a file of the index articles.dedup, not a document "
                                "(name the file itself to read it)",
        "articles.dedup-wal": "not read: a file of the index articles.dedup, not a document "
                              "(name the file itself to read it)"}
    named = run("scan", "news/articles.dedup", "--format", "json", "-o", "-")  # named itself: read
    assert named.exit_code == 2 and "binary file" in json.loads(named.stdout)["errors"][0]["error"]


def test_a_scan_report_never_overwrites_the_manifest_clean_wrote(news, tmp_path):
    """Review R12 (session 18): a recorded clean manifest passed for a recorded report,
    so ``dedup scan cleaned/ -o cleaned/dedup-clean.json`` wrote a report over it."""
    assert run("clean", "news", str(tmp_path / "cleaned")).exit_code == 0
    manifest = tmp_path / "cleaned" / "dedup-clean.json"
    before = manifest.read_bytes()
    res = CliRunner().invoke(main, ["scan", str(tmp_path / "cleaned"), "-o", str(manifest)])
    assert res.exit_code == 2, res.output
    assert "refusing to write" in res.stderr and "dedup-clean.json" in res.stderr
    assert manifest.read_bytes() == before


def test_a_clean_manifest_found_by_a_scan_is_left_out_without_a_word(news, tmp_path):
    """New user of session 18: every scan of a cleaned folder counted its manifest as a
    warning; like a command's own -o file, it is left out quietly (read when named)."""
    assert run("clean", "news", str(tmp_path / "cleaned")).exit_code == 0
    result = scanned(tmp_path / "cleaned")
    assert result["warnings"] == [] and "dedup-clean.json" not in {d["path"] for d in result["documents"]}
    quiet = CliRunner().invoke(main, ["scan", str(tmp_path / "cleaned"), "-q", "--format", "json"])
    assert quiet.stderr == ""
    named = CliRunner().invoke(main, ["scan", str(tmp_path / "cleaned" / "dedup-clean.json"), "--format", "json"])
    assert "expected a JSON array" in json.loads(named.stdout)["errors"][0]["error"]
