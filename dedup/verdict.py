"""What the persistent index answers: a verdict per article, and the policy behind it.

Why a verdict says so much: an ingest pipeline that rejects or trims an article has to
be able to say *why* -- which stored documents it matched, how similar the whole
article is, and which of its paragraphs repeat which stored paragraphs (with exact
scores and character spans on both sides).  ``to_dict`` is the JSON shape the CLI
prints for each verdict; ``pairs`` turns a verdict into the scan's
:class:`~dedup.results.Pair` values so every scan report format can render it.

Policies decide what happens to a duplicate, per call or per index:

* ``reject``: a duplicate document (whole-document similarity >= ``doc_threshold``, or
  at least ``seen_share`` of its comparable text already seen, paragraphs weighed by
  their tokens) is refused;
* ``strip``: the article is kept with its already-seen paragraphs removed (what corpus
  builders want); only when nothing new is left is it refused;
* ``flag``: the article is accepted and annotated.

Duplicates are not stored unless the policy says ``add_duplicates``; under ``strip``
what is stored is the new remainder.  An id that is already stored is "already indexed"
when the text is the same (skipped: an add is idempotent, a retry or a nightly re-run
changes nothing), and an error when it differs, unless the policy says ``replace``: the
new text then takes the old one's place, in the same write transaction, whatever the
judgement (the verdict still says what it matches, apart from its own old version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Optional, Union

from .corpus import DocumentInfo
from .group import groups
from .readers import Document, ReadError, ReadWarning
from .results import Group, Location, Pair, Relation, ScanResult
from .settings import Settings

Action = Literal["reject", "strip", "flag"]
#: How a checked article relates to what is stored (``Verdict.relation``).
DocumentRelation = Literal["duplicate", "contained-in", "contains"]
ACTIONS: tuple[Action, ...] = ("reject", "strip", "flag")


@dataclass(frozen=True)
class Policy:
    """What to do with a duplicate (see the module docstring)."""

    action: Action = "reject"
    seen_share: float = 0.5
    add_duplicates: bool = False
    replace: bool = False

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"policy must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        if not 0.0 < self.seen_share <= 1.0:
            raise ValueError(f"seen_share must be in (0, 1], not {self.seen_share}")

    @classmethod
    def of(cls, policy: Union["Policy", str, None], default: "Policy") -> "Policy":
        """A policy from a :class:`Policy`, an action name, or ``None`` (the default)."""
        if policy is None:
            return default
        return policy if isinstance(policy, Policy) else cls(action=policy)


@dataclass(frozen=True)
class ParagraphMatch:
    """A paragraph of the checked text (``paragraph``, span ``[start, end)``) that
    repeats a stored paragraph (``stored_paragraph``, span in the stored text).

    ``containment`` is ``(share of this paragraph found in the stored one, share of the
    stored one found in this one)``; ``estimate`` is the MinHash estimate.
    ``relation`` is ``"contained"`` (one side at least ``Settings.containment`` inside
    the other, below the threshold or one-sided above it) or ``"near-duplicate"``
    (Jaccard at or above the threshold), as in a scan's pairs
    (:func:`dedup.containment.relations`).
    """

    paragraph: int
    start: int
    end: int
    stored_paragraph: int
    stored_start: int
    stored_end: int
    similarity: float
    containment: tuple[float, float]
    estimate: float
    exact: bool
    relation: Relation = "near-duplicate"

    def to_dict(self) -> dict[str, Any]:
        return {
            "paragraph": self.paragraph,
            "start": self.start,
            "end": self.end,
            "stored_paragraph": self.stored_paragraph,
            "stored_start": self.stored_start,
            "stored_end": self.stored_end,
            "similarity": round(self.similarity, 4),
            "containment": [round(c, 4) for c in self.containment],
            "estimate": round(self.estimate, 4),
            "exact": self.exact,
            "relation": self.relation,
        }


@dataclass(frozen=True)
class DocumentMatch:
    """A stored document the checked text matched: whole-document scores (verified
    Jaccard, containments as in :class:`ParagraphMatch`) and the paragraph matches.
    ``relation``: ``"contained-in"`` (the article is inside this stored document: at
    least ``Settings.containment`` of its shingles and :data:`~dedup.verify.COVERAGE` of
    its words, below ``doc_threshold`` or one-sided above it -- the scan's rule for a
    contained pair, :func:`dedup.containment.relations`), ``"contains"`` (this stored
    document is so inside the article), else ``"duplicate"`` (``similarity`` reaches
    ``doc_threshold`` -- and, when the larger side holds less of the shared text than
    :func:`dedup.containment.one_sided_below`, a paragraph pair between them is a
    near-duplicate: two texts sharing quotes only are no copies, :mod:`dedup.plan.quoted`),
    else ``None`` (they share paragraphs only)."""

    doc_id: str
    similarity: float
    containment: tuple[float, float]
    estimate: float
    exact: bool
    chars: int = 0
    paragraphs: tuple[ParagraphMatch, ...] = ()
    relation: Optional[DocumentRelation] = None

    def to_dict(self, paragraphs: bool = True) -> dict[str, Any]:
        """``paragraphs=False``: their list left empty (a writer that streams it)."""
        return {
            "id": self.doc_id,
            "similarity": round(self.similarity, 4),
            "containment": [round(c, 4) for c in self.containment],
            "estimate": round(self.estimate, 4),
            "exact": self.exact,
            "chars": self.chars,
            "paragraphs": [p.to_dict() for p in self.paragraphs] if paragraphs else [],
            "relation": self.relation,
        }


#: The document relations :meth:`Verdict.pairs` lists as a document pair.
_DOCUMENT_PAIRS = ("duplicate", "contained-in", "contains")


@dataclass(frozen=True)
class Verdict:
    """The answer for one article.

    ``is_duplicate`` is the document-level judgement (``similarity`` is the highest
    whole-document Jaccard with a stored document, ``seen_share`` the share of the
    article's comparable text (tokens of its paragraphs of ``min_tokens`` or more,
    boilerplate left out; of an article with none, of all its paragraphs) already
    seen, each paragraph by the part of it seen -- one under ``min_tokens`` tokens only
    as an exact copy in a stored document the article matches otherwise
    (:mod:`dedup.index.short`) -- ``seen`` the indices of the paragraphs seen -- with a near-duplicate stored (not
    one holding the stored one whole plus words of its own,
    :func:`dedup.containment.held`), inside a stored paragraph, or such a short copy,
    not boilerplate: what ``strip`` cuts).
    ``accepted`` says whether the pipeline should keep the article under ``policy``;
    ``text`` is then what to keep (the article, or under ``strip`` its unseen
    paragraphs) and is ``None`` whenever the article is not accepted, so a pipeline
    cannot keep what it should drop.  ``added`` says whether this call stored it,
    ``already_indexed`` that its id was stored with the same text (skipped, neither
    accepted nor added), ``replaced`` that it took the place of its id's old text.
    ``error`` is set (and everything else empty) when the input could not be checked.
    ``relation``: ``"duplicate"`` (as ``is_duplicate``), else ``"contained-in"`` (the
    article is at least ``Settings.containment`` inside a stored document: a brief cut
    from a stored story), else ``"contains"`` (a stored document is that much inside
    the article: a report quoting a stored statement), else ``None``.
    ``boilerplate`` lists the article's paragraphs that are boilerplate (their text
    occurred in at least ``Settings.boilerplate`` of the documents the index judged and
    0.1 % of them, or it is the frame the article shares with a stored page,
    :mod:`dedup.index.furniture`): they are left out of ``seen_share`` and of the
    document similarity.
    """

    doc_id: Optional[str]
    policy: Action
    is_duplicate: bool = False
    similarity: float = 0.0
    seen_share: float = 0.0
    chars: int = 0
    paragraphs: int = 0
    seen: tuple[int, ...] = ()
    matches: tuple[DocumentMatch, ...] = ()
    accepted: bool = False
    added: bool = False
    reason: str = ""
    text: Optional[str] = field(default=None, repr=False)
    error: Optional[str] = None
    already_indexed: bool = False
    replaced: bool = False
    relation: Optional[DocumentRelation] = None
    boilerplate: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.text is not None and not self.accepted:
            raise ValueError("a verdict that does not accept its article carries no text to keep")

    @property
    def stripped(self) -> bool:
        """Whether an accepted article keeps less than its whole text under ``strip``
        (its seen paragraphs cut, and boilerplate with a stored copy: the new user's N6
        of session 18 had a footer cut under a verdict that said "new", action "added")."""
        return self.policy == "strip" and self.text is not None and len(self.text) < self.chars

    @property
    def flagged(self) -> bool:
        """Whether anything in the article was already seen."""
        return bool(self.matches)

    def to_dict(self, matches: bool = True) -> dict[str, Any]:
        """``matches=False``: their list left empty (a writer that streams it)."""
        data: dict[str, Any] = {
            "id": self.doc_id,
            "policy": self.policy,
            "duplicate": self.is_duplicate,
            "similarity": round(self.similarity, 4),
            "seen_share": round(self.seen_share, 4),
            "chars": self.chars,
            "paragraphs": self.paragraphs,
            "seen_paragraphs": list(self.seen),
            "accepted": self.accepted,
            "added": self.added,
            "reason": self.reason,
            "matches": [m.to_dict() for m in self.matches] if matches else [],
            "error": self.error,
            "already_indexed": self.already_indexed,
            "replaced": self.replaced,
            "relation": self.relation,
            "boilerplate_paragraphs": list(self.boilerplate),
        }
        if self.policy == "strip":
            data["text"] = self.text
        return data

    @property
    def has_pairs(self) -> bool:
        """Whether :meth:`pairs` lists any, without making them (a check's exit status:
        the pairs of a long article matched in 17 stored copies were ~300 MB)."""
        return any(m.paragraphs or m.relation in _DOCUMENT_PAIRS for m in self.matches)

    def pairs(self, path: str) -> list[Pair]:
        """The verdict as scan pairs: side ``a`` is the stored text (it came first),
        side ``b`` the checked one, named ``path``.  Whole-document pairs are listed as
        the match's ``relation`` says: ``near-duplicate`` for a ``duplicate``,
        ``contained`` when one side is inside the other, as in a scan."""
        out: list[Pair] = []
        for m in self.matches:
            near = m.relation == "duplicate"
            if m.relation in _DOCUMENT_PAIRS:
                out.append(Pair(
                    "document", m.similarity, (m.containment[1], m.containment[0]), m.estimate,
                    Location(m.doc_id, None, 0, m.chars), Location(path, None, 0, self.chars), m.exact,
                    "near-duplicate" if near else "contained",
                ))
            for p in m.paragraphs:
                out.append(Pair(
                    "paragraph", p.similarity, (p.containment[1], p.containment[0]), p.estimate,
                    Location(m.doc_id, p.stored_paragraph, p.stored_start, p.stored_end),
                    Location(path, p.paragraph, p.start, p.end),
                    p.exact, p.relation,
                ))
        return out


def already_indexed(doc_id: str, text: str, policy: Policy) -> Verdict:
    """The verdict on an article whose id is stored with this very text: "already
    indexed", not judged (it would be its own copy) -- an add skips it (and stores
    nothing), ``dedup check`` says so instead of calling it a duplicate of itself."""
    return Verdict(doc_id, policy.action, chars=len(text), already_indexed=True, reason="same id, same text: skipped")


@dataclass
class VerdictReport:
    """What ``dedup check`` / ``dedup index add`` report: each document read (its
    name, as a :class:`~dedup.readers.Document` whose text may be dropped) with its
    verdict, the documents that could not be read or checked, and the index's path and
    settings.  ``adding`` says whether the verdicts come from an add."""

    index: str
    settings: Settings
    judged: list[tuple[Document, Verdict]]
    errors: list[ReadError]
    adding: bool = False
    warnings: list[ReadWarning] = field(default_factory=list)

    @classmethod
    def of(cls, index: str, settings: Settings, documents: Iterable[Document], verdicts: Iterable[Verdict],
           errors: Iterable[ReadError], adding: bool = False,
           warnings: Iterable[ReadWarning] = ()) -> "VerdictReport":
        """Pair documents with their verdicts; a verdict with an ``error`` becomes a
        read error of that document.  ``warnings``: the readers' (as in a scan)."""
        errors = list(errors)
        judged = []
        for doc, v in zip(documents, verdicts):
            if v.error:
                errors.append(ReadError(doc.path, v.error))
            else:
                judged.append((doc, v))
        return cls(index, settings, judged, errors, adding, list(warnings))

    def as_result(self) -> ScanResult:
        """The verdicts as a scan result (see :func:`verdicts_as_result`)."""
        return verdicts_as_result(self.judged, self.errors, self.settings, self.warnings)

    @property
    def has_duplicates(self) -> bool:
        return any(v.flagged for _, v in self.judged)


