"""Run the dedup benchmark suite and print a markdown table.

    python benchmarks/run.py                 # both sizes (small ~6 MB, full ~60 MB)
    python benchmarks/run.py --sizes small   # quick run
    python benchmarks/run.py --out benchmarks/results/latest   # also write .md and .json

What it measures, on the corpus of ``benchmarks/corpus.py`` (built on first use):

* every stage of a scan, timed separately in one process per (size, settings): read,
  split + normalize, shingle + hash, MinHash, exact-copy grouping, LSH band keys, LSH
  candidates, verification, grouping, the whole ``detect`` and the report;
* end to end, each run in its own process so peak RSS is per run: ``dedup.scan`` via
  the library and ``dedup scan`` via the CLI (and with ``--jobs 2`` and a warm cache
  when the CLI offers them);
* the anchors on the same normalized paragraphs in the same run: datasketch 2.0
  ``MinHash.update`` per shingle, ``MinHash.bulk`` with xxh32, rensa ``RMinHash`` (and
  rensa's batch ``digest_matrix_from_token_sets``), next to dedup's own shingle + MinHash;
* memory per indexed paragraph, the 10x scaling ratio, and a boilerplate case (one
  paragraph repeated 10,000 and 20,000 times, exact and templated, and a short templated
  footer line at 1,000 and 2,000 copies).

Why processes: the machine is shared and noisy, so absolute times are only comparable
within one run; ratios against the anchors come from the same run.  Each measurement
runs in a fresh interpreter (``--worker``), which also makes ``ru_maxrss`` a per-run
peak.  Nothing here asserts a time: it measures and reports.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # for ``corpus`` when run as a script or a worker

import corpus as corpus_builder  # noqa: E402

#: The issue's comparison settings and dedup's defaults.
CONFIGS = {"bench": {"ngram": 5, "num_perm": 128}, "default": {}}
CONFIG_TITLES = {"bench": "word 5-grams, 128 perms", "default": "dedup defaults (word 2-grams, 256 perms)"}
#: Normalized text fed to datasketch's per-shingle update (0.4 MB/s): a subsample
#: of about this many bytes, timed and extrapolated to the whole corpus.
UPDATE_SAMPLE_BYTES = 1_500_000
#: Boilerplate cases: kind -> copies.  The short templated line (a man-page style
#: footer whose date and page name vary) is measured at fewer copies because each copy
#: costs ~100x an exact copy today (it pairs with up to hundreds of others).
BOILER_CASES = {"exact": (0, 10_000, 20_000), "templated": (10_000, 20_000), "footer": (1_000, 2_000)}
BOILERPLATE = (
    "This page is part of the project documentation. It is generated automatically from the "
    "sources on every release; do not edit it by hand, and report mistakes to the issue tracker "
    "together with the version number shown at the top of the page and the steps that lead to it."
)
DEDUP = shutil.which("dedup") or str(Path(sys.executable).with_name("dedup"))


# ======================================================================= timing


@dataclass
class Timer:
    """Seconds per named stage, accumulated over batches."""

    seconds: dict

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settings_for(config: str):
    from dedup import Settings

    return Settings().with_changes(**CONFIGS[config])


def read_corpus(folder: Path):
    """All documents under ``folder`` through dedup's own reader."""
    from dedup import ReadOptions, Selection
    from dedup.scan import read_paths

    return [d for d in read_paths([folder], Selection(), ReadOptions()) if hasattr(d, "text")]


def normalized_paragraphs(docs) -> list[str]:
    from dedup.normalize import normalize
    from dedup.split import split_paragraphs

    return [normalize(d.text[s:e]) for d in docs for s, e in split_paragraphs(d.text)]


# ====================================================================== workers


