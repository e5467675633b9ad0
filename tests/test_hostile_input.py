"""Input that used to crash or stall a whole run: each becomes an error entry for its
file or record, the rest is read, and an unexpected failure exits 2 with one line."""

from __future__ import annotations

import json
import os
import random

import pytest
from click.testing import CliRunner

from dedup import Document, Index, ReadOptions, scan, scan_documents
from dedup.cli import main
from textgen import prose

GOOD = "A perfectly ordinary paragraph of text that should always be read and scanned.\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def errors(result):
    return {e.path: e.error for e in result.errors}


# --- walking ---------------------------------------------------------------------------

@pytest.fixture
def deep_tree(tmp_path):
    """A folder chain 1,200 deep (> sys.getrecursionlimit()), made and removed one
    level at a time: os.makedirs, os.walk and shutil.rmtree (pytest's clean-up of old
    temporary folders) all recurse and would fail on it."""
    chain = [tmp_path]
    for _ in range(1200):
        chain.append(chain[-1] / "d")
        chain[-1].mkdir()
    (chain[-1] / "bottom.txt").write_text(GOOD)
    yield tmp_path
    (chain[-1] / "bottom.txt").unlink()
    for folder in reversed(chain[1:]):
        folder.rmdir()


def test_folders_nested_deeper_than_the_recursion_limit(deep_tree):
    (deep_tree / "top.txt").write_text(GOOD)
    result = scan(deep_tree)
    assert sorted(d.path for d in result.documents) == ["d/" * 1200 + "bottom.txt", "top.txt"]
    assert result.errors == []


def test_link_loops_are_still_found_by_the_iterative_walk(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "b" / "x.txt").write_text(GOOD)
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["a/b/x.txt"]
    assert "loop" in errors(result)["a/b/up"]


def test_special_files_named_on_the_command_line_are_errors_not_hangs(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    (tmp_path / "good.txt").write_text(GOOD)
    named = [fifo, "/dev/zero", "/dev/urandom", tmp_path / "zero", tmp_path / "broken", tmp_path / "good.txt"]
    result = scan(named)  # would block on the FIFO, or read /dev/zero until memory runs out
    found = errors(result)
    assert found[str(fifo)] == found["/dev/zero"] == found["/dev/urandom"] == "not a regular file"
    assert found[str(tmp_path / "zero")] == "not a regular file"
    assert found[str(tmp_path / "broken")].startswith("broken symbolic link")
    assert [d.path for d in result.documents] == [str(tmp_path / "good.txt")]
    cli = run("scan", *named, "--format", "json")
    assert cli.exit_code == 0, cli.output  # an error entry, not an abort
    assert len(json.loads(cli.stdout)["errors"]) == 5


def test_a_path_that_does_not_exist_raises_in_python_and_is_a_usage_error_in_the_cli(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        scan([tmp_path, tmp_path / "missing"])
    cli = run("scan", tmp_path / "missing")
    assert cli.exit_code == 2 and "does not exist" in cli.stderr


# --- JSON --------------------------------------------------------------------------------

def json_lines(*records: str) -> bytes:
    return "\n".join(records).encode() + b"\n"


DEEP = "[" * 100_000 + "]" * 100_000
BIG = "7" * 5_000


@pytest.mark.parametrize("hostile, expected", [
    (f'{{"id": "x", "text": "never mind", "extra": {DEEP}}}', "nested too deeply"),
    (f'{{"id": "x", "text": "never mind", "extra": {BIG}}}', "more than 4,300 digits"),
    ('{"id": "x", "text": "broken \\ud800 half of a pair"}', "lone surrogate \\ud800 at character 7"),
    ('{"id": "x\\udc00", "text": "an ordinary text with a broken id"}', "lone surrogate \\udc00"),
])
def test_hostile_json_lines_record_is_an_error_and_the_rest_is_read(tmp_path, hostile, expected):
    (tmp_path / "a.jsonl").write_bytes(json_lines(
        '{"id": "first", "text": "the first record"}', hostile, '{"id": "last", "text": "the last record"}'))
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["a.jsonl#first", "a.jsonl#last"]
    [(path, error)] = errors(result).items()
    assert path in ("a.jsonl#x", "a.jsonl:2") and expected in error and "line 2" in error
    report = run("scan", tmp_path, "--format", "json")  # the JSON writer copes too
    assert report.exit_code == 0 and len(json.loads(report.stdout)["errors"]) == 1


@pytest.mark.parametrize("hostile, expected", [
    (f'[{{"id": "x", "text": "t", "extra": {DEEP}}}]', "nested too deeply"),
    (f'[{{"id": "x", "text": "t"}}, {BIG}]', "more than 4,300 digits"),
])
def test_hostile_json_array_is_an_error_for_the_file(tmp_path, hostile, expected):
    (tmp_path / "a.json").write_text(hostile)
    (tmp_path / "b.txt").write_text(GOOD)
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["b.txt"]
    assert expected in errors(result)["a.json"]


def test_lone_surrogate_in_a_json_array_record(tmp_path):
    (tmp_path / "a.json").write_text('[{"id": "x", "text": "bad \\udfff"}, {"id": "y", "text": "good one"}]')
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["a.json#y"]
    assert "lone surrogate \\udfff" in errors(result)["a.json#x"]


def test_lone_surrogate_in_documents_given_from_python():
    result = scan_documents([Document("a", "broken \ud800 text"), Document("b", GOOD)])
    assert [d.path for d in result.documents] == ["b"]
    assert "lone surrogate" in errors(result)["a"]


# --- unexpected failures -------------------------------------------------------------------

def test_a_crash_exits_2_with_one_line_naming_the_cause(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text(GOOD)

    def crash(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr("dedup.cli.scan.scan_paths", crash)
    result = run("scan", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "dedup: unexpected error: RuntimeError: the disk caught fire (dedup --debug ... shows the traceback)"]
    debug = run("--debug", "scan", tmp_path)
    assert debug.exit_code == 2 and "Traceback" in debug.stderr and "the disk caught fire" in debug.stderr


def test_a_reader_crash_is_that_files_error_and_the_scan_goes_on(tmp_path, monkeypatch):
    (tmp_path / "a.md").write_text("# Title\n\n" + GOOD)
    (tmp_path / "b.txt").write_text(GOOD)

    def crash(data, name, options):
        raise MemoryError("out of memory")
        yield  # a generator, as readers are

    monkeypatch.setitem(__import__("dedup.readers", fromlist=["READERS"]).READERS, ".md", crash)
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["b.txt"]
    assert errors(result)["a.md"] == "unexpected error while reading: MemoryError: out of memory"


def test_index_add_crashing_half_way_says_what_was_committed(tmp_path, monkeypatch):
    rng = random.Random(3)
    for i in range(300):  # two batches of the CLI's 256
        (tmp_path / f"d{i:03d}.txt").write_text("\n\n".join(prose(rng, 60) for _ in range(3)))
    db = tmp_path.parent / f"{tmp_path.name}.dedup"
    calls = []
    real = Index.add_many

    def second_batch_crashes(self, items, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real(self, items, **kwargs)

    monkeypatch.setattr(Index, "add_many", second_batch_crashes)
    result = run("index", "add", tmp_path, "--db", db, "--base", tmp_path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (f"dedup: {db}: stopped after 256 documents were judged and 256 stored "
                        "(the last: d255.txt); those stay in the index, the rest were not added")
    assert lines[1].startswith("dedup: unexpected error: OSError: [Errno 5] Input/output error")
    monkeypatch.undo()
    with Index.open(db, create=False) as idx:
        assert len(idx) == 256 and "d255.txt" in idx and "d256.txt" not in idx
