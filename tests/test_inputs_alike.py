"""``scan``, ``check`` and ``index add`` take their inputs alike (:func:`dedup.inputs.roots_of`):
a quoted glob or a ``file://`` URL reads what the plain path reads, and the index names
the file the same way however it was named.  Before, ``check`` and ``index add`` took
``'docs/*.txt'`` as a file name ("No such file or directory"), and a scan's text report
of a glob showed only the first 400 characters of a paragraph (its passages were read
again from a path named ``docs/*.txt``).
"""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner
from textgen import prose

from dedup import Index
from dedup.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def docs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    text = prose(random.Random(4), 200)  # one paragraph, well past a preview's 400 characters
    (tmp_path / "docs" / "a.txt").write_text(text + " ENDMARKALPHA\n", encoding="utf-8")
    (tmp_path / "docs" / "b.txt").write_text(text + " ENDMARKBETA\n", encoding="utf-8")
    return tmp_path / "docs"


@pytest.mark.parametrize("how", ["glob", "url"])
def test_index_add_and_check_read_a_glob_or_url_and_name_files_as_a_path_does(docs, how):
    named = "docs/*.txt" if how == "glob" else (docs / "a.txt").as_uri()
    added = run("index", "add", named, "--db", "i.dedup")
    assert added.exit_code in (0, 1) and "0 errors" in added.stdout, added.stdout + added.stderr
    with Index.open("i.dedup", readonly=True) as idx:
        assert "docs/a.txt" in idx  # the id `dedup index add docs/a.txt` gives it
    again = run("index", "add", "docs/a.txt", "--db", "i.dedup")
    assert again.exit_code == 0 and "1 already indexed" in again.stdout
    checked = run("check", named, "--db", "i.dedup")
    assert checked.exit_code in (0, 1) and "docs/a.txt: already indexed" in checked.stdout, checked.stdout


def test_a_scan_of_a_glob_shows_whole_passages_as_a_scan_of_its_folder_does(docs):
    for named in ("docs", "docs/*.txt"):
        shown = run("scan", named, "--color", "never")
        assert shown.exit_code == 1
        assert "ENDMARKALPHA" in shown.stdout and "ENDMARKBETA" in shown.stdout, (named, shown.stdout)
