"""The index stores and matches short documents (below min_tokens) by exact content,
instead of refusing them (dedup.index, judge.exact_only)."""

import json

import pytest
from click.testing import CliRunner

from dedup import Index, Policy, Settings
from dedup.cli import main

BRIEF = "Markets closed higher on Friday."  # 5 tokens < 8
SEVEN = "The council approved the budget on Tuesday."  # 7 tokens
LONG = ("The council approved the new budget on Tuesday after a long debate about school "
        "funding, road repairs and the cost of the new library on the river bank.")


@pytest.fixture
def idx(tmp_path):
    with Index.open(tmp_path / "i.dedup") as index:
        yield index


def test_short_documents_are_stored_and_matched_exactly(idx):
    first = idx.add(SEVEN, doc_id="seven")
    assert first.added and first.error is None and not first.is_duplicate
    assert "compared as an exact copy only" in first.reason
    again = idx.check("  the COUNCIL approved the budget on Tuesday. ", doc_id="copy")  # same normalized text
    assert again.is_duplicate and again.similarity == 1.0 and again.seen == (0,)
    [match] = again.matches
    assert match.doc_id == "seven" and match.exact and match.paragraphs == ()
    assert "exact copy of 'seven'" in again.reason
    other = idx.check("The council rejected the budget on Tuesday.", doc_id="other")
    assert not other.is_duplicate and not other.matches  # below min_tokens: no near-duplicates
    assert len(idx) == 1 and "seven" in idx


def test_token_less_and_cjk_briefs(idx):
    assert idx.add("😀🎉", doc_id="emoji").added
    assert idx.check("😀🎉\n", doc_id="again").is_duplicate
    assert idx.add("今日は晴れ。", doc_id="ja").added  # 5 tokens
    assert idx.check("今日は晴れ。", doc_id="ja2").matches[0].doc_id == "ja"
    assert not idx.check("今日は雨。", doc_id="ja3").is_duplicate


def test_filter_accepts_the_first_of_two_identical_briefs_only(idx):
    out = list(idx.filter([("b1", BRIEF), ("b2", BRIEF), ("b3", BRIEF.replace("higher", "lower"))]))
    assert [(v.accepted, v.is_duplicate, v.added) for _, v in out] == [
        (True, False, True), (False, True, False), (True, False, True)]
    assert sorted(idx.ids()) == ["b1", "b3"]


def test_short_stored_document_is_not_a_near_duplicate_of_a_longer_one(idx):
    idx.add(SEVEN, doc_id="seven")
    verdict = idx.check(LONG, doc_id="long")
    assert not verdict.is_duplicate and not verdict.matches


def test_policies_on_short_copies(idx):
    idx.add(BRIEF, doc_id="b1")
    strip = idx.check(BRIEF, policy="strip")
    assert strip.is_duplicate and not strip.accepted and strip.text is None
    flag = idx.check(BRIEF, policy=Policy("flag"))
    assert flag.is_duplicate and flag.accepted


def test_load_stores_short_documents(idx):
    [verdict] = idx.load([("b1", BRIEF)])
    assert verdict.error is None and "b1" in idx
    assert idx.check(BRIEF).is_duplicate


def test_min_tokens_setting_decides_what_is_short(tmp_path):
    with Index.open(tmp_path / "i.dedup", Settings(min_tokens=3)) as idx:
        idx.add(SEVEN, doc_id="seven")
        near = idx.check("The council approved the budget on Wednesday.")
        assert near.is_duplicate and not near.matches[0].exact  # 7 tokens >= 3: near-duplicates count


