"""The index's stored collection: removing a document, listing every stored one a page
at a time (ids, iteration, :meth:`Collection.documents`) and retention
(:meth:`Collection.prune`).  A mixin of :class:`dedup.index.Index`."""

from __future__ import annotations

import math
import numbers
from datetime import datetime
from decimal import Decimal
from typing import Callable, Iterator, Optional, Union

from ..storage import Leased, Storage
from ..storage.protocol import Listed

#: Documents per page of :meth:`Index.documents` and per transaction of :meth:`Index.prune`.
LIST_PAGE = 1000


class Collection:
    """Removal, listing and retention (needs ``_store``, ``auto_optimize`` and
    ``_optimize_if_behind``)."""

    _store: Storage
    auto_optimize: bool
    _optimize_if_behind: Callable[..., None]

    def remove(self, doc_id: str) -> None:
        """Remove a stored document; ``KeyError`` if there is none with that id."""
        if isinstance(self._store, Leased):  # its hand-over looks up; prepared outside the lock
            self._store.warm()
        with self._store.transaction(write=True):
            removed = self._store.delete(doc_id)
        if not removed:
            raise KeyError(doc_id)

    def ids(self) -> Iterator[str]:
        """Every stored id, oldest row first (also ``iter(index)``); read a page of
        ``LIST_PAGE`` at a time, so memory stays bounded on any index."""
        return (doc.doc_id for doc in self.documents())

    def __iter__(self) -> Iterator[str]:
        return self.ids()

    def documents(self, *, before: Union[float, datetime, None] = None) -> Iterator[Listed]:
        """Every stored document's id, Unix time added, size and metadata (no text),
        oldest row first; with ``before``, only those added before that time (Unix
        seconds or an aware ``datetime``).  Each page of ``LIST_PAGE`` is read in
        one snapshot; documents added or removed meanwhile may or may not be seen."""
        after, cutoff = 0, _unix(before)
        while True:
            with self._store.transaction(write=False):
                page = self._store.listing(after, LIST_PAGE, cutoff)
            yield from page
            if len(page) < LIST_PAGE:
                return
            after = page[-1].row

    def prune(self, before: Union[float, datetime]) -> list[str]:
        """Remove every document added before ``before`` (Unix seconds or an aware
        ``datetime``) and return their ids: retention for a stream that should keep a
        window (``dedup index remove --older-than 30d``).  One write transaction per
        ``LIST_PAGE`` documents, so other writers are not held off for long; each page
        is removed whole or not at all.  Raises ``TypeError`` for anything else (a
        string such as ``"yesterday"`` or ``"30d"``: the CLI's ``--older-than`` reads
        those), ``ValueError`` for a NaN or a naive ``datetime``."""
        cutoff, removed = _unix(before), []
        while True:
            if isinstance(self._store, Leased):  # as in :meth:`remove`
                self._store.warm()
            with self._store.transaction(write=True):
                page = self._store.listing(0, LIST_PAGE, cutoff)
                for doc in page:
                    self._store.delete(doc.doc_id)
            removed.extend(doc.doc_id for doc in page)
            if len(page) < LIST_PAGE:
                break
        if removed and self.auto_optimize:
            self._optimize_if_behind()
        return removed


def _unix(when: Union[float, datetime, None]) -> Optional[float]:
    """Unix seconds of ``when`` (a number, or a ``datetime`` with a time zone);
    ``TypeError`` for anything else, ``ValueError`` for NaN or a naive ``datetime``
    (``prune(before="yesterday")`` was a bare "could not convert string to float":
    tester T7, session 24)."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"{when} has no time zone; give one (e.g. datetime.now(timezone.utc))")
        return when.timestamp()
    if when is None:
        return None
    if not isinstance(when, (numbers.Real, Decimal)) or isinstance(when, bool):  # numpy's scalars are Real
        raise TypeError(f"a time is Unix seconds (a number) or a datetime with a time zone, "
                        f"not {type(when).__name__} {when!r}; for an age such as '30d' use "
                        "time.time() - 30 * 86400")
    if math.isnan(when):
        raise ValueError("a time is Unix seconds, not NaN")
    return float(when)
