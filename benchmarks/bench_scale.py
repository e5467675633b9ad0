"""How the scan's cost grows with the corpus: time, CPU per MB and peak memory at 1x, 2x,
4x and 8x a real corpus (near-duplicate and unrelated copies), a >= 1 GB generated
corpus, ``-j 2`` against ``-j 1``, and rensa's signature stage on the same files.

    python benchmarks/bench_scale.py                      # everything (~15-40 min)
    python benchmarks/bench_scale.py --factors 1,2 --big-mb 0   # quick look
    python benchmarks/bench_scale.py --out benchmarks/results/scale   # also .md and .json

The base is ``--base-mb`` MB of the full corpus of ``corpus.py`` (real prose, built on
first use): whole families of pages in a fixed hash order.  Copy ``c`` of it is:

* *near-duplicate*: every document with four common words ("the", "of", "and", "is",
  ~8 % of the words) spelt differently in each copy (a light rewrite);
* *unrelated*: every word given a copy-specific suffix, so it shares no shingle with
  any other copy but has the same shape (paragraph lengths, repeats within the copy).

The Nx corpus is copies ``0 .. N-1`` (copy 0 is the base itself), scanned as N folders
in one ``dedup scan``.  The big corpus is as many copies as ``--big-mb`` needs, in
pairs: an unrelated copy, then a near-duplicate of it (clusters of two, and unique
text).  Every copy is one JSON Lines file of records (``FILE#ID`` documents); the
``-j`` and rensa rows read the base as its ``.txt`` files.  Each scan is ``dedup scan --format json -o - --no-cache``
(standard output to ``/dev/null``: never ``-o /dev/null``, which a scan run as root replaced with a regular file)
at defaults in its own process: wall time, CPU time (user + system of the scan and its
workers, from ``wait4``), the peak of the largest single process (``ru_maxrss``) and the
peak of the whole process tree (the sum over the scan and its workers, sampled every
0.1 s from ``/proc``).  The machine is shared: compare the ratios of one run, never
absolute times across runs.  Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus as corpus_builder  # noqa: E402

DEDUP = shutil.which("dedup") or str(Path(sys.executable).with_name("dedup"))
#: How run_scan starts dedup (``--code`` runs another source tree's).
DEDUP_COMMAND = [DEDUP]
WORK = HERE / ".corpus" / "scale"
_WORD = re.compile(r"\w+")


# ------------------------------------------------------------------ the corpora


def base_documents(megabytes: float) -> list[tuple[str, str]]:
    """``(name, text)`` of ``megabytes`` MB of the full corpus: whole families (a page
    with its versions) in a fixed hash order, so the mix of sources and of
    near-duplicates within families is the full corpus's."""
    manifest = corpus_builder.build(sizes=["full"])["full"]
    folder = corpus_builder.DEFAULT_ROOT / "full"
    order = sorted(manifest["files"], key=lambda e: (hashlib.blake2b(e["family"].encode()).digest(), e["path"]))
    out, total = [], 0
    for entry in order:
        text = (folder / entry["path"]).read_text(encoding="utf-8")
        out.append((entry["path"], text))
        total += len(text.encode("utf-8"))
        if total >= megabytes * 1e6:
            break
    return out


#: Common words a near-duplicate copy rewrites (together ~8 % of English prose).
_REWRITTEN = re.compile(r"\b(the|of|and|is)\b")


def near_duplicate(text: str, copy: int) -> str:
    """A light rewrite: "the", "of", "and", "is" spelt differently in each copy (~8 %
    of the words; word-2-gram Jaccard ~0.7 with the original)."""
    return _REWRITTEN.sub(rf"\g<0>{copy}", text)


def unrelated(text: str, copy: int) -> str:
    """Every word with a suffix of its own for this copy: no shingle in common."""
    return _WORD.sub(rf"\g<0>q{copy}x", text)


def write_copy(base: list[tuple[str, str]], kind: str, copy: int) -> Path:
    """Copy ``copy`` of the base, of ``kind``: one JSON Lines file of ``{"id", "text"}``
    records (one write, not thousands of small files); kind ``base`` is the base itself
    as ``.txt`` files.  Written once, reused by later runs."""
    folder = WORK / f"{kind}-{copy:03d}"
    done = folder / ".complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if kind == "base":
        for name, text in base:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
    else:
        with open(folder / "records.jsonl", "w", encoding="utf-8") as out:
            for name, text in base:
                out.write(json.dumps({"id": name, "text": transform(text, kind, copy)}, ensure_ascii=False) + "\n")
    done.write_text("")
    return folder


