"""Cut normalized text into tokens, by script, for a whole batch at a time.

Why not ``\\w+``: in scripts written without spaces (Chinese, Japanese, Thai, ...) a
``\\w`` run is a whole clause, so two copies with one changed character share no
"word"; and Python's ``\\w`` leaves out combining marks (Devanagari vowel signs and
virama, Arabic harakat), so it splits words apart at every mark and drops the marks
(the Hindi words for "boy" and "girl" both became the same two tokens).

The rules, with Unicode text segmentation (UAX #29) as the reference:

* A **word-forming** character is a letter, number or connector (``\\p{L}``, ``\\p{N}``,
  ``\\p{Pc}``, as ``\\w`` has it) or a combining mark (``\\p{M}``).  Everything else
  (spaces, punctuation, symbols, emoji) separates tokens and is not part of any.
* Characters that extend a grapheme cluster (``Grapheme_Cluster_Break`` Extend,
  SpacingMark, ZWJ: vowel signs, virama, harakat, tone marks, variation selectors)
  belong to the character before them, as UAX #29 rule WB4 says: inside a word they
  stay inside it; after a space or a symbol they are part of that separator.
* **Scripts written without spaces** yield one token per grapheme cluster (UAX #29
  ``\\X``, including the conjunct rule GB9c): characters whose ``Line_Break`` class is
  ideographic (ID), conditional Japanese starter (CJ) or complex-context South-East
  Asian (SA) -- UAX #14 gives these classes to exactly the scripts a line may break
  inside a word in: Han, Hiragana, Katakana, Bopomofo, Yi, Tangut, Nushu, Khitan,
  Thai, Lao, Khmer, Myanmar, Tai Tham, Tai Le, New Tai Lue, Tai Viet, Ahom -- and the
  characters whose ``Script_Extensions`` name Han, Hiragana, Katakana or Bopomofo
  (the iteration marks, the prolonged-sound mark).  So word n-grams there are
  grapheme n-grams, the field's standard for CJK near-duplicate detection (Lucene's
  CJK bigrams, the character n-grams of web-scale pipelines).
* Every other script (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari and the
  other Indic scripts, Hangul, ...) is **word-based**: a token is a maximal run of
  word-forming characters.  Hangul is written with spaces between words (eojeol),
  so it stays word-based although its syllables are ideograph-sized.
* Mixed text (a Japanese article quoting English names and numbers) is cut run by
  run, each by its own rule: ``東京でPython3を`` is ``東 京 で python3 を``.

Where this differs from UAX #29 word boundaries, on purpose: a word does not continue
across an apostrophe or a period between letters (``it's``, ``3.14``: two tokens),
which keeps ASCII text tokenized exactly as ``\\w+`` (the English development sets
and every persisted sketch of plain text are unchanged by this module); Katakana runs
are cut per character like the rest of Japanese rather than kept as one word.

Speed: every code point is classified with one lookup in a table that the ``regex``
module's Unicode properties fill as new characters appear, and token
boundaries are found with numpy over the whole batch: no Python loop per character
or per token.  ASCII text keeps its faster path (bytes.translate in C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .segments import offsets_from_counts

# Classes of the lookup table (low two bits) and flags for the conjunct rule.
SEPARATOR, WORD, NO_SPACE, EXTEND = 0, 1, 2, 3
_CLASS = np.uint8(3)
_LINKER = np.uint8(4)  # Indic_Conjunct_Break=Linker (virama, coeng)
_CONSONANT = np.uint8(8)  # Indic_Conjunct_Break=Consonant
_COMPLEX = np.uint8(16)  # Line_Break=SA: Thai, Lao, Khmer, Myanmar, ...
_CONJUNCT_EXTEND = np.uint8(32)  # Indic_Conjunct_Break=Extend

#: Kinds of token (:attr:`TokenSpans.kinds`): a word of a space-delimited script, a
#: grapheme of a logographic or syllabic script written without spaces (Han, kana,
#: Yi, ...), a grapheme of an alphabetic one (Thai, Lao, Khmer, Myanmar, ...).
KIND_WORD, KIND_IDEOGRAPHIC, KIND_COMPLEX = 0, 1, 2

_WORD_CHARS = r"[\p{L}\p{N}\p{Pc}\p{M}]"
#: The characters of scripts written without spaces, as a ``regex`` class (the module
#: doc says which); also what the reports' side-by-side view diffs per grapheme
#: (:mod:`dedup.report.diff`).
NO_SPACE_CHARS = (
    r"[\p{Line_Break=ID}\p{Line_Break=CJ}\p{Line_Break=SA}"
    r"\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Bopomofo}--\p{Script=Hangul}]"
)
_EXTEND_CHARS = (
    r"[\p{Grapheme_Cluster_Break=Extend}\p{Grapheme_Cluster_Break=SpacingMark}"
    r"\p{Grapheme_Cluster_Break=ZWJ}]"
)

#: ASCII byte -> itself for ``[0-9A-Za-z_]`` (the ASCII word characters), else space.
ASCII_WORD_BYTES = bytes(
    c if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 95) else 32 for c in range(256)
)


_UNKNOWN = np.uint8(255)
#: Class and flags of every code point seen so far (255: not classified yet).
_TABLE = np.full(0x110000, _UNKNOWN, dtype=np.uint8)


def char_classes(codepoints: np.ndarray) -> np.ndarray:
    """The class (and conjunct flags) of each code point of ``codepoints`` (uint32).

    Classes come from the ``regex`` module's Unicode properties and are kept in a
    process-wide table filled as new characters appear, so a text costs one lookup
    per character plus one ``regex`` pass over the characters never seen before (a
    whole table would take ~0.2 s to build, a lot for checking one article).
    """
    values = _TABLE[codepoints]
    new = np.unique(codepoints[values == _UNKNOWN])
    if len(new):
        _TABLE[new] = _classify(new)
        values = _TABLE[codepoints]
    return values


def _classify(codepoints: np.ndarray) -> np.ndarray:
    import regex

    chars = np.where((codepoints >= 0xD800) & (codepoints < 0xE000), 0x20, codepoints).astype("<u4")
    text = chars.tobytes().decode("utf-32-le")
    out = np.zeros(len(codepoints), dtype=np.uint8)

    def hits(pattern: str) -> np.ndarray:
        hit = np.zeros(len(codepoints), dtype=bool)
        hit[[m.start() for m in regex.finditer(f"(?V1){pattern}", text)]] = True
        return hit

    words = hits(_WORD_CHARS)
    out[words] = WORD
    out[words & hits(NO_SPACE_CHARS)] = NO_SPACE
    out[hits(_EXTEND_CHARS)] = EXTEND
    out[hits(r"\p{InCB=Linker}")] |= _LINKER
    out[hits(r"\p{InCB=Consonant}")] |= _CONSONANT
    out[hits(r"\p{InCB=Extend}")] |= _CONJUNCT_EXTEND
    out[hits(r"\p{Line_Break=SA}")] |= _COMPLEX
    return out


@dataclass(frozen=True)
class TokenSpans:
    """Where the tokens of a batch of texts are, as UTF-8 byte ranges of ``data``.

    ``data`` is the batch's texts, UTF-8 encoded and joined by one space;
    token ``k`` is ``data[starts[k] : starts[k] + lengths[k]]`` and ``kinds[k]`` says
    what it is (``KIND_*``); text ``i`` owns the next ``counts[i]`` tokens.
    """

    data: np.ndarray  # uint8
    starts: np.ndarray  # int64
    lengths: np.ndarray  # int64
    counts: np.ndarray  # int64, tokens per text
    kinds: np.ndarray  # uint8

    def tokens(self) -> list[bytes]:
        raw = self.data.tobytes()
        return [raw[s : s + n] for s, n in zip(self.starts.tolist(), self.lengths.tolist())]


def token_spans(texts: Sequence[str]) -> TokenSpans:
    """The tokens of every text of ``texts``, found with numpy over the whole batch.

    Works for any text; ASCII-only batches are faster through :func:`ascii_tokens`.
    Lone surrogates (JSON allows them) are separators, never an encoding error.
    """
    joined = " ".join(texts)
    codepoints = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    classes = char_classes(codepoints)
    starts, ends = _token_bounds(classes)
    first = classes[starts]
    kinds = np.where(
        (first & _CLASS) != NO_SPACE, KIND_WORD, np.where((first & _COMPLEX) != 0, KIND_COMPLEX, KIND_IDEOGRAPHIC)
    ).astype(np.uint8)
    text_starts = offsets_from_counts(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
    counts = np.diff(np.searchsorted(starts, text_starts)) if len(texts) else np.zeros(0, np.int64)
    # Character offsets -> UTF-8 byte offsets.
    width = 1 + (codepoints >= 0x80).astype(np.int64) + (codepoints >= 0x800) + (codepoints >= 0x10000)
    byte_at = offsets_from_counts(width)
    data = np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    return TokenSpans(data, byte_at[starts], byte_at[ends] - byte_at[starts], counts.astype(np.int64), kinds)


def _token_bounds(table_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) character positions of the tokens, from the classes."""
    n = len(table_values)
    cls = table_values & _CLASS
    position = np.arange(n)
    # WB4: an extending character takes the class of the last character before it that
    # is not one (a separator at the start of the text).
    base = np.maximum.accumulate(np.where(cls != EXTEND, position, -1)) if n else position
    effective = np.where(base >= 0, cls[np.maximum(base, 0)], SEPARATOR)
    previous = np.concatenate(([SEPARATOR], effective[:-1])).astype(np.uint8)
    is_start = (cls == NO_SPACE) | ((effective == WORD) & (previous != WORD))
    # GB9c, as the regex module's \X applies it: a consonant after a linker (virama,
    # coeng) and nothing but conjunct-extending marks continues its cluster (क्ष, ក្ស).
    joins = np.flatnonzero(is_start & ((table_values & _CONSONANT) != 0) & (previous != SEPARATOR))
    if len(joins):
        linker = (table_values & _LINKER) != 0
        other = (cls == EXTEND) & ~linker & ((table_values & _CONJUNCT_EXTEND) == 0)
        last_linker = np.maximum.accumulate(np.where(linker, position, -1))[joins - 1]
        last_other = np.maximum.accumulate(np.where(other, position, -1))[joins - 1]
        is_start[joins[(last_linker > base[joins - 1]) & (last_other < last_linker)]] = False
    starts = np.flatnonzero(is_start)
    breaks = np.flatnonzero(is_start | (effective == SEPARATOR))
    breaks = np.append(breaks, n)
    ends = breaks[np.searchsorted(breaks, starts, side="right")]
    return starts, ends


