"""What the row checksums cost (:mod:`dedup.storage.rowcheck`): the CPU time spent
computing and comparing them, as a share of checks and adds, measured in one run.

    python benchmarks/bench_rowcheck.py --docs 2000
    python benchmarks/bench_rowcheck.py --docs 2000 --db 'redis://127.0.0.1:6379/0?prefix=bench'

It builds an index of ``--docs`` generated articles (bench_index's Markov text, bulk
``Index.load``), then times ``--samples`` checks of new articles, as many of light
rewrites of stored ones, and one ``add_many`` of ``--add-batch`` new articles, each
with the checksum functions wrapped by a CPU-time counter: the share is the
checksums' CPU over the whole call's CPU, in the same calls (so machine load affects
both alike).  It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_index import Markov, articles, paragraphs_from, rewrite  # noqa: E402

import dedup.storage.redis.log as log  # noqa: E402
import dedup.storage.redis.records as records  # noqa: E402
import dedup.storage.sqlite.checks as checks  # noqa: E402
import dedup.storage.sqlite.rows as rows  # noqa: E402
import dedup.storage.sqlite.writes as writes  # noqa: E402
from dedup.index import Index  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
spent = [0.0]


def counted(function):
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.process_time() - start
    return wrapper


def wrap() -> None:
    for module in (checks, rows, writes, records):
        for name in ("row_checks", "verify", "stored", "_owners"):
            if hasattr(module, name):
                setattr(module, name, counted(getattr(module, name)))
    log.BucketCache.whole = counted(log.BucketCache.whole)  # the bucket log's entry count


def measured(call) -> dict[str, float]:
    spent[0] = 0.0
    start = time.process_time()
    call()
    total = time.process_time() - start
    return {"cpu_s": round(total, 3), "checksum_cpu_s": round(spent[0], 4),
            "checksum_share": round(spent[0] / total, 4) if total else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--add-batch", type=int, default=1024)
    parser.add_argument("--db", help="index path or URL (default: a temporary file)")
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "eval-dev")
    args = parser.parse_args()
    chain = Markov(paragraphs_from(args.source))
    stored = articles(chain, args.docs, seed=1)
    new = articles(chain, args.samples + args.add_batch, seed=2)
    rng = random.Random(3)
    rewrites = [rewrite(stored[rng.randrange(len(stored))], rng) for _ in range(args.samples)]
    with tempfile.TemporaryDirectory() as tmp:
        where = args.db or str(Path(tmp) / "bench.dedup")
        with Index.open(where) as idx:
            idx.load([(f"s{i}", t) for i, t in enumerate(stored)])
            idx.optimize()
            wrap()
            out = {
                "docs": args.docs,
                "backend": idx.stats()["backend"],
                "check_new": measured(lambda: [idx.check(t) for t in new[: args.samples]]),
                "check_rewrite": measured(lambda: [idx.check(t) for t in rewrites]),
                "add_many": measured(lambda: idx.add_many([(f"n{i}", t) for i, t in
                                                            enumerate(new[args.samples:])])),
            }
            for key in ("check_new", "check_rewrite"):
                out[key]["cpu_ms_per_check"] = round(1000 * out[key]["cpu_s"] / args.samples, 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
