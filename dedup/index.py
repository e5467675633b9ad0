"""The persistent index: "have we seen this article (or these paragraphs) before?"

This is the second way dedup is used: an ingest pipeline checks each incoming article
against everything already accepted, rejects or trims duplicates and adds the rest,
across restarts.  ``dedup check`` and ``dedup index ...`` are thin layers over it.

How a check works, reusing the scan's stages (nothing is re-implemented here):

1. the article is signed like a scan batch (:func:`dedup.corpus.sign_documents`), its
   document-level signature is the minimum of its paragraphs' (:func:`dedup.detect.
   document_items`), and both are cut into band keys (:func:`dedup.lsh.band_keys`);
2. the band keys are looked up in the stored buckets -- a memory-mapped, key-sorted
   file (one binary search per key, see :mod:`dedup.storage.bucketfile`) written by
   :meth:`Index.optimize`, plus what was stored since, held in memory -- which gives
   candidate stored paragraphs and documents;
3. candidates whose MinHash estimate is far below the threshold are dropped (chance
   candidates grow with the archive): first on a 64-byte b-bit sketch that comes with
   the bucket hits (:func:`sketch_floor`), then on the full stored signature
   (:func:`floor`);
4. every remaining candidate is verified exactly on its stored shingle set
   (:func:`dedup.verify.score_pairs`); only pairs at or above the thresholds count,
   as in a scan (paragraphs of fewer than ``min_words`` words are not compared).

``add`` runs the same check and the write in one exclusive storage transaction, so two
processes adding near-identical articles at the same moment cannot both be admitted.
Batches (``check_many``, ``add_many``, ``filter``) sign all their articles in one
vectorized pass and use one transaction per batch.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
import xxhash

from .corpus import Corpus, sign_documents
from .detect import document_items
from .lsh import band_keys
from .minhash import EMPTY, estimate
from .readers import Document
from .segments import offsets_from_counts, ranges
from .settings import Settings
from .storage import BUSY_TIMEOUT, Storage, StoredDocument, open_storage
from .storage.base import SKETCH_BITS, NewDocument, ParagraphRows, sketch, sketch_matches, sketch_positions
from .verdict import DocumentMatch, ParagraphMatch, Policy, Verdict
from .verify import SetTable, score_pairs, unique_sets

#: Exact copies of one matched stored text listed in a verdict.
MAX_COPIES = 16
#: Stored documents scored as whole documents per article (those sharing the most
#: paragraphs first); bounds the work when a text is repeated across the archive.
MAX_DOCUMENTS = 64
#: See :func:`floor`.
PREFILTER_SIGMAS = 4.0
#: See :func:`sketch_floor`: the chance that the sketch drops a pair at the threshold.
SKETCH_MISS = 1e-6
#: Articles per batch in ``filter`` (one signing pass and one transaction each).
BATCH_DOCUMENTS = 256
#: With ``auto_optimize``, a write that leaves more paragraphs outside the bucket file
#: than this, and than ``OPTIMIZE_SHARE`` of those inside, writes a new file.  Why
#: these (measured at 100k articles, ~1M paragraphs, benchmarks/README-index.md): a new
#: file merges the old one with what is new in ~2-4 s; every process that opens the
#: index reads the paragraphs outside the file into memory, ~26 us each.  So at most
#: ~50k outside (~1.3 s for a fresh process) costs each added article ~0.6 ms of
#: rewriting on average; below ~20k paragraphs there is little to gain.
OPTIMIZE_AFTER = 20_000
OPTIMIZE_SHARE = 0.05

Item = Union[Document, Mapping[str, Any], tuple, str]


class BadDocument(ValueError):
    """An article the index cannot check; the message names it and says why."""


@dataclass(frozen=True)
class _Input:
    doc_id: Optional[str]
    text: Any
    meta: Optional[Mapping[str, Any]]


@dataclass(frozen=True)
class _Signed:
    """A signed batch: the corpus plus document-level signatures and all band keys."""

    corpus: Corpus
    first: np.ndarray  # paragraph offsets per document
    para_bands: np.ndarray  # (paragraphs, bands)
    doc_signatures: np.ndarray  # (documents, num_perm)
    doc_keys: np.ndarray
    doc_bands: np.ndarray  # (documents, bands)


@dataclass(frozen=True)
class _Found:
    """Paragraph matches of one article: local eligible index, stored row, scores."""

    new: np.ndarray  # index into the article's eligible paragraphs
    rows: ParagraphRows  # stored side, one row per match
    jaccard: np.ndarray
    cont_new: np.ndarray
    cont_stored: np.ndarray
    estimates: np.ndarray
    exact: np.ndarray


class Index:
    """A persistent near-duplicate index.  Open with :meth:`Index.open`.

    One ``Index`` per thread or process (it holds one database connection); any number
    of processes may open the same file at once."""

    def __init__(
        self, storage: Storage, policy: Union[Policy, str, None] = None, auto_optimize: bool = True
    ) -> None:
        self._store = storage
        self.policy = Policy.of(policy, Policy())
        self.auto_optimize = auto_optimize

    @classmethod
    def open(
        cls,
        path: Union[str, os.PathLike],
        settings: Optional[Settings] = None,
        *,
        policy: Union[Policy, str, None] = None,
        create: bool = True,
        readonly: bool = False,
        busy_timeout: float = BUSY_TIMEOUT,
        auto_optimize: bool = True,
    ) -> "Index":
        """Open the index file at ``path``, creating it (with ``settings``, default
        ``Settings()``) if missing.  An existing index keeps its stored settings;
        asking for different ones raises :class:`~dedup.storage.SettingsMismatch`.

        With ``auto_optimize`` (the default) a write that leaves many paragraphs
        outside the bucket file rewrites it (:meth:`optimize`; seconds on a large
        index); pipelines that cannot afford that pause in an ``add`` pass ``False``
        and call :meth:`optimize` (``dedup index optimize``) on their own schedule."""
        store = open_storage(path, settings, create=create, readonly=readonly, busy_timeout=busy_timeout)
        index = cls(store, policy, auto_optimize=auto_optimize and not readonly)
        if index.auto_optimize:  # e.g. an index upgraded from a format without bucket file
            index._optimize_if_behind()
        return index

    @property
    def settings(self) -> Settings:
        return self._store.settings

    @property
    def path(self) -> str:
        return self._store.path

    # -- the questions -------------------------------------------------------------

    def check(self, text: str, doc_id: Optional[str] = None, *, policy: Union[Policy, str, None] = None) -> Verdict:
        """What the index says about ``text`` (read-only).  Bad input raises :class:`BadDocument`."""
        return _raised(self._run([_Input(doc_id, text, None)], Policy.of(policy, self.policy), write=False)[0])

    def add(
        self,
        text: str,
        doc_id: Optional[str] = None,
        *,
        meta: Optional[Mapping[str, Any]] = None,
        policy: Union[Policy, str, None] = None,
    ) -> Verdict:
        """Check ``text`` and, as the policy decides, store it -- atomically.

        Without ``doc_id`` the id is derived from the text.  Returns the verdict
        (``verdict.added`` says whether it was stored)."""
        return _raised(self._run([_Input(doc_id, text, meta)], Policy.of(policy, self.policy), write=True)[0])

    def check_many(self, items: Iterable[Item], *, policy: Union[Policy, str, None] = None) -> list[Verdict]:
        """Verdicts for many articles (``(id, text)`` pairs, dicts with ``id``/``text``,
        :class:`~dedup.readers.Document` s or plain strings), signed in one pass.
        Bad items get a verdict with ``error`` set instead of stopping the batch."""
        return self._run([_input(i) for i in items], Policy.of(policy, self.policy), write=False)

    def add_many(self, items: Iterable[Item], *, policy: Union[Policy, str, None] = None) -> list[Verdict]:
        """Like :meth:`add` for many articles, in one transaction; each article is
        judged against the index *and* the articles of the batch added before it.
        Extra keys of dict items are stored as metadata."""
        return self._run([_input(i) for i in items], Policy.of(policy, self.policy), write=True)

    def filter(
        self,
        stream: Iterable[Item],
        *,
        policy: Union[Policy, str, None] = None,
        batch_size: int = BATCH_DOCUMENTS,
    ) -> Iterator[tuple[Item, Verdict]]:
        """Add a stream of articles batch by batch, yielding ``(item, verdict)``.

        Keep ``item`` when ``verdict.accepted`` (under ``strip``, keep
        ``verdict.text``).  Batches are committed before they are yielded."""
        batch: list[Item] = []
        for item in stream:
            batch.append(item)
            if len(batch) >= batch_size:
                yield from zip(batch, self.add_many(batch, policy=policy))
                batch = []
        if batch:
            yield from zip(batch, self.add_many(batch, policy=policy))

    def load(self, items: Iterable[Item], *, batch_size: int = BATCH_DOCUMENTS) -> list[Verdict]:
        """Store articles *without* checking them, in one transaction.

        For seeding an index from an archive that is already deduplicated (for
        example with ``dedup scan``): nothing is compared, which is several times
        faster than adding one article at a time, and the bucket file is written once
        at the end (with ``auto_optimize``).  Bad items get an ``error`` verdict; an id
        already stored is an error, as in :meth:`add_many`.
        """
        verdicts: list[Verdict] = []
        batch: list[_Input] = []
        with self._store.transaction(write=True):
            for item in items:
                batch.append(_input(item))
                if len(batch) >= batch_size:
                    verdicts.extend(self._run(batch, self.policy, write=True, judge=False))
                    batch = []
            verdicts.extend(self._run(batch, self.policy, write=True, judge=False))
        if self.auto_optimize:
            self._optimize_if_behind(lambda covered, behind: behind > 0)
        self._store.checkpoint()
        return verdicts

    def optimize(self) -> dict[str, Any]:
        """Rewrite the read-optimized copy of the buckets that checks look keys up in
        (:mod:`dedup.storage.bucketfile`) to include everything stored.

        Why it exists: what was stored since the file was written is read into the
        memory of every process using the index (~26 us per paragraph when a process
        starts), and without a file that is everything.  Adds call it by themselves
        (``auto_optimize``); call it yourself after a large batch or on a schedule.
        Writers may go on meanwhile.  Returns what was written (path, bytes, rows,
        seconds)."""
        return self._store.optimize()  # type: ignore[return-value]

    # -- the collection ------------------------------------------------------------

    def _optimize_if_behind(self, due: Optional[Callable[[int, int], bool]] = None) -> None:
        """The automatic :meth:`optimize` after writes, when ``due(covered, behind)``
        (default: the ``OPTIMIZE_*`` rule): skipped when another process is doing it; a
        failure is a warning, not an error -- the write it follows has committed, and
        the index stays correct without a new file, only slower."""
        due = due or _due
        try:
            if due(*self._store.bucket_file_lag()):
                self._store.optimize(when=due)
        except Exception as err:  # noqa: BLE001 -- whatever it is, the write stands
            warnings.warn(f"{self.path}: could not write a new bucket file: {err}", stacklevel=3)

    def remove(self, doc_id: str) -> None:
        """Remove a stored document; ``KeyError`` if there is none with that id."""
        with self._store.transaction(write=True):
            removed = self._store.delete(doc_id)
        if not removed:
            raise KeyError(doc_id)

    def get(self, doc_id: str) -> Optional[StoredDocument]:
        """The stored text, paragraph spans and metadata of ``doc_id`` (or ``None``)."""
        return self._store.get(doc_id)

    def stats(self) -> dict[str, Any]:
        """``{"documents", "paragraphs", "settings", "bytes", ...}``."""
        return self._store.stats()

    def __len__(self) -> int:
        return self._store.count()

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._store.contains(doc_id)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the work ------------------------------------------------------------------

    def _run(self, inputs: Sequence[_Input], policy: Policy, write: bool, judge: bool = True) -> list[Verdict]:
        verdicts: list[Optional[Verdict]] = [None] * len(inputs)
        good: list[int] = []
        for i, inp in enumerate(inputs):
            problem = _problem(inp)
            if problem:
                verdicts[i] = Verdict(_name(inp.doc_id), policy.action, error=problem)
            else:
                good.append(i)
        signed = self._sign([inputs[i].text for i in good])
        with self._store.transaction(write):
            for d, i in enumerate(good):
                inp = inputs[i]
                doc_id = inp.doc_id if inp.doc_id is not None or not write else _auto_id(inp.text)
                if write and self._store.contains(doc_id):
                    verdicts[i] = Verdict(doc_id, policy.action, error=f"document {doc_id!r} is already in the index")
                    continue
                if judge:
                    verdict = self._judge(signed, d, doc_id, inp.text, policy)
                else:
                    verdict = self._unjudged(signed, d, doc_id, inp.text, policy)
                if write and verdict.error is None and _stores(verdict, policy):
                    stored = verdict.text if policy.action == "strip" and verdict.text is not None else inp.text
                    self._store.insert(self._new_document(stored, doc_id, inp.meta, signed, d, stored is inp.text))
                    verdict = replace(verdict, added=True)
                verdicts[i] = verdict
        if write and judge and self.auto_optimize:
            self._optimize_if_behind()
        return verdicts  # type: ignore[return-value]

    def _sign(self, texts: Sequence[str]) -> _Signed:
        s = self.settings
        corpus = sign_documents([Document(str(i), t) for i, t in enumerate(texts)], s)
        items, docs = document_items(corpus)
        n = len(corpus.documents)
        doc_sigs = np.full((n, s.num_perm), EMPTY, dtype=np.uint32)
        doc_sigs[docs] = items.signatures
        doc_keys = np.zeros(n, dtype=np.uint64)
        doc_keys[docs] = items.keys
        return _Signed(
            corpus=corpus,
            first=corpus.doc_offsets(),
            para_bands=band_keys(corpus.signatures, s.bands, s.rows),
            doc_signatures=doc_sigs,
            doc_keys=doc_keys,
            doc_bands=band_keys(doc_sigs, s.bands, s.rows),
        )

    def _eligible(self, signed: _Signed, d: int) -> tuple[int, int, np.ndarray]:
        """Article ``d``'s paragraph range and its paragraphs long enough to compare."""
        lo, hi = int(signed.first[d]), int(signed.first[d + 1])
        return lo, hi, lo + np.flatnonzero(signed.corpus.para_words[lo:hi] >= self.settings.min_words)

    def _too_short(self, doc_id: Optional[str], text: str, paragraphs: int, policy: Policy) -> Verdict:
        return Verdict(doc_id, policy.action, chars=len(text), paragraphs=paragraphs, error=(
            f"document {_name(doc_id)!r} has no paragraph of at least {self.settings.min_words} words; "
            "nothing to compare"
        ))

    def _unjudged(self, signed: _Signed, d: int, doc_id: str, text: str, policy: Policy) -> Verdict:
        """The verdict of a :meth:`load`: stored as it is, compared with nothing."""
        lo, hi, eligible = self._eligible(signed, d)
        if not len(eligible):
            return self._too_short(doc_id, text, hi - lo, policy)
        return Verdict(doc_id, policy.action, chars=len(text), paragraphs=hi - lo, accepted=True,
                       reason="loaded without checking")

    def _judge(self, signed: _Signed, d: int, doc_id: Optional[str], text: str, policy: Policy) -> Verdict:
        s = self.settings
        c = signed.corpus
        lo, hi, eligible = self._eligible(signed, d)
        if not len(eligible):
            return self._too_short(doc_id, text, hi - lo, policy)
        found = self._paragraph_matches(signed, eligible)
        doc_matches = self._document_matches(signed, d, lo, hi, eligible, found)
        seen = tuple(sorted({int(c.para_index[eligible[i]]) for i in found.new.tolist()}))
        share = len(seen) / len(eligible)
        similarity = max((m.similarity for m in doc_matches), default=0.0)
        by_similarity = similarity >= s.doc_threshold
        is_duplicate = by_similarity or share >= policy.seen_share
        if by_similarity:
            best = max(doc_matches, key=lambda m: m.similarity)
            reason = f"document similarity {similarity:.2f} with {best.doc_id!r} (threshold {s.doc_threshold})"
        elif seen:
            compare = ">=" if share >= policy.seen_share else "<"
            reason = (f"{len(seen)} of {len(eligible)} paragraphs already seen "
                      f"({share:.0%} {compare} {policy.seen_share:.0%})")
        else:
            reason = "nothing seen before"
        kept_text = None
        if policy.action == "strip":
            kept_text = _strip(text, c, lo, hi, set(seen)) if seen else text
        kept_new = policy.action != "strip" or len(seen) < len(eligible)
        accepted = {"reject": not is_duplicate, "strip": kept_new, "flag": True}[policy.action]
        return Verdict(
            doc_id=doc_id,
            policy=policy.action,
            is_duplicate=is_duplicate,
            similarity=similarity,
            seen_share=share,
            chars=len(text),
            paragraphs=hi - lo,
            seen=seen,
            matches=tuple(doc_matches),
            accepted=accepted,
            reason=reason,
            text=kept_text,
        )

    def _paragraph_matches(self, signed: _Signed, eligible: np.ndarray) -> _Found:
        """Verified matches of the given paragraphs (corpus indices) with stored ones."""
        s = self.settings
        c = signed.corpus
        query = signed.para_bands[eligible]
        hit_keys, hit_refs, hit_sketches = self._store.candidates("paragraph", query.ravel())
        new, refs = _hits_to_pairs(query, hit_keys, hit_refs)
        hit_ids, first = np.unique(hit_refs, return_index=True)
        stored_sketches = hit_sketches[first[np.searchsorted(hit_ids, refs)]]
        near = sketch_matches(sketch(c.signatures[eligible])[new], stored_sketches) >= sketch_floor(
            s.threshold, sketch_positions(s.num_perm))
        rows = self._store.paragraphs(np.unique(refs[near]))
        # A bucket file written before a removal still lists the removed rows.
        near &= np.isin(refs, rows.ids)
        new, refs = new[near], refs[near]
        cand = np.searchsorted(rows.ids, refs)
        plausible = estimate(c.signatures[eligible[new]], rows.signatures[cand]) >= floor(s.threshold, s.num_perm)
        new, cand = new[plausible], cand[plausible]
        new_sets = _sets_of(c, eligible)
        scores = score_pairs(_joined(new_sets, rows.sets), np.stack([new, len(eligible) + cand], axis=1))
        keep = scores.jaccard >= s.threshold
        new, cand = new[keep], cand[keep]
        jac, ca, cb = scores.jaccard[keep], scores.containment_a[keep], scores.containment_b[keep]
        est = estimate(c.signatures[eligible[new]], rows.signatures[cand]) if len(new) else np.zeros(0)
        # Exact copies of a matched text are not banded (see dedup.storage.sqlite): list them too.
        copies = self._store.paragraph_copies(rows.keys[np.unique(cand)], MAX_COPIES)
        matched_ids = set(rows.ids[cand].tolist())
        by_key: dict[int, list[int]] = defaultdict(list)
        for m, key in enumerate(rows.keys[cand].tolist()):
            by_key[key].append(m)
        extra_match, extra_row = [], []
        for r, (rid, key) in enumerate(zip(copies.ids.tolist(), copies.keys.tolist())):
            if rid not in matched_ids:
                for m in by_key[key]:
                    extra_match.append(m)
                    extra_row.append(r)
        take = np.array(extra_match, dtype=np.int64)
        extra = np.array(extra_row, dtype=np.int64)
        stored = _concat_rows(_take_rows(rows, cand), _take_rows(copies, extra))
        return _Found(
            new=np.concatenate([new, new[take]]),
            rows=stored,
            jaccard=np.concatenate([jac, jac[take]]),
            cont_new=np.concatenate([ca, ca[take]]),
            cont_stored=np.concatenate([cb, cb[take]]),
            estimates=np.concatenate([est, est[take]]),
            exact=c.para_key[eligible[np.concatenate([new, new[take]])]] == stored.keys,
        )

    def _document_matches(
        self, signed: _Signed, d: int, lo: int, hi: int, eligible: np.ndarray, found: _Found
    ) -> list[DocumentMatch]:
        """Stored documents that share a paragraph with article ``d`` or are similar to it
        as a whole, each scored as a whole document."""
        s = self.settings
        c = signed.corpus
        owners, shared = np.unique(found.rows.docs, return_counts=True)
        ranked = owners[np.argsort(-shared, kind="stable")].tolist()
        _, doc_hits, doc_sketches = self._store.candidates("document", signed.doc_bands[d])
        near = sketch_matches(sketch(signed.doc_signatures[d]), doc_sketches) >= sketch_floor(
            s.doc_threshold, sketch_positions(s.num_perm))
        hits = self._store.documents(np.unique(doc_hits[near]))
        plausible = hits.ids[estimate(signed.doc_signatures[d][None, :], hits.signatures)
                             >= floor(s.doc_threshold, s.num_perm)]
        exact_docs = self._store.document_copies(signed.doc_keys[d : d + 1], MAX_COPIES).ids
        candidates = list(dict.fromkeys(ranked + exact_docs.tolist() + plausible.tolist()))
        candidates = candidates[:MAX_DOCUMENTS]
        if not candidates:
            return []
        docs = self._store.documents(np.array(candidates, dtype=np.int64))
        new_set = _sets_of(c, np.arange(lo, hi))
        union = unique_sets(new_set.values, np.array([0, len(new_set.values)], dtype=np.int64))
        stored_sets = self._store.document_sets(docs.ids)
        n = len(docs.ids)
        scores = score_pairs(_joined(union, stored_sets), np.stack([np.zeros(n, np.int64), 1 + np.arange(n)], axis=1))
        est = estimate(signed.doc_signatures[d][None, :], docs.signatures)
        para_of: dict[int, list[ParagraphMatch]] = defaultdict(list)
        rows = found.rows
        for m in range(len(found.new)):
            p = eligible[found.new[m]]
            para_of[int(rows.docs[m])].append(ParagraphMatch(
                paragraph=int(c.para_index[p]),
                start=int(c.para_start[p]),
                end=int(c.para_end[p]),
                stored_paragraph=int(rows.index[m]),
                stored_start=int(rows.start[m]),
                stored_end=int(rows.end[m]),
                similarity=float(found.jaccard[m]),
                containment=(float(found.cont_new[m]), float(found.cont_stored[m])),
                estimate=float(found.estimates[m]),
                exact=bool(found.exact[m]),
            ))
        out = []
        for j, ref in enumerate(docs.ids.tolist()):
            paragraphs = tuple(sorted(para_of.get(ref, []), key=lambda p: (p.paragraph, p.stored_paragraph)))
            if not paragraphs and scores.jaccard[j] < s.doc_threshold:
                continue
            out.append(DocumentMatch(
                doc_id=docs.doc_ids[j],
                similarity=float(scores.jaccard[j]),
                containment=(float(scores.containment_a[j]), float(scores.containment_b[j])),
                estimate=float(est[j]),
                exact=bool(docs.keys[j] == signed.doc_keys[d]),
                chars=int(docs.chars[j]),
                paragraphs=paragraphs,
            ))
        out.sort(key=lambda m: (-m.similarity, -len(m.paragraphs), m.doc_id))
        return out

    def _new_document(
        self, text: str, doc_id: str, meta: Optional[Mapping[str, Any]], signed: _Signed, d: int, same: bool
    ) -> NewDocument:
        """The rows to store for ``text`` (already signed as article ``d`` when ``same``;
        a stripped remainder is signed anew, its spans being different)."""
        if not same:
            signed, d = self._sign([text]), 0
        s = self.settings
        c = signed.corpus
        lo, hi = int(signed.first[d]), int(signed.first[d + 1])
        para = np.arange(lo, hi)
        keys = c.para_key[para]
        first_here = np.zeros(len(para), dtype=bool)
        first_here[np.unique(keys, return_index=True)[1]] = True
        banded = (c.para_words[para] >= s.min_words) & first_here & ~self._store.known_keys("paragraph", keys)
        doc_key = signed.doc_keys[d : d + 1]
        doc_banded = not self._store.known_keys("document", doc_key)[0]
        return NewDocument(
            doc_id=doc_id,
            text=text,
            meta=meta,
            key=int(doc_key[0]),
            signature=signed.doc_signatures[d],
            doc_banded=doc_banded,
            para_index=c.para_index[para],
            para_start=c.para_start[para],
            para_end=c.para_end[para],
            para_words=c.para_words[para],
            para_keys=keys,
            para_signatures=c.signatures[para],
            para_sets=_sets_of(c, para),
            banded=banded,
        )


