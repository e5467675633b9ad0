"""The errors of the storage backends: every failure of a backend is a
:class:`StorageError` subclass whose message names the index (a path, or a URL with its
password masked) and the cause (contract rule 8, :mod:`dedup.storage.protocol`).
Split from :mod:`.protocol` (review R6 of session 24), which still exports them.
"""


class StorageError(Exception):
    """The index cannot be used; the message names the index and the cause."""


class IndexBusy(StorageError):
    """Other processes held the index locked for longer than the bounded wait."""


class IndexCorrupt(StorageError):
    """The store is not a dedup index (foreign, truncated or damaged)."""


class IndexReadOnly(StorageError):
    """The index cannot be written (read-only file, folder, server or open mode)."""


class IndexFull(StorageError):
    """A write failed for lack of space (disk full, server memory limit); the
    transaction was rolled back."""


class IndexMissing(StorageError):
    """There is no index at that path or URL (and it was not to be created)."""


class IndexUnavailable(StorageError):
    """The index's server cannot be reached or refused us (connection refused or lost,
    timeout, authentication); nothing of the interrupted write is visible."""


class SettingsMismatch(StorageError, ValueError):
    """The index was built with other settings than the ones asked for."""
