"""HTML (``.html``, ``.htm``): the article's text, one paragraph per block.

What is kept: the text of the page's main content (``<main>`` or ``role="main"`` when
the page marks it, else ``<body>``), with a blank line between blocks (``<p>``,
headings, list items, table rows, ``<br><br>``...), a line break for a single ``<br>``,
entities decoded and runs of white space collapsed.  What is dropped: scripts, styles,
comments, forms, hidden elements and navigation boilerplate (``<nav>``, ``<aside>``,
``<footer>``, page-level ``<header>`` and their ARIA roles).  Dropping the boilerplate
matters more for a duplicate finder than for a reader: a menu repeated on every page of
a site would otherwise be reported as a duplicate paragraph in every pair of pages.

Reported offsets refer to this extracted text, not to the HTML source.

Why selectolax (lexbor), measured on the Python 3.11 and libffi manuals (57 pages,
issue 5 note): it builds the tree a browser builds from broken markup (the HTML5
parsing algorithm), so unclosed ``<p>``/``<li>`` and misnested tags come out as a
browser shows them; it ran at 15-19 MB/s, against 3-5 MB/s for a stdlib
``html.parser`` extractor with the same rules (same text on these well-formed pages)
and about 1 MB/s for trafilatura.  Trafilatura, made for boilerplate removal, kept no
more of the pages' reST sources (word recall 0.95 for both) and did not mark
paragraphs: it keeps the source's line wrapping, so each wrapped line became a
"paragraph" (4,130 against 1,469 on the tutorial), and it dropped headings.

Markup that would silently swallow the rest of the file (a ``<script>``, ``<style>`` or
comment that is never closed) is an error rather than a short document: what follows
it is article text the user expects to be checked.
"""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING, Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .text import DecodeError, decode, decode_text, has_bom

if TYPE_CHECKING:
    from . import Item, ReadOptions

#: Elements whose content is never article text.
_DROP = (
    "script, style, noscript, template, svg, math, iframe, object, embed, canvas, form, "
    "button, select, textarea, nav, aside, footer, [hidden], [aria-hidden=true], "
    "[role=navigation], [role=contentinfo], [role=complementary], [role=search]"
)
#: Dropped too when the page does not mark its main content (site banners).
_DROP_OUTSIDE_MAIN = "header, [role=banner]"
#: Elements that start and end a paragraph.
_BLOCKS = (
    "p, div, h1, h2, h3, h4, h5, h6, li, dt, dd, blockquote, tr, caption, table, ul, ol, dl, "
    "section, article, main, header, figure, figcaption, address, details, summary, hr, center"
)
_CELLS = "td, th"

# Markers put into the tree for block and line boundaries: private-use characters,
# replaced in the source first so that no text is mistaken for one (only an entity
# spelling one, ``&#xE000;``, could still be: it would count as a break).
_PARA, _LINE = "\ue000", "\ue001"
_MARKERS = re.compile("[\ue000\ue001]")
_SPACE = re.compile(r"\s+")
_MARKER_RUN = re.compile(" ?(?:[\ue000\ue001] ?)+")

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
#: Constructs whose content runs to a closing token (HTML "raw text" and comments).
_RAW_TAGS = frozenset(("script", "style", "textarea", "title", "xmp", "noembed", "noframes"))
_RAW_CLOSE = {tag: re.compile(rf"</{tag}[\s/>]", re.IGNORECASE) for tag in _RAW_TAGS}
#: Where markup starts: a comment, a start or end tag, or another ``<!``/``<?`` construct.
_MARKUP = re.compile(r"<(?:(!--)|(/?)([A-Za-z][^\s/>]*)|[!?])")
#: What ends a comment: ``-->``, or ``--!>`` (HTML's "incorrectly closed comment", which
#: browsers close too).
_COMMENT_END = re.compile(r"--!?>")
#: The rest of a tag after its name: attributes (a quoted value may hold ``>`` or
#: ``<script>``) up to the closing ``>`` (an unrolled loop: linear, no backtracking).
_TAG_REST = re.compile(r"""[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>""")
#: Elements that are never open (void) or that the next one closes implicitly: they do
#: not deepen the tree the parser builds.
_FLAT = frozenset((
    "area base br col embed hr img input link meta param source track wbr keygen basefont bgsound frame "
    "p li dt dd option optgroup tr td th tbody thead tfoot rb rt rp rtc colgroup caption html head body"
).split())
#: Deepest element nesting read.  An HTML parser finds an element's scope by walking
#: the stack of open elements, so its time grows with the square of the depth (100k
#: nested <div>s: 76 s); browsers cap it (Chrome at 512) and real pages stay far below.
MAX_DEPTH = 2048
#: Most attributes one tag may have.  lexbor looks each new attribute up among the
#: tag's earlier ones, so a tag's time grows with the square of its attributes (5,000:
#: 0.09 s, 20,000: 1.8 s, 200,000: minutes, inside C where no signal can stop it --
#: tester's F4 of #12, session 15); real tags have a few dozen.
MAX_ATTRIBUTES = 1000
#: One attribute as the HTML tokenizer reads it (WHATWG 13.2.5.32-34): a name of any
#: characters but white space, ``/``, ``>`` and ``=`` (``"``, ``'`` and ``<`` included;
#: its first may be ``=``: review R12), then optionally ``=`` and a value (quoted, or up
#: to a space).
_ATTRIBUTE = re.compile(r"""[^\s/>][^\s/>=]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*))?""")