def worker_stages(folder: Path, config: str) -> dict:
    """Each stage of a scan, timed separately, in the order a scan runs them: the
    signing steps one by one, then the plan's stages (:mod:`dedup.plan`) in one
    process, each level's stage times summed."""
    from dedup.corpus import Corpus
    from dedup.minhash import signatures
    from dedup.normalize import normalize
    from dedup.plan.job import run_scan
    from dedup.plan.local import LocalExecutor
    from dedup.plan.scratch import load, scratch_folder
    from dedup.plan.sign import BATCH_DOCUMENTS, batches, sign_batch
    from dedup.report import write_report
    from dedup.results import LEVELS
    from dedup.shingle import shingle
    from dedup.split import split_paragraphs

    settings = settings_for(config)
    t = Timer({})
    with t.stage("read"):
        docs = read_corpus(folder)
    for lo in range(0, len(docs), BATCH_DOCUMENTS):
        batch = docs[lo : lo + BATCH_DOCUMENTS]
        with t.stage("split + normalize"):
            texts = [normalize(d.text[s:e]) for d in batch for s, e in split_paragraphs(d.text)]
        with t.stage("shingle + hash"):
            sh = shingle(texts, settings.unit, settings.ngram)
        with t.stage("MinHash"):
            signatures(sh, settings.num_perm, settings.seed)
    with t.stage("sign total (batches)"):
        corpus = Corpus.concat([sign_batch(b, settings) for b in batches(docs)], settings.num_perm)
    counts = {"candidates": 0, "verified": 0}

    class Timed(LocalExecutor):
        """Times each stage and counts what the verification stage saw."""

        names = {"sign_shard": "plan: sign (items, sorted sets)", "exact_partition": "plan: exact copies",
                 "band_shard": "plan: band rows", "candidate_partition": "plan: candidates",
                 "verify_range": "plan: estimate floor + verify", "common_partition": "plan: boilerplate",
                 "document_shard": "plan: document items"}

        def map(self, stage, tasks):
            tasks = list(tasks)
            with t.stage(self.names[stage.__name__]):
                out = super().map(stage, tasks)
            if stage.__name__ == "verify_range":
                counts["candidates"] += sum(out)
                counts["verified"] += sum(len(load(plan.scratch.verified(plan.level, r, "a"))) for plan, r in tasks)
            return out

        def imap(self, stage, tasks):
            with t.stage(self.names[stage.__name__]):
                out = list(super().imap(stage, tasks))
            return iter(out)

    with scratch_folder() as scratch, Timed(1) as executor:
        started = time.perf_counter()
        result = run_scan(iter(docs), settings, levels=LEVELS, executor=executor, scratch=scratch)
        total = time.perf_counter() - started
    planned = sum(v for k, v in t.seconds.items() if k.startswith("plan: "))
    t.seconds["plan: link, groups, locations"] = total - planned
    t.seconds["plan total"] = total
    with t.stage("report (json)"):
        write_report(result, "json", io.StringIO())
    with t.stage("report (text)"):
        write_report(result, "text", io.StringIO())  # TextOptions: 100 columns
    return {
        "seconds": t.seconds,
        "paragraphs": corpus.paragraphs,
        "pairs": len(result.pairs),
        "groups": len(result.groups),
        **counts,
        "memory": paragraph_memory(corpus, Corpus),
        "rss_mb": peak_rss_mb(),
    }


def paragraph_memory(corpus, corpus_type) -> dict:
    """Bytes per indexed paragraph: the signature alone, every per-paragraph numpy
    array of the corpus (signature, keys, spans, ...), and the shingles kept for
    verification."""
    import numpy as np

    n = max(corpus.paragraphs, 1)
    per_para_arrays = sum(
        getattr(corpus, f).nbytes for f in corpus_type.__dataclass_fields__ if isinstance(getattr(corpus, f), np.ndarray)
    )
    sh = corpus.shingles
    return {
        "signature": corpus.signatures.nbytes / n,
        "arrays": per_para_arrays / n,
        "shingles": (sh.hashes.nbytes + sh.offsets.nbytes + sh.units.nbytes) / n,
    }


