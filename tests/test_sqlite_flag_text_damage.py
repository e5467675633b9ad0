"""SQLite formats 11 and 12 (#12): the ``banded`` flag, word and paragraph counts, a
document's digest, metadata and text are checksummed too (11), and so are the fixed
meta rows, settings first (12); the in-place upgrade checks the rows' structure before
it stamps checksums on them.

Before format 11 each change here was answered from silently: one flipped bit of
``paragraphs.banded`` made a paragraph drop out of every answer (tester's T10), a
changed text was shown as the stored passage, a changed digest or metadata was listed
and compared as it was, and the upgrade from formats 8-10 stamped damaged rows as intact.
"""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing

import pytest
from click.testing import CliRunner
from textgen import news_article, rewrite_paragraphs

from dedup.cli import main
from dedup.index import Index
from dedup.storage import IndexCorrupt, IndexReadOnly
from dedup.storage.sqlite.schema import FORMAT_VERSION

ARTICLES = 8


@pytest.fixture
def corpus():
    """Articles whose paragraph 1 is shared by 0 and 1 (an exact copy: banded once), and
    a light rewrite of each."""
    rng = random.Random(11)
    texts = [news_article(rng) for _ in range(ARTICLES)]
    paragraphs = texts[1].split("\n\n")
    paragraphs[1] = texts[0].split("\n\n")[1]
    texts[1] = "\n\n".join(paragraphs)
    probes = [rewrite_paragraphs(rng, t, 0.05) for t in texts]
    return texts, probes


@pytest.fixture
def built(tmp_path, corpus):
    """``(path, texts, probes)``: an index of the corpus (a bucket file written)."""
    texts, probes = corpus
    path = tmp_path / "i.dedup"
    _build(path, texts)
    return path, texts, probes


def _build(path, texts, **options) -> None:
    with Index.open(path, **options) as idx:
        idx.load([{"id": f"article-{i:02d}", "text": t, "source": f"feed-{i}"} for i, t in enumerate(texts)])


def _one(path, sql: str, *args) -> tuple:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, args).fetchone()


def _edit(path, sql: str, *args) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(sql, args)


def _banded(path, doc_id: str, position: int) -> tuple[int, int]:
    return _one(path, "SELECT p.id, p.banded FROM paragraphs AS p JOIN documents AS d ON d.id = p.doc"
                      " WHERE d.doc_id = ? AND p.position = ?", doc_id, position)


def _matched(verdict) -> set[int]:
    """The checked article's paragraphs with a stored match.  (Not ``verdict.seen``: a
    rewritten paragraph holding its stored one whole plus words of its own is matched
    but not seen -- :func:`dedup.containment.held`.)"""
    return {p["paragraph"] for m in verdict.to_dict()["matches"] for p in m["paragraphs"]}


@pytest.mark.parametrize("bucket_file", [False, True])
def test_a_flipped_banded_flag_is_detected(tmp_path, corpus, bucket_file):
    """T10: ``banded`` 1 -> 0 (one bit of the row's header) took a paragraph out of the
    buckets read since the bucket file, so its rewrite was "new"; 0 -> 1 put an exact
    copy's bands in too.  Without a bucket file every row's flag is read with its
    signature; with one, the rows in it are not read again, and a removal (which
    hands the bands over by the flags) reads and verifies them."""
    texts, probes = corpus
    path = tmp_path / "i.dedup"
    _build(path, texts, auto_optimize=bucket_file)
    with Index.open(path, auto_optimize=bucket_file) as idx:
        assert _matched(idx.check(probes[4])) == {0, 1, 2, 3, 4}
    banded, flag = _banded(path, "article-04", 2)
    copy, copy_flag = _banded(path, "article-01", 1)  # the exact copy of article-00's paragraph 1
    assert (flag, copy_flag) == (1, 0)
    for row, value in ((banded, 0), (copy, 1)):
        _edit(path, "UPDATE paragraphs SET banded = ? WHERE id = ?", value, row)
        with Index.open(path, auto_optimize=False) as idx:
            with pytest.raises(IndexCorrupt, match=f"stored paragraph row {row} does not match its checksum"):
                idx.check(probes[4]) if not bucket_file else idx.remove(
                    "article-04" if row == banded else "article-01")
        _edit(path, "UPDATE paragraphs SET banded = ? WHERE id = ?", 1 - value, row)
    with Index.open(path, auto_optimize=False) as idx:  # undone: intact again
        assert _matched(idx.check(probes[4])) == {0, 1, 2, 3, 4}


