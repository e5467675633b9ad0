"""The terminal view: passages around where they differ, word highlighting, summary."""

import io

from dedup import Document, scan_documents
from dedup.report import TextOptions, write_report
from dedup.report.diff import window
from dedup.report.passages import Passages
from dedup.report.summary import sparkline


class _Texts(Passages):
    def __init__(self, texts):
        self.texts = texts

    def text(self, loc, side):
        return self.texts[loc.path][loc.start:loc.end]


def test_window_starts_just_before_the_first_difference_of_long_documents():
    lines = [f"entry {i}: fixed the parser for case number {i}" for i in range(700)]
    changed = list(lines)
    changed[600] = "entry 600: rewrote the lexer for case number 600"
    win = window("\n".join(lines), "\n".join(changed), before=8, words=40)
    assert win.hunks == 2 and win.left.head and win.right.head and win.left.tail
    marked = lambda side: [w for w, c in zip(side.words, side.changed) if c]  # noqa: E731
    assert marked(win.left) == ["fixed", "parser"] and marked(win.right) == ["rewrote", "lexer"]
    assert win.left.words[6:8] == ("entry", "600:")
    assert win.left.words.index("fixed") == 8  # 8 words of context before the first change


def test_same_words_show_from_the_start():
    win = window("a b c", "a  b\nc")
    assert win.hunks == 0 and not win.left.head and not any(win.left.changed)


def test_text_view_of_long_documents_shows_the_change_in_colour():
    lines = [f"Entry {i}: fixed the parser for case number {i} of the tracker." for i in range(700)]
    changed = list(lines)
    changed[600] = "Entry 600: rewrote the lexer for case number 600 of the tracker."
    texts = {"a.txt": "\n".join(lines), "b.txt": "\n".join(changed)}
    result = scan_documents([Document(k, v) for k, v in texts.items()], levels=["document"])
    out = io.StringIO()
    write_report(result, "text", out, TextOptions(color=True, width=120, passages=_Texts(texts)))
    text = out.getvalue()
    assert "Entry 600: \x1b[1;31mfixed\x1b[0m the" in text and "\x1b[1;31mparser\x1b[0m for case number 600" in text
    assert "Entry 600: \x1b[1;32mrewrote\x1b[0m the" in text and "\x1b[1;32mlexer\x1b[0m for case number 600" in text
    assert "Entry 0:" not in text  # not cut from the start
    assert "1 duplicate document" in text and "2 differing places" in text


def test_sparkline_scales_to_the_largest_bin():
    assert sparkline([0, 1, 2, 8]) == " ▁▂█"
    assert sparkline([0, 0]) == "  "


def test_contained_pairs_are_shown_at_the_shared_words():
    import random

    from textgen import rich_prose

    rng = random.Random(8)
    quote = rich_prose(rng, 40)
    words = rich_prose(rng, 200).split()
    texts = {"statement.txt": quote, "report.txt": " ".join(words[:80] + quote.split() + words[80:])}
    result = scan_documents([Document(k, v) for k, v in texts.items()])
    assert {p.relation for p in result.pairs} == {"contained"} and not result.groups
    out = io.StringIO()
    write_report(result, "text", out, TextOptions(width=120, passages=_Texts(texts)))
    text = out.getvalue()
    assert "Contained texts: 2 pairs" in text and "statement.txt ¶0 [0:253]  inside  report.txt ¶0" in text
    assert "100% contained" in text and "2 pairs (2 contained)" in text
    right = [line.split("│")[1] for line in text.splitlines() if "│" in line]
    # The longer side starts a few words before the quote, not at its own beginning.
    assert right[0].split()[0] == "…" and " ".join(quote.split()[:3]) in " ".join(right[:2])


def test_boilerplate_is_shown_once_not_as_groups():
    import random

    from textgen import rich_prose

    rng = random.Random(5)
    footer = rich_prose(rng, 30)
    texts = {f"site/story{i:02}.txt": rich_prose(rng, 60) + "\n\n" + footer for i in range(12)}
    result = scan_documents([Document(k, v) for k, v in texts.items()])
    assert len(result.boilerplate) == 1
    out = io.StringIO()
    write_report(result, "text", out, TextOptions(width=120, passages=_Texts(texts)))
    text = out.getvalue()
    assert "Boilerplate: 1 paragraph text repeated across many documents" in text
    assert "in 12 documents (12 copies), first site/story00.txt ¶1" in text
    assert "12 copies\n" not in text.split("Boilerplate:")[0]  # its group is not listed again
    assert "1 boilerplate text" in text


def test_scan_warnings_are_rendered_in_text_and_json_lines():
    import json
    from dataclasses import dataclass

    from conftest import FIXTURES
    from dedup import scan

    @dataclass(frozen=True)
    class Warning:  # the shape of dedup.readers.ReadWarning: path and message
        path: str
        warning: str

    result = scan(FIXTURES)
    result.warnings = [Warning("feed.jsonl#7", "id '7' used again on line 9\x1b[2J")]
    out = io.StringIO()
    write_report(result, "text", out)
    assert "1 warning:\n  feed.jsonl#7: id '7' used again on line 9\\x1b[2J\n" in out.getvalue()
    out = io.StringIO()
    write_report(result, "jsonl", out)
    assert json.loads(out.getvalue().splitlines()[-1]) == {
        "kind": "warning", "path": "feed.jsonl#7", "warning": "id '7' used again on line 9\x1b[2J"}


def _with_errors_and_warnings(errors: int, warnings: int):
    from dedup.readers import ReadError, ReadWarning

    result = scan_documents([Document("a.txt", "The harbour bridge closes to lorries next month after "
                                               "engineers found corrosion in its main supports.")])
    result.errors = [ReadError(f"bad{i:03d}.txt", "binary file (NUL byte at offset 0)") for i in range(errors)]
    result.warnings = [ReadWarning(f"r{i:03d}.txt", "not read: a text report written by dedup") for i in range(warnings)]
    return result


def _text(result, fmt="text", **options) -> str:
    out = io.StringIO()
    write_report(result, fmt, out, TextOptions(**options))
    return out.getvalue()


def test_errors_and_warnings_are_named_in_the_text_report_at_most_fifty_of_each():
    """#12 new-user: the text report names each error (file and cause) and each
    warning, 50 of each at most -- 100,000 unreadable files made as many lines -- and
    counts the rest; ``--max-groups 0`` lists all.  The summary counts warnings too."""
    from dedup.report.text import LINES_LISTED

    text = _text(_with_errors_and_warnings(60, 55))
    assert "bad000.txt: binary file (NUL byte at offset 0)" in text and f"bad{LINES_LISTED - 1:03d}.txt" in text
    assert f"bad{LINES_LISTED:03d}.txt" not in text and "… and 10 more errors" in text
    assert "r049.txt: not read" in text and "r050.txt" not in text and "… and 5 more warnings" in text
    assert "60 errors, 55 warnings" in text
    every = _text(_with_errors_and_warnings(60, 55), max_groups=0)
    assert "bad059.txt" in every and "r054.txt" in every and "more errors" not in every
    few = _text(_with_errors_and_warnings(2, 0))
    assert "bad001.txt" in few and "more error" not in few and "warning" not in few


def test_the_html_page_lists_warnings_beside_errors():
    page = _text(_with_errors_and_warnings(3, 2), fmt="html")
    assert '<section id="errors"><h2>Could not read 3</h2>' in page
    assert '<section id="warnings"><h2>2 warnings</h2>' in page and "r001.txt" in page
