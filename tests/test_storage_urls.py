"""``--db`` / ``Index.open`` take a path or a URL: the backend is chosen by its scheme."""

from __future__ import annotations

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
