"""Line and paragraph separators beyond LF: CRLF, CR, NEL, U+2028, U+2029 (dedup.split)."""

import pytest

from dedup import Document, scan_documents
from dedup.split import split_paragraphs

PARAS = [
    "The harbour bridge reopened on Monday after eight months of repairs to its deck.",
    "Engineers found corrosion in the cables, which added three months to the work.",
    "Commuters who used the ferry during the closure say they will keep using it.",
]
ODD = "Le pont du port a rouvert lundi après huit mois de travaux sur son tablier."


def spans_text(text):
    return [text[s:e] for s, e in split_paragraphs(text)]


@pytest.mark.parametrize("brk", ["\r\n", "\r", "\x85", "\u2028"])
def test_every_line_break_separates_blank_line_paragraphs(brk):
    text = brk.join(["", PARAS[0], "still the first", "", PARAS[1], " \t", PARAS[2], ""])
    assert spans_text(text) == [PARAS[0] + brk + "still the first", PARAS[1], PARAS[2]]


@pytest.mark.parametrize("brk", ["\r\n", "\r", "\x85", "\u2028"])
def test_without_blank_lines_every_line_break_makes_one_paragraph_per_line(brk):
    text = brk.join(PARAS) + brk
    spans = split_paragraphs(text)
    assert [text[s:e] for s, e in spans] == PARAS
    start = 0
    for (s, e), para in zip(spans, PARAS):  # offsets index the original text
        assert s == text.index(para, start) and e == s + len(para)
        start = e


def test_crlf_is_one_line_break_never_a_blank_line():
    text = "one\r\ntwo\r\nthree"
    assert spans_text(text) == ["one", "two", "three"]
    assert spans_text("a\r\n\r\nb\r\nc") == ["a", "b\r\nc"]  # CRLF CRLF is a blank line


def test_paragraph_separator_ends_a_paragraph_by_itself():
    text = PARAS[0] + "\u2028more of it\u2029" + PARAS[1] + "\u2029\u2029" + PARAS[2]
    assert spans_text(text) == [PARAS[0] + "\u2028more of it", PARAS[1], PARAS[2]]


@pytest.mark.parametrize("brk,blank", [("\r\n", "\r\n\r\n"), ("\r", "\r\r"), ("\x85", "\x85\x85"),
                                       ("\u2028", "\u2028\u2028"), ("\n", "\u2029")])
def test_each_separator_style_pairs_with_the_lf_copy_at_the_right_offsets(brk, blank):
    lf = "\n\n".join([PARAS[0], PARAS[1], ODD, PARAS[2]]) + "\n"
    other = blank.join([ODD.replace("huit", "neuf"), PARAS[2], PARAS[0]]) + brk
    result = scan_documents([Document("lf.txt", lf), Document("odd.txt", other)], levels=["paragraph"])
    found = {(p.a.paragraph, p.b.paragraph): p for p in result.pairs}
    assert set(found) == {(0, 2), (3, 1), (2, 0)}
    for pair in found.values():
        assert lf[pair.a.start : pair.a.end] and other[pair.b.start : pair.b.end]
        assert pair.b.start == other.index(other[pair.b.start : pair.b.end])
    assert other[found[(0, 2)].b.start : found[(0, 2)].b.end] == PARAS[0]
    assert other[found[(3, 1)].b.start : found[(3, 1)].b.end] == PARAS[2]
    assert found[(3, 1)].exact and not found[(2, 0)].exact
