"""Two documents that share a quote only are no document pair (:mod:`dedup.plan.quoted`,
new user N4 of session 18): a short source story and a longer story quoting it reached
document Jaccard 0.30, a near-duplicate pair, although the paragraph pair is
``contained``; ``clean`` then dropped the source story.  Scan, clean and index agree."""

import random

import pytest

import dedup
from dedup import Index
from dedup.containment import one_sided_below
from textgen import rewrite, rich_prose, write_docs

SOURCE = [
    'The mayor told a press conference on Tuesday afternoon: "We will do everything we can to help the '
    'flooded families rebuild their homes, and the government has already released the first tranche of '
    'relief money."',
    "The first tranche totals fifty million and will reach the affected villages next week.",
]
QUOTING = [
    "Several members of the assembly criticised the relief effort yesterday. One delegate cited the mayor's "
    'promise, "We will do everything we can to help the flooded families rebuild their homes, and the '
    'government has already released the first tranche of relief money," and said payments were far too '
    "slow, with many families still living in temporary shelters as winter approaches.",
    "The assembly also discussed next year's education budget.",
]


def _pairs(result):
    return {(p.kind, p.relation) for p in result.pairs}


def test_the_new_user_s_source_and_quoting_story_are_no_document_pair(tmp_path):
    src = write_docs(tmp_path / "src", {"quote.txt": QUOTING, "src.txt": SOURCE})
    result = dedup.scan(src)
    assert _pairs(result) == {("paragraph", "contained")}
    # Scored whole, the two would be a pair: what the rule is about.
    (whole,) = dedup.scan(src, dedup.Settings(containment=0), levels=("document",)).pairs
    assert whole.kind == "document" and whole.similarity >= 0.3
    report = dedup.clean(src, tmp_path / "out", strip_paragraphs=True)
    assert report.dropped == 0 and report.stripped_paragraphs == 0
    assert (tmp_path / "out" / "src.txt").read_text() == (src / "src.txt").read_text()


def test_the_index_does_not_reject_the_story_quoting_a_stored_one(tmp_path):
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add("\n\n".join(SOURCE), doc_id="src")
        v = idx.check("\n\n".join(QUOTING), doc_id="quote")
        (m,) = v.matches
        assert m.similarity >= 0.3 and m.relation is None  # sharing a quote only
        assert not v.is_duplicate and v.accepted and v.seen_share < 0.5


@pytest.mark.parametrize("seed", range(4))
def test_generated_quotes_make_no_document_pair_while_copied_paragraphs_do(tmp_path, seed):
    rng = random.Random(seed)
    # Shingle counts ~ words: the quote 40 of the source's 45-word paragraph (its
    # attribution is not quoted) and of the 90-word paragraph quoting it (c_L 0.44: a
    # contained pair); whole documents 40 / (65 + 99 - 40): J 0.32, c 0.62 / 0.40.
    quote = rich_prose(rng, 40)
    own = rich_prose(rng, 50).split()
    source = [f"{rich_prose(rng, 5)[:-1]}: {quote}", rich_prose(rng, 20)]
    quoting = [" ".join(own[:25] + quote.split() + own[25:]), rich_prose(rng, 9)]
    # A control of the same shape (neither side inside the other, the larger holding
    # less than the boundary) whose shared paragraph is a light rewrite, not a quote.
    story = rich_prose(rng, 40)
    write_docs(tmp_path, {"a-quoting.txt": quoting, "b-source.txt": source,
                          "c-story.txt": [story, rich_prose(rng, 20)],
                          "d-update.txt": [rewrite(rng, story, 0.05), rich_prose(rng, 20), rich_prose(rng, 28)]})
    result = dedup.scan(tmp_path)
    docs = {(p.a.path, p.b.path): p for p in result.pairs if p.kind == "document"}
    assert ("a-quoting.txt", "b-source.txt") not in docs
    with_off = dedup.scan(tmp_path, dedup.Settings(containment=0))
    quoted = [p for p in with_off.pairs if p.kind == "document" and p.a.path == "a-quoting.txt"]
    assert quoted and quoted[0].similarity >= 0.3  # the case: whole, it reaches the threshold
    assert min(quoted[0].containment) < one_sided_below(0.3)
    # The control stays a document pair (its paragraphs are a near-duplicate pair).
    control = docs[("c-story.txt", "d-update.txt")]
    assert control.relation == "near-duplicate"
    assert min(control.containment) < one_sided_below(0.3) and max(control.containment) < 0.7
    # The index: the same pair is no duplicate match; the control is.
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add_many([("source", "\n\n".join(source)), ("story", (tmp_path / "c-story.txt").read_text())])
        assert [m.relation for m in idx.check("\n\n".join(quoting), doc_id="quoting").matches] == [None]
        update = idx.check((tmp_path / "d-update.txt").read_text(), doc_id="update")
        assert [m.relation for m in update.matches] == ["duplicate"]


