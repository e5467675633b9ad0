"""Markdown (``.md``, ``.markdown``): the text a reader sees, paragraph by paragraph.

Link targets, image URLs, emphasis markers, heading hashes, list bullets, code fences
and YAML front matter are not text and would otherwise be shingled as if they were:
two copies of an article that differ only in their links' URLs would score low, and
every document with the same front-matter keys would share a "paragraph".

Why render with markdown-it-py and extract with the HTML reader, instead of stripping
markup with regular expressions: Markdown's rules (nested emphasis, reference links,
indented code, intra-word underscores, HTML blocks) are a grammar, and CommonMark is the
spec; markdown-it-py implements it and is maintained.  Going through HTML also gives
Markdown exactly the paragraph rules of HTML pages (each paragraph, heading, list item
and code block is one paragraph), so the same article as ``.md`` and ``.html`` yields
the same text.  Code blocks keep their content (it is text the author wrote), only the
fences go.  Reported offsets refer to this extracted text.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Iterator

from .html import HTMLError, extract
from .text import DecodeError, decode_text

if TYPE_CHECKING:
    from . import Item, ReadOptions

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?^(?:---|\.\.\.)[ \t]*$\r?\n?", re.DOTALL | re.MULTILINE)
#: A line that may be a table's delimiter row (``| --- | :-: |``), at any indentation and
#: inside any blockquotes (``>``) or list item markers: markdown-it lays out tables
#: there too (review R3).  Also a thematic break or a setext underline, which then count
#: as a table of one column: an upper bound is all that is needed.  Each run of blanks
#: (and of dashes) is matched atomically -- ``(?=(X))\N``, what ``X*+`` says on Python 3.11+ -- since two adjacent
#: blank quantifiers made a line of k blanks try ~k^2/2 splits (tester's F5 of session
#: 17: 30 KB of spaces took 16 s, 1 MB hours); the same rows match.
_DELIMITER_ROW = re.compile(r"^(?=([ \t>]*))\1(?:(?:[-+*]|\d{1,9}[.)])(?=([ \t]+))\2)?\|?(?=([ \t]*))\3:?(?=(-+))\4:?"
                            r"(?=([ \t]*))\5(?:\|(?=([ \t]*))\6:?(?=(-+))\7:?(?=([ \t]*))\8)*\|?(?=([ \t]*))\9$",
                            re.MULTILINE)
_BLANK_LINE = re.compile(r"\n[ \t]*(?:\r?\n|\Z)")
#: Table cells laid out per document, at most; a document with more is read with its
#: tables as plain lines of text (with a warning).  Why: markdown-it makes ~4 tokens of
#: a few hundred bytes per cell, and a table has as many cells in each row as its
#: header has columns (missing ones are added), so a 2 MB pipe table cost 1 GB and
#: 120 s (tester's F1 of #12, session 15); 100,000 cells cost ~140 MB and ~4 s CPU (measured).
MAX_TABLE_CELLS = 100_000
#: Blocks (paragraphs, list items, headings) rendered per document, at most, counted from
#: above (:func:`block_lines`); a document with more is read as plain text, markup and all
#: (with a warning).  Why: markdown-it holds ~2 KB of tokens per block, so 1,000,000
#: one-letter list items (4 MB) took 2.2 GB and 77 s of CPU (tester's F7, session 16);
#: 100,000 take ~270 MB and ~7 s, 100,000 short paragraphs ~230 MB and ~5 s (measured).
MAX_BLOCKS = 100_000
#: A line that may start a block: a blank line (before a paragraph), a list item, an ATX
#: heading, a setext underline, a thematic break, a code fence, an HTML block -- at any
#: indentation, inside any blockquotes (review R9 and tester's F7b, session 16: the
#: first count knew the first three only, and 1 MB of ``a`` / ``***`` lines took 413 MB).
_BLOCK_LINE = re.compile(r"^[ \t>]*(?:$|(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)|#|(?:=+|-+)[ \t]*$"
                         r"|([-*_])(?:[ \t]*\1){2,}[ \t]*$|```|~~~|<)", re.MULTILINE)
#: Characters that may open or close inline markup (emphasis, code spans, links and
#: images, raw HTML, entities, escapes); a document with more than :data:`MAX_INLINE`
#: is read as plain text too.  Why: each makes a token of a few hundred bytes in a
#: paragraph's inline children -- a 4 MB paragraph of ``*a* `` took 1.55 GB (tester's
#: F7b); just under the limit, 99,000 links take ~200 MB and ~7 s CPU, 49,500 emphasized
#: words ~115 MB and ~3 s (measured, session 16, with the ~40 MB of the process itself).
INLINE_MARKS = "*_`[<!&\\"
MAX_INLINE = 100_000
#: Levels of block nesting (each ``>``, each list and its item) markdown-it parses, at
#: most; a document that comes near it is read as plain text, markup included (with a
#: warning).  Why: past its limit markdown-it drops every block silently -- at its
#: default of 20, ``>`` * 20 + an article was an empty document, so a stored article
#: quoted 20 deep came back "new" (tester T10, session 24).  Deep ``>`` quoting is
#: ordinary in mail and forum archives; 100 levels parse in ~1 ms and within Python's
#: recursion limit (measured up to 300 nested ``>``, ``[``, ``*``, ``<span>``).
MAX_NESTING = 100


class TooDeep(ValueError):
    """The blocks of a Markdown document nest as deep as :data:`MAX_NESTING`."""


def read(data: bytes, name: str, options: "ReadOptions") -> Iterator["Item"]:
    from . import Document, ReadError

    try:
        source = decode_text(data, options.encoding)
        blocks = block_lines(source)
        marks = sum(map(source.count, INLINE_MARKS))
        if blocks > MAX_BLOCKS or marks > MAX_INLINE:
            made = (f"about {blocks:,} blocks (paragraphs, list items, headings, breaks; more than {MAX_BLOCKS:,}"
                    if blocks > MAX_BLOCKS else
                    f"{marks:,} inline markup characters (emphasis, code, links, HTML; more than {MAX_INLINE:,}")
            yield Document(name, source, warning=(
                f"it would make {made}: memory grows with each), so it was read as plain text, markup included"))
            return
        cells = table_cells(source)
        tables = cells <= MAX_TABLE_CELLS
        warning = "" if tables else (
            f"its tables would lay out about {cells:,} cells (more than {MAX_TABLE_CELLS:,}: memory grows "
            "with each cell), so they were read as plain lines of text")
        try:
            text = markdown_text(source, tables)
        except TooDeep:
            yield Document(name, source, warning=(
                f"its quotes and lists nest about {MAX_NESTING - 1} levels deep or more (the parser's limit: "
                "blocks below it would be lost), so it was read as plain text, markup included"))
            return
        yield Document(name, text, "extracted-markdown", warning=warning)
    except DecodeError as err:
        yield ReadError(name, str(err))
    except HTMLError as err:
        yield ReadError(name, f"raw HTML in the Markdown is malformed: {err.what} is never closed" if err.what
                        else f"raw HTML in the Markdown not read: {err}")


def markdown_text(source: str, tables: bool = True) -> str:
    """The readable text of a Markdown document: paragraphs separated by blank lines
    (``tables=False``: pipe tables are left as the paragraphs of text they are without
    the table extension).  Raises :class:`TooDeep` when blocks nest to
    :data:`MAX_NESTING` (markdown-it would drop those below it): at the limit its
    deepest token is one level under it, whether blocks were dropped or not."""
    md, env = _renderer(tables), {}  # env: the reference links, found as it parses
    tokens = md.parse(_FRONT_MATTER.sub("", source, count=1), env)
    if max((t.level for t in tokens), default=0) >= MAX_NESTING - 1:
        raise TooDeep(MAX_NESTING)
    return extract(md.renderer.render(tokens, md.options, env))


def block_lines(source: str) -> int:
    """How many lines of ``source`` may start a block (:data:`_BLOCK_LINE`): at least
    the blocks markdown-it makes of it, but for paragraphs it runs on (one pass)."""
    return sum(1 for _ in _BLOCK_LINE.finditer(source))


def table_cells(source: str) -> int:
    """An upper bound on the cells the pipe tables of ``source`` lay out: for each block
    of lines without a blank one, the most columns of any delimiter-like row in it times
    its lines from the first such row's header on (a table never crosses a blank line,
    but one block may hold several tables -- after a heading, or between ``>`` lines --
    and a narrow first one must not stand for a wide later one: review R7).  One pass."""
    total, first, block_end, columns = 0, 0, -1, 0
    for row in _DELIMITER_ROW.finditer(source):
        if row.start() >= block_end:
            total += columns * (source.count("\n", first, block_end) + 2) if columns else 0
            blank = _BLANK_LINE.search(source, row.end())
            first, block_end, columns = row.start(), blank.start() if blank else len(source), 0
        columns = max(columns, row.group().count("|") + 1)  # (one more than a bordered row has)
    return total + (columns * (source.count("\n", first, block_end) + 2) if columns else 0)


@functools.lru_cache(maxsize=2)
def _renderer(tables: bool = True):
    """The CommonMark renderer (with GitHub's pipe tables unless ``tables=False``),
    built on first use: importing markdown-it takes ~40 ms, which every ``dedup``
    command would pay, Markdown input or not."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True, "maxNesting": MAX_NESTING})
    return md.enable("table") if tables else md
