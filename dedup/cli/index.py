"""``dedup check`` and ``dedup index add``: the persistent index from the shell (the
collection's commands, ``dedup index stats|optimize|list|export|remove``, are in
:mod:`.collection`; they share :func:`open_index`, :func:`guard` and :func:`fail`).

Each command parses its options and calls one library function: ``check`` and ``add``
:func:`dedup.index.jobs.check_paths` / :func:`~dedup.index.jobs.add_paths` (which read files
exactly as ``dedup scan`` does and batch them).  ``--db`` is a file path or a URL
(``redis://...``; :func:`dedup.storage.open_storage`).  Reports
come in the scan's formats: the machine formats carry the scan's pairs (side ``a`` the
stored text, ``b`` the checked one) plus one verdict per document (:meth:`~dedup.verdict.Verdict.to_dict`).
Exit status as for a scan: 0 nothing seen before, 1 duplicates found (any document or
paragraph already in the index: a partly seen document counts, whatever the policy
did with it), 2 usage error, unusable index, or nothing could be read; unreadable or
refused documents are listed and do not change it otherwise.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence

import click

from ..index import Index
from ..index.ids import Naming
from ..index.jobs import Job, add_paths, check_paths
from ..plan.shield import held_signals
from ..readers import error_count
from ..report import write_verdicts
from ..remote import is_remote
from ..report.safety import printable
from ..scan import available_cpus
from ..report.passages import VerdictPassages
from ..storage import IndexMissing, SettingsMismatch, StorageError, compat, own_files
from ..verdict import ACTIONS, Policy, VerdictReport
from . import (
    EXIT_ERROR,
    SETTING_KEYS,
    Output,
    build_read_options,
    build_selection,
    build_settings,
    exit_for,
    input_options,
    library_warnings,
    main,
    report_and_inputs,
    scratch_parent,
)

#: The report formats that show the checked text beside the stored one.
READABLE = ("text", "html")


def db_option(func: Callable) -> Callable:
    return click.option("--db", "db", required=True, envvar="DEDUP_DB", metavar="FILE|URL",
                        help="The index: a file, or redis://[USER:PASS@]HOST:PORT/DB?prefix=NAME "
                             "(rediss:// for TLS, unix:///PATH.sock?db=N&prefix=NAME) (env DEDUP_DB).")(func)


def policy_options(func: Callable) -> Callable:
    """The input options of ``dedup scan`` plus the policy that judges a document."""
    options = [
        click.option("--policy", type=click.Choice(ACTIONS), default="reject", show_default=True,
                     help="reject duplicates, strip seen paragraphs, or flag (accept and annotate; a "
                          "duplicate is stored only with --add-duplicates)."),
        click.option("-j", "--jobs", type=click.IntRange(1), default=None,
                     help="Processes that sign batches of documents (same verdicts for any number) "
                          "[default: CPUs]."),
        click.option("--seen-share", type=click.FloatRange(0, 1, min_open=True), default=Policy().seen_share,
                     show_default=True,
                     help="A document whose paragraphs are at least this share already seen is a duplicate."),
    ]
    for option in reversed(options):
        func = option(func)
    return input_options(func)


def id_options(func: Callable) -> Callable:
    """How documents are named in the index (:mod:`dedup.index.ids`)."""
    options = [
        click.option("--base", type=click.Path(exists=True, file_okay=False), default=".", show_default=True,
                     help="File ids are paths relative to this folder (which must exist)."),
        click.option("--id", "given_id", metavar="ID",
                     help="The id of the text read from stdin (-) [default: a digest of the text], or of "
                          "the one file given [default: its path relative to --base]."),
        click.option("--id-prefix", default="", metavar="TEXT",
                     help="Put before the ids of JSON/JSON Lines records (kept as they are otherwise)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: Where the record of the reports dedup wrote is kept (:mod:`dedup.report.written`).
records_option = click.option(
    "--cache-dir", type=click.Path(file_okay=False), default=None,
    help="The cache folder, which keeps the record of the reports dedup wrote: one found in a folder read is "
         "left out, as in `dedup scan --cache-dir` [default: $DEDUP_CACHE_DIR, else $XDG_CACHE_HOME/dedup, "
         "else ~/.cache/dedup].")


@main.command()
@db_option
@policy_options
@id_options
@records_option
def check(db, paths, include, exclude, hidden, fmt, policy, seen_share, exit_zero, base, given_id, id_prefix,
          cache_dir, **options) -> None:
    """Check the documents in PATHS against the index (read-only); - reads stdin.

    Says, per document, whether it is a duplicate, which stored documents and
    paragraphs it repeats, with scores and spans.  Documents are named by the ids
    `dedup index add` gives them.

    A document whose id is stored with the same text is "already indexed" (as
    `dedup index add` says of it) and not judged.

    Exit status: 0 no document and no paragraph of one is in the index (a document
    stored under its own id with the same text is "already indexed", not a
    duplicate); 1 one is (a duplicate, or a document partly seen: one
    of its paragraphs is stored); 2 usage error, unusable index, or no document
    could be read.  Unreadable files are
    listed (stderr, report) and skipped: they change the status only when nothing
    could be read.
    """
    naming = naming_of(paths, base, id_prefix, given_id)
    output, left_out, selection = report_and_inputs(paths, build_selection(include, exclude, hidden), cache_dir,
                                                    **options)
    with open_index(db, options, create=False, readonly=True) as idx:
        job = guard(lambda: check_paths(idx, paths, selection,
                                         build_read_options(**options), Policy(policy, seen_share),
                                         progress=output.progress(), keep_texts=fmt in READABLE,
                                         naming=naming))
        job.warnings[:0] = left_out.warnings()
        _finish(idx, job, fmt, exit_zero, output, adding=False)


@main.group("index")
def index_group() -> None:
    """Build and inspect a persistent index (add, list, export, stats, remove, optimize)."""


@index_group.command("add")
@db_option
@policy_options
@click.option("--add-duplicates", is_flag=True, help="Store documents judged duplicates too.")
@click.option("--load", "bulk", is_flag=True,
              help="Store everything without checking (seeding from an already deduplicated archive; "
                   "much faster on large archives).")
@click.option("--replace", is_flag=True,
              help="A stored id whose text changed gets the new text (default: an error).")
@click.option("--tmp-dir", type=click.Path(exists=True, file_okay=False), default=None, callback=scratch_parent,
              help="Where the rejected documents wait to be judged again at the end of the add "
                   "[default: the system's temporary folder].")
@id_options
@records_option
def add(db, paths, include, exclude, hidden, fmt, policy, seen_share, exit_zero, add_duplicates, bulk, replace,
        tmp_dir, base, given_id, id_prefix, cache_dir, **options) -> None:
    """Add the documents in PATHS to the index (created if missing) as the policy says.

    Ids: a file's path relative to --base (default: the current folder), a JSON/JSON
    Lines record's own id (after --id-prefix; FILE:LINE without one), --id for stdin.
    Adding is idempotent: a stored id with the same text is "already indexed" and
    skipped; with another text it is an error unless --replace.  Reports what was
    rejected and why.

    Exit status: 0 no document and no paragraph of one was in the index; 1 one was
    (a duplicate, or a document partly seen, even when the policy accepted it); 2
    usage error, unusable index, or no document could be read or added.  Unreadable
    files are listed (stderr, report) and skipped: they change the status only when
    nothing could be read.
    """
    if bulk and (policy != "reject" or seen_share != Policy().seen_share or add_duplicates):
        raise click.UsageError("--load stores everything unchecked: --policy, --seen-share and "
                               "--add-duplicates do not apply to it")
    naming = naming_of(paths, base, id_prefix, given_id)
    output, left_out, selection = report_and_inputs(paths, build_selection(include, exclude, hidden), cache_dir,
                                                    **options)
    with ExitStack() as stack:
        # A signal while the index is being created waits until its removal is armed: it
        # left a new, empty index behind (tester's finding of s23: a Ctrl-C within ~20 ms).
        with held_signals():
            idx, created = _opened(db, options, create=True, readonly=False)
            stack.enter_context(idx)
            stack.enter_context(_discarded_unless_stored(idx, created))
        if created and not output.quiet:  # a mistyped --db must not go unnoticed (new-user NU-1 of s24)
            click.echo(f"dedup: {printable(idx.path)}: no index there: this add makes a new one", err=True)
        job = guard(lambda: add_paths(idx, paths, selection,
                                       build_read_options(**options),
                                       Policy(policy, seen_share, add_duplicates, replace),
                                       load=bulk, progress=output.progress(), keep_texts=fmt in READABLE,
                                       naming=naming, tmp_dir=tmp_dir))
        job.warnings[:0] = left_out.warnings()
        try:
            _finish(idx, job, fmt, exit_zero, output, adding=True)
        except BaseException as err:  # (not SystemExit: the exit with the add's status)
            if not isinstance(err, SystemExit):
                _say_complete(idx, job, err)
            raise


def _say_complete(idx: Index, job: Job, err: BaseException) -> None:
    """Note on ``err`` (a signal or an error while the report was written) that the add
    itself was complete: what it stored stays (tester's F9, session 16: a SIGTERM then
    said only "interrupted by SIGTERM", though all 560 documents were stored)."""
    stored = sum(1 for v in job.verdicts if v.added or v.already_indexed)
    counted = f": {stored:,} of the {len(job.ids):,} documents read are stored" if job.verdicts else ""
    err.__notes__ = [*getattr(err, "__notes__", []),
                     f"{idx.path}: the add was complete before this{counted}; what it stored stays in the index "
                     "(only its report was cut short)"]


# -- helpers ---------------------------------------------------------------------------


def naming_of(paths: Sequence[str], base: str, prefix: str, given_id: Optional[str]) -> Naming:
    """How ``check`` and ``index add`` name what they read (:class:`~dedup.index.ids.Naming`):
    ``--id`` names the text read from stdin when ``-`` is given, else the one file
    given; given with anything else it is a usage error saying why (F8 of #12: an
    ``index add FILE --id X`` stored the file under its path, without a word)."""
    if given_id is None or "-" in paths:
        return Naming(base, prefix, given_id)
    if len(paths) > 1:
        why = f"{len(paths)} paths were given"
    elif is_remote(paths[0]):
        why = f"{printable(repr(paths[0]))} is a pattern or a URL"
    elif os.path.isdir(paths[0]):
        why = f"{printable(repr(paths[0]))} is a folder"
    else:
        return Naming(base, prefix, given_id, os.path.abspath(paths[0]))
    raise click.UsageError(f"--id names one document (the text read from stdin, -, or the one file given), but "
                           f"{why}: files are named by their paths relative to --base (see 'Document ids' in the "
                           "README)")


def open_index(db: str, options: dict, *, create: bool, readonly: bool, auto_optimize: bool = True) -> Index:
    """Open the index; settings options, if any were given, must agree with it, and an
    ``output`` option may not name the index or one of its files (``DB-wal``, ``DB-lsh.ID``)."""
    return _opened(db, options, create=create, readonly=readonly, auto_optimize=auto_optimize)[0]


@contextmanager
def _discarded_unless_stored(idx: Index, created: bool) -> Iterator[None]:
    """An index this add created is removed again if, however the add ends, it holds no
    document (N5 of s19: an empty folder, or every file refused, left a new empty index
    file behind); one that existed before is left as it is."""
    try:
        yield
    finally:
        if created and idx.discard():
            click.echo(f"dedup: {printable(idx.path)}: removed the index this add created: it stored nothing", err=True)


def _opened(db: str, options: dict, *, create: bool, readonly: bool,
            auto_optimize: bool = True) -> tuple[Index, bool]:
    """:func:`open_index`, and whether the index was created by this open."""
    _refuse_index_as_output(db, options.get("output"))
    given = {k: options.get(k) for k in SETTING_KEYS if options.get(k) is not None}
    jobs = (options.get("jobs") or available_cpus()) if "jobs" in options else 1  # check and add sign batches
    exists = True
    try:
        try:
            idx = Index.open(db, None, create=False, readonly=readonly, auto_optimize=auto_optimize, jobs=jobs)
        except IndexMissing:
            if not create:
                raise
            exists = False
            idx = Index.open(db, build_settings(warn=False, **given) if given else None,
                             create=True, readonly=readonly, auto_optimize=auto_optimize, jobs=jobs)
    except StorageError as err:
        fail(str(err))
    if given and exists:
        try:
            compat.check_options(idx.path, idx.settings, given, spell=lambda k: f"--{k.replace('_', '-')}")
        except SettingsMismatch as err:
            idx.close()
            fail(str(err))
        except ValueError as err:
            idx.close()
            raise click.UsageError(str(err)) from None
    return idx, not exists


def _refuse_index_as_output(db: str, output: Optional[str]) -> None:
    if output not in (None, "-") and own_files(db)(output):
        fail(f"refusing to write to {printable(repr(output))}: it is the index {printable(repr(db))} or one of "
              "its files, and would be overwritten; choose another file")


def guard(call: Callable[[], Any]) -> Any:
    """Run an index call; a storage failure is a clear message and exit status 2."""
    try:
        return call()
    except StorageError as err:
        # Its notes first: what an ``index add`` that failed had committed (tester's T3
        # of #12: a Redis memory limit or a lost server said only the error).
        for note in getattr(err, "__notes__", None) or []:
            click.echo(f"dedup: {printable(note)}", err=True)
        fail(str(err))


def fail(message: str) -> None:
    click.echo(f"dedup: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _finish(idx: Index, job: Job, fmt: str, exit_zero: bool, output: Output, adding: bool) -> None:
    """Write the report and exit with the scan's exit-code rules."""
    said = library_warnings(idx.path)
    report = VerdictReport.of(idx.path, idx.settings, job.documents, job.verdicts, job.errors, adding,
                              [*job.warnings, *said])
    passages = VerdictPassages(lambda doc_id: getattr(idx.get(doc_id), "text", None), job.texts)
    # A stored text shown beside a checked one is read (and verified) here.
    guard(lambda: output.write(lambda out, options: write_verdicts(report, fmt, out, options), passages))
    output.errors(report.errors, "could not be read or checked")
    output.warnings(report.warnings, said)
    output.info(f"{len(report.judged)} documents judged, {error_count(report.errors)} errors, {output.elapsed():.1f} s")
    if job.documents and not report.judged:  # read, but every one refused (said above)
        fail(f"no document could be {'added' if adding else 'checked'} ({len(job.documents)} read, "
              f"{len(job.documents)} refused)")
    exit_for(bool(report.judged), bool(report.errors), any(v.has_pairs for _, v in report.judged), exit_zero,
             job.files)
