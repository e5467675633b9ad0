"""How many stored paragraphs a paragraph meets in its LSH buckets, per band layout, as
the number of stored paragraphs grows.

    python benchmarks/bench_band_sharing.py [--corpus benchmarks/.corpus/full] [--paragraphs 120000]

Why: a layout with fewer rows catches pairs near the threshold more often, and also
pairs that share only a common 2-gram (J ~ 0.005-0.05): those share a band with
p ~ ``bands * J**rows``.  In an index every such stored paragraph is met by a check
(and dismissed by its sketch); in a scan it is a candidate pair.  This counts them on
real text without building an index: the band keys of the first N paragraphs of the
corpus (files in a fixed shuffled order; the benchmark corpus's edition families,
installation-guide and click, left out so that real reuse does not drown the chance
part), and per paragraph the other members of its buckets, buckets of more than 64
members skipped as the index skips them (``dedup.index``'s bucket limit).  It prints,
per N and layout, the mean / median / 99th percentile of that count, the number of
pairs that share a band, and the share of keys in over-full buckets.  Nothing is
asserted; results are in benchmarks/README-scripts.md.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from dedup import lsh, minhash
from dedup.normalize import normalize
from dedup.shingle import shingle

ROOT = Path(__file__).resolve().parent
#: The index's bucket limit: a bucket with more members is skipped unread.
BUCKET_LIMIT = 64


def paragraphs(corpus: Path, limit: int) -> list[str]:
    files = sorted(corpus.rglob("*.txt"))
    random.Random(3).shuffle(files)
    out: list[str] = []
    for path in files:
        if "installation-guide" in str(path) or "click" in str(path):
            continue
        out += [p for p in path.read_text(errors="replace").split("\n\n") if len(p.split()) >= 8]
        if len(out) >= limit:
            break
    return [normalize(p) for p in out[:limit]]


def met(signatures: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, int, float]:
    """Per paragraph, the members of its buckets besides itself (over-full buckets
    skipped); the pairs sharing a band; the share of keys in over-full buckets."""
    keys = lsh.band_keys(signatures, bands, rows).ravel()
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    size = counts[inverse]
    usable = size <= BUCKET_LIMIT
    per_paragraph = np.where(usable, size - 1, 0).reshape(len(signatures), bands).sum(axis=1)
    return per_paragraph, int((counts * (counts - 1) // 2).sum()), float((~usable).mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / ".corpus" / "full")
    parser.add_argument("--paragraphs", type=int, default=120_000)
    parser.add_argument("--layouts", default="85x3,49x2", help="bands x rows, comma separated")
    args = parser.parse_args(argv)
    start = time.process_time()
    texts = paragraphs(args.corpus, args.paragraphs)
    signatures = np.concatenate([minhash.signatures(shingle(texts[i : i + 5000], "word", 2), 256)
                                 for i in range(0, len(texts), 5000)])
    layouts = [tuple(int(x) for x in layout.split("x")) for layout in args.layouts.split(",")]
    print(f"{len(texts)} paragraphs signed in {time.process_time() - start:.1f} s CPU")
    print("| stored paragraphs | " + " | ".join(f"{b} x {r}: met mean / median / p99 | pairs sharing a band | "
                                               "keys in over-full buckets" for b, r in layouts) + " |")
    print("|---" * (1 + 3 * len(layouts)) + "|")
    for n in (len(texts) // 8, len(texts) // 4, len(texts) // 2, len(texts)):
        cells = []
        for bands, rows in layouts:
            count, pairs, full = met(signatures[:n], bands, rows)
            cells += [f"{count.mean():.1f} / {np.median(count):.0f} / {np.percentile(count, 99):.0f}",
                      f"{pairs / 1e6:.2f} M", f"{100 * full:.2f} %"]
        print(f"| {n:,} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
