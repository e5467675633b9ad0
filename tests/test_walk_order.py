"""The walk lists folders lazily and still yields in path order (dedup.sources.walk)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dedup.readers import ReadError
from dedup.sources import Selection, walk


def key(entry) -> str:
    return entry.path if isinstance(entry, ReadError) else entry.name


@pytest.fixture
def tricky(tmp_path):
    """Names that sort differently as a bare name and as a folder prefix: ``-``, ``.``
    and ``!`` sort before ``/``, ``0`` after it."""
    files = ["a-1.txt", "a.txt", "a!", "a0.txt", "a/b.txt", "a/-.txt", "a/z/y.txt", "b/c.txt",
             "c-x.txt", "c/in.txt", "d/e/f/g.txt", "d.e/h.txt", "z.txt"]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x " * len(name))
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    (tmp_path / "a" / "z" / "up").symlink_to(tmp_path / "a")
    return tmp_path, files


def unreadable(monkeypatch, *folders: Path) -> None:
    """Make listing ``folders`` fail (root ignores permissions, so chmod cannot)."""
    real = os.scandir
    refused = {os.fspath(f) for f in folders}

    def scandir(path="."):
        if os.fspath(path) in refused:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_the_walk_yields_in_path_order_with_errors_where_their_paths_sort(tricky, monkeypatch):
    root, files = tricky
    unreadable(monkeypatch, root / "c", root / "d" / "e")
    found = list(walk(root))
    assert [key(e) for e in found] == sorted(key(e) for e in found)
    assert {e.name for e in found if not isinstance(e, ReadError)} == set(files) - {"c/in.txt", "d/e/f/g.txt"}
    errors = {e.path: e.error for e in found if isinstance(e, ReadError)}
    assert set(errors) == {"broken", "a/z/up", "c", "d/e"}
    # "c" (a folder that cannot be listed) sorts before its sibling "c-x.txt", and a
    # folder listed fine sorts as its files' paths do: "a-1.txt" before "a/b.txt"
    names = [key(e) for e in found]
    assert names.index("c") < names.index("c-x.txt")
    assert names.index("a-1.txt") < names.index("a/-.txt") < names.index("a0.txt")


def test_the_walk_starts_before_the_tree_is_listed(tmp_path, monkeypatch):
    for i in range(30):
        (tmp_path / f"f{i:02}").mkdir()
        (tmp_path / f"f{i:02}" / "doc.txt").write_text("text")
    listed = []
    real = os.scandir

    def scandir(path="."):
        listed.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    walking = walk(tmp_path)
    assert next(walking).name == "f00/doc.txt"
    assert len(listed) == 2  # the root and f00, not the 30 folders
    assert len(list(walking)) == 29


def test_each_file_carries_the_walks_stat_of_it(tricky):
    root, _ = tricky
    for entry in walk(root, Selection(exclude=["broken"])):
        if isinstance(entry, ReadError):
            continue
        st = os.stat(entry.path)
        assert entry.identity == (st.st_dev, st.st_ino) and entry.size == st.st_size
    single = next(walk(root / "z.txt"))
    assert (single.name, single.size) == ("z.txt", os.stat(root / "z.txt").st_size)
