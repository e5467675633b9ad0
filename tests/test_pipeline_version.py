"""Normalization/pipeline version 6 (2: tokenization by script; 3: Thai-family shingle
width; 4: Greek accents dropped; 5: Russian ё as е; 6: Arabic-script letter forms and
every script's digits folded): an index of another version is refused, the signature cache keeps versions
apart (rebuilt, never mixed)."""

import pytest

import dedup.settings
import dedup.storage.compat
from dedup import Index, Settings, SettingsMismatch
from dedup.cache import SignatureCache
from dedup.settings import NORMALIZE_VERSION

TEXT = "The council approved the new budget on Tuesday after a long debate about school funding."


def test_the_version_was_bumped_for_each_change_of_what_a_text_hashes_to():
    assert NORMALIZE_VERSION == 6


def test_an_index_of_the_old_version_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "old.dedup"
    monkeypatch.setattr(dedup.storage.compat, "NORMALIZE_VERSION", 1)
    with Index.open(path) as idx:
        idx.add(TEXT, doc_id="a")
    monkeypatch.undo()
    with pytest.raises(SettingsMismatch, match="rebuild the index"):
        Index.open(path)


def test_cache_entries_of_another_version_are_not_used(tmp_path, monkeypatch):
    new = SignatureCache(tmp_path, Settings()).folder
    monkeypatch.setattr(dedup.settings, "NORMALIZE_VERSION", 1)
    old = SignatureCache(tmp_path, Settings()).folder
    assert old != new
