"""The same text judged again is not counted again in the boilerplate tallies
(tester's T5, session 12): boilerplate is a paragraph recurring across many *distinct*
documents, so a rejected reprint re-submitted (a retried or daily re-run add) must
stay rejected, and the original's paragraphs must not become boilerplate."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from conftest import FIXTURES

from dedup.cli import main
from dedup.index import Index

NEWS = sorted((FIXTURES / "news").glob("*.txt"))


def _items():
    return [{"id": f.name, "text": f.read_text(encoding="utf-8")} for f in NEWS]


def test_a_rejected_reprint_resubmitted_stays_rejected(backend):
    with Index.open(backend.url) as idx:
        for _ in range(20):
            verdicts = {v.doc_id: v for v in idx.add_many(_items())}
            reprint = verdicts["reprint-harbour-bridge.txt"]
            assert not reprint.accepted and "similarity 0.90" in reprint.reason, reprint.reason
        assert idx.stats()["documents"] == len(NEWS) - 1
        # the same reprint under another id is the same text: not counted either
        for n in range(12):
            v = idx.add(FIXTURES.joinpath("news", "reprint-harbour-bridge.txt").read_text(encoding="utf-8"),
                        doc_id=f"copy-{n}")
            assert not v.accepted and "similarity 0.90" in v.reason, v.reason
        judged = idx._store.tallies(np.zeros(1, np.uint64))[1]
        assert judged == len(NEWS)  # documents judged: each distinct text once


def test_index_add_of_the_same_folder_again_adds_nothing(backend):
    def add():
        return CliRunner().invoke(main, ["index", "add", str(FIXTURES / "news"), "--db", backend.url],
                                  catch_exceptions=False)

    first = add()
    assert first.exit_code == 1 and "3 added, 1 rejected" in first.stdout + first.stderr
    for _ in range(12):
        again = add()
        out = again.stdout + again.stderr
        assert "0 added" in out and "reprint-harbour-bridge.txt: rejected" in out, out


def test_a_folder_added_again_adds_nothing_and_gives_the_same_verdicts(tmp_path, monkeypatch):
    """A site's second brief, rejected while one page of the site is stored, is judged
    again at the end of the add that stores the site's later pages (its frame is then a
    template): accepted in that add, so a second add of the same folder adds nothing
    and gives every rejected article the same verdict (session 13: 556 added, then 4
    more, then 0 on a 600-file folder).  A true duplicate (the reprint) stays rejected."""
    from test_frames_briefs import briefs_site

    monkeypatch.chdir(tmp_path)
    site, _, _, bottom = briefs_site(9, 6, 1, 2.0, 1, 2)
    (tmp_path / "in").mkdir()
    for i, page in enumerate(site[:5]):
        (tmp_path / "in" / f"brief{i:02}.txt").write_text(page, encoding="utf-8")
    for f in NEWS:
        (tmp_path / "in" / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")

    def add():
        out = CliRunner().invoke(main, ["index", "add", "in", "--db", "i.dedup", "--format", "jsonl", "-q", "-o", "-"],
                                 catch_exceptions=False).stdout
        return {v["id"]: v for v in map(json.loads, out.splitlines()) if "verdict" in v}

    first, second = add(), add()
    assert first["in/brief01.txt"]["added"], first["in/brief01.txt"]["reason"]
    assert first["in/brief01.txt"]["boilerplate_paragraphs"] == [0, 2, 3], first["in/brief01.txt"]
    rejected = {k for k, v in first.items() if not v["added"]}
    assert rejected == {"in/reprint-harbour-bridge.txt"}, rejected
    assert not [k for k, v in second.items() if v["added"]]
    assert {k for k, v in second.items() if not v["already_indexed"]} == rejected
    for k in rejected:
        assert second[k] == first[k]
