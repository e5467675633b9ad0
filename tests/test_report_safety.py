"""Output safety (issue #12): what article text and file names may not do to a
terminal, a spreadsheet or a JSON parser."""

import base64
import csv
import io
import json
import os

from click.testing import CliRunner

from dedup import Index
from dedup.cli import main
from dedup.report.safety import csv_cell, json_name, printable
from textgen import prose

import random

ESC_TITLE = "\x1b]0;pwned\x07"            # OSC: sets the terminal's title
OSC8 = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"   # a hidden link
CSI = "\x1b[2J"                            # clears the screen
C1 = "\x9b31m"                             # C1 CSI: ESC [ on some terminals


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _pair_of_files(folder, name_a, name_b, text):
    folder.mkdir(exist_ok=True)
    (folder / name_a).write_text(text, encoding="utf-8")
    (folder / name_b).write_text(text + "\n\nA different closing paragraph with enough words to count here.\n",
                                 encoding="utf-8")
    return folder


def test_text_report_escapes_control_characters_in_text_and_names(tmp_path):
    rng = random.Random(1)
    head, tail = prose(rng, 40), prose(rng, 40)
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "plain.txt").write_text(f"{head} {tail}", encoding="utf-8")
    (folder / "two\nlines\x1b[31m.txt").write_text(f"{head} {ESC_TITLE} {OSC8} {CSI} {C1} {tail}", encoding="utf-8")
    res = run("scan", folder, "--color", "never")
    assert res.exit_code == 1
    out = res.stdout
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in out
    assert "\\x1b]0;pwned\\x07" in out and "\\x9b31m" in out
    # The newline in the name is shown as \n: it cannot forge a report line.
    assert "two\\nlines\\x1b[31m.txt" in out
    assert not any(line.startswith("lines") for line in out.splitlines())
    # stderr too (read errors name files).
    assert printable("a\nb\x1b\x85\u202ec") == "a\\nb\\x1b\\x85\\u202ec"


def test_csv_neutralizes_formula_cells(tmp_path):
    rng = random.Random(2)
    text = prose(rng, 60)
    folder = _pair_of_files(tmp_path / "d", "=HYPERLINK(1).txt", "@SUM(A1).txt", text)
    res = run("scan", folder, "--format", "csv", "--level", "document")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    paths = {rows[0]["a_path"], rows[0]["b_path"]}
    assert paths == {"'=HYPERLINK(1).txt", "'@SUM(A1).txt"}
    assert rows[0]["exact"] in ("true", "false")
    assert [csv_cell(v) for v in ("+1", "-x", "\tx", "ok", 0.5, None)] == ["'+1", "'-x", "'\tx", "ok", 0.5, None]


def test_csv_escapes_control_characters_in_names(tmp_path):
    """Tester's U6 of #12: an ESC ... BEL in a file name reached the CSV raw, so
    ``cat report.csv`` retitled the terminal; a newline made a cell span two lines."""
    rng = random.Random(4)
    folder = _pair_of_files(tmp_path / "d", f"esc{ESC_TITLE}.txt", "new\nline\x9b.txt", prose(rng, 60))
    res = run("scan", folder, "--format", "csv", "--level", "document")
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in res.stdout
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(res.stdout.splitlines()) == 2 == len(rows) + 1
    assert {rows[0]["a_path"], rows[0]["b_path"]} == {"esc\\x1b]0;pwned\\x07.txt", "new\\nline\\x9b.txt"}


def test_check_csv_neutralizes_stored_ids(tmp_path):
    rng = random.Random(3)
    text = "\n\n".join(prose(rng, 40) for _ in range(3))
    db = tmp_path / "i.dedup"
    with Index.open(db) as idx:
        idx.add(text, doc_id="=cmd|' /C calc'!A0")
    again = tmp_path / "again.txt"
    again.write_text(text, encoding="utf-8")
    res = run("check", again, "--db", db, "--format", "csv")
    (row,) = csv.DictReader(io.StringIO(res.stdout))
    assert row["verdict"] == "duplicate" and row["matched_id"] == "'=cmd|' /C calc'!A0"


