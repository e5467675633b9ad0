"""What the index accepts as an article, and why it may refuse one.

An item is a :class:`~dedup.readers.Document`, a mapping with ``id``/``text`` (other
keys are metadata), an ``(id, text)`` pair or a plain string (its id then derived from
the text).  A bad item becomes a verdict with ``error`` set in batch calls, and a
:class:`BadDocument` in the single-article ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import xxhash

from ..readers import Document
from ..readers.text import surrogate_problem
from ..verdict import Verdict

Item = Union[Document, Mapping[str, Any], tuple, str]


class BadDocument(ValueError):
    """An article the index cannot check; the message names it and says why."""


#: The longest id, in UTF-8 bytes.  Neither backend needs a limit (SQLite stores a text
#: of up to 1e9 bytes, Redis a field of 512 MB), but every id is held in the unique
#: index of ids and in reports, so a runaway one (a whole article in the id field)
#: is refused.  Why 4,096: a file id is a relative path, up to PATH_MAX (4,096 on
#: Linux), and URLs, the other usual id, stay well under it (browsers cap them at a
#: few thousand characters).
MAX_ID_BYTES = 4096


@dataclass(frozen=True)
class Input:
    doc_id: Optional[str]
    text: Any
    meta: Optional[Mapping[str, Any]]


def input_of(item: Item) -> Input:
    if isinstance(item, Document):
        return Input(item.path, item.text, None)
    if isinstance(item, Mapping):
        meta = {k: v for k, v in item.items() if k not in ("id", "text")}
        return Input(item.get("id"), item.get("text"), meta or None)
    if isinstance(item, tuple) and len(item) == 2:
        return Input(item[0], item[1], None)
    return Input(None, item, None)


def problem(inp: Input) -> Optional[str]:
    """Why an input cannot be checked (``None`` when it can)."""
    name = name_of(inp.doc_id)
    if inp.doc_id is not None and not isinstance(inp.doc_id, str):
        return f"document id must be a string, not {type(inp.doc_id).__name__}"
    if not isinstance(inp.text, str):
        return f"document {_shown(name)!r}: text must be a string, not {type(inp.text).__name__}"
    if isinstance(inp.doc_id, str) and (bad := surrogate_problem(inp.doc_id)):
        return f"document id {ascii(_shown(inp.doc_id))} holds {bad}"
    if inp.doc_id == "":
        return "document id is empty: an id names a document (give none to have one derived from the text)"
    if isinstance(inp.doc_id, str) and (size := len(inp.doc_id.encode("utf-8"))) > MAX_ID_BYTES:
        return (f"document id {_shown(inp.doc_id)!r} is {size:,} bytes long (UTF-8); "
                f"an id is at most {MAX_ID_BYTES:,} bytes")
    if bad := surrogate_problem(inp.text):
        return f"document {_shown(name)!r}: the text holds {bad}"
    return None


def name_of(doc_id: Any) -> str:
    return doc_id if isinstance(doc_id, str) else "<text>"


def _shown(doc_id: str) -> str:
    """An id as messages show it: an over-long one cut to its first 60 characters."""
    return doc_id if len(doc_id) <= 80 else doc_id[:60] + "..."


def auto_id(text: str) -> str:
    """The id of an article given without one: a digest of its text."""
    return "auto:" + xxhash.xxh3_64_hexdigest(text.encode("utf-8", "surrogatepass"))


def digest(text: str) -> str:
    """What an add stores to recognise the same text under the same id again (XXH3-128
    of its UTF-8 bytes, hex): adding it again is "already indexed", not an error."""
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


def stored_digest(store: Any, doc_id: str, known: Optional[str]) -> Optional[str]:
    """The digest of what ``store`` holds under ``doc_id``: ``known`` (the digest it
    keeps), else -- a row stored before digests were kept -- that of its stored text
    (``None`` when there is none); the add and the check ask it alike."""
    if known is not None:
        return known
    old = store.get(doc_id)
    return digest(old.text) if old is not None else None


def stored_with(store: Any, ids: Sequence[Optional[str]], texts: Sequence[str]) -> list[bool]:
    """For each ``(id, text)``: whether ``store`` holds that id added with that very
    text (what an add of it would call "already indexed"; an id ``None`` is never
    stored); one :meth:`~dedup.storage.protocol.Storage.digests` look-up for all, a
    row stored before digests were kept read by :func:`stored_digest`.  Call it inside
    a transaction to see the snapshot the rest of it sees."""
    stored = store.digests([doc_id for doc_id in dict.fromkeys(ids) if doc_id is not None])
    for doc_id in [doc_id for doc_id, known in stored.items() if known is None]:
        stored[doc_id] = stored_digest(store, doc_id, None)  # (review R8 of session 17)
    return [doc_id in stored and stored[doc_id] == digest(text) for doc_id, text in zip(ids, texts)]


def raised(verdict: Verdict) -> Verdict:
    """``verdict``, or :class:`BadDocument` when it carries an error."""
    if verdict.error:
        raise BadDocument(verdict.error)
    return verdict
