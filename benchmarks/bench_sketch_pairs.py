"""The index's sketch floor over one batch's pairs, both ways in one run.

    python benchmarks/bench_sketch_pairs.py [--pairs 4900000] [--rounds 3]

The shape of a 128-article ``check_many`` at 100k x 20 stored articles with the default
49 x 2 bands (counted in session 15: 2,541 paragraphs, ~1.9M bucket entries, ~4.9M
pairs), random 64-byte sketches: both sides of every pair gathered whole, then compared
(the look-up before 3935742), against :func:`dedup.sketch.sketch_matches_at` (since
session 24 one compiled pass over the pairs, nothing gathered; a chunk of pairs at a
time before).  Prints the CPU seconds of each, alternating, and their ratio;
asserts nothing but that the counts are equal.  Results: ``benchmarks/README-index.md``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dedup.sketch import sketch_matches, sketch_matches_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4_900_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (2_541, 64), dtype=np.uint8)
    b = rng.integers(0, 256, (1_900_000, 64), dtype=np.uint8)
    ia = np.sort(rng.integers(0, len(a), args.pairs))
    ib = rng.integers(0, len(b), len(ia))
    ways = {"gathered whole": lambda: sketch_matches(a[ia], b[ib]), "in place": lambda: sketch_matches_at(a, ia, b, ib)}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    counts = {}
    for _ in range(args.rounds):
        for name, way in ways.items():
            start = time.process_time()
            counts[name] = way()
            cpu[name].append(time.process_time() - start)
    if not np.array_equal(counts["gathered whole"], counts["in place"]):
        raise SystemExit("the counts differ")
    for name, times in cpu.items():
        print(f"{name:15s} CPU s: {' '.join(f'{t:.2f}' for t in times)}  (min {min(times):.2f})")
    print(f"in place / gathered whole (min): {min(cpu['in place']) / min(cpu['gathered whole']):.2f}")


if __name__ == "__main__":
    main()
