"""What a report says at a glance: counts of what was read and found, and the
distribution of similarities (a text sparkline, or the bins of the HTML histogram).

Shared by the terminal view and the HTML page so both say the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..readers import error_count
from ..results import Group, GroupColumns, Location, Pair, PairColumns, ScanResult

#: Similarity bins of the distribution: 20 bins of 0.05 over [0, 1].
BINS = 20
_BLOCKS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Summary:
    """Counts for one report.

    ``duplicate_documents``/``duplicate_paragraphs`` count the copies beyond the
    canonical (first) one of each group.  ``duplicated_bytes`` is the UTF-8 size of
    the text a dedup would remove: every duplicate document but the first of its
    group, whole, plus every duplicate paragraph but the first of its group among the
    documents that stay (a paragraph inside a removed document is counted once, with
    its document) -- what ``dedup clean --strip-paragraphs`` leaves out, except that
    clean keeps a near-duplicate document holding paragraphs found in no kept document
    (cutting only its copied paragraphs, :func:`dedup.clean.decide.decide`); sizes
    are of the text as read (decoded; extracted from HTML/Markdown; a record's text
    field), not of the files on disk.  ``total_bytes`` is the size of all that text.
    Both are ``None`` when a location's size is not known (a check's stored side).
    ``contained`` counts the pairs of a shorter text inside a longer one (they link
    no group); ``boilerplate`` the paragraph texts repeated across many documents
    (reported once each), and ``boilerplate_copies`` their copies beyond the first of
    each: expected repetition, not a finding, but counted among the
    ``duplicate_paragraphs`` and ``duplicated_bytes`` all the same (``dedup clean
    --strip-paragraphs`` keeps the first copy of a boilerplate text and drops the rest,
    as of any paragraph group)."""

    files: int
    documents: int
    paragraphs: int
    duplicate_documents: int
    duplicate_paragraphs: int
    duplicated_bytes: Optional[int]
    total_bytes: Optional[int]
    pairs: int
    contained: int
    boilerplate: int
    errors: int
    histogram: tuple[int, ...]
    boilerplate_copies: int = 0

    @property
    def share(self) -> Optional[float]:
        """``duplicated_bytes`` as a percentage of ``total_bytes`` (``None``: not known)."""
        if self.duplicated_bytes is None or not self.total_bytes:
            return None
        return self.duplicated_bytes / self.total_bytes * 100

    def to_dict(self) -> dict:
        """The JSON report's ``summary`` (README "Output contract")."""
        return {k: getattr(self, k) for k in (
            "files", "documents", "paragraphs", "duplicate_documents", "duplicate_paragraphs",
            "duplicated_bytes", "total_bytes", "pairs", "contained", "boilerplate", "boilerplate_copies", "errors")}


