"""The Redis backend's own promises, against a real server: URLs, sharing, and faults
(connection refused, authentication, timeout, memory limit, a server restarted
mid-batch), each a clear error naming the URL with its password masked, and never a
half-added document.  Skipped, with the reason shown, only without ``DEDUP_TEST_REDIS_URL``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from contextlib import closing
from typing import Callable

import pytest
from click.testing import CliRunner
from conftest import NO_REDIS, REDIS_URL, redis_url
from storage_contract import article

from dedup import Index, IndexCorrupt, IndexFull, IndexUnavailable, Policy, SettingsMismatch, StorageError
from dedup.cli import main
from dedup.index.signing import index_band_keys, sign
from dedup.storage.redis.lua import TRAILER

pytestmark = pytest.mark.skipif(not REDIS_URL, reason=NO_REDIS)


@pytest.fixture
def client():
    import redis

    with closing(redis.Redis.from_url(REDIS_URL)) as c:
        yield c


def _whole(idx: Index, texts: dict[str, str]) -> int:
    """How many of ``texts`` are stored; asserts each stored one is whole."""
    stored = 0
    for doc_id, text in texts.items():
        got = idx.get(doc_id)
        if got is not None:
            assert got.text == text and len(got.paragraphs) == text.count("\n\n") + 1, doc_id
            assert idx.check(text).matches[0].similarity == 1.0
            stored += 1
    return stored


def test_prefixes_and_databases_keep_indexes_apart(redis_prefix):
    one, two = redis_url(prefix=redis_prefix), redis_url(prefix=redis_prefix + "-b")
    try:
        with Index.open(one) as a, Index.open(two) as b:
            a.add(article(1), "x")
            assert len(a) == 1 and len(b) == 0 and not b.check(article(1)).is_duplicate
            assert a.stats()["redis"]["prefix"] == redis_prefix
    finally:
        import redis

        with closing(redis.Redis.from_url(REDIS_URL)) as c:
            keys = list(c.scan_iter(match=f"{redis_prefix}-b:*"))
            if keys:
                c.unlink(*keys)


def test_keys_under_the_prefix_that_are_not_an_index_are_refused(redis_prefix, client):
    client.hset(f"{redis_prefix}:meta", "format", "someone-else")
    with pytest.raises(IndexCorrupt, match="not a dedup index"):
        Index.open(redis_url(prefix=redis_prefix))


@pytest.mark.parametrize("version, advice", [
    ("1", r"Redis layout version 1, this dedup reads version \d+; rebuild"),
    ("5", r"Redis layout version 5, this dedup reads version \d+; rebuild"),  # no shard checksums
    ("8", r"Redis layout version 8, this dedup reads version \d+; rebuild"),  # no text checksums
    ("99", r"layout version 99, written by a newer dedup .*; upgrade dedup"),  # tester's T8: not "rebuild"
])
def test_an_index_in_another_layout_is_refused_saying_what_to_do(redis_prefix, client, version, advice):
    with Index.open(redis_url(prefix=redis_prefix)) as idx:
        idx.add(article(7), "x")
    client.hset(f"{redis_prefix}:meta", "format_version", version)
    with pytest.raises(SettingsMismatch, match=advice):
        Index.open(redis_url(prefix=redis_prefix))


def test_connection_refused_names_the_url_with_the_password_masked():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://worker:s3cret@127.0.0.1:{port}/0?prefix=news&timeout=2"
    with pytest.raises(IndexUnavailable) as err:
        Index.open(url)
    assert f"redis://worker:***@127.0.0.1:{port}/0?prefix=news" in str(err.value)
    assert "s3cret" not in str(err.value) and "no connection" in str(err.value)
    assert "batch" not in str(err.value) and "written" not in str(err.value)  # an open writes nothing


def test_tls_url_speaks_tls():
    """``rediss://`` connects with TLS: a plain server cannot complete the handshake."""
    host_port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split("@")[-1]
    with pytest.raises(IndexUnavailable, match=r"rediss://u:\*\*\*@"):
        Index.open(f"rediss://u:pw@{host_port}/0?prefix=x&timeout=2")


def test_authentication_failure_is_clear_and_a_user_with_the_right_password_works(redis_prefix, client):
    user, password = f"dedup-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    client.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"])
    try:
        host_port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split("@")[-1]
        with pytest.raises(IndexUnavailable, match="refused the credentials") as err:
            Index.open(f"redis://{user}:wrong-{password}@{host_port}/0?prefix={redis_prefix}")
        assert password not in str(err.value) and f"redis://{user}:***@" in str(err.value)
        with Index.open(f"redis://{user}:{password}@{host_port}/0?prefix={redis_prefix}") as idx:
            assert idx.add(article(2), "x").added
            assert password not in idx.path
    finally:
        client.acl_deluser(user)


