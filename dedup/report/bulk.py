"""The JSON objects of pairs, groups and documents, encoded a block at a time.

A scan can report millions of pairs, and its JSON report used to format each one in
Python (an f-string and four ``round`` calls a pair, ~25 us: 1.5-2 s of a 19 MB scan,
all of it in the scan's one process after the workers are done).  Here a block of pairs
(:class:`~dedup.results.PairColumns`) is encoded with numpy gathers over small tables and
one C-level ``str % tuple`` per object, driven by ``map`` -- no Python frame per pair:

* a score is written as ``repr(round(x, 4))``, the text of one of 10,001 numbers in
  [0, 1]: looked up in a table by ``floor(x * 10**4 + 0.5)``, exact but where
  ``x * 10**4`` is within 1e-6 of a half (a tie such as ``1/32``, rounded half to even by
  ``round``), outside [0, 1] or a negative zero: those few go through ``round`` itself;
* a path is encoded once per document (:class:`Names`), then gathered;
* booleans, relations and the missing paragraph (``null``) come from tables.

The text is byte-identical to ``json.dumps`` of ``to_dict()`` of the same objects
(:meth:`~dedup.results.Pair.to_dict`, :meth:`~dedup.results.Group.to_dict`,
:func:`~dedup.results.document_dict`; tested in tests/test_report_bulk.py).
"""

from __future__ import annotations

import json
from itertools import islice
from json.encoder import encode_basestring  # what json.dumps writes a str as (ensure_ascii=False)
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..corpus import DocumentInfo
from ..results import Group, GroupColumns, Pair, PairColumns
from ..segments import sorted_unique
from .safety import has_surrogates

#: ``repr(round(x, 4))`` of ``x = k / 10**4`` for k in 0..10**4.
_FOUR_PLACES = np.array([repr(k / 10_000) for k in range(10_001)], dtype=object)
_BOOL = np.array(["false", "true"], dtype=object)
#: ``relation`` and ``inside`` of a near-duplicate, a pair inside whose side ``a`` is
#: the smaller text, and one whose side ``b`` is.
_RELATION = np.array(['"near-duplicate", "inside": null', '"contained", "inside": "a"',
                      '"contained", "inside": "b"'], dtype=object)

_PAIR = ('{"kind": %s, "similarity": %%s, "containment": [%%s, %%s], "estimate": %%s, "exact": %%s, '
         '"relation": %%s, "a": {%%s, "paragraph": %%s, "start": %%d, "end": %%d}, '
         '"b": {%%s, "paragraph": %%s, "start": %%d, "end": %%d}}')
_GROUP = ('%%s{"kind": %s, "canonical": {%%s, "paragraph": %%s, "start": %%d, "end": %%d}, "size": %%d, '
          '"members": [')
_MEMBER = '%s{%s, "paragraph": %s}%s'
_DOCUMENT = '{%s, "paragraphs": %d, "chars": %d, "text_source": %s}'


def four_places(x: np.ndarray) -> list[str]:
    """``[repr(round(v, 4)) for v in x]``, from a table (see the module doc)."""
    x = np.asarray(x, dtype=np.float64)
    scaled = x * 10_000.0
    odd = ~(np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6) | ~((x >= 0) & (x <= 1)) | np.signbit(x)
    text = _FOUR_PLACES[np.where(odd, 0, np.floor(scaled + 0.5)).astype(np.int64)]
    for i in np.flatnonzero(odd).tolist():
        text[i] = repr(round(float(x[i]), 4))
    return text.tolist()


class Names:
    """Each path's JSON fragment (``"path": "..."``), made once per path: encoded as
    ``json.dumps`` encodes a string, and by ``odd`` when that is not valid UTF-8 (a
    name with undecodable bytes, which ``odd`` writes with ``path_bytes``)."""

    def __init__(self, odd: Callable[[str], str]) -> None:
        self._odd = odd
        self._made: dict[str, str] = {}

    def __call__(self, paths: Sequence[str], docs: np.ndarray) -> list[str]:
        """The fragments of ``paths[docs]``: one look-up per distinct document."""
        numbers, inverse = sorted_unique(np.asarray(docs, dtype=np.int64), return_inverse=True)
        wanted = list(map(paths.__getitem__, numbers.tolist()))
        made = self._made
        new = [p for p in dict.fromkeys(wanted) if p not in made]
        fragments = ['"path": ' + text for text in map(encode_basestring, new)]
        try:
            "".join(fragments).encode("utf-8")
        except UnicodeEncodeError:
            fragments = [self._odd(p) if has_surrogates(f) else f for p, f in zip(new, fragments)]
        made.update(zip(new, fragments))
        return np.array(list(map(made.__getitem__, wanted)), dtype=object)[inverse].tolist()


