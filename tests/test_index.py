"""The persistent index's Python API: verdicts, policies, batches, the collection."""

from __future__ import annotations

import random

import pytest
from conftest import UKRAINE
from textgen import prose, rewrite

from dedup import Settings
from dedup.index import BadDocument, Index
from dedup.readers import Document
from dedup.scan import scan_documents
from dedup.storage import SettingsMismatch
from dedup.verdict import Policy


def article(rng: random.Random, paragraphs: int = 6) -> str:
    return "\n\n".join(prose(rng, rng.randint(40, 80)) for _ in range(paragraphs))


@pytest.fixture(params=["no bucket file", "bucket file"])
def idx(tmp_path, request):
    """Every test on this fixture runs twice: without a bucket file (every stored
    row's bands read into memory) and with one (written while the index is empty, so
    what the tests store goes into its delta: the same path, after a file)."""
    with Index.open(tmp_path / "articles.dedup") as index:
        if request.param == "bucket file":
            index.optimize()
        yield index
        assert index.stats()["bucket_file"]["in_use"] == (request.param == "bucket file")


@pytest.fixture
def seed_lines() -> list[str]:
    return UKRAINE.read_text(encoding="utf-8").splitlines()


def test_seed_article_lead_is_flagged_alone_and_inside_another_article(idx, seed_lines):
    # The fixture is one paragraph per line; paragraph 6 rewrites the lead (paragraph 0).
    stored = "\n".join(line for i, line in enumerate(seed_lines) if i != 6)
    assert idx.add(stored, doc_id="ukraine").added
    repeated = seed_lines[6]

    alone = idx.check(repeated)
    assert alone.is_duplicate and alone.flagged and alone.seen == (0,)
    (match,) = alone.matches
    assert match.doc_id == "ukraine"
    (para,) = match.paragraphs
    assert para.stored_paragraph == 0 and not para.exact
    assert 0.5 < para.similarity < 1.0 and para.containment[0] > 0.7
    assert (para.start, para.end) == (0, len(repeated))
    assert idx.get("ukraine").text[para.stored_start : para.stored_end] == seed_lines[0]

    other = [
        "Local officials said the harbour festival would go ahead as planned despite the storm warnings.",
        "The council met on Tuesday to discuss the budget for the new railway station and the bridge.",
        repeated,
        "Tickets for the concerts sold out within hours, according to the organisers of the event.",
    ]
    text = "\n\n".join(other)
    inside = idx.check(text, doc_id="other")
    assert inside.flagged and inside.seen == (2,)
    assert not inside.is_duplicate  # one paragraph of four: flagged, not a duplicate article
    (para2,) = inside.matches[0].paragraphs
    assert text[para2.start : para2.end] == repeated
    assert para2.similarity == pytest.approx(para.similarity)
    assert len(idx) == 1  # check never writes


def test_add_rejects_a_duplicate_and_says_why(idx, rng):
    text = article(rng)
    first = idx.add(text, doc_id="a")
    assert first.added and first.accepted and not first.flagged and first.reason == "nothing seen before"
    again = idx.add(rewrite(rng, text, 0.05), doc_id="b")
    assert again.is_duplicate and not again.added and not again.accepted
    assert again.similarity > 0.6 and "'a'" in again.reason
    assert len(idx) == 1 and "b" not in idx
    exact = idx.add(text, doc_id="c")
    assert exact.matches[0].exact and exact.similarity == 1.0
    kept = idx.add(text, doc_id="d", policy=Policy(add_duplicates=True))
    assert kept.added and not kept.accepted and "d" in idx


def test_seen_share_decides_a_document_duplicate(idx, rng):
    base = [prose(rng, 60) for _ in range(10)]  # long: sharing 2 paragraphs stays < doc_threshold
    idx.add("\n\n".join(base), doc_id="base")
    fresh = [prose(rng, 60) for _ in range(4)]
    half = "\n\n".join(base[:2] + fresh[:2])
    verdict = idx.check(half)
    assert verdict.is_duplicate and verdict.similarity < 0.3  # 2 of 4 = 50 % >= the default 50 %
    assert not idx.check(half, policy=Policy(seen_share=0.75)).is_duplicate
    quarter = idx.check("\n\n".join(base[:1] + fresh[:3]))
    assert quarter.flagged and not quarter.is_duplicate and quarter.seen_share == 0.25


