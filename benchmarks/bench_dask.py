"""The Dask engine at scale (#15): >= 1M generated paragraphs scanned on a 2-worker
``LocalCluster`` and by the local engine (``jobs=2``) in the same run: wall time, CPU
time, peak memory per worker and of the driver, throughput, and whether the two
reports are identical.

    python benchmarks/bench_dask.py                                 # 1,000,000 paragraphs
    python benchmarks/bench_dask.py --paragraphs 100000 --out benchmarks/results/dask-100k
    python benchmarks/bench_dask.py --engines local --out benchmarks/results/dask-1m  # adds a row
    python benchmarks/bench_dask.py --paragraphs 1000000,2000000 --out benchmarks/results/dask-1m-2m

The corpus (built once under ``benchmarks/.corpus/dask/<N>/``, seeded): JSON Lines
shards of 10,000 documents of 10 paragraphs each, 12-36 words a paragraph drawn from a
60,000-word pseudo-vocabulary with Zipf weights.  60 % of the paragraphs are unique
text; 40 % belong to near-duplicate clusters of 2-10 members: a base paragraph and
variants with 3-25 % of their words substituted, one variant in ten an exact copy.
Members of a cluster land in different documents.

Each engine runs in its own process (``--run ENGINE``), through the library's
``scan(..., engine=...)`` at default settings (no cache), then writes the JSON report as
``dedup scan --format json`` does (streamed, hashed as it is written: the two engines'
reports are compared by their SHA-256) and the ``--format parquet`` folder.  Memory: a
thread samples every 0.1 s the RSS of the process (for Dask: the client and the
scheduler, which a ``LocalCluster`` runs in-process), its peak kept apart for the scan,
the JSON report and the Parquet report, and of each worker -- Dask's two workers through
a ``WorkerPlugin`` sampling ``psutil`` inside the worker, the local engine's pool
processes from the parent.  (Until session 12 the report was built with ``to_dict``,
every pair a dict: that, not the scan, was most of the "driver" figure, 288 of 310 MB
at 250k.)  CPU: user + system time of the process and
every worker.  Nothing here asserts a time; the machine is shared, so compare the
engines' ratios within one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from worker_memory import PeakMemory, _Peak, _worker_peak, _worker_stage_peaks

HERE = Path(__file__).resolve().parent
WORK = HERE / ".corpus" / "dask"
DOCS_PER_SHARD = 10_000
PARAGRAPHS_PER_DOC = 10


# ------------------------------------------------------------------ the corpus


def vocabulary(size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` distinct pronounceable pseudo-words."""
    onsets = np.array("b c d f g h k l m n p r s t v w z br st tr pl".split())
    vowels = np.array("a e i o u ai ou ea".split())
    codas = np.array(["", "n", "r", "s", "t", "l", "m"])
    words: set[str] = set()
    while len(words) < size:
        n = size * 2
        syl = [onsets[rng.integers(0, len(onsets), n)], vowels[rng.integers(0, len(vowels), n)],
               codas[rng.integers(0, len(codas), n)]]
        one = np.char.add(np.char.add(syl[0], syl[1]), syl[2])
        syl2 = np.char.add(onsets[rng.integers(0, len(onsets), n)], vowels[rng.integers(0, len(vowels), n)])
        two = np.char.add(one, np.where(rng.random(n) < 0.7, syl2, ""))
        words.update(two.tolist())
    return np.array(sorted(words)[:size])