def verdicts_as_result(judged: Iterable[tuple[Document, Verdict]], errors: list[ReadError],
                       settings: Settings, warnings: Iterable[ReadWarning] = ()) -> ScanResult:
    """Verdicts as a scan result, so checks are reported in the scan's formats: the
    checked documents, their pairs with stored texts (``a`` stored, ``b`` checked) and
    groups around each stored text."""
    judged = list(judged)
    pairs: list[Pair] = [p for d, v in judged for p in v.pairs(d.path)]
    return ScanResult(
        settings={**settings.to_dict(), "levels": ["document", "paragraph"]},
        documents=[DocumentInfo(d.path, v.chars, v.paragraphs, d.source) for d, v in judged],
        pairs=pairs,
        groups=_located_groups(pairs),
        errors=errors,
        warnings=list(warnings),
    )


def _located_groups(pairs: list[Pair]) -> list[Group]:
    """Group locations linked by pairs; stored texts come first, so they are canonical.
    Contained pairs link no group (as in a scan)."""
    kinds = []
    for kind in ("document", "paragraph"):
        of_kind = [p for p in pairs if p.kind == kind and p.relation != "contained"]
        where: dict[tuple, Location] = {}
        for p in of_kind:
            where.setdefault(p.a.key(), p.a)
        for p in of_kind:
            where.setdefault(p.b.key(), p.b)
        number = {k: i for i, k in enumerate(where)}
        located = list(where.values())
        for members in groups(len(located), ((number[p.a.key()], number[p.b.key()]) for p in of_kind)):
            kinds.append(Group(kind, located[members[0]], tuple(located[m] for m in members)))
    return kinds
