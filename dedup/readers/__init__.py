"""Reading: turn a file (or stdin) into documents, whatever its format.

Every format is a small module in this package with one function,
``read(data: bytes, name: str, options: ReadOptions) -> Iterator[Document | ReadError]``,
registered here by file suffix.  Adding a format touches one file plus one line below.
Formats: plain text (anything unlisted), HTML, Markdown, JSON Lines and JSON arrays
(one document per record, addressed ``file#id``), Parquet (one per row, the same way;
needs pyarrow), and any of them compressed with gzip, bzip2, xz or zstd.  ``-`` is stdin, read as ``ReadOptions.stdin_format``.

Why errors are *yielded*, not raised: a scan must carry on past a bad file (or a bad
record inside a good file) and still tell the user exactly what was skipped and why.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Optional, Union

from . import compressed, html, jsonl, markdown, parquet, text


@dataclass(frozen=True)
class Document:
    """One document to check: ``path`` is how reports name it (``file`` or ``file#id``);
    ``text`` is the text that reported offsets refer to, and ``source`` says what that
    text is: ``"file"`` (the decoded file), ``"extracted-html"``, ``"extracted-markdown"``
    (text taken out of markup) or ``"json-field"`` (a record's text field).  ``record``
    is a JSON record's own id with its type kept (:func:`dedup.readers.jsonl.typed_id`:
    the number ``7`` is ``#7``, the string ``"7"`` is ``7``), with ``@LINE`` added when
    the same id was an earlier record's in the file, ``None`` for a whole file or a
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
    """A file or record that could not be read, and why (reported, never fatal).
    ``identity``: ``(device, inode)`` of an entry a folder walk could not visit, when
    known (:func:`dedup.sources.walk`), so that an entry reached under two overlapping
    roots is reported once, as a file is read once; not part of equality.
    ``count``: how many failed files or records the entry stands for: 1, except the
    entry that closes a file with more than :data:`ERRORS_KEPT` errors, which stands
    for all those not listed one by one (its ``error`` says how many, of which kinds);
    count errors with :func:`error_count`, not ``len``."""

    path: str
    error: str
    identity: Optional[tuple[int, int]] = field(default=None, compare=False, repr=False)
    count: int = 1

    def as_dict(self) -> dict:
        """The entry as JSON reports write it: ``path``, ``error``, and ``count`` when
        it stands for more than one error."""
        return {"path": self.path, "error": self.error, **({"count": self.count} if self.count != 1 else {})}


#: Read errors listed one by one per file (or stdin); the rest of a file's errors are
#: counted, by kind, in one last entry (:attr:`ReadError.count`), so that a file of bad
#: records costs a bounded number of entries whatever its size (a 4 MB JSON Lines file
#: of 500,000 bad lines held 500,000 entries, 399 MB; tester T1, session 24).
ERRORS_KEPT = 100
#: Kinds of the errors not listed that the last entry names apiece (the rest: "other").
_KINDS_NAMED = 10


def error_count(errors: Iterable[ReadError]) -> int:
    """How many files and records failed, in ``errors`` (see :attr:`ReadError.count`)."""
    return sum(e.count for e in errors)


#: Default bound on what one compressed file may decompress to: generous for a real
#: corpus file, finite so that a "zip bomb" is reported instead of running for hours.
MAX_DECOMPRESSED = 1 << 30
#: Default bound on one document held in memory: a file read whole (text, HTML,
#: Markdown, a JSON array) or one JSON Lines record.  Signing costs ~20 bytes of memory
#: per byte of text (measured: an 18 MB one-line text peaks at 458 MB RSS), so this
#: keeps one file's cost to a few hundred MB; a news article is 5-50 KB, a novel ~1 MB.
MAX_DOCUMENT = 16 << 20


@dataclass(frozen=True)
class ReadOptions:
    """Format options shared by every reader: the JSON record fields holding a
    document's text and id, the format of stdin, the decompressed-size bound, and
    ``encoding``: the codec (a Python codec name, such as ``cp1251`` or ``gb18030``)
    of text, Markdown and HTML files that are not UTF-8 (``None``: such a file is an
    error; :func:`dedup.readers.text.decode_text`).  Raises ``ValueError`` for an
    unknown codec."""

    text_field: str = "text"
    id_field: str = "id"
    stdin_format: str = "text"
    max_decompressed: int = MAX_DECOMPRESSED
    max_document: int = MAX_DOCUMENT
    encoding: Optional[str] = None

    def __post_init__(self) -> None:
        if self.stdin_format not in STDIN_FORMATS:
            raise ValueError(f"unknown stdin format {self.stdin_format!r}; "
                             f"choose one of {', '.join(STDIN_FORMATS)}")
        if self.max_decompressed < 1 or self.max_document < 1:
            raise ValueError("max_decompressed and max_document must be at least 1 byte")
        if not self.text_field or not self.id_field:
            raise ValueError("the text and id field names must not be empty")
        if self.encoding is not None:
            try:  # bytes.decode refuses codecs that are not text encodings (base64, rot13, zlib)
                b"a".decode(self.encoding, "ignore")  # (an empty input skips the check)
            except LookupError as err:
                raise ValueError(f"unknown encoding {self.encoding!r}: {err} (a Python text codec name, "
                                 "such as cp1251, gb18030, shift_jis, latin-1)") from None


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
}
DEFAULT_READER: Reader = text.read
#: Suffix -> reader of a binary stream, for formats read piece by piece (any size).
STREAM_READERS: dict[str, Callable[[BinaryIO, str, ReadOptions], Iterator[Item]]] = {
    ".jsonl": jsonl.read_stream,
    ".ndjson": jsonl.read_stream,
    ".parquet": parquet.read_stream,
}

#: ``--stdin-format`` name -> the file suffix it reads as (stdin has no file name).
STDIN_FORMATS: dict[str, str] = {"text": ".txt", "html": ".html", "markdown": ".md", "jsonl": ".jsonl",
                                 "json": ".json"}
#: The path that means stdin, and how reports name it (records: ``<stdin>#id``).
STDIN_ARG, STDIN_NAME = "-", "<stdin>"


def read_bytes(data: bytes, name: str, options: ReadOptions | None = None) -> Iterator[Item]:
    """Documents (and errors) in ``data``, read as the format ``name`` implies."""
    yield from _guarded(read_stream(io.BytesIO(data), name, options or ReadOptions()), name)


def read_stream(stream: BinaryIO, name: str, options: ReadOptions, suffix: str | None = None) -> Iterator[Item]:
    """Documents in a binary stream, read as the format ``name`` (or ``suffix``) implies.

    Memory is bounded per file: JSON Lines are read line by line, every other format
    is read whole but only up to ``options.max_document`` bytes (a larger file is an
    error, and no more than the limit is ever read), compressed files are decompressed
    as a stream (:mod:`~dedup.readers.compressed`).
    """
    suffix = suffix if suffix is not None else Path(name).suffix.lower()
    if suffix in compressed.CODECS:
        yield from compressed.read_stream(stream, name, options)
    elif suffix in STREAM_READERS:
        yield from STREAM_READERS[suffix](stream, name, options)
    else:
        try:
            data = text.read_bounded(stream, options.max_document,
                                     "the file (a JSON array is read whole)" if suffix == ".json" else "the file")
        except text.TooLarge as err:
            yield ReadError(name, str(err))
            return
        yield from READERS.get(suffix, DEFAULT_READER)(data, name, options)


def reader_for(name: str) -> Reader:
    """The reader of whole-file data for a file name, chosen by its (lower-cased) suffix."""
    return READERS.get(Path(name).suffix.lower(), DEFAULT_READER)


_log = logging.getLogger(__name__)


def _guarded(items: Iterator[Item], name: str) -> Iterator[Item]:
    """``items``, ending with a :class:`ReadError` for ``name`` if the reader fails in a
    way no reader anticipates (a bug, or memory running out): one file's failure, not
    the run's.  Its traceback goes to the ``dedup.readers`` logger (``dedup --debug``).
    At most :data:`ERRORS_KEPT` errors are passed on one by one; the rest are counted by
    kind and said in one last entry for ``name`` (:func:`_kept`)."""
    return _kept(_caught(items, name), name)


def _kept(items: Iterator[Item], name: str) -> Iterator[Item]:
    """``items`` with the errors after the first :data:`ERRORS_KEPT` left out, counted by
    kind (:func:`_kind`), and said at the end in one :class:`ReadError` for ``name``
    whose ``count`` is how many were left out."""
    listed, kinds = 0, {}
    for item in items:
        if not isinstance(item, ReadError):
            yield item
        elif listed < ERRORS_KEPT:
            listed += 1
            yield item
        else:
            kind = _kind(item.error)
            if kind not in kinds and len(kinds) >= _KINDS_NAMED:
                kind = "other"
            kinds[kind] = kinds.get(kind, 0) + item.count
    if kinds:
        more = sum(kinds.values())
        named = ", ".join(f"{n:,} {k}" for k, n in sorted(kinds.items(), key=lambda kn: (kn[0] == "other", -kn[1])))
        yield ReadError(name, f"{more:,} more errors in this file, not listed one by one (only its first "
                              f"{ERRORS_KEPT} are): {named}", count=more)


def _kind(error: str) -> str:
    """What kind of error a message says, without where and the details: ``line 7:
    invalid JSON (Expecting value at column 1)`` is ``invalid JSON``."""
    what = re.sub(r"^(line|record|row) \d+: ", "", error)
    return re.split(r" \(|: ", what, maxsplit=1)[0][:80]


def _caught(items: Iterator[Item], name: str) -> Iterator[Item]:
    """``items``, ending with a :class:`ReadError` for ``name`` if the reader fails (see
    :func:`_guarded`)."""
    try:
        yield from items
    except OSError as err:
        # The file failed while it was read (a disk's I/O error, a network file system
        # gone, a file of /proc): the file's error, said as the OS says it -- it was an
        # "unexpected error while reading: OSError: [Errno 5] ..." (session 22 audit).
        _log.debug("reading %s failed", name, exc_info=True)
        yield ReadError(name, f"read failed: {describe_os_error(err)}")
    except Exception as err:
        _log.debug("reading %s failed", name, exc_info=True)
        yield ReadError(name, f"unexpected error while reading: {type(err).__name__}: {err}")


def read_file(path: Path, name: str, options: ReadOptions | None = None) -> Iterator[Item]:
    """Documents in the file at ``path``, reported under ``name``; anything but a
    regular file (a FIFO, a device) is an error, never opened for reading (it could
    block forever or never end)."""
    options = options or ReadOptions()
    try:
        stream = open_regular(path)
    except OSError as err:
        yield ReadError(name, describe_os_error(err))
        return
    with stream:
        yield from read_opened(stream, name, options)


def read_opened(stream: BinaryIO, name: str, options: ReadOptions) -> Iterator[Item]:
    """Documents in an open binary file (local or fsspec's), reported as ``name``; a
    reader's unexpected failure is one read error for the file (see :func:`_guarded`)."""
    yield from _guarded(read_stream(stream, name, options), name)


#: Why a FIFO, device or socket is not read.
NOT_REGULAR = "not a regular file"


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; :class:`OSError` for anything else.  Opened
    non-blocking first: opening a FIFO for reading would wait for a writer."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, NOT_REGULAR)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        # A Ctrl-C inside fdopen can leave fd already closed by the half-made file
        # object: an EBADF here must not replace the KeyboardInterrupt in flight
        # (it did: the interrupt became a read error and the run went on to exit 0).
        try:
            os.close(fd)
        except OSError:
            pass
        raise


def read_stdin(options: ReadOptions | None = None, stream: BinaryIO | None = None) -> Iterator[Item]:
    """Documents read from ``stream`` (default: stdin) as ``options.stdin_format``
    (JSON Lines record by record, the other formats up to ``max_document`` bytes)."""
    options = options or ReadOptions()
    if stream is None and sys.stdin is None:  # closed (``dedup scan - <&-``): Python makes it None
        yield ReadError(STDIN_NAME, "standard input is closed")
        return
    source = stream if stream is not None else sys.stdin.buffer
    yield from _guarded(read_stream(source, STDIN_NAME, options, STDIN_FORMATS[options.stdin_format]),
                        STDIN_NAME)


def describe_os_error(err: OSError) -> str:
    """A short, user-facing reason for an OS error (no Python class names)."""
    return err.strerror or str(err)
