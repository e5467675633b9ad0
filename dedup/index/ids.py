"""How ``dedup index add`` and ``dedup check`` name the documents they read: ids that
do not depend on how a path was typed.

The rules (the README's "Document ids"):

* a file's id is its path relative to ``base`` (the current folder unless given), with
  ``/`` separators -- ``news/port-strike.txt`` whether it was named alone, beside other
  files or found in a folder, so two different ``x.txt`` in two folders never share an
  id; a file outside ``base`` is named by its absolute path;
* a JSON or JSON Lines record keeps its own id as it is (its id field, ``wire-1``),
  after an optional ``prefix``, except that a whole-number id is written ``#N`` and a
  string id starting with ``#`` gets one more ``#`` -- so the number ``7`` (``#7``) and
  the string ``"7"`` (``7``) are two ids, and no string spells a number's id; a record
  whose id repeats an earlier record's in the same file (the same JSON value) is
  ``ID@LINE`` (:func:`dedup.readers.jsonl.typed_id`: decided on these typed ids, so
  ``7`` and ``"7"`` are ``#7`` and ``7`` in either order), and a record
  without one ``FILE_ID:LINE`` -- the scan's record names (``FILE#ID``,
  ``FILE#ID@LINE``, ``FILE:LINE``) without their ``FILE#``, so no record is lost to a
  name (reports name records exactly as the scan does);
* in a file's id a backslash is written ``\\\\`` and each byte of a name that is not
  valid UTF-8 (undecodable bytes, PEP 383) ``\\xNN`` -- an escaping without
  collisions: ``caf\\xe9.txt`` is the Latin-1 name, ``caf\\\\xe9.txt`` the UTF-8 name
  spelled with a backslash; the name's exact bytes are kept in the document's
  metadata as ``path_bytes`` (base64, as in the scan's JSON report);
* text read from stdin is named ``given_id`` when given (its records without an id
  ``GIVEN_ID:LINE``), otherwise by a digest of its text (``auto:...``, as
  :meth:`dedup.index.Index.add` names a text given without an id), so a second
  ``... | dedup index add -`` is another document, or "already indexed" if it is the
  same text;
* with ``one_file`` (nothing read from stdin, that one file given: ``dedup index add
  FILE --id ID``), that file is named ``given_id`` instead of its path, as it is
  (its records without an id ``GIVEN_ID:LINE``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..readers import STDIN_NAME, Document
from ..report.safety import json_name, json_text
from .items import auto_id


@dataclass(frozen=True)
class Naming:
    """The id rules above: ``base`` folder of file ids, ``prefix`` of record ids,
    ``given_id`` the id of a text read from stdin -- or of the file at ``one_file``
    (absolute) when that is the one file read."""

    base: str = "."
    prefix: str = ""
    given_id: Optional[str] = None
    one_file: Optional[str] = None

    def file_id(self, path: Path) -> str:
        """The id of the file at ``path`` (before any ``#record``)."""
        full = os.path.abspath(path)
        relative = os.path.relpath(full, os.path.abspath(self.base))
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            return Path(full).as_posix()
        return Path(relative).as_posix()

    def item(self, doc: Document) -> dict[str, Any]:
        """What the index is given for ``doc``: its id, its text and, for a name that
        is not valid UTF-8, the name's exact bytes as metadata (``path_bytes``)."""
        item: dict[str, Any] = {"id": self.doc_id(doc), "text": doc.text}
        raw = json_name(doc.path).get("path_bytes")
        if raw is not None:
            item["path_bytes"] = raw
        return item

    def report_name(self, doc: Document) -> str:
        """How reports name ``doc``: as the scan does (``FILE#ID``, ``FILE#ID@LINE``,
        ``FILE:LINE`` for records; a file by its id, undecodable bytes and all), but a
        text read from stdin, or the one file named ``given_id``, by its id."""
        return self.doc_id(doc) if self._named_as_given(doc) is not None else doc.path

    def doc_id(self, doc: Document) -> str:
        """The id of ``doc``, read from a file named by :meth:`file_id` (or stdin)."""
        if doc.record is not None:
            return self.prefix + doc.record
        line = self._named_as_given(doc)
        if line is not None:  # "" for the whole text, ":LINE" for a record without an id
            return self.given_id + line if self.given_id is not None else auto_id(doc.text)
        return escaped_name(doc.path)

    def _named_as_given(self, doc: Document) -> Optional[str]:
        """For a document read from stdin, or from ``one_file`` when ``given_id`` names
        it, what follows the file's name in ``doc.path`` (``""``, or ``:LINE`` for a
        record without an id); ``None`` for any other."""
        names = [STDIN_NAME]
        if self.one_file is not None and self.given_id is not None:
            names.append(self.file_id(Path(self.one_file)))
        for name in names:
            if doc.path == name or doc.path.startswith(name + ":"):
                return doc.path[len(name):]
        return None


def escaped_name(name: str) -> str:
    """A file name as an id: each backslash written ``\\\\``, each lone surrogate (an
    undecodable byte, ``\\xNN``) escaped -- valid UTF-8, and no two names alike."""
    if "\\" not in name and json_text(name) == name:
        return name
    return re.sub("[\\\\\ud800-\udfff]", lambda m: "\\\\" if m.group() == "\\" else json_text(m.group()), name)
