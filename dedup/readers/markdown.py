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
from .text import DecodeError, decode

if TYPE_CHECKING:
    from . import Item, ReadOptions

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?^(?:---|\.\.\.)[ \t]*$\r?\n?", re.DOTALL | re.MULTILINE)


def read(data: bytes, name: str, options: "ReadOptions") -> Iterator["Item"]:
    from . import Document, ReadError

    try:
        yield Document(name, markdown_text(decode(data)), "extracted-markdown")
    except DecodeError as err:
        yield ReadError(name, str(err))
    except HTMLError as err:
        yield ReadError(name, "raw HTML in the Markdown is malformed: "
                              + (f"{err.what} is never closed" if err.what else str(err)))


def markdown_text(source: str) -> str:
    """The readable text of a Markdown document: paragraphs separated by blank lines."""
    return extract(_renderer().render(_FRONT_MATTER.sub("", source, count=1)))


@functools.lru_cache(maxsize=1)
def _renderer():
    """The CommonMark renderer, built on first use: importing markdown-it takes ~40 ms,
    which every ``dedup`` command would pay, Markdown input or not."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table")
