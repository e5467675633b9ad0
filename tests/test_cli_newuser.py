"""What confused session 14's new user, each made to agree with what it says (#12):
``check --help`` against a partly seen document's status, unreadable inputs and the
status, "1 duplicates", ``index stats`` without thousands separators, and ``-o
report.html`` writing a text report.  Each test failed before its change."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from pathlib import Path

import pytest
from test_cli_index import in_tmp, run  # noqa: F401 (in_tmp: autouse, run in the test's folder)
from textgen import prose, write_docs

from dedup.index import Index

NEWS = Path(__file__).resolve().parent.parent / "fixtures" / "news"


@pytest.fixture
def stored(tmp_path):
    rng = random.Random(11)
    story = [prose(rng, 60) for _ in range(5)]
    docs = write_docs(tmp_path / "in", {
        "story.txt": story,
        "partly.txt": [prose(rng, 60), story[2], prose(rng, 60), prose(rng, 60), prose(rng, 60)],
        "new.txt": [prose(rng, 60) for _ in range(3)],
        "copy.txt": story,
        "copy2.txt": story,
    })
    (docs / "bin.txt").write_bytes(b"\x00\x01binary")
    db = tmp_path / "i.dedup"
    assert run("index", "add", docs / "story.txt", "--db", db).exit_code == 0
    return db, docs


def _exit_help(command: str) -> str:
    text = " ".join(run(*command.split(), "--help").stdout.split())
    return re.search(r"Exit status: (.*?)Options:", text).group(1)


def test_check_help_and_status_agree_on_a_partly_seen_document(stored):
    db, docs = stored
    said = _exit_help("check")
    assert "partly seen" in said and "0 nothing seen before" not in said
    partly = run("check", docs / "partly.txt", "--db", db, "--format", "json")
    (verdict,) = json.loads(partly.stdout)["verdicts"]
    assert verdict["accepted"] and not verdict["duplicate"] and verdict["seen_paragraphs"] == [1]
    assert partly.exit_code == 1  # what the help now says: one of its paragraphs is stored
    assert "partly seen" in _exit_help("index add")


def test_unreadable_inputs_follow_the_scans_rule_as_the_help_says(stored):
    db, docs = stored
    for command in ("check", "index add", "scan"):
        assert "change the status only when nothing could be read" in _exit_help(command), command
    assert run("check", docs / "new.txt", docs / "bin.txt", "--db", db).exit_code == 0
    assert run("check", docs / "partly.txt", docs / "bin.txt", "--db", db).exit_code == 1
    only = run("check", docs / "bin.txt", "--db", db)
    assert only.exit_code == 2 and "no document could be read" in only.stderr


def test_the_tally_says_one_duplicate_not_1_duplicates(stored):
    db, docs = stored
    one = run("check", docs / "copy.txt", "--db", db)
    assert one.exit_code == 1 and "0 new, 1 duplicate, 0 errors" in one.stdout
    two = run("check", docs / "copy.txt", docs / "copy2.txt", "--db", db)
    assert "0 new, 2 duplicates, 0 errors" in two.stdout


def test_index_stats_counts_have_thousands_separators(tmp_path):
    rng = random.Random(12)
    words = [prose(rng, 12) for _ in range(50)]
    with Index.open(tmp_path / "big.dedup") as idx:
        idx.load([(f"d{i}", "\n\n".join(words[(i + k) % 50] + f" {i} {k}" for k in range(4))) for i in range(251)])
    out = run("index", "stats", "--db", tmp_path / "big.dedup").stdout
    assert "251 documents, 1,004 paragraphs" in out, out
    with Index.open(tmp_path / "one.dedup") as idx:
        idx.add(words[0], "only")
    assert "1 document, 1 paragraph," in run("index", "stats", "--db", tmp_path / "one.dedup").stdout


def test_index_stats_o_file_json_writes_json_as_every_other_o_does(tmp_path):
    """Tester F7 (s22): ``index stats -o st.json`` (and ``.json.gz``) wrote the text view."""
    import gzip

    with Index.open(tmp_path / "one.dedup") as idx:
        idx.add(prose(random.Random(3), 12), "only")
    for name, read in [("st.json", Path.read_text), ("st.json.gz", lambda p: gzip.decompress(p.read_bytes()))]:
        assert run("index", "stats", "--db", tmp_path / "one.dedup", "-o", tmp_path / name).exit_code == 0
        assert json.loads(read(tmp_path / name))["documents"] == 1
    assert run("index", "stats", "--db", tmp_path / "one.dedup", "-o", tmp_path / "st.txt").exit_code == 0
    assert (tmp_path / "st.txt").read_text().startswith(str(tmp_path / "one.dedup") + ": 1 document")
    out = run("index", "stats", "--db", tmp_path / "one.dedup", "--format", "text", "-o", "-").stdout
    assert "1 document, 1 paragraph," in out


def test_the_report_format_follows_the_output_files_extension(stored, tmp_path):
    db, docs = stored
    for name, looks in [("r.html", lambda t: t.startswith("<!DOCTYPE html>")),
                        ("r.json", lambda t: "pairs" in json.loads(t)),
                        ("r.JSONL", lambda t: json.loads(t.splitlines()[0]) is not None),
                        ("r.csv", lambda t: "similarity" in next(csv.reader(io.StringIO(t)))),
                        ("r.txt", lambda t: t.startswith("Scanned")),
                        ("r.out", lambda t: t.startswith("Scanned"))]:
        assert run("scan", NEWS, "-o", tmp_path / name).exit_code == 1
        assert looks((tmp_path / name).read_text(encoding="utf-8")), name
    assert run("scan", NEWS, "-o", tmp_path / "x.json", "--format", "text").exit_code == 1  # said: kept
    assert (tmp_path / "x.json").read_text(encoding="utf-8").startswith("Scanned")
    assert run("check", docs / "copy.txt", "--db", db, "-o", tmp_path / "c.json").exit_code == 1
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["verdicts"][0]["duplicate"]


@pytest.mark.parametrize("typed, hint", [
    (["index", "check"], "Did you mean 'dedup check'?"),
    (["add", "x.txt"], "Did you mean 'dedup index add'?"),
    (["list"], "Did you mean 'dedup index list'?"),
    (["index", "lst"], "Did you mean 'list'?"),  # click's own guess, in the same group
])
def test_a_command_typed_in_the_wrong_group_is_named_where_it_is(typed, hint):
    """Session 15's new-user check: ``dedup index check`` said "No such command" and no
    more, though ``dedup check`` exists."""
    from click.testing import CliRunner

    from dedup.cli import main

    res = CliRunner().invoke(main, typed, prog_name="dedup")
    assert res.exit_code == 2
    assert f"No such command '{typed[-1] if typed[0] == 'index' else typed[0]}'. {hint}" in res.output


def ignored(names: list[str]):
    """``git check-ignore --no-index NAMES`` run at the repository root (its
    :class:`subprocess.CompletedProcess`); the test is skipped outside a git checkout."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    return subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=root, capture_output=True, text=True)


