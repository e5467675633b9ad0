"""``--db`` / ``Index.open`` take a path or a URL: the backend is chosen by its scheme."""

from __future__ import annotations

import sys

import pytest

from dedup import Index, StorageError
from dedup.storage import scheme_of
from dedup.storage.sqlite import sqlite_path


@pytest.mark.parametrize("url, scheme", [
    ("index.dedup", ""),
    ("/abs/index.dedup", ""),
    ("odd:name.dedup", ""),  # a colon in a file name is not a scheme
    ("C:\\data\\i.dedup", ""),
    ("sqlite:///rel.dedup", "sqlite"),
    ("file:/abs/i.dedup", "file"),
    ("redis://127.0.0.1:6390/0?prefix=news", "redis"),
    ("REDISS://h:6390/0", "rediss"),
    ("unix:///run/redis.sock?db=2", "unix"),
    ("mongodb://h/x", "mongodb"),
])
def test_scheme_of(url, scheme):
    assert scheme_of(url) == scheme


@pytest.mark.parametrize("url, path", [
    ("sqlite:///rel.dedup", "rel.dedup"),
    ("sqlite:////abs/i.dedup", "/abs/i.dedup"),
    ("file:///abs/i%20x.dedup", "/abs/i x.dedup"),
    ("file:rel.dedup", "rel.dedup"),
    ("plain.dedup", "plain.dedup"),
])
def test_sqlite_urls_name_files(url, path):
    assert sqlite_path(url) == path


def test_a_sqlite_url_opens_the_same_file_as_its_path(tmp_path):
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add("a paragraph long enough to be compared with others, " * 3, "a")
    with Index.open(f"sqlite:///{tmp_path}/i.dedup") as idx:
        assert "a" in idx and len(idx) == 1


def test_an_unknown_scheme_is_a_clear_error_with_the_password_masked():
    with pytest.raises(StorageError, match=r"mongodb://u:\*\*\*@h/x: unknown index URL scheme 'mongodb'") as err:
        Index.open("mongodb://u:secret@h/x")
    assert "secret" not in str(err.value)


def test_an_sqlite_url_sets_how_long_a_write_waits_for_a_lock(tmp_path):
    """Tester's F6 (session 16): two of four concurrent ``index add`` gave up after the
    fixed 30 s; ``?busy=SECONDS`` on a ``sqlite:``/``file:`` URL sets the wait (as Redis
    URLs have since session 15), and the busy error says how."""
    import sqlite3
    import time

    from dedup.index import Index
    from dedup.storage import IndexBusy, StorageError, own_files

    db = tmp_path / "i.dedup"
    with Index.open(db) as idx:
        idx.add("the harbour bridge closes to lorries after engineers found corrosion", doc_id="a")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write lock
    try:
        with Index.open(f"sqlite:///{db}?busy=0.3") as idx:
            started = time.monotonic()
            with pytest.raises(IndexBusy, match=r"more than 0.3 s .*\?busy=SECONDS"):
                idx.add("a library reopens after two years of renovation work downtown", doc_id="b")
            assert time.monotonic() - started < 10
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Index.open(f"file:{db}?busy=5") as idx:
        assert "a" in idx and idx.add("a library reopens after two years of renovation work", doc_id="b").added
    assert own_files(f"sqlite:///{db}?busy=5")(db)
    for bad in (f"sqlite:///{db}?busy=-1", f"sqlite:///{db}?busy=x", f"sqlite:///{db}?timeout=3"):
        with pytest.raises(StorageError, match="takes only \\?busy=SECONDS"):
            Index.open(bad)


def test_busy_in_the_url_and_busy_timeout_may_not_disagree_and_a_question_mark_is_explained(tmp_path):
    """A new user of session 16: ``?busy=`` overrode an explicit ``busy_timeout``
    without a word, and a ``?`` of a file name in a ``sqlite:`` URL was "a bad option"
    with no hint of ``%3F``."""
    from dedup.index import Index
    from dedup.storage import StorageError

    db = tmp_path / "i.dedup"
    Index.open(db).close()
    with pytest.raises(StorageError, match=r"\?busy=5 in the URL and busy_timeout=60 disagree"):
        Index.open(f"sqlite:///{db}?busy=5", busy_timeout=60)
    for same in ({"busy_timeout": 5}, {}):  # the same wait, or the default: the URL's
        Index.open(f"sqlite:///{db}?busy=5", **same).close()
    odd = tmp_path / "what?.dedup"
    with pytest.raises(StorageError, match="%3F"):
        Index.open(f"sqlite:///{odd}")
    with Index.open(f"sqlite:///{str(odd).replace('?', '%3F')}") as idx:
        assert idx.path and odd.exists()
    Index.open(odd).close()  # a plain path: the name as it is


def test_a_redis_url_without_the_redis_library_names_the_extra(monkeypatch):
    """Tester's F6 (session 18): without the redis extra, ``import redis`` ran inside
    open_redis, after open_storage's clear message, and escaped as ModuleNotFoundError."""
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis fails, as when it is not installed
    with pytest.raises(StorageError, match=r"redis://u:\*\*\*@127.0.0.1:1/0: the redis backend needs a library "
                                           r"that is not installed .*pip install -e '\.\[redis\]' in dedup's checkout"):
        Index.open("redis://u:pw@127.0.0.1:1/0")


def test_an_import_error_of_an_sqlite_open_is_not_called_a_missing_redis_extra(tmp_path, monkeypatch):
    """Whole-diff re-read R20 (session 18): the ImportError guard around the opener said
    "install dedup with the redis extra" for any ImportError, an SQLite index's too (a
    broken install, a lazy import failing); only a backend's own library is an extra."""
    import dedup.storage.sqlite as sqlite_backend

    def broken(*args, **kwargs):
        raise ImportError("cannot import name 'checks'", name="dedup.storage.sqlite.checks")

    monkeypatch.setattr(sqlite_backend, "open_sqlite_url", broken)
    with pytest.raises(ImportError, match="checks"):
        Index.open(str(tmp_path / "i.dedup"))


def test_the_redis_modules_import_no_private_name_from_each_other():
    """Review R3 (session 18): multimap.py and the other Redis modules imported url.py's
    private ``_guarded`` (and ``_is_redis_error``); what they share is public."""
    import ast
    from pathlib import Path

    import dedup.storage.redis as backend

    private = [(path.name, alias.name)
               for path in Path(backend.__file__).parent.glob("*.py")
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ImportFrom) and node.level > 0
               for alias in node.names if alias.name.startswith("_")]
    assert private == []