def test_cli_index_add_and_check_a_one_line_brief(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "brief.txt").write_text(BRIEF + "\n", encoding="utf-8")
    (tmp_path / "copy.txt").write_text(BRIEF.upper() + "\n", encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(main, ["index", "add", "brief.txt", "--db", "i.dedup"])
    assert added.exit_code == 0, added.output
    checked = runner.invoke(main, ["check", "copy.txt", "--db", "i.dedup", "--format", "json"])
    assert checked.exit_code == 1
    [verdict] = json.loads(checked.output)["verdicts"]
    assert verdict["duplicate"] and verdict["matches"][0]["id"] == "brief.txt"


def test_empty_documents_are_stored_by_their_exact_key(backend):
    """#10: ``Index.add("")`` is no BadDocument.  An empty (or whitespace-only) document
    is stored by the content key of the empty text, as the scan keys it; a second one
    is its exact duplicate (whatever its whitespace), a non-empty text is not."""
    with Index.open(backend.url) as index:
        first = index.add("", doc_id="e1")
        assert first.added and first.error is None and not first.is_duplicate and "empty" in first.reason
        assert index.get("e1").text == "" and index.get("e1").paragraphs == ()
        again = index.add(" \n\n\t", doc_id="e2")
        assert again.is_duplicate and not again.added and again.relation == "duplicate"
        assert [m.doc_id for m in again.matches] == ["e1"] and again.matches[0].exact
        assert index.check("").is_duplicate
        assert not index.check("*", doc_id="star").is_duplicate
        assert index.add("", doc_id="e1").already_indexed  # idempotent like any text
        assert sorted(index.ids()) == ["e1"] and index.stats()["paragraphs"] == 0


HEADING = "D.3.8. Finishing the harbour quay"  # 7 tokens, below min_tokens (8)
STORY = [
    "The council approved the final design of the harbour walkway on Tuesday, with wider steps "
    "down to the water and a new ramp for wheelchairs at the northern end of the quay.",
    "Work on the stone wall will start in spring and should take about eight months, the "
    "engineers said, while the fish market stays open on the usual days throughout.",
]
OTHER = [
    "Residents asked for more benches and shade along the new path, and the planners agreed to "
    "add twelve trees in large planters once the paving is finished next autumn.",
    "A second public meeting is planned for March, when the contractor will show samples of the "
    "paving stones and the lamps chosen for the evening lighting of the promenade.",
]


def short_tokens(idx: Index, text: str) -> int:
    from dedup.index.signing import sign

    corpus = sign([text], idx.settings).corpus
    return int(corpus.para_words[0])


def test_an_exact_copy_of_a_short_paragraph_is_listed_and_weighs_by_its_tokens(backend):
    """Issue #10 / tester's F11 of session 17: below ``min_tokens`` a paragraph is matched
    only as an exact copy -- and is matched: a heading shared with a stored story is
    listed (paragraph 0, ``exact``) and counts in the seen share by its tokens, so it
    does not make a new story a duplicate; where it is most of a text it does, at the
    policy's bar (before: the index never looked short paragraphs up, and said "new")."""
    stored = "\n\n".join([HEADING] + STORY)
    story = "\n\n".join([HEADING] + OTHER)
    with Index.open(backend.url) as idx:
        heading = short_tokens(idx, HEADING)
        assert 0 < heading < idx.settings.min_tokens
        idx.add(stored, doc_id="walkway")
        verdict = idx.check(story, doc_id="benches")
        assert not verdict.is_duplicate and verdict.accepted and verdict.seen == (0,), verdict.reason
        [match] = verdict.matches
        assert match.doc_id == "walkway" and match.relation is None
        [para] = match.paragraphs
        assert (para.paragraph, para.stored_paragraph, para.exact, para.similarity) == (0, 0, True, 1.0)
        assert (para.start, para.end, para.stored_start, para.stored_end) == (0, len(HEADING), 0, len(HEADING))
        body = sum(short_tokens(idx, p) for p in OTHER)
        assert verdict.seen_share == pytest.approx(heading / (heading + body))
        brief = HEADING + "\n\nThe plan was approved on Tuesday by the council."  # 9 tokens after the heading
        assert not idx.check(brief).is_duplicate  # 7 of 16 tokens seen: below the bar of 0.5
        assert idx.check(brief, policy=Policy(seen_share=0.4)).is_duplicate  # ... and above 0.4
        # under strip the heading is stripped, the new story stored without it
        added = idx.add(story, doc_id="benches", policy="strip")
        assert added.added and added.text == "\n\n".join(OTHER)
        assert idx.get("benches").text == "\n\n".join(OTHER)
        # short paragraphs alone are no new material: a brief whose long paragraph is seen
        seen_body = HEADING + "\n\nFresh words here.\n\n" + STORY[0]
        stripped = idx.check(seen_body, policy="strip")
        assert not stripped.accepted and stripped.seen == (0, 2), stripped.reason


def test_add_and_filter_see_a_short_paragraph_of_an_article_stored_before_in_the_batch(tmp_path):
    """A batch is its items added in order: an article whose heading an earlier article
    of the same ``add_many`` / ``filter`` batch stored lists that copy, as one at a time."""
    first = "\n\n".join([HEADING] + STORY)
    second = "\n\n".join([HEADING] + OTHER)
    verdicts = {}
    for name in ("add_many", "filter", "one at a time"):
        with Index.open(tmp_path / f"{name}.dedup") as idx:
            if name == "add_many":
                verdicts[name] = idx.add_many([("a", first), ("b", second)])
            elif name == "filter":
                verdicts[name] = [v for _, v in idx.filter([("a", first), ("b", second)])]
            else:
                verdicts[name] = [idx.add(first, doc_id="a"), idx.add(second, doc_id="b")]
    assert verdicts["add_many"] == verdicts["filter"] == verdicts["one at a time"]
    b = verdicts["add_many"][1]
    assert b.added and b.seen == (0,) and [m.doc_id for m in b.matches] == ["a"]
    assert b.matches[0].paragraphs[0].exact