def test_verdict_csv_escapes_control_characters_in_ids(tmp_path, monkeypatch):
    """Tester's T2 of #12: the ``path`` cell was escaped but the ``id`` and
    ``matched_id`` cells of ``index add`` / ``check`` carried an ESC ... BEL and tabs raw."""
    monkeypatch.chdir(tmp_path)
    text = prose(random.Random(5), 60)
    folder = tmp_path / "n"
    folder.mkdir()
    for name in (f"esc{ESC_TITLE}.txt", "tab\there.txt"):
        (folder / name).write_text(text, encoding="utf-8")
    added = run("index", "add", "n", "--db", tmp_path / "n.dedup", "--format", "csv")
    checked = run("check", "n", "--db", tmp_path / "n.dedup", "--format", "csv")
    for res in (added, checked):
        for raw in ("\x1b", "\x07", "\t"):
            assert raw not in res.stdout
    rows = list(csv.DictReader(io.StringIO(checked.stdout)))
    assert {r["id"] for r in rows} == {"n/esc\\x1b]0;pwned\\x07.txt", "n/tab\\there.txt"}
    # the esc one is already indexed, the tab one (rejected by the add) its duplicate
    assert {r["matched_id"] for r in rows} == {"", "n/esc\\x1b]0;pwned\\x07.txt"}
    assert "'n/tab\\there.txt" not in added.stdout and "n/tab\\there.txt" in added.stdout


def test_json_report_of_a_non_utf8_file_name_is_valid_and_lossless(tmp_path):
    rng = random.Random(4)
    text = prose(rng, 60)
    folder = tmp_path / "d"
    folder.mkdir()
    raw_name = b"caf\xe9-latin1.txt"
    with open(os.path.join(os.fsencode(folder), raw_name), "w", encoding="utf-8") as f:
        f.write(text)
    (folder / "copy.txt").write_text(text, encoding="utf-8")
    res = run("scan", folder, "--format", "json", "--level", "document")
    assert res.exit_code == 1
    report = json.loads(res.stdout_bytes.decode("utf-8"))  # strict UTF-8
    odd = next(d for d in report["documents"] if "path_bytes" in d)
    assert odd["path"] == "caf\ufffd-latin1.txt"
    assert base64.b64decode(odd["path_bytes"]) == raw_name
    (pair,) = report["pairs"]
    assert any(base64.b64decode(pair[s].get("path_bytes", "")) == raw_name for s in "ab")
    # JSON Lines and the text report survive it too.
    line = json.loads(run("scan", folder, "--format", "jsonl").stdout_bytes.decode("utf-8").splitlines()[0])
    assert "path_bytes" in line["a"] or "path_bytes" in line["b"]
    assert "caf\\xe9-latin1.txt" in run("scan", folder).stdout_bytes.decode("utf-8")


def test_lone_surrogate_ids_are_written_as_valid_json():
    assert json_name("a\udc00b", "id") == {
        "id": "a\ufffd\ufffd\ufffdb", "id_bytes": base64.b64encode(b"a\xed\xb0\x80b").decode()}
    assert json_name("plain") == {"path": "plain"}
    from dedup.report.machine import dumps

    text = dumps({"id": "x\udc80", "reason": "bad \ud800", "n": 1})
    assert json.loads(text.encode("utf-8")) == {"id": "x\ufffd", "id_bytes": base64.b64encode(b"x\x80").decode(),
                                                "reason": "bad \\ud800", "n": 1}


