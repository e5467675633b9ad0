"""Signature cache: signed batches on disk, keyed by their content, so a rescan of an
unchanged folder skips splitting, shingling and MinHash.

Why keyed by content and not by path and modification time: a key that is a digest of
the documents' *text* (BLAKE2b) cannot go stale -- a changed file is a different key,
whatever its timestamp says -- and renamed or copied files still hit.  The key also
holds :meth:`Settings.signature_key` and a fingerprint of the signing code, so other
settings or another dedup version never read an entry they did not write.

Why batches and not single files: one entry per document would mean tens of thousands
of tiny files to open on every rescan; a scan signs documents in batches whose
boundaries are chosen by content (:func:`dedup.scan.batches`), so an edited file
invalidates its own batch only.

Storage: one uncompressed ``.npz`` per batch (plain numpy arrays, loaded with
``allow_pickle=False``: a cache file can never execute code), written to a temporary
file in the same folder and moved into place with ``os.replace``, so a crash or a
concurrent scan leaves either the whole old entry, the whole new one, or none.  A
damaged entry is treated as a miss and rewritten.  The folder is safe to delete at
any time; nothing else lives there.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from . import corpus as _corpus
from . import minhash, normalize, segments, shingle, split
from .corpus import Corpus, DocumentInfo, previews
from .readers import Document
from .settings import Settings
from .shingle import Shingles

#: Bumped when the layout of an entry changes.
CACHE_FORMAT = 2  # 2: the shingles' unit widths (``shingle_widths``), for coverage

_ARRAYS = {
    "doc_paragraphs": np.int64,
    "para_index": np.int64,
    "para_start": np.int64,
    "para_end": np.int64,
    "para_words": np.int64,
    "para_key": np.uint64,
    "shingle_hashes": np.uint64,
    "shingle_offsets": np.int64,
    "shingle_units": np.int64,
    "shingle_widths": np.uint8,
    "signatures": np.uint32,
}


#: A temporary entry file older than this was left by a scan that died.
STALE_TEMPORARY_SECONDS = 3600.0


def default_cache_dir() -> Path:
    """``$DEDUP_CACHE_DIR``, else ``$XDG_CACHE_HOME/dedup``, else ``~/.cache/dedup``.

    Why a per-user cache folder rather than one inside the scanned folder: scanned
    folders may be read-only or shared, a cache inside them would be walked by the
    next scan with ``--hidden``, and content keys make one cache serve every folder.
    """
    explicit = os.environ.get("DEDUP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dedup"


def _code_fingerprint() -> str:
    """A digest of the source of every module that decides what a batch holds, so an
    upgraded (or locally edited) dedup never reads entries an older one wrote."""
    digest = hashlib.blake2b(digest_size=8)
    for module in (split, normalize, segments, shingle, minhash, _corpus):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def document_digest(doc: Document) -> bytes:
    """A 128-bit BLAKE2b digest of a document's text (what cache keys are made of)."""
    return hashlib.blake2b(doc.text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass
class CacheStats:
    """What a scan did with the cache (for reports and tests)."""

    hits: int = 0
    misses: int = 0
    damaged: int = 0
    write_errors: int = 0
    #: Why the first failed write failed (for the one warning a scan gives).
    write_error: str = ""

    def add(self, other: "CacheStats") -> None:
        """Count ``other``'s events too (a worker's stats, merged by the scan)."""
        self.hits += other.hits
        self.misses += other.misses
        self.damaged += other.damaged
        self.write_errors += other.write_errors
        self.write_error = self.write_error or other.write_error


@dataclass
class SignatureCache:
    """Signed batches under ``root``, for one signing configuration."""

    root: Path
    settings: Settings
    stats: CacheStats = field(default_factory=CacheStats)
    #: Whether the first failed write warns (a scan's workers leave it to the scan).
    warn: bool = True

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.folder = self.root / f"v{CACHE_FORMAT}-{self.settings.signature_key()}-{_code_fingerprint()}"
        self.sweep_stale_temporaries()

    def sweep_stale_temporaries(self, older_than: float = STALE_TEMPORARY_SECONDS) -> int:
        """Delete half-written entries left by a killed scan; returns how many.

        Only old ones: a temporary file this young may belong to a scan running now.
        """
        removed = 0
        cutoff = time.time() - older_than
        for tmp in self.folder.glob("*/.tmp-*"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except OSError:
                pass  # gone already, or not ours to remove: harmless either way
        return removed

    def sweep_temporaries_of(self, pids: Sequence[int]) -> None:
        """Delete the half-written entries of these (stopped) processes, whatever
        their age: a signing process ended by SIGTERM cannot clean up after itself."""
        for pid in pids:
            for tmp in self.folder.glob(f"*/.tmp-{pid}-*"):
                try:
                    tmp.unlink()
                except OSError:
                    pass

    def holds_entries(self) -> bool:
        """Whether any batch is stored (a scan that may sign nothing: see
        :func:`dedup.plan.job.run_scan`)."""
        return any(True for _ in self.folder.glob("*/*.npz"))

    def key(self, digests: Sequence[bytes]) -> str:
        """The entry name of a batch: a digest of its documents' digests, in order."""
        digest = hashlib.blake2b(digest_size=20)
        for d in digests:
            digest.update(d)
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def load(self, key: str, documents: Sequence[Document]) -> Corpus | None:
        """The cached batch for ``documents`` (which must be the batch ``key`` names),
        or ``None`` on a miss or a damaged entry."""
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in _ARRAYS}
            corpus = _from_arrays(documents, arrays, self.settings.num_perm)
        except FileNotFoundError:
            self.stats.misses += 1
            return None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            self.stats.damaged += 1
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return corpus

    def store(self, key: str, corpus: Corpus) -> None:
        """Write a batch atomically; a failure to write is a warning, never fatal."""
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", suffix=".npz", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    np.savez(out, **_to_arrays(corpus))
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as err:
            self.stats.write_errors += 1
            self.stats.write_error = self.stats.write_error or str(err.strerror or err)
            if self.stats.write_errors == 1 and self.warn:
                self.warn_unwritable()

    def warn_unwritable(self) -> None:
        """The one warning a scan gives when the cache could not be written."""
        warnings.warn(f"dedup: cannot write to the cache {self.root}: {self.stats.write_error}; "
                      "scanning without it", stacklevel=3)


def _to_arrays(corpus: Corpus) -> dict[str, np.ndarray]:
    sh = corpus.shingles
    return {
        "doc_paragraphs": np.array([d.paragraphs for d in corpus.documents], dtype=np.int64),
        "para_index": corpus.para_index,
        "para_start": corpus.para_start,
        "para_end": corpus.para_end,
        "para_words": corpus.para_words,
        "para_key": corpus.para_key,
        "shingle_hashes": sh.hashes,
        "shingle_offsets": sh.offsets,
        "shingle_units": sh.units,
        "shingle_widths": sh.widths,
        "signatures": corpus.signatures,
    }


def _from_arrays(documents: Sequence[Document], arrays: dict[str, np.ndarray], num_perm: int) -> Corpus:
    """Rebuild a batch; raises ``ValueError`` when the arrays do not fit ``documents``."""
    for name, dtype in _ARRAYS.items():
        if arrays[name].dtype != dtype:
            raise ValueError(f"{name} has dtype {arrays[name].dtype}")
    counts = arrays["doc_paragraphs"]
    n = int(counts.sum()) if len(counts) else 0
    offsets = arrays["shingle_offsets"]
    if (
        len(counts) != len(documents)
        or any(len(arrays[k]) != n for k in ("para_index", "para_start", "para_end", "para_words", "para_key",
                                             "shingle_units"))
        or arrays["signatures"].shape != (n, num_perm)
        or len(offsets) != n + 1
        or int(offsets[-1]) != len(arrays["shingle_hashes"])
        or int(arrays["shingle_units"].sum()) != len(arrays["shingle_widths"])
    ):
        raise ValueError("entry does not match its batch")
    doc_of = np.repeat(np.arange(len(documents), dtype=np.int64), counts)
    starts, ends = arrays["para_start"], arrays["para_end"]
    return Corpus(
        documents=[DocumentInfo(d.path, len(d.text), int(c), d.source) for d, c in zip(documents, counts)],
        para_doc=doc_of,
        para_index=arrays["para_index"],
        para_start=starts,
        para_end=ends,
        para_words=arrays["para_words"],
        para_key=arrays["para_key"],
        para_preview=previews(documents, doc_of, starts, ends),
        shingles=Shingles(hashes=arrays["shingle_hashes"], offsets=offsets, units=arrays["shingle_units"],
                           widths=arrays["shingle_widths"]),
        signatures=arrays["signatures"],
    )
