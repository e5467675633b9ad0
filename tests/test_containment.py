"""Containment: a short text inside a longer one is found and reported as ``contained``.

The accuracy family: quotes of 20-80 words embedded in texts 2-11 times their length
(a container 1-10x longer than the quote), verbatim and with 5 % and 10 % word edits
inside the quote, scattered over a corpus of unrelated paragraphs.  Goals at the default
settings (issue #11): quotes whose shingles are >= 0.9 contained are found >= 99 % of
the time, quotes with 10 % edits >= 95 %.
"""

import random
from pathlib import Path

import numpy as np
import pytest

from dedup import Document, Settings, scan_documents
from dedup import containment as ct
from dedup.corpus import sign_documents
from dedup.segments import SetTable
from textgen import rewrite, rich_prose

#: LSH layouts (bands, rows) the containment search runs beside: the default since
#: session 11 (derived from the threshold, :mod:`dedup.settings`) and the one indexes
#: made before it keep.
LAYOUTS = [(Settings().bands, Settings().rows), (85, 3)]


def test_jaccard_of_a_contained_set():
    # 40 shingles fully inside 160: J = 40 / 160
    assert ct.min_jaccard(1.0, 4.0) == pytest.approx(0.25)
    # 80 % of 50 shingles inside 500: 40 / (500 + 10)
    assert ct.min_jaccard(0.8, 10.0) == pytest.approx(40 / 510)


def test_depth_catches_the_threshold_pair_with_the_target_probability():
    ratios = np.array([2.0, 5.0, 12.0])
    depth = ct.depth(0.8, ratios)
    jaccard = ct.min_jaccard(0.8, ratios)
    assert np.all(1 - (1 - jaccard) ** depth >= ct.TARGET)
    assert np.all(1 - (1 - jaccard) ** (depth - 1) < ct.TARGET)


def test_depth_beside_the_jaccard_bands_is_cut_only_where_both_together_catch_the_pair():
    ratios = np.array([1.5, 2.0, 2.3, 3.0, 5.0, 12.0])
    jaccard = ct.min_jaccard(0.7, ratios)
    joint, alone = ct.depth(0.7, ratios, covered=(49, 2)), ct.depth(0.7, ratios)
    assert np.all(joint <= alone) and joint[0] < alone[0] and np.all(joint[-3:] == alone[-3:])
    allowed = ct.JOINT_SHARE * (1 - ct.TARGET)
    cut = joint < alone
    assert np.all(ct.joint_miss(jaccard[cut], joint[cut], 49, 2) <= allowed)
    fewer = cut & (joint > 0)  # and no fewer positions would do
    assert fewer.any() and np.all(ct.joint_miss(jaccard[fewer], joint[fewer] - 1, 49, 2) > allowed)
    # least_ratio is depth's exact inverse: depth(k) > p exactly when k > least_ratio(p)
    positions = np.arange(80)
    least = ct.least_ratio(0.7, positions, covered=(49, 2))
    assert np.all(ct.depth(0.7, least * (1 + 1e-9), covered=(49, 2)) > positions)
    assert np.all(ct.depth(0.7, least * (1 - 1e-9), covered=(49, 2)) <= positions)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ratios_the_jaccard_bands_catch_are_left_to_them(layout):
    low = ct.lowest_ratio(0.8, layout, ct.MAX_RATIO)
    assert 1.5 < low < 2.5
    assert ct.lowest_ratio(0.8, None, ct.MAX_RATIO) == 1.0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_candidates_find_a_quote_and_skip_unrelated_text(layout):
    rng = random.Random(5)
    quote = rich_prose(rng, 40)
    words = rich_prose(rng, 320).split()
    container = " ".join(words[:100] + quote.split() + words[100:])
    others = [rich_prose(rng, rng.randint(20, 300)) for _ in range(200)]
    signed = sign_documents([Document(str(i), t) for i, t in enumerate([quote, container, *others])], Settings())
    sizes = SetTable.from_shingles(signed.shingles).sizes()
    pairs = ct.candidate_pairs(signed.signatures, sizes, 0.8, covered=layout)
    assert [0, 1] in pairs.tolist()
    assert np.all(pairs[:, 0] < pairs[:, 1])
    assert len(pairs) < 2_000  # of 20,301 pairs: single-value bands admit ~4 % by chance
    with pytest.raises(ValueError):
        ct.candidate_pairs(signed.signatures, sizes, 1.5)