def shingle_widths(n: int) -> np.ndarray:
    """How many tokens of each kind a shingle spans when word shingles span ``n``
    words, indexed by ``KIND_*``: ``n`` words, ``round(1.5 n)`` graphemes of a script
    written without spaces (character 3-grams for word 2-grams).

    Why not ``n`` everywhere: a shingle should hold about as much text as ``n``
    words do, or unrelated texts share shingles by chance (a Japanese katakana
    loanword alone is five or six kana bigrams).  Chinese and Japanese words average
    about 1.5 characters (1.5-1.7 in segmented Chinese corpora), the middle of the
    character 2-5-grams CJK deduplication uses.  Thai, Lao, Khmer and Myanmar get the
    same width, measured (benchmarks/README-scripts.md, ``bench_widths.py``): on real
    Thai prose, grapheme 3-grams keep a copy with 20 % of its graphemes edited at a
    Jaccard of 0.38 (5th percentile; Japanese and Chinese 3-grams 0.35, word 2-grams
    0.46) while unrelated paragraphs stay at or under 0.11; the 5-grams reasoned
    before (a grapheme is part of a syllable) fell to 0.22 at 20 % and 0.41 at 10 %,
    stricter than any other script, and 2-grams let unrelated Thai reach 0.23.
    """
    wide = int(1.5 * n + 0.5)
    return np.array([n, wide, wide], dtype=np.int64)


def ascii_tokens(text: str) -> list[bytes]:
    """The tokens of an ASCII text: runs of ``[0-9A-Za-z_]``, already encoded.

    The same tokens :func:`token_spans` finds, cut in C by ``bytes.translate``."""
    return text.encode("ascii").translate(ASCII_WORD_BYTES).split()


def tokenize(text: str) -> list[str]:
    """The tokens of one normalized text, as strings (for tests, docs and debugging)."""
    if text.isascii():
        return [t.decode("ascii") for t in ascii_tokens(text)]
    return [t.decode("utf-8", "surrogatepass") for t in token_spans([text]).tokens()]


def token_counts(texts: Sequence[str]) -> np.ndarray:
    """How many tokens each text has: the unit of the length rule (``min_tokens``)."""
    counts = np.zeros(len(texts), dtype=np.int64)
    other = []
    for i, text in enumerate(texts):
        if text.isascii():
            counts[i] = len(ascii_tokens(text))
        else:
            other.append(i)
    if other:
        counts[other] = token_spans([texts[i] for i in other]).counts
    return counts
