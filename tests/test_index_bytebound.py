"""The signature bytes in the bucket file (:mod:`dedup.index.bytebound`): an exact upper
bound of a candidate's equal signature positions, so the index drops chance candidates
without reading their rows -- and every verdict stays what it was without them: checks
and batch adds of new, exact, rewritten (at rates around the estimate floor) and
contained articles, over-full buckets, rows held since the file, removed rows the file
still lists and heirs of their bands, in the 85 x 3 and the default layout; and a
format-3 file (no signature bytes) is used as it was, then rewritten with them."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
import xxhash
from textgen import prose, rewrite

import dedup.index.contain
import dedup.index.documents
import dedup.index.query
from dedup.index import Index
from dedup.index.bytebound import equal_bound
from dedup.minhash import floor
from dedup.settings import Settings
from dedup.storage.bucketfile import MAGIC
from dedup.storage.optional import low_bytes
from dedup.storage.sqlite import SQLiteStorage
from dedup.verdict import Policy

#: Near-identical in every article (the edition differs): its common values make
#: containment buckets of more than the bound.
FOOTER = ("The {} edition of the Harbour Gazette is printed by the cooperative on recycled paper every "
          "morning, and its archive of letters, notices and obituaries is open to readers at the library.")
LAYOUTS = {"85x3": Settings(bands=85, rows=3), "default": Settings()}


def article(rng: random.Random, n: int) -> list[str]:
    return [prose(rng, rng.randint(30, 70)) for _ in range(rng.randint(3, 6))] + [FOOTER.format(n)]


def probes(rng: random.Random, stored: list[list[str]], start: int) -> list[str]:
    """New articles, exact copies, rewrites at rates from far above to below the
    threshold (their estimates straddle the floor), and texts contained in stored ones."""
    out = []
    for n in range(40):
        paras = rng.choice(stored)
        kind = n % 8
        if kind == 0:
            out.append("\n\n".join(article(rng, start + n)))
        elif kind == 1:
            out.append("\n\n".join(paras))
        elif kind in (2, 3, 4, 5):
            rate = (0.1, 0.3, 0.45, 0.6)[kind - 2]
            out.append("\n\n".join(rewrite(rng, p, rate) for p in paras))
        elif kind == 6:  # a stored paragraph quoted inside new text, and half of one alone
            words = paras[0].split()
            out.append("\n\n".join([prose(rng, 40), paras[1], " ".join(words[: len(words) // 2])]))
        else:  # a third of a stored paragraph, lightly edited
            words = max(paras[:-1], key=len).split()
            out.append(rewrite(rng, " ".join(words[: len(words) // 3]), 0.05))
    return out


def unknown(self, level, ids):
    """:meth:`SQLiteStorage.signature_bytes` of a backend that keeps none."""
    return np.zeros(len(ids), bool), np.zeros((len(ids), self.settings.num_perm), np.uint8)


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def built(request, tmp_path_factory):
    """An index of 90 articles in a bucket file, 12 more held since (in memory), one
    removed that the file still lists and one whose exact copy inherited its bands."""
    rng = random.Random(5)
    folder = tmp_path_factory.mktemp("bytebound")
    stored = [article(rng, n) for n in range(102)]
    with Index.open(folder / "i.dedup", LAYOUTS[request.param], policy=Policy("flag"), auto_optimize=False) as idx:
        idx.add_many([(f"d{n}", "\n\n".join(paras)) for n, paras in enumerate(stored[:90])])
        idx.add("\n\n".join(stored[3]), doc_id="copy-of-d3", policy=Policy("flag", add_duplicates=True))
        idx.optimize()
        idx.add_many([(f"d{n}", "\n\n".join(paras)) for n, paras in enumerate(stored[90:], 90)])
        idx.remove("d3")  # its bands go to its copy (an heir)
        idx.remove("d7")
        assert idx.stats()["bucket_file"]["paragraphs_behind"] > 0
    return folder, stored, rng


def run(folder, texts, batch, monkeypatch):
    """The verdicts, and what passed each floor the bound anticipates, call by call:
    the estimates at or above the Jaccard floors (paragraphs, documents) and the pairs
    :func:`~dedup.containment.plausible` keeps (query row, stored signature)."""
    passed = []

    def recorded(module, name, kept):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            got = real(*args, **kwargs)
            if len(kept(got, *args)):  # (a call that keeps nothing may be skipped without the bound)
                passed.append((module.__name__, name, kept(got, *args)))
            return got
        monkeypatch.setattr(module, name, wrapper)

    with Index.open(folder / "i.dedup", policy=Policy("flag"), auto_optimize=False) as idx:
        assert idx.stats()["bucket_file"]["in_use"]
        lowest = min(floor(idx.settings.threshold, idx.settings.num_perm),
                     floor(idx.settings.doc_threshold, idx.settings.num_perm))
        for module in (dedup.index.query, dedup.index.documents):
            recorded(module, "estimate", lambda got, *_: sorted(got[got >= lowest].tolist()))
        # (pairs named by their two signatures: the query rows handed over are only
        # those with containment candidates, numbered among themselves)
        recorded(dedup.index.contain, "plausible", lambda got, both, *_: sorted(
            zip(both[got[:, 0]].sum(axis=1).tolist(), both[got[:, 1]].sum(axis=1).tolist())))
        verdicts = [v.to_dict() for v in idx.check_many(texts)], [v.to_dict() for v in idx.add_many(batch)]
    return verdicts, passed


def test_verdicts_equal_those_without_the_bound(built, monkeypatch, tmp_path):
    folder, stored, rng = built
    texts = probes(rng, stored, 10_000)
    batch = [(f"new{n}", t) for n, t in enumerate(probes(rng, stored, 20_000))]
    signatures_of, rows_of = SQLiteStorage.paragraph_signatures, SQLiteStorage.paragraphs
    answers, reads = [], []
    for name in ("bound", "none"):
        copy = tmp_path / name
        shutil.copytree(folder, copy)
        if name == "none":
            monkeypatch.setattr(SQLiteStorage, "signature_bytes", unknown)
        read = []  # rows read for a signature or whole
        monkeypatch.setattr(SQLiteStorage, "paragraph_signatures",
                            lambda self, ids: read.append(len(ids)) or signatures_of(self, ids))
        monkeypatch.setattr(SQLiteStorage, "paragraphs", lambda self, ids: read.append(len(ids)) or rows_of(self, ids))
        with monkeypatch.context() as patch:
            answers.append(run(copy, texts, batch, patch))
        reads.append(sum(read))
    (verdicts, passed), (verdicts_without, passed_without) = answers
    assert verdicts == verdicts_without
    assert passed == passed_without  # the bound dropped only pairs below the floors
    assert any(kept for _, name, kept in passed if name == "plausible")
    checks, adds = verdicts
    paragraphs = [p for v in checks + adds for m in v["matches"] for p in m["paragraphs"]]
    assert {(p["relation"], p["exact"]) for p in paragraphs} >= {
        ("near-duplicate", True), ("near-duplicate", False), ("contained", False)}
    # Pairs close to the floor were judged: estimates between it (0.185) and the threshold.
    assert any(p["estimate"] < 0.3 for p in paragraphs if not p["exact"])
    # The bound did its work: fewer rows read (the chance candidates).
    assert reads[0] < reads[1]


def test_the_bound_is_never_below_the_equal_positions(built):
    """For every stored row (in the file, held since, an heir) and random checked
    signatures sharing some values with it: bytes agree wherever values do."""
    folder, _, _ = built
    rng = np.random.default_rng(3)
    with Index.open(folder / "i.dedup", auto_optimize=False, readonly=True) as idx:
        store = idx._store
        with store.transaction(write=False):
            ids = np.array([r[0] for r in store._conn.execute("SELECT id FROM paragraphs WHERE banded")])
            got, signatures = store.paragraph_signatures(ids)
            known, lows = store.signature_bytes("paragraph", got)
            assert known.all() and np.array_equal(lows, low_bytes(signatures))
            queries = rng.integers(0, 2**32, signatures.shape, dtype=np.uint32)
            same = rng.random(signatures.shape) < rng.random((len(got), 1))
            queries[same] = signatures[same]
            bound = equal_bound(store, "paragraph", queries, got)
            assert np.all(bound >= (queries == signatures).sum(axis=1))
            assert np.any(bound > (queries == signatures).sum(axis=1))  # chance byte agreements
            doc_ids = np.array([r[0] for r in store._conn.execute("SELECT id FROM documents WHERE banded")])
            docs = store.documents(doc_ids)
            known, lows = store.signature_bytes("document", docs.ids)
            assert known.all() and np.array_equal(lows, low_bytes(docs.signatures))


def test_a_format_3_file_is_used_without_bytes_then_rewritten_with_them(tmp_path):
    rng = random.Random(8)
    path = tmp_path / "i.dedup"
    stored = [article(rng, n) for n in range(30)]
    with Index.open(path, policy=Policy("flag"), auto_optimize=False) as idx:
        idx.add_many([(f"d{n}", "\n\n".join(paras)) for n, paras in enumerate(stored)])
        idx.optimize()
        lsh = idx.stats()["bucket_file"]["path"]
        texts = probes(rng, stored, 10_000)
        expected = [v.to_dict() for v in idx.check_many(texts)]
    good = open(lsh, "rb").read()
    size = int.from_bytes(good[8:16], "little")
    header = json.loads(good[16 : 16 + size])
    header["version"] = 3
    for spec in header["levels"].values():
        del spec["lows"]  # (the bytes stay: covered by the page checksums as before)
    text = json.dumps(header).encode().ljust(size)
    with open(lsh, "wb") as f:
        f.write(MAGIC + len(text).to_bytes(8, "little") + text + xxhash.xxh3_64_digest(text) + good[16 + size + 8 :])
    with Index.open(path, policy=Policy("flag"), auto_optimize=False) as idx:
        assert idx.stats()["bucket_file"]["in_use"] and idx._store.bucket_file_lag()[0] == 0
        ids = np.arange(1, 50)
        assert not idx._store.signature_bytes("paragraph", ids)[0].any()
        assert [v.to_dict() for v in idx.check_many(texts)] == expected
        idx.optimize()
        assert idx._store.bucket_file_lag()[0] > 0
        assert [v.to_dict() for v in idx.check_many(texts)] == expected
        with idx._store.transaction(write=False):
            got, signatures = idx._store.paragraph_signatures(ids)
            known, lows = idx._store.signature_bytes("paragraph", got)
            banded = np.array([idx._store._conn.execute("SELECT banded FROM paragraphs WHERE id = ?", (int(i),))
                               .fetchone()[0] for i in got], bool)
            assert known.all() and np.array_equal(lows[banded], low_bytes(signatures[banded]))
