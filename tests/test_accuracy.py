"""Detection accuracy at the default settings on generated rewrites of known edit rates.

Paragraphs are rewritten with seeded word substitutions, insertions and deletions and
scattered over a corpus of unrelated paragraphs; recall is asserted per edit rate and
precision over everything reported.  (Real-text figures: README "Accuracy", from
the eval-dev sets.)
"""

import random
import re

import pytest

from dedup import Document, scan_documents
from textgen import prose, rewrite

LEVELS = (0.0, 0.05, 0.10, 0.20)
MIN_RECALL = {0.0: 1.0, 0.05: 0.99, 0.10: 0.98, 0.20: 0.90}


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(7)
    originals = [prose(rng, rng.randint(40, 90)) for _ in range(240)]
    docs = [[] for _ in range(60)]
    for i, text in enumerate(originals):
        docs[i % 60].append(("orig", i, text))
    injected = {}
    for k, level in enumerate(LEVELS):
        for i in range(k * 60, k * 60 + 60):
            copy = originals[i] if level == 0 else rewrite(rng, originals[i], level)
            target = rng.randrange(60)  # sometimes the same document: within-file reuse
            docs[target].insert(rng.randrange(len(docs[target]) + 1), ("copy", i, copy))
            injected[i] = level
    documents, where = [], {}
    for d, paragraphs in enumerate(docs):
        documents.append(Document(f"doc{d:02}.txt", "\n\n".join(t for _, _, t in paragraphs)))
        for p, (role, i, _) in enumerate(paragraphs):
            where[(f"doc{d:02}.txt", p)] = (role, i)
    return documents, where, injected


def test_recall_by_edit_rate_and_precision(corpus):
    documents, where, injected = corpus
    result = scan_documents(documents, levels=["paragraph"])
    found, false = set(), []
    for p in result.pairs:
        a, b = where[(p.a.path, p.a.paragraph)], where[(p.b.path, p.b.paragraph)]
        if a[1] == b[1]:
            found.add(a[1])
        else:
            false.append((a, b, p.similarity))
    for level in LEVELS:
        wanted = [i for i, lv in injected.items() if lv == level]
        recall = sum(i in found for i in wanted) / len(wanted)
        assert recall >= MIN_RECALL[level], (level, recall)
    precision = 1 - len(false) / max(1, len(result.pairs))
    assert precision >= 0.99, false[:5]


def test_reported_scores_are_exact_and_estimates_close(corpus):
    documents, _, _ = corpus
    result = scan_documents(documents, levels=["paragraph"])
    near = [p for p in result.pairs if not p.exact]
    assert len(near) > 150
    # sd of the 256-permutation estimate is at most 0.031; allow 4 sd per pair.
    assert all(abs(p.estimate - p.similarity) < 0.125 for p in near)
    assert all(p.similarity >= 0.3 for p in near)
    # The reported similarity is the exact Jaccard of the word-2-gram sets.
    texts = {d.path: d.text.split("\n\n") for d in documents}
    for p in near[:50]:
        a = bigrams(texts[p.a.path][p.a.paragraph])
        b = bigrams(texts[p.b.path][p.b.paragraph])
        assert p.similarity == pytest.approx(len(a & b) / len(a | b))
        assert p.containment == pytest.approx((len(a & b) / len(a), len(a & b) / len(b)))


def bigrams(text: str) -> set[tuple[str, str]]:
    words = re.findall(r"\w+", text.lower())
    return set(zip(words, words[1:]))
