"""The side-by-side views (terminal and HTML) of text in scripts written without
spaces: differences marked per character (grapheme), columns measured in display width.

New user's N9 of session 17: two Chinese articles with 2-4 one- or two-character edits
per paragraph were shown as "1 differing place", each whole paragraph one deleted and
one inserted run, in lines 181 columns wide (characters counted, not columns)."""

import io
import json
import re

from click.testing import CliRunner

from dedup import Document, scan_documents
from dedup.cli import main
from dedup.report import TextOptions, write_report
from dedup.report.diff import window
from dedup.report.passages import Passages
from dedup.report.text import width_of

# Three paragraphs and their light rewrite: 暴雨->大暴雨, 数十->几十, 人员->队, 前->之前,
# 疏散->转移 | 将近->接近, 冬天->冬季, 修建->建造 | 警告->提醒, 仍->依然.
ZH_A = ("周三凌晨，一场暴雨导致下城区数十户房屋被淹，救援人员在天亮前将两百多名居民疏散到磨坊街的体育馆。\n\n"
        "河水在六个小时内上涨了将近两米，冲破了市议会去年冬天在类似洪水损坏老市场广场后修建的临时屏障。\n\n"
        "气象部门预计降雨将在周四下午减弱，但警告说地面已经饱和，山区的小河在周末仍可能泛滥。\n")
ZH_B = ("周三凌晨，一场大暴雨导致下城区几十户房屋被淹，救援队在天亮之前将两百多名居民转移到磨坊街的体育馆。\n\n"
        "河水在六个小时内上涨了接近两米，冲破了市议会去年冬季在类似洪水损坏老市场广场后建造的临时屏障。\n\n"
        "气象部门预计降雨将在周四下午减弱，但提醒说地面已经饱和，山区的小河在周末依然可能泛滥。\n")


class _Texts(Passages):
    def __init__(self, texts):
        self.texts = texts

    def text(self, loc, side):
        return self.texts[loc.path][loc.start:loc.end]


def _marked(side):
    return ["".join(w for w, c in group) for c0, group in _groups(side) if c0]


def _groups(side):
    from itertools import groupby

    return [(k, list(g)) for k, g in groupby(zip(side.words, side.changed), key=lambda wc: wc[1])]


def test_a_chinese_paragraph_differs_character_by_character():
    first = ZH_A.split("\n\n")[0]
    second = ZH_B.split("\n\n")[0]
    win = window(first, second, words=400)
    assert win.hunks == 5
    assert _marked(win.left) == ["数", "人员", "疏散"]
    assert _marked(win.right) == ["大", "几", "队", "之", "转移"]
    # nothing lost or invented: the units read back as the passage
    assert "".join(win.left.words) == first and "".join(win.right.words) == second


def test_units_are_graphemes_only_where_a_script_has_no_spaces():
    from dedup.report.diff import units

    words, joined = units("東京でPython3を使う。 Hello, world か\u3099 ภาษาไทย")
    assert words == ["東", "京", "で", "Python3", "を", "使", "う", "。", "Hello,", "world", "か\u3099",
                     "ภ", "า", "ษ", "า", "ไ", "ท", "ย"]
    assert joined == [False] + [True] * 7 + [False, False, False] + [False] + [True] * 6
    text = "The council met on Monday, and voted 7-2."
    assert units(text) == (text.split(), [False] * 8)


def test_terminal_view_marks_each_edit_and_fits_its_columns():
    texts = {"zh-a.txt": ZH_A, "zh-b.txt": ZH_B}
    result = scan_documents([Document(k, v) for k, v in texts.items()])
    out = io.StringIO()
    write_report(result, "text", out, TextOptions(width=80, passages=_Texts(texts)))
    text = out.getvalue()
    assert not re.search(r"\b1 differing place\b", text)
    assert "5 differing places" in text and "[-数-]" in text and "{+大+}" in text and "{+几+}" in text
    sides = [line for line in text.splitlines() if "│" in line]
    assert sides and max(width_of(line) for line in sides) <= 80
    assert "一场暴雨导致下城区[-数-]十" in text  # no spaces put between characters


def test_display_width_of_wide_characters_marks_and_joiners():
    assert width_of("中文") == 4 and width_of("ｶﾀｶﾅ") == 4 and width_of("ＡＢ") == 4
    assert width_of("ที่") == 1  # Thai consonant with a vowel sign and a tone mark: one column
    assert width_of("e\u0301") == 1 and width_of("👩\u200d💻") == 4 and width_of("a\u00ad") == 1


