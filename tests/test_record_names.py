"""Record names in JSON Lines and JSON arrays never collide, so no record is dropped:
FILE#ID, FILE:LINE without an id, FILE#ID@LINE for a repeated id (with a warning)."""

import json

from click.testing import CliRunner

from dedup import Document, ReadError, ReadWarning, scan_documents
from dedup.cli import main
from dedup.readers import read_bytes

STORY = "The council approved the new budget on Tuesday after a long debate about school funding and roads."
OTHER = "Heavy rain flooded several streets in the old town overnight, and the fire brigade pumped out cellars."


def lines(*records):
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def test_names_by_id_type_and_line():
    data = lines(
        {"id": 7, "text": STORY},            # line 1: x.jsonl#7
        {"id": "7", "text": STORY + " Yes"},  # line 2: another id with the same text
        {"text": OTHER},                      # line 3: no id -> x.jsonl:3
        {"id": 3, "text": OTHER},             # line 4: id 3 is not line 3
        {"id": 7, "text": STORY + " More"},   # line 5: id 7 again
        {"id": "7@5", "text": "literal"},     # line 6: the name a renamed record took
        {"id": 7.5, "text": "a float id"},    # line 7: not an id: an error named by its line
        {"id": None, "text": "null id"},      # line 8: no id
    )
    items = list(read_bytes(data, "x.jsonl"))
    [error] = [i for i in items if isinstance(i, ReadError)]
    assert error.path == "x.jsonl:7" and "an id is a string or a whole number" in error.error
    docs = [i for i in items if isinstance(i, Document)]
    assert [d.path for d in docs] == [
        "x.jsonl#7", "x.jsonl#7@2", "x.jsonl:3", "x.jsonl#3", "x.jsonl#7@5", "x.jsonl#7@5@6", "x.jsonl:8"]
    assert len({d.path for d in docs}) == len(docs)
    warned = {d.path: d.warning for d in docs if d.warning}
    assert set(warned) == {"x.jsonl#7@2", "x.jsonl#7@5", "x.jsonl#7@5@6"}
    assert "is another id than 7 of line 1" in warned["x.jsonl#7@2"]
    assert "repeats the id of line 1" in warned["x.jsonl#7@5"]


def test_colliding_records_are_all_compared_and_warned_about():
    data = lines({"id": 7, "text": STORY}, {"id": "7", "text": STORY}, {"text": OTHER}, {"id": 3, "text": OTHER},
                 {"id": 7, "text": STORY.replace("Tuesday", "Wednesday")})
    result = scan_documents(read_bytes(data, "x.jsonl"), levels=["document"])
    found = {(p.a.path, p.b.path, p.exact) for p in result.pairs}
    assert found == {("x.jsonl#7", "x.jsonl#7@2", True), ("x.jsonl:3", "x.jsonl#3", True),
                     ("x.jsonl#7", "x.jsonl#7@5", False)}
    assert [w.path for w in result.warnings] == ["x.jsonl#7@2", "x.jsonl#7@5"]
    assert all(isinstance(w, ReadWarning) for w in result.warnings) and result.errors == []
    report = result.to_dict()
    assert [w["path"] for w in report["warnings"]] == ["x.jsonl#7@2", "x.jsonl#7@5"]


def test_json_arrays_name_records_the_same_way():
    data = json.dumps([{"id": "a", "text": STORY}, {"text": STORY}, {"id": "a", "text": STORY}]).encode()
    docs = list(read_bytes(data, "x.json"))
    assert [d.path for d in docs] == ["x.json#a", "x.json:2", "x.json#a@3"]
    result = scan_documents(docs, levels=["document"])
    assert len(result.pairs) == 2 and len(result.warnings) == 1


