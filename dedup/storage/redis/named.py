"""Reading the Redis index by document name (the caller's id): a stored document
(``get``), presence (``contains``), content digests, the listing in row order, and the
counts (``count``, ``stats``) -- each checking that ``ids``, ``dg`` and the document
records agree on the name (a renamed or deleted entry is damage, never "not stored").
A mixin of :class:`~dedup.storage.redis.RedisStorage`; the row and look-up reads are
in :mod:`.reads` and :mod:`.documents`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from ...settings import Settings
from ...split import Span
from ..protocol import IndexCorrupt, Listed, StoredDocument, document_id_keys
from ..rowcheck import damaged
from .records import ParagraphTable, stored_digest, unpack_documents, unpack_meta, unpack_text
from .log import number
from .url import RedisURL, guarded


#: Where a transaction keeps a :data:`.lua.NAMES` reply its first round trip read
#: (``(ids, reply)``: :meth:`.multimap.Multimaps.prefetch`), in ``_held``.
NAMED = ("names",)


class Named:
    """Reads by document id and the counts (needs ``_r``, ``_k``, ``_url``, ``path``,
    ``settings``, ``_counts``, ``_check_listed``, ``_paragraph_count``, from
    :class:`.documents.DocumentReads`, ``_read_paragraphs`` and, from
    :class:`.reads.Reads`, ``_missing``)."""

    _r: Any
    _k: str
    _url: RedisURL
    path: str
    settings: Settings
    _counts: Any
    _find: Any
    _names: Any
    _held: Optional[dict]
    _shards: dict[str, int]
    _end_mark: Callable[[str, bool], None]
    _verified: Callable[..., list[bytes]]
    _check_listed: Callable[[int, int, str], None]
    _paragraph_count: Callable[[Optional[bytes]], int]
    _read_paragraphs: Callable[[np.ndarray], ParagraphTable]
    _missing: Callable[[str, list[int]], str]

    def _no_text(self, row: int) -> str:
        return damaged(self.path, f"the text of stored document row {row} is missing (Redis key {self._k}t:{row})")

    @guarded("read")
    def get(self, doc_id: str) -> Optional[StoredDocument]:
        k = self._k
        row = self._r.hget(k + "ids", doc_id)
        if row is None:
            self._named([doc_id])
            return None
        head_blob, text_blob = self._r.mget([f"{k}d:{int(row)}", f"{k}t:{int(row)}"])
        if head_blob is None or text_blob is None:
            if self._r.hget(k + "ids", doc_id) != row:
                return None  # removed meanwhile
            raise IndexCorrupt(self._missing("d", [int(row)]) if head_blob is None else self._no_text(int(row)))
        row = int(row)
        head = unpack_documents([head_blob], np.array([row]), self.path)[0]
        self._listed_at(doc_id, row, head.doc_id)
        paras = self._read_paragraphs(np.arange(head.first, head.first + head.paragraphs, dtype=np.int64))
        text, meta = unpack_text(text_blob, row, self.path, f"{k}t:{row}")
        return StoredDocument(doc_id=doc_id, text=text,
                              paragraphs=tuple(Span(int(a), int(b)) for a, b in zip(paras.start, paras.end)),
                              meta=meta, added=head.added)

    @guarded("read")
    def digests(self, doc_ids: Sequence[str]) -> dict[str, Optional[str]]:
        """One read-only script call (:meth:`_named`), or none inside a transaction
        whose first round trip read them (:meth:`.multimap.Multimaps.prefetch`'s ``ids``)."""
        ids = list(doc_ids)
        if not ids:
            return {}
        ahead = self._held.get(NAMED) if self._held is not None else None
        named = self._named(*ahead) if ahead is not None and set(ids) <= set(ahead[0]) else self._named(ids)
        return {d: named[d] for d in ids if d in named}

    @guarded("read")
    def listing(self, after: int = 0, limit: int = 1000, before: Optional[float] = None) -> list[Listed]:
        """Rows are read in ascending id from ``after`` in pages of ``limit`` ids (a
        removed row is a missing key), up to the highest row handed out."""
        k, out, row = self._k, [], after
        top = int(self._r.get(k + "top:d") or 0)
        while len(out) < limit and row < top:
            rows = list(range(row + 1, min(row + limit, top) + 1))
            heads = self._r.mget([f"{k}d:{r}" for r in rows])
            stored = [(r, h) for r, h in zip(rows, heads) if h]
            found = list(zip([r for r, _ in stored], unpack_documents(
                [h for _, h in stored], np.array([r for r, _ in stored], dtype=np.int64), self.path)))
            found = [(r, h) for r, h in found if before is None or h.added < before][: limit - len(out)]
            gone = [r for r, h in zip(rows, heads) if not h]
            if gone:  # removed rows, or records deleted from under the ids hash (tester's T1)
                live = np.isin(np.array(gone, np.int64), np.array([number(v, self.path, k + "ids") for v in self._r.hvals(k + "ids")],
                                                                           dtype=np.int64))
                if live.any():
                    raise IndexCorrupt(self._missing("d", np.array(gone)[live].tolist()))
            texts = self._r.mget([f"{k}t:{r}" for r, _ in found]) if found else []
            lost = [r for (r, _), t in zip(found, texts) if t is None]
            if lost:  # removed since the headers were read (one call deletes both), or damage
                still = [r for r, h in zip(lost, self._r.mget([f"{k}d:{r}" for r in lost])) if h is not None]
                if still:
                    raise IndexCorrupt(self._no_text(still[0]))
            out += [Listed(r, h.doc_id, h.added, h.chars, h.paragraphs, unpack_meta(t, r, self.path, f"{k}t:{r}"))
                    for (r, h), t in zip(found, texts) if t is not None]
            row = rows[-1]
        return out

    @guarded("read")
    def contains(self, doc_id: str) -> bool:
        """Whether ``ids`` lists ``doc_id`` at a row whose record holds that id (one
        read-only script call: the entry and the record at once)."""
        found = self._find(args=[self._k, doc_id])
        if not found:
            self._named([doc_id])
            return False
        row = int(found[0])
        if found[1] is None:
            raise IndexCorrupt(self._missing("d", [row]))
        self._listed_at(doc_id, row, unpack_documents([found[1]], np.array([row]), self.path)[0].doc_id)
        return True

    def _names_args(self, doc_ids: Sequence[str]) -> list:
        """The arguments of a :data:`.lua.NAMES` call about ``doc_ids``."""
        keys, count = document_id_keys(list(doc_ids)), self._shards["k:n:"]
        shards = ((keys & np.uint64(0xFFFFFFFF)) % np.uint64(count)).astype(np.int64).tolist()
        return [self._k, "k:n:", len(doc_ids), *[x for pair in zip(doc_ids, shards) for x in pair], count]

    def _named(self, doc_ids: Sequence[str], flat: Optional[list] = None) -> dict[str, Optional[str]]:
        """``{id: digest}`` of the ids of ``doc_ids`` that ``ids`` lists (``None``: a row
        stored before digests were kept), from one read-only script call
        (:data:`.lua.NAMES`; ``flat``: its reply, read already) -- which also tells
        whether an id ``ids`` does not list is still bound to a stored row elsewhere:
        by an entry in ``dg``, or by the name multimap ``k:n:`` (keyed by
        :func:`~dedup.storage.protocol.document_id_keys`) at a row whose record holds
        that id (or is missing); then it raises :class:`IndexCorrupt`.  The same call
        writes and deletes all three, so its ``ids`` entry was renamed or deleted.  A
        record is read only when a shard lists the name.

        Why the name multimap: an id renamed in both ``ids`` and ``dg`` (``HDEL`` +
        ``HSET`` in each, the digest entry rewritten to verify under the new name) read
        "not stored" under its old name, and an add under it stored the text again
        (session 13's stated blind spot); the shards are sealed like the content keys'.
        (Until session 19 ``digests`` read ``ids`` and ``dg`` first and called the
        script for the ids not listed: two round trips for a new document.)"""
        doc_ids = list(doc_ids)
        args = self._names_args(doc_ids)
        if flat is None:
            flat = self._names(args=args)
        n = len(doc_ids)
        shards = args[4 : 3 + 2 * n + 1 : 2]
        rows, digested = flat[0 : 2 * n : 2], flat[1 : 2 * n : 2]
        self._end_mark("k:n:", bool(flat[-1]))
        absent = [i for i in range(n) if rows[i] is None]
        distinct = list(dict.fromkeys(shards[i] for i in absent))
        tail = flat[2 * n : -1]
        bodies = dict(zip(distinct, self._verified("k:n:", distinct, tail[0::2], [bool(b) for b in tail[1::2]])))
        suspects: list[tuple[str, int]] = []
        keys = document_id_keys([doc_ids[i] for i in absent]).tolist() if absent else []
        for i, key in zip(absent, keys):
            doc_id = doc_ids[i]
            if digested[i]:
                raise IndexCorrupt(damaged(self.path, f"{self._k}dg holds the digest of document {doc_id!r}, which "
                                                      f"{self._k}ids does not list (its ids entry was renamed or "
                                                      "deleted)"))
            entries = np.frombuffer(bodies[shards[i]], dtype="<u4").reshape(-1, 2)
            suspects += [(doc_id, int(r)) for r in entries[entries[:, 0] == key >> 32, 1].tolist()]
        if suspects:
            records = self._r.mget([f"{self._k}d:{row}" for _, row in suspects])
            for (doc_id, row), record in zip(suspects, records):
                holds = (unpack_documents([record], np.array([row]), self.path)[0].doc_id if record is not None
                         else None)
                if holds is None or holds == doc_id:  # else another id of the same 64-bit name key
                    raise IndexCorrupt(damaged(self.path, f"{self._k}ids does not list document {doc_id!r}, which "
                                                          f"{self._k}k:n:{shards[doc_ids.index(doc_id)]} binds to "
                                                          f"document row {row} (its ids entry was renamed or deleted)"))
        key = self._k + "dg"
        return {d: stored_digest(g, d, number(r, self.path, self._k + "ids"), self.path, key)
                for d, r, g in zip(doc_ids, rows, digested) if r is not None}

    def _listed_at(self, doc_id: str, row: int, holds: str) -> None:
        """Raise :class:`IndexCorrupt` unless the record ``ids`` gives for ``doc_id``
        (row ``row``) ``holds`` that id (an entry renamed or repointed)."""
        if holds != doc_id:
            raise IndexCorrupt(damaged(self.path, f"{self._k}ids lists {doc_id!r} at document row {row}, which "
                                                  f"holds {holds!r}"))

    @guarded("read")
    def count(self) -> int:
        return int(self._r.hlen(self._k + "ids"))

    @guarded("read")
    def stats(self) -> dict[str, Any]:
        docs, counted, paras = self._counts(args=[self._k])
        self._check_listed(int(docs), int(counted), "the counts cannot be given")
        paras = self._paragraph_count(paras)
        memory = self._r.info("memory")
        return {
            "documents": int(docs),
            "paragraphs": paras,
            "settings": self.settings.to_dict(),
            # Redis cannot tell one prefix's memory cheaply: the server's, all databases.
            "bytes": int(memory["used_memory"]),
            "backend": "redis",
            "path": self.path,
            "redis": {"prefix": self._url.prefix, "server_used_memory": int(memory["used_memory"]),
                      "maxmemory": int(memory.get("maxmemory", 0))},
        }
