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

Rows are written :data:`ROWS_PER_BATCH` at a time and a new part file starts every
:data:`ROWS_PER_FILE` rows, so memory stays bounded however many pairs there are.  The
folder appears whole or not at all: it is written under a temporary name beside it and
renamed at the end; an existing ``FOLDER`` is never overwritten (``FileExistsError``).
Needs ``pyarrow`` (``dedup[dask]``); ``ImportError`` otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator, Union

from ..results import Group, Pair, ScanResult

ROWS_PER_BATCH = 1 << 16
ROWS_PER_FILE = 1 << 22


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


def _pair_rows(pairs: Iterable[Pair]) -> Iterator[tuple]:
    for p in pairs:
        a, b = p.a, p.b
        yield (p.kind, p.relation, p.similarity, p.containment[0], p.containment[1], p.estimate, p.exact,
               a.path, a.paragraph, a.start, a.end, b.path, b.paragraph, b.start, b.end)


def _group_rows(groups: Iterable[Group]) -> Iterator[tuple]:
    for number, g in enumerate(groups):
        for m in g.members:
            yield (number, g.kind, m.path, m.paragraph, m.key() == g.canonical.key())


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
        _write_table(partial / "pairs", pair_schema, _pair_rows(result.pairs))
        _write_table(partial / "groups", group_schema, _group_rows(result.groups))
        os.rename(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _write_table(folder: Path, schema, rows: Iterator[tuple]) -> None:
    """Write ``rows`` (tuples in ``schema``'s column order) as part files in ``folder``;
    at least one file, so an empty table still has its columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    part, written = 0, 0
    writer = pq.ParquetWriter(folder / "part-00000.parquet", schema)
    try:
        for batch in _batches(rows, ROWS_PER_BATCH):
            if written >= ROWS_PER_FILE:
                writer.close()
                part, written = part + 1, 0
                writer = pq.ParquetWriter(folder / f"part-{part:05d}.parquet", schema)
            columns = list(zip(*batch))
            writer.write_table(pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, schema)],
                                                    schema=schema))
            written += len(batch)
    finally:
        writer.close()


def _batches(rows: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