def test_strip_keeps_only_new_paragraphs_and_stores_them(idx, rng):
    base = [prose(rng, 60) for _ in range(3)]
    idx.add("\n\n".join(base), doc_id="base")
    new = [prose(rng, 60) for _ in range(2)]
    text = "\n\n".join([new[0], rewrite(rng, base[1], 0.1), new[1]])
    v = idx.add(text, doc_id="mixed", policy="strip")
    assert v.accepted and v.added and v.seen == (1,)
    assert v.text == "\n\n".join(new)
    assert idx.get("mixed").text == v.text
    # Nothing new left: refused, nothing stored.
    none_new = idx.add(base[0] + "\n\n" + new[0], doc_id="old", policy="strip")
    assert not none_new.accepted and not none_new.added and none_new.text is None  # nothing to keep, so nothing to misuse


def test_flag_accepts_and_annotates_without_storing_duplicates(tmp_path, rng):
    with Index.open(tmp_path / "i.dedup", policy="flag") as idx:
        text = article(rng)
        idx.add(text, doc_id="a")
        v = idx.add(text, doc_id="b")
        assert v.accepted and v.is_duplicate and v.flagged and not v.added and len(idx) == 1


def test_remove_get_len_contains_and_bucket_hand_over(idx, rng):
    text = article(rng)
    idx.add(text, doc_id="a", meta={"source": "wire"})
    idx.add(text, doc_id="copy", policy=Policy(add_duplicates=True))
    got = idx.get("a")
    assert got.text == text and got.meta == {"source": "wire"} and len(got.paragraphs) == 6
    assert len(idx) == 2 and "a" in idx and "nope" not in idx and 3 not in idx
    idx.remove("a")
    assert len(idx) == 1 and "a" not in idx and idx.get("a") is None
    # The copy was never banded (its text was already stored); removing the original
    # must hand the buckets over, or near-duplicates of the copy would go unseen.
    v = idx.check(rewrite(rng, text, 0.1))
    assert v.is_duplicate and [m.doc_id for m in v.matches] == ["copy"]
    with pytest.raises(KeyError):
        idx.remove("a")
    idx.remove("copy")
    assert len(idx) == 0 and not idx.check(text).flagged


def test_batches_accept_every_item_shape_and_report_bad_items(idx, rng):
    texts = [article(rng) for _ in range(4)]
    verdicts = idx.add_many([
        ("t1", texts[0]),
        {"id": "t2", "text": texts[1], "source": "feed"},
        Document("t3", texts[2]),
        ("bad", 42),
        ("empty", "  \n "),
        ("short", "Too short.\n\nAlso short."),
        ("t4", rewrite(rng, texts[0], 0.05)),  # duplicate of t1, added earlier in this batch
        ("t1", texts[3]),  # id already taken
    ])
    assert [v.added for v in verdicts] == [True, True, True, False, True, True, False, False]
    assert "must be a string" in verdicts[3].error
    assert verdicts[4].error is None and "empty" in verdicts[4].reason  # stored by its exact key (#10)
    assert verdicts[5].error is None and "exact copy only" in verdicts[5].reason  # stored, by its key
    assert verdicts[6].is_duplicate and verdicts[6].matches[0].doc_id == "t1"
    assert "already in the index" in verdicts[7].error
    assert idx.get("t2").meta == {"source": "feed"}
    checked = idx.check_many([texts[1], ("x", texts[3]), ("y", None)])
    assert checked[0].is_duplicate and not checked[1].flagged and checked[2].error
    assert len(idx) == 5  # t1, t2, t3, the empty and the short one


def test_filter_streams_verdicts_batch_by_batch(idx, rng):
    texts = [article(rng, 3) for _ in range(5)]
    stream = [(f"d{i}", t) for i, t in enumerate(texts)] + [("dup", texts[2])]
    out = list(idx.filter(iter(stream), batch_size=2))
    assert [item for item, _ in out] == stream
    assert [v.accepted for _, v in out] == [True] * 5 + [False]
    assert len(idx) == 5


def test_single_calls_raise_clear_errors(idx):
    with pytest.raises(BadDocument, match="must be a string"):
        idx.add(b"bytes", doc_id="b")
    # A short text is no error: it is matched as an exact copy only (test_index_short.py).
    assert not idx.check("Only a few words here.", doc_id="tiny").is_duplicate


def test_settings_are_stored_and_checked_on_open(tmp_path, rng):
    path = tmp_path / "i.dedup"
    text = article(rng)
    with Index.open(path, Settings(ngram=3)) as idx:
        idx.add(text, doc_id="a")
    with Index.open(path) as idx:  # no settings: the stored ones
        assert idx.settings.ngram == 3 and idx.check(text).similarity == 1.0
    with pytest.raises(SettingsMismatch, match=r"ngram=3 \(asked for 2\)"):
        Index.open(path, Settings())


