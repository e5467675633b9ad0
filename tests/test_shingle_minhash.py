import re
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash
from hypothesis import given
from hypothesis import strategies as st

from dedup import minhash, shingle as shingle_module
from dedup.minhash import as_datasketch, estimate, fold32, signatures
from dedup.normalize import _PUNCT, normalize
from dedup.shingle import Shingles, shingle
from dedup.tokenize import token_counts


def test_word_shingles_are_order_sensitive_and_local():
    sh = shingle(["a b c", "c b a", "a b c", "x"], "word", 2)
    assert list(np.diff(sh.offsets)) == [2, 2, 2, 1]
    assert set(sh.of(0)) == set(sh.of(2))
    assert not set(sh.of(0)) & set(sh.of(1))  # "a b" != "b a"
    assert list(sh.units) == [3, 3, 3, 1]


def test_shingles_never_cross_texts():
    joined = shingle(["a b c d"], "word", 2)
    split = shingle(["a b", "c d"], "word", 2)
    # "b c" exists only when the words are in one text.
    assert len(set(joined.of(0)) - set(split.hashes)) == 1


def test_short_text_yields_one_shingle_and_empty_yields_none():
    sh = shingle(["only two", ""], "word", 5)
    assert list(np.diff(sh.offsets)) == [1, 0]


def test_unicode_words_match_ascii_fast_path():
    # The ASCII fast path and the regex path must cut words identically.
    assert token_counts(["it's a dog_house, 42", "it\u2019s a dog_house, 42"]).tolist() == [5, 5]
    expected = shingle(["it s a dog_house 42"], "word", 1).of(0)
    assert np.array_equal(shingle(["it's a dog_house, 42"], "word", 1).of(0), expected)
    ascii_sh = shingle(["its a dog house"], "word", 2)
    mixed = shingle(["its a dog house \u00e9t\u00e9"], "word", 2)
    assert set(ascii_sh.of(0)) < set(mixed.of(0))


def test_char_shingles():
    sh = shingle(["abcdef", "abcxyz"], "char", 3)
    assert list(np.diff(sh.offsets)) == [4, 4]
    assert len(set(sh.of(0)) & set(sh.of(1))) == 1  # "abc"


@pytest.mark.parametrize("unit,n", [("word", 2), ("word", 5), ("char", 5)])
def test_signatures_equal_datasketch_affine32(unit, n):
    texts = ["the quick brown fox jumps over the lazy dog again and again", "a b", "", "x y z w"]
    sh = shingle(texts, unit, n)
    sig = signatures(sh, 64, seed=7)
    for i in range(len(texts)):
        m = MinHash(num_perm=64, seed=7, scheme="affine32", hashfunc=lambda v: v)
        m.update_batch([int(v) for v in fold32(sh.of(i))]) if len(sh.of(i)) else None
        assert np.array_equal(sig[i], m.hashvalues)
        assert as_datasketch(sig[i], seed=7) == LeanMinHash(m)


def _datasketch_signature(hashes: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, scheme="affine32", hashfunc=lambda v: v)
    if len(hashes):
        m.update_batch([int(v) for v in fold32(hashes)])
    return m.hashvalues


def test_signatures_equal_datasketch_for_any_length_batch_and_array_layout():
    # One compiled loop signs every text (it replaced three numpy paths chosen by text
    # length and batch size): lengths from 0 to past the old paths' 512-shingle split,
    # batches of one text and of many, and shingle arrays that are read-only or strided
    # (copied to the one layout the loop is compiled for) give datasketch's values.
    rng = np.random.default_rng(3)
    lengths = [0, 1, 2, 3, 40, 41, 7, 0, 513, 600, 90, 12, 12, 1, 512, 25]
    texts = [" ".join(f"w{v}" for v in rng.integers(0, 300, n)) for n in lengths]
    sh = shingle(texts, "word", 2)
    expected = np.array([_datasketch_signature(sh.of(i), 64, 5) for i in range(len(texts))])
    assert np.array_equal(signatures(sh, 64, seed=5), expected)
    alone = np.vstack([signatures(shingle([t], "word", 2), 64, seed=5) for t in texts])
    assert np.array_equal(alone, expected)
    held = np.repeat(sh.hashes, 2)[::2]  # strided
    frozen = sh.offsets.copy()
    frozen.setflags(write=False)
    odd = Shingles(hashes=held, offsets=frozen, units=sh.units)
    assert not held.flags.c_contiguous
    assert np.array_equal(signatures(odd, 64, seed=5), expected)
    assert signatures(shingle([], "word", 2), 64).shape == (0, 64)


