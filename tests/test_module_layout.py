"""Modules split along their concerns (review R8 of session 22: modules past ~400
lines) keep their public names where they were: each old import path gives the very
object the new module defines, so callers and ``dedup.storage``'s scheme table (which
names ``dedup.storage.sqlite:own_files``) keep working."""

from __future__ import annotations

import importlib

import pytest

MOVED = [
    # (old module, name, new module)
    ("dedup.storage.sqlite", "own_files", "dedup.storage.sqlite.url"),
    ("dedup.storage.sqlite", "sqlite_path", "dedup.storage.sqlite.url"),
    ("dedup.storage.redis", "RedisStorage", "dedup.storage.redis.store"),
    ("dedup.index", "LIST_PAGE", "dedup.index.collection"),
    ("dedup.index", "OPTIMIZE_AFTER", "dedup.index.upkeep"),
    ("dedup.index", "OPTIMIZE_SHARE", "dedup.index.upkeep"),
    # review R6 of session 24
    ("dedup.storage.protocol", "StorageError", "dedup.storage.errors"),
    ("dedup.storage.protocol", "IndexCorrupt", "dedup.storage.errors"),
    ("dedup.storage.protocol", "SettingsMismatch", "dedup.storage.errors"),
    ("dedup.storage.protocol", "ParagraphRows", "dedup.storage.rows"),
    ("dedup.storage.protocol", "NewDocument", "dedup.storage.rows"),
    ("dedup.storage", "StorageError", "dedup.storage.errors"),
    ("dedup", "SettingsMismatch", "dedup.storage.errors"),
    ("dedup.cli.output", "LeftOut", "dedup.cli.left_out"),
    ("dedup.cli.output", "refuse_input", "dedup.cli.left_out"),
    ("dedup.plan.dask", "WORKER_CONFIG", "dedup.plan.dask_cluster"),
]


@pytest.mark.parametrize("old, name, new", MOVED)
def test_a_moved_name_is_still_found_where_it_was(old, name, new):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_the_index_keeps_its_collection_and_upkeep_verbs():
    from dedup.index import Index
    from dedup.index.collection import Collection
    from dedup.index.upkeep import Upkeep

    for verb in ("remove", "ids", "__iter__", "documents", "prune"):
        assert getattr(Index, verb) is getattr(Collection, verb), verb
    for verb in ("optimize", "_optimize_if_behind"):
        assert getattr(Index, verb) is getattr(Upkeep, verb), verb


def test_the_redis_store_keeps_its_document_reads():
    from dedup.storage.redis.documents import DocumentReads
    from dedup.storage.redis.store import RedisStorage

    for verb in ("documents", "document_texts", "document_copies", "document_sets", "paragraph_places",
                 "_read_paragraphs"):
        assert getattr(RedisStorage, verb) is getattr(DocumentReads, verb), verb


def test_the_sqlite_errors_are_translated_by_their_own_module():
    import dedup.storage.sqlite.errors as errors
    import dedup.storage.sqlite.store as store
    import dedup.storage.sqlite.upkeep as upkeep

    assert store.translate is errors.translate and store.undecodable is errors.undecodable
    assert upkeep.translate_os is errors.translate_os


def test_every_backend_and_files_entry_names_a_function_that_is_there():
    from dedup.storage import BACKENDS, FILES

    for entry in {**BACKENDS, **FILES}.values():
        module, function = entry.split(":")
        assert callable(getattr(importlib.import_module(module), function)), entry
