"""Does any general signal separate multilingual-dev's one Japanese false positive? (#10)

    python benchmarks/bench_cjk_signal.py [--set ../shared/eval-dev/multilingual-dev] [--language ja]

The pair (a238 paragraphs 12 and 14, verified Jaccard 0.300 at the threshold 0.3) shares
the phrase 「転送元ディレクトリ(ー)後スラシュ付加」文法 and nothing else.  Two general
candidates are scored here on every paragraph pair of the language (exact Jaccard of the
shingle sets; tokens from ``dedup.tokenize`` after ``dedup.normalize``):

* **katakana runs as one word** (UAX #29 rule WB13 keeps Katakana together; dedup cuts
  them per character, ``dedup/tokenize.py``): a loanword like ディレクトリー is then one
  unit, not five grapheme 3-grams.  ``katakana`` shingles 3 units throughout;
  ``katakana-w2`` shingles 2 units from a katakana word or a word of a spaced script, 3
  from a grapheme (the width a word gets, ``tokenize.shingle_widths``);
* **document-frequency weighting** (``idf``): each shingle weighs ``log(N / df)`` over
  the language's paragraphs (a TF-IDF-style Jaccard, as in weighted MinHash), so shared
  common n-grams count less.

``grapheme`` is dedup's own rule (grapheme 3-grams; words of spaced scripts are
shingled as 3-unit windows here too -- a Japanese paragraph has few of them), which
gives the pair its 0.300.  Printed per variant: injected rewrites found at the
threshold per edit level, the hard negatives' highest score, pairs at or above the
threshold by the set's class (``NEG``: ref < 0.5, the false positives), and the pair's
score beside the lowest score of the injected rewrites dedup finds today (grapheme
Jaccard >= 0.3): a variant separates the pair only if the pair is below that.  It asserts
nothing; results are in benchmarks/README-containment.md (session 15).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import math
import sys
from pathlib import Path

import regex

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dedup.normalize import normalize  # noqa: E402
from dedup.tokenize import tokenize  # noqa: E402

KATAKANA = regex.compile(r"^[\p{Script=Katakana}\u30FC]+$")
GRAPHEME = regex.compile(r"^[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]")
THRESHOLD = 0.3


def units(text: str, katakana_words: bool) -> list[str]:
    """dedup's tokens of ``text``; with ``katakana_words``, adjacent katakana graphemes
    (and the prolonged-sound mark) joined into one word."""
    out: list[str] = []
    for token in tokenize(normalize(text)):
        if katakana_words and out and KATAKANA.match(token) and KATAKANA.match(out[-1]):
            out[-1] += token
        else:
            out.append(token)
    return out


def shingles(text: str, variant: str) -> frozenset:
    u = units(text, variant.startswith("katakana"))
    if variant == "katakana-w2":
        width = [2 if (KATAKANA.match(x) and len(x) > 1) or not GRAPHEME.match(x) else 3 for x in u]
    else:
        width = [3] * len(u)
    found = {tuple(u[i : i + w]) for i, w in enumerate(width) if i + w <= len(u)}
    return frozenset(found or {tuple(u)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval-dev"
                        / "multilingual-dev")
    parser.add_argument("--language", default="ja")
    args = parser.parse_args()
    truth = json.loads((args.set / "truth.json").read_text(encoding="utf-8"))
    lang = {fn: d["language"] for fn, d in truth["docs"].items()}
    text = {(fn, i): p for fn in lang if lang[fn] == args.language
            for i, p in enumerate((args.set / "docs" / fn).read_text(encoding="utf-8").split("\n\n"))}
    ref: dict = {}
    for fa, pa, fb, pb, r in truth["paragraph_pairs"]:
        ref[frozenset([(fa, pa), (fb, pb)])] = r
    injected = [d for d in truth["injected"] if d["language"] == args.language]
    injected_pairs = {frozenset([tuple(d["a"]), tuple(d["b"])]) for d in injected}
    negatives = [d for d in truth["hard_negatives"] if d["language"] == args.language]
    keys = sorted(text)
    grapheme_sets = {k: shingles(text[k], "grapheme") for k in keys}
    df = collections.Counter(s for k in keys for s in grapheme_sets[k])

    def weight(s: frozenset) -> float:
        return sum(math.log(len(keys) / df[x]) for x in s)

    print(f"{args.language}: {len(keys)} paragraphs, {len(injected)} injected, {len(negatives)} hard negatives\n")
    print("| variant | " + " | ".join(f"found {lv}" for lv in ("0.05", "0.1", "0.2", "0.35"))
          + " | hard negatives max | NEG >= 0.3 | gray >= 0.3 | the pair | lowest of the rewrites found today |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for variant in ("grapheme", "katakana", "katakana-w2", "idf"):
        sets = grapheme_sets if variant == "idf" else {k: shingles(text[k], variant) for k in keys}

        def score(a, b, sets=sets, variant=variant) -> float:
            sa, sb = sets[a], sets[b]
            if variant == "idf":
                return weight(sa & sb) / weight(sa | sb)
            return len(sa & sb) / len(sa | sb)

        found = collections.Counter()
        total = collections.Counter()
        today = [score(tuple(d["a"]), tuple(d["b"])) for d in injected if d["kind"] != "exact"
                 and len(grapheme_sets[tuple(d["a"])] & grapheme_sets[tuple(d["b"])])
                 >= THRESHOLD * len(grapheme_sets[tuple(d["a"])] | grapheme_sets[tuple(d["b"])])]
        for d in injected:
            if d["kind"] == "exact":
                continue
            total[d["level"]] += 1
            found[d["level"]] += score(tuple(d["a"]), tuple(d["b"])) >= THRESHOLD
        classes = collections.Counter()
        for a, b in itertools.combinations(keys, 2):
            if score(a, b) >= THRESHOLD and frozenset([a, b]) not in injected_pairs:
                r = ref.get(frozenset([a, b]), 0.0)
                classes["NEG" if r < 0.5 else "gray" if r < 0.8 else "pos"] += 1
        hard = max((score(tuple(d["a"]), tuple(d["b"])) for d in negatives), default=0.0)
        pair = score(("a238.txt", 12), ("a238.txt", 14)) if ("a238.txt", 12) in text else float("nan")
        print(f"| {variant} | " + " | ".join(f"{found[lv]}/{total[lv]}" for lv in (0.05, 0.1, 0.2, 0.35))
              + f" | {hard:.3f} | {classes['NEG']} | {classes['gray']} | {pair:.3f} | {min(today):.3f} |")
    if ("a238.txt", 12) in text:
        a, b = grapheme_sets[("a238.txt", 12)], grapheme_sets[("a238.txt", 14)]
        shared = sorted(("".join(s), df[s]) for s in a & b)
        print(f"\nThe pair's {len(a & b)} shared grapheme 3-grams (paragraphs of {len(keys)} holding each): "
              + ", ".join(f"{s} {n}" for s, n in shared))


if __name__ == "__main__":
    main()
