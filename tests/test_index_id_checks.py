"""An id is a non-empty text of at most 4,096 UTF-8 bytes (:data:`dedup.index.items.MAX_ID_BYTES`),
refused alike by add, add_many, check, check_many and load, and by the CLI, which names
the record and goes on (tester's session-14 finding: ``Index.add`` stored an empty id
and a 1 MB one).  Each test failed before the check."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner
from textgen import prose

from dedup import Index
from dedup.cli import main
from dedup.index.items import MAX_ID_BYTES, BadDocument


def texts(n: int) -> list[str]:
    rng = random.Random(7)
    return [prose(rng, 60) for _ in range(n)]


@pytest.mark.parametrize("doc_id, said", [
    ("", "document id is empty"),
    ("x" * (MAX_ID_BYTES + 1), r"is 4,097 bytes long \(UTF-8\); an id is at most 4,096 bytes"),
    ("é" * (MAX_ID_BYTES // 2 + 1), r"is 4,098 bytes long \(UTF-8\)"),  # 2,049 characters, counted in bytes
    ("x" * (1 << 20), "is 1,048,576 bytes long"),
])
def test_single_calls_refuse_a_bad_id_and_store_nothing(tmp_path, doc_id, said):
    text, = texts(1)
    with Index.open(tmp_path / "i.dedup") as idx:
        for call in (idx.add, idx.check):
            with pytest.raises(BadDocument, match=said) as caught:
                call(text, doc_id)
            assert isinstance(caught.value, ValueError) and len(str(caught.value)) < 300  # the id is cut
        assert len(idx) == 0


def test_the_longest_id_is_stored(tmp_path):
    text, = texts(1)
    longest = "é" * (MAX_ID_BYTES // 2)
    with Index.open(tmp_path / "i.dedup") as idx:
        assert idx.add(text, longest).added
        assert longest in idx and list(idx.ids()) == [longest]


def test_batches_give_the_bad_ids_an_error_and_go_on(tmp_path):
    a, b, c = texts(3)
    batch = [("", a), ("x" * (1 << 20), b), ("ok", c)]
    with Index.open(tmp_path / "i.dedup") as idx:
        checked = idx.check_many(batch)
        assert [bool(v.error) for v in checked] == [True, True, False]
        added = idx.add_many(batch)
        assert [bool(v.error) for v in added] == [True, True, False] and added[2].added
        assert "document id is empty" in added[0].error and "an id is at most 4,096 bytes" in added[1].error
        loaded = idx.load([("", a), ("y" * (MAX_ID_BYTES + 1), b)])
        assert all(v.error for v in loaded)
        assert list(idx.ids()) == ["ok"]


def test_the_cli_names_the_records_and_goes_on(tmp_path):
    a, b, c = texts(3)
    data = tmp_path / "r.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [{"id": "", "text": a}, {"id": "x" * (1 << 20), "text": b},
                                                           {"id": "ok", "text": c}]), encoding="utf-8")
    db = tmp_path / "i.dedup"
    res = CliRunner().invoke(main, ["index", "add", str(data), "--db", str(db), "--base", str(tmp_path),
                                    "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0, res.stderr  # read errors do not change the status (README, Exit codes)
    errors = json.loads(res.stdout)["errors"]
    assert [e["path"] for e in errors] == ["r.jsonl#" + "x" * (1 << 20)]  # the report keeps names whole
    lines = [line for line in res.stderr.splitlines() if not line.endswith("this add makes a new one")]
    assert len(lines) == 2 and all(len(line) < 500 for line in lines), [line[:300] for line in lines]
    # an empty id names nothing: the record is named by its line (a warning), not refused
    assert lines[0].startswith("dedup: r.jsonl#xxx") and "... (1,048,584 characters): document id 'xxx" in lines[0]
    assert lines[1] == ("dedup: warning: r.jsonl:1: line 1: id field 'id' is empty; named 'r.jsonl:1' by its "
                        "line, compared like any record")
    with Index.open(db, readonly=True) as idx:
        assert sorted(idx.ids()) == ["ok", "r.jsonl:1"]
