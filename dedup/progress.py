"""Progress of a long library call, reported through a small interface so the library
never decides how (or whether) it is shown: ``dedup`` shows it on a terminal
(:class:`dedup.report.output.TerminalProgress`), a Python caller may pass its own.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")


class Progress:
    """Shows nothing (the default).  A stage is a named step counted in ``unit``s, out
    of ``total`` when known (``unit=""``: a step that is not counted, only named);
    :meth:`advance` counts done units of the current stage, :meth:`count` what else
    the stage wants to show (a scan's reading stage counts documents read, and files
    read and documents signed beside them)."""

    def stage(self, name: str, unit: str = "documents", total: Optional[int] = None) -> None:
        """Start the stage ``name`` (ending the previous one)."""

    def advance(self, n: int = 1) -> None:
        """``n`` more units of the current stage are done."""

    def count(self, what: str, n: int = 1, total: Optional[int] = None) -> None:
        """``n`` more of ``what`` (``"files"``, ``"signed"``) in the current stage,
        out of ``total`` when known; shown after the stage's own count."""

    def close(self) -> None:
        """End the last stage."""

    def counted(self, items: Iterable[T], name: str, unit: str = "documents") -> Iterator[T]:
        """``items``, advancing the stage ``name`` by one per item as it is consumed."""
        self.stage(name, unit)
        for item in items:
            self.advance()
            yield item


NO_PROGRESS = Progress()
