"""Read paths the index's look-up uses, on every backend (the ``backend`` fixture,
``conftest.py``): the narrow signature read before whole rows, and exact-copy look-ups
of keys stored nowhere (what most keys of a new article are)."""

from __future__ import annotations

import numpy as np
from storage_contract import KEEP_ALL, article

from dedup import Index
from dedup.index.signing import sign


def test_paragraph_signatures_are_those_of_the_rows_and_skip_missing_ones(backend):
    with Index.open(backend.url) as idx:
        idx.add_many([(f"d{i}", article(100 + i)) for i in range(3)])
        store = idx._store
        keys = np.concatenate([sign([article(100 + i)], idx.settings).corpus.para_key for i in range(3)])
        with store.transaction(write=False):
            rows = store.paragraph_copy_places(keys, 16)
            asked = np.concatenate([rows.ids[::-1], rows.ids[:2], [10**9]])  # unordered, repeated, missing
            ids, signatures = store.paragraph_signatures(asked)
            whole = store.paragraphs(asked)
        assert np.array_equal(ids, np.sort(rows.ids)) and np.array_equal(ids, whole.ids)
        assert np.array_equal(signatures, whole.signatures)
        idx.remove("d1")
        with store.transaction(write=False):
            after, _ = store.paragraph_signatures(rows.ids)
            assert np.array_equal(after, store.paragraphs(rows.ids).ids) and len(after) < len(rows.ids)
            assert len(store.paragraph_signatures(np.zeros(0, np.int64))[0]) == 0


def test_copies_of_keys_stored_nowhere_are_empty_and_stored_ones_still_found(backend):
    text = article(7)
    with Index.open(backend.url, policy=KEEP_ALL) as idx:
        idx.add(text, "a")
        idx.add(text + "\n\nOne more paragraph that is long enough to be compared with the others here.", "b")
        keys = sign([text], idx.settings).corpus.para_key
        store = idx._store
        with store.transaction(write=False):
            unknown = keys ^ np.uint64(0x5555)
            assert len(store.paragraph_copy_places(unknown, 16).ids) == 0
            assert len(store.document_copies(unknown, 16).ids) == 0
            both = store.paragraph_copy_places(np.concatenate([unknown, keys]), 16)
            assert sorted(both.keys.tolist()) == sorted(np.repeat(keys, 2).tolist())
            assert len(store.paragraph_copy_places(keys, 1).ids) == len(np.unique(keys))
