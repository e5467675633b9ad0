"""dedup never reads its own reports as documents (#12, session 15's new-user check 1).

``dedup scan fixtures/ -o fixtures/r.json`` was accepted (r.json did not exist yet); the
next run of the same command refused to write over r.json, an input now (exit 2: the
first CI run passes, the second fails), and a scan without ``-o`` read it as an input.
A text, CSV or HTML report left in a scanned folder was read as a document and reported
as a copy of every file it quotes.  Now a report found inside a scanned folder is left
out with a warning naming it, the ``-o`` file itself without a word, and a report named
on the command line is read like any file."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dedup.cli import main
from dedup.readers.ours import report_kind

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
    export = run("index", "export", "--db", "i.dedup")
    (reports / "export.jsonl").write_text(export.stdout)
    written = sorted(p.name for p in reports.iterdir())
    assert len(written) == 16

    result = scanned("news")
    assert [d["path"] for d in result["documents"]] == ["a.txt", "b.txt", "c.txt"]
    assert result["errors"] == []
    assert sorted(w["path"] for w in result["warnings"]) == [f"reports/{n}" for n in written]
    assert all("report written by dedup, not a document" in w["warning"] for w in result["warnings"])
    assert {(p["a"]["path"], p["b"]["path"]) for p in result["pairs"]} == {("a.txt", "b.txt")}

    added = run("index", "add", "news", "--db", "i2.dedup", "--format", "json", "-o", "-")
    assert added.exit_code in (0, 1), added.output
    report = json.loads(added.stdout)
    assert sorted(v["id"] for v in report["verdicts"]) == ["news/a.txt", "news/b.txt", "news/c.txt"]
    assert len(report["warnings"]) == 16 and report["errors"] == []


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


def test_a_record_shaped_like_a_report_line_is_read_when_its_text_field_is_asked_for(news):
    (news / "lines.jsonl").write_text(json.dumps({"kind": "error", "path": "p", "error": STORY}) + "\n")
    assert report_kind((news / "lines.jsonl").read_bytes()) == "JSON Lines"
    assert report_kind((news / "lines.jsonl").read_bytes(), text_field="error") is None
    result = scanned("news", "--text-field", "error")
    assert "lines.jsonl:1" in [d["path"] for d in result["documents"]]
    assert result["warnings"] == []


def test_coloured_text_reports_are_recognized():
    head = "\x1b[1mScanned 1,204 documents in 1 file, 9 paragraphs\x1b[0m (threshold 0.3, word 2-grams).\n"
    assert report_kind(head.encode()) == "text"
