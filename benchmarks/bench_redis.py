"""Benchmark the Redis backend beside datasketch 2.0's stock Redis storage, in one run.

    redis-server --port 6390 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes
    python benchmarks/bench_redis.py --url redis://127.0.0.1:6390/0 --docs 100000

It asserts nothing; the figures go in benchmarks/README-redis.md.  Both run against the
same server on loopback, one after the other, with the same articles:

* **ours** (``Index`` on ``redis://...?prefix=bench-ours``): the N articles are seeded
  with ``Index.load`` (unchecked bulk store); then, on the N-article index,
  ``add_many`` of new articles in batches of 256 (each checked, then stored),
  ``check_many`` of a mix of new articles and light rewrites of stored ones, in batches
  of 256, and single ``check`` calls one at a time (p50 / p95).  Each rate is given
  with signing (the whole call) and without it (signing the same articles, timed
  alone, subtracted), and the wall time spent inside the storage backend's calls
  (round trips and server work: what datasketch's figures are made of) is reported
  apart; memory: the server's ``used_memory`` before and after seeding, per stored
  paragraph, and ``MEMORY USAGE`` of each kind of key (mean of a sample times the
  number of keys of that kind);
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
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Optional


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import Markov, articles, paragraphs_from, rewrite  # noqa: E402

from dedup import Index, Settings  # noqa: E402
from dedup.storage.redis import RedisStorage  # noqa: E402
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


class StorageClock:
    """Where this process's time goes, by patching methods on their classes: wall and
    CPU seconds inside the Redis backend's methods (``seconds``, ``cpu``; nested calls
    counted once), and of those, inside redis-py's calls -- each command or pipeline is
    one round trip (``trips``, ``trip_seconds``, ``trip_cpu``: sending, waiting for the
    server, parsing the reply) -- and CPU seconds signing (``dedup.index.run.sign``)."""

    METHODS = ("candidates", "paragraphs", "paragraph_signatures", "paragraph_sketches", "paragraph_copy_places",
               "documents", "document_copies", "document_sets", "tallies", "known_keys", "insert_many", "tally",
               "digests", "count", "contains", "_acquire", "_snapshot", "_sync", "_unlock", "_check_counters")
    #: Served from the worker's copy of the bucket log (no server call).
    LOCAL = ("candidates", "paragraph_signatures", "paragraph_sketches")

    def __init__(self) -> None:
        import importlib

        import redis.client

        run = importlib.import_module("dedup.index.run")  # the module (``dedup.index.run`` is also a function)
        self.seconds = self.cpu = self.trip_seconds = self.trip_cpu = self.sign_cpu = self.local_cpu = 0.0
        self.trips = 0
        self._depth = {"backend": 0, "trip": 0, "sign": 0, "local": 0}
        for name in self.LOCAL:  # inside the backend's time too
            setattr(RedisStorage, name, self._timed(getattr(RedisStorage, name), "local"))
        for name in self.METHODS:
            setattr(RedisStorage, name, self._timed(getattr(RedisStorage, name), "backend"))
        redis.client.Redis.execute_command = self._timed(redis.client.Redis.execute_command, "trip")
        redis.client.Pipeline.execute = self._timed(redis.client.Pipeline.execute, "trip")
        run.sign = self._timed(run.sign, "sign")

    def _timed(self, method, kind: str):
        def run(*args, **kwargs):
            if kind == "trip" and isinstance(args[0], __import__("redis").client.Pipeline) \
                    and method.__name__ == "execute_command":
                return method(*args, **kwargs)  # queued in a pipeline: no round trip
            self._depth[kind] += 1
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self._depth[kind] -= 1
                if not self._depth[kind]:  # nested calls counted once
                    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                    if kind == "backend":
                        self.seconds += wall
                        self.cpu += cpu
                    elif kind == "local":
                        self.local_cpu += cpu
                    elif kind == "trip":
                        self.trips += 1
                        self.trip_seconds += wall
                        self.trip_cpu += cpu
                    else:
                        self.sign_cpu += cpu
        return run

    def mark(self) -> tuple:
        return (time.process_time(), self.sign_cpu, self.cpu, self.local_cpu, self.trip_cpu, self.trip_seconds,
                self.trips)

    def split(self, before: tuple, n: int) -> dict:
        """Milliseconds of this process's CPU an article since ``before`` (:meth:`mark`):
        signing, the index's own work above the storage, the backend apart from its
        round trips (look-ups in the local bucket copy, decoding, checks), redis-py's
        round trips (CPU, and wall: with the server's time and the wait for a core);
        round trips an article.  ``local_lookup_ms``: the backend's look-ups in the worker's
        copy of the bucket log; ``backend_ms``: the rest of it but round trips (decoding
        and checking records, the content-key shards' search)."""
        return self.per_article([a - b for a, b in zip(self.mark(), before)], n)

    @staticmethod
    def per_article(spent: list, n: int) -> dict:
        """:meth:`split` of ``spent``, differences of two :meth:`mark` s (summed)."""
        total, sign, backend, local, trip_cpu, trip_wall, trips = spent
        ms = lambda x: round(x / n * 1000, 3)  # noqa: E731
        return {"cpu_ms": ms(total), "signing_ms": ms(sign), "index_ms": ms(total - sign - backend),
                "local_lookup_ms": ms(local), "backend_ms": ms(backend - local - trip_cpu),
                "round_trip_cpu_ms": ms(trip_cpu),
                "round_trip_wall_ms": ms(trip_wall), "round_trips": round(trips / n, 2)}


def _server(client) -> tuple[int, int]:
    """(commands, microseconds) the server has run so far (``INFO commandstats``; a
    script's inner commands are counted too, inside its own time)."""
    stats = client.info("commandstats")
    return (sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info"),
            sum(v["usec"] for k, v in stats.items() if k != "cmdstat_info"))


def _server_delta(client, before: tuple[int, int], n: int) -> dict:
    calls, usec = _server(client)
    return {"server_ms_per_article": round((usec - before[1]) / n / 1000, 3),
            "server_commands_per_article": round((calls - before[0]) / n, 1)}


def _signing(texts: list[str], settings) -> tuple[float, float]:
    """Wall and CPU seconds signing ``texts`` in batches of BATCH, alone."""
    t0, c0 = time.perf_counter(), time.process_time()
    for lo in range(0, len(texts), BATCH):
        sign(texts[lo : lo + BATCH], settings)
    return time.perf_counter() - t0, time.process_time() - c0


def _split(n: int, start, storage: "StorageClock", before: float, signing: tuple[float, float]) -> dict:
    """A rate with and without signing (wall, and this process's CPU), and the share of
    wall time in the backend."""
    out = _rate(n, start)
    out["per_s_without_signing"] = round(n / max(out["seconds"] - signing[0], 1e-9), 1)
    out["per_cpu_s_without_signing"] = round(n / max(out["cpu_s"] - signing[1], 1e-9), 1)
    out["signing_s"], out["signing_cpu_s"] = round(signing[0], 2), round(signing[1], 2)
    out["storage_s"] = round(storage.seconds - before, 2)
    out["storage_ms_per_article"] = round((storage.seconds - before) / n * 1000, 2)
    return out


def _percentiles(ms: list[float]) -> dict:
    q = statistics.quantiles(ms, n=20)
    return {"p50_ms": round(statistics.median(ms), 3), "p95_ms": round(q[18], 3), "n": len(ms)}


def _generate(n: int, seed: int) -> list[str]:
    chain = Markov(_source())
    out: list[str] = []
    for lo in range(0, n, 10_000):
        out.extend(articles(chain, min(10_000, n - lo), seed + lo))
    return out


def _texts(n: int, cache: Optional[Path]) -> list[str]:
    """The ``n`` generated articles, the first ``n`` of ``cache`` (JSON) when it holds
    that many, else generated (and written there): at 100k, generating takes ~80 s of
    CPU.  (A build and its measure phase must read the same cache.)"""
    if cache is not None and cache.exists():
        texts = json.loads(cache.read_text())
        if len(texts) >= n:
            return texts[:n]
    texts = _generate(n, seed=20261129)
    if cache is not None:
        cache.write_text(json.dumps(texts))
    return texts


def _source() -> list[str]:
    for folder in (ROOT.parent / "shared" / "eval-dev", Path("/work/shared/eval-dev")):
        if folder.is_dir():
            return paragraphs_from(folder)
    raise SystemExit("no eval-dev folder found for the article generator")


def bench_ours(url: str, client, stored: list[str], new: list[str], probes: list[str], singles: int,
               phase: str = "all", profile: int = 0) -> dict:
    """``phase``: "build" seeds the index and measures memory only (it stays on the
    server); "measure" measures on the index a "build" left; "all" both."""
    prefix = url.split("prefix=")[1].split("&")[0]
    out: dict = {}
    clock = StorageClock()
    if phase == "measure":
        with Index.open(url, create=False) as idx:
            if len(idx) != len(stored):
                raise SystemExit(f"{prefix} holds {len(idx)} articles, not the {len(stored)} of --docs: build first")
            _measure(idx, url, client, new, probes, singles, clock, out, profile)
            for i in range(len(new)):  # as built again: the measure phase can be run again
                idx.remove(f"n{i}")
            return out
    _drop(client, f"{prefix}:*")
    before = int(client.info("memory")["used_memory"])
    with Index.open(url) as idx:
        start = _clock()
        for lo in range(0, len(stored), 2_000):
            idx.load([(f"s{lo + i}", t) for i, t in enumerate(stored[lo : lo + 2_000])], batch_size=BATCH)
            print(f"loaded {min(lo + 2_000, len(stored))} in {time.perf_counter() - start[0]:.0f} s", file=sys.stderr, flush=True)
        out["load"] = _split(len(stored), start, clock, 0.0, (0.0, 0.0))
        stats = idx.stats()
        used = int(client.info("memory")["used_memory"]) - before
        out["memory"] = {"used_memory_bytes": used, "paragraphs": stats["paragraphs"],
                         "documents": stats["documents"],
                         "bytes_per_paragraph": round(used / stats["paragraphs"], 1),
                         "bytes_per_article": round(used / stats["documents"], 1),
                         "by_kind": _sample(client, prefix, stats["paragraphs"])}
        print(f"memory {out['memory']}", file=sys.stderr, flush=True)
        return out if phase == "build" else _measure(idx, url, client, new, probes, singles, clock, out, profile)


def _measure(idx: Index, url: str, client, new: list[str], probes: list[str], singles: int, clock: StorageClock,
             out: dict, profile: int = 0) -> dict:
    # A fresh index (the measure phase's) syncs itself; a building one holds its own
    # writes, so a new one is opened and synced (until session 15 this was the other way
    # round: the measure phase synced a second index and then its own, twice the CPU).
    out["first_sync"] = _first_sync(url, idx if not idx._store._cache.count else None)
    print(f"first sync {out['first_sync']}", file=sys.stderr, flush=True)
    start = _clock()  # this worker's own first sync, apart from the rates below
    idx.check(probes[-1])
    out["warm_up"] = _rate(1, start)
    signing = _signing(new, idx.settings)
    start, before, server, mark = _clock(), clock.seconds, _server(client), clock.mark()
    added = 0
    for lo in range(0, len(new), BATCH):
        added += sum(v.added for v in idx.add_many([(f"n{lo + i}", t) for i, t in enumerate(new[lo : lo + BATCH])]))
    out["add_many"] = {**_split(len(new), start, clock, before, signing), "stored": added,
                       **_server_delta(client, server, len(new)), "cpu_split": clock.split(mark, len(new))}
    print(f"add_many {out['add_many']}", file=sys.stderr, flush=True)
    signing = _signing(probes, idx.settings)
    start, before, server, mark = _clock(), clock.seconds, _server(client), clock.mark()
    dups = 0
    for lo in range(0, len(probes), BATCH):
        dups += sum(v.is_duplicate for v in idx.check_many(probes[lo : lo + BATCH]))
    out["check_many"] = {**_split(len(probes), start, clock, before, signing), "duplicates": dups,
                         **_server_delta(client, server, len(probes)), "cpu_split": clock.split(mark, len(probes))}
    print(f"check_many {out['check_many']}", file=sys.stderr, flush=True)
    wall, sign_ms, store_ms, cpu_ms, sign_cpu_ms = [], [], [], [], []
    server, cost = _server(client), [0.0] * 7
    for text in probes[:singles]:
        t0, c0 = time.perf_counter(), time.process_time()
        sign([text], idx.settings)
        t1, c1 = time.perf_counter(), time.process_time()
        before, mark = clock.seconds, clock.mark()
        idx.check(text)
        t2, c2 = time.perf_counter(), time.process_time()
        cost = [a + b - c for a, b, c in zip(cost, clock.mark(), mark)]
        sign_ms.append((t1 - t0) * 1000)
        wall.append((t2 - t1) * 1000)
        store_ms.append((clock.seconds - before) * 1000)
        cpu_ms.append((c2 - c1) * 1000)
        sign_cpu_ms.append((c1 - c0) * 1000)
    # ``check`` signs the article itself: its time includes signing.
    out["check_single"] = _percentiles(wall)
    out["check_single_without_signing"] = _percentiles([w - g for w, g in zip(wall, sign_ms)])
    out["check_single_storage"] = {**_percentiles(store_ms), **_server_delta(client, server, singles)}
    out["check_single_split"] = clock.per_article(cost, singles)  # means, not medians
    out["signing_single"] = _percentiles(sign_ms)
    # This process's CPU time per check (a loaded machine inflates wall time: every
    # round trip waits for a core), with and without the signing it includes.
    out["check_single_cpu"] = _percentiles(cpu_ms)
    out["check_single_cpu_without_signing"] = _percentiles([c - g for c, g in zip(cpu_ms, sign_cpu_ms)])
    if profile:
        out["check_single_profile"] = _profiled(idx, probes[singles : singles + profile])
    return out


def _profiled(idx: Index, texts: list[str], top: int = 25) -> list[str]:
    """The functions most of ``len(texts)`` single checks' CPU goes to (cProfile with a
    CPU clock: its own overhead inflates Python calls; ms a check, own time and with
    callees)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for text in texts:
        idx.check(text)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # by own time
    return [f"{tt / len(texts) * 1000:7.2f} own {ct / len(texts) * 1000:7.2f} cum  {calls / len(texts):7.1f} calls  "
            f"{Path(file).name}:{line} {name}" for (file, line, name), (_, calls, tt, ct, _) in rows]


def _first_sync(url: str, fresh: Optional[Index] = None) -> dict:
    """What a worker that opens the index now pays once: reading the whole bucket log
    into memory (wall and CPU seconds, band keys held, bytes of the arrays held), by
    ``fresh`` (an index that has read nothing yet) or a new one."""
    if fresh is None:
        with Index.open(url) as new:
            return _first_sync(url, new)
    start = _clock()
    fresh._store._sync()
    levels = fresh._store._cache.levels  # the band key runs are made here
    out = _rate(1, start)
    return {"seconds": out["seconds"], "cpu_s": out["cpu_s"], "runs": sum(len(v._runs) for v in levels.values()),
            "band_keys_held": sum(level.entries for level in levels.values()),
            "held_mb": round(sum(level.nbytes for level in levels.values()) / 2**20, 1)}


def _sample(client, prefix: str, paragraphs: int, per_kind: int = 500) -> dict:
    """For each kind of key (``b:p``, ``p``, ``t``, ...): how many, the mean ``MEMORY
    USAGE`` of a sample, and that times the count per stored paragraph."""
    rng = random.Random(3)
    kinds: dict[str, list[bytes]] = {}
    counts: dict[str, int] = {}
    for key in client.scan_iter(match=f"{prefix}:*", count=10_000):
        parts = key.decode().split(":")
        kind = ":".join(parts[1:3]) if parts[1] in ("b", "k", "sk") else parts[1]
        counts[kind] = counts.get(kind, 0) + 1
        sample = kinds.setdefault(kind, [])
        if len(sample) < per_kind:
            sample.append(key)
        elif rng.random() < per_kind / counts[kind]:  # reservoir sampling
            sample[rng.randrange(per_kind)] = key
    out = {}
    for kind, keys in sorted(kinds.items()):
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.memory_usage(k, samples=0)
        mean = statistics.mean(u or 0 for u in pipe.execute())
        out[kind] = {"keys": counts[kind], "mean_bytes": round(mean, 1),
                     "bytes_per_paragraph": round(mean * counts[kind] / paragraphs, 1)}
    return out


def _datasketch(host: str, port: int, db: int, settings):
    from datasketch import MinHashLSH

    return MinHashLSH(num_perm=settings.num_perm, params=(settings.bands, settings.rows), storage_config={
        "type": "redis", "basename": b"bench-ds", "redis": {"host": host, "port": port, "db": db}})


def _minhashes(texts: list[str], settings) -> list:
    """datasketch MinHashes of ``texts``' document signatures (made by our signing: the
    same hash family, so both index the same sketches)."""
    sigs = []
    for lo in range(0, len(texts), 2_000):
        sigs.extend(sign(texts[lo : lo + 2_000], settings).doc_signatures)
    return [as_datasketch(s) for s in sigs]


def datasketch_build(conn: tuple, client, stored: list[str], settings) -> dict:
    """Seed datasketch's ``MinHashLSH`` (Redis storage, basename ``bench-ds``) with
    ``stored``'s MinHashes (precomputed) through ``insertion_session``; it stays on the
    server.  Memory: ``used_memory`` grown, per document."""
    _drop(client, "bench-ds*")
    minhashes = _minhashes(stored, settings)
    before = int(client.info("memory")["used_memory"])
    lsh = _datasketch(*conn, settings)
    start = _clock()
    with lsh.insertion_session(buffer_size=50_000) as session:
        for i, m in enumerate(minhashes):
            session.insert(f"s{i}", m, check_duplication=False)
    used = int(client.info("memory")["used_memory"]) - before
    return {"insert": _rate(len(minhashes), start),
            "memory": {"used_memory_bytes": used, "bytes_per_document": round(used / len(minhashes), 1)}}


def datasketch_measure(conn: tuple, client, stored: int, new: list[str], probes: list[str], singles: int,
                       settings) -> dict:
    """On the seeded ``MinHashLSH``: ``new`` inserted (``insertion_session``, the same
    articles as our ``add_many``, MinHashes precomputed: no check), then the first
    ``singles`` ``probes`` queried one at a time (its API has no batched query)."""
    lsh = _datasketch(*conn, settings)
    if not lsh.keys.size() >= stored:
        raise SystemExit(f"datasketch's index holds {lsh.keys.size()} documents, not {stored}: build first")
    added, probe_mh = _minhashes(new, settings), _minhashes(probes[:singles], settings)
    out: dict = {}
    start, server = _clock(), _server(client)
    with lsh.insertion_session(buffer_size=50_000) as session:
        for i, m in enumerate(added):
            session.insert(f"n{i}-{time.time_ns()}", m, check_duplication=False)
    out["insert_more"] = {**_rate(len(added), start), **_server_delta(client, server, len(added))}
    wall = []
    start, server = _clock(), _server(client)
    for m in probe_mh:
        t0 = time.perf_counter()
        lsh.query(m)
        wall.append((time.perf_counter() - t0) * 1000)
    out["query"] = {**_rate(len(probe_mh), start), **_percentiles(wall), **_server_delta(client, server, len(probe_mh))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="redis://HOST:PORT/DB of a server to fill (keys bench-*)")
    parser.add_argument("--docs", type=int, default=10_000, help="articles stored before measuring")
    parser.add_argument("--batch-articles", type=int, default=2_048, help="articles added / checked in batches")
    parser.add_argument("--singles", type=int, default=300, help="single checks (and datasketch queries)")
    parser.add_argument("--shards", type=int, default=0,
                        help="log2 of our paragraph bucket shards (the URL option); default: as full as the "
                             "default 20 is at 100k articles (~1M paragraphs)")
    parser.add_argument("--timeout", type=float, default=120,
                        help="our URL's timeout (s): a batch's write is one script call, long on a loaded machine")
    parser.add_argument("--skip-datasketch", action="store_true")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--datasketch-url", help="datasketch's server, if not --url's (each server's used_memory "
                                                 "then counts one index, when both are built at once)")
    parser.add_argument("--phase", choices=("all", "build", "measure", "datasketch"), default="all",
                        help="build: seed both indexes and leave them on the server (memory measured); "
                             "measure: measure on the indexes a build left (left there too); all: both, then "
                             "drop them; datasketch: datasketch's all only (at 100k, build first, unmeasured "
                             "time, then measure in one lock hold)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    parser.add_argument("--profile", type=int, default=0,
                        help="after the single checks, profile this many more (cProfile, CPU clock; ours only)")
    parser.add_argument("--label", default="", help="what code is measured (a commit), written into the results")
    parser.add_argument("--texts", type=Path, help="keep the generated articles in this JSON file (made once)")
    args = parser.parse_args(argv)
    import redis

    client = redis.Redis.from_url(args.url)
    texts = _texts(args.docs + 2 * args.batch_articles, args.texts)
    stored, new = texts[: args.docs], texts[args.docs : args.docs + args.batch_articles]
    rng = random.Random(1)
    fresh = texts[args.docs + args.batch_articles :]
    probes = [rewrite(stored[rng.randrange(len(stored))], rng) if i % 2 else fresh[i] for i in range(len(fresh))]
    result: dict = {"docs": args.docs, "server": client.info("server")["redis_version"],
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), "code": args.label,
                    "dedup": str(Path(__import__("dedup").__file__).parent)}
    if not args.shards:
        args.shards = max(4, round(20 + math.log2(args.docs / 100_000)))
    sep = "&" if "?" in args.url else "?"
    ours = f"{args.url}{sep}prefix=bench-ours&shards={args.shards}&timeout={args.timeout:g}"
    result["shards"] = args.shards
    slow = client.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    client.config_set("slowlog-log-slower-than", 100_000)
    client.slowlog_reset()
    settings = Settings()  # ours is opened with the defaults too
    ds_client = redis.Redis.from_url(args.datasketch_url or args.url)
    conn = ds_client.connection_pool.connection_kwargs
    conn = (conn.get("host", "127.0.0.1"), conn.get("port", 6379), conn.get("db", 0))
    datasketch = not args.skip_datasketch
    if args.phase != "datasketch" and not args.skip_ours:
        result["ours"] = bench_ours(ours, client, stored, new, probes, args.singles, args.phase, args.profile)
    if datasketch and args.phase in ("all", "build", "datasketch"):
        result["datasketch"] = datasketch_build(conn, ds_client, stored, settings)
        print(f"datasketch {result['datasketch']}", file=sys.stderr, flush=True)
    if datasketch and args.phase != "build":
        result.setdefault("datasketch", {}).update(
            datasketch_measure(conn, ds_client, len(stored), new, probes, args.singles, settings))
    if args.phase in ("all", "datasketch"):
        _drop(ds_client, "bench-ds*")
    if args.phase == "all":
        _drop(client, "bench-ours:*")
    # Server calls of 100 ms or more (a batch's INSERT script: Redis serves nobody else meanwhile).
    scripts = [e["duration"] / 1e6 for e in client.slowlog_get(1_000) if e["command"].startswith(b"EVALSHA")]
    result["slow_calls_s"] = {"n": len(scripts), "max": round(max(scripts, default=0), 2),
                              "median": round(statistics.median(scripts), 2) if scripts else 0}
    client.config_set("slowlog-log-slower-than", slow)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
