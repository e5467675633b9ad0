"""Compacting the Redis bucket log (#13): ``Index.optimize`` / ``dedup index optimize``
rewrite it without the removed rows' entries; answers stay the same, for the worker
that compacted and for others that held the old log; damage to the switch is detected."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import redis_url
from test_storage_redis_damage import _client
from textgen import prose, rewrite

from dedup import Index, IndexBusy, IndexCorrupt
from dedup.cli import main
from dedup.storage.redis.compact import GRACE, Compactor


@pytest.fixture
def texts():
    rng = random.Random(12)
    return ["\n\n".join(prose(rng, rng.randint(40, 70)) for _ in range(5)) for _ in range(10)]


def _near(text: str, seed: int) -> str:
    return "\n\n".join(rewrite(random.Random(seed), p, 0.05) for p in text.split("\n\n"))


def _answers(idx: Index, texts: list[str]) -> list:
    return [(v.is_duplicate, v.seen, [m.doc_id for m in v.matches]) for v in
            (idx.check(_near(t, i)) for i, t in enumerate(texts))]


def _log_rows(prefix: str, key: str) -> set[int]:
    """The paragraph rows added by the entries of log ``key`` (ids only)."""
    client = _client()
    rows = set()
    for _, fields in client.xrange(f"{prefix}:{key}"):
        v = fields[b"v"]
        if v[:2] == b"p+":
            n = int.from_bytes(v[4:8], "little")
            rows |= set(np.frombuffer(v[8 : 8 + 4 * n], "<u4").tolist())
    client.close()
    return rows


def test_compaction_leaves_out_removed_rows_and_keeps_answers(redis_prefix, texts):
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx, Index.open(url) as other:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:8])] + [("copy-1", texts[1])])
        for i in (0, 1, 2):  # article-1's bands go to its exact copy
            idx.remove(f"article-{i}")
        before = _answers(idx, texts)
        assert _answers(other, texts) == before  # ``other`` holds the old log, synced
        removed = set(range(1, 16))  # paragraph rows of article-0..2
        assert removed <= _log_rows(redis_prefix, "log")
        kept = other._store._cache
        done = idx.optimize()
        log = done["log"]
        assert log["generation"] == 1 and log["rows_left_out"] >= 15
        assert log["bytes"]["after"] < log["bytes"]["before"] and log["entries"]["after"] > 0
        assert not removed & _log_rows(redis_prefix, "log1")
        assert _answers(idx, texts) == before
        assert _answers(other, texts) == before  # switched at its next transaction
        assert other._store._cache is kept and kept.gen == 1  # went on from the switch, read nothing again
        with Index.open(url) as fresh:
            assert _answers(fresh, texts) == before
        client = _client()
        assert 0 < client.pttl(f"{redis_prefix}:log") <= GRACE * 1000
        assert client.get(f"{redis_prefix}:log:gen") == b"1"
        client.close()
        other.add(texts[8], doc_id="after")  # writers go on on the new log
        assert idx.check(_near(texts[8], 3)).matches[0].doc_id == "after"
        assert idx.optimize()["log"]["generation"] == 2
        assert _answers(other, texts[:8]) == before[:8]


def test_a_worker_still_reading_the_old_log_after_it_expired_reads_the_new_one(redis_prefix, texts):
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx, Index.open(url) as other:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:4])])
        idx.remove("article-0")
        before = _answers(other, texts[:4])
        idx.optimize()
        client = _client()
        client.delete(f"{redis_prefix}:log", f"{redis_prefix}:log:n")  # the grace period over
        client.close()
        other._store._sync()  # outside a transaction: finds the old log gone, reads the new one
        assert other._store._cache.gen == 1
        assert _answers(other, texts[:4]) == before


def test_a_worker_that_cannot_go_on_from_the_switch_reads_the_new_log_whole(redis_prefix, texts):
    """``logG:from`` damaged (or a worker that missed the old log's end): its copy is
    dropped and the new log read whole -- the answers are the same."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx, Index.open(url) as other:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:4])])
        idx.remove("article-0")
        before = _answers(other, texts[:4])
        kept = other._store._cache
        idx.optimize()
        client = _client()
        value = client.get(f"{redis_prefix}:log1:from")
        client.set(f"{redis_prefix}:log1:from", b"9" + value)  # a count the worker did not read
        client.close()
        assert _answers(other, texts[:4]) == before
        assert other._store._cache is not kept and other._store._cache.gen == 1


def test_a_deleted_generation_key_is_detected(redis_prefix, texts, tmp_path):
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:4])])
        idx.remove("article-0")
        idx.optimize()
        idx.add(texts[5], doc_id="later")
    client = _client()
    client.delete(f"{redis_prefix}:log:gen")  # back to the old log, still readable
    client.close()
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match="the published-rows mark .*top:d .* is past the rows published"):
            idx.check(texts[5])