def transform(text: str, kind: str, copy: int) -> str:
    """Copy ``copy`` of one text (copy 0 of near / unrelated is the text itself)."""
    if kind == "big":  # pairs of copies: an unrelated one, then a near-duplicate of it
        text = unrelated(text, copy // 2) if copy > 1 else text
        return near_duplicate(text, copy) if copy % 2 else text
    if copy == 0:
        return text
    return near_duplicate(text, copy) if kind == "near" else unrelated(text, copy)


def folder_bytes(folders: list[Path]) -> int:
    return sum(p.stat().st_size for f in folders for p in f.rglob("*") if p.suffix in (".txt", ".jsonl"))


# ------------------------------------------------------------------ measuring


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, now (MB)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total / 1024


def folder_size(root: Path) -> int:
    """Bytes of the files under ``root`` now (0 once it is gone)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def run_scan(folders: list[Path], *flags: str) -> dict:
    """One ``dedup scan`` over ``folders``: wall, CPU, peak RSS (largest process and
    the whole tree; a scan that exits other than 0 or 1 -- stopped by SIGTERM, or
    failed -- gives what it got to, with ``exit`` and the end of its stderr), the peak
    size of its scratch folder (``--tmp-dir``, a fresh folder
    beside the system's temporary one, sampled every 0.5 s) and the 1-minute load
    average at its start and end (and its mean and largest value, sampled every 0.5 s)."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-scale-scratch-"))
    cmd = [*DEDUP_COMMAND, "scan", *map(str, folders), "--format", "json", "-o", "-", "--no-cache",
           "--exit-zero", "--tmp-dir", str(scratch), *flags]
    load_start = os.getloadavg()[0]
    start = time.perf_counter()
    # stderr to a file, not a pipe: nobody reads a pipe until the scan ends, and a scan's
    # warnings (e.g. 55 x 3 repeated-id lines) fill its 64 KB and block the scan for good
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors)
    peak = [0.0, 0]
    loads: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        ticks = 0
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            if ticks % 5 == 0:
                peak[1] = max(peak[1], folder_size(scratch))
                loads.append(os.getloadavg()[0])
            ticks += 1
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # Ctrl-C / SIGTERM of the harness: the scan cleans up after itself
        proc.terminate()
        proc.wait()
        raise
    finally:
        stop.set()
        sampler.join()
        shutil.rmtree(scratch, ignore_errors=True)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    if code not in (0, 1):  # stopped (SIGTERM: 143) or failed: what it got to, marked
        errors.seek(0)
        return {"exit": code, "stderr": errors.read().decode(errors="replace")[-2000:], "wall": wall, "cpu": cpu,
                "rss_max_process_mb": usage.ru_maxrss / 1024, "rss_tree_mb": peak[0],
                "scratch_peak_mb": peak[1] / 1e6, "load_start": load_start, "load": os.getloadavg()[0],
                "load_mean": sum(loads) / max(len(loads), 1), "load_max": max(loads, default=0.0)}
    return {"wall": wall, "cpu": cpu, "cores_busy": cpu / wall, "rss_max_process_mb": usage.ru_maxrss / 1024,
            "rss_tree_mb": peak[0], "scratch_peak_mb": peak[1] / 1e6, "load_start": load_start,
            "load": os.getloadavg()[0], "load_mean": sum(loads) / max(len(loads), 1), "load_max": max(loads, default=0.0)}


def rensa_signature_stage(folder: Path) -> dict:
    """rensa's signature stage alone on ``folder`` (word 5-grams, 128 permutations, one
    core): dedup's own split + normalize (not timed), then the shingle strings a user
    builds in Python and rensa's batch digest (timed).  In the same run, dedup's own
    signature stage on the same normalized paragraphs, in batches of the same size
    (tokens, shingle hashes and MinHash: :func:`dedup.shingle.shingle` and
    :func:`dedup.minhash.signatures`), at rensa's settings (``dedup_seconds``) and at
    dedup's defaults, word 2-grams and 256 permutations (``dedup_default_seconds``)."""
    from rensa import RMinHash

    from dedup.minhash import signatures
    from dedup.normalize import normalize
    from dedup.settings import Settings
    from dedup.shingle import shingle
    from dedup.split import split_paragraphs

    texts = [p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.txt"))]
    paragraphs = [normalize(t[s:e]) for t in texts for s, e in split_paragraphs(t)]
    size = sum(len(t.encode("utf-8")) for t in texts)
    start = time.perf_counter()
    for lo in range(0, len(paragraphs), 20_000):
        sets = []
        for p in paragraphs[lo : lo + 20_000]:
            w = _WORD.findall(p)
            sets.append(list(map(" ".join, zip(*(w[i:] for i in range(5))))) if len(w) >= 5 else [" ".join(w)])
        RMinHash.digest_matrix_from_token_sets(sets, 128, 1)
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "mb": size / 1e6, "mb_per_s": size / 1e6 / seconds}
    defaults = Settings()
    for name, ngram, num_perm in (("dedup_seconds", 5, 128), ("dedup_default_seconds", defaults.ngram, defaults.num_perm)):
        start = time.perf_counter()
        for lo in range(0, len(paragraphs), 20_000):
            signatures(shingle(paragraphs[lo : lo + 20_000], "word", ngram), num_perm)
        out[name] = time.perf_counter() - start
    return out


