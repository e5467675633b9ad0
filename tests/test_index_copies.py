"""Exact copies of matched stored texts (contract rule 5) listed without reading the
rows of texts stored once (:class:`~dedup.storage.optional.KeyCounts`): the verdicts
of checks and batch adds are those of a backend that counts nothing, for texts stored
once, twice and more than ``MAX_COPIES`` times, matched exactly and as rewrites; and
fewer rows are read."""

from __future__ import annotations

import random
import shutil
from typing import Protocol, runtime_checkable

import numpy as np
from textgen import prose, rewrite

import dedup.index.query
from dedup.index import Index
from dedup.index.matches import MAX_COPIES
from dedup.index.signing import sign
from dedup.settings import Settings
from dedup.storage.sqlite import SQLiteStorage
from dedup.verdict import Policy

KEEP = Policy("flag", add_duplicates=True)


@runtime_checkable
class _Nothing(Protocol):
    """A protocol no backend implements (the look-up then counts no key)."""

    def _never_implemented(self) -> None: ...


def _stored(tmp_path, rng):
    """An index where paragraph texts are stored once, twice and more than MAX_COPIES
    times (whole articles repeated, and one paragraph repeated inside new articles)."""
    articles = ["\n\n".join(prose(rng, rng.randint(30, 60)) for _ in range(4)) for _ in range(12)]
    shared = prose(rng, 45)
    (tmp_path / "built").mkdir()
    path = tmp_path / "built" / "i.dedup"
    with Index.open(path, Settings(boilerplate=0), policy=KEEP) as idx:  # (no paragraph is boilerplate)
        idx.add_many([(f"a{n}", text) for n, text in enumerate(articles)])
        idx.add(articles[1], doc_id="a1-copy")
        idx.add_many([(f"s{n}", f"{prose(rng, 40)}\n\n{shared}") for n in range(MAX_COPIES + 3)])
    return path, articles, shared


def _probes(rng, articles, shared):
    return ([articles[0], articles[1], articles[2] + "\n\n" + shared, f"{prose(rng, 50)}\n\n{shared}",
             "\n\n".join(rewrite(rng, p, 0.1) for p in articles[1].split("\n\n")), prose(rng, 60)]
            + [rewrite(rng, a, 0.2) for a in articles[3:6]])


def test_key_counts_count_the_stored_rows_of_each_key(tmp_path):
    rng = random.Random(4)
    path, articles, shared = _stored(tmp_path, rng)
    with Index.open(path) as idx:
        keys = np.concatenate([sign([articles[0]], idx.settings).corpus.para_key[:1],
                               sign([articles[1]], idx.settings).corpus.para_key[:1],
                               sign([shared], idx.settings).corpus.para_key])
        keys = np.concatenate([keys, keys[:1] ^ np.uint64(0x5555)])
        with idx._store.transaction(write=False):
            assert idx._store.key_counts("paragraph", keys).tolist() == [1, 2, MAX_COPIES + 3, 0]
            assert idx._store.key_counts("paragraph", keys[:0]).tolist() == []


def test_verdicts_equal_those_without_key_counts(tmp_path, monkeypatch):
    rng = random.Random(11)
    path, articles, shared = _stored(tmp_path, rng)
    probes = _probes(rng, articles, shared)
    batch = [(f"new{n}", text) for n, text in enumerate(_probes(rng, articles, shared))]
    real = SQLiteStorage.paragraph_copy_places
    answers, copied = [], []
    for counting in (True, False):
        copy = shutil.copytree(path.parent, tmp_path / str(counting)) / path.name
        asked: list[int] = []
        with monkeypatch.context() as patch:
            if not counting:
                patch.setattr(dedup.index.query, "KeyCounts", _Nothing)
            patch.setattr(SQLiteStorage, "paragraph_copy_places",
                          lambda self, keys, limit: asked.append(len(keys)) or real(self, keys, limit))
            with Index.open(copy, policy=KEEP) as idx:
                checks = [v.to_dict() for v in idx.check_many(probes)]
                adds = [v.to_dict() for v in idx.add_many(batch)]
        answers.append((checks, adds))
        copied.append(sum(asked))
    assert answers[0] == answers[1]
    checks, adds = answers[0]
    listed = [p for v in checks for m in v["matches"] for p in m["paragraphs"] if p["exact"]]
    assert len({m["id"] for v in checks for m in v["matches"]}) > MAX_COPIES  # copies were listed
    assert listed
    assert copied[0] < copied[1]  # texts stored once: not read again


def test_sqlite_copies_come_by_uint64_key_then_id_as_one_statement_a_key_gave_them(tmp_path):
    # SQLite reads the copies of keys counted at most MAX_COPIES times in one IN read and
    # the others with a LIMIT statement each, then sorts: the rows must come as the old
    # one statement a key gave them -- keys in uint64 order (SQLite stores them signed),
    # each key's rows by id, at most MAX_COPIES of a key.
    rng = random.Random(4)
    path, articles, shared = _stored(tmp_path, rng)
    with Index.open(path) as idx:
        store = idx._store
        keys = sign([articles[1], shared, articles[0]], idx.settings).corpus.para_key
        assert (keys >= np.uint64(2**63)).any() and (keys < np.uint64(2**63)).any()  # (both signs in SQLite)
        got = store.paragraph_copy_places(keys, MAX_COPIES)
        expected = [row[0] for key in np.unique(keys).view(np.int64).tolist() for row in store._conn.execute(
            "SELECT id FROM paragraphs WHERE key = ? ORDER BY id LIMIT ?", (key, MAX_COPIES))]
        counts = store.key_counts("paragraph", np.unique(keys))
    assert counts.max() > MAX_COPIES and (counts == 2).any()  # (both reads used)
    assert got.ids.tolist() == expected
    assert np.array_equal(got.keys, np.repeat(np.unique(keys), np.minimum(counts, MAX_COPIES)))
