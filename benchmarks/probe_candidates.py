"""Fixed-size probe of the candidate stage (#15): does one candidate partition's
memory grow with the corpus when its rows do not?

    python benchmarks/probe_candidates.py --paragraphs 250000 1000000 2000000

For each corpus of bench_dask.py (built there, under ``benchmarks/.corpus/dask/<N>/``)
the paragraph level is planned as a scan at default settings with ``jobs=2`` plans it
(so a band partition holds the same ~4M rows at every size past ~250k), signed by the
local engine with a signature cache (``benchmarks/.corpus/dask-cache/<N>/``: a second
probe of the same size signs nothing), banded (wave 0), and then the first
``--tasks`` candidate partitions of wave 0 run in this process under ``tracemalloc``
(numpy reports its buffers to it): for each, the band and containment rows, the pairs
each step makes, and the traced peak of each step and of the whole task (MB, above
what was traced when the task started); then, outside the trace, each task's band pairs
found split by split against its distinct band pairs (:func:`repeats`).  The scan is
stopped there.  Nothing is asserted: the figures are printed (and written as JSON with
``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from bench_dask import build  # noqa: E402

from dedup.plan import band  # noqa: E402
from dedup.plan import candidates as stage  # noqa: E402
from dedup.plan.local import LocalExecutor  # noqa: E402


class _Stop(Exception):
    """Raised once the probed tasks have run: the rest of the scan is not needed."""


class _Steps:
    """Traced peak (MB above the task's start) and output length of each wrapped step,
    and the task's overall peak (``reset_peak`` inside a step would hide it: folded)."""

    def __init__(self) -> None:
        self.steps: dict[str, dict] = {}
        self.task_peak = 0
        self.base = 0

    def fold(self) -> None:
        self.task_peak = max(self.task_peak, tracemalloc.get_traced_memory()[1])

    def wrap(self, name: str, fn):
        def wrapped(*args, **kwargs):
            self.fold()
            tracemalloc.reset_peak()
            out = fn(*args, **kwargs)
            peak = tracemalloc.get_traced_memory()[1]
            self.fold()
            calls = sum(1 for key in self.steps if key.split("#")[0] == name)
            self.steps[f"{name}#{calls}" if calls else name] = {
                "peak_mb": (peak - self.base) / 2**20, "out": len(out) if hasattr(out, "__len__") else 0}
            return out

        return wrapped


def probe_task(plan, part: int, dump: Path | None = None) -> dict:
    if dump is not None:  # the task's rows, for trying changes offline
        dump.mkdir(parents=True, exist_ok=True)
        for kind in ("band", "contain"):
            np.save(dump / f"{plan.level}-{plan.items}-{part}-{kind}.npy", band.partition_rows(plan, part, kind))
    steps = _Steps()
    originals = {name: getattr(stage, name) for name in ("partition_splits", "bucket_pairs", "_plausible")}
    contain = stage.containment.bucket_pairs
    tracemalloc.start()
    steps.base = tracemalloc.get_traced_memory()[0]
    try:
        for name, fn in originals.items():
            setattr(stage, name, steps.wrap(name, fn))
        stage.containment.bucket_pairs = steps.wrap("containment.bucket_pairs", contain)
        started = time.process_time()
        counts = stage.candidate_partition(plan, part)
        cpu = time.process_time() - started
        steps.fold()
    finally:
        for name, fn in originals.items():
            setattr(stage, name, fn)
        stage.containment.bucket_pairs = contain
        tracemalloc.stop()
    return {"part": part, "candidates": int(counts.sum()), "task_peak_mb": (steps.task_peak - steps.base) / 2**20,
            "cpu_s": cpu, "steps": steps.steps, "splits": repeats(plan, part)}


def repeats(plan, part: int) -> dict:
    """The band pairs of partition ``part`` found split by split (each split's distinct
    pairs, summed) against the partition's distinct pairs: how many times over a pair
    is paired because its buckets fall in several splits (the splits are folded by
    ``candidates._paired``), and the CPU seconds of that pairing and folding."""
    from dedup.lsh import bucket_pairs
    from dedup.segments import sorted_unique

    started = time.process_time()
    codes = []
    for rows in stage.partition_splits(plan, part, "band", stage.SPLIT_ROWS):
        pairs = bucket_pairs(rows[:, 0], rows[:, 1].view(np.int64), None, plan.star_above, stage._Judge(plan))
        codes.append(sorted_unique(pairs[:, 0] * plan.items + pairs[:, 1]))
    distinct = len(sorted_unique(np.concatenate(codes)))
    return {"splits": len(codes), "found": int(sum(len(c) for c in codes)), "distinct": distinct,
            "cpu_s": time.process_time() - started}


def probe(paragraphs: int, tasks: int, level: str = "paragraph", dump: Path | None = None) -> dict:
    from dedup.scan import scan

    corpus = build(paragraphs)
    cache = HERE / ".corpus" / "dask-cache" / str(paragraphs)
    found: dict = {}
    real_map = LocalExecutor.map

    def map_(self, fn, jobs):
        if fn is stage.candidate_partition and jobs_plan(jobs).level == level:
            plan = jobs[0][0]
            found["plan"] = {"items": plan.items, "partitions": plan.partitions, "waves": plan.waves,
                             "shards": plan.shards}
            found["tasks"] = [probe_task(plan, part, dump) for (_, part) in jobs[:tasks]]
            raise _Stop
        return real_map(self, fn, jobs)

    def jobs_plan(jobs):
        jobs[:] = list(jobs)
        return jobs[0][0]

    LocalExecutor.map = map_
    started = time.perf_counter()
    try:
        scan(corpus, jobs=2, levels=(level,) if level == "paragraph" else ("document", "paragraph"), cache_dir=cache)
    except _Stop:
        pass
    finally:
        LocalExecutor.map = real_map
    found["paragraphs"] = paragraphs
    found["wall_s"] = time.perf_counter() - started
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--tasks", type=int, default=2, help="candidate partitions probed per size")
    parser.add_argument("--level", default="paragraph", choices=["paragraph", "document"])
    parser.add_argument("--dump", type=Path, default=None, help="save the probed partitions' rows here")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for n in args.paragraphs:
        row = probe(n, args.tasks, args.level, args.dump)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
        for t in row["tasks"]:
            steps = ", ".join(f"{k} {v['peak_mb']:.0f} MB/{v['out']:,}" for k, v in t["steps"].items())
            r = t["splits"]
            print(f"{n:>9,} part {t['part']}: task peak {t['task_peak_mb']:.0f} MB, {t['candidates']:,} candidates, "
                  f"{t['cpu_s']:.1f} s CPU; {steps}; {r['splits']} splits: band pairs found {r['found']:,}, "
                  f"distinct {r['distinct']:,} ({r['found'] / max(r['distinct'], 1):.3f}x), {r['cpu_s']:.1f} s CPU")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
