"""The tables of ``benchmarks/containment.py`` that run whole scans: the end-to-end
cost, the reach per word ratio and the stage's own time (split from it in session 24;
run them through it, ``python benchmarks/containment.py --cost 3`` ...).

``--cost N`` measures what containment adds to a whole scan: ``dedup scan CORPUS
--format json -o TMP/report.json --no-cache -j 1`` with ``--containment off`` and at the
default, ``N`` rounds interleaved (off, on, off, on, ...), CPU seconds (user + system
of the scan process and its children, from ``wait4``) and wall seconds, the median per
setting, with the spread: each round's "on" against the "off" just before it (min /
median / max; the median of these per-round ratios is the figure to quote, it is the
least moved by the load drifting between rounds).
``--before SRC`` runs the same rounds, interleaved with ours, with another source tree
of dedup first on ``PYTHONPATH`` (e.g. ``git archive main | tar -x -C SRC``), so a
change is measured before/after in one run on a shared machine.
``--reach N`` prints how far apart in length a quote and its text may be for the scan to
report them, per level, ``N`` cases per word ratio 1:2 ... 1:30 (see :func:`reach`).
``--stage N`` measures the stage itself, as issue #11 puts its cost ("the extra
candidate stage must cost <= 25 % end to end"): ``N`` in-process scans of the same
corpus (``-j 1``, so every stage runs in the measuring process) with containment on,
the CPU time (``time.process_time``) of the stage's parts -- its bucket rows
(``plan.band._containment_rows``), reading them back, the pairing
(``containment.bucket_pairs``) and the prefilter (``plan.candidates._plausible``) --
against the rest of the same scan: one run gives the ratio, whatever the machine's
load does to the next run.  ``--before SRC`` interleaves the same with another tree.
Nothing is asserted; it measures and prints markdown tables.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

REACH = (2, 3, 5, 8, 10, 11, 12, 13, 15, 20, 30)


def reach(folder: Path, per: int, seed: int) -> None:
    """The reach table: how far apart in length a quote and the text holding it may be
    for ``dedup scan`` to report the pair, per level, by word ratio (what a user
    counts; the search stops at a ratio of *set sizes*, ``MAX_RATIO``).  Per ratio
    ``1:k``, ``per`` quotes of 20-80 words cut verbatim from the corpus's paragraphs of
    words, each in a text of ``k`` times its words (real words of other paragraphs
    around it): at the document level a document of paragraphs of 40-80 words with
    the quote its own paragraph among them, at the paragraph level one paragraph
    holding the quote.  Each level's cases are one scan (``--level``), the quote
    beside its container; a case is found when the two are a pair of that level (``(n
    c.)``: how many of them with ``relation`` ``contained``, when not all -- at 1:2 a
    quote is half its text, a near-duplicate)."""
    from dedup.readers import ReadOptions
    from dedup.scan import read_paths
    from dedup.sources import Selection
    from dedup.split import split_paragraphs

    rng = random.Random(seed)
    docs = [d for d in read_paths([folder], Selection(), ReadOptions()) if hasattr(d, "text")]
    paragraphs = [d.text[a:b].split() for d in docs for a, b in split_paragraphs(d.text)]
    paragraphs = [p for p in paragraphs if len(p) >= 20 and sum(w.isalpha() for w in p) > 0.8 * len(p)]

    def words(n: int) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            out += rng.choice(paragraphs)
        return out[:n]

    def cut(ws: list[str]) -> list[str]:  # paragraphs of 40-80 words
        out, at = [], 0
        while at < len(ws):
            n = rng.randint(40, 80)
            out.append(" ".join(ws[at : at + n]))
            at += n
        return out

    found: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for level in ("document", "paragraph"):
            cases = Path(tmp, level)
            cases.mkdir()
            for k in REACH:
                for i in range(per):
                    source = rng.choice(paragraphs)
                    q = rng.randint(20, min(80, len(source)))
                    at = rng.randint(0, len(source) - q)
                    quote, rest = source[at : at + q], words((k - 1) * q)
                    c = rng.randint(0, len(rest))
                    body = ("\n\n".join(cut(rest[:c]) + [" ".join(quote)] + cut(rest[c:])) if level == "document"
                            else " ".join(rest[:c] + quote + rest[c:]))
                    Path(cases, f"q{k}_{i}.txt").write_text(" ".join(quote) + "\n")
                    Path(cases, f"c{k}_{i}.txt").write_text(body + "\n")
            report = Path(tmp, f"{level}.json")
            subprocess.run([sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())", "scan",
                            str(cases), "--format", "json", "-o", str(report), "--no-cache", "--level", level],
                           stdout=subprocess.DEVNULL, cwd=tmp)
            relation = {}
            for pair in json.loads(report.read_text())["pairs"]:
                a, b = Path(pair["a"]["path"]).stem, Path(pair["b"]["path"]).stem
                if pair["kind"] == level and a[1:] == b[1:] and {a[0], b[0]} == {"q", "c"}:
                    relation[a[1:]] = pair["relation"]
            for k in REACH:
                got = [relation[f"{k}_{i}"] for i in range(per) if f"{k}_{i}" in relation]
                found[level, k] = (len(got), got.count("contained"))
    print(f"\nReach of `dedup scan` (containment at the default), quotes of 20-80 words found per word "
          f"ratio, {per} a cell:\n")
    print("| level | " + " | ".join(f"1:{k}" for k in REACH) + " |")
    print("|---" * (len(REACH) + 1) + "|")
    for level in ("document", "paragraph"):
        cells = [f"{n}/{per}" + (f" ({c} c.)" if c != n else "") for n, c in (found[level, k] for k in REACH)]
        print(f"| {level} | " + " | ".join(cells) + " |")


def cost(folder: Path, rounds: int, before: Path | None) -> None:
    """The end-to-end cost table (see the module doc): CPU (user + system of the scan
    and its children) and wall seconds, medians per setting, and each round's on
    against the off run just before it (min / median / max of those ratios)."""
    trees = [("this tree", None)] + ([("before", before.resolve())] if before else [])
    settings = (("off", ["--containment", "off"]), ("on", []))
    runs: dict = {}
    for _ in range(rounds):
        for label, src in trees:
            for name, extra in settings:
                runs.setdefault((label, name), []).append(_scan_cpu(folder, src, extra))
    load = os.getloadavg()[0]
    print(f"\nEnd to end, `dedup scan {folder.name} -j 1`, {rounds} interleaved rounds (off, on, ...), "
          f"load {load:.1f} at the end:\n")
    print("| tree | measure | containment off | containment on | added (medians) | per round: min / median / max "
          "| rounds off, on |")
    print("|---|---|---|---|---|---|---|")
    for label, _ in trees:
        for measure, at in (("CPU s", 0), ("wall s", 1)):
            offs = [r[at] for r in runs[label, "off"]]
            ons = [r[at] for r in runs[label, "on"]]
            off, on = statistics.median(offs), statistics.median(ons)
            added = sorted(100 * (b / a - 1) for a, b in zip(offs, ons))
            raw = " ".join(f"{a:.2f},{b:.2f}" for a, b in zip(offs, ons))
            print(f"| {label} | {measure} | {off:.2f} | {on:.2f} | {100 * (on / off - 1):+.0f} % | {added[0]:+.0f} / "
                  f"**{statistics.median(added):+.0f}** / {added[-1]:+.0f} % | {raw} |")


def stage(folder: Path, rounds: int, before: Path | None) -> None:
    """The in-process stage table (see the module doc)."""
    trees = [("this tree", None)] + ([("before", before.resolve())] if before else [])
    runs: dict = {}
    for _ in range(rounds):
        for label, src in trees:
            env = dict(os.environ)
            if src is not None:
                env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
            out = subprocess.run([sys.executable, str(HERE / "containment.py"), "--stage-once", str(folder)], env=env,
                                 check=True, capture_output=True, text=True, cwd=folder).stdout
            runs.setdefault(label, []).append(json.loads(out.strip().splitlines()[-1]))
    print(f"\nThe containment stage inside `dedup scan {folder.name} -j 1` (containment on), CPU seconds, "
          f"median of {rounds} interleaved rounds:\n")
    print("| tree | scan | stage | rows | read back | pairing | prefilter | stage / rest of the scan |")
    print("|---|---|---|---|---|---|---|---|")
    for label, _ in trees:
        med = {k: statistics.median(r[k] for r in runs[label]) for k in runs[label][0]}
        shares = ", ".join(f"{r['stage'] / (r['total'] - r['stage']):.3f}" for r in runs[label])
        print(f"| {label} | {med['total']:.2f} | {med['stage']:.2f} | {med['rows']:.2f} | {med['read']:.2f} | "
              f"{med['pairing']:.2f} | {med['prefilter']:.2f} | {med['stage'] / (med['total'] - med['stage']):.3f} "
              f"({shares}) |")


def stage_once(folder: Path) -> dict:
    """One in-process scan with the stage's parts timed (CPU of this process)."""
    import functools

    from dedup import containment as ct
    from dedup.cli import main
    from dedup.plan import band, candidates

    spent = {"rows": 0.0, "read": 0.0, "pairing": 0.0, "prefilter": 0.0}

    def timed(module, name, part, only=None):
        inner = getattr(module, name)

        @functools.wraps(inner)
        def wrapper(*a, **k):
            if only is not None and not only(*a, **k):
                return inner(*a, **k)
            start = time.process_time()
            try:
                return inner(*a, **k)
            finally:
                spent[part] += time.process_time() - start
        setattr(module, name, wrapper)

    timed(band, "_containment_rows", "rows")
    splits = candidates.partition_splits

    def read_timed(plan, p, kind, most):  # a generator: the reading of each containment split is timed
        rows = splits(plan, p, kind, most)
        while True:
            start = time.process_time()
            split = next(rows, None)
            if kind == "contain":
                spent["read"] += time.process_time() - start
            if split is None:
                return
            yield split

    candidates.partition_splits = read_timed
    timed(ct, "bucket_pairs", "pairing")
    timed(candidates, "_plausible", "prefilter")
    start = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:  # never -o /dev/null: a report replaces its target (tester U1)
        try:
            main(["scan", str(folder), "--format", "json", "-o", os.path.join(tmp, "report.json"), "--no-cache",
                  "-j", "1"])
        except SystemExit:
            pass
    return {"total": time.process_time() - start, "stage": sum(spent.values()), **spent}


def _scan_cpu(folder: Path, src: Path | None, extra: list[str]) -> tuple[float, float]:
    """``(CPU, wall)`` seconds of one scan of ``folder``: user + system of the scan
    process and its children (``wait4``), and the wall time from start to exit."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    with tempfile.TemporaryDirectory() as tmp:  # never -o /dev/null: a report replaces its target (tester U1)
        cmd = [sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())", "scan", str(folder),
               "--format", "json", "-o", os.path.join(tmp, "report.json"), "--no-cache", "-j", "1", *extra]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, cwd=folder)  # not a source tree
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, wall
