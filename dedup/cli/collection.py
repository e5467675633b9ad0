"""``dedup index stats|optimize|list|export|remove``: the index's collection from the
shell -- each calls the :class:`~dedup.index.Index` method of the same name
(``list``: ``ids``, ``export``: ``documents``, ``remove --older-than``: ``prune``).
They open the index as ``check`` and ``add`` do (:func:`.index.open_index`)."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Optional

import click

from ..report.machine import dumps
from ..report.output import report_file
from ..report.safety import printable
from ..report.text import plural
from ..storage.protocol import Listed
from . import EXIT_CLEAN, EXIT_ERROR
from .index import db_option, guard, index_group, open_index
from .output import Output, build_output, library_warnings, report_format, said_options


class Age(click.ParamType):
    """An age such as 30d, 12h, 90m, 45s or 2w, in seconds."""

    name = "age"
    _UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        try:
            seconds = float(text[:-1]) * self._UNITS[text[-1:]]
        except (KeyError, ValueError):
            self.fail(f"{value!r} is not an age such as 30d, 12h, 90m, 45s or 2w", param, ctx)
        if not seconds >= 0 or seconds == float("inf"):
            self.fail(f"{value!r}: an age is a finite number, at least 0", param, ctx)
        return seconds


def output_option(func: Callable) -> Callable:
    return click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True),
                        help="Write to FILE (atomically) instead of stdout.")(func)


#: ``-q`` / ``-v`` of these commands (:func:`.output.said_options`): they have no report
#: to keep a warning in, so ``-q`` still counts what it silenced.
quiet_verbose = said_options("No warnings on stderr, only their number.")


def _done(output: Output, db: str, what: str) -> None:
    """The end of a command: with ``-q``, the number of warnings not said (a damaged
    bucket file's); with ``-v``, ``what`` was done and how long it took."""
    if output.quiet:
        output.warnings(library_warnings(db), listed="said without -q")
    output.info(f"{what} in {output.elapsed():.1f} s")


@index_group.command("stats")
@db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default=None,
              help="[default: the one -o FILE's extension names (.json), else text]")
@output_option
@quiet_verbose
def stats(db, fmt, output, quiet, verbose) -> None:
    """Counts, settings and size on disk of the index."""
    said = build_output(quiet=quiet, verbose=verbose)
    fmt = report_format(fmt, output, ("text", "json"))  # -o st.json wrote text (tester F7, s22)
    with open_index(db, {"output": output}, create=False, readonly=True) as idx:
        data = guard(idx.stats)
    with report_file(output) as out:
        out.write(dumps(data) + "\n" if fmt == "json" else _stats_text(data))
    _done(said, db, "stats written")


def _stats_text(data: dict[str, Any]) -> str:
    s = data["settings"]
    where = "in the server's memory, all databases" if data["backend"] == "redis" else "on disk"
    lines = [f"{printable(data['path'], tabs=False)}: {plural(data['documents'], 'document')}, "
             f"{plural(data['paragraphs'], 'paragraph')}, "
             f"{data['bytes']:,} bytes {where} ({data['backend']})",
             f"settings: {s['unit']} {s['ngram']}-grams, {s['num_perm']} permutations in "
             f"{s['bands']} bands x {s['rows']} rows, threshold {s['threshold']}, "
             f"document threshold {s['doc_threshold']}, min {s['min_tokens']} tokens, {s['scheme']}"]
    bf = data.get("bucket_file")
    if bf and bf["in_use"]:
        lines.append(f"bucket file: {printable(bf['path'], tabs=False)}, {bf['bytes']:,} bytes; "
                     f"{bf['paragraphs_behind']:,} paragraphs stored since it was written")
    elif bf:
        lines.append(f"bucket file: none in use ({bf['paragraphs_behind']:,} paragraphs read into memory "
                     "by every process; `dedup index optimize` writes one)")
    return "".join(line + "\n" for line in lines)


@index_group.command("optimize")
@db_option
@quiet_verbose
def optimize(db, quiet, verbose) -> None:
    """Write a new bucket file (DB-lsh.ID), which checks look band keys up in.

    Adds rewrite it by themselves once enough is stored outside it; run this after a
    large batch of adds or removals, or on a schedule when adds are opened with
    auto_optimize=False.  Other processes may go on reading and writing meanwhile.
    On Redis: rewrite the bucket log without the removed documents' entries (readers
    and writers go on; writers wait only while what they wrote meanwhile is appended).
    """
    said = build_output(quiet=quiet, verbose=verbose)
    with open_index(db, {}, create=False, readonly=False, auto_optimize=False) as idx:
        done = guard(idx.optimize)
    click.echo(_optimized(done))
    _done(said, db, "optimized")


