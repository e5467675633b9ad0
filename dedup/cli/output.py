"""Where a command's report goes and what it says on stderr: ``-o`` (and the format
its extension names), ``-q`` / ``-v``, colour and progress, read errors, and library
warnings -- said when they come and kept for the report (:func:`library_warnings`).
Every command that writes a report pairs :func:`report_options` with :func:`build_output`.
What such a command must not read or write over (its report, recorded reports, an
index's files) is in :mod:`.left_out`.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, TextIO

import click

from ..progress import Progress
from ..remote import is_remote
from ..readers import ReadError, ReadWarning, error_count
from ..report import FORMATS, TextOptions
from ..report.output import (COLOR_MODES, check_writable, compression, progress_for, report_file, terminal_width,
                             use_color)
from ..report.passages import Passages
from ..report.written import record
from ..report.safety import printable, short_name, warning_text
from ..sources import Selection
from .failures import EXIT_ERROR, checkpoint
from .left_out import LeftOut, refuse_input

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
    nothing, and the browser showed it as one line: session 14's new-user check) -- the
    extension under a compressed suffix (``report.json.gz``: JSON, written gzipped) --
    else text."""
    if fmt is not None:
        return fmt
    if output in (None, "-"):
        return "text"
    inner = os.path.basename(output)
    for _ in compression(output):  # report.json.gz: JSON, compressed (dedup.report.output.report_file)
        inner = os.path.splitext(inner)[0]
    named = FORMAT_BY_SUFFIX.get(os.path.splitext(inner)[1].lower())
    return named if named in formats else "text"


def format_from_output(func: Callable, formats: Sequence[str]) -> Callable:
    """``func`` with its ``fmt`` argument resolved by :func:`report_format`."""

    @functools.wraps(func)
    def resolved(*args, **kwargs):
        kwargs["fmt"] = report_format(kwargs.get("fmt"), kwargs.get("output"), formats)
        return func(*args, **kwargs)

    return resolved


def said_options(quiet: str) -> Callable[[Callable], Callable]:
    """``-q`` (its help: ``quiet``) and ``-v``: what a command says on stderr (pair with
    :func:`build_output`).  Every command that reads or opens something takes them
    (``index list`` and ``export`` refused ``-q``: s23 audit of #12)."""

    def options(func: Callable) -> Callable:
        func = click.option("-v", "--verbose", is_flag=True,
                            help="Also say on stderr what was done, and how long it took.")(func)
        return click.option("-q", "--quiet", is_flag=True, help=quiet)(func)

    return options


