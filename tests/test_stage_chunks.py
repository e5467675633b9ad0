"""The document and band stages work through a shard a chunk at a time (U2 of #12: the
document stage read a shard's signatures whole, 1 KB a paragraph, and a scan of one
million one-line paragraphs peaked at 1.6 GB at ``--level document``; the band stage
held the shard's signatures and all its bucket rows): the same files and reports
whatever the chunk, a document spanning chunks included, and memory that follows the
chunk, not the shard."""

from __future__ import annotations

import json
import random
import shutil
import tracemalloc

import numpy as np
import pytest
from textgen import prose, rewrite

from dedup import scan
from dedup.plan import band, documents, items, job
from dedup.plan.exact import exact_partition
from dedup.plan.documents import document_runs, document_shard
from dedup.plan.scratch import Scratch, save
from dedup.plan.sign import ShardTask, batches, sign_shard
from dedup.readers import Document
from dedup.settings import Settings

FOOTER = "Subscribe to our newsletter for the latest news from the harbour and the council every morning"


def corpus(rng: random.Random) -> dict[str, str]:
    """Short documents around long ones, near-duplicate pairs among both, a footer in
    every document (boilerplate at ``boilerplate=3``), an empty document and one that
    is only the footer."""
    base = [prose(rng, 25) for _ in range(30)]
    long_a = "\n\n".join(base[:23] + [FOOTER])  # 24 paragraphs: spans chunks of 5 or 7
    long_b = "\n\n".join([rewrite(rng, p, 0.05) for p in base[:23]] + [FOOTER])
    docs = {"long-a.txt": long_a, "long-b.txt": long_b, "empty.txt": "", "footer.txt": FOOTER,
            "lines.txt": "\n".join(prose(rng, 9) for _ in range(17))}
    for i in range(8):
        own = [prose(rng, 20) for _ in range(rng.randint(1, 4))]
        docs[f"short-{i}.txt"] = "\n\n".join(own + [FOOTER])
        if i % 3 == 0:
            docs[f"short-{i}-copy.txt"] = "\n\n".join([rewrite(rng, p, 0.05) for p in own] + [FOOTER])
    return docs


@pytest.fixture
def folder(tmp_path, rng):
    root = tmp_path / "docs"
    root.mkdir()
    for name, text in corpus(rng).items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def report(root, jobs: int = 1, **options) -> str:
    return json.dumps(scan(root, Settings(boilerplate=3), jobs=jobs, **options).to_dict(), sort_keys=True)


@pytest.mark.parametrize("levels", [("document", "paragraph"), ("document",)])
def test_the_report_is_the_same_whatever_the_chunk(folder, monkeypatch, levels):
    expected = report(folder, levels=levels)
    found = json.loads(expected)
    assert {p["kind"] for p in found["pairs"]} == set(levels)
    assert bool(found["boilerplate"]) == ("paragraph" in levels)  # the footer (reported with paragraphs)
    assert any("long-a.txt" in (p["a"]["path"], p["b"]["path"]) for p in found["pairs"] if p["kind"] == "document")
    for chunk in (1, 5, 7):  # 5 and 7: the long documents span chunks, the short ones share them
        monkeypatch.setattr(documents, "READ_PARAGRAPHS", chunk)
        monkeypatch.setattr(band, "CHUNK_ROWS", 60 * chunk)  # a chunk of 1-2 items' band (49) and containment rows
        monkeypatch.setattr(items, "KEEP_CHUNK", chunk)
        for jobs in (1, 2):
            assert report(folder, jobs, levels=levels, partitions=3) == expected, (chunk, jobs)


def document_files(tmp_path, name: str, texts: dict[str, str], settings: Settings) -> dict:
    """The document files of one shard of ``texts``, with the text of ``footer.txt``
    as boilerplate."""
    scratch = Scratch(tmp_path / name)
    info = sign_shard(scratch, ShardTask(0, list(batches(Document(p, t) for p, t in texts.items()))), settings)
    keys, doc = np.load(scratch.shard(0, "paragraph", "keys")), np.load(scratch.shard(0, "paragraph", "doc"))
    save(scratch.texts("common"), keys[doc == list(texts).index("footer.txt")])
    plan = job._level_plan(scratch, "paragraph", settings, [info.items["paragraph"]],
                           info.long_enough["paragraph"], None, 1)
    count, long = document_shard(plan, 0, False)
    assert np.load(scratch.shard(0, "paragraph", "common")).sum() == len([t for t in texts.values() if FOOTER in t])
    folder = scratch.shard(0, "document", "keys").parent
    files = {p.name: np.load(p) for p in sorted(folder.glob("document.*"))}
    assert len(files["document.keys.npy"]) == count == len(texts)
    assert long == (files["document.tokens.npy"] >= settings.min_tokens).sum()
    return files