# ------------------------------------------------------------------ the run


def compile_sources(code: Path | None) -> int:
    """Compile the measured dedup's modules to bytecode (``__pycache__``) before any
    scan; returns how many source files it holds.

    Why: an installed dedup has its bytecode (pip compiles it at install), but a source
    tree run with ``PYTHONDONTWRITEBYTECODE=1`` (as on the team's machines) compiles
    its ~90 modules again in every scan's process -- ~0.4-0.8 s of serial start-up
    that a user's scan never pays, and that weighed on the ``-j`` ratio."""
    import compileall
    import importlib.util

    folder = code / "dedup" if code else Path(importlib.util.find_spec("dedup").submodule_search_locations[0])
    compileall.compile_dir(str(folder), quiet=1)
    return sum(1 for _ in folder.rglob("*.py"))


def measure(args: argparse.Namespace, log) -> dict:
    """Every row, in order; with ``--out`` the JSON so far is saved after each row (a
    long run interrupted still leaves its rows)."""
    log(f"bytecode compiled for {compile_sources(args.code)} source files")
    base = base_documents(args.base_mb)
    factors = [int(f) for f in args.factors.split(",")]
    rows = set(args.rows.split(","))
    results: dict = {"base_documents": len(base), "cpus": os.cpu_count(), "rows": [],
                     "code": str(args.code) if args.code else "installed"}
    first = write_copy(base, "base", 0)
    results["base_mb"] = folder_bytes([first]) / 1e6
    log(f"base: {len(base)} documents, {results['base_mb']:.1f} MB")
    if "rensa" in rows:
        results["rensa"] = rensa_signature_stage(first)
        log(f"rensa signature stage: {results['rensa']['mb_per_s']:.1f} MB/s")
    for repeat in range(args.repeats if "jobs" in rows else 0):
        for jobs in (1, 2):  # alternating, so both see the same stretch of load
            row = run_scan([first], "-j", str(jobs))
            row.update(kind="jobs", factor=1, jobs=jobs, mb=results["base_mb"], repeat=repeat)
            results["rows"].append(row)
            save(args, results)
            log(f"1x -j {jobs}: {row['wall']:.1f} s, CPU {row['cpu']:.1f} s, load {row['load_start']:.1f}-{row['load']:.1f}")
    for kind in ("near", "unrelated"):
        for factor in factors if kind in rows else ():
            folders = [write_copy(base, kind, c) for c in range(factor)]
            row = run_scan(folders)
            row.update(kind=kind, factor=factor, jobs=os.cpu_count(), mb=folder_bytes(folders) / 1e6)
            results["rows"].append(row)
            save(args, results)
            log(f"{kind} {factor}x: {row['mb']:.0f} MB {row['wall']:.1f} s, CPU {row['cpu']:.1f} s, "
                f"tree RSS {row['rss_tree_mb']:.0f} MB, scratch {row['scratch_peak_mb']:.0f} MB")
    if args.big_mb and "big" in rows:
        copies = max(1, round(args.big_mb * 1e6 / (results["base_mb"] * 1e6)))
        folders = [write_copy(base, "big", c) for c in range(copies)]
        row = run_scan(folders)
        row.update(kind="big", factor=copies, jobs=os.cpu_count(), mb=folder_bytes(folders) / 1e6)
        results["rows"].append(row)
        save(args, results)
        log(f"big: {row['mb']:.0f} MB {row['wall']:.1f} s, CPU {row['cpu']:.1f} s, "
            f"tree RSS {row['rss_tree_mb']:.0f} MB, scratch {row['scratch_peak_mb']:.0f} MB")
    return results


def save(args: argparse.Namespace, results: dict) -> None:
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))


