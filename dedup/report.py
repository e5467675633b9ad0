"""Reporting: render a scan (or check) result as text, JSON, JSON Lines or CSV.

Why several formats: people read the text report; CI jobs and other tools parse JSON
(the whole report), JSON Lines (one pair per line, streamable, ``jq``-friendly) or CSV
(spreadsheets).  The machine formats are a stable contract (README "Output").
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import textwrap
from typing import Callable, TextIO

from .results import Group, Location, Pair, ScanResult

FORMATS = ("text", "json", "jsonl", "csv")
_PREVIEW_LINES = 4


def write_report(result: ScanResult, fmt: str, out: TextIO, *, width: int | None = None) -> None:
    """Write ``result`` to ``out`` in format ``fmt`` (one of :data:`FORMATS`)."""
    writers: dict[str, Callable[[ScanResult, TextIO], None]] = {
        "json": _json,
        "jsonl": _jsonl,
        "csv": _csv,
        "text": lambda r, o: _text(r, o, width or _terminal_width()),
    }
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    writers[fmt](result, out)


def _json(result: ScanResult, out: TextIO) -> None:
    # One compact string, one write: ``indent`` would switch json to its pure-Python
    # encoder (5x slower on a large report), and many small writes are slow on an
    # unbuffered stdout.  Pretty-print with ``jq .`` when a human wants to read it.
    rest = {k: json.dumps(v, ensure_ascii=False) for k, v in result.to_dict(pairs=False).items()}
    out.write(
        f'{{"settings": {rest["settings"]}, "documents": {rest["documents"]}, '
        f'"pairs": [{", ".join(_pair_objects(result.pairs))}], '
        f'"groups": {rest["groups"]}, "errors": {rest["errors"]}}}\n'
    )


def _pair_objects(pairs: list[Pair]) -> list[str]:
    """Each pair as the JSON text of ``pair.to_dict()``, assembled from fragments.

    Why not ``json.dumps`` per pair: a large corpus has hundreds of thousands of pairs
    whose locations repeat (a paragraph with eight versions is in 28 pairs), so each
    location is encoded once and the rest is string formatting -- 3x faster.
    """
    encoded: dict[int, str] = {}

    def location(loc: Location) -> str:
        text = encoded.get(id(loc))
        if text is None:
            text = encoded[id(loc)] = json.dumps(loc.to_dict(), ensure_ascii=False)
        return text

    return [
        f'{{"kind": "{p.kind}", "similarity": {round(p.similarity, 4)!r}, '
        f'"containment": [{round(p.containment[0], 4)!r}, {round(p.containment[1], 4)!r}], '
        f'"estimate": {round(p.estimate, 4)!r}, "exact": {"true" if p.exact else "false"}, '
        f'"a": {location(p.a)}, "b": {location(p.b)}}}'
        for p in pairs
    ]


def _jsonl(result: ScanResult, out: TextIO) -> None:
    lines = _pair_objects(result.pairs)
    lines += [json.dumps({"kind": "error", "path": e.path, "error": e.error}) for e in result.errors]
    out.write("".join(line + "\n" for line in lines))


CSV_COLUMNS = (
    "kind", "similarity", "containment_a", "containment_b", "estimate", "exact",
    "a_path", "a_paragraph", "a_start", "a_end", "b_path", "b_paragraph", "b_start", "b_end",
)


def _csv(result: ScanResult, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in result.pairs:
        d = p.to_dict()
        writer.writerow(
            [d["kind"], d["similarity"], *d["containment"], d["estimate"], d["exact"]]
            + [_blank_none(d[s][k]) for s in ("a", "b") for k in ("path", "paragraph", "start", "end")]
        )


def _blank_none(value):
    return "" if value is None else value


def _terminal_width() -> int:
    return max(60, min(160, shutil.get_terminal_size((100, 24)).columns))


def _text(result: ScanResult, out: TextIO, width: int) -> None:
    docs = len(result.documents)
    paragraphs = sum(d.paragraphs for d in result.documents)
    out.write(
        f"Scanned {docs} document{'s' * (docs != 1)}, "
        f"{paragraphs} paragraph{'s' * (paragraphs != 1)} "
        f"(threshold {result.settings.get('threshold')}, "
        f"{result.settings.get('unit')} {result.settings.get('ngram')}-grams).\n"
    )
    if not result.pairs:
        out.write("No duplicates found.\n")
    for kind in ("document", "paragraph"):
        kind_groups = [g for g in result.groups if g.kind == kind]
        kind_pairs = [p for p in result.pairs if p.kind == kind]
        if not kind_groups:
            continue
        title = f"{kind.capitalize()} duplicates: {len(kind_groups)} group(s), {len(kind_pairs)} pair(s)"
        out.write(f"\n{title}\n{'=' * len(title)}\n")
        links: dict[tuple, list[Pair]] = {}
        for p in kind_pairs:
            links.setdefault(p.b.key(), []).append(p)
            links.setdefault(p.a.key(), []).append(p)
        for n, group in enumerate(kind_groups, 1):
            _text_group(out, n, group, links, width)
    if result.errors:
        out.write(f"\nCould not read {len(result.errors)} file(s):\n")
        for e in result.errors:
            out.write(f"  {e.path}: {e.error}\n")


def _where(loc: Location) -> str:
    para = "" if loc.paragraph is None else f" ¶{loc.paragraph}"
    return f"{loc.path}{para} [{loc.start}:{loc.end}]"


def _text_group(out: TextIO, n: int, group: Group, links: dict, width: int) -> None:
    """One group: every member with how it is linked, then the first near-duplicate
    pairs side by side, starting just before the first place they differ."""
    out.write(f"\n[{n}] {len(group.members)} copies\n")
    out.write(f"    {_where(group.canonical)}  (canonical)\n")
    shown: list[Pair] = []
    for member in group.members[1:]:
        pairs = links.get(member.key(), [])
        # Prefer the link to the canonical member, else the first link to anyone.
        pair = next((p for p in pairs if group.canonical.key() in (p.a.key(), p.b.key())), None)
        pair = pair or (pairs[0] if pairs else None)
        out.write(f"    {_where(member)}  {_link(member, pair)}\n")
        if pair is not None and not pair.exact and len(shown) < 2:
            shown.append(pair)
    for pair in shown:
        out.write(f"  {_where(pair.a)}  vs  {_where(pair.b)}\n")
        out.write(_side_by_side(pair.a.preview, pair.b.preview, width))


def _link(member: Location, pair: Pair | None) -> str:
    if pair is None:
        return ""
    other = pair.a if pair.b.key() == member.key() else pair.b
    to = _where(other) if other.paragraph is None else f"¶{other.paragraph} of {other.path}"
    if pair.exact:
        return f"exact copy of {to}"
    ca, cb = pair.containment
    return f"similarity {pair.similarity:.2f} to {to} (containment {ca:.2f}/{cb:.2f}, estimate {pair.estimate:.2f})"


def _first_difference(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _side_by_side(left: str, right: str, width: int) -> str:
    col = (width - 7) // 2
    left, right = " ".join(left.split()), " ".join(right.split())
    # Start both columns a little before the first difference, at a word boundary.
    cut = _first_difference(left, right) - col // 2
    cut = left.rfind(" ", 0, cut) + 1 if cut > 0 else 0
    if cut > 0:
        left, right = "…" + left[cut:], "…" + right[cut:]
    lw = textwrap.wrap(left, col) or [""]
    rw = textwrap.wrap(right, col) or [""]
    rows = max(len(lw), len(rw))
    clipped = rows > _PREVIEW_LINES
    lw, rw = lw[:_PREVIEW_LINES], rw[:_PREVIEW_LINES]
    buf = io.StringIO()
    for i in range(min(rows, _PREVIEW_LINES)):
        a = lw[i] if i < len(lw) else ""
        b = rw[i] if i < len(rw) else ""
        buf.write(f"    {a:<{col}} | {b}\n")
    if clipped:
        buf.write(f"    {'…':<{col}} | …\n")
    return buf.getvalue()
