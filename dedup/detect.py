"""Detection: from a signed corpus to verified duplicate pairs and groups.

The order of work is what keeps it linear on real archives:

1. Exact copies first.  Paragraphs (and documents) with the same normalized text are
   grouped by content hash, and everything after runs once per *distinct* text, so a
   boilerplate paragraph repeated 10,000 times costs one signature comparison, not 50
   million.  Exact copies are reported as star pairs around their first occurrence.
2. LSH banding of the distinct texts' signatures proposes candidates (:mod:`dedup.lsh`).
3. Every candidate is verified exactly on its shingle sets (:mod:`dedup.verify`); a pair
   is kept when its Jaccard reaches the threshold.
4. Pairs are grouped (:mod:`dedup.group`).

Paragraphs and documents go through the same steps: a document's shingle set is the
union of its paragraphs' and its signature the element-wise minimum of theirs (that is
exactly the MinHash of the union), so document level costs no second pass over the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import xxhash

from . import boilerplate as bp
from . import containment
from .corpus import Corpus
from .group import exact_groups, groups
from .lsh import band_keys, candidate_pairs
from .minhash import EMPTY, estimate
from .results import Group, Kind, Location, Pair
from .segments import offsets_from_counts, ranges
from .settings import Settings
from .verify import Scores, score_pairs, unique_sets

LEVELS: tuple[Kind, ...] = ("document", "paragraph")


@dataclass(frozen=True)
class Matches:
    """Verified pairs among a set of items (indices into that set), with scores."""

    pairs: np.ndarray  # (m, 2) int64, a < b
    scores: Scores
    estimates: np.ndarray
    contained: np.ndarray  # (m,) bool: kept for containment alone (Jaccard below threshold)


@dataclass(frozen=True)
class Items:
    """Texts to compare, whatever their level: signatures, where each one's shingles
    are in a flat hash array, and the keys / sizes that decide exactness and eligibility."""

    signatures: np.ndarray
    hashes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    keys: np.ndarray
    tokens: np.ndarray


#: Candidates verified per round when only the pairs that link groups are wanted.
_ROUND = 1 << 16


def similar_pairs(
    items: Items, which: np.ndarray, settings: Settings, threshold: float, all_pairs: bool = True
) -> Matches:
    """Verified pairs among ``items[which]`` with Jaccard >= ``threshold``, or whose
    smaller text is at least ``settings.containment`` inside the larger one (then
    ``contained``; candidates from :mod:`dedup.containment`, 0 turns this off).

    Returned pair indices point into ``which``.  With ``all_pairs=False`` candidates are
    verified in rounds, and a candidate whose two ends earlier rounds already linked
    (directly or through others) is skipped: the groups are exactly the same, but a
    cluster of k near-identical variants costs about k verifications instead of k^2/2
    (templated boilerplate made that most of a large scan's work and report).
    """
    sigs = items.signatures[which]
    candidates = candidate_pairs(band_keys(sigs, settings.bands, settings.rows))
    if settings.containment:
        sizes = items.ends[which] - items.starts[which]
        extra = containment.candidate_pairs(sigs, sizes, settings.containment, covered=(settings.bands, settings.rows))
        candidates = np.unique(np.concatenate([candidates, extra]), axis=0) if len(extra) else candidates
    involved = np.unique(candidates)
    starts, ends = items.starts[which][involved], items.ends[which][involved]
    table = unique_sets(items.hashes[ranges(starts, ends - starts)], offsets_from_counts(ends - starts))
    local = np.searchsorted(involved, candidates)
    step = len(local) if all_pairs else _ROUND
    label = np.arange(len(involved))
    found: list[tuple[np.ndarray, Scores, np.ndarray]] = []
    for lo in range(0, len(local), max(step, 1)):
        batch = local[lo : lo + step]
        if not all_pairs:
            batch = batch[label[batch[:, 0]] != label[batch[:, 1]]]
        scores = score_pairs(table, batch)
        near = scores.jaccard >= threshold
        inside = ~near & (np.maximum(scores.containment_a, scores.containment_b) >= (settings.containment or 2.0))
        keep = near | inside
        found.append((batch[keep], Scores(scores.jaccard[keep], scores.containment_a[keep], scores.containment_b[keep]),
                      inside[keep]))
        if not all_pairs and near.any():
            linked = np.concatenate([f[0][~f[2]] for f in found])
            label = component_labels(len(involved), linked)
    kept = involved[np.concatenate([f[0] for f in found])] if found else np.zeros((0, 2), np.int64)
    return Matches(
        pairs=kept,
        scores=Scores(*(np.concatenate([getattr(f[1], k) for f in found]) if found else np.zeros(0)
                        for k in ("jaccard", "containment_a", "containment_b"))),
        estimates=pair_estimates(sigs, kept),
        contained=np.concatenate([f[2] for f in found]) if found else np.zeros(0, bool),
    )


def component_labels(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` items linked by ``pairs``.

    scipy is imported here, not with the module: it takes ~0.2 s to import, which
    every ``dedup check`` would pay for a function only a scan's detection calls."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def pair_estimates(sigs: np.ndarray, pairs: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """MinHash estimates of ``pairs``, a chunk at a time (gathering both signatures of
    a million pairs at once would take gigabytes)."""
    out = np.zeros(len(pairs))
    for lo in range(0, len(pairs), chunk):
        part = pairs[lo : lo + chunk]
        out[lo : lo + chunk] = estimate(sigs[part[:, 0]], sigs[part[:, 1]])
    return out


def find_pairs(
    items: Items,
    settings: Settings,
    threshold: float,
    min_tokens: int,
    all_pairs: bool = True,
) -> list[tuple]:
    """All duplicate pairs among ``items`` as ``(a, b, jaccard, cont_a, cont_b, estimate,
    exact, contained)`` tuples, ``a < b`` being item indices.

    Exact copies (same key: same normalized text) are linked to their first
    occurrence whatever their length, even without a single token (an emoji-only
    line, an empty file); near-duplicates are found once per distinct text (between
    first occurrences) among texts of ``min_tokens`` tokens or more.  ``all_pairs``
    as in :func:`similar_pairs`.
    """
    first, label = exact_groups(items.keys)
    found: list[tuple] = []
    copies = np.flatnonzero(first[label] != np.arange(len(label)))
    ones = [1.0] * len(copies)
    found.extend(zip(first[label[copies]].tolist(), copies.tolist(), ones, ones, ones, ones, [True] * len(copies),
                     [False] * len(copies)))
    distinct = first[items.tokens[first] >= min_tokens]
    if len(distinct) > 1:
        m = similar_pairs(items, distinct, settings, threshold, all_pairs)
        a, b = distinct[m.pairs[:, 0]], distinct[m.pairs[:, 1]]
        s = m.scores
        found.extend(
            zip(a.tolist(), b.tolist(), s.jaccard.tolist(), s.containment_a.tolist(),
                s.containment_b.tolist(), m.estimates.tolist(), [False] * len(a), m.contained.tolist())
        )
    return found


def paragraph_items(corpus: Corpus) -> Items:
    sh = corpus.shingles
    return Items(
        signatures=corpus.signatures,
        hashes=sh.hashes,
        starts=sh.offsets[:-1],
        ends=sh.offsets[1:],
        keys=corpus.para_key,
        tokens=corpus.para_words,
    )


def document_items(corpus: Corpus, boilerplate: np.ndarray | None = None) -> tuple[Items, np.ndarray]:
    """Every document as an item (an empty or whitespace-only one too: it has no
    paragraph, no shingle and the key of no text), and their indices.

    Paragraphs flagged in ``boilerplate`` (bool per paragraph, :mod:`dedup.boilerplate`)
    are left out of each document's shingle set, signature and token count, so two
    stories that share only a site's footer are compared on the stories; the content key
    (exact copies) still covers the whole document."""
    counts = np.array([d.paragraphs for d in corpus.documents], dtype=np.int64)
    n = len(counts)
    docs = np.arange(n)
    first_para = offsets_from_counts(counts)[:-1]
    sh = corpus.shingles
    ends_para = first_para + counts
    keys = [
        xxhash.xxh3_64_intdigest(corpus.para_key[s:e].tobytes()) for s, e in zip(first_para, ends_para)
    ]
    signatures = np.full((n, corpus.signatures.shape[1]), EMPTY, dtype=np.uint32)
    some = np.flatnonzero(counts > 0)
    if len(some):
        signatures[some] = np.minimum.reduceat(corpus.signatures, first_para[some], axis=0)

    def per_document(values: np.ndarray) -> np.ndarray:
        return np.bincount(corpus.para_doc, weights=values, minlength=n).astype(np.int64)

    if boilerplate is None or not boilerplate.any():
        hashes, starts, ends = sh.hashes, sh.offsets[first_para], sh.offsets[ends_para]
        tokens = per_document(corpus.para_words)
    else:
        keep = ~boilerplate
        lengths = np.diff(sh.offsets)
        kept = np.flatnonzero(keep)
        hashes = sh.hashes[ranges(sh.offsets[kept], lengths[kept])]
        bounds = offsets_from_counts(per_document(np.where(keep, lengths, 0)))
        starts, ends = bounds[:-1], bounds[1:]
        tokens = per_document(np.where(keep, corpus.para_words, 0))
        touched = np.flatnonzero(per_document(boilerplate.astype(np.int64)) > 0)
        signatures[touched] = _signatures_without(corpus.signatures, first_para[touched], ends_para[touched], keep)
    return Items(signatures=signatures, hashes=hashes, starts=starts, ends=ends,
                 keys=np.array(keys, dtype=np.uint64), tokens=tokens), docs


def _signatures_without(signatures: np.ndarray, firsts: np.ndarray, ends: np.ndarray, keep: np.ndarray,
                        chunk: int = 1 << 16) -> np.ndarray:
    """Element-wise minimum of the kept paragraphs' signatures of each paragraph range
    ``[firsts[i], ends[i])`` (all ``EMPTY`` when none is kept), a chunk of ranges at a time."""
    out = np.full((len(firsts), signatures.shape[1]), EMPTY, dtype=signatures.dtype)
    lo = 0
    while lo < len(firsts):
        hi = lo + max(1, int(np.searchsorted(np.cumsum(ends[lo:] - firsts[lo:]), chunk)))
        rows = ranges(firsts[lo:hi], ends[lo:hi] - firsts[lo:hi])
        owner = np.repeat(np.arange(hi - lo), ends[lo:hi] - firsts[lo:hi])
        rows, owner = rows[keep[rows]], owner[keep[rows]]
        if len(rows):
            present = np.unique(owner)
            at = np.searchsorted(owner, present)
            out[lo + present] = np.minimum.reduceat(signatures[rows], at, axis=0)
        lo = hi
    return out


def detect(
    corpus: Corpus,
    settings: Settings,
    levels: Sequence[Kind] = LEVELS,
    *,
    all_pairs: bool = False,
    boilerplate: np.ndarray | None = None,
) -> tuple[list[Pair], list[Group]]:
    """Duplicate pairs and groups of ``corpus`` at the requested levels.

    Pairs come sorted by their first member, then their second, in scan order (path
    order, then paragraph or record order).  By default they are the verified pairs that
    link each group (a near-duplicate whose group membership is already established by
    other pairs is not verified again); ``all_pairs=True`` verifies and reports every
    pair at or above the threshold.  The groups are the same either way.

    ``boilerplate`` (bool per paragraph, default :func:`boilerplate_mask`): those
    paragraphs' exact copies are not reported as pairs (their group is kept, and a scan
    reports each such text once) and they are left out of document similarity.
    """
    if boilerplate is None:
        boilerplate = boilerplate_mask(corpus, settings)
    pairs: list[Pair] = []
    found_groups: list[Group] = []
    for level in LEVELS:
        if level not in levels:
            continue
        if level == "paragraph":
            items = paragraph_items(corpus)
            linked = find_pairs(items, settings, settings.threshold, settings.min_tokens, all_pairs=all_pairs)
            # Boilerplate's exact copies still form their group, but are not pairs.
            raw = [r for r in linked if not (r[6] and boilerplate[r[1]])] if boilerplate.any() else linked
            locate = _Locator.paragraphs(corpus)
        else:
            items, docs = document_items(corpus, boilerplate)
            raw = linked = find_pairs(items, settings, settings.doc_threshold, settings.min_tokens, all_pairs=all_pairs)
            locate = _Locator.documents(corpus, docs)
        raw.sort(key=lambda r: (r[0], r[1]))
        pairs.extend(
            Pair(level, sim, (ca, cb), est, locate(a), locate(b), exact, "contained" if inside else "near-duplicate")
            for a, b, sim, ca, cb, est, exact, inside in raw
        )
        # Groups are copies (keep one, drop the rest): a quote does not make the text
        # around it a copy of anything, so contained pairs link no group.
        for members in groups(len(items.keys), ((a, b) for a, b, *_, inside in linked if not inside)):
            located = tuple(map(locate, members))
            found_groups.append(Group(level, located[0], located))
    return pairs, found_groups


def boilerplate_mask(corpus: Corpus, settings: Settings) -> np.ndarray:
    """Which paragraphs of ``corpus`` are boilerplate under ``settings`` (bool each)."""
    return bp.paragraph_mask(corpus.para_key, corpus.para_doc, len(corpus.documents), settings.boilerplate)


class _Locator:
    """Item index -> :class:`Location`, built once per item (an item is usually in
    several pairs and a group) from plain lists rather than numpy scalars."""

    def __init__(self, paths, paragraphs, starts, ends, previews) -> None:
        self._columns = (paths, paragraphs, starts, ends, previews)
        self._made: dict[int, Location] = {}

    def __call__(self, i: int) -> Location:
        loc = self._made.get(i)
        if loc is None:
            paths, paragraphs, starts, ends, previews = self._columns
            loc = self._made[i] = Location(paths[i], paragraphs[i], starts[i], ends[i], previews[i])
        return loc

    @classmethod
    def paragraphs(cls, corpus: Corpus) -> "_Locator":
        doc_paths = [d.path for d in corpus.documents]
        return cls(
            [doc_paths[d] for d in corpus.para_doc.tolist()],
            corpus.para_index.tolist(),
            corpus.para_start.tolist(),
            corpus.para_end.tolist(),
            corpus.para_preview,
        )

    @classmethod
    def documents(cls, corpus: Corpus, docs: np.ndarray) -> "_Locator":
        first_para = corpus.doc_offsets()[docs].tolist()
        chosen = [corpus.documents[d] for d in docs.tolist()]
        return cls(
            [d.path for d in chosen],
            [None] * len(chosen),
            [0] * len(chosen),
            [d.chars for d in chosen],
            [corpus.para_preview[f] if d.paragraphs else "" for d, f in zip(chosen, first_para)],
        )
