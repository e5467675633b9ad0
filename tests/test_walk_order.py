"""The walk yields in path order, lists the tree before its first file, and stats each file once (dedup.sources.walk)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from textgen import prose

from dedup import scan
from dedup.readers import ReadError
from dedup.sources import Selection, path_order, walk


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
    assert [key(e) for e in found] == sorted((key(e) for e in found), key=path_order)
    assert {e.name for e in found if not isinstance(e, ReadError)} == set(files) - {"c/in.txt", "d/e/f/g.txt"}
    errors = {e.path: e.error for e in found if isinstance(e, ReadError)}
    assert set(errors) == {"broken", "a/z/up", "c", "d/e"}
    # "c" (a folder that cannot be listed) sorts before its sibling "c-x.txt", and a
    # folder listed fine sorts as its files' paths do, by stem ("a" before "a-1")
    names = [key(e) for e in found]
    assert names.index("c") < names.index("c-x.txt")
    assert names.index("a/-.txt") < names.index("a.txt") < names.index("a-1.txt") < names.index("a0.txt")


def test_a_scratch_folder_inside_the_scanned_tree_is_not_read(tmp_path, monkeypatch):
    """Review R1 (session 14): the scan writes its shards into ``--tmp-dir`` as soon as
    the first files are signed; a folder listed after that (a lazy walk) handed the
    shard files back as documents ("binary file" errors).  The tree is listed first."""
    from dedup.plan import sign

    monkeypatch.setattr(sign, "SHARD_MIN_CHARS", 20_000)  # ~100 runs: signing starts long before zz is reached
    rng = random.Random(7)
    for i in range(300):
        folder = tmp_path / "docs" / f"{i // 30:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:03d}.txt").write_text("\n\n".join(prose(rng, 150) for _ in range(8)))
    result = scan(tmp_path / "docs", jobs=2, tmp_dir=tmp_path / "docs" / "zz")
    assert result.errors == [] and len(result.documents) == 300


def test_each_file_carries_the_walks_stat_of_it(tricky):
    root, _ = tricky
    for entry in walk(root, Selection(exclude=["broken"])):
        if isinstance(entry, ReadError):
            continue
        st = os.stat(entry.path)
        assert entry.identity == (st.st_dev, st.st_ino) and entry.size == st.st_size
    single = next(walk(root / "z.txt"))
    assert (single.name, single.size) == ("z.txt", os.stat(root / "z.txt").st_size)


def test_an_original_comes_before_the_copies_named_after_it(tmp_path):
    """New user's N20 (session 18): by the bytes of the whole name ' ' and '-' sort
    before '.', so ``story (1).txt`` and ``ru-copy.txt`` came first, were their groups'
    canonical members, and ``dedup clean`` kept them and dropped the originals."""
    from click.testing import CliRunner

    from dedup.cli import main

    rng = random.Random(3)
    story, ru = "\n\n".join(prose(rng, 60) for _ in range(3)), "\n\n".join(prose(rng, 60) for _ in range(3))
    src = tmp_path / "src"
    src.mkdir()
    (src / "story.txt").write_text(story)
    (src / "story (1).txt").write_text(story.replace(".", "!", 1))
    (src / "ru.txt").write_text(ru)
    (src / "ru-copy.txt").write_text(ru + "\n\nMore.")
    assert [e.name for e in walk(src)] == ["ru.txt", "ru-copy.txt", "story.txt", "story (1).txt"]
    result = scan(src, levels=["document"])
    assert sorted(g.canonical.path for g in result.groups) == ["ru.txt", "story.txt"]
    res = CliRunner().invoke(main, ["clean", str(src), str(tmp_path / "out"), "-j", "1", "--no-cache"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dedup-clean.json", "ru.txt", "story.txt"]


def test_a_glob_lists_its_files_in_the_walks_path_order(tmp_path):
    """A quoted glob (fsspec, :func:`dedup.remote.expand`) orders its files as a folder's
    walk does -- stem first -- so ``'news/*.txt'`` keeps the original canonical too."""
    pytest.importorskip("fsspec")
    from dedup.remote import expand

    for name in ("story (1).txt", "story.txt", "story-copy.txt", "a.txt"):
        (tmp_path / name).write_text("same words here")
    _, found = expand(f"{tmp_path}/*.txt")
    walked = [entry.name for entry in walk(tmp_path)]
    assert [os.path.basename(name) for name, _ in found] == [os.path.basename(n) for n in walked]
    assert [os.path.basename(name) for name, _ in found][:2] == ["a.txt", "story.txt"]


def dag_of_links(root: Path, levels: int) -> None:
    """Folders d0 .. d{levels}, each d{i} holding two links, x and y, to d{i+1}: 2^levels
    paths from d0 to the one file in the last folder."""
    for i in range(levels + 1):
        (root / f"d{i}").mkdir()
    for i in range(levels):
        for name in ("x", "y"):
            os.symlink(f"../d{i + 1}", root / f"d{i}" / name)
    (root / f"d{levels}" / "leaf.txt").write_text("leaf words of a text that is here at the end\n")


def test_a_folder_reached_through_several_links_is_walked_once(tmp_path, monkeypatch):
    # Tester T9 (session 24): 25 folders and 48 links made 2^24 paths, a scan that never ended.
    import dedup.sources as sources

    dag_of_links(tmp_path, 24)
    entered, scandir = [], os.scandir

    def counted(path):
        entered.append(path)
        assert len(entered) <= 1000, "walked 2^24 paths"  # fails at once instead of running for hours
        return scandir(path)

    monkeypatch.setattr(sources.os, "scandir", counted)
    entries = list(walk(tmp_path / "d0"))
    assert len(entered) == 25  # each folder once: linear, not 2^24
    assert [e.name for e in entries] == ["x/" * 24 + "leaf.txt"]  # under its first path in path order


def test_the_path_a_folder_is_walked_under_does_not_depend_on_listing_order(tmp_path, monkeypatch):
    import dedup.sources as sources

    dag_of_links(tmp_path, 3)
    scandir = os.scandir
    monkeypatch.setattr(sources.os, "scandir", lambda path: reversed(list(scandir(path))))
    assert [e.name for e in walk(tmp_path / "d0")] == ["x/x/x/leaf.txt"]
