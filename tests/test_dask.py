"""The Dask engine (#15): the same pairs, groups and scores as the local engine, on the
fixtures, a sample of the evaluation sets and a generated corpus, every setting
included; its partitioned connected components against union-find; its errors.

The Dask tests share one 2-worker ``LocalCluster`` on loopback (a module fixture)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from distributed import LocalCluster

from dedup import scan
from dedup.cli import main
from dedup.group import merge
from dedup.inputs import LocalFile, RemoteFile
from dedup.plan import components as cc
from dedup.plan import dask as dask_engine
from dedup.plan import read, spread
from dedup.plan.items import LevelPlan
from dedup.plan.local import LocalExecutor
from dedup.plan.scratch import Scratch, save
from dedup.plan.trim import malloc_trim
from dedup.readers import ReadOptions
from dedup.settings import Settings
from conftest import FIXTURES
from test_plan import _alive, _sleep
from textgen import prose, rewrite, write_docs

SAMPLE = Path(__file__).resolve().parent / "fixtures" / "eval-sample"


@pytest.fixture(scope="module")
def cluster():
    """The address of a 2-worker LocalCluster (loopback, no dashboard) for this module."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as running:
        yield running.scheduler_address


def report(result) -> str:
    return json.dumps(result.to_dict(), sort_keys=True)


def same_on_both(path, cluster, workers_read=False, **options) -> dict:
    """Scan ``path`` with the local engine and on the cluster; assert identical reports.
    With ``workers_read``, reading a file in this process fails during the Dask scan:
    the client only lists the inputs, the workers (other processes) read them."""
    local = scan(path, **options)
    with pytest.MonkeyPatch.context() as patch:
        if workers_read:
            def not_here(self):
                raise AssertionError(f"the client read {self.name}")

            patch.setattr(LocalFile, "read", not_here)
            patch.setattr(RemoteFile, "read", not_here)
        on_dask = scan(path, engine="dask", scheduler=cluster, **options)
    assert report(on_dask) == report(local), options
    return local.to_dict()


# -- the partitioned components and link, on the local executor (no cluster needed) ------


class PartitionedLocal(LocalExecutor):
    """The local pool, linking as the Dask engine does (:mod:`dedup.plan.spread`)."""

    partitioned_link = True


