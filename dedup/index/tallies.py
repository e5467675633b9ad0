"""The index's boilerplate rule: a paragraph text that occurred in many of the
documents judged before (the storage's persistent tallies) is boilerplate, and what an
add tallies."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import xxhash

from ..boilerplate import min_documents
from ..segments import first_unique, sorted_unique, unique_rows
from ..storage.protocol import Storage
from .signing import Signed


def boilerplate(
    store: Storage, signed: Signed, which: np.ndarray | None = None, counted: np.ndarray | None = None,
) -> np.ndarray:
    """Which paragraphs of the batch are boilerplate: their exact text occurred in at
    least :func:`dedup.boilerplate.min_documents` of the documents the index has
    judged before (stored or rejected: the storage's tallies, :meth:`Storage.tally`,
    counted by every add and load).  With ``which`` (bool per batch paragraph), only
    those paragraphs are looked at (the others are ``False``): a batch add looks
    single articles up again.  With ``counted`` (bool per article: an add of the
    batch, which judges these articles one after another), the counted articles
    earlier in the batch count too, as one-at-a-time adds would have tallied them."""
    seen, need = recurrences(store, signed, which, counted)
    return seen >= need


def recurrences(
    store: Storage, signed: Signed, which: np.ndarray | None = None, counted: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(seen, need)``, one each per batch paragraph: in how many documents judged
    before it its exact text occurred (``which``, ``counted``: as for
    :func:`boilerplate`; 0 for paragraphs not asked about), and how many make it
    boilerplate (an int64 above every count when boilerplate is off)."""
    s = store.settings
    keys = signed.corpus.para_key
    asked = np.ones(len(keys), bool) if which is None else which
    seen = np.zeros(len(keys), np.int64)
    never = np.full(len(keys), np.iinfo(np.int64).max)
    if not s.boilerplate or not asked.any():
        return seen, never
    seen[asked], judged = store.tallies(keys[asked])
    before = np.zeros(len(signed.first) - 1, np.int64)
    if counted is not None:
        docs = signed.corpus.para_doc
        order = np.lexsort((docs, keys))
        k, d = keys[order], docs[order]
        new_key = np.r_[True, k[1:] != k[:-1]]
        new_pair = new_key | np.r_[True, d[1:] != d[:-1]]
        flags = np.r_[0, np.cumsum(new_pair & counted[d])]  # counted (key, article) pairs before
        pair_start = np.maximum.accumulate(np.where(new_pair, np.arange(len(k)), 0))
        key_start = np.maximum.accumulate(np.where(new_key, np.arange(len(k)), 0))
        earlier = np.empty(len(k), np.int64)
        earlier[order] = flags[pair_start] - flags[key_start]
        seen = seen + earlier
        before = np.cumsum(counted) - counted
    need = np.array([min_documents(judged + b, s.boilerplate) for b in before.tolist()], dtype=np.int64)
    return np.where(asked, seen, 0), np.where(asked, need[signed.corpus.para_doc], never)


class StoredBoilerplate:
    """The ``leave_out`` of :meth:`Storage.document_sets` that leaves a stored page's own
    boilerplate out of its set: the paragraphs whose text occurred in at least
    :func:`dedup.boilerplate.min_documents` of the documents judged (the stored
    tallies).  ``left_out`` says whether it flagged any.

    In a batch add (``counted``, bool per article of ``signed``, as for
    :func:`boilerplate`), the counted articles of the batch before an article count
    for it too, as one-at-a-time adds would have tallied them: the flags taken are those
    of the first of the look-up's articles ``arts`` (ascending article numbers of
    ``signed``), and ``differs`` (bool per position in ``arts``) marks the articles for
    which a look-up of them alone would flag any of the keys asked differently (the
    index looks those up again alone, :func:`dedup.index.run.decide`).

    Why: an article's boilerplate was left out of both sides of a document score, but
    boilerplate only the stored page has (its "related stories" box) was not, so the
    same story without that box scored well under 1."""

    def __init__(self, store: Storage, signed: Signed | None = None, arts: np.ndarray | None = None,
                 counted: np.ndarray | None = None) -> None:
        self._store = store
        self.left_out = False
        batch = signed is not None and arts is not None and counted is not None and bool(counted.any())
        self._batch = (signed, np.asarray(arts), counted) if batch else None
        self.differs = np.zeros(0 if arts is None else len(arts), bool)

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        counts, judged = self._store.tallies(keys)
        floor = self._store.settings.boilerplate
        if self._batch is None:
            flagged = counts >= min_documents(judged, floor)
        else:
            flagged, differs = _flags_in_batch(np.asarray(keys, np.uint64), counts, judged, floor, *self._batch)
            self.differs |= differs
        self.left_out = self.left_out or bool(flagged.any())
        return flagged


#: Articles of a look-up whose stored-boilerplate flags :func:`_flags_in_batch` weighs at
#: once (an int64 a key the batch holds and an article: a few MB at most).
COLUMNS = 64


