"""``--encoding`` / ``ReadOptions.encoding``: legacy archives (cp1251, GB18030) are read
(new user's N10 of session 18: they could only be errors, and the error did not say what
to do next)."""

import json

import pytest
from click.testing import CliRunner

from dedup.cli import main
from dedup.readers import Document, ReadError, ReadOptions, read_bytes

RU = "Переговоры в Стамбуле продолжатся в понедельник, сообщили обе делегации.\n"
ZH = "双方代表团表示，伊斯坦布尔的谈判将于周一继续进行。\n"


def read(data: bytes, name: str, encoding=None):
    return list(read_bytes(data, name, ReadOptions(encoding=encoding)))


@pytest.mark.parametrize("name", ["a.txt", "a.md", "a.html", "a", "a.txt.gz"])
def test_a_legacy_file_is_read_in_the_encoding_named(name):
    import gzip

    for text, codec in ((RU, "cp1251"), (ZH, "gb18030")):
        data = text.encode(codec)
        if name.endswith(".gz"):
            data = gzip.compress(data)
        [doc] = read(data, name, codec)
        assert isinstance(doc, Document) and doc.text.strip() == text.strip(), (name, codec)


def test_utf8_files_beside_them_stay_utf8():
    """The encoding is a fallback: cp1251 decodes almost any bytes, so a UTF-8 file of
    the same archive read as cp1251 would be mojibake without an error."""
    [doc] = read(RU.encode("utf-8"), "a.txt", "cp1251")
    assert doc.text == RU


def test_errors_still_name_the_cause():
    [no] = read(RU.encode("cp1251"), "a.txt")
    assert isinstance(no, ReadError) and no.error == (
        "not UTF-8 and no byte-order mark (byte 0xcf at offset 0); --encoding names the encoding of a legacy "
        "archive, such as cp1251 or gb18030")
    [bad] = read(b"abc \x80 d", "a.txt", "gb18030")
    assert isinstance(bad, ReadError) and bad.error == (
        "not UTF-8 and no byte-order mark (byte 0x80 at offset 4), nor gb18030 (byte 0x80 at offset 4)")
    [binary] = read(b"ab\x00cd", "a.txt", "cp1251")
    assert binary.error == "binary file (NUL byte at offset 2)"
    [wide] = read("abc".encode("utf-16-le"), "a.txt", "utf-16-le")  # NUL bytes belong to UTF-16 text
    assert wide.text == "abc"
    [json_line] = read(json.dumps({"text": RU}, ensure_ascii=False).encode("cp1251"), "a.jsonl", "cp1251")
    assert isinstance(json_line, ReadError)  # JSON is UTF-8 (RFC 8259): not decoded otherwise
    with pytest.raises(ValueError, match="unknown encoding 'cp9999'"):
        ReadOptions(encoding="cp9999")


def test_the_cli_reads_a_mixed_archive(tmp_path):
    (tmp_path / "ru-1251.txt").write_bytes((RU + "\n" + RU).encode("cp1251"))
    (tmp_path / "ru-utf8.txt").write_bytes((RU + "\n" + RU).encode("utf-8"))
    res = CliRunner().invoke(main, ["scan", str(tmp_path), "--encoding", "cp1251", "--format", "json",
                                    "-j", "1", "--no-cache", "--min-tokens", "4"])
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    assert report["errors"] == []
    assert any(p["kind"] == "document" and p["exact"] for p in report["pairs"])
    unknown = CliRunner().invoke(main, ["scan", str(tmp_path), "--encoding", "klingon"])
    assert unknown.exit_code == 2 and "unknown encoding 'klingon'" in unknown.output


def test_clean_writes_a_stripped_legacy_file_in_its_encoding(tmp_path):
    """A cp1251 file that loses a paragraph stays cp1251 (not rewritten as UTF-8)."""
    shared = ("Совет директоров утвердил годовой отчёт компании и рекомендовал акционерам "
              "выплатить дивиденды по итогам прошлого года в размере десяти рублей на акцию.")
    own = "Заседание прошло в Москве во вторник, сообщила пресс-служба компании в своём заявлении для прессы."
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(f"{shared}\n\nПервый отчёт о собрании.\n".encode("cp1251"))
    (src / "b.txt").write_bytes(f"{own}\n\n{shared}\n".encode("cp1251"))
    res = CliRunner().invoke(main, ["clean", str(src), str(tmp_path / "out"), "--strip-paragraphs",
                                    "--encoding", "cp1251", "-j", "1", "--no-cache"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "a.txt").read_bytes() == (src / "a.txt").read_bytes()
    assert (tmp_path / "out" / "b.txt").read_bytes().decode("cp1251") == f"{own}\n"


def test_an_unknown_meta_charset_falls_back_to_the_encoding_given():
    """A legacy page declaring a label no codec knows (``utf8mb4``) is read as if it
    declared nothing: UTF-8, else ``--encoding`` (it was an error under --encoding)."""
    from dedup.readers.html import decode_html

    page = '<html><head><meta charset="utf8mb4"></head><body><p>Привет, мир</p></body></html>'
    text, warning = decode_html(page.encode("cp1251"), "cp1251")
    assert "Привет, мир" in text and warning == "unknown charset 'utf8mb4' in <meta> ignored: read as cp1251 (--encoding)"
    text, warning = decode_html(page.encode("utf-8"), "cp1251")
    assert "Привет, мир" in text and warning.endswith("read as UTF-8")


@pytest.mark.parametrize("codec", ["base64", "rot13", "zlib", "hex"])
def test_a_codec_that_is_not_a_text_encoding_is_a_usage_error(tmp_path, codec):
    """base64/rot13/zlib/hex are Python codecs but not text encodings: refused when the
    option is given (exit 2), not an 'unexpected error' per legacy file with exit 0."""
    with pytest.raises(ValueError, match=f"unknown encoding '{codec}'"):
        ReadOptions(encoding=codec)
    (tmp_path / "ru-1251.txt").write_bytes((RU + "\n" + RU).encode("cp1251"))
    res = CliRunner().invoke(main, ["scan", str(tmp_path), "--encoding", codec, "-j", "1", "--no-cache"])
    assert res.exit_code == 2 and f"unknown encoding '{codec}'" in res.output
