"""The ``dedup`` command line: a thin layer over the library.

Each command parses options into the same objects a Python caller would build
(:class:`~dedup.settings.Settings`, :class:`~dedup.sources.Selection`), calls one library
function and hands the result to :mod:`dedup.report`.  Exit codes are for CI jobs:
0 no duplicates, 1 duplicates found, 2 usage error or nothing could be read
(``--exit-zero`` turns 1 into 0).

One module per group of commands: ``scan`` (scan, explain); each registers itself on
:func:`main` when imported at the bottom of this file.
"""

from __future__ import annotations

import sys
from typing import Callable

import click

from ..report import write_report
from ..results import ScanResult
from ..settings import Settings

EXIT_CLEAN, EXIT_DUPLICATES, EXIT_ERROR = 0, 1, 2
_DEFAULTS = Settings()


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
                     help=f"Shorter paragraphs are only matched as exact copies [default: {_DEFAULTS.min_words}]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_settings(**given) -> Settings:
    keys = ("threshold", "doc_threshold", "unit", "ngram", "num_perm", "bands", "rows", "min_words")
    changes = {k: given.get(k) for k in keys}
    try:
        return _DEFAULTS.with_changes(**changes)
    except ValueError as err:
        raise click.UsageError(str(err)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dedup")
def main() -> None:
    """Find repeated and lightly rewritten paragraphs and documents."""


def finish(result: ScanResult, fmt: str, exit_zero: bool) -> None:
    """Write the report, echo read errors to stderr and exit with the CI-facing code."""
    write_report(result, fmt, sys.stdout)
    sys.stdout.flush()
    if fmt != "text":
        for error in result.errors:
            click.echo(f"dedup: {error.path}: {error.error}", err=True)
    if not result.documents:
        click.echo("dedup: no document could be read", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_DUPLICATES if result.has_duplicates and not exit_zero else EXIT_CLEAN)


from . import scan  # noqa: E402,F401  (registers the commands)
