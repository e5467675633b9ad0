"""Spare bands and the paragraph look-up's candidates (:mod:`dedup.index.bands`): a
heavy bucket's rows count only where they collide in a second band, the spare bands
derived so that this catches a pair at the threshold as often as the plain layout, and
an index made before spare bands answers as it did."""

from __future__ import annotations

import json
import random
import sqlite3

import numpy as np
import pytest
from textgen import prose, rewrite

from dedup.index import Index
from dedup.index import bands
from dedup.index.matches import hit_pairs
from dedup.index.signing import index_band_keys
from dedup.lsh import band_keys, catch_probability
from dedup.settings import Settings
from dedup.storage.protocol import SettingsMismatch
from dedup.storage.sqlite.schema import meta_check


def test_spare_bands_are_derived_from_the_threshold_and_an_old_index_has_none():
    s = Settings()
    assert (s.bands, s.rows, s.spare_bands) == (49, 2, 23)
    p, total = s.threshold**s.rows, s.bands + s.spare_bands
    two = 1 - (1 - p) ** total - total * p * (1 - p) ** (total - 1)
    assert two >= catch_probability(s.threshold, s.bands, s.rows) > 0.99  # two collisions: as likely as one was
    total -= 1
    assert 1 - (1 - p) ** total - total * p * (1 - p) ** (total - 1) < catch_probability(s.threshold, s.bands, s.rows)
    assert Settings(bands=128, rows=2).spare_bands == 0  # no room left in 256 values
    assert Settings(bands=100, rows=2, spare_bands=28).spare_bands == 28
    with pytest.raises(ValueError, match="exceed num_perm"):
        Settings(bands=100, rows=2, spare_bands=29)
    with pytest.raises(ValueError, match="spare_bands"):
        Settings(spare_bands=-2)
    stored = {k: v for k, v in s.to_dict().items() if k != "spare_bands"}
    assert Settings.from_dict(stored).spare_bands == 0  # stored before they existed
    assert Settings.from_dict(s.to_dict()) == s


def test_the_index_keys_begin_with_a_scans_keys():
    s = Settings()
    sig = np.random.default_rng(1).integers(0, 2**32, size=(5, s.num_perm), dtype=np.uint64).astype(np.uint32)
    keys = index_band_keys(sig, s)
    assert keys.shape == (5, 72)
    assert np.array_equal(keys[:, : s.bands], band_keys(sig, s.bands, s.rows))


def test_a_pair_sharing_only_heavy_buckets_is_kept_only_where_it_collides_twice():
    query = np.array([[10, 11, 12], [20, 21, 22]], dtype=np.uint64)
    entries = [  # (key, row), keys 10 and 20 heavy at HEAVY = 2
        (10, 1), (10, 2), (10, 3),  # row 1 collides again (key 12, light), rows 2 and 3 do not
        (12, 1), (12, 4),  # light
        (20, 3), (20, 5), (20, 6), (21, 3),  # row 3 collides with text 1 twice (20, 21)
    ]
    keys = np.array([k for k, _ in entries], dtype=np.uint64)
    refs = np.array([r for _, r in entries], dtype=np.int64)
    new, rows, entry = hit_pairs(query, keys, refs, heavy=2)
    assert list(zip(new.tolist(), rows.tolist())) == [(0, 1), (0, 4), (1, 3)]
    assert (refs[entry] == rows).all()
    new, rows, _ = hit_pairs(query, keys, refs)  # no bound: every pair
    assert list(zip(new.tolist(), rows.tolist())) == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 3), (1, 5), (1, 6)]


