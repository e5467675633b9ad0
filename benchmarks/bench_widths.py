"""Shingle width per script, measured: Jaccard of a paragraph and its edited copy, by
edit level, next to the Jaccard of unrelated paragraphs of the same language.

    python benchmarks/bench_widths.py --thai thai.txt [--eval-dev ../shared/eval-dev]

Why: dedup cuts scripts written without spaces into one token per grapheme and gives
their shingles a width of their own (:func:`dedup.tokenize.shingle_widths`: Han/kana
``round(1.5 n)``, Thai/Lao/Khmer/Myanmar ``round(2.5 n)``).  A width is right when a
copy with the edits a reader still calls a copy keeps a Jaccard well above the
threshold (0.3), while unrelated text of the language stays well below it.  Edits are
counted in the units a reader sees there (as the eval sets count them): graphemes in
scripts without spaces, words elsewhere.  Each edit substitutes, deletes or inserts
one unit (a random unit of the same language), at 5, 10, 20 and 35 % of the units.

Inputs: paragraphs of the eval set ``multilingual-dev`` per language (one per line,
language from its ``truth.json``; only the unedited originals are used: the first
paragraphs of each article), and for Thai a UTF-8 file of real running prose, one
paragraph per blank-line-separated block (``--thai``; no Thai set ships with dedup).
Shingles are the token n-grams dedup makes (its tokenizer, per-kind widths), compared
as exact sets.  Nothing is asserted; it prints a markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
from pathlib import Path

LEVELS = (0.05, 0.10, 0.20, 0.35)


def units(text: str) -> tuple[list[str], list[int]]:
    """dedup's tokens of a paragraph and their kinds (``dedup.tokenize.KIND_*``)."""
    from dedup.normalize import normalize
    from dedup.tokenize import token_spans

    spans = token_spans([normalize(text)])
    return [t.decode("utf-8", "surrogatepass") for t in spans.tokens()], spans.kinds.tolist()


def shingles(tokens: list[str], kinds: list[int], widths: dict[int, int]) -> set:
    """The token n-grams starting at each token, ``widths[kind]`` tokens long (the
    last ones shorter than their width are left out, as dedup does)."""
    out = set()
    for k, kind in enumerate(kinds):
        w = widths[kind]
        if k + w <= len(tokens):
            out.add(tuple(tokens[k : k + w]))
    return out or {tuple(tokens)}


def edit(rng: random.Random, tokens: list[str], kinds: list[int], rate: float, pool: list[tuple[str, int]]):
    """A copy with ``round(rate * len)`` unit edits (substitute, delete, insert)."""
    toks, knds = list(tokens), list(kinds)
    for _ in range(max(1, round(rate * len(tokens)))):
        op = rng.choice("sdi")
        at = rng.randrange(len(toks))
        if op == "s":
            toks[at], knds[at] = rng.choice(pool)
        elif op == "d" and len(toks) > 1:
            del toks[at], knds[at]
        else:
            tok, kind = rng.choice(pool)
            toks.insert(at, tok)
            knds.insert(at, kind)
    return toks, knds


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def measure(paragraphs: list[str], widths: dict[int, int], rng: random.Random, copies: int) -> dict:
    """Per edit level the 5th percentile and mean Jaccard of edited copies; the 99th
    percentile and maximum Jaccard of unrelated pairs."""
    parsed = [units(p) for p in paragraphs]
    pool = [(t, k) for toks, kinds in parsed for t, k in zip(toks, kinds)]
    sets = [shingles(t, k, widths) for t, k in parsed]
    out = {}
    for rate in LEVELS:
        js = sorted(jaccard(s, shingles(*edit(rng, t, k, rate, pool), widths))
                    for (t, k), s in zip(parsed, sets) for _ in range(copies))
        out[rate] = (js[len(js) // 20], statistics.fmean(js))
    chance = sorted(jaccard(a, b) for a, b in itertools.combinations(sets, 2))
    out["chance"] = (chance[min(len(chance) - 1, int(0.99 * len(chance)))], chance[-1], len(chance))
    return out


def eval_dev_paragraphs(folder: Path, language: str, limit: int, min_units: int) -> list[str]:
    """Original paragraphs of ``language`` in multilingual-dev (no injected copy, no
    hard negative): the first two of every article with at least ``min_units`` tokens."""
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    touched = {tuple(e[side]) for key in ("injected", "hard_negatives") for e in truth[key] for side in "ab"}
    out = []
    for name, meta in sorted(truth["docs"].items()):
        if meta["language"] != language:
            continue
        paragraphs = (folder / "docs" / name).read_text(encoding="utf-8").split("\n\n")
        picked = [p for i, p in enumerate(paragraphs) if (name, i) not in touched and len(units(p)[0]) >= min_units]
        out += [p.strip() for p in picked[:2]]
        if len(out) >= limit:
            break
    return out[:limit]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thai", type=Path, required=True, help="real Thai prose, blank-line-separated paragraphs")
    parser.add_argument("--eval-dev", type=Path, default=Path("/work/shared/eval-dev"))
    parser.add_argument("--paragraphs", type=int, default=40)
    parser.add_argument("--copies", type=int, default=20, help="edited copies per paragraph and level")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    from dedup.tokenize import KIND_COMPLEX, KIND_IDEOGRAPHIC, KIND_WORD

    rng = random.Random(args.seed)
    thai = [p.strip() for p in args.thai.read_text(encoding="utf-8").split("\n\n") if len(units(p)[0]) >= 40]
    ml = args.eval_dev / "multilingual-dev"
    rows = [(f"Thai ({len(thai)} paragraphs)", thai, KIND_COMPLEX, (2, 3, 4, 5, 6))]
    for lang, kind, ws in (("ja", KIND_IDEOGRAPHIC, (2, 3)), ("zh-cn", KIND_IDEOGRAPHIC, (2, 3)),
                           ("ru", KIND_WORD, (2,)), ("de", KIND_WORD, (2,))):
        rows.append((lang, eval_dev_paragraphs(ml, lang, args.paragraphs, 40 if kind else 15), kind, ws))
    print("| text | unit | width | " + " | ".join(f"{int(r * 100)} %: P5 / mean" for r in LEVELS)
          + " | unrelated: P99 / max (pairs) |")
    print("|---" * (len(LEVELS) + 4) + "|")
    for label, paragraphs, kind, ws in rows:
        unit = "word" if kind == KIND_WORD else "grapheme"
        for w in ws:
            widths = {KIND_WORD: 2, KIND_IDEOGRAPHIC: 3, KIND_COMPLEX: 5, kind: w}
            m = measure(paragraphs, widths, rng, args.copies)
            cells = " | ".join(f"{m[r][0]:.2f} / {m[r][1]:.2f}" for r in LEVELS)
            p99, top, pairs = m["chance"]
            print(f"| {label} | {unit} | {w} | {cells} | {p99:.2f} / {top:.2f} ({pairs}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
