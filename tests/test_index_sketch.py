"""The b-bit sketch prefilter of the index: it must not lose pairs at the threshold,
and must dismiss the chance candidates it exists for."""

from __future__ import annotations

import numpy as np
import pytest

from dedup.index import SKETCH_MISS, sketch_floor
from dedup.minhash import signatures
from dedup.shingle import Shingles
from dedup.sketch import SKETCH_BITS, sketch, sketch_matches, sketch_positions


def pair_signatures(rng: np.random.Generator, jaccard: float, pairs: int, size: int = 60) -> tuple:
    """Signatures of ``pairs`` random set pairs of ``size`` shingles each whose Jaccard
    is exactly ``jaccard`` (rounded to the nearest shared count)."""
    shared = round(2 * size * jaccard / (1 + jaccard))
    sets = []
    for _ in range(pairs):
        values = rng.choice(np.iinfo(np.int64).max, 2 * size - shared, replace=False).astype(np.uint64)
        sets += [values[:size], values[size - shared :]]
    hashes = np.concatenate(sets)
    offsets = np.arange(0, len(hashes) + 1, size, dtype=np.int64)
    sig = signatures(Shingles(hashes, offsets, np.full(len(sets), size, np.int64)), 256)
    return sig[0::2], sig[1::2], shared / (2 * size - shared)


def test_sketch_packs_the_low_bits_of_the_first_positions():
    sig = np.arange(256, dtype=np.uint32)[None, :] * np.uint32(0x01010101)
    packed = sketch(sig)
    assert packed.shape == (1, sketch_positions(256) // 2) and packed.dtype == np.uint8
    low = sig[0, : sketch_positions(256)] & ((1 << SKETCH_BITS) - 1)
    assert packed[0].tolist() == (low[0::2] | (low[1::2] << SKETCH_BITS)).tolist()
    other = sig.copy()
    other[0, [0, 3, 200]] += 1  # two sketch positions change; position 200 is not sketched
    assert sketch_matches(packed, sketch(other)).tolist() == [sketch_positions(256) - 2]


def test_sketch_floor_is_the_binomial_lower_tail_at_the_threshold():
    positions = sketch_positions(256)
    m = sketch_floor(0.3, positions)
    p = 0.3 + 0.7 / (1 << SKETCH_BITS)
    from math import comb

    tail = lambda k: sum(comb(positions, i) * p**i * (1 - p) ** (positions - i) for i in range(k))
    assert tail(m) <= SKETCH_MISS < tail(m + 1)
    assert sketch_floor(0.5, positions) > m  # stricter for a higher threshold


@pytest.mark.parametrize("jaccard", [0.3, 0.5])
def test_sketch_keeps_pairs_at_or_above_the_threshold(jaccard):
    a, b, exact = pair_signatures(np.random.default_rng(7), jaccard, 3000)
    assert abs(exact - jaccard) < 0.01
    matches = sketch_matches(sketch(a), sketch(b))
    assert (matches >= sketch_floor(0.3, sketch_positions(256))).all()
    # and the sketch estimate is the b-bit one: J + (1 - J) / 2**b on average
    expected = exact + (1 - exact) / (1 << SKETCH_BITS)
    assert abs(matches.mean() / sketch_positions(256) - expected) < 0.01


def test_sketch_dismisses_chance_candidates():
    # Chance LSH candidates on real prose have Jaccard ~0.02-0.05; the binomial model
    # says 1 % pass at 0.03 and 3-4 % at 0.04 (the survivors are read in full).
    a, b, _ = pair_signatures(np.random.default_rng(8), 0.04, 3000)
    passed = sketch_matches(sketch(a), sketch(b)) >= sketch_floor(0.3, sketch_positions(256))
    assert passed.mean() < 0.06


@pytest.mark.parametrize("shape", [(0, 64), (7, 64), (64,), (5, 32), (3, 6), (2, 3, 16)])
def test_sketch_matches_counts_equal_nibbles(shape):
    """Eight bytes at a time (or byte by byte for other widths), the count is that of
    equal 4-bit positions, compared one by one: pairs differing in one nibble of a
    byte, in both, or not at all, and views that are not contiguous."""
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = a.copy()
    b[rng.random(shape) < 0.3] ^= np.uint8(0x10)  # the high nibble differs
    b[rng.random(shape) < 0.3] ^= np.uint8(0x02)  # the low one
    for x, y in ((a, b), (a[..., ::-1], b[..., ::-1])):
        nibbles = lambda v: np.stack([v & 15, v >> 4], axis=-1).reshape(v.shape[:-1] + (2 * v.shape[-1],))  # noqa: E731
        expected = (nibbles(x) == nibbles(y)).sum(axis=-1)
        got = sketch_matches(x, y)
        assert np.array_equal(got, expected) and np.asarray(got).dtype == np.int64


def test_sketch_matches_at_is_sketch_matches_of_the_gathered_rows(monkeypatch):
    """The chunked pair compare gives every pair's count, across chunk edges."""
    import dedup.sketch as sk

    monkeypatch.setattr(sk, "PAIR_CHUNK", 7)  # many chunks and a partial last one
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (13, 64), dtype=np.uint8)
    b = rng.integers(0, 256, (29, 64), dtype=np.uint8)
    b[5] = a[2]  # one pair equal in every position
    ia, ib = rng.integers(0, 13, 101), rng.integers(0, 29, 101)
    ia[40], ib[40] = 2, 5
    got = sk.sketch_matches_at(a, ia, b, ib)
    assert got.tolist() == sketch_matches(a[ia], b[ib]).tolist()
    assert got[40] == 128
    assert sk.sketch_matches_at(a, ia[:0], b, ib[:0]).tolist() == []


def test_hit_pairs_gives_each_pair_an_entry_of_its_row():
    """``hit_pairs``: the unique (query row, stored row) pairs sharing a key, sorted,
    each with an entry of its stored row (where its sketch is)."""
    from dedup.index.matches import hit_pairs

    rng = np.random.default_rng(4)
    query = rng.integers(0, 40, (9, 5)).astype(np.uint64)
    hit_keys = np.sort(rng.integers(0, 40, 60)).astype(np.uint64)
    hit_refs = rng.integers(100, 130, 60).astype(np.int64)
    new, refs, entry = hit_pairs(query, hit_keys, hit_refs)
    expected = sorted({(t, int(r)) for k, r in zip(hit_keys, hit_refs) for t in np.flatnonzero((query == k).any(1))})
    assert list(zip(new.tolist(), refs.tolist())) == expected and len(new) > 20
    assert (hit_refs[entry] == refs).all()
    empty = hit_pairs(query, hit_keys[:0], hit_refs[:0])
    assert [len(x) for x in empty] == [0, 0, 0]