def test_a_server_that_does_not_answer_in_time_is_a_timeout_error(redis_prefix, client):
    with Index.open(redis_url(prefix=redis_prefix, timeout=0.3)) as idx:
        idx.add(article(3), "x")
        client.client_pause(1500, all=True)
        try:
            with pytest.raises(IndexUnavailable, match="did not answer in time"):
                idx.check(article(3))
        finally:
            client.client_unpause()
        time.sleep(0.1)
        assert idx.check(article(3)).is_duplicate  # usable again


def test_maxmemory_refuses_whole_documents_and_the_index_stays_usable(redis_prefix, client):
    texts = {f"m{i}": article(100 + i) for i in range(60)}
    saved = client.config_get("maxmemory")["maxmemory"]
    with Index.open(redis_url(prefix=redis_prefix)) as idx:
        idx.add(article(99), "before")
        client.config_set("maxmemory", int(client.info("memory")["used_memory"]) + 400_000)
        try:
            with pytest.raises(IndexFull, match="memory limit") as err:
                for doc_id, text in texts.items():
                    idx.add(text, doc_id)
            assert redis_prefix in str(err.value)
            assert idx.check(article(99)).is_duplicate  # reads still work
        finally:
            client.config_set("maxmemory", saved)
        stored = _whole(idx, texts)
        assert 0 < stored < len(texts)
        rest = [(doc_id, text) for doc_id, text in texts.items() if doc_id not in idx]
        assert all(v.added for v in idx.add_many(rest))
        assert _whole(idx, texts) == len(texts)