def test_cli_json_report_lists_warnings_not_errors(tmp_path):
    (tmp_path / "crawl.jsonl").write_bytes(lines({"id": "u1", "text": STORY}, {"id": "u1", "text": STORY + " Updated."}))
    result = CliRunner().invoke(main, ["scan", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["errors"] == []
    assert (f"dedup: warning: {tmp_path}/crawl.jsonl#u1@2: line 2: id \"u1\" (a string) repeats the id of line 1"
            in result.stderr)  # stderr names it under the folder given (N13 of session 18)
    assert [w["path"] for w in report["warnings"]] == ["crawl.jsonl#u1@2"]
    assert {(p["a"]["path"], p["b"]["path"]) for p in report["pairs"]} == {("crawl.jsonl#u1", "crawl.jsonl#u1@2")}


def test_a_warning_about_a_long_id_is_one_short_line_and_the_report_keeps_the_name(tmp_path):
    """Review leftover of session 16: errors name a record by ``short_name``, warnings
    did not -- and a repeated 100,000-character id made a 300 KB warning line (the id
    twice in the message, once in the name)."""
    key = "x" * 100_000
    path = tmp_path / "long.jsonl"
    path.write_bytes(lines({"id": key, "text": "alpha bravo charlie delta echo"},
                           {"id": key, "text": "kilo lima mike november oscar"}))
    res = CliRunner().invoke(main, ["scan", str(path), "--format", "json"])
    [warning] = json.loads(res.stdout)["warnings"]
    assert warning["path"] == f"long.jsonl#{key}@2"  # the report keeps the name whole
    said = [line for line in res.stderr.splitlines() if line.startswith("dedup: warning: ")]
    assert len(said) == 1 and len(said[0]) < 1_000 and "(100,015 characters)" in said[0]
    assert len(warning["warning"]) < 1_000 and "repeats the id of line 1" in warning["warning"]
    text = CliRunner().invoke(main, ["scan", str(path)]).stdout
    assert max(map(len, text.splitlines())) < 1_000


def test_a_repeated_id_is_warned_about_as_a_repeat_of_its_first_record():
    # Line 3's id is the name line 2 was renamed to; line 4 repeats line 3's id: its
    # warning names line 3 (the same JSON value), not line 2 (whose id was "x").
    data = lines({"id": "x", "text": STORY}, {"id": "x", "text": OTHER}, {"id": "x@2", "text": STORY + " Yes"},
                 {"id": "x@2", "text": OTHER + " No"}, {"id": 5, "text": "five"}, {"id": "5", "text": "five"},
                 {"id": 5, "text": "five again"})
    docs = [i for i in read_bytes(data, "x.jsonl") if isinstance(i, Document)]
    assert [d.path for d in docs] == ["x.jsonl#x", "x.jsonl#x@2", "x.jsonl#x@2@3", "x.jsonl#x@2@4", "x.jsonl#5",
                                      "x.jsonl#5@6", "x.jsonl#5@7"]
    warned = {d.path: d.warning for d in docs if d.warning}
    assert 'id "x" (a string) repeats the id of line 1' in warned["x.jsonl#x@2"]
    assert 'id "x@2" (a string) is another id than "x" of line 2' in warned["x.jsonl#x@2@3"]
    assert 'id "x@2" (a string) repeats the id of line 3' in warned["x.jsonl#x@2@4"]
    assert 'id "5" (a string) is another id than 5 of line 5' in warned["x.jsonl#5@6"]
    assert "id 5 (a number) repeats the id of line 5" in warned["x.jsonl#5@7"]


def test_an_empty_id_is_named_by_its_line_with_a_warning(tmp_path):
    """A record whose id is ``""`` was named ``r.jsonl#`` (a second one ``r.jsonl#@2``),
    and ``dedup index add`` refused the first ("document id is empty") and stored the
    second as ``@2``.  An empty id names nothing: the record is named by its line, as
    one without an id, with a warning; the index stores it under that name."""
    data = lines({"id": "", "text": STORY}, {"id": "", "text": OTHER}, {"id": "x", "text": STORY + " Again"})
    docs = list(read_bytes(data, "r.jsonl"))
    assert [d.path for d in docs] == ["r.jsonl:1", "r.jsonl:2", "r.jsonl#x"]
    assert [d.record for d in docs] == [None, None, "x"]
    assert docs[0].warning == "line 1: id field 'id' is empty; named 'r.jsonl:1' by its line, compared like any record"
    array = list(read_bytes(json.dumps([{"id": "", "text": STORY}]).encode(), "a.json"))
    assert [(d.path, bool(d.warning)) for d in array] == [("a.json:1", True)]
    (tmp_path / "r.jsonl").write_bytes(data)
    db = tmp_path / "i.dedup"
    res = CliRunner().invoke(main, ["index", "add", str(tmp_path / "r.jsonl"), "--db", str(db), "--base",
                                    str(tmp_path)])
    assert res.exit_code == 1, res.output  # line 3 repeats line 1 (a duplicate), nothing refused for its id
    assert "document id is empty" not in res.output
    listed = CliRunner().invoke(main, ["index", "list", "--db", str(db)])
    assert listed.stdout.split() == ["r.jsonl:1", "r.jsonl:2"]
