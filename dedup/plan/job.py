"""The batch scan as a plan of partitioned stages, run by any executor.

::

    documents --sign--> shard files --exact--> copies per key partition
              --band--> band rows per partition --candidates--> pairs per partition
              --verify--> verified pairs per range --link--> reported pairs and groups

Each arrow but the last is a stage function over one shard, partition or range
(:mod:`~dedup.plan.sign`, :mod:`~dedup.plan.exact`, :mod:`~dedup.plan.band`,
:mod:`~dedup.plan.candidates`, :mod:`~dedup.plan.verify`) that reads and writes files in
the scratch folder, so the stages run on an executor's workers -- a local process pool
(:mod:`~dedup.plan.local`) or a cluster -- and no process ever holds the corpus.  The
last step (:mod:`~dedup.plan.link`) streams the verified pairs through one process,
which keeps one number per item (its group) and the reported pairs as numpy columns;
on a cluster it runs as tasks too (:mod:`~dedup.plan.spread`), which write the reported
pairs and groups in parts that the report reads one at a time (:mod:`~dedup.plan.parts`).

Results do not depend on the executor, its number of workers, the shard boundaries,
the number of partitions or the cache: items are numbered in scan order, every stage's
output is sorted by those numbers, and the link step reads them in that order.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Callable, Collection, Iterable, Iterator, Optional, Protocol, Sequence, Union

import numpy as np

from .. import containment
from ..cache import SignatureCache
from ..corpus import DocumentTable
from ..progress import NO_PROGRESS, Progress
from ..inputs import Input
from ..readers import Document, ReadError, ReadWarning
from ..boilerplate import min_documents
from .. import lsh, minhash
from ..crowded import STAR_ROUNDS, Crowding
from ..lsh import ALL_PAIRS_BUCKET
from ..results import LEVELS, Boilerplate, FilesRead, Kind, ScanResult
from ..segments import offsets_from_counts
from ..settings import Settings
from .band import band_shard
from .candidates import candidate_partition, pair_range_starts
from .exact import exact_partition
from .items import LevelPlan
from .link import Linked, link
from .located import Chain, LocatedGroups, LocatedPairs, Places
from .parts import LevelParts
from .scratch import Removals, Scratch, save
from .common import common_partition
from .spread import link_partitioned
from .read import read_and_sign
from .documents import document_shard
from .sign import Batch, ShardInfo, ShardTask, batches, runs, screen, shard_limit, sign_shard
from .verify import verify_range

#: Bucket rows per partition when the number is not given: the candidate stage sorts
#: one partition's rows at a time (16-24 bytes a row, ~4x that while sorting: a few
#: hundred MB per worker).  The number is rounded up to a multiple of the workers.
ROWS_PER_PARTITION = 1 << 22
#: Band partitions per worker at least with more than one worker (as the rows fill them,
#: :data:`MIN_PARTITION_ROWS`), so that the candidate stage ends evenly: its tasks
#: differ by ~15 % in time, and at three a worker (the 19 MB base of bench_scale.py at
#: ``-j 2``) the last one ran alone for 0.4 s of the stage's 3.4 s.
PARTITIONS_PER_JOB = 4
#: Rows below which a partition saves no memory worth its task: a larger
#: ``partitions`` is taken as ``rows // MIN_PARTITION_ROWS`` (band partitions; the
#: exact-copy keys, one row per item, likewise).  What a partition costs beyond its
#: rows -- a task, a file, one slice read per shard -- so stays small whatever is asked.
MIN_PARTITION_ROWS = 1 << 16
#: Content keys per exact-copy key partition (:mod:`dedup.plan.exact`,
#: :mod:`dedup.plan.common`) when the band partitions ask for fewer partitions: a task
#: holds its keys with their item numbers, ~70 bytes a key while sorting (~150 MB),
#: so the key partitions grow with the items, as the band partitions grow with the
#: rows (which stop growing per wave once a level is banded in waves).
KEYS_PER_PARTITION = 1 << 21
#: Pair ranges: at least this many per worker (so the verification balances, and the
#: link step publishes its groups between ranges, :mod:`dedup.plan.link`), and at most
#: ``RANGE_CANDIDATES`` candidates each (8 bytes each in memory).
RANGES_PER_JOB = 4
RANGE_CANDIDATES = 1 << 18
#: Bucket rows written at most at once: a level with more is banded in waves
#: (:mod:`dedup.plan.band`), each wave's rows removed once its candidates are found, so
#: the rows never take more than ~1-1.5 GB of the scratch folder (16 bytes a band row,
#: 24 a containment row) -- where all of a 1.6 GB corpus's took 6.5 GB.
ROWS_PER_WAVE = 1 << 26


#: The stages of a level that run on the executor, in order (then :func:`link`): one
#: task per key partition, per shard and wave, per candidate partition, per pair range.
STAGES = (exact_partition, band_shard, candidate_partition, verify_range)


class Executor(Protocol):
    """What the plan needs from an executor (see :class:`dedup.plan.local.LocalExecutor`).
    One with a true ``partitioned_link`` attribute (:class:`dedup.plan.dask.DaskExecutor`)
    links the pairs by tasks too (:mod:`dedup.plan.spread`), not in this process; one
    with a true ``reads_inputs`` attribute has its workers read the files they sign
    (:mod:`dedup.plan.read`: ``documents`` may then hold unread files, and it has a
    ``sees(files)`` method)."""

    jobs: int

    def map(self, stage: Callable, tasks: Iterable[tuple]) -> list: ...

    def imap(self, stage: Callable, tasks: Iterable[tuple]) -> Iterator: ...


def run_scan(
    documents: Iterable[Union[Document, ReadError, Input]],
    settings: Settings,
    *,
    levels: Sequence[Kind],
    executor: Executor,
    scratch: Scratch,
    partitions: Optional[int] = None,
    cache: Optional[SignatureCache] = None,
    all_pairs: Union[bool, Collection[Kind]] = False,
    progress: Progress = NO_PROGRESS,
) -> ScanResult:
    """Run the whole plan over ``documents`` (read errors are carried along in order).
    ``all_pairs``: every verified pair reported, at every level or at the levels named.

    ``partitions``: key/band partitions and pair ranges per level (default: from the
    corpus size, at least ``executor.jobs``).  Signing statistics are added to
    ``cache.stats``; ``progress`` hears of the stages.  Raises ``OSError`` when the scratch folder cannot be written.
    """
    errors: list[ReadError] = []
    warnings: list[ReadWarning] = []
    infos: list[ShardInfo] = []
    files = FilesRead()
    if getattr(executor, "reads_inputs", False):  # its workers read the files they sign
        infos, scratch = read_and_sign(documents, settings, executor, scratch, cache, progress, errors, warnings,
                                       files)
    else:
        if executor.jobs > 1 and (cache is None or not cache.holds_entries()):
            # Loaded once here, before the pool forks, not once per worker (~0.8 s CPU
            # each); a scan whose batches may all be cached leaves it to a worker that
            # signs one.
            minhash.load()
        for info in executor.imap(sign_shard, ((scratch, task, settings, cache) for task in
                                               shard_tasks(batches(screen(documents, errors, warnings)), executor.jobs))):
            infos.append(info)
            progress.count("signed", len(info.documents))
    if cache is not None:
        for info in infos:
            cache.stats.add(info.cache)
        if cache.stats.write_errors:
            cache.warn_unwritable()
    found = DocumentTable.concat([info.documents for info in infos])  # columns, not an object per document
    chosen = [lvl for lvl in LEVELS if lvl in levels]
    progress.stage("finding boilerplate", "")
    doc_bases = tuple(offsets_from_counts(np.array([len(info.documents) for info in infos], dtype=np.int64)).tolist())
    paragraphs = _level_plan(scratch, "paragraph", settings, [info.items["paragraph"] for info in infos],
                             sum(info.long_enough["paragraph"] for info in infos), partitions, executor.jobs)
    need = min_documents(len(found), settings.boilerplate)
    common = np.zeros((0, 4), np.int64)
    recurring = bool(need and paragraphs.items)  # texts in FRAME_STORIES documents or more (plan/frames.py)
    if recurring:
        found_common = executor.map(common_partition, [(paragraphs, k, doc_bases, need)
                                                       for k in range(paragraphs.copy_partitions)])
        common = np.concatenate([rows for rows, _ in found_common])
        common = common[np.argsort(common[:, 1])]  # by first occurrence
    common_keys = np.sort(common[:, 0].view(np.uint64))
    save(scratch.texts("common"), common_keys)  # read by each task that needs them, never sent
    pairs, groups, boilerplate = [], [], []
    removals = Removals()  # stage files no stage reads again go on threads (see Removals)
    try:
        # The paragraphs' shingles in order are read by the document stage and, with
        # containment on, by each level's verification (coverage): removed once no level
        # left to run reads them.
        readers = set(chosen) if settings.containment else {"document"} & set(chosen)
        if not readers:
            _remove_document_sources(paragraphs, removals)
        # With both levels, the paragraphs' exact copies are found first: the document stage
        # then keeps only the signatures of the paragraphs that will be banded (document_shard).
        copies_found = "paragraph" in chosen and "document" in chosen
        if copies_found:
            executor.map(STAGES[0], [(paragraphs, k) for k in range(paragraphs.copy_partitions)])
        for level in chosen:
            if level == "paragraph":
                plan = paragraphs
            else:
                made = executor.map(document_shard, [(paragraphs, s, recurring, copies_found)
                                                     for s in range(paragraphs.shards)])
                if "paragraph" not in chosen:  # no level reads the paragraphs' signatures again
                    _remove_shard_files(paragraphs, ("sigs",), removals)
                plan = _level_plan(scratch, level, settings, [n for n, _ in made], sum(n for _, n in made), partitions,
                                   executor.jobs)
                if not settings.containment:
                    _done_reading(paragraphs, readers, level, removals)
            linked = run_level(plan, executor, every_pair(all_pairs, level), progress, common_keys if level == "paragraph" else None,
                               doc_bases, copies_found=copies_found and level == "paragraph", removals=removals)
            _done_reading(paragraphs, readers, level, removals)
            for done in ("exact", "cand", "verified"):  # read by the level's stages only
                removals.folder(scratch.folder(done, level))
            _remove_shard_files(plan, LEVEL_ONLY, removals)
            if isinstance(linked, LevelParts):  # written by the workers, read a part at a time
                level_pairs, level_groups = linked.located(found)
            else:
                places = Places(plan, linked.items, doc_bases, found)
                level_pairs, level_groups = LocatedPairs(level, linked, places), LocatedGroups(level, linked, places)
            pairs.append(level_pairs)
            groups.append(level_groups)
            if level == "paragraph" and len(common):
                where = Places(plan, np.sort(common[:, 1]), doc_bases, found)
                located = where.locations(where.positions(common[:, 1]))
                for loc, (documents, copies) in zip(located, common[:, 2:].tolist()):
                    boilerplate.append(Boilerplate(loc, documents, copies, loc.preview))
    finally:  # the threads finish before the scratch folder goes, however the plan ends
        removals.wait()
    return ScanResult(
        settings={**settings.to_dict(), "levels": [lvl for lvl in LEVELS if lvl in levels], "all_pairs": all_pairs if isinstance(all_pairs, bool) else [lvl for lvl in LEVELS if lvl in all_pairs]},
        documents=found,
        pairs=Chain(pairs),
        groups=Chain(groups),
        errors=errors,
        boilerplate=boilerplate,
        warnings=warnings,
        files=files if files.count else None,
    )


def _level_plan(scratch: Scratch, level: Kind, settings: Settings, counts: Sequence[int], long_enough: int,
                partitions: Optional[int], jobs: int) -> LevelPlan:
    """The plan of one level with ``counts`` items per shard, ``long_enough`` of them
    with at least ``min_tokens`` tokens (partitions: as given, else from the number of
    bucket rows per wave, a multiple of ``jobs``, and at least
    :data:`PARTITIONS_PER_JOB` a worker with several workers; key partitions
    likewise, or more for at most :data:`KEYS_PER_PARTITION` items each; never more
    than the rows fill, :data:`MIN_PARTITION_ROWS`).  The bucket rows are counted for
    the long enough items only, the only ones banded: counted for every item, a corpus
    of short lines (code, lists, man pages) was planned more waves and partitions than
    its rows fill.  Its pair ranges are set once the candidates are counted (:func:`run_level`)."""
    bases = offsets_from_counts(np.array(counts, dtype=np.int64))
    items = int(bases[-1])
    rows = long_enough * (settings.bands + (containment.search_positions(settings.containment, settings.num_perm)
                                      if settings.containment else 0))
    waves = max(1, min(settings.bands, -(-rows // ROWS_PER_WAVE)))
    per_wave = -(-rows // waves)
    by_rows = jobs * -(-per_wave // (ROWS_PER_PARTITION * jobs))
    asked = partitions or max(by_rows, PARTITIONS_PER_JOB * jobs if jobs > 1 else 1)
    keys = partitions or max(by_rows, jobs * -(-items // (KEYS_PER_PARTITION * jobs)))
    return LevelPlan(
        scratch=scratch, level=level, settings=settings, bases=tuple(bases.tolist()),
        partitions=max(1, min(asked, per_wave // MIN_PARTITION_ROWS)), pair_ranges=1,
        threshold=settings.threshold if level == "paragraph" else settings.doc_threshold,
        min_tokens=settings.min_tokens, key_partitions=max(1, min(keys, items // MIN_PARTITION_ROWS)), waves=waves,
    )


#: Shard files read only while their own level runs (signatures, shingle sets, set
#: sizes): removed once it is done.  The report reads the places and previews.  The
#: document level runs first (:data:`dedup.results.LEVELS`), and reads the paragraphs'
#: shingle sets then (:mod:`.frames`).
LEVEL_ONLY = ("sigs", "kept_sigs", "kept", "values", "offsets", "sizes")


def _done_reading(paragraphs: LevelPlan, readers: set, level: str, removals: Removals) -> None:
    """``level`` has read the paragraphs' shingles in order: they are removed when it
    was the last of ``readers`` (the levels left to read them) to do so."""
    if level in readers:
        readers.discard(level)
        if not readers:
            _remove_document_sources(paragraphs, removals)


def _remove_document_sources(paragraphs: LevelPlan, removals: Removals) -> None:
    """Remove the paragraphs' shingles in order, which the document stage
    (:func:`document_shard`) and the paragraph verification's coverage read, once
    both have run."""
    _remove_shard_files(paragraphs, ("hashes", "hash_offsets", "units", "widths", "unit_offsets"), removals)


def _remove_shard_files(plan: LevelPlan, names: Sequence[str], removals: Removals) -> None:
    """Remove files ``names`` of every shard of ``plan``'s level (on a thread)."""
    removals.files([plan.scratch.shard(shard, plan.level, name) for shard in range(plan.shards) for name in names])


