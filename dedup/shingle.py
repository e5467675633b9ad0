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

from dataclasses import dataclass
from itertools import chain
from typing import Sequence

import numpy as np
import xxhash

from . import tokenize
from .segments import offsets_from_counts, ranges
from .settings import Unit

_U64 = np.uint64
_MIX = _U64(0x9E3779B97F4A7C15)
_CHAR_SALT = _U64(0xD6E8FEB86659FD93)


@dataclass(frozen=True)
class Shingles:
    """Shingle hashes of a batch of texts, flat.

    ``hashes[offsets[i]:offsets[i + 1]]`` are the shingles of text ``i`` in order (with
    repeats); ``units[i]`` is how many words (or characters) text ``i`` has;
    ``widths`` (uint8, one per unit, texts back to back) how many units a shingle
    starting at that unit spans (:func:`dedup.tokenize.shingle_widths` of its kind):
    with ``units`` it says which units each shingle covers (:func:`windows`), what
    :func:`dedup.verify.coverage` needs.
    """

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = texts + 1
    units: np.ndarray  # int64, len = texts
    widths: np.ndarray | None = None  # uint8, len = units.sum(); None for a set (no order)

    def __len__(self) -> int:
        return len(self.units)

    def of(self, i: int) -> np.ndarray:
        return self.hashes[self.offsets[i] : self.offsets[i + 1]]

    def take(self, indices: np.ndarray) -> "Shingles":
        """The shingles of texts ``indices`` (repeats allowed), in that order."""
        counts = np.diff(self.offsets)[indices]
        units = self.units[indices]
        return Shingles(
            hashes=self.hashes[ranges(self.offsets[:-1][indices], counts)],
            offsets=offsets_from_counts(counts),
            units=units,
            widths=self.widths[ranges(offsets_from_counts(self.units)[:-1][indices], units)],
        )


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer: a bijection that spreads every input bit."""
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


#: Batches of fewer characters are hashed token by token (:func:`_python_token_hashes`).
_VECTOR_CHARS = 1 << 15


def _token_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xxh3-64 of every token (:mod:`dedup.tokenize`) of every text, flat, the token
    count of each text and the kind of each token (``tokenize.KIND_*``).

    ASCII texts (most of them) are cut and hashed with numpy over the whole batch
    (:func:`_ascii_word_hashes`), the others with :func:`dedup.tokenize.token_spans`
    and the same vectorized XXH3.  A small batch (one article: ~4k characters) is
    hashed token by token altogether: the numpy path costs ~0.25 ms in per-call
    overhead whatever the batch size, more than xxhash's ~0.1 us per token until
    batches of ~30k characters (measured).
    """
    is_ascii = np.fromiter((t.isascii() for t in texts), dtype=bool, count=len(texts))
    plain = np.flatnonzero(is_ascii)
    other = np.flatnonzero(~is_ascii)
    small = sum(map(len, texts)) < _VECTOR_CHARS
    if small:
        tokens = [tokenize.ascii_tokens(texts[i]) for i in plain]
        plain_counts = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        plain_hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, chain.from_iterable(tokens)), dtype=_U64,
                                   count=int(plain_counts.sum()))
    else:
        plain_hashes, plain_counts = _ascii_word_hashes([texts[i] for i in plain])
    spans = tokenize.token_spans([texts[i] for i in other])
    if small:
        other_hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, spans.tokens()), dtype=_U64, count=len(spans.starts))
    else:
        other_hashes = _xxh3_spans(spans.data, spans.starts, spans.lengths)
    if not len(other):
        return plain_hashes, plain_counts, np.zeros(len(plain_hashes), dtype=np.uint8)
    counts = np.zeros(len(texts), dtype=np.int64)
    counts[plain], counts[other] = plain_counts, spans.counts
    offsets = offsets_from_counts(counts)
    hashes = np.empty(int(offsets[-1]), dtype=_U64)
    kinds = np.zeros(int(offsets[-1]), dtype=np.uint8)
    hashes[ranges(offsets[plain], plain_counts)] = plain_hashes
    where_other = ranges(offsets[other], spans.counts)
    hashes[where_other] = other_hashes
    kinds[where_other] = spans.kinds
    return hashes, counts, kinds