class HTMLError(ValueError):
    """Markup that cannot be read faithfully: a comment, script or style opened and
    never closed (the rest of the file would be hidden: reading it anyway would lose
    text unseen), or elements nested too deep, or a tag with too many attributes, to
    parse in reasonable time."""

    def __init__(self, message: str, what: str | None = None) -> None:
        super().__init__(message)
        self.what = what  # the construct never closed, if that is the problem

    @classmethod
    def unclosed(cls, what: str, line: int, hidden: int) -> "HTMLError":
        return cls(f"{what} opened on line {line} is never closed and would hide "
                   f"the remaining {hidden:,} characters", what)

    def describe(self) -> str:
        """The read error's text: an unclosed construct is malformed HTML; deep nesting
        and a crowd of attributes are well-formed, only too costly to parse."""
        return f"malformed HTML: {self}" if self.what else f"HTML not read: {self}"


def read(data: bytes, name: str, options: "ReadOptions") -> Iterator["Item"]:
    from . import Document, ReadError

    try:
        source, warning = decode_html(data, options.encoding)
        yield Document(name, extract(source), "extracted-html", warning=warning)
    except (DecodeError, HTMLError) as err:
        yield ReadError(name, err.describe() if isinstance(err, HTMLError) else str(err))


#: Python codecs a ``<meta charset>`` may name that no browser reads a page in (WHATWG's
#: Encoding standard has none of them): such a label is ignored as an unknown one is.
#: UTF-7 and the ``*_escape`` codecs turn plain ASCII into markup or control characters
#: (``+ADw-script+AD4-`` is ``<script>``), so a page could make itself unreadable or
#: different to dedup than to a reader; codecs that are not text encodings (``hex``,
#: ``zlib``, ``rot13``) are left out by ``CodecInfo._is_text_encoding`` (tester T8,
#: session 24: "unexpected error while reading: LookupError").
NOT_PAGE_ENCODINGS = frozenset({
    "utf-7", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "charmap",
    "utf-32", "utf-32-be", "utf-32-le"})