def test_html_page_marks_each_edit_of_a_chinese_pair(tmp_path):
    (tmp_path / "zh-a.txt").write_text(ZH_A, encoding="utf-8")
    (tmp_path / "zh-b.txt").write_text(ZH_B, encoding="utf-8")
    page = tmp_path / "report.html"
    res = CliRunner().invoke(main, ["scan", str(tmp_path), "--format", "html", "-o", str(page), "--no-cache"])
    assert res.exit_code == 1, res.output
    data = json.loads(re.search(r'id="data">(.*?)</script>', page.read_text(encoding="utf-8")).group(1))
    pairs = {(p["kind"], p["a"][1]): p for g in data["groups"] for p in g["pairs"]}
    first = pairs[("paragraph", 0)]
    assert first["hunks"] == 5
    assert first["left"][1::2] == ["数", "人员", "疏散"] and first["right"][1::2] == ["大", "几", "队", "之", "转移"]
    # The page joins the runs as they are: they read as the paragraph, no space added.
    assert "".join(first["left"]) == ZH_A.split("\n\n")[0] and "".join(first["right"]) == ZH_B.split("\n\n")[0]


def test_html_runs_keep_the_spaces_between_words_in_the_unchanged_text():
    texts = {"a.txt": "The harbour bridge will close for repairs on Monday morning, officials said today.",
             "b.txt": "The harbour bridge will shut for repairs on Monday morning, officials said today."}
    from dedup.report.html import _pair

    result = scan_documents([Document(k, v) for k, v in texts.items()], levels=["paragraph"])
    pair = next(iter(result.pairs))
    row = _pair(pair, TextOptions(passages=_Texts(texts)))
    assert row["left"] == ["The harbour bridge will ", "close", " for repairs on Monday morning, officials said today."]
    assert "".join(row["right"]) == texts["b.txt"]


def test_differences_the_detector_normalizes_away_are_not_marked():
    """Tester F1 (session 22): case, quotes, optional vowel marks and letter forms alone
    are no change in the side-by-side view, as they are none to the detector -- an exact
    pair was shown with its capitals and curly quotes marked as differing places."""
    en_a = 'The Mayor said: "We will rebuild the bridge," on Monday.'
    en_b = "THE MAYOR SAID: \u201cWe will rebuild the bridge,\u201d on Monday."
    assert window(en_a, en_b).hunks == 0
    edited = window(en_a, en_b.replace("bridge", "road"))
    assert edited.hunks == 1 and _marked(edited.left) == ['bridge,"'] and _marked(edited.right) == ["road,\u201d"]
    ar_a = "ذَهَبَ الأَوْلادُ إِلَى المَدْرَسَةِ فِي الصَّبَاحِ"
    ar_b = "ذهب الاولاد الي المدرسه في الصباح"  # no harakat, bare alef, yeh for alef maksura, heh
    assert window(ar_a, ar_b).hunks == 0
    # the terminal view of a near pair marks its one edit only
    texts = {"a.txt": en_a + " " + ar_a, "b.txt": en_b.replace("bridge", "road") + " " + ar_b}
    result = scan_documents([Document(k, v) for k, v in texts.items()], levels=["paragraph"])
    assert [p.exact for p in result.pairs] == [False]
    out = io.StringIO()
    write_report(result, "text", out, TextOptions(width=100, passages=_Texts(texts)))
    text = out.getvalue()
    assert "1 differing place" in text
    assert re.findall(r"\[-.*?-\]|\{\+.*?\+\}", text) == ['[-bridge,"-]', "{+road,\u201d+}"]


def test_thai_lines_break_between_words_where_a_space_allows():
    """Tester F2 (session 22): Thai lines broke between any two graphemes, mid-syllable.
    Thai is written without spaces between words but with spaces between phrases: a
    line breaks at a space, and a phrase goes to the next line whole when it fits on one
    (no dictionary here to find the word breaks inside a longer one)."""
    phrases = ["เมื่อเช้าวันจันทร์", "เทศบาลเมือง", "ได้จัดประชุม", "ร่วมกับผู้นำชุมชน", "ทั้งสิบสองแห่ง",
               "เพื่อหารือเรื่อง", "การจัดการขยะ", "และน้ำเสีย", "ในเขตเมืองเก่า", "ผู้เข้าร่วมประชุม"]
    a = " ".join(phrases)
    b = a.replace("การจัดการขยะ", "การจัดการขยะมูลฝอย")
    texts = {"a.txt": a, "b.txt": b}
    result = scan_documents([Document(k, v) for k, v in texts.items()], levels=["paragraph"])
    out = io.StringIO()
    write_report(result, "text", out, TextOptions(width=80, passages=_Texts(texts)))
    sides = [line for line in out.getvalue().splitlines() if "│" in line]
    assert len(sides) >= 2
    whole = set(phrases) | {"การจัดการขยะ{+มูลฝอย+}"}
    for line in sides:
        for side in line.split("│"):
            assert set(side.replace("…", " ").split()) <= whole, side
