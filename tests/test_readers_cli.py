"""The input-format options of the command line (``read_options``) and stdin as ``-``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from click.testing import CliRunner

from dedup.cli import main

FORMATS = Path(__file__).resolve().parent / "fixtures" / "formats"


def run(*args, stdin: bytes | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=stdin, catch_exceptions=False)


def report(result) -> dict:
    return json.loads(result.stdout)


def test_json_fields_from_the_command_line():
    result = run("scan", FORMATS / "json" / "articles.json", "--text-field", "body", "--id-field", "slug",
                 "--format", "json")
    assert result.exit_code == 1
    paths = {d["path"] for d in report(result)["documents"]}
    assert paths == {f"articles.json#{k}" for k in "abcd"}
    without = run("scan", FORMATS / "json" / "articles.json", "--format", "json")
    assert without.exit_code == 2  # no record has a "text" field: nothing could be read
    assert "record 1: text field 'text' is missing" in without.stderr


def test_stdin_joins_the_files_named_with_it():
    record = json.dumps({"id": "piped", "text": (FORMATS / "txt" / "c.txt").read_text("utf-8")})
    result = run("scan", FORMATS / "txt" / "a.txt", "-", "--stdin-format", "jsonl", "--format", "json",
                 "--level", "document", stdin=record.encode())
    assert result.exit_code == 1
    [pair] = report(result)["pairs"]
    assert {pair["a"]["path"], pair["b"]["path"]} == {"<stdin>#piped", str(FORMATS / "txt" / "a.txt")}


def test_stdin_html():
    html = (FORMATS / "html" / "a.html").read_bytes()
    result = run("scan", "-", FORMATS / "txt" / "a.txt", "--stdin-format", "html", "--format", "json",
                 "--level", "document", stdin=html)
    [pair] = report(result)["pairs"]
    assert pair["exact"] and pair["a"]["path"] == "<stdin>"


def test_max_decompressed(tmp_path):
    (tmp_path / "big.txt.gz").write_bytes(gzip.compress(b"word " * 100_000))
    (tmp_path / "small.txt").write_text("a small file that is read whatever the bound says")
    result = run("scan", tmp_path, "--max-decompressed", "100K", "--format", "json")
    assert report(result)["errors"] == [
        {"path": "big.txt.gz", "error": "decompresses to more than 102,400 bytes (the --max-decompressed limit); not read"}]
    assert run("scan", tmp_path, "--max-decompressed", "1M", "--format", "json").exit_code == 0
    bad = CliRunner().invoke(main, ["scan", str(tmp_path), "--max-decompressed", "lots"])
    assert bad.exit_code == 2 and "is not a size" in bad.output