def test_a_batch_written_in_parts_is_seen_whole_or_not_at_all(redis_prefix, client, monkeypatch):
    """A batch too big for one script call is written in parts and published by the
    last; a writer that dies between two parts leaves rows nobody sees (not checked
    against, not listed, not counted), removed by the next writer, and the batch can
    be retried."""
    import dedup.storage.redis.writes as backend

    monkeypatch.setattr(backend, "GROUP_VALUES", 1500)  # ~one 6-paragraph article a part
    batch = [(f"g{i}", article(400 + i)) for i in range(5)]
    with Index.open(redis_url(prefix=redis_prefix), policy=Policy("flag", add_duplicates=True)) as idx:
        idx.add(article(399), "before")
        store = idx._store
        real, calls = store._insert, []

        def die_after_two_parts(*args, **kwargs):
            if len(calls) == 2:
                raise ConnectionError("simulated: the worker died between two parts")
            calls.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(store, "_insert", die_after_two_parts)
        with pytest.raises(ConnectionError):
            idx.add_many(batch)
        monkeypatch.setattr(store, "_insert", real)
        staged = range(int(client.get(f"{redis_prefix}:top:p")) + 1, int(client.get(f"{redis_prefix}:seq:p")) + 1)
        assert len(staged) >= 6
        assert len(idx) == 1 and [d.doc_id for d in idx.documents()] == ["before"]
        assert not any(idx.check(text).is_duplicate for _, text in batch[:2])
        assert idx.stats()["paragraphs"] == 6
        # The next write removes the staged rows first, then the retry stores the batch.
        assert all(v.added for v in idx.add_many(batch))
        assert client.get(f"{redis_prefix}:seq:p") == client.get(f"{redis_prefix}:top:p")
        import numpy as np

        for key in client.scan_iter(match=f"{redis_prefix}:k:p:[0-9]*"):  # no content-key entry of a staged row
            rows = np.frombuffer(client.get(key)[:-TRAILER], dtype="<u4")[1::2]  # is left
            assert not set(rows.tolist()) & set(staged), key
        with Index.open(redis_url(prefix=redis_prefix)) as fresh:  # nor a bucket entry, for any worker
            for store in (idx._store, fresh._store):
                with store.transaction(write=False):
                    for _, text in batch:
                        _, rows, _ = store.candidates("paragraph", index_band_keys(sign([text], idx.settings).corpus.signatures, idx.settings).ravel())
                        assert len(rows) and not set(rows.tolist()) & set(staged)
        assert _whole(idx, dict(batch)) == len(batch) and len(idx) == 6 and idx.stats()["paragraphs"] == 36
        for doc_id, text in batch:  # no stale bucket entry of a staged row is left to match
            assert [m.doc_id for m in idx.check(text).matches] == [doc_id]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _persistent_server(folder) -> tuple[int, Callable[[], subprocess.Popen]]:
    """A private redis-server's port and what starts it: on 127.0.0.1, with an
    append-only file in ``folder`` (written at every command), so what it held survives
    a SIGKILL and a start again; the start waits until it answers PING."""
    port = _free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
               "--appendfsync", "always", "--dir", str(folder)]

    def start() -> subprocess.Popen:
        import redis

        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        with closing(redis.Redis(port=port, socket_timeout=1)) as probe:
            for _ in range(300):
                try:
                    if probe.ping():
                        return server
                except redis.exceptions.RedisError:
                    time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    return port, start


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed (.ci/run installs it)")
def test_a_server_restarted_mid_batch_leaves_whole_documents_and_the_batch_can_be_retried(tmp_path):
    """A private server with an append-only file, killed (SIGKILL) while a batch is being
    added and started again: the worker gets a clear error, what was stored survives
    whole, and retrying the batch by id completes it."""
    port, start = _persistent_server(tmp_path)
    url = f"redis://127.0.0.1:{port}/0?prefix=restart&lease=2&timeout=5"
    batch = [(f"r{i}", article(300 + i)) for i in range(40)]
    server = start()
    try:
        with Index.open(url, policy=Policy("flag", add_duplicates=True)) as idx:
            idx.add_many(batch[:2])
            killer = threading.Timer(0.15, lambda: os.kill(server.pid, signal.SIGKILL))
            killer.start()
            with pytest.raises(IndexUnavailable, match=rf"redis://127.0.0.1:{port}/0.*no connection"):
                for k in range(2, len(batch), 2):
                    idx.add_many(batch[k : k + 2])
            killer.join()
        server.wait()
        server = start()
        with Index.open(url, policy=Policy("flag", add_duplicates=True)) as idx:
            assert _whole(idx, dict(batch)) >= 2
            verdicts = idx.add_many(batch)
            assert all(v.added or v.already_indexed for v in verdicts)
            assert _whole(idx, dict(batch)) == len(batch)
    finally:
        server.kill()
        server.wait()


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed (.ci/run installs it)")
def test_an_add_cut_off_from_its_server_mid_batch_says_what_may_be_stored(tmp_path, monkeypatch):
    """The server is lost (SIGKILL, then started again from its append-only file) right
    after an ``index add`` published part of a batch -- a site's pages share a header,
    so each is written before the next is looked up again.  The index cannot be read
    to tell what stays stored: the note says up to how many may be, and that many or
    fewer are (tester's F6, session 15: "none of the 256 documents read is stored"
    while 116 were)."""
    from dedup.storage.redis import RedisStorage

    (tmp_path / "aof").mkdir()
    port, start = _persistent_server(tmp_path / "aof")
    docs = tmp_path / "docs"
    docs.mkdir()
    header = ("From the harbour desk: every story on this site is checked by two editors before it is "
              "published, and corrections are listed at the foot of the page each morning.")
    for i in range(12):
        (docs / f"p{i:02d}.txt").write_text(header + "\n\n" + article(700 + i))
    url = f"redis://127.0.0.1:{port}/0?prefix=cut&lease=2&timeout=2"
    server = start()
    try:
        published = RedisStorage.insert_many

        def publish_then_lose_the_server(self, batch):
            published(self, batch)
            server.kill()
            server.wait()

        monkeypatch.setattr(RedisStorage, "insert_many", publish_then_lose_the_server)
        result = CliRunner().invoke(main, ["index", "add", str(docs), "--db", url])
        monkeypatch.undo()
        assert result.exit_code == 2, result.output
        [note] = [line for line in result.stderr.splitlines() if "stopped;" in line]
        server = start()
        with Index.open(url, create=False) as idx:
            stored = len(idx)
        assert 0 < stored < 12
        assert note.endswith(f"redis://127.0.0.1:{port}/0?prefix=cut&lease=2&timeout=2: stopped; none of the 12 "
                             "documents read is known to be stored in the index; up to 12, of the batch being "
                             "written when it stopped, may be stored (the index could not be read to tell): run "
                             "the same command again once the index can be read (what is stored is skipped)"), note
        again = CliRunner().invoke(main, ["index", "add", str(docs), "--db", url])
        assert again.exit_code == 0, again.output
        with Index.open(url, create=False) as idx:
            assert len(idx) == 12
    finally:
        server.kill()
        server.wait()


@pytest.mark.skipif(not shutil.which("redis-server") or not shutil.which("openssl"),
                    reason="redis-server or openssl is not installed (.ci/run installs redis-server)")
