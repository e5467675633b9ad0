"""The machine formats: JSON (the whole report), JSON Lines (one pair per line,
streamable, ``jq``-friendly) and CSV (spreadsheets), for scans and for verdicts.

They are a stable contract (README "Output contract").  Every writer takes the pairs as
an iterable and writes them as they come, so a scan that streams its pairs is never
held whole in memory by its report.  Names that are not valid UTF-8 are written as
:func:`~dedup.report.safety.json_name` says; CSV cells as
:func:`~dedup.report.safety.csv_cell` says.
"""

from __future__ import annotations

import csv
import json
from typing import Any, Iterable, Iterator, Optional, TextIO

from ..readers import Document
from ..results import ScanResult
from ..verdict import Verdict, VerdictReport
from .bulk import Names, chunks, document_objects, group_blocks, group_objects, pair_blocks, pair_objects
from .safety import csv_cell, csv_id, csv_name, json_name, json_text, printable, warning_text
from .summary import Tally

#: Pairs encoded per write: few system calls, bounded memory.
_CHUNK = 4096


#: Keys whose string values are names (of files, records): written as
#: :func:`~dedup.report.safety.json_name` says, with a ``KEY_bytes`` twin when needed.
NAME_KEYS = frozenset({"path", "id"})


def dumps(value: Any, names: frozenset[str] = NAME_KEYS) -> str:
    """``json.dumps`` whose output is always valid UTF-8: the string values of the
    ``names`` keys made safe as :func:`~dedup.report.safety.json_name` says, other
    text as :func:`~dedup.report.safety.json_text` says."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(_safe(value, names), ensure_ascii=False)
    return text


def _safe(value: Any, names: frozenset[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in names and isinstance(v, str):
                out.update(json_name(v, k))
            else:
                out[k] = _safe(v, names)
        return out
    if isinstance(value, (list, tuple)):
        return [_safe(v, names) for v in value]
    return json_text(value) if isinstance(value, str) else value


def _names() -> Names:
    """Paths as JSON fragments (``"path": ...``, with ``path_bytes`` when needed)."""
    return Names(lambda path: dumps({"path": path})[1:-1])


def _write_list(out: TextIO, parts: Iterable[str]) -> None:
    """A JSON list written a part at a time (each part: items already encoded and
    joined by ``", "``)."""
    out.write("[")
    first = True
    for part in parts:
        out.write(part if first else ", " + part)
        first = False
    out.write("]")


def write_json(result: ScanResult, out: TextIO, extra: dict[str, Any] | None = None,
               listed: dict[str, Iterable[Iterable[str]]] | None = None) -> None:
    """The JSON report: the keys of ``result.to_dict()`` in order, then ``summary``
    (:meth:`~dedup.report.summary.Summary.to_dict`, counted as pairs and groups pass),
    ``extra`` keys (a check's ``index``) and ``listed`` ones (a check's ``verdicts``:
    JSON lists of the values as they come, each value given as the pieces of its JSON
    text).  Documents, pairs, groups and ``listed`` values are encoded and written a
    chunk at a time, never held whole."""
    head = result.to_dict(large=False)
    tally, names = Tally(), _names()
    out.write(f'{{"settings": {dumps(head.pop("settings"))}, "documents": ')
    _write_list(out, (", ".join(document_objects(chunk, names)) for chunk in chunks(result.documents, _CHUNK)))
    out.write(', "pairs": ')
    _write_list(out, (", ".join(pair_objects(tally.pair_columns(block), names))
                      for block in pair_blocks(result.pairs, _CHUNK)))
    out.write(', "groups": ')
    _write_list(out, (group_objects(tally.group_columns(block), names) for block in group_blocks(result.groups, _CHUNK)))
    head["summary"] = tally.summary(result).to_dict()
    for key, value in {**head, **(extra or {})}.items():
        out.write(f", {json.dumps(key)}: {dumps(value)}")
    for key, values in (listed or {}).items():
        out.write(f", {json.dumps(key)}: [")
        for n, pieces in enumerate(values):
            out.write(", " if n else "")
            for piece in pieces:
                out.write(piece)
        out.write("]")
    out.write("}\n")


def write_jsonl(result: ScanResult, out: TextIO) -> None:
    """One pair object per line, then one ``{"kind": "error", ...}`` line per unreadable
    file (and one ``{"kind": "warning", ...}`` per warning, when the scan has any)."""
    names = _names()
    for block in pair_blocks(result.pairs, _CHUNK):
        out.write("\n".join(pair_objects(block, names)) + "\n")
    for e in result.errors:
        out.write(dumps({"kind": "error", **e.as_dict()}) + "\n")
    for w in getattr(result, "warnings", None) or ():
        path, message = warning_text(w)
        out.write(dumps({"kind": "warning", "path": path, "warning": message}) + "\n")


CSV_COLUMNS = (
    "kind", "similarity", "containment_a", "containment_b", "estimate", "exact",
    "a_path", "a_paragraph", "a_start", "a_end", "b_path", "b_paragraph", "b_start", "b_end",
    "relation",  # appended (tester T7, session 12): the columns before it keep their places
    "error",  # appended (session 14): an unreadable file's row says why, a pair's is empty
    "warning",  # appended (session 18): a warning's row says what, every other row's is empty
)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _blank_none(value: Any) -> Any:
    return "" if value is None else csv_cell(value)


def write_csv(result: ScanResult, out: TextIO) -> None:
    """One row per pair (:data:`CSV_COLUMNS`); booleans ``true``/``false``, a
    paragraph of a document pair empty, text cells neutralized (:func:`csv_cell`),
    ``relation`` ``near-duplicate`` or ``contained`` (as in JSON and Parquet).  Then one
    row per file that could not be read, as JSON Lines has (``kind`` ``error``, the file
    in ``a_path``, the reason in ``error``; every other cell empty), so a CSV report
    shows what a scan could not read, not only stderr; then one row per warning
    (``kind`` ``warning``, its file, if any, in ``a_path``, the message in ``warning``)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for chunk in chunks(result.pairs, _CHUNK):
        writer.writerows(
            [p.kind, round(p.similarity, 4), round(p.containment[0], 4), round(p.containment[1], 4),
             round(p.estimate, 4), _bool(p.exact)]
            + [x for loc in (p.a, p.b) for x in (csv_name(loc.path), *map(_blank_none, (loc.paragraph, loc.start, loc.end)))]
            + [p.relation, "", ""]
            for p in chunk
        )
    blank = [""] * (len(CSV_COLUMNS) - 4)
    for e in result.errors:
        writer.writerow(["error", *blank[:5], csv_name(e.path), *blank[5:], csv_cell(printable(e.error, tabs=False)), ""])
    for path, message in map(warning_text, getattr(result, "warnings", None) or ()):
        writer.writerow(["warning", *blank[:5], csv_name(path) if path else "", *blank[5:], "",
                         csv_cell(printable(message, tabs=False))])