def worker_scan(folder: Path, config: str, jobs: int = 1) -> dict:
    """``dedup.scan`` end to end, JSON report included, as a library user would call it
    (on ``jobs`` processes when the engine takes a ``jobs`` argument)."""
    from dedup import scan
    from dedup.report import write_report

    kwargs = {"jobs": jobs} if jobs > 1 else {}
    start = time.perf_counter()
    result = scan(folder, settings_for(config), **kwargs)
    sink = io.StringIO()
    write_report(result, "json", sink)
    seconds = time.perf_counter() - start
    name = "scan (library)" if jobs == 1 else f"scan (library, jobs={jobs})"
    digest = hashlib.sha256(sink.getvalue().encode()).hexdigest()[:16]
    return {"seconds": {name: seconds}, "pairs": len(result.pairs), "digest": digest, "rss_mb": peak_rss_mb()}


def scan_takes_jobs() -> bool:
    import inspect

    from dedup import scan

    return "jobs" in inspect.signature(scan).parameters


def worker_anchors(folder: Path, config: str) -> dict:
    """dedup's signature stage and the anchors on the same normalized paragraphs."""
    import numpy as np
    import xxhash
    from datasketch import MinHash
    from rensa import RMinHash

    from dedup.minhash import signatures
    from dedup.plan.sign import BATCH_DOCUMENTS
    from dedup.shingle import shingle

    settings = settings_for(config)
    n, num_perm = settings.ngram, settings.num_perm
    docs = read_corpus(folder)
    batches = [normalized_paragraphs(docs[i : i + BATCH_DOCUMENTS]) for i in range(0, len(docs), BATCH_DOCUMENTS)]
    paragraphs = [p for b in batches for p in b]
    text_bytes = sum(len(p.encode("utf-8")) for p in paragraphs)
    word = re.compile(r"\w+")

    def shingles(text: str) -> list[str]:
        # The shingles dedup hashes (\w+ words, n-grams, a short text as one shingle),
        # built the fastest idiomatic Python way.
        w = word.findall(text)
        return list(map(" ".join, zip(*(w[i:] for i in range(n))))) if len(w) >= n else ([" ".join(w)] if w else [])

    t = Timer({})
    with t.stage(ANCHOR_OURS):
        for texts in batches:
            signatures(shingle(texts, settings.unit, n), num_perm, settings.seed)
    with t.stage(ANCHOR_SHINGLES):
        sets = [shingles(p) for p in paragraphs]
    with t.stage("rensa RMinHash per paragraph"):
        for s in sets:
            m = RMinHash(num_perm=num_perm, seed=settings.seed)
            m.update(s)
            m.digest()
    with t.stage("rensa digest_matrix_from_token_sets (batch)"):
        for lo in range(0, len(sets), 20_000):
            RMinHash.digest_matrix_from_token_sets(sets[lo : lo + 20_000], num_perm, settings.seed)
    with t.stage("datasketch MinHash.bulk + xxh32"):
        for lo in range(0, len(sets), 5_000):
            chunk = [[x.encode("utf-8") for x in s] for s in sets[lo : lo + 5_000]]
            MinHash.bulk(chunk, num_perm=num_perm, seed=settings.seed, hashfunc=xxhash.xxh32_intdigest)
    # Per-shingle update is ~0.4 MB/s: time an evenly spread subsample, extrapolate.
    step = max(1, round(text_bytes / UPDATE_SAMPLE_BYTES))
    sample = list(range(0, len(paragraphs), step))
    sample_bytes = sum(len(paragraphs[i].encode("utf-8")) for i in sample)
    start = time.perf_counter()
    for i in sample:
        m = MinHash(num_perm=num_perm, seed=settings.seed)
        for x in sets[i]:
            m.update(x.encode("utf-8"))
        np.asarray(m.hashvalues)
    sampled = time.perf_counter() - start
    fraction = sample_bytes / text_bytes
    t.seconds["datasketch MinHash.update per shingle"] = sampled / fraction
    return {
        "seconds": t.seconds,
        "paragraphs": len(paragraphs),
        "text_mb": text_bytes / 1e6,
        "update_sample": {"fraction": fraction, "seconds": sampled, "paragraphs": len(sample)},
        "rss_mb": peak_rss_mb(),
    }


