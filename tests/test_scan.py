"""The scan pipeline through the library API (the CLI's twin)."""

import os
import shutil

import pytest

import dedup.sources
from conftest import FIXTURES, UKRAINE
from dedup import Document, Selection, Settings, scan, scan_documents
from textgen import prose, rewrite, write_docs


def para_pairs(result, exact=None):
    return {
        (p.a.path, p.a.paragraph, p.b.path, p.b.paragraph)
        for p in result.pairs
        if p.kind == "paragraph" and (exact is None or p.exact == exact)
    }


def test_seed_article_flags_only_the_reworded_lead(tmp_path):
    shutil.copy(UKRAINE, tmp_path / "ukraine-talks.txt")
    result = scan(tmp_path)
    assert para_pairs(result) == {("ukraine-talks.txt", 0, "ukraine-talks.txt", 6)}
    (pair,) = result.pairs
    text = UKRAINE.read_text(encoding="utf-8")
    assert text[pair.a.start : pair.a.end].startswith("Putin's comments follow")
    assert text[pair.b.start : pair.b.end].endswith("invasion of its neighbour nearly four years ago.")
    assert 0.6 < pair.similarity < 0.9 and not pair.exact
    assert abs(pair.estimate - pair.similarity) < 0.15
    assert all(0 < c <= 1 for c in pair.containment)
    assert [len(g.members) for g in result.groups] == [2]


def test_bundled_news_fixtures(tmp_path):
    result = scan(FIXTURES / "news")
    docs = {(p.a.path, p.b.path) for p in result.pairs if p.kind == "document"}
    assert docs == {("harbour-bridge.txt", "reprint-harbour-bridge.txt")}
    pairs = para_pairs(result)
    # Every paragraph of the reprint matches its original, exact or reworded.
    for i in range(6):
        assert ("harbour-bridge.txt", i, "reprint-harbour-bridge.txt", i) in pairs
    # The paragraph the strike story borrowed is an exact copy across files.
    assert ("harbour-bridge.txt", 1, "port-strike.txt", 2) in para_pairs(result, exact=True)
    # Nothing from the unrelated library story, and no other strike paragraph.
    assert not any("library" in a or "library" in b for a, _, b, _ in pairs)
    assert {(b, j) for _, _, b, j in pairs if b == "port-strike.txt"} == {("port-strike.txt", 2)}
    three = [g for g in result.groups if len(g.members) == 3]
    assert len(three) == 1 and three[0].canonical.path == "harbour-bridge.txt"


def test_within_and_across_files_with_rewrites(tmp_path, rng):
    base = [prose(rng, 50) for _ in range(8)]
    docs = {
        "a.txt": base[:4] + [rewrite(rng, base[0], 0.1)],
        "b.txt": [rewrite(rng, base[2], 0.05)] + base[4:8],
        "c.txt": [prose(rng, 50) for _ in range(4)],
    }
    result = scan(write_docs(tmp_path, docs), levels=["paragraph"])
    assert para_pairs(result) == {("a.txt", 0, "a.txt", 4), ("a.txt", 2, "b.txt", 0)}
    assert all(p.kind == "paragraph" for p in result.pairs)


def test_document_level_only(tmp_path, rng):
    paras = [prose(rng, 40) for _ in range(6)]
    docs = {"one.txt": paras, "two.txt": [rewrite(rng, p, 0.05) for p in paras], "three.txt": paras[:1]}
    result = scan(write_docs(tmp_path, docs), levels=["document"])
    near = [p for p in result.pairs if p.relation == "near-duplicate"]
    assert {(p.a.path, p.b.path) for p in near} == {("one.txt", "two.txt")}
    # three.txt is one.txt's first paragraph: inside it (and inside the lightly edited two.txt)
    inside = {(p.a.path, p.b.path, p.inside) for p in result.pairs if p.relation == "contained"}
    assert ("one.txt", "three.txt", "b") in inside and inside <= {("one.txt", "three.txt", "b"), ("three.txt", "two.txt", "a")}
    (pair,) = near
    assert pair.a.paragraph is None and pair.a.start == 0 and pair.b.end == len((tmp_path / "two.txt").read_text())


