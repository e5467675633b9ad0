"""Work that must stay linear in the corpus: boilerplate repeated 10,000 times, and
signatures batched across many paragraphs of every length.  These tests count
candidates and verified pairs (work), never wall-clock time."""

from __future__ import annotations

import random

import numpy as np
import pytest
import xxhash
from datasketch import MinHash

import dedup.plan.candidates
import dedup.plan.verify
from dedup import Document, Settings, scan_documents
from dedup.minhash import fold32, signatures
from dedup.shingle import _token_hashes, shingle
from dedup.tokenize import tokenize
from textgen import prose

COPIES = 10_000


class Counter:
    """Wraps a detect-stage function and records the sizes it was given/returned."""

    def __init__(self, func, measure):
        self.func, self.measure, self.sizes = func, measure, []

    def __call__(self, *args, **kwargs):
        result = self.func(*args, **kwargs)
        self.sizes.append(self.measure(args, result))
        return result


@pytest.fixture
def work(monkeypatch):
    # The distinct candidates of each band partition, band pairs and containment pairs
    # (dedup.containment) alike, in one list: what a partition's splits found, folded
    # (candidates._paired; a partition of more than SPLIT_ROWS rows is paired a split at
    # a time, and a pair whose bands fall in several splits is found in each).
    candidates = Counter(dedup.plan.candidates._paired, lambda args, out: len(out))
    verified = Counter(dedup.plan.verify.score_pairs, lambda args, out: len(args[1]))
    monkeypatch.setattr(dedup.plan.candidates, "_paired", candidates)
    monkeypatch.setattr(dedup.plan.verify, "score_pairs", verified)
    return candidates, verified


def boilerplate_docs(rng: random.Random, templated: bool, copies: int = COPIES) -> list[Document]:
    """Each document: a paragraph of its own (words from a large vocabulary, so that
    unrelated paragraphs really are unrelated) and the shared boilerplate."""
    footer = "This article is published under licence from the agency; republication is permitted in full"
    docs = []
    for i in range(copies):
        own = " ".join(f"w{rng.randrange(1_000_000)}" for _ in range(60))
        notice = f"{footer} until the year {1000 + i} only." if templated else f"{footer} only."
        docs.append(Document(f"doc{i:05d}.txt", f"{own}\n\n{notice}"))
    return docs


def test_exact_boilerplate_is_compared_once(rng, work):
    candidates, verified = work
    docs = boilerplate_docs(rng, templated=False)
    result = scan_documents(docs, levels=("paragraph",))
    (common,) = result.boilerplate  # reported once, not as 9,999 pairs
    assert common.documents == COPIES and not [p for p in result.pairs if p.exact]
    candidates.sizes.clear()
    verified.sizes.clear()
    result = scan_documents(docs, Settings(boilerplate=0), levels=("paragraph",))
    exact = [p for p in result.pairs if p.exact]
    assert len(exact) == COPIES - 1  # a star around the first copy, not 50 million pairs
    assert {p.a.path for p in exact} == {"doc00000.txt"}
    (group,) = [g for g in result.groups if len(g.members) == COPIES]
    # Near-duplicate search ran over distinct paragraphs: the 10,000 own paragraphs
    # plus one boilerplate, and verified far fewer pairs than there are paragraphs.
    assert sum(verified.sizes) < COPIES and sum(candidates.sizes) < COPIES


def candidates_at(rng, level: str, copies: int, work) -> int:
    candidates, verified = work
    candidates.sizes.clear()
    verified.sizes.clear()
    result = scan_documents(boilerplate_docs(rng, templated=True, copies=copies), levels=(level,))
    # No candidate verified twice; those under the estimate floor not at all.
    assert sum(verified.sizes) <= sum(candidates.sizes)
    if level == "paragraph":
        (group,) = [g for g in result.groups if len(g.members) >= copies]
        assert len(group.members) == copies
    return sum(candidates.sizes)


