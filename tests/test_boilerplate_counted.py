"""Boilerplate is expected repetition, not a finding (session 17's N25): its copies are
counted among the duplicate paragraphs and named apart, a scan whose only repeats are
boilerplate exits 0 without saying "No duplicates found" under a count of duplicate
paragraphs, and ``dedup clean --strip-paragraphs`` keeps each boilerplate text's first
copy and cuts the rest, as the summary's ``duplicated_bytes`` says it does."""

import json
import random

from click.testing import CliRunner

import dedup
from dedup.cli import main
from textgen import rich_prose, write_docs

LINE = "Subscribe to our newsletter for the latest local news, delivered to your inbox every morning."


def _site(root, stories=12, seed=3):
    rng = random.Random(seed)
    return write_docs(root, {f"a{i:02}.txt": [rich_prose(rng, 60), rich_prose(rng, 50), LINE]
                             for i in range(stories)})


def test_a_scan_of_boilerplate_only_names_it_and_exits_0(tmp_path):
    src = _site(tmp_path / "bp")
    text = CliRunner().invoke(main, ["scan", str(src), "--no-cache"], catch_exceptions=False)
    assert text.exit_code == 0, text.output
    assert "No duplicates found" not in text.output
    assert "11 duplicate paragraphs, all copies of boilerplate" in text.output
    assert "Only boilerplate repeats" in text.output
    js = CliRunner().invoke(main, ["scan", str(src), "--no-cache", "--format", "json"], catch_exceptions=False)
    summary = json.loads(js.stdout)["summary"]
    assert js.exit_code == 0
    assert summary["duplicate_paragraphs"] == 11 and summary["boilerplate_copies"] == 11
    assert summary["boilerplate"] == 1 and summary["pairs"] == 0


def test_clean_keeps_the_first_copy_of_boilerplate_and_cuts_the_rest(tmp_path):
    src = _site(tmp_path / "bp")
    summary = json.loads(CliRunner().invoke(main, ["scan", str(src), "--no-cache", "--format", "json"]).stdout)[
        "summary"]
    report = dedup.clean(src, tmp_path / "out", strip_paragraphs=True)
    assert report.stripped_paragraphs == 11 and report.dropped == 0
    kept = sorted((tmp_path / "out").glob("a*.txt"))
    assert [LINE in p.read_text() for p in kept] == [True] + [False] * 11
    cuts = [c for s in report.manifest["stripped"] for c in s["paragraphs"]]
    assert all(c["boilerplate"] and c["duplicate_of"] == {"path": "a00.txt", "paragraph": 2} for c in cuts)
    assert sum(len(LINE.encode()) for _ in cuts) == summary["duplicated_bytes"]
    # Nothing repeats in the cleaned copy.
    again = dedup.scan(tmp_path / "out", levels=("paragraph",))
    assert not again.groups and not again.boilerplate


def test_a_near_variant_of_boilerplate_is_cut_for_its_pair_the_copies_as_copies(tmp_path):
    src = _site(tmp_path / "bp")
    rng = random.Random(9)
    (src / "b-variant.txt").write_text("\n\n".join([rich_prose(rng, 60), LINE.replace("morning", "evening")]) + "\n")
    result = dedup.scan(src, levels=("paragraph",), all_pairs=True)
    (pair,) = result.pairs  # the variant and the line's first copy
    report = dedup.clean(src, tmp_path / "out", strip_paragraphs=True)
    cut = {(s["document"], c["paragraph"]): c for s in report.manifest["stripped"] for c in s["paragraphs"]}
    assert len(cut) == 12  # the 11 copies and the variant
    assert cut[("b-variant.txt", 1)]["similarity"] == round(pair.similarity, 4)
    assert "boilerplate" not in cut[("b-variant.txt", 1)]