def test_a_removal_hands_the_flag_over_with_its_checksum(tmp_path, corpus):
    """The heir of a removed banded row gets ``banded = 1`` and a ``sig_check`` to match:
    it is read (and verified) from then on, and still found."""
    texts, probes = corpus
    path = tmp_path / "i.dedup"
    _build(path, texts, auto_optimize=False)
    copy, _ = _banded(path, "article-01", 1)
    with Index.open(path, auto_optimize=False) as idx:
        idx.remove("article-00")
    assert _one(path, "SELECT banded FROM paragraphs WHERE id = ?", copy) == (1,)
    with Index.open(path, auto_optimize=False) as idx:
        verdict = idx.check(probes[0])
        assert 1 in verdict.seen and {m.doc_id for m in verdict.matches} == {"article-01"}
        idx.optimize()
        assert 1 in idx.check(probes[0]).seen


@pytest.mark.parametrize("edit, level", [
    ("UPDATE paragraphs SET words = words + 1 WHERE id = {p}", "paragraph"),
    ("UPDATE documents SET paragraphs = paragraphs + 1 WHERE id = {d}", "document"),
])
def test_changed_counts_are_detected(built, edit, level):
    """A paragraph's word count (the length rule, boilerplate) and a document's
    paragraph count were outside the checksums (tester's T10 sweep)."""
    path, _, probes = built
    d, p = _one(path, "SELECT d.id, MIN(p.id) FROM documents AS d JOIN paragraphs AS p ON p.doc = d.id"
                      " WHERE d.doc_id = 'article-05'")
    _edit(path, edit.format(p=p, d=d))
    row = p if level == "paragraph" else d
    with Index.open(path) as idx:
        with pytest.raises(IndexCorrupt, match=f"stored {level} row {row} does not match its checksum"):
            idx.check(probes[5])


def test_a_changed_text_is_never_shown(built):
    """The stored text is what reports show beside a checked one (and what ``get``
    returns): changed, it is damage, not a passage."""
    path, texts, probes = built
    (d,) = _one(path, "SELECT id FROM documents WHERE doc_id = 'article-03'")
    _edit(path, "UPDATE documents SET text = replace(text, 'the', 'THE') WHERE id = ?", d)
    with Index.open(path) as idx:
        assert idx.get("article-02").text == texts[2]
        with pytest.raises(IndexCorrupt, match=f"stored document text row {d} does not match its checksum"):
            idx.get("article-03")
    probe = path.parent / "probe.txt"
    probe.write_text(probes[3], encoding="utf-8")
    res = CliRunner().invoke(main, ["check", str(probe), "--db", str(path)], catch_exceptions=False)
    # the documented line, not "unexpected error: IndexCorrupt" (tester's S4: found while
    # the report was written)
    assert res.exit_code == 2 and res.stderr.startswith(
        f"dedup: {path}: the index is damaged: stored document text row {d} does not match"), res.stderr
    assert "THE" not in res.stdout


@pytest.mark.parametrize("edit, said", [
    ("UPDATE paragraphs SET signature = 'abc' WHERE id = {p}", "stored paragraph row {p} has no signature of 256"),
    ("UPDATE paragraphs SET signature = CAST(substr(signature, 1, 16) AS BLOB) WHERE id = {p}",
     "stored paragraph row {p} has no signature of 256"),
    ("UPDATE documents SET signature = substr(signature, 1, 10) || x'00' || substr(signature, 12) WHERE id = {d}",
     "stored document row {d}: column signature holds text that is not UTF-8"),
])
def test_a_signature_of_another_type_names_its_row(built, edit, said):
    """Tester's S4: a signature turned into text was an unexpected TypeError or SQLite's
    "Could not decode to UTF-8", a short one named no row."""
    path, _, probes = built
    d, p = _one(path, "SELECT d.id, p.id FROM documents AS d JOIN paragraphs AS p ON p.doc = d.id"
                      " WHERE d.doc_id = 'article-03' AND p.position = 0")
    _edit(path, edit.format(p=p, d=d))
    probe = path.parent / "probe.txt"
    probe.write_text(probes[3], encoding="utf-8")
    res = CliRunner().invoke(main, ["check", str(probe), "--db", str(path)], catch_exceptions=False)
    assert res.exit_code == 2 and res.stderr.startswith(
        f"dedup: {path}: the index is damaged: {said.format(p=p, d=d)}"), res.stderr


