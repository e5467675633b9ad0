"""Find the files to read under the paths a user names.

Why a walk of our own instead of ``Path.rglob``: a scan must not die half-way because
one directory vanished or is unreadable, must not loop forever on a symlink cycle, and
must name every file it skipped with the reason.  Files come out in path order (sorted
relative paths), which is what makes "the canonical copy is the first one" stable.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterator, Sequence, Union

from .readers import ReadError, describe_os_error


@dataclass(frozen=True)
class SourceFile:
    """A regular file to read: ``name`` is its path relative to the scanned root."""

    path: Path
    name: str


@dataclass(frozen=True)
class Selection:
    """Which files a walk yields: glob patterns match the relative path or the file name."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    hidden: bool = False

    def wants(self, rel: str) -> bool:
        base = rel.rsplit("/", 1)[-1]
        if self.include and not _matches(self.include, rel, base):
            return False
        return not _matches(self.exclude, rel, base)

    def prunes(self, rel: str) -> bool:
        """Whether a directory is skipped whole (hidden, ``.git``, or excluded)."""
        base = rel.rsplit("/", 1)[-1]
        if base == ".git" or (not self.hidden and base.startswith(".")):
            return True
        return _matches(self.exclude, rel, base)


def _matches(patterns: Sequence[str], rel: str, base: str) -> bool:
    return any(fnmatchcase(rel, p) or fnmatchcase(base, p) for p in patterns)


def walk(root: Path, selection: Selection = Selection()) -> Iterator[Union[SourceFile, ReadError]]:
    """Yield the files under ``root`` (or ``root`` itself if it is a file), sorted by
    relative path, and a :class:`ReadError` for each entry that cannot be visited."""
    try:
        st = os.stat(root)
    except OSError as err:
        yield ReadError(str(root), describe_os_error(err))
        return
    if not stat.S_ISDIR(st.st_mode):
        yield SourceFile(root, root.name)
        return
    found: list[Union[SourceFile, ReadError]] = []
    _walk_dir(root, "", selection, {(st.st_dev, st.st_ino)}, found)
    yield from sorted(found, key=lambda item: item.name if isinstance(item, SourceFile) else item.path)


def _walk_dir(
    directory: Path,
    prefix: str,
    selection: Selection,
    ancestors: set[tuple[int, int]],
    found: list[Union[SourceFile, ReadError]],
) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as err:
        found.append(ReadError(prefix.rstrip("/") or ".", describe_os_error(err)))
        return
    for entry in entries:
        rel = prefix + entry.name
        if not selection.hidden and entry.name.startswith("."):
            continue
        try:
            st = entry.stat()  # follows symlinks
        except OSError as err:
            reason = describe_os_error(err)
            if entry.is_symlink():
                reason = "symbolic link loop" if err.errno == errno.ELOOP else f"broken symbolic link ({reason})"
            found.append(ReadError(rel, reason))
            continue
        if stat.S_ISDIR(st.st_mode):
            if selection.prunes(rel):
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in ancestors:
                found.append(ReadError(rel, "symbolic link loop (points back to a parent folder)"))
                continue
            _walk_dir(Path(entry.path), rel + "/", selection, ancestors | {ident}, found)
        elif stat.S_ISREG(st.st_mode):
            if selection.wants(rel):
                found.append(SourceFile(Path(entry.path), rel))
        elif selection.wants(rel):
            found.append(ReadError(rel, "not a regular file"))
