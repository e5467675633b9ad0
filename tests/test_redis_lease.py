"""The Redis write lock's lease is renewed by the worker's own steps, and only by them
(reviewer's R9, session 12).

At 100k articles the first ``add_many`` batch failed with IndexBusy: the lease (30 s)
ran out between taking the lock and the batch's first write, during the batch's
look-up, which nothing renewed.  Now every storage call of a write transaction, each
page of a sync, each part of the band keys made and the step before judging are
checkpoints that renew it when a quarter of it has passed -- on the main thread, so a
worker stalled past its lease still loses the lock (the fencing stays).
"""

from __future__ import annotations

import random
import time

import pytest
from conftest import redis_url
from textgen import prose, rewrite

from dedup import Index, IndexBusy
from dedup.storage.redis import RedisStorage
from dedup.storage.redis.levelcache import LevelCache
from dedup.storage.redis.reads import Reads


@pytest.fixture
def texts():
    rng = random.Random(7)
    return ["\n\n".join(prose(rng, rng.randint(40, 70)) for _ in range(5)) for _ in range(4)]


def _slowed(monkeypatch, pauses: dict[str, float]) -> None:
    """Each named storage read sleeps this long after answering (a slow look-up step
    on a busy machine: the time passes between two storage calls)."""
    for name, pause in pauses.items():
        real = getattr(Reads, name)

        def slow(self, *args, _real=real, _pause=pause, **kwargs):
            out = _real(self, *args, **kwargs)
            time.sleep(_pause)
            return out

        monkeypatch.setattr(Reads, name, slow)


def _aged(monkeypatch, prefix: str, steps: tuple[str, ...], step: float) -> None:
    """Each named storage read takes ``step`` seconds as the lock sees them, without a
    wall-clock race: after answering, it moves the worker's clock (the lock module's
    ``time.monotonic``) ``step`` forward and takes as much off the lock's lease on the
    server (``PEXPIRE``; the key deleted when nothing is left, as Redis would expire
    it).  Real time passing meanwhile only shortens the lease further, never lengthens it."""
    import types
    from contextlib import closing

    import redis
    from conftest import REDIS_URL

    from dedup.storage.redis import lock

    offset = [0.0]
    monkeypatch.setattr(lock, "time", types.SimpleNamespace(monotonic=lambda: time.monotonic() + offset[0],
                                                            sleep=time.sleep))

    def age() -> None:
        offset[0] += step
        with closing(redis.Redis.from_url(REDIS_URL)) as client:
            left = client.pttl(f"{prefix}:lock")
            if left > step * 1000:
                client.pexpire(f"{prefix}:lock", left - int(step * 1000))
            elif left != -2:
                client.delete(f"{prefix}:lock")

    for name in steps:
        real = getattr(Reads, name)

        def slow(self, *args, _real=real, **kwargs):
            out = _real(self, *args, **kwargs)
            age()
            return out

        monkeypatch.setattr(Reads, name, slow)


@pytest.mark.parametrize("renewed", [True, False])
def test_a_batch_whose_look_up_outlasts_the_lease_still_lands(redis_prefix, texts, monkeypatch, renewed):
    """Three look-up steps of 12 s each (on the lock's clock: :func:`_aged`) under a 30 s
    lease: 36 s between taking the lock and the first write.  The checkpoints between
    the steps renew the lease and the batch lands (before: IndexBusy, "its lease
    expired"); with the checkpoints made inert, the same batch is refused -- the lease
    really runs out in this test."""
    url = redis_url(prefix=redis_prefix, lease=30)
    with Index.open(url) as idx:
        idx.add_many([(f"a{i}", t) for i, t in enumerate(texts[:3])])
        _aged(monkeypatch, redis_prefix, ("candidates", "paragraph_signatures", "paragraphs"), 12.0)
        if not renewed:
            monkeypatch.setattr(RedisStorage, "_checkpoint", lambda self: None)
        batch = [("near", rewrite(random.Random(1), texts[0], 0.05)), ("new", texts[3])]
        if not renewed:
            with pytest.raises(IndexBusy, match="lease"):
                idx.add_many(batch)
        else:
            verdicts = idx.add_many(batch)
            assert [v.added for v in verdicts] == [False, True] and verdicts[0].is_duplicate
    monkeypatch.undo()
    with Index.open(url) as idx:
        assert "near" not in idx and ("new" in idx) == renewed and len(idx) == 3 + renewed


