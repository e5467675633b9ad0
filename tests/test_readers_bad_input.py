"""Bad input in every format: a clear error naming the file (and record), and the rest
of the file or folder is still read."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma

import pytest
import zstandard

from dedup import Document, ReadError, ReadOptions, scan
from dedup.readers import read_bytes, read_stdin

GOOD = "A perfectly ordinary paragraph of text that should always be read and scanned.\n"


def items(data: bytes, name: str, **options):
    return list(read_bytes(data, name, ReadOptions(**options)))


def errors(result):
    return {e.path: e.error for e in result.errors}


def scan_folder(tmp_path, files: dict[str, bytes], **options):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "good.txt").write_text(GOOD)
    result = scan(tmp_path, read_options=ReadOptions(**options))
    assert "good.txt" in [d.path for d in result.documents]  # the rest continues
    return result


# --- HTML ---------------------------------------------------------------------------

@pytest.mark.parametrize("source, what, line", [
    ("<p>Intro.</p>\n<script>var x = 1;\n<p>The article text.</p>", "<script>", 2),
    ("<p>Intro.</p>\n\n<!-- a note\n<p>The article text.</p>", "comment <!--", 3),
    ("<html><head><STYLE>p { color: red }\n</head><body><p>Text</p>", "<style>", 1),
])
def test_html_that_would_hide_the_rest_of_the_file_is_an_error(tmp_path, source, what, line):
    result = scan_folder(tmp_path, {"page.html": source.encode()})
    error = errors(result)["page.html"]
    assert error.startswith("malformed HTML:") and what in error and f"line {line}" in error
    assert "page.html" not in [d.path for d in result.documents]


def test_html_closed_raw_text_and_empty_comments_are_fine():
    source = b"<!--><!---><p>One</p><script>if (a</b) {}</script ><!-- c --><p>Two<style>x</style></p>"
    [doc] = items(source, "x.html")
    assert doc.text == "One\n\nTwo"


def test_misnested_html_is_repaired_as_a_browser_does():
    [doc] = items(b"<p>one <b>two <i>three</b> four</i><li>five<p>six &amp; seven&nbsp;eight", "x.htm")
    assert doc.text == "one two three four\n\nfive\n\nsix & seven eight"  # nbsp is a space


def test_html_encoding_errors_and_declared_charsets():
    latin = "<p>Café crème</p>".encode("latin-1")
    [err] = items(latin, "x.html")
    assert isinstance(err, ReadError) and err.path == "x.html" and "not UTF-8" in err.error
    [doc] = items(b'<meta charset="iso-8859-1">' + latin, "x.html")
    assert doc.text == "Café crème"
    [err] = items(b'<meta charset="klingon">' + latin, "x.html")
    assert "unknown charset 'klingon'" in err.error and "not UTF-8" in err.error
    [err] = items(b"<p>\x00\x01\x02binary", "x.html")
    assert "binary file" in err.error


@pytest.mark.parametrize("label", ["utf8mb4", "unicode", "x-user-defined"])
def test_an_unknown_meta_charset_is_ignored_when_the_page_is_utf8(label):
    # Tester's F10 (session 17): the page was an error although its bytes are valid
    # UTF-8; a browser's prescan ignores a label it does not know.
    page = f'<html><head><meta charset="{label}"></head><body><p>Café crème, naïve</p></body></html>'
    [doc] = items(page.encode("utf-8"), "x.html")
    assert isinstance(doc, Document) and doc.text == "Café crème, naïve"
    assert doc.warning == f"unknown charset {label!r} in <meta> ignored: read as UTF-8"


@pytest.mark.parametrize("label", ["utf-7", "UTF7", "unicode_escape", "raw-unicode-escape", "hex", "zlib", "rot13",
                                   "idna", "utf-32"])
def test_a_meta_charset_no_browser_reads_pages_in_is_ignored(label):
    # Tester T8 (session 24): UTF-7 turned '+ADw-script+AD4-' into '<script>' (the page
    # refused as "never closed"), unicode_escape decoded '\\u001b' to an ESC, and 'hex'
    # was "unexpected error while reading: LookupError".
    page = (f'<html><head><meta charset="{label}"></head><body><p>+ADw-script+AD4-alert(1) '
            '\\u001b caf\u00e9 words</p></body></html>')
    [doc] = items(page.encode("utf-8"), "x.html")
    assert isinstance(doc, Document) and doc.text == "+ADw-script+AD4-alert(1) \\u001b caf\u00e9 words"
    assert doc.warning == (f"charset {label!r} in <meta> (not an encoding browsers read pages in) ignored: "
                           "read as UTF-8")
    [err] = items(page.encode("utf-8").replace(b"caf\xc3\xa9", b"caf\xe9"), "x.html")
    assert isinstance(err, ReadError) and f"charset {label!r} in <meta> (not an encoding" in err.error
    assert "unexpected" not in err.error


def test_html_boilerplate_is_dropped():
    source = (b"<header>Site banner</header><nav>Menu</nav><p>Body text.</p><aside>Related</aside>"
              b"<div hidden>Hidden</div><div aria-hidden=true>Icon</div><form>Search</form>"
              b"<div role=navigation>Crumbs</div><footer>Footer</footer><noscript>Enable JS</noscript>")
    [doc] = items(source, "x.html")
    assert doc.text == "Body text."


def test_html_main_content_keeps_its_own_header():
    [doc] = items(b"<header>Site</header><main><header><h1>Title</h1></header><p>Text</p></main>", "x.html")
    assert doc.text == "Title\n\nText"


# --- JSON Lines and JSON --------------------------------------------------------------

def test_jsonl_bad_records_are_errors_for_that_record_only():
    lines = [
        json.dumps({"id": "ok1", "text": GOOD}),
        json.dumps({"id": "nofield", "body": GOOD}),
        json.dumps({"id": "number", "text": 42}),
        '{"id": "broken", "text": "unterminated',
        "",
        "[1, 2, 3]",
        json.dumps({"id": "ok1", "text": "same id again"}),
        json.dumps({"id": ["a"], "text": GOOD}),
        json.dumps({"text": GOOD}),
    ]
    data = "\n".join(lines).encode() + b'\n{"id": "badbyte", "text": "\xff"}\n' + json.dumps({"id": 7, "text": GOOD}).encode()
    got = items(data, "x.jsonl")
    docs = [i.path for i in got if isinstance(i, Document)]
    errs = {i.path: i.error for i in got if isinstance(i, ReadError)}
    # A repeated id is not an error: the record is renamed, read and warned about.
    assert docs == ["x.jsonl#ok1", "x.jsonl#ok1@7", "x.jsonl:9", "x.jsonl#7"]
    [renamed] = [i for i in got if isinstance(i, Document) and i.warning]
    assert renamed.warning == "line 7: id \"ok1\" (a string) repeats the id of line 1; named 'x.jsonl#ok1@7', compared like any record"
    assert errs == {
        "x.jsonl#nofield": "line 2: text field 'text' is missing",
        "x.jsonl#number": "line 3: text field 'text' is a number, not a string",
        "x.jsonl:4": errs["x.jsonl:4"],
        "x.jsonl:6": "line 6: expected a JSON object, found an array",
        "x.jsonl:8": "line 8: id field 'id' is an array; an id is a string or a whole number",
        "x.jsonl:10": errs["x.jsonl:10"],
    }
    assert errs["x.jsonl:4"].startswith("line 4: invalid JSON (")
    assert errs["x.jsonl:10"].startswith("line 10: not UTF-8")


def test_json_array_errors():
    [err] = items(b'[{"id": 1, "text": "a"},\n {"id": 2, "text": }]', "x.json")
    assert err.path == "x.json" and "invalid JSON" in err.error and "line 2" in err.error
    [err] = items(b'{"text": "not in an array"}', "x.json")
    assert err.error == "expected a JSON array of records, found an object"
    got = items(b'[{"id": "a", "text": "kept"}, {"id": "b"}, "loose string"]', "x.json")
    assert got == [
        Document("x.json#a", "kept", "json-field", record="a"),
        ReadError("x.json#b", "record 2: text field 'text' is missing"),
        ReadError("x.json:3", "record 3: expected a JSON object, found a string"),
    ]


def test_record_fields_are_configurable():
    data = b'{"slug": "s1", "body": "the text"}\n{"body": "no slug"}\n'
    assert items(data, "x.ndjson", text_field="body", id_field="slug") == [
        Document("x.ndjson#s1", "the text", "json-field", record="s1"), Document("x.ndjson:2", "no slug", "json-field")]


# --- compressed files ------------------------------------------------------------------

PAYLOAD = (GOOD * 200).encode()
TRUNCATE = {
    ".gz": gzip.compress(PAYLOAD),
    ".bz2": bz2.compress(PAYLOAD),
    ".xz": lzma.compress(PAYLOAD),
    ".zst": zstandard.ZstdCompressor().compress(PAYLOAD),
}


@pytest.mark.parametrize("suffix", TRUNCATE)
def test_truncated_compressed_file_is_an_error(tmp_path, suffix):
    data = TRUNCATE[suffix]
    result = scan_folder(tmp_path, {"cut.txt" + suffix: data[: len(data) * 2 // 3],
                                    "whole.txt" + suffix: data})
    assert "truncated" in errors(result)["cut.txt" + suffix]
    assert "whole.txt" + suffix in [d.path for d in result.documents]


@pytest.mark.parametrize("suffix", TRUNCATE)
def test_corrupt_compressed_file_is_an_error(suffix):
    [err] = items(b"this is not compressed data at all, just text", "x.txt" + suffix)
    assert err.path == "x.txt" + suffix and err.error.startswith(("corrupt", "truncated"))


@pytest.mark.parametrize("suffix, compress", [
    (".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress),
    (".zst", lambda b: zstandard.ZstdCompressor().compress(b)),
])
def test_zip_bomb_stops_at_the_bound(tmp_path, suffix, compress):
    bomb = compress(b"\0" * (8 << 20))  # 8 MiB of zeros, a few KiB compressed
    assert len(bomb) < 64 << 10
    result = scan_folder(tmp_path, {"bomb.txt" + suffix: bomb}, max_decompressed=1 << 20)
    assert "more than 1,048,576 bytes" in errors(result)["bomb.txt" + suffix]


def test_default_bound_is_generous_but_finite():
    assert 256 << 20 <= ReadOptions().max_decompressed < 1 << 40


def test_concatenated_and_nested_compression():
    two = gzip.compress(b'{"id": 1, "text": "one"}\n') + gzip.compress(b'{"id": 2, "text": "two"}\n')
    assert [d.path for d in items(two, "x.jsonl.gz")] == ["x.jsonl.gz#1", "x.jsonl.gz#2"]
    frames = zstandard.ZstdCompressor().compress(b"part one, ") + zstandard.ZstdCompressor().compress(b"part two")
    assert items(frames, "x.txt.zst") == [Document("x.txt.zst", "part one, part two")]
    nested = bz2.compress(gzip.compress(b"<p>inside</p>"))
    assert items(nested, "x.html.gz.bz2") == [Document("x.html.gz.bz2", "inside", "extracted-html")]


# --- Markdown and stdin ----------------------------------------------------------------

def test_markdown_markup_is_not_text():
    source = (b"---\ntitle: Front matter\n---\n# Heading *one*\n\nSee [the docs](https://x.example/a_b) "
              b"and **bold** or _em_ snake_case_name `code`.\n\n```python\nprint('hi')\n```\n\n"
              b"![alt text](img.png)\n\n* item one\n* item two\n")
    [doc] = items(source, "x.md")
    assert doc.text == ("Heading one\n\nSee the docs and bold or em snake_case_name code.\n\n"
                        "print('hi')\n\nitem one\n\nitem two")


def test_markdown_with_unclosed_raw_html_is_an_error():
    [err] = items(b"Intro paragraph.\n\n<!-- draft notes\n\nThe rest of the article.", "x.md")
    assert err.path == "x.md" and "never closed" in err.error and "Markdown" in err.error


def test_a_tag_with_too_many_attributes_is_an_error_not_minutes_inside_the_parser():
    """Tester's F4 of #12 (session 15): one <p> with 200,000 attributes (3 MB) kept
    lexbor busy for 19+ minutes inside C (quadratic: each attribute is looked up among
    the earlier ones), where no SIGTERM could stop it.  Above MAX_ATTRIBUTES it is an
    error entry naming the tag, found in one linear pass; a tag at the limit is read."""
    import time

    from dedup.readers.html import MAX_ATTRIBUTES

    def page(attributes: int) -> bytes:
        tag = "<p " + " ".join(f'a{i}="{i}"' for i in range(attributes)) + ">"
        return f"<html><body><p>before</p>\n{tag}hi</p><p>after</p></body></html>".encode()

    [doc] = items(page(MAX_ATTRIBUTES), "ok.html")
    assert doc.text == "before\n\nhi\n\nafter"
    started = time.process_time()
    [err] = items(page(200_000), "attrs.html")
    assert time.process_time() - started < 10
    assert err.path == "attrs.html" and "a <p> tag with 200,000 attributes (line 2), more than 1,000" in err.error
    assert err.error.startswith("HTML not read: ") and "malformed" not in err.error  # it is well-formed, only large
    [err] = items(f"# Title\n\n{page(200_000).decode()}\n".encode(), "attrs.md")
    assert err.error.startswith("raw HTML in the Markdown not read: a <p> tag with 200,000 attributes")
    [err] = items(page(MAX_ATTRIBUTES + 1).replace(b'"', b""), "bare.html")  # unquoted values count too
    assert "1,001 attributes" in err.error
    odd = " ".join("".join("<'\""[(i // 3 ** k) % 3] for k in range(10)) for i in range(40_000))  # review R12
    started = time.process_time()
    [err] = items(f"<div {odd}>hi</div>".encode(), "odd.html")
    assert "a <div> tag with 40,000 attributes" in err.error and time.process_time() - started < 10


def test_a_markdown_table_too_large_to_lay_out_is_read_as_plain_lines_with_a_warning():
    """Tester's F1 of #12 (session 15): a 2 MB pipe table (5,000 columns, 200 rows) cost
    1 GB and more than 120 s (markdown-it makes tokens for every cell, and pads each row
    to the header's width: a wide header over many short rows is quadratic).  Above
    MAX_TABLE_CELLS the tables are read as plain text (every word still read), with a
    warning naming the count; below it a table is laid out as before."""
    import time

    from dedup.readers.markdown import MAX_TABLE_CELLS, table_cells

    small = b"Intro.\n\n| name | city |\n| --- | :-: |\n| Ada | Paris |\n| Bo | Rome |\n\nAfter."
    [doc] = items(small, "t.md")
    assert not doc.warning and "Ada" in doc.text and "|" not in doc.text and "---" not in doc.text
    wide = ("|a" * 5000 + "|\n" + "|-" * 5000 + "|\n" + "|x\n" * 20000).encode()  # 60 KB, 100M cells laid out
    started = time.process_time()
    [doc] = items(wide, "wide.md")
    assert time.process_time() - started < 20  # read in seconds (laid out: quadratic, far beyond)
    assert "tables would lay out about 100,050,004 cells" in doc.warning and f"{MAX_TABLE_CELLS:,}" in doc.warning
    assert doc.text.count("x") == 20000
    table = "|a" * 5000 + "|\n" + "|-" * 5000 + "|\n" + ("|x" * 5000 + "|\n") * 20
    for nested in ("".join("> " + line + "\n" for line in table.splitlines()),  # in a blockquote (review R3)
                   "- a\n    - b\n\n" + "".join("      " + line + "\n" for line in table.splitlines()),  # in a list
                   "1. " + table.replace("\n", "\n   ")):
        started = time.process_time()
        [doc] = items(nested.encode(), "nested.md")
        assert "tables would lay out" in doc.warning and time.process_time() - started < 20
    narrow_then_wide = "|a|\n|-|\n|x|\n# h\n" + "|a" * 5000 + "|\n" + "|-" * 5000 + "|\n" + "|x|\n" * 2000
    for shape in (narrow_then_wide, "".join("> " + line + "\n" for line in narrow_then_wide.splitlines())):
        [doc] = items(shape.encode(), "two.md")  # review R7: the narrow first table hid the wide one
        assert "tables would lay out" in doc.warning
    lines = "|-|\n" * 100_000  # one block of delimiter-like lines: counted in one pass
    started = time.process_time()
    assert table_cells(lines) == 300_003 and time.process_time() - started < 5


def test_stdin_is_read_in_the_format_asked_for():
    data = b'{"id": "a", "text": "from a pipe"}\nnot json\n'
    got = list(read_stdin(ReadOptions(stdin_format="jsonl"), io.BytesIO(data)))
    assert got[0] == Document("<stdin>#a", "from a pipe", "json-field", record="a")
    assert got[1].path == "<stdin>:2" and "invalid JSON" in got[1].error
    assert list(read_stdin(ReadOptions(), io.BytesIO(b"plain"))) == [Document("<stdin>", "plain")]


def test_read_options_are_validated():
    with pytest.raises(ValueError, match="stdin format"):
        ReadOptions(stdin_format="pdf")
    with pytest.raises(ValueError, match="max_decompressed"):
        ReadOptions(max_decompressed=0)


def test_markdown_with_too_many_blocks_is_read_as_plain_text_with_a_warning():
    """Tester's F7 (session 16): 1,000,000 one-letter list items (4 MB) took 2.2 GB and
    77 s of CPU in markdown-it (~2 KB of tokens per block; the table cap of session 15
    counted cells only).  Past MAX_BLOCKS the file is read as plain text, with a warning;
    at the limit it is rendered as before."""
    import time

    from dedup.readers.markdown import MAX_BLOCKS

    [doc] = items(("- item\n" * (MAX_BLOCKS // 2)).encode(), "ok.md")
    assert doc.source == "extracted-markdown" and not doc.warning and not doc.text.startswith("-")
    started = time.process_time()
    [doc] = items(("- a\n" * 1_000_000).encode(), "list.md")
    assert time.process_time() - started < 10
    assert doc.source == "file" and doc.text.startswith("- a\n- a\n")
    assert "about 1,000,001 blocks" in doc.warning and "read as plain text, markup included" in doc.warning


@pytest.mark.parametrize("shape, lines", [
    ("a\n=\n", 2), ("a\n***\n", 2), ("a\n- - -\n", 2), ("```\n```\n", 2), ("<!--x-->\n", 1), ("> - a\n", 1),
    ("  ~~~\n  ~~~\n", 2),
])
def test_markdown_blocks_of_every_kind_count_towards_the_limit(shape, lines):
    """Review R9 / tester's F7b (session 16): the block count knew blank lines, list items
    and ``#`` headings only, so setext headings, thematic breaks, fences and HTML blocks
    went past it (1 MB of ``a`` / ``***`` lines: 413 MB, no warning)."""
    from dedup.readers.markdown import MAX_BLOCKS

    [doc] = items((shape * (MAX_BLOCKS + 10)).encode(), "blocks.md")
    assert doc.source == "file" and "blocks" in doc.warning and "read as plain text" in doc.warning, shape


@pytest.mark.parametrize("mark", ["*a* ", "_a_ ", "`a` ", "[a](b) ", "![a](b) ", "<b>a</b> ", "&amp; ", "\\* "])
def test_markdown_inline_markup_past_the_limit_is_read_as_plain_text(mark):
    """Tester's F7b (session 16): a 4 MB paragraph of ``*a* `` took 1.55 GB -- inline
    markup makes tokens too, in one paragraph that the block count sees as one block."""
    from dedup.readers.markdown import MAX_INLINE

    [doc] = items((mark * (MAX_INLINE + 10)).encode(), "inline.md")
    assert doc.source == "file" and "inline markup characters" in doc.warning, mark
    [doc] = items(b"Some *emphasis*, a [link](https://example.org) and `code` in a paragraph.\n", "ok.md")
    assert doc.source == "extracted-markdown" and not doc.warning and "*" not in doc.text


def test_markdown_lines_of_blanks_are_measured_in_linear_time():
    """Tester's F5 of session 17: the delimiter-row test of ``table_cells`` (run on every
    .md file before any limit) had two adjacent blank quantifiers, so a line of k blanks
    tried ~k^2/2 splits: 30 KB of spaces took 16 s, nested list items indented two
    blanks a level (1,000 of them, 1 MB) > 19 s; 1 MB of blanks would take hours."""
    import time

    from dedup.readers.markdown import table_cells

    shapes = ["Intro paragraph.\n\n" + " " * 40_000 + "x\n",  # old: ~27 s CPU
              "".join("  " * i + "- item\n" for i in range(1_000)),
              "---" + " " * 40_000 + "x\n", "| --- |" + " \t" * 20_000 + "x\n", " " * 1_000_000 + "\n"]
    for shape in shapes:
        started = time.process_time()
        table_cells(shape)
        assert time.process_time() - started < 1, repr(shape[:20])
    started = time.process_time()
    [doc] = items(shapes[0].encode(), "spaces.md")
    assert doc.text.startswith("Intro paragraph.") and time.process_time() - started < 5
    assert table_cells("| a | b |\n|  ---  | :-: |\n| 1 | 2 |\n") == 3 * 4  # a table is still counted


def test_a_control_character_in_a_json_line_is_named_once(tmp_path):
    """json's message ends in 'at' ('Invalid control character at'); the error adds
    'at column N' once, not 'at at column N'."""
    [err] = list(read_bytes(b'{"text": "a\tb"}\n', "x.jsonl"))
    assert isinstance(err, ReadError)
    assert err.error == "line 1: invalid JSON (Invalid control character at column 12)", err.error
