"""Reading: turn a file (or stdin) into documents, whatever its format.

Every format is a small module in this package with one function,
``read(data: bytes, name: str, options: ReadOptions) -> Iterator[Document | ReadError]``,
registered here by file suffix.  Adding a format touches one file plus one line below.
Formats: plain text (anything unlisted), HTML, Markdown, JSON Lines and JSON arrays
(one document per record, addressed ``file#id``), and any of them compressed with
gzip, bzip2, xz or zstd.  ``-`` is stdin, read as ``ReadOptions.stdin_format``.

Why errors are *yielded*, not raised: a scan must carry on past a bad file (or a bad
record inside a good file) and still tell the user exactly what was skipped and why.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional, Union

from . import compressed, html, jsonl, markdown, text


@dataclass(frozen=True)
class Document:
    """One document to check: ``path`` is how reports name it (``file`` or ``file#id``);
    ``text`` is the text that reported offsets refer to, and ``source`` says what that
    text is: ``"file"`` (the decoded file), ``"extracted-html"``, ``"extracted-markdown"``
    (text taken out of markup) or ``"json-field"`` (a record's text field).  ``record``
    is a JSON record's own id (its id field's value), ``None`` for a whole file or a
    record without one.
    ``warning`` is a note for the report's ``warnings`` (see :class:`ReadWarning`),
    empty for most documents."""

    path: str
    text: str
    source: str = "file"
    record: Optional[str] = None
    warning: str = ""


@dataclass(frozen=True)
class ReadError:
    """A file or record that could not be read, and why (reported, never fatal)."""

    path: str
    error: str


#: Default bound on what one compressed file may decompress to: generous for a real
#: corpus file, finite so that a "zip bomb" is reported instead of filling memory.
MAX_DECOMPRESSED = 1 << 30


@dataclass(frozen=True)
class ReadOptions:
    """Format options shared by every reader: the JSON record fields holding a
    document's text and id, the format of stdin, and the decompressed-size bound."""

    text_field: str = "text"
    id_field: str = "id"
    stdin_format: str = "text"
    max_decompressed: int = MAX_DECOMPRESSED

    def __post_init__(self) -> None:
        if self.stdin_format not in STDIN_FORMATS:
            raise ValueError(f"unknown stdin format {self.stdin_format!r}; "
                             f"choose one of {', '.join(STDIN_FORMATS)}")
        if self.max_decompressed < 1:
            raise ValueError("max_decompressed must be at least 1 byte")
        if not self.text_field or not self.id_field:
            raise ValueError("the text and id field names must not be empty")


@dataclass(frozen=True)
class ReadWarning:
    """Something worth knowing about how a document was read, where nothing was lost
    (a JSON record whose id repeats an earlier record's: it is named ``FILE#ID@LINE``
    and compared like any other)."""

    path: str
    warning: str


Item = Union[Document, ReadError]
Reader = Callable[[bytes, str, ReadOptions], Iterator[Item]]

#: Suffix (lower case) -> reader.  Anything not listed is read as plain text.
READERS: dict[str, Reader] = {
    ".html": html.read,
    ".htm": html.read,
    ".md": markdown.read,
    ".markdown": markdown.read,
    ".jsonl": jsonl.read_lines,
    ".ndjson": jsonl.read_lines,
    ".json": jsonl.read_array,
    **{suffix: compressed.read for suffix in compressed.CODECS},
}
DEFAULT_READER: Reader = text.read

#: ``--stdin-format`` name -> reader (stdin has no file name to tell the format).
STDIN_FORMATS: dict[str, Reader] = {
    "text": text.read,
    "html": html.read,
    "markdown": markdown.read,
    "jsonl": jsonl.read_lines,
    "json": jsonl.read_array,
}
#: The path that means stdin, and how reports name it (records: ``<stdin>#id``).
STDIN_ARG, STDIN_NAME = "-", "<stdin>"


def reader_for(name: str) -> Reader:
    """The reader for a file name, chosen by its (lower-cased) suffix."""
    return READERS.get(Path(name).suffix.lower(), DEFAULT_READER)


def read_bytes(data: bytes, name: str, options: ReadOptions | None = None) -> Iterator[Item]:
    """Documents (and errors) in ``data``, read as the format ``name`` implies."""
    yield from _guarded(reader_for(name)(data, name, options or ReadOptions()), name)


_log = logging.getLogger(__name__)


def _guarded(items: Iterator[Item], name: str) -> Iterator[Item]:
    """``items``, ending with a :class:`ReadError` for ``name`` if the reader fails in a
    way no reader anticipates (a bug, or memory running out): one file's failure, not
    the run's.  Its traceback goes to the ``dedup.readers`` logger (``dedup --debug``)."""
    try:
        yield from items
    except Exception as err:
        _log.debug("reading %s failed", name, exc_info=True)
        yield ReadError(name, f"unexpected error while reading: {type(err).__name__}: {err}")


def read_file(path: Path, name: str, options: ReadOptions | None = None) -> Iterator[Item]:
    """Documents in the file at ``path``, reported under ``name``."""
    try:
        data = path.read_bytes()
    except OSError as err:
        yield ReadError(name, describe_os_error(err))
        return
    yield from read_bytes(data, name, options)


def read_stdin(options: ReadOptions | None = None, stream: BinaryIO | None = None) -> Iterator[Item]:
    """Documents read from ``stream`` (default: stdin) as ``options.stdin_format``."""
    options = options or ReadOptions()
    data = (stream if stream is not None else sys.stdin.buffer).read()
    yield from _guarded(STDIN_FORMATS[options.stdin_format](data, STDIN_NAME, options), STDIN_NAME)


def describe_os_error(err: OSError) -> str:
    """A short, user-facing reason for an OS error (no Python class names)."""
    return err.strerror or str(err)
