"""``dedup scan`` and ``dedup explain``: the batch job and its settings, explained."""

from __future__ import annotations

import errno
import importlib.util
import os
import sys
from pathlib import Path

import click

from ..cache import default_cache_dir
from ..lsh import explain as s_curve
from ..results import LEVELS
from ..plan.dask import DaskUnavailable
from ..scan import ENGINES, available_cpus
from ..scan import scan as scan_paths
from ..report import FORMATS
from ..report.output import compression
from ..report.passages import FilePassages
from ..report.safety import printable
from . import (
    EXIT_ERROR,
    build_read_options,
    build_selection,
    build_settings,
    finish,
    input_options,
    main,
    report_and_inputs,
    scratch_parent,
    settings_options,
)


#: ``dedup scan``'s report formats: every format, and a folder of Parquet tables.
SCAN_FORMATS = (*FORMATS, "parquet")


def _check_parquet_folder(folder) -> None:
    """Before scanning: --format parquet needs -o with a folder that does not exist yet
    (usage error) and pyarrow (exit 2)."""
    if folder in (None, "-"):
        raise click.UsageError("--format parquet writes a folder: name it with -o FOLDER")
    if os.path.lexists(folder):
        raise click.UsageError(f"-o {folder}: already exists (--format parquet writes a new folder)")
    if compression(folder):
        raise click.UsageError(f"-o {folder}: --format parquet writes a folder of Parquet files (compressed "
                               "inside), not a compressed file; name the folder without the suffix")
    if importlib.util.find_spec("pyarrow") is None:
        raise Unavailable("--format parquet needs pyarrow: pip install -e '.[dask]' in dedup's checkout")


class Unavailable(click.ClickException):
    """The chosen engine cannot run (exit 2: an error, never "duplicates found")."""

    exit_code = 2


@main.command()
@input_options(formats=SCAN_FORMATS)
@click.option("--level", "levels", type=click.Choice(LEVELS), multiple=True,
              help="Report only this level (repeatable) [default: both].")
@click.option("-j", "--jobs", type=click.IntRange(1), default=None,
              help="Processes that run the scan's stages (same results for any number) [default: CPUs].")
@click.option("--tmp-dir", type=click.Path(file_okay=False), default=None, callback=scratch_parent,
              help="An existing folder for the scan's intermediate files (a fresh folder inside, removed at "
                   "the end; a missing folder is refused, not made) "
                   "[default: CACHE_DIR/scratch, else the system's temporary folder].")
@click.option("--partitions", type=click.IntRange(1), default=None,
              help="Split each stage's work this many ways (same results for any number) "
                   "[default: from the corpus size].")
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
              help="Where the stages run: this machine's processes, or Dask tasks (pip install -e '.[dask]' in dedup's checkout; "
                   "same results).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="With --engine dask: the address of a running Dask scheduler (tcp://host:8786); --tmp-dir "
                   "must then be on a filesystem every worker mounts [default: a local cluster of --jobs workers].")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Keep signatures here for fast rescans; safe to delete "
                   "[default: $DEDUP_CACHE_DIR, else $XDG_CACHE_HOME/dedup, else ~/.cache/dedup].")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the signature cache (the record of "
              "the reports dedup wrote, reports-written.jsonl, is still kept in the cache folder).")
@click.option("--all-pairs", is_flag=True,
              help="Report every verified pair, not only the pairs that link each group "
                   "(same groups; slower on big clusters of variants).")
def scan(paths, fmt, levels, include, exclude, hidden, exit_zero, jobs, tmp_dir, partitions, engine, scheduler,
         cache_dir, no_cache, all_pairs, **options) -> None:
    """Report duplicate documents and paragraphs in the files under PATHS.

    Reads plain text, HTML, Markdown, JSON Lines and JSON arrays (one document per
    record, reported as FILE#ID), also gzip/bzip2/xz/zstd-compressed; - reads stdin.

    PATHS may also be fsspec URLs or quoted globs of JSON Lines / Parquet shards
    ('s3://bucket/crawl/*.parquet', 'data/shard-*.jsonl').  --format parquet writes a
    new folder (-o FOLDER) of tables: FOLDER/pairs, groups, documents, errors,
    warnings, boilerplate and summary.

    Exit status: 0 no duplicates, 1 duplicates found, 2 usage error or no document
    could be read.  Unreadable files are listed (stderr, report) and skipped: they
    change the status only when nothing could be read.
    """
    if scheduler is not None and engine != "dask":
        raise click.UsageError("--scheduler needs --engine dask")
    if fmt == "parquet":
        _check_parquet_folder(options.get("output"))
    settings = build_settings(**options)
    selection, read_opts = build_selection(include, exclude, hidden), build_read_options(**options)
    records = None if cache_dir is None else str(cache_dir)  # the record of written reports (default: the cache's)
    output, left_out, selection = report_and_inputs(paths, selection, records, **options)
    output.named_under(paths)
    progress = output.progress()
    try:
        result = scan_paths(
            list(paths),
            settings,
            levels=levels or LEVELS,
            selection=selection,
            read_options=read_opts,
            jobs=jobs or available_cpus(),
            cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
            all_pairs=all_pairs,
            progress=progress,
            tmp_dir=tmp_dir,
            partitions=partitions,
            engine=engine,
            scheduler=scheduler,
        )
    except DaskUnavailable as err:
        raise Unavailable(str(err)) from None
    except OSError as err:
        # A write into the scratch folder, raised in a worker without the file's name
        # (tester's F3, s16): ENOSPC, or numpy's "N requested and M written".
        short = err.errno is None and " requested and " in str(err)
        if err.filename is not None or not (short or err.errno in (errno.ENOSPC, errno.EDQUOT)):
            raise
        where = tmp_dir or (Path(cache_dir or default_cache_dir()) / "scratch" if not no_cache else None)
        shown = printable(repr(str(where))) if where else "the system's temporary folder"
        why = f"a short write ({err}: disk full?)" if short else err.strerror
        click.echo(f"dedup: cannot write the scan's intermediate files in {shown}: {why} "
                   "(--tmp-dir chooses another folder)", err=True)
        sys.exit(EXIT_ERROR)
    finally:
        progress.close()
    result.warnings = [*left_out.warnings(), *result.warnings]
    finish(result, fmt, exit_zero, output, FilePassages(list(paths), selection, read_opts))


@main.command()
@settings_options
def explain(**options) -> None:
    """Show the LSH bands x rows for the settings and how likely pairs are caught.

    LSH only proposes candidates; each candidate is then verified exactly, so this
    table is the recall of the candidate stage (precision comes from verification).
    """
    s = build_settings(**options)
    click.echo(f"num_perm {s.num_perm}: {s.bands} bands x {s.rows} rows "
               f"(uses {s.bands * s.rows} of {s.num_perm} permutations)")
    click.echo(f"paragraph threshold {s.threshold}, document threshold {s.doc_threshold}, "
               f"{s.unit} {s.ngram}-grams, min {s.min_tokens} tokens")
    click.echo("\n true Jaccard   chance of becoming a candidate   1-(1-s^r)^b")
    for sim, p in s_curve(s.threshold, s.doc_threshold, s.bands, s.rows):
        flag = "  <- threshold" if sim in (s.threshold, s.doc_threshold) else ""
        click.echo(f"   {sim:10.2f}   {p:10.4f}  {'#' * round(p * 30):<30}{flag}")
