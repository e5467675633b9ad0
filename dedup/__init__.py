"""dedup: find repeated and lightly rewritten text in a corpus of articles.

An article's path through the code, one module per stage:
``sources``/``readers`` (reading) -> ``split`` and ``normalize`` -> ``tokenize``, ``shingle`` and
``minhash`` (signing, batched in ``corpus``) -> ``lsh`` (candidates) -> ``verify``
(exact scores) -> ``group`` -> ``report``.  ``detect`` runs the middle stages,
``scan`` is the batch job and ``cli`` the command line over it.  ``index`` is the
persistent pre-ingest filter ("seen this before?") over the same stages, stored through
``storage`` (one SQLite file by default, or a shared Redis server); its answers are ``verdict`` values.
"""

from .clean import CleanError, CleanReport, clean
from .index import BadDocument, Index
from .readers import Document, ReadError, ReadOptions, ReadWarning
from .results import Group, Location, Pair, ScanResult
from .scan import scan, scan_documents
from .settings import Settings
from .sources import Selection
from .storage import (
    IndexBusy,
    IndexCorrupt,
    IndexFull,
    IndexReadOnly,
    IndexUnavailable,
    SettingsMismatch,
    StorageError,
)
from .verdict import DocumentMatch, ParagraphMatch, Policy, Verdict

__all__ = [
    "BadDocument",
    "CleanError",
    "CleanReport",
    "Document",
    "DocumentMatch",
    "Group",
    "Index",
    "IndexBusy",
    "IndexCorrupt",
    "IndexFull",
    "IndexReadOnly",
    "IndexUnavailable",
    "Location",
    "Pair",
    "ParagraphMatch",
    "Policy",
    "ReadError",
    "ReadOptions",
    "ReadWarning",
    "ScanResult",
    "Selection",
    "Settings",
    "SettingsMismatch",
    "StorageError",
    "Verdict",
    "clean",
    "scan",
    "scan_documents",
]