def test_documents_sharing_short_lines_only_stay_a_document_pair(tmp_path):
    """'Sharing quotes only' needs a quote found: two documents of short lines (each
    under min_tokens, so no paragraph pair is compared) that share 30 of them, J ~0.38,
    neither side contained -- a document pair in the scan, as without the rule (the scan
    dropped it: no near-duplicate paragraph pair was read as 'quotes only').  (The index
    does not find such a document at all yet: tester F3 of session 19.)"""
    rng = random.Random(7)
    def line() -> str:
        return " ".join(rng.choice(["river", "stone", "light", "cold", "morning", "field", "bird", "slow",
                                    "window", "bread", "salt", "iron", "paper", "green", "night", "door"])
                        + str(rng.randrange(1000)) for _ in range(5))
    shared = [line() for _ in range(30)]
    a, b = shared + [line() for _ in range(10)], shared + [line() for _ in range(40)]
    src = write_docs(tmp_path / "src", {"a.txt": a, "b.txt": b})
    result = dedup.scan(src, levels=("document",))
    (pair,) = result.pairs
    assert pair.kind == "document" and pair.similarity >= 0.3 and pair.relation == "near-duplicate"


def _long_pair(folder, shared: int, own_a: int, own_b: int, thirds: bool):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_quoted import write_pair

    folder.mkdir()
    write_pair(folder, shared, own_a, own_b, thirds)
    return folder


@pytest.mark.parametrize("thirds", [False, True])
def test_two_long_documents_are_checked_in_bounded_memory(tmp_path, monkeypatch, thirds):
    """Review R3 of session 22: the check built every paragraph pair of two documents
    in question before scoring any -- two documents of 910 and 1,100 paragraphs (800
    shared) made 1M pairs, 335 MiB traced in the check (most of them scored for
    nothing: the first copy found settles it); 970 and 470 paragraphs of quotes only,
    322 MiB.  Now
    :data:`~dedup.plan.quoted.PAIR_BLOCK` pairs at a time (~30 MiB), and a pair found
    copied is not scored further; a pair of quotes only (a.txt holds the shared
    paragraphs cut in three, each inside one of b.txt's) scores every block and is
    still judged so."""
    import tracemalloc

    from dedup.plan import quoted

    peaks, judged, original = [], [], quoted.quotes_only

    def measured(*args):
        tracemalloc.start()
        try:
            out = original(*args)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        judged.append(int(out.sum()))
        return out

    monkeypatch.setattr(quoted, "quotes_only", measured)
    shape = (300, 70, 170) if thirds else (800, 110, 300)
    result = dedup.scan(_long_pair(tmp_path / "src", *shape, thirds), jobs=1)
    docs = [p for p in result.pairs if p.kind == "document"]
    assert judged == [1 if thirds else 0] and len(docs) == (0 if thirds else 1), (judged, docs)
    assert max(peaks) < 60 * 2**20, f"{max(peaks) / 2**20:.0f} MiB traced"


def test_blocks_of_pairs_judge_as_one_block_does(tmp_path, monkeypatch):
    """The block size changes what is held at once, never the verdict."""
    from dedup.plan import quoted

    src = _long_pair(tmp_path / "src", 300, 70, 170, True)
    write_docs(src, {"q-quoting.txt": QUOTING, "q-source.txt": SOURCE})
    monkeypatch.setattr(quoted, "PAIR_BLOCK", 1 << 30)
    whole = dedup.scan(src, jobs=1)
    monkeypatch.setattr(quoted, "PAIR_BLOCK", 997)
    blocked = dedup.scan(src, jobs=1)
    assert [(p.kind, p.a.path, p.b.path, p.relation) for p in blocked.pairs] == \
        [(p.kind, p.a.path, p.b.path, p.relation) for p in whole.pairs]
