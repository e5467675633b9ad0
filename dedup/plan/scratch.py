"""The scratch folder a scan's stages hand each other their files in.

Why files: a stage's output (signatures, band rows, candidate pairs) can be many times
the memory of one process, and a file in a shared folder is also how a stage run in
another process -- or on another machine, by the Dask executor -- finds its inputs.
Every file is a plain ``.npy`` array (``allow_pickle=False``), opened memory-mapped by
the stages that read only parts of it.

Layout, under one fresh folder per scan (``dedup-scan-<pid>-<random>``)::

    shards/<s>/<level>.<name>.npy     what signing wrote for shard s (see plan.sign)
    exact/<level>/<k>.<name>.npy      exact-copy links of key partition k (paragraphs: also
                                      its keys in FRAME_STORIES documents, plan.common)
    bands/<level>/<s>.rows.npy        band rows of shard s, by partition (+ <s>.cuts.npy)
    bands/<level>/contain.<s>.*.npy   its containment bucket rows (if containment is on)
    cand/<level>/<k>.npy              candidate pairs of partition k, sorted
    texts/<name>.npy                  content keys of the corpus's boilerplate texts, sorted
    verified/<level>/<r>.<name>.npy   verified pairs of pair range r
    joined/<level>.npy                the groups linked so far (plan.link; read by plan.verify)
    cc/<level>/<step>/<t>.<k>.npy     edges from task t for partition k (plan.components)
    cc/<level>/labels/<k>.<r>.npy     group labels of partition k's items in pair range r
    link/<level>/<r>.<g>.npy          pair range r's pairs of label partition g (plan.spread)
    link/<level>/kept.<g>.<r>.npy     the pairs label partition g reports, of pair range r
    link/<level>/copies.<k>.<r>.npy   key partition k's reported exact copies, of pair range r
    cc/<level>/members/<k>.<r>.npy    partition k's group members whose group is in pair range r
    parts/<level>/<name>.<r>.npy      the reported pairs or groups of range r (plan.parts)

The folder is removed when the scan ends, however it ends (:func:`scratch_folder`);
folders left by a scan that was killed outright (SIGKILL, power loss) are removed by
the next scan that uses the same parent folder once their process is gone.
"""

from __future__ import annotations

import itertools
import mmap
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence, Union

import numpy as np

from .shield import held_signals, interrupts_stay_in_main_thread

PREFIX = "dedup-scan-"


@dataclass(frozen=True)
class Scratch:
    """Paths of a scan's stage files under ``root`` (one scan's folder).

    ``numbers``: the shard folders' numbers in scan order, when they are not 0, 1, 2,
    ...: the Dask engine's workers each read a run of files and sign it into as many
    shards as its text needs, numbered from the run's own base (:mod:`dedup.plan.read`).
    """

    root: Path
    numbers: tuple[int, ...] = ()

    def shard(self, shard: int, level: str, name: str) -> Path:
        number = self.numbers[shard] if self.numbers else shard
        return self.root / "shards" / f"{number:06d}" / f"{level}.{name}.npy"

    def exact(self, level: str, part: int, name: str) -> Path:
        return self.folder("exact", level) / f"{part:05d}.{name}.npy"

    def bands(self, level: str, shard: int, name: str, kind: str = "band") -> Path:
        """Shard ``shard``'s bucket rows (``name="rows"``, grouped by partition) or
        where each partition's start (``"cuts"``); ``kind="contain"``: its
        containment bucket rows."""
        prefix = "contain." if kind == "contain" else ""
        return self.folder("bands", level) / f"{prefix}{shard:06d}.{name}.npy"

    def texts(self, name: str) -> Path:
        """The sorted content keys of the paragraph texts ``name`` (``"common"``: the
        boilerplate texts), written once by the plan and read by each task that needs
        them (:func:`among`), never sent to every task."""
        return self.root / "texts" / f"{name}.npy"

    def candidates(self, level: str, part: int) -> Path:
        return self.folder("cand", level) / f"{part:05d}.npy"

    def joined(self, level: str) -> Path:
        return self.root / "joined" / f"{level}.npy"

    def verified(self, level: str, pair_range: int, name: str) -> Path:
        return self.folder("verified", level) / f"{pair_range:05d}.{name}.npy"

    def edges(self, level: str, step: int, source: int, part: int) -> Path:
        return self.folder("cc", level) / f"{step:03d}" / f"{source:05d}.{part:05d}.npy"

    def labels(self, level: str, part: int, pair_range: int) -> Path:
        return self.folder("cc", level) / "labels" / f"{part:05d}.{pair_range:05d}.npy"

    def routed(self, level: str, pair_range: int, part: int) -> Path:
        return self.folder("link", level) / f"{pair_range:05d}.{part:05d}.npy"

    def kept(self, level: str, part: int, pair_range: int) -> Path:
        return self.folder("link", level) / f"kept.{part:05d}.{pair_range:05d}.npy"

    def copies(self, level: str, part: int, pair_range: int) -> Path:
        return self.folder("link", level) / f"copies.{part:05d}.{pair_range:05d}.npy"

    def members(self, level: str, part: int, pair_range: int) -> Path:
        return self.folder("cc", level) / "members" / f"{part:05d}.{pair_range:05d}.npy"

    def passed_over(self, level: str, pair_range: int) -> Path:
        return self.folder("cc", level) / "passed" / f"{pair_range:05d}.npy"

    def part(self, level: str, name: str, pair_range: int) -> Path:
        return self.folder("parts", level) / f"{name}.{pair_range:05d}.npy"

    def folder(self, stage: str, level: str) -> Path:
        """The folder of ``level``'s files of ``stage`` (``"exact"``, ``"bands"``,
        ``"cand"``, ``"verified"``, ``"cc"``, ``"link"``, ``"parts"``: see the layout)."""
        return self.root / stage / level

    def remove(self, stage: str, level: str) -> None:
        """Remove :meth:`folder` ``(stage, level)`` and what it holds (stage files no
        later stage reads), if it is there."""
        shutil.rmtree(self.folder(stage, level), ignore_errors=True)