def test_a_latin1_name_and_a_name_spelled_with_a_backslash_print_apart(tmp_path):
    """Tester's S7: ``caf\\xe9.txt`` (Latin-1 byte 0xE9) and a file literally named
    ``caf\\xe9.txt`` printed alike in CSV and text; a backslash is now written ``\\\\``."""
    text = prose(random.Random(5), 60)
    folder = tmp_path / "d"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    (folder / "caf\\xe9.txt").write_text(text, encoding="utf-8")
    (folder / "sub").mkdir()
    with open(os.path.join(os.fsencode(folder / "sub"), b"bad\xff\\"), "w") as f:
        f.write("\0")  # an error line names it
    rows = list(csv.DictReader(io.StringIO(run("scan", folder, "--format", "csv", "--level", "document").stdout)))
    assert {rows[0]["a_path"], rows[0]["b_path"]} == {"caf\\xe9.txt", "caf\\\\xe9.txt"}
    shown = run("scan", folder, "--level", "document")
    assert "caf\\xe9.txt" in shown.stdout and "caf\\\\xe9.txt" in shown.stdout
    assert "sub/bad\\xff\\\\: binary file" in shown.stderr
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(text, "stored")
    checked = run("check", folder, "--db", tmp_path / "i.dedup", "--format", "csv")
    names = {r["path"].rsplit("/", 1)[-1] for r in csv.DictReader(io.StringIO(checked.stdout))}
    assert {"caf\\xe9.txt", "caf\\\\xe9.txt"} <= names


BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "report\u202etxt.exe" reads "reportexe.txt"


def _data_of(page: str) -> dict:
    start = page.index('<script type="application/json" id="data">') + len('<script type="application/json" id="data">')
    return json.loads(page[start : page.index("</script>", start)])


def _names_in(data: dict) -> list:
    members = [m[0] for g in data["groups"] for m in g["members"]]
    sides = [p[k][0] for g in data["groups"] for p in g["pairs"] for k in ("a", "b")]
    rows = [v[k] for v in data.get("verdicts") or () for k in ("path", "matched") if v.get(k)]
    return members + sides + rows


def test_html_page_shows_hostile_names_and_text_as_the_text_report_does(tmp_path, monkeypatch):
    """s23 audit of #12: the HTML page put file names, ids and article text into the
    page raw (as textContent: no markup, but a newline, an ESC ... BEL or a bidi override
    in a name broke or reordered what the reader sees), where the text and CSV reports
    show them as escapes.  A check's page also said nothing of which side of a pair is
    the stored document and which the incoming one."""
    monkeypatch.chdir(tmp_path)
    text = prose(random.Random(6), 60)
    folder = tmp_path / "h"
    folder.mkdir()
    hostile = {f"bidi{BIDI}txt.exe": "bidi\\u202etxt.exe", f"esc{ESC_TITLE}.txt": "esc\\x1b]0;pwned\\x07.txt",
               "two\nlines.txt": "two\\nlines.txt", "<i>tag.txt": "<i>tag.txt"}
    for i, name in enumerate(hostile):
        (folder / name).write_text(f"{text} {BIDI}{CSI} closing words number {i}", encoding="utf-8")
    scanned = run("scan", "h", "--format", "html")
    db = tmp_path / "h.dedup"
    assert run("index", "add", "h", "--db", db, "--add-duplicates").exit_code in (0, 1)
    (tmp_path / "probe.txt").write_text(text, encoding="utf-8")
    checked = run("check", "probe.txt", "h", "--db", db, "--format", "html")
    for res in (scanned, checked):
        page = res.stdout
        for raw in ("\x1b", "\x07", BIDI, "two\nlines", "<i>tag"):
            assert raw not in page, (raw, page[:200])
        names = _names_in(_data_of(page))
        assert names and all(not any(ch in n for ch in "\n\x1b\x07" + BIDI) for n in names), names
        shown = {n.split("/")[-1] for n in names}
        assert set(hostile.values()) <= shown, shown
        runs = [r for g in _data_of(page)["groups"] for p in g["pairs"] for r in p["left"] + p["right"]]
        assert any("\\u202e\\x1b[2J" in r for r in runs), runs
    data = _data_of(checked.stdout)
    assert data["sides"] == ["stored", "incoming"] and _data_of(scanned.stdout)["sides"] is None
    assert "sideName" in checked.stdout  # the page's script says them beside each passage and member
