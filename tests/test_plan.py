"""The scan's plan: the same result for any number of processes, partitions and shards,
with or without the cache; the scratch folder and the workers never outlive a scan."""

from __future__ import annotations

import importlib
import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from dedup import scan
from dedup.plan import job
from dedup.plan.local import LocalExecutor
from dedup.plan.scratch import PREFIX, scratch_folder, sweep_orphans
from textgen import prose, rewrite, write_docs


@pytest.fixture
def folder(tmp_path, rng):
    """Documents with near-duplicate and exact paragraphs, exact document copies, short
    paragraphs and an unreadable file: every kind of pair and group."""
    base = [prose(rng, 60) for _ in range(10)]
    docs = {}
    for i in range(60):
        paras = [rewrite(rng, rng.choice(base), 0.1) if rng.random() < 0.5 else prose(rng, 50) for _ in range(4)]
        docs[f"d{i:03d}.txt"] = paras + [base[i % 3], "Short line."]
    docs["copy.txt"] = docs["d005.txt"]
    root = write_docs(tmp_path / "docs", docs)
    (root / "zz-binary.txt").write_bytes(b"\x00\x01binary")
    return root


@pytest.fixture
def small_shards(monkeypatch):
    """Batches of ~4 documents and tiny shards: a small folder spans many of each."""
    sign = importlib.import_module("dedup.plan.sign")
    monkeypatch.setattr(sign, "BATCH_DOCUMENTS", 4)
    monkeypatch.setattr(sign, "BATCH_MAX_DOCUMENTS", 8)
    monkeypatch.setattr(sign, "SHARD_MIN_CHARS", 2000)
    monkeypatch.setattr(job, "MIN_PARTITION_ROWS", 1)  # as many partitions as asked for


def report(result) -> str:
    return json.dumps(result.to_dict(), sort_keys=True)


def test_same_result_for_any_jobs_partitions_and_cache(folder, tmp_path, small_shards):
    reference = scan(folder)
    assert len(reference.pairs) > 50 and {p.kind for p in reference.pairs} == {"document", "paragraph"}
    assert any(p.exact for p in reference.pairs) and any(not p.exact for p in reference.pairs)
    assert [e.path for e in reference.errors] == ["zz-binary.txt"]
    expected = report(reference)
    for jobs, partitions in ((1, 1), (1, 7), (2, 3), (2, 16)):
        assert report(scan(folder, jobs=jobs, partitions=partitions)) == expected, (jobs, partitions)
    cache = tmp_path / "cache"
    assert report(scan(folder, jobs=2, cache_dir=cache, partitions=5)) == expected  # cold
    assert report(scan(folder, jobs=1, cache_dir=cache, partitions=2)) == expected  # warm


def test_same_result_without_small_shards(folder, monkeypatch):
    # One shard and the default partitions against many shards and partitions.
    expected = report(scan(folder))
    monkeypatch.setattr(job, "MIN_PARTITION_ROWS", 1)
    assert report(scan(folder, jobs=2, partitions=4)) == expected


@pytest.fixture
def candidate_files(monkeypatch):
    """The paths the candidate stage writes, as it writes them."""
    made = []
    stage = job.candidate_partition.__globals__
    save = stage["save"]
    monkeypatch.setitem(stage, "save", lambda path, array: made.append(path) or save(path, array))
    return made


def test_many_partitions_cost_files_per_partition_not_per_range(folder, monkeypatch, small_shards, candidate_files):
    # A partition's candidates are one file, whatever the number of pair ranges.
    expected = report(scan(folder))
    candidate_files.clear()
    monkeypatch.setattr(job, "RANGES_PER_JOB", 40)
    assert report(scan(folder, jobs=1, partitions=50)) == expected
    assert len(candidate_files) == 2 * 50  # two levels


def test_huge_partitions_are_taken_as_the_rows_fill(folder, candidate_files):
    # Partitions far beyond the bucket rows are as many as the rows fill (here one).
    expected = report(scan(folder))
    candidate_files.clear()
    assert report(scan(folder, jobs=1, partitions=10**6)) == expected
    assert len(candidate_files) == 2


