"""Split a document's text into paragraphs, keeping where each one stands.

Why spans come from the raw text: reports must point a reader at the exact characters
in the file (``start``/``end`` offsets into the decoded text), so paragraphs are cut
from the original text first and normalized afterwards.

Rules: paragraphs are blocks separated by blank lines.  A text with no blank line at
all but several lines (wire copy, the user's example article, one-sentence-per-line
dumps) is one paragraph per line.  Leading and trailing whitespace is not part of a
paragraph's span.

Line breaks are every one Unicode recommends recognizing (UAX #14 / Unicode chapter
5.8, "Newline Guidelines"): LF, CRLF, CR alone (old Mac files), NEL (U+0085), LINE
SEPARATOR (U+2028); a PARAGRAPH SEPARATOR (U+2029, word processors and some CMS
exports) ends a paragraph by itself, like a blank line.  CRLF is one break, never an
empty line.  Text is never rewritten before it is cut, so spans index the original.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_BREAK = "(?:\r\n|\r(?!\n)|[\n\x85\u2028])"
_BLANK_LINE = re.compile(f"({_BREAK}[^\\S\n\r\x85\u2028\u2029]*{_BREAK}|\u2029)")
_ANY_BREAK = re.compile("[\n\r\x85\u2028\u2029]")
#: Line breaks other than LF.  Text without them (nearly all) is cut with patterns that
#: start with a literal LF, which the regex engine finds far faster than an alternation.
_RARE_BREAKS = ("\r", "\x85", "\u2028", "\u2029")
_LF_BLANK_LINE = re.compile(r"(\n[^\S\n]*\n)")


class Span(NamedTuple):
    """A paragraph's half-open character range ``[start, end)`` in its document."""

    start: int
    end: int


def split_paragraphs(text: str) -> list[Span]:
    """Return the spans of the paragraphs of ``text``, in order."""
    plain = not any(c in text for c in _RARE_BREAKS)
    parts = (_LF_BLANK_LINE if plain else _BLANK_LINE).split(text)
    if len(parts) > 1:  # blank lines: the pieces between them, then each separator
        return _spans(parts[0::2], [len(gap) for gap in parts[1::2]])
    lines = text.split("\n") if plain else _ANY_BREAK.split(text)
    return _spans(lines, [1] * (len(lines) - 1))


def _spans(pieces: list[str], gaps: list[int]) -> list[Span]:
    """Spans of the pieces that are not all whitespace, without their leading and
    trailing whitespace (``str.strip``'s whitespace is ``re``'s ``\\s``); ``gaps[i]``
    characters separate piece ``i`` from the next."""
    spans = []
    at = 0
    for piece, gap in zip(pieces, gaps + [0]):
        body = piece.lstrip()
        if body:
            start = at + len(piece) - len(body)
            spans.append(Span(start, start + len(body.rstrip())))
        at += len(piece) + gap
    return spans
