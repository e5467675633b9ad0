"""``clean``: write a deduplicated copy of a corpus (``dedup clean SRC DEST``).

What it does, in order:

1. scans SRC as ``dedup scan`` would (document level; paragraph level too with
   ``strip_paragraphs``);
2. decides: of each group of duplicate documents the canonical copy (the first in path
   order) is kept and a member is dropped only as a near-duplicate of one kept before it
   (see :func:`dedup.clean.decide.copies`) whose paragraphs long enough to compare are
   all copies of kept paragraphs -- one that holds text found in no kept document is
   kept (whole, or stripped of its copied paragraphs); with ``strip_paragraphs``, of each group of repeated
   paragraphs the first copy in a kept document is kept and, alike, the others are cut out of their documents (a document left with no paragraph is dropped);
3. writes DEST with SRC's folder layout: a file none of whose documents changed is
   copied byte for byte (links as links); a plain-text file is written without its cut
   paragraphs (everything else in it byte for byte, as UTF-8, or in the legacy
   ``read_options.encoding`` it was read in); JSON Lines are cleaned
   record by record (a dropped record's line is left out, a stripped record is written
   again with its new text, every other line is copied as it was); a JSON array is
   written again without its dropped records; a compressed file is cleaned inside and
   compressed again with the same codec.  HTML and Markdown documents are kept or
   dropped whole: their paragraph offsets are in the extracted text, not the markup, so
   cutting paragraphs out of them is not attempted (the manifest says so);
4. writes the manifest (JSON, ``DEST/dedup-clean.json`` unless told otherwise): what was
   dropped or stripped, why, and what it duplicated.

Safety: SRC is only read.  DEST may not be inside SRC, nor SRC inside DEST, and must be
empty or missing unless ``force``.  Every file is written under a temporary name in
its folder and renamed when complete, so an interrupted run leaves no half-written file
under a final name; the manifest is written last, so a DEST without it is incomplete.
A run that stops before its manifest is written (Ctrl-C, SIGTERM, an error such as a
full disk) removes what it wrote when DEST was missing or empty before it -- DEST is as
it was, and the same command can simply run again (F6 of #12: a partial DEST stayed, was
not mentioned, and the re-run was refused as "not empty"); in a DEST that held files
before (``force``) it cannot undo what it replaced, and says what it left.  Either way
the exception carries a note (PEP 678) saying which, as the CLI prints it.
"""

from __future__ import annotations

import shutil
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from ..plan.shield import held_signals
from ..progress import NO_PROGRESS, Progress
from ..readers import ReadError, ReadOptions, ReadWarning
from ..results import FilesRead
from ..scan import scan
from ..settings import Settings
from ..sources import Selection
from .decide import decide
from .write import compared, files, write_one

MANIFEST_NAME = "dedup-clean.json"
#: Manifest keys holding file names, besides ``path``: a name that is not valid UTF-8 is
#: written as the reports write it (U+FFFD for each undecodable byte, plus
#: ``KEY_bytes``, the exact bytes in base64; see :func:`dedup.report.safety.json_name`).
MANIFEST_NAME_KEYS = frozenset({"source", "dest", "document", "duplicate_of"})


class CleanError(ValueError):
    """SRC and DEST cannot be used as asked (overlap, DEST not empty, missing SRC)."""


class NotEmpty(CleanError):
    """DEST is not empty and ``force`` was not given (``dest``: DEST as given)."""

    def __init__(self, dest: Path) -> None:
        super().__init__(f"{dest} is not empty (force=True, or --force on the command line, writes into it, "
                         "replacing files of the same name)")
        self.dest = dest


@dataclass
class CleanReport:
    """What :func:`clean` did: counts, and the manifest it wrote (``manifest``: the
    JSON object, ``manifest_path``: where); ``errors``: the files and records that
    could not be read (copied unchanged, but those of :attr:`not_copied`),
    ``warnings``: the scan's (a repeated record id), ``files``: the files the scan
    opened; ``not_copied``: the entries of SRC (relative names) not written to DEST at
    all -- a FIFO, a device, a socket (the manifest's ``notes`` say why)."""

    documents: int = 0
    dropped: int = 0
    stripped_documents: int = 0
    stripped_paragraphs: int = 0
    kept_near_duplicates: int = 0
    files_copied: int = 0
    files_rewritten: int = 0
    files_dropped: int = 0
    not_copied: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_path: Optional[Path] = None
    errors: list[ReadError] = field(default_factory=list)
    warnings: list[ReadWarning] = field(default_factory=list)
    files: Optional[FilesRead] = None