def every_pair(all_pairs: Union[bool, Collection[Kind]], level: Kind) -> bool:
    """Whether ``level`` reports every verified pair (``all_pairs``: for all levels, or
    the levels named)."""
    return all_pairs if isinstance(all_pairs, bool) else level in all_pairs


def run_level(plan: LevelPlan, executor: Executor, all_pairs: bool, progress: Progress = NO_PROGRESS,
              common: Optional[np.ndarray] = None, doc_bases: Sequence[int] = (0,),
              copies_found: bool = False, *, removals: Removals) -> Union[Linked, LevelParts]:
    """The stages of one level, each spread over the executor's workers (``common``:
    boilerplate keys, whose exact copies are grouped but not reported as pairs;
    ``doc_bases``: documents before each shard).  An executor that links by tasks
    returns the part files its workers wrote (:mod:`dedup.plan.parts`), not the pairs.

    ``progress`` hears of three stages: finding candidates (counted in stages), verifying
    them (counted in candidates as each pair range is done, with the ranges done beside)
    and grouping.  The verified ranges are linked as they come (:func:`link`), unless
    the executor links by tasks.  ``copies_found``: the level's exact stage has run
    already (:func:`run_scan` runs the paragraphs' before the document level).
    ``removals``: where each wave's band rows are removed once its candidates are
    found (:class:`~dedup.plan.scratch.Removals`; the caller waits for them)."""
    exact, band, candidates, verify = STAGES
    # Every verified pair asked for: a crowded bucket's pairs are reported anyway.
    plan = dataclasses.replace(plan, star_above=ALL_PAIRS_BUCKET if all_pairs else None)
    progress.stage(f"{plan.level}s: finding candidates", "stages", 1 + 2 * plan.waves)
    if not copies_found:  # else its exact stage has run (before the document level)
        executor.map(exact, [(plan, k) for k in range(plan.copy_partitions)])
    progress.advance()
    found = []
    banded = 0  # items banded: each has a row in every band
    for wave in range(plan.waves):
        if wave:
            removals.wait()  # the last wave's rows are gone before this wave's are written
        banded = sum(executor.map(band, [(plan, s, wave) for s in range(plan.shards)]))
        plan = dataclasses.replace(plan, kept=True)  # only the banded items' signatures are left
        progress.advance()
        found += executor.map(candidates, [(plan, wave * plan.partitions + k) for k in range(plan.partitions)])
        progress.advance()
        removals.folder(plan.scratch.folder("bands", plan.level))  # the wave's rows: only its candidates read them
    per_bin = np.sum([f.counts for f in found], axis=0) if found else np.zeros(1, np.int64)
    _warn_crowded(plan, sum((f.crowding for f in found), Crowding()), banded * plan.settings.bands)
    ranges = max(RANGES_PER_JOB * executor.jobs, -(-int(per_bin.sum()) // RANGE_CANDIDATES))
    starts = pair_range_starts(plan, per_bin, ranges)
    plan = dataclasses.replace(plan, pair_ranges=len(starts), range_starts=starts)
    progress.stage(f"{plan.level}s: verifying candidates", "candidates")

    def verified() -> Iterator[int]:
        for candidates in executor.imap(verify, [(plan, r) for r in range(plan.pair_ranges)]):
            progress.advance(candidates)
            progress.count("ranges", 1, plan.pair_ranges)
            yield candidates
        progress.stage(f"{plan.level}s: grouping", "")

    if getattr(executor, "partitioned_link", False):  # no process may hold every pair
        return link_partitioned(plan, executor, list(verified()), all_pairs, common, doc_bases)
    if all_pairs:
        return link(plan, verified(), all_pairs, common)
    path = plan.scratch.joined(plan.level)
    path.parent.mkdir(parents=True, exist_ok=True)
    joined = np.lib.format.open_memmap(path, mode="w+", dtype=np.int64, shape=(plan.items,))
    joined[:] = np.arange(plan.items)
    joined.flush()
    try:
        return link(plan, verified(), all_pairs, common, joined)
    finally:
        del joined
        path.unlink()


#: Share of a level's band keys left unsettled in crowded buckets
#: (:class:`~dedup.crowded.Crowding`) above which the scan warns.  Real prose leaves a
#: few (the eval-dev sets none; the 19 MB benchmark base of manuals and man pages
#: 0.3 % of its paragraph keys, short repeated lines); masses of very short texts over
#: a small vocabulary leave far more (40,000 one-liners of 8 one-letter words: 7 %).
UNSETTLED_SHARE = 0.01


def _warn_crowded(plan: LevelPlan, crowding: Crowding, rows: int) -> None:
    """Warn when crowded buckets (of more than ``plan.star_above`` items, else
    :data:`dedup.lsh.MAX_BUCKET_PAIRS`) left more than :data:`UNSETTLED_SHARE` of the
    level's ``rows`` band keys *unsettled*: compared with their bucket's
    :data:`~dedup.crowded.STAR_ROUNDS` centres only (:mod:`dedup.crowded`), so a pair of
    them that meets in no other bucket is not found."""
    level = plan.level
    if rows and crowding.unsettled > UNSETTLED_SHARE * rows:
        above = lsh.MAX_BUCKET_PAIRS if plan.star_above is None else plan.star_above
        warnings.warn(
            f"{level}s: {crowding.unsettled:,} of the {rows:,} LSH band keys fell in crowded buckets (more than "
            f"{above} {level}s each, {crowding.buckets:,} buckets, the largest {crowding.largest:,}: many "
            f"near-identical or very short texts) that hold more distinct texts than {STAR_ROUNDS} centres "
            f"cover; each of those was compared with the centres only, so two {level}s that meet only there "
            "may not be paired", stacklevel=2)


def shard_tasks(batches: Iterable[Batch], jobs: int) -> Iterator[ShardTask]:
    """Consecutive batches grouped into numbered shards (sizes as
    :data:`~dedup.plan.sign.SHARD_MIN_CHARS` says)."""
    for number, shard in enumerate(runs(batches, Batch.chars, lambda seen: shard_limit(seen, jobs))):
        yield ShardTask(number, shard)
