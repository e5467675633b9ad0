"""Where one ``Index.check`` spends its CPU, part by part, on a built index.

    python benchmarks/probe_check_parts.py --db /tmp/p20-40k.dedup --checks 60 --paragraphs 20

Each part named below is wrapped (``time.process_time`` around its outermost call) and
the bucket look-ups are counted: keys asked and entries returned per level, the
containment look-up apart (it asks with a ``limit``).  New articles from the bench's
Markov chain (:mod:`bench_index`), ``--paragraphs`` each (1: the fixed cost of a call),
checked one at a time after every bucket-file page was verified (as in a long-running
process).  The parts overlap (the key search and run lengths are inside both paragraph
look-ups); the SQLite figure is the time inside ``execute`` and ``fetch*``.  Nothing is
asserted; results go in ``benchmarks/README-index.md``.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

from bench_index import Markov, articles, paragraphs_from

import dedup.index as index_package
from dedup.index import Index, bands, contain, documents, query
from dedup.storage.bucketfile import lookup

ROOT = Path(__file__).resolve().parent.parent


class _Timed:
    """CPU seconds per label, each label's outermost call timed once."""

    def __init__(self) -> None:
        self.seconds: collections.Counter = collections.Counter()
        self._depth: collections.Counter = collections.Counter()

    def wrap(self, module, name: str, label: str) -> None:
        inner = getattr(module, name)

        def timed(*args, **kwargs):
            if self._depth[label]:
                return inner(*args, **kwargs)
            self._depth[label] += 1
            start = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[label] += time.process_time() - start
                self._depth[label] -= 1

        setattr(module, name, timed)


class _Cursor:
    def __init__(self, cursor, timer: _Timed) -> None:
        self._cursor, self._timer = cursor, timer

    def _timed(self, fetch):
        start = time.process_time()
        try:
            return fetch()
        finally:
            self._timer.seconds["SQLite statements"] += time.process_time() - start

    def fetchall(self):
        return self._timed(self._cursor.fetchall)

    def fetchone(self):
        return self._timed(self._cursor.fetchone)

    def __iter__(self):
        return iter(self.fetchall())

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class _Connection:
    def __init__(self, conn, timer: _Timed) -> None:
        self._conn, self._timer = conn, timer

    def execute(self, *args):
        start = time.process_time()
        cursor = self._conn.execute(*args)
        self._timer.seconds["SQLite statements"] += time.process_time() - start
        return _Cursor(cursor, self._timer)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="a built SQLite index (bench_index.py --load --db ...)")
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "eval-dev")
    parser.add_argument("--checks", type=int, default=60)
    parser.add_argument("--paragraphs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()
    chain = Markov(paragraphs_from(args.source))
    idx = Index.open(args.db, auto_optimize=False, readonly=True)
    idx._store._bucket_view().file.verify_all()  # noqa: SLF001 -- what a long-running process reaches
    texts = ["\n\n".join(t.split("\n\n")[: args.paragraphs])
             for t in articles(chain, args.checks, args.seed + args.paragraphs, max(args.paragraphs, 3))]
    for text in texts[:3]:
        idx.check(text)
    timer = _Timed()
    for module, name, label in (
        (index_package, "prepare", "signing (run.prepare)"),
        (contain, "hits", "containment look-up (contain.hits)"),
        (bands, "paragraph_pairs", "band look-up (bands.paragraph_pairs)"),
        (query, "document_matches", "document matches (documents.document_matches)"),
        (query, "recurrences", "boilerplate tallies (tallies.recurrences)"),
        (lookup, "positions", "  bucket file: key search and run lengths (lookup.positions)"),
        (type(idx._store), "candidates", "  bucket look-ups (Storage.candidates)"),
        (bands, "hit_pairs", "  entries to pairs (matches.hit_pairs)"),
        (documents, "hit_pairs", "  entries to pairs (matches.hit_pairs)"),
    ):
        timer.wrap(module, name, label)
    idx._store._conn = _Connection(idx._store._conn, timer)  # noqa: SLF001
    counts: collections.Counter = collections.Counter()
    candidates = type(idx._store).candidates

    def counted(store, level, keys, limit=None, sketches=True):
        found = candidates(store, level, keys, limit, sketches)
        kind = f"{level} {'containment' if limit else 'band'}"
        counts[f"{kind} keys"] += len(np.unique(keys))
        counts[f"{kind} entries"] += len(found[0])
        return found

    type(idx._store).candidates = counted
    cpu = []
    for text in texts:
        start = time.process_time()
        idx.check(text)
        cpu.append(time.process_time() - start)
    n, total = len(texts), sum(cpu)
    print(f"{Path(args.db).name}, {len(idx):,} stored: {args.paragraphs}-paragraph checks, {n}: "
          f"mean {total / n * 1000:.2f} ms, p50 {sorted(cpu)[n // 2] * 1000:.2f} ms CPU")
    for label, seconds in timer.seconds.most_common():
        print(f"  {seconds / n * 1000:6.2f} ms  {seconds / total * 100:4.1f} %  {label}")
    for label, count in sorted(counts.items()):
        print(f"  {label}: {count / n:,.0f} a check")


if __name__ == "__main__":
    sys.exit(main())
