"""Where a command's report goes and what it says on stderr: ``-o`` (and the format
its extension names), ``-q`` / ``-v``, colour and progress, read errors, and library
warnings -- said when they come and kept for the report (:func:`library_warnings`).
Every command that writes a report pairs :func:`report_options` with :func:`build_output`.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Sequence, TextIO

import click

from ..progress import Progress
from ..readers import ReadError, ReadWarning, ours
from ..report import FORMATS, TextOptions
from ..report.output import COLOR_MODES, check_writable, progress_for, report_file, terminal_width, use_color
from ..report.passages import Passages
from ..report.safety import printable, printable_name, short_name, warning_text
from ..sources import Selection, input_holding
from .failures import EXIT_ERROR

#: Where a command's ``--quiet`` is kept for :func:`library_warning` (``click.Context.meta``).
_QUIET = "dedup.quiet"
#: Where :func:`library_warning` keeps the library warnings of a command, for its report.
_LIBRARY = "dedup.library_warnings"


#: The report format an ``-o`` file's extension asks for when ``--format`` is not given.
FORMAT_BY_SUFFIX = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".html": "html",
              ".htm": "html", ".txt": "text", ".parquet": "parquet"}


def report_format(fmt: Optional[str], output: Optional[str], formats: Sequence[str] = FORMATS) -> str:
    """The report format: ``fmt`` when given, else the one the ``output`` file's
    extension names (:data:`FORMAT_BY_SUFFIX`; ``-o report.html`` wrote a text report, said
    nothing, and the browser showed it as one line: session 14's new-user check), else
    text."""
    if fmt is not None:
        return fmt
    named = FORMAT_BY_SUFFIX.get(os.path.splitext(output)[1].lower()) if output not in (None, "-") else None
    return named if named in formats else "text"


def format_from_output(func: Callable, formats: Sequence[str]) -> Callable:
    """``func`` with its ``fmt`` argument resolved by :func:`report_format`."""

    @functools.wraps(func)
    def resolved(*args, **kwargs):
        kwargs["fmt"] = report_format(kwargs.get("fmt"), kwargs.get("output"), formats)
        return func(*args, **kwargs)

    return resolved


def report_options(func: Callable) -> Callable:
    """Where the report goes and what else is said (pair with :func:`build_output`)."""
    options = [
        click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True),
                     help="Write the report to FILE (atomically: a temporary file renamed at the end) "
                          "instead of stdout."),
        click.option("-q", "--quiet", is_flag=True,
                     help="No progress; read errors and warnings only counted on stderr (they stay in the report)."),
        click.option("-v", "--verbose", is_flag=True, help="Also say on stderr what was done, and how long it took."),
        click.option("--color", type=click.Choice(COLOR_MODES), default="auto", show_default=True,
                     help="Colour the text report: auto = on a terminal unless NO_COLOR is set."),
        click.option("--max-groups", type=click.IntRange(0), default=None,
                     help="Text and HTML reports: groups shown per kind, largest first (0: all) "
                          "[default: 20 in text, 5000 in HTML]; the rest is counted (JSON, JSON Lines "
                          "and CSV always list every pair)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@dataclass
class Output:
    """The report options of a command: where the report goes, how much is said on
    stderr, colour, and progress (on stderr, only when it is a terminal)."""

    path: Optional[str] = None
    quiet: bool = False
    verbose: bool = False
    color: str = "auto"
    max_groups: Optional[int] = None
    started: float = field(default_factory=time.monotonic)

    def progress(self) -> Progress:
        return progress_for(sys.stderr, self.quiet)

    def write(self, render: Callable[[TextIO, TextOptions], None], passages: Passages) -> None:
        """Render the report into stdout or the ``-o`` file."""
        to_stdout = self.path in (None, "-")
        options = TextOptions(
            color=to_stdout and use_color(self.color, sys.stdout),
            width=terminal_width(sys.stdout) if to_stdout else 100,
            max_groups=self.max_groups,
            passages=passages,
        )
        try:
            with report_file(self.path) as out:
                render(out, options)
        except OSError as err:
            if to_stdout or err.filename != self.path:
                raise
            click.echo(f"dedup: cannot write the report to {printable(repr(self.path))}: {err.strerror}", err=True)
            sys.exit(EXIT_ERROR)
        if not to_stdout:
            self.info(f"report written to {self.path}")

    def info(self, message: str) -> None:
        """A line on stderr with ``--verbose``."""
        if self.verbose:
            click.echo(f"dedup: {message}", err=True)

    def errors(self, errors: Sequence[ReadError], what: str = "could not be read") -> None:
        """Every read error on stderr (``--quiet``: their number only)."""
        if self.quiet and errors:
            click.echo(f"dedup: {len(errors)} document{'s' * (len(errors) != 1)} {what} "
                       "(listed in the report)", err=True)
            return
        for e in errors:
            click.echo(f"dedup: {short_name(e.path)}: {printable(e.error)}", err=True)

    def warnings(self, warnings: Sequence, said: Sequence = ()) -> None:
        """Every warning on stderr but those ``said`` already (library warnings, said
        when they came: :func:`library_warning`); ``--quiet``: their number only."""
        if self.quiet and warnings:
            click.echo(f"dedup: {len(warnings)} warning{'s' * (len(warnings) != 1)} (listed in the report)", err=True)
            return
        done = {id(w) for w in said}
        for w in (w for w in warnings if id(w) not in done):
            path, message = warning_text(w)
            where = printable_name(path) + ": " if path else ""
            click.echo(f"dedup: warning: {where}{printable(message)}", err=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def build_output(inputs: Sequence[str] = (), selection: Selection = Selection(), **given) -> Output:
    """The :class:`Output` for the values of :func:`report_options`' options.  An ``-o``
    file that cannot be written, or that is one of the run's ``inputs`` (read from them
    with ``selection``: it would be written over), ends the command here, before any
    work, with exit 2 and a line naming it (:func:`~dedup.report.output.check_writable`,
    :func:`~dedup.sources.input_holding`)."""
    quiet = bool(given.get("quiet"))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[_QUIET] = quiet
    path = given.get("output")
    if path not in (None, "-"):
        refuse_input(path, inputs, selection, "the report", given.get("text_field") or "text")
        try:
            check_writable(path)
        except OSError as err:
            click.echo(f"dedup: cannot write the report to {printable(repr(path))}: {err.strerror}", err=True)
            sys.exit(EXIT_ERROR)
    return Output(path, quiet, bool(given.get("verbose")),
                  given.get("color") or "auto", given.get("max_groups"))


def refuse_input(path: str, inputs: Sequence[str], selection: Selection, what: str, text_field: str = "text") -> None:
    """Exit 2 with a line naming ``path`` if writing ``what`` there would overwrite an
    input of this run (an existing file named in ``inputs`` or read from a folder among
    them).  An earlier report of dedup's in a scanned folder is no input (the walk leaves
    it out, :mod:`dedup.readers.ours`): it is written over (``dedup scan news/ -o
    news/report.json``, run twice)."""
    root = input_holding(path, inputs, selection)
    if root is not None and os.path.isdir(root) and _is_report(path, text_field):
        return
    if root is not None:
        held = "" if os.path.abspath(root) == os.path.abspath(path) else f" (read from {printable(repr(root))})"
        click.echo(f"dedup: refusing to write {what} to {printable(repr(path))}: it is an input of this run{held}, "
                   "and would be overwritten; choose another file", err=True)
        sys.exit(EXIT_ERROR)


def _is_report(path: str, text_field: str) -> bool:
    """Whether the file at ``path`` is one of dedup's reports (false if unreadable)."""
    try:
        with open(path, "rb") as f:
            return ours.report_kind(f.read(ours.HEAD), text_field) is not None
    except OSError:
        return False


