"""Benchmark signing: one ~600-word article (the index's ``check``/``add``) and batches.

    python benchmarks/bench_sign.py                 # ~1 minute
    python benchmarks/bench_sign.py --reps 500      # quicker, noisier

What it measures (CPU time of this process, ``time.process_time``; it asserts nothing):

* **one article**, signed by the index's own signing step (``Index._sign``, on an
  empty index in a temporary folder; what every ``check`` and ``add`` runs first):
  :func:`dedup.corpus.sign_documents` (split, normalize, content keys, shingle, MinHash),
  the document signature (:func:`dedup.detect.document_items`) and the band keys of
  paragraphs and document (:func:`dedup.lsh.band_keys`): p50 / p95 ms per call over
  ``--reps`` calls, each on one of 200 different articles;
* the same split into stages (split + normalize, shingle, signatures, band keys), p50 ms;
* **batches** of 10 and 100 articles through the same steps: ms per article;
* a **10k-paragraph batch** (the ``dedup scan`` case; ``benchmarks/test_micro.py``
  measures the same functions): ``shingle``, ``signatures`` and ``sign_documents`` in
  paragraphs per second, best of ``--batch-reps``.

Why CPU time: the machine is shared; wall time includes waiting for a core.  The text
is the word-bigram Markov chain of ``bench_index.py`` over the eval-dev paragraphs
(8-12 paragraphs of 40-80 words per article), generated at run time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import ROOT, Markov, articles, paragraphs_from  # noqa: E402

from dedup import Settings  # noqa: E402
from dedup.corpus import sign_documents  # noqa: E402
from dedup.index import Index  # noqa: E402
from dedup.lsh import band_keys  # noqa: E402
from dedup.minhash import signatures  # noqa: E402
from dedup.normalize import normalize  # noqa: E402
from dedup.readers import Document  # noqa: E402
from dedup.shingle import shingle  # noqa: E402
from dedup.split import split_paragraphs  # noqa: E402


def cpu_ms(call, inputs: list) -> list[float]:
    """CPU milliseconds of ``call(x)`` for each ``x`` of ``inputs``."""
    out = []
    for x in inputs:
        start = time.process_time()
        call(x)
        out.append((time.process_time() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2000, help="single-article calls per figure")
    parser.add_argument("--batch-reps", type=int, default=5, help="repetitions of the 10k-paragraph batch")
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "eval-dev")
    args = parser.parse_args()
    s = Settings()
    with tempfile.TemporaryDirectory() as folder, Index.open(Path(folder) / "bench.dedup", s) as index:
        measure(args, s, index._sign)


def measure(args: argparse.Namespace, s: Settings, index_sign) -> None:
    """Time everything and print the table; ``index_sign(texts)`` is the index's signing step."""
    chain = Markov(paragraphs_from(args.source))
    pool = articles(chain, 1200, seed=3)
    singles = [[pool[i % 200]] for i in range(args.reps)]
    for batch in singles[:100]:  # warm up caches (permutations, imports)
        index_sign(batch)

    rows: list[tuple[str, str]] = []
    times = cpu_ms(index_sign, singles)
    q = statistics.quantiles(times, n=20)
    rows.append(("one article, index signing", f"p50 {statistics.median(times):.3f} ms, p95 {q[18]:.3f} ms"))

    normalized = [[normalize(a[lo:hi]) for lo, hi in split_paragraphs(a)] for a in pool[:200]]
    shingled = [shingle(p, s.unit, s.ngram) for p in normalized]
    signed = [signatures(sh, s.num_perm, s.seed) for sh in shingled]
    stages = {
        "  split + normalize": (lambda a: [normalize(a[lo:hi]) for lo, hi in split_paragraphs(a)], pool[:200]),
        "  shingle": (lambda p: shingle(p, s.unit, s.ngram), normalized),
        "  signatures": (lambda sh: signatures(sh, s.num_perm, s.seed), shingled),
        "  band_keys (paragraphs)": (lambda sig: band_keys(sig, s.bands, s.rows), signed),
    }
    for name, (call, inputs) in stages.items():
        times = cpu_ms(call, [inputs[i % len(inputs)] for i in range(args.reps)])
        rows.append((name, f"p50 {statistics.median(times):.3f} ms"))

    for size in (10, 100):
        batches = [pool[i : i + size] for i in range(0, len(pool) - size + 1, size)][: max(3, 2000 // size)]
        times = cpu_ms(index_sign, batches)
        rows.append((f"batch of {size} articles", f"{statistics.median(times) / size:.3f} ms per article"))

    paragraphs = [normalize(a[lo:hi]) for a in pool for lo, hi in split_paragraphs(a)][:10_000]
    docs = [Document(str(i), "\n\n".join(paragraphs[i : i + 10])) for i in range(0, len(paragraphs), 10)]
    sh = shingle(paragraphs, s.unit, s.ngram)
    for name, call in (
        ("shingle", lambda: shingle(paragraphs, s.unit, s.ngram)),
        ("signatures", lambda: signatures(sh, s.num_perm, s.seed)),
        ("sign_documents", lambda: sign_documents(docs, s)),
    ):
        best = min(cpu_ms(lambda _: call(), range(args.batch_reps)))
        rows.append((f"10k-paragraph batch: {name}", f"{best:.1f} ms, {len(paragraphs) / best:.0f} paragraphs/ms"))

    width = max(len(name) for name, _ in rows)
    print(f"{'what':<{width}}  CPU time ({len(sh)} paragraphs, {int(sh.offsets[-1])} shingles in the batch)")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
