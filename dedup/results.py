"""What detection finds: located pairs with their scores, groups, and a scan's result.

These are plain values shared by the scan, the persistent index and the reporters;
``to_dict`` gives the stable JSON shape other tools parse (see README "Output").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Iterable, Iterator, Literal, Optional, Sequence

import numpy as np

from .corpus import DocumentInfo
from .readers import ReadError, ReadWarning

Kind = Literal["paragraph", "document"]
Relation = Literal["near-duplicate", "contained"]
#: The levels a scan reports, in report order.
LEVELS: tuple[Kind, ...] = ("document", "paragraph")


@dataclass(frozen=True)
class Location:
    """A paragraph (or, with ``paragraph=None``, a whole document) and its character
    span ``[start, end)`` in the decoded text of ``path``; ``utf8_bytes`` is the span's
    text's size in UTF-8 when known (a scan knows it; a check's stored side does not:
    ``None``)."""

    path: str
    paragraph: Optional[int]
    start: int
    end: int
    preview: str = field(default="", compare=False, repr=False)
    utf8_bytes: Optional[int] = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "paragraph": self.paragraph, "start": self.start, "end": self.end}

    def key(self) -> tuple:
        return (self.path, -1 if self.paragraph is None else self.paragraph)


def inside_side(relation: str, containment_a: float, containment_b: float) -> Optional[str]:
    """``"a"`` or ``"b"``: the side a contained pair's smaller text is (None for a
    near-duplicate)."""
    if relation != "contained":
        return None
    return "a" if containment_a >= containment_b else "b"


@dataclass(frozen=True)
class Pair:
    """Two locations found to be duplicates, with exact scores.

    ``similarity`` is the verified Jaccard of the shingle sets, ``containment`` is
    ``(|A∩B|/|A|, |A∩B|/|B|)`` and ``estimate`` the MinHash estimate that made them
    candidates.  ``exact`` marks identical normalized text.  ``relation`` says why the
    pair is reported: ``"contained"`` (the smaller text is at least the containment
    threshold inside the larger one, with its Jaccard below the threshold or the pair
    one-sided, :func:`dedup.containment.relations`; :attr:`inside` names which side
    that is) or ``"near-duplicate"`` (Jaccard at or above the threshold).
    """

    kind: Kind
    similarity: float
    containment: tuple[float, float]
    estimate: float
    a: Location
    b: Location
    exact: bool = False
    relation: Relation = "near-duplicate"

    @property
    def inside(self) -> Optional[str]:
        """``"a"`` or ``"b"``: the side contained in the other, for a contained pair."""
        return inside_side(self.relation, *self.containment)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "similarity": round(self.similarity, 4),
            "containment": [round(c, 4) for c in self.containment],
            "estimate": round(self.estimate, 4),
            "exact": self.exact,
            "relation": self.relation,
            "inside": self.inside,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
        }


@dataclass(frozen=True)
class Group:
    """Locations linked by pairs; ``canonical`` is the first of them in scan order."""

    kind: Kind
    canonical: Location
    members: tuple[Location, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "canonical": self.canonical.to_dict(),
            "size": len(self.members),
            "members": [{"path": m.path, "paragraph": m.paragraph} for m in self.members],
        }


@dataclass(frozen=True)
class PairColumns:
    """Pairs of one ``kind`` as columns: numpy arrays of one length (float64 scores,
    bool flags, int64 positions), what bulk writers format (:mod:`dedup.report.bulk`)
    without a :class:`Pair` object per pair.  A side's document is a number into
    ``paths``; a paragraph number below 0 means none (a document pair).  A scan's
    pairs come this way straight from its columns (:mod:`dedup.plan.located`); any
    other pairs through :meth:`of`."""

    kind: Kind
    paths: Sequence[str]
    similarity: np.ndarray
    containment_a: np.ndarray
    containment_b: np.ndarray
    estimate: np.ndarray
    exact: np.ndarray
    contained: np.ndarray
    doc_a: np.ndarray
    paragraph_a: np.ndarray
    start_a: np.ndarray
    end_a: np.ndarray
    doc_b: np.ndarray
    paragraph_b: np.ndarray
    start_b: np.ndarray
    end_b: np.ndarray

    def __len__(self) -> int:
        return len(self.similarity)

    @classmethod
    def of(cls, pairs: Iterable[Pair]) -> Iterator["PairColumns"]:
        """``pairs`` (objects) as columns, one block per run of pairs of one kind."""
        for kind, run in groupby(pairs, key=lambda p: p.kind):
            run = list(run)
            paths, docs = _numbered([loc.path for p in run for loc in (p.a, p.b)])
            sides = _location_columns([loc for p in run for loc in (p.a, p.b)])
            yield cls(
                kind, paths, *(np.array(v, dtype=np.float64) for v in zip(*(
                    (p.similarity, *p.containment, p.estimate) for p in run))),
                np.array([p.exact for p in run], dtype=bool), np.array([p.relation == "contained" for p in run], dtype=bool),
                docs[0::2], *(c[0::2] for c in sides[:3]), docs[1::2], *(c[1::2] for c in sides[:3]),
            )


@dataclass(frozen=True)
class GroupColumns:
    """Groups of one ``kind`` as columns: group ``g``'s members are rows
    ``offsets[g]:offsets[g + 1]`` of the member columns (its canonical member first);
    documents are numbers into ``paths``, a paragraph below 0 is none, a size in UTF-8
    below 0 is not known (a check's stored side).  See :class:`PairColumns`."""

    kind: Kind
    paths: Sequence[str]
    offsets: np.ndarray
    doc: np.ndarray
    paragraph: np.ndarray
    start: np.ndarray
    end: np.ndarray
    utf8_bytes: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def of(cls, groups: Iterable[Group]) -> Iterator["GroupColumns"]:
        """``groups`` (objects) as columns, one block per run of groups of one kind."""
        for kind, run in groupby(groups, key=lambda g: g.kind):
            run = list(run)
            members = [m for g in run for m in g.members]
            paths, docs = _numbered([m.path for m in members])
            offsets = np.cumsum([0] + [len(g.members) for g in run], dtype=np.int64)
            yield cls(kind, paths, offsets, docs, *_location_columns(members))


def _numbered(paths: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct ``paths`` in order of first appearance, and each one's number."""
    number: dict[str, int] = {}
    docs = np.array([number.setdefault(p, len(number)) for p in paths], dtype=np.int64)
    return list(number), docs


def _location_columns(locations: Sequence[Location]) -> tuple[np.ndarray, ...]:
    """Paragraph (-1: none), start, end and UTF-8 size (-1: not known) of each location."""
    return tuple(np.array(v, dtype=np.int64).reshape(-1) for v in (
        [-1 if m.paragraph is None else m.paragraph for m in locations], [m.start for m in locations],
        [m.end for m in locations], [-1 if m.utf8_bytes is None else m.utf8_bytes for m in locations]))


@dataclass(frozen=True)
class Boilerplate:
    """A paragraph text that recurs in ``documents`` documents (``copies`` times in all):
    reported once instead of as pairs, and left out of document similarity.
    ``canonical`` is its first occurrence, ``text`` the start of its raw text."""

    canonical: Location
    documents: int
    copies: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"canonical": self.canonical.to_dict(), "documents": self.documents, "copies": self.copies,
                "text": self.text}


@dataclass
class FilesRead:
    """The files a read stage opened (those that were read errors too): how many, and
    the first one's name as reports name it -- what the summary's ``read: N files``
    counts, and what the CLI names when they held no document (tester's F13 of session
    17: "no file found" for an empty JSON Lines file)."""

    count: int = 0
    first: str = ""

    def add(self, name: str) -> None:
        """Count the file named ``name``, opened now."""
        self.count += 1
        self.first = self.first or name


@dataclass
class ScanResult:
    """Everything a scan found, in a stable order."""

    settings: dict[str, Any]
    documents: Sequence[DocumentInfo]  # a scan's: a DocumentTable (columns)
    pairs: list[Pair] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    boilerplate: list[Boilerplate] = field(default_factory=list)
    #: What is worth knowing though nothing was lost (a repeated record id: the record
    #: was renamed and compared); see :class:`dedup.readers.ReadWarning`.
    warnings: list[ReadWarning] = field(default_factory=list)
    #: The files read (:class:`FilesRead`); ``None`` when the documents were given, not
    #: read from files (the summary then counts their distinct paths).
    files: Optional[FilesRead] = None

    @property
    def has_duplicates(self) -> bool:
        return bool(self.pairs)

    def to_dict(self, pairs: bool = True, large: bool = True) -> dict[str, Any]:
        """The JSON report as a dict, its ``summary`` included (counted over the groups
        and pairs, :func:`dedup.report.summary.summarize`).  ``pairs=False`` leaves the
        pairs out and ``large=False`` the documents, pairs, groups and summary -- the
        parts that grow with the corpus or are counted over them, which writers stream
        and count on their own (:func:`document_dict`, ``Pair.to_dict``,
        ``Group.to_dict``, :class:`dedup.report.summary.Tally`)."""
        data = {
            "settings": self.settings,
            "documents": [document_dict(d) for d in self.documents] if large else None,
            "pairs": [p.to_dict() for p in self.pairs] if pairs and large else None,
            "groups": [g.to_dict() for g in self.groups] if large else None,
            "errors": [e.as_dict() for e in self.errors],
            "boilerplate": [b.to_dict() for b in self.boilerplate],
            "warnings": [{"path": w.path, "warning": w.warning} for w in self.warnings],
            "summary": _summary(self) if large else None,
        }
        return {k: v for k, v in data.items() if v is not None}


def _summary(result: ScanResult) -> dict[str, Any]:
    from .report.summary import summarize  # (the report package builds on this module)

    return summarize(result).to_dict()


def document_dict(d: DocumentInfo) -> dict[str, Any]:
    """A scanned document as the JSON report lists it."""
    return {"path": d.path, "paragraphs": d.paragraphs, "chars": d.chars, "text_source": d.text_source}
