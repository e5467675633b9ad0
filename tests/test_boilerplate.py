"""Boilerplate: a paragraph text recurring across many documents is reported once and
left out of document similarity, so stories that share only a site's furniture are not
document duplicates (issue #11's case family: sites whose stories share 1-5
boilerplate paragraphs)."""

import random

import numpy as np
import pytest

from dedup import Document, Settings, scan_documents
from dedup import boilerplate as bp
from textgen import footer_sites, rewrite, rich_prose


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
    with that site's boilerplate): :func:`textgen.footer_sites`."""
    pages, _, furniture = footer_sites(21)
    return [Document(path, text) for path, text in pages.items()], furniture


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


def test_two_stories_sharing_a_footer_are_not_a_document_pair():
    # Issue #11's example: two different stories, each followed by the same 3 site
    # paragraphs (document Jaccard 0.31).  Too few documents for the footer to be
    # boilerplate by count, but the two pages share whole paragraphs and nothing else:
    # they are in one frame (dedup.boilerplate.framed), scored on the stories.
    rng = random.Random(3)
    footer = [rich_prose(rng, 30) for _ in range(3)]
    stories = ["\n\n".join([rich_prose(rng, 50), rich_prose(rng, 50)] + footer) for _ in range(2)]
    docs = [Document("a.txt", stories[0]), Document("b.txt", stories[1])]
    result = scan_documents(docs)
    assert [p for p in result.pairs if p.kind == "document"] == [] and result.boilerplate == []
    assert sorted((p.a.paragraph, p.b.paragraph, p.exact) for p in result.pairs) == [(2, 2, True), (3, 3, True),
                                                                                       (4, 4, True)]
    result = scan_documents(docs, Settings(boilerplate=2))
    assert [p for p in result.pairs if p.kind == "document"] == []
    assert sorted(b.text for b in result.boilerplate) == sorted(footer)
    # --boilerplate off restores the old behaviour: the pair is back.
    (pair,) = [p for p in scan_documents(docs, Settings(boilerplate=0)).pairs if p.kind == "document"]
    assert round(pair.similarity, 2) == 0.31


@pytest.mark.parametrize("header,footer", [(0, 1), (1, 1), (3, 0), (2, 2), (1, 4)])
def test_a_small_sites_stories_are_not_document_pairs(header, footer):
    """Issue #11's case family below the boilerplate count: 6 stories of a site whose
    frame (1-5 paragraphs, in different places) is just under half of each page, so any
    two pages have a document Jaccard of ~0.3 through the frame alone.  A lightly
    edited reprint of one story in the same frame, and an edition of one page with one
    of its three paragraphs changed, stay document pairs."""
    rng = random.Random(header * 10 + footer)
    n = header + footer
    frame = [rich_prose(rng, 90 // n) for _ in range(n)]
    top, bottom = frame[:header], frame[header:]
    bodies = [[rich_prose(rng, 36) for _ in range(3)] for _ in range(6)]
    docs = [Document(f"story{i}.txt", "\n\n".join(top + body + bottom)) for i, body in enumerate(bodies)]
    reprint = [rewrite(rng, p, 0.05) for p in bodies[2]]
    edition = bodies[4][:2] + [rich_prose(rng, 36)]
    docs += [Document("reprint2.txt", "\n\n".join(top + reprint + bottom)),
             Document("edition4.txt", "\n\n".join(top + edition + bottom))]
    result = scan_documents(docs)
    doc_pairs = {(p.a.path, p.b.path) for p in result.pairs if p.kind == "document"}
    assert doc_pairs == {("story2.txt", "reprint2.txt"), ("story4.txt", "edition4.txt")}
    assert result.boilerplate == []  # 8 documents: below the count
    # Without the frame rule (boilerplate off) the pages are pairs through their frame.
    old = [p for p in scan_documents(docs, Settings(boilerplate=0)).pairs if p.kind == "document"]
    assert len(old) > 2 and min(p.similarity for p in old) >= 0.3


def test_one_story_under_two_sites_frames_stays_a_document_pair():
    """Tester S2 (session 11): the same story word for word under two sites' headers
    and footers (~60 % of each page) was dropped as "one frame"; the shared part is the
    larger part of each page, so it is the story."""
    rng = random.Random(13)
    story = [rich_prose(rng, 40) for _ in range(3)]
    docs = [Document(f"site{i}.txt", "\n\n".join([rich_prose(rng, 25)] + story + [rich_prose(rng, 25),
                                                                                   rich_prose(rng, 25)]))
            for i in range(2)]
    (pair,) = [p for p in scan_documents(docs).pairs if p.kind == "document"]
    assert pair.similarity >= 0.3


def test_editions_mostly_inside_each_other_are_never_rebuilt_as_a_frame(monkeypatch):
    """Two editions of a page with one paragraph rewritten share their other paragraphs
    word for word, but one is almost all inside the other: :func:`bp.framed` can never
    call them framed (:func:`bp.may_be_framed`), so the verify stage reports the pair
    without reading their paragraphs to rebuild the rest of each (eight near-copies of a
    corpus made that ~8x the work per MB of one copy).  Fails before: it read them."""
    import dedup.plan.frames as frames

    read = []
    paragraphs_of = frames.paragraphs_of
    monkeypatch.setattr(frames, "paragraphs_of", lambda plan, para, docs: read.append(len(docs))
                        or paragraphs_of(plan, para, docs))
    rng = random.Random(21)
    page = [rich_prose(rng, 40) for _ in range(8)]
    edition = page[:3] + [rewrite(rng, page[3], 0.3)] + page[4:]
    docs = [Document("v1.txt", "\n\n".join(page)), Document("v2.txt", "\n\n".join(edition)),
            Document("other.txt", "\n\n".join(rich_prose(rng, 40) for _ in range(6)))]
    (pair,) = [p for p in scan_documents(docs).pairs if p.kind == "document"]
    assert (pair.a.path, pair.b.path) == ("v1.txt", "v2.txt")
    assert read == []


@pytest.mark.parametrize("seed", range(5))
def test_a_pair_framed_may_be_framed(seed):
    rng = np.random.default_rng(seed)
    rest, ca, cb = rng.random((3, 2000))
    template = rng.random(2000) < 0.5
    assert not (bp.framed(rest * 0.2, ca, cb, template) & ~bp.may_be_framed(ca, cb)).any()
