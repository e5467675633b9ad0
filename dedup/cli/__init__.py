"""The ``dedup`` command line: a thin layer over the library.

Each command parses options into the same objects a Python caller would build
(:class:`~dedup.settings.Settings`, :class:`~dedup.sources.Selection`), calls one library
function and hands the result to :mod:`dedup.report`.  Exit codes are for CI jobs:
0 no duplicates, 1 duplicates found, 2 usage error, nothing could be read or an
unexpected error (one line on stderr; ``dedup --debug`` adds the traceback), 130 Ctrl-C,
141 stdout's reader went away (``| head``), 143 SIGTERM (``--exit-zero`` turns 1 into 0); see :mod:`dedup.cli.failures`.

Where a report goes and what is said on stderr (``-o``, ``-q``, warnings) is
:mod:`.output`.  One module per group of commands: ``scan`` (scan, explain) and ``index`` (check, and
the ``index add|stats|remove`` group over a persistent index); each registers itself on
:func:`main` when imported at the bottom of this file.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence

import click

from ..readers import STDIN_FORMATS, ReadOptions, error_count
from ..remote import expand, is_remote
from ..report import FORMATS, write_report
from ..report.parquet import write_parquet
from ..report.passages import Passages
from ..report.safety import printable, printable_name
from ..report.written import record
from ..results import FilesRead, ScanResult
from ..settings import Settings
from ..sources import Selection
from . import failures
from .output import (  # noqa: F401 (the commands import these from here)
    FORMAT_BY_SUFFIX,
    Output,
    build_output,
    format_from_output,
    library_warning,
    library_warnings,
    report_and_inputs,
    report_options,
)

EXIT_CLEAN, EXIT_DUPLICATES, EXIT_ERROR = 0, 1, 2
_DEFAULTS = Settings()
_READ_DEFAULTS = ReadOptions()


def settings_options(func: Callable) -> Callable:
    """The detection options shared by every command that compares text."""
    options = [
        click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=None,
                     help=f"Verified Jaccard at which paragraphs are duplicates [default: {_DEFAULTS.threshold}]."),
        click.option("--doc-threshold", type=click.FloatRange(0, 1, min_open=True), default=None,
                     help=f"Verified Jaccard at which documents are duplicates [default: {_DEFAULTS.doc_threshold}]."),
        click.option("--unit", type=click.Choice(["word", "char"]), default=None,
                     help=f"Shingle unit [default: {_DEFAULTS.unit}]."),
        click.option("--ngram", type=click.IntRange(1, 64), default=None,
                     help=f"Shingle size in units [default: {_DEFAULTS.ngram}]."),
        click.option("--num-perm", type=click.IntRange(16, 1024), default=None,
                     help=f"MinHash permutations [default: {_DEFAULTS.num_perm}]."),
        click.option("--bands", type=click.IntRange(1, 1024), default=None,
                     help="LSH bands [default: derived from the threshold; `dedup explain` shows them]."),
        click.option("--rows", type=click.IntRange(1, 1024), default=None,
                     help="LSH rows per band [default: derived from the threshold, as --bands]."),
        click.option("--min-tokens", "--min-words", "min_tokens", type=click.IntRange(1), default=None,
                     help="Texts of fewer tokens (words; characters of scripts written without spaces) "
                          f"are matched only as exact copies [default: {_DEFAULTS.min_tokens}]. "
                          "--min-words is the old name."),
        click.option("--containment", type=OffOr(click.FloatRange(0, 1, min_open=True), 0.0), default=None,
                     help="Also report a text at least this much inside a longer one (relation "
                          f"'contained'), or 'off' [default: {_DEFAULTS.containment}]."),
        click.option("--boilerplate", type=OffOr(click.IntRange(1), 0), default=None,
                     help="A paragraph in at least N documents (and 0.1% of them) is boilerplate: reported "
                          f"once, left out of document similarity; or 'off' [default: {_DEFAULTS.boilerplate}]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: The options of :func:`settings_options`, as ``Settings`` field names.
SETTING_KEYS = ("threshold", "doc_threshold", "unit", "ngram", "num_perm", "bands", "rows", "min_tokens", "containment", "boilerplate")


def build_settings(*, warn: bool = True, **given) -> Settings:
    """The settings the options ask for; with ``warn``, a warning on stderr if their LSH
    bands would miss most pairs at the threshold (:meth:`Settings.lsh_warning`) --
    ``False`` where the settings go to :meth:`Index.open`, which warns of it itself,
    naming the index."""
    changes = {k: given.get(k) for k in SETTING_KEYS}
    try:
        settings = _DEFAULTS.with_changes(**changes)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    weak = settings.lsh_warning() if warn else None
    if weak:
        click.echo(f"dedup: warning: {weak}", err=True)
    return settings


class OffOr(click.ParamType):
    """A value of ``inner``'s type, or ``off`` (which stands for ``off_value``)."""

    def __init__(self, inner: click.ParamType, off_value) -> None:
        self.inner, self.off_value = inner, off_value
        self.name = f"{inner.name}|off"

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value.strip().lower() == "off":
            return self.off_value
        return self.inner.convert(value, param, ctx)