@pytest.mark.parametrize("edit", [
    "UPDATE documents SET meta = '{{\"source\": \"feed-9\"}}' WHERE id = {d}",
    "UPDATE documents SET digest = 'x' || substr(digest, 2) WHERE id = {d}",
    "UPDATE documents SET digest = NULL WHERE id = {d}",
])
def test_changed_metadata_or_digest_is_detected(built, edit):
    """Metadata is what ``index export`` lists; the digest decides whether a re-added
    id is "already indexed" (same text) or a changed text."""
    path, texts, _ = built
    (d,) = _one(path, "SELECT id FROM documents WHERE doc_id = 'article-06'")
    _edit(path, edit.format(d=d))
    with Index.open(path) as idx:
        with pytest.raises(IndexCorrupt, match=f"stored document row {d} does not match its checksum"):
            list(idx.documents())
        with pytest.raises(IndexCorrupt, match=f"stored document row {d} does not match its checksum"):
            idx.add(texts[6], "article-06")
    res = CliRunner().invoke(main, ["index", "export", "--db", str(path)], catch_exceptions=False)
    assert res.exit_code == 2 and "feed-9" not in res.stdout


def test_a_deleted_document_row_is_damage_not_a_crash(built):
    """Tester's T10 sweep: a DELETEd document row whose paragraph rows stay ended a
    check in an IndexError (an unexpected error) once its paragraphs matched."""
    path, _, probes = built
    (d,) = _one(path, "SELECT id FROM documents WHERE doc_id = 'article-05'")
    _edit(path, "DELETE FROM documents WHERE id = ?", d)
    with Index.open(path) as idx:
        with pytest.raises(IndexCorrupt, match=f"stored paragraph rows belong to document row {d}, which is not|"
                                               f"stored document row {d} is missing, yet no document row above 0"):
            idx.check(probes[5])


@pytest.mark.parametrize("edit", [
    "UPDATE meta SET value = replace(value, '\"threshold\": 0.3', '\"threshold\": 0.7') WHERE key = 'settings'",
    "UPDATE meta SET value = replace(value, '\"min_tokens\": 8', '\"min_tokens\": 9') WHERE key = 'settings'",
    "UPDATE meta SET value = substr(value, 2) || '0' WHERE key = 'uid'",
    "DELETE FROM meta WHERE key = 'meta_check'",
])
def test_changed_settings_are_damage(built, edit):
    """One flipped bit of the settings' JSON ('3' is 0x33, '7' 0x37) made the index
    answer with a threshold of 0.7; the uid pairs the database with its bucket files."""
    path, _, _ = built
    meta = "SELECT group_concat(key || '=' || value, ';') FROM meta WHERE key <> 'format_version'"
    before = _one(path, meta)
    _edit(path, edit)
    assert _one(path, meta) != before  # the edit found what it changes
    for readonly in (True, False):
        with pytest.raises(IndexCorrupt, match="the index is damaged: its meta rows format, settings, .* do not"):
            Index.open(path, readonly=readonly)


def test_a_format_11_index_gets_its_meta_check(built):
    path, _, probes = built
    with Index.open(path) as idx:
        before = idx.check(probes[2])
    _edit(path, "DELETE FROM meta WHERE key = 'meta_check'")
    _edit(path, "UPDATE meta SET value = '11' WHERE key = 'format_version'")
    with Index.open(path) as idx:
        assert idx.check(probes[2]).matches == before.matches
    assert _one(path, "SELECT value FROM meta WHERE key = 'format_version'") == (str(FORMAT_VERSION),)
    with Index.open(path, readonly=True) as idx:
        assert idx.check(probes[2]).matches == before.matches


# -- the upgrade from older formats ------------------------------------------------------