def test_document_files_are_the_same_bytes_whatever_the_chunk(tmp_path, rng, monkeypatch):
    texts = corpus(rng)
    settings = Settings()
    whole = document_files(tmp_path, "whole", texts, settings)
    assert whole["document.sigs.npy"].shape == (len(texts), settings.num_perm)
    for chunk in (1, 3, 5):
        monkeypatch.setattr(documents, "READ_PARAGRAPHS", chunk)
        chunked = document_files(tmp_path, f"chunk-{chunk}", texts, settings)
        assert chunked.keys() == whole.keys()
        for name, array in whole.items():
            assert chunked[name].dtype == array.dtype and np.array_equal(chunked[name], array), (chunk, name)


def test_document_runs_keep_documents_whole():
    counts = np.array([2, 0, 3, 9, 1, 1, 0, 4])
    assert list(document_runs(counts, 5)) == [(0, 3), (3, 4), (4, 7), (7, 8)]
    assert list(document_runs(counts, 6)) == [(0, 3), (3, 4), (4, 8)]
    assert list(document_runs(counts, 1)) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 7), (7, 8)]
    assert list(document_runs(np.zeros(0, np.int64), 5)) == []


def test_the_document_stage_holds_a_chunk_of_signatures_not_the_shard(tmp_path, monkeypatch):
    """A shard of 8,000 one-line paragraphs in one document holds 8 MB of signatures
    (256 x 4 bytes each); read whole, as before, the stage allocated ~12 MB.  With
    chunks of 250 paragraphs it holds a chunk's signatures (0.25 MB) and the
    document's shingle set (~4 shingles a paragraph, 8 bytes each, about twice):
    ~0.7 MB, under a quarter of the signatures."""
    rng = random.Random(3)
    lines = "\n".join(" ".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8)) for _ in range(8000))
    settings = Settings()
    scratch = Scratch(tmp_path / "scratch")
    info = sign_shard(scratch, ShardTask(0, list(batches([Document("lines.txt", lines)]))), settings)
    save(scratch.texts("common"), np.zeros(0, np.uint64))
    plan = job._level_plan(scratch, "paragraph", settings, [info.items["paragraph"]],
                           info.long_enough["paragraph"], None, 1)
    sigs = info.items["paragraph"] * settings.num_perm * 4
    monkeypatch.setattr(documents, "READ_PARAGRAPHS", 250)
    tracemalloc.start()
    try:
        assert job.document_shard(plan, 0, False) == (1, 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.items["paragraph"] == 8000 and peak < sigs / 4, (peak, sigs)


def band_files(scratch: Scratch, settings: Settings, items_count: int) -> dict:
    plan = job._level_plan(scratch, "paragraph", settings, [items_count], items_count, 3, 1)
    for k in range(plan.copy_partitions):
        exact_partition(plan, k)
    banded_items = band.band_shard(plan, 0, 0)
    assert 0 < banded_items < items_count  # exact copies and short paragraphs are not banded
    files = {f"{kind}.{name}": np.load(scratch.bands("paragraph", 0, name, kind))
             for kind in ("band", "contain") for name in ("rows", "cuts")}
    files.update({name: np.load(scratch.shard(0, "paragraph", name)) for name in ("kept", "kept_sigs")})
    assert not list(scratch.root.rglob("*.part"))
    return files


def test_band_files_are_the_same_whatever_the_chunk(tmp_path, rng, monkeypatch):
    texts = corpus(rng)
    texts["copy.txt"] = texts["long-a.txt"]
    settings = Settings()
    signed = Scratch(tmp_path / "signed")
    info = sign_shard(signed, ShardTask(0, list(batches(Document(p, t) for p, t in texts.items()))), settings)
    n = info.items["paragraph"]
    shutil.copytree(signed.root, tmp_path / "whole")
    whole = band_files(Scratch(tmp_path / "whole"), settings, n)
    assert len(whole["band.rows"]) > 49 * 40 and (np.diff(whole["band.cuts"]) > 0).all()  # 3 partitions with rows
    for rows, keep in ((49, 1), (100, 7), (1000, 33)):
        monkeypatch.setattr(band, "CHUNK_ROWS", rows)
        monkeypatch.setattr(items, "KEEP_CHUNK", keep)
        shutil.copytree(signed.root, tmp_path / f"chunk-{rows}")
        chunked = band_files(Scratch(tmp_path / f"chunk-{rows}"), settings, n)
        for name, array in whole.items():
            assert chunked[name].dtype == array.dtype and np.array_equal(chunked[name], array), (rows, name)
