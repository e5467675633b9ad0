"""`dedup scan` and `dedup explain` through click's CliRunner."""

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner

from conftest import UKRAINE
from dedup.cli import main
from textgen import prose, write_docs


@pytest.fixture
def seed_dir(tmp_path):
    shutil.copy(UKRAINE, tmp_path / "ukraine-talks.txt")
    return tmp_path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def check_location(loc, paragraph_kind):
    assert set(loc) >= {"path", "paragraph", "start", "end"}
    assert isinstance(loc["path"], str) and isinstance(loc["start"], int) and isinstance(loc["end"], int)
    assert 0 <= loc["start"] < loc["end"]
    assert isinstance(loc["paragraph"], int) if paragraph_kind else loc["paragraph"] is None


def validate_report(report):
    """The output contract from the README: field names and types."""
    assert set(report) >= {"settings", "documents", "pairs", "groups", "errors"}
    assert isinstance(report["settings"], dict) and report["settings"]["scheme"] == "affine32"
    for d in report["documents"]:
        assert isinstance(d["path"], str) and isinstance(d["paragraphs"], int) and isinstance(d["chars"], int)
    for p in report["pairs"]:
        assert p["kind"] in ("paragraph", "document")
        assert 0 < p["similarity"] <= 1 and 0 <= p["estimate"] <= 1
        assert len(p["containment"]) == 2 and all(0 <= c <= 1 for c in p["containment"])
        check_location(p["a"], p["kind"] == "paragraph")
        check_location(p["b"], p["kind"] == "paragraph")
    for g in report["groups"]:
        assert g["kind"] in ("paragraph", "document") and len(g["members"]) >= 2
        assert {"path", "paragraph"} <= set(g["canonical"])
        assert g["members"][0]["path"] == g["canonical"]["path"]
    for e in report["errors"]:
        assert isinstance(e["path"], str) and isinstance(e["error"], str)


def test_seed_json_report(seed_dir):
    res = run("scan", seed_dir, "--format", "json")
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    validate_report(report)
    (pair,) = report["pairs"]
    assert (pair["a"]["paragraph"], pair["b"]["paragraph"]) == (0, 6)
    assert pair["a"]["path"] == "ukraine-talks.txt"
    text = UKRAINE.read_text(encoding="utf-8")
    assert text[pair["b"]["start"] : pair["b"]["end"]].startswith("Putin's comments follow")
    assert report["documents"] == [
        {"path": "ukraine-talks.txt", "paragraphs": 22, "chars": len(text), "text_source": "file"}
    ]


def test_text_report_is_readable(seed_dir):
    res = run("scan", seed_dir)
    assert res.exit_code == 1
    assert "Paragraph duplicates: 1 group, 1 pair" in res.stdout
    assert "ukraine-talks.txt ¶6" in res.stdout and "similarity 0.73" in res.stdout
    # Side by side, starting a few words before the first difference of the two
    # leads, the differing words marked (no colour in a pipe).
    lines = [line for line in res.stdout.splitlines() if "│" in line]
    left = " ".join(line.split("│")[0] for line in lines).split()
    right = " ".join(line.split("│")[1] for line in lines).split()
    assert left[:4] == right[:4] == ["…", "push", "to", "stop"]
    assert "[-war against Ukraine-]" in " ".join(left) and "{+the full-scale invasion of+}" in " ".join(right)
    assert "Putin's comments follow" not in res.stdout and "\x1b[" not in res.stdout


def test_jsonl_and_csv(seed_dir):
    res = run("scan", seed_dir, "--format", "jsonl")
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(lines) == 1 and lines[0]["kind"] == "paragraph" and lines[0]["b"]["paragraph"] == 6
    res = run("scan", seed_dir, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 1 and rows[0]["a_paragraph"] == "0" and rows[0]["b_paragraph"] == "6"
    assert float(rows[0]["similarity"]) > 0.6


def test_exit_codes(tmp_path, seed_dir, rng):
    clean = write_docs(tmp_path / "clean", {"a.txt": [prose(rng, 40)], "b.txt": [prose(rng, 40)]})
    assert run("scan", clean).exit_code == 0
    assert run("scan", seed_dir).exit_code == 1
    assert run("scan", seed_dir, "--exit-zero").exit_code == 0
    assert run("scan", tmp_path / "does-not-exist").exit_code == 2
    assert run("scan", seed_dir, "--threshold", "1.5").exit_code == 2
    assert run("scan", seed_dir, "--bands", "100", "--rows", "10").exit_code == 2  # > num_perm
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / "x.bin").write_bytes(b"\x00\x01")
    res = run("scan", unreadable, "--format", "json")
    assert res.exit_code == 2
    assert json.loads(res.stdout)["errors"] == [{"path": "x.bin", "error": "binary file (NUL byte at offset 0)"}]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("scan", empty).exit_code == 2