def _median_run(runs: list[dict]) -> dict:
    """The run of median wall time (of an odd number; the lower middle of an even)."""
    return sorted(runs, key=lambda r: r["wall"])[(len(runs) - 1) // 2]


def render(results: dict) -> str:
    rows = results["rows"]
    out = [f"Base: {results['base_documents']:,} documents, {results['base_mb']:.1f} MB of real prose; "
           f"{results['cpus']} CPUs, shared (ratios from this one run; absolute times are noisy).", ""]
    runs: dict[int, list[dict]] = {}
    for r in rows:
        if r["kind"] == "jobs":
            runs.setdefault(r["jobs"], []).append(r)
    jobs = {j: _median_run(rs) for j, rs in runs.items()}
    rensa = results.get("rensa")
    if rensa:
        out.append(f"- rensa signature stage alone (word 5-grams, 128 perms, one core, shingle strings "
                   f"built in Python): {rensa['mb_per_s']:.1f} MB/s")
        if "dedup_seconds" in rensa:
            for key, what in (("dedup_seconds", "at rensa's settings"), ("dedup_default_seconds", "at dedup's defaults (word 2-grams, 256 perms)")):
                out.append(f"- dedup's signature stage alone {what}, same normalized paragraphs, same run: "
                           f"{rensa['mb'] / rensa[key]:.1f} MB/s = **{rensa['seconds'] / rensa[key]:.2f}x** rensa")
    if rensa and jobs:
        default = jobs.get(results["cpus"], jobs[max(jobs)])
        out.append(f"- `dedup scan` end to end at defaults (-j {default['jobs']}): "
                   f"{default['mb'] / default['wall']:.1f} MB/s = **{default['mb'] / default['wall'] / rensa['mb_per_s']:.2f}x** rensa")
    if 1 in jobs and 2 in jobs:
        one, two = jobs[1], jobs[2]
        out.append(f"- `-j 2` wall / `-j 1` wall on 1x: **{two['wall'] / one['wall']:.2f}** "
                   f"({two['wall']:.1f} s / {one['wall']:.1f} s, medians of {len(runs[2])} and {len(runs[1])} "
                   f"alternating runs)")
        for j in (1, 2):
            out.append(f"  - `-j {j}`: wall " + ", ".join(f"{r['wall']:.1f}" for r in runs[j]) + " s; CPU "
                       + ", ".join(f"{r['cpu']:.1f}" for r in runs[j]) + " s; cores busy "
                       + ", ".join(f"{r.get('cores_busy', r['cpu'] / r['wall']):.2f}" for r in runs[j])
                       + "; load " + ", ".join(f"{r.get('load_start', r['load']):.1f}-{r['load']:.1f}" for r in runs[j]))
    if not any(r["kind"] in ("near", "unrelated", "big") for r in rows):  # no table without its rows
        return "\n".join(out)
    out.append("")
    out.append("| corpus | MB | wall s | CPU s | CPU s per MB | vs 1x | peak RSS, largest process | peak RSS, all processes | scratch peak (per input MB) | load |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for kind in ("near", "unrelated", "big"):
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        unit = mine[0]["cpu"] / mine[0]["mb"]
        for r in mine:
            per_mb = r["cpu"] / r["mb"]
            label = f"{kind} {r['factor']}x" if kind != "big" else f"generated ({r['factor']} copies: unrelated + its near-duplicate)"
            scratch = (f"{r['scratch_peak_mb']:,.0f} MB ({r['scratch_peak_mb'] / r['mb']:.1f})"
                       if "scratch_peak_mb" in r else "")
            out.append(f"| {label} | {r['mb']:.0f} | {r['wall']:.1f} | {r['cpu']:.1f} | {per_mb:.3f} | "
                       f"{per_mb / unit:.2f} | {r['rss_max_process_mb']:.0f} MB | {r['rss_tree_mb']:.0f} MB | {scratch} | "
                       f"{r.get('load_start', r['load']):.1f}-{r['load']:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    global WORK, DEDUP_COMMAND
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-mb", type=float, default=19.0, help="size of the 1x corpus [19]")
    parser.add_argument("--factors", default="1,2,4,8", help="copies per scaled corpus [1,2,4,8]")
    parser.add_argument("--big-mb", type=float, default=1050.0, help="size of the generated corpus; 0: skip [1050]")
    parser.add_argument("--rows", default="rensa,jobs,near,unrelated,big",
                        help="which rows to measure [rensa,jobs,near,unrelated,big]")
    parser.add_argument("--repeats", type=int, default=1, help="-j 1 / -j 2 runs on the base, alternating [1]")
    parser.add_argument("--code", type=Path,
                        help="run the dedup of this source tree (e.g. an older commit's `git archive`), not the installed one")
    parser.add_argument("--out", type=Path, help="also write OUT.md and OUT.json")
    parser.add_argument("--corpus-dir", type=Path,
                        help="where the copies are written once and reused [benchmarks/.corpus/scale]")
    parser.add_argument("--from-json", type=Path, help="render a previous run's JSON instead of measuring")
    args = parser.parse_args(argv)
    if args.corpus_dir:
        WORK = args.corpus_dir
    if args.code:
        DEDUP_COMMAND = ["env", f"PYTHONPATH={args.code.resolve()}", sys.executable, "-c",
                         "import sys; from dedup.cli import main; sys.argv[0] = 'dedup'; main()"]
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = measure(args, lambda m: print(m, file=sys.stderr, flush=True))
    text = render(results)
    print(text)
    save(args, results)
    if args.out:
        args.out.with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
