"""Short briefs under a big site frame (issue #11: "stories sharing only boilerplate: 0
document pairs and 0 rejections"; tester S3, session 11).  Each page is a brief of 1-3
short paragraphs under its site's header/footer, the frame 1-3x the brief's size, so
what two pages share is the *larger* part of each -- the shape of one story under two
sites' frames, which the lesser-part rule cannot tell apart.  The template branch of
:func:`dedup.boilerplate.framed` tells them by recurrence (the frame is carried by
``FRAME_STORIES`` pages around unrelated texts) and place (header and footer).

Labels: pages with different briefs are not duplicates; the same brief reposted under
the same frame (verbatim or with 5 % of its words edited) is one."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner
from textgen import rewrite, rich_prose

from dedup import Document, Index, Settings, scan_documents
from dedup.cli import main
from test_index_frames import cli_site
from dedup.boilerplate import FRAME_STORIES

#: (pages, brief paragraphs, frame size as a multiple of the brief, header paragraphs,
#: footer paragraphs): sites of 5-50 pages.
SITES = [
    (5, 1, 1.0, 0, 2), (6, 2, 2.0, 1, 2), (8, 3, 1.0, 1, 1), (10, 1, 3.0, 1, 3),
    (12, 2, 1.5, 2, 2), (20, 3, 2.0, 0, 3), (30, 1, 2.0, 1, 2), (50, 2, 3.0, 1, 3),
]


def briefs_site(seed: int, pages: int, paragraphs: int, ratio: float, header: int, footer: int,
                ) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    """``pages`` briefs (``paragraphs`` paragraphs of 20-26 words each) of one site whose
    frame (``header`` + ``footer`` paragraphs) has ``ratio`` times a brief's mean words.
    Returns the pages, their briefs, the header and the footer."""
    rng = random.Random(seed)
    bodies = [[rich_prose(rng, rng.randint(20, 26)) for _ in range(paragraphs)] for _ in range(pages)]
    per = max(8, round(ratio * 23 * paragraphs / (header + footer)))
    top = [rich_prose(rng, per) for _ in range(header)]
    bottom = [rich_prose(rng, per) for _ in range(footer)]
    return ["\n\n".join(top + b + bottom) for b in bodies], bodies, top, bottom


def frame_share(page: str, top: list[str], bottom: list[str]) -> float:
    return sum(len(p.split()) for p in top + bottom) / len(page.split())


@pytest.mark.parametrize("pages,paragraphs,ratio,header,footer", SITES)
def test_a_sites_briefs_are_no_document_pairs_and_reposts_are(pages, paragraphs, ratio, header, footer):
    site, bodies, top, bottom = briefs_site(pages * 7 + paragraphs, pages, paragraphs, ratio, header, footer)
    shares = sorted(frame_share(p, top, bottom) for p in site)
    assert 0.5 <= shares[-1] < 0.8  # the frame is the larger part of some pages (all, from 1.5x)
    rng = random.Random(pages)
    docs = [Document(f"brief{i:02}.txt", page) for i, page in enumerate(site)]
    docs += [Document("repost01.txt", site[1]),
             Document("edited03.txt", "\n\n".join(top + [rewrite(rng, p, 0.05) for p in bodies[3]] + bottom))]
    result = scan_documents(docs)
    doc_pairs = {(p.a.path, p.b.path) for p in result.pairs if p.kind == "document"}
    reposts = {("brief01.txt", "repost01.txt"), ("brief03.txt", "edited03.txt")}
    if header:
        assert doc_pairs == reposts
    else:
        # A footer only is one edge: no template (a wire story above each site's own
        # footer has that shape); the briefs pair through it until the footer is
        # boilerplate by count (README, limits).
        assert reposts <= doc_pairs and (doc_pairs == reposts) == bool(result.boilerplate)
    # Without the frame rules (boilerplate off) every two briefs are a pair through their
    # frame (all pairs: by default a bucket of more than 16 pages is paired as a star, so
    # the 50 pages are one group through fewer pairs, 280995d).
    old = {(p.a.path, p.b.path) for p in scan_documents(docs, Settings(boilerplate=0), all_pairs=True).pairs
           if p.kind == "document"}
    assert len(old) >= pages * (pages - 1) // 4


def test_two_briefs_in_one_frame_are_a_pair_until_a_third_page_carries_it():
    """With two pages, a frame that is the larger part of each is a story under two
    frames as far as anything can tell; a third brief in the same frame makes it one."""
    site, _, _, _ = briefs_site(3, 3, 1, 2.0, 1, 2)
    two = scan_documents([Document(f"b{i}.txt", p) for i, p in enumerate(site[:2])])
    assert [p.kind for p in two.pairs if p.kind == "document"] == ["document"]
    three = scan_documents([Document(f"b{i}.txt", p) for i, p in enumerate(site)])
    assert FRAME_STORIES == 3 and [p for p in three.pairs if p.kind == "document"] == []


def test_a_wire_story_between_sites_frames_is_no_template():
    """The inside-out shape: one brief carried by four sites, each page with its own
    header and footer, the brief the larger part.  The brief is carried by four pages
    around unrelated texts, but in the middle of each: no site's template."""
    rng = random.Random(21)
    brief = [rich_prose(rng, 40), rich_prose(rng, 40)]
    docs = [Document(f"site{i}.txt", "\n\n".join([rich_prose(rng, 20)] + brief + [rich_prose(rng, 20)]))
            for i in range(4)]
    doc_pairs = [p for p in scan_documents(docs).pairs if p.kind == "document"]
    assert len(doc_pairs) == 6 and min(p.similarity for p in doc_pairs) >= 0.3


