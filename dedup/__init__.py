"""dedup: find repeated and lightly rewritten text in a corpus of articles.

An article's path through the code, one module per stage:
``sources``/``readers`` (reading) -> ``split`` and ``normalize`` -> ``shingle`` and
``minhash`` (signing, batched in ``corpus``) -> ``lsh`` (candidates) -> ``verify``
(exact scores) -> ``group`` -> ``report``.  ``detect`` runs the middle stages,
``scan`` is the batch job and ``cli`` the command line over it.
"""

from .readers import Document, ReadError, ReadOptions
from .results import Group, Location, Pair, ScanResult
from .scan import scan, scan_documents
from .settings import Settings
from .sources import Selection

__all__ = [
    "Document",
    "Group",
    "Location",
    "Pair",
    "ReadError",
    "ReadOptions",
    "ScanResult",
    "Selection",
    "Settings",
    "scan",
    "scan_documents",
]
