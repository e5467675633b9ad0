"""Reading: turn a file (or stdin) into documents, whatever its format.

Every format is a small module in this package with one function,
``read(data: bytes, name: str, options: ReadOptions) -> Iterator[Document | ReadError]``,
registered here by file suffix.  Adding a format touches one file plus one line below.

Why errors are *yielded*, not raised: a scan must carry on past a bad file (or a bad
record inside a good file) and still tell the user exactly what was skipped and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Union

from . import text


@dataclass(frozen=True)
class Document:
    """One document to check: ``path`` is how reports name it (``file`` or ``file#id``);
    ``text`` is the decoded text that reported offsets refer to."""

    path: str
    text: str


@dataclass(frozen=True)
class ReadError:
    """A file or record that could not be read, and why (reported, never fatal)."""

    path: str
    error: str


@dataclass(frozen=True)
class ReadOptions:
    """Format options shared by every reader."""

    text_field: str = "text"
    id_field: str = "id"


Item = Union[Document, ReadError]
Reader = Callable[[bytes, str, ReadOptions], Iterator[Item]]

#: Suffix (lower case) -> reader.  Anything not listed is read as plain text.
READERS: dict[str, Reader] = {}
DEFAULT_READER: Reader = text.read


def reader_for(name: str) -> Reader:
    """The reader for a file name, chosen by its (lower-cased) suffix."""
    return READERS.get(Path(name).suffix.lower(), DEFAULT_READER)


def read_bytes(data: bytes, name: str, options: ReadOptions | None = None) -> Iterator[Item]:
    """Documents (and errors) in ``data``, read as the format ``name`` implies."""
    yield from reader_for(name)(data, name, options or ReadOptions())


def read_file(path: Path, name: str, options: ReadOptions | None = None) -> Iterator[Item]:
    """Documents in the file at ``path``, reported under ``name``."""
    try:
        data = path.read_bytes()
    except OSError as err:
        yield ReadError(name, describe_os_error(err))
        return
    yield from read_bytes(data, name, options)


def describe_os_error(err: OSError) -> str:
    """A short, user-facing reason for an OS error (no Python class names)."""
    return err.strerror or str(err)
