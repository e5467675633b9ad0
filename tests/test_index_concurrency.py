"""Four writer processes and two readers on one index file.

Runs in the default test run (a few seconds).  Each round, all four writers add their
own light rewrite of the same article at the same moment (a barrier releases them
together): exactly one may be admitted.  Between rounds each writer adds articles of its
own, which must all be stored.  Readers check continuously and must never see an error
("database is locked" included).  The second variant runs with a bucket file, which one
reader rewrites again and again under the writers' feet (everyone else picks up the new
file or reads what is newer into memory).
"""

from __future__ import annotations

import multiprocessing as mp
import random
import traceback

import pytest

from textgen import prose, rewrite

from dedup.index import Index

WRITERS, READERS, ROUNDS, OWN = 4, 2, 8, 3


def _article(seed: int, paragraphs: int = 8) -> str:
    rng = random.Random(seed)
    return "\n\n".join(prose(rng, rng.randint(50, 80)) for _ in range(paragraphs))


def _writer(path: str, w: int, barrier, results) -> None:
    try:
        idx = Index.open(path)
        rng = random.Random(100 + w)
        for r in range(ROUNDS):
            contested = rewrite(rng, _article(r), 0.05)
            barrier.wait(timeout=60)
            verdict = idx.add(contested, doc_id=f"c{r}-w{w}")
            results.put(("contested", r, w, verdict.added))
            for k in range(OWN):
                own_id = f"own-w{w}-{r}-{k}"
                results.put(("own", own_id, w, idx.add(_article(10_000 + 100 * w + 10 * r + k), doc_id=own_id).added))
        idx.close()
        results.put(("done", w, None, None))
    except BaseException:
        results.put(("error", w, traceback.format_exc(), None))


def _reader(path: str, n: int, stop, results, rewrite_file: bool) -> None:
    try:
        idx = Index.open(path)
        checks = 0
        while not stop.is_set() or checks < 5:
            idx.check(_article(checks % ROUNDS))
            len(idx)
            checks += 1
            if rewrite_file and checks % 3 == 0:
                idx.optimize()
        results.put(("reads", n, checks, None))
    except BaseException:
        results.put(("error", f"reader {n}", traceback.format_exc(), None))


@pytest.mark.parametrize("bucket_file", [False, True], ids=["no bucket file", "bucket file rewritten meanwhile"])
def test_four_writers_and_readers_never_admit_twice_nor_lose_an_add(tmp_path, bucket_file):
    path = str(tmp_path / "shared.dedup")
    with Index.open(path) as idx:  # created up front, like a deployed index
        if bucket_file:
            idx.optimize()
    ctx = mp.get_context("fork")
    barrier, stop, results = ctx.Barrier(WRITERS), ctx.Event(), ctx.Queue()
    writers = [ctx.Process(target=_writer, args=(path, w, barrier, results)) for w in range(WRITERS)]
    readers = [ctx.Process(target=_reader, args=(path, n, stop, results, bucket_file and n == 0))
               for n in range(READERS)]
    for p in readers + writers:
        p.start()
    events = []
    while sum(e[0] in ("done", "error") for e in events) < WRITERS:
        events.append(results.get(timeout=120))
    stop.set()
    while sum(e[0] == "reads" or (e[0] == "error" and str(e[1]).startswith("reader")) for e in events) < READERS:
        events.append(results.get(timeout=60))
    for p in readers + writers:
        p.join(timeout=30)
    errors = [e[2] for e in events if e[0] == "error"]
    assert errors == []
    admitted = {r: [w for kind, rr, w, added in events if kind == "contested" and rr == r and added]
                for r in range(ROUNDS)}
    assert all(len(ws) == 1 for ws in admitted.values()), admitted
    own = [(name, added) for kind, name, _, added in events if kind == "own"]
    assert len(own) == WRITERS * ROUNDS * OWN and all(added for _, added in own)
    assert all(e[2] > 0 for e in events if e[0] == "reads")
    with Index.open(path) as idx:
        assert idx.stats()["bucket_file"]["in_use"] == bucket_file
        assert len(idx) == ROUNDS + len(own)
        assert all(name in idx for name, _ in own)
        for r, (w,) in admitted.items():
            assert f"c{r}-w{w}" in idx
