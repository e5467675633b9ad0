from dedup.normalize import normalize
from dedup.split import split_paragraphs


def test_normalize_unifies_typography_and_case():
    fancy = "\u201cPutin\u2019s  comments\u201d \u2014 follow\u00a0the\u2013flurry\u200b  \uff21\n"
    plain = "\"putin's comments\" - follow the-flurry a"
    assert normalize(fancy) == plain


def test_normalize_ascii_fast_path_agrees_with_full_path():
    text = "  Mixed CASE\ttext\n with `ticks` and   spaces "
    assert normalize(text) == "mixed case text with 'ticks' and spaces"
    # The same text with one non-ASCII character goes through the Unicode path.
    assert normalize(text + "\u00e9") == "mixed case text with 'ticks' and spaces \u00e9"


def test_normalize_casefolds_beyond_lower():
    assert normalize("STRASSE Straße") == "strasse strasse"


def test_blank_line_blocks_with_spans():
    text = "  First para\nstill first.\n\n\n Second para. \n \nThird"
    spans = split_paragraphs(text)
    assert [text[s:e] for s, e in spans] == ["First para\nstill first.", "Second para.", "Third"]


def test_no_blank_lines_means_one_paragraph_per_line():
    text = "line one\nline two\n  \nline three"  # a blank line: blocks, not lines
    assert [text[s:e] for s, e in split_paragraphs(text)] == ["line one\nline two", "line three"]
    text = "line one\nline two\r\nline three\n"
    assert [text[s:e] for s, e in split_paragraphs(text)] == ["line one", "line two", "line three"]


def test_empty_and_whitespace_only_texts_have_no_paragraphs():
    assert split_paragraphs("") == []
    assert split_paragraphs(" \n\n \t\n") == []


def test_huge_single_line_is_one_paragraph():
    text = "word " * 200_000
    spans = split_paragraphs(text)
    assert spans == [(0, len(text) - 1)]


def test_greek_accents_and_breathings_are_dropped():
    """Tester U12 (session 13): Greek written without accents (capitals, typed text) or
    in the polytonic spelling is the same text as its monotonic original, as Arabic
    with and without harakat is (pipeline version 4)."""
    import unicodedata

    from dedup import Document, scan_documents

    def bare(text: str) -> str:  # NFD, combining marks dropped
        return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))

    mono = "Το δημοτικό συμβούλιο αποφάσισε χθες να κλείσει την παλιά γέφυρα του λιμανιού για τα βαριά οχήματα."
    poly = "Ἐν ἀρχῇ ἦν ὁ λόγος, καὶ ὁ λόγος ἦν πρὸς τὸν θεόν, καὶ θεὸς ἦν ὁ λόγος, οὗτος ἦν ἐν ἀρχῇ."
    for text in (mono, poly):
        assert normalize(text) == normalize(bare(text)) == normalize(bare(text).upper())
        assert not any(unicodedata.combining(c) for c in normalize(text))
    assert normalize("ΐ ΰ ᾷ ῼ Ά") == "ι υ α ω α"
    assert normalize("Hélène, café, Tiếng Việt") == "hélène, café, tiếng việt"  # Latin keeps its accents
    result = scan_documents([Document("a.txt", mono), Document("b.txt", bare(mono).upper())])
    assert [(p.kind, p.similarity, p.exact) for p in result.pairs if p.kind == "paragraph"] == [("paragraph", 1.0, True)]


def test_russian_yo_is_written_as_ye():
    """New user's N8 (session 18): a Russian reprint without the dots on ё is the same
    text (it scored 0.78, not exact); other Cyrillic letters with marks are kept."""
    from dedup import Document, scan_documents

    with_yo = "Москва: ещё один рекордно жаркий день, синоптики ждут, что жара спадёт лишь к четвергу. Всё о погоде."
    assert normalize(with_yo) == normalize(with_yo.replace("ё", "е").replace("Ё", "Е"))
    assert normalize("ЁЛКА Ёлка") == "елка елка"
    assert normalize("й ї ђ") == "й ї ђ"
    result = scan_documents([Document("r1.txt", with_yo), Document("r2.txt", with_yo.replace("ё", "е"))])
    assert [(p.kind, p.similarity, p.exact) for p in result.pairs if p.kind == "paragraph"] == [("paragraph", 1.0, True)]