# -- verdicts (dedup check, dedup index add) --------------------------------------------


def verdict_label(v: Verdict) -> str:
    """``duplicate``, ``contained`` (inside a stored document: ``relation``
    ``contained-in``), ``partly seen`` (some paragraphs already seen, not a duplicate),
    ``already indexed`` (its id is stored with this very text: not judged) or ``new``."""
    if v.already_indexed:
        return "already indexed"
    if v.is_duplicate:
        return "duplicate"
    return "contained" if v.relation == "contained-in" else ("partly seen" if v.flagged else "new")


def verdict_action(v: Verdict) -> str:
    """What an add did: ``added``, ``stripped`` (added without some of its paragraphs:
    seen ones, or under ``strip`` boilerplate with a stored copy),
    ``replaced`` (took the place of its id's old text), ``already indexed`` (its id
    is stored with the same text: skipped), ``rejected`` or ``not stored`` (accepted,
    but a duplicate the policy does not store)."""
    if v.already_indexed:
        return "already indexed"
    if v.added:
        return "replaced" if v.replaced else "stripped" if v.stripped else "added"
    return "rejected" if not v.accepted else "not stored"


def _verdict_head(doc: Document, v: Verdict, adding: bool) -> dict[str, Any]:
    """``path``: the document's report name (``FILE#ID``, as the CSV's ``path``: two
    files' records of one id are told apart), ``verdict``, ``action`` (adds) and
    ``matched_id``, which come before the verdict's own keys."""
    best = v.matches[0] if v.matches else None
    return {"path": doc.path, "verdict": verdict_label(v), **({"action": verdict_action(v)} if adding else {}),
            "matched_id": best.doc_id if best else None}