def test_an_index_made_with_the_old_default_bands_keeps_them(tmp_path, rng):
    # The derived layout changed from 85 x 3 to 49 x 2 (dedup.lsh.CATCH_TARGET): an
    # index made before keeps its stored layout and answers from it; asking for the new
    # one names both.
    path = tmp_path / "old.dedup"
    text = article(rng)
    with Index.open(path, Settings(bands=85, rows=3)) as idx:
        idx.add(text, doc_id="a")
    with Index.open(path) as idx:
        assert (idx.settings.bands, idx.settings.rows) == (85, 3)
        assert idx.check(text).similarity == 1.0
    with pytest.raises(SettingsMismatch, match=r"bands=85 \(asked for 49\), rows=3 \(asked for 2\)"):
        Index.open(path, Settings())


def test_index_finds_the_cross_document_pairs_a_scan_finds(tmp_path, rng):
    """Same signatures, same bands, same verification: adding documents one by one must
    find every paragraph pair a scan finds between a document and an earlier one."""
    paragraphs = [prose(rng, rng.randint(30, 70)) for _ in range(40)]
    docs = []
    for d in range(12):
        chosen = rng.sample(paragraphs, 4) if d % 3 else [prose(rng, 50) for _ in range(4)]
        docs.append("\n\n".join(rewrite(rng, p, rng.choice([0.0, 0.1, 0.2])) for p in chosen))
    result = scan_documents([Document(f"d{i:02d}", t) for i, t in enumerate(docs)], levels=["paragraph"])
    scan_pairs = {
        (p.a.path, p.a.paragraph, p.b.path, p.b.paragraph)
        for p in result.pairs if p.a.path != p.b.path
    }
    found = set()
    with Index.open(tmp_path / "i.dedup", policy=Policy("flag", add_duplicates=True)) as idx:
        for i, text in enumerate(docs):
            v = idx.add(text, doc_id=f"d{i:02d}")
            found |= {
                (m.doc_id, p.stored_paragraph, v.doc_id, p.paragraph) for m in v.matches for p in m.paragraphs
            }
    assert scan_pairs and found == scan_pairs


def test_load_commits_each_batch_and_signs_it_outside_the_write_lock(tmp_path, rng, monkeypatch):
    """``Index.load`` takes one write transaction per batch, after signing it (before:
    one transaction for the whole load, each batch signed inside it -- other writers
    held off throughout, and an interruption lost every batch); loading the same
    articles again resumes: the stored ones are "already indexed"."""
    import importlib
    import sqlite3

    run_module = importlib.import_module("dedup.index.run")
    texts = [(f"d{i}", article(rng)) for i in range(6)]
    path = tmp_path / "i.dedup"
    real, calls = run_module.sign, []

    def sign(batch, *args, **kwargs):
        calls.append(len(batch))
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer is not held off while a batch is signed
            other.execute("ROLLBACK")
        finally:
            other.close()
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(batch, *args, **kwargs)

    with Index.open(path) as idx:
        monkeypatch.setattr(run_module, "sign", sign)
        with pytest.raises(KeyboardInterrupt):
            idx.load(texts, batch_size=2)
        assert calls == [2, 2, 2] and sorted(idx.ids()) == ["d0", "d1", "d2", "d3"]
        monkeypatch.setattr(run_module, "sign", real)
        again = idx.load(texts, batch_size=2)
    assert [v.already_indexed for v in again] == [True] * 4 + [False] * 2
    assert [v.added for v in again] == [False] * 4 + [True] * 2


def test_load_stores_without_checking_and_later_checks_see_everything(tmp_path, rng):
    texts = [article(rng) for _ in range(6)]
    with Index.open(tmp_path / "bulk.dedup") as bulk, Index.open(tmp_path / "one.dedup") as one:
        loaded = bulk.load([(f"d{i}", t) for i, t in enumerate(texts)] + [("d0", texts[1]), ("bad", None)], batch_size=3)
        assert [v.added for v in loaded] == [True] * 6 + [False, False]
        assert "already in the index" in loaded[6].error and loaded[7].error
        for i, t in enumerate(texts):
            one.add(t, doc_id=f"d{i}")
        assert bulk.stats()["bucket_file"]["in_use"]  # written at the end of the load
        wal = tmp_path / "bulk.dedup-wal"
        assert wal.stat().st_size == 0  # the load's log was folded back
        probe = rewrite(rng, texts[4], 0.1)
        assert bulk.check(probe).matches == one.check(probe).matches


def test_filter_refuses_a_bad_policy_when_called(tmp_path):
    """New user's N3 (session 18): ``filter(stream, policy="delete")`` raised only when
    the first item was pulled; it now refuses the policy at once, as ``add`` does."""
    with Index.open(tmp_path / "f.dedup") as index:
        with pytest.raises(ValueError, match="policy must be one of"):
            index.filter(iter([("a", "some text to add")]), policy="delete")
