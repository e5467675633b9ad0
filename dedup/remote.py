"""Inputs named by an fsspec URL or a glob: shards of a corpus wherever they are.

``s3://bucket/crawl/*.parquet``, ``gs://...``, ``https://host/file.jsonl.gz``,
``memory://...`` or a quoted local glob ``'data/shard-*.jsonl'`` name files through
`fsspec <https://filesystem-spec.readthedocs.io/>`_ (a dependency of ``dedup[dask]``;
``s3://`` also needs ``s3fs``, ``gs://`` ``gcsfs``, as fsspec says).  Each matching file
(a URL naming a folder: every file under it) is listed, in sorted order
(:func:`dedup.inputs.list_inputs`), and read by the reader its suffix chooses, exactly
as a local file is (:func:`dedup.readers.read_stream`:
JSON Lines and Parquet shards row by row, compressed files as streams), and reported
under its full name (the URL, or the path the glob matched).  A file that cannot be
opened or read is a read error; the scan goes on.  ``--include``/``--exclude`` do not
apply: the glob is the selection.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Union

#: What marks a glob (fsspec's and the shell's).
GLOB = "*?["


def is_remote(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` names its files through fsspec: a URL (``scheme://``), or a glob
    that is not also the name of an existing local file."""
    text = os.fspath(path)
    return "://" in text or (any(c in text for c in GLOB) and not os.path.lexists(text))


def expand(pattern: str) -> tuple[object, list[tuple[str, int]]]:
    """``(filesystem, [(path, size), ...])``: the files ``pattern`` names, in path order
    (:func:`~dedup.sources.path_order`, as a folder's walk), with their sizes in bytes (0 when the filesystem does not say).

    Raises :class:`FileNotFoundError` when nothing matches (a local glob: also without
    fsspec), ``ValueError`` when fsspec (or the package of the URL's protocol) is not
    installed.
    """
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        # A glob that matches nothing says so, not that fsspec is missing (s23 audit of #12).
        if "://" not in pattern and not _local_matches(pattern):
            raise FileNotFoundError(errno.ENOENT, "no file matches", pattern) from None
        raise ValueError(f"{pattern}: reading URLs and globs needs fsspec: "
                         f"pip install -e '.[dask]' in dedup's checkout") from None
    try:
        fs, path = url_to_fs(pattern)
    except (ImportError, ValueError) as err:
        raise ValueError(f"{pattern}: {err}") from None
    if any(c in path for c in GLOB):
        found = fs.glob(path, detail=True)
    elif fs.exists(path):
        found = {path: fs.info(path)}
    else:
        found = {}
    files: dict[str, dict] = {}
    for name, info in found.items():
        files.update(fs.find(name, detail=True) if info.get("type") == "directory" else {name: info})
    if not files:
        raise FileNotFoundError(errno.ENOENT, "no file matches", pattern)
    from .sources import path_order  # (sources imports this module)
    return fs, sorted(((name, int(info.get("size") or 0)) for name, info in files.items()),
                      key=lambda found: path_order(found[0]))


def _local_matches(pattern: str) -> bool:
    """Whether the local glob ``pattern`` matches anything (hidden names too, as
    fsspec's glob matches them), by the standard library's :mod:`glob`."""
    import glob

    hidden = {"include_hidden": True} if sys.version_info >= (3, 11) else {}
    return any(True for _ in glob.iglob(pattern, recursive=True, **hidden))
