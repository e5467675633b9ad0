"""Random damage to a Redis index's keys: how often do answers change silently?

    python benchmarks/redis_damage_trials.py --url redis://127.0.0.1:6411/0 --trials 120

Builds an index (prefix ``trials``) of 30 generated articles, 3 exact copies and 3
articles removed again (so bands were handed over), and records its answers: checks of
12 probes (near-copies, copies and new articles), ``get`` of every stored id (text and
metadata), ``in`` of every id and the listing.  Each trial picks a kind of key under
the prefix at random (``d:N``, ``k:p:N``, ``ids``, ``top:p``...; not the write lock),
one key of that kind, and one edit its type allows -- delete it; flip one bit of a
string (a record, a shard, a bitmap); a numeric string +-1; one hash field deleted,
or set to another field's value; one stream entry deleted -- then asks again: the
answers are the same,
the damage is *detected* (a ``StorageError``: ``IndexCorrupt``...), they differ
*silently* (a wrong answer), or another exception is raised (a *crash*).  The key is
restored (``DUMP`` / ``RESTORE``) after each trial (reads write nothing; an open that
found no meta hash created one over the rows before the CREATE check).  It asserts
nothing.
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from textgen import prose, rewrite  # noqa: E402

from dedup import Index  # noqa: E402
from dedup.storage import StorageError  # noqa: E402


def _article(rng: random.Random) -> str:
    return "\n\n".join(prose(rng, rng.randint(40, 70)) for _ in range(5))


def _answers(url: str, probes: list[str], ids: list[str]) -> tuple:
    with Index.open(url) as idx:
        checks = [(v.is_duplicate, v.seen, sorted((m.doc_id, round(m.similarity, 6)) for m in v.matches))
                  for v in (idx.check(p) for p in probes)]
        gets = [(d.text, d.meta, d.paragraphs) if (d := idx.get(i)) else None for i in ids]
        listing = [(d.doc_id, d.meta, d.chars) for d in idx.documents()]
        held = [i in idx for i in ids]
    return checks, gets, listing, held


def _edit(client, key: bytes, rng: random.Random) -> str:
    kind = client.type(key).decode()
    if kind == "string":
        value = client.get(key)
        choices = ["delete", "flip"] + (["plus", "minus"] if value.isdigit() else [])
        how = rng.choice(choices)
        if how == "flip" and value:
            at = rng.randrange(len(value))
            client.set(key, value[:at] + bytes([value[at] ^ (1 << rng.randrange(8))]) + value[at + 1 :])
        elif how in ("plus", "minus"):
            client.incrby(key, 1 if how == "plus" else -1)
        else:
            client.delete(key)
        return how
    if kind == "hash":
        fields = list(client.hkeys(key))
        how = rng.choice(["delete", "hdel", "hset other"])
        if how == "hdel":
            client.hdel(key, rng.choice(fields))
        elif how == "hset other" and len(fields) > 1:
            a, b = rng.sample(fields, 2)
            client.hset(key, a, client.hget(key, b))
        else:
            client.delete(key)
        return how
    if kind == "stream":
        entries = client.xrange(key)
        how = rng.choice(["delete", "xdel"])
        if how == "xdel" and entries:
            client.xdel(key, rng.choice(entries)[0])
        else:
            client.delete(key)
        return how
    client.delete(key)
    return "delete"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="redis://HOST:PORT/DB (keys trials:* are written)")
    parser.add_argument("--trials", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import redis

    client = redis.Redis.from_url(args.url)
    for key in client.scan_iter(match="trials:*"):
        client.delete(key)
    url = f"{args.url}?prefix=trials"
    rng = random.Random(args.seed)
    texts = [_article(rng) for _ in range(30)]
    with Index.open(url) as idx:
        for i, t in enumerate(texts):
            idx.add(t, doc_id=f"a{i}", meta={"source": f"wire-{i % 4}"})
        idx.load([(f"copy{i}", texts[i]) for i in range(3)])
        for i in (0, 5, 6):
            idx.remove(f"a{i}")
        ids = [d.doc_id for d in idx.documents()]
    probes = ([rewrite(random.Random(i), texts[i], 0.05) for i in range(0, 30, 5)] + texts[1:4]
              + [_article(rng) for _ in range(3)])
    clean = _answers(url, probes, ids)
    kinds: dict[str, list[bytes]] = collections.defaultdict(list)
    for k in sorted(client.scan_iter(match="trials:*")):
        if not k.endswith(b":lock"):
            kinds[re.sub(r"\d+$", "N", k.decode().split(":", 1)[1])].append(k)
    state = {k: client.dump(k) for ks in kinds.values() for k in ks}
    tally: collections.Counter = collections.Counter()
    silent, crashes = [], []
    for trial in range(args.trials):
        key = rng.choice(kinds[rng.choice(sorted(kinds))])  # a kind of key, then one of its keys
        saved = state[key]
        how = _edit(client, key, rng)
        try:
            outcome = "same" if _answers(url, probes, ids) == clean else "SILENT"
        except StorageError:
            outcome = "detected"
        except Exception as err:  # noqa: BLE001 -- what the trial is for
            outcome = "CRASH"
            crashes.append(f"{key.decode()} {how}: {type(err).__name__}: {err}"[:200])
        client.restore(key, 0, saved, replace=True)
        tally[outcome] += 1
        if outcome == "SILENT":
            silent.append(f"{key.decode()} {how}")
        print(trial, key.decode(), how, outcome, flush=True)
    print(dict(tally))
    for line in silent + crashes:
        print(line)


if __name__ == "__main__":
    main()
