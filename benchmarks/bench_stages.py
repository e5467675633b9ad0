"""Where a scan's CPU goes, stage by stage: one ``dedup scan`` run in this process with
the stage functions wrapped by a CPU timer (``time.process_time``, each stage's own
time: a stage called inside another is subtracted from it).

    python benchmarks/bench_stages.py DIR [DIR ...] [-j N]

Prints the split (read / split / normalize / key hash+previews / tokenize+token hash /
shingle hash / sign / write items / exact / documents / band / candidates / plausible /
verify (estimate, sets, scores) / link / report / imports / the rest) in seconds of CPU
of this process.  With ``-j 1`` (the default) every stage runs here, so the split is the
whole scan's; with ``-j 2`` it is the scan's own process (its serial work: what bounds
the ``-j`` ratio), and each pool task's CPU, with how long each stage's tasks would take
on idle cores (their CPU times scheduled in order on the first free worker).  Wrapping
costs a few microseconds per call (the wrapped functions are called per file, per batch
or per task, except ``normalize``: per paragraph, ~1 us each).  Measures, asserts nothing; CPU times, so a busy machine still gives the split.
"""

from __future__ import annotations

import time

T0 = time.process_time()

import argparse  # noqa: E402
import functools  # noqa: E402
import heapq  # noqa: E402
import itertools  # noqa: E402
import os  # noqa: E402
import inspect  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402

from dedup.cli import main as dedup_main  # noqa: E402

IMPORTS = time.process_time() - T0

OWN: dict[str, float] = defaultdict(float)
_stack: list[list[float]] = []  # [start, time of children]


def _enter() -> None:
    _stack.append([time.process_time(), 0.0])


def _leave(name: str) -> None:
    start, children = _stack.pop()
    spent = time.process_time() - start
    OWN[name] += spent - children
    if _stack:
        _stack[-1][1] += spent


