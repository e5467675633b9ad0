"""The length rule (min_tokens, formerly min_words) counts tokens of dedup.tokenize,
under --unit word and --unit char alike; the old spelling keeps working."""

import json

import pytest
from click.testing import CliRunner

from dedup import Document, Settings, scan_documents
from dedup.cli import main
from dedup.normalize import normalize
from dedup.tokenize import token_counts

# 42 characters: 4 "words" as \w+ runs (clauses between commas), 38 Han tokens.
ZH45 = "今天上午，市政府召开新闻发布会，介绍了今年城市绿化工作的主要进展和下一步计划安排。"
ZH45_EDITED = ZH45.replace("主要", "重要")


def near_pairs(docs, **settings):
    result = scan_documents([Document(k, v) for k, v in docs.items()], Settings(**settings), levels=["paragraph"])
    return {(p.a.path, p.b.path, p.exact) for p in result.pairs}


def test_tokens_are_what_is_counted():
    han = sum("\u4e00" <= c <= "\u9fff" for c in ZH45)
    assert han == 38
    assert token_counts([normalize(ZH45), "The mayor said no.", "😀 * * *", ""]).tolist() == [han, 4, 0, 0]


@pytest.mark.parametrize("unit,ngram", [("word", 2), ("char", 5)])
def test_short_chinese_paragraph_is_compared_under_both_units(unit, ngram):
    assert near_pairs({"a": ZH45, "b": ZH45_EDITED}, unit=unit, ngram=ngram) == {("a", "b", False)}
    # Under the length rule (38 tokens < 50): only an exact copy is matched.
    assert near_pairs({"a": ZH45, "b": ZH45_EDITED}, unit=unit, ngram=ngram, min_tokens=50) == set()
    assert near_pairs({"a": ZH45, "b": ZH45}, unit=unit, ngram=ngram, min_tokens=50) == {("a", "b", True)}


def test_below_the_length_rule_only_exact_copies_match_in_any_script():
    short = {"a": "The mayor said no.", "b": "The  MAYOR said no.", "c": "The mayor said yes."}
    assert near_pairs(short) == {("a", "b", True)}
    assert near_pairs(short, min_tokens=3) == {("a", "b", True), ("a", "c", False)}


def test_old_spelling_still_works_in_settings_and_json():
    assert Settings(min_words=3) == Settings(min_tokens=3)
    assert Settings(min_tokens=5).min_words == 5
    assert Settings().with_changes(min_words=4).min_tokens == 4
    assert Settings.from_dict({"min_words": 6}).min_tokens == 6
    data = Settings(min_tokens=7).to_dict()
    assert data["min_tokens"] == data["min_words"] == 7
    assert Settings.from_dict(data) == Settings(min_tokens=7)
    with pytest.raises(ValueError, match="disagree"):
        Settings(min_words=3, min_tokens=4)


@pytest.mark.parametrize("option", ["--min-tokens", "--min-words"])
def test_old_and_new_cli_option(tmp_path, option):
    (tmp_path / "a.txt").write_text("The mayor said no.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("The mayor said yes.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", str(tmp_path), "--format", "json", option, "3"])
    report = json.loads(result.output)
    assert report["settings"]["min_tokens"] == report["settings"]["min_words"] == 3
    assert [p["kind"] for p in report["pairs"]] == ["document", "paragraph"]