def test_the_index_files_of_the_readme_example_are_ignored_by_git():
    """Session 15's new-user check: the README's pre-ingest example, run from the
    repository root as it says, left articles.dedup* untracked in ``git status``."""
    names = ["articles.dedup", "articles.dedup-wal", "articles.dedup-shm", "articles.dedup-lsh.0123abcd"]
    res = ignored(names)
    assert res.stdout.split() == names, res.stdout + res.stderr


def test_help_texts_show_no_doubled_percent_sign():
    """Session 16's new user: ``dedup scan --help`` said "0.1%% of them" (click does not
    %-format help texts)."""
    for command in ("scan", "index add", "check"):
        assert "%%" not in run(*command.split(), "--help").stdout, command


def test_the_html_histogram_counts_one_pair_as_one_pair():
    """Session 16's new user: the page's histogram said "0.65–0.70: 1 pairs"."""
    from dedup.report.html import _histogram_svg
    from dedup.report.summary import BINS

    counts = [0] * BINS
    counts[3], counts[7] = 1, 2
    svg = _histogram_svg(counts, {"threshold": 0.3})
    assert ": 1 pair</title>" in svg and ": 2 pairs</title>" in svg and "1 pairs" not in svg


def test_the_outputs_of_the_readme_scan_and_clean_examples_are_ignored_by_git():
    """New user's N22 of session 17: ``dedup clean fixtures/ clean/ --strip-paragraphs``
    and ``-o report.html``, run from the repository root as the README shows them, left
    ``clean/`` and the report untracked in ``git status``."""
    names = ["clean/dedup-clean.json", "report.json", "report.html", "pairs.csv"]
    res = ignored(names)
    assert res.stdout.split() == names, res.stdout + res.stderr
    kept = ignored(["fixtures/news/report.json", "docs/report.html"])
    assert kept.stdout == ""  # only the repository root's


def test_help_and_messages_say_what_happens(tmp_path):
    """New user's LOW wording findings of session 17, each as the user met it."""
    # N3: `--policy flag` stores no duplicate unless --add-duplicates; the help said "accept"
    assert "a duplicate is stored only with --add-duplicates" in " ".join(run("index", "add", "--help").stdout.split())
    # N4: --rows said nothing of its default
    assert "LSH rows per band [default: derived from the threshold" in " ".join(run("scan", "--help").stdout.split())
    # N5: "(but as itself, already indexed)"
    assert "but as itself" not in " ".join(run("check", "--help").stdout.split())
    src = tmp_path / "src"
    src.mkdir()
    p1, p2, p3, p4, p5 = (prose(random.Random(k), 40) for k in range(5))
    (src / "a.txt").write_text(f"{p1}\n\n{p2}\n")
    (src / "b.txt").write_text(f"{p1}\n\n{p3}\n\n{p4}\n\n{p5}\n")  # one paragraph of a.txt's
    # N11: "1 paragraphs cut from 1 documents"
    res = run("clean", src, tmp_path / "out", "--strip-paragraphs")
    assert res.exit_code == 0 and "1 paragraph cut from 1 document;" in res.stdout, res.stdout
    # N12: clean offered --stdin-format, and cannot read stdin
    assert "--stdin-format" not in run("clean", "--help").stdout
    # N13: DEST inside SRC was refused naming the manifest
    res = run("clean", src, src / "out")
    assert res.exit_code == 2 and f"{src / 'out'} is inside {src}" in res.stderr, res.stderr
