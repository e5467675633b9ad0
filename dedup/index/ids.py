"""How ``dedup index add`` and ``dedup check`` name the documents they read: ids that
do not depend on how a path was typed.

The rules (the README's "Document ids"):

* a file's id is its path relative to ``base`` (the current folder unless given), with
  ``/`` separators -- ``news/port-strike.txt`` whether it was named alone, beside other
  files or found in a folder, so two different ``x.txt`` in two folders never share an
  id; a file outside ``base`` is named by its absolute path;
* a JSON or JSON Lines record keeps its own id as it is (its id field, ``wire-1``),
  after an optional ``prefix``; a record without one is ``FILE_ID:LINE``;
* text read from stdin is named ``stdin_id`` when given (its records without an id
  ``STDIN_ID:LINE``), otherwise by a digest of its text (``auto:...``, as
  :meth:`dedup.index.Index.add` names a text given without an id), so a second
  ``... | dedup index add -`` is another document, or "already indexed" if it is the
  same text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from ..readers import STDIN_NAME, Document
from .items import auto_id


@dataclass(frozen=True)
class Naming:
    """The id rules above: ``base`` folder of file ids, ``prefix`` of record ids, and
    ``stdin_id`` the id of a text read from stdin."""

    base: str = "."
    prefix: str = ""
    stdin_id: Optional[str] = None

    def file_id(self, path: Path) -> str:
        """The id of the file at ``path`` (before any ``#record``)."""
        full = os.path.abspath(path)
        relative = os.path.relpath(full, os.path.abspath(self.base))
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            return Path(full).as_posix()
        return Path(relative).as_posix()

    def named(self, doc: Document) -> Document:
        """``doc`` with its id as ``path``."""
        return replace(doc, path=self.doc_id(doc))

    def doc_id(self, doc: Document) -> str:
        if doc.record is not None:
            return self.prefix + doc.record
        if doc.path == STDIN_NAME:
            return self.stdin_id if self.stdin_id is not None else auto_id(doc.text)
        if doc.path.startswith(STDIN_NAME + ":"):  # a record without an id, by its line
            return self.stdin_id + doc.path[len(STDIN_NAME):] if self.stdin_id is not None else auto_id(doc.text)
        return doc.path