@pytest.mark.parametrize("pages,paragraphs,ratio,header,footer", [s for s in SITES[:5] if s[3]])
def test_the_index_accepts_a_sites_briefs_from_the_third_on(tmp_path, pages, paragraphs, ratio, header, footer):
    """One at a time.  The second brief shares only the frame with the first; when the
    frame is the larger part of it, nothing yet says it is a frame: it is rejected
    (NOT the issue's goal of 0 rejections; a limit of two pages, README).  From the
    third on the frame is the site's template: accepted, the frame listed as
    boilerplate; a repost of a stored brief stays a duplicate."""
    site, bodies, top, bottom = briefs_site(pages * 11 + paragraphs, pages, paragraphs, ratio, header, footer)
    frame = tuple(range(header)) + tuple(range(header + paragraphs, header + paragraphs + footer))
    rng = random.Random(pages)
    with Index.open(tmp_path / "i.dedup") as idx:
        verdicts = [idx.add(page, doc_id=f"brief{i}") for i, page in enumerate(site)]
        # Only the second page may be rejected (when its frame is half of it or more).
        assert [i for i, v in enumerate(verdicts) if not v.accepted] in ([], [1]), [v.reason for v in verdicts]
        for v in verdicts[:1] + verdicts[2:]:
            assert not v.is_duplicate, v.reason
        assert all(v.boilerplate == frame for v in verdicts[2:]), [v.boilerplate for v in verdicts]
        repost = idx.check(site[2])
        edited = idx.check("\n\n".join(top + [rewrite(rng, p, 0.05) for p in bodies[3]] + bottom))
        for v in (repost, edited):
            assert v.is_duplicate and not v.accepted, v.reason
        # A rejected second brief added again, once its frame recurs, is accepted (README:
        # "Adding a folder again is not always idempotent, by design").
        again = idx.add(site[1], doc_id="brief1")
        assert again.already_indexed if verdicts[1].accepted else (again.added and again.boilerplate == frame), \
            again.reason


def test_the_index_accepts_a_sites_briefs_in_batches(backend):
    """``add_many`` and ``filter`` judge each article against the index and the batch
    before it (both backends), as adding them one at a time would: the second brief,
    rejected through its frame while one page is stored, stays rejected although the
    same ``add_many`` holds the site's third page (``dedup index add`` judges it again
    at the end of the add and accepts it: the next test); from the third on, the
    frame is boilerplate and every brief is accepted."""
    site, bodies, _, _ = briefs_site(5, 10, 2, 2.0, 1, 2)
    with Index.open(backend.url) as idx:
        added = idx.add_many([(f"brief{i}", page) for i, page in enumerate(site[:6])])
        filtered = [v for _, v in idx.filter([(f"brief{i}", page) for i, page in enumerate(site[6:], 6)],
                                             batch_size=2)]
        verdicts = added + filtered
        assert [v.accepted for v in verdicts] == [True, False] + [True] * 8, [v.reason for v in verdicts]
        assert verdicts[1].is_duplicate and not verdicts[1].boilerplate, verdicts[1].reason
        assert all(v.boilerplate == (0, 3, 4) for v in verdicts[2:]), [v.boilerplate for v in verdicts]
        assert idx.check(site[7]).already_indexed or idx.check(site[7]).is_duplicate