def report_options(func: Callable) -> Callable:
    """Where the report goes and what else is said (pair with :func:`build_output`)."""
    options = [
        click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True),
                     help="Write the report to FILE (atomically: a temporary file renamed at the end) "
                          "instead of stdout."),
        said_options("No progress; read errors and warnings only counted on stderr (they stay in the report)."),
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
    #: Where written reports are recorded (:mod:`dedup.report.written`; ``None``: the default cache folder).
    records: Optional[str] = None
    #: The one path a scan named, as given, when its reports name files relative to it
    #: (:meth:`shown`); ``None``: names are said as they are.
    root: Optional[str] = None

    def named_under(self, paths: Sequence) -> None:
        """A scan (or clean) of ``paths`` names the files of a single local root
        relative to it (``bad/blob.txt`` is ``blob.txt`` in the report); stderr says
        them as the shell sees them (:meth:`shown`)."""
        one = paths[0] if len(paths) == 1 else None
        if isinstance(one, (str, os.PathLike)) and os.fspath(one) != "-" and not is_remote(os.fspath(one)):
            self.root = os.fspath(one)

    def shown(self, name: str) -> str:
        """``name`` (of a file, or ``FILE#ID`` / ``FILE:LINE`` of a record, as reports
        name it) as the shell sees it: under the one folder scanned, or the file named
        by its path -- new user's N13 of session 18: ``dedup scan bad/`` said
        ``dedup: blob.txt: ...``, which a copy-paste cannot find in a deep tree."""
        root = self.root
        if root is None or not name:
            return name
        if os.path.isdir(root):
            if name == ".":  # the folder itself could not be listed
                return root
            return name if root in (".", "./") else root.rstrip("/") + "/" + name
        base = os.path.basename(root)
        if base != root and (name == base or (name.startswith(base) and name[len(base)] in "#:@")):
            return root + name[len(base):]
        return name

    def progress(self) -> Progress:
        return progress_for(sys.stderr, self.quiet)

    def write(self, render: Callable[[TextIO, TextOptions], None], passages: Passages) -> None:
        """Render the report into stdout or the ``-o`` file -- unless a signal came whose
        interrupt was swallowed on its way (raised here: :func:`dedup.cli.failures.checkpoint`)."""
        checkpoint()
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
            written = getattr(out, "xxh3", None)  # its digest, taken as it was written
        except BrokenPipeError:
            raise  # the reader of stdout went away (dedup.cli.failures.broken_pipe)
        except OSError as err:
            if not to_stdout and err.filename != self.path:
                raise
            where = "stdout" if to_stdout else printable(repr(self.path))
            click.echo(f"dedup: cannot write the report to {where}: {err.strerror or err}", err=True)
            sys.exit(EXIT_ERROR)
        if not to_stdout:
            # so that no later scan reads it as a document (LeftOut)
            record(self.path, self.records, written.hexdigest() if written is not None else None)
            self.info(f"report written to {self.path}")

    def info(self, message: str) -> None:
        """A line on stderr with ``--verbose``."""
        if self.verbose:
            click.echo(f"dedup: {message}", err=True)

    def errors(self, errors: Sequence[ReadError], what: str = "could not be read",
               listed: str = "listed in the report", noun: tuple[str, str] = ("document", "documents")) -> None:
        """Every read error on stderr, naming the file and the cause (``--quiet``: their
        number only, as ``noun`` (singular, plural), and ``listed``: where they are)."""
        if self.quiet and errors:
            n = error_count(errors)
            click.echo(f"dedup: {n} {noun[n != 1]} {what} ({listed})", err=True)
            return
        for e in errors:
            click.echo(f"dedup: {short_name(self.shown(e.path))}: {printable(e.error)}", err=True)

    def warnings(self, warnings: Sequence, said: Sequence = (), listed: str = "listed in the report") -> None:
        """Every warning on stderr but those ``said`` already (library warnings, said
        when they came: :func:`library_warning`); ``--quiet``: their number only, and
        ``listed``: where they are."""
        if self.quiet and warnings:
            click.echo(f"dedup: {len(warnings)} warning{'s' * (len(warnings) != 1)} ({listed})", err=True)
            return
        done = {id(w) for w in said}
        for w in (w for w in warnings if id(w) not in done):
            path, message = warning_text(w)
            where = short_name(self.shown(path)) + ": " if path else ""
            click.echo(f"dedup: warning: {where}{printable(message)}", err=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def build_output(inputs: Sequence[str] = (), selection: Selection = Selection(), records: Optional[str] = None,
                 **given) -> Output:
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
        refuse_input(path, inputs, selection, "the report", given.get("text_field") or "text", records)
        try:
            check_writable(path)
        except OSError as err:
            click.echo(f"dedup: cannot write the report to {printable(repr(path))}: {err.strerror}", err=True)
            sys.exit(EXIT_ERROR)
    return Output(path, quiet, bool(given.get("verbose")),
                  given.get("color") or "auto", given.get("max_groups"), records=records)


def report_and_inputs(paths: Sequence, selection: Selection, records: Optional[str] = None,
                      **given) -> tuple[Output, "LeftOut", Selection]:
    """What every command that reads PATHS and writes a report sets up: its
    :class:`Output` (:func:`build_output`), what its walk leaves out (:class:`LeftOut`:
    its ``-o`` file, the reports recorded in ``records``, default the cache folder)
    and ``selection`` leaving those out.  The command puts ``left_out.warnings()``
    first among its report's warnings."""
    output = build_output(paths, selection, records, **given)
    left_out = LeftOut(output.path, paths, records)
    return output, left_out, left_out.selection(selection)


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
    texts = ctx.meta.get(_LIBRARY, []) if ctx is not None else []
    # a warning that names the index already (Index.open's) is not named twice
    return [ReadWarning(about, text.removeprefix(f"{about}: ") if about else text) for text in texts]
