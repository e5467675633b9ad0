"""Reports: a scan's result or a check's verdicts, rendered for people and programs.

One module per format, the same formats for scans (:func:`write_report`) and verdicts
(:func:`write_verdicts`):

* :mod:`~dedup.report.text` -- the terminal view (groups, passages side by side around
  where they differ, summary, sparkline), and :mod:`~dedup.report.text_verdicts` its
  twin for verdicts;
* :mod:`~dedup.report.machine` -- JSON, JSON Lines and CSV, the stable contract other
  tools parse (README "Output contract");
* :mod:`~dedup.report.html` -- one self-contained review page.

Shared parts: :mod:`~dedup.report.diff` (word-level differences), ``summary`` (counts
and the similarity distribution), ``passages`` (where the readable formats find the
text of what they show), ``safety`` (what input may not do to a terminal, spreadsheet
or parser), ``output`` (atomic ``-o`` files, colour, progress).
"""

from __future__ import annotations

from typing import TextIO

from ..results import ScanResult
from ..verdict import VerdictReport
from . import machine
from .html import write_html, write_verdicts_html
from .text import TextOptions, write_text
from .text_verdicts import write_verdicts_text

FORMATS = ("text", "json", "jsonl", "csv", "html")
CSV_COLUMNS = machine.CSV_COLUMNS


def write_report(result: ScanResult, fmt: str, out: TextIO, options: TextOptions = TextOptions()) -> None:
    """Write a scan's ``result`` to ``out`` in format ``fmt`` (one of :data:`FORMATS`);
    ``options`` shape the readable formats (text, html).  Raises ``ValueError`` for an
    unknown format."""
    if fmt == "text":
        write_text(result, out, options)
    elif fmt == "html":
        write_html(result, out, options)
    else:
        {"json": machine.write_json, "jsonl": machine.write_jsonl, "csv": machine.write_csv}[_known(fmt)](result, out)


def write_verdicts(report: VerdictReport, fmt: str, out: TextIO, options: TextOptions = TextOptions()) -> None:
    """Write the verdicts of ``dedup check`` / ``dedup index add`` in format ``fmt``."""
    if fmt == "text":
        write_verdicts_text(report, out, options)
    elif fmt == "html":
        write_verdicts_html(report, out, options)
    else:
        writers = {"json": machine.write_verdicts_json, "jsonl": machine.write_verdicts_jsonl,
                   "csv": machine.write_verdicts_csv}
        writers[_known(fmt)](report, out)


def _known(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt
