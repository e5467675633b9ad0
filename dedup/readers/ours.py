"""Recognize dedup's own reports, so that a scan never reads them as documents.

A report written into a scanned folder (``dedup scan news/ -o news/report.json``, or a
nightly job's ``> news/report.txt``) would otherwise be read by the next scan of that
folder: a text, CSV or HTML report quotes the duplicated passages, so it turns up as a
copy of every file it names, and a JSON report is an unreadable input.  A file found
*inside* a scanned folder whose first bytes are shaped like one of dedup's reports is
left out with a warning naming it (:class:`Skipped`); a file named on the command line
is always read.

What is recognized (:func:`report_kind`, on the first :data:`HEAD` bytes only):

- text: the first line of a scan, check or add report (``Scanned N documents in N
  files, N paragraphs (threshold T, word N-grams).``), terminal colours allowed;
- CSV: the header row of a scan's or a check's CSV report;
- JSON: an object starting ``{"settings": {`` with ``"num_perm"`` among the settings;
- JSON Lines: a first line that is one of dedup's records -- a pair (``kind``
  ``document``/``paragraph`` with ``similarity``, ``a``, ``b``), an ``error``,
  ``warning`` or ``verdict`` line, or an ``index export`` line -- and that has no field
  named like the text field (``--text-field``): a record holding the text field is a
  document, whatever else it holds;
- HTML: a page whose head carries ``<meta name="generator" content="dedup">``, or the
  head the writer gave it before that meta was added (``<title>dedup ...`` after the
  same Content-Security-Policy).
"""

from __future__ import annotations

import json
import re
from typing import Optional

#: How much of a file is looked at (the first line of every report fits).
HEAD = 8192

#: The ``<meta>`` the HTML writer puts in its head (:mod:`dedup.report.html`).
GENERATOR_META = '<meta name="generator" content="dedup">'

_SGR = re.compile(r"\x1b\[[0-9;]*m")
_TEXT_FIRST_LINE = re.compile(
    r"(?:Scanned [\d,]+ documents? in [\d,]+ files?, [\d,]+ paragraphs?|Added to .+|Checked against .+)"
    r" \(threshold [\d.]+, \w+ \d+-grams\)\.")
_CSV_HEADERS = ("kind,similarity,containment_a,containment_b,estimate,exact,a_path,a_paragraph,",
                "path,id,verdict,action,accepted,added,reason,matched_id,")
_HTML_START = '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
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
    if text.startswith(_HTML_START) and (GENERATOR_META in text or _HTML_BEFORE_META in text):
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
            or (kind == "error" and keys == {"kind", "path", "error"})
            or (kind == "warning" and keys == {"kind", "path", "warning"})
            or (kind == "verdict" and "verdict" in keys)
            or (kind is None and {"id", "added", "added_unix", "meta"} <= keys))


def skip_note(kind: str) -> str:
    """The warning for a report left out of a scan."""
    return (f"not read: {'an' if kind == 'HTML' else 'a'} {kind} report written by dedup, not a document "
            "(name the file itself to read it)")
