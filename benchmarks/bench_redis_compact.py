"""What compacting the Redis bucket log buys and costs (#13), on an index already built.

    python benchmarks/bench_redis_compact.py --url "redis://127.0.0.1:6411/0?prefix=ab-after" --remove 0.33

Removes the given share of the stored documents (the oldest first, as a retention
window's ``prune`` would), then measures, in one run: a new worker's first sync (CPU
and wall seconds, what it holds) before the compaction, the compaction itself (entries
and bytes of the log before and after, seconds), and the first sync after it.  It
asserts nothing; the figures go in benchmarks/README-redis.md.  The index is changed.
"""

from __future__ import annotations

import argparse
import json
import time

from dedup import Index


def _first_sync(url: str) -> dict:
    with Index.open(url) as fresh:
        wall, cpu = time.perf_counter(), time.process_time()
        with fresh._store.transaction(write=False):  # syncs the log of the generation it finds
            levels = fresh._store._cache.levels  # the band key runs are made here
        return {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
                "band_keys_held": sum(level.entries for level in levels.values()),
                "held_mb": round(sum(level.nbytes for level in levels.values()) / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a Redis index's URL (it is changed)")
    parser.add_argument("--remove", type=float, default=0.33, help="share of the documents removed first")
    args = parser.parse_args()
    out: dict = {}
    with Index.open(args.url) as idx:
        ids = [d.doc_id for d in idx.documents()]
        gone = ids[: int(len(ids) * args.remove)]
        start = time.perf_counter()
        for doc_id in gone:
            idx.remove(doc_id)
        out["removed"] = {"documents": len(gone), "of": len(ids), "seconds": round(time.perf_counter() - start, 1)}
    out["first_sync_before"] = _first_sync(args.url)
    with Index.open(args.url) as idx:
        cpu = time.process_time()
        done = idx.optimize()
        out["compaction"] = {**done["log"], "wall_s": done["seconds"], "cpu_s": round(time.process_time() - cpu, 2)}
    out["first_sync_after"] = _first_sync(args.url)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
