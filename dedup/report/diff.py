"""Differences between two passages, unit by unit, and the window around them that a
reader is shown.

Units are words where a script puts spaces between words, and grapheme clusters
(UAX #29 ``\\X``) where it does not: Han, kana, Thai, Lao, Khmer, Myanmar ... -- the
characters :mod:`dedup.tokenize` cuts one token per grapheme (the same rule, so the
report marks what the detector compared).  Why words, not characters, in English: a
reworded sentence reads as "these words were replaced", which is what an editor checks;
character diffs of prose are noise.  Why characters in Chinese: a whitespace-split
"word" there is a whole clause, so one changed character marked the whole paragraph as
one change (new user's N9 of session 17).  Why a window: two long documents that differ
only at word 6,000 would otherwise show two identical openings; the window starts a few
words before the first difference.

The diff is :class:`difflib.SequenceMatcher` (Ratcliff/Obershelp) over the units,
normalized as the detector compares them (case, quotes, optional marks), after
the common prefix and suffix are taken off (cheap, and most of a near-copy), with the
differing middle capped at :data:`MAX_DIFF_WORDS` units per side.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import accumulate
from typing import Optional

from ..normalize import ARABIC_SCRIPT_CHAR, normalize
from ..tokenize import NO_SPACE_CHARS

#: Units per side given to SequenceMatcher (its cost grows with the product).
MAX_DIFF_WORDS = 4000
#: What a grapheme of a script written without spaces counts for in the window's
#: budget of words: about a third of a word (2 terminal columns, against ~6 for a word
#: and its space), so a window of Chinese shows about as many lines as one of English.
GRAPHEME_WEIGHT = 1 / 3

_UNITS = None
#: After a ZWNJ next to an Arabic-script character, which normalization makes a space
#: (compiled with _UNITS).
_ZWNJ_CUT = None


def units(text: str) -> tuple[list[str], list[bool]]:
    """The units of ``text`` (see the module doc) and, for each, whether it is joined to
    the one before it (no space between: graphemes inside a whitespace-split word, the
    parts of a word cut after a ZWNJ next to an Arabic-script character, which stays at
    the end of the part before it).  Every non-space character is in exactly one unit, in order; ASCII text
    is ``text.split()`` exactly."""
    words = text.split()
    if text.isascii():
        return words, [False] * len(words)
    global _UNITS, _ZWNJ_CUT
    if _UNITS is None:
        import regex

        _ZWNJ_CUT = regex.compile(f"(?<={ARABIC_SCRIPT_CHAR}\u200c)|(?<=\u200c)(?={ARABIC_SCRIPT_CHAR})")

        # a grapheme that starts with a character of a script written without spaces,
        # or a run of graphemes none of which does
        _UNITS = regex.compile(rf"(?V1)(?={NO_SPACE_CHARS})\X|(?:(?!{NO_SPACE_CHARS})\X)+")
    out: list[str] = []
    joined: list[bool] = []
    for word in words:
        if word.isascii():
            out.append(word)
            joined.append(False)
            continue
        parts = [unit for piece in _ZWNJ_CUT.split(word) for unit in _UNITS.findall(piece)]
        out += parts
        joined += [False] + [True] * (len(parts) - 1)
    return out, joined


_DICTIONARY_BREAK = None


def breaks_by_dictionary(unit: str) -> bool:
    """Whether ``unit`` starts with a character of a script whose lines break only
    between words, which are not spaced (Unicode line-break class SA, UAX #14: Thai,
    Lao, Khmer, Myanmar, ...): a line may not break between two of its graphemes."""
    global _DICTIONARY_BREAK
    if _DICTIONARY_BREAK is None:
        import regex

        _DICTIONARY_BREAK = regex.compile(r"\p{Line_Break=SA}")
    return bool(_DICTIONARY_BREAK.match(unit))


@dataclass(frozen=True)
class Side:
    """One side of a window: its units (``words``), which of them differ from the other
    side, which are ``joined`` to the unit before them (no space between), and whether
    units were left out before (``head``) or after (``tail``) the window."""

    words: tuple[str, ...]
    changed: tuple[bool, ...]
    head: bool
    tail: bool
    joined: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if len(self.joined) != len(self.words):
            object.__setattr__(self, "joined", (False,) * len(self.words))

    def runs(self) -> list[tuple[str, bool]]:
        """Consecutive units of the same kind joined: ``[(text, changed), ...]``
        (between runs, a space unless the second run's first unit is joined)."""
        out: list[tuple[str, bool]] = []
        for word, changed, joined in zip(self.words, self.changed, self.joined):
            if out and out[-1][1] == changed:
                out[-1] = (out[-1][0] + ("" if joined else " ") + word, changed)
            else:
                out.append((word, changed))
        return out


@dataclass(frozen=True)
class Window:
    """The two sides around their first difference; ``hunks`` counts the differing
    places in the whole passages (0: the same units)."""

    left: Side
    right: Side
    hunks: int


def changed_words(a: list[str], b: list[str]) -> tuple[list[bool], list[bool], int]:
    """Per unit of ``a`` and of ``b``: whether it is not matched in the other; and the
    number of differing places (hunks).  Units are matched as the detector compares
    them, normalized (:func:`dedup.normalize.normalize`): a difference of case, quotes,
    optional vowel marks or letter forms alone is no change (tester F1 of session 22)."""
    ca, cb = [False] * len(a), [False] * len(b)
    pre = 0
    limit = min(len(a), len(b))
    while pre < limit and _same(a[pre], b[pre]):
        pre += 1
    suf = 0
    while suf < limit - pre and _same(a[len(a) - 1 - suf], b[len(b) - 1 - suf]):
        suf += 1
    mid_a, mid_b = a[pre:len(a) - suf], b[pre:len(b) - suf]
    if not mid_a and not mid_b:
        return ca, cb, 0
    cut_a, cut_b = [normalize(u) for u in mid_a[:MAX_DIFF_WORDS]], [normalize(u) for u in mid_b[:MAX_DIFF_WORDS]]
    hunks = 0
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, cut_a, cut_b, autojunk=False).get_opcodes():
        if tag != "equal":
            hunks += 1
            ca[pre + i1:pre + i2] = [True] * (i2 - i1)
            cb[pre + j1:pre + j2] = [True] * (j2 - j1)
    # Beyond the cap, nothing was compared: shown as different, counted as one place.
    if len(mid_a) > MAX_DIFF_WORDS or len(mid_b) > MAX_DIFF_WORDS:
        ca[pre + len(cut_a):len(a) - suf] = [True] * (len(mid_a) - len(cut_a))
        cb[pre + len(cut_b):len(b) - suf] = [True] * (len(mid_b) - len(cut_b))
        hunks += 1
    return ca, cb, hunks


