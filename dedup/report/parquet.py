"""Parquet output of a scan, for runs too large for one JSON file: a folder of tables.

``write_parquet(result, FOLDER)`` writes::

    FOLDER/pairs/part-00000.parquet ...   one row per reported pair
    FOLDER/groups/part-00000.parquet ...  one row per group member: item -> group

``pairs`` columns: ``kind`` (``paragraph`` / ``document``), ``relation``
(``near-duplicate`` / ``contained``), ``similarity`` (verified Jaccard), ``containment_a``,
``containment_b``, ``estimate`` (MinHash), ``exact``, and for each side ``a_`` / ``b_``:
``path``, ``paragraph`` (null for a document), ``start``, ``end`` (character offsets).
``groups`` columns: ``group`` (a number, unique across kinds), ``kind``, ``path``,
``paragraph`` and ``canonical`` (true for the group's canonical member, its first in
scan order).  Read them with ``pandas.read_parquet(FOLDER + "/pairs")``,
``pyarrow.dataset.dataset(...)`` or ``dask.dataframe.read_parquet``.

Rows are made from the pairs' and groups' columns a block at a time (no pair, location
or preview object: :func:`~dedup.report.bulk.pair_blocks`), written
:data:`ROWS_PER_BATCH` or a few more at a time, and a new part file starts every
:data:`ROWS_PER_FILE` rows, so memory stays bounded however many pairs there are.  The
folder appears whole or not at all: it is written under a temporary name beside it and
renamed at the end; an existing ``FOLDER`` is never overwritten (``FileExistsError``).
Needs ``pyarrow`` (``dedup[dask]``); ``ImportError`` otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator, Sequence, Union

import numpy as np

from ..results import Group, Pair, ScanResult
from .bulk import group_blocks, pair_blocks

ROWS_PER_BATCH = 1 << 16
ROWS_PER_FILE = 1 << 22
#: A pair's ``relation`` by its ``contained`` flag.
_RELATION = np.array(["near-duplicate", "contained"], dtype=object)


def _schemas():
    import pyarrow as pa

    side = [("path", pa.string()), ("paragraph", pa.int64()), ("start", pa.int64()), ("end", pa.int64())]
    pairs = pa.schema([("kind", pa.string()), ("relation", pa.string()), ("similarity", pa.float64()),
                       ("containment_a", pa.float64()), ("containment_b", pa.float64()),
                       ("estimate", pa.float64()), ("exact", pa.bool_())]
                      + [(f"a_{n}", t) for n, t in side] + [(f"b_{n}", t) for n, t in side])
    groups = pa.schema([("group", pa.int64()), ("kind", pa.string()), ("path", pa.string()),
                        ("paragraph", pa.int64()), ("canonical", pa.bool_())])
    return pairs, groups


def _pair_tables(pairs: Iterable[Pair], schema) -> Iterator:
    """``pairs`` as tables in ``schema``, a block of columns at a time
    (:func:`~dedup.report.bulk.pair_blocks`: a scan's straight from its columns, no
    pair or location object, no preview read)."""
    import pyarrow as pa

    for block in pair_blocks(pairs, ROWS_PER_BATCH):
        relation = _RELATION[np.asarray(block.contained, dtype=np.int64)].tolist()
        columns = [pa.array([block.kind] * len(block), pa.string()), pa.array(relation, pa.string())]
        columns += [pa.array(np.asarray(c, dtype=np.float64)) for c in
                    (block.similarity, block.containment_a, block.containment_b, block.estimate)]
        columns.append(pa.array(np.asarray(block.exact, dtype=bool)))
        for side in (block.doc_a, block.paragraph_a, block.start_a, block.end_a), \
                    (block.doc_b, block.paragraph_b, block.start_b, block.end_b):
            columns += _place_arrays(block.paths, *side)
        yield pa.Table.from_arrays(columns, schema=schema)


def _group_tables(groups: Iterable[Group], schema) -> Iterator:
    """``groups`` as tables in ``schema`` (a row per member), a block of columns at a
    time (see :func:`_pair_tables`); groups are numbered across the blocks."""
    import pyarrow as pa

    number = 0
    for block in group_blocks(groups, ROWS_PER_BATCH):
        offsets = np.asarray(block.offsets, dtype=np.int64)
        sizes = np.diff(offsets)
        first = np.repeat(offsets[:-1], sizes)  # each member's group's canonical member
        path, paragraph = _place_arrays(block.paths, block.doc, block.paragraph)[:2]
        paths = np.array(path.to_pylist(), dtype=object)
        numbers = np.asarray(block.paragraph, dtype=np.int64)
        canonical = (paths == paths[first]) & (numbers == numbers[first])  # Location.key() equal
        kind = pa.array([block.kind] * len(paths), pa.string())
        group = pa.array(np.repeat(np.arange(number, number + len(block), dtype=np.int64), sizes))
        number += len(block)
        yield pa.Table.from_arrays([group, kind, path, paragraph, pa.array(canonical)], schema=schema)


def _place_arrays(paths: Sequence[str], doc: np.ndarray, paragraph: np.ndarray, *offsets: np.ndarray) -> list:
    """A side's ``path`` (``paths[doc]``), ``paragraph`` (null below 0) and the
    ``offsets`` given, as arrow arrays."""
    import pyarrow as pa

    paragraph = np.asarray(paragraph, dtype=np.int64)
    return [pa.array(list(map(paths.__getitem__, np.asarray(doc).tolist())), pa.string()),
            pa.array(paragraph, pa.int64(), mask=paragraph < 0),
            *(pa.array(np.asarray(o, dtype=np.int64)) for o in offsets)]


def write_parquet(result: ScanResult, folder: Union[str, Path]) -> None:
    """Write ``result``'s pairs and groups as Parquet tables under ``folder`` (see the
    module doc).  Raises ``FileExistsError`` if ``folder`` exists, ``OSError`` when it
    cannot be written, ``ImportError`` without pyarrow."""
    import pyarrow  # noqa: F401  (fail before creating anything)

    folder = Path(folder)
    if os.path.lexists(folder):
        raise FileExistsError(f"{folder} already exists: --format parquet writes a new folder")
    pair_schema, group_schema = _schemas()
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    try:
        _write_table(partial / "pairs", pair_schema, _pair_tables(result.pairs, pair_schema))
        _write_table(partial / "groups", group_schema, _group_tables(result.groups, group_schema))
        os.rename(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _write_table(folder: Path, schema, tables: Iterator) -> None:
    """Write ``tables`` (in ``schema``) as part files in ``folder``, gathered into
    batches of at least :data:`ROWS_PER_BATCH` rows; at least one file, so an empty
    table still has its columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    part, written = 0, 0
    writer = pq.ParquetWriter(folder / "part-00000.parquet", schema)
    try:
        for batch in _batches(tables, ROWS_PER_BATCH):
            if written >= ROWS_PER_FILE:
                writer.close()
                part, written = part + 1, 0
                writer = pq.ParquetWriter(folder / f"part-{part:05d}.parquet", schema)
            writer.write_table(pa.concat_tables(batch))
            written += sum(map(len, batch))
    finally:
        writer.close()


def _batches(tables: Iterator, rows: int) -> Iterator[list]:
    """``tables`` gathered into lists of at least ``rows`` rows (the last: what is left)."""
    batch: list = []
    count = 0
    for table in tables:
        batch.append(table)
        count += len(table)
        if count >= rows:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch
