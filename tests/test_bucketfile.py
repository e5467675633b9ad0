"""The bucket file: lookups through it equal lookups in what the database holds (read
into memory without a file), whatever happened since it was written (adds, removals
with hand-over, other processes writing new files); a missing, damaged, foreign,
unnamed or half-written file is never used."""

from __future__ import annotations

import fcntl
import json
import os
import random
import warnings
from collections import Counter

import numpy as np
import pytest
import xxhash
from textgen import prose, rewrite

import dedup.index
import dedup.index.upkeep
import dedup.storage.bucketfile.write
import dedup.storage.sqlite.buckets
import dedup.storage.sqlite.upkeep
from dedup.index import Index, contain
from dedup.storage.bucketfile import BLOCK, MAGIC, DeltaBuckets, bounded, find, open_bucket_file
from dedup.storage.sqlite.schema import write_live
from dedup.verdict import Policy


def article(rng: random.Random, paragraphs: int = 6) -> str:
    return "\n\n".join(prose(rng, rng.randint(40, 80)) for _ in range(paragraphs))


def rewritten(rng: random.Random, text: str, rate: float) -> str:
    """A light rewrite of every paragraph (paragraph breaks kept)."""
    return "\n\n".join(rewrite(rng, p, rate) for p in text.split("\n\n"))


def verdicts(idx: Index, texts: list[str]) -> list[dict]:
    return [v.to_dict() for v in idx.check_many(texts)]


def file_of(idx: Index) -> str:
    return idx.stats()["bucket_file"]["path"]


def without_file(idx: Index, texts: list[str]) -> list[dict]:
    """The same checks answered without the file, by a newly opened index: everything
    stored is read from the database into memory."""
    path = file_of(idx)
    os.rename(path, path + ".off")
    try:
        with Index.open(idx.path, policy=idx.policy, auto_optimize=False) as fresh:
            assert not in_use(fresh)
            return verdicts(fresh, texts)
    finally:
        os.rename(path + ".off", path)


def in_use(idx: Index) -> bool:
    return idx.stats()["bucket_file"]["in_use"]


def bucket_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "-lsh." in p.name and not p.name.endswith(".lock"))


@pytest.mark.parametrize("n", [0, 1, 7, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 3_000, 20_000])
def test_the_compiled_search_through_the_fence_equals_searchsorted(n):
    from dedup.storage.bucketfile.search import search

    rng = np.random.default_rng(n)
    for high in (2**8, 2**40, 2**64 - 1):  # many repeats, few, none
        keys = np.sort(rng.integers(0, high, n, dtype=np.uint64, endpoint=True))
        if high == 2**64 - 1 and n:  # a run of the largest key (no key after it)
            keys[-min(n, 3):] = high
        query = np.unique(np.concatenate([
            rng.integers(0, high, 500, dtype=np.uint64, endpoint=True), keys[:20], keys[-20:],
            np.array([0, 2**64 - 1], dtype=np.uint64),
        ]))
        fence = np.ascontiguousarray(keys[::BLOCK])
        left, count, lo, hi = search(keys, fence, query, -1, BLOCK)
        assert np.array_equal(left, np.searchsorted(keys, query))
        assert np.array_equal(count, np.searchsorted(keys, query, side="right") - left)
        # The range said read holds the answer and the key after its run.
        assert ((lo <= left) & (np.minimum(left + count + 1, n) <= hi) & (hi <= n)).all()
        got = find(keys, np.arange(n), query, fence)
        hit_keys, hit_refs = got.keys, got.refs
        expected = np.flatnonzero(np.isin(keys, query))
        assert np.array_equal(np.sort(hit_refs), expected) and np.array_equal(keys[hit_refs], hit_keys)
        assert not len(got.full)
        # With a limit: the same, less every key holding more entries than it (runs of
        # ~6, ~12 and ~80 entries with 2**8 keys, limits below, at and above them).
        present, count = np.unique(keys, return_counts=True)
        for limit in (0, 2, 8, 9, 12, 20, 80):
            over = present[count > limit]
            bounded_find = find(keys, np.arange(n), query, limit=limit)
            assert np.array_equal(np.sort(bounded_find.refs), expected[~np.isin(keys[expected], over)])
            assert np.array_equal(bounded_find.full, query[np.isin(query, over)])


