"""The index's containment look-up (#11, index side): a checked text inside a longer
stored one is found, as the scan finds it (dedup/index/contain.py).

Before: after ``dedup index add report.txt``, ``dedup check statement.txt`` (a 40-word
statement quoted in a 180-word paragraph, 1:4) said "new": the index had only Jaccard
bands, and its estimate floor at the Jaccard threshold dropped such pairs."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from dedup import Index, Settings
from dedup.cli import main
from textgen import rewrite, rich_prose


def quoted(rng: random.Random, quote_words: int, ratio: int) -> tuple[str, str]:
    """A quote and a paragraph ``ratio`` times its length that holds it verbatim."""
    quote = rich_prose(rng, quote_words)
    words = rich_prose(rng, quote_words * (ratio - 1)).split()
    at = rng.randint(0, len(words))
    return quote, " ".join(words[:at] + quote.split() + words[at:])


def test_the_issues_statement_inside_a_report_is_contained_in_it(tmp_path):
    rng = random.Random(1)
    statement, paragraph = quoted(rng, 40, 4)  # 40 words in 160 (the issue: 40 in 180)
    (tmp_path / "report.txt").write_text(rich_prose(rng, 60) + "\n\n" + paragraph + "\n")
    (tmp_path / "statement.txt").write_text(statement + "\n")
    db = tmp_path / "i.dedup"
    run = CliRunner().invoke
    assert run(main, ["index", "add", str(tmp_path / "report.txt"), "--db", str(db), "--base", str(tmp_path)]
               ).exit_code == 0
    checked = run(main, ["check", str(tmp_path / "statement.txt"), "--db", str(db), "--base", str(tmp_path),
                         "--format", "json"])
    assert checked.exit_code == 1
    [verdict] = json.loads(checked.stdout)["verdicts"]
    assert verdict["relation"] == "contained-in" and not verdict["accepted"]
    [match] = verdict["matches"]
    assert match["id"] == "report.txt" and match["containment"][0] == 1.0
    assert [p["relation"] for p in match["paragraphs"]] == ["contained"]


@pytest.mark.parametrize("ratio", [4, 6, 8, 10])
def test_quotes_are_found_at_every_size_ratio_searched(backend, ratio):
    """Verbatim quotes of 20-60 words in paragraphs 4-10x longer, 20 per ratio, on both
    backends (the keys go through the storage contract like band keys)."""
    rng = random.Random(ratio)
    cases = [quoted(rng, rng.randint(20, 60), ratio) for _ in range(20)]
    with Index.open(backend.url) as idx:
        idx.add_many([(f"r{i}", paragraph) for i, (_, paragraph) in enumerate(cases)])
        verdicts = idx.check_many([(f"q{i}", quote) for i, (quote, _) in enumerate(cases)])
    found = [v.relation == "contained-in" and v.matches[0].doc_id == f"r{i}" for i, v in enumerate(verdicts)]
    assert sum(found) >= 19, [v.reason for v in verdicts]  # p >= 0.99 each by design


def test_edited_quotes_are_found_and_unrelated_texts_are_not(tmp_path):
    rng = random.Random(7)
    cases = [quoted(rng, 40, 5) for _ in range(30)]
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add_many([(f"r{i}", paragraph) for i, (_, paragraph) in enumerate(cases)])
        edited = idx.check_many([(f"q{i}", rewrite(rng, quote, 0.05)) for i, (quote, _) in enumerate(cases)])
        others = idx.check_many([rich_prose(rng, 40) for _ in range(30)])
    assert sum(v.relation == "contained-in" for v in edited) >= 28
    assert not any(v.matches for v in others)


def test_the_report_that_contains_a_stored_statement_is_flagged_in_a_batch_too(tmp_path):
    """A batch judged as a whole gives the verdicts of one-at-a-time adds (batch.py
    relates a later article to an earlier one containing it)."""
    rng = random.Random(8)
    statement, paragraph = quoted(rng, 30, 8)
    items = [("statement", statement), ("report", paragraph), ("again", statement)]
    with Index.open(tmp_path / "a.dedup") as batch, Index.open(tmp_path / "b.dedup") as single:
        together = batch.add_many(items)
        alone = [single.add(text, doc_id) for doc_id, text in items]
    assert [v.relation for v in together] == [v.relation for v in alone] == [None, "contains", "duplicate"]
    assert [v.added for v in together] == [v.added for v in alone] == [True, True, False]


def test_containment_off_turns_the_look_up_off(tmp_path):
    rng = random.Random(9)
    statement, paragraph = quoted(rng, 30, 8)
    with Index.open(tmp_path / "off.dedup", Settings(containment=0)) as idx:
        idx.add(paragraph, "report")
        assert idx.check(statement).relation is None


def test_the_scan_and_the_index_report_the_same_quotes_on_both_sides_of_the_largest_ratio(tmp_path):
    """Tester F4 (session 16): a heading quoted in a paragraph 12.25x its size was
    reported by the scan (a chance Jaccard band, then a floor at the pair's contained
    Jaccard) and never by the index (not searched beyond MAX_RATIO, so floored at the
    Jaccard threshold).  One floor now (containment.lowest_jaccard): at 1:10 both find
    the quotes, at ~1:14 neither reports a quote whose Jaccard is under the threshold."""
    from dedup import Document, scan_documents

    rng = random.Random(12)
    cases = [quoted(rng, rng.randint(12, 24), ratio) for ratio in (10, 14) for _ in range(40)]
    docs = [Document(f"{kind}{i:02}", text) for i, case in enumerate(cases) for kind, text in zip("qc", case)]
    scanned = {int(p.a.path[1:]) for p in scan_documents(docs, levels=["paragraph"]).pairs
               if p.relation == "contained" and p.a.path[1:] == p.b.path[1:]}
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add_many([(f"c{i:02}", container) for i, (_, container) in enumerate(cases)])
        verdicts = idx.check_many([quote for quote, _ in cases])
    indexed = {i for i, v in enumerate(verdicts) if v.relation == "contained-in" and v.matches[0].doc_id == f"c{i:02}"}
    assert len(indexed & set(range(40))) >= 38 and len(scanned & set(range(40))) >= 38
    assert scanned - set(range(40)) == indexed - set(range(40)) == set()


def test_the_shared_bucket_pairs_are_those_of_a_count_pair_by_pair():
    """``contain._shared`` (session 18: one sort of packed codes, no stable argsort)
    against a count pair by pair: hits in unsorted runs of a key, buckets over
    ``MAX_BUCKET`` members (a backend may return them), a key held by several query rows
    (a batch), a hit key not asked for, and pairs sharing one bucket and two."""
    from collections import defaultdict

    import numpy as np

    from dedup.containment import MAX_BUCKET
    from dedup.index.contain import MIN_SHARED, _shared

    rng = np.random.default_rng(5)
    width = 9
    query = rng.integers(1, 60, size=(7, width), dtype=np.uint64) * np.uint64(1 << 40) + np.arange(
        width, dtype=np.uint64)  # keys repeat across rows, never within one
    pool = np.unique(query)
    members = {int(k): rng.choice(300, size=rng.choice([1, 2, 5, MAX_BUCKET - 1, MAX_BUCKET, 90]), replace=False)
               for k in pool}
    members[int(pool[0]) + 7] = np.array([3, 4])  # a key no query row holds
    runs = [(np.full(len(m), k, np.uint64), m) for k, m in members.items()]
    order = rng.permutation(len(runs))  # runs of a key, the runs out of order
    hit_keys = np.concatenate([runs[i][0] for i in order])
    hit_refs = np.concatenate([runs[i][1] for i in order]).astype(np.uint64)
    shared = defaultdict(list)
    for row in range(len(query)):
        for position, key in enumerate(query[row].tolist()):
            if key in members and len(members[key]) + 1 <= MAX_BUCKET:
                for ref in members[key].tolist():
                    shared[(row, ref)].append(position)
    want = sorted((row, ref, min(p)) for (row, ref), p in shared.items() if len(p) >= MIN_SHARED)
    new, refs, position = _shared(query, hit_keys, hit_refs)
    assert list(zip(new.tolist(), refs.tolist(), position.tolist())) == want
    assert len(want) > 10 and any(p > 0 for *_, p in want)


def test_redis_reads_no_row_of_a_containment_candidate_its_estimate_rules_out(redis_prefix, monkeypatch):
    """A backend without signature bytes (Redis) gets the containment look-up's
    candidates with no bound on their signatures; their size ratio, depth and estimate
    (:func:`dedup.index.contain.candidates`) are judged on the signatures and set sizes
    the worker holds before any row is read, so a chance candidate's row is not read
    (session 24: at 20k stored articles a ``check_many`` read 28.9k rows to keep 459).
    Chance pairs with every stored paragraph are added to the look-up's answer: the
    verdict is the same, and few of their rows are read (before: every one)."""
    import numpy as np
    from conftest import NO_REDIS, REDIS_URL, redis_url

    import dedup.index.contain as contain

    if not REDIS_URL:
        pytest.skip(NO_REDIS)
    rng = random.Random(8)
    stored = [rich_prose(rng, 60) + "\n\n" + rich_prose(rng, 400) for _ in range(30)]
    article = rich_prose(rng, 70) + "\n\n" + rich_prose(rng, 70)
    with Index.open(redis_url(prefix=redis_prefix)) as idx:
        idx.add_many([(f"s{i}", text) for i, text in enumerate(stored)])
        plain = idx.check(article).to_dict()
        store, real_hits, injected, read = idx._store, contain.hits, set(), set()  # noqa: SLF001

        def with_chance_pairs(store_, signatures, sizes, sketches):
            new, refs, position = real_hits(store_, signatures, sizes, sketches)
            ids, _ = store_.paragraph_signatures(np.arange(1, 10_000))
            extra = np.setdiff1d(ids, refs[new == 0])
            injected.update(extra.tolist())
            pairs = np.r_[new * 10_000 + refs, extra]  # query row 0 with every other stored row
            order = np.argsort(pairs)
            return (np.r_[new, np.zeros(len(extra), np.int64)][order], np.r_[refs, extra][order],
                    np.r_[position, np.zeros(len(extra), np.int64)][order])

        real_paragraphs = store.paragraphs

        def counted(ids):
            read.update(np.asarray(ids).tolist())
            return real_paragraphs(ids)

        monkeypatch.setattr(contain, "hits", with_chance_pairs)
        monkeypatch.setattr(store, "paragraphs", counted)
        assert idx.check(article).to_dict() == plain
    assert len(injected) >= 30
    assert len(read & injected) <= len(injected) // 4