def test_bucket_rows_planned_for_long_enough_items_only(tmp_path, rng, monkeypatch):
    """Waves and partitions follow the bucket rows of the items that are banded (at
    least min_tokens tokens), not every item's: a corpus of short lines (code, lists)
    was planned as if each line had its 49 band + 79 containment rows."""
    base = [prose(rng, 60) for _ in range(4)]
    docs = {f"d{i:02d}.txt": [rewrite(rng, base[i % 4], 0.05), prose(rng, 40)]
            + [f"Item {j} of {i}." for j in range(150)] for i in range(12)}
    root = write_docs(tmp_path / "docs", docs)
    expected = report(scan(root))
    plans = []
    run_level = job.run_level
    monkeypatch.setattr(job, "run_level", lambda plan, *a, **k: plans.append(plan) or run_level(plan, *a, **k))
    monkeypatch.setattr(job, "ROWS_PER_WAVE", 12 * 128)  # 12 long items' rows (49 bands, 79 positions) a wave
    monkeypatch.setattr(job, "ROWS_PER_PARTITION", 4 * 128)
    monkeypatch.setattr(job, "MIN_PARTITION_ROWS", 1)
    assert report(scan(root, jobs=1)) == expected
    paragraphs = next(p for p in plans if p.level == "paragraph")
    assert paragraphs.items == 12 * 152
    assert (paragraphs.waves, paragraphs.partitions) == (2, 3)  # 24 long paragraphs (every item: 49 waves)
    documents = next(p for p in plans if p.level == "document")
    assert (documents.items, documents.waves, documents.partitions) == (12, 1, 3)


def test_all_pairs_same_for_any_partitions(folder, small_shards):
    everything = report(scan(folder, all_pairs=True))
    assert report(scan(folder, all_pairs=True, jobs=2, partitions=6)) == everything


def test_floor_drops_candidates_before_verification(folder, monkeypatch):
    # With the floor disabled every candidate is verified; the floor (4 standard
    # errors under the threshold) must not lose a single reported pair here.
    import dedup.plan.candidates as candidates
    import dedup.plan.verify as stage

    verified = []
    score = stage.score_pairs
    monkeypatch.setattr(stage, "score_pairs", lambda table, pairs: verified.append(len(pairs)) or score(table, pairs))
    with_floor = report(scan(folder, levels=["paragraph"], all_pairs=True))
    checked_with_floor = sum(verified)
    verified.clear()
    monkeypatch.setattr(candidates, "floor", lambda threshold, num_perm: 0.0)  # the floor verification takes
    without_floor = report(scan(folder, levels=["paragraph"], all_pairs=True))
    assert with_floor == without_floor
    assert checked_with_floor < sum(verified)


def test_pairs_already_grouped_are_not_verified_and_change_nothing(folder, monkeypatch):
    # Rounds of a few candidates: the link step publishes groups often, and later
    # ranges skip the pairs it would drop.  The report is the same as verifying all.
    import dedup.plan.link as linking
    import dedup.plan.verify as stage

    monkeypatch.setattr(linking, "ROUND", 3)
    monkeypatch.setattr(job, "RANGES_PER_JOB", 16)
    verified = []
    score = stage.score_pairs
    monkeypatch.setattr(stage, "score_pairs", lambda table, pairs: verified.append(len(pairs)) or score(table, pairs))
    skipping = report(scan(folder, jobs=1))
    checked_skipping = sum(verified)
    assert report(scan(folder, jobs=2)) == skipping
    verified.clear()
    monkeypatch.setattr(stage, "published_groups", lambda plan: None)
    assert report(scan(folder, jobs=1)) == skipping
    assert checked_skipping < sum(verified)


def test_scratch_folder_is_removed_after_a_scan(folder, tmp_path):
    scratch = tmp_path / "scratch"
    scan(folder, jobs=2, tmp_dir=scratch)
    assert scratch.is_dir() and list(scratch.iterdir()) == []