def test_too_far_apart_in_size_is_not_searched():
    rng = random.Random(6)
    quote = rich_prose(rng, 20)
    container = quote + " " + rich_prose(rng, 20 * 30)  # 1:31
    signed = sign_documents([Document("q", quote), Document("c", container)], Settings())
    assert len(ct.candidate_pairs(signed.signatures, SetTable.from_shingles(signed.shingles).sizes(), 0.8)) == 0


def test_scan_reports_the_quote_as_contained_and_groups_no_copies():
    rng = random.Random(8)
    quote = rich_prose(rng, 40)
    words = rich_prose(rng, 200).split()
    report = " ".join(words[:80] + quote.split() + words[80:])
    docs = [Document("statement.txt", quote), Document("report.txt", report)]
    result = scan_documents(docs)
    kinds = {(p.kind, p.relation, p.inside, p.a.path) for p in result.pairs}
    assert ("paragraph", "contained", "b", "report.txt") in kinds or ("paragraph", "contained", "a", "statement.txt") in kinds
    assert {p.kind for p in result.pairs} == {"paragraph", "document"}
    for p in result.pairs:
        assert p.relation == "contained" and max(p.containment) == 1.0 and p.similarity < 0.3
        assert p.to_dict()["relation"] == "contained" and p.to_dict()["inside"] in ("a", "b")
    assert result.groups == []  # a quote does not make the report a copy
    off = scan_documents(docs, Settings(containment=0))
    assert off.pairs == []


@pytest.fixture(scope="module")
def quotes():
    """Quotes in containers, mixed into unrelated paragraphs; returns the documents and
    ``case -> (edit rate, quote path, container path)``."""
    rng = random.Random(11)
    docs, cases = [], {}
    for i in range(600):
        rate = (0.0, 0.05, 0.10)[i % 3]
        q = rng.randint(20, 80)
        original = rich_prose(rng, q)
        longer = rng.randint(1, 10)
        filler = rich_prose(rng, longer * q).split()
        cut = rng.randint(0, len(filler))
        container = " ".join(filler[:cut] + original.split() + filler[cut:])
        quote = original if rate == 0 else rewrite(rng, original, rate)
        docs += [Document(f"q{i:03}.txt", quote), Document(f"c{i:03}.txt", container)]
        cases[i] = (rate, f"q{i:03}.txt", f"c{i:03}.txt")
    docs += [Document(f"x{j:03}.txt", rich_prose(rng, rng.randint(20, 400))) for j in range(600)]
    return docs, cases


def _outcomes(docs, cases, result):
    """Per case of ``cases`` (``case -> (edit rate, quote path, container path)``): its
    edit rate, how much of the quote's shingle set is in its container (exact), the
    size ratio of their shingle sets, and whether the scan reported the pair."""
    from dedup.verify import score_pairs

    found = {frozenset((p.a.path, p.b.path)) for p in result.pairs}
    table = SetTable.from_shingles(sign_documents(docs, Settings()).shingles)
    index = {d.path: k for k, d in enumerate(docs)}
    arr = np.array([(index[q], index[c]) for _, q, c in cases.values()])
    share = score_pairs(table, arr).containment_a
    sizes = table.sizes()
    ratio = sizes[arr[:, 1]] / sizes[arr[:, 0]]
    return [(rate, inside, k, frozenset((q, c)) in found)
            for (rate, q, c), inside, k in zip(cases.values(), share.tolist(), ratio.tolist())]


