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
empty line.  Vertical tab and form feed, which UAX #14 also counts as breaks, are
whitespace inside a line here (tester F7 of session 17: the README says so; treating
them as breaks would change the paragraphs of texts already indexed).  Text is never
rewritten before it is cut, so spans index the original.
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


def span_array(text: str, window: int = 1 << 20) -> "np.ndarray":
    """:func:`split_paragraphs` of ``text`` as an ``(n, 2)`` int64 array of ``[start,
    end)``, cut about ``window`` characters at a time: the same spans, without a list of
    every line and a tuple per paragraph of the whole text (~250 bytes a paragraph:
    1 GB for 64 MB of one-line paragraphs).  The rule (blank lines, or one paragraph
    per line) is the whole text's; windows end where its separators do: after a line
    break, or at the end of a blank-line separator as the whole text's scan finds them
    (one ``finditer`` over it, so no window sees a separator the whole text's split
    would not)."""
    import numpy as np

    plain = not any(c in text for c in _RARE_BREAKS)
    blank = _LF_BLANK_LINE if plain else _BLANK_LINE
    blocks = blank.search(text) is not None
    lines = re.compile("\n") if plain else _ANY_BREAK
    out, start, target = [], 0, window
    for match in (blank if blocks else lines).finditer(text):
        if match.end() >= target:
            out.append(_window_spans(text[start:match.end()], start, blank if blocks else None, lines))
            start, target = match.end(), match.end() + window
    out.append(_window_spans(text[start:], start, blank if blocks else None, lines))
    return np.concatenate(out)


def _window_spans(piece: str, at: int, blank, lines) -> "np.ndarray":
    """The spans of a window of the text starting at ``at``, split by the whole
    text's rule: by ``blank`` separators, or (``blank`` ``None``) by ``lines``."""
    import numpy as np

    if blank is not None:
        parts = blank.split(piece)
        spans = _spans(parts[0::2], [len(gap) for gap in parts[1::2]])
    else:
        pieces = lines.split(piece)
        spans = _spans(pieces, [1] * (len(pieces) - 1))
    return np.array(spans, dtype=np.int64).reshape(-1, 2) + at


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