#: What stands for a list a writer streams, in the JSON text of the object around it
#: (no string value holds it: a quote inside one is escaped).
_MATCHES, _PARAGRAPHS = '"matches": []', '"paragraphs": []'


def _verdict_json(doc: Document, v: Verdict, adding: bool, first: Optional[dict[str, Any]] = None
                  ) -> Iterator[str]:
    """The JSON text of ``{**first, **_verdict_head(...), **v.to_dict()}`` in pieces:
    each match's paragraph matches :data:`_CHUNK` at a time.  Why: a 2 MiB article
    whose 30k paragraphs are stored 17 times has ~500k paragraph matches, whose dicts
    and text were built whole for its one verdict (~180 MB of a 650 MB check at 512 KiB:
    benchmarks/README-memory.md)."""
    head, tail = dumps({**(first or {}), **_verdict_head(doc, v, adding), **v.to_dict(matches=False)}
                       ).split(_MATCHES, 1)
    yield head + '"matches": ['
    for n, m in enumerate(v.matches):
        before, after = dumps(m.to_dict(paragraphs=False)).split(_PARAGRAPHS, 1)
        yield (", " if n else "") + before + '"paragraphs": ['
        for k, chunk in enumerate(chunks(m.paragraphs, _CHUNK)):
            yield (", " if k else "") + json.dumps([p.to_dict() for p in chunk])[1:-1]
        yield "]" + after
    yield "]" + tail


def write_verdicts_json(report: VerdictReport, out: TextIO) -> None:
    """The scan's JSON report of the checked documents, plus ``index`` and one
    ``verdicts`` entry per document (``Verdict.to_dict()`` with ``path``, the report
    name, ``verdict``, ``action`` for adds, and ``matched_id``, the best-matching stored id)."""
    write_json(report.as_result(), out, {"index": report.index},
               {"verdicts": (_verdict_json(doc, v, report.adding) for doc, v in report.judged)})


def write_verdicts_jsonl(report: VerdictReport, out: TextIO) -> None:
    """The scan's JSON Lines, then one ``{"kind": "verdict", ...}`` line per document."""
    write_jsonl(report.as_result(), out)
    for doc, v in report.judged:
        for piece in _verdict_json(doc, v, report.adding, {"kind": "verdict"}):
            out.write(piece)
        out.write("\n")


VERDICT_CSV_COLUMNS = (
    "path", "id", "verdict", "action", "accepted", "added", "reason", "matched_id", "similarity",
    "seen_share", "paragraphs", "seen_paragraphs", "matches", "error",
    "warning",  # appended (session 18): a warning's row (verdict ``warning``) says what
)


def write_verdicts_csv(report: VerdictReport, out: TextIO) -> None:
    """One row per checked document (:data:`VERDICT_CSV_COLUMNS`): the verdict
    (``duplicate``/``contained``/``partly seen``/``new``, or ``error``), what an add did, why, the
    best-matching stored id and the whole-document similarity to it; then a row per
    warning (``verdict`` ``warning``, the message in ``warning``)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(VERDICT_CSV_COLUMNS)
    for doc, v in report.judged:
        d = _verdict_head(doc, v, report.adding)
        writer.writerow([csv_name(doc.path)] + [_blank_none(x) for x in (
            csv_id(v.doc_id), d["verdict"], d.get("action", ""), _bool(v.accepted), _bool(v.added),
            v.reason, csv_id(d["matched_id"]), round(v.similarity, 4), round(v.seen_share, 4), v.paragraphs,
            " ".join(map(str, v.seen)), len(v.matches), "", "")])
    for e in report.errors:
        writer.writerow([csv_name(e.path)] + [_blank_none(x) for x in (
            None, "error", "", _bool(False), _bool(False), "", None, "", "", "", "", "", e.error, "")])
    for path, message in map(warning_text, report.warnings or ()):
        writer.writerow([csv_name(path) if path else ""] + [_blank_none(x) for x in (
            None, "warning", "", "", "", "", None, "", "", "", "", "", "", printable(message, tabs=False))])
