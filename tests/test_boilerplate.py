"""Boilerplate: a paragraph text recurring across many documents is reported once and
left out of document similarity, so stories that share only a site's furniture are not
document duplicates (issue #11's case family: sites whose stories share 1-5
boilerplate paragraphs)."""

import random

import numpy as np
import pytest

from dedup import Document, Settings, scan_documents
from dedup import boilerplate as bp
from textgen import rewrite, rich_prose


def test_min_documents_is_a_floor_and_a_share():
    assert bp.min_documents(100, 10) == 10
    assert bp.min_documents(50_000, 10) == 50  # 0.1 % of the corpus
    assert bp.min_documents(50_000, 0) == 0  # off


def test_counts_distinct_documents_not_copies():
    keys = np.array([7, 7, 7, 9, 9, 3], dtype=np.uint64)
    docs = np.array([0, 0, 1, 1, 2, 2])
    unique, counts = bp.document_counts(keys, docs)
    assert dict(zip(unique.tolist(), counts.tolist())) == {3: 1, 7: 2, 9: 2}
    assert bp.paragraph_mask(keys, docs, 3, 2).tolist() == [True, True, True, True, True, False]
    assert not bp.paragraph_mask(keys, docs, 3, 0).any()


@pytest.fixture(scope="module")
def sites():
    """Three sites of 20 stories (1-3 own paragraphs each) followed by 1-5 paragraphs of
    the site's boilerplate, and 5 stories reprinted by another site (lightly edited,
    with that site's boilerplate)."""
    rng = random.Random(21)
    furniture = {s: [rich_prose(rng, rng.randint(15, 60)) for _ in range(1 + 2 * s)] for s in range(3)}
    docs, stories = [], {}
    for s in range(3):
        for i in range(20):
            story = [rich_prose(rng, rng.randint(30, 80)) for _ in range(rng.randint(1, 3))]
            stories[(s, i)] = story
            docs.append(Document(f"site{s}/story{i:02}.txt", "\n\n".join(story + furniture[s])))
    for i in range(5):
        story = [rewrite(rng, p, 0.05) for p in stories[(0, i)]]
        docs.append(Document(f"site1/reprint{i}.txt", "\n\n".join(story + furniture[1])))
    return docs, furniture


def test_stories_sharing_only_boilerplate_are_not_document_duplicates(sites):
    docs, furniture = sites
    result = scan_documents(docs)
    doc_pairs = {(p.a.path, p.b.path) for p in result.pairs if p.kind == "document"}
    assert doc_pairs == {(f"site0/story{i:02}.txt", f"site1/reprint{i}.txt") for i in range(5)}
    # each boilerplate text reported once, with how many documents carry it
    reported = {b.text: b.documents for b in result.boilerplate}
    assert reported == {t: 20 for t in furniture[0]} | {t: 25 for t in furniture[1]} | {t: 20 for t in furniture[2]}
    common = {t for texts in furniture.values() for t in texts}
    assert not [p for p in result.pairs if p.a.preview in common]  # not hundreds of pairs
    data = result.to_dict()
    assert data["boilerplate"][0]["documents"] == 20 and data["boilerplate"][0]["canonical"]["path"] == "site0/story00.txt"


def test_boilerplate_off_restores_the_old_behaviour(sites):
    docs, _ = sites
    result = scan_documents(docs, Settings(boilerplate=0))
    assert result.boilerplate == []
    doc_pairs = [p for p in result.pairs if p.kind == "document"]
    assert len(doc_pairs) > 100  # stories of one site look alike through their footer
    assert any(p.exact for p in result.pairs if p.kind == "paragraph")


def test_two_stories_sharing_a_footer_need_the_corpus_to_say_what_recurs():
    # Issue #11's example. With two documents a footer and a shared section look the
    # same (benchmarks/README-containment.md), so at the default (10 documents) the
    # pair stays; --boilerplate 2 says "two pages is every page" and it goes.
    rng = random.Random(3)
    footer = [rich_prose(rng, 30) for _ in range(3)]
    stories = ["\n\n".join([rich_prose(rng, 50), rich_prose(rng, 50)] + footer) for _ in range(2)]
    docs = [Document("a.txt", stories[0]), Document("b.txt", stories[1])]
    assert [p.kind for p in scan_documents(docs).pairs if p.kind == "document"] == ["document"]
    result = scan_documents(docs, Settings(boilerplate=2))
    assert [p for p in result.pairs if p.kind == "document"] == []
    assert sorted(b.text for b in result.boilerplate) == sorted(footer)
