"""``scan``: the batch job, as a library call (``dedup scan`` is a thin layer over it).

Reads every document under the given paths, signs them in batches, detects duplicate
paragraphs and documents, and returns a :class:`~dedup.results.ScanResult`.  Bad files
become entries in ``result.errors``; they never stop the scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence, Union

from .corpus import Corpus, sign_documents
from .detect import LEVELS, detect
from .readers import STDIN_ARG, Document, ReadError, ReadOptions, read_file, read_stdin
from .results import Kind, ScanResult
from .settings import Settings
from .sources import Selection, walk

#: Documents signed per batch: large enough for numpy to amortize its call overhead,
#: small enough to keep a batch's temporary arrays in a few hundred MB.
BATCH_DOCUMENTS = 512


def scan(
    paths: Union[str, Path, Sequence[Union[str, Path]]],
    settings: Settings | None = None,
    *,
    levels: Sequence[Kind] = LEVELS,
    selection: Selection | None = None,
    read_options: ReadOptions | None = None,
) -> ScanResult:
    """Find duplicate documents and paragraphs in the files under ``paths``.

    Report paths are relative to the scanned folder when one folder is given, and
    prefixed with each root as given otherwise.  A path ``"-"`` reads stdin, as
    ``read_options.stdin_format`` says.
    """
    roots = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    return scan_documents(
        read_paths(roots, selection or Selection(), read_options or ReadOptions()),
        settings,
        levels=levels,
    )


def scan_documents(
    documents: Iterable[Union[Document, ReadError]],
    settings: Settings | None = None,
    *,
    levels: Sequence[Kind] = LEVELS,
) -> ScanResult:
    """Like :func:`scan`, over documents you already have in memory."""
    settings = settings or Settings()
    corpus = build_corpus(documents, settings)
    pairs, groups = detect(corpus, settings, levels)
    return ScanResult(
        settings={**settings.to_dict(), "levels": [lvl for lvl in LEVELS if lvl in levels]},
        documents=corpus.documents,
        pairs=pairs,
        groups=groups,
        errors=corpus.errors,
    )


def build_corpus(documents: Iterable[Union[Document, ReadError]], settings: Settings) -> Corpus:
    """Sign documents batch by batch; read errors are carried along in order."""
    parts: list[Corpus] = []
    batch: list[Document] = []
    errors: list[ReadError] = []
    for item in documents:
        if isinstance(item, ReadError):
            errors.append(item)
            continue
        batch.append(item)
        if len(batch) >= BATCH_DOCUMENTS:
            parts.append(sign_documents(batch, settings))
            batch = []
    if batch or not parts:
        parts.append(sign_documents(batch, settings))
    corpus = Corpus.concat(parts, settings.num_perm)
    corpus.errors = errors
    return corpus


def read_paths(
    roots: Sequence[Path], selection: Selection, options: ReadOptions
) -> Iterator[Union[Document, ReadError]]:
    """Every document (or read error) under ``roots``, in path order (``-``: stdin)."""
    for root in roots:
        if root == Path(STDIN_ARG):
            yield from read_stdin(options)
            continue
        single = len(roots) == 1
        prefix = "" if single else root.as_posix().rstrip("/") + "/"
        for entry in walk(root, selection):
            if isinstance(entry, ReadError):
                yield entry if entry.path == str(root) else ReadError(prefix + entry.path, entry.error)
            elif entry.path == root:  # a file named directly
                yield from read_file(entry.path, entry.name if single else root.as_posix(), options)
            else:
                yield from read_file(entry.path, prefix + entry.name, options)