def _same(x: str, y: str) -> bool:
    return x == y or normalize(x) == normalize(y)


def window(a: str, b: str, *, before: int = 8, words: int = 60, at_match: bool = False) -> Window:
    """Up to ``words`` words of each side, starting ``before`` words ahead of the first
    difference (from the start when the passages are the same units).  ``at_match``
    starts each side ahead of the first run of three words the sides share instead:
    for a short text inside a longer one, where the longer one's extra words come first.
    Words here are a budget: a grapheme of a script written without spaces counts
    :data:`GRAPHEME_WEIGHT` of one."""
    (wa, ja), (wb, jb) = units(a), units(b)
    ca, cb, hunks = changed_words(wa, wb)
    if at_match:
        start_a, start_b = (_word_start(w, j, _back(j, at := _first_shared(c, j), before), at)
                            for w, c, j in ((wa, ca, ja), (wb, cb, jb)))
    else:
        first_a = next((i for i, c in enumerate(ca) if c), len(wa) if hunks == 0 else min(len(wa), len(wb)))
        first_b = next((i for i, c in enumerate(cb) if c), first_a)
        first = min(first_a, first_b)  # the common prefix is the same units on both sides
        start_a = start_b = _word_start(wa, ja, _back(ja if first_a <= first_b else jb, first, before), first) if hunks else 0

    def side(ws: list[str], cs: list[bool], js: list[bool], start: int) -> Side:
        stop = _forward(js, start, words)
        while start + 1 < stop < len(ws) and js[stop] and breaks_by_dictionary(ws[stop]):
            stop -= 1  # not inside a Thai (Lao, Khmer, ...) word: at a space before it
        return Side(tuple(ws[start:stop]), tuple(cs[start:stop]), start > 0, stop < len(ws), tuple(js[start:stop]))

    return Window(side(wa, ca, ja, start_a), side(wb, cb, jb, start_b), hunks)


def _word_start(words: list[str], joined: list[bool], i: int, limit: int) -> int:
    """Unit ``i``, unless it is inside a run of a script written without spaces whose
    lines break only between words (:func:`breaks_by_dictionary`: Thai, Lao, ...):
    then the start of the next run, if it is at or before unit ``limit``, else of its
    own (tester F2 of session 22: "…พื่อ" cut a syllable after its leading vowel)."""
    if i >= len(words) or not joined[i] or not breaks_by_dictionary(words[i]):
        return i
    j = i
    while j < limit and joined[j]:
        j += 1
    if j <= limit and j < len(joined) and not joined[j]:
        return j
    while i > 0 and joined[i]:
        i -= 1
    return i


def _weights(joined: list[bool]) -> list[float]:
    return [GRAPHEME_WEIGHT if j else 1.0 for j in joined]


def _back(joined: list[bool], at: int, budget: int) -> int:
    """The first unit of the stretch of ``budget`` words that ends just before unit ``at``."""
    total, i = 0.0, at
    while i > 0 and total + (GRAPHEME_WEIGHT if joined[i - 1] else 1.0) <= budget + 1e-9:
        i -= 1
        total += GRAPHEME_WEIGHT if joined[i] else 1.0
    return i


def _forward(joined: list[bool], start: int, budget: int) -> int:
    """The end (exclusive) of the stretch of at most ``budget`` words from unit ``start``."""
    if not any(joined):
        return min(len(joined), start + budget)
    for k, total in enumerate(accumulate(_weights(joined[start:])), start):
        if total > budget + 1e-9:
            return k
    return len(joined)


def _first_shared(changed: list[bool], joined: Optional[list[bool]] = None, run: int = 3) -> int:
    """The first unit of the first run of ``run`` words not marked changed (0: none)."""
    weights = _weights(joined) if joined else [1.0] * len(changed)
    count, begin = 0.0, 0
    for i, c in enumerate(changed):
        if c:
            count, begin = 0.0, i + 1
            continue
        count += weights[i]
        if count >= run - 1e-9:
            return begin
    return 0
