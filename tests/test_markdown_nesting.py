"""Markdown nested deep is never read as less than it holds (tester T10, session 24:
``>`` * 20 + an article was an empty document -- markdown-it's nesting limit dropped it
silently -- so a stored article quoted 20 deep came back "new")."""

from __future__ import annotations

import pytest

from dedup.readers import Document, read_bytes
from dedup.readers.markdown import MAX_NESTING

ARTICLE = ("the council voted on tuesday to close the old harbour bridge to heavy traffic from next "
           "month after engineers found corrosion")


def read_md(source: str) -> Document:
    [doc] = read_bytes(source.encode(), "x.md")
    assert isinstance(doc, Document)
    return doc


@pytest.mark.parametrize("depth", [19, 20, 21, 50, MAX_NESTING - 3])
def test_a_deep_quote_keeps_its_text(depth):
    doc = read_md(">" * depth + " " + ARTICLE + "\n")
    assert doc.text == ARTICLE and doc.source == "extracted-markdown" and not doc.warning


@pytest.mark.parametrize("source", [
    ">" * MAX_NESTING + " " + ARTICLE + "\n",
    ">" * 300 + " " + ARTICLE + "\n",
    "".join("  " * i + "- w\n" for i in range(MAX_NESTING)) + "  " * MAX_NESTING + "- " + ARTICLE + "\n",
    "> - " * MAX_NESTING + ARTICLE + "\n",
])
def test_past_the_limit_it_is_read_as_plain_text_with_a_warning(source):
    doc = read_md(source)
    assert ARTICLE in doc.text and doc.source == "file" and "read as plain text" in doc.warning


@pytest.mark.parametrize("source", [
    "".join("  " * i + "- w\n" for i in range(20)) + "  " * 20 + "- " + ARTICLE + "\n",
    "> - " * 10 + ARTICLE + "\n",
    "> " * 10 + "- " * 10 + ARTICLE + "\n",
])
def test_deep_lists_keep_their_text(source):
    doc = read_md(source)
    assert doc.text.endswith(ARTICLE) and not doc.warning