class ByteSize(click.ParamType):
    """A size in bytes, with an optional K, M or G suffix (powers of 1024)."""

    name = "size"
    _UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        number, unit = (text[:-1], text[-1]) if text[-1:] in self._UNITS else (text, "")
        try:
            size = int(float(number) * self._UNITS[unit])
        except ValueError:
            self.fail(f"{value!r} is not a size such as 500M or 2G", param, ctx)
        if size < 1:
            self.fail("the size must be at least 1 byte", param, ctx)
        return size


def scratch_parent(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """Callback of ``--tmp-dir``: an existing folder that can hold a fresh scratch
    folder (one probe folder made and removed in it); else one line on stderr and exit
    2 -- tester's F9 (session 18): ``--tmp-dir /proc/1`` was an "unexpected error:
    FileNotFoundError".  A folder that does not exist is refused, not made (new user's
    M1 of session 18: ``--tmp-dir /nonexistent/x`` was made): a typo, or the mount
    point of a scratch disk that is not mounted, would put gigabytes of intermediate
    files on whatever filesystem holds that path -- as ``dedup index add --tmp-dir``
    refuses it."""
    if value is None:
        return None
    why = ""
    if not os.path.isdir(value):
        try:
            os.stat(value)
            why = os.strerror(errno.ENOTDIR)
        except OSError as err:  # missing (not made: make it first), a file on the way, permission
            why = f"{err.strerror}{' (it is not made: make the folder first)' * (err.errno == errno.ENOENT)}"
    else:
        try:
            os.rmdir(tempfile.mkdtemp(prefix="dedup-probe-", dir=value))
        except OSError as err:
            why = err.strerror or str(err)
    if why:
        click.echo(f"dedup: cannot make a scratch folder in {printable(repr(value))} (--tmp-dir): {why}", err=True)
        ctx.exit(EXIT_ERROR)
    return value


def read_options(func: Optional[Callable] = None, *, stdin: bool = True) -> Callable:
    """The input-format options shared by every command that reads documents
    (pair with :func:`build_read_options`); ``stdin=False``: without ``--stdin-format``,
    for a command that reads no stdin (``dedup clean``: new user's N12 of session 17)."""
    if func is None:
        return functools.partial(read_options, stdin=stdin)
    options = [
        click.option("--text-field", default=_READ_DEFAULTS.text_field, show_default=True,
                     help="JSON/JSON Lines: the record field holding the document's text."),
        click.option("--id-field", default=_READ_DEFAULTS.id_field, show_default=True,
                     help="JSON/JSON Lines: the record field naming it (reports say FILE#ID; "
                          "without the field, FILE:LINE)."),
        *([click.option("--stdin-format", type=click.Choice(list(STDIN_FORMATS)),
                        default=_READ_DEFAULTS.stdin_format, show_default=True,
                        help="How to read stdin, given as the path -.")] if stdin else []),
        click.option("--encoding", metavar="CODEC", default=None,
                     help="Read text, Markdown and HTML files that are not UTF-8 (and have no byte-order "
                          "mark) in this encoding, such as cp1251, gb18030 or shift_jis [default: none: "
                          "such a file is a read error]. JSON is always UTF-8."),
        click.option("--max-decompressed", type=ByteSize(), default="1G", show_default=True,
                     help="Largest size a compressed file may decompress to (K/M/G suffixes); "
                          "larger ones are reported and skipped."),
        click.option("--max-document-size", "max_document", type=ByteSize(), default="16M", show_default=True,
                     help="Largest file read whole (text, HTML, Markdown, a JSON array; after "
                          "decompression) and largest JSON Lines record; larger ones are reported "
                          "and skipped. Memory per file: ~30x this for prose (16M of prose paragraphs: 440 MB measured), "
                          "far more for very many short lines (README: Memory per file)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_read_options(**given) -> ReadOptions:
    """The :class:`ReadOptions` for the values of :func:`read_options`' options."""
    keys = ("text_field", "id_field", "stdin_format", "max_decompressed", "max_document", "encoding")
    try:
        return ReadOptions(**{k: given[k] for k in keys if given.get(k) is not None})
    except ValueError as err:
        raise click.UsageError(str(err)) from None


def input_options(func: Optional[Callable] = None, *, formats: Sequence[str] = FORMATS) -> Callable:
    """PATHS and the options that choose files and the report, shared by every command
    that reads documents (pair with :func:`build_selection` and :func:`finish`); as
    ``@input_options(formats=...)``, with more report formats than :data:`FORMATS`."""
    if func is None:
        return lambda f: input_options(f, formats=formats)
    func = format_from_output(func, formats)
    options = [
        click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True),
                       callback=_paths_exist),
        click.option("--format", "fmt", type=click.Choice(formats), default=None,
                     help="Report format [default: the -o FILE's by its extension ("
                          + ", ".join(f"{suffix} {name}" for suffix, name in FORMAT_BY_SUFFIX.items() if name in formats)
                          + "), else text]."),
        click.option("--include", multiple=True, metavar="GLOB",
                     help="Only files whose relative path or name matches (repeatable)."),
        click.option("--exclude", multiple=True, metavar="GLOB",
                     help="Skip files and folders whose relative path or name matches (repeatable)."),
        click.option("--hidden", is_flag=True, help="Also read hidden files and folders (never .git)."),
        click.option("--exit-zero", is_flag=True, help="Exit 0 even when duplicates are found."),
    ]
    for option in reversed(options):
        func = option(func)
    return report_options(read_options(settings_options(func)))


def _paths_exist(ctx: click.Context, param: click.Parameter, paths: Sequence[str]) -> Sequence[str]:
    """A path that does not exist is a usage error; a broken link *does* exist (it is
    listed among the read errors, as inside a folder)."""
    for path in paths:
        if is_remote(path):  # an fsspec URL or glob (dedup.remote)
            try:
                expand(path)
            except OSError as err:
                raise click.BadParameter(f"{path!r}: {err.strerror}.", ctx, param) from None
            except ValueError as err:
                raise click.BadParameter(f"{err}.", ctx, param) from None
        elif path != "-" and not os.path.lexists(path):
            raise click.BadParameter(f"Path {path!r} does not exist.", ctx, param)
    return paths


def build_selection(include: Sequence[str], exclude: Sequence[str], hidden: bool) -> Selection:
    return Selection(include=tuple(include), exclude=tuple(exclude), hidden=hidden)


class _Hinting(click.Group):
    """A command group whose "No such command" names the command of that name in
    another group (``dedup index check`` -> ``Did you mean 'dedup check'?``, ``dedup add``
    -> ``'dedup index add'``); click's own guess (a close spelling in this group) else."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            root = ctx.find_root()
            here = ctx.command_path.split()[1:]
            elsewhere = [" ".join([root.info_name or "dedup", *path]) for path in _command_paths(root.command)
                         if path[-1] == args[0] and path[:-1] != here]
            if not elsewhere:
                raise
            raise click.UsageError(f"No such command {args[0]!r}. Did you mean "
                                   f"{' or '.join(repr(e) for e in elsewhere)}?", ctx) from err


def _command_paths(group: click.Group, above: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's path of names under ``group`` (``("index", "add")``)."""
    paths = []
    for name, command in group.commands.items():
        paths.append((*above, name))
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*above, name)))
    return paths


