"""What a scan reads, listed before it is read.

:func:`list_inputs` walks the scan's roots -- folders, files, fsspec URLs and globs,
stdin -- and yields, in scan order, each file still unread (:class:`LocalFile`,
:class:`RemoteFile`, :class:`Stdin`: each knows how to read itself) and a
:class:`~dedup.readers.ReadError` for each entry that cannot be visited.  Reading
is a separate step (``entry.read()``), so it can happen elsewhere: the workers of
either engine open their share of the files themselves (:mod:`dedup.plan.read`), and
only what they cannot see is read by the scan's own process (stdin, ``memory://``, a
folder a cluster's worker does not mount); :func:`dedup.scan.read_paths` reads in
one process (the index, a report's passages).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

from .readers import STDIN_ARG, STDIN_NAME, Document, ReadError, ReadOptions, describe_os_error, read_file, read_opened, read_stdin
from .remote import expand, is_remote
from .sources import Selection, local_file, walk


#: An input's ``needs`` when any process can read it (a file in an object store, by URL).
ANYWHERE = ""


@dataclass(frozen=True)
class LocalFile:
    """A file on this machine's filesystem: ``path`` (absolute, so that another process
    opens the same file whatever its working folder) reported as ``name``; ``size`` in
    bytes (a hint for splitting the work).  ``needs``: the scan root it was found
    under: another process can read the file if it sees that path.  (Each input has a
    ``needs``: that path, :data:`ANYWHERE`, or ``None`` when only this process can
    read it.)  ``given``: the path as given, when the file alone was given and is
    named by its file name: its errors name that path (a new user of session 16:
    ``dedup scan data/2024/x.jsonl`` said only ``x.jsonl:1: ...``)."""

    path: str
    name: str
    size: int
    options: ReadOptions
    needs: str
    given: str = ""

    @property
    def shown(self) -> str:
        """The file's name in a message about the file as a whole."""
        return self.given or self.name

    def read(self) -> Iterator[Union[Document, ReadError]]:
        """The file's documents in order, and a :class:`ReadError` for each file or
        record that cannot be read (never raised: the scan goes on)."""
        read = read_file(Path(self.path), self.name, self.options)
        if not self.given:
            return read
        return (replace(item, path=self.given + item.path[len(self.name):])
                if isinstance(item, ReadError) and item.path.startswith(self.name) else item for item in read)


@dataclass(frozen=True)
class RemoteFile:
    """A file named through fsspec: ``path`` on the filesystem ``fs`` (picklable, as
    fsspec's filesystems are), reported as ``name``; ``size`` in bytes (0 if unknown).
    ``needs``: :data:`ANYWHERE` for a store (``s3://``, ``gs://``, ``https://``), the
    file's folder on this machine's disk (``file://``, a local glob), ``None`` for
    ``memory://`` (it lives in this process)."""

    fs: object
    path: str
    name: str
    size: int
    options: ReadOptions
    needs: Optional[str]

    @property
    def shown(self) -> str:
        return self.name

    def read(self) -> Iterator[Union[Document, ReadError]]:
        if _is_local(self.fs):  # opened as a local file is: a FIFO put there since the listing is no wait
            yield from read_file(Path(self.path), self.name, self.options)
            return
        try:
            stream = self.fs.open(self.path, "rb")
        except OSError as err:
            yield ReadError(self.name, describe_os_error(err))
            return
        with stream:
            yield from read_opened(stream, self.name, self.options)


@dataclass(frozen=True)
class Stdin:
    """This process's standard input: only this process can read it."""

    options: ReadOptions
    size: int = 0
    needs: Optional[str] = None

    @property
    def shown(self) -> str:
        return STDIN_NAME

    def read(self) -> Iterator[Union[Document, ReadError]]:
        return read_stdin(self.options)


Input = Union[LocalFile, RemoteFile, Stdin]


