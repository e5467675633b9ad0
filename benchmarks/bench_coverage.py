"""When is a short text "contained" in a longer one: share of its shingles, or share of
its tokens that lie inside?  Measured on edited quotes and on the hard negatives.

    python benchmarks/bench_coverage.py [--eval-dev ../shared/eval-dev] [--report SET=REPORT.json ...]

Why: dedup reports a pair as ``contained`` when the smaller text's shingle set is at
least ``containment`` (0.7) inside the larger one's.  A shingle spans several tokens
(2 words, 3 graphemes of Chinese/Japanese/Thai), so one edited token breaks several
shingles, and how many depends on the width: a quote with 10 % of its units edited keeps
~0.86 of its word 2-grams but ~0.73 of its grapheme 3-grams.  A phrase shared by two
unrelated paragraphs is the opposite case: the short side's shingles are either all in
the phrase or all out of it.  *Coverage* -- the share of the short text's tokens that
lie in at least one of its shingles found in the long text -- counts what a reader
counts (how much of the text is inside) and does not depend on the width: an edited
token leaves its neighbours covered by their other shingles.

What it measures (nothing is asserted; it prints markdown tables):

* **Edited quotes**: a paragraph of multilingual-dev with 5/10/20 % of its units
  edited (one substitution, deletion or insertion per edit, as ``bench_widths.py``)
  and put inside another paragraph of its language; per language, the 5th percentile
  and mean of shingle containment and of coverage, and the share that reaches
  containment 0.7 and coverage 0.8.
* **Hard negatives**: multilingual-dev's 80 pairs of unrelated paragraphs sharing one
  8-12-word phrase (ref < 0.45): how many reach containment 0.7 / coverage 0.8.
* ``--report SET=FILE``: the ``contained`` paragraph pairs of a saved ``dedup scan
  --format json`` report of an eval-dev set, judged by that set's ``score.py`` (correct:
  ref >= 0.5 or 80 % of the characters inside; pairs touching a paragraph of < 10 units
  are not judged), and how many of each kind have coverage under 0.8.
* ``--near SET=FILE``: the near-duplicate (not exact, not contained) paragraph pairs
  of a saved report, by the set's judgement (injected rewrites by edit level,
  positives ref >= 0.8, gray, false, unjudged), with their *two-sided* coverage (the
  lesser of each side's coverage by the other): its minimum, 5th percentile and
  median per class, and what a floor on it (a near-duplicate must have both sides
  covered) would drop.  Session 14 asked whether such a floor tells a rewrite from two
  texts that share one phrase without costing recall (benchmarks/README-containment.md).

Shingles are dedup's token n-grams (its tokenizer, its per-kind widths), compared as
exact sets of token tuples.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_widths import edit, eval_dev_paragraphs, units  # noqa: E402

LEVELS = (0.05, 0.10, 0.20)


def containment_and_coverage(short: tuple[list[str], list[int]], long: tuple[list[str], list[int]],
                             widths: dict[int, int]) -> tuple[float, float]:
    """Share of ``short``'s shingles in ``long``'s set, and share of ``short``'s tokens
    inside at least one such shingle."""
    (tokens, kinds), (ltokens, lkinds) = short, long
    windows = [(k, widths[kind]) for k, kind in enumerate(kinds) if k + widths[kind] <= len(tokens)]
    if not windows:
        return 0.0, 0.0
    inside = {tuple(ltokens[k : k + widths[kind]]) for k, kind in enumerate(lkinds) if k + widths[kind] <= len(ltokens)}
    own = {tuple(tokens[k : k + w]) for k, w in windows}
    covered = [False] * len(tokens)
    for k, w in windows:
        if tuple(tokens[k : k + w]) in inside:
            covered[k : k + w] = [True] * w
    return len(own & inside) / len(own), sum(covered) / len(tokens)


def quotes(ml: Path, language: str, rng: random.Random, widths: dict[int, int], n: int, min_units: int) -> dict:
    paragraphs = [units(p) for p in eval_dev_paragraphs(ml, language, n, min_units)]
    pool = [(t, k) for toks, kinds in paragraphs for t, k in zip(toks, kinds)]
    out = {}
    for rate in LEVELS:
        rows = []
        for i, quote in enumerate(paragraphs):
            host = paragraphs[(i + 1 + rng.randrange(len(paragraphs) - 1)) % len(paragraphs)]
            toks, kinds = edit(rng, *quote, rate, pool)
            at = rng.randrange(len(host[0]) + 1)
            joined = (host[0][:at] + toks + host[0][at:], host[1][:at] + kinds + host[1][at:])
            rows.append(containment_and_coverage(quote, joined, widths))
        cont, cov = zip(*rows)
        out[rate] = (sorted(cont)[len(cont) // 20], statistics.fmean(cont), sum(c >= 0.7 for c in cont) / len(cont),
                     sorted(cov)[len(cov) // 20], statistics.fmean(cov), sum(c >= 0.8 for c in cov) / len(cov))
    return out


def paragraph(folder: Path, name: str, index: int) -> str:
    return (folder / "docs" / name).read_text(encoding="utf-8").split("\n\n")[index].strip()


def judged_contained(eval_dev: Path, set_name: str, report: Path, widths: dict[int, int]) -> dict:
    sys.path.insert(0, str(eval_dev))
    import score  # the eval sets' own scorer: its truth, its judgement

    folder = eval_dev / set_name
    truth = score.Truth(str(folder))
    counts = {"correct": 0, "false": 0, "correct_under_0.8": 0, "false_under_0.8": 0, "unjudged": 0}
    for p in json.loads(report.read_text(encoding="utf-8"))["pairs"]:
        if p["kind"] != "paragraph" or p.get("relation") != "contained":
            continue
        a, b = ((Path(p[s]["path"]).name, p[s]["paragraph"]) for s in "ab")
        texts = {s: paragraph(folder, *key) for s, key in (("a", a), ("b", b))}
        if min(score.n_units(score.normalize(t)) for t in texts.values()) < 10:
            counts["unjudged"] += 1
            continue
        inside = p["inside"]
        _, cov = containment_and_coverage(units(texts[inside]), units(texts["b" if inside == "a" else "a"]), widths)
        key = score.pkey(a, b)
        ref = truth.pair_ref("paragraph", key)
        kind = "correct" if (ref is not None and ref >= truth.store_min) or score.contained(truth, key) else "false"
        counts[kind] += 1
        counts[f"{kind}_under_0.8"] += cov < 0.8
    return counts


#: Two-sided coverage floors whose cost ``--near`` prints.
FLOORS = (0.45, 0.5, 0.55, 0.6, 0.65)


def two_sided(eval_dev: Path, set_name: str, report: Path, widths: dict[int, int]) -> None:
    """Print the ``--near`` tables (see the module doc) for one saved report."""
    sys.path.insert(0, str(eval_dev))
    import score

    folder = eval_dev / set_name
    truth = score.Truth(str(folder))
    level = {k: ("exact" if d["kind"] == "exact" else f"injected {d['level']:.2f}") for k, d in truth.injected}
    rows = []
    for p in json.loads(report.read_text(encoding="utf-8"))["pairs"]:
        if p["kind"] != "paragraph" or p.get("relation") != "near-duplicate" or p["exact"]:
            continue
        a, b = ((Path(p[s]["path"]).name, p[s]["paragraph"]) for s in "ab")
        key = score.pkey(a, b)
        texts = [units(paragraph(folder, *side)) for side in (a, b)]
        ref = truth.pair_ref("paragraph", key)
        if key in level:
            kind = level[key]
        elif min(truth.words[side[0]][side[1]] for side in (a, b)) < truth.min_words:
            kind = "unjudged"
        elif ref is not None and ref >= truth.pos_min:
            kind = "positive"
        elif key in truth.always_ok["paragraph"] or (ref is not None and ref >= truth.store_min):
            kind = "gray"
        else:
            kind = "false"
        cover = min(containment_and_coverage(texts[0], texts[1], widths)[1],
                    containment_and_coverage(texts[1], texts[0], widths)[1])
        rows.append((kind, cover))
    kinds = sorted({k for k, _ in rows})
    print(f"\n{set_name}: {len(rows)} near-duplicate paragraph pairs reported, two-sided coverage\n")
    print("| class | n | min | P5 | median | " + " | ".join(f"dropped at {f}" for f in FLOORS) + " |")
    print("|---" * (5 + len(FLOORS)) + "|")
    for kind in kinds:
        v = sorted(c for k, c in rows if k == kind)
        print(f"| {kind} | {len(v)} | {v[0]:.3f} | {v[len(v) // 20]:.3f} | {statistics.median(v):.3f} | "
              + " | ".join(str(sum(c < f for c in v)) for f in FLOORS) + " |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dev", type=Path, default=Path("/work/shared/eval-dev"))
    parser.add_argument("--paragraphs", type=int, default=60, help="quotes per language and level")
    parser.add_argument("--report", action="append", default=[], help="SET=saved report.json (repeatable)")
    parser.add_argument("--near", action="append", default=[], help="SET=saved report.json (repeatable)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    from dedup.tokenize import shingle_widths

    widths = dict(enumerate(shingle_widths(2).tolist()))
    for spec in args.near:
        set_name, _, path = spec.partition("=")
        two_sided(args.eval_dev, set_name, Path(path), widths)
    if args.near and not args.report:
        return 0
    rng = random.Random(args.seed)
    ml = args.eval_dev / "multilingual-dev"
    truth = json.loads((ml / "truth.json").read_text(encoding="utf-8"))

    print("| language | edits | containment P5 / mean | >= 0.7 | coverage P5 / mean | >= 0.8 |")
    print("|---|---|---|---|---|---|")
    for language in truth["languages"]:
        cjk = language in ("ja", "zh-cn", "zh-tw")
        m = quotes(ml, language, rng, widths, args.paragraphs, 30 if cjk else 15)
        for rate, (c5, cm, c7, v5, vm, v8) in m.items():
            print(f"| {language} | {int(rate * 100)} % | {c5:.2f} / {cm:.2f} | {c7:.2f} | {v5:.2f} / {vm:.2f} | {v8:.2f} |")

    rows = []
    for h in truth["hard_negatives"]:
        a, b = (units(paragraph(ml, *h[s])) for s in "ab")
        short, long = (a, b) if len(a[0]) <= len(b[0]) else (b, a)
        rows.append((*containment_and_coverage(short, long, widths), h["language"]))
    rows.sort(reverse=True)
    print(f"\nhard negatives: {len(rows)}; containment >= 0.7: {sum(r[0] >= 0.7 for r in rows)}, "
          f"coverage >= 0.8: {sum(r[1] >= 0.8 for r in rows)}; highest (containment, coverage, language): "
          + ", ".join(f"({c:.2f}, {v:.2f}, {lang})" for c, v, lang in rows[:4]))

    for spec in args.report:
        set_name, _, path = spec.partition("=")
        print(f"\n{set_name} contained pairs: {judged_contained(args.eval_dev, set_name, Path(path), widths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
