"""Stage 1b, documents: one shard's paragraph files -> its document items' files.

A document's item is built from its paragraphs' (:func:`dedup.detect.document_items`):
its signature is the element-wise minimum of theirs, its shingle set the union of
theirs, its content key a hash of their keys in order -- boilerplate paragraphs (keys
in the scratch's ``texts/common`` file, :mod:`dedup.boilerplate`) left out of all
but the key.  Each of these is a reduction over the document's paragraphs alone, so a
shard is reduced a run of whole documents at a time, :data:`READ_PARAGRAPHS`
paragraphs at most, and a document with more paragraphs than that a chunk of them at a
time (:func:`_long_document`): the stage holds one chunk's signatures (1 KB a
paragraph at 256 permutations), never a shard's (U2 of #12: a shard of one million
one-line paragraphs read 1 GB of them at once, and the scan peaked at 1.6 GB).  The
files are written a chunk at a time (:class:`~dedup.plan.shardfiles.ShardAppender`),
the same bytes whatever the chunks.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import xxhash

from ..corpus import Corpus, DocumentInfo
from ..detect import Items, document_items
from ..minhash import EMPTY
from ..segments import SetTable, offsets_from_counts, ranges, sorted_unique
from ..shingle import Shingles
from .band import banded
from .common import recurring_flags
from .items import LevelPlan
from .scratch import Scratch, among, load, release, save
from .shardfiles import ShardAppender
from .sign import item_arrays

#: Paragraphs whose files (signatures above all) are read at once: ~1 KB each here,
#: where :data:`dedup.plan.sign.CHUNK_PARAGRAPHS` (the same number, chosen apart)
#: bounds the paragraphs signed at once, ~2.8 KB each there.
READ_PARAGRAPHS = 1 << 15


def document_shard(paragraph_level: LevelPlan, shard: int, recurring: bool, trim: bool = False) -> tuple[int, int]:
    """Write shard ``shard``'s document items (see the module doc) from its paragraph
    files; ``paragraph_level`` is the paragraph level's plan.  Also flags the
    paragraphs that are texts of ``FRAME_STORIES`` documents or more, for
    :mod:`.frames` (``recurring``: the boilerplate stage has written their keys,
    :func:`dedup.plan.common.recurring_flags`; else none is), and which are
    boilerplate (file ``common``).  Returns how many document items, and how many of
    them have at least ``min_tokens`` tokens (the plan sizes the bucket rows by those).

    ``trim``: the paragraph level runs later and its exact stage has run: the
    paragraphs' signatures are then cut down to those of the paragraphs it bands
    (:meth:`LevelPlan.kept_signatures`), since nothing else reads them once the
    documents are built -- so the scratch folder's peak, at the document level, no
    longer holds every paragraph's (1 KB each)."""
    scratch = paragraph_level.scratch
    source = _Paragraphs(scratch, shard)
    keys = source.whole("keys")
    mask = among(keys, scratch.texts("common"))
    save(scratch.shard(shard, "paragraph", "common"), mask)
    save(scratch.shard(shard, "paragraph", "recurring"),
         recurring_flags(paragraph_level, keys) if recurring else np.zeros(len(keys), bool))
    counts = source.whole("doc_paragraphs")
    bounds = offsets_from_counts(counts)
    places = {"end": source.whole("doc_chars"), "utf8_bytes": source.whole("doc_bytes")}
    long = 0
    with ShardAppender(lambda name: scratch.shard(shard, "document", name)) as out:
        for lo, hi in document_runs(counts, READ_PARAGRAPHS):
            first, last = int(bounds[lo]), int(bounds[hi])
            sets = None
            if hi - lo == 1 and last - first > READ_PARAGRAPHS:
                items, sets = _long_document(source, first, last, mask)
            else:
                items = document_items(source.corpus(counts, lo, hi, first, last), mask[first:last])[0]
            docs = np.arange(lo, hi)
            previews = [source.preview(p) if n else "" for p, n in zip(bounds[lo:hi].tolist(), counts[lo:hi].tolist())]
            long += int(np.count_nonzero(items.tokens >= paragraph_level.min_tokens))
            out.add(item_arrays(items, {"doc": docs, "index": np.full(hi - lo, -1), "start": np.zeros(hi - lo, np.int64),
                                        "end": places["end"][lo:hi], "utf8_bytes": places["utf8_bytes"][lo:hi]},
                                previews, sets))
        if not len(counts):  # no document: the files still say so
            out.add(item_arrays(document_items(source.corpus(counts, 0, 0, 0, 0), mask)[0],
                                {name: np.zeros(0, np.int64) for name in ("doc", "index", "start", "end", "utf8_bytes")},
                                []))
        count = out.rows
    if trim:
        paragraph_level.kept_signatures(shard, banded(paragraph_level, shard))
    return count, long