def test_membership_of_sorted_and_unsorted_entries_is_isin():
    """``lookup.member`` (session 18: sorted entries -- a look-up of the file alone --
    are searched for each key of the set, not each entry in the set) against
    ``np.isin``: keys in no entry, in runs of entries, at both ends."""
    from dedup.storage.bucketfile.lookup import member

    rng = np.random.default_rng(4)
    for _ in range(200):
        values = rng.integers(0, 40, int(rng.integers(0, 300)), dtype=np.uint64)
        wanted = np.unique(rng.integers(0, 40, int(rng.integers(0, 30)), dtype=np.uint64))
        for entries in (values, np.sort(values)):
            assert np.array_equal(member(wanted, entries), np.isin(entries, wanted))


def test_delta_lookups_equal_a_brute_force_search_whatever_the_order_of_adds():
    rng = np.random.default_rng(3)
    delta = DeltaBuckets(after=0, width=4)
    held_keys, held_refs, sketch_of = [], [], {}
    ids = rng.permutation(np.arange(1, 400))  # heirs arrive out of id order
    for lo in range(0, len(ids), 37):
        batch = ids[lo : lo + 37]
        keys = rng.integers(0, 500, (len(batch), 5), dtype=np.uint64)  # collisions on purpose
        sketches = rng.integers(0, 256, (len(batch), 4), dtype=np.uint8)
        delta.add(batch, keys, sketches, np.arange(len(batch), dtype=np.uint32))
        held_keys.extend(keys.ravel().tolist())
        held_refs.extend(np.repeat(batch, 5).tolist())
        sketch_of.update(zip(batch.tolist(), sketches))
        query = np.unique(rng.integers(0, 500, 60, dtype=np.uint64))
        got = delta.lookup(query)
        expected = sorted((k, r) for k, r in zip(held_keys, held_refs) if k in set(query.tolist()))
        assert sorted(zip(got.keys.tolist(), got.refs.tolist())) == expected
        assert all(np.array_equal(s, sketch_of[r]) for r, s in zip(got.refs.tolist(), got.sketches))
        # Bounded: a key over the limit in the runs together gives no entry at all
        # (runs hold a key's entries in parts, so each part alone may be under it).
        for limit in (1, 3):
            keys_got, refs_got, _ = bounded([DeltaBuckets(0, 4).lookup(query, limit), delta.lookup(query, limit)],
                                            limit)
            per_key = Counter(k for k, _ in expected)
            assert sorted(zip(keys_got.tolist(), refs_got.tolist())) == [
                (k, r) for k, r in expected if per_key[k] <= limit]


def test_a_file_and_deltas_bounded_together_equal_a_brute_force_count():
    """:func:`bounded` with entries in the file (sorted by key) and in deltas: a key
    over the limit in all parts together gives no entry, the others all of theirs, in
    the parts' order (it counts the file's entries by searching them since session 22)."""
    rng = np.random.default_rng(5)
    for trial in range(40):
        file_keys = np.sort(rng.integers(0, 60, int(rng.integers(0, 400)), dtype=np.uint64))
        file_refs = rng.integers(1, 10_000, len(file_keys)).astype(np.int64)
        delta = DeltaBuckets(after=0, width=4)
        ids = rng.permutation(np.arange(10_001, 10_001 + int(rng.integers(0, 80))))
        for lo in range(0, len(ids), 23):
            batch = ids[lo : lo + 23]
            delta.add(batch, rng.integers(0, 60, (len(batch), 3), dtype=np.uint64),
                      np.zeros((len(batch), 4), np.uint8), np.zeros(len(batch), np.uint32))
        query = np.unique(rng.integers(0, 60, 30, dtype=np.uint64))
        everything = delta.lookup(query)
        entries = [(k, r) for k, r in zip(file_keys.tolist(), file_refs.tolist()) if k in set(query.tolist())]
        entries += list(zip(everything.keys.tolist(), everything.refs.tolist()))
        per_key = Counter(k for k, _ in entries)
        for limit in (0, 1, 3, 8, None):
            parts = [find(file_keys, file_refs, query, limit=limit).with_sketches(None),
                     delta.lookup(query, limit, False), DeltaBuckets(0, 4).lookup(query, limit, False)]
            got_keys, got_refs, _ = bounded(parts, limit)
            assert list(zip(got_keys.tolist(), got_refs.tolist())) == [
                (k, r) for k, r in entries if limit is None or per_key[k] <= limit], (trial, limit)


def test_the_files_entries_are_searched_only_for_keys_over_the_limit_by_what_is_held(monkeypatch):
    """:func:`bounded` searches the file's entries (millions at 20k articles) only for
    the keys it must drop from them -- the held parts' over-full keys and those over the
    limit only by the sum -- never for the file's own over-full keys (it returned none
    of their entries).  Review R4 of session 22: every look-up searched the file's
    entries for all of them (fails on the old code: the file's keys searched)."""
    from dedup.storage.bucketfile import lookup

    searched = []
    real = lookup.member
    monkeypatch.setattr(lookup, "member", lambda s, v: searched.append((len(s), len(v))) or real(s, v))
    file_keys = np.repeat(np.arange(10, dtype=np.uint64), [1, 9, 2, 9, 1, 1, 2, 9, 3, 1])
    file_refs = np.arange(len(file_keys), dtype=np.int64)
    query = np.arange(10, dtype=np.uint64)
    in_file = find(file_keys, file_refs, query, limit=4).with_sketches(None)
    assert list(in_file.full) == [1, 3, 7]  # the premise: the file's own over-full keys
    delta = DeltaBuckets(after=100, width=4)
    delta.add(np.array([101, 102]), np.array([[2, 0], [5, 6]], np.uint64), np.zeros((2, 4), np.uint8),
              np.zeros(2, np.uint32))
    got_keys, got_refs, _ = bounded([in_file, delta.lookup(query, 4, False), DeltaBuckets(0, 4).lookup(query, 4, False)], 4)
    assert not [s for s in searched if s[0] and s[1] == len(in_file.keys)]  # (an empty set: no search)
    expected = [(k, r) for k, r in zip(file_keys.tolist(), file_refs.tolist()) if k not in (1, 3, 7)]
    assert sorted(zip(got_keys.tolist(), got_refs.tolist())) == sorted(expected + [(2, 101), (0, 101), (5, 102), (6, 102)])
    # A held key that the sum puts over the limit is dropped from the file's entries too.
    delta.add(np.array([103, 104]), np.array([[8, 0], [8, 0]], np.uint64), np.zeros((2, 4), np.uint8),
              np.zeros(2, np.uint32))
    got_keys, _, _ = bounded([find(file_keys, file_refs, query, limit=4).with_sketches(None),
                              delta.lookup(query, 4, False)], 4)
    assert 8 not in got_keys.tolist() and got_keys.tolist().count(0) == 4


def assert_well_formed(idx: Index) -> None:
    """The file's arrays: keys sorted, the fence every BLOCK-th key, one entry per band
    (and containment key) of every banded row that exists, and nothing else."""
    store = idx._store
    for level, table in (("paragraph", "paragraphs"), ("document", "documents")):
        got = store._view.file.levels[level]
        assert np.all(got.keys[1:] >= got.keys[:-1]) and np.array_equal(got.fence, got.keys[::BLOCK])
        banded = {r[0] for r in store._conn.execute(f"SELECT id FROM {table} WHERE banded = 1")}
        refs, counts = np.unique(got.refs, return_counts=True)
        per_row = idx.settings.bands + idx.settings.spare_bands + contain.positions(idx.settings)  # band + containment keys
        assert set(refs.tolist()) <= banded and set(counts.tolist()) <= {per_row}