def _due(covered: int, behind: int) -> bool:
    """Whether enough is stored outside the bucket file to write a new one."""
    return behind > max(OPTIMIZE_AFTER, OPTIMIZE_SHARE * covered)


def floor(threshold: float, num_perm: int) -> float:
    """The MinHash estimate below which a candidate is not verified.

    Why: LSH with few rows per band (what catches light rewrites) also proposes a steady
    share of chance pairs (J ~ 0.02), and in an index their number grows with the
    archive -- about 0.0002 per stored paragraph per checked paragraph on real prose.
    Their estimate is ~0.02 +- 0.01, while a pair at the threshold has an estimate
    ``N(threshold, sqrt(t(1-t)/num_perm))``: ``PREFILTER_SIGMAS`` standard deviations
    below it drops a true pair with probability ~3e-5 and nearly every chance one,
    before its shingle set is read.
    """
    return threshold - PREFILTER_SIGMAS * math.sqrt(threshold * (1 - threshold) / num_perm)


@functools.lru_cache(maxsize=None)
def sketch_floor(threshold: float, positions: int) -> int:
    """Equal sketch positions below which a candidate is dismissed unread.

    Why: a check meets hundreds of chance LSH candidates (~510 at p50 with 100k stored
    articles, thousands for some articles), and reading each one's full row is a page
    read; the sketch comes with the bucket hits instead.  A sketch position of a pair
    with Jaccard ``J`` is equal with probability ``p = J + (1 - J) / 2**SKETCH_BITS``
    (the MinHash values agree, or they differ but their low bits agree by chance), so
    the equal positions of a pair at the threshold are ``Binomial(positions, p)``.  The floor is
    the largest count whose lower tail is at most ``SKETCH_MISS``: a true pair is lost
    with probability <= 1e-6 (pairs above the threshold even less), while a chance pair
    (J ~ 0.03) passes with probability ~1 % (at the defaults: 20 of 128 positions,
    64 bytes a sketch).  Survivors still face :func:`floor` on the full signature, then
    exact verification.
    """
    p = threshold + (1 - threshold) / (1 << SKETCH_BITS)
    tail, floor_count = 0.0, 0
    for m in range(positions + 1):
        tail += math.comb(positions, m) * p**m * (1 - p) ** (positions - m)
        if tail > SKETCH_MISS:
            break
        floor_count = m + 1
    return floor_count


