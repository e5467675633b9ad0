"""``dedup check`` and ``dedup index add|stats|remove|optimize``: the persistent index from the shell.

Each command parses its options and calls one library function: ``check`` and ``add``
:func:`dedup.index.jobs.check_paths` / :func:`~dedup.index.jobs.add_paths` (which read files
exactly as ``dedup scan`` does and batch them), ``stats``, ``remove`` and ``optimize`` the
:class:`~dedup.index.Index` methods of the same name.  ``--db`` is a file path or a URL
(``redis://...``; :func:`dedup.storage.open_storage`).  Reports
come in the scan's formats: the machine formats carry the scan's pairs (side ``a`` the
stored text, ``b`` the checked one) plus one verdict per document (:meth:`~dedup.verdict.Verdict.to_dict`).
Exit status as for a scan: 0 nothing seen before, 1 duplicates found (any document or
paragraph already in the index), 2 usage error, unusable index, or nothing could be read.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click

from ..index import Index
from ..index.jobs import Job, add_paths, check_paths
from ..report import write_verdicts
from ..report.passages import VerdictPassages
from ..settings import Settings
from ..storage import IndexMissing, StorageError
from ..verdict import ACTIONS, Policy, VerdictReport
from . import (
    EXIT_CLEAN,
    EXIT_ERROR,
    SETTING_KEYS,
    Output,
    build_output,
    build_read_options,
    build_selection,
    build_settings,
    exit_for,
    input_options,
    main,
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
                     help="reject duplicates, strip seen paragraphs, or flag (accept and annotate)."),
        click.option("--seen-share", type=click.FloatRange(0, 1, min_open=True), default=Policy().seen_share,
                     show_default=True,
                     help="A document whose paragraphs are at least this share already seen is a duplicate."),
    ]
    for option in reversed(options):
        func = option(func)
    return input_options(func)


@main.command()
@db_option
@policy_options
def check(db, paths, include, exclude, hidden, fmt, policy, seen_share, exit_zero, **options) -> None:
    """Check the documents in PATHS against the index (read-only); - reads stdin.

    Says, per document, whether it is a duplicate, which stored documents and
    paragraphs it repeats, with scores and spans.  Exit status: 0 nothing seen before,
    1 something already in the index, 2 error.
    """
    output = build_output(**options)
    with _open(db, options, create=False, readonly=True) as idx:
        job = _guard(lambda: check_paths(idx, paths, build_selection(include, exclude, hidden),
                                         build_read_options(**options), Policy(policy, seen_share),
                                         progress=output.progress(), keep_texts=fmt in READABLE))
        _finish(idx, job, fmt, exit_zero, output, adding=False)


@main.group("index")
def index_group() -> None:
    """Build and inspect a persistent index (add, stats, remove, optimize)."""


@index_group.command("add")
@db_option
@policy_options
@click.option("--add-duplicates", is_flag=True, help="Store documents judged duplicates too.")
@click.option("--load", "bulk", is_flag=True,
              help="Store everything without checking (seeding from an already deduplicated archive; "
                   "much faster on large archives).")
def add(db, paths, include, exclude, hidden, fmt, policy, seen_share, exit_zero, add_duplicates, bulk,
        **options) -> None:
    """Add the documents in PATHS to the index (created if missing) as the policy says.

    Document ids are the paths as reported by a scan (FILE, DIR-relative paths,
    FILE#ID for records).  Reports what was rejected and why.  Exit status: 0 nothing
    seen before, 1 duplicates found, 2 error.
    """
    if bulk and (policy != "reject" or seen_share != Policy().seen_share or add_duplicates):
        raise click.UsageError("--load stores everything unchecked: --policy, --seen-share and "
                               "--add-duplicates do not apply to it")
    output = build_output(**options)
    with _open(db, options, create=True, readonly=False) as idx:
        job = _guard(lambda: add_paths(idx, paths, build_selection(include, exclude, hidden),
                                       build_read_options(**options), Policy(policy, seen_share, add_duplicates),
                                       load=bulk, progress=output.progress(), keep_texts=fmt in READABLE))
        _finish(idx, job, fmt, exit_zero, output, adding=True)


@index_group.command("stats")
@db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def stats(db, fmt) -> None:
    """Counts, settings and size on disk of the index."""
    with _open(db, {}, create=False, readonly=True) as idx:
        data = _guard(idx.stats)
    if fmt == "json":
        click.echo(json.dumps(data, indent=1))
        return
    s = data["settings"]
    click.echo(f"{data['path']}: {data['documents']} documents, {data['paragraphs']} paragraphs, "
               f"{data['bytes']:,} bytes on disk ({data['backend']})")
    click.echo(f"settings: {s['unit']} {s['ngram']}-grams, {s['num_perm']} permutations in "
               f"{s['bands']} bands x {s['rows']} rows, threshold {s['threshold']}, "
               f"document threshold {s['doc_threshold']}, min {s['min_words']} words, {s['scheme']}")
    bf = data.get("bucket_file")
    if bf and bf["in_use"]:
        click.echo(f"bucket file: {bf['path']}, {bf['bytes']:,} bytes; "
                   f"{bf['paragraphs_behind']:,} paragraphs stored since it was written")
    elif bf:
        click.echo(f"bucket file: none in use ({bf['paragraphs_behind']:,} paragraphs read into memory "
                   "by every process; `dedup index optimize` writes one)")


@index_group.command("optimize")
@db_option
def optimize(db) -> None:
    """Write a new bucket file (DB-lsh.ID), which checks look band keys up in.

    Adds rewrite it by themselves once enough is stored outside it; run this after a
    large batch of adds or removals, or on a schedule when adds are opened with
    auto_optimize=False.  Other processes may go on reading and writing meanwhile.
    """
    with _open(db, {}, create=False, readonly=False, auto_optimize=False) as idx:
        done = _guard(idx.optimize)
    rows = done["rows"]
    click.echo(f"{done['path']}: {rows['paragraph']:,} paragraphs and {rows['document']:,} documents, "
               f"{done['bytes']:,} bytes, written in {done['seconds']:.1f} s")


@index_group.command("remove")
@db_option
@click.argument("ids", nargs=-1, required=True)
def remove(db, ids) -> None:
    """Remove the documents with these IDS from the index (exit 2 if one is missing)."""
    missing = []
    with _open(db, {}, create=False, readonly=False) as idx:
        for doc_id in ids:
            try:
                _guard(lambda: idx.remove(doc_id))
                click.echo(f"removed {doc_id}")
            except KeyError:
                missing.append(doc_id)
                click.echo(f"dedup: {idx.path}: no document {doc_id!r} in the index", err=True)
    sys.exit(EXIT_ERROR if missing else EXIT_CLEAN)


# -- helpers ---------------------------------------------------------------------------


def _open(db: str, options: dict, *, create: bool, readonly: bool, auto_optimize: bool = True) -> Index:
    """Open the index; settings options, if any were given, must agree with it."""
    given = {k: options.get(k) for k in SETTING_KEYS if options.get(k) is not None}
    exists = True
    try:
        try:
            idx = Index.open(db, None, create=False, readonly=readonly, auto_optimize=auto_optimize)
        except IndexMissing:
            if not create:
                raise
            exists = False
            idx = Index.open(db, build_settings(**given) if given else None,
                             create=True, readonly=readonly, auto_optimize=auto_optimize)
    except StorageError as err:
        _fail(str(err))
    if given and exists:
        try:
            wanted = idx.settings.with_changes(**given)
        except ValueError as err:
            idx.close()
            raise click.UsageError(str(err)) from None
        if wanted != idx.settings:
            idx.close()
            _fail(f"{db}: the index was built with other settings ({_settings_text(idx.settings)}); "
                  "drop the settings options to use them")
    return idx


def _settings_text(s: Settings) -> str:
    return (f"{s.unit} {s.ngram}-grams, num_perm {s.num_perm}, {s.bands}x{s.rows} bands, "
            f"threshold {s.threshold}, doc threshold {s.doc_threshold}, min words {s.min_words}")


def _guard(call: Callable[[], Any]) -> Any:
    """Run an index call; a storage failure is a clear message and exit status 2."""
    try:
        return call()
    except StorageError as err:
        _fail(str(err))


def _fail(message: str) -> None:
    click.echo(f"dedup: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _finish(idx: Index, job: Job, fmt: str, exit_zero: bool, output: Output, adding: bool) -> None:
    """Write the report and exit with the scan's exit-code rules."""
    report = VerdictReport.of(idx.path, idx.settings, job.documents, job.verdicts, job.errors, adding)
    passages = VerdictPassages(lambda doc_id: getattr(idx.get(doc_id), "text", None), job.texts)
    output.write(lambda out, options: write_verdicts(report, fmt, out, options), passages)
    output.errors(report.errors, "could not be read or checked")
    output.info(f"{len(report.judged)} documents judged, {len(report.errors)} errors, {output.elapsed():.1f} s")
    exit_for(bool(report.judged), bool(report.errors), report.as_result().has_duplicates, exit_zero)