def decode_html(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode ``data`` as its byte-order mark or ``<meta charset>`` says, else as UTF-8,
    else as ``encoding`` when given (:func:`~dedup.readers.text.decode_text`: a
    legacy archive's, ``--encoding``); returns the text and a warning (``""`` for none).

    A label no codec knows (``utf8mb4``, ``unicode``, ``x-user-defined``), or one of
    :data:`NOT_PAGE_ENCODINGS` or not a text encoding (``utf-7``, ``hex``), is ignored,
    as a browser's prescan ignores it (WHATWG HTML, "prescan a byte stream to determine
    its encoding"): the page is read as UTF-8 when it decodes as UTF-8 -- with a
    warning naming the label -- and is an error naming it when it does not (tester's
    F10 of session 17: a valid UTF-8 page declaring ``utf8mb4`` was lost)."""
    match = _META_CHARSET.search(data, 0, 2048)
    if match is None or has_bom(data) or b"\x00" in data:
        return decode_text(data, encoding), ""  # UTF-8, a BOM's, --encoding's, or the error naming the problem
    label = match.group(1).decode("ascii")
    what = f"unknown charset {label!r} in <meta>"
    try:
        declared = codecs.lookup(label)
        if not declared._is_text_encoding or declared.name in NOT_PAGE_ENCODINGS:
            what = f"charset {label!r} in <meta> (not an encoding browsers read pages in)"
            raise LookupError(label)
    except LookupError:  # read as if undeclared: UTF-8, else --encoding's
        try:
            return decode(data), f"{what} ignored: read as UTF-8"
        except DecodeError as err:
            if encoding is None:
                raise DecodeError(f"{what}, and {err}") from None
        try:
            return decode_text(data, encoding), f"{what} ignored: read as {encoding} (--encoding)"
        except DecodeError as err:
            raise DecodeError(f"{what}, and {err}") from None
    declared = declared.name
    if declared.startswith("utf-16"):  # without a BOM (and with no NUL byte) it is not UTF-16
        declared = "utf-8"
    try:
        return data.decode(declared), ""
    except UnicodeDecodeError as err:
        raise DecodeError(f"not valid {label} as its <meta> says (byte offset {err.start})") from None


def extract(source: str) -> str:
    """The readable text of an HTML page: paragraphs separated by blank lines."""
    check_closed(source)
    tree = LexborHTMLParser(_MARKERS.sub(" ", source))
    root = tree.css_first("main, [role=main]")
    if root is None:
        root = tree.body
        if root is None:
            return ""
        _decompose(root, _DROP_OUTSIDE_MAIN)
    _decompose(root, _DROP)
    for pre in root.css("pre"):
        pre.replace_with(_PARA + pre.text().replace("\n", _LINE) + _PARA)
    for br in root.css("br"):
        br.replace_with(_LINE)
    for node in root.css(_BLOCKS):
        node.insert_before(_PARA)
        node.insert_after(_PARA)
    for node in root.css(_CELLS):
        node.insert_after(" ")
    return join_blocks(root.text())


def _decompose(root: LexborNode, selector: str) -> None:
    for node in root.css(selector):
        node.decompose()


def join_blocks(marked: str) -> str:
    """Turn text with block/line markers into paragraphs separated by blank lines.

    White space collapses to one space; a run of markers is a paragraph break if it
    holds a block marker or two line markers (``<br><br>``), else a line break.
    """
    return _MARKER_RUN.sub(_break, _SPACE.sub(" ", marked)).strip()


def _break(run: re.Match) -> str:
    markers = run.group()
    return "\n\n" if _PARA in markers or markers.count(_LINE) > 1 else "\n"


def check_closed(source: str) -> None:
    """Raise :class:`HTMLError` if a comment, script or style is never closed, which
    would turn the rest of the file into invisible text, or if elements nest deeper
    than :data:`MAX_DEPTH` or a tag has more than :data:`MAX_ATTRIBUTES` attributes
    (parsing either costs quadratic time).

    One linear pass over the markup, tag by tag: ``<script>`` inside an attribute value
    (``<img alt="<script>">``) or inside a script is not an opening.
    """
    pos, depth, foreign = 0, 0, 0  # foreign: how many <svg>/<math> are open
    while opened := _MARKUP.search(source, pos):
        comment, slash, tag = opened.groups()
        if comment:  # "<!-->" and "<!--->" are empty comments
            rest = opened.end()
            if source.startswith((">", "->"), rest):
                pos = source.index(">", rest) + 1
                continue
            end = _COMMENT_END.search(source, rest)
            _closed(source, opened.start(), end.end() if end else -1, "comment <!--")
            pos = end.end()
            continue
        if tag is None:  # <!DOCTYPE ...>, <?xml ...?>, a bogus comment: up to the next ">"
            end = source.find(">", opened.end())
            pos = end + 1 if end >= 0 else len(source)
            continue
        rest = _TAG_REST.match(source, opened.end())
        if rest is None:  # a tag (or quoted value) that runs to the end of the file
            break
        pos, name = rest.end(), tag.lower()
        if pos - opened.end() > 2 * MAX_ATTRIBUTES:  # an attribute takes 2 characters at least
            _few_attributes(source, opened.end(), pos, name)
        closed = foreign > 0 and rest.group().endswith("/>")  # "<path/>" in SVG; HTML ignores the slash
        if slash:
            if depth > 0 and name not in _FLAT:
                depth -= 1
            foreign -= foreign > 0 and name in ("svg", "math")
        elif name in _RAW_TAGS and not closed and not foreign:
            # (inside <svg> or <math>, <style> and <script> hold markup: a comment
            # opened in one hides the rest -- tester's U3 of #12)
            close = _RAW_CLOSE[name].search(source, pos)
            _closed(source, opened.start(), close.end() if close else -1, f"<{name}>")
            pos = close.end()
        elif name not in _FLAT and not closed:
            depth += 1
            foreign += name in ("svg", "math")
            if depth > MAX_DEPTH:
                line = source.count("\n", 0, opened.start()) + 1
                raise HTMLError(f"elements nested more than {MAX_DEPTH:,} deep (line {line}); "
                                "parsing that takes quadratic time and browsers flatten it")


def _few_attributes(source: str, start: int, end: int, name: str) -> None:
    """Raise :class:`HTMLError` if the tag whose attributes run from ``start`` to
    ``end`` has more than :data:`MAX_ATTRIBUTES` of them (counted without a list)."""
    count = sum(1 for _ in _ATTRIBUTE.finditer(source, start, end))
    if count > MAX_ATTRIBUTES:
        line = source.count("\n", 0, start) + 1
        raise HTMLError(f"a <{name}> tag with {count:,} attributes (line {line}), more than {MAX_ATTRIBUTES:,}; "
                        "parsing it takes time quadratic in their number")


def _closed(source: str, start: int, closing: int, what: str) -> None:
    if closing < 0:
        line = source.count("\n", 0, start) + 1
        raise HTMLError.unclosed(what, line, len(source) - start)