def worker_boilerplate(folder: Path, config: str, copies: int, kind: str) -> dict:
    """A scan of ``folder`` plus ``copies`` extra files sharing one boilerplate paragraph
    (``exact``: identical; ``templated``: one number differs per copy; ``footer``: a
    short line whose date and page name vary, like man-page footers)."""
    from dedup import scan

    settings = settings_for(config)
    with tempfile.TemporaryDirectory(prefix="dedup-boiler-") as tmp:
        extra = Path(tmp) / "boiler"
        extra.mkdir()
        for i in range(copies):
            para = boilerplate_paragraph(kind, i)
            (extra / f"page{i:06d}.txt").write_text(f"Release note {i}.\n\n{para}\n")
        start = time.perf_counter()
        result = scan([folder, extra] if copies else folder, settings)
        seconds = time.perf_counter() - start
    return {"seconds": {"scan": seconds}, "pairs": len(result.pairs), "rss_mb": peak_rss_mb()}


def boilerplate_paragraph(kind: str, i: int) -> str:
    if kind == "exact":
        return BOILERPLATE
    if kind == "templated":
        return BOILERPLATE.replace("every release", f"release {i}")
    date = f"2023-{1 + i % 12:02d}-{1 + (i // 12) % 28:02d}"
    return f"Project manual pages 6.03    {date}    func{i}(3)"


WORKERS: dict[str, Callable[..., dict]] = {
    "stages": worker_stages,
    "scan": worker_scan,
    "anchors": worker_anchors,
    "boilerplate": worker_boilerplate,
}


# =================================================================== orchestration


def run_worker(kind: str, folder: Path, config: str, *extra: str, repeat: int = 1) -> dict:
    """Run one measurement ``repeat`` times, each in a fresh interpreter; keep the
    fastest time of each stage (the least disturbed by other jobs) and the highest RSS."""
    runs = [_run_worker_once(kind, folder, config, *extra) for _ in range(repeat)]
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    best = runs[0]
    for r in runs[1:]:
        best["seconds"] = {k: min(v, r["seconds"][k]) for k, v in best["seconds"].items()}
        best["rss_mb"] = max(best["rss_mb"], r["rss_mb"])
        best["load"] += r["load"]
    best["repeats"] = repeat
    return best


