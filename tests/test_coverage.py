"""Coverage (issue #10's precision, #11's containment): a pair below the threshold is
``contained`` only when at least ``COVERAGE`` of the smaller text's words (graphemes of
a script written without spaces) lie inside shingles the larger text has."""

from __future__ import annotations

import random

import numpy as np

from dedup import Document, Settings, scan_documents
from dedup.normalize import normalize
from dedup.segments import SetTable
from dedup.shingle import shingle
from dedup.verify import COVERAGE, coverage, score_pairs
from textgen import rich_prose


def _coverage(short: str, long: str, unit: str = "word", n: int = 2) -> float:
    return float(coverage(shingle([normalize(short)], unit, n), SetTable.from_shingles(shingle([normalize(long)], unit, n)))[0])


def _containment(short: str, long: str) -> float:
    table = SetTable.from_shingles(shingle([normalize(short), normalize(long)]))
    return float(score_pairs(table, np.array([[0, 1]])).containment_a[0])


def test_a_verbatim_quote_is_all_covered_and_an_unrelated_text_not_at_all():
    rng = random.Random(1)
    quote, other = rich_prose(rng, 30), rich_prose(rng, 30)
    words = rich_prose(rng, 120).split()
    host = " ".join(words[:50] + quote.split() + words[50:])
    assert _coverage(quote, host) == 1.0
    assert _coverage(other, host) < 0.2


def test_an_edited_word_uncovers_itself_only_while_it_breaks_two_shingles():
    words = [f"w{i}" for i in range(20)]
    host = " ".join(["a", "b", "c"] + words + ["d", "e"])
    edited = words[:10] + ["changed"] + words[11:]
    assert _coverage(" ".join(edited), host) == 19 / 20
    assert _containment(" ".join(edited), host) == 17 / 19


def test_a_sentence_sharing_a_phrase_is_not_covered_enough_though_its_shingles_are():
    # 14 of 19 words are one phrase of the other text: 13 of the 18 word 2-grams (0.72,
    # above the 0.7 containment default) but 14 of 19 words (0.74) are inside.
    phrase = [f"p{i}" for i in range(14)]
    short = " ".join(["own1", "own2", "own3"] + phrase + ["own4", "own5"])
    long = " ".join([f"x{i}" for i in range(40)] + phrase + [f"y{i}" for i in range(20)])
    assert _containment(short, long) >= Settings().containment
    assert _coverage(short, long) == 14 / 19 < COVERAGE


def test_graphemes_of_a_script_without_spaces_are_covered_by_their_3_gram():
    # Japanese: one token per grapheme, shingles of 3; the first 8 of 10 inside.
    short = "東京都新宿区西新宿あい"
    long = "昨日は東京都新宿区西新宿に行きました"
    assert abs(_coverage(short, long) - 9 / 11) < 1e-9
    mixed = "東京でPython3を使う"  # 東 京 で python3 を 使 う: words and graphemes
    assert _coverage(mixed, "今日は東京でPython3を使うつもり") == 1.0
    assert _coverage("", long) == 0.0


def test_a_batch_gives_each_pair_its_own_coverage():
    texts = ["a b c d e f", "a b c x y z", "q r s"]
    hosts = ["z a b c d e f", "a b c d e f", "q r s t"]
    got = coverage(shingle(texts), SetTable.from_shingles(shingle(hosts)))
    assert np.allclose(got, [1.0, 0.5, 1.0])


def _cases(seed: int) -> dict:
    """A sentence whose 14-word phrase is inside a story (0.72 of its word 2-grams,
    0.74 of its words), and a quote of 24 words with one word edited inside a report."""
    rng = random.Random(seed)
    phrase = rich_prose(rng, 14).split()
    quote = rich_prose(rng, 24).split()
    words = rich_prose(rng, 100).split()
    return {
        "sentence": " ".join(rich_prose(rng, 3).split() + phrase + rich_prose(rng, 2).split()),
        "story": " ".join(rich_prose(rng, 40).split() + phrase + rich_prose(rng, 20).split()),
        "report": " ".join(words[:40] + quote + words[40:]),
        "edited": " ".join(quote[:12] + ["unrelatedword"] + quote[13:]),
        "intro": rich_prose(rng, 60),
    }


def test_the_scan_reports_an_edited_quote_but_not_a_sentence_sharing_a_phrase():
    t = _cases(5)
    docs = [Document(f"{name}.txt", t[name]) for name in ("edited", "report", "sentence")]
    docs.append(Document("story.txt", t["story"] + "\n\n" + t["intro"]))  # a document of two paragraphs
    for levels in (["paragraph"], ["document"], ["document", "paragraph"]):
        result = scan_documents(docs, levels=levels)
        pairs = {(p.kind, frozenset((p.a.path, p.b.path))): p for p in result.pairs}
        for kind in levels:
            assert pairs[kind, frozenset(("edited.txt", "report.txt"))].relation == "contained"
        assert {k for k, names in pairs if names == {"sentence.txt", "story.txt"}} == set(), levels
    table = SetTable.from_shingles(shingle([normalize(t["sentence"]), normalize(t["story"])]))
    assert score_pairs(table, np.array([[0, 1]])).containment_a[0] >= Settings().containment  # the old rule's FP


def test_the_index_does_not_call_a_paragraph_sharing_a_phrase_contained(tmp_path):
    from dedup import Index

    t = _cases(6)
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(t["story"], doc_id="story")
        idx.add(t["report"], doc_id="report")
        # Each beside an unrelated paragraph, so that the article as a whole is not inside.
        v = idx.check(t["intro"] + "\n\n" + t["sentence"])
        assert not [p for m in v.matches for p in m.paragraphs], v.reason
        v = idx.check(t["intro"] + "\n\n" + t["edited"])
        assert [(m.doc_id, [p.relation for p in m.paragraphs]) for m in v.matches] == [("report", ["contained"])]


def test_the_index_covers_a_stored_paragraph_inside_a_checked_one_from_its_stored_text(tmp_path):
    from dedup import Index

    t = _cases(7)
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(t["intro"] + "\n\n" + t["sentence"], doc_id="sentence")
        idx.add(rich_prose(random.Random(8), 60) + "\n\n" + t["edited"], doc_id="quote")
        assert not [p for m in idx.check(t["story"]).matches for p in m.paragraphs]
        v = idx.check(t["report"])
        assert [(m.doc_id, [(p.relation, p.containment[1] > p.containment[0]) for p in m.paragraphs])
                for m in v.matches] == [("quote", [("contained", True)])]


def test_a_stored_paragraph_whose_document_has_no_text_is_damage_not_a_traceback(tmp_path, monkeypatch):
    """The stored side is covered from its document's text: a document with rows but no
    text is reported as damage naming it (IndexCorrupt), never an AttributeError."""
    import pytest

    from dedup import Index
    from dedup.storage.protocol import IndexCorrupt

    t = _cases(7)
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(rich_prose(random.Random(8), 60) + "\n\n" + t["edited"], doc_id="quote")
        store = idx._store
        real_get = store.get
        monkeypatch.setattr(store, "get", lambda doc_id: None if doc_id == "quote" else real_get(doc_id))
        # SQLite reads stored texts in one read (DocumentTexts, 541e109): "quote" is its only document
        monkeypatch.setattr(store, "document_texts", lambda rows: {})
        with pytest.raises(IndexCorrupt, match="quote"):
            idx.check(t["report"])