def _recall(outcomes, keep) -> tuple[int, int]:
    """``(found, cases)`` among the outcomes that ``keep(rate, inside, ratio)`` selects."""
    chosen = [hit for rate, inside, ratio, hit in outcomes if keep(rate, inside, ratio)]
    return sum(chosen), len(chosen)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_quotes_in_longer_texts_are_found(quotes, layout):
    docs, cases = quotes
    result = scan_documents(docs, Settings(bands=layout[0], rows=layout[1]), levels=["paragraph"])
    outcomes = _outcomes(docs, cases, result)
    hit, total = _recall(outcomes, lambda rate, inside, ratio: rate != 0.10 and inside >= 0.9)
    assert total >= 300 and hit / total >= 0.99, (hit, total)
    hit, total = _recall(outcomes, lambda rate, inside, ratio: rate == 0.10)
    assert hit / total >= 0.95, (hit, total)
    false = [p for p in result.pairs if p.a.path[1:] != p.b.path[1:]]
    assert len(false) <= 0.01 * len(result.pairs), false[:3]


REAL_PROSE = Path(__file__).parent / "fixtures" / "eval-sample"


@pytest.fixture(scope="module")
def real_quotes():
    """The accuracy family on real prose: quotes of 20-80 words cut from the paragraphs
    of the eval-sample's ``rewrites`` documents (Python, PostgreSQL, kernel and Debian
    documentation), embedded at a random word in a run of real text from the same
    documents 2-10x the quote's length (every 10th one said twice), verbatim or with
    5 % / 10 % word edits (new words drawn from the same text); the eval-sample's
    ``versions`` documents go along
    as unrelated text.  Real text has the common shingles ("of the", "in the") a
    generated vocabulary lacks: they crowd the buckets of single MinHash values.
    Returns the documents and ``case -> (edit rate, quote path, container path)``."""
    rng = random.Random(12)
    paragraphs = [p.split() for f in sorted((REAL_PROSE / "rewrites").glob("*.txt"))
                  for p in f.read_text(encoding="utf-8").split("\n\n")]
    words = [w for p in paragraphs for w in p]
    long_enough = [p for p in paragraphs if len(p) >= 20]
    docs, cases, used = [], {}, set()
    for i in range(900):
        rate = (0.0, 0.05, 0.10)[i % 3]
        original = None
        while original is None or " ".join(original) in used:  # no exact copies of a quote
            source = rng.choice(long_enough)
            q = rng.randint(20, min(80, len(source)))
            at = rng.randint(0, len(source) - q)
            original = source[at : at + q]
        used.add(" ".join(original))
        longer = rng.randint(2, 10)
        start = rng.randrange(len(words) - (longer - 1) * q)
        filler = words[start : start + (longer - 1) * q]
        cut = rng.randint(0, len(filler))
        # Every 10th container says its text twice (a table, a list, a page that repeats
        # a passage): as many distinct shingles, twice as many with repeats.
        again = filler if i % 10 == 9 else []
        container = " ".join(filler[:cut] + original + filler[cut:] + again)
        quote = " ".join(original) if rate == 0 else rewrite(rng, " ".join(original), rate, words)
        docs += [Document(f"q{i:03}.txt", quote), Document(f"c{i:03}.txt", container)]
        cases[i] = (rate, f"q{i:03}.txt", f"c{i:03}.txt")
    docs += [Document(f"v-{f.name}", f.read_text(encoding="utf-8"))
             for f in sorted((REAL_PROSE / "versions").glob("*.txt"))]
    return docs, cases


