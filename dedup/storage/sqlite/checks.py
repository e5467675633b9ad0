"""The checksums of the SQLite index's rows (:mod:`dedup.storage.rowcheck`): what each
column of checksums covers, and reading signatures verified.

* ``paragraphs.row_check``: owner, position, span, content key, word count, shingle set;
* ``documents.row_check``: public id, size, content key, time added, paragraph count,
  digest, metadata;
* ``sig_check`` (both tables): the ``banded`` flag and the signature, read together
  wherever the LSH buckets are made;
* ``documents.text_check``: the text (read only where the text is);
* ``tallies.sum_check``: a boilerplate tally's key and count, kept by the upsert in SQL;
* ``heirs.row_check``: a logged hand-over's level and heir row (and its ``seq``);
* ``counts.sum_check``: :mod:`.counts`.

Each also covers its row id.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ...segments import offsets_from_counts
from ..protocol import IndexCorrupt
from ..rowcheck import damaged, listed, plural, row_checks, stored, verify


def paragraph_checks(ids: np.ndarray, cols: Sequence, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Row checksums (:mod:`dedup.storage.rowcheck`) of paragraphs: owner, position,
    span, content key, word count (``cols``, SQLite's integers) and shingle set (the
    signature and ``banded`` apart: :func:`signature_checks`)."""
    return row_checks(ids, [np.asarray(c, dtype=np.int64) for c in cols],
                      segments=(values, offsets_from_counts(np.asarray(counts, dtype=np.int64))))


def document_checks(ids: np.ndarray, doc_ids: Sequence[str], chars: Sequence[int], keys: Sequence[int],
                     added: Sequence[float], paragraphs: Sequence[int], digests: Sequence[Optional[str]],
                     metas: Sequence[Optional[str]]) -> np.ndarray:
    """Row checksums of documents: public id, size, content key, time added (what
    retention removes by), paragraph count, digest and metadata (the signature,
    ``banded`` and the text apart)."""
    return row_checks(ids, [np.asarray(chars, dtype=np.int64), np.asarray(keys, dtype=np.uint64),
                            np.asarray(added, dtype=np.float64), np.asarray(paragraphs, dtype=np.int64)],
                      texts=doc_ids, text_columns=(digests, metas))


def signature_checks(ids: np.ndarray, banded: Sequence[int], signatures: np.ndarray) -> np.ndarray:
    """``sig_check``: the checksum of a row's id, ``banded`` flag (field 1, which
    :func:`~dedup.storage.rowcheck.changed` updates on a hand-over) and signature, read
    together wherever the buckets are made: one flipped bit of the flag made a
    paragraph drop out of every answer (tester's T10)."""
    return row_checks(ids, [np.asarray(banded, dtype=np.int64)], matrix=signatures)


def text_checks(ids: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """``text_check``: the checksum of a document's id and text (read only by ``get``)."""
    return row_checks(ids, texts=texts)


def heir_checks(seqs: np.ndarray, levels: Sequence[str], ids: Sequence[int]) -> np.ndarray:
    """``heirs.row_check``: the checksum of a logged hand-over's ``seq``, heir row id and
    level."""
    return row_checks(np.asarray(seqs, dtype=np.int64), [np.asarray(ids, dtype=np.int64)], texts=list(levels))


def tally_checks(keys: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """The checksum of ``tallies`` rows (SQLite's signed keys, their counts): small
    weights of the key's two halves and the count, so that an upsert can keep it in
    SQL (``+ 7 * n``, :data:`TALLY_CHECK_SQL`); any one changed value changes it."""
    keys, documents = np.asarray(keys, dtype=np.int64), np.asarray(documents, dtype=np.int64)
    return ((keys >> 32) & 0xFFFFFFFF) * 3 + (keys & 0xFFFFFFFF) * 5 + documents * 7


#: :func:`tally_checks` in SQL (SQLite's ``>>`` is arithmetic, like numpy's on int64).
TALLY_CHECK_SQL = "((key >> 32) & 4294967295) * 3 + (key & 4294967295) * 5 + documents * 7"


def checked_signatures(ids: Sequence[int], banded: Sequence[int], blobs: Sequence[bytes], checks: Sequence,
                       num_perm: int, name: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, signatures)`` of rows ``ids`` from their ``banded`` flags, packed
    signatures and stored ``sig_check`` s, verified.

    Raises :class:`IndexCorrupt` naming a row whose signature, flag or id does not match."""
    ids = np.asarray(ids, dtype=np.int64)
    blobs = list(blobs)
    try:
        signatures = unpack_signatures(blobs, num_perm)
    except (IndexCorrupt, TypeError):  # a value of another type or size: which rows (tester's S4)
        bad = [int(i) for i, b in zip(ids.tolist(), blobs) if not isinstance(b, bytes) or len(b) != 4 * num_perm]
        raise IndexCorrupt(damaged(name, f"stored {what} row{plural(bad)} {listed(bad)} "
                                         f"{'have' if len(bad) > 1 else 'has'} no signature of {num_perm} "
                                         "values")) from None
    verify(stored(checks, name, what, ids), signature_checks(ids, _flags(banded, name, what, ids), signatures), ids,
           name, what)
    return ids, signatures


def _flags(banded: Sequence, name: str, what: str, ids: np.ndarray) -> np.ndarray:
    try:
        return np.array(banded, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        bad = [int(i) for i, v in zip(ids.tolist(), banded) if not isinstance(v, int)]
        raise IndexCorrupt(damaged(name, f"stored {what} row{plural(bad)} {listed(bad)} "
                                         f"{'have' if len(bad) > 1 else 'has'} no banded flag")) from None


def unpack_signatures(blobs: list[bytes], num_perm: int) -> np.ndarray:
    """``(len(blobs), num_perm)`` uint32 signatures from their stored blobs (little-endian
    uint32 each).  Raises :class:`IndexCorrupt` when a blob is not ``num_perm`` values."""
    data = b"".join(blobs)
    if len(data) != 4 * num_perm * len(blobs):
        raise IndexCorrupt(f"a stored signature does not have {num_perm} values")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32).reshape(len(blobs), num_perm)