def test_a_rediss_url_talks_tls_to_a_tls_only_server(tmp_path):
    """A private redis-server that listens with TLS only, on a self-signed certificate
    made here with openssl: ``rediss://`` trusting that certificate stores and finds
    documents; ``rediss://`` without it (the certificate cannot be verified) and a plain
    ``redis://`` to the same port are clear connection errors naming the URL."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file", str(cert),
         "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"rediss://127.0.0.1:{port}/0?prefix=tls&timeout=5&ssl_ca_certs={cert}"
    try:
        for _ in range(100):  # until it listens
            if server.poll() is not None:
                pytest.fail(f"redis-server with --tls-port did not start: {server.stdout.read()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        with Index.open(url) as idx:
            assert idx.add(article(8), "over-tls").added
            assert idx.check(article(8)).matches[0].doc_id == "over-tls"
            assert idx.stats()["redis"]["prefix"] == "tls"
        with pytest.raises(IndexUnavailable, match=rf"rediss://127.0.0.1:{port}/0.*(?i:certificate)"):
            Index.open(f"rediss://127.0.0.1:{port}/0?prefix=tls&timeout=5")
        with pytest.raises(IndexUnavailable, match=rf"redis://127.0.0.1:{port}/0"):
            Index.open(f"redis://127.0.0.1:{port}/0?prefix=tls&timeout=2")
    finally:
        server.kill()
        server.wait()


@pytest.mark.skipif(not os.environ.get("DEDUP_TEST_REDIS_SOCKET"), reason="DEDUP_TEST_REDIS_SOCKET is not set")
def test_a_unix_socket_url(redis_prefix):
    url = f"unix://{os.environ['DEDUP_TEST_REDIS_SOCKET']}?db=0&prefix={redis_prefix}"
    with Index.open(url) as idx:
        idx.add(article(4), "x")
    with Index.open(redis_url(prefix=redis_prefix)) as idx:  # the same index over TCP
        assert "x" in idx


def test_bad_url_options_are_clear(redis_prefix):
    with pytest.raises(StorageError, match="bad index URL option"):
        Index.open(redis_url(prefix=redis_prefix, timeout="soon"))
    with pytest.raises(StorageError, match="shards between 4 and 30"):
        Index.open(redis_url(prefix=redis_prefix, shards=40))


def test_an_option_nobody_takes_is_named_not_an_unexpected_error(redis_prefix):
    """Tester F3 (s22): a misspelt option (``prefx``) or a TLS option on ``redis://``
    reached redis-py's connection class as a keyword and raised ``TypeError`` at the
    first command: 'dedup: unexpected error', the sign of a bug."""
    for option in ("prefx", "ssl_cert_reqs"):
        with pytest.raises(StorageError, match=f"not a usable Redis URL \\(option '{option}' is neither"):
            Index.open(redis_url(prefix=redis_prefix, **{option: "none"}))
    res = CliRunner().invoke(main, ["index", "list", "--db", redis_url(prefix=redis_prefix, prefx="news")])
    assert res.exit_code == 2 and "option 'prefx'" in res.stderr and "unexpected" not in res.stderr, res.stderr
    tls = redis_url(prefix=redis_prefix, ssl_cert_reqs="bogus").replace("redis://", "rediss://", 1)
    with pytest.raises(StorageError, match="not a usable Redis URL .*bogus"):  # a value it refuses (review R3)
        Index.open(tls)
    with Index.open(redis_url(prefix=redis_prefix, socket_keepalive="true")) as idx:  # redis-py's own: taken
        idx.add(article(4), "x")


def test_the_cli_takes_a_redis_url(redis_prefix, tmp_path):
    url = redis_url(prefix=redis_prefix)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(article(5), encoding="utf-8")
    (folder / "b.txt").write_text(article(6), encoding="utf-8")
    probe = tmp_path / "probe.txt"
    probe.write_text(article(5), encoding="utf-8")
    runner = CliRunner()
    missing = runner.invoke(main, ["check", str(probe), "--db", url])
    assert missing.exit_code == 2 and "no index under prefix" in missing.output
    added = runner.invoke(main, ["index", "add", str(folder), "--base", str(folder), "--db", url])
    assert added.exit_code == 0, added.output
    checked = runner.invoke(main, ["check", str(probe), "--db", url, "--format", "json"])
    assert checked.exit_code == 1
    (verdict,) = json.loads(checked.output)["verdicts"]
    assert verdict["duplicate"] and verdict["matches"][0]["id"] == "a.txt"
    stats = runner.invoke(main, ["index", "stats", "--db", url])
    assert stats.exit_code == 0 and "2 documents" in stats.output and "(redis)" in stats.output
    optimized = runner.invoke(main, ["index", "optimize", "--db", url])
    assert optimized.exit_code == 0 and "bucket log compacted, 0 removed rows left out" in optimized.output
    removed = runner.invoke(main, ["index", "remove", "a.txt", "--db", url])
    assert removed.exit_code == 0, removed.output
    assert runner.invoke(main, ["check", str(probe), "--db", url]).exit_code == 0
    wrong = runner.invoke(main, ["index", "add", str(folder), "--db", url, "--ngram", "4"])
    assert wrong.exit_code == 2 and "--ngram 4 differs from the index's 2" in wrong.output


def test_workers_share_the_bucket_log_adds_removals_and_hand_overs(redis_prefix, client):
    """Each worker holds the buckets in memory, synced from the server's log before each
    transaction: what another worker adds, removes or hands over after this one opened
    the index is seen by its next check (no stale band entry leads to a removed row)."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as reader, Index.open(url) as writer:
        assert not reader.check(article(20)).is_duplicate  # the reader's copy is made, empty
        writer.add_many([("a", article(20)), ("b", article(21))])
        assert [m.doc_id for m in reader.check(article(20)).matches] == ["a"]
        writer.remove("a")
        assert not reader.check(article(20)).is_duplicate
        store = reader._store
        with store.transaction(write=False):
            _, rows, _ = store.candidates("paragraph", index_band_keys(sign([article(20)], reader.settings).corpus.signatures,
                                                                 reader.settings).ravel())
            left = set(store.paragraphs(rows).docs.tolist())
        b = int(client.hget(f"{redis_prefix}:ids", "b"))
        assert left <= {b}  # chance band hits of "b"'s rows only (2-row bands share more by chance)
    with Index.open(url, policy=Policy("flag", add_duplicates=True)) as writer, Index.open(url) as reader:
        writer.add(article(21), "b-copy")  # an exact copy: found by content key, not banded
        assert reader.check(article(21)).matches[0].doc_id in ("b", "b-copy")
        writer.remove("b")  # its bands go over to the copy, in the log
        assert [m.doc_id for m in reader.check(article(21)).matches] == ["b-copy"]
        with Index.open(url) as late:  # a worker opened now reads the whole log
            assert [m.doc_id for m in late.check(article(21)).matches] == ["b-copy"]
            assert not late.check(article(20)).is_duplicate