def test_exact_copies_are_linear_and_star_shaped(tmp_path, rng):
    boiler = prose(rng, 30)
    docs = {f"d{i:03}.txt": [prose(rng, 40), boiler] for i in range(150)}
    result = scan(write_docs(tmp_path, docs), Settings(boilerplate=0), levels=["paragraph"])
    exact = [p for p in result.pairs if p.exact]
    assert len(exact) == 149 and {p.a.path for p in exact} == {"d000.txt"}
    (group,) = result.groups
    assert len(group.members) == 150 and group.canonical.path == "d000.txt"
    # At the defaults a text in 150 documents is boilerplate: one entry, no pairs.
    result = scan(tmp_path, levels=["paragraph"])
    assert not [p for p in result.pairs if p.exact]
    (common,) = result.boilerplate
    assert (common.documents, common.copies, common.canonical.path) == (150, 150, "d000.txt")
    (group,) = result.groups
    assert len(group.members) == 150


def test_short_paragraphs_are_matched_only_as_exact_copies(tmp_path):
    docs = {"a.txt": ["The mayor said no.", "The mayor said yes."], "b.txt": ["The mayor said no."]}
    result = scan(write_docs(tmp_path, docs), levels=["paragraph"])
    assert para_pairs(result, exact=True) == {("a.txt", 0, "b.txt", 0)}
    assert para_pairs(result, exact=False) == set()
    result = scan(tmp_path, Settings(min_words=3), levels=["paragraph"])
    # "the mayor said no/yes": word 2-gram Jaccard 2/4 = 0.5, and one exact copy.
    assert para_pairs(result, exact=True) == {("a.txt", 0, "b.txt", 0)}
    assert para_pairs(result, exact=False) == {("a.txt", 0, "a.txt", 1)}


def test_unrelated_corpus_has_no_pairs(tmp_path, rng):
    docs = {f"u{i}.txt": [prose(rng, 60) for _ in range(5)] for i in range(30)}
    assert scan(write_docs(tmp_path, docs)).pairs == []


def test_scan_documents_in_memory():
    text = UKRAINE.read_text(encoding="utf-8")
    result = scan_documents([Document("mem", text)])
    assert para_pairs(result) == {("mem", 0, "mem", 6)}


def test_bad_inputs_are_reported_and_the_scan_continues(tmp_path, monkeypatch):
    good = UKRAINE.read_text(encoding="utf-8")
    (tmp_path / "good.txt").write_text(good, encoding="utf-8")
    (tmp_path / "binary.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes("\ufeffhello utf sixteen".encode("utf-16-le"))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("\n\n   \n")
    (tmp_path / "locked.txt").write_text("secret")
    os.symlink(tmp_path / "missing-target", tmp_path / "broken-link.txt")
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    (tmp_path / ".hidden.txt").write_text(good)

    real_open = os.open

    def open_refusing(path, *args, **kwargs):  # root ignores file modes, so simulate the refusal
        if os.path.basename(path) == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("dedup.readers.os.open", open_refusing)
    result = scan(tmp_path)
    errors = {e.path: e.error for e in result.errors}
    assert errors["binary.bin"].startswith("binary file")
    assert "not UTF-8" in errors["latin1.txt"] and "0xe9" in errors["latin1.txt"]
    assert errors["locked.txt"] == "Permission denied"
    assert "broken symbolic link" in errors["broken-link.txt"]
    assert "symbolic link loop" in errors["sub/loop"]
    assert set(errors) == {"binary.bin", "latin1.txt", "locked.txt", "broken-link.txt", "sub/loop"}
    read = {d.path for d in result.documents}
    assert read == {"good.txt", "utf16.txt", "empty.txt", "blank.txt"}
    assert para_pairs(result) == {("good.txt", 0, "good.txt", 6)}


def test_vanishing_directory_is_an_error_not_a_crash(tmp_path, monkeypatch):
    write_docs(tmp_path, {"a/x.txt": ["one paragraph here"], "b/y.txt": ["another one"]})
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("/a"):
            raise FileNotFoundError(2, "No such file or directory")
        return real_scandir(path)

    monkeypatch.setattr(dedup.sources.os, "scandir", scandir)
    result = scan(tmp_path)
    assert [(e.path, e.error) for e in result.errors] == [("a", "No such file or directory")]
    assert [d.path for d in result.documents] == ["b/y.txt"]


def test_include_exclude_and_hidden(tmp_path):
    write_docs(tmp_path, {"keep/a.txt": ["x"], "keep/b.md": ["y"], "skip/c.txt": ["z"], ".h/d.txt": ["w"]})
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "e.txt").write_text("v")
    names = lambda r: sorted(d.path for d in r.documents)  # noqa: E731
    assert names(scan(tmp_path)) == ["keep/a.txt", "keep/b.md", "skip/c.txt"]
    assert names(scan(tmp_path, selection=Selection(include=["*.txt"]))) == ["keep/a.txt", "skip/c.txt"]
    assert names(scan(tmp_path, selection=Selection(exclude=["skip"]))) == ["keep/a.txt", "keep/b.md"]
    assert names(scan(tmp_path, selection=Selection(hidden=True)))[0] == ".h/d.txt"
    assert ".git/e.txt" not in names(scan(tmp_path, selection=Selection(hidden=True)))


