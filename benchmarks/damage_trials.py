"""Random damage to an SQLite index file, as the tester did it: how often do answers
change silently?

    python benchmarks/damage_trials.py --trials 60

Builds an index of 60 generated articles (and its bucket file), checkpointed into the
file, and its answers to 30 near-copies and 10 new articles.  Each trial copies it,
XORs ``--bytes`` random bytes anywhere past the first page of the database file, and
checks the 40 probes again: the answers are the same, the damage is *detected* (a
``StorageError`` such as ``IndexCorrupt``, or SQLite's own error), or they differ
*silently* (a wrong answer).  It asserts nothing; results in ``README-index.md``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from textgen import prose, rewrite  # noqa: E402

from dedup.index import Index  # noqa: E402
from dedup.storage import StorageError  # noqa: E402


def article(rng: random.Random) -> str:
    return "\n\n".join(prose(rng, rng.randint(40, 70)) for _ in range(5))


def answers(path: Path, probes: list[str]) -> list:
    with Index.open(path, auto_optimize=False) as idx:
        return [(v.is_duplicate, sorted((m.doc_id, round(m.similarity, 6)) for m in v.matches))
                for v in idx.check_many(probes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--bytes", type=int, default=3, help="bytes XORed a trial")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # a damaged bucket file's warning, on every trial
    rng = random.Random(args.seed)
    texts = [article(rng) for _ in range(60)]
    probes = (["\n\n".join(rewrite(rng, p, 0.05) for p in t.split("\n\n")) for t in texts[:30]]
              + [article(rng) for _ in range(10)])
    with tempfile.TemporaryDirectory() as tmp:
        base, trial = Path(tmp, "base"), Path(tmp, "trial")
        base.mkdir()
        with Index.open(base / "i.dedup", auto_optimize=False) as idx:
            idx.load([(f"d{i}", t) for i, t in enumerate(texts)])
            idx.optimize()
        with sqlite3.connect(base / "i.dedup") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        good = answers(base / "i.dedup", probes)
        size = os.path.getsize(base / "i.dedup")
        tally = {"same": 0, "detected": 0, "silent": 0}
        for _ in range(args.trials):
            shutil.rmtree(trial, ignore_errors=True)
            shutil.copytree(base, trial)
            data = bytearray((trial / "i.dedup").read_bytes())
            for _ in range(args.bytes):
                data[rng.randrange(4096, size)] ^= rng.randrange(1, 256)
            (trial / "i.dedup").write_bytes(data)
            try:
                tally["same" if answers(trial / "i.dedup", probes) == good else "silent"] += 1
            except (StorageError, sqlite3.DatabaseError):
                tally["detected"] += 1
    print(tally)


if __name__ == "__main__":
    main()