def document_runs(counts: np.ndarray, most: int) -> Iterator[tuple[int, int]]:
    """``(lo, hi)``: runs of consecutive documents (with ``counts`` paragraphs each)
    of at most ``most`` paragraphs together, or a single document of more."""
    cumulative = offsets_from_counts(counts)
    lo, n = 0, len(counts)
    while lo < n:
        hi = max(lo + 1, int(np.searchsorted(cumulative, cumulative[lo] + most, side="right")) - 1)
        yield lo, hi
        lo = hi


class _Paragraphs:
    """A shard's paragraph files, memory-mapped, read a slice at a time (each
    slice's pages released once copied: the stage's memory follows its chunk)."""

    def __init__(self, scratch: Scratch, shard: int) -> None:
        self.scratch, self.shard = scratch, shard
        self._maps: dict[str, np.ndarray] = {}

    def file(self, name: str) -> np.ndarray:
        if name not in self._maps:
            self._maps[name] = load(self.scratch.shard(self.shard, "paragraph", name), mmap=True)
        return self._maps[name]

    def whole(self, name: str) -> np.ndarray:
        """A small per-paragraph or per-document file (8 bytes an entry), read whole."""
        return load(self.scratch.shard(self.shard, "paragraph", name))

    def slice(self, name: str, lo: int, hi: int) -> np.ndarray:
        mapped = self.file(name)
        out = np.array(mapped[lo:hi])
        release(mapped)
        return out

    def hashes(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        """The shingle hashes of paragraphs ``first .. last - 1`` in order, and their
        offsets (from 0)."""
        offsets = self.slice("hash_offsets", first, last + 1)
        return self.slice("hashes", int(offsets[0]), int(offsets[-1])), offsets - offsets[0]

    def corpus(self, counts: np.ndarray, lo: int, hi: int, first: int, last: int) -> Corpus:
        """Documents ``lo .. hi - 1`` (of ``counts`` paragraphs each), whose paragraphs are
        ``first .. last - 1``, as :func:`~dedup.detect.document_items` reads them (no
        places, no previews: those are left empty)."""
        hashes, offsets = self.hashes(first, last)
        doc = self.slice("doc", first, last) - lo
        unread = np.zeros(0, np.int64)
        return Corpus(
            documents=[DocumentInfo("", 0, n) for n in counts[lo:hi].tolist()],
            para_doc=doc, para_index=unread, para_start=unread, para_end=unread,
            para_words=self.slice("tokens", first, last), para_key=self.slice("keys", first, last),
            para_preview=[], shingles=Shingles(hashes, offsets, np.zeros(last - first, np.int64)),
            signatures=self.slice("sigs", first, last))

    def preview(self, paragraph: int) -> str:
        """The report preview of paragraph ``paragraph``."""
        lo, hi = self.file("preview_offsets")[paragraph : paragraph + 2].tolist()
        return self.file("preview")[lo:hi].tobytes().decode("utf-8", "surrogatepass")


def _long_document(source: _Paragraphs, first: int, last: int, boilerplate: np.ndarray) -> tuple[Items, SetTable]:
    """The item and shingle set of the one document of paragraphs ``first .. last -
    1``, reduced :data:`READ_PARAGRAPHS` paragraphs at a time, as
    :func:`~dedup.detect.document_items` makes them whole: the minimum of its kept
    (not ``boilerplate``) paragraphs' signatures (``EMPTY`` when none is kept), the
    union of their shingles and the sum of their tokens, and the hash of all its
    paragraphs' keys in order (xxh3 fed a chunk at a time gives the one-shot digest).
    The set is made from each chunk's distinct shingles, sorted in place: a few bytes
    of work space a shingle, where :func:`~dedup.segments.unique_sets` takes ~60."""
    digest = xxhash.xxh3_64()
    signature = None
    tokens = 0
    distinct = []
    for lo in range(first, last, READ_PARAGRAPHS):
        hi = min(lo + READ_PARAGRAPHS, last)
        digest.update(source.slice("keys", lo, hi).tobytes())
        keep = np.flatnonzero(~boilerplate[lo:hi])
        sigs = source.slice("sigs", lo, hi)
        signature = np.full(sigs.shape[1], EMPTY, sigs.dtype) if signature is None else signature
        if len(keep):
            np.minimum(signature, sigs[keep].min(axis=0), out=signature)
        del sigs
        tokens += int(source.slice("tokens", lo, hi)[keep].sum())
        hashes, offsets = source.hashes(lo, hi)
        distinct.append(sorted_unique(hashes[ranges(offsets[keep], np.diff(offsets)[keep])]))
    values = np.concatenate(distinct)
    del distinct
    values.sort()
    values = values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values
    items = Items(signatures=signature[None, :], hashes=values, starts=np.zeros(1, np.int64),
                  ends=np.array([len(values)], np.int64), keys=np.array([digest.intdigest()], np.uint64),
                  tokens=np.array([tokens], np.int64))
    return items, SetTable(values, np.array([0, len(values)], np.int64))
