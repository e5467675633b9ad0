"""Memory and CPU of the readable reports (terminal view, HTML page) on a large result,
against the JSON report as a yardstick (issue #14: the readable views must stay bounded
however many pairs a scan reports).

    python benchmarks/bench_report.py                       # 1,000 clusters of 30 (~435k pairs)
    python benchmarks/bench_report.py --clusters 200 --copies 20   # quick look
    python benchmarks/bench_report.py --max-groups 2000            # the HTML page's cap in play
    PYTHONPATH=/path/to/other/checkout python benchmarks/bench_report.py   # that code's writers

The corpus: ``--clusters`` paragraphs of generated prose, each in ``--copies`` lightly
rewritten copies (one document per copy), scanned once with ``all_pairs=True`` (every
verified pair is reported: ``copies * (copies - 1) / 2`` per cluster).  Then each
writer renders the result into a null stream while :mod:`tracemalloc` records the
peak of Python allocations (numpy's included) above what the result already holds,
and ``time.process_time`` its CPU time (from a run without tracemalloc).  The result
is the scan's own (pairs made as they are read, :mod:`dedup.plan.located`), so a writer
that lists every pair pays for it here.  "one pass over the pairs" is what merely
iterating them costs (every writer pays it at least once).  Nothing here asserts a time or a size.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from textgen import prose, rewrite  # noqa: E402

import dedup  # noqa: E402
from dedup.report import TextOptions, write_report  # noqa: E402


class Null(io.TextIOBase):
    """A text stream that counts what it is given and keeps nothing."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def corpus(root: Path, clusters: int, copies: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for c in range(clusters):
        base = prose(rng, 60)
        folder = root / f"c{c:05d}"
        folder.mkdir()
        for k in range(copies):
            (folder / f"{k:03d}.txt").write_text(base if k == 0 else rewrite(rng, base, 0.05), encoding="utf-8")


def measure(result, fmt: str, max_groups: int) -> tuple[float, float, int]:
    """(peak MB above the start, CPU seconds, characters written) of one report: CPU
    from one run, the peak from a second one under tracemalloc (which slows it)."""
    out = Null()
    started = time.process_time()
    write_report(result, fmt, out, TextOptions(max_groups=max_groups))
    cpu = time.process_time() - started
    tracemalloc.start()
    write_report(result, fmt, Null(), TextOptions(max_groups=max_groups))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6, cpu, out.chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--max-groups", type=int, default=20,
                        help="groups shown per kind (the CLI's default for text; older code's HTML ignores it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus(root, args.clusters, args.copies)
        started = time.perf_counter()
        result = dedup.scan(root, jobs=args.jobs, all_pairs=True, levels=("paragraph",))
        print(f"dedup from {Path(dedup.__file__).parent}")
        print(f"scan: {len(result.documents):,} documents, {len(result.pairs):,} pairs, "
              f"{len(result.groups):,} groups in {time.perf_counter() - started:.1f} s")
        started = time.process_time()
        for _ in result.pairs:
            pass
        print(f"one pass over the pairs: {time.process_time() - started:.2f} s CPU")
        print(f"{'format':8} {'peak MB':>9} {'CPU s':>7} {'MB written':>11}")
        for fmt in ("text", "html", "json"):
            peak, cpu, chars = measure(result, fmt, args.max_groups)
            print(f"{fmt:8} {peak:9.1f} {cpu:7.2f} {chars / 1e6:11.2f}")


if __name__ == "__main__":
    main()