def test_scratch_folder_is_removed_when_a_stage_fails(folder, tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("stage failed")

    monkeypatch.setattr(job, "STAGES", (*job.STAGES[:-1], broken))
    with pytest.raises(RuntimeError, match="stage failed"):
        scan(folder, tmp_dir=tmp_path / "scratch")
    assert list((tmp_path / "scratch").iterdir()) == []


def test_removal_threads_finish_before_a_failed_scan_returns(folder, tmp_path, monkeypatch):
    """Review R12: stage files removed on threads (``Removals``) were waited for only
    when the plan succeeded; a failing stage left them running while the scratch folder
    went (racing its removal).  Now they have finished when the error reaches the caller."""
    from dedup.plan.scratch import Removals

    started, start = [], Removals._start

    def slow(self, target, *args):
        def later(*a):
            time.sleep(0.5)
            target(*a)
        started.append(target)
        start(self, later, *args)

    def broken(*args):
        raise RuntimeError("stage failed")

    monkeypatch.setattr(Removals, "_start", slow)
    monkeypatch.setattr(job, "STAGES", (*job.STAGES[:-1], broken))
    with pytest.raises(RuntimeError, match="stage failed"):
        scan(folder, tmp_dir=tmp_path / "scratch")
    assert started  # a removal was under way when the stage failed
    assert not [t for t in threading.enumerate() if t.name == "dedup-scratch-removal"]
    assert list((tmp_path / "scratch").iterdir()) == []


def test_orphaned_scratch_of_a_dead_process_is_swept(tmp_path):
    dead = tmp_path / f"{PREFIX}999999999-abc"  # no such process
    dead.mkdir()
    (dead / "file.npy").write_bytes(b"x")
    mine = tmp_path / f"{PREFIX}{os.getpid()}-abc"
    mine.mkdir()
    assert sweep_orphans(tmp_path) == 1
    assert not dead.exists() and mine.exists()
    with scratch_folder(tmp_path) as scratch:
        assert scratch.root.parent == tmp_path and scratch.root.is_dir()
    assert not scratch.root.exists()


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_executor_reaps_its_workers_on_keyboard_interrupt():
    executor = LocalExecutor(2)
    pids = []
    with pytest.raises(KeyboardInterrupt):
        with executor:
            pids = executor.map(_sleep, [(0.01,)] * 4)
            assert all(_alive(p) for p in set(pids))
            results = executor.imap(_sleep, [(30,)] * 4)
            signal.signal(signal.SIGALRM, lambda *a: os.kill(os.getpid(), signal.SIGINT))
            signal.alarm(1)  # a SIGINT of our own, one second in
            next(results)
    assert executor._pool is None
    for pid in set(pids):  # terminated and reaped: not even a zombie is left
        assert not _alive(pid)


def test_executor_runs_inline_with_one_job():
    with LocalExecutor(1) as executor:
        assert executor.map(_sleep, [(0,), (0,)]) == [os.getpid()] * 2
    with pytest.raises(ValueError):
        LocalExecutor(0)


def test_same_result_in_waves_and_each_waves_rows_removed_before_the_next(folder, monkeypatch, small_shards):
    """A level banded in waves (a share of the bands and containment positions each)
    finds the same pairs, and the scratch folder holds one wave's bucket rows at most."""
    def rows_on_disk(plan):
        folder = plan.scratch.root / "bands" / plan.level
        return sum(p.stat().st_size for p in folder.iterdir()) if folder.is_dir() else 0

    def measured(plan, shard, wave):  # run inline (jobs=1): the largest band folder seen
        written = band_shard(plan, shard, wave)
        peak[plan.level, plan.waves] = max(peak.get((plan.level, plan.waves), 0), rows_on_disk(plan))
        return written

    band_shard = job.STAGES[1]
    monkeypatch.setattr(job, "STAGES", (job.STAGES[0], measured, *job.STAGES[2:]))
    peak: dict = {}
    expected = report(scan(folder, jobs=1))
    assert {waves for _, waves in peak} == {1}
    monkeypatch.setattr(job, "ROWS_PER_WAVE", 6000)  # ~10 paragraph waves, ~2 document ones
    assert report(scan(folder, jobs=1)) == expected
    assert report(scan(folder, jobs=1, partitions=3)) == expected
    monkeypatch.setattr(job, "STAGES", (job.STAGES[0], band_shard, *job.STAGES[2:]))
    assert report(scan(folder, jobs=2, partitions=2)) == expected
    for level in ("document", "paragraph"):
        (one, whole), (many, in_waves) = sorted((w, p) for (lvl, w), p in peak.items() if lvl == level)
        assert one == 1 and many > 1 and in_waves < whole * 2 / many, (level, many, in_waves, whole)


def test_signatures_kept_only_for_banded_items_and_level_files_removed_after_it(folder, monkeypatch, small_shards):
    """After the first band wave each shard keeps the signatures of the items it banded
    (the only ones that can become candidates), not every item's; a level's signatures
    and shingle sets are gone once it is done.  Same result as ever (the tests above)."""
    exact, band, candidates, verify = job.STAGES
    banded: dict = {}
    seen: dict = {}

    def counted(plan, shard, wave):
        banded[plan.level, shard] = band(plan, shard, wave)
        return banded[plan.level, shard]

    def looked(plan, part):  # every shard banded by now: what is on disk
        for shard in range(plan.shards):
            path = plan.scratch.shard(shard, plan.level, "kept_sigs")
            seen[plan.level, shard] = (plan.scratch.shard(shard, plan.level, "sigs").exists(),
                                       len(np.load(path)) if path.exists() else None)
        if plan.level == "paragraph":
            left = list((plan.scratch.root / "shards").glob("*/document.*"))
            seen["document files"] = sorted({p.name.split(".")[1] for p in left})
        return candidates(plan, part)

    monkeypatch.setattr(job, "STAGES", (exact, counted, looked, verify))
    result = scan(folder, jobs=1, partitions=2)
    assert len(result.pairs) > 50
    assert {k for k in banded} == {k for k in seen if k != "document files"}
    for key, count in banded.items():
        assert seen[key] == (False, count), key  # no full signatures; a kept row per banded item
    paragraphs = sum(c for (level, _), c in banded.items() if level == "paragraph")
    assert 0 < paragraphs < sum(d.paragraphs for d in result.documents)  # short lines and copies are not banded
    assert not {"sigs", "kept_sigs", "kept", "values", "offsets", "sizes"} & set(seen["document files"])
    assert "start" in seen["document files"]  # what the report reads stays


def test_same_result_when_partitions_are_paired_in_splits(folder, rng, monkeypatch):
    # A partition's bucket rows read and paired a few at a time (#15: every bucket
    # whole in one split by key), containment partners judged a few at a time: the
    # same candidates, so the same report -- a split that cut a bucket loses pairs.
    from dedup import containment
    from dedup.plan import band, candidates

    quoted = [prose(rng, 30) for _ in range(8)]  # and quoted inside longer paragraphs: containment pairs
    write_docs(folder / "quotes", {f"q{i}.txt": [quoted[i % 8] + " " + prose(rng, 60), prose(rng, 30)]
                                   for i in range(24)})
    write_docs(folder / "quoted", {f"o{i}.txt": [quoted[i]] for i in range(8)})
    reference = scan(folder)
    assert any(p.relation == "contained" for p in reference.pairs)
    expected = report(reference)
    splits, found = [], []
    split, pairs = band.partition_splits, containment.bucket_pairs

    def counted(*args):
        splits.append(0)
        for rows in split(*args):
            splits[-1] += 1
            yield rows

    monkeypatch.setitem(candidates.candidate_partition.__globals__, "partition_splits", counted)
    monkeypatch.setattr(containment, "bucket_pairs", lambda *a, **k: found.append(len(pairs(*a, **k))) or pairs(*a, **k))
    monkeypatch.setattr(candidates, "SPLIT_ROWS", 64)
    monkeypatch.setattr(containment.buckets, "PAIRS_AT_ONCE", 3)
    assert report(scan(folder)) == expected
    assert max(splits) > 4 and sum(found) > 100


def test_containment_partners_judged_in_slices_are_the_same_pairs():
    # dedup.containment.bucket_pairs makes and judges partners a slice of rows at a
    # time (PAIRS_AT_ONCE): the same pairs in the same order as all at once.
    from dedup import containment

    rng = np.random.default_rng(15)
    n = 5000
    keys = (rng.integers(0, 24, n).astype(np.uint64) << np.uint64(32)) | rng.integers(0, 300, n).astype(np.uint64)
    items, sizes = rng.permutation(n).astype(np.int64), rng.integers(5, 400, n)
    whole = containment.bucket_pairs(keys, items, sizes, 0.7, covered=(49, 2))
    assert len(whole) > 300
    for most in (1, 7, 1000):
        containment.buckets.PAIRS_AT_ONCE, saved = most, containment.buckets.PAIRS_AT_ONCE
        try:
            sliced = containment.bucket_pairs(keys, items, sizes, 0.7, covered=(49, 2))
        finally:
            containment.buckets.PAIRS_AT_ONCE = saved
        assert np.array_equal(sliced, whole), most


@pytest.mark.parametrize("jobs", [1, 2])
def test_documents_given_under_one_name_are_told_apart(jobs):
    """New user's N9 (session 18): ``scan_documents`` of two documents named ``a``
    reported ``a`` paired with itself; the second is now ``a@2`` with a warning, as a
    JSON Lines record whose id repeats is (README: Record names)."""
    from dedup import Document, scan_documents

    import random

    text = prose(random.Random(7), 120)
    result = scan_documents([Document("a", text), Document("a", text + " Officials agreed."),
                             Document("a@2", text + " Nobody agreed.")], jobs=jobs)
    assert {(p.a.path, p.b.path) for p in result.pairs if p.kind == "document"} >= {("a", "a@2")}
    assert all(p.a.path != p.b.path for p in result.pairs)
    assert [(w.path, w.warning) for w in result.warnings] == [
        ("a@2", "item 2 repeats the name of an earlier document; named 'a@2', compared like any document"),
        ("a@2@3", "item 3 repeats the name of an earlier document; named 'a@2@3', compared like any document")]
