"""What a command that reads inputs and writes a report must not read or write over:
an ``-o`` file that is an input of the run is refused (:func:`refuse_input`), and the
walk leaves out its own report, the reports and manifests this machine's dedup
recorded writing, and an index's files (:class:`LeftOut`, :func:`index_file`), each
named in a warning.  Split from :mod:`dedup.cli.output` (review R6 of session 24),
which sets a command's output up with them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

import click

from ..readers import ReadWarning
from ..report import shapes
from ..report.safety import printable
from ..report.written import MANIFEST, REPORT, Written
from ..sources import Selection, input_holding
from ..storage import own_files
from .failures import EXIT_ERROR


def refuse_input(path: str, inputs: Sequence[str], selection: Selection, what: str, text_field: str = "text",
                 records: Optional[str] = None) -> None:
    """Exit 2 with a line naming ``path`` if writing ``what`` there would overwrite an
    input of this run (an existing file named in ``inputs`` or read from a folder among
    them).  An earlier report recorded as written (:mod:`dedup.report.written`, in
    ``records``) that is found in a scanned folder, and named by no input itself, is no
    input (:class:`LeftOut`): it is written over (``dedup scan news/ -o
    news/report.json``, run twice).  A recorded clean manifest is not a report: it is
    refused like any input."""
    # The files named first: a root naming ``path`` itself decides (review R1: the first
    # root holding it did), one walk of the roots.
    root = input_holding(path, sorted(inputs, key=os.path.isdir), selection)
    if root is None:
        return
    found = os.path.isdir(root)
    if found and Written(records).kind(path) == REPORT:  # a clean manifest is refused like any input
        return
    held = "" if os.path.abspath(root) == os.path.abspath(path) else f" (read from {printable(repr(root))})"
    looks = ("; it looks like a report of dedup's, but not one this machine's dedup recorded writing (or it "
             "changed since): remove it, or write the report elsewhere" if found and _looks_like_report(path, text_field)
             else ", and would be overwritten; choose another file")
    click.echo(f"dedup: refusing to write {what} to {printable(repr(path))}: it is an input of this run{held}{looks}",
               err=True)
    sys.exit(EXIT_ERROR)


def _looks_like_report(path: str, text_field: str) -> bool:
    """Whether the file at ``path`` starts like one of dedup's reports (false if unreadable)."""
    try:
        with open(path, "rb") as f:
            return shapes.report_kind(f.read(shapes.HEAD), text_field) is not None
    except OSError:
        return False


class LeftOut:
    """What a command's walk leaves out besides the index's own files: its ``-o`` file
    ``output``, and the manifest ``dedup clean`` wrote (recorded: :mod:`dedup.report.written`),
    without a word (the report a command writes, or writes over, is never one of its
    inputs; a cleaned folder's manifest was a warning at every scan of it, new user's
    finding of session 18); each report this machine's dedup recorded writing found
    inside a folder, also through a link to it (tester's F2 of session 18: a link was
    read); and an index's files found there (an SQLite database, the files beside it
    named ``DATABASE-wal``, ``-shm``, ``-journal``, ``-lsh.*``: ``dedup index add ic/ --db
    ic/articles.dedup`` keeps it beside the corpus, new user's N26 of session 17) --
    each named in a warning (:meth:`warnings`).  A file named itself among ``roots`` is
    read whatever it is."""

    def __init__(self, output: Optional[str], roots: Sequence, records: Optional[str] = None) -> None:
        self._output = set() if output in (None, "-") else {os.path.abspath(output), os.path.realpath(output)}
        self._output_names = {os.path.basename(p) for p in self._output}
        self._roots = {os.path.abspath(r) for r in roots if isinstance(r, (str, os.PathLike)) and str(r) != "-"}
        self._root_ids = {_identity(r) for r in self._roots} - {None}
        # named as a scan names the files it reads: relative to the one root, else as walked
        self._single = os.fspath(roots[0]) if len(roots) == 1 else None
        self._written = Written(records)
        self.skipped: dict[str, str] = {}  # name -> why, in order, once each (a report's passages walk again)

    def selection(self, selection: Selection) -> Selection:
        """``selection`` leaving these files out too."""
        if selection.skip is not None:
            first, then = selection.skip, self._skip
            return replace(selection, skip=lambda found: first(found) or then(found))
        return replace(selection, skip=self._skip)

    def _skip(self, found) -> bool:
        """Whether to leave out ``found`` (a :class:`~dedup.sources.SourceFile`, or a
        path): a few string tests a file, a ``stat`` only for a recorded file's name or
        identity and an index's companion's name, a read of 16 bytes only for a size
        an SQLite database can have (:func:`index_file`)."""
        path, identity = os.fspath(found), getattr(found, "identity", None)
        if identity in self._root_ids if identity is not None else os.path.abspath(path) in self._roots:
            return False
        name = os.path.basename(path)
        if name in self._output_names and {os.path.abspath(path), os.path.realpath(path)} & self._output:
            return True
        recorded = name in self._written.names or self._written.holds(identity)
        kind = self._written.kind(path, identity) if recorded else None
        if kind == MANIFEST:
            return True
        why = _WHY[kind] if kind is not None else index_file(path, getattr(found, "size", None))
        if why is None:
            return False
        self.skipped.setdefault(Path(os.path.relpath(path, self._single)).as_posix() if self._single
                                else path, why)
        return True

    def warnings(self) -> list[ReadWarning]:
        """A warning per file left out."""
        return [ReadWarning(path, f"not read: {why}, not a document (name the file itself to read it)")
                for path, why in self.skipped.items()]


