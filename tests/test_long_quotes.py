"""A quote longer than a third of the text around it (session 17's N8): its Jaccard
reaches the threshold, yet the text around it is no copy.  For sets A inside B,
J = |A| / |B|: the Jaccard of a quote is just its share of the paragraph, so a pair
whose smaller side is contained and whose larger side holds less of it than two
equal texts at the threshold do (2t / (1 + t), :func:`dedup.containment.one_sided_below`)
is ``contained`` whatever its Jaccard -- in the scan, in clean and in the index."""

import random

import numpy as np
import pytest

import dedup
from dedup import Index, Policy
from dedup.containment import one_sided_below, relations
from dedup.report.summary import summarize
from textgen import rich_prose, write_docs

THRESHOLD = 0.3


def _quoting(seed: int, quote_words: int = 40, around_words: int = 62):
    """(a source article whose second paragraph is a quote, the quote, a paragraph of
    ``around_words`` of its own words reading the quote out in the middle)."""
    rng = random.Random(seed)
    quote = rich_prose(rng, quote_words)
    source = [rich_prose(rng, 60), quote, rich_prose(rng, 55)]
    own = rich_prose(rng, around_words).split()
    around = " ".join(own[: around_words // 2] + quote.split() + own[around_words // 2 :])
    return source, quote, around


def test_the_boundary_is_what_equal_texts_at_the_threshold_hold_of_each_other():
    # Two texts of one size at Jaccard t share I of n + n - I shingles: I/n = 2t/(1+t).
    n, t = 1000, THRESHOLD
    shared = 2 * t * n / (1 + t)
    assert shared / (2 * n - shared) == pytest.approx(t)
    assert one_sided_below(t) == pytest.approx(shared / n)
    # A quote wholly inside (c_small 1): J = c_large; near-duplicate only from 2t/(1+t) on.
    c_large = np.array([0.37, 0.45, 0.47, 0.8])
    near, inside = relations(c_large, np.ones(4), c_large, t, 0.7)
    assert near.all() and inside.tolist() == [True, True, False, False]
    # Both sides mostly inside each other: a near-duplicate, not a quote.
    assert not relations(np.array([0.6]), np.array([0.8]), np.array([0.7]), t, 0.7)[1].any()
    # The shared text must be the lesser part of the larger side: 1/2 caps the boundary.
    assert one_sided_below(0.8) == 0.5 and one_sided_below(0.5) == 0.5
    # Containment off: nothing is inside.
    assert not relations(c_large, np.ones(4), c_large, t, 0.0)[1].any()


def test_scan_reports_a_long_quote_as_contained_and_groups_nothing(tmp_path):
    source, quote, around = _quoting(1)
    rng = random.Random(2)
    # A control: a paragraph copied with a sentence added is a near-duplicate still.
    kept = rich_prose(rng, 60)
    write_docs(tmp_path, {"report.txt": [around, rich_prose(rng, 50), kept],
                          "source.txt": source + [kept + " " + rich_prose(rng, 8)]})
    result = dedup.scan(tmp_path, levels=("paragraph",))
    by_relation = {p.relation: p for p in result.pairs}
    q = by_relation["contained"]
    assert q.similarity >= THRESHOLD  # the case: Jaccard alone would call it a copy
    assert {q.a.paragraph, q.b.paragraph} == {0, 1} and max(q.containment) == 1.0
    assert min(q.containment) < one_sided_below(THRESHOLD)
    assert by_relation["near-duplicate"].similarity > 0.8
    # Only the control forms a group; the quote's paragraph is no duplicate paragraph.
    assert [sorted((m.path.rsplit("/", 1)[-1], m.paragraph) for m in g.members) for g in result.groups] == [
        [("report.txt", 2), ("source.txt", 3)]]
    assert summarize(result).duplicate_paragraphs == 1


def test_scan_reports_a_document_holding_a_short_one_as_contained(tmp_path):
    _, quote, around = _quoting(3)
    write_docs(tmp_path, {"brief.txt": [quote], "story.txt": [around]})
    (pair,) = [p for p in dedup.scan(tmp_path, levels=("document",)).pairs]
    assert pair.relation == "contained" and pair.similarity >= THRESHOLD


def test_clean_never_cuts_the_source_of_a_quote(tmp_path):
    source, quote, around = _quoting(4)
    rng = random.Random(5)
    # The quoting article sorts first, so it would be the group's canonical copy.
    src = write_docs(tmp_path / "src", {"a-report.txt": [rich_prose(rng, 50), around],
                                        "b-source.txt": source})
    report = dedup.clean(src, tmp_path / "out", strip_paragraphs=True)
    assert report.stripped_paragraphs == 0 and report.dropped == 0
    assert quote in (tmp_path / "out" / "b-source.txt").read_text()
    assert around in (tmp_path / "out" / "a-report.txt").read_text()


def test_index_counts_a_quote_as_the_quote_not_the_paragraph_around_it(tmp_path):
    source, quote, around = _quoting(6)
    other = rich_prose(random.Random(7), 45)
    article = "\n\n".join([around, other])
    with Index.open(tmp_path / "i.dedup") as idx:
        assert idx.add("\n\n".join(source), doc_id="source").added
        v = idx.check(article, doc_id="report")
        (m,) = v.matches
        (p,) = m.paragraphs
        assert p.relation == "contained" and p.similarity >= THRESHOLD
        # The quote is ~40 % of the first paragraph, which is ~60 % of the article:
        # ~25 % of its text seen (the whole paragraph would be ~60 %, a rejection).
        assert v.seen_share == pytest.approx(p.containment[0] * 0.6, abs=0.06) and v.seen_share < 0.5
        assert not v.is_duplicate and v.accepted and v.seen == ()
        assert "0 of 2 paragraphs already seen, 1 quoting stored text" in v.reason
        kept = idx.check(article, doc_id="report", policy="strip")
        assert kept.accepted and around in kept.text  # the quoting paragraph stays
        assert idx.add(article, doc_id="report").added


def test_index_flags_an_article_that_holds_a_short_stored_one(tmp_path):
    _, quote, around = _quoting(8)
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(quote, doc_id="brief")
        v = idx.add(around, doc_id="story")
        (m,) = v.matches
        assert m.similarity >= THRESHOLD and m.relation == "contains"
        assert v.relation == "contains" and not v.is_duplicate and v.accepted and v.added
        # The other way round the brief is inside the stored story: rejected as such.
        with Index.open(tmp_path / "j.dedup") as other:
            other.add(around, doc_id="story")
            w = other.check(quote, doc_id="brief")
            assert w.relation == "contained-in" and not w.accepted


def test_a_short_quote_of_a_stored_text_is_named_in_the_reason(tmp_path):
    # Below the threshold (a quote ~1/4 of its paragraph) the pair was contained before
    # too, but the reason said "nothing seen before" under "partly seen" (N10 of s17).
    source, quote, around = _quoting(10, around_words=130)
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add("\n\n".join(source), doc_id="source")
        v = idx.check(around, doc_id="report")
        (p,) = v.matches[0].paragraphs
        assert p.relation == "contained" and p.similarity < THRESHOLD
        assert v.reason.startswith("0 of 1 paragraphs already seen, 1 quoting stored text (")
        assert v.seen_share == pytest.approx(p.containment[0]) and 0 < v.seen_share < 0.5


def test_the_readme_s_quote_example_says_what_the_scan_says():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ dedup scan examples/quote/ --format json", 1)[1].split("\n")[1]
    pairs = dedup.scan(root / "examples" / "quote").to_dict()["pairs"]
    assert [[p["kind"], p["relation"], p["inside"], p["similarity"], p["containment"]] for p in pairs] == [
        json.loads(shown)]  # (jq prints 1.0 as 1)


def test_passages_cut_from_several_stored_stories_are_seen_text(tmp_path):
    # Tester F1 of s18: each paragraph wholly inside a stored paragraph three times its
    # size (J ~0.33, one-sided: contained), from three stored stories -- no single stored
    # document holds the article, so only the seen share can tell it was all seen.
    rng = random.Random(11)
    passages = []
    with Index.open(tmp_path / "i.dedup") as idx:
        for k in range(3):
            passage = rich_prose(rng, 45)
            own = rich_prose(rng, 90).split()
            idx.add("\n\n".join([" ".join(own[:45] + passage.split() + own[45:]), rich_prose(rng, 60)]),
                    doc_id=f"s{k}")
            passages.append(passage)
        v = idx.check("\n\n".join(passages), doc_id="round-up")
        assert [p.relation for m in v.matches for p in m.paragraphs] == ["contained"] * 3
        assert v.is_duplicate and not v.accepted and v.seen_share > 0.95
        assert v.reason.startswith("0 of 3 paragraphs already seen, 3 inside stored text (")
        assert v.seen == (0, 1, 2)  # listed as seen (what strip drops), not only counted (F1 note)


def test_a_copy_with_words_appended_stays_a_near_duplicate_at_a_strict_threshold(tmp_path):
    # Tester F10 / review R8 of s18: at --threshold 0.8 the boundary 2t/(1+t) was 0.89,
    # so a copy with 15 words appended (J ~0.87) was relabelled contained and clean kept both.
    rng = random.Random(12)
    text = rich_prose(rng, 100)
    write_docs(tmp_path / "src", {"a.txt": [text], "b.txt": [text + " " + rich_prose(rng, 15)]})
    strict = dedup.Settings(threshold=0.8, doc_threshold=0.8)
    result = dedup.scan(tmp_path / "src", strict)
    assert {(p.kind, p.relation) for p in result.pairs} == {("document", "near-duplicate"),
                                                            ("paragraph", "near-duplicate")}
    assert all(p.similarity >= 0.8 and max(p.containment) == 1.0 for p in result.pairs)
    # Clean keeps b.txt all the same: its paragraph holds a's whole plus 15 words found
    # nowhere else, so it is no copy of a's (tester F1 of s19: never cut a holder).
    cleaned = dedup.clean(tmp_path / "src", tmp_path / "out", strict)
    assert cleaned.dropped == 0 and [k["document"] for k in cleaned.manifest["kept_near_duplicates"]] == ["b.txt"]
    longer = (tmp_path / "src" / "b.txt").read_text()
    with Index.open(tmp_path / "i.dedup", settings=strict) as idx:
        idx.add(longer, doc_id="b")
        v = idx.check(text, doc_id="a")  # the shorter copy after the longer: the same answer
        assert v.relation == "duplicate" and v.matches[0].relation == "duplicate"
