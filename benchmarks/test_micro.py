"""Micro-benchmarks of the hot functions, on real text from the benchmark corpus.

Run with ``pytest benchmarks -m benchmark`` (from the project root).  They are kept out
of the default test run twice over: ``testpaths = tests`` and the ``-m "not slow and
not benchmark"`` default in setup.cfg.  They measure only; the sanity checks below
assert shapes and invariants of the results, never a time.

Input: the first ``SAMPLE_DOCS`` documents (in path order) of the small corpus, built
on first use by ``benchmarks/corpus.py``; the same paragraphs for every function, so
the numbers add up along the pipeline.
"""

from __future__ import annotations

import numpy as np
import pytest

import corpus as corpus_builder
from dedup import Settings
from dedup.lsh import band_keys, bucket_pairs
from dedup.minhash import signatures
from dedup.normalize import normalize
from dedup.shingle import shingle
from dedup.split import split_paragraphs
from dedup.segments import SetTable
from dedup.verify import score_pairs

pytestmark = pytest.mark.benchmark

SAMPLE_DOCS = 400
CONFIGS = {
    "5gram-128": Settings(ngram=5, num_perm=128),
    "default": Settings(),
}


@pytest.fixture(scope="session")
def paragraphs() -> list[str]:
    """Normalized paragraphs of the sample documents."""
    manifest = corpus_builder.build(sizes=["small"])["small"]
    folder = corpus_builder.DEFAULT_ROOT / "small"
    texts = []
    for entry in sorted(manifest["files"], key=lambda e: e["path"])[:SAMPLE_DOCS]:
        text = (folder / entry["path"]).read_text(encoding="utf-8")
        texts.extend(normalize(text[s:e]) for s, e in split_paragraphs(text))
    return texts


@pytest.fixture(scope="session", params=list(CONFIGS))
def prepared(request, paragraphs):
    """Every stage's input for one configuration, computed once."""
    settings = CONFIGS[request.param]
    sh = shingle(paragraphs, settings.unit, settings.ngram)
    sigs = signatures(sh, settings.num_perm, settings.seed)
    keys = band_keys(sigs, settings.bands, settings.rows)
    pairs = bucket_pairs(*band_rows(keys))
    return settings, sh, sigs, keys, pairs


def band_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(key, item)`` rows of an ``(items, bands)`` key matrix (band keys are salted
    with their band: one run of :func:`bucket_pairs` pairs every band), as the band
    stage writes them (:mod:`dedup.plan.band`)."""
    return keys.ravel(), np.repeat(np.arange(len(keys)), keys.shape[1])


def test_shingle(benchmark, paragraphs, prepared):
    settings = prepared[0]
    sh = benchmark(shingle, paragraphs, settings.unit, settings.ngram)
    assert len(sh) == len(paragraphs)
    assert sh.offsets[-1] == len(sh.hashes)


def test_signatures(benchmark, prepared):
    settings, sh = prepared[0], prepared[1]
    sigs = benchmark(signatures, sh, settings.num_perm, settings.seed)
    assert sigs.shape == (len(sh), settings.num_perm)
    assert sigs.dtype == np.uint32


def test_band_keys(benchmark, prepared):
    settings, _, sigs = prepared[:3]
    keys = benchmark(band_keys, sigs, settings.bands, settings.rows)
    assert keys.shape == (len(sigs), settings.bands)


def test_bucket_pairs(benchmark, prepared):
    keys, items = band_rows(prepared[3])
    pairs = benchmark(bucket_pairs, keys, items)
    assert pairs.ndim == 2 and pairs.shape[1] == 2
    assert (pairs[:, 0] < pairs[:, 1]).all()


def test_score_pairs(benchmark, prepared):
    sh, pairs = prepared[1], prepared[4]
    table = SetTable.from_shingles(sh)
    scores = benchmark(score_pairs, table, pairs)
    assert len(scores.jaccard) == len(pairs)
    assert ((scores.jaccard >= 0) & (scores.jaccard <= 1)).all()