def _as_format_10(path) -> None:
    """Turn a format-11 index into a format-10 one: no text checksums, other sig and
    row checksums."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("ALTER TABLE documents DROP COLUMN text_check")
        conn.execute("UPDATE documents SET row_check = 0, sig_check = 0")
        conn.execute("UPDATE paragraphs SET row_check = 0, sig_check = 0")
        conn.execute("UPDATE meta SET value = '10' WHERE key = 'format_version'")


def test_an_intact_format_10_index_is_upgraded_and_answers_the_same(built):
    path, texts, probes = built
    with Index.open(path) as idx:
        before = [idx.check(p) for p in probes]
    _as_format_10(path)
    with pytest.raises(IndexReadOnly, match="format version 10 needs a one-time upgrade"):
        Index.open(path, readonly=True)
    with Index.open(path) as idx:
        after = [idx.check(p) for p in probes]
        assert idx.get("article-01").text == texts[1]
        assert [d.meta for d in idx.documents()] == [{"source": f"feed-{i}"} for i in range(ARTICLES)]
    assert [(v.seen, v.matches) for v in after] == [(v.seen, v.matches) for v in before]
    assert _one(path, "SELECT value FROM meta WHERE key = 'format_version'") == (str(FORMAT_VERSION),)


@pytest.mark.parametrize("damage, said", [
    ("UPDATE paragraphs SET banded = 0 WHERE id = {banded}",  # T10's flipped bit
     "paragraph rows of a content key none of whose rows is banded"),
    ("UPDATE paragraphs SET banded = 1 WHERE id = {copy}",
     "paragraph rows banded beside another row of their content key"),
    ("DELETE FROM paragraphs WHERE id = {banded}",  # T4: a row lost
     "documents whose paragraph rows are not as many as they say"),
    ("UPDATE paragraphs SET doc = doc + 100 WHERE id = {banded}", "paragraph rows of no stored document"),
    ("UPDATE paragraphs SET end_char = end_char + 100000 WHERE id = {banded}",
     "paragraph rows whose span is not inside their document"),
    ("UPDATE paragraphs SET start_char = 0 WHERE id = {banded}", "paragraph rows whose span overlaps"),
    ("UPDATE paragraphs SET signature = substr(signature, 1, 100) WHERE id = {banded}",
     "paragraph rows whose signature does not have 256 values"),
    ("UPDATE paragraphs SET shingles = CAST(substr(shingles, 9) || substr(shingles, 1, 8) AS BLOB)"
     " WHERE id = {banded}",
     "paragraph rows whose shingle set is not in ascending order"),
    ("UPDATE documents SET text = text || '.' WHERE doc_id = 'article-04'",
     "document rows whose size is not their text's length"),
])
def test_the_upgrade_refuses_to_stamp_damaged_rows(built, damage, said):
    """What the upgrade can check without the original documents it checks, and a
    failed check leaves the file as it was (format 10, no checksum stamped)."""
    path, _, _ = built
    banded, _ = _banded(path, "article-04", 2)
    copy, _ = _banded(path, "article-01", 1)
    _as_format_10(path)
    _edit(path, damage.format(banded=banded, copy=copy))
    for _ in range(2):  # and again: nothing was changed by the first attempt
        with pytest.raises(IndexCorrupt, match=f"the index is damaged: format 10 cannot be upgraded: {said}"):
            Index.open(path)
        assert _one(path, "SELECT value FROM meta WHERE key = 'format_version'") == ("10",)
    res = CliRunner().invoke(main, ["index", "optimize", "--db", str(path)], catch_exceptions=False)
    assert res.exit_code == 2 and "cannot be upgraded" in res.stderr and len(res.stderr.splitlines()) == 1


def test_the_upgrade_names_the_rows(built):
    path, _, _ = built
    banded, _ = _banded(path, "article-04", 2)
    _as_format_10(path)
    _edit(path, "UPDATE paragraphs SET banded = 0 WHERE id = ?", banded)
    with pytest.raises(IndexCorrupt, match=f"is banded \\(though long enough to be\\): {banded};"):
        Index.open(path)


def test_the_upgrade_bounds_the_tallies(tmp_path, corpus):
    texts, _ = corpus
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        for i, t in enumerate(texts[:3]):
            idx.add(t, f"a{i}")
    _as_format_10(path)
    _edit(path, "UPDATE tallies SET documents = 1000 WHERE rowid = (SELECT MIN(rowid) FROM tallies)")
    with pytest.raises(IndexCorrupt, match="boilerplate tallies below 0 or above the documents judged"):
        Index.open(path)
