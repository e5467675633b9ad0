"""The summary's duplicated bytes (issue #14): the UTF-8 size of what a dedup would
remove, the same in the terminal view, the HTML page and the JSON report."""

import io
import json

from dedup import scan
from dedup.report import TextOptions, write_report


def render(result, fmt, **options):
    out = io.StringIO()
    write_report(result, fmt, out, TextOptions(**options))
    return out.getvalue()


def _corpus(root):
    """Three documents in several scripts: b.txt repeats a.txt whole; c.txt repeats
    a.txt's second paragraph between two of its own."""
    p1 = ("東京都は火曜日、港の古い橋を来月から大型車両の通行止めにすると発表した。技術者が定期点検で"
          "四本の主要な支柱のうち二本に腐食を発見したためである。")
    p2 = ("Le conseil municipal a voté mardi la fermeture du vieux pont du port aux poids lourds, "
          "après que des ingénieurs ont découvert de la corrosion sur deux de ses quatre piliers.")
    p3 = ("Ярмарка ремёсел вернётся на главную площадь в субботу: более ста мастеров привезут керамику, "
          "ткани и резьбу по дереву, а вход останется бесплатным для всех гостей. Организаторы обещают "
          "концерты, мастер-классы для детей и ночной рынок у реки до позднего вечера.")
    (root / "a.txt").write_text(f"{p1}\n\n{p2}\n", encoding="utf-8")
    (root / "b.txt").write_text(f"{p1}\n\n{p2}\n", encoding="utf-8")
    (root / "c.txt").write_text(f"{p3}\n\n{p2}\n", encoding="utf-8")
    return p1, p2, p3


def test_duplicated_bytes_are_what_a_dedup_would_remove(tmp_path):
    p1, p2, p3 = _corpus(tmp_path)
    result = scan(tmp_path)
    whole = len(f"{p1}\n\n{p2}\n".encode("utf-8"))
    # b.txt whole (its paragraphs are not counted again), and c.txt's copy of p2.
    expected = whole + len(p2.encode("utf-8"))
    total = 2 * whole + len(f"{p3}\n\n{p2}\n".encode("utf-8"))
    assert expected != whole + len(p2)  # characters would give another number
    summary = json.loads(render(result, "json"))["summary"]
    assert summary["duplicated_bytes"] == expected and summary["total_bytes"] == total
    assert summary["duplicate_documents"] == 1 and summary["duplicate_paragraphs"] == 3  # b's two, c's one
    text = render(result, "text")
    assert f"({expected:,} bytes duplicated, {expected / total * 100:.1f} % of the text)" in text
    assert f"({total:,} bytes)" in text
    page = render(result, "html")
    assert f'<dd id="sum-duplicated-bytes">{expected:,} bytes ({expected / total * 100:.1f} % of {total:,})</dd>' in page


def test_every_location_of_a_scan_knows_its_utf8_size(tmp_path):
    _corpus(tmp_path)
    result = scan(tmp_path)
    texts = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()}
    locations = [loc for p in result.pairs for loc in (p.a, p.b)]
    assert locations and {loc.paragraph is None for loc in locations} == {True, False}
    for loc in locations:
        assert loc.utf8_bytes == len(texts[loc.path][loc.start:loc.end].encode("utf-8"))
    assert [d.utf8_bytes for d in result.documents] == [len(texts[d.path].encode("utf-8"))
                                                        for d in result.documents]
