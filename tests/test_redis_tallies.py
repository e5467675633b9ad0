"""The Redis index's boilerplate tallies are written before a batch's documents are
published (:class:`dedup.storage.optional.TalliesFirst`): an add killed between the two
leaves the counts ahead of what is stored, never behind (tester's F2, session 15), and
the batch is still judged exactly as adding its articles one at a time would."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from contextlib import closing

import numpy as np
import pytest
from conftest import NO_REDIS, REDIS_URL, redis_url
from test_index_batch import BOILERPLATE, article, batch_of, boilerplate_case

from dedup import Index, Policy, Settings
from dedup.index.signing import sign
from dedup.index.tallies import tallied

pytestmark = pytest.mark.skipif(not REDIS_URL, reason=NO_REDIS)

#: A worker that adds a batch and is killed (SIGKILL, nothing undone) the moment the
#: batch's documents are published -- where an add used to stop before its tallies.
KILLED_ADD = textwrap.dedent("""
    import json, os, signal, sys
    from dedup import Index, Policy
    from dedup.storage.redis import RedisStorage

    published = RedisStorage.insert_many

    def publish_then_die(self, docs):
        published(self, docs)
        os.kill(os.getpid(), signal.SIGKILL)

    RedisStorage.insert_many = publish_then_die
    url, batch = sys.argv[1], json.load(sys.stdin)
    with Index.open(url, policy=Policy("reject")) as idx:
        idx.add_many([tuple(item) for item in batch])
""")


def _site(seed: int, n: int) -> list[tuple[str, str]]:
    """``n`` articles of one site: each its own story under the site's header."""
    rng = random.Random(seed)
    return [(f"a{i}", "\n\n".join([BOILERPLATE, *article(rng, rng.randint(2, 5))])) for i in range(n)]


def _tallies(url: str, keys: np.ndarray) -> tuple[list[int], int]:
    with Index.open(url) as idx, idx._store.transaction(write=False):
        counts, judged = idx._store.tallies(keys)
    return counts.tolist(), judged


def test_an_add_killed_once_its_batch_is_published_leaves_it_tallied(redis_prefix):
    """The documents an add published are counted whatever moment kills it: the same
    tallies as the add run to its end, and a re-run stores the rest and counts nothing
    again.  (Before: published, never tallied -- ``judged`` 0 -- and the re-run
    skipped them as "already indexed", so they were never counted: 555 stored of 560.)"""
    batch = _site(5, 12)
    killed, whole = redis_url(prefix=redis_prefix), redis_url(prefix=redis_prefix + "-whole")
    try:
        with Index.open(whole, policy=Policy("reject")) as idx:
            verdicts = idx.add_many(batch)
        stored = [v.doc_id for v in verdicts if v.added]
        assert len(stored) == len(batch)
        Index.open(killed).close()  # created here, so the worker only adds
        run = subprocess.run([sys.executable, "-c", KILLED_ADD, killed], input=json.dumps(batch), text=True,
                             capture_output=True, timeout=120)
        assert run.returncode == -9, run.stderr
        with Index.open(killed) as idx:  # killed at the first publication: the site's articles are related,
            published = [d.doc_id for d in idx.documents()]  # so each is written before the next is looked up
        assert published and set(published) < set(stored)
        keys = tallied(sign([t for _, t in batch], Index.open(whole).settings), np.ones(len(batch), bool),
                       [t for _, t in batch])
        expected = _tallies(whole, keys)
        assert expected[1] == len(batch) and min(expected[0]) >= 1
        assert _tallies(killed, keys) == expected
        with Index.open(killed, policy=Policy("reject")) as idx:
            again = idx.add_many(batch)
        assert [v.already_indexed for v in again] == [v.doc_id in published for v in again]
        assert [v.doc_id for v in again if v.added or v.already_indexed] == stored
        assert _tallies(killed, keys) == expected  # the re-run counted nothing twice
    finally:
        import redis

        with closing(redis.Redis.from_url(REDIS_URL)) as client:
            names = list(client.scan_iter(match=f"{redis_prefix}-whole:*"))
            if names:
                client.unlink(*names)


@pytest.mark.parametrize("seed, policy", [(1, Policy("reject")), (3, Policy("strip")), (1, Policy("flag"))],
                         ids=["reject", "strip", "flag"])
def test_a_batch_counted_first_is_judged_as_on_sqlite(redis_prefix, tmp_path, seed, policy):
    """Counted before its first write, a batch's later look-ups (after a write in the
    middle of the batch) still see the tallies as they were plus the articles before
    each one, and the add's next rounds (:mod:`dedup.index.settle`, in the same
    transaction) see them all: the verdicts of the same add on SQLite, which tallies at
    the end of each round (test_index_batch's cases, with a header that becomes
    boilerplate mid-batch).  Reading its own first tallies back, Redis took 2-3 more
    paragraphs a batch for boilerplate than SQLite (checked on seeds 1-3); hiding them
    from the next round too, it counted the texts judged again a second time."""
    rng = random.Random(seed)
    stored = [article(rng, rng.randint(3, 6)) for _ in range(12)]
    stored[0].append(BOILERPLATE)  # boilerplate (3 documents) with the batch's second page carrying it
    items = batch_of(rng, stored, 40)
    results = []
    for url in (str(tmp_path / "batch.dedup"), redis_url(prefix=redis_prefix)):
        with Index.open(url, Settings(boilerplate=3), policy=policy) as idx:
            idx.add_many([(f"s{i}", "\n\n".join(p)) for i, p in enumerate(stored)])
            results.append(idx.add_many(items))  # the in-order pass, then rounds judging again in its transaction
    on_sqlite, on_redis = results
    assert on_redis == on_sqlite
    assert any(v.is_duplicate for v in on_redis) and any(v.added for v in on_redis)
    assert any(v.boilerplate for v in on_redis)


@pytest.mark.parametrize("seed", [1, 3, 5, 8])
def test_add_many_with_a_low_boilerplate_floor_is_adding_one_at_a_time_on_redis(redis_prefix, seed):
    """test_index_batch's case on Redis (tallies counted before the batch's first
    write, hidden from its own reads): the same verdicts and tallies as one at a time."""
    single = redis_prefix + "-single"
    try:
        whole, alone = boilerplate_case((redis_url(prefix=redis_prefix), redis_url(prefix=single)), seed)
    finally:
        import redis

        with closing(redis.Redis.from_url(REDIS_URL)) as client:
            names = list(client.scan_iter(match=f"{single}:*"))
            if names:
                client.unlink(*names)
    assert whole[0] == alone[0]
    assert whole[1:] == alone[1:]
    assert any(v.boilerplate for v in whole[0]) and any(v.is_duplicate for v in whole[0])
