"""What a Dask worker holds between tasks (#15), and whose it is.

    python benchmarks/probe_held.py --paragraphs 250000 [--profile] [--trim] [--out FILE]
    python benchmarks/probe_held.py --paragraphs 2000000 --read-sign 9 19 19 [--where worker] [--trim]

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

    def __init__(self, trim: bool) -> None:
        self.trim = trim

    def setup(self, worker) -> None:
        self.worker = worker
        self.libc = _libc()
        self.rows: list[dict] = []

    def _state(self) -> dict:
        info = self.libc.mallinfo2()
        row = {"anon": _anon(), "heap": info.arena + info.hblkhd, "used": info.uordblks + info.hblkhd,
               "free": info.fordblks, "blocks": sys.getallocatedblocks(),
               "data": len(self.worker.data), "tasks": len(self.worker.state.tasks)}
        return row

    def transition(self, key, start, finish, **kwargs) -> None:
        from dask.utils import key_split

        if finish == "executing":
            self.rows.append({"stage": key_split(key), "start": self._state()})
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
    return {"rows": probe.rows, "smaps": _smaps(), "pymalloc": _pymalloc(), "dask": _dask_held(dask_worker)}


def read_sign_alone(corpus: Path, files: list[int], where: str = "main", trim: bool = False) -> None:
    """Run the read-and-sign task on each of ``corpus``'s ``files`` (by position) in turn,
    with the task a scan on 2 workers gives it (the bytes of the files before it as
    ``seen``: its shards' size), and print for each what :func:`_measured_read_sign` says.
    ``where``: ``main``, in this process's main thread; ``thread``, in one long-lived
    executor thread, as a Dask worker runs its tasks (so in a glibc thread arena, not the
    main heap); ``worker``, as tasks of a 1-worker ``LocalCluster`` started as the
    engine's own (:data:`dedup.plan.dask.WORKER_CONFIG`).  ``trim``: ``malloc_trim(0)``
    after each task.  This process runs with the environment Dask's nanny gives a worker
    (``distributed.nanny.pre-spawn-environ``: ``MALLOC_TRIM_THRESHOLD_`` among them,
    which fixes glibc's mmap threshold): the script re-executes itself with it."""
    import logging
    import os
    from concurrent.futures import ThreadPoolExecutor

    import dask
    import distributed

    environ = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()}
    if any(os.environ.get(k) != v for k, v in environ.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **environ})
    if where == "worker":
        from dedup.plan.dask import WORKER_CONFIG

        with dask.config.set(WORKER_CONFIG), distributed.LocalCluster(
                n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster:
            client = cluster.get_client()
            for k in files:
                print(client.submit(_measured_read_sign, corpus, k, trim, pure=False).result(), flush=True)
        return
    pool = ThreadPoolExecutor(1) if where == "thread" else None
    for k in files:
        print(pool.submit(_measured_read_sign, corpus, k, trim).result() if pool
              else _measured_read_sign(corpus, k, trim), flush=True)


def _measured_read_sign(corpus: Path, k: int, trim: bool) -> str:
    """Run read_sign on ``corpus``'s ``k``-th file in the calling thread (see
    :func:`read_sign_alone`) and say its shards, the growth of anonymous RSS during it
    (sampled every 10 ms in another thread), what it leaves behind, and as it ends
    glibc's heap (every arena) and its free part and Python's allocated blocks."""
    import tempfile
    import threading

    from dedup.inputs import LocalFile
    from dedup.plan.read import ReadTask, read_sign
    from dedup.plan.scratch import Scratch
    from dedup.readers import ReadOptions
    from dedup.settings import Settings

    libc = _libc()
    shards = sorted(corpus.glob("shard-*.jsonl"))
    path = shards[k]
    seen = sum(p.stat().st_size for p in shards[:k])
    task = ReadTask(k, [LocalFile(str(path), path.name, path.stat().st_size, ReadOptions(), str(corpus))], seen, 2)
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _anon())
            stop.wait(0.01)

    base = _anon()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as folder:
        cpu = time.process_time()
        info = read_sign(Scratch(Path(folder)), task, Settings(), None)
        cpu = time.process_time() - cpu
    stop.set()
    sampler.join()
    if trim:
        libc.malloc_trim(0)
    glibc = libc.mallinfo2()
    return (f"{corpus.name} file {k} ({seen / 1e6:.0f} MB before it): {len(info.shards)} shards of "
            f"{min(len(i.documents) for i in info.shards):,}-{max(len(i.documents) for i in info.shards):,} "
            f"documents; anonymous RSS {base / 2**20:.0f} MB at the start, growth {(peak[0] - base) / 2**20:.0f} MB "
            f"(peak {peak[0] / 2**20:.0f}), left {(_anon() - base) / 2**20:+.0f} MB; glibc heap "
            f"{(glibc.arena + glibc.hblkhd) / 2**20:.0f} MB, free {glibc.fordblks / 2**20:.0f} MB; "
            f"{sys.getallocatedblocks() / 1000:.0f}k blocks; {cpu:.1f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=250_000)
    parser.add_argument("--trim", action="store_true")
    parser.add_argument("--read-sign", type=int, nargs="+", metavar="K",
                        help="instead: run read_sign on the corpus's K-th file (each K in turn) in this "
                             "process, as a worker would (see read_sign_alone)")
    parser.add_argument("--where", choices=["main", "thread", "worker"], default="main",
                        help="with --read-sign: in this process's main thread, in one executor thread, "
                             "or as tasks of a 1-worker LocalCluster (see read_sign_alone)")
    parser.add_argument("--profile", action="store_true",
                        help="start the workers with Dask's statistical profiler on (Dask's default; "
                             "the engine's own cluster turns it off, dedup.plan.dask.WORKER_CONFIG)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.read_sign:
        read_sign_alone(build(args.paragraphs), args.read_sign, args.where, args.trim)
        return
    import logging

    from distributed import LocalCluster, WorkerPlugin

    from dedup import scan

    corpus = build(args.paragraphs)
    plugin = type("HeldPlugin", (HeldProbe, WorkerPlugin), {})(args.trim)
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
    summary: dict = {"paragraphs": args.paragraphs, "trim": args.trim,
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
          "data keys, task states | growth anon[, after trim, trim CPU]")
    for name, s in summary["stages"].items():
        line = (f"{name}: {s['tasks']} | {s['start_anon'] / mb:.0f}, {s['start_heap'] / mb:.0f} / "
                f"{s['start_used'] / mb:.0f} / {s['start_free'] / mb:.0f}, {s['start_blocks'] / 1000:.0f}k, "
                f"{s['start_data']}, {s['start_tasks']}")
        line += f" | {s.get('growth_anon', 0) / mb:.0f}"
        if "trimmed" in s:
            line += f", {s['trimmed'] / mb:.0f}, {s['trim_cpu']:.2f} s"
        print(line)
    for worker, report in reports.items():
        print(f"  {worker} anonymous kB by mapping at the end: "
              + ", ".join(f"{k} {v[0]:,} ({v[1]})" for k, v in sorted(report["smaps"].items(), key=lambda kv: -kv[1][0])))
        print(f"  {worker} pymalloc: {report['pymalloc']}")
        print(f"  {worker} Dask's own, kB: " + ", ".join(f"{k} {v / 1024:,.0f}" for k, v in report["dask"].items()))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "workers": reports}, indent=1))


if __name__ == "__main__":
    main()
