"""Where a scan's CPU goes, stage by stage: one ``dedup scan`` run in this process with
the stage functions wrapped by a CPU timer (``time.process_time``, each stage's own
time: a stage called inside another is subtracted from it).

    python benchmarks/bench_stages.py DIR [-j 1] [--repeat-import]

Prints the split (read / split / normalize / key hash+previews / tokenize+token hash /
shingle hash / sign / write items / exact / documents / band / candidates / plausible /
verify (estimate, sets, scores) / link / report / imports / the rest) in seconds of CPU
of this process.  With ``-j 1`` (the default) every stage runs here, so the split is the
whole scan's; with ``-j 2`` it is the scan's own process (its serial work: what bounds
the ``-j`` ratio).  Wrapping costs a few microseconds per call (the wrapped functions
are called per file, per batch or per task, except ``normalize``: per paragraph, ~1 us
each).  Measures, asserts nothing; CPU times, so a busy machine still gives the split.
"""

from __future__ import annotations

import time

T0 = time.process_time()

import argparse  # noqa: E402
import functools  # noqa: E402
import inspect  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
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
    import dedup.plan.sign as sign
    import dedup.plan.verify as verify
    import dedup.readers as readers
    import dedup.report.machine as machine
    import dedup.shingle as shingle
    import dedup.cli.scan as cli_scan
    from dedup.plan.items import LevelPlan

    patch(inputs, "walk", "list inputs")
    patch(inputs, "_file_identity", "list inputs")
    patch(inputs, "read_file", "read")
    patch(corpus, "split_paragraphs", "split")
    patch(corpus, "normalize", "normalize")
    patch(corpus, "previews", "previews")
    patch(shingle, "_token_hashes", "tokenize + token hash")
    patch(shingle, "ngram_hashes", "shingle hash")
    patch(corpus, "signatures", "sign (MinHash)")
    patch(sign, "write_items", "write items")
    patch(sign, "utf8_sizes", "utf8 sizes")
    if inline:
        patch(job, "common_partition", "boilerplate")
        patch(job, "document_shard", "documents")
        job.STAGES = tuple(timed(name, stage) for name, stage in zip(("exact", "band", "candidates", "verify (rest)"),
                                                                      job.STAGES))
    patch(candidates, "_plausible", "candidates: containment prefilter")
    patch(candidates, "bucket_pairs", "candidates: band buckets")
    patch(candidates.containment, "bucket_pairs", "candidates: containment buckets")
    patch(verify, "estimate", "verify: estimate")
    patch(verify, "score_pairs", "verify: scores")
    patch(verify, "range_codes", "verify: read candidates")
    patch(link, "merge", "link: union-find")
    patch(link, "assemble", "link: assemble")
    patch(job, "link", "link (rest)")
    for fmt in ("write_json", "write_jsonl", "write_csv"):
        patch(machine, fmt, "report")
    patch(cli_scan, "scan_paths", "scan (rest)")
    patch(corpus, "exact_groups", "sign: exact groups")
    patch(sign, "sign_documents", "sign: batch (rest)")
    patch(verify, "sorted_unique", "verify: sorted_unique")
    patch(verify, "SetTable", "verify: set table")
    patch(verify, "published_groups", "verify: joined")
    rows, segments = LevelPlan.rows, LevelPlan.segments

    def rows_by_name(self, gids, name):
        return timed(f"rows: {name}", rows)(self, gids, name)

    LevelPlan.rows = rows_by_name
    LevelPlan.segments = timed("rows: shingle sets", segments)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    install(args.jobs == 1)
    start = time.process_time()
    sys.argv = ["dedup", "scan", args.folder, "-j", str(args.jobs), "--format", "json", "-o", "/dev/null",
                "--no-cache"]
    try:
        dedup_main()
    except SystemExit:
        pass
    total = time.process_time() - start
    out = io.StringIO()
    timed_sum = sum(OWN.values())
    print(f"CPU of this process: imports {IMPORTS:.2f} s, scan {total:.2f} s (timed stages {timed_sum:.2f}, "
          f"the rest {total - timed_sum:.2f})", file=out)
    for name, spent in sorted(OWN.items(), key=lambda kv: -kv[1]):
        print(f"  {name:38s} {spent:7.2f} s  {100 * spent / total:5.1f} %", file=out)
    print(out.getvalue(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
