"""Writing the Redis index: a batch of documents in parts published by the last
(contract rule 1), the clean-up of a dead writer's unpublished rows, removal with the
hand-over of bands (rule 6), and the boilerplate tallies.  A mixin of
:class:`~dedup.storage.redis.RedisStorage`.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ...segments import SetTable, offsets_from_counts, take_sets
from .. import blocks
from ...settings import Settings
from ..protocol import Derive, IndexCorrupt, NewDocument, StorageError, document_id_keys
from ..rowcheck import damaged
from .records import (
    DOC_BANDED,
    DOC_CHECK,
    MAX_ROW,
    PARA_BANDED,
    PARA_CHECK,
    PARA_ROWS,
    banded_now,
    chunk_entries,
    digest_value,
    document_checks,
    pack_document,
    pack_paragraphs,
    pack_text,
    split_chunk,
    u32,
    u64,
    unpack_documents,
    unpack_paragraphs,
)
from .log import add_entries, derived_entry, drop_entry, publish_entry
from .url import RedisURL, guarded

#: Values written by one script call of a batch: the signature values of the banded
#: rows (the bucket log's entries, 4 bytes each) and one content key a row.  A script
#: holds the server while it runs; its work is a GET and a SET per content key and
#: paragraph chunk (~1 per paragraph) and one XADD of the signatures' bytes, so ~256k
#: values (~1,000 paragraphs, ~1 MB) take a few ms.
GROUP_VALUES = 256_000


class Writes:
    """Inserts, clean-up, removal and tallies (needs ``_r``, ``_k``, ``_url``,
    ``_shards``, ``path``, ``settings``, ``_derive``, the sketch sizes, the lock state
    set by ``transaction``, the readers' helpers and ``_write``)."""

    _r: Any
    _k: str
    _url: RedisURL
    _shards: dict[str, int]
    path: str
    settings: Settings
    _derive: Derive
    _insert: Any
    _tally: Any
    _token: Optional[str]
    _seq: tuple[int, int]
    _written: list[str]
    _ahead: Optional[tuple[np.ndarray, np.ndarray, int]]
    _held: Optional[dict]
    _forget: Callable[[], None]

    @guarded("write to")
    def insert_many(self, docs: Sequence[NewDocument]) -> None:
        """The batch in parts of about :data:`GROUP_VALUES` values, one script
        call each (:data:`.lua.INSERT`): rows numbered on from the ids handed out when
        the lock was taken, hidden from readers until the last call publishes the whole
        batch (its ids, its paragraph count and the ``top:*`` marks, at once).  So the
        batch is seen whole or not at all, and no call holds the server for long (Redis
        serves nobody else while a script runs).  A writer that dies between two calls
        leaves unpublished rows, which the next writer removes (:meth:`_discard`)."""
        if not docs:
            return
        if self._token is None:
            raise StorageError(f"{self.path}: insert_many outside a write transaction")
        k, (seq_d, seq_p) = self._k, self._seq
        counts = np.array([len(d.para_index) for d in docs], dtype=np.int64)
        n, m = len(docs), int(counts.sum())
        rows = np.arange(seq_d + 1, seq_d + n + 1, dtype=np.int64)
        bounds = offsets_from_counts(counts)
        para_ids = np.arange(seq_p + 1, seq_p + m + 1, dtype=np.int64)
        if seq_d + n > MAX_ROW or seq_p + m > MAX_ROW:
            raise StorageError(f"{self.path}: the index has run out of row ids (2^32)")

        def column(name: str, dtype: Any) -> np.ndarray:
            return (np.concatenate([getattr(d, name) for d in docs]).astype(dtype) if m
                    else np.zeros(0, dtype))

        keys, banded = column("para_keys", np.uint64), column("banded", bool)
        owners, positions = np.repeat(rows, counts), column("para_index", np.int64)
        starts, ends = column("para_start", np.int64), column("para_end", np.int64)
        doc_signatures = np.stack([d.signature for d in docs])
        doc_keys = np.array([d.key for d in docs], dtype=np.uint64)
        doc_banded = np.array([d.doc_banded for d in docs], dtype=bool)
        set_sizes = np.concatenate([d.para_sets.sizes() for d in docs]) if m else np.zeros(0, np.int64)
        in_buckets = np.flatnonzero(banded)  # the others are found by content key
        now = time.time()
        firsts = np.where(counts > 0, seq_p + 1 + bounds[:-1], 0)
        chars = np.array([len(d.text) for d in docs], dtype=np.int64)
        doc_checks = document_checks(rows, doc_keys, firsts, chars, counts, np.full(n, now), doc_banded,
                                     [d.doc_id for d in docs])
        headers = [x for d, row, first, count, size, check in zip(docs, rows.tolist(), firsts.tolist(), counts.tolist(),
                                                                  chars.tolist(), doc_checks.tolist())
                   for x in (pack_document(d.key, first, size, count, d.doc_banded, now, d.doc_id, check),
                             pack_text(row, d.text, d.meta))]
        parts = _parts(counts, banded, doc_banded, self.settings.num_perm)
        ids = [d.doc_id for d in docs]
        # Listed before the calls: an interrupt while an answer is on its way still
        # removes the batch when the transaction fails (see ``transaction``).
        self._written += ids
        for part, (a, b, lo, hi) in enumerate(parts):
            p_ids, d_rows = para_ids[lo:hi], rows[a:b]
            here = slice(*np.searchsorted(in_buckets, [lo, hi]).tolist())
            entries = []
            if here.stop > here.start:
                rows_here = in_buckets[here]  # their signatures held, or derived now (:mod:`..blocks`)
                entries += add_entries("p", para_ids[rows_here],
                                       blocks.signatures(docs, bounds, rows_here, self._derive, self.settings),
                                       set_sizes[rows_here])
            if doc_banded[a:b].any():
                mine = np.flatnonzero(doc_banded[a:b]) + a
                # A document whose paragraphs are all banded (logged before, in this
                # call or an earlier one of the batch) is logged without its
                # signature: the workers make it from theirs.
                in_buckets_before = np.r_[0, np.cumsum(banded)]
                made = (counts[mine] > 0) & (in_buckets_before[bounds[mine + 1]] - in_buckets_before[bounds[mine]]
                                             == counts[mine])
                if made.any():
                    entries.append(derived_entry(rows[mine[made]], firsts[mine[made]], counts[mine[made]]))
                if not made.all():
                    entries += add_entries("d", rows[mine[~made]], doc_signatures[mine[~made]],
                                           np.zeros(int((~made).sum()), np.int64))
            sets = SetTable(values=blocks.set_values(docs, blocks.pieces(bounds, lo, hi)),
                            offsets=offsets_from_counts(set_sizes[lo:hi]))
            records = pack_paragraphs(p_ids, owners[lo:hi], positions[lo:hi], starts[lo:hi], ends[lo:hi], keys[lo:hi],
                                      banded[lo:hi], sets)
            appends = [x for chunk, blob in chunk_entries(p_ids, records).items() for x in (f"p:{chunk}", blob)]
            del records, sets
            checks = ids if part == 0 else []
            last = part == len(parts) - 1
            if last:
                entries.append(publish_entry(seq_d + n, seq_p + m))
            publish = ([x for doc_id, row, d in zip(ids, rows.tolist(), docs)
                        for x in (doc_id, row, digest_value(doc_id, row, d.digest))]
                       if last else [])
            names = document_id_keys(ids) if last else np.zeros(0, np.uint64)
            args: list = [
                k + "lock", self._token, int(self._url.lease * 1000), k, seq_d + a, seq_p + lo, b - a, hi - lo,
                self._shards["k:p:"], self._shards["k:d:"],
                u64(keys[lo:hi]), u32(p_ids), u64(doc_keys[a:b]), u32(d_rows),
                len(entries), len(appends) // 2, len(checks), n if last else 0, m,
                self._shards["k:n:"], u64(names), u32(rows if last else rows[:0]),
                *entries, *appends, *headers[2 * a : 2 * b], *checks, *publish]
            self._forget()  # a part may fill a chunk read before
            done = self._insert(args=args)
            if not done[0]:  # only the first part checks ids: nothing was written
                del self._written[-n:]
                raise StorageError(f"{self.path}: document {done[1].decode('utf-8', 'surrogatepass')!r} is already "
                                   "in the index (nothing of the batch was written)")
            self._logged(done, entries)
        self._seq = (seq_d + n, seq_p + m)

    def _discard(self, seq: tuple[int, int], top: tuple[int, int]) -> None:
        """Remove the rows a writer that died mid-batch wrote but never published
        (document rows ``top[0]+1 .. seq[0]``, paragraph rows ``top[1]+1 .. seq[1]``;
        nobody has seen them): their records and content keys, and their bucket log
        entries by a drop (:mod:`.log`); then publish the empty range, so ids stay unique."""
        k, ops = self._k, []
        doc_rows = np.arange(top[0] + 1, seq[0] + 1, dtype=np.int64)
        blobs_d = self._records("d:", doc_rows)
        heads = {row: unpack_documents([blob], np.array([row]), self.path)[0]
                 for row, blob in zip(doc_rows.tolist(), blobs_d) if blob is not None}
        # A published row is listed in ``ids``: then ``top:d`` was set back, not a writer lost (T12).
        listed = self._r.hmget(k + "ids", [h.doc_id for h in heads.values()]) if heads else []
        for (row, head), at in zip(heads.items(), listed):
            if at is not None and int(at) == row:
                raise IndexCorrupt(damaged(self.path, f"the published-rows mark {k}top:d ({top[0]}) is behind "
                                                      f"the stored rows (document row {row} is published); nothing "
                                                      "was written"))
        para_rows = np.arange(top[1] + 1, seq[1] + 1, dtype=np.int64)
        blobs = self._paragraph_records(para_rows)
        have = np.array([b is not None for b in blobs], dtype=bool)
        if have.any():
            stored = para_rows[have]
            t = unpack_paragraphs([b for b in blobs if b is not None], stored, self.path)
            if (t.docs <= top[0]).any():  # rows of a published document: ``top:p`` was set back
                raise IndexCorrupt(damaged(self.path, f"the published-rows mark {k}top:p ({top[1]}) is behind "
                                                      f"the stored rows (paragraph row {int(stored[t.docs <= top[0]][0])}"
                                                      " is published); nothing was written"))
            ops += ["MDEL", k + "k:p:", self._shards["k:p:"], u64(t.keys), u32(stored)]
            ops += self._chunk_ops(set(stored.tolist()), set())
        for row, head in heads.items():
            ops += ["MDEL", k + "k:d:", self._shards["k:d:"], u64(np.array([head.key], np.uint64)),
                    u32(np.array([row])), "DEL", f"{k}d:{row}", "DEL", f"{k}t:{row}"]
        self._write("", "", [drop_entry(tag, ids) for tag, ids in (("p", para_rows), ("d", doc_rows)) if len(ids)]
                    + [publish_entry(*seq)], ops + ["SET", k + "top:d", seq[0], "SET", k + "top:p", seq[1]])

    @guarded("remove from")
    def delete(self, doc_id: str) -> bool:
        k, s = self._k, self.settings
        row = self._r.hget(k + "ids", doc_id)
        if row is None:
            return False
        row = int(row)
        head = unpack_documents([self._r.get(f"{k}d:{row}") or b""], np.array([row]), self.path)[0]
        para_ids = np.arange(head.first, head.first + head.paragraphs, dtype=np.int64)
        paras = self._read_paragraphs(para_ids)
        ops: list = []
        # The removed rows leave the buckets by a drop; heirs join them by an add (:mod:`.log`).
        entries = [drop_entry(tag, ids) for tag, ids in (("d", np.array([row])), ("p", para_ids)) if len(ids)]
        if head.banded:
            _, copies = self._multimap("k:d:", np.array([head.key], np.uint64))
            heirs = copies[copies != row]
            held, signature = self._cache.levels["d"].signatures(np.array([row]))
            if not held.all():
                raise IndexCorrupt(damaged(self.path, f"banded document row {row} is not in the bucket log"))
            if len(heirs):
                heir = int(heirs[0])
                record = self._r.get(f"{k}d:{heir}")
                if record is None:
                    raise IndexCorrupt(self._missing("d", [heir]))
                entries += add_entries("d", heirs[:1], signature, np.zeros(1, np.int64))
                ops += ["SET", f"{k}d:{heir}", banded_now(record, DOC_BANDED, DOC_CHECK)]
        banded = np.flatnonzero(paras.banded)
        heirs_p: list[int] = []
        if len(banded):
            signatures = self._derive.signatures(s, take_sets(paras.sets, banded))
            keys = paras.keys[banded]
            at, copies = self._multimap("k:p:", keys)
            outside = (copies < head.first) | (copies >= head.first + head.paragraphs)
            # The oldest surviving copy of each banded text (ids are in age order).
            which, first_at = np.unique(at[outside], return_index=True)
            if len(which):
                heirs = copies[outside][first_at]
                entries += add_entries("p", heirs, signatures[which], paras.sets.sizes()[banded][which])
                heirs_p = heirs.tolist()
        ops += ["MDEL", k + "k:p:", self._shards["k:p:"], u64(paras.keys), u32(para_ids),
                "MDEL", k + "k:d:", self._shards["k:d:"], u64(np.array([head.key], np.uint64)), u32(np.array([row])),
                "MDEL", k + "k:n:", self._shards["k:n:"], u64(document_id_keys([doc_id])), u32(np.array([row])),
                "DEL", f"{k}d:{row}", "DEL", f"{k}t:{row}", "HDEL", k + "ids", doc_id, "HDEL", k + "dg", doc_id,
                "COUNT", k + "n:p", "paragraphs", -head.paragraphs, "INCRBY", k + "n:d", -1]
        ops += self._chunk_ops(set(para_ids.tolist()), set(heirs_p))
        return self._write("old", doc_id, entries, ops)

    def _chunk_ops(self, removed: set[int], marked: set[int]) -> list:
        """SET / DEL rewriting the ``p:`` chunks holding paragraph rows ``removed``
        (taken out) and ``marked`` (now banded: their bands were handed over to them)."""
        ops: list = []
        touched = sorted({row // PARA_ROWS for row in removed | marked})
        for chunk, blob in self._chunks(touched).items():
            rows, records = [], []
            for row, (a, b) in split_chunk(blob, self.path, f"{self._k}p:{chunk}").items():
                if row in removed:
                    continue
                record = blob[a:b]
                if row in marked:
                    record = banded_now(record, PARA_BANDED, PARA_CHECK)
                rows.append(row)
                records.append(record)
            key = f"{self._k}p:{chunk}"
            ops += ["SET", key, chunk_entries(np.array(rows, dtype=np.int64), records)[chunk]] if rows else ["DEL", key]
        return ops

    @guarded("write to")
    def tally(self, keys: np.ndarray, documents: int) -> None:
        """One :data:`.lua.TALLY` call: adds to each key's count in the tally shards
        (``k:t:``, see :mod:`.lua`) and to ``judged``, only while this worker still
        holds the write lock (the script checks its token: :class:`IndexBusy` when the
        lease ran out, nothing counted).  Not undone with a failed transaction's
        documents (the counts then run a batch ahead: boilerplate is recognised a
        little sooner).  After :meth:`tally_first` of the same batch, it only ends that
        batch's hiding of them."""
        unique, counts = _counted(keys)
        if self._ahead is not None:
            first, self._ahead = self._ahead, None
            if first[2] != documents or not np.array_equal(first[0], unique) or not np.array_equal(first[1], counts):
                raise StorageError(f"{self.path}: a tally differs from the tally_first of its batch")
            return
        self._add_tallies(unique, counts, documents)

    def _add_tallies(self, unique: np.ndarray, counts: np.ndarray, documents: int) -> None:
        """The :data:`.lua.TALLY` call of :meth:`tally` (``unique``: sorted distinct keys,
        ``counts``: how many times each was given)."""
        if self._token is None:
            raise StorageError(f"{self.path}: tally outside a write transaction")
        if self._held:  # the tallies' shards and ``judged`` change; what else was read stays
            self._held = {key: value for key, value in self._held.items()
                          if key != self._k + "judged" and not (isinstance(key, tuple) and key[0] == "k:t:")}
        self._tally(args=[self._k + "lock", self._token, int(self._url.lease * 1000), self._k + "k:t:",
                          self._shards["k:t:"], self._k + "judged", int(documents), u64(unique), u32(counts)])

    @guarded("write to")
    def tally_first(self, keys: np.ndarray, documents: int) -> None:
        """:class:`~dedup.storage.optional.TalliesFirst`: :meth:`tally` now, before the
        batch's first write (the documents of each ``insert_many`` are published by its
        last call, and a killed writer's published documents stay); until the batch's
        :meth:`tally`, :meth:`tallies` answers without them (:meth:`_ahead_of`)."""
        if self._token is None or self._ahead is not None:
            raise StorageError(f"{self.path}: tally_first outside a write transaction, or twice in one batch")
        unique, counts = _counted(keys)
        self._add_tallies(unique, counts, documents)
        self._ahead = (unique, counts, int(documents))


def _parts(counts: np.ndarray, banded: np.ndarray, doc_banded: np.ndarray, per_row: int
           ) -> list[tuple[int, int, int, int]]:
    """The script calls of a batch, ``(a, b, lo, hi)``: documents ``a:b`` and paragraph
    rows ``lo:hi`` each, about :data:`GROUP_VALUES` values a call (the signature values
    of the banded rows, what the bucket log gets, and one content key a row).  Calls
    are cut between documents, and a document of more than that is cut between its
    rows too: its rows go in calls of their own, and it (with the documents after it
    in its part) in the call of its last rows, after every log entry of its rows
    (issue #12: a long article was one call holding all its rows and their
    signatures, ~1.3 KB a paragraph)."""
    n, bounds = len(counts), offsets_from_counts(counts)
    row_cost = banded * per_row + 1
    cost = np.bincount(np.repeat(np.arange(n), counts), weights=row_cost, minlength=n) + doc_banded * per_row + 1
    cuts = np.searchsorted(np.cumsum(cost), np.arange(GROUP_VALUES, cost.sum(), GROUP_VALUES), side="right")
    out = []
    for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, n].tolist()):
        if b <= a:
            continue
        lo, hi = int(bounds[a]), int(bounds[b])
        edges = [lo]
        if hi > lo and cost[a:b].sum() > GROUP_VALUES:
            running = np.cumsum(row_cost[lo:hi])
            at = lo + np.searchsorted(running, np.arange(GROUP_VALUES, running[-1], GROUP_VALUES), side="right")
            edges += sorted(set(at[(at > lo) & (at < hi)].tolist()))
        out += [(a, a, x, y) for x, y in zip(edges[:-1], edges[1:])] + [(a, b, edges[-1], hi)]
    return out


def _counted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct ``keys`` (uint64) and how many times each occurs.  (numpy
    2.4's ``np.unique`` with ``return_counts`` sorts: 6 ms for 200k keys, where the
    stable sort of :func:`~dedup.segments.first_unique` took 29 ms.)"""
    return np.unique(np.asarray(keys, dtype=np.uint64), return_counts=True)
