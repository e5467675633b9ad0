"""What the index's containment look-up costs (#11, dedup/index/contain.py): size and check time.

    python benchmarks/bench_index_contain.py --docs 5000

Two indexes of the same N synthetic articles (bench_index.py's Markov text, 8-12
paragraphs of ~60 words), loaded with ``Index.load``: one at the default settings
(containment 0.7: 79 single-value keys per banded row besides the band keys: 49 at the
default 49 x 2, 85 at the 85 x 3 of README-index's figures), one
with ``Settings(containment=0)`` (no containment keys, no containment look-up: the
index before).  Measured in one run, alternating calls between the two so machine
noise hits both alike (it asserts nothing; results go in benchmarks/README-index.md):

* bytes on disk (database, log and bucket file) per stored paragraph;
* ``check`` CPU time of a new ~600-word article, p50 / p95 (ms);
* quotes: a 10-30-word span of a stored paragraph, checked alone (1:2 .. 1:6 of the
  paragraph it comes from): share judged "contained-in" (or, for the larger spans,
  "duplicate") by each index.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dedup import Settings
from dedup.index import Index

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import ROOT, Markov, articles, paragraphs_from  # noqa: E402


def size(path: str) -> int:
    folder = Path(path).parent
    return sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(Path(path).name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "eval-dev")
    args = parser.parse_args()
    chain = Markov(paragraphs_from(args.source))
    texts = articles(chain, args.docs, 1)
    probes = articles(chain, args.samples, 2)
    rng = random.Random(3)
    quotes = []
    for _ in range(args.samples):  # a 10-30-word span of a stored paragraph, 1:2 .. 1:6
        paragraph = rng.choice(rng.choice(texts).split("\n\n")).split()
        n = rng.randint(10, 30)
        if len(paragraph) >= 2 * n:
            at = rng.randint(0, len(paragraph) - n)
            quotes.append(" ".join(paragraph[at : at + n]))
    report: dict = {"docs": args.docs, "paragraphs": sum(t.count("\n\n") + 1 for t in texts)}
    with tempfile.TemporaryDirectory(prefix="bench-contain-") as tmp:
        idx = {}
        for name, settings in (("with", Settings()), ("without", Settings(containment=0))):
            path = os.path.join(tmp, name, "i.dedup")
            os.makedirs(os.path.dirname(path))
            index = Index.open(path, settings)
            t0 = time.process_time()
            index.load((f"d{i}", t) for i, t in enumerate(texts))
            report[f"load_cpu_s_{name}"] = round(time.process_time() - t0, 1)
            report[f"bytes_per_paragraph_{name}"] = round(size(path) / report["paragraphs"])
            idx[name] = index
        cpu: dict = {"with": [], "without": []}
        for text in probes:  # alternate, so noise hits both alike
            for name in ("with", "without"):
                t0 = time.process_time()
                idx[name].check(text)
                cpu[name].append((time.process_time() - t0) * 1000)
        for name, times in cpu.items():
            q = statistics.quantiles(times, n=20)
            report[f"check_ms_{name}"] = {"p50": round(statistics.median(times), 2), "p95": round(q[18], 2)}
        for name in ("with", "without"):
            found = [idx[name].check(q).relation in ("contained-in", "duplicate") for q in quotes]
            report[f"quotes_found_{name}"] = f"{sum(found)}/{len(found)}"
            idx[name].close()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