@pytest.mark.parametrize("level", ["paragraph", "document"])
def test_templated_boilerplate_stays_linear(rng, work, level):
    # 10,000 *distinct* texts that differ in one number all share most LSH buckets:
    # big buckets are paired as stars, so 4x the copies give ~4x the candidates, not
    # 16x (all-pairs would be 50 million at 10,000 copies).
    quarter = candidates_at(rng, level, COPIES // 4, work)
    full = candidates_at(rng, level, COPIES, work)
    assert full <= 4.4 * quarter
    assert full <= 20 * COPIES


def near_identical_records(rng: random.Random, n: int) -> str:
    """``n`` one-line records of one template, each with up to two of its words swapped
    and a number of its own: all near-identical (Jaccard ~0.5-0.9 to each other), none
    an exact copy."""
    template = "the quarterly report for region north was filed on time by staff".split()
    lines = []
    for _ in range(n):
        words = list(template)
        for _ in range(rng.randrange(3)):
            words[rng.randrange(len(words))] = rng.choice(["late", "south", "annual", "team", "early", "east"])
        lines.append(" ".join(words) + f" {rng.randrange(10**9)}")
    return "\n".join(lines)


def test_near_identical_one_line_records_give_bounded_candidates(rng, work):
    # #12: their LSH buckets are crowded and of every size; paired all-pairs up to 256
    # members, 10,000 such records made ~109 candidates each (a million short lines:
    # 32.8 million in one partition, 5 GB of scratch).  All-pairs now stops at 16
    # members (lsh.MAX_BUCKET_PAIRS); a crowded bucket is paired as stars whose members
    # close around their centre (lsh.STAR_ROUNDS): ~10 candidates per record here.  The
    # report is still right: one group of every record.
    candidates, verified = work
    n = 10_000
    result = scan_documents([Document("records.txt", near_identical_records(rng, n))], levels=("paragraph",))
    assert [len(g.members) for g in result.groups] == [n]
    assert sum(candidates.sizes) < 20 * n
    assert sum(verified.sizes) <= sum(candidates.sizes)


def test_prose_gives_no_crowded_bucket_warning(rng, recwarn):
    docs = [Document(f"d{i}.txt", "\n\n".join(prose(rng, 60) for _ in range(5))) for i in range(200)]
    scan_documents(docs)
    assert not [w for w in recwarn if "crowded" in str(w.message)]


_SHORT_TEXT = 512  # where the numpy signing had its position-by-position / reduceat split


def test_batched_signatures_equal_datasketch_for_every_length():
    # Lengths on both sides of the position-by-position / reduceat split, in random
    # order, many more texts than one working chunk holds.
    rng = np.random.default_rng(11)
    lengths = np.concatenate([rng.integers(0, 40, 1500), rng.integers(_SHORT_TEXT - 3, _SHORT_TEXT + 4, 30),
                              rng.integers(600, 3000, 6)])
    rng.shuffle(lengths)
    texts = [" ".join(f"w{v}" for v in rng.integers(0, 5000, n)) for n in lengths]
    sh = shingle(texts, "word", 1)
    for num_perm in (16, 256):
        sig = signatures(sh, num_perm, seed=3)
        for i in [*range(0, len(texts), 37), *np.flatnonzero(lengths >= _SHORT_TEXT - 3)]:
            m = MinHash(num_perm=num_perm, seed=3, scheme="affine32", hashfunc=lambda v: v)
            if len(sh.of(i)):
                m.update_batch([int(v) for v in fold32(sh.of(i))])
            assert np.array_equal(sig[i], m.hashvalues), (num_perm, i, lengths[i])


def test_signatures_do_not_depend_on_batch_composition():
    # A paragraph's signature is the same whether it is signed alone or among others
    # (which is what lets a scan split work into batches, processes and cache entries).
    rng = random.Random(5)
    texts = [prose(rng, rng.randint(0, 700)) for _ in range(300)]
    together = signatures(shingle(texts, "word", 2), 64)
    alone = np.vstack([signatures(shingle([t], "word", 2), 64) for t in texts])
    assert np.array_equal(together, alone)


def test_vectorized_word_hashes_equal_xxhash_for_every_length():
    # Words are hashed with numpy over a whole batch; every length class of XXH3
    # (1-3, 4-8, 9-16, 17-128 bytes, longer words through xxhash itself) must give
    # exactly xxhash's value, or every signature would change.
    rng = random.Random(9)
    alphabet = "abcdefghijklmnopqrstuvwxyzABC0123456789_"
    words = ["".join(rng.choice(alphabet) for _ in range(n)) for n in [*range(1, 200)] * 3]
    texts = [" ".join(words[i : i + 7]) + " -- " for i in range(0, len(words), 7)]
    texts += ["", "   ", "naïve café x", "a-b c.d", "x" * 1000, "é"]
    hashes, counts, _ = _token_hashes(texts)
    expected = [[xxhash.xxh3_64_intdigest(w.encode()) for w in tokenize(t)] for t in texts]
    assert counts.tolist() == [len(e) for e in expected]
    assert hashes.tolist() == [h for e in expected for h in e]