_LOADED = r"""
import sys
from dedup import Document, scan_documents
docs = [Document(f"d{i}.txt", f"paragraph {i} of a text that repeats\n\nanother one {i % 2}") for i in range(6)]
scan_documents(docs, jobs=2, cache_dir=sys.argv[1])
loaded = "numba" in sys.modules
from dedup import minhash_kernel
print(loaded, len(minhash_kernel.minhash_rows._dispatcher.signatures))
"""


def test_a_scan_of_several_jobs_loads_the_compiled_loop_before_its_workers_fork(tmp_path):
    # A cold scan of several jobs loads numba and the compiled MinHash loop in its own
    # process before its pool forks (the workers share it, instead of ~0.8 s CPU each);
    # a scan whose cache holds batches leaves it to a worker that signs (none here).
    def run() -> str:
        return subprocess.run([sys.executable, "-c", _LOADED, str(tmp_path)], capture_output=True, text=True,
                              check=True).stdout.split()

    assert run() == ["True", "1"]
    assert run() == ["False", "0"]


def test_word_hashes_are_the_same_word_by_word_and_vectorized(monkeypatch):
    # Small batches hash word by word, large ones with numpy: same values either way.
    texts = ["The quick brown fox, it's 42_x", "", "naïve café", "a " * 50 + "z" * 200, "x"]
    by_word = shingle(texts, "word", 2)
    monkeypatch.setattr(shingle_module, "_VECTOR_CHARS", 0)
    vectorized = shingle(texts, "word", 2)
    assert np.array_equal(by_word.hashes, vectorized.hashes)
    assert np.array_equal(by_word.offsets, vectorized.offsets)
    assert np.array_equal(by_word.units, vectorized.units)


def test_signatures_of_text_spanning_many_blocks():
    # One huge text is processed in blocks; the minimum must combine across them.
    rng = np.random.default_rng(1)
    big = " ".join(f"w{v}" for v in rng.integers(0, 50_000, 120_000))
    sh = shingle([big, "small text here"], "word", 2)
    sig = signatures(sh, 128)
    m = MinHash(num_perm=128, scheme="affine32", hashfunc=lambda v: v)
    m.update_batch([int(v) for v in fold32(sh.of(0))])
    assert np.array_equal(sig[0], m.hashvalues)


def test_estimate_tracks_exact_jaccard_within_theory(rng):
    # Two sets with known Jaccard; the estimate's error is ~ sqrt(J(1-J)/num_perm).
    num_perm = 256
    errors = []
    for trial in range(40):
        base = [f"t{trial}w{i}" for i in range(300)]
        other = base[:180] + [f"t{trial}x{i}" for i in range(120)]
        jaccard = 180 / 420
        sh = shingle([" ".join(base), " ".join(other)], "word", 1)
        sig = signatures(sh, num_perm)
        errors.append(float(estimate(sig[0], sig[1])) - jaccard)
    sd = (jaccard * (1 - jaccard) / num_perm) ** 0.5
    errors = np.array(errors)
    assert abs(errors.mean()) < 3 * sd / len(errors) ** 0.5 + 0.01  # unbiased
    assert np.mean(np.abs(errors) <= 3 * sd) >= 0.95  # within 3 sigma
    assert errors.std() < 1.5 * sd


@given(st.text(alphabet=st.sampled_from("".join(_PUNCT) + " \t\n\u00a0\u2028\u3000\x1c\x85aBß\ufb01\u0130\u03a3\uff21\u2460\ufef7\ufbfc\ufe8d\u0627\u0648\u064a-'\"")))
def test_normalize_is_its_plain_definition(text):
    # normalize() is tuned for speed (regex instead of str.translate, split/join instead
    # of a whitespace regex); it must still be exactly the definition, or every
    # content key and signature of a text with typography would change.  The table
    # applies before case folding (6873dc7: folding spells some accented Greek capitals
    # out, and an iota subscript as a letter iota: "ᾀ" -> "ἀι").
    table = str.maketrans({k: v or None for k, v in _PUNCT.items()})
    expected = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).translate(table).casefold()).strip()
    assert normalize(text) == expected


def test_estimate_pairs_is_the_estimate_of_the_gathered_rows():
    rng = np.random.default_rng(5)
    sigs = rng.integers(0, 4, size=(300, 64), dtype=np.uint32)
    n = 3 * minhash._PAIR_BLOCK + 17  # several blocks and a partial one
    a, b = rng.integers(0, 300, n), rng.integers(0, 300, n)
    assert np.array_equal(minhash.estimate_pairs(sigs, a, b), estimate(sigs[a], sigs[b]))
    assert minhash.estimate_pairs(sigs, a[:0], b[:0]).shape == (0,)
