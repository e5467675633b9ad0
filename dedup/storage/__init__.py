"""Storage backends of the persistent index (see :mod:`dedup.storage.base`).

``open_storage`` is the one entry point :mod:`dedup.index` uses; the embedded SQLite
file is the default and, for now, the only backend.
"""

from __future__ import annotations

import os
from typing import Optional

from ..settings import Settings
from .base import (
    IndexBusy,
    IndexCorrupt,
    IndexFull,
    IndexReadOnly,
    SettingsMismatch,
    Storage,
    StorageError,
    StoredDocument,
)
from .sqlite import BUSY_TIMEOUT, open_sqlite


def open_storage(
    path: str | os.PathLike,
    settings: Optional[Settings] = None,
    *,
    create: bool = True,
    readonly: bool = False,
    busy_timeout: float = BUSY_TIMEOUT,
) -> Storage:
    """Open the index stored at ``path`` (an SQLite file)."""
    return open_sqlite(path, settings, create=create, readonly=readonly, busy_timeout=busy_timeout)


__all__ = [
    "IndexBusy",
    "IndexCorrupt",
    "IndexFull",
    "IndexReadOnly",
    "SettingsMismatch",
    "Storage",
    "StorageError",
    "StoredDocument",
    "open_storage",
]