def _input(item: Item) -> _Input:
    if isinstance(item, Document):
        return _Input(item.path, item.text, None)
    if isinstance(item, Mapping):
        meta = {k: v for k, v in item.items() if k not in ("id", "text")}
        return _Input(item.get("id"), item.get("text"), meta or None)
    if isinstance(item, tuple) and len(item) == 2:
        return _Input(item[0], item[1], None)
    return _Input(None, item, None)


def _problem(inp: _Input) -> Optional[str]:
    """Why an input cannot be checked (``None`` when it can)."""
    name = _name(inp.doc_id)
    if inp.doc_id is not None and not isinstance(inp.doc_id, str):
        return f"document id must be a string, not {type(inp.doc_id).__name__}"
    if not isinstance(inp.text, str):
        return f"document {name!r}: text must be a string, not {type(inp.text).__name__}"
    if not inp.text.strip():
        return f"document {name!r} is empty"
    return None


def _name(doc_id: Any) -> str:
    return doc_id if isinstance(doc_id, str) else "<text>"


def _auto_id(text: str) -> str:
    return "auto:" + xxhash.xxh3_64_hexdigest(text.encode("utf-8", "surrogatepass"))


def _raised(verdict: Verdict) -> Verdict:
    if verdict.error:
        raise BadDocument(verdict.error)
    return verdict