class _Commands(_Hinting):
    """The command group, ending every command as :mod:`dedup.cli.failures` says:
    exit 2 with one line on an unexpected error, 130/143 on SIGINT/SIGTERM."""

    group_class = _Hinting

    def main(self, *args, **kwargs):
        """click's ``main``; a usage or error message that click cannot write because the
        reader of stderr went away (``dedup scan x --fromat y 2>&1 | true``) ends like
        any broken pipe, 141 and quietly -- click let the ``BrokenPipeError`` escape, and
        Python's exit status for an uncaught exception is 1, "duplicates found"."""
        try:
            return super().main(*args, **kwargs)
        except BrokenPipeError:
            failures.broken_pipe(stderr=True)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """click's ``parse_args``; ``dedup --help`` or ``--version`` to a reader that went
        away ends with 141 (click's own handling of that pipe exits 1)."""
        try:
            return super().parse_args(ctx, args)
        except BrokenPipeError:
            failures.broken_pipe()

    def invoke(self, ctx: click.Context):
        debug = bool(ctx.params.get("debug"))
        if debug:  # e.g. the traceback of a reader's failure, reported as a read error
            logging.basicConfig(format="dedup: %(name)s: %(message)s")
            logging.getLogger("dedup").setLevel(logging.DEBUG)
        if sys.stdout is None:  # started with stdout closed (`dedup ... >&-`)
            sys.stdout = failures.ClosedStdout()
        with failures.signals_raise(), warnings.catch_warnings():
            warnings.showwarning = library_warning
            try:
                outcome = super().invoke(ctx)
            except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
                failures.settle(debug)  # unless a signal came whose exception was swallowed
                raise
            except BrokenPipeError:
                failures.ending()
                failures.broken_pipe()
            except failures.StdoutClosed:
                failures.ending()
                failures.stdout_closed()
            except (KeyboardInterrupt, failures.Terminated) as err:
                failures.ending()
                failures.interrupted(failures.exit_code_for_signal() or 130, debug, err)
            except Exception as err:
                failures.ending()
                failures.fail_unexpected(err, debug)
            failures.settle(debug)
            return outcome


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dedup")
@click.option("--debug", is_flag=True, envvar="DEDUP_DEBUG",
              help="Print the traceback of an unexpected error (env DEDUP_DEBUG=1).")
