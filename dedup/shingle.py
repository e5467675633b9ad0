"""Turn normalized texts into shingle hashes, a whole batch at a time.

Why this shape: the hot path must not loop in Python per shingle.  Each *unit* (a word,
or a character) is hashed once -- words with xxhash (XXH3, 64-bit), characters by an
avalanche mix of their code point -- and every n-gram's hash is then derived from its
units' hashes with vectorized numpy arithmetic over the whole batch.  A batch is stored
flat: one ``uint64`` array of hashes and an offsets array saying where each text's
shingles start and end (CSR layout), so later stages can work on millions of shingles
with a handful of numpy calls.

A text shorter than ``n`` units yields one shingle of all its units, so short texts can
still be compared; a text with no units yields none.  Shingles never cross the
boundary between two texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain
from typing import Sequence

import numpy as np
import xxhash

from .segments import offsets_from_counts, ranges
from .settings import Unit

_WORD = re.compile(r"\w+")
_ASCII_WORD_BYTES = bytes(
    c if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 95) else 32 for c in range(256)
)
_U64 = np.uint64
_MIX = _U64(0x9E3779B97F4A7C15)
_CHAR_SALT = _U64(0xD6E8FEB86659FD93)


@dataclass(frozen=True)
class Shingles:
    """Shingle hashes of a batch of texts, flat.

    ``hashes[offsets[i]:offsets[i + 1]]`` are the shingles of text ``i`` in order (with
    repeats); ``units[i]`` is how many words (or characters) text ``i`` has.
    """

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = texts + 1
    units: np.ndarray  # int64, len = texts

    def __len__(self) -> int:
        return len(self.units)

    def of(self, i: int) -> np.ndarray:
        return self.hashes[self.offsets[i] : self.offsets[i + 1]]

    def take(self, indices: np.ndarray) -> "Shingles":
        """The shingles of texts ``indices`` (repeats allowed), in that order."""
        counts = np.diff(self.offsets)[indices]
        return Shingles(
            hashes=self.hashes[ranges(self.offsets[:-1][indices], counts)],
            offsets=offsets_from_counts(counts),
            units=self.units[indices],
        )


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer: a bijection that spreads every input bit."""
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def words(text: str) -> list[str]:
    """The words of a normalized text: maximal runs of Unicode word characters."""
    return _WORD.findall(text)


def _word_bytes(text: str) -> list[bytes]:
    """The UTF-8 encoded words of one text (same result as :func:`words`)."""
    if text.isascii():
        # Fast path: bytes.translate + split cut the words in C, already encoded.
        return text.encode("ascii").translate(_ASCII_WORD_BYTES).split()
    return [w.encode("utf-8") for w in _WORD.findall(text)]


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """How many words each normalized text has (the unit of ``min_words``)."""
    return np.fromiter((len(_word_bytes(t)) for t in texts), dtype=np.int64, count=len(texts))


def _word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """xxh3-64 of every word of every text, flat, and the word count of each text."""
    tokens = list(map(_word_bytes, texts))
    counts = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    flat = chain.from_iterable(tokens)
    hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, flat), dtype=_U64, count=int(counts.sum()))
    return hashes, counts


def _char_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A mixed hash of every character's code point, flat, and each text's length."""
    counts = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codepoints = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    return fmix64(codepoints.astype(_U64) ^ _CHAR_SALT), counts


def shingle(texts: Sequence[str], unit: Unit = "word", n: int = 2) -> Shingles:
    """Hash the ``n``-gram shingles of each normalized text in ``texts``."""
    unit_hashes, counts = _word_hashes(texts) if unit == "word" else _char_hashes(texts)
    return ngram_hashes(unit_hashes, counts, n)


def ngram_hashes(unit_hashes: np.ndarray, counts: np.ndarray, n: int) -> Shingles:
    """Combine consecutive unit hashes into order-sensitive ``n``-gram hashes.

    ``unit_hashes`` holds the units of several texts back to back, ``counts`` how many
    belong to each.  Windows that would cross into the next text are dropped.
    """
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])) if len(counts) else counts
    n_shingles = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
    offsets = np.concatenate(([0], np.cumsum(n_shingles))).astype(np.int64)

    # Every window's start position in the flat unit array.
    item = np.repeat(np.arange(len(counts)), n_shingles)
    window_start = starts[item] + (np.arange(offsets[-1]) - offsets[:-1][item])
    window_len = np.minimum(counts[item], n)

    total = len(unit_hashes)
    h = unit_hashes[window_start].copy() if total else np.zeros(0, dtype=_U64)
    for k in range(1, n):
        nxt = unit_hashes[np.minimum(window_start + k, max(total - 1, 0))]
        mixed = ((h << _U64(23)) | (h >> _U64(41))) * _MIX ^ nxt
        h = np.where(window_len > k, mixed, h)
    return Shingles(hashes=fmix64(h ^ window_len.astype(_U64)), offsets=offsets, units=counts)
