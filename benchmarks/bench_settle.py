"""What one-shot adds cost (dedup.index.settle): mostly-duplicate adds against all-new ones.

    python benchmarks/bench_settle.py --stored 1000 --add 500 --rounds 3

An index of ``--stored`` articles is built once (``Index.load``) and copied for every
measured add, so each add starts from the same index.  Each add is ``--add`` articles
in batches of ``BATCH_DOCUMENTS``, settled over the whole add as ``dedup index add``
settles it (:class:`dedup.index.settle.Settling`, :func:`dedup.index.jobs.add_paths`),
CPU seconds of this process (``time.process_time``), in interleaved rounds so the
machine's load moves every kind alike.  The kinds:

* ``new``: every article new;
* ``near90``: 10 % new, 90 % light rewrites (10 % of the words) of stored articles,
  spread through the add (each rejected as a duplicate);
* ``exact90``: 10 % new, 90 % exact copies of stored articles under new ids;
* ``near90 once`` / ``exact90 once``: the same adds without judging again (the in-order
  pass alone: ``Index.add_many`` per batch, as ``filter`` adds): what settling adds;
* ``near90 again``: the ``near90`` add repeated on the index it left (the idempotent
  second add: everything stored is "already indexed", nothing is judged twice).

Each row says the articles judged (the in-order pass plus the judgements again), the
articles signed and the CPU seconds of signing them (``dedup.index.run.sign``: an
article judged again is signed again, as it waits as text; session 16 to 17's
``add_many`` settled on the first signatures) and the articles stored.  It asserts nothing; results go to benchmarks/README-containment.md.
Text: the word-bigram chain of ``bench_index.py`` over the eval-dev paragraphs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_index import ROOT, Markov, articles, paragraphs_from, rewrite  # noqa: E402

import dedup.index as index_package  # noqa: E402
from dedup.index import BATCH_DOCUMENTS, Index  # noqa: E402
from dedup.index.items import input_of  # noqa: E402
from dedup.index.settle import Settling  # noqa: E402
from dedup.verdict import Policy  # noqa: E402


def kinds(stored: list[str], fresh: list[str], n: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """The items of each kind of add (ids unique within an add and apart from the stored)."""
    rng = random.Random(seed)
    picks = rng.sample(range(len(stored)), int(n * 0.9))
    mixed_near, mixed_exact, k_new, k_old = [], [], 0, 0
    for i in range(n):
        if i % 10 == 9:  # every tenth article new, spread through the add
            text = fresh[k_new]
            k_new += 1
            mixed_near.append((f"n{i}", text))
            mixed_exact.append((f"n{i}", text))
        else:
            old = stored[picks[k_old]]
            k_old += 1
            mixed_near.append((f"r{i}", rewrite(old, rng, 0.1)))
            mixed_exact.append((f"x{i}", old))
    return {"new": [(f"a{i}", t) for i, t in enumerate(fresh[n // 10 : n // 10 + n])],
            "near90": mixed_near, "exact90": mixed_exact}


def add(idx: Index, items: list[tuple[str, str]], settle: bool) -> tuple[float, int]:
    """CPU seconds of adding ``items`` (batches of BATCH_DOCUMENTS; with ``settle``, the
    whole add settled at its end) and how many were stored."""
    step = idx.adder(Policy())
    settling = Settling(Policy(), batch=BATCH_DOCUMENTS)
    verdicts: list = []
    start = time.process_time()
    try:
        for lo in range(0, len(items), BATCH_DOCUMENTS):
            part = items[lo : lo + BATCH_DOCUMENTS]
            verdicts += (settling.judge(step, step.prepare([input_of(i) for i in part])) if settle
                         else idx.add_many(part))
        if settle:
            settling.settle(step, verdicts)
    finally:
        settling.close()
    return time.process_time() - start, sum(v.added for v in verdicts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--add", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "eval-dev")
    parser.add_argument("--json", type=Path, help="write the raw rounds here")
    args = parser.parse_args()

    chain = Markov(paragraphs_from(args.source))
    stored = articles(chain, args.stored, args.seed)
    fresh = articles(chain, args.add + args.add // 10, args.seed + 1)
    items = kinds(stored, fresh, args.add, args.seed)
    counts = {"judged": 0, "signed": 0, "sign_cpu": 0.0}
    real = index_package.decide
    run_module = importlib.import_module("dedup.index.run")
    real_sign = run_module.sign

    def counted(store, batch, *a, **k):  # the articles each in-order pass judges
        counts["judged"] += len(batch)
        return real(store, batch, *a, **k)

    def signing(texts, *a, **k):  # the articles signed, and the CPU time of it
        start = time.process_time()
        try:
            return real_sign(texts, *a, **k)
        finally:
            counts["signed"] += len(texts)
            counts["sign_cpu"] += time.process_time() - start

    index_package.decide, run_module.sign = counted, signing
    work = Path(tempfile.mkdtemp(prefix="bench-settle-"))
    try:
        with Index.open(work / "base.dedup") as idx:
            idx.load([(f"s{i}", t) for i, t in enumerate(stored)])
        base = sorted(work.glob("base.dedup*"))
        plan = [("new", "new", True), ("near90", "near90", True), ("near90 once", "near90", False),
                ("exact90", "exact90", True), ("exact90 once", "exact90", False)]
        rows: dict[str, list[dict]] = {name: [] for name, _, _ in plan}
        rows["near90 again"] = []
        for r in range(args.rounds):
            for name, kind, settle in (plan if r % 2 == 0 else plan[::-1]):
                folder = work / f"{r}-{name.replace(' ', '-')}"
                folder.mkdir()
                for f in base:
                    shutil.copy(f, folder / f.name.replace("base", "i"))
                with Index.open(folder / "i.dedup") as idx:
                    counts.update(judged=0, signed=0, sign_cpu=0.0)
                    cpu, kept = add(idx, items[kind], settle)
                    rows[name].append({"cpu": cpu, "stored": kept, **counts})
                    if name == "near90":
                        counts.update(judged=0, signed=0, sign_cpu=0.0)
                        cpu, kept = add(idx, items[kind], True)
                        rows["near90 again"].append({"cpu": cpu, "stored": kept, **counts})
                shutil.rmtree(folder)
    finally:
        index_package.decide, run_module.sign = real, real_sign
        shutil.rmtree(work, ignore_errors=True)
    new = statistics.median(x["cpu"] for x in rows["new"])
    print(f"stored {args.stored}, add {args.add} articles, {args.rounds} rounds (CPU s of this process, "
          f"median and rounds)\n")
    print("| add | CPU s | rounds | articles/CPU-s | vs new | judged | signed | signing CPU s | stored |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        cpu = statistics.median(x["cpu"] for x in runs)
        print(f"| {name} | {cpu:.2f} | {' '.join('%.2f' % x['cpu'] for x in runs)} | {args.add / cpu:.0f} | "
              f"{cpu / new:.2f} | {runs[0]['judged']} | {runs[0]['signed']} | "
              f"{statistics.median(x['sign_cpu'] for x in runs):.2f} | {runs[0]['stored']} |")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
