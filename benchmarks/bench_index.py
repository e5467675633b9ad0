"""Benchmark the persistent index: check and add latency at 10k and 100k stored articles.

    python benchmarks/bench_index.py --docs 10000
    python benchmarks/bench_index.py --docs 100000     # minutes; builds a ~GB file in /tmp

What it measures (it asserts nothing; results go in benchmarks/README-index.md):

* build: ``add_many`` of N synthetic articles in batches (each checked against the
  index before it is stored, as in real ingest), or with ``--load`` the unchecked bulk
  ``Index.load`` (which writes the bucket file at its end); articles per second;
* ``check`` of one ~600-word article that is new (the common case), and of one that is
  a light rewrite of a stored article (more candidates, verification, a full verdict):
  p50 / p95 / max in ms, one call at a time;
* ``add`` of one new ~600-word article (its own transaction, committed): p50 / p95;
* ``add_many`` at the current size: ``--add-batch`` new articles through ``filter``
  (``add_many`` of ``BATCH_DOCUMENTS`` at a time, as ``dedup index add DIR``), articles
  per second of wall and of CPU time (a new bucket file, when one falls due, included);
* size on disk: bytes per stored paragraph and per article, and per table if SQLite's
  ``dbstat`` is available.

The text is synthetic but realistic, generated here at run time (nothing large is
committed): a word-bigram Markov chain over the paragraphs of the eval-dev sets, so
every word pair in it occurs in real prose (the shingles are word 2-grams, so chance
overlaps between unrelated articles are as common as in real text), while any two
generated paragraphs are distinct.  Articles are 8-12 paragraphs, ~600 words, or
with ``--paragraphs 20`` real-length ones (18-22 paragraphs of 15-45 words).
Timings are with the OS page cache warm (the file was just written).

A 100k index takes minutes to build: build it once (``--load``), then measure it as
often as needed with ``--rollback`` (the adds are rolled back, the file stays as built).
Two code versions on one built file, side by side (``--warm``: every page of the
bucket file verified first, what a long-running process reaches; ``--verdicts``: the
answers, to assert they are identical):

    PYTHONPATH=/tmp/old python benchmarks/bench_index.py --docs 100000 --paragraphs 20 \
        --db /tmp/b.dedup --rollback --warm --skip-sizes --verdicts /tmp/old.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import regex

from dedup.index import Index

ROOT = Path(__file__).resolve().parent.parent


def paragraphs_from(source: Path) -> list[str]:
    """Every blank-line separated paragraph of the eval-dev docs."""
    out = []
    for path in sorted(source.glob("*/docs/*.txt")):
        out.extend(p.strip() for p in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")) if p.strip())
    if not out:
        raise SystemExit(f"no documents under {source}/*/docs: give --source")
    return out


#: A character of a script written without spaces (Han, kana, Thai, ...).
NO_SPACE = regex.compile(r"[\p{Line_Break=ID}\p{Line_Break=CJ}\p{Line_Break=SA}\p{scx=Han}\p{scx=Hiragana}"
                         r"\p{scx=Katakana}\p{scx=Bopomofo}--\p{Script=Hangul}]", regex.V1)


#: A space-separated "word" to leave out of the chain: one holding a character of a
#: script written without spaces, or one without any letter or digit ("§", "--", "*").
SKIPPED_WORDS = regex.compile(r"\s(?:\S*" + NO_SPACE.pattern + r"\S*|[^\p{L}\p{N}\s]+)(?=\s)", regex.V1)


class Markov:
    """A word-bigram chain: the next word is drawn among the words that follow the
    current one in the source, all chains advanced together with numpy.

    Space-separated "words" holding a character of a script written without spaces,
    and "words" without a letter or digit, are left out (:data:`SKIPPED_WORDS`).  Why:
    the first kind is a whole Japanese or Chinese sentence, which a chain can only copy
    verbatim, and dedup shingles those scripts by character (issue #10), so generated
    "new" paragraphs carried verbatim copies of stored sentences: measured at 100k
    stored 20-paragraph articles, 60 % of new articles matched ~23 stored documents
    each.  The second kind ("§" in release notes, followed by "§" again) trapped
    chains in loops ("§ § § ..."): paragraphs of a few words and a long tail of "§",
    near-identical to thousands of stored ones."""

    def __init__(self, paragraphs: list[str]) -> None:
        vocab: dict[str, int] = {}
        pairs = []
        for p in paragraphs:
            # Runs of kept words, so that no pair spans a word left out.
            for run in SKIPPED_WORDS.split(f" {p} "):
                ids = [vocab.setdefault(w, len(vocab)) for w in run.split()]
                pairs.extend(zip(ids, ids[1:]))
        pairs_arr = np.array(pairs, dtype=np.int64)
        pairs_arr = pairs_arr[np.argsort(pairs_arr[:, 0], kind="stable")]
        self.words = np.array(list(vocab), dtype=object)
        self.next = pairs_arr[:, 1]
        self.count = np.bincount(pairs_arr[:, 0], minlength=len(vocab))
        self.offset = np.concatenate([[0], np.cumsum(self.count)[:-1]])

    def walk(self, rng: np.random.Generator, chains: int, steps: int) -> np.ndarray:
        state = rng.integers(0, len(self.words), chains)
        out = np.empty((chains, steps), dtype=np.int64)
        for t in range(steps):
            dead = self.count[state] == 0
            state[dead] = rng.integers(0, len(self.words), int(dead.sum()))
            out[:, t] = state
            pick = (rng.random(chains) * self.count[state]).astype(np.int64)
            state = self.next[self.offset[state] + pick]
        return out


def articles(chain: Markov, n: int, seed: int, paragraphs: int = 0) -> list[str]:
    """``n`` articles: by default 8-12 paragraphs of 40-80 words (about 600 words);
    with ``paragraphs`` (real-length news articles) ``paragraphs`` +- 2 paragraphs of
    15-45 words (the issue's real corpus: ~23 paragraphs, ~630 words an article)."""
    rng = np.random.default_rng(seed)
    low, high, count = (15, 46, paragraphs + 2) if paragraphs else (40, 81, 12)
    steps = high * count
    words = chain.walk(rng, n, steps)
    texts = []
    for row, lengths in zip(words, rng.integers(low, high, size=(n, count))):
        k = (paragraphs - 2 + int(rng.integers(0, 5))) if paragraphs else 8 + int(rng.integers(0, 5))
        cuts = np.cumsum(lengths[:k])
        keep = cuts[cuts <= (steps if paragraphs else 700)]
        texts.append("\n\n".join(" ".join(chain.words[row[a:b]]) for a, b in zip(np.r_[0, keep[:-1]], keep)))
    return texts


def rewrite(text: str, rng: random.Random, rate: float = 0.1) -> str:
    """Replace about ``rate`` of the words with other words of the text."""
    paras = []
    for p in text.split("\n\n"):
        words = p.split()
        for i in range(len(words)):
            if rng.random() < rate:
                words[i] = rng.choice(words)
        paras.append(" ".join(words))
    return "\n\n".join(paras)


def timed(call, items) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds (this thread, user + system) of each call.

    Why both: on a shared machine the wall time includes waiting for a core (it was
    2-3x the CPU time with a load average of 3-4 on 2 cores); the CPU time is the
    machine-independent part, and the one to compare changes by."""
    wall, cpu = [], []
    for item in items:
        start, cpu_start = time.perf_counter(), time.thread_time()
        call(item)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - cpu_start) * 1000)
    return wall, cpu


def summary(times: tuple[list[float], list[float]]) -> dict[str, float]:
    wall, cpu = times
    q = statistics.quantiles(wall, n=20)
    return {"p50": round(statistics.median(wall), 2), "p95": round(q[18], 2), "max": round(max(wall), 2),
            "cpu_p50": round(statistics.median(cpu), 2), "cpu_p95": round(statistics.quantiles(cpu, n=20)[18], 2),
            "n": len(wall)}


def table_sizes(path: str) -> dict[str, int]:
    try:
        with sqlite3.connect(path) as conn:
            return dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"))
    except sqlite3.Error:
        return {}


def generated(chain: Markov, start: int, stop: int, args, gen_seconds: list) -> Iterator[tuple[str, str]]:
    """``(id, text)`` of articles ``start..stop`` (the same ones ``add_many`` builds);
    the time spent generating is added to ``gen_seconds[0]``."""
    for lo in range(start, stop, args.batch):
        t0 = time.perf_counter()
        texts = articles(chain, min(args.batch, stop - lo), args.seed * 1_000_003 + lo, args.paragraphs)
        gen_seconds[0] += time.perf_counter() - t0
        yield from ((f"doc{lo + i}", t) for i, t in enumerate(texts))
        if (lo // args.batch) % 20 == 0:
            print(f"  {lo:>7} signed and written", file=sys.stderr, flush=True)


def already_built(idx: Index) -> int:
    """How many ``doc{i}`` articles an existing benchmark index holds (ids are dense)."""
    lo, hi = 0, 1
    while f"doc{hi - 1}" in idx:
        lo, hi = hi, hi * 2
    while lo < hi:  # first missing id in [lo, hi)
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if f"doc{mid}" in idx else (lo, mid)
    return lo


class _Undo(Exception):
    pass


@contextmanager
def undone(idx: Index, rollback: bool) -> Iterator[None]:
    """With ``rollback``, run the block in one write transaction that is then rolled
    back (the adds inside join it), so the index file is unchanged and one built file
    serves every measurement; the adds' own commits are then not part of the timing."""
    if not rollback:
        yield
        return
    try:
        with idx._store.transaction(write=True):  # noqa: SLF001 -- a benchmark's shortcut
            yield
            raise _Undo
    except _Undo:
        pass


def measure(idx: Index, chain: Markov, samples: int, seed: int, tag: str, paragraphs: int, add_batch: int,
            rollback: bool = False, sizes: bool = True, answers: list | None = None) -> dict:
    """Latency of single checks and adds, and the size on disk (unless not ``sizes``),
    at the current size (``rollback``: the adds rolled back, see :func:`undone`);
    every verdict's dict appended to ``answers`` if given."""
    results: dict = {}
    probes = articles(chain, samples, 999_999 + seed, paragraphs)
    # New articles for the adds at every size (the same ones would be duplicates of
    # those added at the previous size, i.e. rejected and never written).
    probes += articles(chain, samples, 999_999 + seed + len(idx), paragraphs)
    results["probe_words_mean"] = round(sum(len(t.split()) for t in probes) / len(probes), 1)
    rng = random.Random(seed)
    stored = [idx.get(f"doc{rng.randrange(len(idx) - 1)}") for _ in range(samples)]
    rewrites = [rewrite(d.text, rng) for d in stored if d is not None]
    verdicts: list = []
    kept = answers if answers is not None else []
    results["check_new_ms"] = summary(timed(lambda t: verdicts.append(idx.check(t)), probes[:samples]))
    results["check_new_flagged"] = sum(v.flagged for v in verdicts)
    kept.extend(v.to_dict() for v in verdicts)
    verdicts.clear()
    results["check_rewrite_ms"] = summary(timed(lambda t: verdicts.append(idx.check(t)), rewrites))
    results["check_rewrite_duplicate"] = sum(v.is_duplicate for v in verdicts)
    kept.extend(v.to_dict() for v in verdicts)
    counter = iter(range(10**9))
    verdicts.clear()
    with undone(idx, rollback):
        results["add_new_ms"] = summary(timed(
            lambda t: verdicts.append(idx.add(t, doc_id=f"probe-{tag}-{next(counter)}")), probes[samples:]))
    results["add_new_added"] = sum(v.added for v in verdicts)
    kept.extend(v.to_dict() for v in verdicts)
    # A batch load as `dedup index add DIR` runs it (``filter``: add_many of
    # BATCH_DOCUMENTS articles at a time), new articles each time.
    batch = articles(chain, add_batch, 777_777 + seed + len(idx), paragraphs)
    with undone(idx, rollback):
        start, cpu_start = time.perf_counter(), time.process_time()
        filtered = [v for _, v in idx.filter((f"batch-{tag}-{i}", t) for i, t in enumerate(batch))]
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    added = sum(v.added for v in filtered)
    kept.extend(v.to_dict() for v in filtered)
    results["add_many"] = {"articles": len(batch), "added": added, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                           "articles_per_s_wall": round(len(batch) / wall, 1),
                           "articles_per_s_cpu": round(len(batch) / cpu, 1)}
    stats = idx.stats()
    results["stored"] = {k: stats[k] for k in ("documents", "paragraphs", "bytes")}
    results["bucket_file"] = stats["bucket_file"]
    results["bytes_per_paragraph"] = round(stats["bytes"] / stats["paragraphs"], 1)
    results["bytes_per_article"] = round(stats["bytes"] / stats["documents"], 1)
    if sizes:  # (dbstat reads the whole database)
        results["tables_bytes"] = table_sizes(idx.path)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000, help="articles stored before the last measurement")
    parser.add_argument("--measure-at", default="", help="also measure at these sizes (comma separated)")
    parser.add_argument("--samples", type=int, default=300, help="timed calls per measurement")
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "eval-dev",
                        help="folder with */docs/*.txt to learn the word chain from")
    parser.add_argument("--db", help="index file (default: a new temporary file, removed afterwards)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--paragraphs", type=int, default=0,
                        help="real-length articles: this many +-2 paragraphs of 15-45 words (default: 8-12 of 40-80)")
    parser.add_argument("--add-batch", type=int, default=2048,
                        help="new articles added with add_many (as `dedup index add`) at each measurement")
    parser.add_argument("--rollback", action="store_true",
                        help="measure the adds in a transaction that is rolled back: the index file stays as built, "
                             "so one built file serves any number of measurements (and code versions)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes signing each batch of add_many (Index.open(jobs=...), as `dedup index add -j`)")
    parser.add_argument("--load", action="store_true",
                        help="build with Index.load (no checks) instead of add_many")
    parser.add_argument("--warm", action="store_true",
                        help="verify every page of the bucket file before measuring (what a long-running process "
                             "reaches; a fresh one verifies each page the first time it reads it)")
    parser.add_argument("--skip-sizes", action="store_true", help="no size per table (dbstat reads the database)")
    parser.add_argument("--verdicts", type=Path, help="write every measured call's verdict here (JSON)")
    args = parser.parse_args()

    chain = Markov(paragraphs_from(args.source))
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-index-")
        args.db = os.path.join(tmp.name, "bench.dedup")
    checkpoints = sorted({int(x) for x in args.measure_at.split(",") if x} | {args.docs})
    report: dict = {}
    # Built as a normal add builds (auto_optimize: a bucket file written at the end of a
    # load, and after add_many batches when due); only the measured adds of --rollback
    # leave it alone (set below). It was off for the whole run with --rollback, so a
    # file built by --load --rollback had no bucket file, and the checks measured on it
    # ran without one (session 24).
    with Index.open(args.db, jobs=args.jobs) as idx:
        stored = already_built(idx)
        build_time = rejected = 0
        if stored:
            print(f"  resuming: {stored} articles already in {args.db}", file=sys.stderr)
        for target in checkpoints:
            if stored > target:
                continue
            if args.load:
                t0 = time.perf_counter()
                gen = [0.0]
                verdicts = idx.load(generated(chain, stored, target, args, gen))
                build_time += time.perf_counter() - t0 - gen[0]
                rejected += sum(not v.added for v in verdicts)
                stored = target
                print(f"  {stored:>7} loaded, {build_time:7.1f} s in load", file=sys.stderr, flush=True)
            while stored < target:
                texts = articles(chain, min(args.batch, target - stored), args.seed * 1_000_003 + stored, args.paragraphs)
                t0 = time.perf_counter()
                verdicts = idx.add_many([(f"doc{stored + i}", t) for i, t in enumerate(texts)])
                build_time += time.perf_counter() - t0
                rejected += sum(not v.added for v in verdicts)
                stored += len(texts)
                if (stored // args.batch) % 20 == 0:
                    print(f"  {stored:>7} added, {build_time:7.1f} s in add_many", file=sys.stderr, flush=True)
            result = {"build": {"articles": stored, "build_seconds": round(build_time, 1),
                                "articles_per_s": round(stored / build_time, 1) if build_time else None,
                                "not_added": rejected}}
            # A rolled-back add must not rewrite the bucket file (the file stays as built).
            idx.auto_optimize = not args.rollback
            if args.warm:
                with idx._store.transaction(write=False):  # noqa: SLF001 -- a benchmark's shortcut
                    idx._store._bucket_view().file.verify_all()  # noqa: SLF001
            answers: list = []
            # (ids of the adds: the same in every run when they are rolled back, so that
            # two runs' verdicts compare; else new ones each run)
            tag = str(target) if args.rollback else f"{target}-{os.getpid()}"
            result.update(measure(idx, chain, args.samples, args.seed, tag, args.paragraphs,
                                  args.add_batch, args.rollback, not args.skip_sizes, answers))
            idx.auto_optimize = True  # the next size is built as a normal add builds
            if args.verdicts:
                args.verdicts.write_text(json.dumps(answers, default=str))
            report[str(target)] = result
            print(json.dumps({target: result}, indent=1), flush=True)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
