"""Compressed files (``.gz``, ``.bz2``, ``.xz``, ``.zst``): decompress, then read the
inner file as its own suffix says (``articles.jsonl.gz`` is JSON Lines).

Why size bounds: a few kilobytes can decompress to gigabytes (a "zip bomb").
Decompression is a stream, read as the inner format needs it: JSON Lines a record at a
time, any other format whole but never past ``ReadOptions.max_document`` (16 MiB by
default, ``--max-document-size``), so memory stays bounded whatever the file holds; and
it stops as soon as the output passes ``ReadOptions.max_decompressed`` (1 GiB by
default, ``--max-decompressed``), which bounds the time a JSON Lines bomb can take.

Why a stream ending early is an error: gzip, bzip2, xz and zstd all mark their end;
a file cut short (an interrupted download) would otherwise be scanned as a shorter
article and its missing paragraphs silently never compared.
Concatenated members/frames (``cat a.gz b.gz``) are read as one stream, as ``zcat`` does.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator

import zstandard

if TYPE_CHECKING:
    from . import Item, ReadOptions

_CHUNK = 1 << 20
#: zstd's decompressor has no output cap, so its input goes in slices this small: one
#: slice cannot expand past the bound by more than zstd's maximum ratio allows (~128 MiB).
_ZSTD_SLICE = 4096


class DecompressError(ValueError):
    """The compressed stream is corrupt, cut short or too large to read."""


def _file_chunks(opener: Callable[[BinaryIO], BinaryIO]) -> Callable[[BinaryIO], Iterator[bytes]]:
    def chunks(source: BinaryIO) -> Iterator[bytes]:
        stream = opener(source)
        while chunk := stream.read(_CHUNK):
            yield chunk

    return chunks


def _zstd_chunks(source: BinaryIO) -> Iterator[bytes]:
    rest = b""
    while rest or (rest := source.read(_ZSTD_SLICE)):
        frame = zstandard.ZstdDecompressor().decompressobj()
        while not frame.eof:
            piece, rest = (rest, b"") if rest else (source.read(_ZSTD_SLICE), b"")
            if not piece:
                raise EOFError
            if out := frame.decompress(piece):
                yield out
        rest = frame.unused_data


#: Suffix -> (format name for messages, function yielding the decompressed chunks of a stream).
CODECS: dict[str, tuple[str, Callable[[BinaryIO], Iterator[bytes]]]] = {
    ".gz": ("gzip", _file_chunks(lambda f: gzip.GzipFile(fileobj=f))),
    ".bz2": ("bzip2", _file_chunks(bz2.BZ2File)),
    ".xz": ("xz", _file_chunks(lzma.LZMAFile)),
    ".zst": ("zstd", _zstd_chunks),
}


#: Suffix -> a writable stream over a binary file that compresses what is written to it
#: (closing it writes the last block and leaves the file open): what dedup writes
#: compressed -- a report named ``*.json.gz`` (:func:`dedup.report.output.report_file`),
#: a file ``dedup clean`` recompresses -- in the codecs :data:`CODECS` reads back.  gzip
#: without a time stamp, so the same text is the same bytes.
COMPRESSORS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    ".gz": lambda raw: gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0),
    ".bz2": lambda raw: bz2.BZ2File(raw, "wb"),
    ".xz": lambda raw: lzma.LZMAFile(raw, "wb"),
    ".zst": lambda raw: zstandard.ZstdCompressor().stream_writer(raw, closefd=False),
}


def compress(data: bytes, suffix: str) -> bytes:
    """``data`` compressed as ``suffix`` says, through :data:`COMPRESSORS`."""
    out = io.BytesIO()
    with COMPRESSORS[suffix](out) as packed:
        packed.write(data)
    return out.getvalue()

class _Decompressed(io.RawIOBase):
    """The decompressed bytes of ``source`` as a readable stream, raising
    :class:`DecompressError` (with the reason) as soon as it is corrupt, cut short, or
    has produced more than ``limit`` bytes."""

    def __init__(self, source: BinaryIO, suffix: str, limit: int) -> None:
        self.kind, chunks = CODECS[suffix]
        self._chunks = chunks(source)
        self._pending = memoryview(b"")
        self.limit, self.produced = limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._next()
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _next(self) -> bytes | None:
        try:
            chunk = next(self._chunks, None)
        except EOFError:
            raise DecompressError(
                f"truncated {self.kind} file: the data ends before the end-of-stream marker "
                f"({self.produced:,} bytes decompressed)") from None
        except (OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError) as err:
            raise DecompressError(f"corrupt {self.kind} data ({err})") from None
        if chunk is not None:
            self.produced += len(chunk)
            if self.produced > self.limit:
                raise DecompressError(f"decompresses to more than {self.limit:,} bytes "
                                      "(the --max-decompressed limit); not read")
        return chunk


def decompress(data: bytes, suffix: str, limit: int) -> bytes:
    """``data`` (compressed as ``suffix`` says) decompressed whole; :class:`DecompressError`
    if corrupt, cut short or larger than ``limit`` bytes."""
    return _Decompressed(io.BytesIO(data), suffix, limit).readall()


def inner_name(name: str) -> tuple[str, list[str]]:
    """``a.jsonl.gz.bz2`` -> (``a.jsonl``, [``.bz2``, ``.gz``]): the name whose suffix
    picks the reader, and the compressions to undo, outermost first."""
    path, layers = PurePosixPath(name), []
    while path.suffix.lower() in CODECS:
        layers.append(path.suffix.lower())
        path = path.with_suffix("")
    return str(path), layers


def read_stream(source: BinaryIO, name: str, options: "ReadOptions") -> Iterator["Item"]:
    """The documents in a compressed stream, decompressed as they are read: JSON Lines
    record by record, other formats whole up to ``options.max_document`` bytes.  An
    error part-way (corrupt, cut short, past ``max_decompressed``) ends the file with a
    :class:`~dedup.readers.ReadError`; JSON Lines records read before it are kept."""
    from . import ReadError, read_stream as read_inner

    inner, layers = inner_name(name)
    stream: BinaryIO = source
    for suffix in layers:
        stream = io.BufferedReader(_Decompressed(stream, suffix, options.max_decompressed), _CHUNK)
    try:
        yield from read_inner(stream, name, options, PurePosixPath(inner).suffix.lower())
    except DecompressError as err:
        yield ReadError(name, str(err))
