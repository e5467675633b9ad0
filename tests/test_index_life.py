"""The index's life, as the tester found it after session 8 (#12 a, b and messages):
what an interrupted add says, non-UTF-8 file names, record names, and messages that
named the wrong cause.  Each test failed on the code before (main 7ab1bc1)."""

from __future__ import annotations

import base64
import json
import os
import random

import pytest
from click.testing import CliRunner

from dedup import Index, Policy, scan
from dedup.cli import main
from textgen import prose


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def article(rng: random.Random) -> str:
    return "\n\n".join(prose(rng, 50) for _ in range(3))


@pytest.fixture(autouse=True)
def in_docs(tmp_path, monkeypatch):
    """Run in ``tmp_path/docs`` (documents), the index beside it (``../i.dedup``)."""
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path / "docs")


def test_interrupted_after_the_batch_in_flight_committed_counts_it_as_stored(tmp_path, monkeypatch):
    """(a) A Ctrl-C after a batch committed (here: in the bucket-file upkeep that
    follows the commit) used to be reported as "256 judged and 257 stored"; the note
    now says how many of the documents read are in the index, and it is exact."""
    rng = random.Random(11)
    for i in range(300):  # two batches of 256
        (tmp_path / "docs" / f"d{i:03d}.txt").write_text(article(rng))
    real = Index._optimize_if_behind

    def interrupted_after_the_second_commit(self, *args, **kwargs):
        if len(self) == 300:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Index, "_optimize_if_behind", interrupted_after_the_second_commit)
    db = tmp_path / "i.dedup"
    result = CliRunner().invoke(main, ["index", "add", ".", "--db", str(db)])
    assert result.exit_code == 130
    [note] = [line for line in result.stderr.splitlines() if "stopped;" in line]
    assert "300 of the 300 documents read are stored in the index (the last: d299.txt)" in note
    assert "are not" not in note
    monkeypatch.undo()
    with Index.open(db, create=False) as idx:
        assert len(idx) == 300


def _note_of_a_failed_add() -> str:
    """The "stopped;" note of an ``index add`` of this folder that fails (status 2)."""
    result = CliRunner().invoke(main, ["index", "add", ".", "--db", "../i.dedup"])
    assert result.exit_code == 2
    [note] = [line for line in result.stderr.splitlines() if "stopped;" in line]
    return note


def test_interrupted_note_names_few_documents_and_says_what_was_not_stored(tmp_path, monkeypatch):
    rng = random.Random(12)
    texts = [article(rng) for _ in range(3)]
    for i, text in enumerate(texts + [texts[0]]):  # d3 is a duplicate of d0: rejected
        (tmp_path / "docs" / f"d{i}.txt").write_text(text)
    real = Index._decide  # the batch pass `dedup index add` runs (dedup.index.settle)

    def fails_after(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Index, "_decide", fails_after)
    assert _note_of_a_failed_add().endswith(
        "3 of the 4 documents read are stored in the index (d0.txt, d1.txt, d2.txt) and stay there; the other 1 "
        "are not (rejected, refused or not reached: run the same command again to add them)")


def test_interrupted_note_before_any_document_was_read_says_so(tmp_path, monkeypatch):
    """It said "none of the 0 documents read is stored" (tester, session 23)."""
    import dedup.index.jobs as jobs

    (tmp_path / "docs" / "d0.txt").write_text(article(random.Random(1)))

    def fails_at_once(*args, **kwargs):
        raise OSError(5, "Input/output error")
        yield  # a generator, as the reader it stands for

    monkeypatch.setattr(jobs, "_stream", fails_at_once)
    result = CliRunner().invoke(main, ["index", "add", ".", "--db", "../i.dedup"])
    assert result.exit_code == 2
    assert "i.dedup: stopped before any document was read; nothing is stored in the index" in result.stderr
    assert "0 documents" not in result.stderr


def test_interrupted_note_on_a_damaged_index_does_not_say_run_again(tmp_path, monkeypatch):
    """Running the same add again cannot help a damaged index (new user N19 of session
    18: the note said to, above "the index is damaged ... restore ... or rebuild")."""
    from dedup.storage.protocol import IndexCorrupt

    rng = random.Random(12)
    for i, text in enumerate([article(rng) for _ in range(2)]):
        (tmp_path / "docs" / f"d{i}.txt").write_text(text)

    def damaged(self, *args, **kwargs):
        raise IndexCorrupt("i.dedup: the index is damaged: stored paragraph row 7 does not match its checksum")

    monkeypatch.setattr(Index, "_decide", damaged)
    note = _note_of_a_failed_add()
    assert note.endswith("none of the 2 documents read is stored in the index: 2 are not (rejected, refused or "
                         "not reached)"), note


