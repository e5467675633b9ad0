"""Benchmark the Redis backend beside datasketch 2.0's stock Redis storage, in one run.

    redis-server --port 6390 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes
    python benchmarks/bench_redis.py --url redis://127.0.0.1:6390/0 --docs 100000

It asserts nothing; the figures go in benchmarks/README-redis.md.  Both run against the
same server on loopback, one after the other, with the same articles:

* **ours** (``Index`` on ``redis://...?prefix=bench-ours``): the N articles are seeded
  with ``Index.load`` (unchecked bulk store); then, on the N-article index,
  ``add_many`` of new articles in batches of 256 (each checked, then stored),
  ``check_many`` of a mix of new articles and light rewrites of stored ones, in batches
  of 256, and single ``check`` calls one at a time (p50 / p95), beside the time of
  signing one article alone (what "p50 <= 2 ms plus signing" leaves out);
  memory: the server's ``used_memory`` before and after seeding, per stored paragraph,
  and ``MEMORY USAGE`` of sampled keys of each kind;
* **datasketch** (``MinHashLSH(storage_config={"type": "redis", ...})``, the same
  bands x rows): one document-level MinHash per article (datasketch indexes documents,
  not paragraphs), given precomputed -- so its figures are storage only, without
  signing or verification; inserts with ``insertion_session``, queries one at a time
  (its API has no batched query).

Articles are generated as in ``bench_index.py`` (a word-bigram Markov chain over the
eval-dev paragraphs: ~600 words, 8-12 paragraphs).  Wall time on a shared machine
includes waiting for a core, so CPU seconds of this process are reported too (the
server's own CPU is not in them).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import Markov, articles, paragraphs_from, rewrite  # noqa: E402

from dedup import Index  # noqa: E402
from dedup.index.signing import sign  # noqa: E402
from dedup.minhash import as_datasketch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BATCH = 256


def _drop(client, pattern: str) -> None:
    keys = []
    for key in client.scan_iter(match=pattern, count=10_000):
        keys.append(key)
        if len(keys) >= 10_000:
            client.unlink(*keys)
            keys = []
    if keys:
        client.unlink(*keys)


def _clock():
    return time.perf_counter(), time.process_time()


def _rate(n: int, start) -> dict:
    wall, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
    return {"n": n, "seconds": round(wall, 2), "per_s": round(n / wall, 1), "cpu_s": round(cpu, 2),
            "per_cpu_s": round(n / cpu, 1) if cpu else None}


def _percentiles(ms: list[float]) -> dict:
    q = statistics.quantiles(ms, n=20)
    return {"p50_ms": round(statistics.median(ms), 3), "p95_ms": round(q[18], 3), "n": len(ms)}


def _generate(n: int, seed: int) -> list[str]:
    chain = Markov(_source())
    out: list[str] = []
    for lo in range(0, n, 10_000):
        out.extend(articles(chain, min(10_000, n - lo), seed + lo))
    return out


def _source() -> list[str]:
    for folder in (ROOT.parent / "shared" / "eval-dev", Path("/work/shared/eval-dev")):
        if folder.is_dir():
            return paragraphs_from(folder)
    raise SystemExit("no eval-dev folder found for the article generator")


def bench_ours(url: str, client, stored: list[str], new: list[str], probes: list[str], singles: int) -> dict:
    prefix = url.split("prefix=")[1].split("&")[0]
    _drop(client, f"{prefix}:*")
    before = int(client.info("memory")["used_memory"])
    out: dict = {}
    with Index.open(url) as idx:
        start = _clock()
        for lo in range(0, len(stored), 2_000):
            idx.load([(f"s{lo + i}", t) for i, t in enumerate(stored[lo : lo + 2_000])], batch_size=BATCH)
            print(f"loaded {lo + 2_000} in {time.perf_counter() - start[0]:.0f} s", file=sys.stderr, flush=True)
        out["load"] = _rate(len(stored), start)
        stats = idx.stats()
        used = int(client.info("memory")["used_memory"]) - before
        out["memory"] = {"used_memory_bytes": used, "paragraphs": stats["paragraphs"],
                         "documents": stats["documents"],
                         "bytes_per_paragraph": round(used / stats["paragraphs"], 1),
                         "bytes_per_article": round(used / stats["documents"], 1),
                         "sampled_keys": _sample(client, prefix)}
        start = _clock()
        added = 0
        for lo in range(0, len(new), BATCH):
            added += sum(v.added for v in idx.add_many([(f"n{lo + i}", t) for i, t in enumerate(new[lo : lo + BATCH])]))
        out["add_many"] = {**_rate(len(new), start), "stored": added}
        start = _clock()
        dups = 0
        for lo in range(0, len(probes), BATCH):
            dups += sum(v.is_duplicate for v in idx.check_many(probes[lo : lo + BATCH]))
        out["check_many"] = {**_rate(len(probes), start), "duplicates": dups}
        wall, sign_ms = [], []
        for text in probes[:singles]:
            t0 = time.perf_counter()
            sign([text], idx.settings)
            t1 = time.perf_counter()
            idx.check(text)
            t2 = time.perf_counter()
            sign_ms.append((t1 - t0) * 1000)
            wall.append((t2 - t1) * 1000)
        out["check_single"] = _percentiles(wall)
        out["signing_single"] = _percentiles(sign_ms)
    return out


def _sample(client, prefix: str, per_kind: int = 200) -> dict:
    """Mean ``MEMORY USAGE`` of sampled keys of each kind, and how many there are."""
    kinds: dict[str, list[bytes]] = {}
    for key in client.scan_iter(match=f"{prefix}:*", count=10_000):
        kind = key.decode().split(":")[1]
        kinds.setdefault(kind, [])
        if len(kinds[kind]) < per_kind:
            kinds[kind].append(key)
        if sum(len(v) for v in kinds.values()) >= per_kind * 10:
            break
    return {kind: round(statistics.mean(client.memory_usage(k, samples=0) or 0 for k in keys), 1)
            for kind, keys in sorted(kinds.items())}


def bench_datasketch(host: str, port: int, db: int, client, stored: list[str], probes: list[str], singles: int,
                     bands: int, rows: int, num_perm: int) -> dict:
    from datasketch import MinHashLSH

    from dedup import Settings

    settings = Settings(num_perm=num_perm, bands=bands, rows=rows)
    _drop(client, "bench-ds*")
    sigs = []
    for lo in range(0, len(stored), 2_000):
        sigs.extend(sign(stored[lo : lo + 2_000], settings).doc_signatures)
    probe_sigs = list(sign(probes[:singles], settings).doc_signatures)
    minhashes = [as_datasketch(s) for s in sigs]
    probe_mh = [as_datasketch(s) for s in probe_sigs]
    before = int(client.info("memory")["used_memory"])
    lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows), storage_config={
        "type": "redis", "basename": b"bench-ds", "redis": {"host": host, "port": port, "db": db}})
    out: dict = {}
    start = _clock()
    with lsh.insertion_session(buffer_size=50_000) as session:
        for i, m in enumerate(minhashes):
            session.insert(f"s{i}", m, check_duplication=False)
    out["insert"] = _rate(len(minhashes), start)
    used = int(client.info("memory")["used_memory"]) - before
    out["memory"] = {"used_memory_bytes": used, "bytes_per_document": round(used / len(minhashes), 1)}
    wall = []
    start = _clock()
    for m in probe_mh:
        t0 = time.perf_counter()
        lsh.query(m)
        wall.append((time.perf_counter() - t0) * 1000)
    out["query"] = {**_rate(len(probe_mh), start), **_percentiles(wall)}
    _drop(client, "bench-ds*")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="redis://HOST:PORT/DB of a server to fill (keys bench-*)")
    parser.add_argument("--docs", type=int, default=10_000, help="articles stored before measuring")
    parser.add_argument("--batch-articles", type=int, default=2_048, help="articles added / checked in batches")
    parser.add_argument("--singles", type=int, default=300, help="single checks (and datasketch queries)")
    parser.add_argument("--shards", type=int, default=20,
                        help="log2 of our paragraph bucket shards (the URL option): ~1.5M paragraphs per 2^20")
    parser.add_argument("--skip-datasketch", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    args = parser.parse_args(argv)
    import redis

    client = redis.Redis.from_url(args.url)
    texts = _generate(args.docs + 2 * args.batch_articles, seed=20261129)
    stored, new = texts[: args.docs], texts[args.docs : args.docs + args.batch_articles]
    rng = random.Random(1)
    fresh = texts[args.docs + args.batch_articles :]
    probes = [rewrite(stored[rng.randrange(len(stored))], rng) if i % 2 else fresh[i] for i in range(len(fresh))]
    result: dict = {"docs": args.docs, "server": client.info("server")["redis_version"],
                    "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    sep = "&" if "?" in args.url else "?"
    ours = f"{args.url}{sep}prefix=bench-ours&shards={args.shards}"
    result["shards"] = args.shards
    result["ours"] = bench_ours(ours, client, stored, new, probes, args.singles)
    settings = Index.open(ours).settings
    if not args.skip_datasketch:
        conn = client.connection_pool.connection_kwargs
        result["datasketch"] = bench_datasketch(conn.get("host", "127.0.0.1"), conn.get("port", 6379),
                                                conn.get("db", 0), client, stored, probes, args.singles,
                                                settings.bands, settings.rows, settings.num_perm)
    _drop(client, "bench-ours:*")
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