def _optimized(done: dict[str, Any]) -> str:
    """What :meth:`Index.optimize` did (its answer ``done``), in a line."""
    rows = done["rows"]
    if "log" in done:  # Redis: its bucket log compacted
        log = done["log"]
        return (f"{done['path']}: bucket log compacted, {log['rows_left_out']:,} removed rows left out: "
                f"{log['entries']['before']:,} -> {log['entries']['after']:,} entries, "
                f"{log['bytes']['before']:,} -> {log['bytes']['after']:,} bytes, in {done['seconds']:.1f} s")
    if rows is None:
        return f"{done['path']}: nothing to do (the {done['backend']} backend keeps its buckets current)"
    return (f"{done['path']}: {rows['paragraph']:,} paragraphs and {rows['document']:,} documents, "
            f"{done['bytes']:,} bytes, written in {done['seconds']:.1f} s")


@index_group.command("list")
@db_option
@output_option
@quiet_verbose
def list_ids(db, output, quiet, verbose) -> None:
    """Print every stored id, one per line, oldest first (control characters in an id,
    a newline for one, are shown as escapes such as \\n or \\x1b)."""
    said = build_output(quiet=quiet, verbose=verbose)
    with open_index(db, {"output": output}, create=False, readonly=True) as idx:
        listed = guard(lambda: _lines((printable(i, tabs=False) for i in idx.ids()), output))
    _done(said, db, f"{plural(listed, 'id')} listed")


@index_group.command("export")
@db_option
@output_option
@quiet_verbose
def export(db, output, quiet, verbose) -> None:
    """Print every stored document as JSON Lines (no text): id, added (UTC, ISO 8601),
    added_unix, chars, paragraphs, meta."""
    said = build_output(quiet=quiet, verbose=verbose)
    with open_index(db, {"output": output}, create=False, readonly=True) as idx:
        listed = guard(lambda: _lines((dumps(_exported(d)) for d in idx.documents()), output))
    _done(said, db, f"{plural(listed, 'document')} exported")


@index_group.command("remove")
@db_option
@click.argument("ids", nargs=-1)
@click.option("--older-than", type=Age(), metavar="AGE",
              help="Remove every document added more than AGE ago (e.g. 30d, 12h, 90m, 2w).")
@quiet_verbose
def remove(db, ids, older_than, quiet, verbose) -> None:
    """Remove the documents with these IDS from the index (exit 2 if one is missing),
    or, with --older-than, every document older than that (retention)."""
    if not ids and older_than is None:
        raise click.UsageError("give the IDS to remove, or --older-than AGE")
    said = build_output(quiet=quiet, verbose=verbose)
    if older_than is not None:
        with open_index(db, {}, create=False, readonly=False) as idx:
            removed = guard(lambda: idx.prune(time.time() - older_than))
        click.echo(f"removed {len(removed)} document{'s' * (len(removed) != 1)} added more than "
                   f"{_age_text(older_than)} ago")
        if not ids:
            _done(said, db, "pruned")
            sys.exit(EXIT_CLEAN)
    missing = []
    with open_index(db, {}, create=False, readonly=False) as idx:
        for doc_id in ids:
            try:
                guard(lambda: idx.remove(doc_id))
                click.echo(f"removed {doc_id}")
            except KeyError:
                missing.append(doc_id)
                click.echo(f"dedup: {idx.path}: no document {doc_id!r} in the index", err=True)
    _done(said, db, "done")
    sys.exit(EXIT_ERROR if missing else EXIT_CLEAN)


def _age_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _exported(doc: Listed) -> dict[str, Any]:
    added = datetime.fromtimestamp(doc.added, timezone.utc).isoformat(timespec="milliseconds")
    return {"id": doc.doc_id, "added": added.replace("+00:00", "Z"), "added_unix": doc.added,
            "chars": doc.chars, "paragraphs": doc.paragraphs, "meta": dict(doc.meta)}


def _lines(lines: Iterable[str], output: Optional[str]) -> int:
    """Write ``lines`` to stdout or ``output`` as they come (an index may hold millions
    of ids); how many."""
    written = 0
    try:
        with report_file(output) as out:
            for line in lines:
                _write(out, line + "\n", output)
                written += 1
    except BrokenPipeError:
        raise  # the reader of stdout went away (dedup.cli.failures.broken_pipe)
    except OSError as err:
        if output not in (None, "-") and err.filename not in (None, output):
            raise
        _cannot_write(err, output)
    return written


def _write(out, text: str, output: Optional[str]) -> None:
    """One line written, or the command ended (2) naming where it could not be written:
    a full disk was an "unexpected error: OSError" (session 22 audit)."""
    try:
        out.write(text)
    except BrokenPipeError:
        raise
    except OSError as err:
        _cannot_write(err, output)


def _cannot_write(err: OSError, output: Optional[str]) -> None:
    where = "stdout" if output in (None, "-") else printable(repr(output))
    click.echo(f"dedup: cannot write to {where}: {err.strerror or err}", err=True)
    sys.exit(EXIT_ERROR)