@pytest.mark.parametrize("seed", range(6))
def test_components_are_the_union_find_groups(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    kinds = [rng.integers(0, n, (int(rng.integers(0, 2 * n)), 2)),  # random sparse graph
             np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)[rng.permutation(n - 1)][: n // 2],  # paths
             np.stack([np.zeros(n // 3, np.int64), rng.integers(1, n, n // 3)], axis=1)]  # a star
    edges = np.concatenate(kinds)
    edges = np.sort(edges[edges[:, 0] != edges[:, 1]], axis=1)
    exact = rng.random(len(edges)) < 0.2  # some edges come as exact copies, not verified pairs
    contained = rng.random(len(edges)) < 0.1  # containments link no group
    parts, ranges = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    plan = LevelPlan(Scratch(tmp_path), "paragraph", Settings(), (0, n), parts, ranges, 0.3, 8)
    pairs = edges[~exact]
    in_range = plan.range_of(pairs[:, 0])
    for r in range(ranges):
        mine = in_range == r
        save(plan.scratch.verified("paragraph", r, "a"), pairs[mine, 0])
        save(plan.scratch.verified("paragraph", r, "b"), pairs[mine, 1])
        save(plan.scratch.verified("paragraph", r, "contained"), contained[~exact][mine])
        for side in ("containment_a", "containment_b"):  # equal sides: no pair holds the other
            save(plan.scratch.verified("paragraph", r, side), np.ones(int(mine.sum())))
    copies = edges[exact]
    for k in range(parts):
        save(plan.scratch.exact("paragraph", k, "first"), copies[k::parts, 0])
        save(plan.scratch.exact("paragraph", k, "copy"), copies[k::parts, 1])
    cc.components(plan, LocalExecutor(1))
    linking = edges[exact | ~contained]
    expected = merge(np.arange(n), linking[:, 0], linking[:, 1])
    assert cc.labels_of(plan, np.arange(n)).tolist() == expected.tolist()
    shuffled = rng.permutation(n)
    assert cc.labels_of(plan, shuffled).tolist() == expected[shuffled].tolist()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Generated documents: clusters of rewrites, exact copies (paragraphs and whole
    documents), a quoted paragraph inside a longer one, a boilerplate line in many
    documents, short lines, JSON Lines records and an unreadable file."""
    rng = random.Random(1515)
    base = [prose(rng, 70) for _ in range(12)]
    docs = {}
    for i in range(48):
        paras = [rewrite(rng, rng.choice(base), rng.choice([0.03, 0.1, 0.2])) if rng.random() < 0.5
                 else prose(rng, 55) for _ in range(4)]
        if i % 5 == 0:
            paras.append(prose(rng, 150) + " " + base[i % 4] + " " + prose(rng, 150))  # contains a paragraph
        docs[f"d{i:03d}.txt"] = paras + ["Subscribe to our newsletter for the latest news today.", "Short."]
    docs["copy.txt"] = docs["d007.txt"]
    root = write_docs(tmp_path_factory.mktemp("corpus") / "docs", docs)
    with open(root / "records.jsonl", "w", encoding="utf-8") as out:
        for i in range(20):
            out.write(json.dumps({"id": f"r{i}", "text": rewrite(rng, base[i % 6], 0.05)}) + "\n")
    (root / "zz-binary.txt").write_bytes(b"\x00\x01binary")
    return root


@pytest.mark.parametrize("options", [
    {}, {"all_pairs": True, "partitions": 3},
    {"settings": Settings(containment=0.0, boilerplate=0), "partitions": 5},
    {"settings": Settings(boilerplate=3, containment=0.5, threshold=0.5)},
])
def test_partitioned_link_is_the_local_link(corpus, options, monkeypatch):
    """Also with as many band partitions as asked for, and tiny edge partitions: the
    link stages then run on every band partition (``edge_plan``'s upper bound)."""
    expected = report(scan(corpus, **options))
    monkeypatch.setattr(sys.modules["dedup.scan"], "LocalExecutor", PartitionedLocal)
    assert report(scan(corpus, jobs=2, **options)) == expected
    monkeypatch.setattr(sys.modules["dedup.plan.job"], "MIN_PARTITION_ROWS", 1)
    monkeypatch.setattr(spread, "EDGES_PER_PARTITION", 4)
    assert report(scan(corpus, jobs=2, **options)) == expected


def test_reports_from_parts_are_the_local_reports(corpus, tmp_path, monkeypatch):
    """The partitioned link's pairs and groups are written in parts by the workers and
    read one part at a time (:mod:`dedup.plan.parts`): every report format -- the
    JSON writers read columns, CSV and text make objects, Parquet too -- and random
    access give what the local link gives.  Many pair ranges: many parts, some empty."""
    from io import StringIO

    import pyarrow.parquet as pq

    from dedup.report import write_report
    from dedup.report.parquet import write_parquet

    local = scan(corpus, partitions=3)
    monkeypatch.setattr(sys.modules["dedup.scan"], "LocalExecutor", PartitionedLocal)
    monkeypatch.setattr(spread, "EDGES_PER_PARTITION", 4)
    monkeypatch.setattr(sys.modules["dedup.plan.job"], "RANGES_PER_JOB", 40)
    parted = scan(corpus, jobs=2, partitions=3)
    for sequence in (parted.pairs, parted.groups):
        filled = [np.count_nonzero(np.diff(level.starts)) for level in sequence.parts]
        assert max(filled) > 3 and min(filled) < 80, filled
    for fmt in ("json", "jsonl", "csv", "text"):
        written = [StringIO(), StringIO()]
        write_report(local, fmt, written[0])
        write_report(parted, fmt, written[1])
        assert written[1].getvalue() == written[0].getvalue(), fmt
    for i in (0, 7, len(local.pairs) // 2, -1):
        assert parted.pairs[i] == local.pairs[i]
    assert parted.pairs[3:40:5] == local.pairs[3:40:5] and parted.groups[-3:] == local.groups[-3:]
    write_parquet(local, tmp_path / "local")
    write_parquet(parted, tmp_path / "parted")
    for table in ("pairs", "groups", "documents", "errors", "warnings", "boilerplate", "summary"):
        assert pq.read_table(tmp_path / "parted" / table).equals(pq.read_table(tmp_path / "local" / table))


def test_link_stages_partition_edges_not_band_rows(tmp_path, monkeypatch):
    """The components' files per step grow with the square of their partitions, so
    they are sized by the edges (pairs and exact copies), at least one per worker, at
    most the band partitions; the exact-copy partitions are left as they are."""
    plan = LevelPlan(Scratch(tmp_path), "paragraph", Settings(), (0, 1000), 40, 3, 0.3, 8, key_partitions=5)
    for r in range(3):  # 3 + 4 + 5 verified pairs (contained ones too: an upper bound)
        save(plan.scratch.verified("paragraph", r, "a"), np.arange(3 + r))
    for k in range(5):  # 2 exact copies in each of 5 key partitions
        save(plan.scratch.exact("paragraph", k, "copy"), np.arange(2))
    assert (spread.edge_plan(plan, 2).partitions, spread.edge_plan(plan, 1).partitions) == (2, 1)
    monkeypatch.setattr(spread, "EDGES_PER_PARTITION", 4)  # 22 edges: 6 partitions, a multiple of 2 workers
    assert spread.edge_plan(plan, 2).partitions == 6 and spread.edge_plan(plan, 2).copy_partitions == 5
    monkeypatch.setattr(spread, "EDGES_PER_PARTITION", 1)
    assert spread.edge_plan(plan, 2).partitions == 22
    assert spread.edge_plan(dataclasses.replace(plan, partitions=10), 2).partitions == 10


# -- memory per worker: what a task holds does not grow with the corpus -------------------


def test_key_partitions_hold_at_most_keys_per_partition(tmp_path):
    """The exact-copy and boilerplate stages' key partitions grow with the items: with
    containment off the band partitions stopped at 16 per wave up to 67M items (3.1M
    keys a task at 50M); now at most ``KEYS_PER_PARTITION`` each."""
    from dedup.plan import job

    for items in (10_000, 1_000_000, 50_000_000, 200_000_000):
        for settings, long in ((Settings(), items), (Settings(containment=0.0), items), (Settings(), items // 10)):
            plan = job._level_plan(Scratch(tmp_path), "paragraph", settings, [items], long, None, 2)
            assert -(-items // plan.key_partitions) <= job.KEYS_PER_PARTITION, (items, settings.containment, long)
            assert plan.key_partitions % 2 == 0 or plan.key_partitions == max(1, items // job.MIN_PARTITION_ROWS)


def test_document_tasks_carry_no_key_arrays(monkeypatch):
    """The boilerplate keys are written once to the scratch folder, not sent with every
    document task (33.5 KB a task at 250k paragraphs: review R4); the report is the same."""
    from dedup.plan import documents

    sent = []
    real = LocalExecutor.map

    def recording(self, stage, tasks):
        tasks = list(tasks)
        if stage is documents.document_shard:
            sent.extend(tasks)
        return real(self, stage, tasks)

    monkeypatch.setattr(LocalExecutor, "map", recording)
    result = scan(SAMPLE / "versions", Settings(boilerplate=2), jobs=2, partitions=3)
    assert sent and result.boilerplate, "the sample has boilerplate and document tasks"
    assert not [arg for task in sent for arg in task if isinstance(arg, np.ndarray)]


def test_containment_prefilter_in_chunks_is_the_same(monkeypatch):
    """The candidate stage judges its containment candidates a chunk of pairs at a
    time when they involve more than ``ITEMS`` items (memory bounded whatever the
    partition's chance pairs): chunks of a few pairs, each look reading its own
    columns of a few items at a time, give the same report as one chunk."""
    from dedup.plan import candidates

    whole = report(scan(SAMPLE / "rewrites", jobs=1))
    monkeypatch.setattr(candidates, "ITEMS", 14)
    monkeypatch.setattr(candidates, "LOOK_BYTES", 0)  # chunks past 4 * ITEMS (2 * ITEMS) items
    calls = []
    real = candidates.containment.looked
    counted = lambda table, *a, **k: calls.append(  # noqa: E731
        "first_look" if table.dtype == np.uint8 else "second_look") or real(table, *a, **k)
    # first_look calls looked inside dedup.containment.prefilter; the stage calls the package's
    monkeypatch.setattr(candidates.containment.prefilter, "looked", counted)
    monkeypatch.setattr(candidates.containment, "looked", counted)
    assert report(scan(SAMPLE / "rewrites", jobs=1)) == whole
    assert calls.count("first_look") > 1 and calls.count("second_look") > 1


def test_containment_prefilter_reads_each_item_once_when_its_looks_fit(monkeypatch):
    """Each look of the candidate stage's containment prefilter reads every involved
    item of a partition once while their columns fit ``LOOK_BYTES`` (32 MB), however
    many more than ``4 * ITEMS`` items that is: past a fixed count of items the first
    look re-read each chunk's items -- 5.9x the reads for 1.8x the pairs between 4 and
    8 near-copies of the benchmark base, whose partitions grew past it (#9).  The same
    report either way."""
    from dedup.plan import candidates

    whole = report(scan(SAMPLE / "rewrites", jobs=1))
    monkeypatch.setattr(candidates, "ITEMS", 14)  # 56 items' heads: most partitions have more
    reads: list[dict[str, list[int]]] = []  # per call of the prefilter: the items each look read
    for name in ("_HEADS", "_LOWS"):
        real = getattr(candidates, name)
        monkeypatch.setattr(candidates, name, lambda plan, items, real=real, name=name:
                            reads[-1][name].extend(items.tolist()) or real(plan, items))
    plausible = candidates._plausible
    monkeypatch.setattr(candidates, "_plausible", lambda plan, code:
                        reads.append({"_HEADS": [], "_LOWS": []}) or plausible(plan, code))
    assert report(scan(SAMPLE / "rewrites", jobs=1)) == whole
    large = [r for r in reads if len(set(r["_HEADS"])) > 4 * 14]
    assert large, "no partition involves more than 4 * ITEMS items"
    for looks in large:
        for items in looks.values():
            assert len(items) == len(set(items))


def test_workers_reading_runs_of_files_is_the_local_scan(corpus, monkeypatch):
    """Many runs of files, and runs whose text is cut into several shards (tiny
    limits), read and signed by the workers (the local pool, forked: it sees this
    test's limits; linking as the Dask engine does): the same report as the local
    scan at the real limits."""
    expected = report(scan(corpus, partitions=3))
    sign = sys.modules["dedup.plan.sign"]
    for name, value in (("BATCH_DOCUMENTS", 4), ("BATCH_MAX_DOCUMENTS", 8), ("SHARD_MIN_CHARS", 2000),
                        ("SHARD_MAX_CHARS", 5000)):
        monkeypatch.setattr(sign, name, value)
    monkeypatch.setattr(sys.modules["dedup.scan"], "LocalExecutor", PartitionedLocal)
    shards = []
    original = sign.sign_shard
    monkeypatch.setattr(sys.modules["dedup.plan.read"], "sign_shard",
                        lambda scratch, task, *rest: shards.append(task.shard) or original(scratch, task, *rest))
    assert report(scan(corpus, jobs=1, partitions=3)) == expected
    runs = [number // read.RUN_SHARDS for number in shards]
    assert len(set(runs)) > 5 and len(runs) > len(set(runs)), runs  # many runs, some of several shards


def test_a_worker_ends_a_shard_before_it_passes_the_limit(corpus, tmp_path, monkeypatch):
    """A worker's shards hold at most read.SHARD_CHARS of text (a batch larger than
    that is a shard of its own): a shard ended only once it reached the limit, so it
    grew by one more batch of up to 1,024 documents, and the more shards reached the
    limit the larger the largest -- a worker's peak memory grew with the corpus (#15).
    Nothing is lost: every document is in a shard."""
    sign = sys.modules["dedup.plan.sign"]
    monkeypatch.setattr(sign, "BATCH_DOCUMENTS", 4)
    monkeypatch.setattr(sign, "BATCH_MAX_DOCUMENTS", 8)
    monkeypatch.setattr(read, "SHARD_CHARS", 3000)
    shards = []
    original = sign.sign_shard
    monkeypatch.setattr(read, "sign_shard", lambda scratch, task, *rest:
                        shards.append([batch.chars() for batch in task.batches]) or original(scratch, task, *rest))
    files = [LocalFile(str(path), path.name, path.stat().st_size, ReadOptions(), str(corpus))
             for path in sorted(corpus.glob("*.txt"))]
    done = read.read_sign(Scratch(tmp_path), read.ReadTask(0, files, 10**9, 1), Settings())
    assert len(shards) > 10
    assert all(sum(batches) <= 3000 or len(batches) == 1 for batches in shards), shards
    assert done.files == len(files) and done.errors  # the corpus has an unreadable file
    assert sum(len(info.documents) for info in done.shards) + len(done.errors) == done.items


# -- the Dask engine against the local engine -------------------------------------------------


def test_fixtures_same_on_dask(cluster):
    found = same_on_both([FIXTURES / "news", FIXTURES / "ukraine-talks.txt"], cluster)
    assert found["groups"] and any(p["kind"] == "document" for p in found["pairs"])
    lead = [p for p in found["pairs"] if p["a"]["path"].endswith("ukraine-talks.txt")]
    assert [round(p["similarity"], 2) for p in lead] == [0.73]


def test_generated_corpus_same_on_dask(cluster, corpus):
    found = same_on_both(corpus, cluster, workers_read=True, partitions=4)
    relations = {(p["kind"], p["relation"], p["exact"]) for p in found["pairs"]}
    assert {("paragraph", "near-duplicate", False), ("paragraph", "near-duplicate", True),
            ("document", "near-duplicate", True), ("paragraph", "contained", False)} <= relations
    assert found["errors"] and found["boilerplate"] and len(found["groups"]) > 10
    same_on_both(corpus, cluster, all_pairs=True, settings=Settings(boilerplate=3, containment=0.5, threshold=0.4,
                                                                    ngram=3, doc_threshold=0.5))


@pytest.mark.parametrize("name, settings, all_pairs", [
    ("rewrites", Settings(), False),
    ("versions", Settings(boilerplate=2, doc_threshold=0.5), True),
    ("multilingual", Settings(unit="char", ngram=5, threshold=0.4, min_tokens=1), False),
])
def test_eval_sample_same_on_dask(cluster, name, settings, all_pairs):
    found = same_on_both(SAMPLE / name, cluster, settings=settings, partitions=3, all_pairs=all_pairs)
    assert len(found["pairs"]) > 20 and found["groups"]
    if name == "versions":
        assert found["boilerplate"] and any(p["relation"] == "contained" for p in found["pairs"])


def test_cli_dask_engine_same_report(cluster):
    args = ["scan", str(SAMPLE / "versions"), "--format", "json", "--no-cache", "--partitions", "2"]
    local = CliRunner().invoke(main, args, catch_exceptions=False)
    on_dask = CliRunner().invoke(main, args + ["--engine", "dask", "--scheduler", cluster], catch_exceptions=False)
    assert local.exit_code == on_dask.exit_code == 1
    assert json.loads(on_dask.stdout) == json.loads(local.stdout)


# -- who reads the inputs --------------------------------------------------------------------


def test_what_the_workers_cannot_open_is_read_here(cluster, corpus, monkeypatch):
    """Stdin, memory:// files and a folder some worker does not see are read by the
    client and sent to the workers as documents: the same report."""
    expected = report(scan(corpus))
    monkeypatch.setattr(dask_engine.DaskExecutor, "sees", lambda self, files: [False] * len(files))
    read_here = []
    original = LocalFile.read
    monkeypatch.setattr(LocalFile, "read", lambda self: read_here.append(self.name) or original(self))
    assert report(scan(corpus, engine="dask", scheduler=cluster)) == expected
    assert len(read_here) == len(list(corpus.iterdir()))

    import fsspec

    memory = fsspec.filesystem("memory")
    for path in sorted((SAMPLE / "rewrites").iterdir()):
        memory.pipe(f"/dask-test/{path.name}", path.read_bytes())
    try:
        in_memory = same_on_both("memory://dask-test/*", cluster)
    finally:
        memory.rm("/dask-test", recursive=True)
    assert len(in_memory["documents"]) == len(list((SAMPLE / "rewrites").iterdir())) and in_memory["pairs"]

    records = "".join(json.dumps({"id": p.stem, "text": p.read_text(encoding="utf-8")}) + "\n"
                      for p in sorted((SAMPLE / "rewrites").iterdir()))
    args = ["scan", "-", "--stdin-format", "jsonl", "--format", "json", "--no-cache"]
    local = CliRunner().invoke(main, args, input=records, catch_exceptions=False)
    on_dask = CliRunner().invoke(main, args + ["--engine", "dask", "--scheduler", cluster], input=records,
                                 catch_exceptions=False)
    assert json.loads(on_dask.stdout) == json.loads(local.stdout) and json.loads(local.stdout)["pairs"]


def test_workers_see_a_file_only_at_its_listed_size(cluster, tmp_path):
    """``sees`` asks every worker about each file: a regular file of the listed size
    at that path, nothing else."""
    path = tmp_path / "a.txt"
    path.write_text("Twelve bytes")
    with dask_engine.DaskExecutor(cluster) as executor:
        assert executor.sees([(str(path), 12), (str(path), 13), (str(tmp_path / "gone.txt"), 0),
                              (str(tmp_path), os.stat(tmp_path).st_size)]) == [True, False, False, False]


def test_a_file_a_worker_sees_otherwise_is_read_here(cluster, corpus, monkeypatch):
    """A worker that mounts another folder at a listed path sees other files there (as
    if: this process lists two files one byte longer than the workers find them).
    The client reads those two itself, the workers the rest: the local engine's report."""
    expected = report(scan(corpus))
    odd = sorted(path.name for path in corpus.iterdir())[3:5]
    listed = sys.modules["dedup.scan"].list_inputs

    def misread(*args, **kwargs):
        for entry in listed(*args, **kwargs):
            odd_one = isinstance(entry, LocalFile) and entry.name in odd
            yield dataclasses.replace(entry, size=entry.size + 1) if odd_one else entry

    monkeypatch.setattr(sys.modules["dedup.scan"], "list_inputs", misread)
    read_here = []
    original = LocalFile.read
    monkeypatch.setattr(LocalFile, "read", lambda self: read_here.append(self.name) or original(self))
    assert report(scan(corpus, engine="dask", scheduler=cluster)) == expected
    assert sorted(read_here) == odd


# -- errors and shutting down -----------------------------------------------------------------


def test_unreachable_scheduler_is_one_line_exit_2(monkeypatch):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", 1)
    result = CliRunner().invoke(main, ["scan", str(FIXTURES / "news"), "--no-cache", "--engine", "dask",
                                       "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "cannot reach the Dask scheduler" in result.stderr


def test_missing_extra_is_one_line_exit_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = CliRunner().invoke(main, ["scan", str(FIXTURES / "news"), "--no-cache", "--engine", "dask"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "pip install -e '.[dask]' in dedup's checkout" in result.stderr


def test_scheduler_needs_the_dask_engine():
    result = CliRunner().invoke(main, ["scan", str(FIXTURES / "news"), "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2 and "--scheduler needs --engine dask" in result.stderr


def test_scratch_not_seen_by_workers_is_refused(cluster, tmp_path):
    with dask_engine.DaskExecutor(cluster) as executor:
        executor.check_visible(Scratch(tmp_path))
        with pytest.raises(dask_engine.DaskUnavailable, match="cannot see the scratch folder"):
            executor.check_visible(Scratch(tmp_path / "elsewhere"))


def test_own_local_cluster_is_closed_on_keyboard_interrupt():
    executor = dask_engine.DaskExecutor(workers=1)
    pids = []
    with pytest.raises(KeyboardInterrupt):
        with executor:
            pids = executor.map(_sleep, [(0.01,)])
            assert executor.jobs == 1 and all(_alive(p) for p in pids)
            signal.signal(signal.SIGALRM, lambda *a: os.kill(os.getpid(), signal.SIGINT))
            signal.alarm(1)  # a SIGINT of our own while a task runs
            next(executor.imap(_sleep, [(30,)]))
    assert executor.client is None
    for pid in pids:
        assert not _alive(pid)


def _log_level(name: str) -> int:
    return logging.getLogger(name).getEffectiveLevel()


def test_own_local_cluster_logs_only_critical_messages():
    """The workers of the executor's own cluster print nothing at ERROR (the heartbeat
    that fails when a Ctrl-C closes the scheduler under a busy worker printed a
    traceback before dedup's one line); a task's error still reaches the client."""
    with dask_engine.DaskExecutor(workers=1) as executor:
        levels = executor.client.run(_log_level, "distributed.worker")
        assert list(levels.values()) == [logging.CRITICAL]
        with pytest.raises(ZeroDivisionError):
            executor.map(divmod, [(1, 0)])


def _profiling(dask_worker) -> bool:
    return "profile-cycle" in dask_worker.periodic_callbacks


def test_own_local_cluster_workers_keep_no_profile():
    """The workers of the executor's own cluster run without Dask's statistical
    profiler, whose call trees (one a second, for 1,000 s) were what a worker's memory
    between tasks grew by (dask.WORKER_CONFIG); the caller's configuration is left as it was."""
    import dask

    before = dask.config.get("distributed.worker.profile.enabled")
    with dask_engine.DaskExecutor(workers=1) as executor:
        assert list(executor.client.run(_profiling).values()) == [False]
    assert dask.config.get("distributed.worker.profile.enabled") == before


_PINNED: list = []  # on a worker: the blocks _fragment keeps


def _anonymous_rss() -> tuple[int, int]:
    """This process's id and anonymous RSS in bytes (/proc/self/status)."""
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("RssAnon:"))
    return os.getpid(), kb * 1024


def _fragment(megabytes: int) -> tuple[int, int]:
    """A stage that leaves its worker's heap fragmented: ``megabytes`` of 1 KB blocks
    (malloc'd, not Python's small-object arenas), one in 64 kept alive after it ends,
    so that glibc cannot return the free pages between them by shrinking its heap.
    Returns its process id and anonymous RSS as it ends."""
    blocks = [bytearray(1024) for _ in range(megabytes * 1024)]
    _PINNED.extend(blocks[::64])
    del blocks
    return _anonymous_rss()


def _unpin() -> None:
    _PINNED.clear()


@pytest.mark.skipif(not sys.platform.startswith("linux") or malloc_trim() is None,
                    reason="glibc's malloc_trim")
@pytest.mark.parametrize("how", ["map", "imap"])
def test_a_worker_returns_the_free_memory_a_task_leaves(cluster, how):
    """After each task the worker gives glibc's free pages back to the system
    (dedup.plan.trim.trimmed): what a worker held between tasks rose with every task it ran,
    all of it free heap memory.  A task that frees 63 of the 64 MB it filled leaves its
    worker within a few MB of its start, not 60 MB above it."""
    with dask_engine.DaskExecutor(cluster) as executor:
        try:
            start = dict(executor.client.run(_anonymous_rss).values())
            run = executor.map if how == "map" else executor.imap
            [(pid, during)] = list(run(_fragment, [(64,)]))
            after = dict(executor.client.run(_anonymous_rss).values())[pid]
        finally:
            executor.client.run(_unpin)
    assert during - start[pid] > 48 * 2**20  # the blocks were there
    assert after - start[pid] < 16 * 2**20, (start[pid] >> 20, during >> 20, after >> 20)


_LOSE_A_WORKER = """
import os, signal, time
from dedup.plan import dask as dask_engine

def pid():
    return os.getpid()

if __name__ == "__main__":
    with dask_engine.DaskExecutor(workers=1) as executor:
        [worker] = executor.map(pid, [()])
        [data] = executor.client.scatter([("inputs",)], hash=False)  # as imap does
        lost = set(executor.client.scheduler_info()["workers"])
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while lost & set(executor.client.scheduler_info()["workers"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        print("lost" if not lost & set(executor.client.scheduler_info()["workers"]) else "not noticed")
"""


def test_a_worker_lost_with_its_scattered_data_is_not_logged(tmp_path):
    """The scheduler's ERROR when a worker holding scattered task inputs goes away
    (what a Ctrl-C did at the wrong moment: tester's T5 of #12, "Removing worker ...
    caused the cluster to lose scattered data") is not printed: dedup's own line is
    the only one."""
    (tmp_path / "lose.py").write_text(_LOSE_A_WORKER)
    done = subprocess.run([sys.executable, str(tmp_path / "lose.py")], capture_output=True, text=True, timeout=180)
    assert done.stdout == "lost\n" and done.stderr == ""


def _in_group(group: int) -> list[tuple[int, str]]:
    """``(pid, state)`` of every process in process group ``group``, zombies included
    (a dead worker nobody reaped is a process outliving the command too)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group:
                found.append((int(entry), fields[0]))
    return found


@pytest.mark.parametrize("sig, moment", [
    (signal.SIGINT, "signing"),     # Ctrl-C in a terminal: the whole process group
    (signal.SIGTERM, "signing"),    # `timeout`, a container stopping: the whole group
    (signal.SIGTERM, "starting"),   # the same while the cluster's workers start
    (signal.SIGINT, "starting"),    # Ctrl-C then: held, not dropped (tester's F5, session 15)
])
def test_a_signal_to_the_group_is_one_line_and_leaves_nothing(tmp_path, sig, moment):
    """SIGINT or SIGTERM to the whole process group while the workers sign, or while
    the cluster starts: exit 130 / 143 with one line on stderr (no worker's traceback:
    tester D4 of #12; no multiprocessing warning of leaked semaphores: tester T4 of
    session 12), and once the exit status is there no process of the group is left
    -- no worker, dead or alive, no resource tracker -- and nothing in the temporary
    folder (the scratch folder, Dask's worker folders and their lock files)."""
    from test_signals import DEDUP, EXIT, children, wait_until

    if sys.platform != "linux":
        pytest.skip("reads /proc")
    rng = random.Random(4)
    with open(tmp_path / "articles.jsonl", "w", encoding="utf-8") as out:
        for i in range(2000):
            out.write(json.dumps({"id": i, "text": "\n\n".join(prose(rng, 80) for _ in range(4))}) + "\n")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    proc = subprocess.Popen(DEDUP + ["scan", str(tmp_path / "articles.jsonl"), "--engine", "dask", "-j", "2",
                                     "--no-cache", "--format", "json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(temporary)})

    def starting() -> bool:  # a worker process is there, the cluster not yet up
        return len(children(proc.pid)) >= 2

    def signing() -> bool:
        return len(children(proc.pid)) >= 3 and any(temporary.glob("dedup-scan-*/shards/*/*.npy"))

    wait_until(starting if moment == "starting" else signing, proc, timeout=120)
    os.killpg(proc.pid, sig)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"dedup did not stop within 60 s of {sig!r}")
    left = _in_group(proc.pid)
    assert (proc.returncode, stderr) == (EXIT[sig], f"dedup: interrupted by {signal.Signals(sig).name}"
                                         + (" (Ctrl-C)" if sig == signal.SIGINT else "") + "\n")
    assert left == [], "processes outlived the exit status"
    assert list(temporary.iterdir()) == []


# -- inputs by fsspec URL or glob, Parquet in and out -------------------------------------------


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The rewrites sample as shards: half in a Parquet file (row groups of 5), half in
    a gzipped JSON Lines file; a bad row of each kind."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": p.stem, "text": p.read_text(encoding="utf-8")} for p in sorted((SAMPLE / "rewrites").iterdir())]
    half = len(rows) // 2
    folder = tmp_path_factory.mktemp("shards")
    pq.write_table(pa.Table.from_pylist(rows[:half] + [{"id": "bad", "text": None}]), folder / "s-0.parquet",
                   row_group_size=5)
    with gzip.open(folder / "s-1.jsonl.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in rows[half:] + [{"id": "bad", "text": 7}])
    return folder


def test_glob_and_url_inputs_with_parquet_shards(shards, cluster):
    found = same_on_both(str(shards / "s-*"), cluster, workers_read=True)
    assert len(found["documents"]) == len(list((SAMPLE / "rewrites").iterdir())) and len(found["pairs"]) > 20
    assert sorted(e["path"] for e in found["errors"]) == [f"{shards}/s-0.parquet#bad", f"{shards}/s-1.jsonl.gz#bad"]
    by_url = same_on_both(f"file://{shards}/s-*", cluster, workers_read=True)
    assert all(d["path"].startswith(f"file://{shards}/s-") for d in by_url["documents"])
    assert len(by_url["pairs"]) == len(found["pairs"])
    with pytest.raises(FileNotFoundError):
        scan(str(shards / "nothing-*"))


def test_parquet_reader_names_rows_like_records(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = "A paragraph long enough to be compared with the others in this small test."
    pq.write_table(pa.table({"body": [text, text], "key": ["x", "y"], "other": [1, 2]}), tmp_path / "t.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    result = scan(tmp_path, read_options=ReadOptions(text_field="body", id_field="key"))
    assert [d.path for d in result.documents] == ["t.parquet#x", "t.parquet#y"]
    assert [p.exact for p in result.pairs] == [True, True]  # the paragraph and the document
    assert [e.path for e in result.errors] == ["broken.parquet"]
    assert "not a readable Parquet file" in result.errors[0].error
    missing = scan(tmp_path / "t.parquet")
    assert "no text column 'text'" in missing.errors[0].error


def test_parquet_output_loads_with_pandas(tmp_path):
    import pandas as pd

    args = ["scan", str(SAMPLE / "versions"), "--no-cache", "--format"]
    as_json = json.loads(CliRunner().invoke(main, args + ["json"], catch_exceptions=False).stdout)
    out = tmp_path / "report"
    done = CliRunner().invoke(main, args + ["parquet", "-o", str(out)], catch_exceptions=False)
    assert done.exit_code == 1 and {"groups", "pairs"} <= set(os.listdir(out))
    pairs, groups = pd.read_parquet(out / "pairs"), pd.read_parquet(out / "groups")
    def nullable(value):
        return None if pd.isna(value) else int(value)

    assert [(r.kind, r.relation, round(r.similarity, 4), [round(r.containment_a, 4), round(r.containment_b, 4)],
             round(r.estimate, 4), bool(r.exact), r.a_path, nullable(r.a_paragraph), r.a_start, r.a_end,
             r.b_path, nullable(r.b_paragraph), r.b_start, r.b_end) for r in pairs.itertuples()] == [
        (p["kind"], p["relation"], p["similarity"], p["containment"], p["estimate"], p["exact"],
         p["a"]["path"], p["a"]["paragraph"], p["a"]["start"], p["a"]["end"],
         p["b"]["path"], p["b"]["paragraph"], p["b"]["start"], p["b"]["end"]) for p in as_json["pairs"]]
    assert [(r.group, r.kind, r.path, nullable(r.paragraph), bool(r.canonical)) for r in groups.itertuples()] == [
        (number, g["kind"], m["path"], m["paragraph"], i == 0)
        for number, g in enumerate(as_json["groups"]) for i, m in enumerate(g["members"])]
    again = CliRunner().invoke(main, args + ["parquet", "-o", str(out)])
    assert again.exit_code == 2  # an existing folder is never overwritten
    no_folder = CliRunner().invoke(main, args + ["parquet"])
    assert no_folder.exit_code == 2 and "-o FOLDER" in no_folder.stderr
