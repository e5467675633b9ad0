"""The cost of a change to the Redis backend: calls of two code trees side by side, in one run.

    git archive ecde908 | tar -x -C /tmp/before        # the code to compare with
    python benchmarks/bench_redis_ab.py --url redis://127.0.0.1:6411/0 --before /tmp/before \\
        --docs 3000 --phase build                         # each tree builds its own index
    python benchmarks/bench_redis_ab.py --url redis://127.0.0.1:6411/0 --before /tmp/before \\
        --docs 3000 --phase measure

Each tree runs in a worker process of its own (``PYTHONPATH`` set to the tree), holding
its index open (under prefix ``ab-before`` / ``ab-after``: each tree writes its own
layout); the parent hands the workers the same probes in alternating rounds, so load
on the shared machine falls on both alike.  Probes: half light rewrites of stored
articles (duplicates), half new articles, generated as in ``bench_index.py``.
Reported per tree: p50 / p95 of this process's CPU time and of wall time per call,
and the after / before ratio of the p50s; the round trips a call (commands and pipelines
sent, counted on the connection); whether both trees gave the same verdicts (checks; each
tree adds its own articles).  It asserts nothing.

Batches, on one index both trees read (a change that keeps the layout): with
``--shared PREFIX --texts FILE`` the workers open the index ``bench_redis.py --phase
build --texts FILE`` left under ``PREFIX`` (its ``--docs`` stored articles, its
probes and new articles), and ``--kinds check_many,add_many`` times ``check_many``
of the probes and ``add_many`` of the new articles in batches of ``--batch`` (each
tree adds its own half of a round's new articles, then removes them, unmeasured):
per tree, the CPU ms an article of each batch.

    python benchmarks/bench_redis_ab.py --url redis://127.0.0.1:6392/0 --before /tmp/before \\
        --docs 100000 --shared bench-ours --texts /tmp/texts.json --kinds check_many,add_many \\
        --phase measure --rounds 4 --batch 256
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _worker(url: str, articles: Path, build: bool, batch: int, singles: int) -> None:
    """Serve rounds read from stdin (``KIND LO HI``) with one JSON line each: the CPU
    and wall milliseconds per call (``check``, ``get``) or per article of each batch
    (``check_many``, ``add_many``); at most ``singles`` single calls a round."""
    import hashlib

    import redis.connection

    from dedup import Index

    sent = [0]  # commands and pipelines sent: round trips (as tests/test_redis_trips.py counts them)
    real = redis.connection.AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        sent[0] += 1
        return real(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counted
    data = json.loads(articles.read_text())
    with Index.open(url) as idx:
        if build:
            for lo in range(0, len(data["stored"]), 500):
                idx.load([(f"a{lo + i}", t) for i, t in enumerate(data["stored"][lo : lo + 500])])
            print(json.dumps({"stored": idx.stats()["documents"]}), flush=True)
            return
        for text in data["probes"][:20]:  # the first sync, warm caches
            idx.check(text)
        mine = f"ab-{os.getpid()}-"
        for line in sys.stdin:
            what, lo, hi = line.split()
            cpu, wall, added, trips, answers = [], [], [], [], hashlib.sha1()
            lo, hi = int(lo), int(hi)
            calls = ([(i, i + 1) for i in range(lo, min(hi, lo + singles))] if what in ("check", "get")
                     else [(a, min(a + batch, hi)) for a in range(lo, hi, batch)])
            for a, b in calls:
                t0, c0, s0 = time.perf_counter(), time.process_time(), sent[0]
                if what == "check":
                    got = [idx.check(data["probes"][a])]
                elif what == "get":
                    got = [idx.get(f"{data.get('ids', 'a')}{a % len(data['stored'])}")]
                elif what == "check_many":
                    got = idx.check_many(data["probes"][a:b])
                else:
                    got = verdicts = idx.add_many([(f"{mine}{i}", data["new"][i]) for i in range(a, b)])
                    added += [v.doc_id for v in verdicts if v.added]
                cpu.append((time.process_time() - c0) * 1000 / (b - a))
                wall.append((time.perf_counter() - t0) * 1000 / (b - a))
                trips.append(sent[0] - s0)
                if what in ("check", "check_many"):  # (each tree adds its own articles; a get carries its add time)
                    answers.update(json.dumps([g.to_dict() if hasattr(g, "to_dict") else g for g in got],
                                              sort_keys=True, default=repr).encode())
            for doc_id in added:  # as before the round, for the other tree
                idx.remove(doc_id)
            print(json.dumps({"cpu": cpu, "wall": wall, "trips": trips, "answers": answers.hexdigest()}), flush=True)


def _shared_articles(path: Path, texts: Path, docs: int, new: int) -> None:
    """The articles of the index ``bench_redis.py`` built from ``texts`` (its stored
    ones, stored as ``s{i}``), its new ones and its probes, made as it makes them."""
    sys.path.insert(0, str(HERE))
    from bench_index import rewrite

    every = json.loads(texts.read_text())
    stored, fresh = every[:docs], every[docs + new : docs + 2 * new]
    rng = random.Random(1)
    probes = [rewrite(stored[rng.randrange(len(stored))], rng) if i % 2 else fresh[i] for i in range(len(fresh))]
    path.write_text(json.dumps({"stored": stored, "new": every[docs : docs + new], "probes": probes, "ids": "s"}))


def _articles(path: Path, docs: int, probes: int, source: Path) -> None:
    sys.path.insert(0, str(HERE))
    from bench_index import Markov, articles, paragraphs_from, rewrite

    chain = Markov(paragraphs_from(source))
    stored = articles(chain, docs, 1)
    rng = random.Random(5)
    near = [rewrite(stored[rng.randrange(docs)], rng, 0.05) for _ in range(probes // 2)]
    path.write_text(json.dumps({"stored": stored, "probes": near + articles(chain, probes - len(near), 2)}))


def _spawn(tree: Path, args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.Popen([sys.executable, __file__, *args], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _wait_until(hhmm: str) -> None:
    """Sleep until ``hhmm`` UTC today (at once if it has passed)."""
    now = time.gmtime()
    hours, minutes = (int(x) for x in hhmm.split(":"))
    time.sleep(max(0, (hours * 60 + minutes) * 60 - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec)))


def _p(values: list[float], q: float) -> float:
    return round(sorted(values)[min(len(values) - 1, int(q * len(values)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="redis://HOST:PORT/DB (keys ab-* are written)")
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--after", type=Path, default=ROOT, help="the code measured (default: this tree)")
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--probes", type=int, default=400, help="probes generated by the build")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds per kind of call")
    parser.add_argument("--phase", choices=("build", "measure"), required=True)
    parser.add_argument("--source", type=Path, default=Path("/work/shared/eval-dev"))
    parser.add_argument("--kinds", default="check,get", help="calls timed, of check, get, check_many, add_many")
    parser.add_argument("--shared", help="prefix of an index bench_redis.py built, read by both trees")
    parser.add_argument("--texts", type=Path, help="with --shared: the articles bench_redis.py built it from")
    parser.add_argument("--batch", type=int, default=256, help="articles a check_many / add_many call")
    parser.add_argument("--new", type=int, default=1024, help="with --shared: bench_redis.py's --batch-articles")
    parser.add_argument("--singles", type=int, default=1 << 30, help="at most this many check / get calls a round")
    parser.add_argument("--start-at", help="HH:MM (UTC): the workers start (and make their first sync) at once, "
                        "the timed rounds begin then (a measurement slot)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    articles = Path(f"/tmp/bench-redis-ab-{args.docs}{'-shared' if args.shared else ''}.json")
    if args.worker:
        _worker(args.worker, articles, args.phase == "build", args.batch, args.singles)
        return
    trees = {"before": args.before, "after": args.after}
    urls = {name: f"{args.url}?prefix={args.shared or f'ab-{name}'}&timeout=120" for name in trees}
    if args.shared:
        if args.phase == "build" or args.texts is None:
            raise SystemExit("--shared reads an index bench_redis.py built: --phase measure, with its --texts")
        _shared_articles(articles, args.texts, args.docs, args.new)
    if args.phase == "build":
        import redis

        client = redis.Redis.from_url(args.url)
        for name in trees:
            keys = list(client.scan_iter(match=f"ab-{name}:*", count=10_000))
            for lo in range(0, len(keys), 10_000):
                client.unlink(*keys[lo : lo + 10_000])
        _articles(articles, args.docs, args.probes, args.source)
        for name, tree in trees.items():
            out = _spawn(tree, ["--url", args.url, "--before", str(args.before), "--docs", str(args.docs),
                                "--phase", "build", "--worker", urls[name]]).communicate()[0]
            print(name, out.strip(), flush=True)
        return
    workers = {name: _spawn(tree, ["--url", args.url, "--before", str(args.before), "--docs", str(args.docs),
                                   "--phase", "measure", "--batch", str(args.batch), "--singles", str(args.singles),
                                   "--worker", urls[name]]
                            + (["--shared", args.shared] if args.shared else []))
               for name, tree in trees.items()}
    if args.start_at:
        _wait_until(args.start_at)
    times: dict = {(name, what): {"cpu": [], "wall": [], "trips": []} for name in trees for what in kinds}
    same = {what: True for what in kinds}
    made = json.loads(articles.read_text())
    for r in range(args.rounds):
        for what in kinds:
            # Adds: each tree its own new articles (a text judged before is not counted
            # again, so the second to add the same ones would do less work; review R6).
            adds = what == "add_many"
            step = len(made["new" if adds else "probes"]) // (args.rounds * (2 if adds else 1))  # as built
            answers = {}
            for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
                w = workers[name]
                lo = (2 * r + (name == "after")) * step if adds else r * step
                w.stdin.write(f"{what} {lo} {lo + step}\n")
                w.stdin.flush()
                got = json.loads(w.stdout.readline())
                for k in ("cpu", "wall", "trips"):
                    times[(name, what)][k] += got[k]
                answers[name] = got["answers"]
            same[what] &= answers["before"] == answers["after"]
    for w in workers.values():
        w.stdin.close()
        w.wait()
    out: dict = {"docs": args.docs, "rounds": args.rounds, "batch": args.batch, "shared": args.shared,
                 "trees": {name: str(tree) for name, tree in trees.items()}}
    for what in kinds:
        for name in trees:
            t = times[(name, what)]
            out[f"{what}_{name}"] = {"cpu_p50_ms": _p(t["cpu"], 0.5), "cpu_p95_ms": _p(t["cpu"], 0.95),
                                     "wall_p50_ms": _p(t["wall"], 0.5), "wall_p95_ms": _p(t["wall"], 0.95),
                                     "round_trips_a_call": round(statistics.fmean(t["trips"]), 2)}
        if what in ("check", "check_many"):
            out[f"{what}_answers_identical"] = same[what]
        for k in ("cpu", "wall"):
            out[f"{what}_{k}_p50_ratio"] = round(statistics.median(times[("after", what)][k])
                                                 / statistics.median(times[("before", what)][k]), 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
