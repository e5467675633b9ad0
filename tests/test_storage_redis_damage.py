"""Damage to the Redis index's content-key shards, tallies and log count is detected,
never answered from (#12's last silent cases on Redis, layout 6).

On layout 5 each of these changed answers without a word: a flipped or deleted
content-key shard (``k:p:*``, ``k:d:*``) lost an exact copy from a check's matches
(two silent cases in a random damage sweep); a boilerplate tally set lower (but not
above ``judged``) or a changed ``judged`` moved the boilerplate rule; a ``log:n``
deleted between two writes was re-created from the damaged log's length, so entries
deleted with it went unnoticed.  Now shards end with a checksum and have presence
bits, the tallies are such shards too, ``judged`` carries a checksum and ``log:n``
must exist: each read (and each write, before anything is written) raises
:class:`IndexCorrupt` naming the key.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import redis_url
from textgen import prose, rewrite

from dedup import Index, IndexCorrupt, Settings
from dedup.cli import main
from dedup.index.signing import new_document, sign
from dedup.storage.redis.lua import TRAILER
from dedup.storage.redis.multimap import SHARD_BITS_BELOW
from dedup.storage.redis.url import DEFAULT_SHARD_BITS


def _article(rng: random.Random) -> str:
    return "\n\n".join(prose(rng, rng.randint(40, 70)) for _ in range(5))


@pytest.fixture
def texts():
    rng = random.Random(11)
    return [_article(rng) for _ in range(6)]


def _client():
    import redis
    from conftest import REDIS_URL

    return redis.Redis.from_url(REDIS_URL)


def _shard(prefix: str, base: str, key: int) -> str:
    """The Redis key of the shard holding content key ``key`` (default shard count)."""
    shards = 1 << (DEFAULT_SHARD_BITS - SHARD_BITS_BELOW[base])
    return f"{prefix}:{base}{(key & 0xFFFFFFFF) % shards}"


def _flip(client, key: str, at: int) -> None:
    blob = client.get(key)
    client.set(key, blob[:at] + bytes([blob[at] ^ 0x10]) + blob[at + 1 :])


def _cli_check(url: str, text: str, tmp_path) -> str:
    (tmp_path / "a.txt").write_text(text)
    res = CliRunner().invoke(main, ["check", "--db", url, str(tmp_path / "a.txt")], catch_exceptions=False)
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, (res.exit_code, res.stderr)
    return res.stderr


@pytest.fixture
def short():
    """A document of short paragraphs only (none long enough to compare): its exact
    copies are found by the document content key alone."""
    rng = random.Random(5)
    return "\n\n".join(prose(rng, 6) for _ in range(12))


def _entry(client, name: str, key: int, which: int) -> int:
    """The offset in shard ``name`` of the ``which``-th entry of content key ``key``."""
    entries = np.frombuffer(client.get(name)[:-TRAILER], dtype="<u4").reshape(-1, 2)
    return 8 * int(np.flatnonzero(entries[:, 0] == key >> 32)[which])


@pytest.mark.parametrize("how", ["k:p entry flipped", "k:p shard deleted", "k:p entry removed",
                                 "k:d entry flipped", "k:d shard deleted", "k:d presence bit cleared"])
def test_a_damaged_content_key_shard_is_detected(redis_prefix, texts, short, tmp_path, how):
    """Exact copies that are not banded are found by content key alone.  On layout 5
    (measured at 38c70f5): with the ``k:p`` shard of a shared paragraph deleted, a check
    of the original no longer listed the article that shares it (exit 1 all the same;
    since 8e38c8e such a one-paragraph share is a site's frame, not listed at all);
    with the ``k:d`` shard of a document of short paragraphs flipped, one of its two
    stored copies was left out; deleted, the document was answered "new", exit 0."""
    url = redis_url(prefix=redis_prefix)
    base = how[:3] + ":"
    shares_one = "\n\n".join([texts[0].split("\n\n")[0]] + texts[5].split("\n\n")[1:])
    stored, probe = (texts + [shares_one], texts[0]) if base == "k:p:" else (texts + [short, short], short)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(stored)])
        assert idx.check(probe).is_duplicate
    signed = sign([probe], idx.settings)
    key = int(signed.doc_keys[0] if base == "k:d:" else signed.corpus.para_key[0])
    name = _shard(redis_prefix, base, key)
    client = _client()
    assert _entry(client, name, key, 1) > _entry(client, name, key, 0)  # two rows of the text
    if how.endswith("flipped"):
        _flip(client, name, _entry(client, name, key, -1) + 1)  # the key of its newest entry
    elif how.endswith("removed"):
        at = _entry(client, name, key, -1)
        blob = client.get(name)
        client.set(name, blob[:at] + blob[at + 8 :])  # the copy's entry, the checksum kept
    elif how.endswith("cleared"):
        client.setbit(f"{redis_prefix}:{base}on", int(name.rsplit(":", 1)[1]), 0)
    else:
        client.delete(name)
    client.close()
    said = f"the content-key shard {name} does not match the checksum it ends with or its bit"
    _refused(url, redis_prefix, said, probe, tmp_path, _insert)


def _stored(prefix: str) -> dict:
    """Every key of the index but the write lock, with its value (``DUMP``)."""
    client = _client()
    out = {key: client.dump(key) for key in client.scan_iter(f"{prefix}:*") if not key.endswith(b":lock")}
    client.close()
    return out


def _refused(url: str, prefix: str, said: str, text: str, tmp_path, write=None) -> None:
    """A check, an add (checked: the damage is read before anything is written), the
    CLI and ``write(store, signed)`` inside a write transaction (the script finds the
    damage itself: it stops before its first write) all stop, saying ``said``; nothing
    on the server changes."""
    before = _stored(prefix)
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"the index is damaged: {said}"):
            idx.check(text)
        with pytest.raises(IndexCorrupt, match=said):
            idx.add(text, doc_id="another")
        if write is not None:
            with pytest.raises(IndexCorrupt, match=f"the index is damaged: {said}.*; nothing was written"):
                with idx._store.transaction(write=True):
                    write(idx._store, sign([text], idx.settings))
        assert "another" not in idx
    assert _stored(prefix) == before
    assert said.replace("\\", "") in _cli_check(url, text, tmp_path)


def _insert(store, signed) -> None:
    doc = new_document(store.settings, "x", "written", None, "digest", signed, 0, True)
    store.insert_many([replace(doc, doc_banded=True, banded=np.ones(len(doc.banded), bool))])


def _tally(store, signed) -> None:
    store.tally(signed.corpus.para_key, 1)


def _tally_shard(prefix: str, text: str, settings) -> tuple[str, int]:
    """The tally shard of the first paragraph of ``text``, and the offset of its entry's count."""
    key = int(sign([text], settings).corpus.para_key[0])
    name = _shard(prefix, "k:t:", key)
    client = _client()
    body = client.get(name)[:-TRAILER]
    client.close()
    entries = np.frombuffer(body, dtype="<u4").reshape(-1, 2)
    (at,) = np.flatnonzero(entries[:, 0] == key >> 32)
    return name, 8 * int(at) + 4


@pytest.mark.parametrize("how", ["tally lowered", "tally shard deleted", "judged raised", "judged deleted"])
def test_damaged_boilerplate_tallies_are_detected(redis_prefix, texts, tmp_path, how):
    """A site's footer in 4 stories is boilerplate at ``--boilerplate 3``; a tally set
    back to 1 (at or below ``judged``: the T11 rule did not see it) or a changed
    ``judged`` made it a story's own text again, without a word."""
    url = redis_url(prefix=redis_prefix)
    footer = texts[5].split("\n\n")[0]
    stories = [f"{footer}\n\n{t}" for t in texts[:4]]
    with Index.open(url, Settings(boilerplate=3)) as idx:
        for i, story in enumerate(stories):
            idx.add(story, doc_id=f"story-{i}")
        settings = idx.settings
    client = _client()
    if how.startswith("tally"):
        name, at = _tally_shard(redis_prefix, stories[0], settings)
        if how.endswith("lowered"):
            blob = bytearray(client.get(name))
            assert int.from_bytes(blob[at : at + 4], "little") == 4
            blob[at : at + 4] = (1).to_bytes(4, "little")
            client.set(name, bytes(blob))
        else:
            client.delete(name)
        said = f"the content-key shard {name} does not match"
    else:
        judged = client.get(f"{redis_prefix}:judged")
        assert judged.split(b" ")[0] == b"4"
        if how.endswith("raised"):
            client.set(f"{redis_prefix}:judged", b"40" + judged[1:])
        else:
            client.delete(f"{redis_prefix}:judged")
        said = f"the count of the documents judged \\({redis_prefix}:judged\\) is missing or does not match"
    client.close()
    _refused(url, redis_prefix, said, f"{footer}\n\n{texts[4]}", tmp_path, _tally)


def test_the_tallies_count_as_before(redis_prefix, texts):
    """The footer of 4 stories is tallied 4 times in 4 judged documents, and is
    boilerplate to the next story at ``--boilerplate 3`` (read from the tally shards)."""
    footer = texts[5].split("\n\n")[0]
    url = redis_url(prefix=redis_prefix)
    with Index.open(url, Settings(boilerplate=3)) as idx:
        counts, judged = idx._store.tallies(np.array([1, 2], np.uint64))
        assert counts.tolist() == [0, 0] and judged == 0
        for i, t in enumerate(texts[:4]):
            idx.add(f"{footer}\n\n{t}", doc_id=f"story-{i}")
        keys = sign([f"{footer}\n\n{texts[4]}"], idx.settings).corpus.para_key
        counts, judged = idx._store.tallies(keys)
        assert judged == 4 and counts.tolist() == [4] + [0] * (len(keys) - 1)
        verdict = idx.check(f"{footer}\n\n{texts[4]}")
        assert not verdict.is_duplicate


def test_a_log_count_deleted_between_writes_is_detected(redis_prefix, texts, tmp_path):
    """Layout 5 took a missing ``log:n`` for an index written before the count and set
    it from the log's length at the next write: after ``DEL log:n`` and ``XTRIM log
    MAXLEN 0``, then any add, a stored article's near-copy answered "new", exit 0
    (measured)."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:5])])
    near = "\n\n".join(rewrite(random.Random(2), p, 0.05) for p in texts[0].split("\n\n"))
    client = _client()
    log = f"{redis_prefix}:log"
    client.delete(log + ":n")
    client.xtrim(log, maxlen=0)
    client.close()
    _refused(url, redis_prefix, f"the count of the bucket log's entries \\({log}:n\\) is missing", near, tmp_path)


def test_a_log_count_deleted_while_a_writer_holds_the_lock_stops_its_write(redis_prefix, texts):
    """The write script checks ``log:n`` itself, before its first write."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:5])])
        before = _stored(redis_prefix)
        with pytest.raises(IndexCorrupt, match=f"\\({redis_prefix}:log:n\\) is missing; nothing was written"):
            with idx._store.transaction(write=True):
                client = _client()
                client.delete(f"{redis_prefix}:log:n")
                client.close()
                _insert(idx._store, sign([texts[5]], idx.settings))
    del before[f"{redis_prefix}:log:n".encode()]
    assert _stored(redis_prefix) == before


def test_a_new_index_holds_its_counts_from_the_start(redis_prefix, texts):
    """``log:n`` and ``judged`` are written with the index's meta, so their absence is
    damage, never an index that has not written them yet."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        assert not idx.check(texts[0]).is_duplicate
    client = _client()
    assert client.get(f"{redis_prefix}:log:n") == b"0" and client.get(f"{redis_prefix}:judged").startswith(b"0 ")
    client.close()


# -- tester's S6 (layout 7): the settings, the published marks and the ids hash ---------------


@pytest.mark.parametrize("field, value", [("settings", None), ("shard_bits", "9"), ("meta_check", "1")])
def test_edited_meta_fields_are_detected_on_open(redis_prefix, texts, field, value):
    """Layout 7: ``HSET meta settings`` with threshold 0.3 -> 0.9 changed every answer
    without a word.  Now the meta hash carries a checksum, verified on every open."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:3])])
    client = _client()
    if value is None:
        stored = client.hget(f"{redis_prefix}:meta", "settings").decode()
        value = stored.replace('"threshold": 0.3', '"threshold": 0.9')
        assert value != stored
    client.hset(f"{redis_prefix}:meta", field, value)
    client.close()
    with pytest.raises(IndexCorrupt, match=f"\\({redis_prefix}:meta\\) do not match their checksum"):
        Index.open(url)


def _set_back(prefix: str, texts: list[str], tag: str, removed: bool) -> str:
    """The URL of an index of 4 articles (the first ``removed`` again) whose mark
    ``top:TAG`` was set back by one."""
    url = redis_url(prefix=prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:4])])
        if removed:
            idx.remove("article-0")
    client = _client()
    client.decr(f"{prefix}:top:{tag}")
    client.close()
    return url