@pytest.mark.parametrize("layout", LAYOUTS)
def test_quotes_in_real_prose_are_found(real_quotes, layout):
    """Issue #11's goals on real prose, up to a size ratio of 1:10 by shingle sets (a
    quote of symbols and numbers has fewer word 2-grams than words, so a cut of 1:10
    can be 1:13 by sets; those are left out here, beyond 1:12 by design)."""
    docs, cases = real_quotes
    outcomes = _outcomes(docs, cases, scan_documents(docs, Settings(bands=layout[0], rows=layout[1]),
                                                     levels=["paragraph"]))
    hit, total = _recall(outcomes, lambda rate, inside, ratio: inside >= 0.9 and ratio <= 10)
    assert total >= 400 and hit / total >= 0.99, (hit, total)
    # 10 % of the words edited leaves ~80 % of a quote's word 2-grams; the quotes left
    # below the containment threshold are not contained pairs (about 1 in 15 here).
    threshold = Settings().containment
    hit, total = _recall(outcomes, lambda rate, inside, ratio: rate == 0.10 and inside >= threshold and ratio <= 10)
    assert total >= 200 and hit / total >= 0.95, (hit, total)


def test_bucket_rows_sorted_on_both_paths():
    # Row numbers ride in the free high bits of one sort, or an argsort when they don't fit.
    rng = np.random.default_rng(1)
    packed = rng.integers(0, 40, 5000).astype(np.uint64) | (rng.integers(0, 79, 5000).astype(np.uint64) << np.uint64(32))
    no_room = rng.integers(0, 40, 50).astype(np.uint64) | (np.uint64(1 << 31) << np.uint64(32))
    for keys in (packed, no_room):
        ordered, rows = ct.buckets._sorted_rows(keys)
        assert np.array_equal(ordered, np.sort(keys)) and np.array_equal(keys[rows], ordered)
        assert sorted(rows.tolist()) == list(range(len(keys)))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_size_range_pairing_equals_pairing_every_member_of_a_bucket(layout):
    # bucket_pairs pairs a row only with the sizes its position serves; the plain way --
    # every pair of a bucket, then the ratio and depth filter -- must give the same pairs.
    rng = np.random.default_rng(2)
    n, positions = 1500, ct.search_positions(0.7, 256)
    sigs = rng.integers(0, 40, (n, positions)).astype(np.uint32)  # crowded buckets
    sizes = rng.integers(5, 400, n)
    keys = ct.bucket_keys(sigs, 0, positions).ravel()
    items, row_sizes = np.repeat(np.arange(n), positions), np.repeat(sizes, positions)
    got = ct.bucket_pairs(keys, items, row_sizes, 0.7, covered=layout)
    order = np.argsort(keys, kind="stable")
    runs = np.split(order, np.flatnonzero(np.diff(keys[order])) + 1)
    low, plain = ct.lowest_ratio(0.7, layout, ct.MAX_RATIO), set()
    for run in runs:
        if not 2 <= len(run) <= ct.MAX_BUCKET:
            continue
        position = int(keys[run[0]] >> np.uint64(32))
        for x in range(len(run)):
            for y in range(x + 1, len(run)):
                a, b = items[run[x]], items[run[y]]
                ratio = max(sizes[a], sizes[b]) / min(sizes[a], sizes[b])
                if low < ratio <= ct.MAX_RATIO and position < ct.depth(0.7, np.array([ratio]), covered=layout)[0]:
                    plain.add((min(a, b), max(a, b)))
    assert set(map(tuple, got.tolist())) == plain and len(plain) > 100


def test_one_floor_for_scan_and_index_ends_at_the_largest_ratio_searched():
    """:func:`dedup.containment.lowest_jaccard`: the contained Jaccard within MAX_RATIO
    (when under the threshold), the threshold beyond it, the threshold with containment off."""
    small, large = np.array([10, 10, 10, 10]), np.array([12, 40, 120, 130])
    lowest = ct.lowest_jaccard(0.3, 0.7, small, large)
    assert lowest[0] == 0.3 and lowest[1:3] == pytest.approx([0.7 / 4.3, 0.7 / 12.3])
    assert lowest[3] == 0.3 and lowest.tolist() == ct.lowest_jaccard(0.3, 0.7, large, small).tolist()
    assert ct.lowest_jaccard(0.3, 0.0, small, large).tolist() == [0.3] * 4


