"""Output safety: what article text and file names may not do to a terminal, a
spreadsheet or a JSON parser.

Article text and file names come from anyone.  Written raw they can:

* drive a terminal: ESC/CSI sequences change colours or clear the screen, OSC
  sequences set the window title or plant hidden OSC-8 links, C1 controls (U+0080 to
  U+009F) act as ESC on some terminals, and a newline in a file name forges report
  lines.  :func:`printable` shows every such character as a visible escape instead
  (``\\x1b``, ``\\n``, ``\\u202e``; bidirectional overrides too, which reorder what a
  reader sees);
* run as a formula in a spreadsheet: a CSV cell starting with ``=``, ``+``, ``-``,
  ``@`` (or a tab or carriage return) is a formula to Excel, LibreOffice and Google
  Sheets (OWASP "CSV injection").  :func:`csv_cell` prefixes such text cells with a
  single quote, the neutralization OWASP recommends; numbers are never prefixed;
* make JSON invalid: a file name that is not valid UTF-8 reaches Python as a string
  with lone surrogates (PEP 383 ``surrogateescape``), which no UTF-8 encoder accepts.
  :func:`json_name` gives such a name as valid text, each undecodable byte replaced by
  U+FFFD, plus its exact bytes in base64 (``path_bytes``), so nothing is lost.
"""

from __future__ import annotations

import base64
import re

# C0 controls except tab, DEL, C1 controls, bidirectional embeddings/overrides/isolates,
# line/paragraph separators, and lone surrogates (undecodable bytes of a file name).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, tabs: bool = True) -> str:
    """``text`` with every control character shown as a visible escape (see the module
    docstring); ``tabs=False`` escapes tabs too (for one-line names)."""
    if not tabs:
        text = text.replace("\t", "\\t")
    return _UNSAFE.sub(_escape, text)


def printable_name(name: str) -> str:
    """A file name on one line of text output: :func:`printable` with tabs escaped, and
    each backslash written ``\\\\`` first, so that no name can spell another's escape --
    ``caf\\xe9.txt`` is the Latin-1 name (byte 0xE9), ``caf\\\\xe9.txt`` a name
    spelled with a backslash (as the index's ids are written, :mod:`dedup.index.ids`)."""
    return printable(name.replace("\\", "\\\\"), tabs=False)


def short_name(name: str, limit: int = 300) -> str:
    """:func:`printable_name`, cut to its first 200 characters when longer than
    ``limit``, for a line that names a file or record beside an error (a JSON record's
    name is its id, which may be a megabyte long; the machine reports keep it whole)."""
    shown = printable_name(name)
    return shown if len(shown) <= limit else f"{shown[:200]}... ({len(shown):,} characters)"


def csv_name(name: object) -> object:
    """A file name as a CSV cell: :func:`csv_cell` of :func:`printable_name` -- each
    backslash written ``\\\\`` and every control character as an escape, so that
    ``cat report.csv`` cannot drive the terminal (an ESC ... BEL in a name retitled it:
    tester's U6 of #12)."""
    return csv_cell(printable_name(name)) if isinstance(name, str) else name


def csv_id(doc_id: object) -> object:
    """A stored document's id as a CSV cell, as ``dedup index list`` writes it (ids
    already write a backslash ``\\\\``): every control character, tabs too, as an
    escape, then :func:`csv_cell` (tester's T2 of #12: the ``id`` and ``matched_id``
    cells of ``check`` / ``index add`` carried an ESC ... BEL raw).  ``None`` stays
    ``None`` (an empty cell)."""
    return csv_cell(printable(doc_id, tabs=False)) if isinstance(doc_id, str) else doc_id


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs: text starting with ``= + - @``, a tab or a
    carriage return gets a leading ``'``; lone surrogates become ``\\xNN`` escapes.
    Numbers, booleans and ``None`` (an empty cell) are returned as they are."""
    if not isinstance(value, str):
        return value
    if has_surrogates(value):
        value = _UNSAFE.sub(lambda m: _escape(m) if 0xD800 <= ord(m.group()) <= 0xDFFF else m.group(), value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def has_surrogates(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (cannot be encoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def name_bytes(name: str) -> bytes:
    """The bytes a name stands for: a file name's bytes as on disk (``surrogateescape``);
    a lone surrogate that is no escaped byte (from a JSON ``\\ud800``) is kept as its
    three-byte ``surrogatepass`` form."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def json_name(name: str, key: str = "path") -> dict[str, str]:
    """``{key: name}``, valid UTF-8 whatever ``name`` holds: a name with undecodable
    bytes becomes ``{key: name with U+FFFD for each, key + "_bytes": base64 of its
    bytes}`` (see :func:`name_bytes`)."""
    if not has_surrogates(name):
        return {key: name}
    raw = name_bytes(name)
    return {key: raw.decode("utf-8", "replace"), f"{key}_bytes": base64.b64encode(raw).decode("ascii")}


def json_text(text: str) -> str:
    """Free text (an error message, a reason) made valid UTF-8: lone surrogates are
    shown as escapes (``\\xNN`` for an undecodable byte)."""
    if not has_surrogates(text):
        return text
    return re.sub("[\ud800-\udfff]", _escape, text)


def warning_text(warning: object) -> tuple[str | None, str]:
    """``(path, message)`` of a scan warning (a :class:`~dedup.readers.ReadWarning`-like
    object with ``path`` and ``warning``, a dict with those keys, or anything else)."""
    if isinstance(warning, dict):
        return warning.get("path"), str(warning.get("warning", warning))
    if hasattr(warning, "warning"):
        return getattr(warning, "path", None), str(warning.warning)
    return None, str(warning)