def test_a_damaged_bucket_log_entry_is_detected_never_answered_from(redis_prefix, client):
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.add(article(22), "x")
    entry_id, fields = client.xrange(f"{redis_prefix}:log")[0]
    blob = bytearray(fields[b"v"])
    blob[len(blob) // 2] ^= 0x40
    client.xdel(f"{redis_prefix}:log", entry_id)
    client.xadd(f"{redis_prefix}:log", {"v": bytes(blob)})
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match="bucket log is damaged"):
            idx.check(article(22))


def test_document_signatures_come_from_the_log_or_from_the_paragraphs(redis_prefix, client):
    """Layout 7 stores no signature in ``d:``: a banded document's comes from the worker's
    copy of the bucket log, an exact copy's or a short document's (not banded) is the
    minimum of its paragraphs' -- the signatures the documents were signed with, either
    way (a worker that has not synced yet makes every one from the paragraphs)."""
    import numpy as np

    texts = {"long": article(1), "copy": article(1), "short": "Brief note.\n\nFive words only here.",
             "empty": "   ", "other": article(2), "mixed": article(3) + "\n\nA short line."}  # logged whole
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load(list(texts.items()))
        signed = sign(list(texts.values()), idx.settings)
    rows = np.array([int(client.hget(f"{redis_prefix}:ids", name)) for name in texts])
    order = np.argsort(rows)
    with Index.open(url) as idx:
        store = idx._store
        cold = store.documents(rows)  # outside a transaction, nothing synced: all from the paragraphs
        assert not store._cache.levels["d"].signatures(rows)[0].any()
        with store.transaction(write=False):
            warm = store.documents(rows)
        assert store._cache.levels["d"].signatures(rows)[0].tolist() == [True, False, False, False, True, True]
    entries = [e[b"v"] for _, e in client.xrange(f"{redis_prefix}:log")]
    assert sorted(e[:2] for e in entries if e[:1] == b"d") == [b"d!", b"d+", b"d="]  # "mixed" whole, the others made
    # (``d!``: the batch's publication)
    for got in (cold, warm):
        assert got.ids.tolist() == rows[order].tolist()
        assert np.array_equal(got.signatures, signed.doc_signatures[order])