def test_the_cli_adds_a_sites_briefs_and_checks_a_new_one(tmp_path, monkeypatch):
    """Tester S3 (session 11) through ``dedup index add`` and ``dedup check``: a brief
    under its site's header and 2-paragraph footer (the frame 2x the brief) was a
    duplicate of the site's stored briefs ("51 % already seen").  The second brief,
    rejected when it comes (one page of the site stored), is judged again at the end of
    the add, when the site's later pages show its frame to be a template: accepted
    (:mod:`dedup.index.settle`; tests/test_rejudged.py)."""
    monkeypatch.chdir(tmp_path)
    site, _, _, _ = briefs_site(9, 6, 1, 2.0, 1, 2)
    added, checked = cli_site(tmp_path, site[:5], site[5], "brief")
    assert "5 added, 0 rejected" in added.stdout, added.stdout
    assert "site/brief01.txt: added: " in added.stdout and "paragraphs 0, 2 and 3 are boilerplate" in added.stdout
    assert checked.exit_code == 0, checked.stdout
    assert "new.txt: new: nothing seen before; paragraphs 0, 2 and 3 are boilerplate" in checked.stdout
    scanned = CliRunner().invoke(main, ["scan", "site", "new.txt", "--format", "json", "--no-cache"],
                                 catch_exceptions=False)
    assert scanned.exit_code == 1 and '"kind": "document"' not in scanned.stdout


def test_a_story_at_the_top_of_one_page_and_between_frames_on_others_stays_a_duplicate(tmp_path):
    """Both pages' places count: a story republished with only a footer (at the top of
    the page, where a header-only site's frame would be) is no template while its other
    copies carry it between a header and a footer -- in the scan and in the index,
    which reads the stored page for it."""
    rng = random.Random(31)
    story = [rich_prose(rng, 30), rich_prose(rng, 30)]
    framed_copies = ["\n\n".join([rich_prose(rng, 20)] + story + [rich_prose(rng, 20), rich_prose(rng, 20)])
                     for _ in range(3)]
    footer_only = "\n\n".join(story + [rich_prose(rng, 25), rich_prose(rng, 25)])
    docs = [Document(f"site{i}.txt", page) for i, page in enumerate(framed_copies + [footer_only])]
    doc_pairs = {(p.a.path, p.b.path) for p in scan_documents(docs).pairs if p.kind == "document"}
    assert {("site0.txt", "site3.txt"), ("site1.txt", "site3.txt"), ("site2.txt", "site3.txt")} <= doc_pairs
    with Index.open(tmp_path / "i.dedup") as idx:
        first, *copies = [idx.add(page, doc_id=f"site{i}") for i, page in enumerate(framed_copies)]
        assert first.added and not any(v.added for v in copies), [v.reason for v in copies]
        v = idx.check(footer_only)
        assert v.is_duplicate and not v.accepted and v.boilerplate == (), v.reason


def test_the_index_rejects_briefs_over_a_footer_only_until_it_is_boilerplate(tmp_path):
    """A footer only (one edge) is no template: briefs whose footer is the larger part
    of the page are rejected as before the template rule, not accepted with the
    footer listed as boilerplate (README, limits)."""
    site, _, _, _ = briefs_site(5 * 11 + 1, 5, 1, 1.0, 0, 2)
    with Index.open(tmp_path / "i.dedup") as idx:
        verdicts = [idx.add(page, doc_id=f"brief{i}") for i, page in enumerate(site)]
    rejected = [v for v in verdicts[2:] if not v.accepted]
    assert rejected and all(v.reason.startswith("document similarity") for v in rejected), \
        [v.reason for v in verdicts]


def test_a_wire_story_above_each_sites_own_footer_stays_a_duplicate(tmp_path):
    """Review R1 (session 12): one story (about 3/4 of each page) republished by four
    sites, each with its own footer below and nothing above.  The story is carried by
    four pages around unrelated texts and lies on one edge of each: a frame on one
    edge only is no template, so the scan pairs all four and the index rejects every
    copy after the first (it accepted the third and fourth with the whole story listed
    as boilerplate)."""
    rng = random.Random(41)
    story = [rich_prose(rng, 60) for _ in range(4)]
    pages = ["\n\n".join(story + [rich_prose(rng, 45), rich_prose(rng, 40)]) for _ in range(4)]
    docs = [Document(f"{site}.txt", page) for site, page in zip("ABCD", pages)]
    doc_pairs = [p for p in scan_documents(docs).pairs if p.kind == "document"]
    assert len(doc_pairs) == 6 and min(p.similarity for p in doc_pairs) >= 0.3
    with Index.open(tmp_path / "i.dedup") as idx:
        verdicts = [idx.add(page, doc_id=site) for site, page in zip("ABCD", pages)]
    assert [v.accepted for v in verdicts] == [True, False, False, False], [v.reason for v in verdicts]
    assert all(v.is_duplicate and v.boilerplate == () for v in verdicts[1:]), [v.reason for v in verdicts]
