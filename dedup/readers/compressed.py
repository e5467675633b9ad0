"""Compressed files (``.gz``, ``.bz2``, ``.xz``, ``.zst``): decompress, then read the
inner file as its own suffix says (``articles.jsonl.gz`` is JSON Lines).

Why a size bound: a few kilobytes can decompress to gigabytes (a "zip bomb"), and a
scan holds a file in memory.  Decompression runs chunk by chunk and stops as soon as
the output passes ``ReadOptions.max_decompressed`` (1 GiB by default, ``--max-decompressed``),
so such a file costs at most that much memory and is reported, not read.

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


def _file_chunks(opener: Callable[[BinaryIO], BinaryIO]) -> Callable[[bytes], Iterator[bytes]]:
    def chunks(data: bytes) -> Iterator[bytes]:
        stream = opener(io.BytesIO(data))
        while chunk := stream.read(_CHUNK):
            yield chunk

    return chunks


def _zstd_chunks(data: bytes) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        frame = zstandard.ZstdDecompressor().decompressobj()
        while not frame.eof:
            if pos >= len(data):
                raise EOFError
            piece = data[pos : pos + _ZSTD_SLICE]
            pos += len(piece)
            if out := frame.decompress(piece):
                yield out
        pos -= len(frame.unused_data)


#: Suffix -> (format name for messages, function yielding the decompressed chunks).
CODECS: dict[str, tuple[str, Callable[[bytes], Iterator[bytes]]]] = {
    ".gz": ("gzip", _file_chunks(lambda f: gzip.GzipFile(fileobj=f))),
    ".bz2": ("bzip2", _file_chunks(bz2.BZ2File)),
    ".xz": ("xz", _file_chunks(lzma.LZMAFile)),
    ".zst": ("zstd", _zstd_chunks),
}


def decompress(data: bytes, suffix: str, limit: int) -> bytes:
    """The decompressed ``data`` (compressed as ``suffix`` says), at most ``limit`` bytes."""
    kind, chunks = CODECS[suffix]
    out = bytearray()
    try:
        for chunk in chunks(data):
            out += chunk
            if len(out) > limit:
                raise DecompressError(
                    f"decompresses to more than {limit:,} bytes (the --max-decompressed limit); "
                    "not read"
                )
    except EOFError:
        raise DecompressError(
            f"truncated {kind} file: the data ends before the end-of-stream marker "
            f"({len(out):,} bytes decompressed)"
        ) from None
    except (OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError) as err:
        raise DecompressError(f"corrupt {kind} data ({err})") from None
    return bytes(out)


def inner_name(name: str) -> tuple[str, list[str]]:
    """``a.jsonl.gz.bz2`` -> (``a.jsonl``, [``.bz2``, ``.gz``]): the name whose suffix
    picks the reader, and the compressions to undo, outermost first."""
    path, layers = PurePosixPath(name), []
    while path.suffix.lower() in CODECS:
        layers.append(path.suffix.lower())
        path = path.with_suffix("")
    return str(path), layers


def read(data: bytes, name: str, options: "ReadOptions") -> Iterator["Item"]:
    from . import ReadError, reader_for

    inner, layers = inner_name(name)
    try:
        for suffix in layers:
            data = decompress(data, suffix, options.max_decompressed)
    except DecompressError as err:
        yield ReadError(name, str(err))
        return
    yield from reader_for(inner)(data, name, options)
