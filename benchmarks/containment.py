"""Recall and cost of the containment candidate stage (``dedup.containment``).

    python benchmarks/containment.py                    # small corpus, default settings
    python benchmarks/containment.py --size full --per-cell 200
    python benchmarks/containment.py --cost 3 --before /tmp/old-checkout   # + end-to-end cost

Quotes of 20-80 words are cut from real paragraphs of the benchmark corpus
(``benchmarks/corpus.py``) and embedded, at a random word position, in a text of real
words from other paragraphs that is ``k`` times as long (k = 2 ... 20); some quotes
are edited (word substitutions) so that their exact containment falls in the bands
0.8-0.9, 0.9-1.0 or is 1.0.  A pair's cell is its measured size ratio (distinct
shingles of the container over those of the quote, as the scan takes it): a quote of
symbols and numbers has fewer word 2-grams than words, a container that repeats itself
fewer distinct ones, so a "1:10" cut can be 1:13 by sets.  Column ``1:k`` holds the
pairs whose measured ratio is nearer ``k`` than the neighbouring columns' (geometric
midpoints: 1:10 is 8.9-11.0; the column of ``MAX_RATIO`` ends at it).  The pairs are scanned together with the whole corpus, so
buckets are as crowded as in a real scan.  Recall is the share of the embedded pairs
that become candidates (Jaccard bands or containment bands: every candidate is then
verified exactly, so candidate recall is the pipeline's recall); the cost is the extra
candidates and the extra seconds of the containment stage, next to the Jaccard stage.
``--containment``, ``--max-bucket`` and ``--max-ratio`` tune this table's search (and
its columns and S-curve); the other tables scan with dedup as it is, so they are
refused beside ``--reach``, ``--cost``, ``--stage`` and ``--no-recall``.

``--cost N`` also measures what containment adds to a whole scan: ``dedup scan CORPUS
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

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

RATIOS = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20)
#: What the options that tune the containment search say of their reach.
RECALL_ONLY = "(the recall table only: its candidate search, columns and S-curve)"
BINS = ((0.8, 0.9), (0.9, 1.0), (1.0, 1.01))


def make_cases(paragraphs: list[list[str]], per_cell: int, seed: int):
    """``(quote, container, ratio)`` triples: per ratio, ``per_cell`` quotes for each
    containment bin (edited so that about the bin's share of bigrams survives)."""
    rng = random.Random(seed)
    long_enough = [p for p in paragraphs if len(p) >= 20]
    pool = [w for p in paragraphs for w in p]
    cases = []
    for ratio in RATIOS:
        for lo, hi in BINS:
            for _ in range(per_cell * 2):  # edits land in a bin only roughly: make extra
                source = rng.choice(long_enough)
                q = rng.randint(20, min(80, len(source)))
                at = rng.randint(0, len(source) - q)
                quote = list(source[at : at + q])
                if lo < 1.0:
                    # one substituted word breaks up to two word bigrams
                    share = rng.uniform(1 - hi, 1 - lo)
                    for i in rng.sample(range(q), max(1, round(share * (q - 1) / 2))):
                        quote[i] = rng.choice(pool)
                start = rng.randrange(len(pool) - ratio * q)
                filler = pool[start : start + (ratio - 1) * q]
                cut = rng.randint(0, len(filler))
                container = filler[:cut] + list(source[at : at + q]) + filler[cut:]
                cases.append((" ".join(quote), " ".join(container), ratio))
    return cases


def column_edges(max_ratio: float) -> np.ndarray:
    """Where the recall table's columns (:data:`RATIOS`) meet, as size ratios
    (ascending): the geometric midpoints between neighbouring columns, except that
    the column holding ``max_ratio`` ends at it (no pair past it is searched); in the
    last column, open-ended, it changes nothing."""
    edges = np.sqrt(np.multiply(RATIOS[:-1], RATIOS[1:]))
    column = np.searchsorted(edges, max_ratio)
    if column < len(edges):
        edges[column] = max_ratio
    return edges


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="small", choices=("small", "full"))
    parser.add_argument("--per-cell", type=int, default=100)
    parser.add_argument("--containment", type=float, default=None, help=f"[Settings default] {RECALL_ONLY}")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--max-bucket", type=int, default=None, help=f"[dedup.containment.MAX_BUCKET] {RECALL_ONLY}")
    parser.add_argument("--max-ratio", type=float, default=None,
                        help=f"largest size ratio searched [dedup.containment.MAX_RATIO] {RECALL_ONLY}")
    parser.add_argument("--cost", type=int, default=0, metavar="N", help="rounds of end-to-end scans [0: none]")
    parser.add_argument("--before", type=Path, default=None, metavar="SRC", help="another dedup source tree to compare")
    parser.add_argument("--stage", type=int, default=0, metavar="N", help="rounds of in-process stage timing [0: none]")
    parser.add_argument("--reach", type=int, default=0, metavar="N",
                        help="cases per word ratio of the reach table, per level [0: none]")
    parser.add_argument("--no-recall", action="store_true", help="skip the recall table")
    parser.add_argument("--stage-once", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    tuned = [f"--{name.replace('_', '-')}" for name in ("containment", "max_bucket", "max_ratio")
             if getattr(args, name) is not None]
    if tuned and (args.no_recall or args.reach or args.cost or args.stage):
        parser.error(f"{', '.join(tuned)} {'tunes' if len(tuned) == 1 else 'tune'} the recall table only: the scans of --reach, --cost and --stage run "
                     "dedup as it is; run them without it")
    if args.max_ratio is not None and args.max_ratio < 1:
        parser.error(f"--max-ratio is a ratio of set sizes (larger / smaller), at least 1, not {args.max_ratio}")
    if args.stage_once:
        print(json.dumps(_stage_once(args.stage_once)))
        return 0
    if not args.no_recall:
        recall(args)
    if args.reach:
        reach(HERE / ".corpus" / args.size, args.reach, args.seed)
    if args.cost:
        cost(HERE / ".corpus" / args.size, args.cost, args.before)
    if args.stage:
        stage(HERE / ".corpus" / args.size, args.stage, args.before)
    return 0


def recall(args) -> None:
    """The recall table (see the module doc)."""

    from dedup import Settings
    from dedup import containment as ct
    from dedup.corpus import sign_documents
    from dedup.lsh import ALL_PAIRS_BUCKET, band_keys, bucket_pairs
    from dedup.normalize import normalize
    from dedup.readers import Document
    from dedup.scan import read_paths
    from dedup.sources import Selection
    from dedup.readers import ReadOptions
    from dedup.split import split_paragraphs
    from dedup.segments import unique_sets
    from dedup.verify import score_pairs

    if args.max_bucket is not None:  # read by buckets.bucket_pairs when called
        ct.buckets.MAX_BUCKET = ct.MAX_BUCKET = args.max_bucket
    max_ratio = ct.MAX_RATIO if args.max_ratio is None else args.max_ratio
    folder = HERE / ".corpus" / args.size
    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: build it with python benchmarks/corpus.py")
    settings = Settings() if args.containment is None else Settings(containment=args.containment)
    docs = [d for d in read_paths([Path(folder)], Selection(), ReadOptions()) if hasattr(d, "text")]
    paragraphs = [normalize(d.text[s:e]).split() for d in docs for s, e in split_paragraphs(d.text)]
    cases = make_cases(paragraphs, args.per_cell, args.seed)
    texts = [" ".join(p) for p in paragraphs if len(p) >= settings.min_tokens]
    base = len(texts)
    for quote, container, _ in cases:
        texts += [quote, container]
    signed = sign_documents([Document(f"t{i}", t) for i, t in enumerate(texts)], settings)
    # As a scan sees them: one item per distinct text.
    _, first = np.unique(signed.para_key, return_index=True)
    first.sort()
    table = unique_sets(signed.shingles.hashes, signed.shingles.offsets)
    sigs, sizes = signed.signatures[first], table.sizes()[first]  # set sizes, as the scan takes them
    t0 = time.perf_counter()
    n = len(first)
    # Buckets whole up to 256, as before the scan's default star bound of 16 (280995d):
    # the Jaccard candidates the session-15 tables compare containment with.
    jac = bucket_pairs(band_keys(sigs, settings.bands, settings.rows).ravel(), np.repeat(np.arange(n), settings.bands),
                       star_above=ALL_PAIRS_BUCKET)
    t_jac = time.perf_counter() - t0
    t0 = time.perf_counter()
    con = ct.candidate_pairs(sigs, sizes, settings.containment, covered=(settings.bands, settings.rows),
                             max_ratio=max_ratio)
    t_con = time.perf_counter() - t0
    found = set((np.minimum(jac[:, 0], jac[:, 1]) * n + np.maximum(jac[:, 0], jac[:, 1])).tolist())
    found |= set((con[:, 0] * n + con[:, 1]).tolist())
    position = {int(p): i for i, p in enumerate(first.tolist())}
    pairs = []
    for k, (_, _, ratio) in enumerate(cases):
        a, b = base + 2 * k, base + 2 * k + 1
        if a in position and b in position:
            pairs.append((position[a], position[b], ratio))
    arr = np.array([(a, b) for a, b, _ in pairs], dtype=np.int64)
    scores = score_pairs(table, first[arr])
    measured = np.searchsorted(column_edges(max_ratio), sizes[arr[:, 1]] / sizes[arr[:, 0]])
    cells: dict = {}
    for (a, b, _), column, c in zip(pairs, measured.tolist(), scores.containment_a):
        ratio = RATIOS[column]
        for lo, hi in BINS:
            if lo <= c < hi:
                cell = cells.setdefault((ratio, lo), [0, 0])
                if cell[1] < args.per_cell:
                    cell[1] += 1
                    cell[0] += (min(a, b) * n + max(a, b)) in found
    print(f"corpus {args.size}: {base:,} paragraphs + {len(cases):,} quote pairs, {n:,} distinct texts; "
          f"containment {settings.containment}, max ratio {max_ratio}, target {ct.TARGET}, "
          f"bucket cap {ct.MAX_BUCKET}")
    print(f"Jaccard bands: {len(jac):,} candidates in {t_jac:.2f} s; containment bands: "
          f"{len(con):,} candidates in {t_con:.2f} s\n")
    print("| containment | " + " | ".join(f"1:{r}" for r in RATIOS) + " |")
    print("|---" * (len(RATIOS) + 1) + "|")
    for lo, hi in BINS:
        label = "1.0" if lo == 1.0 else f"{lo:.1f}-{hi:.1f}"
        row = []
        for r in RATIOS:
            hit, total = cells.get((r, lo), [0, 0])
            row.append(f"{hit / total:.3f} ({total})" if total else "-")
        print(f"| {label} | " + " | ".join(row) + " |")
    # What the S-curve promises at each column's ratio (no crowded buckets): the chance
    # that the containment positions searched and the Jaccard bands both miss the pair.
    for c in (0.8, 0.9, 1.0):
        ratio = np.array(RATIOS, dtype=float)
        searched = ct.depth(settings.containment, ratio, ct.TARGET, (settings.bands, settings.rows))
        caught = 1 - ct.joint_miss(ct.min_jaccard(c, ratio), np.where(ratio <= max_ratio, searched, 0),
                                   settings.bands, settings.rows)
        print(f"| S-curve at {c} | " + " | ".join(f"{p:.4f}" for p in caught) + " |")
    pooled = [cells.get((r, lo), [0, 0]) for r in RATIOS if r <= 10 for lo, _ in BINS if lo >= 0.9]
    print(f"\nContainment >= 0.9 up to 1:10, pooled: {sum(h for h, _ in pooled)} of {sum(t for _, t in pooled)} "
          f"found ({sum(h for h, _ in pooled) / max(sum(t for _, t in pooled), 1):.3f})")


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
            out = subprocess.run([sys.executable, __file__, "--stage-once", str(folder)], env=env, check=True,
                                 capture_output=True, text=True, cwd=folder).stdout
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


def _stage_once(folder: Path) -> dict:
    """One in-process scan with the stage's parts timed (CPU of this process)."""
    import functools
    import time

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


if __name__ == "__main__":
    sys.exit(main())