def _ascii_word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Words of ASCII texts (runs of ``[0-9A-Za-z_]``, as ``\\w+`` finds them) and their
    xxh3-64 hashes, found with numpy on the texts joined by spaces."""
    if not texts:
        return np.zeros(0, dtype=_U64), np.zeros(0, dtype=np.int64)
    data = np.frombuffer(" ".join(texts).encode("ascii"), dtype=np.uint8)
    is_word = _IS_WORD_BYTE[data]
    edge = np.diff(is_word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    text_starts = offsets_from_counts(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
    counts = np.diff(np.searchsorted(starts, text_starts))
    return _xxh3_spans(data, starts, ends - starts), counts


def _xxh3_spans(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """xxh3-64 of ``data[starts[i] : starts[i] + lengths[i]]`` for every ``i``."""
    hashes = xxh3_64(data, starts, np.minimum(lengths, _XXH3_MAX))
    for i in np.flatnonzero(lengths > _XXH3_MAX):  # rare: tokens over 128 bytes
        hashes[i] = xxhash.xxh3_64_intdigest(data[starts[i] : starts[i] + lengths[i]].tobytes())
    return hashes


# --- XXH3-64 (seed 0) of many short byte strings at once --------------------------
# The same values as ``xxhash.xxh3_64_intdigest`` (tests compare every length), from
# the reference algorithm's short-input paths (1-128 bytes), vectorized: hashing word
# by word through Python was the costliest step of signing.

_IS_WORD_BYTE = np.frombuffer(tokenize.ASCII_WORD_BYTES, dtype=np.uint8) != 32
_XXH3_MAX = 128
_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e"
)
_M32 = _U64(0xFFFFFFFF)
_P64_1, _P64_2, _P64_3 = _U64(0x9E3779B185EBCA87), _U64(0xC2B2AE3D27D4EB4F), _U64(0x165667B19E3779F9)
_MX1, _MX2 = _U64(0x165667919E3779F9), _U64(0x9FB21C651E98DF25)


def _secret64(offset: int) -> np.uint64:
    return _U64(int.from_bytes(_SECRET[offset : offset + 8], "little"))


def _avalanche64(h: np.ndarray) -> np.ndarray:
    h = (h ^ (h >> _U64(33))) * _P64_2
    h = (h ^ (h >> _U64(29))) * _P64_3
    return h ^ (h >> _U64(32))


def _avalanche3(h: np.ndarray) -> np.ndarray:
    h = (h ^ (h >> _U64(37))) * _MX1
    return h ^ (h >> _U64(32))


def _rrmxmx(h: np.ndarray, length: np.ndarray) -> np.ndarray:
    h = h ^ (((h << _U64(49)) | (h >> _U64(15))) ^ ((h << _U64(24)) | (h >> _U64(40))))
    h = h * _MX2
    h = (h ^ ((h >> _U64(35)) + length)) * _MX2
    return h ^ (h >> _U64(28))


def _mul128_fold64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Low xor high half of the 128-bit product, from 32-bit halves."""
    a0, a1, b0, b1 = a & _M32, a >> _U64(32), b & _M32, b >> _U64(32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _U64(32)) + (p01 & _M32) + (p10 & _M32)
    low = (p00 & _M32) | (mid << _U64(32))
    high = p11 + (p01 >> _U64(32)) + (p10 >> _U64(32)) + (mid >> _U64(32))
    return low ^ high


