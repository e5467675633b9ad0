"""What a Dask worker holds between tasks (#15), and whose it is.

    python benchmarks/probe_held.py --paragraphs 250000 [--profile] [--trim] [--trace] [--out FILE]

Scans a corpus of bench_dask.py (built there) with the Dask engine on a 2-worker
``LocalCluster`` at default settings, its workers started as the engine's own are
(:data:`dedup.plan.dask.WORKER_CONFIG`; ``--profile``: with Dask's statistical profiler
on, as Dask's default is); a ``WorkerPlugin`` records, as each task starts
and as it ends, in each worker:

- ``anon``: the process's anonymous RSS (``RssAnon``, /proc/self/status);
- glibc's view (``mallinfo2``, every arena): ``heap`` bytes the allocator has from the
  system (``arena`` + ``hblkhd``), of which ``used`` is allocated and ``free`` is held
  free (``fordblks``: free chunks it has not returned);
- ``blocks``: Python's allocated blocks (``sys.getallocatedblocks``);
- ``data`` / ``tasks``: keys in the worker's data store and in its state machine;
- with ``--trace``, ``traced``: the bytes tracemalloc sees allocated by Python and
  numpy (started in each worker as the plugin is set up; slow), and at the end the 15
  allocation sites whose held bytes grew most between the first task of the second
  stage and the end;
- with ``--trim``, each task's end also calls ``malloc_trim(0)`` (glibc returns every
  free page it can) and records ``anon`` after it (``trimmed``) and its CPU cost.

At the end each worker also reports its anonymous memory by kind of mapping
(/proc/self/smaps), Python's object allocator (``sys._debugmallocstats``: arenas and
bytes in use) and the deep size of Dask's own logs and histories in the worker (the
profiler's call trees among them).  The per-stage figures printed are the largest of
each at a task's start (what the worker held) over both workers; nothing is asserted.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_dask import build  # noqa: E402


def _libc():
    """glibc, with ``mallinfo2`` typed (built here, in the worker: a ctypes structure
    does not pickle)."""
    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Mallinfo2
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


def _anon() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class HeldProbe:
    name = "held-probe"

    def __init__(self, trim: bool, trace: bool) -> None:
        self.trim, self.trace = trim, trace

    def setup(self, worker) -> None:
        self.worker = worker
        self.libc = _libc()
        self.rows: list[dict] = []
        self.snapshots: dict = {}
        if self.trace:
            import tracemalloc

            tracemalloc.start(8)

    def _state(self) -> dict:
        info = self.libc.mallinfo2()
        row = {"anon": _anon(), "heap": info.arena + info.hblkhd, "used": info.uordblks + info.hblkhd,
               "free": info.fordblks, "blocks": sys.getallocatedblocks(),
               "data": len(self.worker.data), "tasks": len(self.worker.state.tasks)}
        if self.trace:
            import tracemalloc

            row["traced"] = tracemalloc.get_traced_memory()[0]
        return row

    def transition(self, key, start, finish, **kwargs) -> None:
        from dask.utils import key_split

        if finish == "executing":
            stage = key_split(key)
            if self.trace:
                import tracemalloc

                seen = {r["stage"] for r in self.rows}
                if stage not in seen and len(seen) == 1:  # the second stage's first task
                    self.snapshots["early"] = tracemalloc.take_snapshot()
            self.rows.append({"stage": stage, "start": self._state()})
        elif start == "executing" and self.rows:
            row = self.rows[-1]
            row["end"] = self._state()
            if self.trim:
                cpu = time.process_time()
                self.libc.malloc_trim(0)
                row["trim_cpu"] = time.process_time() - cpu
                row["trimmed"] = _anon()


def _smaps() -> dict:
    """This process's anonymous memory by kind of mapping, from /proc/self/smaps (kB):
    the brk heap, thread stacks, file mappings (private pages written: copy-on-write),
    and anonymous mappings by size (glibc's thread arenas are 64 MB reservations, Python's
    object arenas 1 MB, large malloc'd blocks their own size)."""
    kinds: dict[str, list] = {}
    name = size = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split()
            if "-" in first[0] and not line.startswith(("Anon", "Rss", "Size")) and first[0][0] in "0123456789abcdef":
                lo, hi = (int(x, 16) for x in first[0].split("-"))
                size = (hi - lo) // 1024
                name = first[5] if len(first) > 5 else ""
            elif line.startswith("Anonymous:"):
                kb = int(first[1])
                if not kb:
                    continue
                if name.startswith("["):
                    kind = name
                elif name:
                    kind = "file (COW)"
                elif size >= 65536 - 4096 and size <= 65536 * 2:
                    kind = "anon ~64MB (glibc thread arena)"
                elif size in (1024, 1028, 2048):
                    kind = "anon 1-2 MB"
                else:
                    kind = f"anon {size // 1024} MB mapping"
                entry = kinds.setdefault(kind, [0, 0])
                entry[0] += kb
                entry[1] += 1
    return kinds


def _pymalloc() -> dict:
    """Python's small-object allocator: its arenas' bytes and the bytes in use in them
    (``sys._debugmallocstats``, which writes to the C stderr: read back from a file)."""
    import os
    import tempfile

    with tempfile.TemporaryFile("w+") as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    stats = {}
    for line in text.splitlines():
        for label, key in (("# arenas allocated current", "arenas"), ("# bytes in allocated blocks", "used"),
                           ("# bytes in available blocks", "available"), ("Total", "total")):
            if line.startswith(label):
                stats[key] = int(line.split("=")[-1].replace(",", "").strip())
    return stats


def _deep_size(root) -> int:
    """Bytes of ``root`` and every object reachable from it through containers and
    instances' ``__dict__`` (each object once; modules, classes and functions not followed)."""
    import types

    seen: set[int] = set()
    stack = [root]
    total = 0
    skip = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj, 0)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
            stack.extend(obj)
    return total


