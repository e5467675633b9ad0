"""The terminal view of ``dedup check`` / ``dedup index add`` (the scan's is in
:mod:`dedup.report.text`, whose layout pieces it shares).

A document that matched anything gets a block: its verdict and why, the stored
documents and paragraphs it repeats (the first few of each, then how many more), and
two of them side by side with the differing words marked.  Documents with nothing seen
before are one line each, or only counted when there are many of them (``max_groups``,
``--max-groups``); the JSON report has every one.
"""

from __future__ import annotations

from typing import TextIO

from ..readers import error_count
from ..verdict import Verdict, VerdictReport
from .machine import verdict_action, verdict_label
from .safety import printable, printable_name
from .text import (MAX_GROUPS, PAIRS_SHOWN, Style, TextOptions, errors_section, max_groups, plural, shingles_named,
                   side_by_side, warnings_section)

#: Stored documents listed per checked document, and paragraph matches per stored one.
MATCHES_SHOWN, PARAGRAPHS_SHOWN = 5, 8


def write_verdicts_text(report: VerdictReport, out: TextIO, options: TextOptions = TextOptions()) -> None:
    """The terminal view of a check or an add (module docstring)."""
    st = Style(options.color)
    s = report.settings
    verb = "Added to" if report.adding else "Checked against"
    out.write(st.bold(f"{verb} {printable(report.index, tabs=False)}: {_tally(report)}")
              + f" (threshold {s.threshold}, {shingles_named(s.unit, s.ngram)}).\n")
    limit = max_groups(options, MAX_GROUPS)
    flagged = [(d, v) for d, v in report.judged if v.flagged]
    plain = [(d, v) for d, v in report.judged if not v.flagged]
    blocks = flagged if limit is None else flagged[:limit]
    shown = {id(v): v.pairs(d.path)[:PAIRS_SHOWN] for d, v in blocks}
    options.passages.want(loc for ps in shown.values() for p in ps for loc in (p.a, p.b))
    for doc, v in blocks:
        _block(out, st, doc.path, v, report.adding)
        for pair in shown[id(v)]:
            if not pair.exact:
                side_by_side(out, st, pair, options)
    if len(blocks) < len(flagged):
        out.write(st.dim(f"\n… {plural(len(flagged) - len(blocks), 'more document')} that repeat stored text "
                         "not shown; --max-groups 0 shows all\n"))
    if limit is None or len(plain) <= limit:
        for doc, v in plain:
            out.write(f"\n{printable_name(doc.path)}: {st.bold(_status(v, report.adding))}: "
                      f"{printable(v.reason)}\n")
    elif plain:
        out.write(st.dim(f"\n{plural(len(plain), 'document')} with nothing seen before not listed "
                         "(--max-groups 0 lists them)\n"))
    result = report.as_result()
    errors_section(out, st, result, "Could not read or check", options)
    warnings_section(out, st, result, options)
    out.write(f"\n{st.bold('Summary')}\n  {_tally(report)}\n")


def _block(out: TextIO, st: Style, path: str, v: Verdict, adding: bool) -> None:
    out.write(f"\n{printable_name(path)}: {st.bold(_status(v, adding))}: {printable(v.reason)}\n")
    for m in v.matches[:MATCHES_SHOWN]:
        exact = ", exact copy" if m.exact else ""
        out.write(f"  ~ {printable(m.doc_id, tabs=False)}: {st.score(f'document similarity {m.similarity:.2f}')} "
                  f"(containment {m.containment[0]:.2f}/{m.containment[1]:.2f}){exact}\n")
        for p in m.paragraphs[:PARAGRAPHS_SHOWN]:
            scores = "exact copy" if p.exact else (
                f"similarity {p.similarity:.2f} (containment {p.containment[0]:.2f}/"
                f"{p.containment[1]:.2f}, estimate {p.estimate:.2f})")
            out.write(f"    ¶{p.paragraph} [{p.start}:{p.end}] ~ ¶{p.stored_paragraph} "
                      f"[{p.stored_start}:{p.stored_end}]  {st.score(scores)}\n")
        if len(m.paragraphs) > PARAGRAPHS_SHOWN:
            out.write(st.dim(f"    … and {plural(len(m.paragraphs) - PARAGRAPHS_SHOWN, 'more paragraph')}\n"))
    if len(v.matches) > MATCHES_SHOWN:
        out.write(st.dim(f"  … and {plural(len(v.matches) - MATCHES_SHOWN, 'more stored document')}\n"))


def _tally(report: VerdictReport) -> str:
    """What happened to how many documents, every document counted once: for an add
    ``added, rejected, already indexed`` (and any other action seen), for a check
    ``new, duplicates`` (and partly seen), then the errors."""
    statuses = [verdict_action(v) if report.adding else verdict_label(v) for _, v in report.judged]
    always = ["added", "rejected", "already indexed"] if report.adding else ["new", "duplicate"]
    seen = always + sorted(set(statuses) - set(always))
    parts = [plural(statuses.count(k), k) if k == "duplicate" else f"{statuses.count(k):,} {k}" for k in seen]
    return ", ".join(parts + [plural(error_count(report.errors), "error")])


def _status(v: Verdict, adding: bool) -> str:
    if adding:
        return verdict_action(v)
    label = verdict_label(v)
    if label != "duplicate":
        return label
    # Accepted all the same under strip or flag (new user M2 of s18: the text said
    # DUPLICATE as under reject; only CSV and JSON said accepted).
    if v.accepted and v.policy == "strip":
        return "DUPLICATE (accepted under strip" + (": seen paragraphs cut)" if v.stripped else ")")
    return f"DUPLICATE (accepted under {v.policy})" if v.accepted else "DUPLICATE"