def roots_of(paths: Union[str, Path, Sequence[Union[str, Path]]]) -> list[Union[Path, str]]:
    """What the commands are given, as :func:`list_inputs` takes it: a string that is an
    fsspec URL or a glob (``file:///data/x.txt``, a quoted ``'docs/*.txt'``:
    :func:`dedup.remote.is_remote`) stays a string, anything else (``-`` too) is a Path.
    ``scan``, ``check`` and ``index add`` read their inputs through it alike.  A path may
    be ``bytes`` or any ``os.PathLike`` (one, or a sequence of them).

    Raises :class:`FileNotFoundError` for an empty path (``Path("")`` would be the
    current folder; the commands refuse ``''`` too) and :class:`TypeError` for
    something that is not a path (tester's T11 of session 24: ``scan(b"x.txt")`` was
    taken for a list of ints)."""
    given = [paths] if isinstance(paths, (str, bytes, os.PathLike)) else list(paths)
    roots: list[Union[Path, str]] = []
    for p in given:
        if not isinstance(p, (str, bytes, os.PathLike)):
            raise TypeError(f"a path to read is a str, bytes or os.PathLike, not {type(p).__name__}: {p!r}")
        p = os.fsdecode(p) if isinstance(p, bytes) else p
        if p == "":
            raise FileNotFoundError(errno.ENOENT, "No such file or directory (the path is empty)", "")
        roots.append(p if isinstance(p, str) and is_remote(p) else Path(p))
    return roots


def list_inputs(
    roots: Sequence[Union[Path, str]], selection: Selection, options: ReadOptions,
    naming: Optional[Callable[[Path], str]] = None,
) -> Iterator[Union[Input, ReadError]]:
    """Every file under ``roots`` (unread), and every entry that cannot be visited, in
    scan order (``-``: stdin; a string: an fsspec URL or glob, :mod:`dedup.remote`).
    Files, and entries that cannot be visited, are named as a scan reports them, or
    ``naming(path)`` when given (the index's ids, :mod:`dedup.index.ids`).

    A file reached twice (named twice, or under two overlapping roots) is listed once:
    otherwise it would be reported as its own duplicate.  So is an entry that cannot
    be visited (by its identity, :func:`dedup.sources.walk`): one problem, one error.  Stdin is listed once too.
    """
    seen: set[tuple[int, int]] = set()
    stdin_listed = False
    for root in roots:
        if isinstance(root, str):
            fs, files = expand(root)
            url, local = "://" in root, _is_local(fs)
            for path, size in files:
                if local and naming is not None:  # the same id however the file was named
                    name = naming(Path(path))
                else:
                    name = fs.unstrip_protocol(path) if url else path
                if local:  # fsspec lists a FIFO, a device or a broken link as a file: it is a read error
                    found = local_file(Path(path))
                    if isinstance(found, ReadError):
                        if found.identity is None or found.identity not in seen:
                            seen.update(() if found.identity is None else (found.identity,))
                            yield ReadError(name, found.error)
                        continue
                yield RemoteFile(fs, path, name, size, options, _needs(fs, path))
            continue
        if root == Path(STDIN_ARG):
            if not stdin_listed:
                stdin_listed = True
                yield Stdin(options)
            continue
        single = len(roots) == 1
        prefix = "" if single else root.as_posix().rstrip("/") + "/"
        absolute = os.path.abspath(root)
        for entry in walk(root, selection):
            if isinstance(entry, ReadError):  # named as the files beside it are
                if entry.identity is not None:
                    if entry.identity in seen:
                        continue
                    seen.add(entry.identity)
                if entry.path == str(root):
                    yield entry
                elif naming is not None:
                    yield ReadError(naming(root / entry.path), entry.error)
                else:
                    yield ReadError(prefix + entry.path, entry.error)
                continue
            if selection.skip is not None and selection.skip(entry):
                continue
            if entry.identity in seen:
                continue
            seen.add(entry.identity)
            given = ""
            if naming is not None:
                name = naming(entry.path)
            elif entry.path == root:
                name = entry.name if single else root.as_posix()
                given = root.as_posix() if name != root.as_posix() else ""
            else:
                name = prefix + entry.name
            yield LocalFile(os.path.abspath(entry.path), name, entry.size, options, absolute, given)


def _protocols(fs) -> set[str]:
    return {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)


def _is_local(fs) -> bool:
    """Whether the fsspec filesystem ``fs`` is this machine's disk (``file://``, a glob)."""
    return bool(_protocols(fs) & {"file", "local"})


def _needs(fs, path: str) -> Optional[str]:
    """What another process needs to read ``path`` on the fsspec filesystem ``fs``."""
    if "memory" in _protocols(fs):
        return None
    return os.path.dirname(path) if _is_local(fs) else ANYWHERE

