"""Peak RSS of ``dedup index add`` of one file, per backend, per build (issue #12).

Each case is one file added alone to a new index in a fresh process
(``dedup index add FILE --db NEW -q -j 1``), its peak RSS read from ``wait4``; with
``--src LABEL=DIR`` (repeatable) the same runs for each source tree, one after the
other for each file, so a before/after is measured in one run (e.g. ``--src
before=/tmp/base --src after=.``).  After each add, a digest of the stored paragraph
rows (ids, places, keys, banded flags, signatures, shingle sets: read through the
storage contract) says whether the builds stored the same rows; on Redis, the server's
``used_memory`` before and after and its peak RSS during the add (when the server runs
on this machine).  Files are generated
in another process (Linux counts what a process held before ``exec`` in its peak).
It measures; it asserts nothing.  ``benchmarks/README-memory.md`` has the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _lines(words: int, size: int, seed: int = 5) -> str:
    rng = random.Random(seed)
    out, written, i = [], 0, 0
    while written < size:
        line = " ".join(f"w{rng.randrange(5000)}" for _ in range(12 if i % 10 == 0 else words))
        out.append(line)
        written += len(line) + 1
        i += 1
    return "\n".join(out) + "\n"


def _prose(size: int, seed: int = 5) -> str:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from textgen import rich_prose

    rng = random.Random(seed)
    out, written = [], 0
    while written < size:
        para = rich_prose(rng, rng.randint(40, 70))
        out.append(para)
        written += len(para) + 2
    return "\n\n".join(out) + "\n"


KINDS = {"3-word": lambda size: _lines(3, size), "12-word": lambda size: _lines(12, size), "prose": _prose}


def make(kind: str, size: int, folder: Path) -> Path:
    """A file of ``kind`` just under ``size`` bytes (16 MiB: within the default
    ``--max-document-size``)."""
    path = folder / f"{kind}-{size >> 20}M.txt"
    if not path.exists():
        subprocess.run([sys.executable, __file__, "--make", kind, str(size - 4096), str(path)], check=True)
    return path


_RUN = """
import sys
sys.path.insert(0, sys.argv.pop(1))
from dedup.cli import main
sys.exit(main())
"""

_DIGEST = """
import sys, hashlib, numpy as np
sys.path.insert(0, sys.argv[1])
from dedup.index import Index
h = hashlib.sha256()
with Index.open(sys.argv[2]) as idx:
    s = idx._store
    with s.transaction(write=False):
        n = s.stats()["paragraphs"]
        for lo in range(1, n + 1, 65536):
            r = s.paragraphs(np.arange(lo, min(lo + 65536, n + 1)))
            for a in (r.ids, r.docs, r.index, r.start, r.end, r.keys, r.signatures, r.sets.values, r.sets.offsets):
                h.update(np.ascontiguousarray(a).tobytes())
print(h.hexdigest()[:16], n)
"""


def _server(db: str, reset: bool = False) -> dict:
    """A Redis server's memory: ``used_memory`` (``INFO memory``, MB) and, when it runs
    on this machine and its ``/proc`` is readable, its peak RSS (``VmHWM``, MB) since
    the last ``reset`` (``/proc/PID/clear_refs``: 5 resets the peak)."""
    import redis

    client = redis.Redis.from_url(db.split("?")[0])
    try:
        info = {**client.info("memory"), **client.info("server")}
    finally:
        client.close()
    out = {"server_used_mb": round(info["used_memory"] / 2**20)}
    status = Path(f"/proc/{info['process_id']}/status")
    try:
        if reset:
            Path(f"/proc/{info['process_id']}/clear_refs").write_text("5")
        out["server_peak_rss_mb"] = round(next(int(line.split()[1]) for line in status.read_text().splitlines()
                                               if line.startswith("VmHWM:")) / 1024)
    except (OSError, StopIteration):
        pass
    return out


def measure(src: Path, path: Path, db: str) -> dict:
    cmd = [sys.executable, "-c", _RUN, str(src), "index", "add", str(path), "--db", db, "-q", "-j", "1"]
    server = _server(db, reset=True) if db.startswith(("redis", "rediss", "unix")) else None
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    after = {} if server is None else {"server_used_mb_before": server["server_used_mb"], **_server(db)}
    digest = subprocess.run([sys.executable, "-c", _DIGEST, str(src), db], capture_output=True, text=True)
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "exit": os.waitstatus_to_exitcode(status),
        "rows": digest.stdout.strip() or digest.stderr.strip()[-200:],
        "error": err.decode(errors="replace").strip()[-200:] if status else "",
        **after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", default=[], metavar="LABEL=DIR",
                        help="a source tree to run (default: this one)")
    parser.add_argument("--kind", action="append", choices=list(KINDS))
    parser.add_argument("--size", action="append", type=int, metavar="MIB")
    parser.add_argument("--backend", action="append", choices=["sqlite", "redis"])
    parser.add_argument("--redis", default=os.environ.get("DEDUP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--folder", type=Path, help="keep the generated files here")
    parser.add_argument("--make", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        kind, size, path = args.make
        Path(path).write_text(KINDS[kind](int(size)), encoding="utf-8")
        return
    srcs = [tuple(s.split("=", 1)) for s in args.src] or [("this", str(HERE.parent))]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for size in args.size or [4]:
            for kind in args.kind or list(KINDS):
                path = make(kind, size << 20, folder)
                for backend in args.backend or ["sqlite", "redis"]:
                    for label, src in srcs:
                        if backend == "sqlite":
                            db = str(Path(tmp) / f"{uuid.uuid4().hex}.dedup")
                        else:
                            base, _, options = args.redis.partition("?")  # (options: e.g. timeout=60)
                            db = f"{base}?{options + '&' if options else ''}prefix=bench-{uuid.uuid4().hex[:8]}"
                        row = {"file": path.name, "backend": backend, "build": label, **measure(Path(src), path, db)}
                        print(json.dumps(row), flush=True)
                        if backend == "redis":
                            _drop(args.redis, db)


def _drop(url: str, db: str) -> None:
    """Remove a Redis index's keys (its prefix) after the run."""
    import redis

    prefix = db.split("prefix=", 1)[1]
    client = redis.Redis.from_url(url.split("?")[0])
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


if __name__ == "__main__":
    main()