def test_a_published_mark_set_back_is_detected_by_a_check(redis_prefix, texts, tmp_path):
    """Layout 7: ``DECR top:p`` hid the last stored paragraph row from checks (only an
    add noticed): the copy of the last document was seen in 4 of its 5 paragraphs.
    After a removal the counts stay below the mark: the document read says it."""
    url = _set_back(redis_prefix, texts, "p", removed=True)
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"{redis_prefix}:top:p .* is behind the stored rows"):
            idx.check(texts[3])
    assert "is behind the stored rows" in _cli_check(url, texts[3], tmp_path)


@pytest.mark.parametrize("how", ["del", "hdel"])
def test_a_deleted_or_short_ids_hash_is_detected(redis_prefix, texts, how):
    """Layout 7: after ``DEL ids`` stats said 0 documents, a re-add of a stored id was
    "duplicate, rejected" instead of "already indexed", and remove said no such
    document.  Now ``n:d`` counts the documents and ``ids`` must list as many."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:3])])
        assert idx.stats()["documents"] == 3
    client = _client()
    if how == "del":
        client.delete(f"{redis_prefix}:ids")
    else:
        client.hdel(f"{redis_prefix}:ids", "article-1")
    client.close()
    said = f"\\({redis_prefix}:ids\\) lists {0 if how == 'del' else 2} documents, the document count .* is 3"
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=said):
            idx.stats()
        with pytest.raises(IndexCorrupt, match=said + "; nothing was written"):
            idx.add(texts[1], doc_id="article-1")
        with pytest.raises(IndexCorrupt, match=said):
            idx.remove("article-2")


def test_the_document_count_follows_adds_and_removes(redis_prefix, texts):
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:3])])
        idx.add(texts[3], doc_id="x")
        idx.remove("article-0")
        assert idx.stats()["documents"] == 3
    client = _client()
    assert client.get(f"{redis_prefix}:n:d") == b"3" and client.hlen(f"{redis_prefix}:ids") == 3
    client.close()


@pytest.mark.parametrize("tag", ["p", "d"])
def test_a_published_mark_below_the_rows_stored_is_detected_by_every_read(redis_prefix, texts, tag):
    """A read that matches no document row of the hidden ones (a check of the hidden
    paragraph alone may match none) still compares the marks with the counts published
    with them (``n:p``, the ``ids`` hash) when it begins."""
    url = _set_back(redis_prefix, texts, tag, removed=False)
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"{redis_prefix}:top:{tag} .* is behind the stored rows"):
            with idx._store.transaction(write=False):
                pass


@pytest.mark.parametrize("kind", ["k:t:", "k:p:", "k:d:"])
def test_a_kind_of_shards_deleted_with_its_bitmap_is_detected(redis_prefix, texts, short, tmp_path, kind):
    """Layout 7: ``DEL`` of every ``k:t:*`` shard and of ``k:t:on`` (a pattern wipe)
    dropped the boilerplate tallies without a word (the shards and bits agreed: none).
    Now each bitmap holds an end mark from the index's creation."""
    footer = texts[5].split("\n\n")[0]
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", f"{footer}\n\n{t}") for i, t in enumerate(texts[:4])] + [("short", short)])
    client = _client()
    wiped = list(client.scan_iter(match=f"{redis_prefix}:{kind}*"))
    assert any(k.endswith(b":on") for k in wiped) and len(wiped) > 1
    client.delete(*wiped)
    client.close()
    said = f"presence bitmap {redis_prefix}:{kind}on is missing"
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=said):
            idx.check(f"{footer}\n\n{texts[4]}" if kind == "k:t:" else texts[0] if kind == "k:p:" else short)
        with pytest.raises(IndexCorrupt, match=said):
            idx.add(f"{footer}\n\n{texts[1]}", doc_id="again")
