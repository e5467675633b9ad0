"""Where a readable report (terminal view, HTML) finds the text of a pair's two sides.

A scan keeps only the first characters of each paragraph (``Location.preview``): enough
for a paragraph pair, not for two documents that differ at their 600th line.  The
readable reports therefore ask a :class:`Passages` for the text of the locations they
show, after telling it which those are (:meth:`Passages.want`), so a source that has to
read files again reads each file once and keeps only what is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Literal, Optional, Sequence, Union

from ..inputs import roots_of
from ..readers import STDIN_ARG, Document, ReadOptions
from ..results import Location
from ..sources import Selection

Side = Literal["a", "b"]


class Passages:
    """The default source: each location's ``preview`` (the start of a paragraph; for a
    document, the start of its first paragraph)."""

    def want(self, locations: Iterable[Location]) -> None:
        """The locations that will be asked for (a hint; may be called once)."""

    def text(self, loc: Location, side: Side) -> str:
        """The text of ``loc`` (``side`` of its pair: ``a`` or ``b``)."""
        return loc.preview


class FilePassages(Passages):
    """Read the wanted documents again from the scanned paths, as the scan read them
    (same roots, selection and read options give the same names and texts).  Stdin
    cannot be read twice: its documents fall back to the preview, as does a file whose
    text changed since the scan (its span no longer fits)."""

    def __init__(self, roots: Sequence[Union[str, Path]], selection: Selection, options: ReadOptions) -> None:
        files = [r for r in roots_of(list(roots)) if str(r) != STDIN_ARG]  # a glob, a URL as the scan took them
        # Names carry their root as a prefix when several roots were given: keep two
        # (the same root twice is read once) when only stdin was dropped.
        self._roots = files * 2 if len(files) == 1 < len(roots) else files
        self._selection, self._options = selection, options
        self._wanted: set[str] = set()
        self._texts: Optional[dict[str, str]] = None

    def want(self, locations: Iterable[Location]) -> None:
        self._wanted.update(loc.path for loc in locations)

    def text(self, loc: Location, side: Side) -> str:
        if self._texts is None:
            self._texts = self._read()
        text = self._texts.get(loc.path)
        if text is None or loc.end > len(text):
            return loc.preview
        return text[loc.start:loc.end]

    def _read(self) -> dict[str, str]:
        from ..scan import read_paths  # the scan's own reader: same names, same texts

        texts: dict[str, str] = {}
        if not self._wanted or not self._roots:
            return texts
        for item in read_paths(self._roots, self._selection, self._options):
            if isinstance(item, Document) and item.path in self._wanted:
                texts[item.path] = item.text
        return texts


class VerdictPassages(Passages):
    """For a check's pairs: side ``a`` is a stored document (``stored(doc_id)`` gives
    its text, e.g. ``lambda i: (d := index.get(i)) and d.text``), side ``b`` a checked
    document whose text is in ``checked`` (by path)."""

    def __init__(self, stored: Callable[[str], Optional[str]], checked: dict[str, str]) -> None:
        self._stored, self._checked = stored, checked
        self._cache: dict[str, Optional[str]] = {}

    def text(self, loc: Location, side: Side) -> str:
        if side == "b":
            text = self._checked.get(loc.path)
        else:
            if loc.path not in self._cache:
                self._cache[loc.path] = self._stored(loc.path)
            text = self._cache[loc.path]
        if text is None or loc.end > len(text):
            return loc.preview
        return text[loc.start:loc.end]
