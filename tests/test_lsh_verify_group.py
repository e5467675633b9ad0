import itertools

import numpy as np
import pytest

from dedup import crowded, lsh
from dedup.group import components, exact_groups, groups, merge
from dedup.lsh import band_keys, bucket_pairs, catch_probability, choose_bands
from dedup.minhash import signatures
from dedup.settings import Settings
from dedup.shingle import shingle
from dedup.segments import row_positions, sorted_unique
from dedup.segments import unique_sets
from dedup.verify import score_pairs
from textgen import prose, rewrite


def test_s_curve_and_band_choice():
    assert float(catch_probability(0.3, 85, 3)) == pytest.approx(1 - (1 - 0.027) ** 85)
    bands, rows = choose_bands(0.3, 256)
    assert (bands, rows) == (49, 2)
    assert catch_probability(0.3, bands, rows) >= lsh.CATCH_TARGET
    # One more row cannot reach the target with every permutation used (85 x 3: 0.90) ...
    assert catch_probability(0.3, 256 // (rows + 1), rows + 1) < lsh.CATCH_TARGET
    # ... and one band fewer of these rows misses it: the fewest chance candidates.
    assert catch_probability(0.3, bands - 1, rows) < lsh.CATCH_TARGET
    b8, r8 = choose_bands(0.8, 128)
    assert catch_probability(0.8, b8, r8) >= lsh.CATCH_TARGET and r8 > rows
    # Too few permutations to reach the target: every permutation, one row each.
    assert choose_bands(0.1, 16) == (16, 1)


def test_band_keys_equal_exactly_when_band_equal():
    sig = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [5, 2, 3, 4]], dtype=np.uint32)
    keys = band_keys(sig, 2, 2)
    assert keys[0, 0] == keys[1, 0] and keys[0, 1] != keys[1, 1]
    assert keys[0, 1] == keys[2, 1] and keys[0, 0] != keys[2, 0]
    # The same values in different bands must not collide.
    same = band_keys(np.array([[7, 7, 7, 7]], dtype=np.uint32), 2, 2)
    assert same[0, 0] != same[0, 1]


def brute_force_pairs(keys):
    n = len(keys)
    return {(i, j) for i, j in itertools.combinations(range(n), 2) if (keys[i] == keys[j]).any()}


def candidate_pairs(keys):
    """Bucket pairs of an ``(items, bands)`` key matrix, bands kept apart as band keys
    are (salted with the band number)."""
    n, bands = keys.shape
    return bucket_pairs((keys + np.arange(bands, dtype=np.uint64) * np.uint64(1000)).ravel(),
                        np.repeat(np.arange(n), bands))


@pytest.mark.parametrize("merge_at", [1 << 22, 7])
def test_bucket_pairs_match_brute_force(monkeypatch, merge_at):
    # A tiny merge threshold makes the pairs come in many slices, folded repeatedly.
    monkeypatch.setattr(lsh, "_MERGE_AT", merge_at)
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 6, size=(60, 4)).astype(np.uint64)
    got = candidate_pairs(keys)
    assert {tuple(p) for p in got.tolist()} == brute_force_pairs(keys)
    assert len(got) == len(brute_force_pairs(keys))  # sorted, no repeats
    assert got.tolist() == sorted(got.tolist())


@pytest.mark.parametrize("seed", range(4))
def test_keys_sharing_high_bits_are_grouped_whole(seed):
    # bucket_pairs sorts keys whose low bits carry the row number (lsh._grouped): keys
    # alike in their high bits but not their low ones must still form exact runs.
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    keys = (rng.integers(0, 3, n, dtype=np.uint64) << np.uint64(62)) | rng.integers(0, 9, n, dtype=np.uint64)
    ordered, order = lsh._grouped(keys)
    assert np.array_equal(ordered, np.sort(keys)) and np.array_equal(keys[order], ordered)
    assert np.array_equal(np.sort(order), np.arange(n))
    few = keys[:80].reshape(-1, 1)
    got = bucket_pairs(few.ravel(), np.arange(len(few)))
    assert {tuple(p) for p in got.tolist()} == brute_force_pairs(few)


