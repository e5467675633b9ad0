"""JSON records: JSON Lines (``.jsonl``, ``.ndjson``: one object per line) and JSON
arrays of objects (``.json``).  Each record is one document.

A record's text is its ``ReadOptions.text_field`` (``--text-field``, default ``text``).
Reported offsets refer to that field's value.

Record names.  A record whose ``id_field`` (``--id-field``, default ``id``) is a string
or a number is named ``FILE#ID``: the string itself, or the number as JSON writes it.
Ids are compared as JSON values, text *and* type: the number ``7`` and the string
``"7"`` are two ids (and ``7`` and ``7.0`` are two numbers as written).  A record
without an id (no field, or ``null``) is named ``FILE:LINE`` with its line number
(JSON Lines) or 1-based position (array), which no ``FILE#ID`` can be; so is a record
whose id is the empty string, with a warning (it was named ``FILE#``, a second one
``FILE#@LINE``, and the index refused the first and stored the second as ``@LINE``).  No record is
ever dropped for its name: when a name is already taken -- an id repeated (a page
re-crawled under the same URL), or ``7`` after ``"7"`` -- the later record is named
``FILE#ID@LINE`` (``@LINE`` again while that is taken too), compared like any other,
and its document carries a warning saying so (reports list it under ``warnings``, not
``errors``: nothing was lost).

Why one bad record does not sink the file: datasets are large and a few broken lines
(a truncated last line, a record without text, a stray byte) are normal.  Each bad line
becomes an error naming the file, the record and the line; every other record is read.
An array cannot be resynchronized after a syntax error, so there the error is the file's.
Hostile records are errors too, never crashes: nesting deeper than the parser's
recursion allows (~1,000 levels), an integer of more than 4,300 digits (Python's
int-conversion limit) even in a field never read, and a text or id holding a lone
surrogate (``"\\ud800"`` is valid JSON but not Unicode text: it cannot be encoded,
hashed or written to a report).
"""

from __future__ import annotations

import codecs
import io
import json
import math
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator

from .text import DecodeError, TooLarge, decode, has_bom, read_bounded, surrogate_problem

if TYPE_CHECKING:
    from . import Item, ReadOptions

_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number",
               float: "a number", bool: "a boolean", type(None): "null"}


