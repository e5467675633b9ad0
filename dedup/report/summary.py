"""What a report says at a glance: counts of what was read and found, and the
distribution of similarities (a text sparkline, or the bins of the HTML histogram).

Shared by the terminal view and the HTML page so both say the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..results import Group, Pair, ScanResult

#: Similarity bins of the distribution: 20 bins of 0.05 over [0, 1].
BINS = 20
_BLOCKS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Summary:
    """Counts for one report.  ``duplicate_documents``/``duplicate_paragraphs`` count
    the copies beyond the canonical one of each group; ``duplicated_chars`` the
    characters of those copies (a paragraph inside a duplicate document counted once,
    with its document); ``contained`` the pairs of a shorter text inside a longer one
    (they link no group); ``boilerplate`` the paragraph texts repeated across many
    documents (reported once each)."""

    files: int
    documents: int
    paragraphs: int
    duplicate_documents: int
    duplicate_paragraphs: int
    duplicated_chars: int
    total_chars: int
    pairs: int
    contained: int
    boilerplate: int
    errors: int
    histogram: tuple[int, ...]

    @classmethod
    def of(cls, result: ScanResult, pairs: Sequence[Pair]) -> "Summary":
        docs = result.documents
        doc_groups = [g for g in result.groups if g.kind == "document"]
        para_groups = [g for g in result.groups if g.kind == "paragraph"]
        copies = {m.path for g in doc_groups for m in g.members[1:]}
        chars = {d.path: d.chars for d in docs}
        dup_chars = sum(chars.get(p, 0) for p in copies)
        dup_chars += sum(m.end - m.start for g in para_groups for m in g.members[1:] if m.path not in copies)
        return cls(
            files=len({d.path.split("#", 1)[0] for d in docs}),
            documents=len(docs),
            paragraphs=sum(d.paragraphs for d in docs),
            duplicate_documents=_copies(doc_groups),
            duplicate_paragraphs=_copies(para_groups),
            duplicated_chars=dup_chars,
            total_chars=sum(chars.values()),
            pairs=len(pairs),
            contained=sum(1 for p in pairs if p.relation == "contained"),
            boilerplate=len(result.boilerplate),
            errors=len(result.errors),
            histogram=histogram(p.similarity for p in pairs),
        )


def _copies(groups: Iterable[Group]) -> int:
    return sum(len(g.members) - 1 for g in groups)


def histogram(similarities: Iterable[float]) -> tuple[int, ...]:
    """Counts of similarities in :data:`BINS` equal bins over [0, 1] (1.0 in the last)."""
    counts = [0] * BINS
    for s in similarities:
        counts[min(BINS - 1, max(0, int(s * BINS)))] += 1
    return tuple(counts)


def sparkline(counts: Sequence[int]) -> str:
    """One block character per bin, its height proportional to the count (a space for
    none, at least ``▁`` for one); the scale is linear in the largest bin."""
    top = max(counts, default=0)
    if not top:
        return " " * len(counts)
    return "".join(_BLOCKS[0] if c == 0 else _BLOCKS[max(1, round(c / top * (len(_BLOCKS) - 1)))] for c in counts)
