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

``--cost N``, ``--reach N`` and ``--stage N`` measure whole scans
(:mod:`containment_scans`, which says how); ``--before SRC`` runs their rounds with
another source tree of dedup too.
Nothing is asserted; it measures and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from containment_scans import cost, reach, stage, stage_once  # noqa: E402 (found through HERE)

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
        verb = "tunes" if len(tuned) == 1 else "tune"
        parser.error(f"{', '.join(tuned)} {verb} the recall table only: the scans of --reach, --cost and --stage "
                     "run dedup as it is; run them without it")
    if args.max_ratio is not None and args.max_ratio < 1:
        parser.error(f"--max-ratio is a ratio of set sizes (larger / smaller), at least 1, not {args.max_ratio}")
    if args.stage_once:
        print(json.dumps(stage_once(args.stage_once)))
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


if __name__ == "__main__":
    sys.exit(main())