def _kind(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def read_lines(data: bytes, name: str, options: "ReadOptions") -> Iterator["Item"]:
    """Read JSON Lines held in memory (see :func:`read_stream`)."""
    yield from read_stream(io.BytesIO(data), name, options)


def read_stream(stream: BinaryIO, name: str, options: "ReadOptions") -> Iterator["Item"]:
    """Read JSON Lines from a binary stream: every non-blank line is a record.

    Lines are read and decoded one by one, so the file may be of any size (memory holds
    one line), and one bad byte costs one record.  A line longer than
    ``options.max_document`` bytes is an error for that record and is skipped without
    being held.  A file with a UTF-16/32 byte-order mark is decoded whole (its lines
    cannot be split as bytes), so it may be at most ``max_document`` bytes.
    """
    from . import ReadError

    limit = options.max_document
    first = stream.readline(limit + 1)
    if has_bom(first) and not first.startswith(codecs.BOM_UTF8):
        try:
            rest = read_bounded(stream, limit - len(first), "a UTF-16/32 JSON Lines file")
            lines: Iterator[bytes | str | None | _Endless] = iter(decode(first + rest).split("\n"))
        except (DecodeError, TooLarge) as err:
            yield ReadError(name, str(err))
            return
    else:
        lines = _bounded_lines(stream, first.removeprefix(codecs.BOM_UTF8), limit)
    names = _Names(name)
    for number, line in enumerate(lines, 1):
        where = f"line {number}"
        if isinstance(line, _Endless):
            yield ReadError(f"{name}:{number}", f"{where}: no line end within {LONG_LINE_SKIPPED * limit:,} bytes "
                                                f"({LONG_LINE_SKIPPED}x the --max-document-size limit); "
                                                "the rest of the file is not read")
            return
        if line is None:
            yield ReadError(f"{name}:{number}", f"{where}: longer than {limit:,} bytes "
                                                "(the --max-document-size limit); not read")
            continue
        if not line.strip():
            continue
        try:
            record = _parse(decode(line) if isinstance(line, bytes) else line)
        except DecodeError as err:
            yield ReadError(f"{name}:{number}", f"{where}: {err}")
        except json.JSONDecodeError as err:
            yield ReadError(f"{name}:{number}", f"{where}: invalid JSON ({err.msg.removesuffix(' at')} at column {err.colno})")
        except _Unparsable as err:
            yield ReadError(f"{name}:{number}", f"{where}: {err}")
        else:
            yield _document(record, number, where, options, names)


def read_array(data: bytes, name: str, options: "ReadOptions") -> Iterator["Item"]:
    """Read a JSON array of records (parsed whole: the file as a whole is held to
    ``options.max_document``, see :func:`dedup.readers.read_stream`)."""
    from . import ReadError

    try:
        records = _parse(decode(data))
    except (DecodeError, _Unparsable) as err:
        yield ReadError(name, str(err))
        return
    except json.JSONDecodeError as err:
        yield ReadError(name, f"invalid JSON ({err.msg} at line {err.lineno} column {err.colno})")
        return
    if not isinstance(records, list):
        yield ReadError(name, f"expected a JSON array of records, found {_kind(records)}")
        return
    names = _Names(name)
    for number, record in enumerate(records, 1):
        yield _document(record, number, f"record {number}", options, names)


#: A line longer than the limit is skipped up to this many times the limit; a line with
#: no end by then (``/dev/zero`` on stdin: tester T2, session 24, read on forever) ends
#: the file's reading with an error.
LONG_LINE_SKIPPED = 16
class _Endless:
    """What :func:`_bounded_lines` yields for a line without an end within the skip
    bound: a type of its own, which no line read can be (review R5)."""


_ENDLESS = _Endless()


def _bounded_lines(stream: BinaryIO, first: bytes, limit: int) -> Iterator[bytes | None | _Endless]:
    """The lines of ``stream`` (``first`` already read), ``None`` for one longer than
    ``limit`` bytes, whose rest is skipped a chunk at a time, and :data:`_ENDLESS` (the
    last item) for one still without an end after ``LONG_LINE_SKIPPED * limit`` bytes."""
    line = first
    while line:
        if len(line) > limit and not (len(line) == limit + 1 and line.endswith(b"\n")):
            skipped = len(line)
            while line and not line.endswith(b"\n"):
                if skipped > LONG_LINE_SKIPPED * limit:
                    yield _ENDLESS
                    return
                line = stream.readline(1 << 20)
                skipped += len(line)
            yield None
        else:
            yield line
        line = stream.readline(limit + 1)


class _Unparsable(ValueError):
    """Valid JSON that Python's parser refuses: too deeply nested, or too large a number."""


def _parse(text: str) -> Any:
    """``json.loads``, with its two resource limits turned into :class:`_Unparsable`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise _Unparsable("JSON nested too deeply to parse (more than about 1,000 levels)") from None
    except ValueError as err:
        if isinstance(err, json.JSONDecodeError) or "integer string conversion" not in str(err):
            raise
        raise _Unparsable("JSON holds an integer of more than 4,300 digits, "
                          "which Python refuses to convert") from None


def typed_id(key: str | int) -> str:
    """A record's id as a text that keeps its JSON type: ``#N`` for the whole number
    ``N``, ``#`` prepended to a string that starts with ``#``, any other string as it
    is -- so the number ``7`` (``#7``) and the string ``"7"`` (``7``) differ, and no
    string spells a number's id."""
    text = str(key)
    return f"#{text}" if not isinstance(key, str) or text.startswith("#") else text


class _Names:
    """The names given so far to the records of one file, and which id took each; the
    typed ids (:func:`typed_id`, ``@LINE`` added to a repeat) given so far; and where
    each id (its JSON value) appeared first, which a repeat's warning names."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.taken: dict[str, tuple[str, str]] = {}  # name -> (where, JSON text of the id)
        self.typed: set[str] = set()  # typed ids given
        self.first: dict[str, str] = {}  # JSON text of an id -> the record that had it first

    def name(self, key: Any, number: int, where: str) -> tuple[str, str, str | None]:
        """The record's name, a warning when its natural name was taken, and its typed
        id (``None`` without an id).  The name's ``@LINE`` is decided on the id's text
        (``FILE#7`` is taken by ``7`` and ``"7"`` alike), the typed id's on the typed
        id, so a record's typed id does not depend on the records before it unless it
        repeats one's id: ``7`` and ``"7"`` are ``#7`` and ``7`` in either order."""
        if key is None:
            return f"{self.file}:{number}", "", None
        typed = typed_id(key)
        while typed in self.typed:
            typed += f"@{number}"
        written = json.dumps(key, ensure_ascii=False)
        self.typed.add(typed)
        name = natural = f"{self.file}#{key if isinstance(key, str) else written}"
        while name in self.taken:
            name += f"@{number}"
        self.taken[name] = (where, written)
        repeated = self.first.setdefault(written, where)
        if name == natural:
            return name, "", typed
        earlier, earlier_id = self.taken[natural]
        if repeated != where:  # the same JSON value as an earlier record's: a repeat of that one
            earlier, earlier_id = repeated, written
        how = (f"repeats the id of {earlier}" if earlier_id == written
               else f"is another id than {_cut(earlier_id)} of {earlier}")
        return (name, f"{where}: id {_cut(written)} ({_kind(key)}) {how}; named {_cut(repr(name))}, compared like "
                "any record", typed)


def _cut(text: str, limit: int = 300) -> str:
    """``text`` for a message: its first 200 characters when longer than ``limit`` (an
    id may be a megabyte long: a warning about it held it three times; the record's
    name keeps it whole)."""
    return text if len(text) <= limit else f"{text[:200]}... ({len(text):,} characters)"


def _document(record: Any, number: int, where: str, options: "ReadOptions", names: _Names) -> "Item":
    """The document in one record, or the error saying why there is none."""
    from . import Document, ReadError

    if not isinstance(record, dict):
        return ReadError(f"{names.file}:{number}", f"{where}: expected a JSON object, found {_kind(record)}")
    key = record.get(options.id_field)
    if key is not None and (not isinstance(key, (str, int)) or isinstance(key, bool)):
        what = (_kind(key) if not isinstance(key, float)
                else "a number too large to hold (1e400 reads as infinity)" if math.isinf(key)
                else f"the number {key!r}")  # e.g. nan, 1.5
        return ReadError(f"{names.file}:{number}",
                         f"{where}: id field {options.id_field!r} is {what}; an id is a string or a whole number")
    if isinstance(key, str) and (problem := surrogate_problem(key)):
        return ReadError(f"{names.file}:{number}", f"{where}: id field {options.id_field!r} holds {problem}")
    if key == "":  # names nothing: the record is named by its line, as one without an id
        address, typed = f"{names.file}:{number}", None
        warning = (f"{where}: id field {options.id_field!r} is empty; named {_cut(repr(address))} by its line, "
                   "compared like any record")
    else:
        address, warning, typed = names.name(key, number, where)
    text = record.get(options.text_field)
    if not isinstance(text, str):
        reason = "missing" if options.text_field not in record else f"{_kind(text)}, not a string"
        return ReadError(address, f"{where}: text field {options.text_field!r} is {reason}")
    if problem := surrogate_problem(text):
        return ReadError(address, f"{where}: text field {options.text_field!r} holds {problem}")
    return Document(address, text, "json-field", typed, warning)