def _dask_held(worker) -> dict:
    """Deep sizes (bytes) of the worker's own logs and histories that grow with a run."""
    parts = {
        "profile_history": worker.profile_history, "profile_keys_history": worker.profile_keys_history,
        "profile_keys": worker.profile_keys, "profile_recent": worker.profile_recent,
        "state.log": worker.state.log, "state.stimulus_log": worker.state.stimulus_log,
        "monitor": getattr(worker.monitor, "quantities", {}),
        "transfer_logs": [worker.transfer_incoming_log, worker.transfer_outgoing_log],
        "digests": getattr(worker, "digests", {}), "digests_total": getattr(worker, "digests_total", {}),
        "task_stream": getattr(worker, "_task_stream", None) or [],
    }
    return {name: _deep_size(value) for name, value in parts.items()}


def _report(dask_worker) -> dict:
    probe = dask_worker.plugins["held-probe"]
    out = {"rows": probe.rows, "smaps": _smaps(), "pymalloc": _pymalloc(), "dask": _dask_held(dask_worker)}
    if probe.trace and "early" in probe.snapshots:
        import tracemalloc

        late = tracemalloc.take_snapshot()
        diff = late.compare_to(probe.snapshots["early"], "traceback")
        out["grew"] = [{"kb": d.size_diff / 1024, "count": d.count_diff,
                        "where": [f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in d.traceback][-4:]}
                       for d in diff[:15]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=250_000)
    parser.add_argument("--trim", action="store_true")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="start the workers with Dask's statistical profiler on (Dask's default; "
                             "the engine's own cluster turns it off, dedup.plan.dask.WORKER_CONFIG)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import logging

    from distributed import LocalCluster, WorkerPlugin

    from dedup import scan

    corpus = build(args.paragraphs)
    plugin = type("HeldPlugin", (HeldProbe, WorkerPlugin), {})(args.trim, args.trace)
    import dask

    from dedup.plan.dask import WORKER_CONFIG

    dask.config.set(WORKER_CONFIG)  # the workers the engine's own cluster starts
    if args.profile:
        dask.config.set({"distributed.worker.profile.enabled": True})
    started = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster:
        client = cluster.get_client()
        client.register_plugin(plugin)
        result = scan(corpus, engine="dask", scheduler=cluster.scheduler_address, jobs=2)
        reports = client.run(_report)
        client.close()
    wall = time.perf_counter() - started
    mb = 2**20
    summary: dict = {"paragraphs": args.paragraphs, "trim": args.trim, "trace": args.trace,
                     "profile": args.profile,
                     "wall_s": wall, "pairs": len(result.pairs), "groups": len(result.groups), "stages": {}}
    for report in reports.values():
        for row in report["rows"]:
            s = summary["stages"].setdefault(row["stage"], {"tasks": 0})
            s["tasks"] += 1
            for field, value in row["start"].items():
                s[f"start_{field}"] = max(s.get(f"start_{field}", 0), value)
            if "end" in row:
                s["growth_anon"] = max(s.get("growth_anon", 0), row["end"]["anon"] - row["start"]["anon"])
            if "trimmed" in row:
                s["trimmed"] = max(s.get("trimmed", 0), row["trimmed"])
                s["trim_cpu"] = s.get("trim_cpu", 0) + row["trim_cpu"]
    print(f"{args.paragraphs:,} paragraphs, trim={args.trim}, profiler={args.profile}, wall {wall:.0f} s, "
          f"{summary['pairs']:,} pairs / {summary['groups']:,} groups")
    print("stage: tasks | at a task's start (largest): anon, glibc heap / used / free, py blocks (k), "
          "data keys, task states[, traced] | growth anon[, after trim, trim CPU]")
    for name, s in summary["stages"].items():
        line = (f"{name}: {s['tasks']} | {s['start_anon'] / mb:.0f}, {s['start_heap'] / mb:.0f} / "
                f"{s['start_used'] / mb:.0f} / {s['start_free'] / mb:.0f}, {s['start_blocks'] / 1000:.0f}k, "
                f"{s['start_data']}, {s['start_tasks']}")
        if "start_traced" in s:
            line += f", {s['start_traced'] / mb:.1f}"
        line += f" | {s.get('growth_anon', 0) / mb:.0f}"
        if "trimmed" in s:
            line += f", {s['trimmed'] / mb:.0f}, {s['trim_cpu']:.2f} s"
        print(line)
    for worker, report in reports.items():
        print(f"  {worker} anonymous kB by mapping at the end: "
              + ", ".join(f"{k} {v[0]:,} ({v[1]})" for k, v in sorted(report["smaps"].items(), key=lambda kv: -kv[1][0])))
        print(f"  {worker} pymalloc: {report['pymalloc']}")
        print(f"  {worker} Dask's own, kB: " + ", ".join(f"{k} {v / 1024:,.0f}" for k, v in report["dask"].items()))
        for grew in report.get("grew", []):
            print(f"  {worker} +{grew['kb']:.0f} KB ({grew['count']:+d}) {' <- '.join(reversed(grew['where']))}")
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "workers": reports}, indent=1))


if __name__ == "__main__":
    main()
