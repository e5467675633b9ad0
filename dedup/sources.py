"""Find the files to read under the paths a user names.

Why a walk of our own instead of ``Path.rglob``: a scan must not die half-way because
one directory vanished or is unreadable, must not loop forever on a symlink cycle, and
must name every file it skipped with the reason.  Files come out in path order
(:func:`path_order`), which is what makes "the canonical copy is the first one" stable.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

from .readers import ReadError, describe_os_error
from .remote import expand, is_remote


@dataclass(frozen=True)
class SourceFile:
    """A regular file to read: ``name`` is its path relative to the scanned root;
    ``identity`` (``(device, inode)``) and ``size`` (bytes) from the walk's own
    ``stat`` of it (links followed), so that no caller needs a second one.  Path-like
    (``os.fspath`` gives ``path``), so a :attr:`Selection.skip` predicate on paths
    takes it as it is."""

    path: Path
    name: str
    identity: tuple[int, int]
    size: int

    def __fspath__(self) -> str:
        return os.fspath(self.path)


@dataclass(frozen=True)
class Selection:
    """Which files a walk yields: glob patterns match the relative path or the file name.
    ``skip`` (a predicate on a found file: a :class:`SourceFile`, path-like, so a
    predicate on paths works, and one that looks at ``identity`` or ``size`` needs no
    ``stat`` of its own) leaves out files silently, wherever they are found: the
    index's own files for ``dedup index add`` / ``check``
    (:func:`dedup.storage.own_files`), the reports and the index kept in a scanned
    folder (:class:`dedup.cli.left_out.LeftOut`)."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    hidden: bool = False
    skip: Optional[Callable[[str], bool]] = field(default=None, compare=False)

    def wants(self, rel: str) -> bool:
        """Whether the file at relative path ``rel`` (``/``-separated) is read: it
        matches an ``include`` pattern (if any are given) and no ``exclude`` one."""
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


def path_order(rel: str) -> tuple[tuple[str, str], ...]:
    """The sort key of a relative path (``/``-separated) in path order: folder by folder,
    each name by its stem, then by its extension (``os.path.splitext``).

    Why not the bytes of the whole name: the names users give copies add to the stem
    (``story (1).txt``, ``ru-copy.txt``, ``a-edit.txt``, ``flood-reprint.txt``), and
    ``' '`` and ``'-'`` sort before ``'.'``, so every such copy came before its original
    and was kept as a group's canonical member while the original was dropped (new
    user's N20 of session 18).  A stem sorts before any longer stem it begins, so the
    original comes first.  Only the order changes: which pairs are found does not."""
    return tuple(os.path.splitext(part) for part in rel.split("/"))


def _matches(patterns: Sequence[str], rel: str, base: str) -> bool:
    return any(fnmatchcase(rel, p) or fnmatchcase(base, p) for p in patterns)


def check_roots(roots: Sequence[Path], stdin: str = "-") -> None:
    """Raise :class:`FileNotFoundError` for a root that does not exist at all (a typo is
    the caller's error, not a read error); a broken link exists and is walked into a
    read error."""
    for root in roots:
        if str(root) != stdin and not os.path.lexists(root):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(root))


def input_holding(target: Union[str, Path], roots: Sequence[Union[str, Path]],
                  selection: Selection = Selection()) -> Optional[str]:
    """The root (one of ``roots``, as given) under which :func:`walk` would read the
    existing file ``target``, or ``None`` -- so an output file is never written over an
    input of the same run.  A root names ``target`` itself (the same path, or a link to
    the same file), or is a folder holding it where the walk goes (not hidden unless
    ``selection.hidden``, not pruned, and wanted by ``selection``).  Both the written
    and the resolved paths are tried (the walk follows links)."""
    target = Path(target)
    if not os.path.lexists(target):
        return None
    for root in roots:
        root_path = Path(root)
        if str(root) != "-" and is_remote(root):  # a quoted local glob or a file:// URL can name it too
            if _expands_to(str(root), target):
                return str(root)
            continue
        if str(root) == "-" or not root_path.exists():
            continue
        if os.path.abspath(root_path) == os.path.abspath(target) or _same_file(root_path, target):
            return str(root)
        if not root_path.is_dir():
            continue
        for base, path in ((os.path.abspath(root_path), os.path.abspath(target)),
                           (os.path.realpath(root_path), os.path.realpath(target))):
            rel = os.path.relpath(path, base)
            if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
                continue
            parts = Path(rel).as_posix().split("/")
            hidden = not selection.hidden and any(p.startswith(".") for p in parts)
            pruned = any(selection.prunes("/".join(parts[: i + 1])) for i in range(len(parts) - 1))
            if not hidden and not pruned and selection.wants("/".join(parts)):
                return str(root)
    return None


def _expands_to(pattern: str, target: Path) -> bool:
    """Whether the fsspec URL or glob ``pattern`` (:func:`dedup.remote.expand`) names
    the local file ``target`` (its absolute or resolved path; a match through another
    link to it is not seen).  Patterns of other filesystems (``s3://``) never do."""
    try:
        fs, files = expand(pattern)
    except (OSError, ValueError):
        return False  # the scan itself reports it
    if "file" not in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        return False
    names = {os.path.abspath(target), os.path.realpath(target)}
    return any(name in names for name, _ in files)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def walk(root: Path, selection: Selection = Selection()) -> Iterator[Union[SourceFile, ReadError]]:
    """Yield the files under ``root`` (or ``root`` itself if it is a file), in path order
    (:func:`path_order` of the relative paths), and a :class:`ReadError` for each entry that cannot be visited,
    carrying the entry's own identity (``(device, inode)``, a link's and not its
    target's: ``/dev/zero`` and a link to it are two errors; the folder's when it cannot
    be listed) for :func:`dedup.inputs.list_inputs`.

    A ``root`` that is not a regular file or folder (a FIFO, a device such as
    ``/dev/zero``, a socket) or a broken link is a :class:`ReadError`, exactly as it
    would be inside a folder: reading it could block forever or never end.

    The whole tree is listed before the first file is yielded, on purpose: a scan
    writes into its scratch folder (``--tmp-dir``), its cache and its index as soon as
    the first files are signed, and any of them may lie inside the scanned tree; a
    folder listed later would hand those files back as documents (review R1 of
    session 14: a lazy walk did).
    """
    try:
        st = os.stat(root)
    except OSError as err:
        yield ReadError(str(root), _stat_failure(root, err), _unfollowed(root))
        return
    if not stat.S_ISDIR(st.st_mode):
        yield _file_or_error(root, st)
        return
    yield from _walk_tree(root, selection, (st.st_dev, st.st_ino))


def local_file(path: Path) -> Union[SourceFile, ReadError]:
    """The file at ``path`` (named by its file name), or a :class:`ReadError` named
    ``str(path)`` saying why it is not read -- a broken link, a loop of links, a
    folder, a FIFO, a device, a socket -- with the entry's identity, as :func:`walk`
    says it of a root.  For files a glob or a ``file://`` URL names
    (:func:`dedup.inputs.list_inputs`): fsspec lists these entries as files too."""
    try:
        st = os.stat(path)
    except OSError as err:
        return ReadError(str(path), _stat_failure(path, err), _unfollowed(path))
    return _file_or_error(path, st)


def _file_or_error(path: Path, st: os.stat_result) -> Union[SourceFile, ReadError]:
    if stat.S_ISREG(st.st_mode):
        return SourceFile(path, path.name, (st.st_dev, st.st_ino), st.st_size)
    return ReadError(str(path), NOT_REGULAR, _unfollowed(path))


#: Why a FIFO, device or socket is not read.
NOT_REGULAR = "not a regular file"


def _unfollowed(path: Union[Path, os.DirEntry]) -> Optional[tuple[int, int]]:
    """The identity of the entry itself (a link's own, not its target's), or None."""
    try:
        st = path.stat(follow_symlinks=False)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _stat_failure(path: Union[Path, os.DirEntry], err: OSError) -> str:
    reason = describe_os_error(err)
    if path.is_symlink():
        return "symbolic link loop" if err.errno == errno.ELOOP else f"broken symbolic link ({reason})"
    return reason


def _walk_tree(root: Path, selection: Selection, root_id: tuple[int, int]) -> list[Union[SourceFile, ReadError]]:
    """Every entry under ``root``, in path order (:func:`path_order`).  Iterative (an explicit stack
    of folders to enter and of folders to leave, which keeps the identities of the
    current folder's ancestors for loop detection), so a tree nested thousands of
    folders deep costs a little memory, not Python's recursion limit.  Each folder is
    walked once, under the first of its paths in path order (subfolders are entered in
    that order): one reached again through another link holds the same files, read
    once -- walking it again made links forming a DAG exponential (25 folders, 48
    links: 2^24 paths to one file, a scan that never ended; tester T9, session 24)."""
    found: list[tuple[str, Union[SourceFile, ReadError]]] = []
    ancestors: set[tuple[int, int]] = set()
    walked: set[tuple[int, int]] = set()
    # (folder, its relative path, its identity); a None folder means "leave it"
    stack: list[tuple[Optional[Path], str, tuple[int, int]]] = [(root, "", root_id)]
    while stack:
        directory, rel_dir, ident = stack.pop()
        if directory is None:
            ancestors.discard(ident)
            continue
        if ident in walked:
            continue
        walked.add(ident)
        ancestors.add(ident)
        stack.append((None, rel_dir, ident))
        try:
            entries = list(os.scandir(directory))
        except OSError as err:
            found.append((rel_dir or ".", ReadError(rel_dir or ".", describe_os_error(err), ident)))
            continue
        prefix = rel_dir + "/" if rel_dir else ""
        folders: list[tuple[Path, str, tuple[int, int]]] = []
        for entry in entries:
            rel = prefix + entry.name
            if not selection.hidden and entry.name.startswith("."):
                continue
            try:
                st = entry.stat()  # follows symlinks
            except OSError as err:
                # A broken link or a loop of links names no folder: like a file, it is an
                # input (and its failure an error) only if the patterns want its name
                # (tester's T1 of #12: `--include '*.txt'` failed on a dangling `.md`).
                if not entry.is_symlink() or selection.wants(rel):
                    found.append((rel, ReadError(rel, _stat_failure(entry, err), _unfollowed(entry))))
                continue
            if stat.S_ISDIR(st.st_mode):
                if selection.prunes(rel):
                    continue
                child = (st.st_dev, st.st_ino)
                if child in ancestors:
                    found.append((rel, ReadError(rel, "symbolic link loop (points back to a parent folder)",
                                                 _unfollowed(entry))))
                    continue
                folders.append((Path(entry.path), rel, child))
            elif stat.S_ISREG(st.st_mode):
                if selection.wants(rel):
                    found.append((rel, SourceFile(Path(entry.path), rel, (st.st_dev, st.st_ino), st.st_size)))
            elif selection.wants(rel):
                found.append((rel, ReadError(rel, NOT_REGULAR, _unfollowed(entry))))
        folders.sort(key=lambda folder: path_order(folder[1]), reverse=True)  # the first popped first
        stack.extend(folders)
    found.sort(key=lambda pair: path_order(pair[0]))
    return [entry for _, entry in found]