def _every_pair_of_each_bucket(keys, items, sizes, containment, layout):
    """The pairs :func:`dedup.containment.bucket_pairs` must make, by brute force: every
    pair of members of each bucket of 2 to MAX_BUCKET rows, kept when its size ratio
    needs the bucket's position -- no bucket left out beforehand."""
    low, plain = ct.lowest_ratio(containment, layout, ct.MAX_RATIO), set()
    order = np.argsort(keys, kind="stable")
    for run in np.split(order, np.flatnonzero(np.diff(keys[order])) + 1):
        if not 2 <= len(run) <= ct.MAX_BUCKET:
            continue
        x, y = np.triu_indices(len(run), 1)
        a, b = run[x], run[y]
        ratio = np.maximum(sizes[a], sizes[b]) / np.minimum(sizes[a], sizes[b])
        position = int(keys[run[0]] >> np.uint64(32))
        keep = (ratio > low) & (ratio <= ct.MAX_RATIO)
        keep[keep] = position < ct.depth(containment, ratio[keep], covered=layout)
        plain |= {(min(p, q), max(p, q)) for p, q in zip(items[a[keep]].tolist(), items[b[keep]].tolist())}
    return plain


@pytest.mark.parametrize("containment", [0.7, 0.9])
@pytest.mark.parametrize("layout", LAYOUTS + [None])
def test_buckets_left_out_before_the_size_sort_make_no_pair(layout, containment):
    """Review R7 of session 22: bucket_pairs leaves out, before its sort by size, the
    buckets whose largest member is under its smallest one's least partner size
    (a7d382a).  Buckets here are narrow in size around that edge -- a spread of just
    the least ratio of their position (the sizes at the boundary itself), a little
    under and a little over it, or wide -- so that most are left out and many sit at
    the edge; the pairs must be exactly every bucket's pairs filtered one by one."""
    rng = np.random.default_rng(11)
    positions = ct.search_positions(containment, 256)
    least = ct.least_ratio(containment, np.arange(positions), covered=layout)
    least = np.maximum(least, ct.lowest_ratio(containment, layout, ct.MAX_RATIO))
    keys, sizes, edge, left_out = [], [], 0, 0
    for bucket in range(2500):
        position = int(rng.integers(0, positions))
        members = int(rng.integers(2, ct.MAX_BUCKET + 3))  # a few over the cap
        small = int(rng.integers(3, 3000))
        spread = least[position] * rng.choice([1.0, 1.0, 0.97, 1.03, rng.uniform(0.5, 2.5)])
        large = int(rng.choice([np.floor(small * spread), np.ceil(small * spread)]))
        size = np.r_[small, max(large, small), rng.integers(small, max(large, small) + 1, members - 2)]
        edge += abs(large - small * least[position]) <= 1
        left_out += members <= ct.MAX_BUCKET and np.floor(size.min() * least[position] * (1 - 1e-9)) > size.max()
        keys.append(np.full(members, (position << 32) | bucket, np.uint64))
        sizes.append(size)
    keys, sizes = np.concatenate(keys), np.concatenate(sizes)
    items = rng.permutation(len(keys))  # rows in any order, items numbered apart from rows
    shuffled = rng.permutation(len(keys))
    keys, sizes, items = keys[shuffled], sizes[shuffled], items[shuffled]
    got = ct.bucket_pairs(keys, items, sizes, containment, covered=layout)
    want = _every_pair_of_each_bucket(keys, items, sizes, containment, layout)
    assert left_out > 400 and edge > 300 and len(want) > 1000, (left_out, edge, len(want))
    assert len(got) == len(set(map(tuple, got.tolist())))  # each pair once: one bucket each here
    assert set(map(tuple, got.tolist())) == want

