"""The same text judged again is not counted again in the boilerplate tallies
(tester's T5, session 12): boilerplate is a paragraph recurring across many *distinct*
documents, so a rejected reprint re-submitted (a retried or daily re-run add) must
stay rejected, and the original's paragraphs must not become boilerplate."""

from __future__ import annotations

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
