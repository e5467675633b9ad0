"""The ``dedup`` command line: a thin layer over the library.

Each command parses options into the same objects a Python caller would build
(:class:`~dedup.settings.Settings`, :class:`~dedup.sources.Selection`), calls one library
function and hands the result to :mod:`dedup.report`.  Exit codes are for CI jobs:
0 no duplicates, 1 duplicates found, 2 usage error or nothing could be read
(``--exit-zero`` turns 1 into 0).

One module per group of commands: ``scan`` (scan, explain) and ``index`` (check, and
the ``index add|stats|remove`` group over a persistent index); each registers itself on
:func:`main` when imported at the bottom of this file.
"""

from __future__ import annotations

import io
import sys
from typing import Callable, Sequence

import click

from ..readers import STDIN_FORMATS, ReadOptions
from ..report import FORMATS, write_report
from ..results import ScanResult
from ..settings import Settings
from ..sources import Selection

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
                     help="LSH bands [default: derived from the threshold; see `dedup explain`]."),
        click.option("--rows", type=click.IntRange(1, 1024), default=None, help="LSH rows per band."),
        click.option("--min-words", type=click.IntRange(1), default=None,
                     help=f"Shorter paragraphs are not compared at paragraph level [default: {_DEFAULTS.min_words}]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: The options of :func:`settings_options`, as ``Settings`` field names.
SETTING_KEYS = ("threshold", "doc_threshold", "unit", "ngram", "num_perm", "bands", "rows", "min_words")


def build_settings(**given) -> Settings:
    changes = {k: given.get(k) for k in SETTING_KEYS}
    try:
        return _DEFAULTS.with_changes(**changes)
    except ValueError as err:
        raise click.UsageError(str(err)) from None


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


def read_options(func: Callable) -> Callable:
    """The input-format options shared by every command that reads documents
    (pair with :func:`build_read_options`)."""
    options = [
        click.option("--text-field", default=_READ_DEFAULTS.text_field, show_default=True,
                     help="JSON/JSON Lines: the record field holding the document's text."),
        click.option("--id-field", default=_READ_DEFAULTS.id_field, show_default=True,
                     help="JSON/JSON Lines: the record field naming it (reports say FILE#ID; "
                          "without the field, FILE#LINE)."),
        click.option("--stdin-format", type=click.Choice(list(STDIN_FORMATS)),
                     default=_READ_DEFAULTS.stdin_format, show_default=True,
                     help="How to read stdin, given as the path -."),
        click.option("--max-decompressed", type=ByteSize(), default="1G", show_default=True,
                     help="Largest size a compressed file may decompress to (K/M/G suffixes); "
                          "larger ones are reported and skipped."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_read_options(**given) -> ReadOptions:
    """The :class:`ReadOptions` for the values of :func:`read_options`' options."""
    keys = ("text_field", "id_field", "stdin_format", "max_decompressed")
    try:
        return ReadOptions(**{k: given[k] for k in keys if given.get(k) is not None})
    except ValueError as err:
        raise click.UsageError(str(err)) from None


def input_options(func: Callable) -> Callable:
    """PATHS and the options that choose files and the report, shared by every command
    that reads documents (pair with :func:`build_selection` and :func:`finish`)."""
    options = [
        click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True)),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                     help="Report format."),
        click.option("--include", multiple=True, metavar="GLOB",
                     help="Only files whose relative path or name matches (repeatable)."),
        click.option("--exclude", multiple=True, metavar="GLOB",
                     help="Skip files and folders whose relative path or name matches (repeatable)."),
        click.option("--hidden", is_flag=True, help="Also read hidden files and folders (never .git)."),
        click.option("--exit-zero", is_flag=True, help="Exit 0 even when duplicates are found."),
    ]
    for option in reversed(options):
        func = option(func)
    return read_options(settings_options(func))


def build_selection(include: Sequence[str], exclude: Sequence[str], hidden: bool) -> Selection:
    return Selection(include=tuple(include), exclude=tuple(exclude), hidden=hidden)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dedup")
def main() -> None:
    """Find repeated and lightly rewritten paragraphs and documents."""


def finish(result: ScanResult, fmt: str, exit_zero: bool) -> None:
    """Write the report, echo read errors to stderr and exit with the CI-facing code."""
    # Render into memory and write once: stdout may be unbuffered (PYTHONUNBUFFERED),
    # and one system call per fragment made large reports slower than the scan itself.
    buffer = io.StringIO()
    write_report(result, fmt, buffer)
    exit_with(buffer.getvalue(), result, fmt, exit_zero)


def exit_with(report: str, result: ScanResult, fmt: str, exit_zero: bool) -> None:
    """Write a rendered report, echo read errors to stderr (the text report lists them
    itself) and exit: 0 clean, 1 duplicates found, 2 nothing could be read."""
    sys.stdout.write(report)
    sys.stdout.flush()
    if fmt != "text":
        for error in result.errors:
            click.echo(f"dedup: {error.path}: {error.error}", err=True)
    if not result.documents:
        why = "no document could be read" if result.errors else "no file found (check the paths, --include and --exclude)"
        click.echo(f"dedup: {why}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_DUPLICATES if result.has_duplicates and not exit_zero else EXIT_CLEAN)


from . import scan  # noqa: E402,F401  (registers the commands)
from . import index  # noqa: E402,F401
