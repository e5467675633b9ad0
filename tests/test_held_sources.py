"""A pair one side of which holds the other (almost) whole (:func:`dedup.containment.held`):
the held side is the source.  It is the group's canonical member, so ``dedup clean``
never cuts a source for the text quoting it, and the index counts a paragraph holding a
stored one by the part of it that is stored, not whole -- whether the pair is
``contained`` or, with the quote about half the paragraph or more, a near-duplicate
(new user N1/N2 of session 18: a quote 48 % of a councillor's paragraph)."""

import random

import numpy as np
import pytest

import dedup
from dedup import Index
from dedup.containment import held
from textgen import rich_prose, write_docs

#: The quote's share of the paragraph reading it out, across both relations: contained
#: below min(2t/(1+t), 1/2) = 0.46 at t 0.3, a near-duplicate pair from there on.
SHARES = (0.3, 0.4, 0.48, 0.55, 0.65, 0.8, 0.95)

LEAD = ("Heavy rain overnight flooded dozens of homes along the river in the northern district, forcing "
        "emergency crews to evacuate more than two hundred residents before dawn on Sunday.")
QUOTE = ('"We lost everything on the ground floor, the water came in so fast we could only grab the '
         'children," said Maria Lopez, a baker whose shop sits beside the old stone bridge.')
DETAIL = ("Officials said the river peaked at nearly four metres above its normal level, the highest "
          "reading since records began in the early nineteen fifties.")
COUNCIL = [
    "The city council met on Monday evening to debate an emergency fund for flood victims, with several "
    "members calling for faster payments to families who lost their homes and livelihoods this week.",
    "Councillor James Reed read aloud from a local news report during the debate: " + QUOTE + " He told the "
    "chamber that the council had ignored warnings about drainage for a decade and that residents deserved better.",
    "The fund will be voted on next Thursday after a review of the budget by the finance committee.",
]


