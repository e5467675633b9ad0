"""The bucket file's look-up gives the verdicts of a plain search: checks and a batch add
of new, exact, near-duplicate and contained articles answer the same whether each
bucket's entries are found by the fenced search and run lengths the file uses
(:mod:`dedup.storage.bucketfile.search`) or by ``np.searchsorted`` of both run ends,
over-full buckets (left out unread) included."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
from textgen import prose, rewrite

from dedup.index import Index
from dedup.segments import ranges
from dedup.storage.bucketfile import lookup
from dedup.verdict import Policy

#: A footer in near-identical versions (the edition differs): banded in every article,
#: so the values it shares make containment buckets of more than the bound.
FOOTER = ("The {} edition of the Harbour Gazette is printed by the cooperative on recycled paper every "
          "morning, and its archive of letters, notices and obituaries is open to readers at the library.")


def plain_positions(keys, fence, query, limit=None, check=None):
    """:func:`lookup.positions` by two ``np.searchsorted`` of every key (what the look-up
    must equal)."""
    left = np.searchsorted(keys, query, side="left")
    count = np.searchsorted(keys, query, side="right") - left
    full = np.zeros(0, np.uint64)
    if limit is not None:
        over = count > limit
        full, count[over] = query[over], 0
    return np.repeat(query, count), ranges(left, count), full


def article(rng: random.Random, n: int) -> list[str]:
    return [prose(rng, rng.randint(30, 70)) for _ in range(rng.randint(3, 6))] + [FOOTER.format(n)]


def probes(rng: random.Random, stored: list[list[str]]) -> list[str]:
    """New, exact, near-duplicate and contained articles, and mixes of them."""
    out = []
    for n in range(30):
        paras = rng.choice(stored)
        kind = n % 5
        if kind == 0:
            out.append("\n\n".join(article(rng, 10_000 + n)))
        elif kind == 1:
            out.append("\n\n".join(paras))
        elif kind == 2:
            out.append("\n\n".join(rewrite(rng, p, 0.1) for p in paras))
        elif kind == 3:  # a stored paragraph quoted inside new text, and half of one alone
            words = paras[0].split()
            out.append("\n\n".join([prose(rng, 40), paras[1], " ".join(words[: len(words) // 2])]))
        else:  # a quarter of a stored paragraph: contained in it, Jaccard below the threshold
            words = max(paras[:-1], key=len).split()
            out.append(" ".join(words[: len(words) // 4]))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    rng = random.Random(11)
    folder = tmp_path_factory.mktemp("lookup")
    stored = [article(rng, n) for n in range(90)]  # more footers than MAX_BUCKET
    with Index.open(folder / "i.dedup", policy=Policy("flag"), auto_optimize=False) as idx:
        idx.add_many([(f"d{n}", "\n\n".join(paras)) for n, paras in enumerate(stored)])
        idx.optimize()  # look-ups through the file (pages verified), not the rows held in memory
    return folder, stored, rng


def test_check_and_add_verdicts_equal_a_plain_search(built, monkeypatch, tmp_path):
    folder, stored, rng = built
    texts = probes(rng, stored)
    batch = [(f"new{n}", t) for n, t in enumerate(probes(rng, stored))]
    full = []
    real_positions = lookup.positions

    def recording(*args, **kwargs):
        got = real_positions(*args, **kwargs)
        full.append(len(got[2]))
        return got

    answers = []
    for name, positions in (("file", recording), ("plain", plain_positions)):
        copy = tmp_path / name
        shutil.copytree(folder, copy)
        monkeypatch.setattr(lookup, "positions", positions)
        with Index.open(copy / "i.dedup", policy=Policy("flag"), auto_optimize=False) as idx:
            assert idx.stats()["bucket_file"]["in_use"]
            answers.append(([v.to_dict() for v in idx.check_many(texts)],
                            [v.to_dict() for v in idx.add_many(batch)]))
    assert answers[0] == answers[1]
    checks, adds = answers[0]
    # Every kind of answer is among them: new, duplicate, exact, near and contained paragraphs.
    assert {v["relation"] for v in checks + adds} >= {"duplicate", "contained-in", None}
    paragraphs = [p for v in checks + adds for m in v["matches"] for p in m["paragraphs"]]
    assert {(p["relation"], p["exact"]) for p in paragraphs} >= {
        ("near-duplicate", True), ("near-duplicate", False), ("contained", False)}
    assert any(full), "no bucket over the bound: the test does not reach that path"
