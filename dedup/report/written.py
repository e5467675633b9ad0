"""The reports dedup wrote on this machine, so that a later scan never reads one as a document.

A report written into a scanned folder (``dedup scan news/ -o news/report.txt``) would
otherwise be read by the next scan of that folder: a text, CSV or HTML report quotes
the duplicated passages, so it turns up as a copy of every file it names.  Recognizing
a report by its contents cannot be trusted -- one forged first line hid a copied
document from a duplicate gate (tester's F5, session 16) -- so the commands record
each report file they write (:func:`record`: its absolute path, size, modification
time and XXH3-64 digest) in ``reports-written.jsonl`` in the cache folder
(:func:`dedup.cache.default_cache_dir`), and a file found in a scanned folder is left
out only when it is still exactly such a report (:class:`Written`).  Nobody who can
only write the scanned folder can forge that.

The record holds one line per report file that still exists unchanged (older lines
are dropped as each report is recorded), written whole under an exclusive ``flock``.
A record that cannot be read or written is no error: the report is then read like any
file.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path
from typing import Optional

import xxhash

from ..cache import default_cache_dir
from .output import replacing

#: The record's file name in the cache folder, and its lock's.
RECORD, LOCK = "reports-written.jsonl", "reports-written.lock"
#: What a recorded file is (its entry's ``kind``; older entries have none: a report).
REPORT, MANIFEST = "report", "clean manifest"
_CHUNK = 1 << 20


def digest(path: str) -> str:
    """XXH3-64 of the file's bytes, hex."""
    h = xxhash.xxh3_64()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _entry(path: str, known: Optional[str] = None, kind: str = REPORT) -> Optional[dict]:
    """The record line for the file at ``path`` as it is now (``known``: its digest,
    taken as it was written): its resolved path (one file reached through a linked
    folder is the same file, new user's N17 of session 17); ``None`` if unreadable."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # -o /dev/stdout, a FIFO: nothing to record (and never read)
            return None
        return {"path": os.path.realpath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                "digest": known or digest(path), "kind": kind}
    except OSError:
        return None


def _still(entry: dict) -> bool:
    """Whether the recorded file still has its recorded size and time (cheap: no read)."""
    try:
        st = os.stat(entry["path"])
    except (OSError, KeyError, TypeError):
        return False
    return st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns")


def _read(folder: Path) -> list[dict]:
    try:
        with open(folder / RECORD, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []
    return [e for e in lines if isinstance(e, dict) and isinstance(e.get("path"), str)]


def record(path: str, folder: Optional[Path] = None, known: Optional[str] = None, kind: str = REPORT) -> None:
    """Record the report just written at ``path`` (in ``folder``, default the cache
    folder; ``known``: its digest, taken as it was written, else it is read; ``kind``:
    what it is, as a warning about it says, :data:`REPORT` or :data:`MANIFEST`) -- a
    report folder (``--format parquet``) as each file in it; nothing happens when that
    cannot be done."""
    if os.path.isdir(path):
        new = [e for e in (_entry(p, kind=kind) for p in sorted(str(p) for p in Path(path).rglob("*") if p.is_file()))
               if e]
    else:
        new = [e for e in [_entry(path, known, kind)] if e]
    if not new:
        return
    folder = Path(folder) if folder is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            replaced = {e["path"] for e in new}
            kept = [e for e in _read(folder) if e["path"] not in replaced and _still(e)] + new
            with replacing(folder / RECORD) as temp:
                Path(temp).write_text("".join(json.dumps(e) + "\n" for e in kept), encoding="utf-8")
    except OSError:
        return


class Written:
    """The recorded reports (read once, from ``folder``, default the cache folder):
    ``kind(path)`` tells whether the file at ``path`` (as named, or resolved) is one of
    them, unchanged (same size, time and digest: the digest is read only for a file
    whose path, size and time match), and what it is."""

    def __init__(self, folder: Optional[Path] = None) -> None:
        entries = _read(Path(folder) if folder is not None else default_cache_dir())
        self._by_path = {e["path"]: e for e in entries}
        #: The recorded files' names (a walk's cheap first test).
        self.names = {os.path.basename(p) for p in self._by_path}
        self._identities: Optional[dict[tuple[int, int], dict]] = None

    def holds(self, identity: Optional[tuple[int, int]]) -> bool:
        """Whether ``identity`` (``(device, inode)``, links followed: a walk's
        :class:`~dedup.sources.SourceFile`) is a recorded file's -- reached under
        another name, through a link to it (tester's F2 of session 18: a file link to a
        recorded report was read), or by its real path when the record holds the path
        it was written through (records made before they were resolved: tester's F2b).
        The recorded files are ``stat``-ed once, at the first question; ``kind`` then
        tells whether it is one still."""
        if identity is None or not self._by_path:
            return False
        if self._identities is None:
            self._identities = {}
            for path, entry in self._by_path.items():
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                self._identities[(st.st_dev, st.st_ino)] = entry
        return identity in self._identities

    def __bool__(self) -> bool:
        return bool(self._by_path)

    def kind(self, path: str | os.PathLike, identity: Optional[tuple[int, int]] = None) -> Optional[str]:
        """What the file at ``path`` (of ``identity``, when known: see :meth:`holds`)
        is (:data:`REPORT`, :data:`MANIFEST`) when it is a recorded file, unchanged;
        else ``None``."""
        entry = (self._by_path.get(os.path.abspath(path)) or self._by_path.get(os.path.realpath(path))
                 or (self._identities or {}).get(identity))
        if entry is None or not _still(entry):
            return None
        try:
            same = digest(entry["path"]) == entry.get("digest")
        except OSError:
            return None
        return (entry.get("kind") if entry.get("kind") in (REPORT, MANIFEST) else REPORT) if same else None