def test_interrupted_note_when_the_index_cannot_be_read_says_what_may_be_stored(tmp_path, monkeypatch):
    """The index fails, and cannot be read to tell what of the batch in flight it kept
    (a Redis server restarted mid-batch keeps what was published): the note gives the
    earlier batches' documents as stored and the batch in flight as "may be", never
    "not" (tester's F6, session 15)."""
    rng = random.Random(14)
    for i in range(300):  # two batches of 256
        (tmp_path / "docs" / f"d{i:03d}.txt").write_text(article(rng))
    real, runs = Index._decide, []

    def fails_in_the_second_batch(self, *args, **kwargs):
        runs.append(1)
        if len(runs) == 2:
            raise OSError(5, "Input/output error")
        return real(self, *args, **kwargs)

    def unreadable(self, *args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Index, "_decide", fails_in_the_second_batch)
    monkeypatch.setattr(Index, "holds", unreadable)
    note = _note_of_a_failed_add()
    assert note.endswith("256 of the 300 documents read are stored in the index (the last: d255.txt) and stay "
                         "there; up to 44 more, of the batch being written when it stopped, may be stored too (the "
                         "index could not be read to tell): run the same command again once the index can be read "
                         "(what is stored is skipped)"), note


def test_damage_found_before_any_write_is_not_said_to_have_stored_anything(tmp_path):
    """s23 audit of #12: the add of a stored document whose row was damaged said "up to
    1, of the batch being written when it stopped, may be stored" -- the damage was
    found before any write, and the transaction was undone whole."""
    import sqlite3

    rng = random.Random(15)
    for i in range(3):
        (tmp_path / "docs" / f"d{i}.txt").write_text(article(rng))
    assert CliRunner().invoke(main, ["index", "add", ".", "--db", "../i.dedup"]).exit_code == 0
    with sqlite3.connect(tmp_path / "i.dedup") as conn:
        conn.execute("UPDATE documents SET key = key + 1 WHERE doc_id = 'd1.txt'")  # its checksum no longer holds
    note = _note_of_a_failed_add()
    assert "may be stored" not in note and note.endswith(
        "none of the 3 documents read is known to be stored in the index; this add stored none of the 3 of the "
        "batch being written when it stopped (its write was undone whole; whether the index held them before "
        "could not be read)"), note


def test_a_non_utf8_file_name_is_stored_and_checked(tmp_path):
    """(b) It was an error entry ("lone surrogate") in `index add` and `check`."""
    rng = random.Random(13)
    raw = b"caf\xe9.txt"
    with open(os.path.join(os.fsencode(tmp_path / "docs"), raw), "w") as f:
        f.write(article(rng))
    (tmp_path / "docs" / "ok.txt").write_text(article(rng))
    added = run("index", "add", ".", "--db", "../i.dedup", "--format", "json")
    assert added.exit_code == 0, added.stderr
    verdicts = json.loads(added.stdout)["verdicts"]
    assert [v["id"] for v in verdicts] == ["caf\\xe9.txt", "ok.txt"] and all(v["added"] for v in verdicts)
    with Index.open("../i.dedup", readonly=True) as idx:
        [listed] = [d for d in idx.documents() if d.doc_id == "caf\\xe9.txt"]
        assert base64.b64decode(listed.meta["path_bytes"]) == raw  # the exact bytes, as the scan's JSON gives
    scanned = json.loads(run("scan", ".", "--format", "json").stdout)
    assert {d.get("path_bytes") for d in scanned["documents"]} == {base64.b64encode(raw).decode(), None}
    again = run("index", "add", ".", "--db", "../i.dedup")
    assert again.exit_code == 0 and "caf\\xe9.txt: already indexed" in again.stdout
    checked = run("check", ".", "--db", "../i.dedup", "--format", "json")
    report = json.loads(checked.stdout)
    assert checked.exit_code == 0 and report["errors"] == []
    assert [(v["id"], v["verdict"]) for v in report["verdicts"]] == [("caf\\xe9.txt", "already indexed"),
                                                                    ("ok.txt", "already indexed")]
    assert report["documents"][0]["path_bytes"] == base64.b64encode(raw).decode()  # named as the scan names it


