"""SQLite format 13 (#12, tester's S3): a missing boilerplate tally and a changed
``judged`` count are damage.

Before it a deleted ``tallies`` row read as a count of 0 (a header in every stored
page stopped being boilerplate: verdicts turned, exit 0 or 1, no word), and meta
``judged`` had no checksum (``judged='x'`` ended as an unexpected ValueError, another
number changed which paragraphs were boilerplate).
"""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing

import pytest
from textgen import prose

from dedup.index import Index
from dedup.storage import IndexCorrupt
from dedup.storage.sqlite.schema import FORMAT_VERSION, meta_check

ARTICLES = 6


@pytest.fixture
def pages():
    """``(texts, probe)``: pages of one site (the same header and footer around a story
    of their own), and another story under the same frame."""
    rng = random.Random(13)
    header, footer = prose(rng, 20), prose(rng, 20)
    texts = [f"{header}\n\n{prose(rng, 60)}\n\n{prose(rng, 60)}\n\n{footer}" for _ in range(ARTICLES + 1)]
    return texts[:-1], texts[-1]


@pytest.fixture
def built(tmp_path, pages):
    texts, probe = pages
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        for i, t in enumerate(texts):  # one add each: each tallied after the one before
            idx.add(t, f"page-{i}")
    return path, texts, probe


def _edit(path, sql: str, *args) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(sql, args)


def _one(path, sql: str, *args) -> tuple:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, args).fetchone()


def test_the_frame_is_tallied(built):
    path, _, probe = built
    assert _one(path, "SELECT MAX(documents), COUNT(*) FROM tallies")[0] == ARTICLES
    with Index.open(path) as idx:
        assert idx.check(probe).boilerplate == (0, 3)  # the header and the footer


@pytest.mark.parametrize("edit", [
    "DELETE FROM tallies WHERE documents = {n}",  # the header's and footer's rows
    "DELETE FROM tallies",
    # a story paragraph's row (not a judged text's key, :func:`dedup.index.tallies.text_keys`)
    "DELETE FROM tallies WHERE documents = 1 AND key IN (SELECT key FROM tallies WHERE documents = 1"
    " AND key IN (SELECT key FROM paragraphs) LIMIT 1)",
])
def test_a_missing_tally_is_damage(built, edit):
    path, texts, probe = built
    before = _one(path, "SELECT COUNT(*) FROM tallies")[0]
    _edit(path, edit.format(n=ARTICLES))
    assert _one(path, "SELECT COUNT(*) FROM tallies")[0] < before
    with Index.open(path) as idx:
        with pytest.raises(IndexCorrupt, match=r"stored paragraph rows? .* no boilerplate tally"):
            for text in [probe, *texts]:  # the one story paragraph's page among them
                idx.check(text)


@pytest.mark.parametrize("value", ["x", "", "-1", str(ARTICLES - 1), str(ARTICLES * 10)])
def test_a_changed_judged_count_is_damage(built, value):
    path, _, probe = built
    _edit(path, "UPDATE meta SET value = ? WHERE key = 'judged'", value)
    with Index.open(path) as idx:
        with pytest.raises(IndexCorrupt, match="meta judged .* does not match its checksum judged_check"):
            idx.check(probe)


def test_batches_and_repeats_are_not_damage(tmp_path, pages):
    """A batch stores a page before it tallies the batch: the pages after it in the same
    batch look its paragraphs up untallied, which is no damage (nor are a rejected copy,
    a stripped store, a re-add of a stored id, a removal)."""
    texts, probe = pages
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        idx.add_many([{"id": f"page-{i}", "text": t} for i, t in enumerate(texts[:3])])
        idx.add_many([{"id": f"page-{i}", "text": t} for i, t in enumerate(texts)])
        idx.add(texts[0], "copy-of-0")  # rejected; page-0's text, judged before: not tallied again (T5)
        idx.add(texts[1] + "\n\n" + probe, "strip-1", policy="strip")
        idx.remove("page-2")
        assert idx.check(probe).boilerplate == (0, 3)
    judged = int(_one(path, "SELECT value FROM meta WHERE key = 'judged'")[0])
    assert judged == ARTICLES + 1  # the pages and strip-1


def _as_format_12(path) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM meta WHERE key IN ('judged_check', 'tally_floor')")
        conn.execute("UPDATE meta SET value = '12' WHERE key = 'format_version'")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        conn.execute("UPDATE meta SET value = ? WHERE key = 'meta_check'", (meta_check(meta),))


def test_a_format_12_index_is_upgraded(built):
    path, _, probe = built
    with Index.open(path) as idx:
        before = idx.check(probe)
    _as_format_12(path)
    with Index.open(path) as idx:
        assert idx.check(probe).matches == before.matches
    meta = dict(sqlite3.connect(path).execute("SELECT key, value FROM meta").fetchall())
    assert meta["format_version"] == str(FORMAT_VERSION) and meta["tally_floor"] == "0"
    _edit(path, "DELETE FROM tallies")  # the upgraded index checks its tallies too
    with Index.open(path) as idx, pytest.raises(IndexCorrupt, match="no boilerplate tally"):
        idx.check(probe)


def test_untallied_rows_of_older_formats_are_taken_as_they_are(built):
    """Paragraphs stored before format 8 have no tallies: the upgrade's ``tally_floor``
    exempts them (and only them: rows stored after it must have theirs)."""
    path, texts, probe = built
    _edit(path, "DELETE FROM tallies")
    _as_format_12(path)
    with Index.open(path) as idx:
        assert idx.check(probe).boilerplate == ()  # no tallies: as format 7 had them
        (top,) = _one(path, "SELECT MAX(id) FROM paragraphs")
        assert _one(path, "SELECT value FROM meta WHERE key = 'tally_floor'") == (str(top),)
        idx.add(probe, "later")
        _edit(path, "DELETE FROM tallies")
        with pytest.raises(IndexCorrupt, match="no boilerplate tally"):
            idx.check(probe)


def test_an_unreadable_judged_count_stops_the_upgrade(built):
    path, _, _ = built
    _as_format_12(path)
    _edit(path, "UPDATE meta SET value = 'x' WHERE key = 'judged'")
    with pytest.raises(IndexCorrupt, match="format 12 cannot be upgraded: meta judged is 'x'"):
        Index.open(path)
    assert _one(path, "SELECT value FROM meta WHERE key = 'format_version'") == ("12",)
