"""Parquet output of a scan, for runs too large for one JSON file: a folder of tables.

``write_parquet(result, FOLDER)`` writes::

    FOLDER/pairs/part-00000.parquet ...   one row per reported pair
    FOLDER/groups/part-00000.parquet ...  one row per group member: item -> group
    FOLDER/documents/...                  one row per document read
    FOLDER/errors/...                     one row per file or record that could not be read
    FOLDER/warnings/...                   one row per warning (nothing was lost)
    FOLDER/boilerplate/...                one row per boilerplate text
    FOLDER/summary/...                    one row: what the JSON report's ``summary`` says

``pairs`` columns: ``kind`` (``paragraph`` / ``document``), ``relation``
(``near-duplicate`` / ``contained``), ``similarity`` (verified Jaccard), ``containment_a``,
``containment_b``, ``estimate`` (MinHash), ``exact``, and for each side ``a_`` / ``b_``:
``path``, ``paragraph`` (null for a document), ``start``, ``end`` (character offsets).
``groups`` columns: ``group`` (a number, unique across kinds), ``kind``, ``path``,
``paragraph`` and ``canonical`` (true for the group's canonical member, its first in
scan order).  The other tables hold what the JSON report's keys of the same names
hold: ``documents`` (``path``, ``paragraphs``, ``chars``, ``text_source``), ``errors``
(``path``, ``error``), ``warnings`` (``path``, null when the warning names no file,
``warning``), ``boilerplate`` (``path``, ``paragraph``, ``start``, ``end`` of its first
occurrence, ``documents``, ``copies``, ``text``) and ``summary`` (the
:class:`~dedup.report.summary.Summary` counts, ``duplicated_bytes`` and ``total_bytes``
null when not known, and ``settings``, the scan's settings as a JSON object).  A name
that is not valid UTF-8 (a Latin-1 file name) is written with U+FFFD for each
undecodable byte, its exact bytes in the column ``path_bytes`` (``a_path_bytes``,
``b_path_bytes``; null for every valid name), as the JSON report does.  Read them with
``pandas.read_parquet(FOLDER + "/pairs")``, ``pyarrow.dataset.dataset(...)`` or
``dask.dataframe.read_parquet``.

Rows are made from the pairs' and groups' columns a block at a time (no pair, location
or preview object: :func:`~dedup.report.bulk.pair_blocks`), written
:data:`ROWS_PER_BATCH` or a few more at a time, and a new part file starts every
:data:`ROWS_PER_FILE` rows, so memory stays bounded however many pairs there are; the
summary is counted as they pass (:class:`~dedup.report.summary.Tally`).  The folder
appears whole or not at all: it is written under a temporary name beside it and
renamed at the end; an existing ``FOLDER`` is never overwritten (``FileExistsError``).
Needs ``pyarrow`` (``dedup[dask]``); ``ImportError`` otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, Union

import numpy as np

from ..results import GroupColumns, PairColumns, ScanResult
from .bulk import chunks, group_blocks, pair_blocks
from .safety import has_surrogates, json_text, name_bytes, warning_text
from .summary import Summary, Tally

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
                      + [(f"a_{n}", t) for n, t in side] + [(f"b_{n}", t) for n, t in side]
                      + [("a_path_bytes", pa.binary()), ("b_path_bytes", pa.binary())])
    groups = pa.schema([("group", pa.int64()), ("kind", pa.string()), ("path", pa.string()),
                        ("paragraph", pa.int64()), ("canonical", pa.bool_()), ("path_bytes", pa.binary())])
    return pairs, groups


def _listing_schemas() -> dict:
    """The schemas of the tables beside ``pairs``, ``groups`` and ``summary`` (whose
    columns are the summary's keys: :func:`_summary_table`), by table name."""
    import pyarrow as pa

    path = [("path", pa.string()), ("path_bytes", pa.binary())]
    return {
        "documents": pa.schema(path + [("paragraphs", pa.int64()), ("chars", pa.int64()), ("text_source", pa.string())]),
        "errors": pa.schema(path + [("error", pa.string()), ("count", pa.int64())]),
        "warnings": pa.schema(path + [("warning", pa.string())]),
        "boilerplate": pa.schema(path + [("paragraph", pa.int64()), ("start", pa.int64()), ("end", pa.int64()),
                                         ("documents", pa.int64()), ("copies", pa.int64()), ("text", pa.string())]),
    }


def _pair_tables(blocks: Iterable[PairColumns], schema) -> Iterator:
    """Blocks of pairs' columns (:func:`~dedup.report.bulk.pair_blocks`: a scan's
    straight from its columns, no pair or location object, no preview read) as tables
    in ``schema``."""
    import pyarrow as pa

    for block in blocks:
        relation = _RELATION[np.asarray(block.contained, dtype=np.int64)].tolist()
        columns = [pa.array([block.kind] * len(block), pa.string()), pa.array(relation, pa.string())]
        columns += [pa.array(np.asarray(c, dtype=np.float64)) for c in
                    (block.similarity, block.containment_a, block.containment_b, block.estimate)]
        columns.append(pa.array(np.asarray(block.exact, dtype=bool)))
        raw = []
        for side in (block.doc_a, block.paragraph_a, block.start_a, block.end_a), \
                    (block.doc_b, block.paragraph_b, block.start_b, block.end_b):
            path, raw_bytes, *rest = _place_arrays(block.paths, *side)
            columns += [path, *rest]
            raw.append(raw_bytes)
        yield pa.Table.from_arrays(columns + raw, schema=schema)


def _group_tables(blocks: Iterable[GroupColumns], schema) -> Iterator:
    """Blocks of groups' columns as tables in ``schema`` (a row per member; see
    :func:`_pair_tables`); groups are numbered across the blocks."""
    import pyarrow as pa

    number = 0
    for block in blocks:
        offsets = np.asarray(block.offsets, dtype=np.int64)
        sizes = np.diff(offsets)
        first = np.repeat(offsets[:-1], sizes)  # each member's group's canonical member
        path, raw, paragraph = _place_arrays(block.paths, block.doc, block.paragraph)
        doc, numbers = np.asarray(block.doc, dtype=np.int64), np.asarray(block.paragraph, dtype=np.int64)
        canonical = (doc == doc[first]) & (numbers == numbers[first])  # Location.key() equal (a path per doc number)
        kind = pa.array([block.kind] * len(doc), pa.string())
        group = pa.array(np.repeat(np.arange(number, number + len(block), dtype=np.int64), sizes))
        number += len(block)
        yield pa.Table.from_arrays([group, kind, path, paragraph, pa.array(canonical), raw], schema=schema)


def _place_arrays(paths: Sequence[str], doc: np.ndarray, paragraph: np.ndarray, *offsets: np.ndarray) -> list:
    """A side's ``path`` (``paths[doc]``) and ``path_bytes`` (:func:`_name_arrays`),
    ``paragraph`` (null below 0) and the ``offsets`` given, as arrow arrays."""
    import pyarrow as pa

    paragraph = np.asarray(paragraph, dtype=np.int64)
    return [*_name_arrays(list(map(paths.__getitem__, np.asarray(doc).tolist()))),
            pa.array(paragraph, pa.int64(), mask=paragraph < 0),
            *(pa.array(np.asarray(o, dtype=np.int64)) for o in offsets)]


def _name_arrays(names: Sequence) -> list:
    """``names`` as two arrow arrays: ``path`` (valid UTF-8: U+FFFD for each
    undecodable byte of a name; null for ``None``) and ``path_bytes`` (the name's exact
    bytes where it is not valid UTF-8, else null), as the JSON report writes names."""
    import pyarrow as pa

    odd = [i for i, n in enumerate(names) if n is not None and has_surrogates(n)]
    if not odd:
        return [pa.array(names, pa.string()), pa.nulls(len(names), pa.binary())]
    shown, raw = list(names), [None] * len(names)
    for i in odd:
        raw[i] = name_bytes(names[i])
        shown[i] = raw[i].decode("utf-8", "replace")
    return [pa.array(shown, pa.string()), pa.array(raw, pa.binary())]


def _summary_table(result: ScanResult, summary: Summary):
    """The one-row ``summary`` table: a column per key of ``summary.to_dict()``
    (integers, null when not known) and ``settings``, the scan's settings as JSON."""
    import json

    import pyarrow as pa

    counts = summary.to_dict()
    schema = pa.schema([(k, pa.int64()) for k in counts] + [("settings", pa.string())])
    settings = json_text(json.dumps(result.settings, ensure_ascii=False, default=str))
    return pa.Table.from_pylist([{**counts, "settings": settings}], schema=schema)


def _listing_tables(result: ScanResult, schemas: dict) -> dict[str, Iterator]:
    """The tables beside ``pairs``, ``groups`` and ``summary`` (see the module doc), by
    name, each as an iterator of tables in its schema, made :data:`ROWS_PER_BATCH`
    rows at a time."""
    import pyarrow as pa

    def rows(name: str, items: Iterable, make) -> Iterator:
        for chunk in chunks(items, ROWS_PER_BATCH):
            yield pa.Table.from_arrays(make(chunk), schema=schemas[name])

    def text(values: Iterable) -> Any:
        return pa.array([json_text(v) for v in values], pa.string())

    def ints(values: Iterable) -> Any:
        return pa.array(list(values), pa.int64())

    warnings = [warning_text(w) for w in getattr(result, "warnings", None) or ()]
    return {
        "documents": rows("documents", result.documents, lambda c: [
            *_name_arrays([d.path for d in c]), ints(d.paragraphs for d in c), ints(d.chars for d in c),
            text(d.text_source for d in c)]),
        "errors": rows("errors", result.errors, lambda c: [*_name_arrays([e.path for e in c]), text(e.error for e in c),
                                                           ints(e.count for e in c)]),
        "warnings": rows("warnings", warnings, lambda c: [*_name_arrays([p for p, _ in c]), text(m for _, m in c)]),
        "boilerplate": rows("boilerplate", result.boilerplate, lambda c: [
            *_name_arrays([b.canonical.path for b in c]),
            pa.array([b.canonical.paragraph for b in c], pa.int64()), ints(b.canonical.start for b in c),
            ints(b.canonical.end for b in c), ints(b.documents for b in c), ints(b.copies for b in c),
            text(b.text for b in c)]),
    }


def write_parquet(result: ScanResult, folder: Union[str, Path]) -> None:
    """Write ``result``'s pairs, groups, documents, errors, warnings, boilerplate and
    summary as Parquet tables under ``folder`` (see the module doc).  Raises
    ``FileExistsError`` if ``folder`` exists, ``OSError`` when it cannot be written,
    ``ImportError`` without pyarrow."""
    import pyarrow  # noqa: F401  (fail before creating anything)

    folder = Path(folder)
    if os.path.lexists(folder):
        raise FileExistsError(f"{folder} already exists: --format parquet writes a new folder")
    pair_schema, group_schema = _schemas()
    tally = Tally()
    pairs = (tally.pair_columns(b) for b in pair_blocks(result.pairs, ROWS_PER_BATCH))
    groups = (tally.group_columns(b) for b in group_blocks(result.groups, ROWS_PER_BATCH))
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    try:
        _write_table(partial / "pairs", pair_schema, _pair_tables(pairs, pair_schema))
        _write_table(partial / "groups", group_schema, _group_tables(groups, group_schema))
        schemas = _listing_schemas()
        for name, tables in _listing_tables(result, schemas).items():
            _write_table(partial / name, schemas[name], tables)
        summary = _summary_table(result, tally.summary(result))
        _write_table(partial / "summary", summary.schema, iter([summary]))
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