@pytest.mark.parametrize("partition", [1 << 22, 97], ids=["one key range", "many key ranges"])
def test_checks_answer_the_same_with_and_without_the_file_through_adds_and_removals(
    tmp_path, rng, monkeypatch, partition
):
    monkeypatch.setattr(dedup.storage.bucketfile.write, "PARTITION", partition)
    texts = [article(rng) for _ in range(30)]
    with Index.open(tmp_path / "i.dedup", policy=Policy("flag", add_duplicates=True)) as idx:
        for i, t in enumerate(texts[:12]):
            idx.add(t, doc_id=f"d{i}")
        idx.add(texts[3], doc_id="copy-of-d3")  # an exact copy: not banded until d3 goes
        written = idx.optimize()
        assert written["rows"]["document"] == 12 and in_use(idx)
        assert_well_formed(idx)
        for i, t in enumerate(texts[12:20], 12):  # stored after the file: read into the delta
            idx.add(t, doc_id=f"d{i}")
        probes = [rewritten(rng, t, 0.15) for t in texts] + [article(rng) for _ in range(5)]
        before = verdicts(idx, probes)
        assert before == without_file(idx, probes)
        assert sum(v["duplicate"] for v in before) == 20  # the 20 stored, not the others
        # Every paragraph of a rewritten stored article is matched; a paragraph that holds
        # its stored one whole plus words of its own is matched but not "seen" (e15db2c:
        # strip keeps it), so seen is a subset of matched, not always all six.
        matched = [{p["paragraph"] for m in v["matches"] for p in m["paragraphs"]} for v in before]
        assert [len(m) for m in matched] == [6] * 20 + [0] * 15
        assert all(set(v["seen_paragraphs"]) <= m for v, m in zip(before, matched))

        # Removals: rows the file lists are gone, d3's bands pass to its copy (an heir
        # the file does not know), d15 came after the file.
        for doc_id in ("d3", "d5", "d15"):
            idx.remove(doc_id)
        after = verdicts(idx, probes)
        assert after == without_file(idx, probes)
        assert [m["id"] for m in after[3]["matches"]] == ["copy-of-d3"]
        assert after[5]["matches"] == [] and after[15]["matches"] == []

        # Ids are never reused: a row added now lies above everything the file and the
        # delta (which has just read d19's rows) cover.
        assert verdicts(idx, probes[19:20])[0]["duplicate"]
        idx.remove("d19")
        idx.add(texts[25], doc_id="late")
        assert verdicts(idx, probes[25:26]) == without_file(idx, probes[25:26])
        assert verdicts(idx, probes[25:26])[0]["matches"][0]["id"] == "late"
        assert verdicts(idx, probes[25:26])[0]["seen_paragraphs"] == list(range(6))

        idx.optimize()  # folds everything in; the answers do not change
        assert verdicts(idx, probes) == without_file(idx, probes)
        assert_well_formed(idx)
        assert idx._store._view.deltas["paragraph"].rows == 0


def test_another_process_writing_a_new_file_is_picked_up_and_the_old_one_removed(tmp_path, rng):
    path = tmp_path / "i.dedup"
    texts = [article(rng) for _ in range(8)]
    with Index.open(path) as writer, Index.open(path) as reader:
        writer.add_many([(f"d{i}", t) for i, t in enumerate(texts[:4])])
        writer.optimize()
        assert reader.check(texts[1]).is_duplicate and in_use(reader)
        old = reader._store._view.file.file_id
        writer.add_many([(f"d{i}", t) for i, t in enumerate(texts[4:], 4)])
        writer.optimize()
        assert reader.check(texts[6]).is_duplicate
        view = reader._store._view
        assert view.file.file_id not in ("", old)  # the new file, not only the delta
        assert view.deltas["paragraph"].rows == 0
        assert bucket_files(tmp_path) == [f"i.dedup-lsh.{view.file.file_id}"]
        # The database names a file that is gone: a reader that has a file mapped keeps
        # it (with what was stored after it, still complete); a new reader reads
        # everything into memory.  A file is used only while the database names it.
        # (Changed the way the index itself does, under the meta rows' checksum: a plain
        # UPDATE is damage since format 14.)
        conn = writer._store._conn
        write_live(conn, str(path), bucket_file=old)
        assert reader.check(texts[6]).is_duplicate and in_use(reader)
        with Index.open(path, auto_optimize=False) as fresh:
            assert fresh.check(texts[6]).is_duplicate and not in_use(fresh)
            write_live(conn, str(path), bucket_file=view.file.file_id)
            assert fresh.check(texts[6]).is_duplicate and in_use(fresh)


def test_a_reader_whose_snapshot_names_a_just_replaced_file_takes_the_new_one(tmp_path, rng, monkeypatch):
    """The race of a reader that reads the name of the file in use just before a writer
    names a new one and removes the old: it must not read everything into memory."""
    path = tmp_path / "i.dedup"
    texts = [article(rng) for _ in range(6)]
    with Index.open(path) as writer:
        writer.add_many([(f"d{i}", t) for i, t in enumerate(texts)])
        writer.optimize()
        with Index.open(path, auto_optimize=False) as reader:
            real_open = dedup.storage.sqlite.buckets.open_bucket_file
            raced = []

            def writer_wins_the_race(*args):
                if not raced:
                    raced.append(True)
                    writer.add(article(rng), doc_id="late")
                    writer.optimize()  # names a new file, removes the one the reader was told of
                return real_open(*args)

            monkeypatch.setattr(dedup.storage.sqlite.buckets, "open_bucket_file", writer_wins_the_race)
            assert reader.check(texts[2]).is_duplicate
            view = reader._store._view
            assert raced and in_use(reader) and view.deltas["paragraph"].rows == 0


def _optimized(path, rng, n):
    """An index of ``n`` articles with a bucket file: (texts, the file's path, a probe
    rewriting the middle article, its verdicts, the file's bytes, the header's length,
    the parsed header)."""
    texts = [article(rng) for _ in range(n)]
    with Index.open(path) as idx:
        idx.add_many([(f"d{i}", t) for i, t in enumerate(texts)])
        idx.optimize()
        lsh = file_of(idx)
        probe = rewritten(rng, texts[n // 2], 0.1)
        expected = verdicts(idx, [probe])
    good = open(lsh, "rb").read()
    size = int.from_bytes(good[8:16], "little")
    return texts, lsh, probe, expected, good, size, json.loads(good[16 : 16 + size])


def test_a_damaged_foreign_or_truncated_file_is_not_used(tmp_path, rng):
    path = tmp_path / "i.dedup"
    texts, lsh, probe, expected, good, size, header = _optimized(path, rng, 5)
    header["levels"]["paragraph"]["refs"][1] = 40  # 10 refs for 510 keys: inconsistent
    inconsistent = good[:16] + json.dumps(header).encode().ljust(size) + good[16 + size :]
    damaged = {
        "truncated": good[: len(good) // 2],
        "appended to": good + b"\0" * 64,
        "not ours": b"SQLite format 3\0" + good[16:],
        "bad header": MAGIC + (10**6).to_bytes(8, "little") + b"{",
        "inconsistent lengths": inconsistent,
        "empty": b"",
    }
    with Index.open(tmp_path / "other.dedup") as other:  # a different index's file
        other.add(texts[0], doc_id="x")
        other.optimize()
        damaged["foreign"] = open(file_of(other), "rb").read()
    for what, data in damaged.items():
        with open(lsh, "wb") as f:
            f.write(data)
        with Index.open(path, auto_optimize=False) as idx:
            assert not in_use(idx), what
            assert verdicts(idx, [probe]) == expected, what
    with Index.open(path) as idx:
        idx.optimize()
        assert in_use(idx) and verdicts(idx, [probe]) == expected


def test_a_file_of_an_older_format_is_not_used_and_said_so(tmp_path, rng):
    """A format-2 file (no set sizes): replaced by the next optimize, and the warning
    meanwhile says it is older, not damaged."""
    path = tmp_path / "i.dedup"
    texts, lsh, probe, expected, good, size, header = _optimized(path, rng, 4)
    header["version"] = 2
    text = json.dumps(header).encode()
    with open(lsh, "wb") as f:
        f.write(MAGIC + len(text).to_bytes(8, "little") + text + xxhash.xxh3_64_digest(text) + good[16 + size + 8 :])
    with pytest.warns(UserWarning, match="written by an older dedup .bucket file format 2, this dedup reads 3-4"):
        with Index.open(path, auto_optimize=False, readonly=True) as idx:
            assert not in_use(idx) and verdicts(idx, [probe]) == expected
    with Index.open(path) as idx:
        idx.optimize()
        assert in_use(idx) and verdicts(idx, [probe]) == expected


def test_a_file_newer_than_the_database_is_not_used(tmp_path, rng):
    """E.g. the database restored from a backup older than the bucket file."""
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        idx.add(article(rng), doc_id="a")
        backup = (path.read_bytes(), (tmp_path / "i.dedup-wal").read_bytes())
        idx.add(article(rng), doc_id="b")
        idx.optimize()
    path.write_bytes(backup[0])
    (tmp_path / "i.dedup-wal").write_bytes(backup[1])
    with Index.open(path) as idx:
        assert len(idx) == 1 and not in_use(idx)


def test_a_failed_write_of_the_file_leaves_the_old_one_and_no_temporary(tmp_path, rng, monkeypatch):
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        idx.add(article(rng), doc_id="a")
        idx.optimize()
        before = bucket_files(tmp_path)
        idx.add(article(rng), doc_id="b")

        def full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", full)
        with pytest.raises(dedup.storage.IndexFull, match="i.dedup-lsh: .*disk full"):
            idx.optimize()
        monkeypatch.undo()
        assert bucket_files(tmp_path) == before and in_use(idx)
        assert idx.check(idx.get("b").text).is_duplicate
        # What a writer killed mid-way leaves -- a temporary, a whole file never named --
        # is removed by the next one.
        (tmp_path / f"i.dedup-lsh.{'a' * 32}.x1y2z3ab.tmp").write_bytes(b"half")
        (tmp_path / f"i.dedup-lsh.{'b' * 32}").write_bytes(b"whole but never named")
        (tmp_path / "i.dedup-lsh.x.dedup").write_bytes(b"another index's file, kept")
        idx.optimize()
        assert bucket_files(tmp_path) == [os.path.basename(file_of(idx)), "i.dedup-lsh.x.dedup"]


def test_automatic_rewrites_never_wait_nor_fail_an_add(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(dedup.index.upkeep, "OPTIMIZE_AFTER", 5)
    path = tmp_path / "i.dedup"
    with Index.open(path, busy_timeout=0.3) as idx:
        fd = os.open(str(path) + "-lsh.lock", os.O_RDONLY | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process is writing a bucket file
        try:
            assert idx.add(article(rng), doc_id="a").added  # due, skipped: no wait
            assert not in_use(idx)
            with pytest.raises(dedup.storage.IndexBusy, match="i.dedup: another process kept writing"):
                idx.optimize()  # asked for: waits up to the busy timeout
        finally:
            os.close(fd)

        def full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as patched, warnings.catch_warnings(record=True) as caught:
            patched.setattr(os, "fsync", full)
            warnings.simplefilter("always")
            assert idx.add(article(rng), doc_id="b").added  # stored; the rewrite failed
        assert any("disk full" in str(w.message) for w in caught)
        assert "b" in idx and not in_use(idx)
        idx.add(article(rng), doc_id="c")
        assert in_use(idx)


def test_optimize_after_the_newest_documents_were_removed(tmp_path, rng):
    with Index.open(tmp_path / "i.dedup") as idx:
        texts = [article(rng) for _ in range(4)]
        idx.add_many([(f"d{i}", t) for i, t in enumerate(texts)])
        idx.optimize()
        idx.remove("d3")
        idx.remove("d2")  # the highest ids the file covers are gone
        idx.optimize()
        assert in_use(idx) and idx.check(texts[1]).is_duplicate and not idx.check(texts[3]).flagged
        idx.add(texts[3], doc_id="again")  # ids above every removed one, found again
        assert [m.doc_id for m in idx.check(texts[3]).matches] == ["again"]


def test_an_automatic_rewrite_on_a_database_it_cannot_write_warns_and_writes_nothing(tmp_path, rng, monkeypatch):
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        idx.load([(f"d{i}", article(rng)) for i in range(3)])  # writes the file at its end
        assert in_use(idx)
        idx.add(article(rng), doc_id="late")
    # What SQLite does with a database file it may not write (e.g. mode 0444 in a
    # writable folder): a read-only connection, though the index was not opened read-only.
    real_connect = dedup.storage.sqlite.sqlite3.connect
    monkeypatch.setattr(dedup.storage.sqlite.sqlite3, "connect",
                        lambda target, **kw: real_connect(target.split("?")[0] + "?mode=ro", **kw))
    written = []
    real_write = dedup.storage.sqlite.upkeep.write_bucket_file
    monkeypatch.setattr(dedup.storage.sqlite.upkeep, "write_bucket_file", lambda *a: written.append(1) or real_write(*a))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Index.open(path) as idx:
            idx._optimize_if_behind(lambda covered, behind: True)  # due, but it cannot be named
            assert idx.check(idx.get("late").text).is_duplicate
    assert written == [] and any("read-only" in str(w.message) for w in caught)


def test_a_rolled_back_write_leaves_nothing_in_the_delta(tmp_path, rng, monkeypatch):
    path = tmp_path / "i.dedup"
    texts = [article(rng) for _ in range(3)]
    with Index.open(path) as idx:
        idx.add(texts[0], doc_id="a")
        idx.optimize()
        store = idx._store
        real_insert = store.insert_many
        calls = []

        def insert_then_fail(docs):
            real_insert(docs)
            calls.append([doc.doc_id for doc in docs])
            if len(calls) == 2:
                raise dedup.storage.IndexFull("simulated: disk full")

        monkeypatch.setattr(store, "insert_many", insert_then_fail)
        # c repeats a paragraph of b: b is written, then read into the delta for c's look-up.
        c = texts[2] + "\n\n" + texts[1].split("\n\n")[0]
        with pytest.raises(dedup.storage.IndexFull):
            idx.add_many([("b", texts[1]), ("c", c)])
        monkeypatch.undo()
        assert calls == [["b"], ["c"]]
        assert len(idx) == 1 and "b" not in idx
        v = idx.check(texts[1])
        assert not v.flagged  # b's rows went with the rollback, and out of the delta


def test_auto_optimize_writes_the_file_once_enough_is_outside_it(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(dedup.index.upkeep, "OPTIMIZE_AFTER", 20)
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        idx.add_many([(f"d{i}", article(rng, 3)) for i in range(5)])  # 15 paragraphs: not yet
        assert bucket_files(tmp_path) == []
        idx.add_many([(f"e{i}", article(rng, 3)) for i in range(3)])  # 24 > 20
        assert in_use(idx) and idx.stats()["bucket_file"]["paragraphs_behind"] == 0
    with Index.open(path, auto_optimize=False) as idx:
        idx.add_many([(f"f{i}", article(rng, 3)) for i in range(10)])
        assert idx.stats()["bucket_file"]["paragraphs_behind"] == 30


def test_the_file_is_plain_arrays_and_json(tmp_path, rng):
    """Nothing is pickled: a JSON header naming each array's offset and size."""
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(article(rng), doc_id="a")
        idx.optimize()
        uid = idx._store._uid
        data = open(file_of(idx), "rb").read()
        size = int.from_bytes(data[8:16], "little")
        header = json.loads(data[16 : 16 + size])
        assert header["uid"] == uid and header["bytes"] == len(data)
        opened = open_bucket_file(idx.path, header["file_id"], uid, header["width"], header["num_perm"])
        level = opened.levels["paragraph"]
        per_row = idx.settings.bands + idx.settings.spare_bands + contain.positions(idx.settings)  # band + containment keys
        assert len(level.keys) == 6 * per_row and np.all(level.keys[1:] >= level.keys[:-1])
        assert open_bucket_file(idx.path, header["file_id"], "another index", header["width"], header["num_perm"]) is None
