"""Where ``add_many`` (``dedup index add DIR``'s batches) spends its time, part by part.

    python benchmarks/probe_add_parts.py --db /tmp/p20-20k.dedup --batches 4 --batch 256 --paragraphs 20

New articles from the bench's Markov chain (:mod:`bench_index`; ``--rewrites``: that
share of each batch light rewrites of stored articles) added with ``add_many`` in
batches, each committed (the index changes: give a copy), first without a profiler
(articles/s, wall and CPU), then under ``cProfile``: the cumulative time of each part
named below, as a share of the profiled total.  The parts overlap (indented ones are
inside the one above).  Nothing is asserted; results go in
``benchmarks/README-index.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from pathlib import Path

from bench_index import Markov, articles, paragraphs_from, rewrite

from dedup.index import Index

ROOT = Path(__file__).resolve().parent.parent

#: (label, module file suffix, function name), in the order shown.
PARTS = [
    ("signing (run.prepare)", "index/run.py", "prepare"),
    ("transaction (run._decide)", "index/run.py", "_decide"),
    ("  batch look-up (query.look_up)", "index/query.py", "look_up"),
    ("    paragraph matches", "index/query.py", "paragraph_matches"),
    ("      band look-up (bands.paragraph_pairs)", "index/bands.py", "paragraph_pairs"),
    ("      containment look-up (contain.hits)", "index/contain.py", "hits"),
    ("      verification (verify.score_pairs)", "verify.py", "score_pairs"),
    ("      covered (coverage.covered)", "index/coverage.py", "covered"),
    ("    tallies (tallies.recurrences)", "index/tallies.py", "recurrences"),
    ("    document matches", "index/documents.py", "document_matches"),
    ("  batch vs itself (batch.earlier_related)", "index/batch.py", "earlier_related"),
    ("  judging (judge.judge)", "index/judge.py", "judge"),
    ("  writes (run._write)", "index/run.py", "_write"),
    ("    banded", "index/signing.py", "banded"),
    ("    storage insert_many", "sqlite/writes.py", "insert_many"),
    ("    storage insert_many (redis)", "redis/writes.py", "insert_many"),
    ("  tallies written (store.tally)", "sqlite/tallies.py", "tally"),
    ("auto-optimize (_optimize_if_behind)", "index/upkeep.py", "_optimize_if_behind"),
]


def batches_of(chain: Markov, stored: int, n: int, size: int, paragraphs: int, rewrites: float, seed: int, tag: str):
    rng = random.Random(seed)
    texts = articles(chain, n * size, seed, paragraphs)
    out = []
    for b in range(n):
        batch = []
        for i in range(size):
            text = texts[b * size + i]
            if rng.random() < rewrites and stored:
                # a stored article of the bench's build (bench_index.py --seed 1: batches of 500)
                j = rng.randrange(stored)
                text = rewrite(articles(chain, 500, 1_000_003 + j // 500 * 500, paragraphs)[j % 500], rng)
            batch.append((f"{tag}-{b}-{i}", text))
        out.append(batch)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="a built index (it is written to: give a copy)")
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "eval-dev",
                        help="folder with */docs/*.txt (from a worktree: /work/shared/eval-dev)")
    parser.add_argument("--batches", type=int, default=4, help="batches timed without, then with the profiler")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--paragraphs", type=int, default=20)
    parser.add_argument("--rewrites", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write the pstats here")
    args = parser.parse_args()

    chain = Markov(paragraphs_from(args.source))
    with Index.open(args.db) as idx:
        stored = len(idx)
        plain = batches_of(chain, stored, args.batches, args.batch, args.paragraphs, args.rewrites, args.seed,
                           f"plain{args.seed}")
        profiled = batches_of(chain, stored, args.batches, args.batch, args.paragraphs, args.rewrites, args.seed + 1,
                              f"prof{args.seed}")
        idx.add_many(plain[0][:8])  # warm: imports, compiled kernels, first reads
        plain[0] = plain[0][8:]
        wall, cpu, n, added = time.perf_counter(), time.process_time(), 0, 0
        for batch in plain:
            added += sum(v.added for v in idx.add_many(batch))
            n += len(batch)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"stored {stored}: {n} articles, {n / wall:.1f} /s wall, {n / cpu:.1f} /CPU-s; {added} added")
        prof = cProfile.Profile(time.process_time)  # CPU: the machine is shared, wall is mostly waiting
        prof.enable()
        for batch in profiled:
            idx.add_many(batch)
        prof.disable()
    stats = pstats.Stats(prof)
    if args.out:
        stats.dump_stats(args.out)
    total = max(v[3] for v in stats.stats.values())  # (the outermost call's cumulative time)
    print(f"profiled: {total:.1f} s for {sum(len(b) for b in profiled)} articles")
    for label, suffix, name in PARTS:
        cum = sum(v[3] for (path, _, func), v in stats.stats.items() if func == name and path.endswith(suffix))
        calls = sum(v[1] for (path, _, func), v in stats.stats.items() if func == name and path.endswith(suffix))
        if calls:
            print(f"{label:48s} {100 * cum / total:5.1f} %  {1000 * cum / max(1, calls):8.2f} ms/call"
                  f"  {calls:6d} calls")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
