"""A zero-width non-joiner (ZWNJ, U+200C) in an Arabic-script word is a space (#10):
Persian written with ZWNJ between a word's parts ("می‌روم", "کتاب‌ها") and the same
text typed with a space ("می روم") is one text, as Lucene's PersianCharFilter
(org.apache.lucene.analysis.fa) makes them.  It scored Jaccard ~0.38 and, with a
ZWNJ every few words, went unreported.  A ZWNJ inside an Indic word (a rendering
choice of a conjunct) and a zero-width joiner stay dropped, as before."""

from dedup import Document, scan_documents
from dedup.normalize import normalize
from dedup.report.diff import changed_words, units

ZWNJ = "\u200c"
# "The new books I want to read are not found in the libraries, and the students say
# they must buy them from other shops."
PERSIAN = (f"کتاب{ZWNJ}های تازه{ZWNJ}ای که می{ZWNJ}خواهم بخوانم در کتابخانه{ZWNJ}ها پیدا "
           f"نمی{ZWNJ}شوند و دانشجوها می{ZWNJ}گویند که باید آن{ZWNJ}ها را از فروشگاه{ZWNJ}های دیگر بخرند.")
SPACED = PERSIAN.replace(ZWNJ, " ")
ENGLISH = "The council approved the new budget on Tuesday after a long debate about school funding."


def test_zwnj_in_an_arabic_script_word_is_a_space():
    assert normalize(f"می{ZWNJ}روم") == normalize("می روم") == "مي روم"
    assert normalize(PERSIAN) == normalize(SPACED)
    # at a word's end or next to a space it adds nothing
    assert normalize(f"کتاب{ZWNJ} ها") == normalize(f"کتاب {ZWNJ}ها") == normalize("کتاب ها")


def test_the_persian_pair_is_an_exact_copy_at_default_settings():
    result = scan_documents([Document("zwnj.txt", PERSIAN), Document("spaced.txt", SPACED)])
    assert sorted((p.kind, p.similarity, p.exact) for p in result.pairs) == [
        ("document", 1.0, True), ("paragraph", 1.0, True)]


def test_offsets_stay_in_the_original_text():
    """The replacement is inside a paragraph: the reported spans slice the original
    texts, ZWNJ included, at the right place (after an English paragraph on one side)."""
    a = f"{ENGLISH}\n\n{PERSIAN}\n"
    b = f"{SPACED}\n\n\n{ENGLISH}"
    result = scan_documents([Document("a.txt", a), Document("b.txt", b)], levels=["paragraph"])
    spans = sorted((a[p.a.start:p.a.end], b[p.b.start:p.b.end]) for p in result.pairs)
    assert spans == sorted([(PERSIAN, SPACED), (ENGLISH, ENGLISH)])
    persian = next(p for p in result.pairs if a[p.a.start:p.a.end] == PERSIAN)
    assert (persian.a.start, persian.a.end) == (len(ENGLISH) + 2, len(ENGLISH) + 2 + len(PERSIAN))
    assert (persian.b.start, persian.b.end) == (0, len(SPACED))


def test_the_report_diff_marks_no_change_and_keeps_the_zwnj():
    a, joined = units(PERSIAN)
    b, _ = units(SPACED)
    assert changed_words(a, b)[2] == 0
    assert f"می{ZWNJ}" in a and joined[a.index(f"می{ZWNJ}") + 1]  # shown joined, as written


def test_zwnj_elsewhere_and_zwj_are_still_dropped():
    # Devanagari: ZWNJ after virama only shows the half form; the word stays one word
    assert normalize(f"क्{ZWNJ}ष") == normalize("क्ष") == "क्ष"
    # ZWJ: in an Arabic word, a Devanagari conjunct, an emoji sequence (emoji are separators)
    assert normalize("می\u200dروم") == normalize("میروم")
    assert normalize("र्\u200dय") == "र्य"
    assert normalize("👨\u200d👩\u200d👧") == "👨👩👧"


def test_what_counts_as_arabic_script_is_unicode_script_extensions():
    """The test for "after an Arabic-script character" is Unicode's Script_Extensions
    (regex ``\\p{scx=Arabic}``), not hand-written block ranges: a byte-order mark
    (U+FEFF, once inside the ranges' presentation-forms block) is no Arabic letter, so a
    ZWNJ after it (and before no Arabic letter) is dropped like any other; letters of blocks the ranges missed (Arabic
    Extended-C, U+10EC2) and signs used in Arabic text (tatweel U+0640, the Arabic comma
    U+060C) are Arabic script, so a ZWNJ after them is a space."""
    # BOM, ZWNJ before a Latin letter: both dropped (the ranges made the ZWNJ a space)
    assert normalize(f"\u0645\ufeff{ZWNJ}x") == "\u0645x"
    # before an Arabic letter the ZWNJ is a space all the same: the BOM changes nothing
    assert normalize(f"\u0645\ufeff{ZWNJ}\u0631") == normalize(f"\u0645{ZWNJ}\u0631") == "\u0645 \u0631"
    assert normalize(f"\U00010ec2{ZWNJ}\u0631") == "\U00010ec2 \u0631"
    assert normalize(f"\u0645\u0640{ZWNJ}\u0631") == normalize(f"\u0645\u0640 \u0631")
    assert " " in normalize(f"\u0645\u060c{ZWNJ}\u0631")


def test_zwnj_before_an_arabic_script_character_is_a_space_too():
    """A Persian suffix after a word of another script or a number ("iPhone‌ها" the
    iPhones, "USB‌های", "10‌ها" the tens) is typed with a ZWNJ or a space, as after an
    Arabic-script word: the ZWNJ is a space (Lucene's PersianCharFilter replaces every
    ZWNJ of Persian text).  It was dropped, making "iphoneها" one token of "iPhone ها"'s
    two.  A ZWNJ between two characters of other scripts is still dropped."""
    for word, suffix in [("iPhone", "ها"), ("USB", "های"), ("10", "ها"), ("Google", "ی")]:
        assert normalize(f"{word}{ZWNJ}{suffix}") == normalize(f"{word} {suffix}"), word
    assert normalize(f"क्{ZWNJ}ष") == "क्ष" and normalize(f"ab{ZWNJ}cd") == "abcd"
    mixed = f"گوشی{ZWNJ}های iPhone{ZWNJ}ها و USB{ZWNJ}های تازه در فروشگاه{ZWNJ}ها پیدا نمی{ZWNJ}شوند."
    result = scan_documents([Document("zwnj.txt", mixed), Document("spaced.txt", mixed.replace(ZWNJ, " "))])
    assert sorted((p.kind, p.exact) for p in result.pairs) == [("document", True), ("paragraph", True)]
    a, joined = units(mixed)
    assert changed_words(a, units(mixed.replace(ZWNJ, " "))[0])[2] == 0
    assert f"iPhone{ZWNJ}" in a and joined[a.index(f"iPhone{ZWNJ}") + 1]  # shown joined, as written