def test_a_pair_is_dropped_only_if_all_its_buckets_are_heavy_and_it_collides_once():
    """The recall argument of :mod:`dedup.index.bands`, on random look-ups (texts
    sharing keys, as a batch's paragraphs do): a pair is dropped only if every bucket
    it shares is heavy and it shares one key -- whatever the other texts share."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        texts, width = 4, 6
        query = rng.choice(2**40, size=(texts, width), replace=False).astype(np.uint64)
        query[rng.random(texts) < 0.5, 0] = query[0, 0]  # a key several texts hold (in one band: keys are salted by band)
        keys = rng.choice(query.ravel(), size=rng.integers(1, 400))
        refs = rng.integers(0, 60, size=len(keys))
        keys, refs = np.unique(np.stack([keys.astype(np.int64), refs], 1), axis=0).T
        keys = keys.astype(np.uint64)
        heavy = int(rng.integers(0, 12))
        # As a backend gives them: key-sorted parts (the bucket file, then rows held in
        # memory), so a key may come in two runs -- or in any order at all.
        part = rng.random(len(keys)) < 0.3
        if rng.random() < 0.5:
            keys, refs = np.concatenate([keys[~part], keys[part]]), np.concatenate([refs[~part], refs[part]])
        else:
            shuffled = rng.permutation(len(keys))
            keys, refs = keys[shuffled], refs[shuffled]
        new, rows, entry = hit_pairs(query, keys, refs, heavy=heavy)
        assert (refs[entry] == rows).all()
        # Hits of keys the query does not hold (no backend gives them) pair with no text
        # and weigh on no bucket's size.
        stray = np.repeat(np.sort(query.ravel())[:3] + np.uint64(1), heavy + 1)
        with_stray = hit_pairs(query, np.concatenate([stray, keys]),
                               np.concatenate([np.arange(len(stray)) + 100, refs]), heavy=heavy)
        assert [a.tolist() for a in with_stray[:2]] == [new.tolist(), rows.tolist()]
        size = {k: n for k, n in zip(*np.unique(keys, return_counts=True))}
        shared = {}
        for k, r in zip(keys.tolist(), refs.tolist()):
            for t in np.flatnonzero((query == k).any(axis=1)).tolist():
                shared.setdefault((t, r), []).append(size[k] > heavy)
        expected = sorted(p for p, crowded in shared.items() if not all(crowded) or len(crowded) >= 2)
        assert list(zip(new.tolist(), rows.tolist())) == expected


def test_a_batch_gets_the_candidates_of_its_articles_checked_alone(tmp_path, monkeypatch):
    """A pair sharing one heavy bucket is no candidate, even when another article of
    the batch holds the same key and collides with the row twice (until session 17
    the entry kept for that article paired the row with every paragraph holding the
    key: ``check_many`` found a paragraph match ``check`` did not)."""
    stored = prose(random.Random(274), 60)
    near = rewrite(random.Random(274 + 10**6), stored, 0.38)  # Jaccard 0.30, one band of 72 shared
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(stored, doc_id="s")
        assert idx.check(near, doc_id="b").matches[0].paragraphs  # no heavy bucket: found
        monkeypatch.setattr(bands, "HEAVY", 0)  # every bucket heavy
        alone = [idx.check(text, doc_id=name) for name, text in (("a", stored), ("b", near))]
        assert not alone[1].matches[0].paragraphs  # (the documents still match as wholes)
        batch = idx.check_many([("a", stored), ("b", near)])
        assert [v.to_dict() for v in batch] == [v.to_dict() for v in alone]


def test_a_look_up_with_every_bucket_heavy_still_finds_the_rewrites(tmp_path, monkeypatch):
    """With HEAVY at 0 every bucket is heavy: only rows colliding in two bands are
    candidates.  Rewrites of stored texts (Jaccard well above the threshold) are still
    found, the same matches as with no bucket heavy, from fewer candidate pairs."""
    rng = random.Random(3)
    stored = [prose(rng, rng.randint(25, 60)) for _ in range(60)]
    pairs = []
    real = bands.hit_pairs

    def counted(q, keys, refs, heavy=None):
        got = real(q, keys, refs, heavy)
        pairs[-1] += len(got[0])
        return got

    monkeypatch.setattr(bands, "hit_pairs", counted)
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.load([(f"s{i}", t) for i, t in enumerate(stored)])
        probe = "\n\n".join(rewrite(random.Random(i), stored[i], 0.1) for i in (3, 17, 41))
        found = {}
        for heavy in (10**6, 0):
            monkeypatch.setattr(bands, "HEAVY", heavy)
            pairs.append(0)
            found[heavy] = {m.doc_id for m in idx.check(probe, doc_id="probe").matches}
    assert found[0] == found[10**6] >= {"s3", "s17", "s41"}
    assert pairs[1] < pairs[0]


def test_an_index_made_before_spare_bands_answers_as_before(tmp_path):
    rng = random.Random(11)
    texts = [prose(rng, 50) + "\n\n" + prose(rng, 40) for _ in range(20)]
    old = Settings(spare_bands=0)
    with Index.open(tmp_path / "old.dedup", settings=old) as idx:
        idx.add_many([(f"d{i}", t) for i, t in enumerate(texts)])
    # Its stored settings as a dedup before session 16 wrote them: no spare_bands key
    # (the pipeline fingerprint is the same: no spare keys to digest).
    conn = sqlite3.connect(tmp_path / "old.dedup")
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    settings = json.loads(meta["settings"])
    assert settings.pop("spare_bands") == 0
    meta["settings"] = json.dumps(settings, sort_keys=True)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'settings'", (meta["settings"],))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'meta_check'", (meta_check(meta),))
    conn.close()
    with Index.open(tmp_path / "old.dedup", settings=Settings()) as idx:  # the defaults: not refused
        assert idx.settings.spare_bands == 0
        verdict = idx.check(rewrite(random.Random(2), texts[4], 0.1), doc_id="x")
        assert "d4" in {m.doc_id for m in verdict.matches}


def test_spare_bands_given_that_differ_from_the_index_are_refused(tmp_path):
    """Review R10: the derived count is not asked for (the defaults open an index made
    before spare bands, above), but one given is."""
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(prose(random.Random(1), 40), doc_id="a")
    with pytest.raises(SettingsMismatch, match=r"spare_bands=23 \(asked for 5\)"):
        Index.open(tmp_path / "i.dedup", settings=Settings(spare_bands=5))
    with pytest.raises(SettingsMismatch, match=r"^[^,]*ngram=2 \(asked for 3\); open"):  # only what differs
        Index.open(tmp_path / "i.dedup", settings=Settings(ngram=3, spare_bands=-1))
    with Index.open(tmp_path / "i.dedup", settings=Settings(spare_bands=23)) as idx:
        assert idx.settings.spare_bands == 23
