"""What verifying the bucket file's page checksums costs a check (it asserts nothing;
results go in benchmarks/README-index.md, "Damage detection").

    python benchmarks/bench_checksums.py --docs 10000 [--db FILE]

Pages are verified lazily (:mod:`dedup.storage.bucketfile`): a lookup verifies the
pages it reads the first time this process reads them.  Measured here, in one run so
the ratios hold on a noisy machine: for a freshly opened index (a new ``dedup check``
process), the CPU time of its first check and the part of it spent verifying; then, over
``--samples`` further checks of new articles, the verification share of the CPU time as
the verified pages accumulate; and a full verification of the file (what ``optimize``
does before merging it).  Articles come from ``bench_index.py``'s generator.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench_index import ROOT, Markov, articles, paragraphs_from

import dedup.storage.bucketfile as bucketfile
from dedup.index import Index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--db", help="index file (default: a new temporary one)")
    parser.add_argument("--source", default=str(ROOT.parent / "shared" / "eval-dev"))
    args = parser.parse_args()
    chain = Markov(paragraphs_from(__import__("pathlib").Path(args.source)))
    db = args.db or os.path.join(tempfile.mkdtemp(), "bench.dedup")
    with Index.open(db) as idx:
        if len(idx) < args.docs:
            idx.load((f"a{i}", t) for i, t in enumerate(articles(chain, args.docs - len(idx), seed=1)))
            idx.optimize()
        info = idx.stats()["bucket_file"]
    probes = articles(chain, args.samples + 1, seed=99)

    spent = [0.0]
    real_verify = bucketfile.Pages.verify

    def timed_verify(self, pages):
        t0 = time.process_time()
        try:
            return real_verify(self, pages)
        finally:
            spent[0] += time.process_time() - t0

    bucketfile.Pages.verify = timed_verify
    with Index.open(db, readonly=True) as idx:  # a fresh process's view: nothing verified yet
        t0 = time.process_time()
        idx.check(probes[0])
        first, first_verify = time.process_time() - t0, spent[0]
        pages = idx._store._bucket_view().file.pages
        after_first = int(pages.verified.sum())
        spent[0] = 0.0
        t0 = time.process_time()
        for text in probes[1:]:
            idx.check(text)
        rest, rest_verify = time.process_time() - t0, spent[0]
        verified = int(pages.verified.sum())
        t0 = time.perf_counter()
        pages.verified[:] = False
        pages.verify_all()
        whole = time.perf_counter() - t0
    print(f"index: {args.docs} articles; bucket file {info['bytes'] / 1e6:.0f} MB, {len(pages.sums):,} pages")
    print(f"first check of a fresh process: {first * 1e3:.1f} ms CPU, of which verifying "
          f"{first_verify * 1e3:.1f} ms ({after_first:,} pages)")
    print(f"next {args.samples} checks: {rest / args.samples * 1e3:.2f} ms CPU each on average, verifying "
          f"{rest_verify / args.samples * 1e3:.3f} ms ({rest_verify / rest:.1%}); {verified:,} pages verified "
          f"({verified / len(pages.sums):.0%} of the file)")
    print(f"verifying the whole file (optimize does, before merging it): {whole:.2f} s")


if __name__ == "__main__":
    main()