def test_huge_single_line_file_is_linear(tmp_path, rng):
    line = " ".join(prose(rng, 100) for _ in range(20_000))  # ~2M words on one line
    (tmp_path / "huge.txt").write_text(line)
    (tmp_path / "copy.txt").write_text(line)
    result = scan(tmp_path)
    assert [(p.kind, p.exact) for p in result.pairs] == [("document", True), ("paragraph", True)]


def test_settings_are_validated():
    with pytest.raises(ValueError, match="ngram"):
        Settings(ngram=0)
    with pytest.raises(ValueError, match="exceeds num_perm"):
        Settings(num_perm=64, bands=20, rows=4)
    s = Settings().with_changes(threshold=0.5, doc_threshold=0.5)
    assert (s.bands, s.rows) == (35, 3)  # bands follow the thresholds unless given
    assert Settings.from_dict(Settings().to_dict()) == Settings()


def test_a_file_reached_twice_is_read_once(tmp_path):
    shutil.copy(UKRAINE, tmp_path / "u.txt")
    result = scan([tmp_path, tmp_path / "u.txt", tmp_path])
    assert len(result.documents) == 1
    assert para_pairs(result) == {(result.documents[0].path, 0, result.documents[0].path, 6)}


def test_identical_short_files_are_document_duplicates(tmp_path):
    write_docs(tmp_path, {"a.txt": ["Markets fall sharply."], "b.txt": ["Markets fall sharply."], "c.txt": ["Markets rise."]})
    result = scan(tmp_path)
    assert [(p.kind, p.a.path, p.b.path, p.exact) for p in result.pairs] == [
        ("document", "a.txt", "b.txt", True), ("paragraph", "a.txt", "b.txt", True)]


def test_rows_or_bands_alone_derive_the_other():
    assert (Settings().with_changes(rows=4).bands, Settings().with_changes(rows=4).rows) == (64, 4)
    assert Settings(num_perm=128, bands=16).rows == 8
    with pytest.raises(ValueError, match="at most num_perm"):
        Settings(rows=300)


def test_linking_pairs_give_the_same_groups_as_all_pairs(tmp_path, rng, monkeypatch):
    # A cluster of 40 light variants of one paragraph: all-pairs reports ~780 pairs,
    # the default only what links the group (rounds made tiny to show it).
    import dedup.plan.link

    monkeypatch.setattr(dedup.plan.link, "ROUND", 8)
    base = prose(rng, 60)
    docs = {f"v{i:02}.txt": [rewrite(rng, base, 0.05), prose(rng, 50)] for i in range(40)}
    write_docs(tmp_path, docs)
    linking = scan(tmp_path, levels=["paragraph"])
    everything = scan(tmp_path, levels=["paragraph"], all_pairs=True)
    assert [g.members for g in linking.groups] == [g.members for g in everything.groups]
    assert len(linking.groups) == 1 and len(linking.groups[0].members) == 40
    assert len(everything.pairs) > 500 and 39 <= len(linking.pairs) < len(everything.pairs) / 4
    exact = {(p.a.key(), p.b.key()): p.similarity for p in everything.pairs}
    assert all(exact[(p.a.key(), p.b.key())] == p.similarity for p in linking.pairs)
