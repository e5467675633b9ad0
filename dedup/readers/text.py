"""Plain text: decode bytes to one document.

Why not ``open(encoding="utf-8")`` and hope: a corpus folder contains strays (binaries,
Latin-1 leftovers, UTF-16 exports from Windows tools).  A byte-order mark decides
UTF-8/16/32, else UTF-8 is tried; anything else is reported with the offending byte
rather than guessed at, because a wrong guess silently corrupts every score.  An archive
in a legacy encoding (cp1251, GB18030, Shift_JIS) is read by naming it
(``ReadOptions.encoding``, ``--encoding``): text, Markdown and HTML files that are not
UTF-8 are then decoded with it (:func:`decode_text`); JSON is UTF-8 by its standard
(RFC 8259) and is not.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
from typing import TYPE_CHECKING, BinaryIO, Iterator

if TYPE_CHECKING:
    from . import Item, ReadOptions

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class DecodeError(ValueError):
    """The bytes are not text we can decode without guessing."""


class TooLarge(ValueError):
    """A file or document is larger than the reader may hold in memory."""


#: Bytes :func:`read_bounded` asks for first; each later read asks for as much again
#: as it has (so a file of n bytes takes ~log2(n / 64 KB) reads).
_FIRST_READ = 1 << 16


def read_bounded(stream: BinaryIO, limit: int, what: str = "the document") -> bytes:
    """All of ``stream``, or :class:`TooLarge` if it holds more than ``limit`` bytes
    (never reading more than ``limit + 1``: a 200 MB line or a bottomless stream costs
    at most the limit).

    Not one ``read(limit + 1)``: that allocates the whole limit (16 MB by default) for
    every file, ~70 us of CPU a file (0.4 s over the 6,400 files of
    benchmarks/bench_scale.py's 19 MB).  A regular file is read in one piece of its
    size (+1, to see the end), so it costs its size once; other streams (pipes,
    decompressors) in growing pieces from 64 KB, joined at the end: up to twice the
    document for a moment.  A short read before the end is read past, never taken
    for the end."""
    if limit < 0:
        data = b"x"
    else:
        pieces, size, first = [], 0, _size_of(stream)
        while size <= limit:
            ask = first + 1 if first is not None and not pieces else max(_FIRST_READ, size)
            piece = stream.read(min(limit + 1 - size, ask))
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        data = b"".join(pieces)
    if len(data) > limit:
        raise TooLarge(f"{what} is larger than {max(limit, 0):,} bytes (the --max-document-size limit); "
                       "not read")
    return data


def _size_of(stream: BinaryIO) -> int | None:
    """The size of the regular file ``stream`` reads from its start, else None."""
    try:
        st = os.fstat(stream.fileno())
        at = stream.tell()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return max(st.st_size - at, 0) if stat.S_ISREG(st.st_mode) else None


def has_bom(data: bytes) -> bool:
    """Whether ``data`` starts with a Unicode byte-order mark."""
    return data.startswith(tuple(bom for bom, _ in _BOMS))


def decode(data: bytes) -> str:
    """Decode ``data`` as UTF-8, or as the encoding its byte-order mark names."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as err:
                raise DecodeError(f"invalid {encoding} (byte offset {err.start + len(bom)})") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DecodeError(f"binary file (NUL byte at offset {nul})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DecodeError(
            f"not UTF-8 and no byte-order mark (byte 0x{data[err.start]:02x} at offset {err.start})"
        ) from None


#: What the error of a file that is not UTF-8 adds for the formats ``--encoding`` reads.
ENCODING_HINT = "; --encoding names the encoding of a legacy archive, such as cp1251 or gb18030"


def decode_text(data: bytes, encoding: str | None) -> str:
    """:func:`decode`, then, for bytes that are not UTF-8 (and have no byte-order mark),
    ``encoding`` when given -- a fallback, not a first try: a folder of a legacy archive
    often holds UTF-8 files too, and legacy single-byte encodings decode almost any
    bytes, so decoding UTF-8 text as cp1251 would give mojibake without an error, while
    text in cp1251 or GB18030 is almost never valid UTF-8.  A NUL byte is still a binary
    file (a UTF-16/32 ``encoding``, whose text holds NUL bytes, is tried on those too).
    :class:`DecodeError` names the first byte each encoding refused; without
    ``encoding`` it says that ``--encoding`` exists (new user's N10 of session 18)."""
    try:
        return decode(data)
    except DecodeError as err:
        if encoding is None or has_bom(data):
            raise DecodeError(f"{err}{ENCODING_HINT}" if str(err).startswith("not UTF-8") else str(err)) from None
        if str(err).startswith("binary file") and not codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
            raise
        utf8 = str(err)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise DecodeError(f"{utf8}, nor {encoding} (byte 0x{data[err.start]:02x} at offset {err.start})") from None


def surrogate_problem(value: str) -> str | None:
    """Why ``value`` is not Unicode text -- it holds a lone UTF-16 surrogate, which only
    a JSON escape such as ``"\\ud800"`` or a Python caller can put there; it cannot be
    encoded, hashed or written to a report -- or ``None`` when it is text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return (f"a lone surrogate {ascii(value[err.start])[1:-1]} at character {err.start} "
                "(not valid Unicode)")
    return None


def read(data: bytes, name: str, options: "ReadOptions") -> Iterator["Item"]:
    from . import Document, ReadError

    try:
        yield Document(name, decode_text(data, options.encoding))
    except DecodeError as err:
        yield ReadError(name, str(err))