def timed(name: str, fn):
    """``fn`` with its own CPU time added to ``OWN[name]`` (a generator: each step)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            inner = fn(*args, **kwargs)
            while True:
                _enter()
                try:
                    item = next(inner)
                except StopIteration:
                    _leave(name)
                    return
                _leave(name)
                yield item
        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        _enter()
        try:
            return fn(*args, **kwargs)
        finally:
            _leave(name)
    return call


#: Where the pool's tasks log ``stage pid start end cpu`` (``-j`` > 1).
TASK_LOG = "/tmp/bench-stages-tasks.txt"


def logged(name: str, fn):
    """``fn`` (a stage the pool runs) logging each task's wall span and CPU time."""
    @functools.wraps(fn)
    def task(*args, **kwargs):
        wall, cpu = time.time(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            with open(TASK_LOG, "a") as log:
                log.write(f"{name}\t{os.getpid()}\t{wall}\t{time.time()}\t{time.process_time() - cpu}\n")
    return task


def schedule(tasks: list[tuple[str, float, float]], workers: int) -> list[tuple[str, int, float, float]]:
    """Per run of consecutive tasks of one stage (in start order): ``(stage, tasks,
    CPU, ideal span)``, the span being that of the tasks' CPU times on ``workers`` idle
    cores, taken in order by the first free worker (as the pool does)."""
    out = []
    for stage, run in itertools.groupby(sorted(tasks, key=lambda t: t[1]), key=lambda t: t[0]):
        free = [0.0] * workers
        cpus = [t[2] for t in run]
        for cpu in cpus:
            heapq.heapreplace(free, free[0] + cpu)
        out.append((stage, len(cpus), sum(cpus), max(free)))
    return out


def patch(module, attr: str, name: str) -> None:
    setattr(module, attr, timed(name, getattr(module, attr)))


def install(inline: bool) -> None:
    """Wrap the stage functions (``inline``: also those the pool runs, which must
    keep their identity to be pickled when there is a pool)."""
    import dedup.corpus as corpus
    import dedup.inputs as inputs
    import dedup.plan.candidates as candidates
    import dedup.plan.job as job
    import dedup.plan.link as link
    import dedup.plan.documents as documents
    import dedup.plan.sign as sign
    import dedup.plan.verify as verify
    import dedup.report.machine as machine
    import dedup.shingle as shingle
    import dedup.cli.scan as cli_scan
    from dedup.plan.items import LevelPlan
    import dedup.plan.band as band
    import dedup.plan.common as common
    import dedup.plan.exact as exact
    import dedup.plan.read as read

    wrap = timed if inline else logged
    for modules, attr, name in (((read,), "read_sign", "sign (rest)"), ((common, job), "common_partition", "boilerplate"),
                                ((documents, job), "document_shard", "documents"), ((exact,), "exact_partition", "exact"),
                                ((band,), "band_shard", "band"), ((candidates,), "candidate_partition", "candidates"),
                                ((verify,), "verify_range", "verify (rest)")):
        wrapped = wrap(name, getattr(modules[0], attr))
        for module in modules:  # the same object where it is defined: a pool pickles it by name
            setattr(module, attr, wrapped)
    job.STAGES = (exact.exact_partition, band.band_shard, candidates.candidate_partition, verify.verify_range)
    # Functions called inside the stages (in this process with -j 1, in the workers else).
    inner = {
        inputs: {"walk": "list inputs", "read_file": "read"},
        corpus: {"split_paragraphs": "split", "normalize": "normalize", "previews": "previews",
                 "signatures": "sign (MinHash)", "exact_groups": "sign: exact groups"},
        shingle: {"_token_hashes": "tokenize + token hash", "ngram_hashes": "shingle hash"},
        documents: {"item_arrays": "write items"},
        sign: {"item_arrays": "write items", "utf8_sizes": "utf8 sizes", "sign_documents": "sign: batch (rest)"},
        candidates: {"_plausible": "candidates: containment prefilter", "bucket_pairs": "candidates: band buckets"},
        candidates.containment: {"bucket_pairs": "candidates: containment buckets"},
        verify: {"estimate_pairs": "verify: estimate", "score_pairs": "verify: scores",
                 "range_codes": "verify: read candidates", "sorted_unique": "verify: sorted_unique",
                 "SetTable": "verify: set table", "published_groups": "verify: joined"},
        link: {"merge": "link: union-find", "assemble": "link: assemble"},
        job: {"link": "link (rest)"},
        machine: {"write_json": "report", "write_jsonl": "report", "write_csv": "report"},
        cli_scan: {"scan_paths": "scan (rest)"},
    }
    for module, names in inner.items():
        for attr, name in names.items():
            patch(module, attr, name)
    rows, segments = LevelPlan.rows, LevelPlan.segments

    def rows_by_name(self, gids, name):
        return timed(f"rows: {name}", rows)(self, gids, name)

    LevelPlan.rows = rows_by_name
    LevelPlan.segments = timed("rows: shingle sets", segments)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="+", help="folders scanned together")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    install(args.jobs == 1)
    if os.path.exists(TASK_LOG):
        os.unlink(TASK_LOG)
    start = time.process_time()
    report = tempfile.NamedTemporaryFile(prefix="bench-stages-", suffix=".json", delete=False)  # not -o /dev/null:
    report.close()  # a scan run as root replaced it with a regular file
    sys.argv = ["dedup", "scan", *args.folder, "-j", str(args.jobs), "--format", "json", "-o", report.name,
                "--no-cache"]
    try:
        dedup_main()
    except SystemExit:
        pass
    finally:
        os.unlink(report.name)
    total = time.process_time() - start
    out = io.StringIO()
    timed_sum = sum(OWN.values())
    print(f"CPU of this process: imports {IMPORTS:.2f} s, scan {total:.2f} s (timed stages {timed_sum:.2f}, "
          f"the rest {total - timed_sum:.2f})", file=out)
    for name, spent in sorted(OWN.items(), key=lambda kv: -kv[1]):
        print(f"  {name:38s} {spent:7.2f} s  {100 * spent / total:5.1f} %", file=out)
    if args.jobs > 1 and os.path.exists(TASK_LOG):
        tasks = []
        for line in open(TASK_LOG):
            stage, _, start, _, cpu = line.split("\t")
            tasks.append((stage, float(start), float(cpu)))
        runs = schedule(tasks, args.jobs)
        ideal = sum(r[3] for r in runs)
        work = sum(r[2] for r in runs)
        print(f"the pool's tasks: CPU {work:.2f} s; on {args.jobs} idle cores their stages would take {ideal:.2f} s "
              f"(CPU / {args.jobs} = {work / args.jobs:.2f} s: {ideal - work / args.jobs:.2f} s lost to uneven tasks)",
              file=out)
        for stage, count, cpu, span in runs:
            print(f"  {stage:24s} {count:4d} tasks  CPU {cpu:6.2f} s  span {span:6.2f} s  "
                  f"(even: {cpu / args.jobs:6.2f})", file=out)
    print(out.getvalue(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
