"""The items detection compares, at either level, from a signed corpus.

Paragraphs and documents go through the same detection steps (:mod:`dedup.plan`, and
the index's look-up): a document's shingle set is the union of its paragraphs' and its
signature the element-wise minimum of theirs (that is exactly the MinHash of the
union), so document level costs no second pass over the text.  Boilerplate paragraphs
(:mod:`dedup.boilerplate`) can be left out of their documents' items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xxhash

from .corpus import Corpus
from .minhash import EMPTY
from .segments import offsets_from_counts, ranges, sorted_unique


@dataclass(frozen=True)
class Items:
    """Texts to compare, whatever their level: signatures, where each one's shingles
    are in a flat hash array, and the keys / sizes that decide exactness and eligibility."""

    signatures: np.ndarray
    hashes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    keys: np.ndarray
    tokens: np.ndarray


def paragraph_items(corpus: Corpus) -> Items:
    sh = corpus.shingles
    return Items(
        signatures=corpus.signatures,
        hashes=sh.hashes,
        starts=sh.offsets[:-1],
        ends=sh.offsets[1:],
        keys=corpus.para_key,
        tokens=corpus.para_words,
    )


def document_items(corpus: Corpus, boilerplate: np.ndarray | None = None) -> tuple[Items, np.ndarray]:
    """Every document as an item (an empty or whitespace-only one too: it has no
    paragraph, no shingle and the key of no text), and their indices.

    Paragraphs flagged in ``boilerplate`` (bool per paragraph, :mod:`dedup.boilerplate`)
    are left out of each document's shingle set, signature and token count, so two
    stories that share only a site's footer are compared on the stories; the content key
    (exact copies) still covers the whole document.

    The scan's document stage reduces a document of more paragraphs than it reads at
    once the same way, a chunk at a time (:func:`dedup.plan.documents._long_document`):
    a change here must be made there too (``tests/test_stage_chunks.py`` compares the
    two and fails on any difference)."""
    counts = np.array([d.paragraphs for d in corpus.documents], dtype=np.int64)
    n = len(counts)
    docs = np.arange(n)
    first_para = offsets_from_counts(counts)[:-1]
    sh = corpus.shingles
    ends_para = first_para + counts
    keys = [
        xxhash.xxh3_64_intdigest(corpus.para_key[s:e].tobytes()) for s, e in zip(first_para, ends_para)
    ]
    signatures = np.full((n, corpus.signatures.shape[1]), EMPTY, dtype=np.uint32)
    some = np.flatnonzero(counts > 0)
    if len(some):
        signatures[some] = np.minimum.reduceat(corpus.signatures, first_para[some], axis=0)

    def per_document(values: np.ndarray) -> np.ndarray:
        return np.bincount(corpus.para_doc, weights=values, minlength=n).astype(np.int64)

    if boilerplate is None or not boilerplate.any():
        hashes, starts, ends = sh.hashes, sh.offsets[first_para], sh.offsets[ends_para]
        tokens = per_document(corpus.para_words)
    else:
        keep = ~boilerplate
        lengths = np.diff(sh.offsets)
        kept = np.flatnonzero(keep)
        hashes = sh.hashes[ranges(sh.offsets[kept], lengths[kept])]
        bounds = offsets_from_counts(per_document(np.where(keep, lengths, 0)))
        starts, ends = bounds[:-1], bounds[1:]
        tokens = per_document(np.where(keep, corpus.para_words, 0))
        touched = np.flatnonzero(per_document(boilerplate.astype(np.int64)) > 0)
        signatures[touched] = _signatures_without(corpus.signatures, first_para[touched], ends_para[touched], keep)
    return Items(signatures=signatures, hashes=hashes, starts=starts, ends=ends,
                 keys=np.array(keys, dtype=np.uint64), tokens=tokens), docs


def _signatures_without(signatures: np.ndarray, firsts: np.ndarray, ends: np.ndarray, keep: np.ndarray,
                        chunk: int = 1 << 16) -> np.ndarray:
    """Element-wise minimum of the kept paragraphs' signatures of each paragraph range
    ``[firsts[i], ends[i])`` (all ``EMPTY`` when none is kept), a chunk of ranges at a time."""
    out = np.full((len(firsts), signatures.shape[1]), EMPTY, dtype=signatures.dtype)
    lo = 0
    while lo < len(firsts):
        hi = lo + max(1, int(np.searchsorted(np.cumsum(ends[lo:] - firsts[lo:]), chunk)))
        rows = ranges(firsts[lo:hi], ends[lo:hi] - firsts[lo:hi])
        owner = np.repeat(np.arange(hi - lo), ends[lo:hi] - firsts[lo:hi])
        rows, owner = rows[keep[rows]], owner[keep[rows]]
        if len(rows):
            present = sorted_unique(owner)
            at = np.searchsorted(owner, present)
            out[lo + present] = np.minimum.reduceat(signatures[rows], at, axis=0)
        lo = hi
    return out
