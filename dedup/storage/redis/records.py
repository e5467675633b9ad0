"""How the Redis backend lays rows out as plain bytes (no pickle), and reads them back.

Keys, all under ``PREFIX:`` (one index per prefix; several may share a database):

* ``meta`` (hash): format, version, shard bits, and :func:`dedup.storage.compat.describe`'s
  settings / scheme / normalization / pipeline fingerprint, written once, under the
  checksum ``meta_check`` (:func:`meta_check`, verified on every open);
* ``ids`` (hash): public document id -> document row id; ``dg`` (hash): public
  document id -> the digest of the text it was added with (idempotent adds), with a
  checksum of the id, its row and the digest (:func:`digest_value`);
* ``seq:p``, ``seq:d``: the last row id handed out (ids are never reused);
  ``n:p``: paragraphs stored, with a checksum like ``judged``'s (no other key counts
  them at bounded cost); ``n:d``: documents stored (the size ``ids`` must have,
  updated in the same script call; set to 0 when the index is created);
* ``d:ROW``: a document's header (:data:`DOC`) and its id; the header ends with the
  row's checksum (:mod:`dedup.storage.rowcheck`) of all of that, ``banded`` included
  (set in place on a hand-over, the checksum with it: :func:`dedup.storage.rowcheck.changed`),
  verified on every read.  Its MinHash signature is not here
  (1 KB at 256 permutations, ~100 bytes a paragraph): a banded document's is in the
  bucket log, which every worker holds; another's is the minimum of its paragraphs'
  (how it was made, :func:`dedup.detect.document_items`), read when needed;
  ``t:ROW``: its metadata (JSON) and its text, zlib-compressed (text is ~20 % of an
  index: compression takes ~40 % off it), after the XXH3-64 of the row id and all
  that (:func:`pack_text`; verified by every read of the record: ``get``, listings);
  its paragraphs are rows
  ``first .. first + paragraphs - 1``;
* ``p:CHUNK``: the records of paragraph rows ``CHUNK * PARA_ROWS ..`` (one key for
  :data:`PARA_ROWS` rows saves ~140 bytes of Redis key overhead a paragraph), each an
  :data:`ENTRY` (row id, length) then the paragraph's header (:data:`PARA`, ending with
  the checksum of the row id, the header and the set) and its shingle
  set (sorted uint64).  Its signature is not stored: it is the MinHash of the
  set, recomputed when the row is read (a few rows per check) -- 1 KB per paragraph
  saved at the default 256 permutations;
* ``log`` (stream): the LSH buckets -- the banded rows' MinHash signatures and set
  sizes, as written (a document whose paragraphs are all banded: just which paragraph
  rows it has), from which each worker derives the band keys and sketches, and
  drops of removed rows -- held by every worker in memory, see
  :mod:`dedup.storage.redis.log`; ``log:n``: the entries ever added to it, set to 0
  when the index is created (a worker that read fewer, or finds no count, says the
  log is damaged); after G compactions (:mod:`dedup.storage.redis.compact`) the log is
  ``logG``, its count ``logG:n``, and ``log:gen`` holds G;
* ``k:p:SHARD``, ``k:d:SHARD`` (content key -> every row with that text, oldest first):
  multimaps, packed 8-byte entries in one string per shard ending with a checksum,
  and ``k:p:on``, ``k:d:on``: which shards exist (a bitmap), see
  :mod:`dedup.storage.redis.lua`;
* ``k:t:SHARD`` (paragraph content key -> in how many judged documents it occurred),
  shards like the multimaps', and ``k:t:on``; ``judged``: documents judged, with a
  checksum (``N HEX``: :func:`dedup.storage.redis.multimap.sealed_value`) -- the
  boilerplate counts, ``Storage.tally``;
* ``lock``: the write lock (a token with a lease).

Everything is little-endian.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import xxhash

from ...segments import SetTable, offsets_from_counts, ranges
from ..protocol import IndexCorrupt
from ..rowcheck import changed, damaged, row_checks, verify

#: Document header: content key, first paragraph row, chars, paragraphs, banded, added,
#: checksum.
DOC = struct.Struct("<QqIIBdQ")
DOC_BANDED = 24  # byte offset of ``banded`` in the header
DOC_CHECK = 33  # ... and of the checksum
#: The field number of ``banded`` in both kinds' checksums (:func:`dedup.storage.rowcheck.changed`).
BANDED_FIELD = 6
#: Paragraph header: document row, position, start, end, content key, banded, checksum.
PARA = struct.Struct("<IIIIQBQ")
PARA_BANDED = 24
PARA_CHECK = 25
#: Paragraph rows per ``p:`` key, and the entry before each record: row id, length.
PARA_ROWS = 16
ENTRY = struct.Struct("<II")

#: zlib's level for texts: 6 takes ~3 % more off than 1 (generated ~600-word articles:
#: 2,218 against 2,280 bytes), for ~0.03 ms more an article.
TEXT_LEVEL = 6

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
    doc_id: str


def pack_document(key: int, first: int, chars: int, paragraphs: int, banded: bool, added: float, doc_id: str,
                  check: int) -> bytes:
    """A ``d:`` record: :data:`DOC`'s fixed fields (``added`` in Unix seconds,
    ``check`` from :func:`document_checks`), then the public id in UTF-8 (lone
    surrogates kept).  Layout 7: no signature (:mod:`.log` holds it)."""
    return DOC.pack(key, first, chars, paragraphs, int(banded), added, check) + doc_id.encode("utf-8", "surrogatepass")


def document_checks(ids: np.ndarray, keys: np.ndarray, first: np.ndarray, chars: np.ndarray,
                    paragraphs: np.ndarray, added: np.ndarray, banded: np.ndarray, doc_ids: list[str]) -> np.ndarray:
    """The checksums (uint64) of document records: every field (``banded`` is field
    :data:`BANDED_FIELD`)."""
    return row_checks(ids, [np.asarray(keys, np.uint64), first, chars, paragraphs, np.asarray(added, np.float64),
                            np.asarray(banded, np.int64)], texts=doc_ids)


def digest_value(doc_id: str, row: int, digest: str) -> str:
    """The ``dg`` entry of ``doc_id`` (document row ``row``): the digest, a space, the
    XXH3-64 (hex) of all three -- an entry edited, or listed under another id or row,
    does not verify (an edited digest made a re-add of another text "already
    indexed")."""
    return f"{digest} {xxhash.xxh3_64_hexdigest(f'{row} {doc_id} {digest}'.encode('utf-8', 'surrogatepass'))}"


def stored_digest(value: Optional[bytes], doc_id: str, row: int, name: str, key: str) -> str:
    """The digest in ``dg`` entry ``value`` of ``doc_id`` at row ``row``, verified.

    Raises :class:`IndexCorrupt` naming the id and key when it is missing or does not
    verify."""
    digest = (value or b"").decode("utf-8", "replace").split(" ")[0]
    if value is None or digest_value(doc_id, row, digest).encode() != value:
        raise IndexCorrupt(damaged(name, f"the digest entry of document {doc_id!r} ({key}) is "
                                         f"{'missing' if value is None else 'not the one written with row ' + str(row)}"))
    return digest


def banded_now(record: bytes, flag: int, check: int) -> bytes:
    """A ``d:`` or ``p:`` record (``flag``, ``check``: the offsets of its ``banded``
    byte and its checksum) with ``banded`` set, its checksum changed to match
    (:func:`dedup.storage.rowcheck.changed`: a record that did not verify before does
    not after either -- the hand-over never seals damage)."""
    (old,) = struct.unpack_from("<Q", record, check)
    new = changed(np.array([old], np.uint64), BANDED_FIELD, np.array([record[flag]]), np.ones(1, np.int64))
    out = bytearray(record)
    out[flag] = 1
    struct.pack_into("<Q", out, check, int(new[0]))
    return bytes(out)


def _doc_id(blob: bytes) -> str:
    try:
        return blob[DOC.size :].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return blob[DOC.size :].decode("utf-8", "replace")  # damaged: the checksum says so


#: :data:`DOC`'s fields as a numpy record (one view of many headers at once).
_DOC_FIELDS = np.dtype({"names": ["key", "first", "chars", "paragraphs", "banded", "added", "check"],
                        "formats": ["<u8", "<i8", "<u4", "<u4", "u1", "<f8", "<u8"],
                        "offsets": [0, 8, 16, 20, DOC_BANDED, 25, DOC_CHECK], "itemsize": DOC.size})


def unpack_documents(blobs: list[bytes], ids: np.ndarray, name: str) -> list[DocHeader]:
    """The records of document rows ``ids``, verified against their checksums.  The
    fixed fields of all of them are read by one numpy view (a check reads ~20 records
    an article: one by one, decoding them was ~6 % of a batched check at 100k).

    Raises :class:`IndexCorrupt` naming a truncated record or one that does not verify."""
    if not len(blobs):
        return []
    ids = np.asarray(ids, dtype=np.int64)
    sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    short = np.flatnonzero(sizes < DOC.size)
    if len(short):
        raise IndexCorrupt(f"{name}: the index is damaged: stored document row {int(ids[short[0]])} is truncated "
                           f"({int(sizes[short[0]])} bytes)")
    joined = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    starts = offsets_from_counts(sizes)[:-1]
    f = joined[starts[:, None] + np.arange(DOC.size)].view(_DOC_FIELDS).ravel()
    try:
        doc_ids = [b[DOC.size :].decode("utf-8", "surrogatepass") for b in blobs]
    except UnicodeDecodeError:
        doc_ids = [_doc_id(b) for b in blobs]
    key, first, chars, paragraphs = (f["key"].astype(np.uint64), f["first"].astype(np.int64),
                                     f["chars"].astype(np.int64), f["paragraphs"].astype(np.int64))
    banded, added = f["banded"] != 0, f["added"].astype(np.float64)
    computed = document_checks(ids, key, first, chars, paragraphs, added, banded.astype(np.int64), doc_ids)
    verify(f["check"].astype(np.uint64), computed, ids, name, "document")
    return list(map(DocHeader, key.tolist(), first.tolist(), chars.tolist(), paragraphs.tolist(), banded.tolist(),
                    added.tolist(), doc_ids))


#: The meta fields under ``meta_check`` (all of them: none changes after creation).
FIXED_META = ("format", "format_version", "shard_bits", "settings", "scheme", "normalize_version", "pipeline")


def meta_check(meta: Mapping[str, str]) -> str:
    """The ``meta_check`` field of the meta hash ``meta`` (the checksum of
    :data:`FIXED_META`, a missing field counting as absent)."""
    return str(int(row_checks(np.zeros(1, np.int64), text_columns=[[meta.get(k)] for k in FIXED_META])[0]))


#: A ``t:`` record's head: the checksum (XXH3-64 of the row id as u64 and the rest of
#: the record), the metadata's length.
TEXT = struct.Struct("<QI")


def _text_sum(row: int, body: bytes) -> int:
    return xxhash.xxh3_64_intdigest(struct.pack("<Q", row) + body)


def pack_text(row: int, text: str, meta: Optional[Mapping[str, Any]]) -> bytes:
    """The ``t:`` record of document row ``row``: :data:`TEXT`, the metadata (JSON,
    UTF-8), the text (zlib).  The checksum covers the row id: a record copied to
    another row does not verify (~0.1 ms a 10 KB article, beside ~1 ms of zlib)."""
    data = json.dumps(dict(meta), ensure_ascii=False).encode() if meta else b""
    body = data + zlib.compress(text.encode("utf-8", "surrogatepass"), TEXT_LEVEL)
    return TEXT.pack(_text_sum(row, struct.pack("<I", len(data)) + body), len(data)) + body


def _verified_text(blob: bytes, row: int, name: str, key: str) -> int:
    """The metadata's length in the ``t:`` record ``blob`` of row ``row`` (Redis key
    ``key``), once the record verifies.

    Raises :class:`IndexCorrupt` naming the row and key when it does not."""
    if len(blob) < TEXT.size or TEXT.unpack_from(blob)[0] != _text_sum(row, blob[8:]) \
            or TEXT.size + TEXT.unpack_from(blob)[1] > len(blob):
        raise IndexCorrupt(damaged(name, f"stored document text row {row} (Redis key {key}) does not match its "
                                         "checksum"))
    return TEXT.unpack_from(blob)[1]


def unpack_text(blob: bytes, row: int, name: str, key: str) -> tuple[str, dict[str, Any]]:
    """The text and metadata of the ``t:`` record ``blob`` of row ``row`` (Redis key
    ``key``), verified.  Raises :class:`IndexCorrupt` when it does not verify."""
    n = _verified_text(blob, row, name, key)
    try:
        return (zlib.decompress(blob[TEXT.size + n :]).decode("utf-8", "surrogatepass"),
                json.loads(blob[TEXT.size : TEXT.size + n]) if n else {})
    except (zlib.error, ValueError) as err:  # verified, so written so by a dedup with a bug
        raise IndexCorrupt(damaged(name, f"stored document text row {row} (Redis key {key}) cannot be read "
                                         f"({err})")) from None


def unpack_meta(blob: bytes, row: int, name: str, key: str) -> dict[str, Any]:
    """The metadata of the ``t:`` record ``blob`` of row ``row``, verified (its text
    left compressed).  Raises :class:`IndexCorrupt` when it does not verify."""
    n = _verified_text(blob, row, name, key)
    try:
        return json.loads(blob[TEXT.size : TEXT.size + n]) if n else {}
    except ValueError as err:
        raise IndexCorrupt(damaged(name, f"the metadata of stored document row {row} (Redis key {key}) cannot be "
                                         f"read ({err})")) from None


#: :data:`PARA` as a numpy record (packed, no padding), for whole batches.
PARA_RECORD = np.dtype([("doc", "<u4"), ("position", "<u4"), ("start", "<u4"), ("end", "<u4"), ("key", "<u8"),
                        ("banded", "u1"), ("check", "<u8")])


def _paragraph_checks(ids: np.ndarray, heads: np.ndarray, sets: SetTable) -> np.ndarray:
    """The checksums of paragraph records: row id, header (``banded`` is field
    :data:`BANDED_FIELD`), shingle set."""
    return row_checks(ids, [heads[f] for f in ("doc", "position", "start", "end", "key", "banded")],
                      segments=(sets.values, sets.offsets))


def pack_paragraphs(ids: np.ndarray, doc: np.ndarray, position: np.ndarray, start: np.ndarray, end: np.ndarray,
                    key: np.ndarray, banded: np.ndarray, sets: SetTable) -> list[bytes]:
    """One ``p:`` record per paragraph row ``ids`` (arrays of one entry per paragraph):
    the :data:`PARA` header, then the shingle set as sorted little-endian uint64."""
    n = len(doc)
    heads = np.zeros(n, dtype=PARA_RECORD)
    for name, values in (("doc", doc), ("position", position), ("start", start), ("end", end), ("key", key),
                         ("banded", banded)):
        heads[name] = values
    heads["check"] = _paragraph_checks(ids, heads, sets)
    head, body, size = heads.tobytes(), np.ascontiguousarray(sets.values, dtype="<u8").tobytes(), PARA.size
    bounds = (np.asarray(sets.offsets, dtype=np.int64) * 8).tolist()
    return [head[i * size : (i + 1) * size] + body[bounds[i] : bounds[i + 1]] for i in range(n)]


def chunk_entries(ids: np.ndarray, records: list[bytes]) -> dict[int, bytes]:
    """The entries of paragraph rows ``ids`` (ascending) with their ``records``, joined
    per ``p:`` chunk (what a write appends to each chunk)."""
    out: dict[int, list[bytes]] = {}
    for row, record in zip(ids.tolist(), records):
        out.setdefault(row // PARA_ROWS, []).append(ENTRY.pack(row, len(record)) + record)
    return {chunk: b"".join(parts) for chunk, parts in out.items()}


def chunk_records(buf: np.ndarray, bounds: np.ndarray, name: str, keys: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Every record of the ``p:`` chunks joined in ``buf`` (uint8; chunk ``i`` is
    ``buf[bounds[i]:bounds[i+1]]``): ``(chunk index, row id, start, end)`` of each, the
    record being ``buf[start:end]``.  Vectorized over the chunks: one step per record
    position (a chunk holds at most :data:`PARA_ROWS` records), not a Python step per
    record.  ``keys``: each chunk's Redis key, which a message names.

    Raises :class:`IndexCorrupt` (:func:`overrun`) when a chunk's records do not fit it."""
    ends = np.asarray(bounds[1:], dtype=np.int64)
    pos = np.asarray(bounds[:-1], dtype=np.int64)
    chunk = np.arange(len(pos), dtype=np.int64)
    found: list[tuple[np.ndarray, ...]] = []
    while True:
        live = pos < ends[chunk]
        pos, chunk = pos[live], chunk[live]
        if not len(pos):
            break
        short = np.flatnonzero(pos + ENTRY.size > ends[chunk])
        if len(short):
            raise overrun(name, keys[chunk[short[0]]], int(ends[chunk[short[0]]] - bounds[chunk[short[0]]]))
        head = buf[pos[:, None] + np.arange(ENTRY.size)].view("<u4").astype(np.int64)
        start = pos + ENTRY.size
        end = start + head[:, 1]
        short = np.flatnonzero(end > ends[chunk])
        if len(short):
            raise overrun(name, keys[chunk[short[0]]], int(ends[chunk[short[0]]] - bounds[chunk[short[0]]]))
        found.append((chunk, head[:, 0], start, end))
        pos = end
    if not found:
        return tuple(np.zeros(0, np.int64) for _ in range(4))
    return tuple(np.concatenate(column) for column in zip(*found))


def overrun(name: str, key: str, size: int) -> IndexCorrupt:
    """The damage of a ``p:`` chunk (Redis key ``key``, ``size`` bytes) whose records'
    sizes run past its end: damaged whether it was cut or its bytes changed (tester T6,
    session 24: it said "truncated", naming no key, for a chunk zeroed in place)."""
    return IndexCorrupt(damaged(name, f"the stored paragraph chunk {key} does not hold whole records (its "
                                      f"records' sizes run past its {size:,} bytes: cut short or overwritten)"))


def split_chunk(blob: bytes, name: str, key: str) -> dict[int, tuple[int, int]]:
    """Row id -> (start, end) of its record in the ``p:`` chunk ``blob`` (Redis key
    ``key``); :func:`overrun` when its records do not fit it."""
    out, at = {}, 0
    while at < len(blob):
        if at + ENTRY.size > len(blob):
            raise overrun(name, key, len(blob))
        row, size = ENTRY.unpack_from(blob, at)
        at += ENTRY.size
        if at + size > len(blob):
            raise overrun(name, key, len(blob))
        out[row] = (at, at + size)
        at += size
    return out


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


def unpack_paragraphs(blobs: list[bytes], ids: np.ndarray, name: str) -> ParagraphTable:
    """The records of paragraph rows ``ids``, verified against their checksums.

    Raises :class:`IndexCorrupt` naming a truncated record or one that does not verify."""
    # Decoded from one buffer with numpy: no Python step per record but its length.
    n = len(blobs)
    sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=n)
    cut = np.flatnonzero((sizes < PARA.size) | ((sizes - PARA.size) % 8 != 0))
    if len(cut):
        raise IndexCorrupt(f"{name}: the index is damaged: stored paragraph row {int(np.asarray(ids)[cut[0]])} is "
                           "truncated")
    buf = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    head_bytes = ranges(offsets_from_counts(sizes)[:-1], np.full(n, PARA.size, np.int64))
    heads = buf[head_bytes].view(PARA_RECORD) if n else np.zeros(0, PARA_RECORD)
    body = np.ones(len(buf), dtype=bool)
    body[head_bytes] = False
    values = buf[body].view("<u8").astype(np.uint64)
    sets = SetTable(values=values, offsets=offsets_from_counts((sizes - PARA.size) // 8))
    ids = np.asarray(ids, dtype=np.int64)
    verify(heads["check"], _paragraph_checks(ids, heads, sets), ids, name, "paragraph")
    return ParagraphTable(
        docs=heads["doc"].astype(np.int64),
        index=heads["position"].astype(np.int64),
        start=heads["start"].astype(np.int64),
        end=heads["end"].astype(np.int64),
        keys=heads["key"].astype(np.uint64),
        banded=heads["banded"].astype(bool),
        sets=sets,
    )


def u64(keys: np.ndarray) -> bytes:
    return np.ascontiguousarray(keys, dtype="<u8").tobytes()


def u32(ids: np.ndarray) -> bytes:
    return np.ascontiguousarray(ids, dtype="<u4").tobytes()
