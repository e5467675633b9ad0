"""A file of bad records costs a bounded number of error entries (tester T1, session
24: a 4 MB JSON Lines file of 500,000 bad lines held 500,000 entries, 399 MB, and wrote
a 49 MB report).  The first :data:`~dedup.readers.ERRORS_KEPT` errors of a file are
listed; the rest are one entry that counts them by kind, and every count stays exact."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from dedup import scan
from dedup.cli import main
from dedup.readers import ERRORS_KEPT, ReadOptions, error_count, read_stdin

GOOD = "A perfectly ordinary paragraph of text that should always be read and scanned."
BAD_JSON, NO_TEXT = 900, 300  # lines of each kind after the first ERRORS_KEPT bad ones
TOTAL = ERRORS_KEPT + BAD_JSON + NO_TEXT


def bad_lines(path, head: int = ERRORS_KEPT, bad_json: int = BAD_JSON, no_text: int = NO_TEXT):
    """A JSON Lines file: two good records, then ``head + bad_json`` lines of invalid
    JSON and ``no_text`` records without a text field."""
    lines = [json.dumps({"id": "a", "text": GOOD}), json.dumps({"id": "b", "text": GOOD})]
    lines += ["aaa bbb"] * (head + bad_json) + [json.dumps({"id": f"n{i}"}) for i in range(no_text)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def check_closing(entry_path, error, count, name):
    assert entry_path == name and count == BAD_JSON + NO_TEXT
    assert f"{BAD_JSON + NO_TEXT:,} more errors" in error
    assert f"{BAD_JSON:,} invalid JSON" in error and f"{NO_TEXT:,} text field" in error


def test_python_scan_keeps_the_first_errors_and_counts_the_rest(tmp_path):
    path = bad_lines(tmp_path / "bad.jsonl")
    result = scan(path)
    assert len(result.errors) == ERRORS_KEPT + 1 and error_count(result.errors) == TOTAL
    assert [e.path for e in result.errors[:2]] == [f"{path}:3", f"{path}:4"]  # a file alone: as given
    last = result.errors[-1]
    check_closing(last.path, last.error, last.count, str(path))
    assert len(result.documents) == 2 and result.has_duplicates  # the good records are read
    assert result.to_dict()["summary"]["errors"] == TOTAL


def test_entries_are_bounded_whatever_the_file_size(tmp_path):
    """The memory a file's errors cost, as a count of entries: the same for 10x the lines."""
    small = scan(bad_lines(tmp_path / "small.jsonl", bad_json=100, no_text=0))
    large = scan(bad_lines(tmp_path / "large.jsonl", bad_json=5000, no_text=0))
    assert len(small.errors) == len(large.errors) == ERRORS_KEPT + 1
    assert error_count(small.errors) == 2 * ERRORS_KEPT and error_count(large.errors) == ERRORS_KEPT + 5000


def test_a_file_with_few_errors_lists_each(tmp_path):
    result = scan(bad_lines(tmp_path / "few.jsonl", head=ERRORS_KEPT, bad_json=0, no_text=0))
    assert len(result.errors) == error_count(result.errors) == ERRORS_KEPT
    assert all(e.count == 1 and "more errors" not in e.error for e in result.errors)


def test_each_file_is_capped_on_its_own(tmp_path):
    bad_lines(tmp_path / "one.jsonl"), bad_lines(tmp_path / "two.jsonl")
    result = scan(tmp_path)
    assert len(result.errors) == 2 * (ERRORS_KEPT + 1) and error_count(result.errors) == 2 * TOTAL


def test_stdin_is_capped(tmp_path):
    data = bad_lines(tmp_path / "in.jsonl").read_bytes()
    errors = [i for i in read_stdin(ReadOptions(stdin_format="jsonl"), io.BytesIO(data)) if hasattr(i, "error")]
    assert len(errors) == ERRORS_KEPT + 1 and error_count(errors) == TOTAL
    check_closing(errors[-1].path, errors[-1].error, errors[-1].count, "<stdin>")


def test_every_report_format_says_the_exact_count(tmp_path):
    path = bad_lines(tmp_path / "bad.jsonl")
    report = json.loads(run("scan", path, "-q", "--format", "json").stdout)
    assert report["summary"]["errors"] == TOTAL and len(report["errors"]) == ERRORS_KEPT + 1
    last = report["errors"][-1]
    check_closing(last["path"], last["error"], last["count"], str(path))
    assert "count" not in report["errors"][0]  # an entry without count is one error

    lines = [json.loads(x) for x in run("scan", path, "-q", "--format", "jsonl").stdout.splitlines()]
    errors = [x for x in lines if x.get("kind") == "error"]
    assert len(errors) == ERRORS_KEPT + 1 and sum(e.get("count", 1) for e in errors) == TOTAL

    rows = [r for r in csv.DictReader(io.StringIO(run("scan", path, "-q", "--format", "csv").stdout))
            if r["kind"] == "error"]
    assert len(rows) == ERRORS_KEPT + 1 and f"{BAD_JSON + NO_TEXT:,} more errors" in rows[-1]["error"]

    text = run("scan", path, "--format", "text", "--color", "never").stdout
    assert f"({TOTAL:,} errors)" in text and f"; {TOTAL:,} errors" in text
    assert f"… and {TOTAL - 50:,} more errors" in text
    assert f"{BAD_JSON + NO_TEXT:,} more errors in this file" in run("scan", path, "--format", "text",
                                                                        "--max-groups", "0").stdout

    page = run("scan", path, "-q", "--format", "html").stdout
    assert f"Could not read {TOTAL:,}" in page and f"{BAD_JSON + NO_TEXT:,} more errors in this file" in page

    quiet = run("scan", path, "-q", "--format", "json")
    assert f"dedup: {TOTAL} documents could not be read" in quiet.stderr


def test_parquet_errors_carry_the_count(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    path = bad_lines(tmp_path / "bad.jsonl")
    run("scan", path, "-q", "--format", "parquet", "-o", tmp_path / "out")
    table = pq.read_table(tmp_path / "out" / "errors").to_pydict()
    assert len(table["error"]) == ERRORS_KEPT + 1 and sum(table["count"]) == TOTAL


@pytest.mark.parametrize("command", ["add", "check"])
def test_index_add_and_check_keep_the_first_errors(tmp_path, command):
    path = bad_lines(tmp_path / "bad.jsonl")
    db = tmp_path / "i.dedup"
    if command == "check":
        run("index", "add", path, "--db", db, "-q")
    result = run(*(["index", "add"] if command == "add" else ["check"]), path, "--db", db, "-q", "--format", "json")
    report = json.loads(result.stdout)
    assert report["summary"]["errors"] == TOTAL and len(report["errors"]) == ERRORS_KEPT + 1
    assert report["errors"][-1]["count"] == BAD_JSON + NO_TEXT
    assert f"{TOTAL} " in result.stderr  # -q: the exact number on stderr


@pytest.mark.slow
def test_the_memory_of_500_000_bad_lines_is_bounded(tmp_path):
    """Tester T1's case: 500,000 bad lines (4 MB) peaked at 399 MB RSS (~800 B a line)."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"aaa bbb\n" * 500_000)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())",
                             "scan", str(path), "-q", "-j", "1", "--no-cache", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    report = json.loads(out)
    assert report["summary"]["errors"] == 500_000 and len(report["errors"]) == ERRORS_KEPT + 1
    assert usage.ru_maxrss // 1024 < 250  # the interpreter and numpy: ~100 MB

