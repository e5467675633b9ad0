"""dedup.compiled: the index's loops are compiled with numba's on-disk cache where a
directory is writable, and in memory (same answers, a warning) where none is -- numba
itself refuses ``cache=True`` then, which would make the first look-up of a process
with a read-only install and home fail."""

from __future__ import annotations

import numpy as np
import pytest
from numba.core import caching

from dedup import compiled


def add_one(values):
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        out[i] = values[i] + 1
    return out


def test_compiled_in_memory_where_no_cache_directory_is_writable(monkeypatch):
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])  # what a read-only install and home leave
    with pytest.warns(UserWarning, match="compiled in memory by each process"):
        fn = compiled.njit(add_one)
    assert fn(np.arange(3)).tolist() == [1, 2, 3]



def test_a_damaged_cache_is_compiled_again_in_memory_never_an_error(tmp_path):
    """Tester F5 of session 19: truncated or overwritten cache files made every later
    ``dedup check`` exit 2 (``EOFError`` / ``UnpicklingError`` from numba's cache)."""
    import subprocess
    import sys

    module = tmp_path / "kernel_mod.py"
    module.write_text("import numpy as np\nfrom dedup.compiled import njit\n\n\n@njit\n"
                      "def twice(values):\n    out = np.empty_like(values)\n    for i in range(values.shape[0]):\n"
                      "        out[i] = 2 * values[i]\n    return out\n", encoding="utf-8")
    code = "import numpy as np, kernel_mod; print(kernel_mod.twice(np.arange(3)).tolist())"
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert first.stdout.strip() == "[0, 2, 4]", first.stderr
    files = [p for p in (tmp_path / "cache").rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert files
    for damage in (b"", b"\x99 not a pickle"):
        for p in files:
            p.write_bytes(damage)
        again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert again.returncode == 0 and again.stdout.strip() == "[0, 2, 4]", again.stderr
        assert "does not load" in again.stderr and str(tmp_path / "cache") in again.stderr


def spin_arrays(values):
    total = 0.0
    for _ in range(200):
        for i in range(values.shape[0]):
            total += values[i] * 1.0000001
    out = np.empty(values.shape[0])
    out[:] = total
    return out, np.arange(values.shape[0])


def test_a_signal_as_a_compiled_call_returns_is_raised_not_taken_for_a_damaged_cache():
    """New-user NU-8 of session 24: a Ctrl-C landing in a compiled look-up (which returns
    arrays) came back as ``SystemError: ... returned a result with an exception set``,
    was taken for a cache that does not load (a warning to delete good files), the call
    was made again and the interrupt lost -- the add ran on to its end."""
    import signal
    import warnings

    fn = compiled.njit(spin_arrays)
    fn(np.ones(4))  # compiled (or loaded) before the clock starts
    big = np.ones(2_000_000)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGALRM, interrupt)
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            signal.setitimer(signal.ITIMER_REAL, 0.05)  # inside the call: it takes ~0.3 s or more
            with pytest.raises(KeyboardInterrupt):
                fn(big)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    assert not [w for w in said if "does not load" in str(w.message)]
