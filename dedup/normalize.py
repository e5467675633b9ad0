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

Arabic-script letters that are typed in more than one form are one letter, as Lucene's
ArabicNormalizer and PersianNormalizer fold them: alef with hamza above or below, with
madda, and alef wasla become the bare alef (the hamza on an alef is left out in much
typed Arabic); alef maksura becomes yeh and teh marbuta heh (written for each other in
much Egyptian and typed text); the Persian keyboard's yeh and keheh (U+06CC, U+06A9)
become the Arabic yeh and kaf they look like (a Persian or Urdu text typed on an Arabic
layout, or Arabic on a Persian one, differs only by them), and heh goal, heh with yeh
above and Urdu's teh marbuta goal become heh; a hamza written above or below a letter
that has no precomposed form with it (Persian ezafe) is dropped.  Not folded, unlike
Lucene: Urdu's yeh barree (U+06D2), a letter of its own ("لڑکے" boys, "لڑکی" girl).
Known limit (review R3, session 23): in Uyghur, and Kazakh or Kyrgyz in Arabic script,
alef maksura (U+0649) is the vowel i and yeh (U+064A) the consonant y -- two letters the
fold makes one, as Lucene's does; normalize() does not know a text's language, and no
evaluation set covers those languages yet.
The zero-width non-joiner (ZWNJ, U+200C) between the parts of an Arabic-script word
(Persian "می‌روم", "کتاب‌ها": a verb prefix, a plural suffix) is typed as a space by
many writers and keyboards, so it becomes a space, as Lucene's PersianCharFilter
(org.apache.lucene.analysis.fa) replaces it: both spellings are the same tokens.
Lucene applies that filter to Persian text only; normalize() does not know a text's
language, so a ZWNJ next to an Arabic-script character stands in for it: after one, or
before one (a Persian suffix on a word of another script or a number: "iPhone‌ها",
"USB‌های", "10‌ها").  Elsewhere (in Devanagari and the other Indic scripts it only
picks a rendering of a conjunct inside one word) a ZWNJ is dropped, like the
zero-width joiner (ZWJ, U+200D), the zero-width space and the soft hyphen; emoji are
separators, never part of a token, so an emoji ZWJ sequence without its joiners is the
same text.
Decimal digits of every script (Arabic-Indic, Persian, Devanagari, Thai, ...) become
ASCII digits (Lucene's DecimalDigitFilter): one number is typed with either.  NFKC
already folds Arabic and Hebrew presentation forms and full-width digits; Hebrew final
letters (ך ם ן ף ץ) are letters of their own in Unicode and are kept.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

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
# Arabic-script letter forms (see above; tester F9, session 22).
_PUNCT.update({
    "\u0622": "\u0627", "\u0623": "\u0627", "\u0625": "\u0627", "\u0671": "\u0627",  # alef
    "\u0649": "\u064a", "\u06cc": "\u064a",  # alef maksura, Farsi yeh -> yeh
    "\u0629": "\u0647", "\u06c0": "\u0647", "\u06c1": "\u0647", "\u06c2": "\u0647",
    "\u06c3": "\u0647",  # teh marbuta, heh with yeh above, heh goal (+ hamza), teh marbuta goal
    "\u06a9": "\u0643",  # keheh -> kaf
    "\u0654": "", "\u0655": "",  # hamza above / below a letter without a precomposed form
})
# Decimal digits of every script (see above): the zero of each run of ten (to Unicode
# 15, less the ones NFKC folds already), those this Python's unicodedata knows;
# test_normalize_split checks the table against unicodedata's own list.
_ZEROS = (
    0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0,
    0xAA50, 0xABF0, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0,
    0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50,
    0x11DA0, 0x11F50, 0x16A60, 0x16AC0, 0x16B50, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950,
)
_PUNCT.update({chr(zero + d): str(d) for zero in _ZEROS for d in range(10)
               if unicodedata.decimal(chr(zero + d), None) == d})
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
# Characters past the BMP are one range of the class (a list of them would be tried one
# by one at every character); the call-back leaves the ones not in the table alone.
# Arabic text hits its letter forms every few letters (~2x the time to normalize it,
# measured: still less per MB than English text takes to sign); a second pass to replace
# them in C cost every other script more than it saved Arabic.
#: A character used in the Arabic script (Unicode Script_Extensions, so the Arabic comma
#: and tatweel count), as a pattern of the ``regex`` library: a ZWNJ after or before one is
#: a space (see above; :mod:`dedup.report.diff` cuts its units there too).
ARABIC_SCRIPT_CHAR = r"\p{scx=Arabic}"


@cache
def _arabic_zwnj():  # compiled on first use: most runs never meet a ZWNJ
    import regex

    return regex.compile(f"(?<={ARABIC_SCRIPT_CHAR})\u200c|\u200c(?={ARABIC_SCRIPT_CHAR})")


_PUNCT_RE = re.compile("[" + re.escape("".join(c for c in _PUNCT if c <= "\uffff"))
                       + "\U00010000-\U0001ffff]")


def normalize(text: str) -> str:
    """Return ``text`` in canonical form: NFKC, case-folded, ASCII quotes and dashes,
    a ZWNJ next to an Arabic-script character a space (Lucene's PersianCharFilter),
    soft hyphens and other zero-width characters dropped, optional vowel marks and
    accents dropped and letter forms and digits folded (see the module doc), whitespace
    runs collapsed to one space, no leading or trailing space."""
    if text.isascii():  # NFKC and casefold are identities on ASCII but not free
        return " ".join(text.lower().replace("`", "'").split())
    # Marks and accents go before case folding, which spells some accented Greek
    # capitals out ("ΐ" folds to "ι" + two combining marks, "ῼ" to "ωι").
    text = unicodedata.normalize("NFKC", text)
    if "\u200c" in text:
        text = _arabic_zwnj().sub(" ", text)
    text = _PUNCT_RE.sub(_fold, text).casefold()
    return " ".join(text.split())  # str.split's whitespace is the same set as re's \s


def _fold(match: re.Match[str]) -> str:
    return _PUNCT.get(ch := match.group(), ch)
