"""Several processes give exactly the single-process result; batches are cut by content."""

from __future__ import annotations

import importlib
import json
import random

import pytest
from click.testing import CliRunner

from dedup.cli import main
from dedup.readers import Document
from dedup.plan.sign import batches
from textgen import prose, rewrite, write_docs


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of ~4 documents, so that a small folder spans many batches and workers."""
    module = importlib.import_module("dedup.plan.sign")
    monkeypatch.setattr(module, "BATCH_DOCUMENTS", 4)
    monkeypatch.setattr(module, "BATCH_MAX_DOCUMENTS", 8)


def corpus_docs(rng: random.Random, n: int = 40) -> dict[str, list[str]]:
    base = [prose(rng, 60) for _ in range(12)]
    docs = {}
    for i in range(n):
        paras = [rewrite(rng, rng.choice(base), 0.1) if rng.random() < 0.5 else prose(rng, 50) for _ in range(4)]
        docs[f"d{i:03d}.txt"] = paras + [base[i % 3]]  # exact copies too
    return docs


def test_cli_report_is_identical_with_one_and_two_jobs(tmp_path, rng, small_batches):
    root = write_docs(tmp_path / "docs", corpus_docs(rng))
    (root / "zz-binary.txt").write_bytes(b"\x00\x01binary")  # a read error, reported in order
    runner = CliRunner()
    reports = {}
    for jobs in ("1", "2"):
        out = runner.invoke(main, ["scan", str(root), "--format", "json", "--no-cache", "-j", jobs])
        assert out.exit_code == 1, out.output  # duplicates found
        reports[jobs] = out.stdout
    assert reports["1"] == reports["2"]
    report = json.loads(reports["2"])
    assert len(report["documents"]) == 40 and report["pairs"]
    assert [e["path"] for e in report["errors"]] == ["zz-binary.txt"]


def test_batch_boundaries_depend_on_content_not_position(rng):
    # Inserting a document near the front must leave later batches unchanged, which
    # is what keeps the cache hitting after a file is added.
    docs = [Document(f"d{i:04d}", prose(rng, 30)) for i in range(3000)]
    before = {tuple(b.digests) for b in batches(docs)}
    after = {tuple(b.digests) for b in batches([docs[0], Document("new", "a new document"), *docs[1:]])}
    assert len(before) > 5
    assert len(before - after) <= 2  # only the batch that received the new document


def test_batches_keep_every_document_in_order(rng):
    docs = [Document(f"d{i}", prose(rng, 5)) for i in range(1000)]
    assert [d for b in batches(docs) for d in b.documents] == docs


def test_cli_rejects_zero_jobs(tmp_path):
    (tmp_path / "a.txt").write_text("some text here\n")
    out = CliRunner().invoke(main, ["scan", str(tmp_path), "-j", "0", "--no-cache"])
    assert out.exit_code == 2 and "jobs" in out.output