class Removals:
    """Stage files removed on threads of this process while the plan goes on.

    Why: a filesystem that discards a removed file's blocks at once (ext4 mounted
    ``discard``, as on the team's machines) made removing a level's band rows (~330 MB
    for 19 MB of text) take 0.1-1.8 s of the scan's one process, with every worker
    idle, between the candidate and the verification stages.  A folder is renamed
    first (one system call), so its path may be written again at once.  Call
    :meth:`wait` where the disk space must be back (before the next wave's rows) and
    before the scratch folder itself goes (the threads would race its removal).
    The threads block SIGINT and SIGTERM, which stay the main thread's
    (:func:`~dedup.plan.shield.interrupts_stay_in_main_thread`).
    """

    _numbers = itertools.count()

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def folder(self, folder: Path) -> None:
        """Remove ``folder`` and what it holds, if it is there."""
        trash = folder.with_name(f"{folder.name}.removed-{next(self._numbers)}")
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return
        self._start(shutil.rmtree, trash, True)

    def files(self, paths: Sequence[Path]) -> None:
        """Remove the files ``paths`` that are there."""
        self._start(_unlink_all, list(paths))

    def _start(self, target, *args) -> None:
        with interrupts_stay_in_main_thread():
            thread = threading.Thread(target=target, args=args, name="dedup-scratch-removal", daemon=True)
            thread.start()
        self._threads.append(thread)

    def wait(self) -> None:
        """Return once every removal started has finished."""
        while self._threads:
            self._threads.pop().join()


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def save(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` (creating its folder); no pickles, ever."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


def save_parts(path: Path, dtype, shape: tuple[int, ...], parts: Iterable[np.ndarray]) -> None:
    """Write an array of ``shape`` and ``dtype`` to ``path`` as :func:`save` would,
    from ``parts`` (its rows, in order) taken one at a time: never the whole array in
    memory.  Raises ``ValueError`` when the parts do not fill the shape."""
    dtype = np.dtype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "wb") as out:
        np.lib.format.write_array_header_2_0(
            out, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
        for part in parts:
            part = np.ascontiguousarray(part, dtype=dtype)
            out.write(memoryview(part.reshape(-1)).cast("B"))
            written += part.size
    if written != int(np.prod(shape)):
        path.unlink()
        raise ValueError(f"{path.name}: parts of {written:,} values for an array of {shape}")


class PartFile:
    """The values of a stage file at ``path`` written in parts: appended raw (no
    header, C order) to a ``.part`` file beside it, read back as slices of values,
    in the order :func:`save_parts` is to write them (:class:`~dedup.plan.band._Grouped`,
    :class:`~dedup.plan.shardfiles.ShardAppender`).  :meth:`remove` when done."""

    #: Values read back at once by :meth:`chunks` (4 MB of 8-byte values).
    CHUNK_VALUES = 1 << 19

    def __init__(self, path: Path, dtype) -> None:
        self.path, self.dtype = path.with_name(path.name + ".part"), np.dtype(dtype)
        self.values = 0

    def append(self, *arrays: np.ndarray) -> None:
        """Append each of ``arrays``' values (of this file's dtype) in order, the file
        opened once."""
        if self.values == 0:  # a fresh file, whatever a task run before left
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.unlink(missing_ok=True)
        with open(self.path, "ab") as out:
            for array in arrays:
                out.write(memoryview(np.ascontiguousarray(array, dtype=self.dtype).reshape(-1)).cast("B"))
                self.values += array.size

    def slices(self, spans: Iterable[tuple[int, int]]) -> Iterator[np.ndarray]:
        """The values of each ``(start, count)`` span, one array at a time."""
        with open(self.path, "rb") as part:
            for start, count in spans:
                part.seek(start * self.dtype.itemsize)
                yield np.fromfile(part, dtype=self.dtype, count=count)

    def chunks(self) -> Iterator[np.ndarray]:
        """Every value in order, :data:`CHUNK_VALUES` at a time."""
        return self.slices((at, min(self.CHUNK_VALUES, self.values - at))
                           for at in range(0, self.values, self.CHUNK_VALUES))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def load(path: Path, mmap: bool = False) -> np.ndarray:
    """Read a stage file (memory-mapped with ``mmap=True``: only the pages used are read)."""
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


@contextmanager
def scratch_folder(parent: Union[str, Path, None] = None) -> Iterator[Scratch]:
    """A fresh scratch folder under ``parent`` (default: the system's temporary
    folder), removed on exit -- also when the block ends by an exception,
    ``KeyboardInterrupt`` or any ``BaseException`` (the CLI turns SIGTERM into one).

    Raises ``OSError`` when ``parent`` cannot hold a new folder.
    """
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    sweep_orphans(Path(parent if parent is not None else tempfile.gettempdir()))
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
    try:
        yield Scratch(root)
    finally:
        with held_signals():  # a second Ctrl-C must not leave the folder behind
            shutil.rmtree(root, ignore_errors=True)


def sweep_orphans(parent: Path) -> int:
    """Remove scratch folders under ``parent`` whose scan process no longer exists
    (it was killed before it could clean up); returns how many were removed."""
    removed = 0
    for path in parent.glob(f"{PREFIX}*"):
        try:
            pid = int(path.name[len(PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge
        return True
    return True


def among(keys: np.ndarray, path: Path) -> np.ndarray:
    """Whether each of ``keys`` is in the sorted key file ``path`` (memory-mapped and
    searched, never read whole: a task's memory does not grow with the file)."""
    known = load(path, mmap=True)
    if not len(known) or not len(keys):
        return np.zeros(len(keys), bool)
    at = np.searchsorted(known, keys).clip(max=len(known) - 1)
    found = np.asarray(known[at]) == keys
    release(known)
    return found


def release(array: np.ndarray) -> None:
    """Drop this process's resident pages of a memory-mapped stage file (the kernel
    keeps them in its page cache, so reading them again costs no disk read).

    Why: a stage that gathers rows from all over the corpus -- verification reads
    signatures and shingle sets of items anywhere -- would otherwise keep every page
    it ever touched mapped and counted in its resident memory: the whole corpus's
    signatures (1 KB an item) by the end of a large scan."""
    raw = getattr(array, "_mmap", None)
    if raw is not None and _DONTNEED is not None:
        raw.madvise(_DONTNEED)


_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """Partition number of each 64-bit key (content hashes and band keys, both well
    mixed already): its high bits modulo ``partitions``."""
    return ((keys >> np.uint64(32)) % np.uint64(partitions)).astype(np.int64)


def by_partition(part: np.ndarray, partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """``(order, cuts)``: the rows of partition ``k`` are ``order[cuts[k]:cuts[k + 1]]``,
    in their original order.  A stable sort of 16-bit partition numbers is numpy's
    radix sort, linear and ~8x faster than sorting the 64-bit numbers."""
    small = part.astype(np.uint16) if partitions <= 1 << 16 else part
    order = np.argsort(small, kind="stable")
    cuts = np.concatenate(([0], np.cumsum(np.bincount(part, minlength=partitions))))
    return order, cuts
