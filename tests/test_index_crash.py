"""kill -9 at random moments: every add that returned is there, nothing is half-added.

Runs in the default test run (sized to a few seconds): a subprocess adds articles in
a loop and prints each id once ``add`` has returned; the test kills it with SIGKILL at a
random point, several rounds, and after each round reopens the index and checks it.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
import time
from pathlib import Path

import pytest

from dedup.index import Index

ROUNDS = 6

_WRITER = textwrap.dedent(
    """
    import random, sys
    sys.path.insert(0, sys.argv[3])
    from textgen import prose
    from dedup.index import Index
    from dedup.verdict import Policy
    idx = Index.open(sys.argv[1], policy=Policy("flag", add_duplicates=True))
    start, optimize_every = int(sys.argv[2]), int(sys.argv[4])
    for i in range(start, start + 100000):
        rng = random.Random(i)
        text = "\\n\\n".join(prose(rng, rng.randint(40, 90)) for _ in range(rng.randint(3, 12)))
        verdict = idx.add(text, doc_id=f"d{i}")
        assert verdict.added
        print(f"d{i}", flush=True)
        if optimize_every and i % optimize_every == 0:
            idx.optimize()  # rewrites the bucket file: the kill may land in the middle
    """
)


def _consistent(path: Path) -> tuple[int, int]:
    """Check the file's integrity and that every stored document is whole."""
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "documents" not in tables:
            # Killed before the schema's transaction committed: an empty database file,
            # which Index.open treats as a new index (checked by the caller).
            return 0, 0
        bad_counts = conn.execute(
            "SELECT d.doc_id FROM documents d LEFT JOIN paragraphs p ON p.doc = d.id "
            "GROUP BY d.id HAVING COUNT(p.id) <> d.paragraphs"
        ).fetchall()
        orphans = conn.execute(
            "SELECT COUNT(*) FROM paragraphs WHERE doc NOT IN (SELECT id FROM documents)"
        ).fetchone()[0]
        heirs = conn.execute("SELECT COUNT(*) FROM heirs").fetchone()[0]
        docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        paras = conn.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0]
    assert bad_counts == [] and orphans == 0 and heirs == 0  # nothing removed: nothing inherited
    return docs, paras


@pytest.mark.parametrize("optimize_every", [0, 2], ids=["adds", "adds and bucket file rewrites"])
def test_kill_9_never_loses_a_returned_add_nor_leaves_half_an_add(tmp_path, optimize_every):
    path = tmp_path / "crash.dedup"
    rng = random.Random(9)
    returned: list[str] = []
    in_flight: set[str] = set()  # per round, the add that may have committed unreturned
    start = 0
    for round_no in range(ROUNDS):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(start), str(Path(__file__).parent), str(optimize_every)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        if round_no == 0:
            time.sleep(rng.uniform(0.0, 0.6))  # may hit the import or the index creation
        else:
            for _ in range(rng.randint(1, 12)):  # some adds, then a random moment mid-loop
                line = proc.stdout.readline()
                assert line, proc.stderr.read()
                returned.append(line.strip())
            time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, err
        returned.extend(out.split())
        in_flight.add(f"d{start + sum(start <= int(r[1:]) < start + 1000 for r in returned)}")
        start += 1000
        if path.exists():
            docs, _ = _consistent(path)
            with Index.open(path) as idx:
                missing = [d for d in returned if d not in idx]
                assert missing == [], f"round {round_no}: returned adds lost: {missing}"
                # + the add in flight when a round was killed (one per round at most)
                assert set(returned) <= set(idx) <= set(returned) | in_flight
                # The reopened index works: it answers and accepts new adds.
                text = idx.get(returned[-1]).text if returned else None
                if text:
                    assert idx.check(text).similarity == 1.0
                # The file the database names is whole (a file killed half-written, or
                # written but not yet named, is never named).
                with closing(sqlite3.connect(path)) as conn:
                    named = conn.execute("SELECT value FROM meta WHERE key = 'bucket_file'").fetchone()
                if named:
                    assert idx.stats()["bucket_file"]["in_use"], f"round {round_no}: bucket file unusable"
                    for doc_id in rng.sample(returned, min(5, len(returned))):
                        assert idx.check(idx.get(doc_id).text).similarity == 1.0
    assert len(returned) >= ROUNDS - 1
