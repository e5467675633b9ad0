"""How the Redis backend lays rows out as plain bytes (no pickle), and reads them back.

Keys, all under ``PREFIX:`` (one index per prefix; several may share a database):

* ``meta`` (hash): format, version, shard bits, and :func:`dedup.storage.compat.describe`'s
  settings / scheme / normalization / pipeline fingerprint;
* ``ids`` (hash): public document id -> document row id; ``dg`` (hash): public
  document id -> the digest of the text it was added with (idempotent adds);
* ``seq:p``, ``seq:d``: the last row id handed out (ids are never reused);
  ``n:p``: paragraphs stored;
* ``d:ROW``: a document's header (:data:`DOC`), its MinHash signature and its id;
  ``t:ROW``: its metadata (JSON) and text; its paragraphs are rows
  ``first .. first + paragraphs - 1``;
* ``p:ROW``: a paragraph's header (:data:`PARA`) and its shingle set (sorted uint64).
  Its signature is not stored: it is the MinHash of the set, recomputed when the row is
  read (a few rows per check) -- 1 KB per paragraph saved at the default 256 permutations;
* ``sk:p:N``, ``sk:d:N``: the b-bit sketches of rows ``N * SKETCH_ROWS ..``, side by
  side in one string (no per-row key);
* ``b:p:SHARD``, ``b:d:SHARD`` (band key -> banded rows) and ``k:p:SHARD``, ``k:d:SHARD``
  (content key -> every row with that text, oldest first): multimaps, see
  :mod:`dedup.storage.redis.lua`;
* ``lock``: the write lock (a token with a lease).

Everything is little-endian.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from ...segments import SetTable, offsets_from_counts
from ..protocol import IndexCorrupt

#: Document header: content key, first paragraph row, chars, paragraphs, banded, added.
DOC = struct.Struct("<QqIIBd")
DOC_BANDED = 24  # byte offset of ``banded`` in the header
#: Paragraph header: document row, position, start, end, words, content key, banded.
PARA = struct.Struct("<qIIIIQB")
PARA_BANDED = 32
#: Rows per sketch string (64 B each at the defaults: 4 MB a string).
SKETCH_ROWS = 1 << 16
#: Row ids are stored as uint32 in the multimaps.
MAX_ROW = (1 << 32) - 1


@dataclass(frozen=True)
class DocHeader:
    key: int
    first: int
    chars: int
    paragraphs: int
    banded: bool
    added: float
    signature: np.ndarray
    doc_id: str


def pack_document(key: int, first: int, chars: int, paragraphs: int, banded: bool, added: float,
                  signature: np.ndarray, doc_id: str) -> bytes:
    return (DOC.pack(key, first, chars, paragraphs, int(banded), added)
            + np.ascontiguousarray(signature, dtype="<u4").tobytes() + doc_id.encode("utf-8", "surrogatepass"))


def unpack_document(blob: bytes, num_perm: int, name: str) -> DocHeader:
    size = DOC.size + 4 * num_perm
    if len(blob) < size:
        raise IndexCorrupt(f"{name}: a stored document record is truncated ({len(blob)} bytes)")
    key, first, chars, paragraphs, banded, added = DOC.unpack_from(blob)
    signature = np.frombuffer(blob, dtype="<u4", count=num_perm, offset=DOC.size).astype(np.uint32)
    return DocHeader(key, first, chars, paragraphs, bool(banded), added, signature,
                     blob[size:].decode("utf-8", "surrogatepass"))


def pack_text(text: str, meta: Optional[Mapping[str, Any]]) -> bytes:
    data = json.dumps(dict(meta), ensure_ascii=False).encode() if meta else b""
    return struct.pack("<I", len(data)) + data + text.encode("utf-8", "surrogatepass")


def unpack_text(blob: bytes) -> tuple[str, dict[str, Any]]:
    (n,) = struct.unpack_from("<I", blob)
    meta = json.loads(blob[4 : 4 + n]) if n else {}
    return blob[4 + n :].decode("utf-8", "surrogatepass"), meta


def pack_paragraph(doc: int, position: int, start: int, end: int, words: int, key: int, banded: bool,
                   shingles: np.ndarray) -> bytes:
    return PARA.pack(doc, position, start, end, words, key, int(banded)) + shingles.astype("<u8").tobytes()


@dataclass(frozen=True)
class ParagraphTable:
    """Paragraph records read back, one entry per record, as arrays."""

    docs: np.ndarray
    index: np.ndarray
    start: np.ndarray
    end: np.ndarray
    keys: np.ndarray
    banded: np.ndarray
    sets: SetTable


def unpack_paragraphs(blobs: list[bytes], name: str) -> ParagraphTable:
    n = len(blobs)
    if any(len(b) < PARA.size or (len(b) - PARA.size) % 8 for b in blobs):
        raise IndexCorrupt(f"{name}: a stored paragraph record is truncated")
    heads = np.frombuffer(b"".join(b[: PARA.size] for b in blobs), dtype=np.dtype([
        ("doc", "<i8"), ("position", "<u4"), ("start", "<u4"), ("end", "<u4"), ("words", "<u4"),
        ("key", "<u8"), ("banded", "u1")]), count=n)
    counts = np.fromiter(((len(b) - PARA.size) // 8 for b in blobs), dtype=np.int64, count=n)
    values = np.frombuffer(b"".join(b[PARA.size :] for b in blobs), dtype="<u8").astype(np.uint64)
    return ParagraphTable(
        docs=heads["doc"].astype(np.int64),
        index=heads["position"].astype(np.int64),
        start=heads["start"].astype(np.int64),
        end=heads["end"].astype(np.int64),
        keys=heads["key"].astype(np.uint64),
        banded=heads["banded"].astype(bool),
        sets=SetTable(values=values, offsets=offsets_from_counts(counts)),
    )


def u64(keys: np.ndarray) -> bytes:
    return np.ascontiguousarray(keys, dtype="<u8").tobytes()


def u32(ids: np.ndarray) -> bytes:
    return np.ascontiguousarray(ids, dtype="<u4").tobytes()


def ids_of(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4").astype(np.int64)
