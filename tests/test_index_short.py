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


def _short_lines(rng, lines=40, words=6):
    """A list or verse: ``lines`` lines of ``words`` tokens each, every one under min_tokens."""
    vocab = [f"{rng.choice(['ba', 'de', 'fi', 'go', 'hu', 'ja', 'ke', 'lu'])}{i}" for i in range(3000)]
    return [" ".join(rng.choice(vocab) for _ in range(words)) for _ in range(lines)]


def test_long_document_of_short_lines_is_compared_as_a_whole(backend, rng):
    """Tester's F3 of session 19: a document of >= min_tokens tokens is compared by its
    whole-document signature even when no paragraph reaches min_tokens (the scan's
    document rule): a 40-line list with 2 lines changed is a duplicate, in a check, an
    add, a batch add, and against a checked text that does have a long paragraph."""
    lines = _short_lines(rng)
    edited = list(lines)
    edited[5], edited[23] = "a different line of six words", "and one more changed line here"
    stored, near = "\n".join(lines), "\n".join(edited)
    with Index.open(backend.url) as index:
        assert index.add(stored, doc_id="list").added
        verdict = index.check(near, doc_id="edit")
        assert verdict.is_duplicate and not verdict.accepted and verdict.relation == "duplicate"
        [match] = verdict.matches
        assert match.doc_id == "list" and not match.exact and 0.85 <= match.similarity < 1.0
        assert "document similarity 0.9" in verdict.reason
        with_long = index.check(near + "\nand a longer line of its own with eleven words in it too")
        assert with_long.is_duplicate and with_long.matches[0].doc_id == "list"
        unrelated = index.check("\n".join(_short_lines(rng)), doc_id="other")
        assert not unrelated.is_duplicate and not unrelated.matches
        added = index.add(near, doc_id="edit")
        assert added.is_duplicate and not added.added and "edit" not in index
        other = _short_lines(rng)  # a batch: the second is judged against the first
        first, second = index.add_many([("list2", "\n".join(other)), ("edit2", "\n".join(other[:-2]))])
        assert first.added and not first.is_duplicate
        assert second.is_duplicate and not second.added and second.matches[0].doc_id == "list2"


def test_cli_check_of_a_list_with_two_lines_changed(tmp_path, monkeypatch, rng):
    """F3 at the command line: ``dedup check`` says DUPLICATE and exits 1, as the scan does."""
    monkeypatch.chdir(tmp_path)
    lines = _short_lines(rng)
    (tmp_path / "poem.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lines[3], lines[30] = "a different line of six words", "and one more changed line here"
    (tmp_path / "poem2.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(main, ["index", "add", "poem.txt", "--db", "i.dedup"])
    assert added.exit_code == 0, added.output
    checked = runner.invoke(main, ["check", "poem2.txt", "--db", "i.dedup", "--format", "json"])
    assert checked.exit_code == 1, checked.output
    [verdict] = json.loads(checked.output)["verdicts"]
    assert verdict["duplicate"] and verdict["matches"][0]["id"] == "poem.txt"
    scan = runner.invoke(main, ["scan", "poem.txt", "poem2.txt", "--format", "json", "--no-cache"])
    assert scan.exit_code == 1
