"""The bucket file on disk: its layout (a JSON header with its own checksum, then
64-byte aligned little-endian arrays, then the page checksums), where it lives, and
opening it (every level's arrays mapped, nothing read until a look-up)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import xxhash

from .lookup import BLOCK, LevelBuckets
from .pages import PAGE, BucketFileDamaged, Mapped, Pages

MAGIC = b"DEDUPLSH"
#: 1: no checksums; 2: no set sizes (such files are not used; the next optimize
#: replaces them); 3: no signature bytes (``lows``: used without them -- a look-up then
#: reads the signatures of all candidates passing the sketch -- until the next optimize,
#: which computes them from the stored signatures; see :class:`~.lookup.LevelBuckets`).
VERSION = 4
#: The oldest format this dedup reads.
OLDEST = 3
ALIGN = 64
HEAD = len(MAGIC) + 8  # magic, then the JSON header's length (uint64); then the header's checksum
_MAX_HEADER = 1 << 16
REFS_DTYPES = ("<u4", "<i8")


@dataclass(frozen=True)
class BucketFile:
    """An opened bucket file (or the empty stand-in when there is none)."""

    file_id: str  # "" for the stand-in
    heirs: int  # the last logged heir the file includes
    levels: Mapping[str, LevelBuckets]
    pages: Optional[Pages] = None  # None for the stand-in

    def verify_all(self) -> None:
        """Verify every page (:class:`BucketFileDamaged` if one does not): what an
        optimize does before merging this file's buckets into a new one."""
        if self.pages is not None:
            self.pages.verify_all()


def bucket_path(index_path: str, file_id: str) -> str:
    """Where the bucket file ``file_id`` of the index at ``index_path`` lives."""
    return f"{index_path}-lsh.{file_id}"


def read_header(path: str) -> Optional[tuple[dict, int]]:
    """``(header, size on disk)`` of the bucket file at ``path``, or ``None`` if it is
    missing or its header is not whole (its checksum does not verify)."""
    try:
        with open(path, "rb") as f:
            size_on_disk = os.fstat(f.fileno()).st_size
            head = f.read(HEAD)
            if len(head) < HEAD or head[: len(MAGIC)] != MAGIC:
                return None
            size = int(np.frombuffer(head[len(MAGIC) :], dtype="<u8")[0])
            if size > min(size_on_disk, _MAX_HEADER):
                return None
            text = f.read(size + 8)
            if len(text) != size + 8 or text[size:] != xxhash.xxh3_64_digest(text[:size]):
                return None  # a damaged header
            header = json.loads(text[:size].decode("utf-8"))
            return (header, size_on_disk) if isinstance(header, dict) else None
    except (OSError, ValueError):
        return None


def older_version(index_path: str, file_id: str) -> Optional[int]:
    """The format version of the bucket file ``file_id`` if an older dedup wrote it
    in a format this one does not read (a whole header of a version below
    :data:`OLDEST`: not damaged, only not usable), else ``None``."""
    read = read_header(bucket_path(index_path, file_id))
    version = read[0].get("version") if read else None
    return version if isinstance(version, int) and version < OLDEST else None


def open_bucket_file(index_path: str, file_id: str, uid: str, width: int, num_perm: int) -> Optional[BucketFile]:
    """The bucket file ``file_id`` of the index if it exists, is whole and consistent,
    and was written for the database ``uid`` with sketches of ``width`` bytes (and
    signature bytes of ``num_perm``, from format 4 on); ``None`` otherwise (the caller
    then reads what the database holds into memory)."""
    path = bucket_path(index_path, file_id)
    read = read_header(path)
    if read is None:
        return None
    header, size_on_disk = read
    try:
        version = header.get("version")
        if (header.get("uid"), header.get("file_id"), header.get("width")) != (uid, file_id, width) or not (
            isinstance(version, int) and OLDEST <= version <= VERSION
        ) or header["bytes"] != size_on_disk:
            return None  # another file, or truncated / appended to
        mapped = Mapped(path)
        data = mapped.data
        start, sums_at = header["pages_from"], header["page_sums"]
        sums = _array(data, sums_at, "<u8")
        if start % ALIGN or start + PAGE * len(sums) != sums_at[0]:
            return None
        pages = Pages(data, start, sums, path, mapped)
        levels = {}
        for level, spec in header["levels"].items():
            upto = int(spec["upto"])
            if spec["refs_dtype"] not in REFS_DTYPES:
                return None
            keys = _array(data, spec["keys"], "<u8")
            lows = None
            if version >= 4:
                if spec["lows"][1] != (upto + 1) * num_perm:
                    return None
                lows = _array(data, spec["lows"], "u1").reshape(upto + 1, num_perm)
            buckets = LevelBuckets(
                upto=upto,
                keys=keys,
                fence=_array(data, spec["fence"], "<u8"),
                refs=_array(data, spec["refs"], spec["refs_dtype"]),
                sketches=_array(data, spec["sketches"], "u1").reshape(upto + 1, width),
                sizes=_array(data, spec["sizes"], "<u4"),
                pages=pages,
                at={name: spec[name][0] for name in ("keys", "refs", "sketches", "sizes", "lows") if name in spec},
                lows=lows,
            )
            if (len(buckets.refs) != len(keys) or len(buckets.fence) != -(-len(keys) // BLOCK)
                    or len(buckets.sizes) != upto + 1):
                return None
            if spec["fence"][1]:  # small (one key in BLOCK): verified whole, now
                pages.check(np.array([spec["fence"][0]]), np.array([spec["fence"][0] + spec["fence"][1]]))
            levels[level] = buckets
    except (OSError, ValueError, KeyError, TypeError, BucketFileDamaged):
        return None
    return BucketFile(file_id, int(header["heirs"]), levels, pages)


def empty_bucket_file(width: int, num_perm: int) -> BucketFile:
    """The stand-in for a missing or unusable file: no buckets, covering no rows, so
    the delta holds everything stored."""
    level = LevelBuckets(0, np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int64),
                         np.zeros((1, width), np.uint8), np.zeros(1, np.uint32), lows=np.zeros((1, num_perm), np.uint8))
    return BucketFile("", 0, {"paragraph": level, "document": level})


def _array(data: np.ndarray, spec: list[int], dtype: str) -> np.ndarray:
    offset, nbytes = spec
    if offset % ALIGN or offset + nbytes > len(data):
        raise ValueError("array outside the file")
    return data[offset : offset + nbytes].view(dtype)