def test_a_lease_that_ran_out_is_still_refused(redis_prefix, texts, monkeypatch):
    """One step longer than the lease (a stalled worker): the lock is gone, another
    writer may hold it; the next checkpoint refuses to go on and nothing is written."""
    url = redis_url(prefix=redis_prefix, lease=1)
    with Index.open(url) as idx:
        idx.add_many([(f"a{i}", t) for i, t in enumerate(texts[:3])])
        _slowed(monkeypatch, {"paragraph_signatures": 1.6})
        with pytest.raises(IndexBusy, match=r"lost the index's write lock .*its lease \(1 s\) ran out.*"
                                            r"\?lease=SECONDS"):
            idx.add_many([("near", rewrite(random.Random(1), texts[0], 0.05)), ("new", texts[3])])
    monkeypatch.undo()
    with Index.open(url) as idx:
        assert "new" not in idx and len(idx) == 3
        idx.add_many([("new", texts[3])])  # the lock was let go: the next writer goes on
        assert "new" in idx


def test_a_new_workers_first_add_and_removal_derive_the_log_outside_the_lock(redis_prefix, texts, monkeypatch):
    """Reviewer's R3 (session 13): a new worker read the log before taking the lock but
    derived its band keys at its first look-up, under the lock (~95 s of CPU at 100k
    articles: other writers failed with IndexBusy meanwhile).  Now ``warm`` derives
    them first; under the lock only what was written meanwhile is left."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"a{i}", t) for i, t in enumerate(texts[:3])])
    derived: list[bool] = []  # per part of band keys made: was the write lock held?
    real_add, real_acquire, real_unlock = LevelCache.add, RedisStorage._acquire, RedisStorage._unlock
    held = [False]

    def acquire(self):
        token = real_acquire(self)
        held[0] = True
        return token

    def unlock(self):
        held[0] = False
        return real_unlock(self)

    def add(self, *args, **kwargs):
        derived.append(held[0])
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(RedisStorage, "_acquire", acquire)
    monkeypatch.setattr(RedisStorage, "_unlock", unlock)
    monkeypatch.setattr(LevelCache, "add", add)
    with Index.open(url) as new:
        assert new.add(rewrite(random.Random(1), texts[0], 0.05), doc_id="near").is_duplicate
    assert derived and not any(derived)
    derived.clear()
    with Index.open(url) as new:
        new.remove("a1")
    assert derived and not any(derived)


def test_how_long_a_write_waits_for_the_lock_is_a_url_option(redis_prefix, texts):
    """Tester's F3 (session 15): concurrent CLI adds gave up after a fixed 30 s wait for
    the write lock while its holder was alive; ``?busy=SECONDS`` sets the wait (the
    opener's ``busy_timeout`` otherwise), and the refusal says so."""
    holder = Index.open(redis_url(prefix=redis_prefix))
    try:
        holder.add_many([("a0", texts[0])])
        with holder._store.transaction(True):  # the write lock held
            for busy in ("0.5", "2"):
                with Index.open(redis_url(prefix=redis_prefix, busy=busy)) as waiter:
                    started = time.monotonic()
                    with pytest.raises(IndexBusy, match=rf"for more than {busy} s.*\?busy=SECONDS"):
                        waiter.add_many([("a1", texts[1])])
                    assert time.monotonic() - started >= float(busy)  # it waited (no upper bound: a loaded machine)
        with Index.open(redis_url(prefix=redis_prefix, busy="2")) as waiter:  # let go: it goes on
            assert waiter.add_many([("a1", texts[1])])[0].added
    finally:
        holder.close()
    with pytest.raises(Exception, match="bad index URL option"):
        Index.open(redis_url(prefix=redis_prefix, busy="-1"))


def _expire_lock(prefix: str) -> None:
    """Wait until the server has let the write lock under ``prefix`` expire."""
    from contextlib import closing

    import redis
    from conftest import REDIS_URL

    with closing(redis.Redis.from_url(REDIS_URL)) as client:
        deadline = time.monotonic() + 30
        while client.exists(f"{prefix}:lock"):
            assert time.monotonic() < deadline, "the lock's lease did not run out"
            time.sleep(0.05)


@pytest.mark.parametrize("how", ["tally", "tally_first"])
def test_a_writer_whose_lease_ran_out_counts_no_tallies(redis_prefix, texts, monkeypatch, how):
    """The boilerplate tallies are fenced by the write lock like every other write: a
    writer stalled past its lease (here between its last checkpoint and its tally:
    the checkpoints made inert) while a second writer took the lock is refused
    (IndexBusy), and only the second writer's counts reach the server.  (Before: the
    tally script checked no token -- the stalled writer's counts were added too, and
    the counts changed under the writer that held the lock, between its reads.)"""
    from dedup.index.signing import sign

    url = redis_url(prefix=redis_prefix, lease=1)
    with Index.open(url) as first, Index.open(url) as second:
        first.add_many([("a0", texts[0])])
        keys = sign([texts[3]], first.settings).corpus.para_key
        with first._store.transaction(write=False):
            before, judged = first._store.tallies(keys)
        monkeypatch.setattr(RedisStorage, "_checkpoint", lambda self: None)
        with first._store.transaction(write=True):
            _expire_lock(redis_prefix)  # the first writer stalls past its lease
            with second._store.transaction(write=True):  # and the second takes the lock
                with pytest.raises(IndexBusy, match="lost the index's write lock"):
                    getattr(first._store, how)(keys, 1)
                getattr(second._store, how)(keys, 1)
                if how == "tally_first":
                    second._store.tally(keys, 1)
        monkeypatch.undo()
        with first._store.transaction(write=False):
            after, judged_after = first._store.tallies(keys)
    assert judged_after == judged + 1
    assert after.tolist() == (before + 1).tolist()


def test_an_add_that_lost_its_lock_before_its_first_write_counts_nothing(redis_prefix, texts, monkeypatch):
    """An add stalled past its lease after its look-up (checkpoints made inert) is
    refused at its first write -- and its tallies, written before its documents
    (:class:`~dedup.storage.optional.TalliesFirst`), are refused too: nothing of the
    batch is counted (before: they were counted without the lock, under whichever
    writer held it by then, whose reads of the tallies changed mid-transaction)."""
    from dedup.index.signing import sign

    url = redis_url(prefix=redis_prefix, lease=1)
    with Index.open(url) as idx:
        idx.add_many([("a0", texts[0])])
        keys = sign([texts[3]], idx.settings).corpus.para_key
        with idx._store.transaction(write=False):
            before, judged = idx._store.tallies(keys)
        monkeypatch.setattr(RedisStorage, "_checkpoint", lambda self: None)
        real = RedisStorage.keep_lease

        def stalled(self):
            real(self)
            _expire_lock(redis_prefix)

        monkeypatch.setattr(RedisStorage, "keep_lease", stalled)
        with pytest.raises(IndexBusy, match="lost the index's write lock"):
            idx.add_many([("new", texts[3])])
        monkeypatch.undo()
        with idx._store.transaction(write=False):
            after, judged_after = idx._store.tallies(keys)
        assert "new" not in idx
    assert (judged_after, after.tolist()) == (judged, before.tolist())
