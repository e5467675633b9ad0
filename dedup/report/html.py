"""The HTML review page: one self-contained file (inline CSS and JavaScript, nothing
fetched from the network) that an editor opens to review what a scan or a check found.

What is on it: the summary, an inline-SVG histogram of pair similarities with the
threshold marked, the groups largest first with their members, and each pair's passages
side by side with the differing words highlighted (:mod:`dedup.report.diff`), with
scores, file names, paragraph numbers and character offsets; filters for the kind and
relation of pairs and a minimum-similarity slider.  For a check, a table of verdicts
comes first.

Why it stays fast with 10k pairs: the page carries the groups as JSON data and the
script builds the DOM for a screenful of groups at a time, as the reader scrolls.

Why it is safe with any article text: the summary and histogram are written with
:func:`html.escape`; the data block is JSON with ``<``, ``>`` and ``&`` written as
``\\u003c``-style escapes, so no text can close the ``<script>`` element it sits in,
and the script puts text into the page only as ``textContent``, never as markup.  File
names, ids, article text and messages are shown as the text report shows them
(:mod:`dedup.report.safety`: control characters, newlines and bidirectional overrides
as visible escapes), so no name can break a line of the page or reorder what it reads
(s23 audit of #12: ``x\\u202etxt.exe`` showed as ``xexe.txt``).
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any, Optional, Sequence, TextIO

from ..readers import error_count
from ..results import Boilerplate, Group, Location, Pair, ScanResult
from ..verdict import VerdictReport
from .diff import Side, window
from .machine import verdict_action, verdict_label
from .safety import printable, printable_name, short_name, warning_text
from .shown import Shown, choose
from .summary import BINS, Summary
from .text import TextOptions, max_groups, plural, shingles_named

#: Groups carried in the page per kind unless ``TextOptions.max_groups`` says otherwise
#: (largest first; the page says what was left out and where to find it all).
MAX_GROUPS = 5000
#: Pairs carried in the page in all, groups in page order (the rest is counted per group).
MAX_PAIRS = 20_000
#: How the page starts (:mod:`dedup.report.shapes` knows a report by it).
HTML_START = '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
#: The page's generator ``<meta>`` (:mod:`dedup.report.shapes` knows a report by it too).
GENERATOR_META = '<meta name="generator" content="dedup">'
#: Read errors, and warnings, listed on the page each (the rest counted).
LINES_KEPT = 1000
#: Members of a group carried in the page (the rest is counted).
MEMBERS_KEPT = 50
#: Pairs of a group carried in the page (the rest is counted).
PAIRS_KEPT = 10
#: Words of each side shown around the first difference (paragraphs: usually all).
PARAGRAPH_WORDS, DOCUMENT_WORDS = 400, 160


def write_html(result: ScanResult, out: TextIO, options: TextOptions = TextOptions(),
               *, title: str = "dedup scan", verdicts: Optional[list[dict[str, Any]]] = None,
               sides: Optional[tuple[str, str]] = None) -> None:
    """The review page of a scan (``verdicts``: the rows of a check's verdict table;
    ``sides``: what the ``a`` and ``b`` side of every pair are, said beside each
    passage and group member -- a check's stored and incoming texts).

    Bounded whatever the result's size: at most ``options.max_groups`` groups per kind
    (default :data:`MAX_GROUPS`; 0: all), :data:`MEMBERS_KEPT` members and
    :data:`PAIRS_KEPT` pairs per group and :data:`MAX_PAIRS` pairs in all, chosen in
    one pass over the groups and one over the pairs (:func:`~dedup.report.shown.choose`);
    the page says what it leaves out."""
    limit = max_groups(options, MAX_GROUPS)
    shown = choose(result, limit, members=MEMBERS_KEPT, pairs_per_group=PAIRS_KEPT, boilerplate=True)
    boiler = {b.canonical.key(): b for b in result.boilerplate}
    # Largest first; boilerplate (site furniture, reported once) after the real copies.
    groups = sorted((g for gs in shown.groups.values() for g in gs),
                    key=lambda g: (g.canonical.key() in boiler, -len(g.members), g.kind != "document"))
    budget = MAX_PAIRS
    carried: dict[int, list[Pair]] = {}
    for g in groups:
        carried[id(g)] = shown.group_pairs[id(g)][:budget]
        budget -= len(carried[id(g)])
    loose = shown.contained[:budget]  # contained pairs link no group: each is shown on its own
    options.passages.want(loc for ps in [*carried.values(), loose] for p in ps for loc in (p.a, p.b))
    a_side = {p.a.key() for p in result.pairs} if sides else set()
    data = {
        "groups": [_group(g, shown, carried[id(g)], options, boiler.get(g.canonical.key()), a_side) for g in groups]
        + [{"kind": p.kind, "size": 2, "relation": "contained",
            "members": [_loc(p.a) + [None, 0], _loc(p.b) + [None, 1]],
            "pairs": [_pair(p, options)], "more_pairs": 0} for p in loose],
        "relations": sorted(shown.relations | ({"boilerplate"} if boiler else set())),
        "threshold": result.settings.get("threshold"),
        "verdicts": verdicts,
        "sides": sides,
    }
    left_out = _left_out_html(shown, carried, loose)
    css = resources.files(__package__).joinpath("assets/report.css").read_text(encoding="utf-8")
    js = resources.files(__package__).joinpath("assets/report.js").read_text(encoding="utf-8")
    out.write(
        f"{HTML_START}{GENERATOR_META}"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        f"style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{html.escape(title)}</title><style>{css}</style></head><body>\n"
        f"<header><h1>{html.escape(title)}</h1>{_settings_line(result.settings)}</header>\n"
        f"<section id=\"summary\">{_summary_html(shown.summary)}"
        f"{_histogram_svg(shown.summary.histogram, result.settings)}</section>\n{left_out}"
        f"{_errors_html(result)}"
        "<section id=\"controls\">"
        "<fieldset id=\"kinds\"><legend>kind</legend>"
        "<label><input type=\"checkbox\" value=\"document\" checked> documents</label>"
        "<label><input type=\"checkbox\" value=\"paragraph\" checked> paragraphs</label></fieldset>"
        "<fieldset id=\"relations\"><legend>relation</legend></fieldset>"
        "<label id=\"slider\">similarity at least <input type=\"range\" id=\"min-sim\" min=\"0\" max=\"1\" "
        "step=\"0.01\" value=\"0\"> <output id=\"min-sim-value\"></output></label>"
        "<span id=\"shown\" aria-live=\"polite\"></span></section>\n"
        "<section id=\"verdicts\"></section>\n<main id=\"groups\"></main><div id=\"more\"></div>\n"
        f"<script type=\"application/json\" id=\"data\">{_script_json(data)}</script>\n"
        f"<script>{js}</script></body></html>\n"
    )


def write_verdicts_html(report: VerdictReport, out: TextIO, options: TextOptions = TextOptions()) -> None:
    """The review page of ``dedup check`` / ``dedup index add``: the verdict table,
    then the pairs of checked (side ``b``) and stored (side ``a``) texts as for a scan."""
    rows = []
    for doc, v in report.judged:
        best = v.matches[0] if v.matches else None
        rows.append({"path": printable_name(doc.path), "verdict": verdict_label(v),
                     **({"action": verdict_action(v)} if report.adding else {}), "reason": printable(v.reason),
                     "matched": printable(best.doc_id, tabs=False) if best else None,
                     "similarity": round(v.similarity, 4), "seen": len(v.seen), "paragraphs": v.paragraphs})
    rows += [{"path": short_name(e.path), "verdict": "error", "reason": printable(e.error)} for e in report.errors]
    title = f"dedup {'index add' if report.adding else 'check'}: {printable(report.index, tabs=False)}"
    write_html(report.as_result(), out, options, title=title, verdicts=rows, sides=("stored", "incoming"))


def _script_json(data: Any) -> str:
    """JSON that cannot end its ``<script>`` element early or open a comment in it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (undecodable file names): \udcxx escapes
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _loc(loc: Location) -> list:
    return [printable_name(loc.path), loc.paragraph, loc.start, loc.end]


def _runs(side: Side) -> list[str]:
    """The side's units as alternating runs, unchanged first: ``[same, changed, same,
    ...]``, each run's text as it reads (a space between units unless the second is
    joined to the first: the characters of a Chinese word).  The space between two runs
    is kept in the unchanged one, so the page joins the runs as they are and highlights
    no space; ``…`` marks units left out."""
    runs: list[str] = [""]
    for word, c, joined in zip(side.words, side.changed, side.joined):
        sep = "" if joined or (len(runs) == 1 and not runs[0]) else " "
        if (len(runs) % 2 == 0) != c:
            if c:  # an unchanged run ends: the space before the changed one stays in it
                runs[-1] += sep
                runs.append(word)
            else:
                runs.append(sep + word)
        else:
            runs[-1] += sep + word
    if side.head:
        runs[0] = "… " + runs[0]
    if side.tail:
        if len(runs) % 2 == 0:
            runs.append(" …")
        else:
            runs[-1] += " …"
    return [printable(run) for run in runs]


def _pair(p: Pair, options: TextOptions) -> dict[str, Any]:
    a, b = options.passages.text(p.a, "a"), options.passages.text(p.b, "b")
    win = window(a, b, before=12 if p.kind == "document" else 40,
                 words=DOCUMENT_WORDS if p.kind == "document" else PARAGRAPH_WORDS,
                 at_match=p.relation == "contained")
    return {
        "kind": p.kind, "sim": round(p.similarity, 4), "cont": [round(c, 4) for c in p.containment],
        "est": round(p.estimate, 4), "exact": p.exact, "rel": p.relation, "inside": p.inside,
        "a": _loc(p.a), "b": _loc(p.b), "hunks": win.hunks,
        "left": _runs(win.left), "right": _runs(win.right),
    }


def _group(g: Group, shown: Shown, pairs: list[Pair], options: TextOptions,
           boilerplate: Optional[Boilerplate], a_side: set) -> dict[str, Any]:
    """A group's data: each member ``[path, paragraph, start, end, similarity to the
    group, side]`` (side: 0 when the member is a pair's ``a`` side among ``a_side``,
    else 1; only a page given ``sides`` says it)."""
    members = []
    for m in g.members[:MEMBERS_KEPT]:
        link = shown.link(g, m) if m is not g.canonical else None
        members.append(_loc(m) + [None if link is None else round(link.similarity, 4), 0 if m.key() in a_side else 1])
    extra = ({"relation": "boilerplate", "text": printable(boilerplate.text), "documents": boilerplate.documents}
             if boilerplate else {})
    more = len(shown.group_pairs[id(g)]) - len(pairs) + shown.more_pairs[id(g)]
    return {**extra, "kind": g.kind, "size": len(g.members), "members": members,
            "pairs": [_pair(p, options) for p in pairs], "more_pairs": more}


def _left_out_html(shown: Shown, carried: dict[int, list[Pair]], loose: list[Pair]) -> str:
    """A note of what the page leaves out (nothing: no note) and how to see it all."""
    groups = sum(n for n, _ in shown.left_out.values())
    copies = sum(c for _, c in shown.left_out.values())
    pairs = sum(len(shown.group_pairs[g]) + shown.more_pairs[g] - len(ps) for g, ps in carried.items())
    contained = shown.contained_total - len(loose)
    parts = [f"{groups:,} smaller groups ({copies:,} copies)" if groups else "",
             f"{pairs:,} pairs of the groups shown" if pairs else "",
             f"{contained:,} contained pairs" if contained else ""]
    if not any(parts):
        return ""
    return ("<p id=\"left-out\" class=\"note\">Not on this page: " + ", ".join(p for p in parts if p)
            + f". The page carries the largest groups (at most {MAX_GROUPS:,} of each kind unless "
            "<code>--max-groups N</code> says otherwise; <code>--max-groups 0</code>: all), "
            f"{PAIRS_KEPT} pairs a group and {MAX_PAIRS:,} pairs in all; the JSON, JSON Lines and CSV reports "
            "(<code>--format json|jsonl|csv</code>) list every pair.</p>\n")


def _settings_line(s: dict) -> str:
    return (f"<p class=\"settings\">{html.escape(shingles_named(s.get('unit'), s.get('ngram')))}, "
            f"threshold {html.escape(str(s.get('threshold')))}, document threshold "
            f"{html.escape(str(s.get('doc_threshold')))}, {html.escape(str(s.get('num_perm')))} permutations, "
            f"{html.escape(str(s.get('bands')))} bands × {html.escape(str(s.get('rows')))} rows</p>")


def _summary_html(s: Summary) -> str:
    duplicated = "not known" if s.duplicated_bytes is None else f"{s.duplicated_bytes:,} bytes"
    if s.share is not None:
        duplicated += f" ({s.share:.1f} % of {s.total_bytes:,})"
    rows = [
        ("files", f"{s.files:,}"), ("documents", f"{s.documents:,}"), ("paragraphs", f"{s.paragraphs:,}"),
        ("duplicate documents", f"{s.duplicate_documents:,}"),
        ("duplicate paragraphs", f"{s.duplicate_paragraphs:,}"
         + (f" ({s.boilerplate_copies:,} boilerplate)" if s.boilerplate_copies else "")),
        ("duplicated bytes", duplicated), ("pairs", f"{s.pairs:,}"),
        ("contained pairs", f"{s.contained:,}"), ("boilerplate texts", f"{s.boilerplate:,}"),
        ("errors", f"{s.errors:,}"),
    ]
    cells = "".join(f"<div><dt>{k}</dt><dd id=\"sum-{k.replace(' ', '-')}\">{v}</dd></div>" for k, v in rows)
    return f"<dl class=\"summary\">{cells}</dl>"


def _histogram_svg(counts: Sequence[int], settings: dict) -> str:
    """Bars of pair counts per similarity bin over [0, 1], thresholds as dashed lines."""
    w, h, pad = 420, 120, 18
    top = max(counts, default=0) or 1
    bw = (w - 2 * pad) / BINS
    bars = "".join(
        f"<rect x=\"{pad + i * bw + 1:.1f}\" y=\"{h - pad - c / top * (h - 2 * pad):.1f}\" width=\"{bw - 2:.1f}\" "
        f"height=\"{c / top * (h - 2 * pad):.1f}\"><title>{i / BINS:.2f}–{(i + 1) / BINS:.2f}: {plural(c, 'pair')}</title></rect>"
        for i, c in enumerate(counts) if c)
    marks = ""
    for t in sorted({settings.get("threshold"), settings.get("doc_threshold")} - {None}):
        x = pad + t * (w - 2 * pad)
        marks += (f"<line class=\"threshold\" x1=\"{x:.1f}\" x2=\"{x:.1f}\" y1=\"{pad - 6}\" y2=\"{h - pad}\"/>"
                  f"<text x=\"{x + 3:.1f}\" y=\"{pad - 8}\">threshold {t}</text>")
    axis = "".join(f"<text x=\"{pad + v * (w - 2 * pad):.1f}\" y=\"{h - 4}\" text-anchor=\"middle\">{v:g}</text>"
                   for v in (0, 0.25, 0.5, 0.75, 1))
    return (f"<figure><svg id=\"histogram\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" "
            f"aria-label=\"similarity of pairs\"><line x1=\"{pad}\" x2=\"{w - pad}\" y1=\"{h - pad}\" "
            f"y2=\"{h - pad}\" class=\"axis\"/>{bars}{marks}{axis}</svg>"
            "<figcaption>similarity of the pairs found</figcaption></figure>")


def _errors_html(result: ScanResult) -> str:
    """The read errors, then the warnings: a list each (file, cause), at most
    :data:`LINES_KEPT` entries, the rest counted."""
    warnings = getattr(result, "warnings", None) or ()
    shown, total = result.errors[:LINES_KEPT], error_count(result.errors)
    return (_listed_html("errors", f"Could not read {total:,}", total, [(e.path, e.error) for e in shown],
                         error_count(shown))
            + _listed_html("warnings", plural(len(warnings), 'warning'), len(warnings),
                           [warning_text(w) for w in warnings[:LINES_KEPT]]))


def _listed_html(section: str, title: str, total: int, entries: list, said: Optional[int] = None) -> str:
    """A section listing ``entries`` (path, why) of ``total``, and how many they leave
    unsaid (``said``: how many they say, default one each, as in :func:`_errors_html`)."""
    if not total:
        return ""
    items = "".join(f"<li>{f'<code>{html.escape(short_name(path))}</code>: ' if path else ''}"
                    f"{html.escape(printable(why))}</li>" for path, why in entries)
    said = len(entries) if said is None else said
    more = f"<p>… and {total - said:,} more (listed or counted in the JSON report)</p>" if total > said else ""
    return f"<section id=\"{section}\"><h2>{html.escape(title)}</h2><ul>{items}</ul>{more}</section>\n"