def test_huge_bucket_is_paired_as_stars(monkeypatch):
    # The bound is read at the call.  Without a judge no member is closed: the first
    # STAR_ROUNDS (8) members are centres, each paired with every other member.
    monkeypatch.setattr(lsh, "MAX_BUCKET_PAIRS", 4)
    keys = np.zeros((10, 1), dtype=np.uint64)  # ten items in one bucket
    pairs = candidate_pairs(keys)
    assert {tuple(p) for p in pairs.tolist()} == {(i, j) for i in range(8) for j in range(i + 1, 10)}


def test_crowded_buckets_are_counted_and_paired_as_stars():
    # Buckets of 3, 16 (all-pairs) and 17, 40 members (stars): only the last two are
    # crowded; without a judge a crowded bucket of m gives 8 stars, 8 * m - 36 pairs,
    # and leaves m - 8 members unsettled; a small one gives every pair.
    sizes = [3, 16, 17, 40]
    keys = np.repeat(np.arange(len(sizes), dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15), sizes)
    items = np.arange(len(keys))
    crowding: list[crowded.Crowding] = []
    pairs = bucket_pairs(keys, items, crowding)
    assert lsh.MAX_BUCKET_PAIRS == 16 and crowded.STAR_ROUNDS == 8
    assert len(pairs) == 3 + 120 + (8 * 17 - 36) + (8 * 40 - 36)
    (counted,) = crowding
    assert counted == crowded.Crowding(buckets=2, rows=57, largest=40, unsettled=9 + 32)
    assert sum(crowding, crowded.Crowding(1, 3, 50, 1)) == crowded.Crowding(3, 60, 50, 42)


def test_exact_scores_against_python_sets():
    rng = np.random.default_rng(5)
    texts = [" ".join(f"w{v}" for v in rng.integers(0, 40, rng.integers(0, 60))) for _ in range(30)]
    sh = shingle(texts, "word", 1)
    table = unique_sets(sh.hashes, sh.offsets)
    pairs = np.array(list(itertools.combinations(range(len(texts)), 2)))
    scores = score_pairs(table, pairs)
    for k, (i, j) in enumerate(pairs):
        a, b = set(texts[i].split()), set(texts[j].split())
        inter, union = len(a & b), len(a | b)
        assert scores.jaccard[k] == pytest.approx(inter / union if union else 0.0)
        assert scores.containment_a[k] == pytest.approx(inter / len(a) if a else 0.0)
        assert scores.containment_b[k] == pytest.approx(inter / len(b) if b else 0.0)


