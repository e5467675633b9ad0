"""Word-level differences between two passages, and the window around them that a
reader is shown.

Why words, not characters: a reworded sentence reads as "these words were replaced",
which is what an editor checks; character diffs of prose are noise.  Why a window: two
long documents that differ only at word 6,000 would otherwise show two identical
openings; the window starts a few words before the first difference.

The diff is :class:`difflib.SequenceMatcher` (Ratcliff/Obershelp) over whitespace-split
words, after the common prefix and suffix are taken off (cheap, and most of a near-copy),
with the differing middle capped at :data:`MAX_DIFF_WORDS` words per side.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

#: Words per side given to SequenceMatcher (its cost grows with the product).
MAX_DIFF_WORDS = 4000


@dataclass(frozen=True)
class Side:
    """One side of a window: its words, which of them differ from the other side, and
    whether words were left out before (``head``) or after (``tail``) the window."""

    words: tuple[str, ...]
    changed: tuple[bool, ...]
    head: bool
    tail: bool

    def runs(self) -> list[tuple[str, bool]]:
        """Consecutive words of the same kind joined: ``[(text, changed), ...]``."""
        out: list[tuple[str, bool]] = []
        for word, changed in zip(self.words, self.changed):
            if out and out[-1][1] == changed:
                out[-1] = (out[-1][0] + " " + word, changed)
            else:
                out.append((word, changed))
        return out


@dataclass(frozen=True)
class Window:
    """The two sides around their first difference; ``hunks`` counts the differing
    places in the whole passages (0: the same words)."""

    left: Side
    right: Side
    hunks: int


def changed_words(a: list[str], b: list[str]) -> tuple[list[bool], list[bool], int]:
    """Per word of ``a`` and of ``b``: whether it is not matched in the other; and the
    number of differing places (hunks)."""
    ca, cb = [False] * len(a), [False] * len(b)
    pre = 0
    limit = min(len(a), len(b))
    while pre < limit and a[pre] == b[pre]:
        pre += 1
    suf = 0
    while suf < limit - pre and a[len(a) - 1 - suf] == b[len(b) - 1 - suf]:
        suf += 1
    mid_a, mid_b = a[pre:len(a) - suf], b[pre:len(b) - suf]
    if not mid_a and not mid_b:
        return ca, cb, 0
    cut_a, cut_b = mid_a[:MAX_DIFF_WORDS], mid_b[:MAX_DIFF_WORDS]
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


def window(a: str, b: str, *, before: int = 8, words: int = 60, at_match: bool = False) -> Window:
    """Up to ``words`` words of each side, starting ``before`` words ahead of the first
    difference (from the start when the passages are the same words).  ``at_match``
    starts each side ahead of the first run of three words the sides share instead:
    for a short text inside a longer one, where the longer one's extra words come first."""
    wa, wb = a.split(), b.split()
    ca, cb, hunks = changed_words(wa, wb)
    if at_match:
        start_a, start_b = (max(0, _first_shared(c) - before) for c in (ca, cb))
    else:
        first_a = next((i for i, c in enumerate(ca) if c), len(wa) if hunks == 0 else min(len(wa), len(wb)))
        first_b = next((i for i, c in enumerate(cb) if c), first_a)
        start_a = start_b = max(0, min(first_a, first_b) - before) if hunks else 0

    def side(ws: list[str], cs: list[bool], start: int) -> Side:
        stop = min(len(ws), start + words)
        return Side(tuple(ws[start:stop]), tuple(cs[start:stop]), start > 0, stop < len(ws))

    return Window(side(wa, ca, start_a), side(wb, cb, start_b), hunks)


def _first_shared(changed: list[bool], run: int = 3) -> int:
    """The first word of the first run of ``run`` words not marked changed (0: none)."""
    count = 0
    for i, c in enumerate(changed):
        count = 0 if c else count + 1
        if count == run:
            return i - run + 1
    return 0