def _identity(path: str) -> Optional[tuple[int, int]]:
    """``(device, inode)`` of the file at ``path`` (links followed), or ``None``."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


#: Why a recorded report is left out.
_WHY = {REPORT: "a report dedup wrote on this machine (-o)"}
#: The first bytes of every SQLite database file (https://www.sqlite.org/fileformat.html).
SQLITE_HEADER = b"SQLite format 3\x00"
#: An SQLite database is a whole number of pages, and a page is 512 to 65,536 bytes (a
#: power of two; same source): a file of another size is none, and is not opened.
SQLITE_MIN_PAGE = 512
#: The suffixes of the files an SQLite index keeps beside itself, ``DATABASE-SUFFIX``
#: (SQLite's ``-wal``, ``-shm``, ``-journal``; the bucket files ``-lsh.*``, their lock and
#: temporary files): :func:`dedup.storage.own_files` decides, for a name that has one.
SIDECARS = ("-wal", "-shm", "-journal")
BUCKET_FILE = "-lsh."


def index_file(path: str, size: Optional[int] = None) -> Optional[str]:
    """Why the file at ``path`` (of ``size`` bytes, when the caller knows) is no
    document, when it is an SQLite database (a dedup index, or another: no document
    starts with a NUL byte) or one of the files an SQLite index keeps beside itself
    (:data:`SIDECARS`, :data:`BUCKET_FILE`; :func:`dedup.storage.own_files`); else
    ``None``.  Cost (review R10 of session 18: every file got an open, a read and a
    ``stat`` per ``-`` in its name, 36 us a file): a string test of the name; a
    ``stat`` and a 16-byte read of the database for a name with a companion's suffix;
    a 16-byte read of the file only when ``size`` is unknown or a whole number of
    512-byte pages (1 text file in 512)."""
    folder, name = os.path.split(path)
    base = _companion_of(name)
    if base is not None:
        database = os.path.join(folder, base)
        if os.path.isfile(database) and _sqlite(database) and own_files(database)(path):
            return f"a file of the index {base}"
    if (size is None or (size > 0 and size % SQLITE_MIN_PAGE == 0)) and _sqlite(path):
        return "an SQLite database (a dedup index?)"
    return None


def _companion_of(name: str) -> Optional[str]:
    """The database name ``name`` would be a companion of (``x.dedup-wal``,
    ``x.dedup-lsh.3f...``: ``x.dedup``), or ``None``."""
    for suffix in SIDECARS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    at = name.rfind(BUCKET_FILE)
    return name[:at] if at > 0 else None


def _sqlite(path: str) -> bool:
    """Whether the file at ``path`` starts as an SQLite database does (never waits: a
    FIFO is opened without blocking)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.read(fd, len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False
    finally:
        os.close(fd)