def clean(
    src: Union[str, Path],
    dest: Union[str, Path],
    settings: Settings | None = None,
    *,
    strip_paragraphs: bool = False,
    force: bool = False,
    manifest: Union[str, Path, None] = None,
    selection: Selection | None = None,
    read_options: ReadOptions | None = None,
    jobs: int = 1,
    cache_dir: Union[str, Path, None] = None,
    tmp_dir: Union[str, Path, None] = None,
    progress: Progress = NO_PROGRESS,
) -> CleanReport:
    """Write SRC (a folder or a file) to DEST without its duplicates (module docstring).

    ``cache_dir`` and ``tmp_dir`` are the scan's (:func:`dedup.scan.scan`).  Raises
    :class:`CleanError` when SRC is missing, the two overlap, DEST is not empty and
    ``force`` is not given (:class:`NotEmpty`), or a ``manifest`` outside DEST cannot be
    written (its folder is missing: it is not made, as ``-o``'s is not); ``OSError`` when DEST cannot be
    written.  A SRC of which no document could be read is still copied (every file
    unchanged); ``documents`` is then 0 and ``errors`` says why.
    """
    src, dest = Path(src), Path(dest)
    manifest_path = Path(manifest) if manifest is not None else dest / MANIFEST_NAME
    _check_paths(src, dest, force, manifest_path)
    read_options = read_options or ReadOptions()
    # Both levels even without strip_paragraphs: a document is dropped only when its
    # paragraphs are copies of kept ones (decide), which the paragraph level says.  Every
    # document pair (a drop needs a direct one); every paragraph pair only to cut
    # paragraphs -- else a line repeated with small changes costs n(n-1)/2 pairs, and a
    # paragraph pair not reported only keeps a document (no text is lost).
    result = scan(src, settings, levels=("document", "paragraph"),
                  selection=selection, read_options=read_options, jobs=jobs, cache_dir=cache_dir,
                  tmp_dir=tmp_dir, progress=progress, all_pairs=True if strip_paragraphs else ("document",))
    plan = decide(result, strip_paragraphs, partial(compared, src, settings or Settings(), read_options))
    report = CleanReport(documents=len(result.documents), errors=list(result.errors),
                         warnings=list(result.warnings), files=result.files)
    done: Counter = Counter()
    with _undone_unless_complete(dest, done):
        dest.mkdir(parents=True, exist_ok=True)
        entries = list(files(src))
        progress.stage("writing", "files", len(entries))
        for rel, path in entries:
            how = write_one(src, dest, rel, path, plan, read_options)
            done[how] += 1
            if how is None:
                report.not_copied.append(rel)
            progress.advance()
        report.files_copied, report.files_rewritten, report.files_dropped = (
            done["copied"], done["rewritten"], done["dropped"])
        progress.close()
        _write_manifest(report, result, plan, src, dest, strip_paragraphs, manifest_path)
    return report


def _write_manifest(report: CleanReport, result, plan, src: Path, dest: Path, strip_paragraphs: bool,
                    manifest_path: Path) -> None:
    """Fill in ``report`` from the files written (``report.files_*`` come from the caller's
    counts) and the ``plan``, and write the manifest (the last file of a clean)."""
    report.dropped = len(plan.drop)
    report.stripped_documents = len(plan.strip)
    report.stripped_paragraphs = sum(len(p) for p in plan.strip.values())
    report.kept_near_duplicates = len(plan.kept)
    report.manifest = {
        "source": str(src), "dest": str(dest), "settings": result.settings,
        "strip_paragraphs": strip_paragraphs,
        "counts": {"documents": report.documents, "dropped": report.dropped,
                   "stripped_documents": report.stripped_documents,
                   "stripped_paragraphs": report.stripped_paragraphs, "files_copied": report.files_copied,
                   "files_rewritten": report.files_rewritten, "files_dropped": report.files_dropped,
                   "files_not_copied": len(report.not_copied),
                   "kept_near_duplicates": report.kept_near_duplicates},
        "dropped": [{"document": k, **v} for k, v in plan.drop.items()],
        "stripped": [{"document": k, "paragraphs": v} for k, v in plan.strip.items()],
        "kept_near_duplicates": [{"document": k, **v} for k, v in plan.kept.items()],
        "notes": plan.notes,
        "errors": [e.as_dict() for e in result.errors],
        "warnings": [{"path": w.path, "warning": w.warning} for w in result.warnings],
    }
    from ..report.machine import NAME_KEYS, dumps
    from ..report.output import report_file  # atomic, fsynced, mode from the umask

    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with report_file(str(manifest_path)) as out:  # names as in the reports: valid UTF-8, plus KEY_bytes
        out.write(dumps(report.manifest, NAME_KEYS | MANIFEST_NAME_KEYS) + "\n")
    report.manifest_path = manifest_path


