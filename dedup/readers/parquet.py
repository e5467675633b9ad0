"""Parquet files: one document per row, named and checked exactly as JSON Lines records.

A row's text is its ``ReadOptions.text_field`` column and its name ``FILE#ID`` from the
``id_field`` column (``FILE:ROW`` without one), with the same checks and warnings as a
JSON Lines record (:mod:`dedup.readers.jsonl`).  Read a batch of rows at a time
(:data:`BATCH_ROWS`, within one row group), so memory is bounded by the file's row
groups, not its size.  Needs ``pyarrow`` (in the ``dedup[dask]`` extra); without it,
or for a file that is not Parquet, the file is a read error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Iterator

from .jsonl import _document, _Names

if TYPE_CHECKING:
    from . import Item, ReadOptions

#: Rows converted to Python per batch.
BATCH_ROWS = 1024


def read_stream(stream: BinaryIO, name: str, options: "ReadOptions") -> Iterator["Item"]:
    """The documents of the Parquet file in ``stream`` (seekable), reported as ``name``."""
    from . import ReadError

    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        yield ReadError(name, "reading Parquet needs pyarrow: pip install -e '.[dask]' in dedup's checkout")
        return
    try:
        table = pq.ParquetFile(stream)
        columns = table.schema_arrow.names
    except (pyarrow.ArrowException, OSError, ValueError) as err:
        yield ReadError(name, f"not a readable Parquet file: {err}")
        return
    if options.text_field not in columns:
        yield ReadError(name, f"no text column {options.text_field!r} (columns: {', '.join(columns) or 'none'})")
        return
    wanted = [options.text_field] + ([options.id_field] if options.id_field in columns else [])
    names = _Names(name)
    number = 0
    try:
        for batch in table.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            for record in batch.to_pylist():
                number += 1
                yield _document(record, number, f"row {number}", options, names)
    except (pyarrow.ArrowException, OSError, ValueError) as err:
        yield ReadError(name, f"row {number + 1} and after could not be read: {err}")
