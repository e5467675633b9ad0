"""Peak memory of a process and of Dask's workers, sampled with psutil (bench_dask.py).

:class:`_Peak` samples one process's RSS every 0.1 s in a thread; :class:`PeakMemory`
is a ``distributed.WorkerPlugin`` body (bench_dask.py mixes in ``WorkerPlugin``) that
samples inside each worker, in all, per stage and per task; :func:`_worker_peak` and
:func:`_worker_stage_peaks` read it back through ``Client.run``.
"""

from __future__ import annotations

import threading

class _Peak:
    """Samples a process's RSS every 0.1 s in a thread; ``peak`` is the largest seen,
    ``anon`` the largest RSS less its shared (file-backed) pages: the process's own
    memory, without the memory-mapped scratch files' pages the kernel may drop."""

    def __init__(self, pid: int | None = None) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.peak = 0
        self.anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.1)

    def sample(self) -> None:
        try:
            info = self.process.memory_info()
        except Exception:  # the process ended
            return
        self.peak = max(self.peak, info.rss)
        self.anon = max(self.anon, info.rss - info.shared)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak

    def phase(self) -> tuple[int, int]:
        """``(peak, anon)`` since the last call (or the start), then start again."""
        self.sample()
        seen = self.peak, self.anon
        self.peak = self.anon = 0
        return seen


class _StagePeak(_Peak):
    """A worker's peak RSS, also per stage: the largest RSS sampled while a task of
    that stage ran (task keys are named for their stage function); and per stage the
    largest RSS a task started at (``bases``: what the worker held before the task)
    and the largest growth above it during the task (``growth``: the task's own
    working set), from the plugin's ``transition`` hook."""

    def __init__(self, worker) -> None:
        self.worker = worker
        self.stages: dict[str, int] = {}
        self.bases: dict[str, int] = {}
        self.growth: dict[str, int] = {}
        self.growth_anon: dict[str, int] = {}  # the same, of RSS less shared pages
        self.held: dict[str, tuple[int, int, int]] = {}  # per stage, at a task's start: see begin
        # (stage, RSS at its start, peak so far, and the same of RSS less shared pages)
        self.task: tuple[str, int, int, int, int] | None = None
        super().__init__()

    def sample(self) -> None:
        from dask.utils import key_split

        super().sample()
        try:
            info = self.process.memory_info()
            rss, anon = info.rss, info.rss - info.shared
            running = {key_split(ts.key) for ts in list(self.worker.state.executing)}
        except Exception:
            return
        for stage in running:
            self.stages[stage] = max(self.stages.get(stage, 0), rss)
        task = self.task
        if task is not None:
            self.task = (task[0], task[1], max(task[2], rss), task[3], max(task[4], anon))

    def begin(self, key) -> None:
        from dask.utils import key_split

        info = self.process.memory_info()
        rss, anon = info.rss, info.rss - info.shared
        self.task = (key_split(key), rss, rss, anon, anon)
        held = _held()
        stage = key_split(key)
        self.held[stage] = tuple(max(a, b) for a, b in zip(self.held.get(stage, (0, 0, 0)), held))

    def end(self) -> None:
        task, self.task = self.task, None
        if task is None:
            return
        stage, base, peak, anon_base, anon_peak = task
        info = self.process.memory_info()
        peak, anon_peak = max(peak, info.rss), max(anon_peak, info.rss - info.shared)
        self.bases[stage] = max(self.bases.get(stage, 0), base)
        self.growth[stage] = max(self.growth.get(stage, 0), peak - base)
        self.growth_anon[stage] = max(self.growth_anon.get(stage, 0), anon_peak - anon_base)


def _held() -> tuple[int, int, int]:
    """What this worker holds as a task starts: anonymous RSS (its heap: Python objects,
    numpy buffers, freed memory the allocator kept) and file-backed RSS in bytes (pages
    of memory-mapped stage files and libraries; the kernel may drop them), from
    ``/proc/self/status``, and how many stage files it keeps mapped
    (``dedup.plan.items._maps``)."""
    from dedup.plan import items

    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssFile"):
                fields[name] = int(value.split()[0]) * 1024
    return fields.get("RssAnon", 0), fields.get("RssFile", 0), len(items._maps)


class PeakMemory:
    """A ``distributed.WorkerPlugin`` sampling its worker process's peak RSS (psutil),
    in all, per stage, and per task (its start and its growth)."""

    name = "peak-rss"

    def setup(self, worker) -> None:
        self.sampler = _StagePeak(worker)

    def teardown(self, worker) -> None:
        self.sampler.stop()

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish == "executing":
            self.sampler.begin(key)
        elif start == "executing":
            self.sampler.end()


def _worker_peak(dask_worker) -> tuple[int, int]:
    sampler = dask_worker.plugins["peak-rss"].sampler
    return sampler.peak, sampler.anon


def _worker_stage_peaks(dask_worker) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict]:
    sampler = dask_worker.plugins["peak-rss"].sampler
    return sampler.stages, sampler.bases, sampler.growth, sampler.held, sampler.growth_anon