def _run_worker_once(kind: str, folder: Path, config: str, *extra: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(folder), config, *extra]
    load = os.getloadavg()[0]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # One broken measurement must not lose the others: record it, report it, go on.
        error = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        print(f"worker {kind} on {folder.name}/{config} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return {"error": error, "seconds": {}, "load": [load, os.getloadavg()[0]], "rss_mb": 0.0}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = [load, os.getloadavg()[0]]  # other jobs on the 2 cores, before / after
    return result


def run_cli(args: list[str]) -> dict:
    """Run ``dedup`` as a subprocess: wall time, its own peak RSS, and a digest of its
    output (to check that ``--jobs`` and a warm cache give identical results)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen([DEDUP, *args], stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"dedup {' '.join(args)} exited {proc.returncode}: {err[-1000:]}")
        out.seek(0)
        digest = hashlib.sha256(out.read()).hexdigest()[:16]
    return {"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024, "digest": digest}


def cli_features() -> dict:
    """What ``dedup scan`` offers today: a ``--jobs`` option, a cache option."""
    text = subprocess.run([DEDUP, "scan", "--help"], capture_output=True, text=True).stdout
    cache = re.search(r"(--cache[-\w]*|--no-cache)", text)
    return {"jobs": "--jobs" in text, "cache": cache.group(1) if cache else None, "help": text}


def config_flags(config: str) -> list[str]:
    return [f for k, v in CONFIGS[config].items() for f in (f"--{k.replace('_', '-')}", str(v))]


def best_cli(args: list[str], repeat: int) -> dict:
    """The fastest of ``repeat`` CLI runs (all outputs must be identical)."""
    runs = [run_cli(args) for _ in range(repeat)]
    if len({r["digest"] for r in runs}) != 1:
        raise RuntimeError(f"dedup {' '.join(args)} gave different outputs on repeated runs")
    best = min(runs, key=lambda r: r["seconds"])
    best["rss_mb"] = max(r["rss_mb"] for r in runs)
    return best


def cli_runs(folder: Path, config: str, features: dict, repeat: int) -> dict:
    """End-to-end CLI rows: one process, two jobs, cold and warm cache (as available)."""
    base = ["scan", str(folder), "--format", "json", "--exit-zero", *config_flags(config)]
    rows = {}
    if features["cache"]:
        base += _no_cache_flags(features)
    single = base + (["--jobs", "1"] if features["jobs"] else [])
    rows["dedup scan (CLI)"] = best_cli(single, repeat)
    if features["jobs"]:
        rows["dedup scan --jobs 2 (CLI)"] = best_cli(base + ["--jobs", "2"], repeat)
        rows["dedup scan --jobs 2 (CLI)"]["identical"] = (
            rows["dedup scan --jobs 2 (CLI)"]["digest"] == rows["dedup scan (CLI)"]["digest"]
        )
    if features["cache"]:
        rows.update(_cache_runs(folder, config, features))
    return rows


def _no_cache_flags(features: dict) -> list[str]:
    return ["--no-cache"] if "--no-cache" in features["help"] else []


def _cache_runs(folder: Path, config: str, features: dict) -> dict:
    """Cold then warm scan with a fresh cache folder."""
    with tempfile.TemporaryDirectory(prefix="dedup-cache-") as cache_dir:
        option = re.search(r"(--cache-dir|--cache)\s+([A-Z]+)", features["help"])
        flags = [option.group(1), cache_dir] if option else [features["cache"]]
        jobs = ["--jobs", "1"] if features["jobs"] else []
        args = ["scan", str(folder), "--format", "json", "--exit-zero", *config_flags(config), *jobs, *flags]
        cold = run_cli(args)
        warm = run_cli(args)
    warm["identical"] = warm["digest"] == cold["digest"]
    return {"dedup scan, cold cache (CLI)": cold, "dedup scan, warm cache (CLI)": warm}


#: Repetitions per measurement (fastest kept): the small corpus is cheap to repeat.
REPEATS = {"small": 2, "full": 1}  # --small-repeats overrides the first


def code_state() -> str:
    """The commit measured, and engine files with uncommitted changes (helpers share
    one work tree, so a run may measure work in progress)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True).stdout.rstrip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "dedup").splitlines()]
    return git("rev-parse", "--short", "HEAD") + (f" + uncommitted: {', '.join(dirty)}" if dirty else "")


def measure(sizes: list[str], log: Callable[[str], None]) -> dict:
    manifests = corpus_builder.build(sizes=sizes)
    features = cli_features()
    results: dict = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        },
        "code": code_state(),
        "features": {k: v for k, v in features.items() if k != "help"},
        "sizes": {},
    }
    for size in sizes:
        folder = corpus_builder.DEFAULT_ROOT / size
        m = manifests[size]
        entry: dict = {"documents": m["documents"], "bytes": m["bytes"], "configs": {}}
        n = REPEATS[size]
        for config in CONFIGS:
            log(f"[{size}/{config}] stages")
            stages = run_worker("stages", folder, config, repeat=n)
            log(f"[{size}/{config}] library scan")
            lib = run_worker("scan", folder, config, repeat=n)
            if scan_takes_jobs():
                par = run_worker("scan", folder, config, "2", repeat=n)
                lib["seconds"].update(par["seconds"])
                lib["rss_mb_jobs2"] = par["rss_mb"]
                lib["identical_jobs2"] = par["digest"] == lib["digest"]
            log(f"[{size}/{config}] CLI")
            entry["configs"][config] = {"stages": stages, "scan": lib, "cli": cli_runs(folder, config, features, n)}
        log(f"[{size}] anchors")
        entry["anchors"] = run_worker("anchors", folder, "bench", repeat=n)
        results["sizes"][size] = entry
    small = corpus_builder.DEFAULT_ROOT / "small"
    if "small" in sizes:
        results["boilerplate"] = {}
        for kind, counts in BOILER_CASES.items():
            for copies in counts:
                log(f"[boilerplate] {kind} x{copies}")
                results["boilerplate"][f"{kind}:{copies}"] = run_worker(
                    "boilerplate", small, "default", str(copies), kind, repeat=REPEATS["small"]
                )
    return results


# ======================================================================= tables


