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
