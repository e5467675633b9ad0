"""The files a killed index creation leaves, and how they are told from a live one's.

:func:`dedup.storage.sqlite._create` writes a new index's schema to ``NAME-new.PID.HEX``
beside it and links it in under ``NAME``; its ``finally`` removes the file.  Only
SIGKILL (or a power cut) skips the ``finally``: the file stays, with its
``-journal`` when the kill came inside the schema's transaction (#12, session 14).

How a leftover is known to be abandoned (a live creation's files are never touched):

* the creator holds an exclusive ``flock`` on its file from the moment the file exists
  (:func:`claimed`; the kernel releases it when the process dies, however it dies), so a
  file whose lock can be taken has no live creator of this version -- and a lock that
  cannot be taken means a live one, whatever its process id says (a creator in another
  PID namespace, such as a container sharing the folder, has an id meaningless here);
* and the process its name records is gone: no such process, a zombie, or a process
  that started after the file was last written (the id was reused: on Linux, from
  ``/proc/PID/stat``'s start time against the file's mtime, with 2 s of slack for the
  boot time's whole seconds).  This covers the instant between the file's creation and
  its lock, and a creation by an older dedup, which took no lock.  Where the start time
  cannot be read, a live process is taken for the creator (the file stays).

A ``-journal`` whose main file is gone is judged by the process alone (the creator
removes the main file first, then the journal, and only while it lives).
"""

from __future__ import annotations

import fcntl
import os
import re
from typing import Optional

#: Suffix after the index's name: ``-new.PID.HEX`` and a companion SQLite may add.
_LEFTOVER = re.compile(r"-new\.([1-9]\d{0,9})\.[0-9a-f]{8}(-journal|-wal|-shm)?")
#: Seconds a reused process may seem to predate the file (``btime`` is whole seconds).
_SLACK = 2.0


def claimed(temp: str) -> int:
    """Create ``temp`` (it must not exist) and hold an exclusive ``flock`` on it; returns
    the descriptor, to be closed only after the file is removed and SQLite's connection
    to it closed (closing any descriptor of a file drops the process's POSIX locks on
    it, which are SQLite's)."""
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)  # SQLite's default mode
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
    except OSError:
        os.close(fd)
        raise
    return fd


def remove_abandoned(name: str) -> list[str]:
    """Remove the leftovers of killed creations of the index ``name`` (see the module
    docstring); returns the names removed.  Errors (a folder that cannot be listed, a
    file that cannot be removed) leave things as they are.

    The folder is listed only when a creation may have left something
    (:func:`may_have_leftovers`): listing it on every open cost 7.6 ms of CPU per open
    beside 10,000 files and 91 ms beside 100,000 (measured in one run: the open and
    close of a small index cost 7 ms; an index kept in the folder it indexes sits
    beside all of that folder's files)."""
    if not may_have_leftovers(name):
        return []
    folder, base = os.path.split(os.path.abspath(name))
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    stems: dict[str, list[str]] = {}
    for entry in names:
        m = _LEFTOVER.fullmatch(entry[len(base):]) if entry.startswith(base + "-new.") else None
        if m:
            stems.setdefault(entry[:len(entry) - len(m.group(2) or "")], []).append(entry)
    removed = []
    for stem, files in sorted(stems.items()):
        pid = int(_LEFTOVER.fullmatch(stem[len(base):]).group(1))  # type: ignore[union-attr]
        path = os.path.join(folder, stem)
        lock = _free_lock(path) if stem in files else None
        try:
            if stem in files and lock is None:
                continue  # held (a live creation), or gone meanwhile
            if not _creator_gone(pid, os.path.join(folder, sorted(files)[0])):
                continue
            for entry in sorted(files, key=len):  # the main file first, as its creator does
                try:
                    os.unlink(os.path.join(folder, entry))
                    removed.append(entry)
                except OSError:
                    pass
        finally:
            if lock is not None:
                os.close(lock)
    return removed


def may_have_leftovers(name: str) -> bool:
    """Whether a killed creation may have left files beside the index ``name``: a
    creation starts only while ``name`` does not exist, and its file becomes ``name``
    by a hard link, so its leftovers can be there only while ``name`` is missing (a
    creation killed before the link; the open that creates the index lists them) or has
    a second name (one killed between the link and the removal of its own name).  Not
    seen: the file of a creation that lost the race to another one and was killed
    before it removed its file -- it stays (a few KB) until ``name`` is gone."""
    try:
        return os.stat(name).st_nlink > 1
    except OSError:
        return True


def _free_lock(path: str) -> Optional[int]:
    """A descriptor holding ``path``'s ``flock``, or ``None`` when another process holds
    it (or the file is gone or cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _creator_gone(pid: int, path: str) -> bool:
    """Whether process ``pid`` cannot be the one that wrote ``path``."""
    if pid == os.getpid():
        return False  # this process's own creation (another thread's)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    except (OSError, OverflowError):  # not a process id (a stray name: review R1): not ours to remove
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        written = os.stat(path).st_mtime
    except (OSError, IndexError, ValueError, StopIteration):
        return False
    if fields[0] == b"Z":  # dead, not yet reaped by its parent
        return True
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started > written + _SLACK
