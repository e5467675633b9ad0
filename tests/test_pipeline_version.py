"""Normalization/pipeline version 7 (2: tokenization by script; 3: Thai-family shingle
width; 4: Greek accents dropped; 5: Russian ё as е; 6: Arabic-script letter forms and
every script's digits folded; 7: a ZWNJ in an Arabic-script word is a space): an index of another version is refused, the signature cache keeps versions
apart (rebuilt, never mixed)."""

import pytest

import dedup.settings
import dedup.storage.compat
from dedup import Index, Settings, SettingsMismatch
from dedup.cache import SignatureCache
from dedup.settings import NORMALIZE_VERSION

TEXT = "The council approved the new budget on Tuesday after a long debate about school funding."


def test_the_version_was_bumped_for_each_change_of_what_a_text_hashes_to():
    assert NORMALIZE_VERSION == 7


def test_an_index_of_the_old_version_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "old.dedup"
    monkeypatch.setattr(dedup.storage.compat, "NORMALIZE_VERSION", 1)
    with Index.open(path) as idx:
        idx.add(TEXT, doc_id="a")
    monkeypatch.undo()
    with pytest.raises(SettingsMismatch, match="rebuild the index"):
        Index.open(path)


def test_an_index_of_version_6_is_refused_naming_both_versions(tmp_path, monkeypatch):
    """An index written before the ZWNJ rule (version 6) holds Persian text hashed with
    its word parts joined: opening it says which versions differ and what to do."""
    path = tmp_path / "v6.dedup"
    monkeypatch.setattr(dedup.storage.compat, "NORMALIZE_VERSION", 6)
    with Index.open(path) as idx:
        idx.add(TEXT, doc_id="a")
    monkeypatch.undo()
    with pytest.raises(SettingsMismatch) as err:
        Index.open(path)
    assert str(err.value) == (f"{path}: built with text normalization version 6, "
                              "this dedup normalizes with version 7; rebuild the index")


def test_cache_entries_of_another_version_are_not_used(tmp_path, monkeypatch):
    new = SignatureCache(tmp_path, Settings()).folder
    monkeypatch.setattr(dedup.settings, "NORMALIZE_VERSION", 1)
    old = SignatureCache(tmp_path, Settings()).folder
    assert old != new
