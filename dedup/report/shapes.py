"""What dedup's reports look like at their start, to word a refusal: never what is read.

:func:`report_kind` tells whether a file's first bytes are shaped like one of dedup's
reports.  Only :func:`dedup.cli.left_out.refuse_input` uses it, to say why it will not
write over such a file that no record says dedup wrote (:mod:`dedup.report.written`).
Contents never leave a file out of a scan: one forged first line hid a copied document
that way (tester's F5, session 16).

Recognized (on the first :data:`HEAD` bytes only): the first line of a scan, check or
add text report (terminal colours allowed); the header row of a scan's or a check's CSV
report; a JSON report's opening ``{"settings": {`` with ``"num_perm"``; a JSON Lines
first line that is one of dedup's records and has no field named like the text field;
an HTML page whose head carries :data:`~dedup.report.html.GENERATOR_META` (or the head
the writer gave it before).
"""

from __future__ import annotations

import json
import re
from typing import Optional

from .html import GENERATOR_META, HTML_START
from .machine import CSV_COLUMNS, VERDICT_CSV_COLUMNS

#: How much of a file is looked at (the first line of every report fits).
HEAD = 8192


_SGR = re.compile(r"\x1b\[[0-9;]*m")
_TEXT_FIRST_LINE = re.compile(
    r"(?:Scanned [\d,]+ documents? in [\d,]+ files?, [\d,]+ paragraphs?|Added to .+|Checked against .+)"
    r" \(threshold [\d.]+, \w+ \d+-grams(?:; character \d+-grams in scripts written without spaces)?\)\.")
#: The start of each CSV report's header row, from the writers' own columns.
_CSV_HEADERS = tuple(",".join(columns[:8]) + "," for columns in (CSV_COLUMNS, VERDICT_CSV_COLUMNS))
_HTML_BEFORE_META = ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                     "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\"><title>dedup ")


def report_kind(head: bytes, text_field: str = "text") -> Optional[str]:
    """What kind of dedup report a file starting with ``head`` is (``"text"``,
    ``"CSV"``, ``"JSON"``, ``"JSON Lines"``, ``"HTML"``), or ``None`` when it is not
    shaped like one.  ``text_field``: the JSON field that holds a document's text; a
    JSON Lines record holding it is never taken for a report."""
    text = head[:HEAD].decode("utf-8", "replace").removeprefix("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    if _TEXT_FIRST_LINE.fullmatch(_SGR.sub("", first)):
        return "text"
    if first.startswith(_CSV_HEADERS):
        return "CSV"
    if first.startswith('{"settings": {') and '"num_perm": ' in first:
        return "JSON"
    if first.startswith("{") and _is_our_record(first, text_field):
        return "JSON Lines"
    if text.startswith(HTML_START) and (GENERATOR_META in text or _HTML_BEFORE_META in text):
        return "HTML"
    return None


def _is_our_record(line: str, text_field: str) -> bool:
    """Whether the JSON object on ``line`` is one of the records dedup writes (the
    module docstring) and holds no field named ``text_field``."""
    try:
        record = json.loads(line)
    except ValueError:  # not JSON, or longer than HEAD: not one of ours
        return False
    if not isinstance(record, dict) or text_field in record:
        return False
    keys, kind = set(record), record.get("kind")
    return ((kind in ("document", "paragraph") and {"similarity", "a", "b"} <= keys)
            or (kind == "error" and keys - {"count"} == {"kind", "path", "error"})
            or (kind == "warning" and keys == {"kind", "path", "warning"})
            or (kind == "verdict" and "verdict" in keys)
            or (kind is None and {"id", "added", "added_unix", "meta"} <= keys))