def test_options_change_detection(seed_dir):
    # A strict threshold drops the reworded lead (but for its containment, 0.875 of the
    # lead's 2-grams are in the rewording); char shingles still find it.
    assert run("scan", seed_dir, "--threshold", "0.9", "--doc-threshold", "0.9", "--containment", "off").exit_code == 0
    res = run("scan", seed_dir, "--threshold", "0.9", "--format", "json")
    assert [p["relation"] for p in json.loads(res.stdout)["pairs"]] == ["contained"]
    res = run("scan", seed_dir, "--unit", "char", "--ngram", "5", "--format", "json")
    report = json.loads(res.stdout)
    assert report["settings"]["unit"] == "char" and len(report["pairs"]) == 1
    res = run("scan", seed_dir, "--level", "document", "--format", "json")
    assert json.loads(res.stdout)["pairs"] == [] and res.exit_code == 0


def test_explain_shows_the_s_curve():
    res = run("explain")
    assert res.exit_code == 0
    assert "49 bands x 2 rows" in res.stdout
    assert "0.9902" in res.stdout  # 1-(1-0.3^2)^49
    res = run("explain", "--threshold", "0.8", "--doc-threshold", "0.8", "--num-perm", "128")
    assert "16 bands x 6 rows" in res.stdout


def test_multiple_roots_are_prefixed(tmp_path, rng):
    p = prose(rng, 40)
    write_docs(tmp_path / "x", {"a.txt": [p]})
    write_docs(tmp_path / "y", {"a.txt": [p]})
    res = run("scan", tmp_path / "x", tmp_path / "y", "--format", "json", "--level", "document")
    (pair,) = json.loads(res.stdout)["pairs"]
    assert pair["a"]["path"].endswith("x/a.txt") and pair["b"]["path"].endswith("y/a.txt")


def test_the_report_header_names_the_character_shingles_of_scripts_without_spaces(tmp_path):
    """New user's N14 (session 18): a Japanese folder's report said only "word 2-grams",
    though scripts written without spaces are shingled as character 3-grams."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("東京都は新しい橋の建設計画を発表した。工事は来年の春に始まる予定だ。\n")
    named = "word 2-grams; character 3-grams in scripts written without spaces"
    runner = CliRunner()
    text = runner.invoke(main, ["scan", str(tmp_path / "docs"), "-j", "1", "--no-cache"])
    assert f"(threshold 0.3, {named})." in text.stdout.splitlines()[0], text.output
    html = runner.invoke(main, ["scan", str(tmp_path / "docs"), "-j", "1", "--no-cache", "--format", "html"])
    assert f"<p class=\"settings\">{named}, threshold 0.3" in html.stdout
    db = str(tmp_path / "i.dedup")
    for command in (["index", "add", str(tmp_path / "docs"), "--db", db], ["check", str(tmp_path / "docs"), "--db", db]):
        checked = runner.invoke(main, command)
        assert f"(threshold 0.3, {named})." in checked.stdout.splitlines()[0], checked.output
    chars = runner.invoke(main, ["scan", str(tmp_path / "docs"), "-j", "1", "--no-cache", "--unit", "char", "--ngram", "5"])
    assert "(threshold 0.3, char 5-grams)." in chars.stdout.splitlines()[0]


def test_stderr_names_files_as_the_shell_sees_them(tmp_path, monkeypatch):
    """New user's N13 of session 18: ``dedup scan bad/`` said ``dedup: blob.txt: ...``
    on stderr, which cannot be found with a copy-paste in a deep tree; the report keeps
    naming files relative to the folder scanned."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad" / "deep").mkdir(parents=True)
    (tmp_path / "bad" / "deep" / "blob.txt").write_bytes(b"ab\x00")
    (tmp_path / "bad" / "r.jsonl").write_text('{"id": "a", "text": "one two three four"}\n'
                                             '{"id": "a", "text": "five six seven eight"}\n')
    res = CliRunner().invoke(main, ["scan", "bad/", "-j", "1", "--no-cache", "--format", "json"])
    assert res.exit_code == 0, res.output
    lines = res.stderr.splitlines()
    assert "dedup: bad/deep/blob.txt: binary file (NUL byte at offset 2)" in lines
    assert any(line.startswith("dedup: warning: bad/r.jsonl#a@2: ") for line in lines), lines
    report = json.loads(res.stdout)
    assert [e["path"] for e in report["errors"]] == ["deep/blob.txt"]
    alone = CliRunner().invoke(main, ["scan", "bad/r.jsonl", "-j", "1", "--no-cache"])  # a file: by its path too
    assert any(line.startswith("dedup: warning: bad/r.jsonl#a@2: ") for line in alone.stderr.splitlines())
    here = CliRunner().invoke(main, ["scan", ".", "-j", "1", "--no-cache"])  # no "./" added
    assert "dedup: bad/deep/blob.txt: binary file (NUL byte at offset 2)" in here.stderr.splitlines()