def _stores(verdict: Verdict, policy: Policy) -> bool:
    """Whether an add stores the article: new material is stored, duplicates only when
    asked; under ``strip`` the new remainder is stored."""
    if policy.action == "strip":
        return verdict.accepted
    return not verdict.is_duplicate or policy.add_duplicates


def _strip(text: str, corpus: Corpus, lo: int, hi: int, seen: set[int]) -> str:
    """``text`` without its already-seen paragraphs (the rest joined by blank lines)."""
    return "\n\n".join(
        text[int(corpus.para_start[p]) : int(corpus.para_end[p])]
        for p in range(lo, hi)
        if int(corpus.para_index[p]) not in seen
    )


def _sets_of(corpus: Corpus, paragraphs: np.ndarray) -> SetTable:
    """Sorted unique shingle sets of the given paragraphs of a signed corpus."""
    sh = corpus.shingles
    starts, ends = sh.offsets[paragraphs], sh.offsets[np.asarray(paragraphs) + 1]
    return unique_sets(sh.hashes[ranges(starts, ends - starts)], offsets_from_counts(ends - starts))


def _joined(a: SetTable, b: SetTable) -> SetTable:
    """Two set tables as one (``b``'s sets numbered after ``a``'s)."""
    return SetTable(
        values=np.concatenate([a.values, b.values]),
        offsets=np.concatenate([a.offsets, b.offsets[1:] + a.offsets[-1]]),
    )


