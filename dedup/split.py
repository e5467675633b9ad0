"""Split a document's text into paragraphs, keeping where each one stands.

Why spans come from the raw text: reports must point a reader at the exact characters
in the file (``start``/``end`` offsets into the decoded text), so paragraphs are cut
from the original text first and normalized afterwards.

Rules: paragraphs are blocks separated by blank lines.  A text with no blank line at
all but several lines (wire copy, the user's example article, one-sentence-per-line
dumps) is one paragraph per line.  Leading and trailing whitespace is not part of a
paragraph's span.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_BLOCK = re.compile(r"\S(?:.*\S)?", re.DOTALL)
_LINE = re.compile(r"[^\n]+")


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