def without_output(selection: Selection, path: Optional[str]) -> Selection:
    """``selection`` leaving out the ``-o`` file ``path``, without a word: the report
    a command writes (or writes over) is never one of its inputs, even in a folder it
    reads (other reports found there are left out with a warning)."""
    if path in (None, "-"):
        return selection
    name, target, given = os.path.basename(path), {os.path.abspath(path), os.path.realpath(path)}, selection.skip

    def skip(found) -> bool:
        if os.path.basename(found) == name and {os.path.abspath(found), os.path.realpath(found)} & target:
            return True
        return given is not None and given(found)

    return replace(selection, skip=skip)


def library_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning (``warnings.warn``: a damaged bucket file, an unwritable cache)
    as one ``dedup: warning:`` line on stderr like every other diagnostic, without
    Python's source location, when it comes; nothing with ``--quiet`` (see
    :meth:`Output.warnings`).  Kept for the command's report either way
    (:func:`library_warnings`): ``-q`` silences the terminal, never the report (the
    tester found a damaged bucket file's warning in neither under ``-q``)."""
    text = str(message).strip().removeprefix("dedup: ")
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta.setdefault(_LIBRARY, []).append(text)
        if ctx.meta.get(_QUIET):
            return
    click.echo(f"dedup: warning: {printable(text)}", err=True)


def library_warnings(about: str = "") -> list[ReadWarning]:
    """The library warnings of this command so far, as report warnings whose ``path``
    is ``about`` (the index, for index commands; empty for a scan: the message names
    the file it is about, e.g. the bucket file or the cache)."""
    ctx = click.get_current_context(silent=True)
    return [ReadWarning(about, text) for text in (ctx.meta.get(_LIBRARY, []) if ctx is not None else [])]