def _family(seed: int, share: float, quote_words: int = 40):
    """(source paragraphs, the quote, a paragraph of its own words reading the quote out
    in its middle, the quote about ``share`` of it)."""
    rng = random.Random(seed)
    quote = rich_prose(rng, quote_words)
    own = rich_prose(rng, max(2, round(quote_words * (1 / share - 1)))).split()
    around = " ".join(own[: len(own) // 2] + quote.split() + own[len(own) // 2 :])
    return [rich_prose(rng, 60), quote, rich_prose(rng, 55)], quote, around


def test_a_side_is_held_when_the_other_adds_most_of_their_difference():
    c_a = np.array([1.0, 1.0, 1.0, 0.83, 0.8, 1.0, 0.6])
    c_b = np.array([0.48, 0.88, 1.0, 0.80, 0.4, 0.3, 0.3])
    a_held, b_held = held(c_a, c_b, 0.7)
    # a quote (c_L 0.48); a copy with a sentence appended; the same text; two rewrites
    # (about as much changed on each side); a quote with edits inside; a short quote;
    # a side not inside the other (0.6 < 0.7).
    assert a_held.tolist() == [True, True, False, False, True, True, False]
    assert not b_held.any()
    assert held(c_b, c_a, 0.7)[1].tolist() == a_held.tolist()  # the other way round
    assert not held(c_a, c_b, 0.0)[0].any()  # containment off: nothing is held


def test_the_new_user_s_quote_keeps_its_source_canonical_and_in_the_clean_copy(tmp_path):
    footer = ("Subscribe to the Daily Ledger newsletter for the top stories every morning. Copyright 2026 "
              "Daily Ledger Media Group, all rights reserved worldwide.")
    src = write_docs(tmp_path / "src", {"council.txt": COUNCIL + [footer],
                                        "flood.txt": [LEAD, QUOTE, DETAIL, footer]})
    result = dedup.scan(src, levels=("paragraph",))
    (pair,) = [p for p in result.pairs if {p.a.path, p.b.path} == {"council.txt", "flood.txt"}
               and 1 in (p.a.paragraph, p.b.paragraph) and p.similarity < 1]
    assert pair.relation == "near-duplicate" and 0.46 < min(pair.containment) < 0.5  # the case
    (group,) = [g for g in result.groups if g.canonical.paragraph == 1 or g.members[0].paragraph == 1]
    assert (group.canonical.path, group.canonical.paragraph) == ("flood.txt", 1)
    dedup.clean(src, tmp_path / "out", strip_paragraphs=True)
    assert QUOTE in (tmp_path / "out" / "flood.txt").read_text()
    assert COUNCIL[1] in (tmp_path / "out" / "council.txt").read_text()  # its own words too (F1 of s19)


def test_the_new_user_s_quoting_story_is_partly_seen_not_a_duplicate(tmp_path):
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add("\n\n".join([LEAD, QUOTE, DETAIL]), doc_id="flood")
        v = idx.check("\n\n".join(COUNCIL), doc_id="council")
        (p,) = v.matches[0].paragraphs
        assert p.relation == "near-duplicate" and p.containment[1] == 1.0
        words = [len(t.split()) for t in COUNCIL]
        assert v.seen_share == pytest.approx(p.containment[0] * words[1] / sum(words), abs=0.03)
        assert not v.is_duplicate and v.accepted and v.seen == ()
        assert v.reason.startswith("0 of 3 paragraphs already seen, 1 quoting stored text (")
        # Strip keeps the holding paragraph: cut, its own words would be lost (tester F1 of s19).
        assert COUNCIL[1] in idx.check("\n\n".join(COUNCIL), doc_id="council", policy="strip").text


@pytest.mark.parametrize("share", SHARES)
def test_scan_and_clean_keep_the_source_of_a_quote_of_any_share(tmp_path, share):
    source, quote, around = _family(20, share)
    rng = random.Random(21)
    # The quoting article sorts first: by scan order it would be canonical.
    src = write_docs(tmp_path / "src", {"a-report.txt": [rich_prose(rng, 50), around],
                                        "b-source.txt": source})
    result = dedup.scan(src, levels=("paragraph",))
    (pair,) = result.pairs
    assert max(pair.containment) == 1.0
    for g in result.groups:  # a near-duplicate pair groups: the source is canonical
        assert (g.canonical.path, g.canonical.paragraph) == ("b-source.txt", 1)
    assert bool(result.groups) == (pair.relation == "near-duplicate")
    dedup.clean(src, tmp_path / "out", strip_paragraphs=True)
    assert quote in (tmp_path / "out" / "b-source.txt").read_text()
    assert around in (tmp_path / "out" / "a-report.txt").read_text()  # never cut for what it holds


@pytest.mark.parametrize("share", SHARES)
def test_index_counts_a_paragraph_holding_a_stored_one_by_its_stored_part(tmp_path, share):
    source, quote, around = _family(22, share)
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add("\n\n".join(source), doc_id="source")
        v = idx.check(around, doc_id="report")
        (p,) = v.matches[0].paragraphs
        assert p.containment[1] == 1.0 and p.containment[0] == pytest.approx(share, abs=0.08)
        assert v.seen_share == pytest.approx(p.containment[0])
        assert v.accepted == (v.seen_share < 0.5)  # past half: a duplicate, or inside the source


def test_the_partitioned_link_puts_the_source_first_too(tmp_path, monkeypatch):
    # The Dask engine's groups are written in parts (:mod:`dedup.plan.parts`), here on
    # the local pool linking as it does: the same canonical member as the local link.
    import sys

    from dedup.plan.local import LocalExecutor

    class PartitionedLocal(LocalExecutor):
        partitioned_link = True

    source, quote, around = _family(23, 0.6)
    rng = random.Random(24)
    src = write_docs(tmp_path, {"a-report.txt": [rich_prose(rng, 50), around], "b-source.txt": source})
    monkeypatch.setattr(sys.modules["dedup.scan"], "LocalExecutor", PartitionedLocal)
    (group,) = dedup.scan(src, levels=("paragraph",), jobs=2).groups
    assert (group.canonical.path, group.canonical.paragraph) == ("b-source.txt", 1)