def main(debug: bool) -> None:
    """Find repeated and lightly rewritten paragraphs and documents.

    Exit status: 0 nothing found, 1 duplicates found, 2 usage error, nothing could be
    read or an unexpected error, 130 interrupted (Ctrl-C), 141 the reader of the output
    went away (``| head``; no message), 143 terminated (SIGTERM).
    """


def finish(result: ScanResult, fmt: str, exit_zero: bool, output: Output, passages: Passages) -> None:
    """Write the report, say on stderr what could not be read, and exit with the
    CI-facing code: 0 clean, 1 duplicates found, 2 nothing could be read."""
    said = library_warnings()
    result.warnings = [*result.warnings, *said]
    if fmt == "parquet":  # a folder of tables, not a stream (dedup.report.parquet)
        failures.checkpoint()  # as Output.write does
        write_parquet(result, output.path)
        record(output.path, output.records)  # its files are no later scan's documents (LeftOut)
        output.info(f"report written to {output.path}")
    else:
        output.write(lambda out, options: write_report(result, fmt, out, options), passages)
    output.errors(result.errors)
    output.warnings(result.warnings, said)
    output.info(f"{len(result.documents)} documents, {sum(d.paragraphs for d in result.documents)} paragraphs: "
                f"{len(result.pairs)} pairs in {len(result.groups)} groups, {error_count(result.errors)} errors, "
                f"{output.elapsed():.1f} s")
    read_any, had_errors = bool(result.documents), bool(result.errors)
    exit_for(read_any, had_errors, result.has_duplicates, exit_zero, result.files)


def exit_for(read_any: bool, had_errors: bool, duplicates: bool, exit_zero: bool,
             files: Optional[FilesRead] = None) -> None:
    """Exit: 2 when nothing was read (saying why: ``files``, the files read, held no
    document, e.g. an empty JSON Lines file), else 1 for duplicates (unless
    ``--exit-zero``), else 0."""
    if not read_any:
        if had_errors:
            why = "no document could be read"
        elif files is not None and files.count == 1:
            why = f"no document in {printable_name(files.first)} (read: it holds no record)"
        elif files is not None and files.count:
            why = f"{files.count} files read, no document in them (they hold no record)"
        else:
            why = "no file found (check the paths, --include and --exclude)"
        click.echo(f"dedup: {why}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_DUPLICATES if duplicates and not exit_zero else EXIT_CLEAN)


from . import scan  # noqa: E402,F401  (registers the commands)
from . import index  # noqa: E402,F401
from . import collection  # noqa: E402,F401
from . import clean  # noqa: E402,F401
