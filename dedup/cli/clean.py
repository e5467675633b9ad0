"""``dedup clean SRC DEST``: write a deduplicated copy of a corpus (:func:`dedup.clean`)."""

from __future__ import annotations

import sys

import click

from ..cache import default_cache_dir
from ..clean import MANIFEST_NAME, CleanError, NotEmpty, copied_errors
from ..clean.decide import UNREAD_REASON
from ..readers import error_count
from ..clean import clean as clean_corpus
from ..report.safety import printable, short_name
from ..report.text import plural
from ..report.written import MANIFEST, record
from ..scan import available_cpus
from .left_out import LeftOut
from . import (
    EXIT_ERROR,
    build_output,
    exit_for,
    build_read_options,
    build_selection,
    build_settings,
    main,
    read_options,
    scratch_parent,
    settings_options,
)


@main.command()
@click.argument("src", type=click.Path(exists=True))
@click.argument("dest", type=click.Path())
@click.option("--strip-paragraphs", is_flag=True,
              help="Also cut repeated paragraphs out of the documents kept (the first copy stays).")
@click.option("--force", is_flag=True, help="Write into a DEST that is not empty (files of the same name are replaced).")
@click.option("--manifest", type=click.Path(dir_okay=False), default=None,
              help=f"Where to write the manifest [default: DEST/{MANIFEST_NAME}].")
@click.option("--include", multiple=True, metavar="GLOB", help="Only dedup files that match (others are copied).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Do not dedup files that match (they are copied).")
@click.option("--hidden", is_flag=True, help="Also dedup hidden files (they are copied either way).")
@click.option("-j", "--jobs", type=click.IntRange(1), default=None, help="Signing processes [default: CPUs].")
@click.option("--tmp-dir", type=click.Path(file_okay=False), default=None, callback=scratch_parent,
              help="An existing folder for the scan's intermediate files (a fresh folder inside, removed at "
                   "the end) [default: CACHE_DIR/scratch, else the system's temporary folder].")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Keep signatures here for fast rescans, as dedup scan does; the manifest is recorded "
                   "here too [default: $DEDUP_CACHE_DIR, else $XDG_CACHE_HOME/dedup, else ~/.cache/dedup].")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the signature cache.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
@click.option("-v", "--verbose", is_flag=True, help="Also say how long it took.")
@read_options(stdin=False)
@settings_options
def clean(src, dest, strip_paragraphs, force, manifest, include, exclude, hidden, jobs, tmp_dir, cache_dir, no_cache,
          quiet, verbose, **options) -> None:
    """Copy SRC to DEST without its duplicate documents (the first copy of each is kept).

    With --strip-paragraphs, repeated paragraphs are cut out of the documents kept too.
    The folder layout is kept, untouched files are copied byte for byte, JSON Lines are
    cleaned record by record, and a manifest (JSON) says what was dropped or cut and
    why.  SRC is never modified.  Example: dedup clean crawl/ crawl-clean/ --strip-paragraphs

    Exit status: 0 written, 2 error (DEST inside SRC or the reverse, DEST not empty
    without --force, a write failed; no file found, or no document could be read:
    DEST is then an unchanged copy).  Each file or record that could not be read is
    named on stderr with the cause, copied unchanged and listed in the manifest.  A run
    interrupted (130, 143) or failed before its manifest removes what it wrote into a
    DEST that was missing or empty, so the same command can run again (with --force
    into a DEST that held files, it says what it left).
    """
    output = build_output(quiet=quiet, verbose=verbose)
    output.named_under([src])
    # reports, clean manifests and an index found in SRC are not deduplicated (copied
    # unchanged): a clean of a cleaned folder read its manifest as a broken JSON array
    left_out = LeftOut(None, [src], cache_dir)
    progress = output.progress()
    try:
        report = clean_corpus(
            src, dest, build_settings(**options), strip_paragraphs=strip_paragraphs, force=force,
            manifest=manifest, selection=left_out.selection(build_selection(include, exclude, hidden)),
            read_options=build_read_options(**options), jobs=jobs or available_cpus(),
            cache_dir=None if no_cache else (cache_dir or default_cache_dir()), tmp_dir=tmp_dir,
            progress=progress)
    except NotEmpty as err:  # the Python caller's remedy (force=True) is not this one's
        click.echo(f"dedup: {err.dest} is not empty (--force writes into it, replacing files of the same name)",
                   err=True)
        sys.exit(EXIT_ERROR)
    except CleanError as err:
        click.echo(f"dedup: {err}", err=True)
        sys.exit(EXIT_ERROR)
    finally:
        progress.close()
    # the manifest is no later scan's document (LeftOut); recorded where scan keeps its record
    record(str(report.manifest_path), cache_dir, kind=MANIFEST)
    if not quiet:
        click.echo(f"{dest}: {plural(report.documents, 'document')} read, {report.dropped:,} dropped, "
                   f"{plural(report.stripped_paragraphs, 'paragraph')} cut from "
                   f"{plural(report.stripped_documents, 'document')}; "
                   f"{plural(report.files_copied, 'file')} copied unchanged, {report.files_rewritten:,} rewritten, "
                   f"{report.files_dropped:,} left out{_not_copied(report.not_copied)}; "
                   f"manifest {report.manifest_path}")
        unread = sum(k["reason"] == UNREAD_REASON for k in report.manifest.get("kept_near_duplicates", ()))
        if report.kept_near_duplicates - unread:
            own = report.kept_near_duplicates - unread
            click.echo(f"{plural(own, 'near-duplicate document')} kept: "
                       f"{'they hold' if own > 1 else 'it holds'} paragraphs "
                       f"found in no kept document (see the manifest)")
        if unread:
            click.echo(f"{plural(unread, 'near-duplicate document')} kept whole: not read again (a file behind "
                       "a link, or unreadable the second time; see the manifest)")
    copied, not_copied = copied_errors(report)
    # tester's F8 of s22: a FIFO was said to be "copied unchanged"; it is not copied at all
    fate = ", ".join(part for part in (f"{len(copied):,} copied unchanged" if copied else "",
                                        f"{len(not_copied):,} not copied: not a regular file" if not_copied else "")
                     if part)
    what = ("file or record", "files or records")
    output.errors(report.errors, listed=f"{fate}; listed in the manifest", noun=what)
    # the files left out are copied unchanged, said here only; the scan's warnings are in the manifest
    output.warnings([*left_out.warnings(), *report.warnings], listed="named without -q")
    if report.errors and not quiet:
        click.echo(f"dedup: {plural(error_count(report.errors), *what)} could not be "
                   f"read ({fate}; listed in the manifest)", err=True)
    output.info(f"done in {output.elapsed():.1f} s")
    # as scan: 2 when nothing could be read (review of s18's third new user: clean exited 0)
    exit_for(report.documents > 0, bool(report.errors), False, False, report.files)


def _not_copied(names: list[str]) -> str:
    """The summary's words for the entries of SRC not written to DEST (a FIFO, a device)."""
    if not names:
        return ""
    shown = ", ".join(printable(short_name(n)) for n in names[:3]) + (f" and {len(names) - 3:,} more" if len(names) > 3 else "")
    return f", {len(names):,} not copied (not a regular file: {shown})"
