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


def test_a_file_scanned_alone_has_its_errors_named_by_the_path_given(tmp_path, monkeypatch):
    # A new user of session 16: `dedup scan data/2024/x.jsonl` said only `x.jsonl:1: ...`.
    folder = tmp_path / "data" / "2024"
    folder.mkdir(parents=True)
    (folder / "x.jsonl").write_text('{"text": 1}\n{"text": "a record that is read"}\n')
    (folder / "y.txt").write_bytes(b"\xff\xfe\x00")
    for name, error in (("x.jsonl", "x.jsonl:1"), ("y.txt", "y.txt")):
        monkeypatch.chdir(tmp_path)
        done = run("scan", f"data/2024/{name}", "--format", "json")
        written = report(done)
        assert [e["path"] for e in written["errors"]] == [f"data/2024/{error}"]
        assert f"dedup: data/2024/{error}: " in done.stderr
        assert [d["path"] for d in written["documents"]] == (["x.jsonl:2"] if name == "x.jsonl" else [])
