"""The terminal view: what a person reads after ``dedup scan`` or ``dedup check``.

Groups largest first; for each, its members (the first few, then how many more) and
up to two of its near-duplicate pairs side by side, cut to the words *around where they
differ* (:mod:`dedup.report.diff`) with the differing words highlighted -- in colour on
a terminal, as ``[-old-]`` / ``{+new+}`` (git's word-diff markers) without.  At the end
a summary and a sparkline of the similarities, with the threshold marked, so a reader
sees where the threshold cuts.  Everything taken from the input is passed through
:func:`~dedup.report.safety.printable` first: article text and file names cannot drive
the terminal.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Optional, Sequence, TextIO

from ..readers import error_count
from ..results import Group, Location, Pair, ScanResult
from ..tokenize import KIND_IDEOGRAPHIC, shingle_widths
from .diff import Side, breaks_by_dictionary, window
from .passages import Passages
from .safety import printable, printable_name, short_name, warning_text
from .shown import Shown, choose
from .summary import BINS, Summary, sparkline

#: Members listed per group before "… and N more".
MEMBERS_SHOWN = 6
#: Near-duplicate pairs shown side by side per group (per document for verdicts).
PAIRS_SHOWN = 2
#: Lines per side-by-side passage.
PASSAGE_LINES = 5
#: Groups shown per kind unless ``TextOptions.max_groups`` says otherwise.
MAX_GROUPS = 20
#: Members of a group searched for the pairs shown side by side (bounds the links kept).
MEMBERS_SCANNED = 100
#: Read errors, and warnings, listed each before "… and N more" (all with ``--max-groups 0``).
LINES_LISTED = 50


@dataclass(frozen=True)
class TextOptions:
    """How the terminal view looks: ``color`` (ANSI SGR codes), ``width`` in columns,
    ``max_groups`` per kind (``None``: the format's default, :data:`MAX_GROUPS` here,
    :data:`dedup.report.html.MAX_GROUPS` on the HTML page; 0: all), ``passages`` (where the text of a pair's
    sides comes from, see :mod:`dedup.report.passages`)."""

    color: bool = False
    width: int = 100
    max_groups: Optional[int] = None
    passages: Passages = field(default_factory=Passages)


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def _sgr(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def bold(self, text: str) -> str:
        return self._sgr("1", text)

    def dim(self, text: str) -> str:
        return self._sgr("2", text)

    def score(self, text: str) -> str:
        return self._sgr("36", text)

    def changed(self, text: str, side: str) -> str:
        if self.color:
            return self._sgr("1;31" if side == "a" else "1;32", text)
        return f"[-{text}-]" if side == "a" else f"{{+{text}+}}"


def width_of(text: str) -> int:
    """Terminal columns of ``text``: East Asian Width (UAX #11) wide and full-width
    characters take two, marks (general category Mn, Me) and format characters (Cf:
    zero-width joiner, soft hyphen ...) none, every other character one -- what
    ``wcwidth`` answers for text, from the standard library's own tables."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.category(c) in _ZERO_WIDTH else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


_ZERO_WIDTH = frozenset(("Mn", "Me", "Cf"))


def plural(n: int, word: str, plural: str = "") -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def shingles_named(unit: object, ngram: object) -> str:
    """The shingles of ``unit`` / ``ngram`` (a report's settings) in words: word shingles
    span wider character n-grams in scripts written without spaces
    (:func:`dedup.tokenize.shingle_widths`; new user's N14, session 18: a Japanese
    report said only "word 2-grams")."""
    named = f"{unit} {ngram}-grams"
    if unit != "word" or not isinstance(ngram, int):
        return named
    return f"{named}; character {shingle_widths(ngram)[KIND_IDEOGRAPHIC]}-grams in scripts written without spaces"


def _where(loc: Location) -> str:
    para = "" if loc.paragraph is None else f" ¶{loc.paragraph}"
    return f"{printable_name(loc.path)}{para} [{loc.start}:{loc.end}]"


# -- scans ------------------------------------------------------------------------------


def write_text(result: ScanResult, out: TextIO, options: TextOptions = TextOptions()) -> None:
    """The terminal view of a scan: at most ``options.max_groups`` groups per kind
    (default :data:`MAX_GROUPS`), chosen and summed up in one pass over the result's
    groups and one over its pairs (:func:`~dedup.report.shown.choose`), so its memory
    does not grow with the number of pairs."""
    st = Style(options.color)
    limit = max_groups(options, MAX_GROUPS)
    shown = choose(result, limit, members=MEMBERS_SCANNED)
    summary = shown.summary
    s = result.settings
    out.write(st.bold(f"Scanned {plural(summary.documents, 'document')} in {plural(summary.files, 'file')}, "
                      f"{plural(summary.paragraphs, 'paragraph')}")
              + f" (threshold {s.get('threshold')}, {shingles_named(s.get('unit'), s.get('ngram'))}).\n")
    chosen = {id(g): _pairs_to_show(g, shown) for groups in shown.groups.values() for g in groups}
    options.passages.want(loc for ps in [*chosen.values(), shown.contained] for p in ps for loc in (p.a, p.b))
    for kind, groups in shown.groups.items():
        left, copies = shown.left_out[kind]
        total = len(groups) + left
        if not total:
            continue
        title = f"{kind.capitalize()} duplicates: {plural(total, 'group')}, {plural(shown.pairs[kind], 'pair')}"
        out.write(f"\n{st.bold(title)}\n{'=' * len(title)}\n")
        for n, group in enumerate(groups, 1):
            _group(out, st, n, group, shown, chosen[id(group)], options)
        if left:
            more = f"more {kind} group"
            out.write(st.dim(f"\n… {plural(left, more)} ({plural(copies, 'copy', 'copies')}) not shown; "
                             "--max-groups 0 shows all\n"))
    _contained(out, st, shown, options)
    _boilerplate(out, st, result, limit, options)
    errors_section(out, st, result, "Could not read", options)
    warnings_section(out, st, result, options)
    _summary(out, st, summary, s, len(getattr(result, "warnings", None) or ()))


def max_groups(options: TextOptions, default: int) -> Optional[int]:
    """Groups shown per kind: ``options.max_groups``, ``default`` when it is ``None``,
    all (``None``) when it is 0."""
    limit = default if options.max_groups is None else options.max_groups
    return limit or None


def _pairs_to_show(group: Group, shown: Shown) -> list[Pair]:
    chosen: list[Pair] = []
    for member in group.members[1:MEMBERS_SCANNED]:
        pair = shown.link(group, member)
        if pair is not None and not pair.exact and pair not in chosen:
            chosen.append(pair)
            if len(chosen) == PAIRS_SHOWN:
                break
    return chosen


def _group(out: TextIO, st: Style, n: int, group: Group, shown: Shown, pairs: list[Pair],
           options: TextOptions) -> None:
    size = len(group.members)
    out.write(f"\n{st.bold('[' + str(n) + ']')} {plural(size, 'copy', 'copies')}\n")
    out.write(f"    {_where(group.canonical)}  {st.dim('(canonical)')}\n")
    for member in group.members[1:MEMBERS_SHOWN]:
        out.write(f"    {_where(member)}  {_link_text(st, member, shown.link(group, member))}\n")
    if size > MEMBERS_SHOWN:
        out.write(st.dim(f"    … and {plural(size - MEMBERS_SHOWN, 'more copy', 'more copies')}\n"))
    for pair in pairs:
        side_by_side(out, st, pair, options)


def _scores(st: Style, pair: Pair) -> str:
    if pair.exact:
        return st.score("exact copy")
    ca, cb = pair.containment
    if pair.relation == "contained":
        return (st.score(f"{max(ca, cb):.0%} contained")
                + f" (similarity {pair.similarity:.2f}, containment {ca:.2f}/{cb:.2f})")
    return (st.score(f"similarity {pair.similarity:.2f}")
            + f" (containment {ca:.2f}/{cb:.2f}, estimate {pair.estimate:.2f})")


def _link_text(st: Style, member: Location, pair: Optional[Pair]) -> str:
    if pair is None:
        return ""
    other = pair.a if pair.b.key() == member.key() else pair.b
    to = _where(other) if other.paragraph is None else f"¶{other.paragraph} of {printable_name(other.path)}"
    return f"{_scores(st, pair)} to {to}" if not pair.exact else f"{st.score('exact copy')} of {to}"


def _contained(out: TextIO, st: Style, shown: Shown, options: TextOptions) -> None:
    """Short texts found inside longer ones (they link no group: a quote does not make
    the quoting text a copy), each with its passages side by side at the shared words."""
    if not shown.contained_total:
        return
    title = f"Contained texts: {plural(shown.contained_total, 'pair')} (a shorter text inside a longer one)"
    out.write(f"\n{st.bold(title)}\n{'=' * len(title)}\n")
    for pair in shown.contained:
        inner, outer = (pair.a, pair.b) if pair.inside == "a" else (pair.b, pair.a)
        out.write(f"\n  {_where(inner)}  inside  {_where(outer)}\n")
        side_by_side(out, st, pair, options)
    if len(shown.contained) < shown.contained_total:
        out.write(st.dim(f"\n… {plural(shown.contained_total - len(shown.contained), 'more contained pair')} "
                         "not shown; --max-groups 0 shows all\n"))


def _boilerplate(out: TextIO, st: Style, result: ScanResult, limit: Optional[int], options: TextOptions) -> None:
    """Paragraph texts repeated across many documents (site furniture): each once, with
    where it first occurs and how widely it recurs."""
    items = sorted(result.boilerplate, key=lambda b: -b.documents)
    if not items:
        return
    title = f"Boilerplate: {plural(len(items), 'paragraph text')} repeated across many documents"
    out.write(f"\n{st.bold(title)}\n{'=' * len(title)}\n")
    shown = items if limit is None else items[:limit]
    width = max(20, options.width - 6)
    for b in shown:
        text = printable(" ".join(b.text.split()))
        text = text if width_of(text) <= width else cut_to_width(text, width - 1) + "…"
        out.write(f"\n  in {plural(b.documents, 'document')} ({plural(b.copies, 'copy', 'copies')}), "
                  f"first {_where(b.canonical)}\n    {st.dim(text)}\n")
    if len(shown) < len(items):
        out.write(st.dim(f"\n… {plural(len(items) - len(shown), 'more boilerplate text')} not shown; "
                         "--max-groups 0 shows all\n"))


def side_by_side(out: TextIO, st: Style, pair: Pair, options: TextOptions) -> None:
    col = max(20, (options.width - 7) // 2)
    win = window(options.passages.text(pair.a, "a"), options.passages.text(pair.b, "b"),
                 words=col * PASSAGE_LINES // 6, at_match=pair.relation == "contained")
    places = "the same words" if not win.hunks else plural(win.hunks, "differing place")
    out.write(f"  {_where(pair.a)}  vs  {_where(pair.b)}: {_scores(st, pair)}, {places}\n")
    left, right = _wrap(st, win.left, "a", col), _wrap(st, win.right, "b", col)
    for i in range(max(len(left), len(right))):
        a, wa = left[i] if i < len(left) else ("", 0)
        b, _ = right[i] if i < len(right) else ("", 0)
        out.write(f"    {a}{' ' * (col - wa)} │ {b}\n")


def _wrap(st: Style, side: Side, name: str, col: int) -> list[tuple[str, int]]:
    """Lines of at most ``col`` columns (``(styled text, visible width)``), at most
    :data:`PASSAGE_LINES`, with ``…`` where units were left out; consecutive differing
    units are highlighted as one run.  Columns are display width (:func:`width_of`): a
    Chinese character takes two.  A line may break between any two Chinese or Japanese
    characters, but not inside a Thai, Lao, Khmer or Myanmar word (tester F2 of session
    22: lines broke mid-syllable): there the run of graphemes between spaces goes to the
    next line whole, unless it alone is wider than a line."""
    units = ([("…", False, False)] * side.head + list(zip(side.words, side.changed, side.joined))
             + [("…", False, False)] * side.tail)
    lines: list[list[tuple[str, bool, bool]]] = [[]]
    for word, changed, joined in units:
        word = printable(word)
        if width_of(word) > col - 4:
            word = cut_to_width(word, col - 5) + "…"
        if lines[-1] and _render(st, lines[-1] + [(word, changed, joined)], name)[1] > col:
            if len(lines) == PASSAGE_LINES:
                if _render(st, lines[-1] + [("…", False, False)], name)[1] <= col:
                    lines[-1].append(("…", False, False))
                break
            carried = _unbroken_tail(lines[-1]) if joined and breaks_by_dictionary(word) else []
            if carried and _render(st, carried + [(word, changed, joined)], name)[1] > col:
                carried = []  # a word longer than a line breaks where it must
            del lines[-1][len(lines[-1]) - len(carried):]
            lines.append(carried)
        lines[-1].append((word, changed, joined))
    return [_render(st, line, name) for line in lines]


def _unbroken_tail(line: list[tuple[str, bool, bool]]) -> list[tuple[str, bool, bool]]:
    """The units at the end of ``line`` joined to each other without a space, from the
    last one that follows a space; none when only the head's ``…`` is before them."""
    i = len(line) - 1
    while i > 0 and line[i][2]:
        i -= 1
    return line[i:] if any(word != "…" for word, _, _ in line[:i]) else []


def cut_to_width(text: str, columns: int) -> str:
    """The longest start of ``text`` that takes at most ``columns`` columns."""
    used = 0
    for i, c in enumerate(text):
        used += width_of(c)
        if used > columns:
            return text[:i]
    return text


def _render(st: Style, line: list[tuple[str, bool, bool]], name: str) -> tuple[str, int]:
    """A line of units ``(text, changed, joined)``, styled, and its visible width: a
    space between units unless the second is joined to the first (the characters of a
    Chinese word), never inside a highlighted run's markers at its ends."""
    runs: list[tuple[str, bool, str]] = []  # (text, changed, separator before it)
    for i, (word, changed, joined) in enumerate(line):
        sep = "" if joined or i == 0 else " "
        if runs and runs[-1][1] == changed:
            runs[-1] = (runs[-1][0] + sep + word, changed, runs[-1][2])
        else:
            runs.append((word, changed, sep))
    text = "".join(sep + (st.changed(t, name) if c else t) for t, c, sep in runs)
    plain = "".join(sep + (Style(False).changed(t, name) if c and not st.color else t) for t, c, sep in runs)
    return text, width_of(plain)


def errors_section(out: TextIO, st: Style, result: ScanResult, verb: str,
                   options: TextOptions = TextOptions()) -> None:
    """The files and records that could not be read, one line each (file, cause) under
    their count -- of errors: one may be a file, a record or a whole folder (new user's
    N26 of session 17: "Could not read 1 document" for a file that held none); at most
    :data:`LINES_LISTED` (all with ``--max-groups 0``)."""
    if result.errors:
        total, shown = error_count(result.errors), _first(result.errors, options)
        head = f"{verb} ({plural(total, 'error')}):"
        out.write(f"\n{st.bold(head)}\n")
        _listed(out, st, [f"{short_name(e.path)}: {printable(e.error)}" for e in shown],
                total, "error", error_count(shown), "listed or counted in the JSON report")


def warnings_section(out: TextIO, st: Style, result: ScanResult, options: TextOptions = TextOptions()) -> None:
    """The run's warnings (``result.warnings``, a scan's or a check's), one line each
    under their count, path first where there is one; nothing when there are none; at
    most :data:`LINES_LISTED` (all with ``--max-groups 0``)."""
    warnings = getattr(result, "warnings", None) or ()
    if warnings:
        out.write(f"\n{st.bold(plural(len(warnings), 'warning') + ':')}\n")
        lines = []
        for w in _first(warnings, options):
            path, message = warning_text(w)
            lines.append(f"{short_name(path) + ': ' if path else ''}{printable(message)}")
        _listed(out, st, lines, len(warnings), "warning")


def _first(items: Sequence, options: TextOptions) -> Sequence:
    return items if options.max_groups == 0 else items[:LINES_LISTED]


def _listed(out: TextIO, st: Style, lines: list[str], total: int, what: str, said: Optional[int] = None,
            where: str = "the JSON report lists every one") -> None:
    """``lines``, then how many of ``total`` they leave unsaid (``said``: how many they
    say, default one each; a read error's line may count several, see
    :attr:`~dedup.readers.ReadError.count`)."""
    for line in lines:
        out.write(f"  {line}\n")
    said = len(lines) if said is None else said
    if total > said:
        out.write(st.dim(f"  … and {plural(total - said, 'more ' + what)} ({where}; "
                         "--max-groups 0 lists them here)\n"))


def _bytes(n: int) -> str:
    """A byte count, exact, and from 1 MiB on also rounded (``12,345,678 bytes ≈ 11.8 MiB``)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= size:
            return f"{n:,} bytes ≈ {n / size:.1f} {unit}"
    return plural(n, "byte")


def _summary(out: TextIO, st: Style, summary: Summary, settings: dict, warnings: int = 0) -> None:
    out.write(f"\n{st.bold('Summary')}\n")
    read = f"{plural(summary.files, 'file')}, {plural(summary.documents, 'document')}, " \
           f"{plural(summary.paragraphs, 'paragraph')}"
    if summary.total_bytes is not None:
        read += f" ({_bytes(summary.total_bytes)})"
    out.write(f"  read:     {read}; {plural(summary.errors, 'error')}"
              + (f", {plural(warnings, 'warning')}" if warnings else "") + "\n")
    if not summary.documents:
        out.write("  found:    nothing to compare: no document was read\n")
        return
    repeated = ""
    if summary.duplicated_bytes is not None:
        share = f", {summary.share:.1f} % of the text" if summary.share is not None else ""
        repeated = f" ({_bytes(summary.duplicated_bytes)} duplicated{share})"
    boiler = ""
    if summary.boilerplate_copies:
        boiler = (", all copies of boilerplate" if summary.boilerplate_copies == summary.duplicate_paragraphs
                  else f", {summary.boilerplate_copies:,} of them copies of boilerplate")
    out.write(f"  found:    {plural(summary.duplicate_documents, 'duplicate document')}, "
              f"{plural(summary.duplicate_paragraphs, 'duplicate paragraph')}{boiler}{repeated}, "
              f"{plural(summary.pairs, 'pair')}"
              + (f" ({summary.contained:,} contained)" if summary.contained else "")
              + (f", {plural(summary.boilerplate, 'boilerplate text')}" if summary.boilerplate else "") + "\n")
    if not summary.pairs:
        # Pairs make the findings (and exit status 1); without any, what a group holds
        # is boilerplate: expected repetition, named as such, not "no duplicates".
        out.write("  Only boilerplate repeats (expected repetition, not a finding).\n" if summary.duplicate_paragraphs
                  else "  No duplicates found.\n")
        return
    thresholds = sorted({settings.get("threshold"), settings.get("doc_threshold")} - {None})
    out.write(f"  similarity 0 ▕{st.score(sparkline(summary.histogram))}▏ 1\n")
    marks = [" "] * BINS
    for t in thresholds:
        marks[min(BINS - 1, int(t * BINS))] = "^"
    out.write(f"               {''.join(marks)}  threshold {' / '.join(str(t) for t in thresholds)}\n")