def build(paragraphs: int, seed: int = 15) -> Path:
    """Write the corpus (once) and return its folder."""
    folder = WORK / str(paragraphs)
    manifest = folder / "manifest.json"
    if manifest.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab = vocabulary(60_000, rng)
    weights = 1 / np.arange(1, len(vocab) + 1) ** 0.9
    weights /= weights.sum()
    lengths = rng.integers(12, 37, paragraphs)
    flat = rng.choice(len(vocab), int(lengths.sum()), p=weights)  # every word drawn at once
    offsets = np.r_[0, np.cumsum(lengths)]
    clustered = int(paragraphs * 0.4)
    sizes = rng.integers(2, 11, clustered // 2 + 1)
    starts = np.r_[0, np.cumsum(sizes)]
    starts = starts[starts < clustered]  # cluster c: paragraphs starts[c] .. starts[c + 1] - 1
    member = np.arange(clustered)
    base = starts[np.searchsorted(starts, member, side="right") - 1]
    variant = member != base  # paragraphs 0..clustered-1: clusters of a base and its variants
    lengths[:clustered][variant] = lengths[base[variant]]
    exact = variant & (rng.random(clustered) < 0.1)
    rate = np.where(exact, 0.0, rng.uniform(0.03, 0.25, clustered))
    tokens = [flat[offsets[k] : offsets[k] + lengths[k]] for k in range(paragraphs)]
    for k in np.flatnonzero(variant).tolist():  # a variant: its base with some words substituted
        words = tokens[base[k]].copy()
        edit = rng.random(len(words)) < rate[k]
        words[edit] = flat[rng.integers(0, len(flat), int(edit.sum()))]
        tokens[k] = words
    clusters = len(starts)
    order = rng.permutation(paragraphs)  # scatter cluster members over documents
    texts = [" ".join(vocab[tokens[k]].tolist()).capitalize() + "." for k in order.tolist()]
    docs = (paragraphs + PARAGRAPHS_PER_DOC - 1) // PARAGRAPHS_PER_DOC
    chars = 0
    for shard in range(0, docs, DOCS_PER_SHARD):
        with open(folder / f"shard-{shard // DOCS_PER_SHARD:04d}.jsonl", "w", encoding="utf-8") as out:
            for d in range(shard, min(docs, shard + DOCS_PER_SHARD)):
                text = "\n\n".join(texts[d * PARAGRAPHS_PER_DOC : (d + 1) * PARAGRAPHS_PER_DOC])
                chars += len(text)
                out.write(json.dumps({"id": f"doc{d:07d}", "text": text}) + "\n")
    manifest.write_text(json.dumps({"paragraphs": paragraphs, "documents": docs, "clustered": clustered,
                                    "clusters": clusters, "chars": chars, "seed": seed}))
    return folder


# ------------------------------------------------------------------ one engine, one process


class _Hashed:
    """A text sink that hashes (SHA-256) and counts the UTF-8 bytes written to it."""

    def __init__(self) -> None:
        self.sha, self.bytes = hashlib.sha256(), 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.sha.update(data)
        self.bytes += len(data)
        return len(text)


def _commit() -> str:
    """The commit measured (``+`` if the work tree differs from it)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(HERE), *args], capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("+" if git("status", "--porcelain", "--", "../dedup") else "")


def _worker_cpu() -> float:
    times = os.times()
    return times.user + times.system


_own_cpu = _worker_cpu  # this process's user + system seconds so far


def run(engine: str, corpus: Path) -> dict:
    import psutil

    from dedup import scan
    from dedup.report import write_report
    from dedup.report.parquet import write_parquet

    me = _Peak()
    stages: dict[str, float] = {}  # Dask only: largest worker RSS while each stage ran, MB
    bases: dict[str, float] = {}  # Dask only: largest worker RSS a task of each stage started at, MB
    growth: dict[str, float] = {}  # Dask only: largest RSS growth during one task of each stage, MB
    growth_anon: dict[str, float] = {}  # Dask only: the same of RSS less shared pages, MB
    held: dict[str, tuple] = {}  # Dask only: largest anonymous / file-backed MB, stage files mapped, at a task's start
    tasks: dict[str, int] = {}  # Dask only: tasks per stage, and their compute seconds in all
    seconds: dict[str, float] = {}
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    if engine == "dask":
        import logging

        import dask
        from dask.utils import key_split
        from distributed import LocalCluster, WorkerPlugin, get_task_stream

        from dedup.plan.dask import WORKER_CONFIG

        plugin = type("PeakMemoryPlugin", (PeakMemory, WorkerPlugin), {})()
        measured = False
        try:
            # the workers started as the engine's own cluster starts them (Dask's profiler off)
            with dask.config.set(WORKER_CONFIG), LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster:
                client = cluster.get_client()
                client.register_plugin(plugin)
                ready = time.perf_counter()
                startup_cpu = _own_cpu() + sum(client.run(_worker_cpu).values())  # starting the cluster
                with get_task_stream(client) as stream:
                    result = scan(corpus, engine="dask", scheduler=cluster.scheduler_address, jobs=2)
                wall = time.perf_counter() - ready
                for task in stream.data:
                    name = key_split(task["key"])
                    busy = sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
                    tasks[name] = tasks.get(name, 0) + 1
                    seconds[name] = seconds.get(name, 0.0) + busy
                peaks = sorted(client.run(_worker_peak).values())
                workers, anon = [p for p, _ in peaks], [a for _, a in peaks]
                for peaks, starts, grown, kept, grown_anon in client.run(_worker_stage_peaks).values():
                    for name, (anon_b, file_b, maps) in kept.items():
                        a, f, m = held.get(name, (0.0, 0.0, 0))
                        held[name] = (max(a, anon_b / 2**20), max(f, file_b / 2**20), max(m, maps))
                    for name, rss in peaks.items():
                        stages[name] = max(stages.get(name, 0), rss / 2**20)
                    for name, rss in starts.items():
                        bases[name] = max(bases.get(name, 0), rss / 2**20)
                    for name, rss in grown.items():
                        growth[name] = max(growth.get(name, 0), rss / 2**20)
                    for name, anon_b in grown_anon.items():
                        growth_anon[name] = max(growth_anon.get(name, 0), anon_b / 2**20)
                worker_cpu = sum(client.run(_worker_cpu).values())
                client.close()
                measured = True
        except TimeoutError:
            if not measured:
                raise
            # closing the cluster timed out (a loaded machine's slow worker exit): the figures are in
            print("bench_dask: the LocalCluster did not close in time", file=sys.stderr)
        startup = ready - started
        worker_cpu -= startup_cpu
    else:
        pool_peaks: dict[int, _Peak] = {}
        stop = threading.Event()

        def watch_children() -> None:
            while not stop.is_set():
                for child in psutil.Process().children(recursive=True):
                    if child.pid not in pool_peaks:
                        pool_peaks[child.pid] = _Peak(child.pid)
                stop.wait(0.1)

        watcher = threading.Thread(target=watch_children, daemon=True)
        watcher.start()
        result = scan(corpus, jobs=2)
        wall = time.perf_counter() - started
        stop.set()
        watcher.join()
        for p in pool_peaks.values():
            p.stop()
        peaks = sorted((p.peak, p.anon) for p in pool_peaks.values())
        workers, anon = [p for p, _ in peaks], [a for _, a in peaks]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker_cpu = children.ru_utime + children.ru_stime
        startup = startup_cpu = 0.0
    scan_peak, scan_anon = me.phase()
    scan_cpu = _own_cpu() + worker_cpu  # the reports' CPU is timed apart
    written = _Hashed()
    started = time.perf_counter()
    write_report(result, "json", written)
    json_s = time.perf_counter() - started
    json_peak, _ = me.phase()
    with tempfile.TemporaryDirectory(dir=corpus.parent) as folder:
        started = time.perf_counter()
        write_parquet(result, Path(folder) / "report")
        parquet_s = time.perf_counter() - started
    parquet_peak, _ = me.phase()
    me.stop()
    return {
        "engine": engine, "wall_s": wall, "startup_s": startup, "cpu_s": scan_cpu,
        "startup_cpu_s": startup_cpu,
        "driver_peak_mb": scan_peak / 2**20, "driver_anon_mb": scan_anon / 2**20,
        "json_peak_mb": json_peak / 2**20, "json_s": json_s, "json_mb": written.bytes / 2**20,
        "parquet_peak_mb": parquet_peak / 2**20, "parquet_s": parquet_s,
        "worker_peaks_mb": [w / 2**20 for w in workers], "worker_anon_mb": [a / 2**20 for a in anon],
        "stage_tasks": tasks, "stage_compute_s": seconds, "code": _commit(),
        "pairs": len(result.pairs), "groups": len(result.groups), "documents": len(result.documents),
        "stage_peaks_mb": stages, "stage_base_mb": bases, "stage_growth_mb": growth,
        "stage_growth_anon_mb": growth_anon, "stage_held": held, "digest": written.sha.hexdigest(), "load_start": load_start, "load": os.getloadavg()[0],
    }


# ------------------------------------------------------------------ the whole run


def render(manifest: dict, rows: list[dict]) -> str:
    mb = manifest["chars"] / 1e6
    lines = [
        f"Corpus: {manifest['paragraphs']:,} paragraphs in {manifest['documents']:,} documents "
        f"({mb:.0f} MB of text; {manifest['clustered']:,} paragraphs in {manifest['clusters']:,} "
        "near-duplicate clusters, the rest unique).",
        "",
        "| engine | code | wall s | CPU s | paragraphs/s (wall) | paragraphs/CPU s | peak RSS per worker "
        "(less shared pages) | peak RSS, client: scan (less shared) | client: JSON report, Parquet report "
        "| pairs | groups | load (1-min average, start-end) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        anon = r.get("worker_anon_mb", [0] * len(r["worker_peaks_mb"]))
        workers = ", ".join(f"{w:,.0f} ({a:,.0f}) MB" for w, a in list(zip(r["worker_peaks_mb"], anon))[-4:])
        if len(r["worker_peaks_mb"]) > 4:
            workers = f"({len(r['worker_peaks_mb'])} processes; largest) " + workers
        name = "Dask, 2-worker LocalCluster" if r["engine"] == "dask" else "local, jobs=2"
        lines.append(f"| {name} | {r.get('code', '?')} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} "
                     f"| {manifest['paragraphs'] / r['wall_s']:,.0f} | {manifest['paragraphs'] / r['cpu_s']:,.0f} "
                     f"| {workers} | {r['driver_peak_mb']:,.0f} ({r.get('driver_anon_mb', 0):,.0f}) MB "
                     f"| {_report_cell(r)} | {r['pairs']:,} | {r['groups']:,} | {r.get('load_start', r['load']):.1f}-{r['load']:.1f} |")
    for r in rows:
        if r.get("stage_peaks_mb"):
            peaks = sorted(r["stage_peaks_mb"].items(), key=lambda kv: -kv[1])
            lines += ["", "Largest worker RSS while each stage ran (Dask): "
                      + ", ".join(f"{name} {mb:,.0f} MB" for name, mb in peaks) + "."]
        if r.get("stage_growth_mb"):
            grown = sorted(r["stage_growth_mb"].items(), key=lambda kv: -kv[1])
            anon = r.get("stage_growth_anon_mb", {})
            lines += ["", "Per task (Dask), largest RSS a task started at / largest growth during one task"
                      + (" (of RSS less shared pages)" if anon else "") + ": "
                      + ", ".join(f"{name} {r['stage_base_mb'].get(name, 0):,.0f} / {mb:,.0f}"
                                  + (f" ({anon[name]:,.0f})" if name in anon else "") + " MB" for name, mb in grown)
                      + "."]
        if r.get("stage_held"):
            kept = sorted(r["stage_held"].items(), key=lambda kv: -kv[1][0])
            lines += ["", "What a worker held as a task started (Dask), largest per stage: anonymous RSS / "
                      "file-backed RSS / stage files mapped: "
                      + ", ".join(f"{name} {a:,.0f} / {f:,.0f} MB / {m:,}" for name, (a, f, m) in kept) + "."]
        if r.get("stage_compute_s"):
            busy = sorted(r["stage_compute_s"].items(), key=lambda kv: -kv[1])
            total = sum(r["stage_compute_s"].values())
            lines += ["", f"Worker compute time per stage (Dask task stream; {total:,.1f} s in all): "
                      + ", ".join(f"{name} {sec:,.1f} s / {r['stage_tasks'][name]:,} tasks" for name, sec in busy) + "."]
    if len(rows) == 2:
        dask, local = rows
        lines += ["", f"- Dask wall / local wall: **{dask['wall_s'] / local['wall_s']:.2f}**; "
                      f"Dask CPU / local CPU: **{dask['cpu_s'] / local['cpu_s']:.2f}** "
                      f"(cluster start-up, in neither: {dask['startup_s']:.1f} s wall, "
                      f"{dask.get('startup_cpu_s', 0):.1f} s CPU).",
                  f"- JSON reports identical (SHA-256 of the streamed report): "
                  f"**{dask['digest'] == local['digest']}**."]
    return "\n".join(lines) + "\n"


def _report_cell(r: dict) -> str:
    """The client's peak RSS and seconds writing the JSON and the Parquet report."""
    if "json_peak_mb" not in r:  # a row from before session 12: the report was a to_dict
        return "(not measured)"
    return (f"{r['json_peak_mb']:,.0f} MB in {r['json_s']:.1f} s ({r['json_mb']:,.0f} MB of JSON), "
            f"{r['parquet_peak_mb']:,.0f} MB in {r['parquet_s']:.1f} s")


def _earlier_rows(out: Path | None, manifest: dict, engines: list[str]) -> list[dict]:
    """The rows of the other engines in ``OUT.json`` from an earlier run on the same
    corpus (``--engines dask`` and ``--engines local`` may run one at a time, e.g. to
    keep each hold of the benchmark lock short)."""
    if out is None or not out.with_suffix(".json").exists():
        return []
    earlier = json.loads(out.with_suffix(".json").read_text())
    if earlier["corpus"] != manifest:
        return []
    return [r for r in earlier["rows"] if r["engine"] not in engines and "json_peak_mb" in r]  # same digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", default="1000000",
                        help="corpus size; several, comma-separated, run in one invocation: each size's "
                             "engines in turn, the sizes in order (one run, the same load)")
    parser.add_argument("--engines", default="dask,local")
    parser.add_argument("--out", type=Path, default=None, help="also write OUT.md and OUT.json")
    parser.add_argument("--run", choices=["dask", "local"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(args.run, args.corpus)))
        return
    sizes = [int(n) for n in args.paragraphs.split(",")]
    engines = args.engines.split(",")
    runs: list[dict] = []  # per size: its corpus and rows
    for paragraphs in sizes:
        started = time.perf_counter()
        folder = build(paragraphs)
        manifest = json.loads((folder / "manifest.json").read_text())
        print(f"corpus ready in {time.perf_counter() - started:.0f} s: {folder}", file=sys.stderr)
        rows = _earlier_rows(args.out, manifest, engines) if len(sizes) == 1 else []
        runs.append({"corpus": manifest, "rows": rows})
        for engine in engines:
            done = subprocess.run([sys.executable, __file__, "--run", engine, "--corpus", str(folder)],
                                  check=True, stdout=subprocess.PIPE, text=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            rows.sort(key=lambda r: r["engine"])  # dask, then local
            print(json.dumps(rows[-1]), file=sys.stderr)
            text = _render_all(runs)
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.with_suffix(".md").write_text(text)
                saved = runs[0] if len(runs) == 1 and len(sizes) == 1 else {"runs": runs}
                args.out.with_suffix(".json").write_text(json.dumps(saved, indent=1))
    print(text)


def _render_all(runs: list[dict]) -> str:
    """Each size's tables, and for several sizes how each engine's peak RSS per worker
    (and less shared pages) changed from the smallest size to each larger one."""
    if len(runs) == 1:
        return render(runs[0]["corpus"], runs[0]["rows"])
    text = "\n".join(f"## {r['corpus']['paragraphs']:,} paragraphs\n\n" + render(r["corpus"], r["rows"])
                     for r in runs)
    lines = ["", "## Across sizes (same run)", ""]
    first = {row["engine"]: (runs[0]["corpus"]["paragraphs"], row) for row in runs[0]["rows"]}
    for r in runs[1:]:
        for row in r["rows"]:
            if row["engine"] not in first:
                continue
            n0, row0 = first[row["engine"]]
            lines.append(
                f"- {row['engine']}, {n0:,} -> {r['corpus']['paragraphs']:,} paragraphs: largest peak RSS per "
                f"worker {max(row0['worker_peaks_mb']):,.0f} -> {max(row['worker_peaks_mb']):,.0f} MB, less shared "
                f"pages {max(row0['worker_anon_mb']):,.0f} -> {max(row['worker_anon_mb']):,.0f} MB; wall "
                f"x{row['wall_s'] / row0['wall_s']:.2f}, CPU x{row['cpu_s'] / row0['cpu_s']:.2f}.")
    return text + "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