class Tally:
    """A :class:`Summary` counted as a report streams a result's groups
    (:meth:`group`, document groups first, as results list them) and pairs
    (:meth:`pair`): memory per document with copies, never per pair."""

    def __init__(self) -> None:
        self.duplicate_documents = self.duplicate_paragraphs = 0
        self.pairs = self.contained = 0
        self.histogram = [0] * BINS
        self._removed: set[str] = set()  # documents a dedup would remove
        self._bytes: Optional[int] = 0

    def group(self, group: Group) -> Group:
        """Count ``group``; returns it (``map(tally.group, groups)`` counts a stream)."""
        copies = group.members[1:]
        if group.kind == "document":
            self.duplicate_documents += len(copies)
            self._removed.update(m.path for m in copies)
            self._add(copies)
        else:
            self.duplicate_paragraphs += len(copies)
            self._add([m for m in group.members if m.path not in self._removed][1:])
        return group

    def _add(self, copies: Sequence[Location]) -> None:
        for m in copies:
            if self._bytes is None or m.utf8_bytes is None:
                self._bytes = None
                return
            self._bytes += m.utf8_bytes

    def pair(self, pair: Pair) -> Pair:
        """Count ``pair``; returns it (``map(tally.pair, pairs)`` counts a stream)."""
        self._count(pair.similarity, pair.relation)
        return pair

    def pair_columns(self, block: PairColumns) -> PairColumns:
        """Count a block of pairs given as columns; returns it (as :meth:`pair` does,
        with one numpy pass over the block)."""
        self.pairs += len(block)
        self.contained += int(np.count_nonzero(block.contained))
        bins = np.clip((np.asarray(block.similarity) * BINS).astype(np.int64), 0, BINS - 1)  # int(): toward 0
        self.histogram = (np.array(self.histogram) + np.bincount(bins, minlength=BINS)).tolist()
        return block

    def group_columns(self, block: GroupColumns) -> GroupColumns:
        """Count a block of groups given as columns; returns it (as :meth:`group`
        does, with numpy passes over the members and a set look-up per document)."""
        offsets = np.asarray(block.offsets, dtype=np.int64)
        canonical = np.zeros(len(block.doc), dtype=bool)
        canonical[offsets[:-1]] = True
        copies = int(offsets[-1] - offsets[0]) - len(block)
        if block.kind == "document":
            self.duplicate_documents += copies
            self._removed.update(map(block.paths.__getitem__, np.unique(block.doc[~canonical]).tolist()))
            self._add_sizes(block.utf8_bytes[~canonical])
            return block
        self.duplicate_paragraphs += copies
        docs, inverse = np.unique(block.doc, return_inverse=True)
        kept = ~np.array([block.paths[d] in self._removed for d in docs.tolist()], dtype=bool)[inverse.reshape(-1)]
        group = np.repeat(np.arange(len(block)), np.diff(offsets))[kept]
        first_kept = np.r_[True, group[1:] != group[:-1]] if len(group) else np.zeros(0, bool)
        self._add_sizes(block.utf8_bytes[kept][~first_kept])
        return block

    def _add_sizes(self, sizes: np.ndarray) -> None:
        """Add UTF-8 sizes (below 0: not known, which makes the total not known)."""
        if self._bytes is not None:
            self._bytes = None if (sizes < 0).any() else self._bytes + int(sizes.sum())

    def _count(self, similarity: float, relation: str) -> None:
        self.pairs += 1
        self.contained += relation == "contained"
        self.histogram[min(BINS - 1, max(0, int(similarity * BINS)))] += 1

    def summary(self, result: ScanResult) -> Summary:
        docs = result.documents
        sizes = [d.utf8_bytes for d in docs]
        return Summary(
            files=(result.files.count if result.files is not None  # the read stage's count (files
                   else len({d.path.split("#", 1)[0] for d in docs})),  # without a document too)
            documents=len(docs),
            paragraphs=sum(d.paragraphs for d in docs),
            duplicate_documents=self.duplicate_documents,
            duplicate_paragraphs=self.duplicate_paragraphs,
            duplicated_bytes=self._bytes,
            total_bytes=None if None in sizes else sum(sizes),  # type: ignore[arg-type]
            pairs=self.pairs,
            contained=self.contained,
            boilerplate=len(result.boilerplate),
            errors=error_count(result.errors),
            histogram=tuple(self.histogram),
            boilerplate_copies=sum(max(b.copies - 1, 0) for b in result.boilerplate),
        )


def summarize(result: ScanResult) -> Summary:
    """``result``'s :class:`Summary`, counted over all its groups and pairs (what a
    report counts as it streams them)."""
    tally = Tally()
    for group in result.groups:
        tally.group(group)
    for pair in result.pairs:
        tally.pair(pair)
    return tally.summary(result)


def sparkline(counts: Sequence[int]) -> str:
    """One block character per bin, its height proportional to the count (a space for
    none, at least ``▁`` for one); the scale is linear in the largest bin."""
    top = max(counts, default=0)
    if not top:
        return " " * len(counts)
    return "".join(_BLOCKS[0] if c == 0 else _BLOCKS[max(1, round(c / top * (len(_BLOCKS) - 1)))] for c in counts)