def test_records_are_named_as_the_scan_names_them_and_a_repeated_id_is_kept(tmp_path):
    """Check and add reports named records by their index id (`w1`) where the scan says
    `r.jsonl#w1`, and a repeated id (the scan's `r.jsonl#w1@3`) was refused as "already
    in the index with a different text".  Reports now use the scan's names; the index
    keeps the record's own id, `ID@LINE` for a repeat."""
    rng = random.Random(14)
    texts = [article(rng) for _ in range(3)]
    records = [{"id": "w1", "text": texts[0]}, {"text": texts[1]}, {"id": "w1", "text": texts[2]}]
    (tmp_path / "docs" / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    names = [d.path for d in scan(tmp_path / "docs" / "r.jsonl").documents]
    assert names == ["r.jsonl#w1", "r.jsonl:2", "r.jsonl#w1@3"]
    added = run("index", "add", "r.jsonl", "--db", "../i.dedup", "--format", "json")
    assert added.exit_code == 0, added.stderr
    report = json.loads(added.stdout)
    assert [d["path"] for d in report["documents"]] == names
    assert [v["id"] for v in report["verdicts"]] == ["w1", "r.jsonl:2", "w1@3"]
    assert all(v["added"] for v in report["verdicts"])
    with Index.open("../i.dedup", readonly=True) as idx:
        assert sorted(idx.ids()) == ["r.jsonl:2", "w1", "w1@3"] and "w1" in idx
    checked = json.loads(run("check", "r.jsonl", "--db", "../i.dedup", "--format", "json").stdout)
    assert [d["path"] for d in checked["documents"]] == names
    assert [(v["id"], v["verdict"]) for v in checked["verdicts"]] == [
        ("w1", "already indexed"), ("r.jsonl:2", "already indexed"), ("w1@3", "already indexed")]


def test_a_refused_stdin_replacement_does_not_say_nothing_could_be_read(tmp_path):
    rng = random.Random(15)
    assert run("index", "add", "-", "--id", "s1", "--db", "../i.dedup", input=article(rng)).exit_code == 0
    refused = run("index", "add", "-", "--id", "s1", "--db", "../i.dedup", input=article(rng))
    assert refused.exit_code == 2
    assert "already in the index with a different text" in refused.stderr
    assert "could be read" not in refused.stderr
    assert refused.stderr.splitlines()[-1] == "dedup: no document could be added (1 read, 1 refused)"


def test_stats_count_the_paragraphs_outside_the_bucket_file_after_a_replace(tmp_path):
    """`index stats` said "38 paragraphs" and "39 paragraphs read into memory": the
    second counted row ids, and a replaced document's rows are gone."""
    rng = random.Random(16)
    with Index.open(tmp_path / "i.dedup", auto_optimize=False) as idx:
        idx.add(article(rng), "a")
        idx.add(article(rng), "b")
        idx.add(article(rng) + "\n\n" + prose(rng, 40), "a", policy=Policy(replace=True))
        stats = idx.stats()
        assert stats["paragraphs"] == 7
        assert stats["bucket_file"]["paragraphs_behind"] == 7


def test_a_snapshot_answers_several_look_ups_from_one_view(backend):
    """Index.snapshot (whole-diff review, session 17): an add committed by another
    connection between two look-ups inside one snapshot is seen by neither, on both
    backends -- the check does not judge the article against its own stored copy."""
    rng = random.Random(12)
    text = article(rng)
    with Index.open(backend.url) as first:
        first.add(article(rng), doc_id="other")
    with Index.open(backend.url) as reader, Index.open(backend.url) as writer:
        item = {"id": "a", "text": text}
        with reader.snapshot():
            assert reader.holds([item], texts=True) == [False]
            assert writer.add(text, doc_id="a").added
            inside = reader.check_many([("a", text)])[0]
        assert reader.holds([item], texts=True) == [True]
        after = reader.check_many([("a", text)])[0]
    assert not inside.flagged and not inside.matches, inside
    assert after.flagged and after.matches[0].doc_id == "a"  # what two snapshots would have said inside
