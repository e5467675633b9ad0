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
_BLANK_LINE = re.compile(f"{_BREAK}[^\\S\n\r\x85\u2028\u2029]*{_BREAK}|\u2029")
_BLOCK = re.compile(r"\S(?:.*\S)?", re.DOTALL)
_LINE = re.compile("[^\n\r\x85\u2028\u2029]+")


class Span(NamedTuple):
    """A paragraph's half-open character range ``[start, end)`` in its document."""

    start: int
    end: int


def _stripped(text: str, start: int, end: int) -> Span | None:
    match = _BLOCK.search(text, start, end)
    return Span(match.start(), match.end()) if match else None


def split_paragraphs(text: str) -> list[Span]:
    """Return the spans of the paragraphs of ``text``, in order."""
    text_has_blank_line = _BLANK_LINE.search(text) is not None
    pieces = (
        _pieces_between(text, _BLANK_LINE)
        if text_has_blank_line
        else [(m.start(), m.end()) for m in _LINE.finditer(text)]
    )
    spans = []
    for start, end in pieces:
        span = _stripped(text, start, end)
        if span is not None:
            spans.append(span)
    return spans


def _pieces_between(text: str, separator: re.Pattern[str]) -> list[tuple[int, int]]:
    pieces, start = [], 0
    for match in separator.finditer(text):
        pieces.append((start, match.start()))
        start = match.end()
    pieces.append((start, len(text)))
    return pieces
