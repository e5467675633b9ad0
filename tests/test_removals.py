"""Stage files removed on threads while the plan goes on (dedup.plan.scratch.Removals)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import numpy as np

from dedup.plan import scratch as scratch_module
from dedup.plan.scratch import Removals, save


def test_a_folder_is_gone_at_once_and_its_path_can_be_written_again(tmp_path):
    rows = tmp_path / "bands" / "paragraph"
    save(rows / "000000.rows.npy", np.arange(10))
    removals = Removals()
    removals.folder(rows)
    assert not rows.exists()  # renamed before the thread starts
    save(rows / "000000.rows.npy", np.arange(3))  # the next wave's rows
    removals.files([tmp_path / "missing.npy"])  # nothing there: no error
    removals.wait()
    assert [p.name for p in (tmp_path / "bands").iterdir()] == ["paragraph"]
    assert len(np.load(rows / "000000.rows.npy")) == 3
    removals.folder(tmp_path / "never-made")  # nothing there: no thread, no error
    removals.wait()


def _blocked(thread: threading.Thread) -> set[int]:
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk")), 16)
    return {sig for sig in (signal.SIGINT, signal.SIGTERM) if mask >> (sig - 1) & 1}


def test_the_removing_threads_leave_interrupts_to_the_main_thread(tmp_path, monkeypatch):
    going, release = threading.Event(), threading.Event()

    def slow(paths):
        going.set()
        release.wait(10)
        for path in paths:
            path.unlink()

    monkeypatch.setattr(scratch_module, "_unlink_all", slow)
    save(tmp_path / "a.npy", np.arange(3))
    removals = Removals()
    removals.files([tmp_path / "a.npy"])
    assert going.wait(10)
    [thread] = [t for t in threading.enumerate() if t.name == "dedup-scratch-removal"]
    assert _blocked(thread) == {signal.SIGINT, signal.SIGTERM}
    release.set()
    removals.wait()
    assert not (tmp_path / "a.npy").exists()
