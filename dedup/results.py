"""What detection finds: located pairs with their scores, groups, and a scan's result.

These are plain values shared by the scan, the persistent index and the reporters;
``to_dict`` gives the stable JSON shape other tools parse (see README "Output").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

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


#: A pair as plain values: kind, similarity, containment of a, containment of b,
#: estimate, exact, relation, inside, then path, paragraph, start and end of a and of b
#: (:meth:`Pair.row`; a scan's pairs also come this way without pair objects).
PairRow = tuple


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
    pair is reported: ``"near-duplicate"`` (Jaccard at or above the threshold) or
    ``"contained"`` (Jaccard below it, but the smaller text is at least the containment
    threshold inside the larger one; :attr:`inside` names which side that is).
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

    def row(self) -> PairRow:
        """The pair as plain values (:data:`PairRow`), what fast writers format."""
        a, b = self.a, self.b
        return (self.kind, self.similarity, self.containment[0], self.containment[1], self.estimate, self.exact,
                self.relation, self.inside, a.path, a.paragraph, a.start, a.end, b.path, b.paragraph, b.start, b.end)

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
class ScanResult:
    """Everything a scan found, in a stable order."""

    settings: dict[str, Any]
    documents: list[DocumentInfo]
    pairs: list[Pair] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    boilerplate: list[Boilerplate] = field(default_factory=list)
    #: What is worth knowing though nothing was lost (a repeated record id: the record
    #: was renamed and compared); see :class:`dedup.readers.ReadWarning`.
    warnings: list[ReadWarning] = field(default_factory=list)

    @property
    def has_duplicates(self) -> bool:
        return bool(self.pairs)

    def to_dict(self, pairs: bool = True, large: bool = True) -> dict[str, Any]:
        """The JSON report as a dict.  ``pairs=False`` leaves the pairs out and
        ``large=False`` the documents, pairs and groups -- the parts that grow with the
        corpus, which writers stream on their own (:func:`document_dict`,
        ``Pair.to_dict``, ``Group.to_dict``)."""
        data = {
            "settings": self.settings,
            "documents": [document_dict(d) for d in self.documents] if large else None,
            "pairs": [p.to_dict() for p in self.pairs] if pairs and large else None,
            "groups": [g.to_dict() for g in self.groups] if large else None,
            "errors": [{"path": e.path, "error": e.error} for e in self.errors],
            "boilerplate": [b.to_dict() for b in self.boilerplate],
            "warnings": [{"path": w.path, "warning": w.warning} for w in self.warnings],
        }
        return {k: v for k, v in data.items() if v is not None}


def document_dict(d: DocumentInfo) -> dict[str, Any]:
    """A scanned document as the JSON report lists it."""
    return {"path": d.path, "paragraphs": d.paragraphs, "chars": d.chars, "text_source": d.text_source}