def xxh3_64(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """XXH3-64 (seed 0) of ``data[starts[i] : starts[i] + lengths[i]]``, lengths 1-128."""
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[: len(data)] = data
    # Unaligned little-endian views at every byte offset: a gather reads 4 or 8 bytes.
    read64 = np.ndarray((len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))
    read32 = np.ndarray((len(data) + 5,), dtype="<u4", buffer=padded, strides=(1,))
    out = np.empty(len(starts), dtype=_U64)
    for lo, hi in ((1, 3), (4, 8), (9, 16), (17, _XXH3_MAX)):
        sel = np.flatnonzero((lengths >= lo) & (lengths <= hi))
        if len(sel) == 0:
            continue
        s, n = starts[sel], lengths[sel]
        size = n.astype(_U64)
        if hi == 3:
            combined = (data[s].astype(_U64) << _U64(16)) | (data[s + (n >> 1)].astype(_U64) << _U64(24))
            combined |= data[s + n - 1].astype(_U64) | (size << _U64(8))
            flip = int.from_bytes(_SECRET[0:4], "little") ^ int.from_bytes(_SECRET[4:8], "little")
            out[sel] = _avalanche64(combined ^ _U64(flip))
        elif hi == 8:
            joined = read32[s + n - 4].astype(_U64) + (read32[s].astype(_U64) << _U64(32))
            out[sel] = _rrmxmx(joined ^ (_secret64(8) ^ _secret64(16)), size)
        elif hi == 16:
            low = read64[s] ^ (_secret64(24) ^ _secret64(32))
            high = read64[s + n - 8] ^ (_secret64(40) ^ _secret64(48))
            out[sel] = _avalanche3(size + low.byteswap() + high + _mul128_fold64(low, high))
        else:
            def mix16(at: np.ndarray, secret: int) -> np.ndarray:
                return _mul128_fold64(read64[at] ^ _secret64(secret), read64[at + 8] ^ _secret64(secret + 8))

            acc = size * _P64_1 + mix16(s, 0) + mix16(s + n - 16, 16)
            for k, bound in enumerate((32, 64, 96)):
                more = np.flatnonzero(n > bound)
                sk, nk = s[more], n[more]
                acc[more] += mix16(sk + 16 * (k + 1), 32 * (k + 1)) + mix16(sk + nk - 16 * (k + 2), 32 * (k + 1) + 16)
            out[sel] = _avalanche3(acc)
    return out


def _char_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A mixed hash of every character's code point, flat, and each text's length."""
    counts = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codepoints = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    return fmix64(codepoints.astype(_U64) ^ _CHAR_SALT), counts


def shingle(texts: Sequence[str], unit: Unit = "word", n: int = 2) -> Shingles:
    """Hash the ``n``-gram shingles of each normalized text in ``texts``."""
    if unit == "char":
        return ngram_hashes(*_char_hashes(texts), n)
    unit_hashes, counts, kinds = _token_hashes(texts)
    return ngram_hashes(unit_hashes, counts, n, tokenize.shingle_widths(n)[kinds])


def windows(counts: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shingle windows of texts of ``counts`` units whose units start windows of
    ``widths`` units (flat, texts back to back): ``(start, length, offsets)``, the
    first unit (flat) and the length of each window, in order, and where each text's
    windows start (CSR).  A window that would cross into the next text is dropped; a
    text with units but no whole window gets one window of all its units."""
    counts = np.asarray(counts, dtype=np.int64)
    widths = np.asarray(widths, dtype=np.int64)
    total = len(widths)
    text_of = np.repeat(np.arange(len(counts)), counts)
    starts = offsets_from_counts(counts)[:-1]
    remaining = counts[text_of] - (np.arange(total) - starts[text_of])
    keep = widths <= remaining
    kept = np.bincount(text_of[keep], minlength=len(counts)) if total else np.zeros(len(counts), np.int64)
    whole = (kept == 0) & (counts > 0)  # too short for any window: one shingle of it all
    keep[starts[whole]] = True
    window_start = np.flatnonzero(keep)
    window_len = np.where(keep & (remaining < widths), remaining, widths)[window_start]
    return window_start, window_len, offsets_from_counts(np.where(whole, 1, kept))


def ngram_hashes(unit_hashes: np.ndarray, counts: np.ndarray, n: int, widths: np.ndarray | None = None) -> Shingles:
    """Combine consecutive unit hashes into order-sensitive n-gram hashes.

    ``unit_hashes`` holds the units of several texts back to back, ``counts`` how many
    belong to each.  The window starting at unit ``k`` spans ``widths[k]`` units
    (default: ``n`` for every unit; see :func:`dedup.tokenize.shingle_widths`).
    Windows that would cross into the next text are dropped; a text with units but
    no whole window gets one shingle of all its units.
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = len(unit_hashes)
    widths = np.full(total, n, dtype=np.uint8) if widths is None else np.asarray(widths, dtype=np.uint8)
    window_start, window_len, offsets = windows(counts, widths)

    h = unit_hashes[window_start].copy() if total else np.zeros(0, dtype=_U64)
    for k in range(1, int(window_len.max()) if len(window_len) else 0):
        nxt = unit_hashes[np.minimum(window_start + k, max(total - 1, 0))]
        mixed = ((h << _U64(23)) | (h >> _U64(41))) * _MIX ^ nxt
        h = np.where(window_len > k, mixed, h)
    return Shingles(hashes=fmix64(h ^ window_len.astype(_U64)), offsets=offsets, units=counts, widths=widths)
