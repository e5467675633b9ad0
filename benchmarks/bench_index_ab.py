"""Two versions of the index code on one built index, in ONE process, call by call.

    python benchmarks/bench_index_ab.py --base /tmp/base --db /tmp/p20n.dedup --checks 120 --batches 4

``--base`` is a folder holding another version's ``dedup`` package (``git archive
<commit> dedup | tar -x -C /tmp/base``); the version under test is the ``dedup`` this
script imports.  The base is imported as a second package (``dedup_base``, copied to a
temporary folder; its modules import each other relatively, and the backend table of
``dedup/storage/__init__.py`` is renamed), both open the same index read-only for the
checks, and each call runs on both, in alternating order: new articles and light
rewrites of stored ones checked one at a time (with ``--short``, one-paragraph articles too: a call's fixed
cost), then ``check_many`` batches, then
``add_many`` batches (``filter``, as ``dedup index add DIR``) each in a write
transaction that is rolled back (SQLite; give ``--batches 0`` for a Redis URL, whose
writes are not rolled back).

Why: on a machine shared with other jobs two benchmark runs minutes apart differ by
up to ~30 % (other jobs' caches and memory traffic), more than most changes measured;
alternating every call puts both versions under the same conditions.  Reported: CPU
time per call (p50, p90, p95, mean) and per batch article for each version, their ratio, and
whether every verdict is identical.  Nothing is asserted; results go in
``benchmarks/README-index.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_index import Markov, articles, paragraphs_from, rewrite, undone
from dedup.index import Index

ROOT = Path(__file__).resolve().parent.parent


def base_index_class(base: Path, scratch: Path):
    """``Index`` of the ``dedup`` package under ``base``, imported as ``dedup_base``."""
    target = scratch / "dedup_base"
    shutil.copytree(base / "dedup", target)
    table = target / "storage" / "__init__.py"
    table.write_text(table.read_text(encoding="utf-8").replace('"dedup.storage.', '"dedup_base.storage.'),
                     encoding="utf-8")
    sys.path.insert(0, str(scratch))
    return importlib.import_module("dedup_base.index").Index


def summary(times: list[float]) -> dict:
    """p50, p90 and p95 (nearest rank) of ``times`` in ms, with the mean and n; below 10
    calls (batches) the min and max instead of p90/p95, which so few cannot tell."""
    ms = sorted(t * 1000 for t in times)
    out = {"p50": round(statistics.median(ms), 2)}
    if len(ms) >= 10:
        out.update({f"p{q}": round(ms[math.ceil(q / 100 * len(ms)) - 1], 2) for q in (90, 95)})
    else:
        out.update({"min": round(ms[0], 2), "max": round(ms[-1], 2)})
    return {**out, "mean": round(statistics.fmean(ms), 2), "n": len(ms)}


def alternated(order: list[str], call, times: dict[str, list[float]], per: int = 1) -> bool:
    """``call(name)`` for each version, ``order`` reversed first (neither version always
    runs first), its CPU time (divided by ``per``) appended to ``times[name]``; whether
    the answers were equal."""
    order.reverse()
    got = {}
    for name in order:
        start = time.process_time()
        got[name] = call(name)
        times[name].append((time.process_time() - start) / per)
    return got["base"] == got["new"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="folder holding the base version's dedup package")
    parser.add_argument("--db", required=True, help="a built index (bench_index.py --load --db ...)")
    parser.add_argument("--base-db", help="the index the base version opens (default: --db), e.g. the same "
                        "articles stored in another layout")
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "eval-dev")
    parser.add_argument("--checks", type=int, default=100, help="new articles and rewrites checked (each)")
    parser.add_argument("--short", type=int, default=0,
                        help="new one-paragraph articles checked too (a call's fixed cost)")
    parser.add_argument("--many", type=int, default=2, help="check_many batches")
    parser.add_argument("--batches", type=int, default=4, help="add_many batches (rolled back)")
    parser.add_argument("--batch", type=int, default=128, help="articles per check_many / add_many batch")
    parser.add_argument("--paragraphs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the results here (JSON)")
    args = parser.parse_args()
    chain = Markov(paragraphs_from(args.source))
    with tempfile.TemporaryDirectory() as scratch:
        versions = {"base": base_index_class(args.base, Path(scratch)), "new": Index}
        dbs = {"base": args.base_db or args.db, "new": args.db}
        readers = {name: cls.open(dbs[name], auto_optimize=False, readonly=True) for name, cls in versions.items()}
        writers = ({name: cls.open(dbs[name], auto_optimize=False) for name, cls in versions.items()}
                   if args.batches else {})
        for idx in (*readers.values(), *writers.values()):
            if hasattr(idx._store, "_bucket_view"):  # noqa: SLF001 -- SQLite, warm: every page verified
                idx._store._bucket_view().file.verify_all()  # noqa: SLF001 -- (what a long-running process reaches)
        n = len(readers["new"])
        rng = random.Random(args.seed)
        new_articles = articles(chain, args.checks, 999_999 + args.seed, args.paragraphs)
        stored = [readers["new"].get(f"doc{rng.randrange(n - 1)}") for _ in range(args.checks)]
        rewrites = [rewrite(d.text, rng) for d in stored if d is not None]
        times: dict = {kind: {name: [] for name in versions}
                       for kind in ("check_new", "check_rewrite", "check_short", "check_many", "add_many")}
        same, differing = True, {kind: 0 for kind in times}
        order = list(versions)
        for text in new_articles[:5]:  # warm both (imports, statement caches)
            for idx in readers.values():
                idx.check(text)
        short = [t.split("\n\n")[0] for t in articles(chain, args.short, 333_333 + args.seed, 3)]
        for kind, texts in (("check_new", new_articles), ("check_rewrite", rewrites), ("check_short", short)):
            for text in texts:
                equal = alternated(order, lambda name: readers[name].check(text).to_dict(), times[kind])
                same &= equal
                differing[kind] += not equal
        for b in range(args.many):
            batch = articles(chain, args.batch, 555_555 + args.seed + n + b, args.paragraphs)
            equal = alternated(order, lambda name: [v.to_dict() for v in readers[name].check_many(batch)],
                               times["check_many"], len(batch))
            same &= equal
            differing["check_many"] += not equal
        for b in range(args.batches):
            batch = articles(chain, args.batch, 777_777 + args.seed + n + b, args.paragraphs)

            def add(name: str) -> list:
                with undone(writers[name], True):  # (the rollback timed too, as the same for both)
                    return [v.to_dict() for _, v in writers[name].filter((f"ab-{b}-{i}", t) for i, t in enumerate(batch))]
            equal = alternated(order, add, times["add_many"], len(batch))
            same &= equal
            differing["add_many"] += not equal
        for idx in (*readers.values(), *writers.values()):
            idx.close()
    result = {"command": sys.argv[1:], "stored": n, "verdicts_identical": bool(same),
              "differing_calls": differing}
    for kind, timed in times.items():
        if not timed["new"]:
            continue
        per = {name: summary(timed[name]) for name in versions}
        ratio = round(float(np.mean(timed["new"]) / np.mean(timed["base"])), 3)
        result[kind] = {**per, "new/base mean": ratio}
        if kind in ("check_many", "add_many"):
            for name in versions:
                per[name]["articles_per_cpu_s"] = round(1000 / per[name]["mean"], 1)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