def test_the_cli_says_what_was_compacted(redis_prefix, texts):
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:4])])
        idx.remove("article-0")
    res = CliRunner().invoke(main, ["index", "optimize", "--db", url], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "bucket log compacted, 6 removed rows left out" in res.output


def test_writers_wait_only_for_the_tail_of_a_compaction(redis_prefix, texts, monkeypatch):
    """Reviewer's R7: the compaction held the write lock for the whole copy of the log,
    so every add during it waited its busy timeout and failed with IndexBusy.  Now the
    log as it was is copied without the lock; an add and a removal made meanwhile land
    at once, are copied as they are under the lock with the switch, and the new log
    answers as the old one would: the addition found, the removal gone."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        for i, t in enumerate(texts[:6]):
            idx.add(t, doc_id=f"article-{i}")
        idx.remove("article-0")
    real = Compactor.feed
    copying = threading.Event()

    def slow(self, blob):  # a long log: each old entry takes a while
        copying.set()
        time.sleep(0.3)
        return real(self, blob)

    monkeypatch.setattr(Compactor, "feed", slow)
    done: dict = {}

    def compact() -> None:
        with Index.open(url) as other:
            done.update(other.optimize())

    thread = threading.Thread(target=compact)
    thread.start()
    assert copying.wait(30)
    with Index.open(url, busy_timeout=1) as writer:
        writer.add(texts[6], doc_id="during")
        writer.remove("article-1")
        assert thread.is_alive()  # the copy still going on: nothing waited for it
    thread.join(60)
    assert done["log"]["generation"] == 1 and done["log"]["rows_left_out"] >= 5
    with Index.open(url) as fresh:  # reads the new log whole
        assert fresh.check(_near(texts[6], 3)).matches[0].doc_id == "during"
        assert [m.doc_id for m in fresh.check(_near(texts[1], 3)).matches] == []
        assert fresh.check(_near(texts[2], 3)).matches[0].doc_id == "article-2"


def test_a_worker_a_generation_behind_compacts_the_current_log(redis_prefix, texts):
    """Reviewer's R1 (a): a worker idle since another compacted still held generation 0
    (readable for GRACE); its ``optimize`` compacted that old log into ``log1`` -- the
    live log -- deleting it first: every worker then read "restore from a backup"."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idle, Index.open(url) as other:
        other.load([(f"article-{i}", t) for i, t in enumerate(texts[:5])])
        idle.check(texts[0])  # holds generation 0
        other.remove("article-0")
        assert other.optimize()["log"]["generation"] == 1
        other.add(texts[5], doc_id="later")
        assert idle.optimize()["log"]["generation"] == 2
    with Index.open(url) as fresh:
        assert fresh.check(_near(texts[5], 3)).matches[0].doc_id == "later"
        assert fresh.check(_near(texts[2], 3)).matches[0].doc_id == "article-2"
        assert [m.doc_id for m in fresh.check(_near(texts[0], 3)).matches] == []


def test_a_compaction_that_stalled_past_its_claim_writes_nothing(redis_prefix, texts, monkeypatch):
    """Reviewer's R1 (b): a compaction stalled past its claim's lease while another
    compacted; it woke and appended its stale page to the other's live log (then said
    "nothing was switched"), and the removed rows' records were missing to every check.
    Its writes are fenced by the claim now: refused, the index intact."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:5])])
        idx.remove("article-0")
    real = Compactor.feed
    stalled, woke = threading.Event(), threading.Event()

    def stall(self, blob):
        if threading.current_thread().name == "stalled" and not stalled.is_set():
            stalled.set()
            assert woke.wait(60)
        return real(self, blob)

    monkeypatch.setattr(Compactor, "feed", stall)
    failed: list = []

    def compact() -> None:
        with Index.open(redis_url(prefix=redis_prefix, lease=1)) as c1:
            try:
                c1.optimize()
            except IndexBusy as err:
                failed.append(str(err))

    thread = threading.Thread(target=compact, name="stalled")
    thread.start()
    assert stalled.wait(30)
    time.sleep(1.5)  # its claim's lease (1 s) runs out
    with Index.open(url) as c2:
        c2.remove("article-2")
        assert c2.optimize()["log"]["generation"] == 1
    woke.set()
    thread.join(60)
    with Index.open(url) as fresh:
        assert fresh.check(_near(texts[3], 3)).matches[0].doc_id == "article-3"
        assert [m.doc_id for m in fresh.check(_near(texts[2], 3)).matches] == []
        assert fresh.optimize()["log"]["generation"] == 2
    assert failed and "its claim on the bucket log ran out" in failed[0] and "nothing was switched" in failed[0]