def _rate(nbytes: float, docs: int, seconds: float) -> tuple[str, str]:
    if seconds <= 0:
        return "-", "-"
    return f"{nbytes / 1e6 / seconds:.1f}", f"{docs / seconds:,.0f}"


def render(results: dict) -> str:
    """The markdown report: stage table per config, anchors, memory, scaling, boilerplate."""
    sizes = list(results["sizes"])
    out = []
    w = out.append
    mach = results["machine"]
    w(f"Python {mach['python']}, {mach['cpus']} CPUs, {mach['platform']}; "
      f"OPENBLAS_CORETYPE={mach['OPENBLAS_CORETYPE']}.")
    if "code" in results:
        w(f"Code measured: {results['code']}.")
    loads = [x for r in _worker_results(results) for x in r.get("load", [])]
    if loads:
        w(f"1-minute load average around the measurements: {min(loads):.1f} to {max(loads):.1f} "
          f"on {mach['cpus']} CPUs (other jobs share the machine; compare ratios, not absolute times).")
    w("")
    w("Corpora: " + "; ".join(
        f"**{s}** {r['documents']:,} docs, {r['bytes'] / 1e6:.1f} MB" for s, r in results["sizes"].items()))
    w("")
    for config in CONFIGS:
        w(f"### Stages and end to end: {CONFIG_TITLES[config]}")
        w("")
        header = "| stage | " + " | ".join(f"{s}: s | {s}: MB/s | {s}: docs/s" for s in sizes) + " |"
        w(header)
        w("|" + "---|" * (1 + 3 * len(sizes)))
        first = results["sizes"][sizes[0]]["configs"][config]
        names = list(first["stages"]["seconds"]) + list(first["scan"]["seconds"]) + list(first["cli"])
        if any("error" in results["sizes"][s]["configs"][config][k] for s in sizes for k in ("stages", "scan")):
            names = [n for n in names if all(
                n in results["sizes"][s]["configs"][config]["stages"]["seconds"]
                or n in results["sizes"][s]["configs"][config]["scan"]["seconds"]
                or n in results["sizes"][s]["configs"][config]["cli"] for s in sizes)]
        for name in names:
            cells = []
            for s in sizes:
                r = results["sizes"][s]
                c = r["configs"][config]
                sec = c["stages"]["seconds"].get(name, c["scan"]["seconds"].get(name))
                if sec is None and name in c["cli"]:
                    sec = c["cli"][name]["seconds"]
                mbs, dps = _rate(r["bytes"], r["documents"], sec) if sec is not None else ("-", "-")
                cells.append(f"{sec:.2f} | {mbs} | {dps}" if sec is not None else "- | - | -")
            w(f"| {name} | " + " | ".join(cells) + " |")
        w("")
        for s in sizes:
            c = results["sizes"][s]["configs"][config]
            st = c["stages"]
            broken = [f"{k}: {c[k]['error']}" for k in ("stages", "scan") if "error" in c[k]]
            if broken:
                w(f"- {s}: measurement failed ({'; '.join(broken)}).")
                continue
            cli_notes = "; ".join(
                f"{k}: peak RSS {v['rss_mb']:.0f} MB" + (f", output identical: {v['identical']}" if "identical" in v else "")
                for k, v in c["cli"].items()
            )
            distinct = f" ({st['distinct paragraphs']:,} distinct)" if "distinct paragraphs" in st else ""
            if "identical_jobs2" in c["scan"]:
                cli_notes += (f"; library jobs=2: peak RSS {c['scan']['rss_mb_jobs2']:.0f} MB, "
                              f"output identical: {c['scan']['identical_jobs2']}")
            w(f"- {s}: {st['paragraphs']:,} paragraphs{distinct}, "
              f"{st['candidates']:,} LSH candidates, "
              f"{st['verified']:,} verified near-duplicate pairs, {st['pairs']:,} pairs reported, "
              f"{st['groups']:,} groups. Peak RSS: stages process {st['rss_mb']:.0f} MB, "
              f"library scan {c['scan']['rss_mb']:.0f} MB; {cli_notes}.")
        w("")
    w(render_anchors(results))
    w(render_memory(results))
    w(render_scaling(results))
    if "boilerplate" in results:
        w(render_boilerplate(results))
    features = results["features"]
    w("Optional engine features found in `dedup scan --help`: "
      f"--jobs: {'yes' if features['jobs'] else 'n/a: no --jobs option yet'}; "
      f"cache: {features['cache'] or 'n/a: no cache yet (incremental rescan row skipped)'}.")
    return "\n".join(out)


