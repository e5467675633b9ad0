"""Memory of the scan's 'sharing quotes only' check on two long documents (review R3 of
session 22): every paragraph of one side is scored against every one of the other.

Two documents share ``--shared`` paragraphs and hold ``--own-a`` / ``--own-b`` of their
own (generated prose), so that they are a near-duplicate document pair whose larger
side holds less than half of the shared text -- the pairs :func:`dedup.plan.quoted.quotes_only`
looks into.  The scan runs in this process (``jobs=1``, no cache); the check is wrapped
to record its traced peak (tracemalloc, numpy's arrays included) and how many paragraph
pairs it faced, and the process's peak RSS is read at the end.  Measures; asserts nothing.

    python benchmarks/bench_quoted.py --shared 2000 --own-a 200 --own-b 600
    python benchmarks/bench_quoted.py --shared 600 --own-a 60 --own-b 180 --thirds

Results: ``benchmarks/README-memory.md`` ("Sharing quotes only").
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from textgen import prose  # noqa: E402


def write_pair(folder: Path, shared: int, own_a: int, own_b: int, thirds: bool = False, seed: int = 3) -> None:
    """Two documents sharing ``shared`` paragraphs of prose; their own paragraphs are
    words of their own (made-up, per document), so that they share no shingle with the
    rest and the containments are what the paragraph counts say.  ``thirds``: a.txt
    holds each shared paragraph cut in three (each third inside b's paragraph: a quote,
    no copy), so that no paragraph pair settles the question early and every block is
    scored (the worst case)."""
    rng = random.Random(seed)
    common = [prose(rng, rng.randint(25, 45)) for _ in range(shared)]
    for name, own in (("a.txt", own_a), ("b.txt", own_b)):
        if thirds and name == "a.txt":
            common, whole = [], common
            for text in whole:
                words = text.split()
                cut = len(words) // 3
                common += [" ".join(words[:cut]), " ".join(words[cut:2 * cut]), " ".join(words[2 * cut:])]
        elif thirds:
            common = whole
        vocabulary = ["".join(rng.choices("bcdfghklmnprstvz", k=3)) + name[0] + str(i) for i in range(3000)]
        paragraphs = common + [" ".join(rng.choices(vocabulary, k=rng.randint(25, 45))) + "."
                               for _ in range(own)]
        rng.shuffle(paragraphs)
        (folder / name).write_text("\n\n".join(paragraphs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=int, default=2000)
    parser.add_argument("--own-a", type=int, default=200)
    parser.add_argument("--own-b", type=int, default=600)
    parser.add_argument("--thirds", action="store_true", help="a.txt holds the shared paragraphs cut in three")
    args = parser.parse_args()

    import dedup
    from dedup.plan import quoted

    seen = {"calls": 0, "in_question": 0, "peak": 0, "seconds": 0.0, "quotes_only": 0}
    original = quoted.quotes_only

    from dedup.containment import one_sided_below
    import numpy as np

    def measured(plan, a, b, scores, near, covered):
        outer = np.minimum(scores.containment_a, scores.containment_b)
        seen["in_question"] += int((near & (outer < one_sided_below(plan.threshold))).sum())
        seen["containment"] = [round(float(x), 3) for x in (*scores.containment_a[:2], *scores.containment_b[:2])]
        tracemalloc.start()
        started = time.process_time()
        try:
            out = original(plan, a, b, scores, near, covered)
        finally:
            seen["peak"] = max(seen["peak"], tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        seen["seconds"] += time.process_time() - started
        seen["calls"] += 1
        seen["quotes_only"] += int(out.sum())
        return out

    quoted.quotes_only = measured
    with tempfile.TemporaryDirectory() as tmp:
        write_pair(Path(tmp), args.shared, args.own_a, args.own_b, args.thirds)
        started = time.monotonic()
        result = dedup.scan(Path(tmp), jobs=1)
        wall = time.monotonic() - started
    print(f"{'thirds: ' if args.thirds else ''}paragraphs {args.shared * (3 if args.thirds else 1) + args.own_a} and {args.shared + args.own_b} "
          f"({args.shared} shared): check's traced peak {seen['peak'] / 2**20:,.1f} MiB, "
          f"CPU {seen['seconds']:.2f} s in {seen['calls']} call(s); "
          f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB; "
          f"scan {wall:.1f} s wall; document pairs in question {seen['in_question']}, "
          f"judged quotes only {seen['quotes_only']} (containment {seen.get('containment')})")


if __name__ == "__main__":
    main()
