"""A batch's paragraph rows a block at a time, for the backends' writes: which rows of
which document a block holds, and their signatures -- taken from the documents that
hold them, derived from the shingle sets of those that do not
(:class:`~dedup.storage.protocol.NewDocument`: a long article is handed over without
its paragraph signatures, 1 KB a paragraph at 256 permutations).  So what a write
holds is a block's, whatever the document's length (issue #12: an add of a 4 MiB file
of 248k three-word lines peaked at ~870 MB RSS)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..segments import SetTable, offsets_from_counts, take_sets
from ..settings import Settings
from .protocol import Derive, NewDocument

#: Paragraph rows a backend packs, checksums and writes at a time (SQLite; Redis cuts
#: its script calls by values, :data:`dedup.storage.redis.writes.GROUP_VALUES`).
ROWS = 1 << 13


def firsts(docs: Sequence[NewDocument]) -> np.ndarray:
    """Row offsets of ``docs``' paragraphs in the batch (document ``d`` owns rows
    ``firsts[d]:firsts[d + 1]``)."""
    return offsets_from_counts(np.array([len(d.para_index) for d in docs], dtype=np.int64))


def pieces(firsts: np.ndarray, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """Rows ``lo:hi`` of a batch whose document ``d`` owns rows ``firsts[d]:firsts[d+1]``,
    as ``(d, start, stop)`` ranges of each document's own rows."""
    d = int(np.searchsorted(firsts, lo, side="right")) - 1
    out = []
    while lo < hi:
        stop = min(hi, int(firsts[d + 1]))
        if stop > lo:
            out.append((d, lo - int(firsts[d]), stop - int(firsts[d])))
        lo, d = max(lo, stop), d + 1
    return out


def set_values(docs: Sequence[NewDocument], parts: list[tuple[int, int, int]]) -> np.ndarray:
    """The shingle-set values of the rows ``parts`` (:func:`pieces`), concatenated."""
    if not parts:
        return np.zeros(0, np.uint64)
    return np.concatenate([docs[d].para_sets.values[docs[d].para_sets.offsets[a] : docs[d].para_sets.offsets[b]]
                           for d, a, b in parts])


def signatures(docs: Sequence[NewDocument], firsts: np.ndarray, rows: np.ndarray, derive: Derive,
               settings: Settings) -> np.ndarray:
    """``(len(rows), num_perm)`` uint32 signatures of the batch rows ``rows``
    (ascending): a document's own where it holds them, else derived from its shingle
    sets (one :meth:`~dedup.storage.protocol.Derive.signatures` call for all such rows)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), settings.num_perm), dtype=np.uint32)
    if not len(rows):
        return out
    owner = np.searchsorted(firsts, rows, side="right") - 1
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    derived: list[tuple[np.ndarray, SetTable]] = []
    for a, b in zip(starts.tolist(), [*starts[1:].tolist(), len(rows)]):
        d = int(owner[a])
        local = rows[a:b] - firsts[d]
        doc = docs[d]
        if doc.para_signatures is not None:
            out[a:b] = doc.para_signatures[local]
        else:
            derived.append((np.arange(a, b), take_sets(doc.para_sets, local)))
    if derived:
        sets = [t for _, t in derived]
        table = SetTable(values=np.concatenate([t.values for t in sets]),
                         offsets=offsets_from_counts(np.concatenate([t.sizes() for t in sets])))
        out[np.concatenate([at for at, _ in derived])] = derive.signatures(settings, table)
    return out