@pytest.mark.parametrize("seed", range(3))
def test_intersections_match_python_sets_with_full_64_bit_values(seed):
    """Every pair's count against Python sets: sets of 0 to 2,000 values (pairs of
    equal, disjoint, nested and unbalanced sets), values over the whole 64 bits, and
    values equal but for their top bits -- two shingles, not one (the sort it replaced
    tagged each value with its pair number in the top bits and counted such values
    as one)."""
    from dedup.segments import SetTable, offsets_from_counts
    from dedup.verify import intersections

    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 2**63, 3000, dtype=np.uint64)
    pool = np.concatenate([pool, pool | np.uint64(1 << 63)])  # twins differing in the top bit only
    sets = [np.unique(rng.choice(pool, rng.integers(0, 2000))) for _ in range(40)]
    sets += [sets[0], sets[1][: len(sets[1]) // 2], np.zeros(0, np.uint64)]
    table = SetTable(np.concatenate(sets).astype(np.uint64), offsets_from_counts(np.array([len(s) for s in sets])))
    pairs = np.array(list(itertools.product(range(len(sets)), repeat=2)), dtype=np.int64)
    expected = [len(set(sets[i].tolist()) & set(sets[j].tolist())) for i, j in pairs]
    assert intersections(table, pairs).tolist() == expected
    twins = SetTable(np.array([5, 5 | (1 << 63)], np.uint64), np.array([0, 1, 2], np.int64))
    assert intersections(twins, np.array([[0, 1], [1, 1]], np.int64)).tolist() == [0, 1]


def test_unique_sets_sorts_and_dedupes_per_segment():
    values = np.array([5, 3, 5, 1, 1, 2], dtype=np.uint64)
    table = unique_sets(values, np.array([0, 3, 3, 6]))
    assert table.values.tolist() == [3, 5, 1, 2] and table.offsets.tolist() == [0, 2, 2, 4]


@pytest.mark.parametrize("leading_bits_collide", [False, True])
def test_unique_sets_match_python_sets(leading_bits_collide, monkeypatch):
    """Random 64-bit values take the one-key sort; values that share their leading
    bits take the lexsort fallback; both give each segment's sorted distinct values."""
    rng = np.random.default_rng(7)
    pool = rng.integers(0, 1 << 62, 10, dtype=np.int64).astype(np.uint64) * np.uint64(3)
    if leading_bits_collide:
        pool = pool[0] + np.arange(10, dtype=np.uint64)
    counts = rng.integers(0, 12, 300)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    values = pool[rng.integers(0, len(pool), int(offsets[-1]))]
    lexsorts = []
    monkeypatch.setattr(np, "lexsort", lambda keys, _sort=np.lexsort: lexsorts.append(1) or _sort(keys))
    table = unique_sets(values, offsets)
    assert bool(lexsorts) == leading_bits_collide
    expected = [sorted(set(values[a:b].tolist())) for a, b in zip(offsets[:-1], offsets[1:])]
    got = [table.values[a:b].tolist() for a, b in zip(table.offsets[:-1], table.offsets[1:])]
    assert got == expected


def test_sorted_unique_matches_np_unique_with_inverse():
    values = np.random.default_rng(3).integers(0, 50, (40, 2))
    unique, inverse = sorted_unique(values, return_inverse=True)
    assert unique.tolist() == np.unique(values).tolist()
    assert (unique[inverse] == values.ravel()).all()
    assert sorted_unique(np.array([4, 4, 1])).tolist() == [1, 4]


@pytest.mark.parametrize("n, top", [(0, 1), (1, 1), (500, 300), (40, 10_000_000), (3_000, 200_000)],
                         ids=["empty", "one", "dense", "sparse", "table"])
def test_row_positions_are_np_unique_with_inverse_by_table_or_by_sort(n, top):
    """:func:`row_positions` (a table by id when the ids are dense enough, else a sort)
    answers as ``np.unique(return_inverse=True)`` on either path."""
    ids = np.random.default_rng(n).integers(0, top, n).astype(np.int64)
    unique, inverse = row_positions(ids)
    assert unique.dtype == np.int64 and unique.tolist() == np.unique(ids).tolist()
    assert (unique[inverse] == ids).all()


def test_groups_are_transitive_with_first_member_canonical():
    assert groups(7, [(5, 3), (3, 1), (6, 4)]) == [[1, 3, 5], [4, 6]]
    assert groups(3, []) == []


def _smallest_of_component(n, edges):
    """Brute force: each node's smallest reachable node (a Python union-find)."""
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = find(u), find(v)
        parent[max(ru, rv)] = min(ru, rv)
    return [find(x) for x in range(n)]


def test_components_match_brute_force():
    rng = np.random.default_rng(7)
    graphs = []
    for _ in range(200):  # random sparse and dense graphs, self-loops and repeats included
        n = int(rng.integers(1, 300))
        m = int(rng.integers(0, 3 * n))
        graphs.append((n, rng.integers(0, n, m), rng.integers(0, n, m)))
    for n in (2, 50, 999):  # paths in shuffled and zig-zag order, a star whose centre is largest
        order = rng.permutation(n)
        zigzag = np.r_[np.arange(0, n, 2), np.arange(n - 1 - (n % 2), 0, -2)]
        graphs += [(n, order[:-1], order[1:]), (n, zigzag[:-1], zigzag[1:]),
                   (n, np.full(n - 1, n - 1), np.arange(n - 1))]
    for n, u, v in graphs:
        expected = _smallest_of_component(n, zip(u.tolist(), v.tolist()))
        assert components(n, u, v).tolist() == expected


def test_merge_keeps_the_smallest_member_as_root():
    root = np.arange(8, dtype=np.int64)
    root = merge(root, np.array([5, 6]), np.array([3, 7]))
    root = merge(root, np.array([7]), np.array([2]))
    assert root.tolist() == [0, 1, 2, 3, 4, 3, 2, 2]
    root = merge(root, np.array([5]), np.array([6]))
    assert root.tolist() == [0, 1, 2, 2, 4, 2, 2, 2]


def test_exact_groups_number_by_first_appearance():
    first, label = exact_groups(np.array([9, 4, 9, 7, 4], dtype=np.uint64))
    assert first.tolist() == [0, 1, 3]
    assert label.tolist() == [0, 1, 0, 2, 1]


def test_near_duplicates_become_candidates_at_default_bands(rng):
    # End to end over the candidate stage: light rewrites must reach verification.
    texts, partners = [], []
    for _ in range(200):
        original = prose(rng, 60)
        texts += [original, rewrite(rng, original, 0.1)]
        partners.append((len(texts) - 2, len(texts) - 1))
    settings = Settings()
    sig = signatures(shingle(texts, "word", 2), settings.num_perm)
    found = {tuple(p) for p in candidate_pairs(band_keys(sig, settings.bands, settings.rows)).tolist()}
    assert sum(p in found for p in partners) >= 199


def test_pairs_just_above_the_threshold_become_candidates_at_default_bands(rng):
    # The derived layout's promise (lsh.CATCH_TARGET): a pair at J = 0.30-0.33 is a
    # candidate with p >= 0.99.  The old 85 x 3 (target 0.9) lost 6-10 % of them.
    settings = Settings()
    texts = []
    for _ in range(4000):
        original = prose(rng, 40)
        texts += [original, rewrite(rng, original, 0.4)]
    sets = shingle(texts, "word", 2)
    jaccard = np.array([len(a & b) / len(a | b) for a, b in
                        ((set(sets.of(i).tolist()), set(sets.of(i + 1).tolist())) for i in range(0, len(texts), 2))])
    partners = np.flatnonzero((jaccard >= 0.3) & (jaccard < 0.33)) * 2
    assert len(partners) >= 300
    sig = signatures(sets, settings.num_perm)
    keys = band_keys(sig, settings.bands, settings.rows)
    caught = (keys[partners] == keys[partners + 1]).any(axis=1)
    assert caught.mean() >= 0.975, caught.mean()


def test_candidates_folded_band_by_band_match_brute_force(monkeypatch):
    # Force the fold of repeated pairs after every band: same answer as one final fold.
    monkeypatch.setattr(lsh, "_MERGE_AT", 1)
    monkeypatch.setattr(lsh, "MAX_BUCKET_PAIRS", 256)  # buckets of ~12 members, a few past 16: every pair
    rng = np.random.default_rng(11)
    keys = rng.integers(0, 4, size=(50, 6)).astype(np.uint64)
    got = {tuple(p) for p in candidate_pairs(keys).tolist()}
    assert got == brute_force_pairs(keys)


def test_explain_lists_the_s_curve_with_both_thresholds():
    rows = dict(lsh.explain(0.3, 0.45, 85, 3))
    assert rows[0.3] == pytest.approx(1 - (1 - 0.3**3) ** 85)
    assert 0.45 in rows and rows[0.9] > 0.9999


def test_band_keys_of_a_run_of_bands_are_those_bands_keys():
    sig = np.random.default_rng(3).integers(0, 2**32, size=(50, 256), dtype=np.uint32)
    whole = band_keys(sig, 85, 3)
    for first, last in ((0, 21), (21, 42), (84, 85)):
        assert np.array_equal(band_keys(sig[:, first * 3 : last * 3], last - first, 3, first), whole[:, first:last])