def _hits_to_pairs(query: np.ndarray, hit_keys: np.ndarray, hit_refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``(query row, stored row)`` pairs that share a band key."""
    flat = query.ravel()
    owner = np.repeat(np.arange(len(query), dtype=np.int64), query.shape[1])
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    left = np.searchsorted(ordered, hit_keys, side="left")
    count = np.searchsorted(ordered, hit_keys, side="right") - left
    new = owner[order[ranges(left, count)]]
    refs = np.repeat(hit_refs, count)
    if not len(new):
        return new, refs
    # One int64 per pair, ordered by (query row, stored row): a 1-D unique is ~3x
    # faster than ``np.unique(axis=0)`` on the ~500 pairs of a check at 100k articles.
    span = int(refs.max()) + 1
    pairs = np.unique(new * span + refs)
    return pairs // span, pairs % span


def _take_rows(rows: ParagraphRows, which: np.ndarray) -> ParagraphRows:
    sizes = rows.sets.sizes()[which]
    return ParagraphRows(
        ids=rows.ids[which],
        docs=rows.docs[which],
        index=rows.index[which],
        start=rows.start[which],
        end=rows.end[which],
        keys=rows.keys[which],
        signatures=rows.signatures[which],
        sets=SetTable(rows.sets.values[ranges(rows.sets.offsets[which], sizes)], offsets_from_counts(sizes)),
    )


def _concat_rows(a: ParagraphRows, b: ParagraphRows) -> ParagraphRows:
    return ParagraphRows(
        ids=np.concatenate([a.ids, b.ids]),
        docs=np.concatenate([a.docs, b.docs]),
        index=np.concatenate([a.index, b.index]),
        start=np.concatenate([a.start, b.start]),
        end=np.concatenate([a.end, b.end]),
        keys=np.concatenate([a.keys, b.keys]),
        signatures=np.concatenate([a.signatures, b.signatures]),
        sets=_joined(a.sets, b.sets),
    )