def _flags_in_batch(keys: np.ndarray, counts: np.ndarray, judged: int, floor: int, signed: Signed,
                    arts: np.ndarray, counted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:class:`StoredBoilerplate`'s flags of ``keys`` (stored ``counts``, ``judged``)
    for the first article of ``arts``, and per article of ``arts`` whether its own
    flags differ: article ``d`` sees each key counted once more for every counted
    article before it holding the key, and ``judged`` plus those articles."""
    before = (np.cumsum(counted) - counted)[arts]
    need = np.array([min_documents(judged + b, floor) for b in before.tolist()], dtype=np.int64)
    c = signed.corpus
    which = counted[c.para_doc]
    pair_keys, pair_docs = unique_rows(c.para_key[which], c.para_doc[which])  # sorted by key, then article
    unique, inverse = sorted_unique(keys, return_inverse=True)
    stored = np.zeros(len(unique), np.int64)
    stored[inverse] = counts
    # Keys no article of the batch holds: only the floor moves (upwards), so a key
    # flagged for the first article is not for a later one whose floor passed its count.
    at = np.searchsorted(pair_keys, unique)
    mine = at < len(pair_keys)
    mine[mine] = pair_keys[at[mine]] == unique[mine]
    others = stored[~mine]
    low = others[others >= need[0]]
    differs = need > (low.min() if len(low) else np.iinfo(np.int64).max)
    # Keys the batch holds: each one's count for each article, from the articles before it.
    held = np.flatnonzero(mine)
    first = np.zeros(len(unique), bool)
    if len(held):
        at = at[held]
        width = int(max(arts.max(), pair_docs.max())) + 1
        codes = np.searchsorted(pair_keys, pair_keys) * width + pair_docs  # (its key's first pair, article): sorted
        for lo in range(0, len(arts), COLUMNS):  # (keys x COLUMNS articles at a time: memory bounded; R3)
            cut = slice(lo, lo + COLUMNS)
            extra = np.searchsorted(codes, (at * width)[:, None] + arts[None, cut]) - at[:, None]
            flags = stored[held][:, None] + extra >= need[None, cut]
            if lo == 0:
                first[held] = flags[:, 0]
            differs[cut] |= (flags != first[held][:, None]).any(axis=0)
    first[~mine] = others >= need[0]
    return first[inverse], differs


#: The xxh3-64 seed of a judged text's key (:func:`text_keys`): a namespace apart from
#: the paragraph content keys (seed 0) in the same tallies.
TEXT_SEED = 0x6A75646765640A  # "judged\n"


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """uint64 per text: the tally key that records its exact text as judged (xxh3-64 of
    its UTF-8 bytes, seeded with :data:`TEXT_SEED`)."""
    return np.fromiter((xxhash.xxh3_64_intdigest(t.encode("utf-8", "surrogatepass"), seed=TEXT_SEED)
                        for t in texts), dtype=np.uint64, count=len(texts))


def judged_texts(store: Storage, keys: np.ndarray) -> np.ndarray:
    """bool per text key (:func:`text_keys`): the index judged that exact text before
    (its key is tallied).  One :meth:`Storage.tally` look-up."""
    return store.tallies(keys)[0] > 0


def first_judged(keys: np.ndarray, judged: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """``counted`` (bool per text), less the texts the index judged before (``judged``,
    from :func:`judged_texts` of their ``keys``, :func:`text_keys`) and the repeats of a
    text counted earlier in the batch.

    Why: boilerplate is a paragraph recurring across many *distinct* documents.  A
    rejected reprint re-submitted (a retried or daily re-run add) was counted again
    each time: its 11th add was accepted as "nothing seen before", the original's
    paragraphs boilerplate for every later check (tester's T5, session 12).  No new
    record: the text keys are tallies, checked like any tally.  (A text judged by a
    dedup before this rule has no text key: it is counted once more, then never.)"""
    # The first of each text *among those counted*: a copy after an uncounted one (an
    # id already indexed, or refused for its other stored text) is counted -- else it
    # was stored with no tally, and the next look-up of its paragraphs took the index
    # for damaged ("stored paragraph rows ... have no boilerplate tally").
    which = np.flatnonzero(counted & ~judged)
    _, first, _ = first_unique(keys[which])
    out = np.zeros(len(keys), bool)
    out[which[first]] = True
    return out


def copied_before(keys: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """bool per text (``keys``, :func:`text_keys`): an earlier text of the batch with the
    same key is ``counted`` (so one-at-a-time adds would find it judged)."""
    which = np.flatnonzero(counted)
    unique, first, _ = first_unique(keys[which])
    at = np.minimum(np.searchsorted(unique, keys), max(len(unique) - 1, 0))
    same = unique[at] == keys if len(unique) else np.zeros(len(keys), bool)
    return same & (which[first[at]] < np.arange(len(keys))) if len(unique) else same


def tallied(signed: Signed, counted: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """The keys to tally for the ``counted`` articles of ``signed`` (``texts``, one per
    article): each distinct paragraph content key once per article, and each article's
    :func:`text_keys` once."""
    c = signed.corpus
    which = counted[c.para_doc]
    paragraphs = unique_rows(c.para_key[which], c.para_doc[which])[0]
    return np.concatenate([paragraphs, text_keys([t for t, n in zip(texts, counted.tolist()) if n])])
