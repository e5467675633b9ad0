"""Normalize text so that cosmetic differences never count as edits.

Why: the same paragraph reprinted by another outlet differs in typography more often
than in words (curly vs straight quotes, en/em dashes, non-breaking spaces, full-width
characters, letter case).  If those survive into the shingles, an exact reprint looks
like a rewrite.  Normalization is a pure function of the text, so the same text always
hashes the same way, in a scan, in a cache and in a persistent index.

Optional vowel marks are typography too: Arabic harakat (fatha, damma, kasra, their
tanween forms, shadda, sukun, superscript alef), Quranic annotation signs and the
tatweel (kashida) stretch, and Hebrew niqqud and cantillation, are written in some
copies of a text and left out of others (Lucene's Arabic normalizer drops the same
marks).  They are dropped.  So are Greek accents and breathings (tonos, the polytonic
accents, psili/dasia, iota subscript, dialytika): Greek drops them in capitals ("ΤΟ
ΔΗΜΟΤΙΚΟ" is "το δημοτικό"), in much typed text, and monotonic and polytonic spellings
of one text differ only by them (Lucene's Greek lower-case filter folds them the same
way); an accented letter becomes its base letter.  The Russian ``ё`` is written as ``е``
in most printed and typed Russian (its dots are required only in dictionaries, primers
and where a word would be ambiguous), so reprints of one text differ by it: it becomes
``е`` (as search engines fold it for Russian; in Belarusian, which always writes ``ё``,
copies never differ by it, and only words told apart by it alone meet).  Other Cyrillic
letters with marks (``й``, Ukrainian ``ї``, Serbian ``ђ``) are letters of their own and
are kept.  Marks that are letters' spelling (Devanagari and other
Indic vowel signs, virama, nukta; Thai vowels and tones) are kept: they tell words
apart ("boy" and "girl" in Hindi).
"""

from __future__ import annotations

import re
import unicodedata

# Quotes, apostrophes and dashes that NFKC leaves alone, mapped to ASCII.
_PUNCT = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u0060": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"', "\u2039": "'", "\u203a": "'",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\u2212": "-", "\ufe58": "-",
    "\u00ad": "", "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "",
}
# Optional vowel marks (see above), dropped.
_OPTIONAL_MARKS = [
    (0x0591, 0x05BD), (0x05BF, 0x05BF), (0x05C1, 0x05C2), (0x05C4, 0x05C5), (0x05C7, 0x05C7),  # Hebrew
    (0x0610, 0x061A), (0x0640, 0x0640), (0x064B, 0x0652), (0x0656, 0x065F), (0x0670, 0x0670),  # Arabic
    (0x06D6, 0x06DC), (0x06DF, 0x06E4), (0x06E7, 0x06E8), (0x06EA, 0x06ED),  # Arabic (Quranic)
]
_PUNCT.update({chr(c): "" for lo, hi in _OPTIONAL_MARKS for c in range(lo, hi + 1)})
# Greek letters with accents, breathings, iota subscript or dialytika (precomposed, as
# NFKC leaves them), mapped to their base letters (see above; tester U12, session 13).
_GREEK = [chr(c) for lo, hi in ((0x0370, 0x03FF), (0x1F00, 0x1FFF)) for c in range(lo, hi + 1)]
_PUNCT.update({ch: base for ch in _GREEK if unicodedata.category(ch).startswith("L")
               and (base := "".join(b for b in unicodedata.normalize("NFD", ch)
                                    if not unicodedata.combining(b))) != ch and base})
# Russian "ё" written as "е" (see above; new user's N8, session 18).
_PUNCT.update({"\u0451": "\u0435", "\u0401": "\u0415"})
# Why a regex and not ``str.translate``: translate looks every character of a
# non-ASCII text up in the table (~18 us per news paragraph, more than half of
# normalizing it); the regex skims over the text and calls back only on the rare hits.
_PUNCT_RE = re.compile("[" + re.escape("".join(_PUNCT)) + "]")


def normalize(text: str) -> str:
    """Return ``text`` in canonical form: NFKC, case-folded, ASCII quotes and dashes,
    soft hyphens and zero-width characters dropped, whitespace runs collapsed to one
    space, no leading or trailing space."""
    if text.isascii():  # NFKC and casefold are identities on ASCII but not free
        return " ".join(text.lower().replace("`", "'").split())
    # Marks and accents go before case folding, which spells some accented Greek
    # capitals out ("ΐ" folds to "ι" + two combining marks, "ῼ" to "ωι").
    text = _PUNCT_RE.sub(_ascii_punct, unicodedata.normalize("NFKC", text)).casefold()
    return " ".join(text.split())  # str.split's whitespace is the same set as re's \s


def _ascii_punct(match: re.Match[str]) -> str:
    return _PUNCT[match.group()]
