"""The signature cache: reused when nothing changed, never stale, never pickled."""

from __future__ import annotations

import importlib
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from dedup import Settings, scan
from dedup.cache import SignatureCache, default_cache_dir
from dedup.cli import main
from dedup.readers import ReadOptions
from dedup.corpus import Corpus
from dedup.plan.sign import batches, sign_batch
from dedup.scan import read_paths
from dedup.sources import Selection
from textgen import prose, rewrite, write_docs


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    module = importlib.import_module("dedup.plan.sign")
    monkeypatch.setattr(module, "BATCH_DOCUMENTS", 4)
    monkeypatch.setattr(module, "BATCH_MAX_DOCUMENTS", 8)


@pytest.fixture
def folder(tmp_path, rng):
    base = [prose(rng, 50) for _ in range(6)]
    docs = {f"d{i:02d}.txt": [rewrite(rng, base[i % 6], 0.05), prose(rng, 40)] for i in range(24)}
    return write_docs(tmp_path / "docs", docs)


def pairs_of(result):
    return sorted((p.kind, p.a.path, p.a.paragraph, p.b.path, p.b.paragraph, p.similarity) for p in result.pairs)


def corpus_of(folder, settings, cache):
    docs = [d for d in read_paths([folder], Selection(), ReadOptions()) if hasattr(d, "text")]
    return Corpus.concat([sign_batch(b, settings, cache) for b in batches(docs)], settings.num_perm)


def test_second_scan_reads_every_batch_from_the_cache(folder, tmp_path):
    settings = Settings()
    first = SignatureCache(tmp_path / "cache", settings)
    cold = corpus_of(folder, settings, first)
    assert first.stats.hits == 0 and first.stats.misses > 3
    second = SignatureCache(tmp_path / "cache", settings)
    warm = corpus_of(folder, settings, second)
    assert second.stats.hits == first.stats.misses and second.stats.misses == 0
    for name in ("para_start", "para_end", "para_words", "para_key", "signatures", "para_doc", "para_index"):
        assert np.array_equal(getattr(cold, name), getattr(warm, name)), name
    assert np.array_equal(cold.shingles.hashes, warm.shingles.hashes)
    assert cold.documents == warm.documents and cold.para_preview == warm.para_preview


def test_result_reflects_a_changed_file(folder, tmp_path):
    cache = tmp_path / "cache"
    before = scan(folder, cache_dir=cache)
    target = folder / "d07.txt"
    # Same size and same modification time: only the content says it changed.
    stat = target.stat()
    text = target.read_text()
    target.write_text(text.replace(text.split()[3], "X" * len(text.split()[3]), 1)[: len(text)])
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (folder / "d08.txt").write_text((folder / "d01.txt").read_text())  # now an exact copy
    after = scan(folder, cache_dir=cache)
    assert pairs_of(after) == pairs_of(scan(folder))  # identical to a scan without cache
    assert pairs_of(after) != pairs_of(before)
    assert any(p.exact and p.kind == "document" and p.b.path == "d08.txt" for p in after.pairs)


def test_entries_are_plain_arrays_written_atomically(folder, tmp_path):
    cache = SignatureCache(tmp_path / "cache", Settings())
    corpus_of(folder, Settings(), cache)
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".npz" and not p.name.startswith(".tmp") for p in files)
    for path in files:
        with np.load(path, allow_pickle=False) as data:  # raises if anything needs pickle
            assert data["signatures"].dtype == np.uint32
            assert all(data[name].dtype != object for name in data.files)


def test_damaged_entry_is_a_miss_and_is_rewritten(folder, tmp_path):
    settings = Settings()
    reference = corpus_of(folder, settings, None)
    corpus_of(folder, settings, SignatureCache(tmp_path / "cache", settings))
    entries = sorted((tmp_path / "cache").rglob("*.npz"))
    entries[0].write_bytes(entries[0].read_bytes()[:100])  # truncated
    entries[1].write_bytes(b"not a zip file at all")
    cache = SignatureCache(tmp_path / "cache", settings)
    again = corpus_of(folder, settings, cache)
    assert cache.stats.damaged == 2 and cache.stats.hits == len(entries) - 2
    assert np.array_equal(again.signatures, reference.signatures)
    fresh = SignatureCache(tmp_path / "cache", settings)
    corpus_of(folder, settings, fresh)
    assert fresh.stats.damaged == 0 and fresh.stats.misses == 0


def test_other_signing_settings_never_share_entries(folder, tmp_path):
    corpus_of(folder, Settings(), SignatureCache(tmp_path / "cache", Settings()))
    other = Settings(ngram=3)
    cache = SignatureCache(tmp_path / "cache", other)
    corpus = corpus_of(folder, other, cache)
    assert cache.stats.hits == 0
    assert np.array_equal(corpus.signatures, corpus_of(folder, other, None).signatures)
    # Thresholds do not change signatures: those settings share the entries.
    looser = SignatureCache(tmp_path / "cache", Settings(threshold=0.5))
    corpus_of(folder, Settings(threshold=0.5), looser)
    assert looser.stats.misses == 0


def test_unwritable_cache_warns_and_scans(folder, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="cannot write to the cache"):
        result = scan(folder, cache_dir=blocker)
    assert pairs_of(result) == pairs_of(scan(folder))


def test_cli_cache_options(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path / "default"))
    assert default_cache_dir() == tmp_path / "default"
    runner = CliRunner()
    plain = runner.invoke(main, ["scan", str(folder), "--format", "json", "--no-cache"])
    assert not (tmp_path / "default").exists()
    cached = runner.invoke(main, ["scan", str(folder), "--format", "json"])
    assert any((tmp_path / "default").rglob("*.npz"))
    explicit = runner.invoke(main, ["scan", str(folder), "--format", "json", "--cache-dir", str(tmp_path / "mine")])
    again = runner.invoke(main, ["scan", str(folder), "--format", "json", "--cache-dir", str(tmp_path / "mine")])
    assert any((tmp_path / "mine").rglob("*.npz"))
    assert plain.stdout == cached.stdout == explicit.stdout == again.stdout
    assert json.loads(plain.stdout)["pairs"]


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("DEDUP_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "dedup"


def test_half_written_entries_of_a_dead_scan_are_swept(tmp_path):
    import os
    import time

    from dedup.cache import SignatureCache
    from dedup.settings import Settings

    cache = SignatureCache(tmp_path, Settings())
    (cache.folder / "ab").mkdir(parents=True)
    old = cache.folder / "ab" / ".tmp-dead.npz"
    young = cache.folder / "ab" / ".tmp-busy.npz"
    old.write_bytes(b"half")
    young.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    SignatureCache(tmp_path, Settings())  # the next scan opens the cache
    assert not old.exists() and young.exists()