def _paragraphs(numbers: np.ndarray) -> list:
    """Paragraph numbers as JSON values: ``null`` below 0."""
    values = np.asarray(numbers, dtype=np.int64).astype(object)
    values[np.asarray(numbers) < 0] = "null"
    return values.tolist()


def pair_objects(block: PairColumns, names: Names) -> list[str]:
    """The JSON object of each pair of ``block``, as ``Pair.to_dict()`` reads."""
    ca, cb = np.asarray(block.containment_a), np.asarray(block.containment_b)
    relation = np.where(np.asarray(block.contained, dtype=bool), np.where(ca >= cb, 1, 2), 0)
    template = _PAIR % json.dumps(block.kind)
    return list(map(template.__mod__, zip(
        four_places(block.similarity), four_places(ca), four_places(cb), four_places(block.estimate),
        _BOOL[np.asarray(block.exact, dtype=np.int64)].tolist(), _RELATION[relation].tolist(),
        names(block.paths, block.doc_a), _paragraphs(block.paragraph_a), block.start_a.tolist(), block.end_a.tolist(),
        names(block.paths, block.doc_b), _paragraphs(block.paragraph_b), block.start_b.tolist(), block.end_b.tolist(),
    )))


def group_objects(block: GroupColumns, names: Names) -> str:
    """The JSON objects of the groups of ``block`` (as ``Group.to_dict()`` reads),
    joined by ``", "``."""
    offsets = np.asarray(block.offsets, dtype=np.int64)
    first, last = offsets[:-1], offsets[1:] - 1
    fragments = np.array(names(block.paths, block.doc), dtype=object)
    paragraphs = np.array(_paragraphs(block.paragraph), dtype=object)
    heads = map((_GROUP % json.dumps(block.kind)).__mod__, zip(
        ["", *[", "] * (len(first) - 1)], fragments[first].tolist(), paragraphs[first].tolist(),
        block.start[first].tolist(), block.end[first].tolist(), np.diff(offsets).tolist()))
    before = np.full(len(fragments), ", ", dtype=object)
    before[first] = list(heads)
    after = np.full(len(fragments), "", dtype=object)
    after[last] = "]}"
    return "".join(map(_MEMBER.__mod__, zip(before.tolist(), fragments.tolist(), paragraphs.tolist(), after.tolist())))


def document_objects(documents: Sequence[DocumentInfo], names: Names) -> list[str]:
    """The JSON object of each document (as :func:`~dedup.results.document_dict` reads)."""
    sources = {s: json.dumps(s, ensure_ascii=False) for s in {d.text_source for d in documents}}
    return list(map(_DOCUMENT.__mod__, zip(
        names([d.path for d in documents], np.arange(len(documents))), [d.paragraphs for d in documents],
        [d.chars for d in documents], [sources[d.text_source] for d in documents])))


def pair_blocks(pairs: Iterable[Pair], size: int) -> Iterator[PairColumns]:
    """``pairs`` as non-empty blocks of columns: a scan's straight from its columns
    (``columns()``), other pairs ``size`` at a time (:meth:`PairColumns.of`)."""
    columns = getattr(pairs, "columns", None)
    blocks = columns() if columns is not None else (b for run in chunks(pairs, size) for b in PairColumns.of(run))
    return (b for b in blocks if len(b))


def group_blocks(groups: Iterable[Group], size: int) -> Iterator[GroupColumns]:
    """``groups`` as non-empty blocks of columns (see :func:`pair_blocks`)."""
    columns = getattr(groups, "columns", None)
    blocks = columns() if columns is not None else (b for run in chunks(groups, size) for b in GroupColumns.of(run))
    return (b for b in blocks if len(b))


def chunks(values: Iterable, size: int) -> Iterator[list]:
    """``values`` as lists of ``size`` (the last one shorter)."""
    it = iter(values)
    while chunk := list(islice(it, size)):
        yield chunk