def _worker_results(results: dict) -> Iterator[dict]:
    for r in results["sizes"].values():
        yield r["anchors"]
        for c in r["configs"].values():
            yield c["stages"]
            yield c["scan"]
    yield from results.get("boilerplate", {}).values()


def render_anchors(results: dict) -> str:
    """Each anchor twice: hashing given shingle strings, and including building those
    strings in Python (what a user of the anchor pays; dedup's row includes its own
    tokenizing and shingling)."""
    out = ["### Signature stage vs the anchors (word 5-grams, 128 perms, same paragraphs, same run)", ""]
    failed = {s: r["anchors"]["error"] for s, r in results["sizes"].items() if "error" in r["anchors"]}
    out += [f"- {s}: anchors failed: {e}" for s, e in failed.items()]
    sizes = [s for s in results["sizes"] if s not in failed]
    if not sizes:
        return "\n".join(out + [""])
    out.append("| signer | " + " | ".join(
        f"{s}: MB/s incl. shingle strings | {s}: dedup speed-up | {s}: MB/s hashing only | {s}: dedup speed-up" for s in sizes) + " |")
    out.append("|" + "---|" * (1 + 4 * len(sizes)))
    first = results["sizes"][sizes[0]]["anchors"]["seconds"]
    for name in first:
        cells = []
        for s in sizes:
            r = results["sizes"][s]
            sec = r["anchors"]["seconds"]
            total, hashing = _anchor_times(sec, name)
            ours = sec[ANCHOR_OURS]
            cells.append(f"{r['bytes'] / 1e6 / total:.1f} | {total / ours:.2f}x | "
                         + (f"{r['bytes'] / 1e6 / hashing:.1f} | {hashing / ours:.2f}x" if hashing else "- | -"))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("")
    for s in sizes:
        a = results["sizes"][s]["anchors"]
        u = a["update_sample"]
        out.append(f"- {s}: {a['paragraphs']:,} paragraphs ({a['text_mb']:.1f} MB normalized). "
                   f"datasketch per-shingle `update` was timed on every {round(1 / u['fraction'])}th paragraph "
                   f"({u['paragraphs']:,} paragraphs, {u['fraction']:.1%} of the text, {u['seconds']:.1f} s) "
                   "and extrapolated linearly.")
    out.append("- MB/s is corpus file bytes per second in every row; all signers start from the same "
               "normalized paragraphs. Speed-up = signer time / dedup time (above 1: dedup is faster).")
    out.append("")
    return "\n".join(out)


ANCHOR_OURS = "dedup shingle + MinHash (numpy, batched)"
ANCHOR_SHINGLES = "python tokenize + n-gram strings (anchors' input)"


def _anchor_times(seconds: dict, name: str) -> tuple[float, float | None]:
    """(time including the Python shingle strings, time hashing only) of a signer row."""
    if name.startswith(("rensa", "datasketch")):
        return seconds[name] + seconds[ANCHOR_SHINGLES], seconds[name]
    return seconds[name], None


def render_memory(results: dict) -> str:
    out = ["### Memory per indexed paragraph", "", "| size | settings | signature B | all per-paragraph arrays B | shingles kept for verification B |", "|---|---|---|---|---|"]
    for s, r in results["sizes"].items():
        for config in CONFIGS:
            if "memory" not in r["configs"][config]["stages"]:
                continue
            m = r["configs"][config]["stages"]["memory"]
            out.append(f"| {s} | {CONFIG_TITLES[config]} | {m['signature']:.0f} | {m['arrays']:.0f} | {m['shingles']:.0f} |")
    out.append("")
    return "\n".join(out)


def render_scaling(results: dict) -> str:
    if not {"small", "full"} <= set(results["sizes"]):
        return ""
    small, full = results["sizes"]["small"], results["sizes"]["full"]
    size_ratio = full["bytes"] / small["bytes"]
    out = [f"### Scaling: full / small ({size_ratio:.2f}x the bytes)", "",
           "| settings | measurement | time ratio | time ratio per 10x bytes |", "|---|---|---|---|"]
    for config in CONFIGS:
        cs, cf = small["configs"][config], full["configs"][config]
        rows = {**{k: (cs["stages"]["seconds"][k], cf["stages"]["seconds"].get(k)) for k in cs["stages"]["seconds"]},
                "scan (library)": (cs["scan"]["seconds"].get("scan (library)"), cf["scan"]["seconds"].get("scan (library)")),
                **{k: (cs["cli"][k]["seconds"], cf["cli"][k]["seconds"]) for k in cs["cli"] if k in cf["cli"]}}
        for name, (a, b) in rows.items():
            if a is None or b is None:
                continue
            ratio = b / a if a > 0 else float("nan")
            out.append(f"| {CONFIG_TITLES[config]} | {name} | {ratio:.1f}x | {ratio * 10 / size_ratio:.1f}x |")
    out.append("")
    return "\n".join(out)


def render_boilerplate(results: dict) -> str:
    b = results["boilerplate"]
    if "scan" not in b["exact:0"]["seconds"]:
        return f"### Boilerplate\n\nfailed: {b['exact:0'].get('error')}\n"
    base = b["exact:0"]["seconds"]["scan"]
    out = ["### Boilerplate: small corpus + N files sharing one paragraph (library scan, defaults)", "",
           "exact: the same 50-word paragraph; templated: that paragraph with one number changed per copy; "
           "footer: a short line like a man-page footer (`Project manual pages 6.03  2023-05-17  func123(3)`) "
           "whose date and page name vary.", "",
           "| case | copies | scan s | extra s over no boilerplate | extra ms per copy | pairs |", "|---|---|---|---|---|---|"]
    for key, r in b.items():
        kind, copies = key.split(":")
        if "error" in r:
            out.append(f"| {kind} | {int(copies):,} | failed: {r['error']} | - | - | - |")
            continue
        sec = r["seconds"]["scan"]
        extra = sec - base
        per = f"{extra / int(copies) * 1000:.3f}" if int(copies) else "-"
        out.append(f"| {kind} | {int(copies):,} | {sec:.2f} | {extra:+.2f} | {per} | {r['pairs']:,} |")
    out.append("")
    out.append("Linear means the extra ms per copy stays flat when the copies double "
               "(quadratic pairing would double it).")
    out.append("")
    return "\n".join(out)


# ========================================================================= main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        kind, folder, config, *extra = argv[1:]
        args = [int(extra[0]), extra[1]] if kind == "boilerplate" else [int(x) for x in extra]
        print(json.dumps(WORKERS[kind](Path(folder), config, *args)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="small,full", help="comma-separated: small, full [small,full]")
    parser.add_argument("--out", type=Path, help="also write OUT.md and OUT.json")
    parser.add_argument("--from-json", type=Path, help="render a previous run's JSON instead of measuring")
    parser.add_argument("--small-repeats", type=int, default=REPEATS["small"],
                        help=f"runs per small-corpus measurement, fastest kept [{REPEATS['small']}]")
    opts = parser.parse_args(argv)
    if opts.from_json:
        results = json.loads(opts.from_json.read_text())
    else:
        REPEATS["small"] = max(1, opts.small_repeats)
        sizes = [s.strip() for s in opts.sizes.split(",") if s.strip()]
        unknown = set(sizes) - set(corpus_builder.SIZES)
        if unknown:
            parser.error(f"unknown size(s): {', '.join(sorted(unknown))}")
        try:
            results = measure(sizes, lambda msg: print(msg, file=sys.stderr, flush=True))
        except corpus_builder.CorpusError as err:
            print(f"run: {err}", file=sys.stderr)
            return 2
    table = render(results)
    print(table)
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.with_suffix(".md").write_text(table + "\n")
        opts.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