# Tester F9 (session 22): Arabic typed with Persian letters, or without the hamza on alef.
ARABIC = "ذهب الأولاد إلى المدرسة الكبيرة في الصباح الباكر مع أخيهم، وقال المعلم إن الامتحان سيكون يوم الخميس القادم."


def test_arabic_letter_forms_of_other_keyboards_and_bare_alef_are_one_text():
    """The same Arabic paragraph typed on a Persian layout (Farsi yeh U+06CC for yeh,
    keheh U+06A9 for kaf), with bare alef for alef with hamza or madda, with alef
    maksura for final yeh and heh for teh marbuta, is one text: an exact copy (it scored
    J 0.22 and 0.53)."""
    from dedup import Document, scan_documents

    persian_keys = ARABIC.replace("\u064a", "\u06cc").replace("\u0643", "\u06a9")
    bare_alef = ARABIC.replace("\u0623", "\u0627").replace("\u0625", "\u0627").replace("\u0622", "\u0627")
    egyptian = ARABIC.replace("\u064a ", "\u0649 ").replace("\u0629", "\u0647")
    assert persian_keys != ARABIC and bare_alef != ARABIC and egyptian != ARABIC
    for variant in (persian_keys, bare_alef, egyptian):
        assert normalize(variant) == normalize(ARABIC)
        result = scan_documents([Document("a.txt", ARABIC), Document("b.txt", variant)], levels=["paragraph"])
        assert [(p.similarity, p.exact) for p in result.pairs] == [(1.0, True)]
    # Persian: heh goal and heh with yeh above (ezafe) are heh; a stray hamza above is dropped
    assert normalize("خانۀ خانهٔ خانه ہ") == normalize("خانه خانه خانه ه")
    # alef wasla (vocalized and Quranic text) is alef
    assert normalize("بِسْمِ ٱللَّهِ") == normalize("بسم الله")


def test_letters_of_their_own_are_not_folded():
    """Urdu's yeh barree is not the yeh ("لڑکے" boys, "لڑکی" girl), do-chashmi heh not heh
    (aspiration), yeh and waw with hamza stay; Hebrew final letters are letters of their
    own; Devanagari nukta and vowel signs stay."""
    assert normalize("لڑکے") != normalize("لڑکی")
    assert normalize("بھی") != normalize("بہی")
    assert normalize("سئل مؤتمر") == "سئل مؤتمر"
    assert normalize("ךםןףץ") == "ךםןףץ" and normalize("כמנפצ") == "כמנפצ"
    assert normalize("लड़का ज़रा") == "लड़का ज़रा"


def test_presentation_forms_and_decomposed_letters_are_the_base_letters():
    """NFKC folds Arabic and Hebrew presentation forms (isolated/final/initial shapes,
    ligatures) before the letter forms are folded: what a PDF extractor emits is the
    same text."""
    assert normalize("\ufe8d\ufedf\ufed4\ufe8e\ufead\ufeb3\ufef2") == normalize("الفارسي")  # shaped
    assert normalize("\ufef7") == normalize("لأ") == "لا"  # lam-alef with hamza ligature
    assert normalize("\ufbfc\ufb8e") == normalize("یک") == "يك"  # Farsi yeh, keheh shapes
    assert normalize("\u0627\u0654") == normalize("\u0623") == "\u0627"  # decomposed hamza
    assert normalize("\ufb2a\ufb4f") == "שאל"  # shin with shin dot, alef-lamed ligature


def test_digits_of_every_script_are_ascii_digits():
    import unicodedata

    from dedup.normalize import _PUNCT

    assert normalize("٢٠٢٤ ۲۰۲۴ २०२४ ২০২৪ ๒๕๖๗ ၁၂") == "2024 2024 2024 2024 2567 12"
    # every decimal digit this Python knows is folded, by the table or by NFKC
    missing = [hex(c) for c in range(0x80, 0x110000)
               if unicodedata.category(chr(c)) == "Nd" and chr(c) not in _PUNCT
               and not unicodedata.normalize("NFKC", chr(c)).isascii()]
    assert missing == []