@contextmanager
def _undone_unless_complete(dest: Path, done: Counter) -> Iterator[None]:
    """Run the writing of a clean; if it raises (a signal, an error), remove what it
    wrote when ``dest`` was missing or empty before (``dest`` is left as it was: gone,
    or empty), else leave it -- and add a note to the exception saying which (``done``:
    the files written so far, by how).  The removal runs with SIGINT and SIGTERM held
    (:func:`dedup.plan.shield.held_signals`): a second Ctrl-C cannot cut it short."""
    existed = dest.is_dir()
    fresh = not existed or not any(dest.iterdir())
    made = dest  # the outermost folder the run makes (DEST's missing parents are made too)
    while not existed and not made.parent.exists() and made.parent != made:
        made = made.parent
    try:
        yield
    except BaseException as err:
        written = sum(n for how, n in done.items() if how in ("copied", "rewritten"))
        if not existed and not made.exists():
            raise  # DEST was never made: nothing was written, nothing to say
        if fresh:
            with held_signals():
                removed = _remove_written(dest if existed else made, existed)
            if removed:
                note = f"{dest}: removed the partial copy this run had written; run the same command again"
            else:
                note = f"{dest}: could not remove the partial copy this run had written; remove it, then run again"
        else:
            note = (f"{dest}: incomplete: this run wrote {written:,} of its files before it stopped (files it "
                    f"replaced are not restored) and no manifest; run the same command again to finish it")
        err.__notes__ = [*getattr(err, "__notes__", []), note]
        raise


def _remove_written(dest: Path, existed: bool) -> bool:
    """Remove the folder ``dest`` (``existed``: only what is in it); ``True`` when all of it went."""
    try:
        if not existed:
            shutil.rmtree(dest)
        else:
            for entry in list(dest.iterdir()):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        return True
    except OSError:
        return False


def copied_errors(report: CleanReport) -> tuple[list[ReadError], list[ReadError]]:
    """``report.errors`` split in two: those of files copied unchanged to DEST, and those
    of entries not copied (:attr:`CleanReport.not_copied`: a FIFO is a read error, but
    nothing of it is in DEST; it is never read, so its one error bears its name)."""
    gone = set(report.not_copied)
    return [e for e in report.errors if e.path not in gone], [e for e in report.errors if e.path in gone]


def _check_paths(src: Path, dest: Path, force: bool, manifest: Path) -> None:
    if not src.exists():
        raise CleanError(f"{src}: no such file or folder")
    s, d, m = src.resolve(), dest.resolve(), manifest.resolve()
    if d == s or d.is_relative_to(s):
        raise CleanError(f"{dest} is inside {src}: the cleaned copy would be part of what it copies")
    if m == s or m.is_relative_to(s):
        raise CleanError(f"the manifest {manifest} is inside {src}: writing it would change the source")
    if s.is_relative_to(d):
        raise CleanError(f"{src} is inside {dest}: writing the copy would change the source")
    if dest.exists() and not dest.is_dir():
        raise CleanError(f"{dest} exists and is not a folder")
    above = next((p for p in dest.absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():  # DEST's folders cannot be made under a file
        raise CleanError(f"{dest}: cannot make it: {above} is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise NotEmpty(dest)
    if not m.is_relative_to(d):  # DEST and folders in it are made; any other folder must exist, as for -o
        from ..report.output import check_writable

        try:
            check_writable(str(manifest))
        except OSError as err:
            raise CleanError(f"cannot write the manifest {manifest}: {err.strerror}") from None
