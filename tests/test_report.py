"""The report writers agree with the JSON contract (``ScanResult.to_dict``)."""

import csv
import io
import json

from conftest import FIXTURES
from dedup import scan
from dedup.report import CSV_COLUMNS, write_report


def render(result, fmt):
    out = io.StringIO()
    write_report(result, fmt, out)
    return out.getvalue()


def test_json_writer_equals_to_dict_and_jsonl_equals_pairs():
    result = scan(FIXTURES)
    assert len(result.pairs) > 5 and any(p.exact for p in result.pairs)
    written = json.loads(render(result, "json"))
    # The summary too (counted as the pairs are written; to_dict counts them again:
    # a new user's finding of session 16 was that to_dict() had no summary).
    assert written == json.loads(json.dumps(result.to_dict()))
    summary = written["summary"]
    assert summary["pairs"] == len(result.pairs) and summary["documents"] == len(result.documents)
    lines = [json.loads(line) for line in render(result, "jsonl").splitlines()]
    assert lines == [json.loads(json.dumps(p.to_dict())) for p in result.pairs]


def test_csv_has_one_row_per_pair():
    result = scan(FIXTURES)
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(result.pairs)
    assert {r["kind"] for r in rows} == {"document", "paragraph"}
    assert all(r["a_paragraph"] == "" for r in rows if r["kind"] == "document")
    assert {r["relation"] for r in rows} == {"near-duplicate"}


def test_csv_lists_the_files_that_could_not_be_read(tmp_path):
    """A scan of clean files and an unreadable one exits 0 with the error only on
    stderr; a CSV report had no trace of it (JSON, JSON Lines, text and HTML had)."""
    folder = tmp_path / "d"
    folder.mkdir()
    text = (FIXTURES / "ukraine-talks.txt").read_text(encoding="utf-8")
    (folder / "a.txt").write_text(text, encoding="utf-8")
    (folder / "b.txt").write_text(text, encoding="utf-8")
    (folder / "=bin\x1b.txt").write_bytes(b"\x00\x01binary")
    result = scan(folder)
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    pairs, errors = rows[:len(result.pairs)], rows[len(result.pairs):]
    assert pairs and all(r["kind"] != "error" and r["error"] == "" for r in pairs)
    assert errors == [{**{c: "" for c in CSV_COLUMNS}, "kind": "error", "a_path": "'=bin\\x1b.txt",
                       "error": "binary file (NUL byte at offset 0)"}]


def test_csv_says_which_pairs_are_contained_in_its_last_column():
    """Tester T7 (session 12): a contained pair (similarity under the threshold) had no
    reason in CSV; ``relation`` is appended, so the old columns keep their places."""
    import random

    from textgen import rich_prose

    from dedup import Document, scan_documents

    rng = random.Random(4)
    quote, around = rich_prose(rng, 40), rich_prose(rng, 160).split()
    report = " ".join(around[:60] + quote.split() + around[60:])
    result = scan_documents([Document("quote.txt", quote), Document("report.txt", report)])
    rows = list(csv.reader(io.StringIO(render(result, "csv"))))
    assert rows[0][:14] == list(CSV_COLUMNS[:14]) and rows[0][14:] == ["relation", "error", "warning"]
    got = {(r[0], r[14]) for r in rows[1:]}
    assert got == {("document", "contained"), ("paragraph", "contained")}
    assert all(float(r[1]) < 0.3 for r in rows[1:])


def test_csv_reports_list_the_warnings_that_q_counts(tmp_path):
    """``-q`` says "1 warning (listed in the report)": the CSV reports, scan and
    check, listed none (session 18, after the new user's N15: the same false claim as
    Parquet's errors)."""
    from click.testing import CliRunner

    from dedup.cli import main

    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"id": "w1", "text": "one two three"}\n{"id": "w1", "text": "four five six"}\n',
                    encoding="utf-8")
    runner = CliRunner()
    scanned = runner.invoke(main, ["scan", str(tmp_path), "--format", "csv", "-q", "--no-cache"])
    assert scanned.exit_code == 0 and "1 warning (listed in the report)" in scanned.stderr
    rows = list(csv.DictReader(io.StringIO(scanned.stdout)))
    assert [(r["kind"], r["a_path"]) for r in rows] == [("warning", "feed.jsonl#w1@2")]
    assert "repeats the id of line 1" in rows[0]["warning"] and rows[0]["error"] == ""
    db = tmp_path / "index" / "i.dedup"
    db.parent.mkdir()
    assert runner.invoke(main, ["index", "add", str(FIXTURES / "news"), "--db", str(db), "-q"]).exit_code in (0, 1)
    checked = runner.invoke(main, ["check", str(feed), "--db", str(db), "--format", "csv", "-q"])
    assert checked.exit_code == 0 and "1 warning (listed in the report)" in checked.stderr
    rows = list(csv.DictReader(io.StringIO(checked.stdout)))
    assert [r["verdict"] for r in rows] == ["new", "new", "warning"]
    assert "repeats the id of line 1" in rows[-1]["warning"]
