"""The index's verdicts carry the relation (duplicate / contained-in / contains) and
leave boilerplate out of their document judgement (issue #11)."""

import random

import pytest

from dedup import Index, Policy
from textgen import rewrite, rich_prose


@pytest.fixture
def quote_and_report():
    rng = random.Random(4)
    quote = rich_prose(rng, 40)
    # The quote is ~2/7 of the report's paragraph (Jaccard ~0.28, below the threshold);
    # tests/test_index_contain.py has smaller parts (1:4 to 1:10), found by the
    # index's containment look-up.
    words = rich_prose(rng, 100).split()
    return quote, " ".join(words[:50] + quote.split() + words[50:])


def test_an_article_inside_a_stored_one_is_rejected(tmp_path, quote_and_report):
    quote, report = quote_and_report
    with Index.open(tmp_path / "i.dedup") as idx:
        assert idx.add(report, doc_id="report").added
        v = idx.check(quote, doc_id="statement")
        assert v.relation == "contained-in" and not v.is_duplicate and not v.accepted
        assert "inside 'report'" in v.reason and v.to_dict()["relation"] == "contained-in"
        (m,) = v.matches
        assert m.containment[0] == 1.0 and m.similarity < 0.3
        assert [p.relation for p in m.paragraphs] == ["contained"]
        assert not idx.add(quote, doc_id="statement").added
        stripped = idx.check(quote + "\n\n" + rich_prose(random.Random(9), 50), policy="strip")
        assert stripped.accepted and quote not in stripped.text  # the contained paragraph goes
        assert idx.check(quote, policy="flag").accepted


def test_an_article_that_contains_a_stored_one_is_flagged_not_rejected(tmp_path, quote_and_report):
    quote, report = quote_and_report
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(quote, doc_id="statement")
        v = idx.add(report, doc_id="report")
        assert v.relation == "contains" and v.accepted and v.added and v.flagged
        assert "contains 'statement'" in v.reason


def test_stored_boilerplate_is_left_out_of_the_judgement(tmp_path):
    rng = random.Random(5)
    footer = [rich_prose(rng, 30) for _ in range(3)]
    with Index.open(tmp_path / "i.dedup") as idx:
        # Counts grow with what is stored: the first stories of a site look alike
        # through their footer, so they are stored here by a policy that keeps them.
        keep = Policy(action="flag", add_duplicates=True)
        for i in range(10):
            idx.add("\n\n".join([rich_prose(rng, 40), rich_prose(rng, 40)] + footer), doc_id=f"s{i}", policy=keep)
        for i in range(10, 15):
            v = idx.add("\n\n".join([rich_prose(rng, 40), rich_prose(rng, 40)] + footer), doc_id=f"s{i}")
            assert v.boilerplate == (2, 3, 4) and not v.is_duplicate and v.accepted and v.added, v.reason
            assert v.to_dict()["boilerplate_paragraphs"] == [2, 3, 4]


def test_boilerplate_counts_every_judged_document_stored_or_rejected(backend):
    """#11: pages that are mostly furniture (a 20-word brief under 90 words of footer)
    look like editions of one page, so the first ones are rejected through their
    footer (:func:`dedup.boilerplate.framed` does not apply: 80 % of each page is the
    footer); counted over *stored* documents only, the footer then never reached the
    boilerplate count and every later brief was rejected too.  The index tallies
    every judged document (persistently, in the storage), so once 10 briefs were
    seen the footer is boilerplate."""
    rng = random.Random(6)
    footer = [rich_prose(rng, 30) for _ in range(3)]

    def story() -> str:
        return "\n\n".join([rich_prose(rng, 20)] + footer)

    with Index.open(backend.url) as idx:
        first = [idx.add(story(), doc_id=f"s{i}") for i in range(10)]
        assert first[0].added and not any(v.added for v in first[1:])  # duplicates through the footer
        assert len(idx) == 1
    with Index.open(backend.url) as idx:  # the counts are stored: a new process sees them
        later = idx.add_many([(f"s{i}", story()) for i in range(10, 14)])
        assert all(v.added and v.boilerplate == (1, 2, 3) and not v.is_duplicate for v in later), later[0].reason
        assert idx.check(story()).boilerplate == (1, 2, 3)


def test_boilerplate_is_left_out_of_both_sides_of_a_document_score(backend, tmp_path):
    """Tester D7 (#11): a byte-identical copy of a stored story was called an exact
    copy at document similarity 0.97, because its boilerplate paragraphs were left out
    of the checked side only.  Both sides now lose the checked article's boilerplate
    shingles: the identical copy scores 1.0, and an edited story is scored exactly as
    the same two stories without their footer."""
    rng = random.Random(7)
    # A footer sharing no word with the stories, so "without the footer" is exact.
    footer = ["Cookies: Sitewide uses cookies; continuing means consenting. Preferences anytime.",
              "Newsletter: weekly digest, unsubscribe anytime. Copyright 2026 Sitewide Media."]
    bodies = [[rich_prose(rng, 40), rich_prose(rng, 40)] for _ in range(10)]
    # One paragraph of s3 lightly edited, one new (a paragraph kept word for word in an
    # otherwise unrelated story would be the frame the two share: test_a_new_story_...).
    edited = [rewrite(rng, bodies[3][0], 0.1), rich_prose(rng, 40)]
    with Index.open(backend.url) as idx:
        keep = Policy(action="flag", add_duplicates=True)
        for i, body in enumerate(bodies):
            idx.add("\n\n".join(body + footer), doc_id=f"s{i}", policy=keep)
        same = idx.check("\n\n".join(bodies[0] + footer))
        assert same.boilerplate == (2, 3)
        top = same.matches[0]
        assert top.doc_id == "s0" and top.exact and top.similarity == 1.0 and top.containment == (1.0, 1.0)
        (with_footer,) = [m for m in idx.check("\n\n".join(edited + footer)).matches if m.doc_id == "s3"]
    with Index.open(tmp_path / "no-footer.dedup") as plain:
        plain.add("\n\n".join(bodies[3]), doc_id="s3")
        (without,) = plain.check("\n\n".join(edited)).matches
    assert with_footer.similarity == without.similarity < 0.5
    assert with_footer.containment == without.containment


def test_a_stored_pages_own_boilerplate_is_left_out_too(backend):
    """#11: boilerplate only the stored page has (its footer, which the checked copy of
    its story lacks) was left in the stored side: the same story scored 0.75, not 1."""
    rng = random.Random(9)
    footer = ["Cookies: Sitewide uses cookies; continuing means consenting. Preferences anytime.",
              "Newsletter: weekly digest, unsubscribe anytime. Copyright 2026 Sitewide Media."]
    bodies = [[rich_prose(rng, 25), rich_prose(rng, 25)] for _ in range(10)]
    with Index.open(backend.url) as idx:
        for i, body in enumerate(bodies):
            idx.add("\n\n".join(body + footer), doc_id=f"s{i}", policy=Policy(action="flag", add_duplicates=True))
        story = idx.check("\n\n".join(bodies[4]))  # the story as a feed gives it: no footer
        top = story.matches[0]
        assert top.doc_id == "s4" and top.similarity == 1.0 and top.containment == (1.0, 1.0), top
        assert story.is_duplicate and story.boilerplate == ()

